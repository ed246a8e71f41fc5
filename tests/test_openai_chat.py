"""chat.completions through the real openai client: exact span attributes and metrics."""

from __future__ import annotations

import pytest
from openai_fakes import CHAT_USAGE, Server, chat_completion, requires
from opentelemetry.trace import SpanKind, StatusCode

from otel_tokenomics.metrics import DURATION_BUCKETS, TOKEN_BUCKETS
from otel_tokenomics.pricing.catalog import load_catalog

MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello."}]


@requires("max_completion_tokens")
def test_chat_completion_span_has_request_response_and_usage(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.json("/chat/completions", chat_completion())
    client = server.client()

    result = client.chat.completions.create(
        model="o4-mini",
        messages=MESSAGES,
        temperature=0.2,
        top_p=0.9,
        max_completion_tokens=800,
        seed=7,
        stop=["END"],
        frequency_penalty=0.5,
        presence_penalty=0.25,
        reasoning_effort="low",
        service_tier="flex",
        response_format={"type": "json_object"},
    )

    assert result.choices[0].message.content == "Hello there."
    span = telemetry.span()
    assert span.name == "chat o4-mini"
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    assert dict(span.attributes) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "o4-mini",
        "server.address": "api.openai.com",
        "server.port": 443,
        "openai.api.type": "chat_completions",
        "gen_ai.request.temperature": 0.2,
        "gen_ai.request.top_p": 0.9,
        "gen_ai.request.max_tokens": 800,
        "gen_ai.request.seed": 7,
        "gen_ai.request.stop_sequences": ("END",),
        "gen_ai.request.frequency_penalty": 0.5,
        "gen_ai.request.presence_penalty": 0.25,
        "gen_ai.request.reasoning.level": "low",
        "openai.request.service_tier": "flex",
        "gen_ai.output.type": "json",
        "gen_ai.response.id": "chatcmpl-abc123",
        "gen_ai.response.model": "o4-mini-2025-04-16",
        "gen_ai.response.finish_reasons": ("stop",),
        "gen_ai.usage.input_tokens": 2048,
        "gen_ai.usage.output_tokens": 612,
        "gen_ai.usage.cache_read.input_tokens": 1536,
        "gen_ai.usage.cache_write.input_tokens": 0,
        "gen_ai.usage.reasoning.output_tokens": 256,
        "tokenomics.usage.source": "provider",
        # o4-mini list prices per million: $1.10 input, $0.275 cached input, $4.40 output
        # (reasoning included). The response's tier (default) prices the call, not the
        # flex tier that was asked for. 512 uncached + 1536 cached input, 612 output.
        "tokenomics.cost.status": "priced",
        "tokenomics.cost.source": "catalog",
        "tokenomics.cost.currency": "USD",
        "tokenomics.pricing.model": "o4-mini",
        "tokenomics.pricing.version": load_catalog().version,
        "tokenomics.cost.input": pytest.approx(0.0005632, rel=1e-12, abs=0),
        "tokenomics.cost.cache_read": pytest.approx(0.0004224, rel=1e-12, abs=0),
        "tokenomics.cost.cache_write": 0.0,
        "tokenomics.cost.output": pytest.approx(0.0026928, rel=1e-12, abs=0),
        "tokenomics.cost.total": pytest.approx(0.0036784, rel=1e-12, abs=0),
        # 1536 cached tokens at $1.10 - $0.275
        "tokenomics.cost.cache_savings": pytest.approx(0.0012672, rel=1e-12, abs=0),
        "openai.response.service_tier": "default",
        "openai.response.system_fingerprint": "fp_44709d6fcb",
    }


