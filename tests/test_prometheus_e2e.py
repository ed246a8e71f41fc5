"""End to end: the alerting demo app, scraped by a real Prometheus that evaluates the example rules.

The app (examples/alerting/llm_app.py) makes its calls against the fake OpenAI server
and exports through the OpenTelemetry Prometheus exporter; Prometheus scrapes it every
second and evaluates examples/alerting/rules.yml every second, from a copy in which
only the `for:` durations and the cost budgets are lowered so that the alerts fire in
seconds. The spend Prometheus stores must be exactly what the calls cost, and the cost
and unpriced-model alerts must fire, and no other.

Without the prometheus binary the test is skipped, except in CI (CI set), which
installs it.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[1]
ALERTING = ROOT / "examples" / "alerting"
DEADLINE = 60.0  # seconds any one wait may take; a healthy run needs about 15 in all
T = TypeVar("T")

# The app's calls with these flags: 8 calls to gpt-4o, round-robin over tenants acme and
# globex (features search and chat); every 2nd streams, every 4th goes to my-finetune-v1,
# a model no catalog prices. Calls 1, 3, 5, 7: plain, acme/search; 2, 6: streamed,
# globex/chat; 4, 8: unpriced, globex/chat.
APP_FLAGS = ["--calls", "8", "--interval", "0.5", "--stream-every", "2", "--unpriced-every", "4"]

# What they cost, by hand from the fake server's token counts (see its docstring) and the
# catalog's gpt-4o prices, USD per million tokens: input 2.50, cache read 1.25, output 10.
# Every prompt is a 1,200-token system prompt (1,204 with its message overhead: 1,152 of
# them cached, the prefix rounded down to 128) and a question:
# - odd calls, "Why is the first chunk ... feel?" (63 characters, 16 tokens): 1,227 input,
#   75 uncached; the answer has 26 tokens.
#   75 x 2.50 + 1,152 x 1.25 + 26 x 10 = 187.5 + 1,440 + 260 = 1,887.5 micro-USD
# - even calls, "What did the last hour ... cost us?" (46 characters, 12 tokens): 1,223 input,
#   71 uncached; the answer has 29 tokens.
#   71 x 2.50 + 1,152 x 1.25 + 29 x 10 = 177.5 + 1,440 + 290 = 1,907.5 micro-USD
ACME = 4 * 0.0018875  # calls 1, 3, 5, 7
GLOBEX = 2 * 0.0019075  # calls 2 and 6
BY_CLASS = {
    "input": (4 * 75 + 2 * 71) * 2.5e-6,
    "cache_read": 6 * 1152 * 1.25e-6,
    "output": (4 * 26 + 2 * 29) * 10e-6,
}


def _binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is not installed (CI installs the Debian package prometheus)")
        pytest.skip(f"{name} is not installed")
    return path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for(what: str, check: Callable[[], T | None], timeout: float = DEADLINE) -> T:
    """Poll ``check`` until it returns something other than None; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result is not None:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.25)


class Process:
    """A subprocess whose output is collected by a thread, line by line, into a log file."""

    def __init__(self, name: str, args: list[str], log: pathlib.Path, **options: Any) -> None:
        self.name = name
        self.log = log
        self.lines: list[str] = []
        self._file = log.open("w", encoding="utf-8")
        self.process = subprocess.Popen(
            args,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            **options,
        )
        self._reader = threading.Thread(target=self._read, name=f"{name}-output", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))
            self._file.write(line)
            self._file.flush()

    def find(self, pattern: str) -> re.Match[str] | None:
        """The first output line matching ``pattern``; fails at once if the process has died."""
        for line in list(self.lines):
            match = re.search(pattern, line)
            if match:
                return match
        if self.process.poll() is not None:
            self._reader.join(timeout=5)
            pytest.fail(f"{self.name} exited with {self.process.returncode}:\n" + "\n".join(self.lines))
        return None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._reader.join(timeout=5)
        self._file.close()


def _api(port: int, path: str, **params: str) -> Any:
    url = f"http://127.0.0.1:{port}/api/v1/{path}"
    if params:
        url += "?" + urllib.parse.urlencode(params)
    with urllib.request.urlopen(url, timeout=5) as response:
        body = json.load(response)
    assert body["status"] == "success", body
    return body["data"]


