"""Metric attribute sets are built once per series and stay bounded."""

from __future__ import annotations

from opentelemetry.metrics import NoOpMeterProvider

from otel_tokenomics import metrics as metrics_module
from otel_tokenomics.call import Route
from otel_tokenomics.config import Options
from otel_tokenomics.telemetry import Telemetry
from otel_tokenomics.usage import Usage


def _call(telemetry: Telemetry, model: str):
    route = Route("chat", lambda body, attributes: None, lambda call, response: None)
    call = telemetry.start_call(route, "openai", model, "api.openai.com", 443, False, {"model": model})
    call.usage = Usage(10, 5)
    return call


def test_series_cache_is_bounded(monkeypatch) -> None:
    monkeypatch.setattr(metrics_module, "_MAX_CACHED_SERIES", 8)
    telemetry = Telemetry(Options(), meter_provider=NoOpMeterProvider())
    for index in range(50):
        _call(telemetry, f"model-{index}").end()
        assert len(telemetry.metrics._cache) <= 8


def test_error_and_success_series_differ_and_stay_unchanged(telemetry) -> None:
    own = Telemetry(
        Options(), tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider
    )
    _call(own, "m").end()
    _call(own, "m").end(error=TimeoutError("slow"))
    _call(own, "m").end()
    points = telemetry.metrics()["gen_ai.client.operation.duration"]
    by_error = {p.attributes.get("error.type"): p.count for p in points}
    assert by_error == {None: 2, "TimeoutError": 1}
    usage = {
        p.attributes["gen_ai.token.type"]: p.sum for p in telemetry.metrics()["gen_ai.client.token.usage"]
    }
    assert usage == {"input": 30, "output": 15}
