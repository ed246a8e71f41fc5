"""Streams: the user gets the SDK's own stream; the span ends exactly once, however it ends."""

from __future__ import annotations

import asyncio
import gc
import json

import openai
import pytest
from openai_fakes import CHAT_USAGE, HTTP, Server, chat_chunks, requires, sse
from opentelemetry.trace import StatusCode

MESSAGES = [{"role": "user", "content": "Say hello."}]


def _stream_server(usage=CHAT_USAGE, pieces=("Hel", "lo", " there.")) -> Server:
    server = Server()
    server.chat_stream(pieces, usage=usage)
    return server


def _unwrapped_chunks(usage=CHAT_USAGE) -> list:
    """What the SDK alone yields for the same payload."""
    server = _stream_server(usage)
    stream = server.client().chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    return [chunk.model_dump() for chunk in stream]


@requires("stream_options")
def test_stream_with_include_usage(instrument, telemetry) -> None:
    expected = _unwrapped_chunks()
    instrument()
    server = _stream_server()
    stream = server.client().chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    assert isinstance(stream, openai.Stream)
    assert telemetry.spans() == []  # open until the stream ends
    chunks = [chunk.model_dump() for chunk in stream]
    assert chunks == expected

    attributes = telemetry.span().attributes
    assert attributes["gen_ai.request.stream"] is True
    assert attributes["gen_ai.usage.input_tokens"] == 2048
    assert attributes["gen_ai.usage.output_tokens"] == 612
    assert attributes["gen_ai.usage.cache_read.input_tokens"] == 1536
    assert attributes["gen_ai.usage.reasoning.output_tokens"] == 256
    assert attributes["gen_ai.response.id"] == "chatcmpl-stream1"
    assert attributes["gen_ai.response.model"] == "gpt-4o-mini-2024-07-18"
    assert attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert attributes["tokenomics.stream.chunk_count"] == 6
    assert attributes["tokenomics.stream.outcome"] == "completed"
    assert attributes["tokenomics.usage.source"] == "provider"
    # gpt-4o-mini per million: $0.15 input, $0.075 cached, $0.60 output; 512 + 1536 in, 612 out.
    assert {key: value for key, value in attributes.items() if key.startswith("tokenomics.cost.")} == {
        "tokenomics.cost.status": "priced",
        "tokenomics.cost.source": "catalog",
        "tokenomics.cost.currency": "USD",
        "tokenomics.cost.input": pytest.approx(0.0000768, rel=1e-12, abs=0),
        "tokenomics.cost.cache_read": pytest.approx(0.0001152, rel=1e-12, abs=0),
        "tokenomics.cost.cache_write": 0.0,
        "tokenomics.cost.output": pytest.approx(0.0003672, rel=1e-12, abs=0),
        "tokenomics.cost.total": pytest.approx(0.0005592, rel=1e-12, abs=0),
        "tokenomics.cost.cache_savings": pytest.approx(0.0001152, rel=1e-12, abs=0),
    }
    assert attributes["tokenomics.pricing.model"] == "gpt-4o-mini"
    assert 0 < attributes["gen_ai.response.time_to_first_chunk"] < 5
    assert attributes["tokenomics.throughput.output_tokens_per_second"] > 0

    points = telemetry.metrics()
    assert points["gen_ai.client.operation.time_to_first_chunk"][0].count == 1
    assert points["gen_ai.client.operation.time_per_output_chunk"][0].count == 1
    usage = {p.attributes["gen_ai.token.type"]: p.sum for p in points["gen_ai.client.token.usage"]}
    assert usage == {"input": 2048, "output": 612}