def _query(port: int, promql: str) -> dict[tuple[tuple[str, str], ...], float]:
    """An instant query's vector: sorted label pairs (no metric name) -> value."""
    data = _api(port, "query", query=promql)
    assert data["resultType"] == "vector", data
    return {
        tuple(sorted((k, v) for k, v in sample["metric"].items() if k != "__name__")): float(
            sample["value"][1]
        )
        for sample in data["result"]
    }


def lowered_rules(text: str) -> str:
    """The example rules with every `for:` at 0 s and the cost budgets at 0 USD per hour.

    The expressions stay the example's, except for the number the cost alerts compare with.
    """
    document = yaml.safe_load(text)
    lowered = 0
    for group in document["groups"]:
        for rule in group["rules"]:
            if "alert" not in rule:
                continue
            if "for" in rule:
                rule["for"] = "0s"
            if rule["alert"].startswith("LLMCostBurnRate"):
                rule["expr"], count = re.subn(r">\s*[0-9.]+\s*$", "> 0", rule["expr"].strip())
                assert count == 1, rule
                lowered += 1
    assert lowered == 3
    return yaml.safe_dump(document, sort_keys=False)


def test_lowered_rules_change_only_durations_and_budgets() -> None:
    original = yaml.safe_load((ALERTING / "rules.yml").read_text(encoding="utf-8"))
    lowered = yaml.safe_load(lowered_rules((ALERTING / "rules.yml").read_text(encoding="utf-8")))
    changed = []
    for group, new_group in zip(original["groups"], lowered["groups"], strict=True):
        for rule, new in zip(group["rules"], new_group["rules"], strict=True):
            for key in set(rule) | set(new):
                if rule.get(key) != new.get(key):
                    changed.append((rule.get("alert") or rule["record"], key, new[key]))
    assert sorted(changed) == sorted(
        [
            ("LLMCostBurnRateByProvider", "expr", "provider:tokenomics_cost_usd_per_hour:rate15m > 0"),
            ("LLMCostBurnRateByTenant", "expr", "tenant:tokenomics_cost_usd_per_hour:rate15m > 0"),
            ("LLMCostBurnRateByFeature", "expr", "feature:tokenomics_cost_usd_per_hour:rate15m > 0"),
        ]
        + [
            (name, "for", "0s")
            for name in (
                "LLMCostBurnRateByProvider",
                "LLMCostBurnRateByTenant",
                "LLMCostBurnRateByFeature",
                "LLMTokenSpike",
                "LLMErrorRateHigh",
                "LLMTimeToFirstChunkSLO",
                "LLMCacheHitRatioDrop",
            )
        ]
    )


