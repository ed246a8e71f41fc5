"""The groq SDK, driven for real over ``httpx.MockTransport``: exact spans, costs and metrics.

Groq prices in the bundled catalog, USD per million tokens:

* ``llama-3.3-70b-versatile``: $0.59 input, $0.79 output. 120 in + 45 out
  = $0.0000708 + $0.00003555 = $0.00010635.
* ``openai/gpt-oss-120b``: $0.15 input, $0.075 cached input (prompt cache hits are
  half price), $0.60 output (reasoning included). 2000 in of which 1024 cached, 700 out
  = 976 x 0.15 ($0.0001464) + 1024 x 0.075 ($0.0000768) + 700 x 0.60 ($0.00042)
  = $0.0006432; the cache saved 1024 x (0.15 - 0.075) = $0.0000768.
* ``qwen/qwen3-32b``: $0.29 input, $0.59 output. 300 in + 900 out (800 reasoning)
  = $0.000087 + $0.000531 = $0.000618.
* ``groq/compound`` and ``nomic-embed-text-v1_5`` have no price: unpriced.
"""

from __future__ import annotations

import asyncio
import gc
import json
import pathlib
import subprocess
import sys
from typing import Any

import groq
import httpx
import pytest
from groq.types.chat import ChatCompletion
from groq_fakes import (
    CHAT_PATH,
    EMBEDDINGS_PATH,
    GPT_OSS_USAGE,
    LLAMA_USAGE,
    TIMINGS,
    ChatCompletionChunk,
    CreateEmbeddingResponse,
    Server,
    chat_chunks,
    chat_completion,
    create_kwargs,
    embeddings_response,
    error_body,
    requires,
    sse,
)
from opentelemetry.trace import SpanKind, StatusCode

from otel_tokenomics.pricing.catalog import load_catalog

ROOT = pathlib.Path(__file__).resolve().parents[1]
MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello."}]
QWEN_USAGE = {
    "prompt_tokens": 300,
    "completion_tokens": 900,
    "total_tokens": 1200,
    "completion_tokens_details": {"reasoning_tokens": 800},
    **TIMINGS,
}


def _exact(value: float) -> Any:
    return pytest.approx(value, rel=1e-12, abs=0)


def _costs(attributes: Any) -> dict[str, Any]:
    return {key: value for key, value in attributes.items() if key.startswith("tokenomics.cost.")}


def _stream_server(**chunk_options: Any) -> Server:
    server = Server()
    server.stream(CHAT_PATH, sse(chat_chunks(**chunk_options)))
    return server


# -- chat completions ---------------------------------------------------------------------------


def test_chat_completion_span_has_request_response_usage_and_cost(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.json(CHAT_PATH, chat_completion())

    result = server.client().chat.completions.create(
        **create_kwargs(
            model="llama-3.3-70b-versatile",
            messages=MESSAGES,
            temperature=0.2,
            top_p=0.9,
            max_completion_tokens=800,
            seed=7,
            stop=["END"],
            frequency_penalty=0.5,
            presence_penalty=0.25,
            service_tier="flex",
            response_format={"type": "json_object"},
        )
    )

    # The SDK's own object, Groq's extras included.
    assert isinstance(result, ChatCompletion)
    assert result.choices[0].message.content == "Hello there."
    assert result.model_dump()["x_groq"]["id"] == "req_01kbv3y8qwe5"  # an extra on releases before x_groq
    assert result.usage is not None and result.usage.queue_time == 0.0421
    span = telemetry.span()
    assert span.name == "chat llama-3.3-70b-versatile"
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    assert dict(span.attributes) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "groq",
        "gen_ai.request.model": "llama-3.3-70b-versatile",
        "server.address": "api.groq.com",
        "server.port": 443,
        "gen_ai.request.temperature": 0.2,
        "gen_ai.request.top_p": 0.9,
        "gen_ai.request.max_tokens": 800,
        "gen_ai.request.seed": 7,
        "gen_ai.request.stop_sequences": ("END",),
        "gen_ai.request.frequency_penalty": 0.5,
        "gen_ai.request.presence_penalty": 0.25,
        "gen_ai.output.type": "json",
        "gen_ai.response.id": "chatcmpl-f51b2cd2",
        "gen_ai.response.model": "llama-3.3-70b-versatile",
        "gen_ai.response.finish_reasons": ("stop",),
        # What served the call, not what was asked; flex costs what on_demand does.
        "tokenomics.response.service_tier": "on_demand",
        "gen_ai.usage.input_tokens": 120,
        "gen_ai.usage.output_tokens": 45,
        "gen_ai.usage.cache_read.input_tokens": 0,
        "gen_ai.usage.cache_write.input_tokens": 0,
        "gen_ai.usage.reasoning.output_tokens": 0,
        "tokenomics.usage.source": "provider",
        "tokenomics.cost.status": "priced",
        "tokenomics.cost.source": "catalog",
        "tokenomics.cost.currency": "USD",
        "tokenomics.pricing.model": "llama-3.3-70b-versatile",
        "tokenomics.pricing.version": load_catalog().version,
        "tokenomics.cost.input": _exact(0.0000708),
        "tokenomics.cost.cache_read": 0.0,
        "tokenomics.cost.cache_write": 0.0,
        "tokenomics.cost.output": _exact(0.00003555),
        "tokenomics.cost.total": _exact(0.00010635),
        "tokenomics.cost.cache_savings": 0.0,
    }
    # The request went out as the user wrote it.
    assert server.request_json()["service_tier"] == "flex"


