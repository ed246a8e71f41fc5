"""An export pipeline that fails: real OTLP exporters at a closed port, and an exporter that raises.

The application's calls go on as if nothing were wrong: every one returns the SDK's
answer, our spans are still made (and handed to the exporter), and memory stays bounded
however many calls go by, because the only buffer in the way is the BatchSpanProcessor's
fixed-size queue. No timing is asserted here (``benchmarks/exporter_down.py`` measures it).

A down OTLP/HTTP endpoint does make RSS climb for a while (``benchmarks/exporter_down.py --floor``
shows the same without us): each failed export's exception keeps the serialized batch alive in a
reference cycle that only a full garbage collection frees. Our calls must add no such cycle of
their own, so that all they allocate is freed as soon as the call and its span are done.
"""

from __future__ import annotations

import collections
import gc
import logging
import socket
import threading
import tracemalloc
import types
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import openai
import pytest
from openai_fakes import Server, chat_completion
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcMetricExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

import otel_tokenomics

MESSAGES = [{"role": "user", "content": "Say hello."}]
CALLS = 1200  # a few times the queue: a pipeline that kept every span would show it
WARM_UP = 300  # fills the queue and every cache before memory is measured
TRACED = 300  # the last calls, made under tracemalloc
# A small queue: whatever it holds when memory is read (full or empty, as the exporter thread
# goes) is at most (QUEUE + BATCH) spans of ~4 KB, well inside the bound below.
QUEUE, BATCH = 16, 8
# Our span takes about 4 KB: keeping each call's span would grow by 1.2 MB over TRACED calls
# (measured with an in-memory exporter); a bounded pipeline grows by about 50 KB.
GROWTH_BOUND = 256 * 1024
EXPORT_TIMEOUT = 0.5  # seconds per export attempt, so that shutdown is quick too


class SimulatedExporterBug(RuntimeError):
    pass


class RaisingExporter(SpanExporter):
    """A span exporter with a bug: every export raises."""

    def __init__(self) -> None:
        self.batches = 0
        self.spans = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.batches += 1
        self.spans += len(spans)
        raise SimulatedExporterBug("exporter is broken")

    def shutdown(self) -> None:
        pass


def _counting(exporter_class: type) -> type:
    """The real OTLP exporter, also counting what it was asked to export and what it answered."""

    class Counting(exporter_class):  # type: ignore[misc, valid-type]
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.spans = 0
            self.results: list[Any] = []
            self._count_lock = threading.Lock()

        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            result = super().export(spans)
            with self._count_lock:
                self.spans += len(spans)
                self.results.append(result)
            return result

    return Counting


