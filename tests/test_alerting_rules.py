"""The example Prometheus rules: valid, unit-tested by promtool, and every alert tested both ways.

promtool runs offline in a fraction of a second. Without it the tests are skipped,
except in CI (CI set), which installs it and must not pass by skipping.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
from typing import Any

import pytest
import yaml

ALERTING = pathlib.Path(__file__).resolve().parents[1] / "examples" / "alerting"
RULES = ALERTING / "rules.yml"
TEST_FILES = sorted(ALERTING.glob("rules*.test.yml"))

# The rules the brief of the examples promises; a rename must update the README too.
EXPECTED_ALERTS = {
    "LLMCostBurnRateByProvider",
    "LLMCostBurnRateByTenant",
    "LLMCostBurnRateByFeature",
    "LLMTokenSpike",
    "LLMUnpricedModel",
    "LLMErrorRateHigh",
    "LLMTimeToFirstChunkSLO",
    "LLMCacheHitRatioDrop",
}


def _promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("promtool is not installed (CI installs the Debian package prometheus)")
        pytest.skip("promtool is not installed")
    return path


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_promtool(), *args], cwd=ALERTING, capture_output=True, text=True, timeout=120, check=False
    )


def _load(path: pathlib.Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _alerts() -> dict[str, dict[str, Any]]:
    return {
        rule["alert"]: rule for group in _load(RULES)["groups"] for rule in group["rules"] if "alert" in rule
    }


def _alert_tests() -> list[dict[str, Any]]:
    return [
        case
        for path in TEST_FILES
        for test in _load(path)["tests"]
        for case in test.get("alert_rule_test") or []
    ]


def test_rules_are_valid() -> None:
    result = _run("check", "rules", RULES.name)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 21 rules found" in result.stdout


def test_the_example_scrape_config_is_valid_and_loads_the_rules() -> None:
    result = _run("check", "config", "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert _load(ALERTING / "prometheus.yml")["rule_files"] == ["rules.yml"]


def test_promtool_unit_tests_pass() -> None:
    assert [path.name for path in TEST_FILES] == ["rules.daily.test.yml", "rules.test.yml"]
    result = _run("test", "rules", *(path.name for path in TEST_FILES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(TEST_FILES), result.stdout


def test_the_promtool_tests_can_fail(tmp_path: pathlib.Path) -> None:
    """A budget no spend reaches must make the unit tests fail: they are not vacuous."""
    rules = RULES.read_text(encoding="utf-8")
    broken = rules.replace("rate15m > 50", "rate15m > 5000")
    assert broken != rules
    (tmp_path / "rules.yml").write_text(broken, encoding="utf-8")
    shutil.copy(ALERTING / "rules.test.yml", tmp_path / "rules.test.yml")
    result = subprocess.run(
        [_promtool(), "test", "rules", "rules.test.yml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "alertname: LLMCostBurnRateByProvider" in result.stdout + result.stderr


def test_every_alert_is_tested_firing_and_quiet() -> None:
    alerts = _alerts()
    assert set(alerts) == EXPECTED_ALERTS
    cases = _alert_tests()
    fires = {case["alertname"] for case in cases if case.get("exp_alerts")}
    quiet = {case["alertname"] for case in cases if not case.get("exp_alerts")}
    assert fires == set(alerts), f"never tested firing: {set(alerts) - fires}"
    assert quiet == set(alerts), f"never tested quiet: {set(alerts) - quiet}"


def test_every_alert_has_a_severity_and_explains_itself() -> None:
    for name, rule in _alerts().items():
        assert rule["labels"]["severity"] in {"critical", "warning"}, name
        assert {"summary", "description"} <= set(rule["annotations"]), name
        # The value and at least one label of the series appear in the text a human reads.
        text = rule["annotations"]["summary"] + rule["annotations"]["description"]
        assert "$value" in text and "$labels." in rule["annotations"]["summary"], name
