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


def test_meter_provider_set_after_instrument_receives_metrics() -> None:
    """Instruments from the global proxy start recording once a real provider is set."""
    import pathlib
    import subprocess
    import sys
    import textwrap

    root = pathlib.Path(__file__).resolve().parents[1]
    code = textwrap.dedent(
        """
        import sys
        sys.path[:0] = ["tests", "."]
        import otel_tokenomics
        from opentelemetry import metrics
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        from openai_fakes import Server, chat_completion

        otel_tokenomics.instrument()
        server = Server()
        server.json("/chat/completions", chat_completion())
        client = server.client()
        messages = [{"role": "user", "content": "x"}]
        client.chat.completions.create(model="m", messages=messages)  # nothing listens yet
        reader = InMemoryMetricReader()
        metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
        client.chat.completions.create(model="m", messages=messages)
        data = reader.get_metrics_data()
        points = [
            p
            for rm in data.resource_metrics
            for sm in rm.scope_metrics
            for m in sm.metrics
            if m.name == "gen_ai.client.operation.duration"
            for p in m.data.data_points
        ]
        print("COUNT", sum(p.count for p in points))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=60
    )
    assert "COUNT 1" in result.stdout, result.stderr
