"""Per-call overhead of otel-tokenomics on a real SDK (``--sdk openai|anthropic``), against a hand-made span.

One process, one mock workload, one tracer pipeline. Cases:

* ``baseline``: the uninstrumented SDK call;
* ``floor``: the same call inside one hand-made span (7 request attributes, context
  attach/detach around the call, 8 response attributes incl. a cost, ``end()``); for
  streams, plus a generator that watches id, finish_reason and usage;
* ``ours``: the same call with ``otel_tokenomics.instrument()``, once with no
  MeterProvider (API no-ops) and once with an SDK MeterProvider + InMemoryMetricReader.

Workloads (``benchmarks/workloads.py``): openai ``chat.completions.create(model="o4-mini",
2 messages, temperature, max_completion_tokens)``, or anthropic ``messages.create(
model="claude-sonnet-4-5", ...)``, answered by a fixed pre-encoded JSON body, and the
same call streamed (SSE; openai with ``include_usage``) at 10 and 200 chunks. Per-chunk overhead is
``((ours_200 - ours_10) - (base_200 - base_10)) / 190``.

Modes: wall clock (default; interleaved rounds, medians) or ``--callgrind``
(instructions per call under ``valgrind --tool=callgrind``; deterministic). See
``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import gc
import glob
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# -- targets ----------------------------------------------------------------------------------

TARGET_RATIO = 1.3  # (ours - baseline) / (floor - baseline), non-streaming
TARGET_CHUNK_NS = 1000.0  # per-chunk overhead, wall clock
# ~7.6 instructions per ns on the reference box (FIELD-NOTES 7.2): 1 us ~ 7,600 instructions.
INSTR_PER_NS = 7.6
TARGET_CHUNK_INSTR = TARGET_CHUNK_NS * INSTR_PER_NS

from benchmarks.workloads import LARGE, SMALL, WORKLOAD_TYPES  # noqa: E402


def block_network() -> None:
    """The benchmark never needs a socket: make any attempt fail loudly."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("overhead benchmark: network access attempted")

    socket.socket.connect = refuse  # type: ignore[method-assign]
    socket.socket.connect_ex = refuse  # type: ignore[method-assign]
    socket.create_connection = refuse
    socket.getaddrinfo = refuse


# -- the tracer pipeline and the floor ----------------------------------------------------------


