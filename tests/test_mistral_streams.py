"""mistralai streams: the user keeps the SDK's EventStream; the span ends exactly once.

mistral-large-2512: input 0.5, cache read 0.05, output 1.5 USD per million tokens;
codestral-2508: input 0.3, output 0.9. The stream below reports 1200 prompt tokens
of which 1024 cached, and 300 output: 176 * 0.5 + 1024 * 0.05 + 300 * 1.5 = 589.2
micro-dollars.
"""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import pydantic
import pytest
from mistral_fakes import Server, chunk, http, usage
from mistralai.client import errors, models
from mistralai.client.utils.eventstreaming import EventStream, EventStreamAsync
from opentelemetry.trace import StatusCode

M = 1_000_000
MESSAGES = [{"role": "user", "content": "Say hello."}]
CHAT_PATH = "/v1/chat/completions"
FIM_PATH = "/v1/fim/completions"
COST = (176 * 0.5 + 1024 * 0.05 + 300 * 1.5) / M
# 2.x streams close only through ``with``; close() came with 3.x.
requires_close = pytest.mark.skipif(not hasattr(EventStream, "close"), reason="stream has no close()")


def exact(value: float) -> Any:
    return pytest.approx(value, rel=1e-12, abs=0)


@pytest.fixture(autouse=True)
def sdk_telemetry_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MISTRAL_SDK_TELEMETRY", raising=False)


def _events() -> list[dict[str, Any]]:
    # The first chunk opens the message (no output yet); usage rides on the last one.
    return [
        chunk("", role="assistant"),
        chunk("Hel"),
        chunk("lo."),
        chunk("", finish_reason="stop", usage=usage(1200, 300, cached=1024)),
    ]


def _server(path: str = CHAT_PATH, fail_after: int | None = None) -> Server:
    server = Server()
    server.stream(path, _events(), fail_after=fail_after)
    return server


def _stream(server: Server) -> Any:
    return server.client().chat.stream(model="mistral-large-latest", messages=MESSAGES, temperature=0.2)


def _unwrapped() -> list[dict[str, Any]]:
    return [event.model_dump() for event in _stream(_server())]


def _assert_completed(span: Any, chunks: int = 4) -> None:
    attributes = span.attributes
    assert span.name == "chat mistral-large-latest"
    assert attributes["gen_ai.request.stream"] is True
    assert attributes["gen_ai.request.temperature"] == 0.2
    assert attributes["gen_ai.response.id"] == "cmpl-2"
    assert attributes["gen_ai.response.model"] == "mistral-large-2512"
    assert attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert attributes["gen_ai.usage.input_tokens"] == 1200
    assert attributes["gen_ai.usage.cache_read.input_tokens"] == 1024
    assert attributes["gen_ai.usage.output_tokens"] == 300
    assert attributes["tokenomics.cost.total"] == exact(COST)
    assert attributes["tokenomics.stream.chunk_count"] == chunks
    assert attributes["tokenomics.stream.outcome"] == "completed"
    assert attributes["gen_ai.response.time_to_first_chunk"] >= 0
    assert span.status.status_code is StatusCode.UNSET


def test_stream_read_to_the_end(instrument, telemetry) -> None:
    expected = _unwrapped()
    instrument()
    stream = _stream(_server())
    assert isinstance(stream, EventStream)
    assert telemetry.spans() == []  # open until the user has read it
    events = list(stream)
    assert [event.model_dump() for event in events] == expected
    assert all(isinstance(event, models.CompletionEvent) for event in events)
    _assert_completed(telemetry.span())


def test_stream_read_with_next(instrument, telemetry) -> None:
    instrument()
    stream = _stream(_server())
    read = []
    while True:
        try:
            read.append(next(stream))
        except StopIteration:
            break
    assert len(read) == 4
    _assert_completed(telemetry.span())


