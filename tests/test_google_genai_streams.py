"""google-genai streams: the user iterates what the SDK yields; the span ends exactly once.

gemini-2.5-flash: input 0.30, output 2.50 USD per million tokens.
"""

from __future__ import annotations

import asyncio
import gc

import httpx2
import pytest
from google.genai import types
from google_fakes import Server, candidate, function_call, response, text, usage_metadata
from opentelemetry.trace import StatusCode

M = 1_000_000
EXACT = {"rel": 1e-12, "abs": 0}


def _chunks() -> list[dict]:
    # Every chunk carries the request's running total: the last one is the usage.
    return [
        response(
            candidate(text("Think", thought=True), finish_reason=None),
            usage=usage_metadata(100, 0, thoughts=30),
        ),
        response(candidate(text("Hel"), finish_reason=None), usage=usage_metadata(100, 4, thoughts=30)),
        response(candidate(text("lo.")), usage=usage_metadata(100, 9, thoughts=30)),
    ]


def _stream(server: Server, client=None):
    server.stream(":streamGenerateContent", _chunks())
    client = client or server.gemini()
    return client.models.generate_content_stream(model="gemini-2.5-flash", contents="Say hello.")


def _unwrapped() -> list[dict]:
    return [chunk.model_dump() for chunk in _stream(Server())]


def _assert_complete(attributes) -> None:
    assert attributes["gen_ai.request.stream"] is True
    assert attributes["gen_ai.usage.input_tokens"] == 100
    assert attributes["gen_ai.usage.output_tokens"] == 39
    assert attributes["gen_ai.usage.reasoning.output_tokens"] == 30
    assert attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert attributes["tokenomics.stream.chunk_count"] == 3
    assert attributes["tokenomics.stream.outcome"] == "completed"
    assert attributes["tokenomics.cost.total"] == pytest.approx((100 * 0.3 + 39 * 2.5) / M, **EXACT)
    assert attributes["gen_ai.response.time_to_first_chunk"] >= 0


def test_stream_complete(instrument, telemetry) -> None:
    expected = _unwrapped()
    instrument()
    server = Server()
    stream = _stream(server)
    assert server.requests == []  # nothing is sent before the first next()
    assert telemetry.spans() == []
    assert [chunk.model_dump() for chunk in stream] == expected
    _assert_complete(telemetry.span().attributes)


def test_stream_break_early(instrument, telemetry) -> None:
    instrument()
    for chunk in _stream(Server()):
        assert isinstance(chunk, types.GenerateContentResponse)
        break
    gc.collect()
    attributes = telemetry.span().attributes
    assert attributes["tokenomics.stream.outcome"] == "closed_early"
    assert attributes["tokenomics.stream.chunk_count"] == 1
    assert attributes["gen_ai.usage.input_tokens"] == 100  # the running total so far


def test_stream_close(instrument, telemetry) -> None:
    instrument()
    stream = _stream(Server())
    next(stream)
    stream.close()
    stream.close()
    assert telemetry.span().attributes["tokenomics.stream.outcome"] == "closed_early"


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
    server.stream(":streamGenerateContent", _chunks(), fail_after=2)
    stream = server.gemini().models.generate_content_stream(
        model="gemini-2.5-flash", contents="x", config={"automatic_continuation": False}
    )
    received = []
    with pytest.raises(httpx2.ReadError):
        for chunk in stream:
            received.append(chunk)
    assert len(received) == 2
    span = telemetry.span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "ReadError"
    assert span.attributes["tokenomics.stream.outcome"] == "failed"
    assert span.attributes["gen_ai.usage.output_tokens"] == 34  # what the last chunk received said


