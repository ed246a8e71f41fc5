"""The ``ollama`` SDK over a mock transport: clients, module-level functions, streams, errors.

Local models are priced at 0 on purpose: every priced span says
``tokenomics.cost.status=priced``, ``tokenomics.cost.source=local``, total 0.0.
The override test prices llama3.2 at input 0.10, cache read 0.01 and output
0.40 USD per million tokens (its own numbers, not a catalog entry).
"""

from __future__ import annotations

import asyncio
import gc
import json
import pathlib
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import ollama
import pytest
from ollama import _types
from ollama_fakes import (
    HOST,
    Server,
    answer,
    chat_answer,
    chat_parts,
    embed_answer,
    generate_answer,
    generate_parts,
)
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.trace import SpanKind, StatusCode

import otel_tokenomics
from otel_tokenomics import pricing
from otel_tokenomics import semconv as sc
from otel_tokenomics.providers import ollama as adapter

ROOT = pathlib.Path(__file__).resolve().parents[1]
MESSAGES = [{"role": "user", "content": "Say hello."}]
M = 1_000_000
EXACT = {"rel": 1e-12, "abs": 0}
LOCAL_COST = {
    "tokenomics.cost.status": "priced",
    "tokenomics.cost.source": "local",
    "tokenomics.cost.currency": "USD",
    "tokenomics.cost.total": 0.0,
    "tokenomics.cost.input": 0.0,
    "tokenomics.cost.cache_read": 0.0,
    "tokenomics.cost.cache_write": 0.0,
    "tokenomics.cost.output": 0.0,
    "tokenomics.cost.cache_savings": 0.0,
}


def _accepts(request: Any, **fields: Any) -> bool:
    """Whether this SDK release models these request parameters (a compat run tests ollama 0.4.0).

    Its models ignore unknown keywords, so a field must be declared and accept the value.
    """
    if not set(fields) <= set(request.model_fields):
        return False
    try:
        request(model="m", **fields)
    except Exception:
        return False
    return True


THINK = _accepts(_types.ChatRequest, think=True)  # ollama >= 0.5.0
THINK_LEVEL = _accepts(_types.ChatRequest, think="high")
DIMENSIONS = "dimensions" in _types.EmbedRequest.model_fields
TOOL_NAME = "tool_name" in ollama.Message.model_fields
needs = pytest.mark.skipif


def _client_module() -> Any:
    # Not "ollama._client": that name is the default Client once ollama is imported.
    return sys.modules["ollama._client"]


def _assert_local_cost(attributes: Any) -> None:
    assert {key: attributes[key] for key in LOCAL_COST} == LOCAL_COST
    assert "tokenomics.pricing.model" not in attributes


def _assert_registry_names(attributes: Any) -> None:
    assert set(attributes) <= sc.ALL_ATTRIBUTES, set(attributes) - sc.ALL_ATTRIBUTES


# -- chat, generate, embed ---------------------------------------------------------------------


def test_chat(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.json("/api/chat", chat_answer(prompt=26, output=12))
    response = server.client().chat(
        model="llama3.2",
        messages=MESSAGES,
        options={
            "temperature": 0.2,
            "top_p": 0.9,
            "top_k": 40,
            "seed": 7,
            "num_predict": 128,
            "stop": ["\n\n"],
        },
        format="json",
    )
    assert isinstance(response, ollama.ChatResponse)
    assert response.message.content == "Hello! How can I help?"
    assert response["message"]["content"] == "Hello! How can I help?"  # the SDK's own helpers still work
    assert server.request_json()["options"] == {
        "temperature": 0.2, "top_p": 0.9, "top_k": 40, "seed": 7, "num_predict": 128, "stop": ["\n\n"]
    }  # fmt: skip
    span = telemetry.span()
    assert span.name == "chat llama3.2"
    assert span.kind is SpanKind.CLIENT
    attributes = span.attributes
    assert {key: value for key, value in attributes.items() if key.startswith(("gen_ai.", "server."))} == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "ollama",
        "gen_ai.request.model": "llama3.2",
        "server.address": "127.0.0.1",
        "server.port": 11434,
        "gen_ai.request.temperature": 0.2,
        "gen_ai.request.top_p": 0.9,
        "gen_ai.request.top_k": 40.0,
        "gen_ai.request.seed": 7,
        "gen_ai.request.max_tokens": 128,
        "gen_ai.request.stop_sequences": ("\n\n",),
        "gen_ai.output.type": "json",
        "gen_ai.response.model": "llama3.2",
        "gen_ai.response.finish_reasons": ("stop",),
        "gen_ai.usage.input_tokens": 26,
        "gen_ai.usage.output_tokens": 12,
        "gen_ai.usage.cache_read.input_tokens": 0,
        "gen_ai.usage.cache_write.input_tokens": 0,
        "gen_ai.usage.reasoning.output_tokens": 0,
    }
    assert attributes["tokenomics.usage.source"] == "provider"
    _assert_local_cost(attributes)
    _assert_registry_names(attributes)
    assert span.status.status_code is StatusCode.UNSET