def test_break_ends_the_span_at_once(instrument, telemetry) -> None:
    instrument()
    stream = _stream(_server())
    for index, _event in enumerate(stream):
        if index == 1:
            break
    span = telemetry.span()
    assert span.attributes["tokenomics.stream.outcome"] == "closed_early"
    assert span.attributes["tokenomics.stream.chunk_count"] == 2
    assert span.attributes["tokenomics.usage.source"] == "heuristic"  # the usage chunk never came
    assert span.attributes["tokenomics.cost.status"] == "estimated"
    assert span.status.status_code is StatusCode.UNSET
    with stream:  # closing afterwards changes nothing
        pass
    del stream
    gc.collect()
    assert len(telemetry.spans()) == 1


def test_with_block_left_early_and_read_fully(instrument, telemetry) -> None:
    instrument()
    with _stream(_server()) as stream:
        next(stream)
    with _stream(_server()) as stream:
        for _event in stream:
            pass
    early, full = telemetry.spans()
    assert early.attributes["tokenomics.stream.outcome"] == "closed_early"
    assert early.attributes["tokenomics.stream.chunk_count"] == 1
    _assert_completed(full)


@requires_close
def test_close(instrument, telemetry) -> None:
    instrument()
    stream = _stream(_server())
    next(stream)
    next(stream)
    stream.close()
    stream.close()
    assert list(stream) == []  # the SDK's closed stream yields nothing more
    span = telemetry.span()
    assert span.attributes["tokenomics.stream.outcome"] == "closed_early"
    assert span.attributes["tokenomics.stream.chunk_count"] == 2


def test_dropped_stream_is_abandoned(instrument, telemetry) -> None:
    instrument()
    stream = _stream(_server())
    next(stream)
    del stream
    gc.collect()
    span = telemetry.span()
    assert span.attributes["tokenomics.stream.outcome"] == "abandoned"


def test_connection_lost_mid_stream(instrument, telemetry) -> None:
    instrument()
    stream = _stream(_server(fail_after=2))
    read = []
    with pytest.raises(http.ReadError):
        for event in stream:
            read.append(event)
    assert len(read) == 2
    span = telemetry.span()
    assert span.attributes["tokenomics.stream.outcome"] == "failed"
    assert span.attributes["error.type"] == "ReadError"
    assert span.attributes["tokenomics.stream.chunk_count"] == 2
    assert span.status.status_code is StatusCode.ERROR


