"""anthropic streams: input from message_start, cumulative output from message_delta; one span."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import anthropic
import pytest
from anthropic_fakes import (
    DELTA_USAGE,
    ERROR_EVENT,
    HTTP,
    MESSAGES,
    MODEL,
    Server,
    bedrock_stream,
    cost_attributes,
    events,
    exact,
    sse,
)
from opentelemetry.trace import StatusCode

pytestmark = pytest.mark.filterwarnings("ignore:.*deprecated:DeprecationWarning")

# 1,200 uncached + 40,000 read + 1,000 5m + 2,000 1h written in; 800 out (claude-sonnet-4-5).
TOTAL = (1200 * 3 + 40000 * 0.3 + 1000 * 3.75 + 2000 * 6 + 800 * 15) / 1e6
KWARGS: dict[str, Any] = {"model": MODEL, "max_tokens": 1024, "messages": MESSAGES}


def _server(payload: bytes | None = None) -> Server:
    server = Server()
    server.stream("/v1/messages", payload if payload is not None else sse(events()))
    return server


def _assert_full_usage(attributes: Any, outcome: str = "completed") -> None:
    assert attributes["gen_ai.request.stream"] is True
    assert attributes["gen_ai.usage.input_tokens"] == 44200
    assert attributes["gen_ai.usage.cache_read.input_tokens"] == 40000
    assert attributes["gen_ai.usage.cache_write.input_tokens"] == 3000
    assert attributes["tokenomics.usage.cache_write.ttl_5m.input_tokens"] == 1000
    assert attributes["tokenomics.usage.cache_write.ttl_1h.input_tokens"] == 2000
    assert attributes["gen_ai.usage.output_tokens"] == 800
    assert attributes["gen_ai.response.id"] == "msg_01abc"
    assert attributes["gen_ai.response.model"] == MODEL
    assert attributes["gen_ai.response.finish_reasons"] == ("end_turn",)
    assert attributes["tokenomics.stream.outcome"] == outcome
    assert attributes["tokenomics.cost.total"] == exact(TOTAL)
    assert attributes["tokenomics.cost.output"] == exact(800 * 15 / 1e6)


def test_create_stream(instrument, telemetry) -> None:
    instrument()
    stream = _server().client().messages.create(stream=True, **KWARGS)
    assert isinstance(stream, anthropic.Stream)
    assert telemetry.spans() == []
    kinds = [event.type for event in stream]
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    attributes = telemetry.span().attributes
    _assert_full_usage(attributes)
    assert attributes["tokenomics.stream.chunk_count"] == len(kinds)
    assert attributes["gen_ai.response.time_to_first_chunk"] > 0
    points = telemetry.metrics()
    assert points["gen_ai.client.operation.time_to_first_chunk"][0].count == 1


def test_time_to_first_chunk_waits_for_the_first_delta(instrument, telemetry) -> None:
    """message_start and content_block_start come before any output is generated."""
    import time

    import httpx2

    instrument()
    stream_events = events(("Hel", "lo"))
    opening, rest = sse(stream_events[:2]), sse(stream_events[2:])

    def body():  # type: ignore[no-untyped-def]
        yield opening
        time.sleep(0.25)
        yield rest

    server = Server()
    server.routes["/v1/messages"] = lambda request: httpx2.Response(
        200, headers={"content-type": "text/event-stream"}, content=body()
    )
    list(server.client().messages.create(stream=True, **KWARGS))
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.response.time_to_first_chunk"] >= 0.25
    assert attributes["tokenomics.stream.chunk_count"] == 7
    (per_chunk,) = telemetry.metrics()["gen_ai.client.operation.time_per_output_chunk"]
    assert per_chunk.count == 1 and per_chunk.sum < 0.25  # between the two deltas only


def test_delta_without_input_counts_keeps_the_start_ones(instrument, telemetry) -> None:
    # Older API versions send only output_tokens in message_delta.
    instrument()
    _ = list(
        _server(sse(events(delta_usage={"output_tokens": 800})))
        .client()
        .messages.create(stream=True, **KWARGS)
    )
    _assert_full_usage(telemetry.span().attributes)


def test_stream_helper_text_stream_and_final_message(instrument, telemetry) -> None:
    instrument()
    with _server().client().messages.stream(**KWARGS) as stream:
        assert "".join(stream.text_stream) == "Hello there."
        final = stream.get_final_message()
    assert isinstance(final, anthropic.types.Message)
    assert final.usage.output_tokens == 800
    _assert_full_usage(telemetry.span().attributes)


def test_stream_helper_get_final_message_alone(instrument, telemetry) -> None:
    instrument()
    with _server().client().messages.stream(**KWARGS) as stream:
        stream.get_final_message()
    _assert_full_usage(telemetry.span().attributes)


def test_stream_helper_left_early(instrument, telemetry) -> None:
    instrument()
    with _server().client().messages.stream(**KWARGS) as stream:
        for _ in stream.text_stream:
            break
    attributes = telemetry.span().attributes
    assert attributes["tokenomics.stream.outcome"] == "closed_early"
    # message_start's input and cache counts are final; its output count is a placeholder.
    assert attributes["gen_ai.usage.input_tokens"] == 44200
    assert attributes["gen_ai.usage.output_tokens"] == 1
    assert len(telemetry.spans()) == 1


def test_break_then_close(instrument, telemetry) -> None:
    instrument()
    stream = _server().client().messages.create(stream=True, **KWARGS)
    for event in stream:
        if event.type == "content_block_delta":
            break
    stream.close()
    stream.close()
    span = telemetry.span()
    assert span.attributes["tokenomics.stream.outcome"] == "closed_early"
    assert span.status.status_code == StatusCode.UNSET


def test_dropped_stream_ends_as_abandoned(instrument, telemetry) -> None:
    instrument()
    stream = _server().client().messages.create(stream=True, **KWARGS)
    next(stream)
    del stream
    gc.collect()
    assert telemetry.span().attributes["tokenomics.stream.outcome"] == "abandoned"


def test_error_event_mid_stream_fails_the_span(instrument, telemetry) -> None:
    instrument()
    payload = sse([*events()[:3], ERROR_EVENT])
    stream = _server(payload).client().messages.create(stream=True, **KWARGS)
    with pytest.raises(anthropic.APIStatusError):
        for _ in stream:
            pass
    span = telemetry.span()
    assert span.status.status_code == StatusCode.ERROR
    assert span.attributes["tokenomics.stream.outcome"] == "failed"
    assert span.attributes["error.type"]
    # The input side was billed: keep message_start's usage; the output is estimated.
    assert span.attributes["gen_ai.usage.input_tokens"] == 44200
    assert span.attributes["tokenomics.cost.status"] == "estimated"


def test_transport_dying_mid_stream(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.dying_stream("/v1/messages", sse(events()[:3]))
    with pytest.raises(HTTP.ReadError), server.client().messages.stream(**KWARGS) as stream:
        for _ in stream:
            pass
    span = telemetry.span()
    assert span.status.status_code == StatusCode.ERROR
    assert span.attributes["error.type"] == "ReadError"
    assert span.attributes["gen_ai.usage.input_tokens"] == 44200


def test_async_create_stream(instrument, telemetry) -> None:
    instrument()
    server = _server()

    async def run() -> list[str]:
        stream = await server.async_client().messages.create(stream=True, **KWARGS)
        assert isinstance(stream, anthropic.AsyncStream)
        return [event.type async for event in stream]

    assert asyncio.run(run())[-1] == "message_stop"
    _assert_full_usage(telemetry.span().attributes)


def test_async_stream_helper(instrument, telemetry) -> None:
    instrument()
    server = _server()

    async def run() -> Any:
        async with server.async_client().messages.stream(**KWARGS) as stream:
            text = [piece async for piece in stream.text_stream]
            assert "".join(text) == "Hello there."
            return await stream.get_final_message()

    assert isinstance(asyncio.run(run()), anthropic.types.Message)
    _assert_full_usage(telemetry.span().attributes)


def test_async_stream_helper_left_early(instrument, telemetry) -> None:
    instrument()
    server = _server()

    async def run() -> None:
        async with server.async_client().messages.stream(**KWARGS) as stream:
            async for _ in stream:
                break

    asyncio.run(run())
    assert telemetry.span().attributes["tokenomics.stream.outcome"] == "closed_early"


def test_beta_stream(instrument, telemetry) -> None:
    instrument()
    with _server().client().beta.messages.stream(**KWARGS) as stream:
        final = stream.get_final_message()
    assert isinstance(final, anthropic.types.beta.BetaMessage)
    _assert_full_usage(telemetry.span().attributes)


def test_raw_response_of_a_stream(instrument, telemetry) -> None:
    instrument()
    raw = _server().client().messages.with_raw_response.create(stream=True, **KWARGS)
    stream = raw.parse()
    assert isinstance(stream, anthropic.Stream)
    assert [event.type for event in stream][-1] == "message_stop"
    _assert_full_usage(telemetry.span().attributes)


def test_async_raw_response_of_a_stream_whose_body_is_buffered(instrument, telemetry) -> None:
    """A transport that buffers the body (the mock's async handler does) hands over a
    closed response: still a stream, read when the user parses it, never as JSON."""
    instrument()

    async def run() -> list[str]:
        client = _server().async_client()
        raw = await client.messages.with_raw_response.create(stream=True, **KWARGS)
        stream = await raw.parse()
        assert isinstance(stream, anthropic.AsyncStream)
        return [event.type async for event in stream]

    assert asyncio.run(run())[-1] == "message_stop"
    _assert_full_usage(telemetry.span().attributes)


def test_streaming_response_of_a_stream(instrument, telemetry) -> None:
    instrument()
    with _server().client().messages.with_streaming_response.create(stream=True, **KWARGS) as response:
        stream = response.parse()
        assert [event.type for event in stream][-1] == "message_stop"
    _assert_full_usage(telemetry.span().attributes)


def test_thinking_stream(instrument, telemetry) -> None:
    instrument(capture_content="SPAN_ONLY")
    stream_events = events()
    stream_events[1:1] = [
        {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "Hm."}},
        {"type": "content_block_stop", "index": 0},
    ]
    for event in stream_events[4:]:
        if "index" in event:
            event["index"] = 1
    delta = {**DELTA_USAGE, "output_tokens_details": {"thinking_tokens": 300}}
    stream_events[-2]["usage"] = delta
    with _server(sse(stream_events)).client().messages.stream(**KWARGS) as stream:
        stream.get_final_message()
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.usage.reasoning.output_tokens"] == 300
    assert attributes["gen_ai.usage.output_tokens"] == 800
    import json

    assert json.loads(attributes["gen_ai.output.messages"]) == [
        {
            "role": "assistant",
            "parts": [{"type": "reasoning", "content": "Hm."}, {"type": "text", "content": "Hello there."}],
            "finish_reason": "end_turn",
        }
    ]


def test_no_content_by_default(instrument, telemetry) -> None:
    instrument()
    list(_server().client().messages.create(stream=True, **KWARGS))
    assert not any(
        key.startswith(("gen_ai.input", "gen_ai.output.messages")) for key in telemetry.span().attributes
    )


# -- Bedrock event streams -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "factor"),
    [
        ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", 1.1),
        ("global.anthropic.claude-sonnet-4-5-20250929-v1:0", 1),
    ],
)
def test_bedrock_stream(instrument, telemetry, model: str, factor: float) -> None:
    instrument()
    server = Server()
    server.stream(
        f"/model/{model}/invoke-with-response-stream",
        bedrock_stream(events()),
        content_type="application/vnd.amazon.eventstream",
    )
    with server.bedrock_client().messages.stream(**{**KWARGS, "model": model}) as stream:
        assert "".join(stream.text_stream) == "Hello there."
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.provider.name"] == "aws.bedrock"
    assert attributes["gen_ai.request.model"] == model
    assert attributes["gen_ai.usage.input_tokens"] == 44200
    assert attributes["gen_ai.usage.output_tokens"] == 800
    assert attributes["tokenomics.cost.total"] == pytest.approx(TOTAL * factor, rel=1e-9, abs=0)
    assert cost_attributes(attributes)["tokenomics.cost.status"] == "priced"