def test_stream_without_usage_is_estimated(instrument, telemetry) -> None:
    """No usage chunk (a server that ignores include_usage): the counts are ours, and say so."""
    instrument()
    server = Server()
    server.stream("/chat/completions", sse(chat_chunks(usage=None)))
    stream = server.client().chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    text = "".join(c.choices[0].delta.content or "" for c in stream)
    assert text == "Hello there."
    attributes = telemetry.span().attributes
    # "Say hello." framed as one chat message (10 tokens); "Hello there." is 3 o200k tokens.
    assert attributes["gen_ai.usage.input_tokens"] == 10
    assert attributes["gen_ai.usage.output_tokens"] == 3
    assert attributes["tokenomics.usage.source"] == "estimated"
    assert attributes["tokenomics.cost.status"] == "estimated"
    # gpt-4o-mini: $0.15 and $0.60 per million input and output tokens.
    assert attributes["tokenomics.cost.total"] == pytest.approx(10 * 0.15e-6 + 3 * 0.60e-6, rel=1e-12)
    assert attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert attributes["tokenomics.stream.chunk_count"] == 5
    points = telemetry.metrics()
    usage = {p.attributes["gen_ai.token.type"]: p.sum for p in points["gen_ai.client.token.usage"]}
    assert usage == {"input": 10, "output": 3}
    assert "tokenomics.unpriced.calls" not in points


def test_groq_stream_usage_in_x_groq_through_the_openai_sdk(instrument, telemetry) -> None:
    """Groq's OpenAI-compatible endpoint sends a stream's usage in the finishing chunk's
    x_groq (an extra field for the openai SDK), without include_usage.
    llama-3.3-70b-versatile: $0.59 input, $0.79 output per million tokens."""
    instrument()
    chunks = chat_chunks(model="llama-3.3-70b-versatile")
    for chunk in chunks:
        del chunk["usage"], chunk["service_tier"]
    chunks[0]["x_groq"] = {"id": "req_01"}
    chunks[-1]["x_groq"] = {"id": "req_01", "usage": {"prompt_tokens": 120, "completion_tokens": 45}}
    server = Server()
    server.stream("/chat/completions", sse(chunks))
    client = server.client(base_url="https://api.groq.com/openai/v1")
    stream = client.chat.completions.create(
        model="llama-3.3-70b-versatile", messages=[{"role": "user", "content": "Hi"}], stream=True
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "Hello there."
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.provider.name"] == "groq"
    assert attributes["gen_ai.usage.input_tokens"] == 120
    assert attributes["gen_ai.usage.output_tokens"] == 45
    assert attributes["tokenomics.usage.source"] == "provider"
    assert attributes["tokenomics.cost.total"] == pytest.approx((120 * 0.59 + 45 * 0.79) / 1e6, rel=1e-12)


@requires("stream_close")
def test_break_ends_the_span_at_once(instrument, telemetry) -> None:
    instrument()
    server = _stream_server()
    stream = server.client().chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    for index, _chunk in enumerate(stream):
        if index == 1:
            break
    span = telemetry.span()
    assert span.attributes["tokenomics.stream.outcome"] == "closed_early"
    assert span.attributes["tokenomics.stream.chunk_count"] == 2
    assert span.status.status_code is StatusCode.UNSET
    stream.close()
    del stream
    gc.collect()
    assert len(telemetry.spans()) == 1


@requires("stream_close")
def test_context_manager_close_ends_the_span(instrument, telemetry) -> None:
    instrument()
    server = _stream_server()
    with server.client().chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True
    ) as stream:
        first = next(stream)
        assert first.choices[0].delta.role == "assistant"
    assert telemetry.span().attributes["tokenomics.stream.outcome"] == "closed_early"
    gc.collect()
    assert len(telemetry.spans()) == 1


@requires("stream_options")
def test_next_until_exhausted(instrument, telemetry) -> None:
    instrument()
    server = _stream_server()
    stream = server.client().chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    count = 0
    with pytest.raises(StopIteration):
        while True:
            next(stream)
            count += 1
    assert count == 6
    attributes = telemetry.span().attributes
    assert attributes["tokenomics.stream.outcome"] == "completed"
    assert attributes["gen_ai.usage.output_tokens"] == 612


def test_abandoned_stream_ends_when_collected(instrument, telemetry) -> None:
    instrument()
    server = _stream_server()
    stream = server.client().chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    next(stream)
    del stream
    gc.collect()
    span = telemetry.span()
    assert span.attributes["tokenomics.stream.outcome"] == "abandoned"
    assert span.attributes["tokenomics.stream.chunk_count"] == 1


