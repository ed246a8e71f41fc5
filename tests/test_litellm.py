"""litellm over a loopback server: one span per provider call, the real provider, exact tokens and cost.

litellm reaches OpenAI through the openai SDK and Anthropic through its own httpx
handler; both are pointed at a loopback server with ``api_base=``.

Prices (bundled catalog, USD per million tokens):

* gpt-4o-mini: input 0.15, cache read 0.075, output 0.6
* claude-sonnet-4-5 (under 200k input): input 3, cache write 3.75 (1h: 6), cache read 0.3, output 15
* text-embedding-3-small: input 0.02

``CHAT_USAGE`` (2048 in of which 1536 cached, 612 out of which 256 reasoning) costs
512 x 0.15 + 1536 x 0.075 + 612 x 0.6 = 76.8 + 115.2 + 367.2 = $559.2 per million calls.
Anthropic's ``USAGE`` (1200 uncached in, 40000 cache reads, 3000 cache writes of which
1000 for 5 min and 2000 for 1 h, 800 out) costs 1200 x 3 + 40000 x 0.3 + (1000 x 3.75 +
2000 x 6) + 800 x 15 = 3600 + 12000 + 15750 + 12000 = $43350 per million calls.
"""

from __future__ import annotations

import os

# Before litellm is imported: otherwise it downloads its price map at import.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import asyncio
import gc
import importlib.metadata
import json
import pathlib
from typing import Any

import litellm
import pytest
from anthropic_fakes import DELTA_USAGE, START_USAGE
from anthropic_fakes import MODEL as CLAUDE
from anthropic_fakes import events as claude_events
from anthropic_fakes import message as claude_message
from litellm import completion as completion_imported_before_instrument
from litellm_fakes import LiteLLMServer, shared_server
from openai_fakes import CHAT_USAGE, chat_chunks, chat_completion, embeddings_response
from opentelemetry.trace import StatusCode

from otel_tokenomics.config import load_options
from otel_tokenomics.instrumentor import LiteLLMInstrumentor, OpenAIInstrumentor
from otel_tokenomics.providers.litellm import LiteLLMPatcher
from otel_tokenomics.telemetry import Telemetry

LITELLM_VERSION = tuple(int(part) for part in importlib.metadata.version("litellm").split(".")[:2])
# What litellm 1.110 does and 1.80 (the oldest release supported) does not: keep the
# provider's model and its unrequested usage chunk in streams, pass on Anthropic's tier.
RECENT = LITELLM_VERSION >= (1, 110)
recent = pytest.mark.skipif(not RECENT, reason=f"litellm {LITELLM_VERSION} predates the behaviour")
# close()/aclose() and the with-statement on litellm's streams.
stream_close = pytest.mark.skipif(
    not hasattr(litellm.CustomStreamWrapper, "close"), reason="litellm streams have no close()"
)

ROOT = pathlib.Path(__file__).resolve().parents[1]
MESSAGES = [{"role": "user", "content": "Say hello."}]
OPENAI_MODEL = "gpt-4o-mini-2024-07-18"