def test_metrics_use_semconv_names_buckets_and_low_cardinality_attributes(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.json("/chat/completions", chat_completion())
    client = server.client()
    for _ in range(3):
        client.chat.completions.create(model="o4-mini", messages=MESSAGES)

    points = telemetry.metrics()
    (duration,) = points["gen_ai.client.operation.duration"]
    assert duration.count == 3
    assert tuple(duration.explicit_bounds) == DURATION_BUCKETS
    assert dict(duration.attributes) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "o4-mini",
        "gen_ai.response.model": "o4-mini-2025-04-16",
        "server.address": "api.openai.com",
        "server.port": 443,
    }
    usage = {p.attributes["gen_ai.token.type"]: p for p in points["gen_ai.client.token.usage"]}
    assert usage["input"].sum == 3 * 2048 and usage["input"].count == 3
    assert usage["output"].sum == 3 * 612
    assert tuple(usage["input"].explicit_bounds) == TOKEN_BUCKETS
    # No stream, no chunk metrics; no ids anywhere in metric attributes.
    assert "gen_ai.client.operation.time_to_first_chunk" not in points
    for series in points.values():
        for point in series:
            assert "gen_ai.response.id" not in point.attributes


def test_latest_metric_names_are_opt_in(instrument, telemetry, monkeypatch) -> None:
    monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "gen_ai_latest_experimental")
    instrument()
    server = Server()
    server.json(
        "/chat/completions",
        chat_completion(
            usage={
                **CHAT_USAGE,
                "prompt_tokens_details": {
                    "cached_tokens": 1536,
                    "cache_write_tokens": 100,
                    "audio_tokens": 48,
                    "image_tokens": 0,
                },
            }
        ),
    )
    server.client().chat.completions.create(model="o4-mini", messages=MESSAGES)

    points = telemetry.metrics()
    assert "gen_ai.client.operation.duration" not in points
    assert "gen_ai.client.token.usage" not in points
    assert points["gen_ai.client.inference.duration"][0].count == 1
    by_modality = {
        p.attributes["gen_ai.token.modality"]: p.value
        for p in points["gen_ai.client.inference.usage.input_tokens"]
    }
    assert by_modality == {"text": 2000, "audio": 48}
    assert [p.value for p in points["gen_ai.client.inference.usage.output_tokens"]] == [612]
    assert [p.value for p in points["gen_ai.client.inference.usage.cache_read.input_tokens"]] == [1536]
    assert [p.value for p in points["gen_ai.client.inference.usage.cache_write.input_tokens"]] == [100]
    assert [p.value for p in points["gen_ai.client.inference.usage.reasoning.output_tokens"]] == [256]
    assert points["gen_ai.client.inference.operation.input_tokens"][0].sum == 2048
    assert points["gen_ai.client.inference.operation.output_tokens"][0].sum == 612


def test_both_metric_generations_with_dup(instrument, telemetry, monkeypatch) -> None:
    monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "gen_ai_latest_experimental/dup")
    instrument()
    server = Server()
    server.json("/chat/completions", chat_completion())
    server.client().chat.completions.create(model="o4-mini", messages=MESSAGES)
    points = telemetry.metrics()
    assert points["gen_ai.client.operation.duration"][0].count == 1
    assert points["gen_ai.client.inference.duration"][0].count == 1


def test_unsampled_span_still_records_metrics(telemetry) -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

    import otel_tokenomics

    provider = TracerProvider(sampler=ALWAYS_OFF)
    otel_tokenomics.instrument(tracer_provider=provider, meter_provider=telemetry.meter_provider)
    try:
        server = Server()
        server.json("/chat/completions", chat_completion())
        server.client().chat.completions.create(model="o4-mini", messages=MESSAGES)
    finally:
        otel_tokenomics.uninstrument()
    usage = {
        p.attributes["gen_ai.token.type"]: p.sum for p in telemetry.metrics()["gen_ai.client.token.usage"]
    }
    assert usage == {"input": 2048, "output": 612}


