"""cohere v2 chat streams: the user iterates what the SDK yields; the span ends exactly once.

Catalog prices (USD per million tokens): command-a-03-2025 input 2.5, output 10;
command-r input 0.15, output 0.6. Usage arrives once, in ``message-end``; its billed
counts differ from the processed ones, so the exact counts prove which are recorded.
"""

from __future__ import annotations

import asyncio
import gc

import cohere
import httpx
import pytest
from cohere.v2.types import (
    ContentDeltaV2ChatStreamResponse,
    MessageEndV2ChatStreamResponse,
    MessageStartV2ChatStreamResponse,
)
from cohere_fakes import Server, stream_events, tool_stream_events, usage
from opentelemetry.trace import StatusCode

M = 1_000_000
EXACT = {"rel": 1e-12, "abs": 0}
MESSAGES = [{"role": "user", "content": "Say hello."}]
EVENTS = 7  # message-start, content-start, three content-deltas, content-end, message-end


def _events() -> list[dict]:
    return stream_events(usage_body=usage(250.0, 3.0, tokens_in=316.0, tokens_out=5.0))


def _stream(server: Server, client: cohere.ClientV2 | None = None, events: list[dict] | None = None):
    server.stream(events if events is not None else _events())
    client = client or server.client()
    return client.chat_stream(model="command-a-03-2025", messages=MESSAGES, temperature=0.5)


def _unwrapped() -> list[dict]:
    return [event.dict() for event in _stream(Server())]


def _assert_complete(attributes) -> None:
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.provider.name"] == "cohere"
    assert attributes["gen_ai.request.model"] == "command-a-03-2025"
    assert attributes["gen_ai.request.stream"] is True
    assert attributes["gen_ai.request.temperature"] == 0.5
    assert attributes["gen_ai.response.id"] == "29f14a5a-11de-4cae-9800-25e4747408ea"
    assert attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert attributes["gen_ai.usage.input_tokens"] == 250
    assert attributes["gen_ai.usage.output_tokens"] == 3
    assert attributes["tokenomics.stream.chunk_count"] == EVENTS
    assert attributes["tokenomics.stream.outcome"] == "completed"
    assert attributes["gen_ai.response.time_to_first_chunk"] >= 0
    assert attributes["tokenomics.cost.total"] == pytest.approx((250 * 2.5 + 3 * 10) / M, **EXACT)


def test_stream_complete(instrument, telemetry) -> None:
    expected = _unwrapped()
    instrument()
    server = Server()
    stream = _stream(server)
    assert server.requests == []  # a generator: nothing is sent before the first next()
    assert telemetry.spans() == []
    received = list(stream)
    assert [event.dict() for event in received] == expected
    assert isinstance(received[0], MessageStartV2ChatStreamResponse)
    assert isinstance(received[2], ContentDeltaV2ChatStreamResponse)
    assert isinstance(received[-1], MessageEndV2ChatStreamResponse)
    _assert_complete(telemetry.span().attributes)


def test_stream_metrics(instrument, telemetry) -> None:
    instrument()
    list(_stream(Server()))
    metrics = telemetry.metrics()
    tokens = {p.attributes["gen_ai.token.type"]: p.sum for p in metrics["gen_ai.client.token.usage"]}
    assert tokens == {"input": 250, "output": 3}
    (first_chunk,) = metrics["gen_ai.client.operation.time_to_first_chunk"]
    assert first_chunk.count == 1
    # Three content deltas carried output: one mean time between them for the stream.
    (per_chunk,) = metrics["gen_ai.client.operation.time_per_output_chunk"]
    assert per_chunk.count == 1


def test_stream_break_early(instrument, telemetry) -> None:
    instrument()
    for event in _stream(Server()):
        assert isinstance(event, MessageStartV2ChatStreamResponse)
        break
    gc.collect()
    span = telemetry.span()
    assert span.status.status_code is StatusCode.UNSET
    attributes = span.attributes
    assert attributes["tokenomics.stream.outcome"] == "closed_early"
    assert attributes["tokenomics.stream.chunk_count"] == 1
    assert attributes["gen_ai.response.id"] == "29f14a5a-11de-4cae-9800-25e4747408ea"
    assert attributes["tokenomics.usage.source"] == "heuristic"  # message-end never came: estimated