OPENAI_COST = {
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
CLAUDE_COST = {
    "tokenomics.cost.input": pytest.approx(0.0036, rel=1e-12, abs=0),
    "tokenomics.cost.cache_read": pytest.approx(0.012, rel=1e-12, abs=0),
    "tokenomics.cost.cache_write": pytest.approx(0.01575, rel=1e-12, abs=0),
    "tokenomics.cost.output": pytest.approx(0.012, rel=1e-12, abs=0),
    "tokenomics.cost.total": pytest.approx(0.04335, rel=1e-12, abs=0),
}


def _cost(attributes: Any) -> dict[str, Any]:
    return {key: value for key, value in attributes.items() if key.startswith("tokenomics.cost.")}


@pytest.fixture
def server() -> LiteLLMServer:
    return shared_server()


def openai_args(server: LiteLLMServer) -> dict[str, Any]:
    return {"api_base": f"{server.url}/v1", "api_key": "sk-test-secret", "max_retries": 0}


def anthropic_args(server: LiteLLMServer) -> dict[str, Any]:
    return {"api_base": server.url, "api_key": "test-key"}


@pytest.fixture
def only(telemetry: Any) -> Any:
    """Instrument only some SDKs: ``only(LiteLLMInstrumentor())``; undone after the test."""
    used: list[Any] = []

    def _only(*instrumentors: Any) -> Any:
        for instrumentor in instrumentors:
            instrumentor.instrument(
                tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider
            )
            used.append(instrumentor)
        return telemetry

    yield _only
    gc.collect()
    for instrumentor in used:
        instrumentor.uninstrument()


# -- chat completions ----------------------------------------------------------------------------


def test_completion_openai_one_span_with_every_instrumentor(instrument, telemetry, server) -> None:
    instrument()
    server.reply_json(chat_completion(model=OPENAI_MODEL))
    response = litellm.completion(
        model="openai/gpt-4o-mini",
        messages=MESSAGES,
        temperature=0.2,
        max_tokens=100,
        **openai_args(server),
    )
    assert isinstance(response, litellm.ModelResponse)
    assert response.choices[0].message.content == "Hello there."
    assert server.requests[0].path == "/v1/chat/completions"

    span = telemetry.span()  # the openai SDK's request underneath opens none
    attributes = span.attributes
    assert span.name == "chat gpt-4o-mini"
    assert span.instrumentation_scope.name == "otel_tokenomics"
    assert "openai.api.type" not in attributes  # not the openai instrumentation's span
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.provider.name"] == "openai"
    assert attributes["gen_ai.request.model"] == "gpt-4o-mini"
    assert attributes["gen_ai.request.temperature"] == 0.2
    assert attributes["gen_ai.request.max_tokens"] == 100
    assert attributes["server.address"] == "127.0.0.1"
    assert attributes["server.port"] == server.port
    assert attributes["gen_ai.response.id"] == "chatcmpl-abc123"
    assert attributes["gen_ai.response.model"] == OPENAI_MODEL
    assert attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert attributes["gen_ai.usage.input_tokens"] == 2048
    assert attributes["gen_ai.usage.output_tokens"] == 612
    assert attributes["gen_ai.usage.cache_read.input_tokens"] == 1536
    assert attributes["gen_ai.usage.cache_write.input_tokens"] == 0
    assert attributes["gen_ai.usage.reasoning.output_tokens"] == 256
    if RECENT:
        assert attributes["openai.response.service_tier"] == "default"
    assert attributes["tokenomics.usage.source"] == "provider"
    assert _cost(attributes) == OPENAI_COST
    assert attributes["tokenomics.pricing.model"] == "gpt-4o-mini"
    assert span.status.status_code is StatusCode.UNSET


def test_import_before_instrument_is_traced(instrument, telemetry, server) -> None:
    """``from litellm import completion`` ran when this module was imported, before instrument()."""
    instrument()
    server.reply_json(chat_completion(model=OPENAI_MODEL))
    completion_imported_before_instrument(
        model="openai/gpt-4o-mini", messages=MESSAGES, **openai_args(server)
    )
    assert telemetry.span().attributes["gen_ai.usage.input_tokens"] == 2048


def test_acompletion_anthropic_with_cache_tokens(instrument, telemetry, server) -> None:
    instrument()
    server.reply_json(claude_message())

    async def main() -> Any:
        return await litellm.acompletion(
            model="anthropic/claude-sonnet-4-5", messages=MESSAGES, max_tokens=256, **anthropic_args(server)
        )

    response = asyncio.run(main())
    assert isinstance(response, litellm.ModelResponse)
    assert server.requests[0].path == "/v1/messages"
    # litellm's own arithmetic: prompt_tokens already holds the cache reads and writes.
    assert response.usage.prompt_tokens == 44200

    span = telemetry.span()
    attributes = span.attributes
    assert span.name == "chat claude-sonnet-4-5"
    assert attributes["gen_ai.provider.name"] == "anthropic"
    assert attributes["gen_ai.request.model"] == "claude-sonnet-4-5"
    assert attributes["gen_ai.request.max_tokens"] == 256
    assert attributes["gen_ai.response.model"] == CLAUDE
    # litellm drops Anthropic's message id for one of its own making: not recorded.
    assert response.id.startswith("chatcmpl-")
    assert "gen_ai.response.id" not in attributes
    assert attributes["gen_ai.response.finish_reasons"] == ("stop",)  # litellm's mapping of end_turn
    assert attributes["gen_ai.usage.input_tokens"] == 44200
    assert attributes["gen_ai.usage.cache_read.input_tokens"] == 40000
    assert attributes["gen_ai.usage.cache_write.input_tokens"] == 3000
    assert attributes["tokenomics.usage.cache_write.ttl_5m.input_tokens"] == 1000
    assert attributes["tokenomics.usage.cache_write.ttl_1h.input_tokens"] == 2000
    assert attributes["gen_ai.usage.output_tokens"] == 800
    assert attributes["gen_ai.usage.reasoning.output_tokens"] == 0
    if RECENT:
        assert attributes["tokenomics.response.service_tier"] == "standard"
    assert _cost(attributes) | CLAUDE_COST == _cost(attributes)
    assert attributes["tokenomics.cost.status"] == "priced"


# -- streams ---------------------------------------------------------------------------------------


def test_stream_with_include_usage(instrument, telemetry, server) -> None:
    instrument()
    server.reply_openai_stream(chat_chunks(model=OPENAI_MODEL, usage=CHAT_USAGE))
    stream = litellm.completion(
        model="openai/gpt-4o-mini",
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
        **openai_args(server),
    )
    assert isinstance(stream, litellm.CustomStreamWrapper)
    assert type(stream).__name__ == "CustomStreamWrapper"
    assert telemetry.spans() == []  # open until the stream ends
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello there."
    assert chunks[-1].usage.prompt_tokens == 2048  # the usage chunk the caller asked for

    attributes = telemetry.span().attributes
    assert attributes["gen_ai.request.stream"] is True
    assert attributes["gen_ai.usage.input_tokens"] == 2048
    assert attributes["gen_ai.usage.output_tokens"] == 612
    assert attributes["gen_ai.usage.cache_read.input_tokens"] == 1536
    assert attributes["gen_ai.usage.reasoning.output_tokens"] == 256
    assert attributes["gen_ai.response.id"] == "chatcmpl-stream1"
    # Older releases name the requested model in every chunk.
    assert attributes["gen_ai.response.model"] == (OPENAI_MODEL if RECENT else "gpt-4o-mini")
    assert attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert attributes["tokenomics.stream.outcome"] == "completed"
    assert attributes["tokenomics.stream.chunk_count"] == len(chunks)
    if RECENT:
        assert attributes["openai.response.service_tier"] == "default"
    assert attributes["tokenomics.usage.source"] == "provider"
    assert 0 < attributes["gen_ai.response.time_to_first_chunk"] < 5
    assert _cost(attributes) == OPENAI_COST

    points = telemetry.metrics()
    usage = {p.attributes["gen_ai.token.type"]: p.sum for p in points["gen_ai.client.token.usage"]}
    assert usage == {"input": 2048, "output": 612}
    assert points["gen_ai.client.operation.time_to_first_chunk"][0].count == 1
    (duration,) = points["gen_ai.client.operation.duration"]
    assert duration.attributes["gen_ai.provider.name"] == "openai"
    assert duration.attributes["gen_ai.request.model"] == "gpt-4o-mini"


@recent
def test_stream_usage_the_caller_did_not_ask_for_is_still_the_providers(
    instrument, telemetry, server
) -> None:
    """Without include_usage litellm strips the provider's usage chunk from what the caller sees."""
    instrument()
    server.reply_openai_stream(chat_chunks(model=OPENAI_MODEL, usage=CHAT_USAGE))
    stream = litellm.completion(
        model="openai/gpt-4o-mini", messages=MESSAGES, stream=True, **openai_args(server)
    )
    chunks = list(stream)
    assert all(getattr(chunk, "usage", None) is None for chunk in chunks)
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.usage.input_tokens"] == 2048
    assert attributes["tokenomics.usage.source"] == "provider"
    assert _cost(attributes) == OPENAI_COST


@pytest.mark.parametrize("include_usage", [True, False])
def test_stream_without_provider_usage_is_litellm_s_estimate(
    instrument, telemetry, server, include_usage
) -> None:
    """The provider sent no usage: litellm counts tokens itself; we keep its count, marked estimated."""
    if not (include_usage or RECENT):
        pytest.skip("older litellm counts nothing for a stream without include_usage")
    instrument()
    server.reply_openai_stream(chat_chunks(model=OPENAI_MODEL, usage=None))
    options = {"stream_options": {"include_usage": True}} if include_usage else {}
    stream = litellm.completion(
        model="openai/gpt-4o-mini", messages=MESSAGES, stream=True, **options, **openai_args(server)
    )
    chunks = list(stream)
    estimate = chunks[-1].usage if include_usage else chunks[-1]._hidden_params["usage"]
    assert estimate.prompt_tokens > 0 and estimate.completion_tokens > 0

    attributes = telemetry.span().attributes
    assert attributes["tokenomics.usage.source"] == "estimated"
    assert attributes["gen_ai.usage.input_tokens"] == estimate.prompt_tokens
    assert attributes["gen_ai.usage.output_tokens"] == estimate.completion_tokens
    assert attributes["tokenomics.cost.status"] == "estimated"
    expected = (estimate.prompt_tokens * 0.15 + estimate.completion_tokens * 0.6) / 1e6
    assert attributes["tokenomics.cost.total"] == pytest.approx(expected, rel=1e-12, abs=0)


def test_anthropic_stream_async_with_cache_tokens(instrument, telemetry, server) -> None:
    instrument()
    server.reply_anthropic_stream(claude_events(start_usage=START_USAGE, delta_usage=DELTA_USAGE))

    async def main() -> str:
        stream = await litellm.acompletion(
            model="anthropic/claude-sonnet-4-5", messages=MESSAGES, stream=True, **anthropic_args(server)
        )
        assert isinstance(stream, litellm.CustomStreamWrapper)
        return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])

    assert asyncio.run(main()) == "Hello there."
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.provider.name"] == "anthropic"
    assert attributes["gen_ai.response.model"] == (CLAUDE if RECENT else "claude-sonnet-4-5")
    assert attributes["gen_ai.usage.input_tokens"] == 44200
    assert attributes["gen_ai.usage.cache_read.input_tokens"] == 40000
    assert attributes["gen_ai.usage.cache_write.input_tokens"] == 3000
    assert attributes["gen_ai.usage.output_tokens"] == 800
    assert attributes["tokenomics.stream.outcome"] == "completed"
    if RECENT:
        assert attributes["tokenomics.usage.cache_write.ttl_1h.input_tokens"] == 2000
        assert _cost(attributes) | CLAUDE_COST == _cost(attributes)
    else:  # older litellm drops the TTL split from stream usage: every write at the 5-minute rate
        assert "tokenomics.usage.cache_write.ttl_1h.input_tokens" not in attributes
        assert attributes["tokenomics.cost.total"] == pytest.approx(0.03885, rel=1e-12, abs=0)


