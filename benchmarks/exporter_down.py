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
per-call wall time (each call timed alone), the process RSS after the warm-up and at evenly spaced
checkpoints, the slope of RSS over the last half of the calls (KB per 1,000 calls, least squares)
and whether it plateaus (slope at most 10 KB per 1,000 calls, i.e. 1 MB per 100,000 calls), and the
number of full (generation 2) garbage collections during the calls. The closed port is bound by
the benchmark and never listened on, so connecting to it is refused at once rather than timing out.

``--floor`` runs the same pipelines without otel_tokenomics (never imported): each call is wrapped
in one hand-made span with the same request and response attributes as ours, and four metric
records. It tells the growth of the SDK's exporters from ours. ``--collect-every N`` runs a full
``gc.collect()`` every N calls, outside the timed calls: memory that it keeps flat is cyclic
garbage waiting for a full collection, not memory that anything still holds.

    python benchmarks/exporter_down.py            # 20,000 calls per case, ~5 minutes on 2 cores
    python benchmarks/exporter_down.py --quick    # 3,000 calls per case, ~2 minutes
    python benchmarks/exporter_down.py --cases otlp-http-down --calls 100000 --floor
"""

from __future__ import annotations

import argparse
import array
import gc
import itertools
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
# Memory "plateaus" when the last half's slope is at most this: 1 MB per 100,000 calls.
PLATEAU_KB_PER_1K = 10.0
# RSS moves by 4 KB pages: a rise over the last half this small is not a slope (short runs).
PAGE_NOISE_KB = 64.0
# Garbage freed only by full collections makes RSS a sawtooth, whose slope over a few checkpoints
# is noise: a sawtooth (RSS fell by this much at least once) also plateaus when its last half
# peaks no higher than its first, give or take this much.
PEAK_MARGIN_MB = 1.0


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


def floor_caller(workload: Any, client: Any, tracer_provider: Any, meter_provider: Any) -> Any:
    """The call inside one hand-made span and four metric records: the same pipeline work, not ours."""
    from opentelemetry import context, trace

    tracer = tracer_provider.get_tracer("exporter-down-floor")
    meter = meter_provider.get_meter("exporter-down-floor")
    tokens = meter.create_histogram("gen_ai.client.token.usage", unit="{token}")
    duration = meter.create_histogram("gen_ai.client.operation.duration", unit="s")
    cost = meter.create_counter("tokenomics.cost", unit="USD")
    kind = trace.SpanKind.CLIENT
    name = f"chat {workload.model}"

    def call() -> Any:
        started = time.perf_counter()
        span = tracer.start_span(name, kind=kind, attributes=workload.request_attributes(False))
        token = context.attach(trace.set_span_in_context(span))
        try:
            response = workload.call(client)
        finally:
            context.detach(token)
        attributes = workload.response_attributes(response)
        span.set_attributes(attributes)
        series = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai"}
        series["gen_ai.request.model"] = workload.model
        series["gen_ai.response.model"] = response.model
        tokens.record(response.usage.prompt_tokens, {**series, "gen_ai.token.type": "input"})
        tokens.record(response.usage.completion_tokens, {**series, "gen_ai.token.type": "output"})
        duration.record(time.perf_counter() - started, series)
        cost.add(attributes["tokenomics.cost.total"], series)
        span.end()
        return response

    return call


def slope_kb_per_1k(points: list[tuple[int, int]]) -> float:
    """Least-squares slope of (call number, RSS bytes) points, in KB per 1,000 calls."""
    xs = [float(x) for x, _ in points]
    ys = [float(y) for _, y in points]
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    if spread == 0:
        return 0.0
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / spread * 1000 / 1024


def plateaus(slope: float, calls: int, rss_points: list[tuple[int, int]]) -> bool:
    """Whether RSS stopped growing: a flat last half, or a sawtooth whose peaks do not rise."""
    if slope <= PLATEAU_KB_PER_1K or slope * (calls / 2) / 1000 <= PAGE_NOISE_KB:
        return True
    margin = PEAK_MARGIN_MB * 2**20
    readings = [rss for _, rss in rss_points]
    if not any(later < earlier - margin for earlier, later in itertools.pairwise(readings)):
        return False
    first = max(rss for number, rss in rss_points if number <= calls // 2)
    last = max(rss for number, rss in rss_points if number >= calls // 2)
    return last <= first + margin


def full_collections() -> int:
    return gc.get_stats()[2]["collections"]


def run_case(
    case: str, calls: int, floor: bool = False, checkpoints: int = 8, collect_every: int = 0
) -> dict[str, Any]:
    """Time ``calls`` calls in this process; the figures as a dict."""
    import logging

    from benchmarks.workloads import OpenAIWorkload

    # The SDK logs every dropped span and failed export: its logging is not what is measured.
    logging.getLogger("opentelemetry").setLevel(logging.CRITICAL)
    holder, port = closed_port()
    workload = OpenAIWorkload()
    client = workload.client(workload.chat_body(), "application/json")
    tracer_provider = meter_provider = exporter = None

    def call() -> Any:
        return workload.call(client)

    if case != "baseline":
        tracer_provider, meter_provider, exporter = pipeline(case, port)
        if floor:
            call = floor_caller(workload, client, tracer_provider, meter_provider)
        else:
            import otel_tokenomics

            otel_tokenomics.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
    for _ in range(WARM_UP):
        call()
    rss_warm = rss_bytes()
    marks = {calls * k // checkpoints for k in range(1, checkpoints + 1)}
    rss_points: list[tuple[int, int]] = [(0, rss_warm)]
    # Raw 64-bit slots, allocated up front: a list would add an int object and a slot per call
    # (about 0.9 MB over 30,000 calls), growth of the benchmark's own.
    timings = array.array("q", bytes(8 * calls))
    clock = time.perf_counter_ns
    collections_before = full_collections()
    started = time.perf_counter()
    for number in range(calls):
        before = clock()
        response = call()
        timings[number] = clock() - before
        if response.usage.prompt_tokens != workload.prompt_tokens:
            raise AssertionError("the call returned something else")
        if collect_every and (number + 1) % collect_every == 0:
            gc.collect()
        if number + 1 in marks:
            rss_points.append((number + 1, rss_bytes()))
    elapsed = time.perf_counter() - started
    collections = full_collections() - collections_before
    rss_end = rss_points[-1][1]
    last_half = [point for point in rss_points if point[0] >= calls // 2]
    slope = slope_kb_per_1k(last_half)
    timings = array.array("q", sorted(timings))
    exported = getattr(exporter, "spans", None)
    result = {
        "case": case,
        "calls": calls,
        "median_us": statistics.median(timings) / 1000,
        "p99_us": timings[int(len(timings) * 0.99) - 1] / 1000,
        "mean_us": elapsed / calls * 1e6,
        "rss_warm_mb": rss_warm / 2**20,
        "rss_end_mb": rss_end / 2**20,
        "rss_peak_mb": max(rss for _, rss in rss_points) / 2**20,
        # A sawtooth (garbage freed by full collections) has a falling slope and a steady peak.
        "rss_peak_first_half_mb": max(rss for n, rss in rss_points if n <= calls // 2) / 2**20,
        "rss_peak_last_half_mb": max(rss for _, rss in last_half) / 2**20,
        "rss_checkpoints_mb": [[number, rss / 2**20] for number, rss in rss_points],
        "slope_kb_per_1k_calls": slope,
        "plateaus": plateaus(slope, calls, rss_points),
        "full_gc_collections": collections,
        "floor": floor and case != "baseline",
        "collect_every": collect_every,
        "otel_tokenomics_imported": "otel_tokenomics" in sys.modules,
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
        f"{'case':<22} {'calls':>7} {'median us':>10} {'p99 us':>9} {'vs base':>8} "
        f"{'RSS warm MB':>12} {'RSS end MB':>11} {'growth MB':>10} {'peak 1st/2nd half':>18} "
        f"{'KB/1k last half':>16} {'plateau':>8} {'full GCs':>9}",
    ]
    for r in results:
        extra = f"{r['median_us'] - base['median_us']:+8.0f}" if base is not None else f"{'':>8}"
        name = r["case"] + (" (floor)" if r.get("floor") else "")
        lines.append(
            f"{name:<22} {r['calls']:>7} {r['median_us']:>10.0f} {r['p99_us']:>9.0f} {extra} "
            f"{r['rss_warm_mb']:>12.1f} {r['rss_end_mb']:>11.1f} "
            f"{r['rss_end_mb'] - r['rss_warm_mb']:>10.1f} "
            f"{r['rss_peak_first_half_mb']:>10.1f}/{r['rss_peak_last_half_mb']:<7.1f} "
            f"{r['slope_kb_per_1k_calls']:>16.1f} "
            f"{'yes' if r['plateaus'] else 'NO':>8} {r['full_gc_collections']:>9}"
        )
    lines.append("RSS at the checkpoints (MB, calls after the warm-up):")
    for r in results:
        name = r["case"] + (" (floor)" if r.get("floor") else "")
        points = " ".join(f"{number / 1000:g}k:{rss:.1f}" for number, rss in r["rss_checkpoints_mb"])
        lines.append(f"  {name:<22} {points}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3,000 calls per case")
    parser.add_argument("--calls", type=int, default=None, help="calls per case (default 20,000)")
    parser.add_argument(
        "--cases", default=",".join(CASES), help=f"comma-separated, from {', '.join(CASES)} (default: all)"
    )
    parser.add_argument(
        "--floor", action="store_true", help="a hand-made span per call instead of otel_tokenomics"
    )
    parser.add_argument("--checkpoints", type=int, default=8, help="RSS readings over the calls (default 8)")
    parser.add_argument(
        "--collect-every", type=int, default=0, metavar="N", help="a full gc.collect() every N calls"
    )
    parser.add_argument("--case", choices=CASES, help=argparse.SUPPRESS)  # one case, in a child process
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    calls = args.calls or (3000 if args.quick else 20000)
    options = (args.floor, max(args.checkpoints, 2), args.collect_every)
    if args.case:
        print(json.dumps(run_case(args.case, calls, *options)))
        return
    cases = [case.strip() for case in args.cases.split(",") if case.strip()]
    unknown = sorted(set(cases) - set(CASES))
    if unknown:
        parser.error(f"unknown cases: {', '.join(unknown)}")
    extra = ["--checkpoints", str(options[1]), "--collect-every", str(args.collect_every)]
    if args.floor:
        extra.append("--floor")
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    results = []
    for case in cases:
        out = subprocess.run(
            [sys.executable, __file__, "--case", case, "--calls", str(calls), *extra],
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT,
            check=True,
            timeout=max(600, calls // 20),
        )
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(f"  {case}: done", file=sys.stderr)
    import platform

    print(
        f"python {platform.python_version()}, {os.cpu_count()} CPUs, {calls} calls per case after {WARM_UP}"
        + (", floor (no otel_tokenomics)" if args.floor else "")
        + (f", gc.collect() every {args.collect_every} calls" if args.collect_every else "")
    )
    print(table(results))
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
