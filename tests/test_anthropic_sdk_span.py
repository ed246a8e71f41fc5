"""The anthropic SDK's own span is folded into ours: one inference span per call, whatever its settings."""

from __future__ import annotations

import asyncio
from typing import Any

import anthropic
import pytest
from anthropic_fakes import HTTP, MESSAGES, MODEL, Server, events, message, requires, sse
from opentelemetry.trace import StatusCode

pytestmark = [
    pytest.mark.filterwarnings("ignore:.*deprecated:DeprecationWarning"),
    requires("sdk_tracing"),
]
KWARGS: dict[str, Any] = {"model": MODEL, "max_tokens": 1024, "messages": MESSAGES}


def _traced_client(server: Server, telemetry: Any, **kwargs: Any) -> anthropic.Anthropic:
    return server.client(open_telemetry={"tracer_provider": telemetry.tracer_provider}, **kwargs)


def _traceparent(request: Any) -> str | None:
    return request.headers.get("traceparent")  # type: ignore[no-any-return]


def _assert_ours_is_the_parent(span: Any, request: Any) -> None:
    assert span.instrumentation_scope.name == "otel_tokenomics"
    context = span.get_span_context()
    flags = int(context.trace_flags)
    assert _traceparent(request) == f"00-{context.trace_id:032x}-{context.span_id:016x}-{flags:02x}"


def test_without_us_the_sdk_records_its_own_span(telemetry) -> None:
    """The premise: with a tracer provider the SDK spans every call and counts usage."""
    server = Server()
    server.json("/v1/messages", message())
    _traced_client(server, telemetry).messages.create(**KWARGS)
    span = telemetry.span()
    assert span.instrumentation_scope.name == "com.anthropic.sdk.python"
    assert span.attributes["gen_ai.usage.output_tokens"] == 800


def test_sdk_tracing_on_gives_one_span_ours(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.json("/v1/messages", message())
    result = _traced_client(server, telemetry).messages.create(**KWARGS)
    assert isinstance(result, anthropic.types.Message)
    span = telemetry.span()
    assert span.attributes["gen_ai.usage.input_tokens"] == 44200
    assert span.attributes["tokenomics.cost.status"] == "priced"
    _assert_ours_is_the_parent(span, server.requests[-1])


def test_sdk_tracing_on_stream(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.stream("/v1/messages", sse(events()))
    with _traced_client(server, telemetry).messages.stream(**KWARGS) as stream:
        stream.get_final_message()
    span = telemetry.span()
    assert span.attributes["gen_ai.usage.output_tokens"] == 800
    _assert_ours_is_the_parent(span, server.requests[-1])


def test_sdk_tracing_on_raw_and_streaming_responses(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.json("/v1/messages", message())
    client = _traced_client(server, telemetry)
    client.messages.with_raw_response.create(**KWARGS).parse()
    with client.messages.with_streaming_response.create(**KWARGS) as response:
        response.parse()
    spans = telemetry.spans()
    assert [span.instrumentation_scope.name for span in spans] == ["otel_tokenomics"] * 2
    for span, request in zip(spans, server.requests, strict=True):
        _assert_ours_is_the_parent(span, request)


def test_sdk_tracing_on_error_and_retry(instrument, telemetry) -> None:
    instrument()
    server = Server()
    overloaded = {"type": "error", "error": {"type": "overloaded_error", "message": "x"}}
    server.routes["/v1/messages"] = lambda request: HTTP.Response(529, json=overloaded)
    client = _traced_client(server, telemetry, max_retries=1)
    client._sleep_for_retry = lambda **kwargs: None  # type: ignore[method-assign]
    with pytest.raises(anthropic.APIStatusError):
        client.messages.create(**KWARGS)
    span = telemetry.span()
    assert span.status.status_code == StatusCode.ERROR
    assert len(server.requests) == 2
    for request in server.requests:  # every attempt names our span
        _assert_ours_is_the_parent(span, request)


def test_sdk_tracing_on_async(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.stream("/v1/messages", sse(events()))
    client = server.async_client(open_telemetry={"tracer_provider": telemetry.tracer_provider})

    async def run() -> None:
        stream = await client.messages.create(stream=True, **KWARGS)
        async for _ in stream:
            pass

    asyncio.run(run())
    span = telemetry.span()
    assert span.attributes["gen_ai.usage.input_tokens"] == 44200
    _assert_ours_is_the_parent(span, server.requests[-1])


def test_sdk_tracing_off(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.json("/v1/messages", message())
    server.client(open_telemetry=False).messages.create(**KWARGS)
    assert telemetry.span().instrumentation_scope.name == "otel_tokenomics"
    assert _traceparent(server.requests[-1]) is None


def test_sdk_tracing_off_by_environment(instrument, telemetry, monkeypatch) -> None:
    monkeypatch.setenv("ANTHROPIC_OPEN_TELEMETRY", "false")
    instrument()
    server = Server()
    server.json("/v1/messages", message())
    server.client().messages.create(**KWARGS)
    assert telemetry.span().instrumentation_scope.name == "otel_tokenomics"
    assert _traceparent(server.requests[-1]) is None


def test_calls_we_do_not_trace_keep_the_sdk_span(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.json("/v1/messages/count_tokens", {"input_tokens": 12})
    _traced_client(server, telemetry).messages.count_tokens(model=MODEL, messages=MESSAGES)
    span = telemetry.span()
    assert span.instrumentation_scope.name == "com.anthropic.sdk.python"
    assert span.name == "anthropic.messages.count_tokens"


def test_uninstrument_gives_the_sdk_its_span_back(instrument, telemetry) -> None:
    import otel_tokenomics

    instrument()
    otel_tokenomics.uninstrument()
    server = Server()
    server.json("/v1/messages", message())
    _traced_client(server, telemetry).messages.create(**KWARGS)
    assert telemetry.span().instrumentation_scope.name == "com.anthropic.sdk.python"
