"""examples/agent_workflow.py end to end: cost per run, roll-ups, tenants and the budget that stops a run."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
from decimal import Decimal
from typing import Any

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "agent_workflow.py"

# gpt-4o-mini, USD per million tokens: input 0.15, cached input 0.075, output 0.60.
PRICES = {"input": Decimal("0.15"), "cached": Decimal("0.075"), "output": Decimal("0.60")}


def _cost(input_tokens: int, cached: int, output: int) -> Decimal:
    per_token = Decimal(1_000_000)
    return (
        (input_tokens - cached) * PRICES["input"] + cached * PRICES["cached"] + output * PRICES["output"]
    ) / per_token


def _run(*args: str) -> Any:
    completed = subprocess.run(
        [sys.executable, str(EXAMPLE), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "OPENAI_API_KEY": ""},
        cwd=ROOT,
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout


@pytest.fixture(scope="module")
def summary() -> dict[str, Any]:
    return json.loads(_run("--json"))  # type: ignore[no-any-return]


def test_each_run_costs_what_its_tokens_cost(summary) -> None:
    # Token counts are the fake server's (ceil(chars / 4) per text, see fake_openai_server.py);
    # the prices are the published ones, applied here by hand.
    expected = {
        "T-1001": (3, 3100, 1024, 81, None),
        "T-1002": (3, 3095, 1024, 81, None),
        "T-1003": (4, 4339, 2048, 113, "BudgetExceeded"),
    }
    for ticket, (calls, input_tokens, cached, output, error) in expected.items():
        run = summary["runs"][ticket]
        rollup = run["rollup"]
        assert rollup["tokenomics.rollup.llm_calls"] == calls
        assert rollup["tokenomics.rollup.usage.input_tokens"] == input_tokens
        assert rollup["tokenomics.rollup.usage.cache_read.input_tokens"] == cached
        assert rollup["tokenomics.rollup.usage.output_tokens"] == output
        assert rollup["tokenomics.rollup.cost.status"] == "complete"
        cost = _cost(input_tokens, cached, output)
        assert Decimal(repr(rollup["tokenomics.rollup.cost.total"])) == cost
        # The run's roll-up is the sum of its calls' own costs, and the budget's running
        # total on the last call is the same amount.
        assert sum(Decimal(repr(c)) for c in run["call_costs"]) == cost
        assert Decimal(repr(run["call_budget_spent"][-1])) == cost
        assert run["error"] == error
    assert _cost(3100, 1024, 81) == Decimal("0.0004368")


def test_tenants_reach_every_call_and_the_histogram(summary) -> None:
    assert {t: r["call_tenants"] for t, r in summary["runs"].items()} == {
        "T-1001": ["acme"],
        "T-1002": ["globex"],
        "T-1003": ["acme"],
    }
    points = {
        (p["attributes"]["tokenomics.tenant"], p["attributes"].get("error.type")): p
        for p in summary["workflow_cost"]
    }
    assert set(points) == {("acme", None), ("globex", None), ("acme", "BudgetExceeded")}
    for point in points.values():
        assert point["count"] == 1
        assert point["attributes"]["tokenomics.workflow.name"] == "triage_ticket"
    assert Decimal(repr(points[("acme", None)]["sum"])) == Decimal("0.0004368")
    assert Decimal(repr(points[("acme", "BudgetExceeded")]["sum"])) == _cost(4339, 2048, 113)


def test_the_budget_stops_the_long_run_before_the_call_that_does_not_fit(summary) -> None:
    assert list(summary["stopped"]) == ["T-1003"]
    spent = _cost(4339, 2048, 113)
    assert summary["stopped"]["T-1003"].startswith(
        f"budget 'triage_run' ($0.0007) has ${Decimal('0.0007') - spent} left; the call may cost up to $"
    )


def test_the_report_prints_one_row_per_run() -> None:
    out = _run("--budget", "0.01")
    assert "T-1001  acme        3   3100    1024      81  0.00043680  complete  ok" in out
    assert "T-1003  acme        6" in out
    assert "T-1003  acme        6   6858    4352     171  0.00080490  complete  ok" in out
    assert "stopped by its budget" not in out
