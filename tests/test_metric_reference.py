"""The metrics we record are the metrics the registry documents, down to the Prometheus series.

One run through the real openai and anthropic SDKs produces every metric (both naming
generations, a workflow, a budget, an unpriced model, failures, streams, embeddings,
cache reads and writes, reasoning), with baggage allowed on metrics. Every point is then
checked against the registry (semconv/, rendered in semconv/REFERENCE.md): name, instrument,
unit, bucket boundaries, and attribute keys, both ways (nothing undocumented is recorded,
and every documented attribute is really recorded). The same run is scraped through the
real OpenTelemetry Prometheus exporter, whose series and labels must be the documented ones.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Iterator
from typing import Any

import anthropic_fakes
import pytest
from openai_fakes import Server, chat_completion, embeddings_response
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    HistogramDataPoint,
    InMemoryMetricReader,
    NumberDataPoint,
)
from opentelemetry.sdk.trace import TracerProvider
from semconv_tools import SEMCONV_DIR, generate

import otel_tokenomics
from otel_tokenomics import pricing
from otel_tokenomics import semconv as sc

prometheus_client = pytest.importorskip("prometheus_client")
prometheus_exporter = pytest.importorskip("opentelemetry.exporter.prometheus")

MESSAGES = [{"role": "user", "content": "Say hello."}]
BAGGAGE_ON_METRICS = {sc.TOKENOMICS_TENANT, sc.TOKENOMICS_FEATURE}
# The token histograms carry error.type as upstream allows, but a failed call has no
# usage to record in them: the one documented attribute a run cannot show.
NEVER_SEEN = {
    (sc.METRIC_GEN_AI_CLIENT_INFERENCE_OPERATION_INPUT_TOKENS, sc.ERROR_TYPE),
    (sc.METRIC_GEN_AI_CLIENT_INFERENCE_OPERATION_OUTPUT_TOKENS, sc.ERROR_TYPE),
}
SCOPE_LABELS = {"otel_scope_name", "otel_scope_version", "otel_scope_schema_url"}


class Recorded:
    def __init__(self, points: dict[str, list[Any]], kinds: dict[str, tuple[str, str]], text: str) -> None:
        self.points = points  # metric name -> data points
        self.kinds = kinds  # metric name -> (instrument, unit)
        self.exposition = text  # the Prometheus text exposition of the same run


def _every_kind_of_call() -> None:
    server = Server()
    client = server.client()
    # o4-mini: cache reads and reasoning in CHAT_USAGE; a tenant and feature from baggage.
    server.json("/chat/completions", chat_completion(model="o4-mini-2025-04-16"))
    with otel_tokenomics.attribute_to(tenant="acme", feature="search"):
        client.chat.completions.create(model="o4-mini", messages=MESSAGES)
    server.chat_stream(model="gpt-4o-mini-2024-07-18")
    stream = client.chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "Hello there."
    server.json("/embeddings", embeddings_response(7))
    client.embeddings.create(model="text-embedding-3-small", input="hello")
    server.json("/chat/completions", chat_completion(model="acme-llm-0001"))
    client.chat.completions.create(model="acme-llm", messages=MESSAGES)
    no_retry = server.client(max_retries=0)
    server.json("/chat/completions", {"error": {"message": "slow down"}}, status=429)
    with pytest.raises(Exception, match="slow down"):
        no_retry.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    server.json("/embeddings", {"error": {"message": "slow down"}}, status=429)
    with pytest.raises(Exception, match="slow down"):
        no_retry.embeddings.create(model="text-embedding-3-small", input="hello")
    # Anthropic reports cache writes.
    claude = anthropic_fakes.Server()
    claude.json("/v1/messages", anthropic_fakes.message())
    claude.client().messages.create(model=anthropic_fakes.MODEL, max_tokens=1024, messages=MESSAGES)
    # A workflow that raises, under a budget it exceeds.
    server.json("/chat/completions", chat_completion(model="o4-mini-2025-04-16"))
    with (
        pytest.raises(LookupError),
        otel_tokenomics.budget(usd="0.001", name="nightly"),
        otel_tokenomics.workflow("triage"),
    ):
        client.chat.completions.create(model="o4-mini", messages=MESSAGES)
        raise LookupError("no such ticket")


@pytest.fixture(scope="module")
def recorded() -> Iterator[Recorded]:
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.delenv("OTEL_TOKENOMICS_PRICES", raising=False)
    monkeypatch.delenv("OTEL_TOKENOMICS_PRICING_FALLBACK", raising=False)
    monkeypatch.setenv("OTEL_TOKENOMICS_METRIC_BAGGAGE", ",".join(sorted(BAGGAGE_ON_METRICS)))
    pricing.reset()
    memory = InMemoryMetricReader()
    reader_class = prometheus_exporter.PrometheusMetricReader
    registry = prometheus_client.CollectorRegistry(auto_describe=True)
    if "registry" in inspect.signature(reader_class).parameters:
        scraped = reader_class(registry=registry)
    else:  # releases before the registry parameter register on the global one
        registry = prometheus_client.REGISTRY
        scraped = reader_class()
    meter_provider = MeterProvider(metric_readers=[memory, scraped])
    otel_tokenomics.instrument(
        tracer_provider=TracerProvider(), meter_provider=meter_provider, metric_names="both"
    )
    try:
        with warnings.catch_warnings():
            # The fake's Claude model is one Anthropic's SDK warns is near its end of life.
            warnings.filterwarnings("ignore", "The model .* is deprecated", DeprecationWarning)
            _every_kind_of_call()
        points: dict[str, list[Any]] = {}
        kinds: dict[str, tuple[str, str]] = {}
        data = memory.get_metrics_data()
        assert data is not None
        for resource_metrics in data.resource_metrics:
            for scope_metrics in resource_metrics.scope_metrics:
                assert scope_metrics.scope.name == "otel_tokenomics"
                for metric in scope_metrics.metrics:
                    points.setdefault(metric.name, []).extend(metric.data.data_points)
                    monotonic = getattr(metric.data, "is_monotonic", None)
                    kind = "histogram" if monotonic is None else ("counter" if monotonic else "updowncounter")
                    kinds[metric.name] = (kind, metric.unit)
        text = prometheus_client.generate_latest(registry).decode()
        yield Recorded(points, kinds, text)
    finally:
        otel_tokenomics.uninstrument()
        meter_provider.shutdown()
        monkeypatch.undo()
        pricing.reset()


def test_every_registered_metric_is_recorded_and_nothing_else(recorded: Recorded) -> None:
    assert set(recorded.points) == set(sc.ALL_METRICS)


@pytest.mark.parametrize("name", sorted(sc.ALL_METRICS))
def test_instrument_and_unit_are_the_registered_ones(recorded: Recorded, name: str) -> None:
    instrument, unit, _ = sc.METRIC_SPECS[name]
    assert recorded.kinds[name] == (instrument, unit)
    expected_type = HistogramDataPoint if instrument == "histogram" else NumberDataPoint
    assert all(isinstance(point, expected_type) for point in recorded.points[name])


@pytest.mark.parametrize("name", sorted(sc.METRIC_BUCKETS))
def test_histogram_buckets_are_the_registered_ones(recorded: Recorded, name: str) -> None:
    for point in recorded.points[name]:
        assert tuple(point.explicit_bounds) == sc.METRIC_BUCKETS[name]


def test_registered_buckets_are_the_conventions_own() -> None:
    # The GenAI conventions' advised boundaries, as their text gives them.
    durations = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
    tokens = tuple(float(4**power) for power in range(14))
    for name, bounds in sc.METRIC_BUCKETS.items():
        if name.startswith("tokenomics."):
            continue
        unit = sc.METRIC_SPECS[name][1]
        assert bounds == (durations if unit == "s" else tokens), name


@pytest.mark.parametrize("name", sorted(sc.ALL_METRICS))
def test_attributes_are_exactly_the_registered_ones(recorded: Recorded, name: str) -> None:
    documented = sc.METRIC_ATTRIBUTES[name]
    allowed = documented if name == sc.METRIC_TOKENOMICS_BUDGET_EXCEEDED else documented | BAGGAGE_ON_METRICS
    seen = {key for point in recorded.points[name] for key in point.attributes}
    assert seen <= allowed, f"recorded but not registered: {sorted(seen - allowed)}"
    missing = {key for key in documented - seen if (name, key) not in NEVER_SEEN}
    assert not missing, f"registered but never recorded: {sorted(missing)}"


def test_baggage_labels_calls_and_runs_with_their_values(recorded: Recorded) -> None:
    tenants = {
        point.attributes.get(sc.TOKENOMICS_TENANT)
        for point in recorded.points[sc.METRIC_TOKENOMICS_COST]
        if point.attributes.get(sc.GEN_AI_REQUEST_MODEL) == "o4-mini"
    }
    assert tenants == {"acme", None}  # the attributed call, and the workflow's call without baggage


def _exposition_families() -> Any:
    from prometheus_client.parser import text_string_to_metric_families

    return text_string_to_metric_families


@pytest.mark.parametrize("name", sorted(sc.ALL_METRICS))
def test_prometheus_series_and_labels_are_the_documented_ones(recorded: Recorded, name: str) -> None:
    instrument, unit, _ = sc.METRIC_SPECS[name]
    series = generate.prometheus_series(name, instrument, unit)
    samples: dict[str, list[dict[str, str]]] = {}
    for family in _exposition_families()(recorded.exposition):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append(dict(sample.labels))
    for wanted in series:
        assert wanted in samples, f"{wanted} not exposed"
    allowed = {generate.prometheus_label(key) for key in sc.METRIC_ATTRIBUTES[name]}
    allowed |= {generate.prometheus_label(key) for key in BAGGAGE_ON_METRICS} | SCOPE_LABELS | {"le"}
    for wanted in series:
        labels = {label for found in samples[wanted] for label in found}
        assert labels <= allowed, f"{wanted}: undocumented labels {sorted(labels - allowed)}"


def test_reference_page_lists_every_series_name() -> None:
    reference = (SEMCONV_DIR / "REFERENCE.md").read_text()
    for name in sc.ALL_METRICS:
        instrument, unit, _ = sc.METRIC_SPECS[name]
        for series in generate.prometheus_series(name, instrument, unit):
            assert f"`{series}`" in reference, series