class Bench:
    """The SDK clients, the tracer pipeline and every case's callable."""

    def __init__(self, sdk: str = "openai") -> None:
        from opentelemetry import context, trace
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

        class CountingExporter(SpanExporter):
            def __init__(self) -> None:
                self.count = 0
                self.last: Any = None

            def export(self, spans: Any) -> Any:
                self.count += len(spans)
                if spans:
                    self.last = spans[-1]
                return SpanExportResult.SUCCESS

            def shutdown(self) -> None:
                pass

        self.exporter = CountingExporter()
        self.tracer_provider = TracerProvider(
            resource=Resource.create({"service.name": "otel-tokenomics-bench"})
        )
        self.tracer_provider.add_span_processor(BatchSpanProcessor(self.exporter, max_queue_size=16384))
        self.metric_reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.metric_reader])
        self.tracer = self.tracer_provider.get_tracer("overhead-floor")
        self.spans_expected = 0
        self.mode: str | None = None

        self.sdk = workload = WORKLOAD_TYPES[sdk]()
        self.chat_client = workload.client(workload.chat_body(), "application/json")
        self.stream_clients = {
            n: workload.client(workload.sse_body(n), "text/event-stream") for n in (SMALL, LARGE)
        }
        self._trace = trace
        self._context = context
        self._client_kind = trace.SpanKind.CLIENT
        if os.environ.get(PARENT_ENV):
            # --parent: every case runs under one open span, like calls under a request or an
            # agent run; ours then also rewrites that span's roll-up after each call.
            parent = self.tracer_provider.get_tracer("overhead-parent").start_span("request")
            context.attach(trace.set_span_in_context(parent))

    # -- instrumentation state ----------------------------------------------------------

    def set_mode(self, mode: str | None) -> None:
        """None: uninstrumented; "api": instrument() without MeterProvider; "sdk": with one."""
        if mode == self.mode:
            return
        import otel_tokenomics

        if self.mode is not None:
            otel_tokenomics.uninstrument()
        if mode is not None:
            meter_provider = self.meter_provider if mode == "sdk" else None
            active = otel_tokenomics.instrument(
                tracer_provider=self.tracer_provider, meter_provider=meter_provider
            )
            wanted = self.sdk.instrumentor
            if wanted not in active:
                raise SystemExit(f"otel_tokenomics.instrument() did not activate {wanted} (active: {active})")
        self.mode = mode

    def flush(self) -> None:
        self.tracer_provider.force_flush()

    # -- the calls ------------------------------------------------------------------------

    def call(self) -> Any:
        return self.sdk.call(self.chat_client)

    def _open_stream(self, chunks: int) -> Any:
        return self.sdk.open_stream(self.stream_clients[chunks])

    def stream(self, chunks: int) -> int:
        seen = 0
        for _chunk in self._open_stream(chunks):
            seen += 1
        return seen

    def floor_call(self) -> Any:
        workload = self.sdk
        span = self.tracer.start_span(
            f"chat {workload.model}", kind=self._client_kind, attributes=workload.request_attributes(False)
        )
        token = self._context.attach(self._trace.set_span_in_context(span))
        try:
            response = self.call()
        except BaseException:
            span.end()
            raise
        finally:
            self._context.detach(token)
        span.set_attributes(workload.response_attributes(response))
        span.end()
        return response

    def floor_stream(self, chunks: int) -> int:
        workload = self.sdk
        span = self.tracer.start_span(
            f"chat {workload.model}", kind=self._client_kind, attributes=workload.request_attributes(True)
        )
        token = self._context.attach(self._trace.set_span_in_context(span))
        try:
            stream = self._open_stream(chunks)
        except BaseException:
            span.end()
            raise
        finally:
            self._context.detach(token)
        seen = 0
        for _chunk in workload.watch(stream, span):
            seen += 1
        return seen

    # -- the per-chunk path alone ------------------------------------------------------------

    def parsed_chunks(self, chunks: int) -> list[Any]:
        """The chunks of a ``chunks``-chunk stream, parsed once by the uninstrumented SDK.

        ``REPLAY_LONG`` chunks: the 200-chunk stream with its content deltas repeated (the
        same opening, finish and usage chunks), so that what a stream costs once is
        divided among enough chunks to vanish.
        """
        cache = self.__dict__.setdefault("_parsed_chunks", {})
        if chunks not in cache:
            if self.mode is not None:
                raise RuntimeError("parse the chunks before instrumenting")
            if chunks == REPLAY_LONG:
                parsed = list(self._open_stream(LARGE))
                head, middle, tail = parsed[:1], parsed[1:-2], parsed[-2:]
                body = (middle * (chunks // len(middle) + 1))[: chunks - len(head) - len(tail)]
                cache[chunks] = head + body + tail
            else:
                cache[chunks] = list(self._open_stream(chunks))
        return cache[chunks]  # type: ignore[no-any-return]

    def replay(self, case: str, chunks: int) -> int:
        """A real streamed call whose SDK iterator then yields already parsed chunks.

        Every wrapper still sees each chunk come out of the SDK's own stream object, but
        the SDK's SSE and JSON parsing, identical with or without instrumentation and
        about 100 times our cost per chunk, is out of the measurement.
        """
        parsed = self.parsed_chunks(chunks)
        workload = self.sdk
        seen = 0
        if case != "floor":
            stream = self._open_stream(SMALL)
            sdk_stream(stream)._iterator = iter(parsed)
            for _chunk in stream:
                seen += 1
            if seen != len(parsed):
                raise RuntimeError(f"{case}: replayed {seen} chunks of {len(parsed)}")
            return seen
        span = self.tracer.start_span(
            f"chat {workload.model}", kind=self._client_kind, attributes=workload.request_attributes(True)
        )
        token = self._context.attach(self._trace.set_span_in_context(span))
        try:
            stream = self._open_stream(SMALL)
        finally:
            self._context.detach(token)
        stream._iterator = iter(parsed)
        for _chunk in workload.watch(stream, span):
            seen += 1
        return seen

    # -- the cases ------------------------------------------------------------------------

    def workload(self, case: str, kind: str) -> tuple[Callable[[], Any], bool]:
        """The callable for (case, workload) and whether it makes one span per call."""
        floor = case == "floor"
        if kind == "chat":
            return (self.floor_call if floor else self.call), case != "baseline"
        chunks = SMALL if kind == "s10" else LARGE
        fn = self.floor_stream if floor else self.stream
        return (lambda: fn(chunks)), case != "baseline"


def sdk_stream(stream: Any) -> Any:
    """The SDK's own stream object inside whatever an instrumentation returned: ours is the
    stream itself; peers wrap it in a wrapt proxy (``__wrapped__``) or keep it as ``.stream``."""
    for _ in range(5):
        wrapped = getattr(stream, "__wrapped__", None)
        if wrapped is None:
            wrapped = getattr(stream, "__dict__", {}).get("stream")
        if wrapped is None or wrapped is stream:
            return stream
        stream = wrapped
    return stream


PARENT_ENV = "OTEL_TOKENOMICS_BENCH_PARENT"
# The long stream of the per-chunk path measurement (see Bench.replay).
REPLAY_LONG = 2000

CASES = {
    # name: (instrumentation mode, label)
    "baseline": (None, "baseline (uninstrumented)"),
    "floor": (None, "floor (hand-made span)"),
    "ours": ("api", "ours, no MeterProvider"),
    "ours_metrics": ("sdk", "ours, SDK MeterProvider"),
}
WORKLOADS = {"chat": "chat", "s10": f"stream {SMALL} chunks", "s200": f"stream {LARGE} chunks"}


def run_once(bench: Bench, case: str, kind: str, problems: list[str]) -> bool:
    """One call of ``case`` on workload ``kind``, flushed: notes in ``problems`` a span count
    other than one per traced call, or a stream that did not deliver every chunk.
    Returns whether the call is traced (its span, if any, is ``bench.exporter.last``)."""
    fn, traced = bench.workload(case, kind)
    bench.flush()
    before = bench.exporter.count
    bench.exporter.last = None
    result = fn()
    bench.flush()
    made = bench.exporter.count - before
    if made != (1 if traced else 0):
        problems.append(f"{case}/{kind}: {made} spans, expected {1 if traced else 0}")
    if kind != "chat":
        want = SMALL if kind == "s10" else LARGE
        if result != want:
            problems.append(f"{case}/{kind}: {result} chunks, expected {want}")
    bench.spans_expected += made
    return traced


def verify(bench: Bench) -> list[str]:
    """One call of every case: spans appear where expected, streams have the chunk count asked."""
    problems: list[str] = []
    keys: dict[tuple[str, str], set[str]] = {}
    for case, (mode, _label) in CASES.items():
        bench.set_mode(mode)
        for kind in WORKLOADS:
            run_once(bench, case, kind, problems)
            if case in ("floor", "ours") and bench.exporter.last is not None:
                keys[(case, kind)] = set(bench.exporter.last.attributes or {})
            if case.startswith("ours") and bench.exporter.last is not None:
                attributes = dict(bench.exporter.last.attributes or {})
                for key, value in bench.sdk.expected(kind != "chat").items():
                    if attributes.get(key) != value:
                        problems.append(
                            f"{case}/{kind}: span {key}={attributes.get(key)!r}, expected {value!r}"
                        )
    bench.set_mode(None)
    for kind in WORKLOADS:
        floor, ours = keys.get(("floor", kind), set()), keys.get(("ours", kind), set())
        if floor != ours:
            problems.append(
                f"{kind}: the floor must carry our attributes; only ours: {sorted(ours - floor)}, "
                f"only floor: {sorted(floor - ours)}"
            )
    return problems


# -- import + instrument time ---------------------------------------------------------------------

IMPORT_OURS = "import otel_tokenomics; otel_tokenomics.instrument()"


def subprocess_env() -> dict[str, str]:
    env = dict(os.environ)
    # Installed packages have their bytecode compiled; without it every fresh
    # interpreter would compile our sources again and the import time would be that.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    return env


def import_time_ms(pairs: int, sdk: str) -> dict[str, Any]:
    """Median wall time of fresh interpreters: instrument() minus importing the SDK alone."""
    import_base = WORKLOAD_TYPES[sdk].import_line
    env = subprocess_env()
    base: list[float] = []
    ours: list[float] = []
    for i in range(pairs + 1):
        # instrument() imports no SDK (it patches on the app's import), so both sides
        # import the SDK: the difference is ours alone.
        for code, out in ((import_base, base), (f"{import_base}; {IMPORT_OURS}", ours)):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], env=env, check=True)
            if i:  # the first pair warms the OS file cache
                out.append((time.perf_counter() - start) * 1e3)
    return {
        "pairs": pairs,
        "import_base": import_base,
        "import_sdk_ms": statistics.median(base),
        "import_instrument_ms": statistics.median(ours),
        "delta_ms": statistics.median(ours) - statistics.median(base),
    }