class CheckingProcessor(SpanProcessor):
    """Checks each of our spans as it ends and keeps nothing: memory is the pipeline's own."""

    def __init__(self) -> None:
        self.good = 0
        self.bad: list[dict[str, Any]] = []

    def on_end(self, span: ReadableSpan) -> None:
        attributes = span.attributes or {}
        if (
            attributes.get("gen_ai.usage.input_tokens") == 2048
            and attributes.get("gen_ai.usage.output_tokens") == 612
            and attributes.get("tokenomics.cost.status") == "priced"
        ):
            self.good += 1
        elif len(self.bad) < 5:
            self.bad.append(dict(attributes))


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port bound by us and never listened on: every connection is refused."""
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    holder.bind(("127.0.0.1", 0))
    try:
        yield holder.getsockname()[1]
    finally:
        holder.close()


def _exporters(port: int) -> dict[str, Callable[[], tuple[SpanExporter, Any]]]:
    """kind -> a span exporter and a metric exporter (None: no metric export in that case)."""
    return {
        "otlp-http": lambda: (
            _counting(HttpSpanExporter)(
                endpoint=f"http://127.0.0.1:{port}/v1/traces", timeout=EXPORT_TIMEOUT
            ),
            HttpMetricExporter(endpoint=f"http://127.0.0.1:{port}/v1/metrics", timeout=EXPORT_TIMEOUT),
        ),
        "otlp-grpc": lambda: (
            _counting(GrpcSpanExporter)(endpoint=f"127.0.0.1:{port}", insecure=True, timeout=EXPORT_TIMEOUT),
            GrpcMetricExporter(endpoint=f"127.0.0.1:{port}", insecure=True, timeout=EXPORT_TIMEOUT),
        ),
        "raising": lambda: (RaisingExporter(), None),
    }


@pytest.mark.parametrize("kind", ["otlp-http", "otlp-grpc", "raising"])
def test_calls_go_on_with_a_failing_exporter_and_memory_stays_bounded(
    closed_port: int, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    exporter, metric_exporter = _exporters(closed_port)[kind]()
    checker = CheckingProcessor()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(checker)
    tracer_provider.add_span_processor(
        BatchSpanProcessor(
            exporter, max_queue_size=QUEUE, max_export_batch_size=BATCH, schedule_delay_millis=50
        )
    )
    readers = []
    if metric_exporter is not None:
        readers.append(PeriodicExportingMetricReader(metric_exporter, export_interval_millis=100))
    meter_provider = MeterProvider(metric_readers=readers)
    server = Server()
    server.json("/chat/completions", chat_completion())
    server.requests = collections.deque(maxlen=1)  # type: ignore[assignment]  # keep no history
    client = server.client()
    # The SDK warns once per span dropped from the full queue: quiet them, not ours.
    caplog.set_level(logging.CRITICAL, logger="opentelemetry")
    caplog.set_level(logging.WARNING, logger="otel_tokenomics")
    otel_tokenomics.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
    answers: collections.Counter[tuple[int, int, str]] = collections.Counter()

    def calls(count: int) -> None:
        for _ in range(count):
            answer = client.chat.completions.create(model="o4-mini", messages=MESSAGES)
            answers[
                answer.usage.prompt_tokens, answer.usage.completion_tokens, answer.choices[0].message.content
            ] += 1

    try:
        calls(WARM_UP)
        calls(CALLS - WARM_UP - TRACED)
        # tracemalloc slows every allocation down: only the last calls are traced. Whatever they
        # leave behind is what each call would keep forever.
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            calls(TRACED)
            gc.collect()
            growth = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
        # This pipeline's spans only: earlier tests' spans may be kept alive by their reports.
        resource = tracer_provider.resource
        live_spans = sum(isinstance(o, ReadableSpan) and o.resource is resource for o in gc.get_objects())
    finally:
        otel_tokenomics.uninstrument()
        tracer_provider.shutdown()
        meter_provider.shutdown(timeout_millis=2000)

    # Every call returned the SDK's own answer.
    assert answers == {(2048, 612, "Hello there."): CALLS}
    # Every call made its span, with its usage and cost.
    assert checker.bad == []
    assert checker.good == CALLS
    # The exporter was tried, and failed each time; nothing of ours complained.
    assert exporter.spans > 0
    if isinstance(exporter, RaisingExporter):
        assert exporter.batches > 0
    else:
        assert set(exporter.results) == {SpanExportResult.FAILURE}
    assert [r.getMessage() for r in caplog.records if r.name == "otel_tokenomics"] == []
    # The spans still alive are those in the queue and the batch being exported, not the calls made.
    assert live_spans <= QUEUE + BATCH, live_spans
    assert growth < GROWTH_BOUND, f"{growth} bytes more after {TRACED} more calls"


class OutcomeProcessor(SpanProcessor):
    """Counts ended spans by (input tokens, output tokens, error type) and keeps nothing."""

    def __init__(self) -> None:
        self.outcomes: collections.Counter[tuple[Any, Any, Any]] = collections.Counter()

    def on_end(self, span: ReadableSpan) -> None:
        attributes = span.attributes or {}
        self.outcomes[
            attributes.get("gen_ai.usage.input_tokens"),
            attributes.get("gen_ai.usage.output_tokens"),
            attributes.get("error.type"),
        ] += 1


def _cyclic_garbage(calls: Callable[[], None]) -> list[Any]:
    """The objects that only the cycle collector could free, of all ``calls`` made."""
    gc.collect()
    gc.garbage.clear()
    # SAVEALL keeps what the collector finds unreachable in gc.garbage instead of freeing it.
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        calls()
        gc.collect()
        return list(gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()


# Whose objects are counted: other tests' exporter threads may still be making their own cycles.
_CALL_PACKAGES = ("otel_tokenomics", "openai", "httpx", "httpx2", "opentelemetry", "pydantic")


def _of_the_call(thing: Any) -> bool:
    if isinstance(thing, types.FrameType):  # kept by an exception's traceback
        filename = thing.f_code.co_filename
        return filename == __file__ or any(f"/{package}/" in filename for package in _CALL_PACKAGES)
    module = thing.__module__ if isinstance(thing, types.FunctionType) else type(thing).__module__
    return isinstance(module, str) and module.split(".")[0] in _CALL_PACKAGES


def test_our_calls_leave_no_reference_cycles(caplog: pytest.LogCaptureFixture) -> None:
    server = Server()
    server.json("/chat/completions", chat_completion())
    server.chat_stream(path="/stream/chat/completions")
    server.json("/down/chat/completions", {"error": {"message": "overloaded", "type": "server_error"}}, 503)
    server.requests = collections.deque(maxlen=1)  # type: ignore[assignment]  # keep no history
    client = server.client()
    streaming = server.client(base_url="http://mock.test/stream")
    failing = server.client(base_url="http://mock.test/down")
    failures: collections.Counter[str] = collections.Counter()

    def calls(count: int) -> None:
        for _ in range(count):
            client.chat.completions.create(model="o4-mini", messages=MESSAGES)
            stream = streaming.chat.completions.create(
                model="o4-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
            )
            for _chunk in stream:
                pass
            try:
                failing.chat.completions.create(model="o4-mini", messages=MESSAGES)
            except openai.InternalServerError as error:
                failures[type(error).__name__] += 1

    checker = OutcomeProcessor()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(checker)
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    caplog.set_level(logging.WARNING, logger="otel_tokenomics")
    calls(5)  # the SDK's own first-call caches, uninstrumented
    bare = _cyclic_garbage(lambda: calls(50))
    otel_tokenomics.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
    try:
        calls(5)  # our first-call caches (pricing, instruments)
        ours = _cyclic_garbage(lambda: calls(100))
    finally:
        otel_tokenomics.uninstrument()
        tracer_provider.shutdown()
        meter_provider.shutdown()

    # The calls were made as asked (160 of each kind), and our 105 of each kind made their spans.
    assert failures == {"InternalServerError": 160}
    assert checker.outcomes == {
        (2048, 612, None): 210,
        (None, None, "InternalServerError"): 105,
    }
    assert [r.getMessage() for r in caplog.records if r.name == "otel_tokenomics"] == []
    # Neither the SDK's calls nor ours leave anything for the cycle collector.
    assert [type(o).__name__ for o in bare if _of_the_call(o)] == []
    assert [type(o).__name__ for o in ours if _of_the_call(o)] == []
