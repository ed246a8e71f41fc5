"""Our own bug, simulated: an exception forced inside our recording code, at each place it could happen.

Whatever breaks in our code, the caller gets exactly what the SDK returns (compared with
the same call made with instrumentation suppressed), a stream yields every chunk it would
have yielded, each call's span ends once, and one WARNING from the ``otel_tokenomics``
logger names what failed, however many calls hit the same failure.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import anthropic_fakes
import openai_fakes
import pytest
from opentelemetry.instrumentation.utils import suppress_instrumentation

from otel_tokenomics import call as call_module
from otel_tokenomics import rollup as rollup_module
from otel_tokenomics.call import InferenceCall
from otel_tokenomics.metrics import Metrics
from otel_tokenomics.providers import anthropic as anthropic_adapter
from otel_tokenomics.providers import openai as openai_adapter

# The SDK warns that the request's model is deprecated: not ours, not what these tests read.
pytestmark = pytest.mark.filterwarnings("ignore:The model:DeprecationWarning")

CALLS = 3  # each fault is hit by every call; the log line must still be one
MESSAGES = [{"role": "user", "content": "Say hello."}]
PREFIX = "otel-tokenomics could not record telemetry"


class SimulatedBug(RuntimeError):
    pass


def _raise(*args: Any, **kwargs: Any) -> Any:
    raise SimulatedBug("simulated bug in otel-tokenomics")


# -- the SDK calls: (sdk, stream) -> a function making one call and returning what the user saw --------


def _openai_server() -> openai_fakes.Server:
    server = openai_fakes.Server()
    server.chat_stream(pieces=("Hel", "lo", " there."), usage=openai_fakes.CHAT_USAGE)
    plain = server.routes["/chat/completions"]

    def route(request: Any) -> Any:
        if json.loads(request.content).get("stream"):
            return plain(request)
        return server.http.Response(200, json=openai_fakes.chat_completion(model="gpt-4o-mini-2024-07-18"))

    server.routes["/chat/completions"] = route
    return server


def _anthropic_server() -> anthropic_fakes.Server:
    server = anthropic_fakes.Server()

    def route(request: Any) -> Any:
        if json.loads(request.content).get("stream"):
            payload = anthropic_fakes.sse(anthropic_fakes.events())
            return server.http.Response(200, headers={"content-type": "text/event-stream"}, content=payload)
        return server.http.Response(200, json=anthropic_fakes.message())

    server.routes["/v1/messages"] = route
    return server


def openai_call(stream: bool) -> Callable[[], Any]:
    client = _openai_server().client()

    def make() -> Any:
        if stream:
            # No include_usage asked: the usage chunk we add must not reach the caller.
            return [c.model_dump() for c in client.chat.completions.create(**_OPENAI, stream=True)]
        return client.chat.completions.create(**_OPENAI).model_dump()

    return make


def anthropic_call(stream: bool) -> Callable[[], Any]:
    client = _anthropic_server().client()

    def make() -> Any:
        if stream:
            return [e.model_dump() for e in client.messages.create(**_ANTHROPIC, stream=True)]
        return client.messages.create(**_ANTHROPIC).model_dump()

    return make


_OPENAI: dict[str, Any] = {"model": "gpt-4o-mini", "messages": MESSAGES}
_ANTHROPIC: dict[str, Any] = {"model": "claude-sonnet-4-5", "max_tokens": 1024, "messages": MESSAGES}
CALLERS = {"openai": openai_call, "anthropic": anthropic_call}


# -- the faults: name -> (where to break, the place named in the log line) ----------------------------


def _break_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(openai_adapter.ROUTES["/chat/completions"], "read_chunk", _raise)
    monkeypatch.setattr(anthropic_adapter.ROUTES["/v1/messages"], "read_chunk", _raise)


def _break_responses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(openai_adapter.ROUTES["/chat/completions"], "read_response", _raise)
    monkeypatch.setattr(anthropic_adapter.ROUTES["/v1/messages"], "read_response", _raise)


def _break_input_content(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(openai_adapter.ROUTES["/chat/completions"], "read_input_content", _raise)
    monkeypatch.setattr(anthropic_adapter.ROUTES["/v1/messages"], "read_input_content", _raise)


FAULTS: dict[str, tuple[Callable[[pytest.MonkeyPatch], None], str]] = {
    "pricing": (lambda mp: mp.setattr(call_module, "price_call", _raise), "pricing a call"),
    "end attributes": (
        lambda mp: mp.setattr(InferenceCall, "_end_attributes", _raise),
        "ending a span",
    ),
    "roll-up processor": (
        lambda mp: mp.setattr(rollup_module, "_call_amounts", _raise),
        "ending a span roll-up",
    ),
    "request content": (_break_input_content, "reading request content"),
    "content event": (
        # The event's logger is made on the first event: breaking that breaks every event.
        lambda mp: mp.setattr("opentelemetry._logs.get_logger", _raise),
        "emitting the content event",
    ),
}
STREAM_ONLY = {"stream chunk": (_break_chunks, "reading a stream chunk")}
PLAIN_ONLY = {"response reading": (_break_responses, "reading a response")}


def _cases() -> Iterator[Any]:
    for sdk in CALLERS:
        for stream in (False, True):
            faults = {**FAULTS, **(STREAM_ONLY if stream else PLAIN_ONLY)}
            for fault in faults:
                name = f"{sdk}-{'stream' if stream else 'plain'}-{fault}"
                yield pytest.param(sdk, stream, fault, id=name)


def _warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.WARNING]


@pytest.fixture(autouse=True)
def fresh_reports(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test starts with no place reported yet: the log-once memory is per process."""
    monkeypatch.setattr(call_module, "_reported", set())