def test_reasoning_model_with_a_prompt_cache_hit(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.json(CHAT_PATH, chat_completion(model="openai/gpt-oss-120b", usage=GPT_OSS_USAGE))

    server.client().chat.completions.create(
        **create_kwargs(
            model="openai/gpt-oss-120b", messages=MESSAGES, reasoning_effort="high", max_tokens=4096
        )
    )

    attributes = telemetry.span().attributes
    assert attributes["gen_ai.request.reasoning.level"] == "high"
    assert attributes["gen_ai.request.max_tokens"] == 4096
    assert attributes["gen_ai.usage.input_tokens"] == 2000
    assert attributes["gen_ai.usage.cache_read.input_tokens"] == 1024
    assert attributes["gen_ai.usage.cache_write.input_tokens"] == 0
    assert attributes["gen_ai.usage.output_tokens"] == 700
    assert attributes["gen_ai.usage.reasoning.output_tokens"] == 500
    assert attributes["tokenomics.pricing.model"] == "openai/gpt-oss-120b"
    assert _costs(attributes) == {
        "tokenomics.cost.status": "priced",
        "tokenomics.cost.source": "catalog",
        "tokenomics.cost.currency": "USD",
        "tokenomics.cost.input": _exact(0.0001464),
        "tokenomics.cost.cache_read": _exact(0.0000768),
        "tokenomics.cost.cache_write": 0.0,
        "tokenomics.cost.output": _exact(0.00042),
        "tokenomics.cost.total": _exact(0.0006432),
        "tokenomics.cost.cache_savings": _exact(0.0000768),
    }
    # Groq's timings are seconds, not tokens: no attribute of ours carries them.
    assert not any("time" in key for key in attributes if key.startswith("gen_ai.usage."))


def test_async_chat_completion_of_a_qwen_reasoning_model(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.json(CHAT_PATH, chat_completion(model="qwen/qwen3-32b", usage=QWEN_USAGE, reasoning="Two words."))

    async def main() -> ChatCompletion:
        return await server.async_client().chat.completions.create(
            **create_kwargs(
                model="qwen/qwen3-32b",
                messages=MESSAGES,
                reasoning_format="parsed",
                reasoning_effort="default",
            )
        )

    result = asyncio.run(main())
    assert isinstance(result, ChatCompletion)
    assert result.choices[0].message.reasoning == "Two words."
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.provider.name"] == "groq"
    assert attributes["gen_ai.usage.input_tokens"] == 300
    assert attributes["gen_ai.usage.output_tokens"] == 900
    assert attributes["gen_ai.usage.reasoning.output_tokens"] == 800
    assert attributes["tokenomics.cost.input"] == _exact(0.000087)
    assert attributes["tokenomics.cost.output"] == _exact(0.000531)
    assert attributes["tokenomics.cost.total"] == _exact(0.000618)
    assert "gen_ai.output.messages" not in attributes  # content is opt-in


def test_metrics(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.json(CHAT_PATH, chat_completion(model="openai/gpt-oss-120b", usage=GPT_OSS_USAGE))
    client = server.client()
    for _ in range(3):
        client.chat.completions.create(model="openai/gpt-oss-120b", messages=MESSAGES)

    points = telemetry.metrics()
    (duration,) = points["gen_ai.client.operation.duration"]
    assert duration.count == 3
    assert dict(duration.attributes) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "groq",
        "gen_ai.request.model": "openai/gpt-oss-120b",
        "gen_ai.response.model": "openai/gpt-oss-120b",
        "server.address": "api.groq.com",
        "server.port": 443,
    }
    usage = {p.attributes["gen_ai.token.type"]: p for p in points["gen_ai.client.token.usage"]}
    assert usage["input"].sum == 3 * 2000 and usage["input"].count == 3
    assert usage["output"].sum == 3 * 700
    spend = {p.attributes["tokenomics.token.class"]: p.value for p in points["tokenomics.cost"]}
    assert spend == {
        "input": _exact(3 * 0.0001464),
        "cache_read": _exact(3 * 0.0000768),
        "output": _exact(3 * 0.00042),
    }
    assert {p.attributes["gen_ai.provider.name"] for p in points["tokenomics.cost"]} == {"groq"}
    assert "tokenomics.unpriced.calls" not in points


def test_unknown_model_is_unpriced_not_free(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.json(CHAT_PATH, chat_completion(model="groq/compound"))
    server.client().chat.completions.create(model="groq/compound", messages=MESSAGES)

    attributes = telemetry.span().attributes
    assert attributes["gen_ai.usage.input_tokens"] == 120
    assert _costs(attributes) == {"tokenomics.cost.status": "unpriced"}
    points = telemetry.metrics()
    assert "tokenomics.cost" not in points
    (unpriced,) = points["tokenomics.unpriced.calls"]
    assert unpriced.value == 1
    assert unpriced.attributes["gen_ai.provider.name"] == "groq"


def test_response_without_usage_is_not_priced(instrument, telemetry) -> None:
    instrument(estimate_usage=False)  # estimated: tests/test_estimation_groq.py
    server = Server()
    server.json(CHAT_PATH, chat_completion(usage=None))
    server.client().chat.completions.create(model="llama-3.3-70b-versatile", messages=MESSAGES)
    attributes = telemetry.span().attributes
    assert attributes["tokenomics.usage.source"] == "unavailable"
    assert attributes["tokenomics.cost.status"] == "no_usage"
    assert "gen_ai.usage.input_tokens" not in attributes


# -- errors -----------------------------------------------------------------------------------------

HTTP_ERRORS = [
    (
        429,
        groq.RateLimitError,
        "RateLimitError",
        error_body("Rate limit reached", "tokens", "rate_limit_exceeded"),
    ),
    (
        500,
        groq.InternalServerError,
        "InternalServerError",
        error_body("Internal error", "internal_server_error", ""),
    ),
    # Flex tier without capacity: Groq's own status code, no class of its own in the SDK.
    (
        498,
        groq.APIStatusError,
        "APIStatusError",
        error_body("Capacity exceeded", "flex", "capacity_exceeded"),
    ),
]


@pytest.mark.parametrize(("status", "error_class", "error_type", "body"), HTTP_ERRORS)
def test_http_error(instrument, telemetry, status, error_class, error_type, body) -> None:
    instrument()
    server = Server()
    server.json(CHAT_PATH, body, status=status)

    with pytest.raises(error_class) as raised:
        server.client().chat.completions.create(model="llama-3.3-70b-versatile", messages=MESSAGES)

    assert type(raised.value) is error_class
    assert raised.value.status_code == status
    assert raised.value.body == body
    span = telemetry.span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == f"{error_type} (HTTP {status})"
    assert span.attributes["error.type"] == error_type
    assert span.attributes["tokenomics.usage.source"] == "unavailable"
    assert "gen_ai.response.id" not in span.attributes
    (duration,) = telemetry.metrics()["gen_ai.client.operation.duration"]
    assert duration.attributes["error.type"] == error_type


def test_async_http_error(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.json(CHAT_PATH, error_body("Rate limit reached", "tokens", "rate_limit_exceeded"), status=429)

    async def main() -> None:
        await server.async_client().chat.completions.create(
            model="llama-3.3-70b-versatile", messages=MESSAGES
        )

    with pytest.raises(groq.RateLimitError):
        asyncio.run(main())
    span = telemetry.span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "RateLimitError"


# -- streams ----------------------------------------------------------------------------------------


def _unwrapped_chunks(**chunk_options: Any) -> list[dict[str, Any]]:
    """What the SDK alone yields for the same payload."""
    stream = (
        _stream_server(**chunk_options)
        .client()
        .chat.completions.create(model="llama-3.3-70b-versatile", messages=MESSAGES, stream=True)
    )
    return [chunk.model_dump() for chunk in stream]


def test_stream_usage_from_x_groq(instrument, telemetry) -> None:
    expected = _unwrapped_chunks()
    instrument()
    server = _stream_server()
    stream = server.client().chat.completions.create(
        model="llama-3.3-70b-versatile", messages=MESSAGES, stream=True
    )
    assert isinstance(stream, groq.Stream)
    assert telemetry.spans() == []  # open until the stream ends
    chunks = list(stream)
    assert all(isinstance(chunk, ChatCompletionChunk) for chunk in chunks)
    assert [chunk.model_dump() for chunk in chunks] == expected
    assert chunks[-1].model_dump()["x_groq"]["usage"]["prompt_tokens"] == 120

    attributes = telemetry.span().attributes
    assert attributes["gen_ai.request.stream"] is True
    assert attributes["gen_ai.response.id"] == "chatcmpl-stream7"
    assert attributes["gen_ai.response.model"] == "llama-3.3-70b-versatile"
    assert attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert attributes["gen_ai.usage.input_tokens"] == 120
    assert attributes["gen_ai.usage.output_tokens"] == 45
    assert attributes["tokenomics.usage.source"] == "provider"
    assert attributes["tokenomics.stream.chunk_count"] == 5
    assert attributes["tokenomics.stream.outcome"] == "completed"
    assert attributes["tokenomics.cost.total"] == _exact(0.00010635)
    assert 0 < attributes["gen_ai.response.time_to_first_chunk"] < 5
    assert attributes["tokenomics.throughput.output_tokens_per_second"] > 0

    points = telemetry.metrics()
    assert points["gen_ai.client.operation.time_to_first_chunk"][0].count == 1
    assert points["gen_ai.client.operation.time_per_output_chunk"][0].count == 1
    usage = {p.attributes["gen_ai.token.type"]: p.sum for p in points["gen_ai.client.token.usage"]}
    assert usage == {"input": 120, "output": 45}


FINAL_USAGE = {"prompt_tokens": 130, "completion_tokens": 52, "total_tokens": 182, **TIMINGS}


@pytest.mark.parametrize(
    ("x_groq_usage", "include_usage", "expected", "chunk_count"),
    [
        pytest.param(None, FINAL_USAGE, (130, 52), 6, id="top-level usage only"),
        # Both kinds in one stream: the last one wins, they are never added up.
        pytest.param(LLAMA_USAGE, FINAL_USAGE, (130, 52), 6, id="x_groq then top-level"),
    ],
)
def test_stream_with_include_usage(
    instrument, telemetry, x_groq_usage, include_usage, expected, chunk_count
) -> None:
    instrument()
    server = _stream_server(x_groq_usage=x_groq_usage, include_usage=include_usage)
    stream = server.client().chat.completions.create(
        model="llama-3.3-70b-versatile",
        messages=MESSAGES,
        stream=True,
        extra_body={"stream_options": {"include_usage": True}},
    )
    chunks = list(stream)
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert server.request_json()["stream_options"] == {"include_usage": True}
    attributes = telemetry.span().attributes
    assert (attributes["gen_ai.usage.input_tokens"], attributes["gen_ai.usage.output_tokens"]) == expected
    assert attributes["tokenomics.stream.chunk_count"] == chunk_count
    assert attributes["gen_ai.response.finish_reasons"] == ("stop",)
    # 130 x $0.59 + 52 x $0.79 per million
    assert attributes["tokenomics.cost.total"] == _exact(0.00011778)


def test_hardware_cache_statistics_in_x_groq_are_not_token_counts(instrument, telemetry) -> None:
    """Non-streamed answers carry SRAM/DRAM cache statistics in ``x_groq.usage``: never read as usage."""
    instrument()
    chunks = chat_chunks()
    chunks.append(
        {**chunks[-1], "choices": [], "x_groq": {"usage": {"dram_cached_tokens": 5, "sram_cached_tokens": 7}}}
    )
    server = Server()
    server.stream(CHAT_PATH, sse(chunks))
    list(
        server.client().chat.completions.create(
            model="llama-3.3-70b-versatile", messages=MESSAGES, stream=True
        )
    )
    attributes = telemetry.span().attributes
    assert (attributes["gen_ai.usage.input_tokens"], attributes["gen_ai.usage.output_tokens"]) == (120, 45)
    assert attributes["gen_ai.usage.cache_read.input_tokens"] == 0


def test_stream_of_a_reasoning_model_with_a_cache_hit(instrument, telemetry) -> None:
    instrument()
    server = _stream_server(model="openai/gpt-oss-120b", x_groq_usage=GPT_OSS_USAGE, reasoning=("Hm", "m."))
    stream = server.client().chat.completions.create(
        model="openai/gpt-oss-120b", messages=MESSAGES, stream=True
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream) == "Hello there."
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.usage.cache_read.input_tokens"] == 1024
    assert attributes["gen_ai.usage.reasoning.output_tokens"] == 500
    assert attributes["tokenomics.stream.chunk_count"] == 7
    assert attributes["tokenomics.cost.total"] == _exact(0.0006432)


def test_stream_without_usage_is_marked_unavailable(instrument, telemetry) -> None:
    instrument(estimate_usage=False)  # estimated: tests/test_estimation_groq.py
    server = _stream_server(x_groq_usage=None)
    stream = server.client().chat.completions.create(
        model="llama-3.3-70b-versatile", messages=MESSAGES, stream=True
    )
    assert len(list(stream)) == 5
    attributes = telemetry.span().attributes
    assert attributes["tokenomics.usage.source"] == "unavailable"
    assert attributes["tokenomics.cost.status"] == "no_usage"
    assert "gen_ai.usage.input_tokens" not in attributes
    points = telemetry.metrics()
    assert "gen_ai.client.token.usage" not in points
    assert "tokenomics.cost" not in points


def test_async_stream(instrument, telemetry) -> None:
    instrument()
    server = _stream_server()

    async def main() -> list[str | None]:
        stream = await server.async_client().chat.completions.create(
            model="llama-3.3-70b-versatile", messages=MESSAGES, stream=True
        )
        assert isinstance(stream, groq.AsyncStream)
        return [chunk.choices[0].delta.content async for chunk in stream]

    assert asyncio.run(main()) == ["", "Hel", "lo", " there.", None]
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.usage.input_tokens"] == 120
    assert attributes["gen_ai.usage.output_tokens"] == 45
    assert attributes["tokenomics.stream.outcome"] == "completed"
    assert attributes["tokenomics.stream.chunk_count"] == 5
    assert attributes["tokenomics.cost.total"] == _exact(0.00010635)


def test_break_ends_the_span_once_as_closed_early(instrument, telemetry) -> None:
    instrument()
    server = _stream_server()
    stream = server.client().chat.completions.create(
        model="llama-3.3-70b-versatile", messages=MESSAGES, stream=True
    )
    for index, _chunk in enumerate(stream):
        if index == 1:
            break
    span = telemetry.span()
    assert span.attributes["tokenomics.stream.outcome"] == "closed_early"
    assert span.attributes["tokenomics.stream.chunk_count"] == 2
    assert span.attributes["tokenomics.usage.source"] == "heuristic"  # no x_groq usage yet: estimated
    assert span.status.status_code is StatusCode.UNSET
    stream.close()
    del stream
    gc.collect()
    assert len(telemetry.spans()) == 1


def test_context_manager_exit_ends_the_span(instrument, telemetry) -> None:
    instrument()
    server = _stream_server()
    with server.client().chat.completions.create(
        model="llama-3.3-70b-versatile", messages=MESSAGES, stream=True
    ) as stream:
        assert next(stream).choices[0].delta.role == "assistant"
    assert telemetry.span().attributes["tokenomics.stream.outcome"] == "closed_early"
    gc.collect()
    assert len(telemetry.spans()) == 1


def test_async_stream_break_and_close(instrument, telemetry) -> None:
    instrument()
    server = _stream_server()

    async def main() -> None:
        client = server.async_client()
        async with await client.chat.completions.create(
            model="llama-3.3-70b-versatile", messages=MESSAGES, stream=True
        ) as stream:
            async for _chunk in stream:
                break
        other = await client.chat.completions.create(
            model="llama-3.3-70b-versatile", messages=MESSAGES, stream=True
        )
        await other.__anext__()
        await other.close()

    asyncio.run(main())
    gc.collect()
    spans = telemetry.spans()
    assert [s.attributes["tokenomics.stream.outcome"] for s in spans] == ["closed_early", "closed_early"]
    assert [s.attributes["tokenomics.stream.chunk_count"] for s in spans] == [1, 1]


def test_abandoned_stream_ends_when_collected(instrument, telemetry) -> None:
    instrument()
    server = _stream_server()
    stream = server.client().chat.completions.create(
        model="llama-3.3-70b-versatile", messages=MESSAGES, stream=True
    )
    next(stream)
    del stream
    gc.collect()
    assert telemetry.span().attributes["tokenomics.stream.outcome"] == "abandoned"


@requires("stream_errors")
def test_error_event_mid_stream(instrument, telemetry) -> None:
    instrument()
    server = Server()
    payload = sse(chat_chunks(("Hel",))[:2], done=False) + (
        b'data: {"error": {"message": "Service Unavailable", "type": "internal_server_error"}}\n\n'
    )
    server.stream(CHAT_PATH, payload)
    stream = server.client().chat.completions.create(
        model="llama-3.3-70b-versatile", messages=MESSAGES, stream=True
    )
    received = []
    with pytest.raises(groq.APIError) as raised:
        for chunk in stream:
            received.append(chunk)
    assert type(raised.value) is groq.APIError
    assert raised.value.body == {"message": "Service Unavailable", "type": "internal_server_error"}
    assert len(received) == 2
    span = telemetry.span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "APIError"
    assert span.attributes["tokenomics.stream.outcome"] == "failed"
    assert span.attributes["tokenomics.stream.chunk_count"] == 2


def test_transport_failure_mid_stream(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.dying_stream(CHAT_PATH, sse(chat_chunks(("Hel",))[:2], done=False))
    stream = server.client().chat.completions.create(
        model="llama-3.3-70b-versatile", messages=MESSAGES, stream=True
    )
    with pytest.raises(httpx.ReadError):
        list(stream)
    span = telemetry.span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "ReadError"
    assert span.attributes["tokenomics.stream.outcome"] == "failed"
    assert span.attributes["tokenomics.stream.chunk_count"] == 2


def test_async_transport_failure_mid_stream(instrument, telemetry) -> None:
    instrument()
    payload = sse(chat_chunks(("Hel",))[:2], done=False)

    async def body() -> Any:
        yield payload
        raise httpx.ReadError("connection reset")

    async def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body())

    async def main() -> int:
        client = groq.AsyncGroq(
            api_key="gsk_test_secret",
            max_retries=0,
            http_client=httpx.AsyncClient(transport=httpx.MockTransport(handler)),
        )
        stream = await client.chat.completions.create(
            model="llama-3.3-70b-versatile", messages=MESSAGES, stream=True
        )
        count = 0
        with pytest.raises(httpx.ReadError):
            async for _chunk in stream:
                count += 1
        return count

    assert asyncio.run(main()) == 2
    span = telemetry.span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "ReadError"
    assert span.attributes["tokenomics.stream.outcome"] == "failed"


def test_odd_usage_values_never_reach_the_user(instrument, telemetry) -> None:
    """A proxy's malformed usage: what can be read is read, nothing raises into the loop."""
    instrument()
    odd = {
        "prompt_tokens": "twelve",
        "completion_tokens": -5,
        "prompt_tokens_details": {"cached_tokens": 3.0},
    }
    chunks = chat_chunks(x_groq_usage=None)
    chunks[-1]["x_groq"]["usage"] = odd
    server = Server()
    server.stream(CHAT_PATH, sse(chunks))
    stream = server.client().chat.completions.create(
        model="llama-3.3-70b-versatile", messages=MESSAGES, stream=True
    )
    assert len(list(stream)) == len(chunks)
    attributes = telemetry.span().attributes
    # No sound direction total: no usage, so the call is estimated (a cached count alone says nothing).
    assert attributes["tokenomics.usage.source"] == "heuristic"
    assert attributes["gen_ai.usage.input_tokens"] == 17
    assert attributes["gen_ai.usage.output_tokens"] == 3
    assert attributes["gen_ai.usage.cache_read.input_tokens"] == 0
    json.dumps(dict(attributes))


# -- raw and streamed responses (Stainless request() patch) -------------------------------------------


def test_with_raw_response(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.json(CHAT_PATH, chat_completion(), headers={"x-groq-region": "dls"})
    raw = server.client().chat.completions.with_raw_response.create(
        model="llama-3.3-70b-versatile", messages=MESSAGES
    )
    # Read when returned: the user may look at the headers only.
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.usage.input_tokens"] == 120
    assert attributes["tokenomics.cost.total"] == _exact(0.00010635)
    assert raw.headers["x-groq-region"] == "dls"
    completion = raw.parse()
    assert isinstance(completion, ChatCompletion)
    assert completion.usage is not None and completion.usage.completion_tokens == 45
    assert len(telemetry.spans()) == 1


def test_async_with_raw_response(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.json(CHAT_PATH, chat_completion(model="openai/gpt-oss-120b", usage=GPT_OSS_USAGE))

    async def main() -> ChatCompletion:
        raw = await server.async_client().chat.completions.with_raw_response.create(
            model="openai/gpt-oss-120b", messages=MESSAGES
        )
        return await raw.parse()

    assert isinstance(asyncio.run(main()), ChatCompletion)
    assert telemetry.span().attributes["tokenomics.cost.total"] == _exact(0.0006432)


def test_with_streaming_response_is_read_when_parsed(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.json(CHAT_PATH, chat_completion())
    client = server.client()
    with client.chat.completions.with_streaming_response.create(
        model="llama-3.3-70b-versatile", messages=MESSAGES
    ) as response:
        assert telemetry.spans() == []  # the body is not read yet
        completion = response.parse()
    assert isinstance(completion, ChatCompletion)
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.usage.output_tokens"] == 45
    # Closed without parse(): the span ends without usage; the answer was never read, so its
    # output is unknown and nothing is estimated.
    with client.chat.completions.with_streaming_response.create(
        model="llama-3.3-70b-versatile", messages=MESSAGES
    ) as response:
        assert response.http_response.status_code == 200
    spans = telemetry.spans()
    assert len(spans) == 2
    unread = spans[1].attributes
    assert unread["tokenomics.usage.source"] == "unavailable"
    assert unread["tokenomics.cost.status"] == "no_usage"
    assert "tokenomics.usage.tokenizer" not in unread
    assert not any(key.startswith("gen_ai.usage.") for key in unread)


# -- embeddings -------------------------------------------------------------------------------------


@requires("embeddings")
def test_embeddings(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.json(EMBEDDINGS_PATH, embeddings_response(8))
    result = server.client().embeddings.create(
        model="nomic-embed-text-v1_5", input="hello world", encoding_format="float"
    )
    assert isinstance(result, CreateEmbeddingResponse)
    span = telemetry.span()
    assert span.name == "embeddings nomic-embed-text-v1_5"
    assert dict(span.attributes) == {
        "gen_ai.operation.name": "embeddings",
        "gen_ai.provider.name": "groq",
        "gen_ai.request.model": "nomic-embed-text-v1_5",
        "server.address": "api.groq.com",
        "server.port": 443,
        "gen_ai.request.encoding_formats": ("float",),
        "gen_ai.response.model": "nomic-embed-text-v1_5",
        "gen_ai.embeddings.dimension.count": 3,
        "gen_ai.usage.input_tokens": 8,
        "tokenomics.usage.source": "provider",
        "tokenomics.cost.status": "unpriced",
    }


@requires("embeddings")
def test_async_embeddings(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.json(EMBEDDINGS_PATH, embeddings_response(5))

    async def main() -> CreateEmbeddingResponse:
        return await server.async_client().embeddings.create(model="nomic-embed-text-v1_5", input=["a", "b"])

    assert isinstance(asyncio.run(main()), CreateEmbeddingResponse)
    assert telemetry.span().attributes["gen_ai.usage.input_tokens"] == 5


def test_other_endpoints_open_no_span(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.json("/openai/v1/models", {"object": "list", "data": []})
    server.client().models.list()
    assert telemetry.spans() == []


# -- provider and endpoint ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("base_url", "provider_map", "provider", "address", "port"),
    [
        pytest.param(
            "https://llm-proxy.corp.example", None, "groq", "llm-proxy.corp.example", 443, id="proxy"
        ),
        # A host the built-in table gives to someone else: a Groq client still talks to Groq.
        pytest.param("http://127.0.0.1:11434", None, "groq", "127.0.0.1", 11434, id="loopback-ollama-port"),
        pytest.param("https://openrouter.ai/groq", None, "groq", "openrouter.ai", 443, id="table-host"),
        pytest.param(
            "https://llm-proxy.corp.example",
            {"llm-proxy.corp.example": "corp_gateway"},
            "corp_gateway",
            "llm-proxy.corp.example",
            443,
            id="provider-map",
        ),
        pytest.param(
            "http://gw.corp.example:8080",
            {"gw.corp.example:8080": "corp_gateway", "other.example": "x"},
            "corp_gateway",
            "gw.corp.example",
            8080,
            id="provider-map-port",
        ),
        pytest.param(
            "https://api.groq.com", {"other.example": "x"}, "groq", "api.groq.com", 443, id="map-elsewhere"
        ),
    ],
)
def test_provider_is_groq_whatever_the_host(
    instrument, telemetry, base_url, provider_map, provider, address, port
) -> None:
    instrument(provider_map=provider_map or {})
    server = Server()
    server.json(CHAT_PATH, chat_completion())
    server.client(base_url=base_url).chat.completions.create(
        model="llama-3.3-70b-versatile", messages=MESSAGES
    )
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.provider.name"] == provider
    assert attributes["server.address"] == address
    assert attributes["server.port"] == port


# -- content (opt-in) -------------------------------------------------------------------------------


def test_content_capture_includes_the_reasoning(instrument, telemetry) -> None:
    instrument(capture_content="SPAN_ONLY")
    server = Server()
    server.json(CHAT_PATH, chat_completion(model="qwen/qwen3-32b", usage=QWEN_USAGE, reasoning="Two words."))
    server.client().chat.completions.create(
        **create_kwargs(model="qwen/qwen3-32b", messages=MESSAGES, reasoning_format="parsed")
    )
    attributes = telemetry.span().attributes
    assert json.loads(attributes["gen_ai.input.messages"]) == [
        {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},
        {"role": "user", "parts": [{"type": "text", "content": "Say hello."}]},
    ]
    assert json.loads(attributes["gen_ai.output.messages"]) == [
        {
            "role": "assistant",
            "parts": [
                {"type": "reasoning", "content": "Two words."},
                {"type": "text", "content": "Hello there."},
            ],
            "finish_reason": "stop",
        }
    ]


def test_streamed_content_capture_includes_the_reasoning(instrument, telemetry) -> None:
    instrument(capture_content="SPAN_ONLY")
    server = _stream_server(model="qwen/qwen3-32b", x_groq_usage=QWEN_USAGE, reasoning=("Two ", "words."))
    list(server.client().chat.completions.create(model="qwen/qwen3-32b", messages=MESSAGES, stream=True))
    assert json.loads(telemetry.span().attributes["gen_ai.output.messages"]) == [
        {
            "role": "assistant",
            "parts": [
                {"type": "reasoning", "content": "Two words."},
                {"type": "text", "content": "Hello there."},
            ],
            "finish_reason": "stop",
        }
    ]


# -- living with the other instrumentors; patch and unpatch -------------------------------------------


def test_with_every_instrumentor_active_a_groq_call_is_one_span(instrument, telemetry) -> None:
    openai = pytest.importorskip("openai")
    from openai_fakes import Server as OpenAIServer
    from openai_fakes import chat_completion as openai_chat_completion

    import otel_tokenomics

    instrument()
    active = otel_tokenomics.instrumented()
    assert {"tokenomics_openai", "tokenomics_groq"} <= set(active)
    # Two Stainless SDKs, two base clients, two patches: neither sees the other's calls.
    assert openai._base_client.SyncAPIClient.request is not groq._base_client.SyncAPIClient.request

    server = Server()
    server.json(CHAT_PATH, chat_completion())
    server.client().chat.completions.create(model="llama-3.3-70b-versatile", messages=MESSAGES)
    (span,) = telemetry.spans()
    assert span.attributes["gen_ai.provider.name"] == "groq"

    # The openai SDK pointed at Groq: its own single span, named groq by the host.
    openai_server = OpenAIServer()
    openai_server.json("/chat/completions", openai_chat_completion(model="llama-3.3-70b-versatile"))
    openai_server.client(base_url="https://api.groq.com/openai/v1").chat.completions.create(
        model="llama-3.3-70b-versatile", messages=MESSAGES
    )
    spans = telemetry.spans()
    assert len(spans) == 2
    assert [s.attributes["gen_ai.provider.name"] for s in spans] == ["groq", "groq"]


def test_uninstrument_restores_the_sdk_exactly(telemetry) -> None:
    from groq import _base_client, _response

    import otel_tokenomics

    originals = {
        "sync": _base_client.SyncAPIClient.__dict__["request"],
        "async": _base_client.AsyncAPIClient.__dict__["request"],
        "response": dict(_response.APIResponse.__dict__),
        "async_response": dict(_response.AsyncAPIResponse.__dict__),
    }
    for _ in range(2):
        assert "tokenomics_groq" in otel_tokenomics.instrument(tracer_provider=telemetry.tracer_provider)
        assert _base_client.SyncAPIClient.__dict__["request"] is not originals["sync"]
        assert _base_client.AsyncAPIClient.__dict__["request"] is not originals["async"]
        otel_tokenomics.uninstrument()
    assert _base_client.SyncAPIClient.__dict__["request"] is originals["sync"]
    assert _base_client.AsyncAPIClient.__dict__["request"] is originals["async"]
    assert dict(_response.APIResponse.__dict__) == originals["response"]
    assert dict(_response.AsyncAPIResponse.__dict__) == originals["async_response"]
    assert "tokenomics_groq" not in otel_tokenomics.instrumented()

    server = Server()
    server.json(CHAT_PATH, chat_completion())
    server.client().chat.completions.create(model="llama-3.3-70b-versatile", messages=MESSAGES)
    assert telemetry.spans() == []


_LAZY_PROBE = """
import sys
import otel_tokenomics

def ours():
    from groq import _base_client
    return "otel_tokenomics" in _base_client.SyncAPIClient.request.__code__.co_filename

active = otel_tokenomics.instrument()
print("tokenomics_groq" in active, "groq" in sys.modules)
import groq
print(ours())
otel_tokenomics.uninstrument()
print(ours())
"""


def test_patched_when_the_app_imports_groq_not_before() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _LAZY_PROBE], capture_output=True, text=True, cwd=ROOT, check=True, timeout=60
    )
    assert out.stdout.split("\n")[:3] == ["True False", "True", "False"]