@pytest.fixture
def stack(tmp_path: pathlib.Path) -> Iterator[tuple[Process, int]]:
    """The app and a Prometheus scraping it: (the app, Prometheus's port). Logs printed at teardown."""
    prometheus = _binary("prometheus")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    for name in (
        "OTEL_TOKENOMICS_PRICES",
        "OTEL_TOKENOMICS_PRICING_FALLBACK",
        "OTEL_TOKENOMICS_METRIC_NAMES",
    ):
        env.pop(name, None)
    processes: list[Process] = []
    try:
        app = Process(
            "llm_app",
            [sys.executable, str(ALERTING / "llm_app.py"), "--port", "0", "--wait-for-scrape", *APP_FLAGS],
            tmp_path / "app.log",
            env=env,
            cwd=tmp_path,
        )
        processes.append(app)
        metrics_port = int(
            _wait_for("the app's metrics port", lambda: app.find(r"127\.0\.0\.1:(\d+)/metrics"))[1]
        )

        (tmp_path / "rules.yml").write_text(
            lowered_rules((ALERTING / "rules.yml").read_text(encoding="utf-8")), encoding="utf-8"
        )
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": ["rules.yml"],
            "scrape_configs": [
                {"job_name": "llm-app", "static_configs": [{"targets": [f"127.0.0.1:{metrics_port}"]}]}
            ],
        }
        (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
        port = _free_port()
        server = Process(
            "prometheus",
            [
                prometheus,
                f"--config.file={tmp_path / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp_path / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            tmp_path / "prometheus.log",
            cwd=tmp_path,
        )
        processes.append(server)
        _wait_for("Prometheus to be ready", lambda: server.find("Server is ready to receive web requests"))
        yield app, port
    finally:
        for process in reversed(processes):
            process.stop()
        for process in processes:  # pytest shows this only when the test fails
            print(f"---- {process.name} (exit {process.process.returncode}) ----")
            print("\n".join(process.lines[-200:]))


def test_prometheus_stores_the_exact_spend_and_fires_the_alerts(stack: tuple[Process, int]) -> None:
    app, port = stack
    # The app makes its first call after Prometheus's first scrape of it, so the rates and
    # increases of the rules see every call but the first of each series.
    done = _wait_for("the app's calls", lambda: app.find(r"done: (\d+) calls"))
    assert done[1] == "8"

    def spend_complete() -> dict[tuple[tuple[str, str], ...], float] | None:
        # Complete once a scrape after the last call has been stored: that call is unpriced.
        if _query(port, "sum(tokenomics_unpriced_calls_total)") != {(): 2.0}:
            return None
        return _query(port, "sum by (tokenomics_tenant) (tokenomics_cost_USD_total)")

    by_tenant = _wait_for("the last scrape of the spend", spend_complete)
    assert by_tenant == {
        (("tokenomics_tenant", "acme"),): pytest.approx(ACME, rel=1e-12, abs=0),
        (("tokenomics_tenant", "globex"),): pytest.approx(GLOBEX, rel=1e-12, abs=0),
    }
    by_class = _query(
        port,
        "sum by (gen_ai_provider_name, gen_ai_request_model, tokenomics_token_class, tokenomics_cost_status) "
        '(tokenomics_cost_USD_total{job="llm-app"})',
    )
    base = (
        ("gen_ai_provider_name", "openai"),
        ("gen_ai_request_model", "gpt-4o"),
        ("tokenomics_cost_status", "priced"),
    )
    assert by_class == {
        tuple(sorted((*base, ("tokenomics_token_class", name)))): pytest.approx(value, rel=1e-12, abs=0)
        for name, value in BY_CLASS.items()
    }
    assert _query(
        port, "sum by (gen_ai_request_model, tokenomics_tenant) (tokenomics_unpriced_calls_total)"
    ) == {(("gen_ai_request_model", "my-finetune-v1"), ("tokenomics_tenant", "globex")): 2.0}

    expected = {
        ("LLMCostBurnRateByProvider", (("gen_ai_provider_name", "openai"),)),
        ("LLMCostBurnRateByTenant", (("tokenomics_tenant", "acme"),)),
        ("LLMCostBurnRateByTenant", (("tokenomics_tenant", "globex"),)),
        ("LLMCostBurnRateByFeature", (("tokenomics_feature", "chat"),)),
        ("LLMCostBurnRateByFeature", (("tokenomics_feature", "search"),)),
        (
            "LLMUnpricedModel",
            (
                ("gen_ai_provider_name", "openai"),
                ("gen_ai_request_model", "my-finetune-v1"),
                ("gen_ai_response_model", "my-finetune-v1"),
            ),
        ),
    }

    def alerts_firing() -> list[dict[str, Any]] | None:
        alerts = _api(port, "alerts")["alerts"]
        firing = {
            (
                a["labels"]["alertname"],
                tuple(sorted((k, v) for k, v in a["labels"].items() if k not in ("alertname", "severity"))),
            )
            for a in alerts
            if a["state"] == "firing"
        }
        return alerts if expected <= firing else None

    alerts = _wait_for("the cost and unpriced-model alerts to fire", alerts_firing)
    # Nothing else: no errors, no slow streams, far below the token and traffic floors.
    assert {a["labels"]["alertname"] for a in alerts} == {name for name, _ in expected}
    provider = next(a for a in alerts if a["labels"]["alertname"] == "LLMCostBurnRateByProvider")
    assert provider["labels"]["severity"] == "critical"
    assert provider["annotations"]["summary"].startswith("LLM spend on openai is ")
    assert float(provider["value"]) > 0