def test_chat_with_an_options_model(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.json("/api/chat", chat_answer())
    options = ollama.Options(temperature=0.0, num_predict=-1, stop=["END"])
    server.client().chat(model="llama3.2", messages=MESSAGES, options=options)
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.request.temperature"] == 0.0
    assert attributes["gen_ai.request.stop_sequences"] == ("END",)
    assert "gen_ai.request.max_tokens" not in attributes  # num_predict -1 means "no limit"


@needs(not THINK_LEVEL, reason="think levels need ollama >= 0.6")
def test_reasoning_level(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.json("/api/chat", chat_answer())
    server.json("/api/generate", generate_answer())
    client = server.client()
    client.chat(model="gpt-oss:20b", messages=MESSAGES, think="high")
    client.generate(model="qwen3", prompt="x", think=True)
    chat, generate = telemetry.spans()
    assert chat.attributes["gen_ai.request.reasoning.level"] == "high"
    # think=True only switches thinking on: no level was asked for.
    assert "gen_ai.request.reasoning.level" not in generate.attributes


def test_async_chat(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.json("/api/chat", chat_answer(prompt=40, output=9))

    async def main() -> Any:
        return await server.async_client().chat(model="llama3.2", messages=MESSAGES)

    response = asyncio.run(main())
    assert isinstance(response, ollama.ChatResponse)
    attributes = telemetry.span().attributes
    assert (attributes["gen_ai.usage.input_tokens"], attributes["gen_ai.usage.output_tokens"]) == (40, 9)
    _assert_local_cost(attributes)


@needs(not THINK, reason="thinking needs ollama >= 0.5")
def test_thinking_is_inside_eval_count(instrument, telemetry) -> None:
    """Ollama counts thinking in ``eval_count`` and reports no split: all of it is output."""
    instrument()
    server = Server()
    server.json("/api/chat", chat_answer("4", thinking="2 + 2 is 4.", prompt=18, output=57))
    response = server.client().chat(model="qwen3", messages=MESSAGES, think=True)
    assert response.message.thinking == "2 + 2 is 4."
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.usage.output_tokens"] == 57
    assert attributes["gen_ai.usage.reasoning.output_tokens"] == 0  # not reported by Ollama


def test_generate(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.json("/api/generate", generate_answer(prompt=11, output=18, context=[1, 2, 3]))
    response = server.client().generate(model="llama3.2", prompt="Why is the sky blue?", options={"seed": 3})
    assert isinstance(response, ollama.GenerateResponse)
    assert response.context == [1, 2, 3]
    span = telemetry.span()
    assert span.name == "text_completion llama3.2"
    attributes = span.attributes
    assert attributes["gen_ai.operation.name"] == "text_completion"
    assert attributes["gen_ai.request.seed"] == 3
    assert (attributes["gen_ai.usage.input_tokens"], attributes["gen_ai.usage.output_tokens"]) == (11, 18)
    _assert_local_cost(attributes)
    _assert_registry_names(attributes)


def test_async_generate(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.json("/api/generate", generate_answer(prompt=11, output=18, done_reason="length"))

    async def main() -> Any:
        return await server.async_client().generate(model="llama3.2", prompt="x")

    assert isinstance(asyncio.run(main()), ollama.GenerateResponse)
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.response.finish_reasons"] == ("length",)
    assert attributes["gen_ai.usage.output_tokens"] == 18


def test_embed(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.json("/api/embed", embed_answer(vectors=2, dimensions=4, prompt=8))
    response = server.client().embed(model="nomic-embed-text", input=["first", "second"])
    assert isinstance(response, ollama.EmbedResponse)
    assert len(response.embeddings) == 2
    span = telemetry.span()
    assert span.name == "embeddings nomic-embed-text"
    attributes = span.attributes
    assert attributes["gen_ai.operation.name"] == "embeddings"
    assert attributes["gen_ai.usage.input_tokens"] == 8
    assert "gen_ai.usage.output_tokens" not in attributes
    assert attributes["gen_ai.embeddings.dimension.count"] == 4
    _assert_local_cost(attributes)
    _assert_registry_names(attributes)


@needs(not DIMENSIONS, reason="embed(dimensions=) needs a newer ollama")
def test_async_embed_with_dimensions(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.json("/api/embed", embed_answer(vectors=1, dimensions=3, prompt=5))

    async def main() -> Any:
        return await server.async_client().embed(model="nomic-embed-text", input="x", dimensions=3)

    assert isinstance(asyncio.run(main()), ollama.EmbedResponse)
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.usage.input_tokens"] == 5
    assert attributes["gen_ai.embeddings.dimension.count"] == 3


def test_legacy_embeddings_report_no_count(instrument, telemetry) -> None:
    instrument(estimate_usage=False)  # estimated: tests/test_estimation_ollama.py
    server = Server()
    server.json("/api/embeddings", {"embedding": [0.5, 0.25, 0.125]})
    response = server.client().embeddings(model="nomic-embed-text", prompt="x")
    assert isinstance(response, ollama.EmbeddingsResponse)
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.operation.name"] == "embeddings"
    assert attributes["gen_ai.embeddings.dimension.count"] == 3
    assert attributes["tokenomics.usage.source"] == "unavailable"
    assert attributes["tokenomics.cost.status"] == "no_usage"
    assert "gen_ai.usage.input_tokens" not in attributes


# -- counts: the KV cache, and what is left out -----------------------------------------------


def test_cached_prompt_tokens_are_read_from_the_raw_answer(instrument, telemetry) -> None:
    """The SDK's model drops ``prompt_eval_cached_count``; the span still has it."""
    instrument()
    server = Server()
    server.json("/api/chat", chat_answer(prompt=900, cached=850, output=20))
    response = server.client().chat(model="llama3.2", messages=MESSAGES)
    assert "prompt_eval_cached_count" not in response.model_dump()  # the user's answer is unchanged
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.usage.input_tokens"] == 900
    assert attributes["gen_ai.usage.cache_read.input_tokens"] == 850


def test_a_cached_count_larger_than_the_prompt_is_clamped(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.json("/api/generate", generate_answer(prompt=10, cached=15, output=-3))
    server.client().generate(model="llama3.2", prompt="x")
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.usage.input_tokens"] == 10
    assert attributes["gen_ai.usage.cache_read.input_tokens"] == 10
    assert attributes["gen_ai.usage.output_tokens"] == 0


def test_a_missing_prompt_count_is_not_zero_tokens(instrument, telemetry) -> None:
    """Servers before 2024 left prompt_eval_count out when the whole prompt was cached."""
    instrument(estimate_usage=False)  # estimated: tests/test_estimation_ollama.py
    server = Server()
    server.json("/api/chat", chat_answer(prompt=None, output=39))
    server.client().chat(model="llama3.2", messages=MESSAGES)
    attributes = telemetry.span().attributes
    assert attributes["tokenomics.usage.source"] == "unavailable"
    assert attributes["tokenomics.cost.status"] == "no_usage"
    assert not [key for key in attributes if key.startswith("gen_ai.usage.")]


def test_a_missing_eval_count_is_zero_output(instrument, telemetry) -> None:
    # The server leaves zero counts out: nothing generated (num_predict 0) sends no eval_count.
    instrument()
    server = Server()
    server.json("/api/generate", generate_answer("", prompt=12, output=None, done_reason="length"))
    server.client().generate(model="llama3.2", prompt="x", options={"num_predict": 0})
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.request.max_tokens"] == 0
    assert (attributes["gen_ai.usage.input_tokens"], attributes["gen_ai.usage.output_tokens"]) == (12, 0)


# -- pricing -------------------------------------------------------------------------------------


@pytest.fixture
def clean_pricing() -> Iterator[None]:
    pricing.reset()
    yield
    otel_tokenomics.uninstrument()
    pricing.reset()


def test_a_user_price_wins_over_the_local_zero(clean_pricing, instrument, telemetry) -> None:
    prices = {
        "models": [
            {"id": "llama3.2", "provider": "ollama", "input": "0.10", "cache_read": "0.01", "output": "0.40"}
        ]
    }
    instrument(prices=prices)
    server = Server()
    server.json("/api/chat", chat_answer(prompt=2000, cached=1500, output=300))
    server.client().chat(model="llama3.2", messages=MESSAGES)
    attributes = telemetry.span().attributes
    assert attributes["tokenomics.cost.status"] == "priced"
    assert attributes["tokenomics.cost.source"] == "override"
    assert attributes["tokenomics.pricing.model"] == "llama3.2"
    # 500 uncached x 0.10 + 1500 cached x 0.01 + 300 x 0.40, per million: 50 + 15 + 120 micro-dollars.
    assert attributes["tokenomics.cost.input"] == pytest.approx(500 * 0.10 / M, **EXACT)
    assert attributes["tokenomics.cost.cache_read"] == pytest.approx(1500 * 0.01 / M, **EXACT)
    assert attributes["tokenomics.cost.output"] == pytest.approx(300 * 0.40 / M, **EXACT)
    assert attributes["tokenomics.cost.total"] == pytest.approx(0.000185, **EXACT)


# -- streams -------------------------------------------------------------------------------------


def _chat_stream(server: Server, client: Any = None) -> Any:
    server.stream("/api/chat", chat_parts(["Hel", "lo", "!"], prompt=30, cached=24, output=3))
    return (client or server.client()).chat(model="llama3.2", messages=MESSAGES, stream=True)


def _assert_stream_complete(attributes: Any) -> None:
    assert attributes["gen_ai.request.stream"] is True
    assert attributes["gen_ai.usage.input_tokens"] == 30
    assert attributes["gen_ai.usage.cache_read.input_tokens"] == 24
    assert attributes["gen_ai.usage.output_tokens"] == 3
    assert attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert attributes["tokenomics.stream.chunk_count"] == 4
    assert attributes["tokenomics.stream.outcome"] == "completed"
    assert attributes["gen_ai.response.time_to_first_chunk"] >= 0
    _assert_local_cost(attributes)
    _assert_registry_names(attributes)


def test_stream_complete(instrument, telemetry) -> None:
    instrument()
    server = Server()
    stream = _chat_stream(server)
    # The SDK's stream is a generator: nothing is sent, and no span opened, before the first next().
    assert server.requests == []
    assert telemetry.spans() == []
    parts = list(stream)
    assert [part.message.content for part in parts] == ["Hel", "lo", "!", ""]
    assert all(isinstance(part, ollama.ChatResponse) for part in parts)
    assert len(server.requests) == 1
    _assert_stream_complete(telemetry.span().attributes)


def test_stream_time_to_first_chunk_starts_with_the_request(instrument, telemetry, monkeypatch) -> None:
    clock = iter(float(tick) for tick in range(100, 200))
    monkeypatch.setattr("otel_tokenomics.call._perf_counter", lambda: next(clock))
    instrument()
    stream = _chat_stream(Server())
    list(stream)
    # 100: span start at the first next(), 101: first output part. Not the creation of the stream.
    assert telemetry.span().attributes["gen_ai.response.time_to_first_chunk"] == 1.0


def test_stream_broken_out_of(instrument, telemetry) -> None:
    instrument()
    for part in _chat_stream(Server()):
        assert isinstance(part, ollama.ChatResponse)
        break
    gc.collect()
    attributes = telemetry.span().attributes
    assert attributes["tokenomics.stream.outcome"] == "closed_early"
    assert attributes["tokenomics.stream.chunk_count"] == 1
    assert attributes["tokenomics.usage.source"] == "heuristic"  # counts come only at the end: estimated


def test_stream_closed(instrument, telemetry) -> None:
    instrument()
    stream = _chat_stream(Server())
    next(stream)
    stream.close()
    stream.close()
    assert telemetry.span().attributes["tokenomics.stream.outcome"] == "closed_early"


def test_stream_never_iterated_sends_nothing(instrument, telemetry) -> None:
    instrument()
    server = Server()
    stream = _chat_stream(server)
    del stream
    gc.collect()
    assert telemetry.spans() == []
    assert server.requests == []


def test_stream_error_sent_mid_way(instrument, telemetry) -> None:
    instrument()
    server = Server()
    parts = [*chat_parts(["Hel"])[:1], {"error": "an error was encountered while running the model"}]
    server.stream("/api/chat", parts)
    received = []
    with pytest.raises(ollama.ResponseError) as raised:
        for part in server.client().chat(model="llama3.2", messages=MESSAGES, stream=True):
            received.append(part)
    assert raised.value.error == "an error was encountered while running the model"
    assert len(received) == 1
    span = telemetry.span()
    assert span.status.status_code is StatusCode.ERROR
    # The SDK's status_code is -1 for an error sent inside a stream: no HTTP status.
    assert span.status.description == "ResponseError"
    assert span.attributes["error.type"] == "ResponseError"
    assert span.attributes["tokenomics.stream.outcome"] == "failed"
    assert span.attributes["tokenomics.stream.chunk_count"] == 1


def test_stream_connection_dropped(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.stream("/api/generate", generate_parts(["a", "b", "c"]), drop_after=2)
    received = []
    with pytest.raises(httpx.ReadError):
        for part in server.client().generate(model="llama3.2", prompt="x", stream=True):
            received.append(part.response)
    assert received == ["a", "b"]
    attributes = telemetry.span().attributes
    assert attributes["error.type"] == "ReadError"
    assert attributes["tokenomics.stream.outcome"] == "failed"


def test_generate_stream(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.stream("/api/generate", generate_parts(["The ", "sky"], prompt=11, output=2))
    parts = list(server.client().generate(model="llama3.2", prompt="x", stream=True))
    assert all(isinstance(part, ollama.GenerateResponse) for part in parts)
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.operation.name"] == "text_completion"
    assert (attributes["gen_ai.usage.input_tokens"], attributes["gen_ai.usage.output_tokens"]) == (11, 2)
    assert attributes["tokenomics.stream.chunk_count"] == 3


def test_async_stream_complete(instrument, telemetry) -> None:
    instrument()
    server = Server()

    async def main() -> list[Any]:
        stream = await _chat_stream(server, server.async_client())
        assert server.requests == []
        return [part async for part in stream]

    parts = asyncio.run(main())
    assert [part.message.content for part in parts] == ["Hel", "lo", "!", ""]
    _assert_stream_complete(telemetry.span().attributes)


def test_async_stream_broken_out_of(instrument, telemetry) -> None:
    instrument()
    server = Server()

    async def main() -> None:
        stream = await _chat_stream(server, server.async_client())
        async for _part in stream:
            break
        await stream.aclose()
        assert len(telemetry.spans()) == 1  # ended at once, not when collected

    asyncio.run(main())
    attributes = telemetry.span().attributes
    assert attributes["tokenomics.stream.outcome"] == "closed_early"
    assert attributes["tokenomics.stream.chunk_count"] == 1


def test_async_stream_dropped_without_closing(instrument, telemetry) -> None:
    instrument()
    server = Server()

    async def main() -> None:
        stream = await _chat_stream(server, server.async_client())
        async for _part in stream:
            break
        del stream
        await asyncio.sleep(0)  # the loop's finalizer closes the dropped generator

    asyncio.run(main())
    gc.collect()
    assert telemetry.span().attributes["tokenomics.stream.outcome"] == "closed_early"


def test_async_stream_error_sent_mid_way(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.stream("/api/generate", [*generate_parts(["a"])[:1], {"error": "model crashed"}])

    async def main() -> list[str]:
        received = []
        stream = await server.async_client().generate(model="llama3.2", prompt="x", stream=True)
        async for part in stream:
            received.append(part.response)
        return received

    with pytest.raises(ollama.ResponseError):
        asyncio.run(main())
    span = telemetry.span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["tokenomics.stream.outcome"] == "failed"


# -- errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "message"),
    [(404, "model 'llama9' not found, try pulling it first"), (500, "llama runner process has terminated")],
)
def test_http_errors(instrument, telemetry, status, message) -> None:
    instrument()
    server = Server()
    server.error("/api/chat", status, message)
    with pytest.raises(ollama.ResponseError) as raised:
        server.client().chat(model="llama9", messages=MESSAGES)
    # The user's exception is the SDK's, unchanged.
    assert type(raised.value) is ollama.ResponseError
    assert (raised.value.status_code, raised.value.error) == (status, message)
    span = telemetry.span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == f"ResponseError (HTTP {status})"
    assert span.attributes["error.type"] == "ResponseError"
    assert span.attributes["tokenomics.usage.source"] == "unavailable"
    assert span.attributes["tokenomics.cost.status"] == "no_usage"


def test_stream_rejected_at_the_first_next(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.error("/api/chat", 404, "model 'llama9' not found")
    stream = server.client().chat(model="llama9", messages=MESSAGES, stream=True)
    with pytest.raises(ollama.ResponseError) as raised:
        next(stream)
    assert raised.value.status_code == 404
    attributes = telemetry.span().attributes
    assert attributes["error.type"] == "ResponseError"
    assert attributes["tokenomics.stream.outcome"] == "failed"


def test_async_http_error(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.error("/api/embed", 500, "boom")

    async def main() -> None:
        await server.async_client().embed(model="nomic-embed-text", input="x")

    with pytest.raises(ollama.ResponseError):
        asyncio.run(main())
    assert telemetry.span().status.description == "ResponseError (HTTP 500)"


def test_server_down(instrument, telemetry) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    instrument()
    client = ollama.Client(host=HOST, transport=httpx.MockTransport(refuse))
    # Newer SDKs turn httpx's ConnectError into the builtin ConnectionError; 0.4 let it through.
    with pytest.raises((ConnectionError, httpx.ConnectError)) as raised:
        client.chat(model="llama3.2", messages=MESSAGES)
    assert telemetry.span().attributes["error.type"] == type(raised.value).__qualname__


def test_a_failure_of_ours_never_reaches_the_user(instrument, telemetry, monkeypatch) -> None:
    def broken(part: Any) -> Any:
        raise ValueError("bad usage")

    monkeypatch.setattr(adapter, "read_usage", broken)
    instrument()
    server = Server()
    server.json("/api/chat", chat_answer())
    server.stream("/api/generate", generate_parts(["a"]))
    client = server.client()
    assert client.chat(model="llama3.2", messages=MESSAGES).message.content == "Hello! How can I help?"
    assert [part.response for part in client.generate(model="llama3.2", prompt="x", stream=True)] == ["a", ""]
    assert len(telemetry.spans()) == 2


# -- where the calls come from -----------------------------------------------------------------


def test_module_level_functions(instrument, telemetry) -> None:
    """``ollama.chat`` and friends are bound methods of a Client made when ollama was imported."""
    instrument()
    server = Server()
    server.json("/api/chat", chat_answer(prompt=5, output=2))
    server.json("/api/generate", generate_answer(prompt=6, output=3))
    server.json("/api/embed", embed_answer(prompt=7))
    with server.everywhere():
        assert isinstance(ollama.chat(model="llama3.2", messages=MESSAGES), ollama.ChatResponse)
        assert isinstance(ollama.generate(model="llama3.2", prompt="x"), ollama.GenerateResponse)
        assert isinstance(ollama.embed(model="nomic-embed-text", input="x"), ollama.EmbedResponse)
        server.stream("/api/chat", chat_parts(["a"], prompt=8, output=1))
        assert [
            part.message.content for part in ollama.chat(model="llama3.2", messages=MESSAGES, stream=True)
        ] == [
            "a",
            "",
        ]
    spans = telemetry.spans()
    assert [span.attributes["gen_ai.usage.input_tokens"] for span in spans] == [5, 6, 7, 8]
    assert [span.attributes["gen_ai.operation.name"] for span in spans] == [
        "chat",
        "text_completion",
        "embeddings",
        "chat",
    ]
    assert all(span.attributes["server.address"] == "127.0.0.1" for span in spans)


def test_module_level_async_client_through_respx(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.stream("/api/chat", chat_parts(["a", "b"], prompt=9, output=2))

    async def main() -> list[Any]:
        client = ollama.AsyncClient()
        return [part async for part in await client.chat(model="llama3.2", messages=MESSAGES, stream=True)]

    with server.everywhere():
        assert len(asyncio.run(main())) == 3
    assert telemetry.span().attributes["gen_ai.usage.input_tokens"] == 9


def test_client_made_before_instrument(instrument, telemetry) -> None:
    server = Server()
    server.json("/api/chat", chat_answer())
    client = server.client()
    async_client = server.async_client()
    instrument()
    client.chat(model="llama3.2", messages=MESSAGES)
    asyncio.run(async_client.chat(model="llama3.2", messages=MESSAGES))
    assert len(telemetry.spans()) == 2


def test_other_endpoints_get_no_span(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.json("/api/tags", {"models": []})
    server.json("/api/ps", {"models": []})
    client = server.client()
    assert isinstance(client.list(), ollama.ListResponse)
    client.ps()
    assert telemetry.spans() == []


@pytest.mark.parametrize(
    ("host", "address", "port"),
    [
        ("http://gpu-box:8080", "gpu-box", 8080),
        ("https://ollama.example.com", "ollama.example.com", 443),
        ("10.0.0.5", "10.0.0.5", 11434),
        ("[::1]:11435", "::1", 11435),
    ],
)
def test_server_address_from_the_host(instrument, telemetry, host, address, port) -> None:
    instrument()
    server = Server()
    server.json("/api/chat", chat_answer())
    server.client(host=host).chat(model="llama3.2", messages=MESSAGES)
    attributes = telemetry.span().attributes
    assert (attributes["server.address"], attributes["server.port"]) == (address, port)
    assert attributes["gen_ai.provider.name"] == "ollama"


def test_ollama_host_environment_variable(instrument, telemetry, monkeypatch) -> None:
    monkeypatch.setenv("OLLAMA_HOST", "0.0.0.0:9999")
    instrument()
    server = Server()
    server.json("/api/chat", chat_answer())
    ollama.Client(transport=httpx.MockTransport(server.handler)).chat(model="llama3.2", messages=MESSAGES)
    attributes = telemetry.span().attributes
    assert (attributes["server.address"], attributes["server.port"]) == ("0.0.0.0", 9999)


def test_provider_map_names_a_remote_server(instrument, telemetry) -> None:
    instrument(provider_map={"gpu-box": "acme_inference"})
    server = Server()
    server.json("/api/chat", chat_answer())
    server.client(host="http://gpu-box:8080").chat(model="llama3.2", messages=MESSAGES)
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.provider.name"] == "acme_inference"
    assert attributes["tokenomics.cost.status"] == "unpriced"


def test_suppressed_instrumentation_opens_no_span(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.json("/api/chat", chat_answer())
    client = server.client()
    with suppress_instrumentation():
        client.chat(model="llama3.2", messages=MESSAGES)
        list(_chat_stream(server, client))
    assert telemetry.spans() == []


# -- metrics -------------------------------------------------------------------------------------


def test_metrics(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.json("/api/chat", chat_answer(prompt=26, output=12))
    server.json("/api/embed", embed_answer(prompt=8))
    client = server.client()
    client.chat(model="llama3.2", messages=MESSAGES)
    list(_chat_stream(server, client))
    client.embed(model="nomic-embed-text", input="x")
    metrics = telemetry.metrics()
    durations = metrics["gen_ai.client.operation.duration"]
    assert sum(point.count for point in durations) == 3
    tokens = {
        (point.attributes["gen_ai.operation.name"], point.attributes["gen_ai.token.type"]): point.sum
        for point in metrics["gen_ai.client.token.usage"]
    }
    assert tokens == {("chat", "input"): 56, ("chat", "output"): 15, ("embeddings", "input"): 8}
    assert all(point.attributes["gen_ai.provider.name"] == "ollama" for point in durations)
    first_chunk = metrics["gen_ai.client.operation.time_to_first_chunk"]
    assert sum(point.count for point in first_chunk) == 1
    # A local call costs nothing: no spend is added, and nothing counts as unpriced.
    assert sum(point.value for point in metrics.get("tokenomics.cost", [])) == 0
    assert "tokenomics.unpriced_calls" not in metrics


# -- content (opt-in) ----------------------------------------------------------------------------


@needs(not TOOL_NAME, reason="Message.tool_name needs a newer ollama")
def test_chat_content_on_the_span(instrument, telemetry) -> None:
    instrument(capture_content="SPAN_ONLY")
    server = Server()
    tool_call = {"function": {"name": "add", "arguments": {"a": 2, "b": 2}}}
    server.json(
        "/api/chat",
        answer(
            message={
                "role": "assistant",
                "content": "",
                "thinking": "Use the tool.",
                "tool_calls": [tool_call],
            }
        ),
    )
    server.client().chat(
        model="llama3.2",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "2 + 2?"},
            {"role": "tool", "content": "4", "tool_name": "add"},
        ],
        tools=[{"type": "function", "function": {"name": "add", "description": "Adds."}}],
    )
    attributes = telemetry.span().attributes
    assert json.loads(attributes["gen_ai.system_instructions"]) == [{"type": "text", "content": "Be brief."}]
    assert json.loads(attributes["gen_ai.input.messages"]) == [
        {"role": "user", "parts": [{"type": "text", "content": "2 + 2?"}]},
        {"role": "tool", "parts": [{"type": "tool_call_response", "name": "add", "response": "4"}]},
    ]
    assert json.loads(attributes["gen_ai.tool.definitions"])[0]["name"] == "add"
    assert json.loads(attributes["gen_ai.output.messages"]) == [
        {
            "role": "assistant",
            "parts": [
                {"type": "reasoning", "content": "Use the tool."},
                {"type": "tool_call", "id": None, "name": "add", "arguments": {"a": 2, "b": 2}},
            ],
            "finish_reason": "stop",
        }
    ]


def test_streamed_generate_content_on_the_span(instrument, telemetry) -> None:
    instrument(capture_content="SPAN_ONLY")
    server = Server()
    server.stream("/api/generate", generate_parts(["The ", "sky"]))
    list(server.client().generate(model="llama3.2", prompt="Why?", system="Be brief.", stream=True))
    attributes = telemetry.span().attributes
    assert json.loads(attributes["gen_ai.input.messages"]) == [
        {"role": "user", "parts": [{"type": "text", "content": "Why?"}]}
    ]
    assert json.loads(attributes["gen_ai.system_instructions"]) == [{"type": "text", "content": "Be brief."}]
    assert json.loads(attributes["gen_ai.output.messages"]) == [
        {"role": "assistant", "parts": [{"type": "text", "content": "The sky"}], "finish_reason": "stop"}
    ]


def test_no_content_by_default(instrument, telemetry) -> None:
    instrument()
    list(_chat_stream(Server()))
    assert not [key for key in telemetry.span().attributes if "messages" in key]


# -- patching ------------------------------------------------------------------------------------


def test_uninstrument_restores_the_sdk(instrument, telemetry) -> None:
    module = _client_module()
    originals = {cls: cls.__dict__["_request"] for cls in (module.Client, module.AsyncClient)}
    instrument()
    assert all(cls.__dict__["_request"] is not original for cls, original in originals.items())
    otel_tokenomics.uninstrument()
    assert all(cls.__dict__["_request"] is original for cls, original in originals.items())
    server = Server()
    server.json("/api/chat", chat_answer())
    server.client().chat(model="llama3.2", messages=MESSAGES)
    list(_chat_stream(server))
    assert telemetry.spans() == []


def test_a_stream_made_before_uninstrument_still_ends_its_span(instrument, telemetry) -> None:
    instrument()
    stream = _chat_stream(Server())
    next(stream)
    otel_tokenomics.uninstrument()
    list(stream)
    assert telemetry.span().attributes["tokenomics.stream.outcome"] == "completed"


_LAZY_PROBE = """
import sys
import otel_tokenomics
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
active = otel_tokenomics.instrument(tracer_provider=provider)
print("active", "tokenomics_ollama" in active)
print("imported", "ollama" in sys.modules)

import httpx, ollama, respx

module = sys.modules["ollama._client"]
print("patched", "otel_tokenomics" in module.Client._request.__code__.co_filename)
with respx.mock:
    respx.post("http://127.0.0.1:11434/api/chat").mock(
        return_value=httpx.Response(200, json={"model": "m", "message": {"role": "assistant", "content": "x"},
                                               "done": True, "prompt_eval_count": 3, "eval_count": 1})
    )
    ollama.chat(model="m", messages=[])
print("spans", [span.attributes["gen_ai.usage.input_tokens"] for span in exporter.get_finished_spans()])
"""


def test_instrument_waits_for_the_app_to_import_ollama() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _LAZY_PROBE], capture_output=True, text=True, cwd=ROOT, check=True, timeout=120
    )
    assert out.stdout.split("\n")[:4] == ["active True", "imported False", "patched True", "spans [3]"]
