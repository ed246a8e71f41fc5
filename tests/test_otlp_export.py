"""End to end over real OTLP: the openai client -> otel-tokenomics -> SDK -> OTLP exporter -> a receiver.

For each protocol the exporters are built with no arguments, configured only by
the standard ``OTEL_*`` environment variables, and the receiver on 127.0.0.1
decodes the protobuf they send. One scenario runs per protocol (a plain chat
completion and a streamed one with ``include_usage``); the tests below assert
on what arrived.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

import otel_tokenomics
from tests.openai_fakes import CHAT_USAGE, Server, chat_chunks, chat_completion, sse
from tests.otlp_receiver import (
    GRPC_METHODS,
    Export,
    FlatPoint,
    FlatSpan,
    GrpcReceiver,
    HttpReceiver,
    flat_metrics,
    flat_spans,
    resources,
)

API_KEY = "sk-test-secret-key"  # what tests/openai_fakes.Server gives the client
SERVICE = "otlp-export-test"
HEADER, HEADER_VALUE = "x-honeycomb-team", "test-key"
REQUEST_MODEL = "o4-mini"
RESPONSE_MODEL = "o4-mini-2025-04-16"
DURATION_BOUNDS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92]

# id -> (OTEL_EXPORTER_OTLP_PROTOCOL, OTEL_EXPORTER_OTLP_COMPRESSION or None)
PROTOCOLS = {
    "http-protobuf": ("http/protobuf", None),
    "http-protobuf-gzip": ("http/protobuf", "gzip"),
    "grpc": ("grpc", None),
}
# OTEL_EXPORTER_OTLP_PROTOCOL -> exporter entry-point name, as the SDK configurator maps them
ENTRY_POINTS = {"http/protobuf": "otlp_proto_http", "grpc": "otlp_proto_grpc"}


@dataclass
class Exported:
    protocol: str
    compression: str | None
    traces: list[Export]
    metrics: list[Export]
    everything: list[Export]
    rejected: list[tuple[str, str]]

    @property
    def spans(self) -> list[FlatSpan]:
        return flat_spans(self.traces)

    @property
    def points(self) -> dict[str, list[FlatPoint]]:
        return flat_metrics(self.metrics)


def _exporter(group: str, protocol: str) -> Any:
    """Construct the exporter the way auto-configuration does: entry point, no arguments."""
    (entry_point,) = entry_points(group=group, name=ENTRY_POINTS[protocol])
    return entry_point.load()()


def _drive_openai() -> None:
    server = Server()
    client = server.client()
    messages = [{"role": "user", "content": "Say hello."}]

    server.json("/chat/completions", chat_completion(model=RESPONSE_MODEL))
    client.chat.completions.create(model=REQUEST_MODEL, messages=messages)

    server.stream("/chat/completions", sse(chat_chunks(model=RESPONSE_MODEL, usage=CHAT_USAGE)))
    stream = client.chat.completions.create(
        model=REQUEST_MODEL, messages=messages, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    assert chunks[-1].usage is not None and chunks[-1].usage.prompt_tokens == 2048
    assert len(server.requests) == 2


@pytest.fixture(scope="module", params=list(PROTOCOLS), ids=list(PROTOCOLS))
def exported(request: pytest.FixtureRequest) -> Iterator[Exported]:
    protocol, compression = PROTOCOLS[request.param]
    receiver_cls = GrpcReceiver if protocol == "grpc" else HttpReceiver
    with receiver_cls() as receiver, pytest.MonkeyPatch.context() as env:
        for name in list(os.environ):
            if name.startswith("OTEL_"):
                env.delenv(name)
        env.setenv("NO_PROXY", "127.0.0.1,localhost")
        env.setenv("no_proxy", "127.0.0.1,localhost")
        env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint)
        env.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", protocol)
        env.setenv("OTEL_EXPORTER_OTLP_HEADERS", f"{HEADER}={HEADER_VALUE}")
        env.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "5")
        env.setenv("OTEL_SERVICE_NAME", SERVICE)
        env.setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
        env.setenv("OTEL_METRIC_EXPORT_INTERVAL", "200")
        if compression:
            env.setenv("OTEL_EXPORTER_OTLP_COMPRESSION", compression)
        if protocol == "grpc":
            env.setenv("OTEL_EXPORTER_OTLP_INSECURE", "true")

        tracer_provider = TracerProvider()
        tracer_provider.add_span_processor(
            BatchSpanProcessor(_exporter("opentelemetry_traces_exporter", protocol))
        )
        meter_provider = MeterProvider(
            metric_readers=[
                PeriodicExportingMetricReader(_exporter("opentelemetry_metrics_exporter", protocol))
            ]
        )
        shut = False
        try:
            otel_tokenomics.uninstrument()  # start from a clean slate whatever ran before
            otel_tokenomics.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
            _drive_openai()
            otel_tokenomics.uninstrument()
            assert tracer_provider.force_flush(5_000)
            assert meter_provider.force_flush(5_000)
            tracer_provider.shutdown()
            meter_provider.shutdown()
            shut = True
            # Shutdown has flushed synchronously; the bounded waits only guard against a slow receiver.
            receiver.wait_for(lambda r: len(flat_spans(r.exports("traces"))) >= 2)
            receiver.wait("metrics")
        finally:
            otel_tokenomics.uninstrument()
            if not shut:
                tracer_provider.shutdown()
                meter_provider.shutdown()
        result = Exported(
            protocol=protocol,
            compression=compression,
            traces=receiver.exports("traces"),
            metrics=receiver.exports("metrics"),
            everything=receiver.exports(),
            rejected=list(receiver.rejected),
        )
    yield result


# -- transport ------------------------------------------------------------------------------


def test_paths_and_protocol(exported: Exported) -> None:
    assert exported.rejected == []
    assert exported.traces and exported.metrics
    assert {e.signal for e in exported.everything} == {"traces", "metrics"}
    for export in exported.everything:
        if exported.protocol == "grpc":
            assert export.protocol == "grpc"
            assert export.path == GRPC_METHODS[export.signal]
        else:
            assert export.protocol == "http"
            assert export.path == f"/v1/{export.signal}"
            assert export.headers["content-type"] == "application/x-protobuf"
            assert export.headers.get("content-encoding", "identity") == (exported.compression or "identity")
    assert {e.path for e in exported.traces} == (
        {GRPC_METHODS["traces"]} if exported.protocol == "grpc" else {"/v1/traces"}
    )
    assert {e.path for e in exported.metrics} == (
        {GRPC_METHODS["metrics"]} if exported.protocol == "grpc" else {"/v1/metrics"}
    )


def test_headers_from_environment_arrive(exported: Exported) -> None:
    for export in exported.everything:
        assert export.headers.get(HEADER) == HEADER_VALUE, (export.signal, export.headers)


def test_resource_service_name(exported: Exported) -> None:
    found = resources(exported.everything)
    assert found
    for resource in found:
        assert resource["service.name"] == SERVICE
        assert resource["telemetry.sdk.language"] == "python"


def test_api_key_never_exported(exported: Exported) -> None:
    for export in exported.everything:
        assert API_KEY not in export.text(), (export.signal, export.path)
        assert API_KEY.encode() not in export.body


# -- spans ----------------------------------------------------------------------------------


EXPECTED_SPAN_ATTRIBUTES = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": REQUEST_MODEL,
    "gen_ai.response.model": RESPONSE_MODEL,
    "gen_ai.usage.input_tokens": 2048,
    "gen_ai.usage.output_tokens": 612,
    "gen_ai.usage.cache_read.input_tokens": 1536,
    "gen_ai.usage.reasoning.output_tokens": 256,
    "tokenomics.usage.source": "provider",
    # o4-mini per million: $1.10 input, $0.275 cached, $4.40 output; 512 + 1536 in, 612 out.
    "tokenomics.cost.status": "priced",
    "tokenomics.cost.source": "catalog",
    "tokenomics.cost.currency": "USD",
    "tokenomics.pricing.model": "o4-mini",
    "tokenomics.cost.input": pytest.approx(0.0005632, rel=1e-12, abs=0),
    "tokenomics.cost.cache_read": pytest.approx(0.0004224, rel=1e-12, abs=0),
    "tokenomics.cost.cache_write": 0.0,
    "tokenomics.cost.output": pytest.approx(0.0026928, rel=1e-12, abs=0),
    "tokenomics.cost.total": pytest.approx(0.0036784, rel=1e-12, abs=0),
    "tokenomics.cost.cache_savings": pytest.approx(0.0012672, rel=1e-12, abs=0),
}
# What each of the two calls adds to the tokenomics.cost counter, by token class.
EXPECTED_COST_BY_CLASS = {"input": 0.0005632, "cache_read": 0.0004224, "output": 0.0026928}


def _inference_spans(exported: Exported) -> list[FlatSpan]:
    spans = [s for s in exported.spans if s.attributes.get("gen_ai.operation.name") == "chat"]
    assert len(spans) == 2, [(s.name, s.kind) for s in exported.spans]
    return sorted(spans, key=lambda s: s.start_time_unix_nano)


def test_two_client_spans(exported: Exported) -> None:
    spans = _inference_spans(exported)
    assert [s.name for s in spans] == [f"chat {REQUEST_MODEL}"] * 2
    assert [s.kind for s in spans] == ["CLIENT", "CLIENT"]
    assert [s.status for s in spans] == ["UNSET", "UNSET"]
    for span in spans:
        assert span.resource["service.name"] == SERVICE
        assert span.scope.startswith("otel_tokenomics"), span.scope


@pytest.mark.parametrize("which", ["plain", "stream"])
def test_span_attributes(exported: Exported, which: str) -> None:
    span = _inference_spans(exported)[0 if which == "plain" else 1]
    got = {key: span.attributes.get(key, "<missing>") for key in EXPECTED_SPAN_ATTRIBUTES}
    assert got == EXPECTED_SPAN_ATTRIBUTES
    # Usage counts must arrive as OTLP int_value, amounts as double_value, not as strings.
    for key in EXPECTED_SPAN_ATTRIBUTES:
        if key.startswith("gen_ai.usage."):
            assert type(span.attributes[key]) is int, (key, span.attributes[key])
        if key.startswith("tokenomics.cost.") and key not in (
            "tokenomics.cost.status",
            "tokenomics.cost.source",
            "tokenomics.cost.currency",
        ):
            assert type(span.attributes[key]) is float, (key, span.attributes[key])


def test_stream_span_time_to_first_chunk(exported: Exported) -> None:
    plain, stream = _inference_spans(exported)
    ttfc = stream.attributes.get("gen_ai.response.time_to_first_chunk")
    assert isinstance(ttfc, float), stream.attributes
    duration = (stream.end_time_unix_nano - stream.start_time_unix_nano) / 1e9
    assert 0 <= ttfc <= duration
    assert "gen_ai.response.time_to_first_chunk" not in plain.attributes


# -- metrics --------------------------------------------------------------------------------


def test_operation_duration_histogram(exported: Exported) -> None:
    points = exported.points.get("gen_ai.client.operation.duration")
    assert points, sorted(exported.points)
    assert {p.type for p in points} == {"histogram"}
    assert {p.unit for p in points} == {"s"}
    assert sum(p.count for p in points) == 2
    for point in points:
        assert point.explicit_bounds == DURATION_BOUNDS
        assert len(point.bucket_counts) == len(DURATION_BOUNDS) + 1
        assert sum(point.bucket_counts) == point.count
        assert point.attributes["gen_ai.operation.name"] == "chat"
        assert point.attributes["gen_ai.provider.name"] == "openai"
        assert point.attributes["gen_ai.request.model"] == REQUEST_MODEL
        assert point.resource["service.name"] == SERVICE


def test_token_usage_sums(exported: Exported) -> None:
    points = exported.points.get("gen_ai.client.token.usage")
    assert points, sorted(exported.points)
    assert {p.type for p in points} == {"histogram"}
    by_type: dict[str, list[FlatPoint]] = {}
    for point in points:
        by_type.setdefault(point.attributes.get("gen_ai.token.type"), []).append(point)
    assert set(by_type) == {"input", "output"}
    assert sum(p.sum for p in by_type["input"]) == 4096
    assert sum(p.count for p in by_type["input"]) == 2
    assert sum(p.sum for p in by_type["output"]) == 1224
    assert sum(p.count for p in by_type["output"]) == 2


def test_cost_counter(exported: Exported) -> None:
    points = exported.points.get("tokenomics.cost")
    assert points, sorted(exported.points)
    assert {p.type for p in points} == {"sum"}
    assert {p.unit for p in points} == {"USD"}
    assert {p.temporality for p in points} == {"CUMULATIVE"}
    by_class = {p.attributes["tokenomics.token.class"]: p for p in points}
    assert len(by_class) == len(points)
    assert {name: p.value for name, p in by_class.items()} == {
        name: pytest.approx(2 * amount, rel=1e-12, abs=0) for name, amount in EXPECTED_COST_BY_CLASS.items()
    }
    for name, point in by_class.items():
        assert point.attributes == {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": REQUEST_MODEL,
            "tokenomics.token.class": name,
            "tokenomics.cost.status": "priced",
        }
    assert "tokenomics.unpriced.calls" not in exported.points
