"""Spend through the real openai client: the ``tokenomics.cost`` and ``tokenomics.unpriced.calls``
counters, and their agreement with the span's cost attributes.

Every expected amount is worked out here from the providers' published list prices
(USD per million tokens), never asked of our own pricer.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from openai_fakes import (
    CHAT_USAGE,
    RESPONSES_USAGE,
    Server,
    chat_chunks,
    chat_completion,
    embeddings_response,
    requires,
    response_object,
    sse,
)
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import TraceIdRatioBased

import otel_tokenomics
from otel_tokenomics import pricing
from otel_tokenomics.pricing.catalog import load_catalog

MESSAGES = [{"role": "user", "content": "Say hello."}]
OPENROUTER_BASE_URL = "https://openrouter.ai/api/v1"
COST = "tokenomics.cost"
UNPRICED = "tokenomics.unpriced.calls"

# CHAT_USAGE is 2048 input tokens of which 1536 cached (so 512 uncached), and 612 output.
# o4-mini: $1.10 input, $0.275 cached input, $4.40 output.
O4_MINI = {"input": 0.0005632, "cache_read": 0.0004224, "output": 0.0026928}
O4_MINI_TOTAL = 0.0036784
O4_MINI_SAVINGS = 0.0012672  # 1536 cached tokens at $1.10 - $0.275
# gpt-4o-mini: $0.15 input, $0.075 cached input, $0.60 output.
GPT_4O_MINI = {"input": 0.0000768, "cache_read": 0.0001152, "output": 0.0003672}
GPT_4O_MINI_TOTAL = 0.0005592
GPT_4O_MINI_SAVINGS = 0.0001152  # 1536 cached tokens at $0.15 - $0.075


def approx(value: float) -> Any:
    # abs=0: pytest's default absolute tolerance (1e-12) would swamp amounts of 1e-7.
    return pytest.approx(value, rel=1e-12, abs=0)


@pytest.fixture(autouse=True)
def fresh_pricing(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The bundled catalog alone, with a fresh once-per-model warning memory, before and after."""
    monkeypatch.delenv("OTEL_TOKENOMICS_PRICES", raising=False)
    monkeypatch.delenv("OTEL_TOKENOMICS_PRICING_FALLBACK", raising=False)
    pricing.reset()
    yield
    pricing.reset()


def cost_points(telemetry: Any) -> list[Any]:
    return telemetry.metrics().get(COST, [])


def cost_by_class(telemetry: Any) -> dict[str, float]:
    points = cost_points(telemetry)
    found = {p.attributes["tokenomics.token.class"]: p.value for p in points}
    assert len(found) == len(points), [dict(p.attributes) for p in points]
    return found


def cost_span_attributes(span: Any) -> dict[str, Any]:
    return {
        key: value
        for key, value in span.attributes.items()
        if key.startswith(("tokenomics.cost.", "tokenomics.pricing."))
    }


def catalog_attributes(
    model: str, by_class: dict[str, float], total: float, savings: float
) -> dict[str, Any]:
    """The span attributes of a call priced from the bundled catalog."""
    return {
        "tokenomics.cost.status": "priced",
        "tokenomics.cost.source": "catalog",
        "tokenomics.cost.currency": "USD",
        "tokenomics.pricing.model": model,
        # The build date of the bundled catalog: read, not computed.
        "tokenomics.pricing.version": load_catalog().version,
        "tokenomics.cost.input": approx(by_class.get("input", 0.0)),
        "tokenomics.cost.cache_read": approx(by_class.get("cache_read", 0.0)),
        "tokenomics.cost.cache_write": approx(by_class.get("cache_write", 0.0)),
        "tokenomics.cost.output": approx(by_class.get("output", 0.0)),
        "tokenomics.cost.total": approx(total),
        "tokenomics.cost.cache_savings": approx(savings),
    }


def series(operation: str, provider: str, request_model: str, **extra: str) -> dict[str, str]:
    return {
        "gen_ai.operation.name": operation,
        "gen_ai.provider.name": provider,
        "gen_ai.request.model": request_model,
        **extra,
    }


# -- one call, every token class ---------------------------------------------------------------