def test_anthropic_stream_message_delta_without_input_counts(instrument, telemetry, server) -> None:
    """An older-style message_delta with only output_tokens: input and cache counts stay message_start's."""
    instrument()
    server.reply_anthropic_stream(claude_events(start_usage=START_USAGE, delta_usage={"output_tokens": 800}))
    stream = litellm.completion(
        model="anthropic/claude-sonnet-4-5", messages=MESSAGES, stream=True, **anthropic_args(server)
    )
    for _chunk in stream:
        pass
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.usage.input_tokens"] == 44200
    assert attributes["gen_ai.usage.cache_write.input_tokens"] == 3000
    assert attributes["gen_ai.usage.output_tokens"] == 800
    assert _cost(attributes) | CLAUDE_COST == _cost(attributes)


def _gemini_chunk(
    text: str, usage: dict[str, int] | None = None, finish: str | None = None
) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": [{"text": text}]}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    chunk: dict[str, Any] = {
        "candidates": [candidate],
        "modelVersion": "gemini-2.5-flash",
        "responseId": "resp-g1",
    }
    if usage:
        chunk["usageMetadata"] = usage
    return chunk


def test_gemini_stream_sends_its_request_at_the_first_chunk(instrument, telemetry, server) -> None:
    """litellm's Gemini stream is lazy: the request goes out from the first __anext__, inside our span.

    gemini-2.5-flash per million: input 0.3, cache read 0.03, output 2.5; 1000 in (200 cached),
    50 out + 30 thinking: 800 x 0.3 + 200 x 0.03 + 80 x 2.5 = 240 + 6 + 200 = $446 per million calls.
    """
    instrument()
    usage = {
        "promptTokenCount": 1000,
        "cachedContentTokenCount": 200,
        "candidatesTokenCount": 50,
        "thoughtsTokenCount": 30,
        "totalTokenCount": 1080,
    }
    server.reply_openai_stream([_gemini_chunk("Hel"), _gemini_chunk("lo", usage, "STOP")], done=False)

    async def main() -> str:
        stream = await litellm.acompletion(
            model="gemini/gemini-2.5-flash", messages=MESSAGES, stream=True, api_base=server.url, api_key="g"
        )
        assert server.requests == []
        return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])

    assert asyncio.run(main()) == "Hello"
    assert server.requests[0].path.startswith("/models/gemini-2.5-flash:streamGenerateContent")
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.provider.name"] == "gcp.gemini"
    assert attributes["gen_ai.response.id"] == "resp-g1"
    assert attributes["gen_ai.usage.input_tokens"] == 1000
    assert attributes["gen_ai.usage.cache_read.input_tokens"] == 200
    assert attributes["gen_ai.usage.output_tokens"] == 80
    assert attributes["gen_ai.usage.reasoning.output_tokens"] == 30
    assert attributes["tokenomics.cost.total"] == pytest.approx(0.000446, rel=1e-12, abs=0)