def test_stream_rejected_request(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.error(":streamGenerateContent", 429, "RESOURCE_EXHAUSTED")
    from google.genai import errors

    with pytest.raises(errors.ClientError):
        list(server.gemini().models.generate_content_stream(model="gemini-2.5-flash", contents="x"))
    span = telemetry.span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "RESOURCE_EXHAUSTED"


def test_chat_send_message_stream(instrument, telemetry) -> None:
    instrument()
    server = Server()
    chat = server.gemini().chats.create(model="gemini-2.5-flash")
    server.stream(":streamGenerateContent", _chunks())
    assert "".join(chunk.text or "" for chunk in chat.send_message_stream("Hi")) == "Hello."
    _assert_complete(telemetry.span().attributes)


def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


def test_stream_with_automatic_function_calling(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.stream(
        ":streamGenerateContent",
        [response(candidate(function_call("get_weather", {"city": "Oslo"})), usage=usage_metadata(80, 6))],
    )
    server.stream(
        ":streamGenerateContent", [response(candidate(text("Sunny.")), usage=usage_metadata(120, 3))]
    )
    chunks = list(
        server.gemini().models.generate_content_stream(
            model="gemini-2.5-flash", contents="Weather in Oslo?", config={"tools": [get_weather]}
        )
    )
    assert len(chunks) == 2
    spans = telemetry.spans()
    assert [s.attributes["gen_ai.usage.input_tokens"] for s in spans] == [80, 120]
    assert [s.attributes["tokenomics.stream.outcome"] for s in spans] == ["completed", "completed"]


def _run(coroutine):
    return asyncio.run(coroutine)


def test_async_stream_complete(instrument, telemetry) -> None:
    expected = _unwrapped()
    instrument()
    server = Server()
    server.stream(":streamGenerateContent", _chunks())

    async def main() -> list[dict]:
        stream = await server.gemini().aio.models.generate_content_stream(
            model="gemini-2.5-flash", contents="x"
        )
        return [chunk.model_dump() async for chunk in stream]

    assert _run(main()) == expected
    _assert_complete(telemetry.span().attributes)


def test_async_stream_break_early(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.stream(":streamGenerateContent", _chunks())

    async def main() -> None:
        stream = await server.gemini().aio.models.generate_content_stream(
            model="gemini-2.5-flash", contents="x"
        )
        async for _chunk in stream:
            break
        await stream.aclose()

    _run(main())
    gc.collect()
    attributes = telemetry.span().attributes
    assert attributes["tokenomics.stream.outcome"] == "closed_early"
    assert attributes["tokenomics.stream.chunk_count"] == 1


def test_async_stream_fails_mid_way(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.stream(":streamGenerateContent", _chunks(), fail_after=1)

    async def main() -> int:
        stream = await server.gemini().aio.models.generate_content_stream(
            model="gemini-2.5-flash", contents="x", config={"automatic_continuation": False}
        )
        received = 0
        with pytest.raises(httpx2.ReadError):
            async for _chunk in stream:
                received += 1
        return received

    assert _run(main()) == 1
    span = telemetry.span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["tokenomics.stream.outcome"] == "failed"


def test_async_chat_stream(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.stream(":streamGenerateContent", _chunks())

    async def main() -> str:
        chat = server.gemini().aio.chats.create(model="gemini-2.5-flash")
        return "".join([chunk.text or "" async for chunk in await chat.send_message_stream("Hi")])

    assert _run(main()) == "Hello."
    _assert_complete(telemetry.span().attributes)


def test_stream_continuation_gives_one_span_per_request(instrument, telemetry) -> None:
    instrument()
    server = Server()
    first = candidate(text("Part one "), finish_reason="CONTINUATION")
    first["continuationToken"] = "dG9rZW4="
    server.stream(":streamGenerateContent", [response(first, usage=usage_metadata(1_000, 400))])
    server.stream(
        ":streamGenerateContent", [response(candidate(text("two.")), usage=usage_metadata(600, 100))]
    )
    chunks = list(server.gemini().models.generate_content_stream(model="gemini-2.5-flash", contents="Go."))
    # The SDK adds the first request's usage into the second request's chunks ...
    assert chunks[-1].usage_metadata.prompt_token_count == 1_600
    spans = telemetry.spans()
    # ... each span keeps its own request's usage.
    assert [s.attributes["gen_ai.usage.input_tokens"] for s in spans] == [1_000, 600]
    assert [s.attributes["gen_ai.usage.output_tokens"] for s in spans] == [400, 100]
    assert [s.attributes["gen_ai.response.finish_reasons"] for s in spans] == [("continuation",), ("stop",)]
