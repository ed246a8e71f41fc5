"""Per-call wall time and memory of an instrumented openai call while the export pipeline fails.

Cases, each in a fresh interpreter so that memory figures do not mix:

* ``baseline``: the uninstrumented call (reference);
* ``in-memory``: instrumented, spans to an exporter that keeps nothing (a healthy pipeline);
* ``otlp-http-down``: instrumented, the real OTLP/HTTP exporter pointed at a closed 127.0.0.1 port;
* ``otlp-grpc-down``: the same with the real OTLP/gRPC exporter;
* ``raising``: instrumented, a span exporter whose every export raises.

Every instrumented case runs the SDK's default ``BatchSpanProcessor`` (queue 2048, batches of
512 every 5 s) and an SDK MeterProvider; the OTLP cases export metrics to the same closed port
every second. The workload is ``benchmarks/workloads.py``'s openai call over a mock transport
(no network but the loopback attempts of the exporters). Reported: median and p99 of the
per-call wall time (each call timed alone), and the process RSS after the warm-up, half-way and after
all calls. The closed port is bound by the benchmark and never listened on, so connecting
to it is refused at once rather than timing out.

    python benchmarks/exporter_down.py            # 20,000 calls per case, ~5 minutes on 2 cores
    python benchmarks/exporter_down.py --quick    # 3,000 calls per case, ~2 minutes
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

CASES = ("baseline", "in-memory", "otlp-http-down", "otlp-grpc-down", "raising")
# More calls than the default queue (2048) and a batch (512) hold: the queue is full before
# measuring, so RSS growth past the warm-up is what grows with the number of calls.
WARM_UP = 3000


def rss_bytes() -> int:
    """The resident set size now (Linux /proc; elsewhere the peak, from getrusage)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024


def closed_port() -> tuple[socket.socket, int]:
    """A loopback port bound and never listened on: connections to it are refused."""
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    holder.bind(("127.0.0.1", 0))
    return holder, holder.getsockname()[1]


def pipeline(case: str, port: int) -> tuple[Any, Any, Any]:
    """(tracer provider, meter provider, span exporter) of one case."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader, PeriodicExportingMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    class Discarding(SpanExporter):
        def __init__(self) -> None:
            self.spans = 0

        def export(self, spans: Sequence[Any]) -> SpanExportResult:
            self.spans += len(spans)
            return SpanExportResult.SUCCESS

    class Raising(Discarding):
        def export(self, spans: Sequence[Any]) -> SpanExportResult:
            self.spans += len(spans)
            raise RuntimeError("broken exporter")

    reader: Any = InMemoryMetricReader()
    if case == "otlp-http-down":
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter: Any = OTLPSpanExporter(endpoint=f"http://127.0.0.1:{port}/v1/traces")
        reader = PeriodicExportingMetricReader(
            OTLPMetricExporter(endpoint=f"http://127.0.0.1:{port}/v1/metrics"), export_interval_millis=1000
        )
    elif case == "otlp-grpc-down":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcMetrics
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpans

        exporter = GrpcSpans(endpoint=f"127.0.0.1:{port}", insecure=True)
        reader = PeriodicExportingMetricReader(
            GrpcMetrics(endpoint=f"127.0.0.1:{port}", insecure=True), export_interval_millis=1000
        )
    elif case == "raising":
        exporter = Raising()
    else:
        exporter = Discarding()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(exporter))
    return tracer_provider, MeterProvider(metric_readers=[reader]), exporter


def run_case(case: str, calls: int) -> dict[str, Any]:
    """Time ``calls`` calls in this process; the figures as a dict."""
    import logging

    from benchmarks.workloads import OpenAIWorkload

    # The SDK logs every dropped span and failed export: its logging is not what is measured.
    logging.getLogger("opentelemetry").setLevel(logging.CRITICAL)
    holder, port = closed_port()
    workload = OpenAIWorkload()
    client = workload.client(workload.chat_body(), "application/json")
    tracer_provider = meter_provider = exporter = None
    if case != "baseline":
        import otel_tokenomics

        tracer_provider, meter_provider, exporter = pipeline(case, port)
        otel_tokenomics.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
    for _ in range(WARM_UP):
        workload.call(client)
    rss_warm = rss_bytes()
    timings = []
    clock = time.perf_counter_ns
    started = time.perf_counter()
    rss_mid = 0
    for number in range(calls):
        if number == calls // 2:
            rss_mid = rss_bytes()
        before = clock()
        response = workload.call(client)
        timings.append(clock() - before)
        if response.usage.prompt_tokens != workload.prompt_tokens:
            raise AssertionError("the call returned something else")
    elapsed = time.perf_counter() - started
    rss_end = rss_bytes()
    timings.sort()
    exported = getattr(exporter, "spans", None)
    result = {
        "case": case,
        "calls": calls,
        "median_us": statistics.median(timings) / 1000,
        "p99_us": timings[int(len(timings) * 0.99) - 1] / 1000,
        "mean_us": elapsed / calls * 1e6,
        "rss_warm_mb": rss_warm / 2**20,
        "rss_mid_mb": rss_mid / 2**20,
        "rss_end_mb": rss_end / 2**20,
        "handed_to_exporter": exported,
    }
    if tracer_provider is not None:
        # Shutting down a pipeline whose endpoint is down waits for its export timeouts: not timed.
        tracer_provider.shutdown()
        meter_provider.shutdown(timeout_millis=1000)
    holder.close()
    return result


def table(results: list[dict[str, Any]]) -> str:
    base = next((r for r in results if r["case"] == "baseline"), None)
    lines = [
        f"{'case':<16} {'calls':>7} {'median us':>10} {'p99 us':>9} {'vs base':>8} "
        f"{'RSS warm MB':>12} {'RSS mid MB':>11} {'RSS end MB':>11} {'growth MB':>10}",
    ]
    for r in results:
        extra = f"{r['median_us'] - base['median_us']:+8.0f}" if base is not None else f"{'':>8}"
        lines.append(
            f"{r['case']:<16} {r['calls']:>7} {r['median_us']:>10.0f} {r['p99_us']:>9.0f} {extra} "
            f"{r['rss_warm_mb']:>12.1f} {r['rss_mid_mb']:>11.1f} {r['rss_end_mb']:>11.1f} "
            f"{r['rss_end_mb'] - r['rss_warm_mb']:>10.1f}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3,000 calls per case")
    parser.add_argument("--calls", type=int, default=None, help="calls per case (default 20,000)")
    parser.add_argument("--case", choices=CASES, help=argparse.SUPPRESS)  # one case, in a child process
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    calls = args.calls or (3000 if args.quick else 20000)
    if args.case:
        print(json.dumps(run_case(args.case, calls)))
        return
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    results = []
    for case in CASES:
        out = subprocess.run(
            [sys.executable, __file__, "--case", case, "--calls", str(calls)],
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT,
            check=True,
            timeout=600,
        )
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(f"  {case}: done", file=sys.stderr)
    import platform

    print(
        f"python {platform.python_version()}, {os.cpu_count()} CPUs, {calls} calls per case after {WARM_UP}"
    )
    print(table(results))
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