def test_stream_async_openai(instrument, telemetry, server) -> None:
    instrument()
    server.reply_openai_stream(chat_chunks(model=OPENAI_MODEL, usage=CHAT_USAGE))

    async def main() -> int:
        stream = await litellm.acompletion(
            model="openai/gpt-4o-mini",
            messages=MESSAGES,
            stream=True,
            stream_options={"include_usage": True},
            **openai_args(server),
        )
        count = 0
        while True:  # the other way to read it: __anext__ by hand
            try:
                await stream.__anext__()
            except StopAsyncIteration:
                return count
            count += 1

    count = asyncio.run(main())
    attributes = telemetry.span().attributes
    assert attributes["tokenomics.stream.chunk_count"] == count
    assert attributes["tokenomics.stream.outcome"] == "completed"
    assert _cost(attributes) == OPENAI_COST


def test_stream_break_ends_the_span_once(instrument, telemetry, server) -> None:
    instrument()
    server.reply_anthropic_stream(claude_events())
    stream = litellm.completion(
        model="anthropic/claude-sonnet-4-5", messages=MESSAGES, stream=True, **anthropic_args(server)
    )
    for index, _chunk in enumerate(stream):
        if index == 1:
            break
    span = telemetry.span()
    assert span.attributes["tokenomics.stream.outcome"] == "closed_early"
    assert span.attributes["tokenomics.stream.chunk_count"] == 2
    # message_start came first: the input counts are known, the output is its placeholder.
    assert span.attributes["gen_ai.usage.input_tokens"] == 44200
    assert span.attributes["gen_ai.usage.output_tokens"] == 1
    assert span.status.status_code is StatusCode.UNSET
    if hasattr(stream, "close"):
        stream.close()
    del stream
    gc.collect()
    assert len(telemetry.spans()) == 1