# -- wall clock ---------------------------------------------------------------------------------

WALL_PLANS = {
    # rounds; per workload: (warm-up calls after each instrumentation switch, calls per timed batch)
    "quick": {"rounds": 5, "chat": (10, 60), "s10": (3, 25), "s200": (1, 3), "import_pairs": 3},
    "default": {"rounds": 40, "chat": (20, 150), "s10": (5, 60), "s200": (1, 8), "import_pairs": 10},
}
CLOCKS = {"wall": time.perf_counter_ns, "cpu": time.process_time_ns}


def time_batch(bench: Bench, case: str, kind: str, warm: int, size: int) -> tuple[float, float]:
    """``warm`` untimed calls, then one timed batch of ``size`` calls of (case, workload), flushed.

    Returns (wall, process CPU) microseconds per call; counts the batch's spans as expected.
    """
    fn, traced = bench.workload(case, kind)
    for _ in range(warm):
        fn()
    bench.flush()
    gc.collect()
    wall_start, cpu_start = time.perf_counter_ns(), time.process_time_ns()
    for _ in range(size):
        fn()
    bench.flush()
    cpu_end, wall_end = time.process_time_ns(), time.perf_counter_ns()
    if traced:
        bench.spans_expected += warm + size
    return (wall_end - wall_start) / size / 1e3, (cpu_end - cpu_start) / size / 1e3


