"""Exemplars: every metric point of a call links to the call's own trace and span.

The OpenTelemetry SDK takes exemplars from the context a measurement is made in
(by default only for sampled spans). A call ends in whatever context ends it: a
stream in the code that reads it, a plain call after its span stopped being
current. These tests prove the points link to the inference span (or the workflow
span) and never to whatever span happened to be current, in memory and over OTLP.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from openai_fakes import CHAT_USAGE, Server, chat_completion
from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

import otel_tokenomics
from otel_tokenomics import pricing

MESSAGES = [{"role": "user", "content": "Say hello."}]
# CHAT_USAGE: 2048 input tokens (1536 cached), 612 output. gpt-4o-mini per million:
# $0.15 input, $0.075 cached input, $0.60 output.
GPT_4O_MINI = {"input": 0.0000768, "cache_read": 0.0001152, "output": 0.0003672}
GPT_4O_MINI_TOTAL = 0.0005592
MODEL = "gpt-4o-mini-2024-07-18"


@pytest.fixture(autouse=True)
def fresh_pricing(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("OTEL_TOKENOMICS_PRICES", raising=False)
    monkeypatch.delenv("OTEL_TOKENOMICS_PRICING_FALLBACK", raising=False)
    monkeypatch.delenv("OTEL_METRICS_EXEMPLAR_FILTER", raising=False)
    pricing.reset()
    yield
    pricing.reset()


def ids(span: Any) -> tuple[int, int]:
    context = span.get_span_context()
    return context.trace_id, context.span_id


def exemplar_links(points: list[Any]) -> list[tuple[int, int, float]]:
    return sorted((e.trace_id, e.span_id, e.value) for point in points for e in point.exemplars)


def the_span(telemetry: Any, name: str) -> Any:
    found = [span for span in telemetry.spans() if span.name == name]
    assert len(found) == 1, [span.name for span in telemetry.spans()]
    return found[0]


def approx(value: float) -> Any:
    return pytest.approx(value, rel=1e-12, abs=0)


def test_plain_call_points_link_to_the_inference_span_not_its_parent(instrument: Any) -> None:
    telemetry = instrument(metric_names="both")
    server = Server()
    server.json("/chat/completions", chat_completion(model="gpt-4o-mini-2024-07-18"))
    tracer = telemetry.tracer_provider.get_tracer("app")
    with tracer.start_as_current_span("handle request"):
        server.client().chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

    call = the_span(telemetry, "chat gpt-4o-mini")
    trace_id, span_id = ids(call)
    assert call.parent is not None and call.parent.span_id != span_id
    metrics = telemetry.metrics()
    cost = exemplar_links(metrics["tokenomics.cost"])
    assert cost == [(trace_id, span_id, approx(value)) for value in sorted(GPT_4O_MINI.values())]
    assert sum(value for *_, value in cost) == approx(GPT_4O_MINI_TOTAL)
    for name, value in (
        ("gen_ai.client.operation.duration", None),
        ("gen_ai.client.inference.duration", None),
        ("gen_ai.client.inference.operation.input_tokens", 2048),
        ("gen_ai.client.inference.operation.output_tokens", 612),
        ("gen_ai.client.inference.usage.cache_read.input_tokens", 1536),
    ):
        links = exemplar_links(metrics[name])
        assert [(t, s) for t, s, _ in links] == [(trace_id, span_id)], name
        if value is not None:
            assert links[0][2] == value, name
    token_usage = exemplar_links(metrics["gen_ai.client.token.usage"])
    assert token_usage == sorted([(trace_id, span_id, 2048), (trace_id, span_id, 612)])


def test_stream_read_under_another_span_links_to_the_stream_call(instrument: Any) -> None:
    telemetry = instrument()
    server = Server()
    server.chat_stream(model="gpt-4o-mini-2024-07-18")
    tracer = telemetry.tracer_provider.get_tracer("app")
    stream = server.client().chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    with tracer.start_as_current_span("render reply") as reader:
        text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert text == "Hello there."

    call = the_span(telemetry, "chat gpt-4o-mini")
    assert call.context.trace_id != reader.get_span_context().trace_id
    trace_id, span_id = ids(call)
    metrics = telemetry.metrics()
    assert exemplar_links(metrics["tokenomics.cost"]) == [
        (trace_id, span_id, approx(value)) for value in sorted(GPT_4O_MINI.values())
    ]
    for name in (
        "gen_ai.client.operation.duration",
        "gen_ai.client.operation.time_to_first_chunk",
        "gen_ai.client.operation.time_per_output_chunk",
    ):
        assert [(t, s) for t, s, _ in exemplar_links(metrics[name])] == [(trace_id, span_id)], name


def test_unsampled_calls_are_counted_without_exemplars(telemetry: Any) -> None:
    provider = TracerProvider(sampler=ALWAYS_OFF)
    otel_tokenomics.instrument(tracer_provider=provider, meter_provider=telemetry.meter_provider)
    try:
        server = Server()
        server.json("/chat/completions", chat_completion(model="gpt-4o-mini-2024-07-18"))
        server.client().chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    finally:
        otel_tokenomics.uninstrument()
    points = telemetry.metrics()["tokenomics.cost"]
    assert sum(point.value for point in points) == approx(GPT_4O_MINI_TOTAL)
    assert exemplar_links(points) == []


def test_workflow_histograms_link_to_the_workflow_span(instrument: Any) -> None:
    telemetry = instrument()
    server = Server()
    server.json("/chat/completions", chat_completion(model="gpt-4o-mini-2024-07-18"))
    client = server.client()
    with otel_tokenomics.workflow("triage"):
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

    run = the_span(telemetry, "invoke_workflow triage")
    trace_id, span_id = ids(run)
    metrics = telemetry.metrics()
    assert exemplar_links(metrics["tokenomics.workflow.cost"]) == [
        (trace_id, span_id, approx(2 * GPT_4O_MINI_TOTAL))
    ]
    assert exemplar_links(metrics["tokenomics.workflow.llm_calls"]) == [(trace_id, span_id, 2)]


def test_budget_exceeded_point_links_to_the_call_that_crossed_the_limit(instrument: Any) -> None:
    telemetry = instrument()
    server = Server()
    server.json("/chat/completions", chat_completion(model="gpt-4o-mini-2024-07-18"))
    client = server.client()
    with otel_tokenomics.budget(usd="0.0008", name="demo"):
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

    first, second = sorted(telemetry.spans(), key=lambda span: span.start_time)
    assert [event.name for event in first.events] == []
    assert [event.name for event in second.events] == ["tokenomics.budget.exceeded"]
    trace_id, span_id = ids(second)
    assert exemplar_links(telemetry.metrics()["tokenomics.budget.exceeded"]) == [(trace_id, span_id, 1)]


def test_exemplars_arrive_over_otlp_with_the_span_ids() -> None:
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from otlp_receiver import HttpReceiver, flat_metrics

    with HttpReceiver() as receiver:
        spans = InMemorySpanExporter()
        tracer_provider = TracerProvider()
        tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
        reader = PeriodicExportingMetricReader(
            OTLPMetricExporter(endpoint=f"{receiver.endpoint}/v1/metrics"), export_interval_millis=3_600_000
        )
        meter_provider = MeterProvider(metric_readers=[reader])
        otel_tokenomics.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
        try:
            server = Server()
            server.json("/chat/completions", chat_completion(model=MODEL, usage=CHAT_USAGE))
            server.client().chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        finally:
            otel_tokenomics.uninstrument()
            meter_provider.shutdown()  # a final export
        receiver.wait("metrics")
        points = flat_metrics(receiver.exports("metrics"))

    (call,) = spans.get_finished_spans()
    trace_hex = trace.format_trace_id(call.context.trace_id)
    span_hex = trace.format_span_id(call.context.span_id)
    cost = sorted(e for point in points["tokenomics.cost"] for e in point.exemplars)
    assert cost == [(trace_hex, span_hex, approx(value)) for value in sorted(GPT_4O_MINI.values())]
    (duration,) = points["gen_ai.client.operation.duration"]
    assert [(t, s) for t, s, _ in duration.exemplars] == [(trace_hex, span_hex)]