@pytest.mark.parametrize(("sdk", "stream", "fault"), list(_cases()))
def test_our_failure_leaves_the_call_untouched_and_logs_once(
    instrument, telemetry, monkeypatch, caplog, sdk: str, stream: bool, fault: str
) -> None:
    # Content on: the content readers and the content event run, so they can be broken too.
    instrument(capture_content="span_and_event")
    make = CALLERS[sdk](stream)
    with suppress_instrumentation():
        expected = make()
    assert telemetry.spans() == []
    breaker, place = {**FAULTS, **STREAM_ONLY, **PLAIN_ONLY}[fault]
    breaker(monkeypatch)
    tracer = telemetry.tracer_provider.get_tracer("app")

    # Under an app span, so the roll-up processor has a parent to credit.
    with caplog.at_level(logging.DEBUG), tracer.start_as_current_span("request"):
        seen = [make() for _ in range(CALLS)]

    assert seen == [expected] * CALLS
    if stream:
        assert len(expected) == (5 if sdk == "openai" else 8)  # every chunk, and only the SDK's
    spans = telemetry.spans()
    calls = [s for s in spans if s.name != "request"]
    assert len(calls) == CALLS  # ended once each: a second end() would log the SDK's warning below
    assert {s.attributes["gen_ai.provider.name"] for s in calls} == {sdk}
    warnings = _warnings(caplog)
    assert [(r.name, r.levelname) for r in warnings] == [("otel_tokenomics", "WARNING")], [
        r.getMessage() for r in warnings
    ]
    assert warnings[0].getMessage() == f"{PREFIX} ({place}); the call itself is unaffected"
    assert warnings[0].exc_info is not None and warnings[0].exc_info[0] is SimulatedBug
    # The later hits are still there for whoever turns on DEBUG.
    repeats = [r for r in caplog.records if r.levelno == logging.DEBUG and place in r.getMessage()]
    assert len(repeats) >= CALLS - 1


def test_usage_reader_failure_keeps_the_result_and_marks_no_reported_usage(
    instrument, telemetry, monkeypatch, caplog
) -> None:
    instrument()
    make = openai_call(stream=False)
    with suppress_instrumentation():
        expected = make()
    monkeypatch.setattr(openai_adapter, "completion_usage", _raise)
    with caplog.at_level(logging.WARNING):
        seen = [make() for _ in range(CALLS)]
    assert seen == [expected] * CALLS
    spans = telemetry.spans()
    assert len(spans) == CALLS
    # The response's usage was not read: no reported count reaches the span (an estimate may).
    assert all(s.attributes["tokenomics.usage.source"] != "reported" for s in spans)
    warnings = _warnings(caplog)
    assert [r.getMessage() for r in warnings] == [
        f"{PREFIX} (reading a response); the call itself is unaffected"
    ]