BatchTimer = Callable[[str, str, int, int], tuple[float, float]]


def rotate_rounds(
    names: list[str], plan: dict[str, Any], rounds: int, batch: BatchTimer
) -> dict[str, dict[str, dict[str, list[float]]]]:
    """Many short rounds; each round times one batch of every (workload, case), cases rotated.

    ``batch(case, kind, warm, size)`` runs one batch wherever the case lives (here, or in a
    worker process) and returns its (wall, CPU) microseconds per call; ``names[0]`` is the
    baseline. Returns clock -> case -> workload -> per-round microseconds per call.
    """
    per_round = {clock: {c: {k: [] for k in WORKLOADS} for c in names} for clock in CLOCKS}
    wall, cpu = per_round["wall"], per_round["cpu"]
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for kind in WORKLOADS:
            # The cases of one workload back to back: the differences pair close-in-time batches.
            for case in order:
                warm, size = plan[kind]
                wall_us, cpu_us = batch(case, kind, warm, size)
                wall[case][kind].append(wall_us)
                cpu[case][kind].append(cpu_us)
        print(
            f"  round {r + 1}/{rounds}: wall overhead chat "
            + "  ".join(f"{c} {wall[c]['chat'][-1] - wall[names[0]]['chat'][-1]:+7.1f}" for c in names[1:])
            + " us",
            file=sys.stderr,
            flush=True,
        )
    return per_round


def run_wall(bench: Bench, plan: dict[str, Any], rounds: int) -> dict[str, dict[str, dict[str, list[float]]]]:
    """``rotate_rounds`` over the cases of this process, switching the instrumentation between batches.

    ``cpu`` is the process CPU time (all threads, the span processor's too), which a busy
    neighbour on a shared box inflates far less than wall time.
    """

    def batch(case: str, kind: str, warm: int, size: int) -> tuple[float, float]:
        bench.set_mode(CASES[case][0])
        return time_batch(bench, case, kind, warm, size)

    per_round = rotate_rounds(list(CASES), plan, rounds, batch)
    bench.set_mode(None)
    return per_round


def summarize(per_round: dict[str, dict[str, list[float]]], unit: str) -> dict[str, Any]:
    """Cases, overheads, ratios and per-chunk numbers from per-round values (1 round for callgrind)."""
    base = per_round["baseline"]
    rounds = len(base["chat"])
    out: dict[str, Any] = {"unit": unit, "rounds": rounds, "cases": {}}

    def med(values: list[float]) -> float:
        return statistics.median(values)

    def ci(values: list[float]) -> tuple[float, float]:
        """~95 % distribution-free confidence interval of the median (order statistics)."""
        ordered = sorted(values)
        n = len(ordered)
        k = int((n - 1.96 * n**0.5) / 2)
        if k < 1:
            return ordered[0], ordered[-1]
        return ordered[k - 1], ordered[n - k]

    def chunk_cost(case: str, r: int) -> float:
        values = per_round[case]
        return (values["s200"][r] - values["s10"][r]) / (LARGE - SMALL)

    for case in per_round:
        entry: dict[str, Any] = {}
        for kind in WORKLOADS:
            values = per_round[case][kind]
            overheads = [values[r] - base[kind][r] for r in range(rounds)]
            entry[kind] = {
                "per_call": med(values),
                "overhead": med(overheads),
                "overhead_ci95": ci(overheads),
            }
        chunk = [chunk_cost(case, r) - chunk_cost("baseline", r) for r in range(rounds)]
        entry["per_chunk"] = med([chunk_cost(case, r) for r in range(rounds)])
        entry["per_chunk_overhead"] = med(chunk)
        entry["per_chunk_overhead_ci95"] = ci(chunk)
        fixed = [per_round[case]["s10"][r] - base["s10"][r] - SMALL * chunk[r] for r in range(rounds)]
        entry["per_stream_fixed_overhead"] = med(fixed)
        out["cases"][case] = entry
    floor = out["cases"]["floor"]
    for entry in out["cases"].values():
        for kind in WORKLOADS:
            floor_overhead = floor[kind]["overhead"]
            entry[kind]["ratio_to_floor"] = (
                entry[kind]["overhead"] / floor_overhead if floor_overhead > 0 else None
            )
    return out


