"""Zero-code loading: ``opentelemetry-instrument`` finds us through the entry point."""

from __future__ import annotations

import importlib.metadata
import json
import os
import pathlib
import shutil
import subprocess
import sys
import textwrap

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]

APP = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {tests!r})
    from openai_fakes import Server, chat_completion

    server = Server()
    server.json("/chat/completions", chat_completion())
    messages = [{{"role": "user", "content": "hi"}}]
    result = server.client().chat.completions.create(model="o4-mini", messages=messages)
    print("ANSWER", result.choices[0].message.content)
    """
)


# Two calls in a workflow under an app span: roll-ups need no set-up under opentelemetry-instrument.
WORKFLOW_APP = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {tests!r})
    from openai_fakes import Server, chat_completion
    from opentelemetry import trace
    import otel_tokenomics

    server = Server()
    server.json("/chat/completions", chat_completion())
    client = server.client()
    messages = [{{"role": "user", "content": "hi"}}]
    with trace.get_tracer("app").start_as_current_span("handler"):
        with otel_tokenomics.workflow("answer"):
            client.chat.completions.create(model="o4-mini", messages=messages)
            client.chat.completions.create(model="o4-mini", messages=messages)
    """
)


def _launcher() -> str:
    installed = {ep.name for ep in importlib.metadata.entry_points(group="opentelemetry_instrumentor")}
    launcher = shutil.which("opentelemetry-instrument", path=str(pathlib.Path(sys.executable).parent))
    if "tokenomics_openai" not in installed or launcher is None:
        if os.environ.get("CI"):
            pytest.fail("the package and opentelemetry-distro must be installed for this test in CI")
        pytest.skip("otel-tokenomics is not pip-installed with opentelemetry-distro here")
    return launcher


def _run(tmp_path: pathlib.Path, source: str = APP, **env: str) -> subprocess.CompletedProcess[str]:
    app = tmp_path / "app.py"
    app.write_text(source.format(tests=str(ROOT / "tests")))
    environment = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    environment.update(
        OTEL_TRACES_EXPORTER="console",
        OTEL_METRICS_EXPORTER="none",
        OTEL_LOGS_EXPORTER="none",
        OTEL_SERVICE_NAME="auto-test",
        **env,
    )
    return subprocess.run(
        [_launcher(), sys.executable, str(app)],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
        check=True,
    )


def _spans(stdout: str) -> list[dict]:
    """The console exporter prints one JSON document per span."""
    decoder = json.JSONDecoder()
    spans, index = [], stdout.find("{")
    while index != -1:
        span, end = decoder.raw_decode(stdout, index)
        spans.append(span)
        index = stdout.find("{", end)
    return spans


def test_opentelemetry_instrument_loads_tokenomics_openai(tmp_path) -> None:
    result = _run(tmp_path)
    assert "ANSWER Hello there." in result.stdout
    spans = [s for s in _spans(result.stdout) if s.get("name") == "chat o4-mini"]
    assert len(spans) == 1
    attributes = spans[0]["attributes"]
    assert attributes["gen_ai.usage.input_tokens"] == 2048
    assert attributes["gen_ai.usage.cache_read.input_tokens"] == 1536
    assert attributes["gen_ai.usage.reasoning.output_tokens"] == 256
    assert spans[0]["kind"] == "SpanKind.CLIENT"


def test_disabled_by_its_own_entry_point_name(tmp_path) -> None:
    result = _run(tmp_path, OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="tokenomics_openai")
    assert "ANSWER Hello there." in result.stdout
    assert [s for s in _spans(result.stdout) if s.get("name") == "chat o4-mini"] == []


def test_roll_ups_work_under_opentelemetry_instrument(tmp_path) -> None:
    spans = {s["name"]: s for s in _spans(_run(tmp_path, WORKFLOW_APP).stdout)}
    call = spans["chat o4-mini"]["attributes"]
    for name in ("invoke_workflow answer", "handler"):
        attributes = spans[name]["attributes"]
        assert attributes["tokenomics.rollup.llm_calls"] == 2
        assert attributes["tokenomics.rollup.usage.input_tokens"] == 2 * 2048
        assert attributes["tokenomics.rollup.usage.cache_read.input_tokens"] == 2 * 1536
        assert attributes["tokenomics.rollup.cost.total"] == 2 * call["tokenomics.cost.total"]
        assert attributes["tokenomics.rollup.cost.status"] == "complete"