def test_http_error_on_a_stream(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.error(CHAT_PATH, 429, "Rate limit exceeded")
    with pytest.raises(errors.SDKError) as raised:
        _stream(server)
    assert raised.value.status_code == 429
    span = telemetry.span()
    assert span.attributes["error.type"] == "SDKError"
    assert span.attributes["tokenomics.stream.outcome"] == "failed"
    assert span.status.description == "SDKError (HTTP 429)"


def test_async_stream_read_to_the_end(instrument, telemetry) -> None:
    expected = _unwrapped()
    instrument()
    server = _server()

    async def main() -> list[Any]:
        stream = await server.client().chat.stream_async(
            model="mistral-large-latest", messages=MESSAGES, temperature=0.2
        )
        assert isinstance(stream, EventStreamAsync)
        return [event async for event in stream]

    assert [event.model_dump() for event in asyncio.run(main())] == expected
    _assert_completed(telemetry.span())


def test_async_break_with_block_close_and_anext(instrument, telemetry) -> None:
    instrument()
    servers = [_server() for _ in range(4)]

    async def open_stream(server: Server) -> Any:
        return await server.client().chat.stream_async(model="mistral-large-latest", messages=MESSAGES)

    async def main() -> None:
        stream = await open_stream(servers[0])
        async for _event in stream:
            break
        async with await open_stream(servers[1]) as stream:
            await stream.__anext__()
            await stream.__anext__()
        stream = await open_stream(servers[2])
        await stream.__anext__()
        if hasattr(EventStreamAsync, "close"):
            await stream.close()
        else:
            await stream.__aexit__(None, None, None)
        stream = await open_stream(servers[3])
        while True:
            try:
                await stream.__anext__()
            except StopAsyncIteration:
                break

    asyncio.run(main())
    gc.collect()
    spans = telemetry.spans()
    assert len(spans) == 4
    found = sorted(
        (s.attributes["tokenomics.stream.chunk_count"], s.attributes["tokenomics.stream.outcome"])
        for s in spans
    )
    assert found == [(1, "closed_early"), (1, "closed_early"), (2, "closed_early"), (4, "completed")]


def test_async_connection_lost_mid_stream(instrument, telemetry) -> None:
    instrument()
    server = _server(fail_after=3)

    async def main() -> int:
        stream = await server.client().chat.stream_async(model="mistral-large-latest", messages=MESSAGES)
        read = 0
        with pytest.raises(http.ReadError):
            async for _event in stream:
                read += 1
        return read

    assert asyncio.run(main()) == 3
    span = telemetry.span()
    assert span.attributes["tokenomics.stream.outcome"] == "failed"
    assert span.attributes["error.type"] == "ReadError"
    assert span.status.status_code is StatusCode.ERROR


class Greeting(pydantic.BaseModel):
    text: str


def test_parse_stream_opens_one_span_through_stream(instrument, telemetry) -> None:
    instrument()
    servers = [_server(), _server()]
    stream = (
        servers[0]
        .client()
        .chat.parse_stream(
            response_format=Greeting, model="mistral-large-latest", messages=MESSAGES, temperature=0.2
        )
    )
    assert len(list(stream)) == 4

    async def main() -> int:
        stream = (
            await servers[1]
            .client()
            .chat.parse_stream_async(
                response_format=Greeting, model="mistral-large-latest", messages=MESSAGES, temperature=0.2
            )
        )
        return len([event async for event in stream])

    assert asyncio.run(main()) == 4
    spans = telemetry.spans()
    assert len(spans) == 2
    for span in spans:
        _assert_completed(span)
        assert span.attributes["gen_ai.output.type"] == "json"


def test_fim_streams(instrument, telemetry) -> None:
    instrument()
    events = [
        chunk("return", model="codestral-2508", role="assistant"),
        chunk(" a + b", model="codestral-2508", finish_reason="stop", usage=usage(640, 20)),
    ]
    server = Server()
    server.stream(FIM_PATH, events)
    server.stream(FIM_PATH, events)
    client = server.client()
    assert len(list(client.fim.stream(model="codestral-2508", prompt="def add(a, b):", max_tokens=20))) == 2

    async def main() -> int:
        stream = await client.fim.stream_async(model="codestral-2508", prompt="def add(a, b):")
        return len([event async for event in stream])

    assert asyncio.run(main()) == 2
    for span in telemetry.spans():
        attributes = span.attributes
        assert span.name == "text_completion codestral-2508"
        assert attributes["gen_ai.operation.name"] == "text_completion"
        assert attributes["gen_ai.usage.input_tokens"] == 640
        assert attributes["gen_ai.usage.output_tokens"] == 20
        assert attributes["tokenomics.cost.total"] == exact((640 * 0.3 + 20 * 0.9) / M)
        assert attributes["tokenomics.stream.outcome"] == "completed"
    assert telemetry.spans()[0].attributes["gen_ai.request.max_tokens"] == 20


def test_stream_metrics(instrument, telemetry) -> None:
    instrument()
    list(_stream(_server()))
    points = telemetry.metrics()
    tokens = {p.attributes["gen_ai.token.type"]: p.sum for p in points["gen_ai.client.token.usage"]}
    assert tokens == {"input": 1200, "output": 300}
    assert sum(p.value for p in points["tokenomics.cost"]) == exact(COST)
    # The opening chunk (empty content) is not output: first chunk = "Hel", then one more.
    (first,) = points["gen_ai.client.operation.time_to_first_chunk"]
    (per_chunk,) = points["gen_ai.client.operation.time_per_output_chunk"]
    assert (first.count, per_chunk.count) == (1, 1)