# -- callgrind ----------------------------------------------------------------------------------

CALLGRIND_PLANS = {
    # workload: (warm-up, measured) per case; one process, phases in order
    "quick": {"chat": (5, 20), "s10": (2, 10), "s200": (1, 2), "replay": (1, 2)},
    "default": {"chat": (30, 100), "s10": (5, 60), "s200": (2, 12), "replay": (2, 5)},
}


def callgrind_segments(
    bench: Bench, case: str, plan: dict[str, tuple[int, int]], mark: Callable[[str], None]
) -> None:
    """Every workload of ``case``: a warm-up segment, then the measured one (``{case}/{kind}/measured``)."""
    for kind in WORKLOADS:
        warm, measured = plan[kind]
        fn, _traced = bench.workload(case, kind)
        for _ in range(warm):
            fn()
        bench.flush()
        gc.collect()
        mark(f"{case}/{kind}/warmup")
        for _ in range(measured):
            fn()
        bench.flush()
        mark(f"{case}/{kind}/measured")
    # The per-chunk path alone: replayed chunks, the cycle collector paused so that its
    # passes (which fall where allocation counts say) do not land in one segment only.
    warm, measured = plan["replay"]
    for chunks in (SMALL, REPLAY_LONG):
        for _ in range(warm):
            bench.replay(case, chunks)
        bench.flush()
        gc.collect()
        gc.disable()
        try:
            mark(f"{case}/replay{chunks}/warmup")
            for _ in range(measured):
                bench.replay(case, chunks)
            bench.flush()
            mark(f"{case}/replay{chunks}/measured")
        finally:
            gc.enable()


def callgrind_child(out_dir: str, plan: dict[str, tuple[int, int]], sdk: str) -> None:
    """Runs under callgrind: every os.getppid() closes a segment (``--dump-before=getppid``)."""
    labels: list[str] = []

    def mark(label: str) -> None:
        labels.append(label)
        os.getppid()

    block_network()
    bench = Bench(sdk)
    for chunks in (SMALL, REPLAY_LONG):
        bench.parsed_chunks(chunks)
    problems = verify(bench)
    mark("startup")
    for case, (mode, _label) in CASES.items():
        bench.set_mode(mode)
        mark(f"{case}/set_mode")
        callgrind_segments(bench, case, plan, mark)
    bench.set_mode(None)
    mark("teardown")
    with open(os.path.join(out_dir, "segments.json"), "w") as f:
        json.dump({"labels": labels, "plan": plan, "problems": problems}, f)


def _read_dumps(out_dir: str) -> list[int]:
    parts: dict[int, int] = {}
    for path in glob.glob(os.path.join(out_dir, "cg.out.*")):
        part = total = None
        with open(path) as f:
            for line in f:
                if line.startswith("part:"):
                    part = int(line.split()[1])
                elif line.startswith(("summary:", "totals:")):
                    total = int(line.split()[1])
                    break
        if part is not None and total is not None:
            parts[part] = total
    return [parts[i] for i in sorted(parts)]


def valgrind_command(out_dir: str) -> list[str]:
    return [
        "valgrind",
        "--tool=callgrind",
        "--dump-before=getppid",
        f"--callgrind-out-file={os.path.join(out_dir, 'cg.out.%p')}",
    ]


def _run_logged(command: list[str], env: dict[str, str], log_path: str) -> None:
    with open(log_path, "w") as log:
        code = subprocess.run(command, env=env, stdout=log, stderr=subprocess.STDOUT).returncode
    if code != 0:
        with open(log_path) as log:
            tail = log.read()[-4000:]
        raise SystemExit(f"callgrind run failed ({code}):\n{tail}")