def test_cost_counter_by_token_class_adds_up_to_the_span_total(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.json("/chat/completions", chat_completion(model="o4-mini-2025-04-16"))
    server.client().chat.completions.create(model="o4-mini", messages=MESSAGES)

    span = telemetry.span()
    assert cost_span_attributes(span) == catalog_attributes(
        "o4-mini", O4_MINI, O4_MINI_TOTAL, O4_MINI_SAVINGS
    )
    points = cost_points(telemetry)
    # A class that cost nothing (no cache writes here) adds no point.
    assert cost_by_class(telemetry) == {name: approx(amount) for name, amount in O4_MINI.items()}
    # Spend is summed over servers and model snapshots: neither is a label.
    assert sorted((dict(p.attributes) for p in points), key=lambda a: a["tokenomics.token.class"]) == [
        series(
            "chat",
            "openai",
            "o4-mini",
            **{"tokenomics.token.class": name, "tokenomics.cost.status": "priced"},
        )
        for name in ("cache_read", "input", "output")
    ]
    assert sum(p.value for p in points) == approx(span.attributes["tokenomics.cost.total"])
    assert UNPRICED not in telemetry.metrics()


@requires("responses")
def test_responses_call_with_cache_writes_fills_all_four_classes(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.json("/responses", response_object())
    server.client().responses.create(model="gpt-5", input="Capital of France?")

    # RESPONSES_USAGE: 3000 input = 1500 uncached + 1000 cache reads + 500 cache writes;
    # 900 output (700 of it reasoning, billed as output). gpt-5: $1.25 input, $0.125
    # cached, $10 output; OpenAI bills cache writes as plain input.
    expected = {"input": 0.001875, "cache_read": 0.000125, "cache_write": 0.000625, "output": 0.009}
    # 1500 cached tokens at $1.25 minus what the 1000 reads and 500 writes did cost
    savings = 0.001875 - 0.000125 - 0.000625
    span = telemetry.span()
    assert cost_span_attributes(span) == catalog_attributes("gpt-5", expected, 0.011625, savings)
    assert cost_by_class(telemetry) == {name: approx(amount) for name, amount in expected.items()}
    assert sum(p.value for p in cost_points(telemetry)) == approx(span.attributes["tokenomics.cost.total"])


def test_calls_accumulate_per_series(instrument, telemetry) -> None:
    instrument()
    server = Server()
    client = server.client()
    server.json("/chat/completions", chat_completion(model="o4-mini-2025-04-16"))
    for _ in range(2):
        client.chat.completions.create(model="o4-mini", messages=MESSAGES)
    server.json("/chat/completions", chat_completion(model="gpt-4o-mini-2024-07-18"))
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

    got = {
        (p.attributes["gen_ai.request.model"], p.attributes["tokenomics.token.class"]): p.value
        for p in cost_points(telemetry)
    }
    assert got == {
        **{("o4-mini", name): approx(2 * amount) for name, amount in O4_MINI.items()},
        **{("gpt-4o-mini", name): approx(amount) for name, amount in GPT_4O_MINI.items()},
    }
    spans = telemetry.spans()
    assert sum(got.values()) == approx(sum(s.attributes["tokenomics.cost.total"] for s in spans))
    assert sum(got.values()) == approx(2 * O4_MINI_TOTAL + GPT_4O_MINI_TOTAL)


# -- models without a price ------------------------------------------------------------------------


def test_unknown_model_is_counted_as_unpriced_and_warned_about_once(instrument, telemetry, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="otel_tokenomics")
    instrument()
    server = Server()
    client = server.client()
    for model in ("acme-llm-1", "acme-llm-2"):
        server.json("/chat/completions", chat_completion(model=f"{model}-0001"))
        for _ in range(3):
            client.chat.completions.create(model=model, messages=MESSAGES)

    spans = telemetry.spans()
    assert len(spans) == 6
    for span in spans:
        # Unpriced is said, never a silent 0: no amount at all.
        assert cost_span_attributes(span) == {"tokenomics.cost.status": "unpriced"}
        assert span.attributes["gen_ai.usage.input_tokens"] == 2048
    points = telemetry.metrics()
    assert COST not in points
    unpriced = sorted(
        ((dict(p.attributes), p.value) for p in points[UNPRICED]),
        key=lambda item: item[0]["gen_ai.request.model"],
    )
    assert unpriced == [
        (series("chat", "openai", "acme-llm-1", **{"gen_ai.response.model": "acme-llm-1-0001"}), 3),
        (series("chat", "openai", "acme-llm-2", **{"gen_ai.response.model": "acme-llm-2-0001"}), 3),
    ]
    warnings = [r for r in caplog.records if r.name == "otel_tokenomics" and r.levelno >= logging.WARNING]
    assert len(warnings) == 2, [r.getMessage() for r in warnings]
    assert "acme-llm-1" in warnings[0].getMessage()
    assert "acme-llm-2" in warnings[1].getMessage()
    assert all(r.levelno == logging.WARNING for r in warnings)


@requires("stream_options")
def test_stream_without_usage_touches_neither_counter(instrument, telemetry) -> None:
    """With estimation off, a call without usage has no cost: no spend, and not unpriced either."""
    instrument(estimate_usage=False)
    server = Server()
    server.stream("/chat/completions", sse(chat_chunks(model="gpt-4o-mini-2024-07-18", usage=None)))
    list(server.client().chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True))

    assert cost_span_attributes(telemetry.span()) == {"tokenomics.cost.status": "no_usage"}
    points = telemetry.metrics()
    assert COST not in points
    assert UNPRICED not in points


# -- sampling ----------------------------------------------------------------------------------------


def test_spend_is_counted_whatever_the_sampling(telemetry) -> None:
    calls = 5
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider(sampler=TraceIdRatioBased(0.0))
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    otel_tokenomics.instrument(tracer_provider=tracer_provider, meter_provider=telemetry.meter_provider)
    try:
        server = Server()
        server.json("/chat/completions", chat_completion(model="o4-mini-2025-04-16"))
        client = server.client()
        for _ in range(calls):
            client.chat.completions.create(model="o4-mini", messages=MESSAGES)
    finally:
        otel_tokenomics.uninstrument()

    assert exporter.get_finished_spans() == ()
    assert cost_by_class(telemetry) == {name: approx(calls * amount) for name, amount in O4_MINI.items()}
    assert sum(p.value for p in cost_points(telemetry)) == approx(calls * O4_MINI_TOTAL)


# -- streams, tiers, embeddings ------------------------------------------------------------------------


@requires("stream_options")
def test_streamed_chat_with_include_usage_is_priced(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.stream("/chat/completions", sse(chat_chunks(model="gpt-4o-mini-2024-07-18", usage=CHAT_USAGE)))
    stream = server.client().chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "Hello there."

    span = telemetry.span()
    assert cost_span_attributes(span) == catalog_attributes(
        "gpt-4o-mini", GPT_4O_MINI, GPT_4O_MINI_TOTAL, GPT_4O_MINI_SAVINGS
    )
    assert cost_by_class(telemetry) == {name: approx(amount) for name, amount in GPT_4O_MINI.items()}
    for point in cost_points(telemetry):
        assert point.attributes["gen_ai.request.model"] == "gpt-4o-mini"
        assert "gen_ai.request.stream" not in point.attributes


def test_flex_tier_is_priced_at_the_flex_rate(instrument, telemetry) -> None:
    instrument()
    server = Server()
    client = server.client()
    # The tier the response says served the call is the one billed.
    server.json("/chat/completions", chat_completion(model="gpt-5-2025-08-07", service_tier="flex"))
    client.chat.completions.create(model="gpt-5", messages=MESSAGES, service_tier="flex")
    server.json("/chat/completions", chat_completion(model="gpt-5-2025-08-07", service_tier="default"))
    client.chat.completions.create(model="gpt-5", messages=MESSAGES)

    flex, default = telemetry.spans()
    assert flex.attributes["openai.response.service_tier"] == "flex"
    # gpt-5 flex: $0.625 input, $0.0625 cached, $5 output (half the default $1.25/$0.125/$10).
    flex_by_class = {"input": 0.00032, "cache_read": 0.000096, "output": 0.00306}
    assert cost_span_attributes(flex) == catalog_attributes("gpt-5", flex_by_class, 0.003476, 0.000864)
    default_by_class = {"input": 0.00064, "cache_read": 0.000192, "output": 0.00612}
    assert cost_span_attributes(default) == catalog_attributes("gpt-5", default_by_class, 0.006952, 0.001728)
    assert cost_by_class(telemetry) == {
        name: approx(flex_by_class[name] + default_by_class[name]) for name in flex_by_class
    }


@requires("responses")
def test_responses_flex_tier(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.json("/responses", response_object(service_tier="flex", usage=RESPONSES_USAGE))
    server.client().responses.create(model="gpt-5", input="x", service_tier="flex")

    # RESPONSES_USAGE at the flex rates: 1500 uncached, 1000 read, 500 written, 900 out.
    expected = {"input": 0.0009375, "cache_read": 0.0000625, "cache_write": 0.0003125, "output": 0.0045}
    savings = 0.0009375 - 0.0000625 - 0.0003125
    assert cost_span_attributes(telemetry.span()) == catalog_attributes("gpt-5", expected, 0.0058125, savings)


@requires("dimensions")
def test_embeddings_are_priced_on_input_only(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.json("/embeddings", embeddings_response(1234, vector=[0.5, 0.25]))
    server.client().embeddings.create(model="text-embedding-3-small", input="hello world")

    # text-embedding-3-small: $0.02 per million input tokens.
    amount = 1234 * 0.02 / 1_000_000
    span = telemetry.span()
    assert cost_span_attributes(span) == catalog_attributes(
        "text-embedding-3-small", {"input": amount}, amount, 0.0
    )
    (point,) = cost_points(telemetry)
    assert point.value == approx(amount)
    assert dict(point.attributes) == series(
        "embeddings",
        "openai",
        "text-embedding-3-small",
        **{"tokenomics.token.class": "input", "tokenomics.cost.status": "priced"},
    )


# -- a cost stated by the provider (OpenRouter) ----------------------------------------------------------


def _openrouter_call(instrument: Any, usage: dict[str, Any], model: str) -> None:
    instrument()
    server = Server()
    # The SDK keeps the base_url's path; the fake server strips only /v1.
    server.json("/api/v1/chat/completions", chat_completion(model=model, usage=usage))
    client = server.client(base_url=OPENROUTER_BASE_URL)
    client.chat.completions.create(model=model, messages=MESSAGES)


@pytest.mark.parametrize(
    ("stated", "total"),
    [
        pytest.param({"cost": 0.0123}, 0.0123, id="credits"),
        # Bring-your-own-key: OpenRouter's cost is only its fee; the upstream charge is apart.
        pytest.param(
            {"cost": 0.0005, "is_byok": True, "cost_details": {"upstream_inference_cost": 0.0123}},
            0.0128,
            id="byok",
        ),
    ],
)
def test_openrouter_stated_cost_is_the_total(instrument, telemetry, stated, total) -> None:
    _openrouter_call(instrument, {**CHAT_USAGE, **stated}, "openai/gpt-4o-mini")

    span = telemetry.span()
    assert span.attributes["gen_ai.provider.name"] == "openrouter"
    assert span.attributes["server.address"] == "openrouter.ai"
    # The classes keep the catalog's proportions (gpt-4o-mini: 768 : 1152 : 3672 parts of
    # 5592, in units of $1e-7), scaled to the stated total.
    scale = total / 5592
    by_class = {"input": 768 * scale, "cache_read": 1152 * scale, "output": 3672 * scale}
    # Savings scale alike: 1536 cached tokens at $0.15 - $0.075 are 1152 of those parts.
    expected = catalog_attributes("openai/gpt-4o-mini", by_class, total, 1152 * scale)
    expected["tokenomics.cost.source"] = "provider"
    assert cost_span_attributes(span) == expected
    assert cost_by_class(telemetry) == {name: approx(amount) for name, amount in by_class.items()}
    assert sum(p.value for p in cost_points(telemetry)) == approx(total)
    for point in cost_points(telemetry):
        assert point.attributes["gen_ai.provider.name"] == "openrouter"
        assert point.attributes["tokenomics.cost.status"] == "priced"


def test_openrouter_stated_cost_for_a_model_missing_from_the_catalog(instrument, telemetry, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="otel_tokenomics")
    _openrouter_call(instrument, {**CHAT_USAGE, "cost": 0.0042}, "acme/private-model")

    # Only the total is known: no class amounts, no catalog entry or version.
    assert cost_span_attributes(telemetry.span()) == {
        "tokenomics.cost.status": "priced",
        "tokenomics.cost.source": "provider",
        "tokenomics.cost.currency": "USD",
        "tokenomics.cost.total": approx(0.0042),
    }
    (point,) = cost_points(telemetry)
    assert point.value == approx(0.0042)
    assert dict(point.attributes) == series(
        "chat",
        "openrouter",
        "acme/private-model",
        **{"tokenomics.token.class": "unattributed", "tokenomics.cost.status": "priced"},
    )
    assert UNPRICED not in telemetry.metrics()
    # A call whose cost is known is not "unpriced": nothing to warn about.
    assert [r.getMessage() for r in caplog.records if r.name == "otel_tokenomics"] == []


def test_openrouter_stated_cost_through_the_responses_api(instrument, telemetry) -> None:
    instrument()
    server = Server()
    usage = {**RESPONSES_USAGE, "cost": 0.0077}
    server.json("/api/v1/responses", response_object(model="acme/private-model", usage=usage))
    client = server.client(base_url=OPENROUTER_BASE_URL)
    client.responses.create(model="acme/private-model", input="Capital of France?")

    attributes = cost_span_attributes(telemetry.span())
    assert attributes["tokenomics.cost.source"] == "provider"
    assert attributes["tokenomics.cost.total"] == approx(0.0077)