def test_stream_close(instrument, telemetry) -> None:
    instrument()
    stream = _stream(Server())
    next(stream)
    next(stream)
    stream.close()
    stream.close()
    attributes = telemetry.span().attributes
    assert attributes["tokenomics.stream.outcome"] == "closed_early"
    assert attributes["tokenomics.stream.chunk_count"] == 2


def test_stream_never_iterated_opens_no_span(instrument, telemetry) -> None:
    instrument()
    server = Server()
    stream = _stream(server)
    del stream
    gc.collect()
    assert telemetry.spans() == []
    assert server.requests == []


def test_stream_fails_mid_way(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.stream(_events(), fail_after=3)
    received = []
    with pytest.raises(httpx.ReadError):
        for event in server.client().chat_stream(model="command-r", messages=MESSAGES):
            received.append(event)
    assert len(received) == 3
    span = telemetry.span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "ReadError"
    assert span.attributes["tokenomics.stream.outcome"] == "failed"
    assert span.attributes["tokenomics.stream.chunk_count"] == 3


def test_stream_rejected_request(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.error("/v2/chat", 500, "internal error")
    stream = server.client().chat_stream(model="command-r", messages=MESSAGES)
    with pytest.raises(cohere.InternalServerError) as raised:
        next(stream)
    assert raised.value.status_code == 500
    span = telemetry.span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "InternalServerError"
    assert span.attributes["tokenomics.stream.outcome"] == "failed"
    assert span.attributes["tokenomics.stream.chunk_count"] == 0


def test_stream_with_tool_call(instrument, telemetry) -> None:
    instrument()
    server = Server()
    events = list(_stream(server, events=tool_stream_events()))
    assert events[2].delta.message.tool_calls.function.name == "get_weather"
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.response.finish_reasons"] == ("tool_calls",)
    assert attributes["gen_ai.usage.input_tokens"] == 40
    assert attributes["gen_ai.usage.output_tokens"] == 21
    assert attributes["tokenomics.stream.chunk_count"] == 6


def test_stream_ends_with_error_event(instrument, telemetry) -> None:
    """Cohere ends a stream it could not finish with finish_reason ERROR: no exception."""
    instrument()
    server = Server()
    events = stream_events(pieces=("Hel",), finish_reason="ERROR", usage_body=usage(20.0, 1.0))
    events[-1]["delta"]["error"] = "upstream failure"
    list(_stream(server, events=events))
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.response.finish_reasons"] == ("error",)
    assert attributes["tokenomics.stream.outcome"] == "completed"
    assert attributes["gen_ai.usage.output_tokens"] == 1


# -- with_raw_response.chat_stream: a context manager ---------------------------------------------


def test_raw_stream(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.stream(_events())
    manager = server.client().with_raw_response.chat_stream(model="command-a-03-2025", messages=MESSAGES)
    assert server.requests == []
    with manager as response:
        assert response.headers["content-type"] == "text/event-stream"
        assert telemetry.spans() == []  # open until the events end
        events = list(response.data)
    assert len(events) == EVENTS
    attributes = telemetry.span().attributes
    assert attributes["tokenomics.stream.outcome"] == "completed"
    assert attributes["gen_ai.usage.input_tokens"] == 250
    assert attributes["gen_ai.usage.output_tokens"] == 3


def test_raw_stream_left_early(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.stream(_events())
    with server.client().with_raw_response.chat_stream(model="command-r", messages=MESSAGES) as response:
        next(iter(response.data))
    attributes = telemetry.span().attributes
    assert attributes["tokenomics.stream.outcome"] == "closed_early"
    assert attributes["tokenomics.stream.chunk_count"] == 1


def test_raw_stream_error_in_user_code(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.stream(_events())
    manager = server.client().with_raw_response.chat_stream(model="command-r", messages=MESSAGES)
    with pytest.raises(KeyError), manager as response:
        next(iter(response.data))
        raise KeyError("user")
    span = telemetry.span()
    assert span.status.status_code is StatusCode.UNSET  # the call itself did not fail
    assert span.attributes["tokenomics.stream.outcome"] == "closed_early"


# -- async -----------------------------------------------------------------------------------


def test_async_stream_complete(instrument, telemetry) -> None:
    instrument()
    server = Server()

    async def main() -> list:
        server.stream(_events())
        stream = server.async_client().chat_stream(
            model="command-a-03-2025", messages=MESSAGES, temperature=0.5
        )
        assert server.requests == []
        return [event async for event in stream]

    received = asyncio.run(main())
    assert len(received) == EVENTS
    assert isinstance(received[-1], MessageEndV2ChatStreamResponse)
    _assert_complete(telemetry.span().attributes)


def test_async_stream_break_early_and_aclose(instrument, telemetry) -> None:
    instrument()
    server = Server()

    async def main() -> None:
        server.stream(_events())
        stream = server.async_client().chat_stream(model="command-r", messages=MESSAGES)
        async for _event in stream:
            break
        await stream.aclose()
        spans = telemetry.spans()
        assert len(spans) == 1  # ended by aclose(), before the loop shuts down

    asyncio.run(main())
    attributes = telemetry.span().attributes
    assert attributes["tokenomics.stream.outcome"] == "closed_early"
    assert attributes["tokenomics.stream.chunk_count"] == 1


def test_async_stream_break_early_without_close(instrument, telemetry) -> None:
    instrument()
    server = Server()

    async def main() -> None:
        server.stream(_events())
        async for _event in server.async_client().chat_stream(model="command-r", messages=MESSAGES):
            break

    asyncio.run(main())  # the loop's async-generator finalizer closes the stream
    gc.collect()
    assert telemetry.span().attributes["tokenomics.stream.outcome"] == "closed_early"


def test_async_stream_fails_mid_way(instrument, telemetry) -> None:
    instrument()
    server = Server()

    async def main() -> int:
        server.stream(_events(), fail_after=2)
        received = 0
        with pytest.raises(httpx.ReadError):
            async for _event in server.async_client().chat_stream(model="command-r", messages=MESSAGES):
                received += 1
        return received

    assert asyncio.run(main()) == 2
    span = telemetry.span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "ReadError"
    assert span.attributes["tokenomics.stream.outcome"] == "failed"


def test_async_stream_rejected_request(instrument, telemetry) -> None:
    instrument()
    server = Server()

    async def main() -> None:
        server.error("/v2/chat", 429, "slow down")
        async for _event in server.async_client().chat_stream(model="command-r", messages=MESSAGES):
            pass

    with pytest.raises(cohere.TooManyRequestsError):
        asyncio.run(main())
    span = telemetry.span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "TooManyRequestsError"
    assert span.attributes["tokenomics.stream.outcome"] == "failed"


def test_async_raw_stream(instrument, telemetry) -> None:
    instrument()
    server = Server()

    async def main() -> int:
        server.stream(_events())
        client = server.async_client()
        async with client.with_raw_response.chat_stream(model="command-r", messages=MESSAGES) as response:
            return len([event async for event in response.data])

    assert asyncio.run(main()) == EVENTS
    attributes = telemetry.span().attributes
    assert attributes["tokenomics.stream.outcome"] == "completed"
    assert attributes["tokenomics.cost.total"] == pytest.approx((250 * 0.15 + 3 * 0.6) / M, **EXACT)


def test_async_raw_stream_left_early(instrument, telemetry) -> None:
    instrument()
    server = Server()

    async def main() -> None:
        server.stream(_events())
        client = server.async_client()
        async with client.with_raw_response.chat_stream(model="command-r", messages=MESSAGES) as response:
            async for _event in response.data:
                break

    asyncio.run(main())
    gc.collect()
    attributes = telemetry.span().attributes
    assert attributes["tokenomics.stream.outcome"] == "closed_early"
    assert attributes["tokenomics.stream.chunk_count"] == 1
