"""The series names our spend counters get in Prometheus, through the OpenTelemetry Prometheus exporter.

Dashboards and alerts are written against these names (the README and
semconv/REFERENCE.md document them), so they are checked against the real
exporter's translation, not against our own idea of it.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

import pytest
from openai_fakes import Server, chat_completion
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider

import otel_tokenomics
from otel_tokenomics import pricing

prometheus_client = pytest.importorskip("prometheus_client")
prometheus_exporter = pytest.importorskip("opentelemetry.exporter.prometheus")

MESSAGES = [{"role": "user", "content": "Say hello."}]


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A registry of this test's own, our instrumentation exporting into it, torn down after.

    The reader registers its collector on prometheus_client's process-wide REGISTRY
    unless told otherwise; one left there would leak into every later scrape.
    """
    monkeypatch.delenv("OTEL_TOKENOMICS_PRICES", raising=False)
    monkeypatch.delenv("OTEL_TOKENOMICS_PRICING_FALLBACK", raising=False)
    pricing.reset()
    reader_class = prometheus_exporter.PrometheusMetricReader
    if "registry" in inspect.signature(reader_class).parameters:
        own = prometheus_client.CollectorRegistry(auto_describe=True)
        reader = reader_class(registry=own)
    else:  # releases before the registry parameter: the global one, unregistered at shutdown
        own = prometheus_client.REGISTRY
        reader = reader_class()
    meter_provider = MeterProvider(metric_readers=[reader])
    otel_tokenomics.instrument(tracer_provider=TracerProvider(), meter_provider=meter_provider)
    try:
        yield own
    finally:
        otel_tokenomics.uninstrument()
        meter_provider.shutdown()  # shuts the reader down, which unregisters its collector
        pricing.reset()
    assert b"tokenomics_" not in prometheus_client.generate_latest(prometheus_client.REGISTRY)


def _parse(registry: Any) -> tuple[dict[str, str], dict[str, list[tuple[dict[str, str], float]]]]:
    """(family name -> type, sample name -> [(labels, value)]), parsed back from the text exposition."""
    from prometheus_client.parser import text_string_to_metric_families

    text = prometheus_client.generate_latest(registry).decode()
    types: dict[str, str] = {}
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        types[family.name] = family.type
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return types, samples


def test_spend_counters_have_their_documented_prometheus_names(registry: Any) -> None:
    server = Server()
    client = server.client()
    server.json("/chat/completions", chat_completion(model="o4-mini-2025-04-16"))
    client.chat.completions.create(model="o4-mini", messages=MESSAGES)
    server.json("/chat/completions", chat_completion(model="acme-llm-0001"))
    client.chat.completions.create(model="acme-llm", messages=MESSAGES)

    text = prometheus_client.generate_latest(registry).decode()
    assert "\ntokenomics_cost_USD_total{" in text
    assert "\ntokenomics_unpriced_calls_total{" in text

    types, samples = _parse(registry)
    assert {name: kind for name, kind in types.items() if name.startswith("tokenomics_")} == {
        "tokenomics_cost_USD": "counter",
        "tokenomics_unpriced_calls": "counter",
    }
    scope = {"otel_scope_name", "otel_scope_version", "otel_scope_schema_url"}
    cost = {
        labels["tokenomics_token_class"]: (
            {key: value for key, value in labels.items() if key not in scope},
            value,
        )
        for labels, value in samples["tokenomics_cost_USD_total"]
    }
    base = {
        "gen_ai_operation_name": "chat",
        "gen_ai_provider_name": "openai",
        "gen_ai_request_model": "o4-mini",
        "tokenomics_cost_status": "priced",
    }
    # o4-mini: 512 uncached input at $1.10, 1536 cached at $0.275, 612 output at $4.40 per million.
    assert cost == {
        "input": ({**base, "tokenomics_token_class": "input"}, pytest.approx(0.0005632, rel=1e-12, abs=0)),
        "cache_read": (
            {**base, "tokenomics_token_class": "cache_read"},
            pytest.approx(0.0004224, rel=1e-12, abs=0),
        ),
        "output": ({**base, "tokenomics_token_class": "output"}, pytest.approx(0.0026928, rel=1e-12, abs=0)),
    }
    unpriced = [
        ({key: value for key, value in labels.items() if key not in scope}, value)
        for labels, value in samples["tokenomics_unpriced_calls_total"]
    ]
    assert unpriced == [
        (
            {
                "gen_ai_operation_name": "chat",
                "gen_ai_provider_name": "openai",
                "gen_ai_request_model": "acme-llm",
                "gen_ai_response_model": "acme-llm-0001",
            },
            1.0,
        )
    ]
