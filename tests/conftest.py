"""Shared fixtures: an SDK tracer/meter pipeline in memory, and instrumentation around each test."""

from __future__ import annotations

import gc
import os
import pathlib
from collections.abc import Iterator
from typing import Any

import pytest

_CACHE = pathlib.Path(__file__).resolve().parents[1].parent / "shared" / "tiktoken-cache"
if "TIKTOKEN_CACHE_DIR" not in os.environ and _CACHE.is_dir():
    os.environ["TIKTOKEN_CACHE_DIR"] = str(_CACHE)
# litellm fetches its price map from GitHub at import unless told to use its bundled copy.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from opentelemetry.sdk.metrics import MeterProvider  # noqa: E402
from opentelemetry.sdk.metrics.export import InMemoryMetricReader  # noqa: E402
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def _tiktoken_encodings() -> None:
    """Both encodings loaded once for the session, as they would be after a warm-up.

    Estimates made before an encoding is loaded are heuristic by design; the tests of
    that case unload one on purpose.
    """
    from otel_tokenomics.estimation import tokenizers

    assert tokenizers.wait_for(timeout=60), tokenizers.status()


def pytest_collection_finish(session: pytest.Session) -> None:
    # The SDKs the test modules imported (litellm, langchain, ...) make a heap that
    # every gc.collect() of the fixtures would walk again (0.6 s each with litellm):
    # what exists after collection lives for the session, so the collector skips it.
    gc.collect()
    gc.freeze()


class Telemetry:
    """What the tests read back: finished spans and collected metric points."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def span(self) -> ReadableSpan:
        spans = self.spans()
        assert len(spans) == 1, [s.name for s in spans]
        return spans[0]

    def metrics(self) -> dict[str, list[Any]]:
        """metric name -> data points (cumulative since the start of the test)."""
        data = self.reader.get_metrics_data()
        points: dict[str, list[Any]] = {}
        if data is None:
            return points
        for resource_metrics in data.resource_metrics:
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    points.setdefault(metric.name, []).extend(metric.data.data_points)
        return points


@pytest.fixture
def telemetry() -> Telemetry:
    return Telemetry()


@pytest.fixture
def instrument(telemetry: Telemetry) -> Iterator[Any]:
    """Instrument with the test's pipeline; options go through ``instrument(**options)``."""
    import otel_tokenomics

    done = []

    def _instrument(**options: Any) -> Telemetry:
        otel_tokenomics.instrument(
            tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider, **options
        )
        done.append(True)
        return telemetry

    yield _instrument
    gc.collect()
    otel_tokenomics.uninstrument()