@stream_close
def test_stream_close_and_context_manager(instrument, telemetry, server) -> None:
    instrument()
    server.reply_openai_stream(chat_chunks(model=OPENAI_MODEL, usage=CHAT_USAGE))
    server.reply_openai_stream(chat_chunks(model=OPENAI_MODEL, usage=CHAT_USAGE))
    with litellm.completion(
        model="openai/gpt-4o-mini", messages=MESSAGES, stream=True, **openai_args(server)
    ) as stream:
        next(stream)
    second = litellm.completion(
        model="openai/gpt-4o-mini", messages=MESSAGES, stream=True, **openai_args(server)
    )
    next(second)
    second.close()
    second.close()
    gc.collect()
    spans = telemetry.spans()
    assert [s.attributes["tokenomics.stream.outcome"] for s in spans] == ["closed_early", "closed_early"]
    assert [s.attributes["tokenomics.stream.chunk_count"] for s in spans] == [1, 1]


@stream_close
def test_async_stream_break_and_aclose(instrument, telemetry, server) -> None:
    instrument()
    server.reply_openai_stream(chat_chunks(model=OPENAI_MODEL, usage=CHAT_USAGE))
    server.reply_openai_stream(chat_chunks(model=OPENAI_MODEL, usage=CHAT_USAGE))

    async def main() -> None:
        async with await litellm.acompletion(
            model="openai/gpt-4o-mini", messages=MESSAGES, stream=True, **openai_args(server)
        ) as stream:
            async for _chunk in stream:
                break
        second = await litellm.acompletion(
            model="openai/gpt-4o-mini", messages=MESSAGES, stream=True, **openai_args(server)
        )
        await second.__anext__()
        await second.aclose()

    asyncio.run(main())
    gc.collect()
    spans = telemetry.spans()
    assert [s.attributes["tokenomics.stream.outcome"] for s in spans] == ["closed_early", "closed_early"]
    assert [s.attributes["tokenomics.stream.chunk_count"] for s in spans] == [1, 1]


@recent  # older releases keep the stream referenced from their logging objects
def test_abandoned_stream_ends_when_collected(instrument, telemetry, server, monkeypatch) -> None:
    # litellm logs each chunk on a worker thread, which holds the stream until it is done.
    monkeypatch.setattr(litellm, "disable_streaming_logging", True)
    instrument()
    server.reply_openai_stream(chat_chunks(model=OPENAI_MODEL, usage=CHAT_USAGE))
    stream = litellm.completion(
        model="openai/gpt-4o-mini", messages=MESSAGES, stream=True, **openai_args(server)
    )
    next(stream)
    del stream
    gc.collect()
    assert telemetry.span().attributes["tokenomics.stream.outcome"] == "abandoned"