def run_callgrind(quick: bool, sdk: str, imports: bool = True) -> dict[str, Any]:
    if shutil.which("valgrind") is None:
        raise SystemExit("--callgrind needs valgrind on PATH")
    plan = CALLGRIND_PLANS["quick" if quick else "default"]
    env = subprocess_env()
    env["PYTHONHASHSEED"] = "0"
    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="overhead-cg-") as out_dir:
        command = [
            *valgrind_command(out_dir),
            sys.executable,
            str(Path(__file__).resolve()),
            "--callgrind-child",
            out_dir,
            "--sdk",
            sdk,
        ]
        if quick:
            command.append("--quick")
        print("running the cases under callgrind (minutes)...", file=sys.stderr, flush=True)
        _run_logged(command, env, os.path.join(out_dir, "valgrind.log"))
        with open(os.path.join(out_dir, "segments.json")) as f:
            meta = json.load(f)
        dumps = _read_dumps(out_dir)
        labels = meta["labels"]
        if len(dumps) < len(labels):
            raise SystemExit(f"callgrind wrote {len(dumps)} dumps for {len(labels)} markers")
        segments = dict(zip(labels, dumps[: len(labels)], strict=True))
        result["segments"] = segments
        result["problems"] = meta["problems"]
        per_round: dict[str, dict[str, list[float]]] = {}
        for case in CASES:
            per_round[case] = {}
            for kind in WORKLOADS:
                measured = plan[kind][1]
                per_round[case][kind] = [segments[f"{case}/{kind}/measured"] / measured]
        result["per_call_instructions"] = per_round
        result["summary"] = summarize(per_round, "instructions")
        result["chunk_path"] = chunk_path(
            {case: replay_per_chunk(segments, case, plan["replay"][1]) for case in CASES}
        )

        if not imports:
            return result
        # import + instrument, in a fresh interpreter: the segment after importing the SDK.
        import_base = WORKLOAD_TYPES[sdk].import_line
        for path in glob.glob(os.path.join(out_dir, "cg.out.*")):
            os.remove(path)
        code = f"import os; {import_base}; os.getppid(); {IMPORT_OURS}; os.getppid()"
        print("running import + instrument under callgrind...", file=sys.stderr, flush=True)
        _run_logged(
            [*valgrind_command(out_dir), sys.executable, "-c", code], env, os.path.join(out_dir, "import.log")
        )
        dumps = _read_dumps(out_dir)
        result["import"] = {
            "import_base": import_base,
            "import_sdk_instr": dumps[0],
            "import_instrument_instr": dumps[1],
        }
    return result


def replay_per_chunk(segments: dict[str, int], case: str, measured: int) -> float:
    """Instructions per chunk of ``case``'s replayed streams (long minus short, per chunk)."""
    long = segments[f"{case}/replay{REPLAY_LONG}/measured"]
    short = segments[f"{case}/replay{SMALL}/measured"]
    return (long - short) / measured / (REPLAY_LONG - SMALL)


def chunk_path(per_chunk: dict[str, float]) -> dict[str, dict[str, float]]:
    """Per case: instructions per replayed chunk, and the overhead on the baseline's (the
    generator layers and chunk reading of the instrumentation)."""
    return {
        case: {"per_chunk": value, "overhead": value - per_chunk["baseline"]}
        for case, value in per_chunk.items()
    }


def native_rate(baseline_instructions: float, quick: bool, sdk: str) -> float:
    """Instructions per ns of this machine: the baseline call timed natively (fastest batch)."""
    block_network()
    bench = Bench(sdk)
    for _ in range(20 if quick else 100):
        bench.call()
    best = float("inf")
    for _ in range(3 if quick else 7):
        start = time.perf_counter_ns()
        for _ in range(50):
            bench.call()
        best = min(best, (time.perf_counter_ns() - start) / 50)
    return baseline_instructions / best


# -- output -------------------------------------------------------------------------------------


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("PASS" if ok else "ABOVE TARGET")


def print_chunk_path(path: dict[str, dict[str, float]], rate: float | None) -> None:
    print(
        f"per chunk, the stream path alone (parsed chunks replayed through the SDK's stream, "
        f"{REPLAY_LONG} - {SMALL} chunks, cycle collector paused):"
    )
    print(f"  {'baseline (SDK stream iteration)':<34} {path['baseline']['per_chunk']:12.0f} instr")
    for case, (_mode, label) in CASES.items():
        if case == "baseline":
            continue
        overhead = path[case]["overhead"]
        here = f" (~{overhead / rate:.0f} ns here)" if rate else ""
        verdict_text = verdict(overhead <= TARGET_CHUNK_INSTR) if case.startswith("ours") else ""
        print(f"  {label:<34} {overhead:+12.0f} instr/chunk{here}  {verdict_text}")
    print(
        f"  (target <= {TARGET_CHUNK_INSTR:.0f} instr: 1 us at {INSTR_PER_NS} instr/ns. It replaces the "
        "difference of whole streams above,\n   whose SDK parsing costs ~100x more per chunk "
        "and moves it by +-1.5k.)"
    )


