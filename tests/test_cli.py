"""The ``otel-tokenomics`` command: prices, costs and errors, in-process and as installed."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import otel_tokenomics.pricing
from otel_tokenomics.cli import amount, main, parse_at

COST_KEYS = {
    "total",
    "input",
    "cache_read",
    "cache_write",
    "output",
    "currency",
    "model",
    "pricing_version",
    "status",
}
SONNET = "--provider anthropic --model claude-sonnet-4-5-20250929"
SONNET_BEDROCK = "anthropic.claude-sonnet-4-5-20250929-v1:0"


@pytest.fixture(autouse=True)
def _clean_pricing(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # The CLI installs its pricer process-wide, as configure() does: leave none behind.
    monkeypatch.delenv("OTEL_TOKENOMICS_PRICES", raising=False)
    monkeypatch.delenv("OTEL_TOKENOMICS_PRICING_FALLBACK", raising=False)
    yield
    otel_tokenomics.pricing.reset()


def run(capsys: pytest.CaptureFixture[str], command: str, *more: str) -> tuple[int, str, str]:
    """``command`` split like a shell would; ``more`` for arguments with spaces or paths."""
    code = main([*shlex.split(command), *more])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def cost_json(capsys: pytest.CaptureFixture[str], command: str) -> dict[str, Any]:
    code, out, err = run(capsys, f"cost {command} --json")
    assert code == 0, err
    result: dict[str, Any] = json.loads(out)
    return result


def decimals(result: dict[str, Any]) -> dict[str, Decimal]:
    return {key: Decimal(result[key]) for key in ("total", "input", "cache_read", "cache_write", "output")}


# -- cost -------------------------------------------------------------------------------


def test_cost_json_has_exactly_the_documented_keys_and_exact_amounts(
    capsys: pytest.CaptureFixture[str],
) -> None:
    result = cost_json(capsys, f"{SONNET} --input 10000 --cache-read 6000 --cache-write 2000 --output 500")
    assert set(result) == COST_KEYS
    assert decimals(result) == {
        "total": Decimal("0.0228"),
        "input": Decimal("0.006"),
        "cache_read": Decimal("0.0018"),
        "cache_write": Decimal("0.0075"),
        "output": Decimal("0.0075"),
    }
    assert result["total"] == "0.0228"
    assert result["currency"] == "USD"
    assert result["model"] == "claude-sonnet-4-5"
    assert result["status"] == "priced"
    assert result["pricing_version"] == otel_tokenomics.pricing.configure().catalog.version


def test_cost_of_a_dated_openai_snapshot_with_cache_reads(capsys: pytest.CaptureFixture[str]) -> None:
    args = "--model gpt-4o-2024-08-06 --input 1000 --output 500 --cache-read 200"
    result = cost_json(capsys, f"--provider openai {args}")
    assert result["model"] == "gpt-4o"
    assert decimals(result) == {
        "total": Decimal("0.00725"),
        "input": Decimal("0.002"),
        "cache_read": Decimal("0.00025"),
        "cache_write": Decimal("0"),
        "output": Decimal("0.005"),
    }
    # Without --provider the model is found under openai, first in the search order.
    assert cost_json(capsys, args) == result


def test_bedrock_regional_profile_costs_a_tenth_more_than_global(capsys: pytest.CaptureFixture[str]) -> None:
    tokens = "--input 10000 --cache-read 4000 --cache-write 1000 --output 2000"
    regional = cost_json(capsys, f"--provider aws.bedrock --model us.{SONNET_BEDROCK} {tokens}")
    global_ = cost_json(capsys, f"--provider aws.bedrock --model global.{SONNET_BEDROCK} {tokens}")
    assert regional["model"] == "regional.anthropic.claude-sonnet-4-5-20250929-v1:0"
    assert global_["model"] == "global.anthropic.claude-sonnet-4-5-20250929-v1:0"
    assert Decimal(global_["total"]) == Decimal("0.04995")  # 0.015 + 0.0012 + 0.00375 + 0.03
    for key, value in decimals(global_).items():
        assert Decimal(regional[key]) == value * Decimal("1.1"), key
    arn = f"arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.{SONNET_BEDROCK}"
    assert cost_json(capsys, f"--provider aws.bedrock --model {arn} {tokens}") == regional
    # Without --provider a Bedrock-shaped id is looked up in Bedrock's list first.
    assert cost_json(capsys, f"--model us.{SONNET_BEDROCK} {tokens}") == regional


def test_cache_write_1h_is_the_part_of_cache_write_billed_at_the_hour_rate(
    capsys: pytest.CaptureFixture[str],
) -> None:
    both = cost_json(capsys, f"{SONNET} --input 10000 --cache-write 3000 --cache-write-1h 1000 --output 0")
    # 7000 uncached at $3, 1000 at the 1h rate $6, 2000 at the 5m rate $3.75.
    assert Decimal(both["input"]) == Decimal("0.021")
    assert Decimal(both["cache_write"]) == Decimal("0.0135")
    assert Decimal(both["total"]) == Decimal("0.0345")
    only_hour = cost_json(capsys, f"{SONNET} --input 10000 --cache-write-1h 1000 --output 0")
    assert Decimal(only_hour["cache_write"]) == Decimal("0.006")
    assert Decimal(only_hour["input"]) == Decimal("0.027")


def test_at_picks_the_price_in_force_on_that_date(capsys: pytest.CaptureFixture[str]) -> None:
    o3 = "--provider openai --model o3 --input 1000 --output 1000"
    before = cost_json(capsys, f"{o3} --at 2025-06-09")
    late_before = cost_json(capsys, f"{o3} --at 2025-06-09T23:59:59Z")
    after = cost_json(capsys, f"{o3} --at 2025-06-10")
    assert Decimal(before["total"]) == Decimal("0.05")  # $10 / $40
    assert late_before == before
    assert Decimal(after["total"]) == Decimal("0.01")  # $2 / $8
    assert Decimal(after["input"]) == Decimal("0.002")
    assert Decimal(after["output"]) == Decimal("0.008")


def test_batch_and_service_tier_select_their_prices(capsys: pytest.CaptureFixture[str]) -> None:
    tokens = "--input 1000 --output 1000 --at 2026-11-01"
    gpt4o = f"--provider openai --model gpt-4o {tokens}"
    assert Decimal(cost_json(capsys, gpt4o)["total"]) == Decimal("0.0125")
    assert Decimal(cost_json(capsys, f"{gpt4o} --batch")["total"]) == Decimal("0.00625")
    assert Decimal(cost_json(capsys, f"{gpt4o} --service-tier priority")["total"]) == Decimal("0.02125")
    o3_flex = f"--provider openai --model o3 {tokens} --service-tier flex"
    assert Decimal(cost_json(capsys, o3_flex)["total"]) == Decimal("0.005")


def test_reasoning_is_part_of_output_and_amounts_never_use_exponents(
    capsys: pytest.CaptureFixture[str],
) -> None:
    result = cost_json(capsys, "--provider openai --model gpt-4o --input 1 --output 3")
    assert result["input"] == "0.0000025"
    assert result["total"] == "0.0000325"
    with_reasoning = cost_json(capsys, "--provider openai --model gpt-4o --input 1 --output 3 --reasoning 2")
    assert with_reasoning == result  # no reasoning price: reasoning is plain output


def test_model_ids_as_the_apis_take_them(capsys: pytest.CaptureFixture[str]) -> None:
    gemini = cost_json(
        capsys, "--provider gcp.gen_ai --model models/gemini-2.5-pro --input 1000 --output 100"
    )
    assert gemini["model"] == "gemini-2.5-pro"
    assert Decimal(gemini["total"]) == Decimal("0.00225")
    azure = cost_json(capsys, "--provider azure.ai.openai --model gpt-4o-2024-08-06 --input 1000 --output 0")
    assert Decimal(azure["total"]) == Decimal("0.0025")
    # A catalog provider id with an underscore is taken as is.
    groq = cost_json(capsys, "--provider huggingface_groq --model qwen/qwen3-32b --input 0 --output 0")
    assert groq["model"] == "Qwen/Qwen3-32B"


def test_cost_human_output_is_a_breakdown(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        capsys, f"cost {SONNET} --input 10000 --cache-read 6000 --cache-write 2000 --output 500"
    )
    assert code == 0, err
    assert out.startswith("claude-sonnet-4-5 (anthropic)")
    # Rows: class, tokens, amount, currency.
    rows = [line.strip().rsplit(None, 3) for line in out.splitlines()[1:6]]
    assert [[row[0].strip(), *row[1:]] for row in rows] == [
        ["input (uncached)", "2,000", "0.006", "USD"],
        ["cache read", "6,000", "0.0018", "USD"],
        ["cache write", "2,000", "0.0075", "USD"],
        ["output", "500", "0.0075", "USD"],
        ["total", "10,500", "0.0228", "USD"],
    ]
    assert "cache savings vs. uncached input: 0.0147 USD"  # 0.024 - 0.0018 - 0.0075 in out


@pytest.mark.parametrize(
    "argv, message",
    [
        ("--input 10 --cache-read 8 --cache-write 5 --output 1", "--input (10)"),
        ("--input 10 --output 1 --reasoning 2", "--reasoning (2)"),
        ("--input=-1 --output 1", "non-negative"),
        ("--input 10 --output 1 --at 2025-13-01", "--at"),
    ],
)
def test_inconsistent_counts_and_bad_dates_are_usage_errors(
    capsys: pytest.CaptureFixture[str], argv: str, message: str
) -> None:
    code, out, err = run(capsys, f"cost --provider openai --model gpt-4o {argv}")
    assert code == 2
    assert out == ""
    assert message in err


# -- unknown models ---------------------------------------------------------------------


def test_unknown_model_exits_2_naming_the_closest_ids(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "cost --provider openai --model gpt-4x --input 1 --output 1")
    assert code == 2
    assert out == ""
    assert "'gpt-4x'" in err and "closest known ids" in err
    assert "gpt-4o" in err and "gpt-4" in err

    code, out, err = run(capsys, "price claude-sonet-4-5 --provider anthropic")
    assert code == 2
    assert "claude-sonnet-4-5" in err


def test_unknown_model_without_provider_names_ids_and_providers(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "price gpt-4o-2099-01-01-nonexistent")
    assert code == 2
    assert "any provider" in err
    assert "(openai)" in err or "(azure)" in err or "(openrouter)" in err


def test_unknown_provider_exits_2_listing_known_ones(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "price gpt-4o --provider no-such-cloud")
    assert code == 2
    assert "'no-such-cloud' is not in the price catalog" in err
    assert "gcp.vertex_ai" in err and "anthropic" in err


# -- price ------------------------------------------------------------------------------


def test_price_json_shows_history_and_variants(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "price o3-2025-04-16 --provider openai --at 2025-06-09 --json")
    assert code == 0, err
    result = json.loads(out)
    assert result["provider"] == "openai"
    assert result["id"] == "o3"
    assert result["pricing_version"]
    assert result["at"] == "2025-06-09T00:00:00Z"
    assert result["prices"] == {"input": "10", "output": "40", "cache_read": "2.5"}
    assert [p["when"] for p in result["periods"]] == [{}, {"from": "2025-06-10"}]
    assert [p["in_force"] for p in result["periods"]] == [True, False]
    assert {"service_tier": "flex"} in [v["context"] for v in result["variants"]]
    assert result["context_multipliers"] == [{"context": {"processing": "batch"}, "factor": "0.5"}]

    code, out, _ = run(capsys, "price o3 --at 2025-06-10T08:00:00 --json")
    assert json.loads(out)["prices"] == {"input": "2", "output": "8", "cache_read": "0.5"}


def test_price_shows_tiers(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "price models/gemini-2.5-pro --provider gcp.gen_ai --json")
    assert code == 0
    assert json.loads(out)["prices"]["input"] == {"base": "1.25", "tiers": [[200000, "2.5"]]}

    code, out, _ = run(capsys, "price claude-sonnet-4-5-20250929 --provider anthropic")
    assert code == 0
    assert "entry id" in out and "claude-sonnet-4-5" in out
    assert "cache_write_1h" in out
    assert "3 (above 200,000 input tokens: 6)" in out
    assert "processing=batch" in out


# -- prices -----------------------------------------------------------------------------


def test_prices_lists_a_providers_entries(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "prices --provider anthropic")
    assert code == 0, err
    assert "claude-sonnet-4-5" in out and "claude-haiku-4-5" in out
    assert "gpt-4o" not in out

    code, out, _ = run(capsys, "prices --provider anthropic --json")
    entries = json.loads(out)
    assert entries and {e["provider"] for e in entries} == {"anthropic"}
    by_id = {e["id"]: e for e in entries}
    assert by_id["claude-haiku-4-5"]["input"] == "1"
    assert by_id["claude-haiku-4-5"]["output"] == "5"


# -- user prices ------------------------------------------------------------------------


def test_bad_price_file_exits_1_with_the_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "prices.toml"
    bad.write_text('[[models]]\nid = "x"\ninput = "cheap"\noutput = "1"\n')
    code, out, err = run(capsys, "--prices", str(bad), "price", "gpt-4o")
    assert code == 1
    assert out == ""
    assert "prices.toml" in err and "input" in err and "cheap" in err

    code, _, err = run(capsys, "cost --model gpt-4o --input 1 --output 1 --prices", str(bad))
    assert code == 1 and "cheap" in err


def test_price_file_from_the_environment_is_honoured(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prices = tmp_path / "prices.toml"
    prices.write_text(
        '[[models]]\nprovider = "openai"\nid = "acme-chat"\ninput = "1"\noutput = "2"\n\n'
        '[[multipliers]]\nprovider = "anthropic"\nfactor = "0.5"\n'
    )
    monkeypatch.setenv("OTEL_TOKENOMICS_PRICES", str(prices))
    custom = cost_json(capsys, "--provider openai --model acme-chat --input 1000 --output 1000")
    assert Decimal(custom["total"]) == Decimal("0.003")
    assert custom["pricing_version"].startswith("user:")
    discounted = cost_json(capsys, f"{SONNET} --input 1000 --output 0")
    assert Decimal(discounted["total"]) == Decimal("0.0015")

    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    monkeypatch.setenv("OTEL_TOKENOMICS_PRICES", str(bad))
    code, _, err = run(capsys, "prices")
    assert code == 1 and "bad.json" in err


# -- helpers ----------------------------------------------------------------------------


def test_parse_at() -> None:
    utc = timezone.utc
    assert parse_at("2025-06-10") == datetime(2025, 6, 10, tzinfo=utc)
    assert parse_at("2025-06-10T12:30:00") == datetime(2025, 6, 10, 12, 30, tzinfo=utc)
    assert parse_at("2025-06-10T12:30:00Z") == datetime(2025, 6, 10, 12, 30, tzinfo=utc)
    assert parse_at("2025-06-10T14:30:00+02:00") == datetime(2025, 6, 10, 12, 30, tzinfo=utc)


def test_amount_is_exact_plain_decimal() -> None:
    assert amount(Decimal("6E-7")) == "0.0000006"
    assert amount(Decimal("0.02280")) == "0.0228"
    assert amount(Decimal("1E+1")) == "10"
    assert amount(Decimal("0E-9")) == "0"
    assert amount(Decimal("0.1234567890123456789")) == "0.1234567890123456789"


def test_help_returns_0(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0
    assert "cost" in out and "prices" in out


# -- as installed -----------------------------------------------------------------------


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_TOKENOMICS_")}
    env["PYTHONIOENCODING"] = "utf-8"
    return env


SUBPROCESS_ARGS = shlex.split(
    f"cost {SONNET} --input 10000 --cache-read 6000 --cache-write 2000 --output 500 --json"
)


def _check_subprocess(command: list[str]) -> None:
    done = subprocess.run(command + SUBPROCESS_ARGS, capture_output=True, text=True, env=_env(), timeout=60)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert set(result) == COST_KEYS
    assert Decimal(result["total"]) == Decimal("0.0228")
    assert result["model"] == "claude-sonnet-4-5"

    unknown_args = ["price", "gpt-4x", "--provider", "openai"]
    unknown = subprocess.run(
        [*command, *unknown_args], capture_output=True, text=True, env=_env(), timeout=60
    )
    assert unknown.returncode == 2
    assert unknown.stdout == ""
    assert "gpt-4o" in unknown.stderr


def test_console_script() -> None:
    script = Path(sys.executable).parent / ("otel-tokenomics.exe" if os.name == "nt" else "otel-tokenomics")
    if not script.exists():
        pytest.skip("the otel-tokenomics console script is not installed next to this interpreter")
    _check_subprocess([str(script)])


def test_python_dash_m() -> None:
    _check_subprocess([sys.executable, "-m", "otel_tokenomics"])


def test_cache_write_below_its_one_hour_part_is_read_as_the_five_minute_writes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # claude-sonnet-4-5: input $3, 5-minute write $3.75, 1-hour write $6 per million.
    # --cache-write 1000 cannot include 2000 one-hour writes: 1000 5m + 2000 1h = 3000 writes.
    argv = "cost --provider anthropic --model claude-sonnet-4-5 --input 10000 --output 0"
    code = main([*argv.split(), "--cache-write", "1000", "--cache-write-1h", "2000", "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert Decimal(out["input"]) == Decimal("0.021")  # 7000 x 3
    assert Decimal(out["cache_write"]) == Decimal("0.01575")  # 1000 x 3.75 + 2000 x 6