def test_stream_error_event_fails_the_span(instrument, telemetry, server) -> None:
    instrument()
    overloaded = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    broken = [*claude_events()[:3], overloaded]
    server.reply_anthropic_stream(broken)
    stream = litellm.completion(
        model="anthropic/claude-sonnet-4-5", messages=MESSAGES, stream=True, **anthropic_args(server)
    )
    with pytest.raises(Exception) as raised:
        for _chunk in stream:
            pass
    span = telemetry.span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["tokenomics.stream.outcome"] == "failed"
    assert span.attributes["error.type"] == type(raised.value).__qualname__
    assert span.attributes["gen_ai.usage.input_tokens"] == 44200  # message_start's counts were read


# -- embeddings -------------------------------------------------------------------------------------


def test_embedding_sync_and_async(instrument, telemetry, server) -> None:
    instrument()
    server.reply_json(embeddings_response(7, vector=[0.1, 0.2, 0.3]))
    server.reply_json(embeddings_response(7, vector=[0.1, 0.2, 0.3]))
    response = litellm.embedding(model="openai/text-embedding-3-small", input=["hi"], **openai_args(server))
    assert isinstance(response, litellm.EmbeddingResponse)

    async def main() -> Any:
        return await litellm.aembedding(
            model="openai/text-embedding-3-small", input=["hi"], dimensions=3, **openai_args(server)
        )

    assert isinstance(asyncio.run(main()), litellm.EmbeddingResponse)
    assert [request.path for request in server.requests] == ["/v1/embeddings", "/v1/embeddings"]
    spans = telemetry.spans()
    assert len(spans) == 2
    for span in spans:
        attributes = span.attributes
        assert span.name == "embeddings text-embedding-3-small"
        assert attributes["gen_ai.operation.name"] == "embeddings"
        assert attributes["gen_ai.provider.name"] == "openai"
        assert attributes["gen_ai.response.model"] == "text-embedding-3-small"
        assert attributes["gen_ai.usage.input_tokens"] == 7
        assert "gen_ai.usage.output_tokens" not in attributes
        assert attributes["gen_ai.embeddings.dimension.count"] == 3
        assert attributes["tokenomics.cost.total"] == pytest.approx(7 * 0.02 / 1e6, rel=1e-12, abs=0)
    assert spans[1].attributes["gen_ai.embeddings.dimension.count"] == 3


# -- errors ------------------------------------------------------------------------------------------


def test_http_error_reaches_the_caller_and_fails_the_span(instrument, telemetry, server) -> None:
    instrument()
    server.reply_json({"error": {"message": "Rate limited", "type": "rate_limit_error"}}, status=429)
    with pytest.raises(litellm.RateLimitError) as raised:
        litellm.completion(model="openai/gpt-4o-mini", messages=MESSAGES, **openai_args(server))
    assert raised.value.status_code == 429
    span = telemetry.span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "RateLimitError (HTTP 429)"
    assert span.attributes["error.type"] == "RateLimitError"
    assert span.attributes["tokenomics.usage.source"] == "unavailable"
    (duration,) = telemetry.metrics()["gen_ai.client.operation.duration"]
    assert duration.attributes["error.type"] == "RateLimitError"