def test_multiple_choices_keep_one_finish_reason_each(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.json("/chat/completions", chat_completion(choices=3, finish_reason="length"))
    server.client().chat.completions.create(model="gpt-4o", messages=MESSAGES, n=3)
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.request.choice.count"] == 3
    assert attributes["gen_ai.response.finish_reasons"] == ("length", "length", "length")


@pytest.mark.parametrize(
    ("details", "expected"),
    [
        # cache writes are part of prompt_tokens, like cache reads
        ({"cached_tokens": 0, "cache_write_tokens": 1024}, (2048, 0, 1024)),
        ({"cached_tokens": None}, (2048, 0, 0)),
        (None, (2048, 0, 0)),
    ],
)
def test_prompt_details_variants(instrument, telemetry, details, expected) -> None:
    instrument()
    server = Server()
    usage = {
        "prompt_tokens": 2048,
        "completion_tokens": 10,
        "total_tokens": 2058,
        "prompt_tokens_details": details,
    }
    server.json("/chat/completions", chat_completion(usage=usage))
    server.client().chat.completions.create(model="gpt-5.6", messages=MESSAGES)
    attributes = telemetry.span().attributes
    assert (
        attributes["gen_ai.usage.input_tokens"],
        attributes["gen_ai.usage.cache_read.input_tokens"],
        attributes["gen_ai.usage.cache_write.input_tokens"],
    ) == expected
    assert attributes["gen_ai.usage.reasoning.output_tokens"] == 0


@requires("modalities")
def test_audio_and_prediction_tokens(instrument, telemetry) -> None:
    instrument()
    server = Server()
    usage = {
        "prompt_tokens": 500,
        "completion_tokens": 300,
        "total_tokens": 800,
        "prompt_tokens_details": {
            "cached_tokens": 0,
            "audio_tokens": 120,
            "text_tokens": 380,
            "image_tokens": 0,
        },
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 200,
            "text_tokens": 100,
            "accepted_prediction_tokens": 40,
            "rejected_prediction_tokens": 25,
        },
    }
    server.json("/chat/completions", chat_completion(usage=usage, model="gpt-4o-audio-preview"))
    server.client().chat.completions.create(
        model="gpt-4o-audio-preview",
        messages=MESSAGES,
        modalities=["text", "audio"],
        audio={"voice": "alloy", "format": "wav"},
    )
    attributes = telemetry.span().attributes
    # Prediction tokens are already inside completion_tokens (both billed as output).
    assert attributes["gen_ai.usage.output_tokens"] == 300
    assert attributes["gen_ai.usage.audio.input_tokens"] == 120
    assert attributes["gen_ai.usage.text.input_tokens"] == 380
    assert attributes["gen_ai.usage.audio.output_tokens"] == 200
    assert attributes["gen_ai.usage.text.output_tokens"] == 100
    assert "gen_ai.usage.image.input_tokens" not in attributes
    assert attributes["gen_ai.output.type"] == "speech"


def test_async_chat_completion(instrument, telemetry) -> None:
    import asyncio

    instrument()
    server = Server()
    server.json("/chat/completions", chat_completion())

    async def main() -> str:
        client = server.async_client()
        result = await client.chat.completions.create(model="o4-mini", messages=MESSAGES)
        return result.choices[0].message.content

    assert asyncio.run(main()) == "Hello there."
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.usage.input_tokens"] == 2048
    assert attributes["gen_ai.usage.cache_read.input_tokens"] == 1536


def test_span_is_current_during_the_http_call(instrument, telemetry) -> None:
    from opentelemetry import trace

    instrument()
    seen = []
    server = Server()

    def respond(request):
        seen.append(trace.get_current_span().get_span_context().span_id)
        from openai_fakes import HTTP

        return HTTP.Response(200, json=chat_completion())

    server.routes["/chat/completions"] = respond
    server.client().chat.completions.create(model="o4-mini", messages=MESSAGES)
    assert seen == [telemetry.span().context.span_id]
    assert trace.get_current_span() is trace.INVALID_SPAN