def test_error_event_mid_stream(instrument, telemetry) -> None:
    instrument()
    server = Server()
    chunks = chat_chunks(("Hel",))[:2]
    payload = (
        sse(chunks, done=False) + b'data: {"error": {"message": "overloaded", "type": "server_error"}}\n\n'
    )
    server.stream("/chat/completions", payload)
    stream = server.client().chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    received = []
    with pytest.raises(openai.APIError) as raised:
        for chunk in stream:
            received.append(chunk)
    assert len(received) == 2
    span = telemetry.span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "APIError"
    assert span.attributes["tokenomics.stream.outcome"] == "failed"
    assert isinstance(raised.value, openai.APIError)


def test_transport_failure_mid_stream(instrument, telemetry) -> None:
    instrument()
    server = Server()

    def body():
        yield sse(chat_chunks(("Hel",))[:2], done=False)
        raise HTTP.ReadError("connection reset")

    server.routes["/chat/completions"] = lambda request: HTTP.Response(
        200, headers={"content-type": "text/event-stream"}, content=body()
    )
    stream = server.client().chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    # openai >= 3 wraps the transport error; older releases let it through as is.
    with pytest.raises((openai.APIConnectionError, HTTP.ReadError)) as raised:
        list(stream)
    span = telemetry.span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == type(raised.value).__qualname__


@requires("stream_options")
def test_async_stream(instrument, telemetry) -> None:
    instrument()
    server = _stream_server()

    async def main() -> list[str]:
        client = server.async_client()
        stream = await client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
        assert isinstance(stream, openai.AsyncStream)
        return [c.choices[0].delta.content for c in [c async for c in stream] if c.choices]

    assert asyncio.run(main()) == ["", "Hel", "lo", " there.", None]
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.usage.input_tokens"] == 2048
    assert attributes["tokenomics.stream.outcome"] == "completed"


@requires("stream_close")
def test_async_stream_break_and_context_manager(instrument, telemetry) -> None:
    instrument()
    server = _stream_server()

    async def main() -> None:
        client = server.async_client()
        async with await client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True
        ) as stream:
            async for _chunk in stream:
                break
        stream2 = await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
        await stream2.__anext__()
        await stream2.close()

    asyncio.run(main())
    gc.collect()
    spans = telemetry.spans()
    assert len(spans) == 2
    assert [s.attributes["tokenomics.stream.outcome"] for s in spans] == ["closed_early", "closed_early"]
    assert [s.attributes["tokenomics.stream.chunk_count"] for s in spans] == [1, 1]


@requires("stream_close")
def test_stream_object_keeps_sdk_surface(instrument, telemetry) -> None:
    instrument()
    server = _stream_server()
    stream = server.client().chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    assert type(stream).__name__ == "Stream"
    assert stream.response.status_code == 200
    assert stream.response.headers["content-type"] == "text/event-stream"
    stream.close()
    assert telemetry.span().attributes["tokenomics.stream.outcome"] == "closed_early"


def test_usage_chunk_from_a_proxy_with_odd_values(instrument, telemetry) -> None:
    """Malformed usage never raises into the loop; what can be read is read."""
    instrument()
    odd = {
        "prompt_tokens": "12",
        "completion_tokens": -5,
        "total_tokens": None,
        "prompt_tokens_details": {"cached_tokens": 3.0},
        "completion_tokens_details": "bogus",
    }
    server = Server()
    chunks = chat_chunks(("x",))
    chunks.append({**chunks[-1], "choices": [], "usage": odd})
    server.stream("/chat/completions", sse(chunks))
    stream = server.client(base_url="http://localhost:4000/v1").chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True
    )
    assert len(list(stream)) == len(chunks)
    attributes = telemetry.span().attributes
    # No sound direction total: no usage, so the call is counted from its text.
    assert attributes["tokenomics.usage.source"] == "estimated"
    assert attributes["gen_ai.usage.input_tokens"] == 10
    assert attributes["gen_ai.usage.output_tokens"] == 1
    assert attributes["gen_ai.usage.cache_read.input_tokens"] == 0
    json.dumps(dict(attributes))
