"""Tokenizers: loaded off the call path, and a heuristic that stands in when none can be loaded."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import textwrap

import pytest

from otel_tokenomics.estimation import tokenizers
from otel_tokenomics.estimation.tokenizers import CL100K, O200K, encoding_for_model, heuristic_count

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("model", "encoding"),
    [
        ("gpt-4o-mini", O200K),
        ("gpt-4o-2024-08-06", O200K),
        ("gpt-4.1-nano", O200K),
        ("gpt-5-mini", O200K),
        ("o4-mini-2025-04-16", O200K),
        ("o1", O200K),
        ("openai/gpt-oss-120b", O200K),
        ("ft:gpt-4o-mini-2024-07-18:acme::abc123", O200K),
        ("chatgpt-4o-latest", O200K),
        ("gpt-4", CL100K),
        ("gpt-4-turbo", CL100K),
        ("gpt-3.5-turbo-0125", CL100K),
        ("gpt-35-turbo", CL100K),
        ("text-embedding-3-small", CL100K),
        ("claude-sonnet-4-5", None),
        ("gemini-2.5-flash", None),
        ("llama-3.3-70b-versatile", None),
        ("", None),
        (None, None),
    ],
)
def test_encoding_of_a_model(model, encoding) -> None:
    assert encoding_for_model(model) == encoding


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("", 0),
        ("Hi", 1),
        ("Say hello.", 3),  # o200k: 3
        ("Hello there.", 3),  # o200k: 3
        ("This late pivot means we don't have time to boil the ocean for the client deliverable.", 20),  # 18
        ('{"location": "Paris", "unit": "celsius"}', 15),  # o200k: 12
        ("提示缓存允许提供商重用", 8),  # o200k: 9
    ],
)
def test_heuristic_counts(text, tokens) -> None:
    assert heuristic_count(text) == tokens


def test_heuristic_is_close_to_o200k_on_prose_and_code() -> None:
    """The error documented in docs/estimation.md, on texts of this repository."""
    encoding = tokenizers.counter(O200K)
    assert encoding is not None
    for path, tolerance in (("README.md", 0.05), ("otel_tokenomics/call.py", 0.05)):
        text = (ROOT / path).read_text()
        exact = encoding.count(text)
        assert abs(heuristic_count(text) - exact) / exact < tolerance, path


def test_counter_caches_long_texts() -> None:
    counter = tokenizers.counter(O200K)
    assert counter is not None and counter.source == "estimated" and counter.tokenizer == O200K
    text = "A long system prompt that every call of a conversation sends again. " * 20
    first = counter.count(text)
    assert counter.count(text) == first == 261
    assert text in counter._cache


def test_model_without_a_tokenizer_gets_the_heuristic() -> None:
    counter = tokenizers.counter_for_model("claude-sonnet-4-5")
    assert (counter.source, counter.tokenizer) == ("heuristic", "heuristic")


# -- loading: never on the call path ----------------------------------------------------------

_CHILD = textwrap.dedent(
    """
    import json, sys, time
    sys.path.insert(0, {tests!r})
    import otel_tokenomics
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from otel_tokenomics.estimation import tokenizers

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    otel_tokenomics.instrument(tracer_provider=provider)
    after_instrument = {{"status": tokenizers.status(), "tiktoken": "tiktoken" in sys.modules}}

    from openai_fakes import Server
    server = Server()
    server.chat_stream(usage=None)
    client = server.client(base_url="http://localhost:8000/v1")
    started = time.perf_counter()
    list(client.chat.completions.create(
        model="gpt-4o-mini", messages=[{{"role": "user", "content": "Say hello."}}], stream=True
    ))
    seconds = time.perf_counter() - started
    first = dict(exporter.get_finished_spans()[0].attributes)
    loaded = tokenizers.wait_for([tokenizers.O200K], timeout=60)
    list(client.chat.completions.create(
        model="gpt-4o-mini", messages=[{{"role": "user", "content": "Say hello."}}], stream=True
    ))
    second = dict(exporter.get_finished_spans()[1].attributes)
    print(json.dumps({{
        "after_instrument": after_instrument,
        "first": first,
        "second": second,
        "loaded": loaded,
        "status": tokenizers.status(),
        "seconds": seconds,
    }}))
    """
)


def _child(tmp_path: pathlib.Path, **env: str) -> dict:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    environ.update(env)
    script = _CHILD.format(tests=str(ROOT / "tests"))
    done = subprocess.run(
        [sys.executable, "-c", script], env=environ, capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def _keys(attributes: dict) -> tuple:
    return (
        attributes["tokenomics.usage.source"],
        attributes["tokenomics.usage.tokenizer"],
        attributes["gen_ai.usage.input_tokens"],
        attributes["gen_ai.usage.output_tokens"],
        attributes["tokenomics.cost.status"],
    )


def test_lazy_mode_loads_in_the_background_on_first_need(tmp_path) -> None:
    result = _child(tmp_path)
    # instrument() imported no tokenizer: an app whose providers report usage never pays for one.
    assert result["after_instrument"] == {
        "status": {O200K: "not loaded", CL100K: "not loaded"},
        "tiktoken": False,
    }
    # The first estimate did not wait for the load: heuristic, and marked so.
    assert _keys(result["first"]) == ("heuristic", "heuristic", 10, 3, "estimated")
    assert result["loaded"] is True
    # Once loaded, the same call is counted exactly.
    assert _keys(result["second"]) == ("estimated", O200K, 10, 3, "estimated")
    assert result["status"][CL100K] == "not loaded"


def test_preload_mode_starts_loading_at_instrument(tmp_path) -> None:
    result = _child(tmp_path, OTEL_TOKENOMICS_TOKENIZER="preload")
    assert set(result["after_instrument"]["status"].values()) <= {"loading", "loaded"}
    assert result["status"] == {O200K: "loaded", CL100K: "loaded"}
    assert _keys(result["second"]) == ("estimated", O200K, 10, 3, "estimated")


def test_off_mode_never_imports_tiktoken(tmp_path) -> None:
    result = _child(tmp_path, OTEL_TOKENOMICS_TOKENIZER="off")
    assert result["loaded"] is False
    assert _keys(result["first"]) == _keys(result["second"]) == ("heuristic", "heuristic", 10, 3, "estimated")
    assert result["status"] == {O200K: "not loaded", CL100K: "not loaded"}


def test_no_encoding_available_offline_falls_back_without_waiting(tmp_path) -> None:
    """No cache and no network (the download's proxy refuses at once): heuristic for good."""
    empty = tmp_path / "empty-cache"
    empty.mkdir()
    result = _child(
        tmp_path,
        TIKTOKEN_CACHE_DIR=str(empty),
        HTTPS_PROXY="http://127.0.0.1:9",
        HTTP_PROXY="http://127.0.0.1:9",
        NO_PROXY="",
    )
    assert result["loaded"] is False
    assert result["status"][O200K] == "failed"
    assert _keys(result["first"]) == _keys(result["second"]) == ("heuristic", "heuristic", 10, 3, "estimated")