def print_table(summary: dict[str, Any], imports: dict[str, Any] | None, rate: float | None = None) -> None:
    instr = summary["unit"] == "instructions"
    scale = 1e6 if instr else 1.0
    unit = "M instr/call" if instr else "us/call"
    print()
    print(f"{'case':<28} {'workload':<17} {unit:>13} {'overhead':>24} {'ratio to floor':>15}")
    print("-" * 101)
    for kind in WORKLOADS:
        for case, (_mode, label) in CASES.items():
            entry = summary["cases"][case][kind]
            per_call = entry["per_call"] / scale
            if case == "baseline":
                overhead = ratio = "-"
            else:
                overhead = f"{entry['overhead'] / scale:+.3f}" if instr else f"{entry['overhead']:+.1f}"
                ratio = "-" if entry["ratio_to_floor"] is None else f"{entry['ratio_to_floor']:.2f}"
                if not instr and summary["rounds"] > 1:
                    lo, hi = entry["overhead_ci95"]
                    overhead += f" [{lo:+.0f}..{hi:+.0f}]"
            number = f"{per_call:.3f}" if instr else f"{per_call:.1f}"
            print(f"{label:<28} {WORKLOADS[kind]:<17} {number:>13} {overhead:>24} {ratio:>15}")
        print()
    chunk_unit = "instr" if instr else "ns"
    chunk_scale = 1.0 if instr else 1e3
    print(f"per chunk ({LARGE} - {SMALL} chunks) / {LARGE - SMALL}:")
    base = summary["cases"]["baseline"]
    print(f"  {'baseline SDK cost per chunk':<34} {base['per_chunk'] * chunk_scale:12.0f} {chunk_unit}")
    for case, (_mode, label) in CASES.items():
        if case == "baseline":
            continue
        entry = summary["cases"][case]
        fixed = entry["per_stream_fixed_overhead"]
        fixed_text = f"{fixed / 1e6:.3f} M instr" if instr else f"{fixed:.1f} us"
        spread = ""
        if not instr and summary["rounds"] > 1:
            lo, hi = entry["per_chunk_overhead_ci95"]
            spread = f" [{lo * chunk_scale:+.0f}..{hi * chunk_scale:+.0f}]"
        if rate:
            spread = f" (~{entry['per_chunk_overhead'] / rate:.0f} ns here)"
        print(
            f"  {label:<34} {entry['per_chunk_overhead'] * chunk_scale:+12.0f} {chunk_unit}/chunk{spread}"
            f"   fixed per stream {fixed_text}"
        )
    print()
    print("targets:")
    timed = not instr and summary["rounds"] > 1
    floor_lo = summary["cases"]["floor"]["chat"].get("overhead_ci95", (1.0, 1.0))[0]
    for case in ("ours", "ours_metrics"):
        entry = summary["cases"][case]
        label = CASES[case][1]
        ratio = entry["chat"]["ratio_to_floor"]
        if ratio is None or (timed and floor_lo <= 0):
            ratio_text, ok_text = (
                str(ratio and round(ratio, 2)),
                "UNRESOLVED (the floor's overhead CI includes 0)",
            )
        else:
            ratio_text, ok_text = f"{ratio:.2f}", verdict(ratio <= TARGET_RATIO)
            if timed:
                lo, hi = entry["chat"]["overhead_ci95"]
                floor_hi = summary["cases"]["floor"]["chat"]["overhead_ci95"][1]
                low, high = max(lo, 0) / floor_hi, hi / floor_lo
                ratio_text += f" (range from the CIs {low:.1f}..{high:.1f})"
                if low <= TARGET_RATIO < high:
                    ok_text = "UNRESOLVED by timing on this machine (use --callgrind)"
        print(f"  {label:<26} non-streaming ratio {ratio_text} (target <= {TARGET_RATIO}): {ok_text}")
        chunk = entry["per_chunk_overhead"] * chunk_scale
        limit = TARGET_CHUNK_INSTR if instr else TARGET_CHUNK_NS
        limit_text = f"{limit:.0f} instr (~1 us at {INSTR_PER_NS} instr/ns)" if instr else f"{limit:.0f} ns"
        ok_text = verdict(chunk <= limit)
        if rate:
            ok_text += f"; on this machine ({rate:.1f} instr/ns) ~{chunk / rate:.0f} ns"
        if timed:
            lo, hi = (v * chunk_scale for v in entry["per_chunk_overhead_ci95"])
            if lo <= limit < hi:
                ok_text = f"UNRESOLVED (CI {lo:+.0f}..{hi:+.0f} ns; use --callgrind)"
        print(
            f"  {label:<26} per-chunk overhead {chunk:.0f} {chunk_unit} (target <= {limit_text}): {ok_text}"
        )
    if imports:
        print()
        if "delta_ms" in imports:
            print(
                f"import + instrument: {imports['delta_ms']:.1f} ms "
                f"(fresh interpreter: '{imports['import_base']}; {IMPORT_OURS}' "
                f"{imports['import_instrument_ms']:.1f} ms "
                f"minus '{imports['import_base']}' {imports['import_sdk_ms']:.1f} ms; "
                f"median of {imports['pairs']})"
            )
        if "import_instrument_instr" in imports:
            print(
                f"import + instrument: {imports['import_instrument_instr'] / 1e6:.1f} M instr "
                f"(after '{imports['import_base']}': {imports['import_sdk_instr'] / 1e6:.1f} M instr "
                "incl. start-up)"
            )