def test_anthropic_error_async(instrument, telemetry, server) -> None:
    instrument()
    server.reply_json(
        {"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}},
        status=401,
    )

    async def main() -> None:
        await litellm.acompletion(
            model="anthropic/claude-sonnet-4-5", messages=MESSAGES, **anthropic_args(server)
        )

    with pytest.raises(litellm.AuthenticationError):
        asyncio.run(main())
    span = telemetry.span()
    assert span.attributes["error.type"] == "AuthenticationError"
    assert span.attributes["gen_ai.provider.name"] == "anthropic"
    assert span.status.description == "AuthenticationError (HTTP 401)"


def test_retries_stay_inside_the_call(instrument, telemetry, server) -> None:
    """num_retries becomes the provider client's own retries: one call, one span."""
    instrument()
    server.reply_json(
        {"error": {"message": "boom", "type": "server_error"}}, status=500, headers={"retry-after-ms": "1"}
    )
    server.reply_json(chat_completion(model=OPENAI_MODEL))
    args = {**openai_args(server), "max_retries": None}
    response = litellm.completion(model="openai/gpt-4o-mini", messages=MESSAGES, num_retries=1, **args)
    assert response.choices[0].message.content == "Hello there."
    assert len(server.requests) == 2
    span = telemetry.span()
    assert span.status.status_code is StatusCode.UNSET
    assert _cost(span.attributes) == OPENAI_COST


def test_each_fallback_attempt_is_its_own_span(instrument, telemetry, server) -> None:
    """With fallbacks, litellm calls itself once per model: each attempt is a span of its own provider."""
    instrument()
    server.reply_json(
        {"type": "error", "error": {"type": "authentication_error", "message": "no"}}, status=401
    )
    server.reply_json(chat_completion(model=OPENAI_MODEL))
    fallback = {"model": "openai/gpt-4o-mini", **openai_args(server)}
    response = litellm.completion(
        model="anthropic/claude-sonnet-4-5", messages=MESSAGES, fallbacks=[fallback], **anthropic_args(server)
    )
    assert response.choices[0].message.content == "Hello there."
    spans = telemetry.spans()
    assert [s.attributes["gen_ai.provider.name"] for s in spans] == ["anthropic", "openai"]
    assert spans[0].attributes["error.type"] == "AuthenticationError"
    assert _cost(spans[1].attributes) == OPENAI_COST


# -- which layer opens the span -----------------------------------------------------------------------


def test_litellm_alone(only, server) -> None:
    telemetry = only(LiteLLMInstrumentor())
    server.reply_json(chat_completion(model=OPENAI_MODEL))
    litellm.completion(model="openai/gpt-4o-mini", messages=MESSAGES, **openai_args(server))
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.provider.name"] == "openai"
    assert "openai.api.type" not in attributes
    assert _cost(attributes) == OPENAI_COST


def test_openai_instrumentation_alone_sees_litellm_s_requests(only, server) -> None:
    """litellm not instrumented: the openai SDK request underneath gets the span, provider by host."""
    telemetry = only(OpenAIInstrumentor())
    server.reply_json(chat_completion(model=OPENAI_MODEL))
    litellm.completion(model="openai/gpt-4o-mini", messages=MESSAGES, **openai_args(server))
    span = telemetry.span()
    assert span.name == "chat gpt-4o-mini"
    assert span.attributes["openai.api.type"] == "chat_completions"
    assert span.attributes["gen_ai.provider.name"] == "openai"
    assert span.attributes["server.address"] == "127.0.0.1"
    assert _cost(span.attributes) == OPENAI_COST


def test_router_calls_are_traced(instrument, telemetry, server) -> None:
    instrument()
    server.reply_json(chat_completion(model=OPENAI_MODEL))
    router = litellm.Router(
        model_list=[
            {"model_name": "fast", "litellm_params": {"model": "openai/gpt-4o-mini", **openai_args(server)}}
        ]
    )
    response = router.completion(model="fast", messages=MESSAGES)
    assert response.choices[0].message.content == "Hello there."
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.request.model"] == "gpt-4o-mini"
    assert _cost(attributes) == OPENAI_COST


@recent  # older releases drop the usage chunk the caller did not ask for
def test_router_stream(instrument, telemetry, server) -> None:
    """The Router wraps the stream in its own; ours underneath still ends once, with the usage."""
    instrument()
    server.reply_openai_stream(chat_chunks(model=OPENAI_MODEL, usage=CHAT_USAGE))
    router = litellm.Router(
        model_list=[
            {"model_name": "fast", "litellm_params": {"model": "openai/gpt-4o-mini", **openai_args(server)}}
        ]
    )

    async def main() -> str:
        stream = await router.acompletion(model="fast", messages=MESSAGES, stream=True)
        return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])

    assert asyncio.run(main()) == "Hello there."
    attributes = telemetry.span().attributes
    assert attributes["tokenomics.stream.outcome"] == "completed"
    assert _cost(attributes) == OPENAI_COST


def test_mock_response_opens_no_span(instrument, telemetry) -> None:
    instrument()
    response = litellm.completion(model="openai/gpt-4o-mini", messages=MESSAGES, mock_response="Hi!")
    assert response.choices[0].message.content == "Hi!"
    assert telemetry.spans() == []


def test_capture_content(instrument, telemetry, server) -> None:
    instrument(capture_content=True)
    server.reply_json(chat_completion(model=OPENAI_MODEL))
    server.reply_openai_stream(chat_chunks(model=OPENAI_MODEL, usage=CHAT_USAGE))
    litellm.completion(model="openai/gpt-4o-mini", messages=MESSAGES, **openai_args(server))
    for _chunk in litellm.completion(
        model="openai/gpt-4o-mini", messages=MESSAGES, stream=True, **openai_args(server)
    ):
        pass
    for span in telemetry.spans():
        assert json.loads(span.attributes["gen_ai.input.messages"]) == [
            {"role": "user", "parts": [{"type": "text", "content": "Say hello."}]}
        ]
        assert json.loads(span.attributes["gen_ai.output.messages"]) == [
            {
                "role": "assistant",
                "parts": [{"type": "text", "content": "Hello there."}],
                "finish_reason": "stop",
            }
        ]