def test_usage_chunk_we_added_stays_hidden_when_reading_it_fails(instrument, telemetry, monkeypatch) -> None:
    instrument()
    make = openai_call(stream=True)
    with suppress_instrumentation():
        expected = make()
    monkeypatch.setattr(openai_adapter, "completion_usage", _raise)
    seen = make()
    assert len(telemetry.spans()) == 1
    assert seen == expected  # the usage-only chunk is ours: the caller never asked for it


@pytest.mark.parametrize("sdk", list(CALLERS))
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_metrics_failure_logs_once_and_names_metrics(
    instrument, telemetry, monkeypatch, caplog, sdk: str, stream: bool
) -> None:
    instrument()
    make = CALLERS[sdk](stream)
    with suppress_instrumentation():
        expected = make()
    monkeypatch.setattr(Metrics, "record", _raise)
    with caplog.at_level(logging.WARNING):
        seen = [make() for _ in range(CALLS)]
    assert seen == [expected] * CALLS
    assert len(telemetry.spans()) == CALLS
    assert all(s.attributes["tokenomics.cost.status"] == "priced" for s in telemetry.spans())
    warnings = _warnings(caplog)
    assert [r.getMessage() for r in warnings] == [
        f"{PREFIX} (recording metrics); the call itself is unaffected"
    ], [(r.name, r.getMessage()) for r in warnings]


def test_metrics_failure_still_returns_the_result_and_exports_each_span_once(
    instrument, telemetry, monkeypatch, caplog
) -> None:
    """The caller is untouched and each span is exported once when metrics recording fails."""
    instrument()
    make = openai_call(stream=False)
    with suppress_instrumentation():
        expected = make()
    monkeypatch.setattr(Metrics, "record", _raise)
    with caplog.at_level(logging.WARNING):
        seen = [make() for _ in range(CALLS)]
    assert seen == [expected] * CALLS
    spans = telemetry.spans()
    assert len(spans) == CALLS
    assert {s.attributes["gen_ai.usage.input_tokens"] for s in spans} == {2048}
    ours = [r for r in _warnings(caplog) if r.name == "otel_tokenomics"]
    assert len(ours) == 1


@pytest.mark.parametrize("sdk", ["openai", "anthropic"])
def test_async_stream_chunk_failure_yields_every_chunk(
    instrument, telemetry, monkeypatch, caplog, sdk: str
) -> None:
    import asyncio

    instrument()
    if sdk == "openai":
        client: Any = _openai_server().async_client()

        async def make() -> Any:
            stream = await client.chat.completions.create(**_OPENAI, stream=True)
            return [c.model_dump() async for c in stream]
    else:
        client = _anthropic_server().async_client()

        async def make() -> Any:
            stream = await client.messages.create(**_ANTHROPIC, stream=True)
            return [e.model_dump() async for e in stream]

    with suppress_instrumentation():
        expected = asyncio.run(make())
    _break_chunks(monkeypatch)

    async def many() -> list[Any]:
        return list(await asyncio.gather(*(make() for _ in range(CALLS))))

    with caplog.at_level(logging.WARNING):
        seen = asyncio.run(many())
    assert seen == [expected] * CALLS
    spans = telemetry.spans()
    assert len(spans) == CALLS
    assert {s.attributes["tokenomics.stream.outcome"] for s in spans} == {"completed"}
    assert [r.getMessage() for r in _warnings(caplog)] == [
        f"{PREFIX} (reading a stream chunk); the call itself is unaffected"
    ]


def test_output_content_failure_costs_only_the_content(instrument, telemetry, monkeypatch, caplog) -> None:
    instrument(capture_content="SPAN_ONLY")
    make = openai_call(stream=False)
    with suppress_instrumentation():
        expected = make()
    monkeypatch.setattr(InferenceCall, "output_messages", _raise)
    with caplog.at_level(logging.WARNING):
        assert make() == expected
    span = telemetry.span()
    assert "gen_ai.output.messages" not in span.attributes
    assert (
        span.attributes.get("gen_ai.usage.input_tokens"),
        span.attributes.get("tokenomics.cost.status"),
    ) == (
        2048,
        "priced",
    )
    assert telemetry.metrics().get("tokenomics.cost")
    [warning] = _warnings(caplog)
    assert "content" in warning.getMessage()