def environment(sdk: str) -> dict[str, Any]:
    from opentelemetry.sdk.version import __version__ as sdk_version

    try:
        import httpx2

        httpx_version = httpx2.__version__
    except Exception:
        httpx_version = None
    try:
        commit = subprocess.run(
            ["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = None
    return {
        "commit": commit,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        sdk: WORKLOAD_TYPES[sdk].version(),
        "httpx2": httpx_version,
        "opentelemetry_sdk": sdk_version,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small iteration counts (smoke test, < 60 s)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument(
        "--callgrind", action="store_true", help="count instructions under valgrind callgrind"
    )
    parser.add_argument("--rounds", type=int, help="wall clock: interleaved rounds (default 40, quick 5)")
    parser.add_argument("--no-import", action="store_true", help="skip the import + instrument measurement")
    parser.add_argument(
        "--sdk", choices=sorted(WORKLOAD_TYPES), default="openai", help="the SDK workload (default openai)"
    )
    parser.add_argument(
        "--parent",
        action="store_true",
        help="run every call under one open parent span (measures the span roll-ups)",
    )
    parser.add_argument("--callgrind-child", metavar="DIR", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.parent:
        os.environ[PARENT_ENV] = "1"  # read by Bench, here and in the callgrind child

    if args.callgrind_child:
        callgrind_child(args.callgrind_child, CALLGRIND_PLANS["quick" if args.quick else "default"], args.sdk)
        return 0

    started = time.perf_counter()
    report: dict[str, Any] = {
        "environment": environment(args.sdk),
        "sdk": args.sdk,
        "mode": "callgrind" if args.callgrind else "wall",
    }
    report["quick"] = args.quick
    if args.callgrind:
        result = run_callgrind(args.quick, args.sdk, imports=not args.no_import)
        report.update(result)
        imports = dict(result.get("import") or {})
        if not args.no_import:
            imports.update(import_time_ms(3 if args.quick else 10, args.sdk))
        report["import"] = imports
        if result["problems"]:
            print("WARNING, the cases do not behave as expected: " + "; ".join(result["problems"]))
        rate = native_rate(result["per_call_instructions"]["baseline"]["chat"][0], args.quick, args.sdk)
        report["machine_instructions_per_ns"] = rate
        print(f"instructions per call (callgrind, {sys.executable.split(os.sep)[-1]}, PYTHONHASHSEED=0)")
        print(
            f"this machine runs the baseline call at {rate:.2f} instr/ns "
            f"(native timing, fastest batch); the peer reference box: {INSTR_PER_NS} instr/ns"
        )
        print_table(result["summary"], imports, rate)
        print()
        print_chunk_path(result["chunk_path"], rate)
    else:
        block_network()
        plan = WALL_PLANS["quick" if args.quick else "default"]
        rounds = args.rounds or plan["rounds"]
        bench = Bench(args.sdk)
        problems = verify(bench)
        if problems:
            print("WARNING, the cases do not behave as expected: " + "; ".join(problems))
        per_round = run_wall(bench, plan, rounds)
        bench.flush()
        summaries = {clock: summarize(values, "us") for clock, values in per_round.items()}
        imports = None if args.no_import else import_time_ms(plan["import_pairs"], args.sdk)
        report.update(
            {
                "plan": plan,
                "problems": problems,
                "per_round_us": per_round,
                "summary": summaries,
                "import": imports,
                "spans": {"expected": bench.spans_expected, "exported": bench.exporter.count},
            }
        )
        print(
            f"WALL CLOCK: median over {rounds} interleaved rounds; overhead = median [~95 % CI] of per-round "
            "differences to the baseline"
        )
        print_table(summaries["wall"], None)
        print("\nPROCESS CPU TIME (all threads): same rounds")
        print_table(summaries["cpu"], imports)
        print(f"\nspans exported {bench.exporter.count} / expected {bench.spans_expected}")
    report["elapsed_s"] = time.perf_counter() - started
    print(f"\nelapsed {report['elapsed_s']:.0f} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