# -- provider and endpoint of a call ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "options", "expected"),
    [
        ("gpt-4o-mini", {}, ("openai", "openai", "gpt-4o-mini", "api.openai.com", 443)),
        (
            "anthropic/claude-sonnet-4-5",
            {},
            ("anthropic", "anthropic", "claude-sonnet-4-5", "api.anthropic.com", 443),
        ),
        ("groq/llama-3.1-8b-instant", {}, ("groq", "groq", "llama-3.1-8b-instant", "api.groq.com", 443)),
        (
            "gemini/gemini-2.5-flash",
            {},
            ("gcp.gemini", "gemini", "gemini-2.5-flash", "generativelanguage.googleapis.com", 443),
        ),
        ("vertex_ai/gemini-2.5-flash", {}, ("gcp.vertex_ai", "vertex_ai", "gemini-2.5-flash", None, None)),
        (
            "bedrock/converse/us.anthropic.claude-sonnet-4-5-20250929-v1:0",
            {},
            ("aws.bedrock", "bedrock", "us.anthropic.claude-sonnet-4-5-20250929-v1:0", None, None),
        ),
        (
            "mistral/mistral-small-latest",
            {},
            ("mistral_ai", "mistral", "mistral-small-latest", "api.mistral.ai", 443),
        ),
        ("xai/grok-3", {}, ("x_ai", "xai", "grok-3", "api.x.ai", 443)),
        ("deepseek/deepseek-chat", {}, ("deepseek", "deepseek", "deepseek-chat", "api.deepseek.com", 443)),
        ("ollama/llama3", {}, ("ollama", "ollama", "llama3", "localhost", 11434)),
        ("openrouter/openai/gpt-4o", {}, ("openrouter", "openrouter", "openai/gpt-4o", "openrouter.ai", 443)),
        (
            "azure/my-deployment",
            {"api_base": "https://contoso.openai.azure.com"},
            ("azure.ai.openai", "azure", "my-deployment", "contoso.openai.azure.com", 443),
        ),
        # OpenAI's wire format sent elsewhere: the host names the provider.
        (
            "openai/deepseek-chat",
            {"api_base": "https://api.deepseek.com/v1"},
            ("deepseek", "openai", "deepseek-chat", "api.deepseek.com", 443),
        ),
        (
            "openai/llama3",
            {"api_base": "http://localhost:11434/v1"},
            ("ollama", "openai", "llama3", "localhost", 11434),
        ),
        ("cohere_chat/command-r", {}, ("cohere", "cohere_chat", "command-r", None, None)),
        ("no-such-provider-model", {}, ("litellm", None, "no-such-provider-model", None, None)),
    ],
)
def test_endpoint_of_a_call(model, options, expected) -> None:
    patcher = LiteLLMPatcher(Telemetry(load_options({})))
    patcher._litellm = litellm
    assert patcher._endpoint(model, options) == expected


def test_provider_map_names_a_gateway() -> None:
    patcher = LiteLLMPatcher(Telemetry(load_options({"provider_map": {"gateway.internal": "acme_gateway"}})))
    patcher._litellm = litellm
    endpoint = patcher._endpoint("anthropic/claude-sonnet-4-5", {"api_base": "https://gateway.internal"})
    assert endpoint[0] == "acme_gateway"


# -- patching ------------------------------------------------------------------------------------------


def _entry_functions() -> dict[str, Any]:
    from litellm import main

    out = {}
    for name in ("completion", "acompletion", "embedding", "aembedding"):
        function = getattr(main, name)
        while "original_function" not in function.__code__.co_freevars:
            function = function.__wrapped__
        out[name] = function.__closure__[
            function.__code__.co_freevars.index("original_function")
        ].cell_contents
    return out


def test_uninstrument_restores_litellm(telemetry, server) -> None:
    import otel_tokenomics

    before = _entry_functions()
    otel_tokenomics.instrument(
        tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider
    )
    patched = _entry_functions()
    assert all("otel_tokenomics" in function.__code__.co_filename for function in patched.values())
    assert all(patched[name].__name__ == name for name in patched)  # litellm reads the call type from it
    otel_tokenomics.uninstrument()
    assert _entry_functions() == before

    server.reply_json(chat_completion(model=OPENAI_MODEL))
    litellm.completion(model="openai/gpt-4o-mini", messages=MESSAGES, **openai_args(server))
    assert telemetry.spans() == []
