"""otel-tokenomics side by side with the peer OpenAI instrumentations, one venv per case.

Every venv holds the same pinned ``openai``, ``httpx2`` and OpenTelemetry packages plus one
instrumentation (ours, installed editable from this repository, or a peer from the package
index). Each venv's python runs this script as a worker (``--worker``), on the workload and
tracer pipeline of ``overhead.py`` (imported from this repository, not copied), in one of these
modes, and each mode in its own process:

* ``baseline``: the uninstrumented ``openai`` call;
* ``floor``: the hand-made span of ``overhead.py`` (the same attributes as ours);
* ``inst``: the venv's instrumentation at its default content capture (and ``inst_nocontent``
  where the default captures content and switching it off is cheap).

An instrumented process instruments once at start and never uninstruments, and an uninstrumented
one never imports the instrumentation: what a peer's ``uninstrument()`` leaves behind cannot tax
another mode. For wall clock the driver keeps one process per mode alive and asks them in turn,
over stdin/stdout, for one timed batch each (rotated like ``overhead.py``'s rounds).

Reported per case: per-call overhead (wall: interleaved rounds, median; ``--callgrind``:
instructions) and its ratio to the floor, per-chunk overhead of a 200-chunk stream, import +
instrument time in a fresh interpreter, and RSS growth over ``--rss-calls`` calls after a warm-up.
See ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import gc
import inspect
import json
import os
import platform
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import types
import venv
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import overhead  # noqa: E402

# -- what goes into every venv --------------------------------------------------------------------

# The same client stack and OpenTelemetry release everywhere: only the instrumentation differs.
PINS = [
    "openai==3.57.0",
    "httpx2==2.16.2",
    "opentelemetry-api==1.45.2",
    "opentelemetry-sdk==1.45.2",
    "opentelemetry-instrumentation==0.66b2",
    "opentelemetry-semantic-conventions==0.66b2",
    "wrapt==2.5.2",
]

TARGET_RATIO = overhead.TARGET_RATIO
TARGET_CHUNK_NS = overhead.TARGET_CHUNK_NS
TARGET_CHUNK_INSTR = overhead.TARGET_CHUNK_INSTR
TARGET_IMPORT_MS = 30.0
TARGET_RSS_MIB = 1.0


@dataclass(frozen=True)
class Case:
    """One venv: what to install, how to switch the instrumentation on and off."""

    label: str
    packages: list[str]
    # Python run in a fresh interpreter after ``import openai`` (import + instrument).
    import_code: str
    # The distribution whose version the report prints.
    distribution: str
    # A variant without message content, where the default records it (worker mode name).
    content_off: str | None = None
    notes: str = ""
    extra_env: dict[str, str] = field(default_factory=dict)


CASES: dict[str, Case] = {
    "ours": Case(
        "otel-tokenomics",
        ["-e", str(ROOT)],
        "import otel_tokenomics; otel_tokenomics.instrument()",
        "otel-tokenomics",
        notes="content off by default",
    ),
    "genai-openai": Case(
        "official genai-openai",
        ["opentelemetry-instrumentation-genai-openai==1.3b0"],
        "from opentelemetry.instrumentation.genai.openai import OpenAIInstrumentor; "
        "OpenAIInstrumentor().instrument()",
        "opentelemetry-instrumentation-genai-openai",
        notes="content off by default",
    ),
    "openllmetry": Case(
        "traceloop openllmetry",
        ["opentelemetry-instrumentation-openai==0.62.4"],
        "from opentelemetry.instrumentation.openai import OpenAIInstrumentor; "
        "OpenAIInstrumentor().instrument()",
        "opentelemetry-instrumentation-openai",
        content_off="inst_nocontent",
        notes="content on by default (TRACELOOP_TRACE_CONTENT)",
    ),
    "openinference": Case(
        "openinference",
        ["openinference-instrumentation-openai==0.1.66"],
        "from openinference.instrumentation.openai import OpenAIInstrumentor; "
        "OpenAIInstrumentor().instrument()",
        "openinference-instrumentation-openai",
        content_off="inst_nocontent",
        notes="content on by default (TraceConfig hide_inputs/hide_outputs)",
    ),
    "openai-v2": Case(
        "official openai-v2 (older)",
        # 2.4b0 fails to import with opentelemetry-util-genai >= 1.2b0.
        # 2.4b0 also imports httpx, which openai 3 (on httpx2) no longer brings.
        [
            "opentelemetry-instrumentation-openai-v2==2.4b0",
            "opentelemetry-util-genai==1.1b0",
            "httpx==0.28.1",
        ],
        "from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor; "
        "OpenAIInstrumentor().instrument()",
        "opentelemetry-instrumentation-openai-v2",
        notes="content off by default; superseded by genai-openai",
    ),
}
PEERS = [name for name in CASES if name != "ours"]

# -- worker: runs inside a case's venv, one measured mode per process ------------------------------

# The modes a process can be started in. An instrumented process instruments once, at start, and
# never uninstruments: some peers leave wrappers behind on uninstrument(), which would tax the
# uninstrumented modes measured after them and stack a second wrapper on the next instrument().
UNINSTRUMENTED = ("baseline", "floor")
INSTRUMENTED = ("inst", "inst_nocontent")


def _instrumentor(case: str) -> Any:
    if case == "genai-openai":
        from opentelemetry.instrumentation.genai.openai import OpenAIInstrumentor
    elif case == "openllmetry":
        from opentelemetry.instrumentation.openai import OpenAIInstrumentor
    elif case == "openinference":
        from openinference.instrumentation.openai import OpenAIInstrumentor
    elif case == "openai-v2":
        from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor
    else:
        raise SystemExit(f"no instrumentor for {case}")
    return OpenAIInstrumentor()


def instrument_case(case: str, tracer_provider: Any, content: bool) -> None:
    """Switch the venv's instrumentation on, at its default content capture or with content off."""
    if case == "ours":
        import otel_tokenomics

        active = otel_tokenomics.instrument(tracer_provider=tracer_provider)
        if "tokenomics_openai" not in active:
            raise SystemExit(f"otel_tokenomics.instrument() did not activate openai ({active})")
        return
    if case == "openllmetry":
        # Read by the instrumentation on every call; its default is "true".
        if content:
            os.environ.pop("TRACELOOP_TRACE_CONTENT", None)
        else:
            os.environ["TRACELOOP_TRACE_CONTENT"] = "false"
    kwargs: dict[str, Any] = {"tracer_provider": tracer_provider}
    if case == "openinference" and not content:
        from openinference.instrumentation import TraceConfig

        kwargs["config"] = TraceConfig(hide_inputs=True, hide_outputs=True)
    _instrumentor(case).instrument(**kwargs)


def uninstrument_case(case: str) -> None:
    if case == "ours":
        import otel_tokenomics

        otel_tokenomics.uninstrument()
    else:
        _instrumentor(case).uninstrument()
    os.environ.pop("TRACELOOP_TRACE_CONTENT", None)


def _sdk_methods() -> dict[str, Any]:
    """The SDK methods the instrumentations wrap, as stored on the classes (no descriptor bound)."""
    import openai
    from openai.resources.chat import completions

    return {
        "Completions.create": inspect.getattr_static(completions.Completions, "create"),
        "OpenAI.request": inspect.getattr_static(openai.OpenAI, "request"),
    }


def not_sdk_own() -> list[str]:
    """Names of the wrapped SDK methods that are not the SDK's own plain functions.

    The SDK's own are plain functions whose code lives in the ``openai`` package (its decorators
    included); a replacement defined in an instrumentation is not, nor is a wrapt proxy, which
    passes ``isinstance(proxy, FunctionType)`` and forwards ``__code__``: hence ``type()``.
    """
    import openai

    package = os.path.dirname(os.path.abspath(openai.__file__)) + os.sep
    foreign = []
    for name, value in _sdk_methods().items():
        if type(value) is not types.FunctionType:
            foreign.append(f"{name} is a {type(value).__name__}")
        elif not value.__code__.co_filename.startswith(package):
            foreign.append(f"{name} is a function from {value.__code__.co_filename}")
    return foreign


class PeerBench(overhead.Bench):
    """``overhead.Bench`` (same clients, pipeline and floor) in one mode for the process's whole life."""

    def __init__(self, case: str, mode: str) -> None:
        if mode not in UNINSTRUMENTED + INSTRUMENTED:
            raise SystemExit(f"unknown mode {mode}")
        super().__init__("openai")
        # The replayed streams' chunks are parsed by the SDK alone, before any instrumentation.
        for chunks in (overhead.SMALL, overhead.REPLAY_LONG):
            self.parsed_chunks(chunks)
        self.case = case
        self.worker_mode = mode
        if mode in INSTRUMENTED:
            instrument_case(case, self.tracer_provider, content=mode == "inst")
            self.mode = mode

    def set_mode(self, mode: str | None) -> None:
        if mode != self.mode:
            raise RuntimeError(f"a peers worker keeps its mode ({self.mode}); asked for {mode}")


def worker_modes(case: str) -> dict[str, str]:
    """The modes measured for a case (one process each), with their report labels."""
    modes = {
        "baseline": "baseline (uninstrumented)",
        "floor": "floor (hand-made span)",
        "inst": CASES[case].label,
    }
    if CASES[case].content_off:
        modes["inst_nocontent"] = CASES[case].label + ", content off"
    return modes


def _usage_seen(attributes: dict[str, Any]) -> dict[str, bool]:
    """Whether a span carries the workload's token counts under any attribute name."""
    values = set()
    for value in attributes.values():
        if isinstance(value, int) and not isinstance(value, bool):
            values.add(value)
    return {"input_tokens": 2048 in values, "output_tokens": 612 in values, "cached_tokens": 1536 in values}


def verify(bench: PeerBench) -> tuple[list[str], dict[str, Any]]:
    """One call of every workload in the process's mode: one span per traced call, every chunk
    reaches the app; uninstrumented modes also check that nothing patched the SDK."""
    mode = bench.worker_mode
    problems: list[str] = []
    spans: dict[str, Any] = {}
    for kind in overhead.WORKLOADS:
        traced = overhead.run_once(bench, mode, kind, problems)
        if traced and bench.exporter.last is not None:
            attributes = dict(bench.exporter.last.attributes or {})
            spans[f"{mode}/{kind}"] = {
                "attributes": len(attributes),
                "keys": sorted(attributes),
                "usage": _usage_seen(attributes),
            }
            if bench.case == "ours" and mode in INSTRUMENTED:
                for key, value in bench.sdk.expected(kind != "chat").items():
                    if attributes.get(key) != value:
                        problems.append(
                            f"{mode}/{kind}: span {key}={attributes.get(key)!r}, expected {value!r}"
                        )
    if mode in UNINSTRUMENTED:
        problems += [f"{mode}: {text}" for text in not_sdk_own()]
    return problems, spans


def worker_serve(case: str, mode: str) -> None:
    """Answer the driver's line-based JSON requests on stdin/stdout until it says ``finish``.

    Requests: ``{"op": "batch", "kind": K, "warm": W, "size": N}`` -> ``{"wall": us, "cpu": us}``
    per call; ``{"op": "finish"}`` -> the second verification and the span totals. The first line
    written is the start-up verification.
    """
    # The protocol gets its own copy of stdout; whatever the SDK or a peer prints goes to stderr.
    channel = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)

    def send(message: dict[str, Any]) -> None:
        channel.write(json.dumps(message) + "\n")
        channel.flush()

    overhead.block_network()
    bench = PeerBench(case, mode)
    problems, spans = verify(bench)
    send({"problems": problems, "spans": spans})
    for line in sys.stdin:
        request = json.loads(line)
        if request["op"] == "batch":
            wall, cpu = overhead.time_batch(bench, mode, request["kind"], request["warm"], request["size"])
            send({"wall": wall, "cpu": cpu})
        elif request["op"] == "finish":
            bench.flush()
            again, _ = verify(bench)
            bench.flush()
            send(
                {
                    "problems": again,
                    "spans_exported": bench.exporter.count,
                    "spans_expected": bench.spans_expected,
                }
            )
            return
        else:
            raise SystemExit(f"unknown request {request}")


def worker_callgrind(case: str, mode: str, out_dir: str, plan: dict[str, tuple[int, int]]) -> None:
    """Runs under callgrind: every os.getppid() closes a segment (``--dump-before=getppid``)."""
    labels: list[str] = []

    def mark(label: str) -> None:
        labels.append(label)
        os.getppid()

    overhead.block_network()
    bench = PeerBench(case, mode)
    problems, _spans = verify(bench)
    mark("startup")
    overhead.callgrind_segments(bench, mode, plan, mark)
    bench.flush()
    if mode != "baseline":
        # Every workload's calls, and the replayed streams (two lengths) of the per-chunk path.
        bench.spans_expected += sum(
            warm + measured for kind, (warm, measured) in plan.items() if kind != "replay"
        )
        bench.spans_expected += 2 * sum(plan["replay"])
    if bench.exporter.count != bench.spans_expected:
        problems.append(
            f"{mode}: {bench.exporter.count} spans exported under callgrind, expected {bench.spans_expected}"
        )
    with open(os.path.join(out_dir, "segments.json"), "w") as f:
        json.dump({"labels": labels, "problems": problems}, f)


def worker_restore(case: str) -> dict[str, Any]:
    """One-off, in its own process: does ``uninstrument()`` give the SDK its own methods back?"""
    overhead.block_network()
    bench = PeerBench(case, "baseline")
    problems: list[str] = []
    before = _sdk_methods()
    instrument_case(case, bench.tracer_provider, content=True)
    overhead.run_once(bench, "inst", "chat", problems)
    uninstrument_case(case)
    after = _sdk_methods()
    unrestored = sorted(name for name, value in after.items() if value is not before[name])
    if unrestored:
        problems.append(f"uninstrument() leaves {unrestored} wrapped")
    later: list[str] = []
    overhead.run_once(bench, "baseline", "chat", later)
    problems += [f"after uninstrument(), {text}" for text in later]
    return {"problems": problems, "unrestored": unrestored}


WALL_PLANS = {
    # rounds; per workload: (warm-up calls before each timed batch, calls per timed batch)
    "quick": {"rounds": 4, "chat": (10, 50), "s10": (3, 20), "s200": (1, 3), "import_pairs": 3},
    "default": {"rounds": 20, "chat": (20, 150), "s10": (5, 60), "s200": (1, 8), "import_pairs": 10},
}
CALLGRIND_PLANS = overhead.CALLGRIND_PLANS


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


RSS_WARMUP = 5000
RSS_FLUSH_EVERY = 1000


def worker_rss(case: str, mode: str, calls: int) -> dict[str, Any]:
    """RSS growth over ``calls`` non-streaming calls after a warm-up, spans flushed every 1,000 calls.

    The flushes keep the span processor's queue short, so what grows is what the calls leave behind,
    not the exporter's backlog.
    """
    overhead.block_network()
    bench = PeerBench(case, mode)
    fn, _traced = bench.workload(mode, "chat")
    for i in range(RSS_WARMUP):
        fn()
        if i % RSS_FLUSH_EVERY == RSS_FLUSH_EVERY - 1:
            bench.flush()
    bench.flush()
    gc.collect()
    start = _rss_bytes()
    started = time.perf_counter()
    for i in range(calls):
        fn()
        if i % RSS_FLUSH_EVERY == RSS_FLUSH_EVERY - 1:
            bench.flush()
    bench.flush()
    gc.collect()
    end = _rss_bytes()
    return {
        "calls": calls,
        "warmup": RSS_WARMUP,
        "rss_start_mib": start / 2**20,
        "rss_end_mib": end / 2**20,
        "growth_mib": (end - start) / 2**20,
        "seconds": time.perf_counter() - started,
        "spans_exported": bench.exporter.count,
    }


def worker_versions() -> dict[str, Any]:
    from importlib import metadata

    names = [p.split("==")[0] for p in PINS] + [c.distribution for c in CASES.values()]
    names += ["opentelemetry-util-genai", "openinference-instrumentation"]
    versions: dict[str, str] = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return {"python": platform.python_version(), "packages": versions}


def worker_main(args: argparse.Namespace) -> int:
    task, case, mode = args.worker_task, args.worker, args.worker_mode
    if task == "serve":
        worker_serve(case, mode)
        return 0
    if task == "callgrind":
        worker_callgrind(case, mode, args.callgrind_dir, CALLGRIND_PLANS[args.callgrind_plan])
        return 0
    if task in ("rss-baseline", "rss-floor", "rss-inst"):
        result = worker_rss(case, task.removeprefix("rss-"), args.rss_calls)
    elif task == "restore":
        result = worker_restore(case)
    elif task == "versions":
        result = worker_versions()
    else:
        raise SystemExit(f"unknown worker task {task}")
    with open(args.worker_out, "w") as f:
        json.dump(result, f)
    return 0


# -- driver: venvs, workers, report ---------------------------------------------------------------

MARKER = "peers-requirements.txt"


def venv_python(venv_dir: Path) -> Path:
    return venv_dir / "bin" / "python"


def ensure_venv(root: Path, name: str, log: Any) -> Path:
    """Create (or reuse, when its requirements are the same) the venv of one case."""
    path = root / name
    requirements = PINS + CASES[name].packages
    wanted = "\n".join(requirements) + "\n"
    marker = path / MARKER
    if marker.exists() and marker.read_text() == wanted and venv_python(path).exists():
        return path
    if path.exists():
        shutil.rmtree(path)
    started = time.perf_counter()
    venv.EnvBuilder(with_pip=True, clear=True).create(path)
    command = [str(venv_python(path)), "-m", "pip", "install", "-q", *requirements]
    with open(root / f"{name}.pip.log", "w") as out:
        code = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT).returncode
    if code != 0:
        raise SystemExit(f"pip install failed for {name}: see {root / f'{name}.pip.log'}")
    marker.write_text(wanted)
    print(f"  venv {name}: created in {time.perf_counter() - started:.0f} s", file=log, flush=True)
    return path


def worker_env() -> dict[str, str]:
    env = dict(os.environ)
    # Installed packages have their bytecode compiled; without it every fresh interpreter
    # compiles its imports again and the import time would be that.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    for name in (
        "PYTHONPATH",
        "TRACELOOP_TRACE_CONTENT",
        "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT",
    ):
        env.pop(name, None)
    # Nothing the peers would phone home with at import (traceloop's SDK is not installed; belt and braces).
    env["TRACELOOP_TELEMETRY"] = "false"
    return env


class WorkerFailed(RuntimeError):
    """A case's worker exited non-zero or stopped answering: the report says so and the other cases go on."""


SCRIPT = str(Path(__file__).resolve())
# A reply to one request (start-up verification, one batch, the end) never takes this long, even
# on a loaded machine; a worker silent for longer is stuck.
REPLY_TIMEOUT_S = 600.0


def run_worker(python: Path, case: str, task: str, args: argparse.Namespace) -> Any:
    """A one-shot worker task (versions, RSS, restore) in its own process; its JSON result."""
    with tempfile.TemporaryDirectory(prefix="peers-") as tmp:
        out = os.path.join(tmp, "out.json")
        command = [str(python), SCRIPT, "--worker", case, "--worker-task", task]
        command += ["--worker-out", out, "--rss-calls", str(args.rss_calls)]
        code = subprocess.run(command, env=worker_env()).returncode
        if code != 0:
            raise WorkerFailed(f"worker {case}/{task} failed ({code}); its traceback is above")
        with open(out) as f:
            return json.load(f)


class ModeWorker:
    """A long-lived worker process of one case in one mode, driven line by line over its stdin/stdout."""

    def __init__(self, python: Path, case: str, mode: str) -> None:
        self.name = f"{case}/{mode}"
        command = [str(python), SCRIPT, "--worker", case, "--worker-task", "serve", "--worker-mode", mode]
        self.process = subprocess.Popen(
            command, env=worker_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )

    def reply(self) -> dict[str, Any]:
        stdout = self.process.stdout
        assert stdout is not None
        # Requests and replies alternate, so nothing is left in the reader's buffer between
        # replies and select() on the pipe sees every one.
        ready, _, _ = select.select([stdout], [], [], REPLY_TIMEOUT_S)
        if not ready:
            raise WorkerFailed(f"worker {self.name} did not answer within {REPLY_TIMEOUT_S:.0f} s")
        line = stdout.readline()
        if not line:
            code = self.process.wait(timeout=30)
            raise WorkerFailed(f"worker {self.name} exited ({code}); its traceback is above")
        return json.loads(line)

    def request(self, message: dict[str, Any]) -> dict[str, Any]:
        stdin = self.process.stdin
        assert stdin is not None
        try:
            stdin.write(json.dumps(message) + "\n")
            stdin.flush()
        except BrokenPipeError as exc:
            raise WorkerFailed(f"worker {self.name} is gone; its traceback is above") from exc
        return self.reply()

    def close(self) -> None:
        """End of input makes a waiting worker return; one that does not is killed."""
        if self.process.stdin is not None:
            try:
                self.process.stdin.close()
            except BrokenPipeError:
                pass
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=30)
        if self.process.stdout is not None:
            self.process.stdout.close()


def wall_case(python: Path, case: str, plan: dict[str, Any], rounds: int) -> dict[str, Any]:
    """Interleaved wall-clock rounds over one long-lived process per mode of ``case``."""
    modes = list(worker_modes(case))
    workers: dict[str, ModeWorker] = {}
    problems: list[str] = []
    spans: dict[str, Any] = {}
    counts: dict[str, dict[str, int]] = {}
    try:
        for mode in modes:
            workers[mode] = ModeWorker(python, case, mode)
        for worker in workers.values():
            ready = worker.reply()
            problems += ready["problems"]
            spans.update(ready["spans"])

        if case == "ours":
            # The floor is only a fair yardstick if it writes what we write (as overhead.py checks).
            for kind in overhead.WORKLOADS:
                floor = set(spans.get(f"floor/{kind}", {}).get("keys", []))
                ours = set(spans.get(f"inst/{kind}", {}).get("keys", []))
                if floor != ours:
                    problems.append(
                        f"{kind}: the floor must carry our attributes; only ours: {sorted(ours - floor)}, "
                        f"only floor: {sorted(floor - ours)}"
                    )

        def batch(mode: str, kind: str, warm: int, size: int) -> tuple[float, float]:
            answer = workers[mode].request({"op": "batch", "kind": kind, "warm": warm, "size": size})
            return answer["wall"], answer["cpu"]

        per_round = overhead.rotate_rounds(modes, plan, rounds, batch)
        for mode, worker in workers.items():
            done = worker.request({"op": "finish"})
            problems += [f"after the rounds: {text}" for text in done["problems"]]
            counts[mode] = {"exported": done["spans_exported"], "expected": done["spans_expected"]}
            if done["spans_exported"] != done["spans_expected"]:
                problems.append(
                    f"{mode}: spans exported {done['spans_exported']} != expected {done['spans_expected']}"
                )
    finally:
        for worker in workers.values():
            worker.close()
    return {
        "problems": problems,
        "spans": spans,
        "span_counts": counts,
        "per_round_us": per_round,
        "summary": {clock: overhead.summarize(values, "us") for clock, values in per_round.items()},
    }


def import_time_ms(python: Path, case: str, pairs: int) -> dict[str, Any]:
    """Median wall time of fresh interpreters: ``import openai`` + instrument minus ``import openai``."""
    env = worker_env()
    base_code = "import openai"
    inst_code = f"import openai; {CASES[case].import_code}"
    base: list[float] = []
    inst: list[float] = []
    for i in range(pairs + 1):
        for code, out in ((base_code, base), (inst_code, inst)):
            start = time.perf_counter()
            subprocess.run([str(python), "-c", code], env=env, check=True, stderr=subprocess.DEVNULL)
            if i:  # the first pair warms the file cache and writes bytecode
                out.append((time.perf_counter() - start) * 1e3)
    return {
        "pairs": pairs,
        "import_openai_ms": statistics.median(base),
        "import_instrument_ms": statistics.median(inst),
        "delta_ms": statistics.median(inst) - statistics.median(base),
    }


def callgrind_env() -> dict[str, str]:
    env = worker_env()
    env["PYTHONHASHSEED"] = "0"
    return env


def callgrind_mode(python: Path, case: str, mode: str, plan_name: str) -> dict[str, Any]:
    """Instructions per call of one mode of ``case``, in its own process under callgrind."""
    plan = CALLGRIND_PLANS[plan_name]
    with tempfile.TemporaryDirectory(prefix="peers-cg-") as out_dir:
        command = [*overhead.valgrind_command(out_dir), str(python), SCRIPT, "--worker", case]
        command += ["--worker-task", "callgrind", "--worker-mode", mode, "--callgrind-dir", out_dir]
        command += ["--callgrind-plan", plan_name]
        overhead._run_logged(command, callgrind_env(), os.path.join(out_dir, "valgrind.log"))
        with open(os.path.join(out_dir, "segments.json")) as f:
            meta = json.load(f)
        dumps = overhead._read_dumps(out_dir)
    labels = meta["labels"]
    if len(dumps) < len(labels):
        raise SystemExit(f"callgrind wrote {len(dumps)} dumps for {len(labels)} markers ({case}/{mode})")
    segments = dict(zip(labels, dumps[: len(labels)], strict=True))
    return {
        "per_call": {
            kind: segments[f"{mode}/{kind}/measured"] / plan[kind][1] for kind in overhead.WORKLOADS
        },
        "replay_per_chunk": overhead.replay_per_chunk(segments, mode, plan["replay"][1]),
        "problems": meta["problems"],
    }


def callgrind_import(python: Path, case: str) -> dict[str, Any]:
    """Instructions of import + instrument after ``import openai``, in a fresh interpreter."""
    code = f"import os; import openai; os.getppid(); {CASES[case].import_code}; os.getppid()"
    with tempfile.TemporaryDirectory(prefix="peers-cg-") as out_dir:
        command = [*overhead.valgrind_command(out_dir), str(python), "-c", code]
        overhead._run_logged(command, callgrind_env(), os.path.join(out_dir, "import.log"))
        dumps = overhead._read_dumps(out_dir)
    return {"import_instr": dumps[1]}


# -- report ----------------------------------------------------------------------------------------


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _ok(value: float | None, limit: float) -> bool | None:
    return None if value is None else value <= limit


def rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per measured configuration (the floor from our venv, then each case and variant)."""
    out: list[dict[str, Any]] = []
    for name, result in report["cases"].items():
        wall = result.get("wall", {}).get("summary", {}).get("wall", {}).get("cases", {})
        cg = result.get("callgrind", {}).get("summary", {}).get("cases", {})
        entries = [("floor", "floor (hand-made span)")] if name == "ours" else []
        entries.append(("inst", CASES[name].label))
        if CASES[name].content_off:
            entries.append(("inst_nocontent", CASES[name].label + ", content off"))
        for key, label in entries:
            w, c = wall.get(key), cg.get(key)
            row: dict[str, Any] = {"case": name, "variant": key, "label": label}
            if w:
                row["overhead_us"] = w["chat"]["overhead"]
                row["overhead_ci95_us"] = w["chat"]["overhead_ci95"]
                row["ratio_wall"] = w["chat"]["ratio_to_floor"]
                row["chunk_ns"] = w["per_chunk_overhead"] * 1e3
                row["stream200_us"] = w["s200"]["overhead"]
            if c:
                row["overhead_minstr"] = c["chat"]["overhead"] / 1e6
                row["ratio_instr"] = c["chat"]["ratio_to_floor"]
                # Per chunk: the replayed stream path (deterministic); the difference of whole
                # SSE streams, whose parsing dwarfs it, is kept beside it.
                row["chunk_instr_sse"] = c["per_chunk_overhead"]
                path = result["callgrind"].get("chunk_path", {}).get(key)
                row["chunk_instr"] = path["overhead"] if path else None
            if key == "inst":
                row["version"] = result.get("versions", {}).get("packages", {}).get(CASES[name].distribution)
                row["import_ms"] = result.get("import", {}).get("delta_ms")
                if "import_instr" in result.get("callgrind", {}):
                    row["import_minstr"] = result["callgrind"]["import_instr"] / 1e6
                row["rss_mib"] = result.get("rss", {}).get("inst", {}).get("growth_mib")
            elif key == "floor":
                row["rss_mib"] = result.get("rss", {}).get("floor", {}).get("growth_mib")
            out.append(row)
    return out


def targets(report: dict[str, Any], table: list[dict[str, Any]]) -> list[tuple[str, bool | None, str]]:
    ours = next((r for r in table if r["case"] == "ours" and r["variant"] == "inst"), None)
    if ours is None:
        return []
    peers = [r for r in table if r["case"] != "ours" and r["variant"] == "inst"]
    use_instr = "ratio_instr" in ours
    key = "ratio_instr" if use_instr else "ratio_wall"
    unit = "callgrind instructions" if use_instr else "wall clock"
    ratio = ours.get(key)
    chunk, chunk_limit, chunk_unit = (
        (ours.get("chunk_instr"), TARGET_CHUNK_INSTR, "instr")
        if use_instr
        else (ours.get("chunk_ns"), TARGET_CHUNK_NS, "ns")
    )
    below = [p for p in peers if p.get(key) is not None]
    beaten = None if ratio is None or not below else all(ratio < p[key] for p in below)
    lowest = min((p[key] for p in below), default=None)
    baseline_rss = report["cases"]["ours"].get("rss", {}).get("baseline", {}).get("growth_mib")
    return [
        (f"ratio to the floor <= {TARGET_RATIO} ({unit})", _ok(ratio, TARGET_RATIO), _fmt(ratio, ".2f")),
        (
            f"below every peer ({unit})",
            beaten,
            f"ours {_fmt(ratio, '.2f')}, lowest peer {_fmt(lowest, '.2f')}",
        ),
        (
            f"per-chunk overhead <= {chunk_limit:.0f} {chunk_unit} (1 us)",
            _ok(chunk, chunk_limit),
            f"{_fmt(chunk, '.0f')} {chunk_unit}",
        ),
        (
            f"import + instrument <= {TARGET_IMPORT_MS:.0f} ms",
            _ok(ours.get("import_ms"), TARGET_IMPORT_MS),
            f"{_fmt(ours.get('import_ms'), '.1f')} ms",
        ),
        (
            f"RSS growth over the calls <= {TARGET_RSS_MIB:.0f} MiB",
            _ok(ours.get("rss_mib"), TARGET_RSS_MIB),
            f"{_fmt(ours.get('rss_mib'), '+.2f')} MiB (baseline {_fmt(baseline_rss, '+.2f')} MiB)",
        ),
    ]


def markdown(report: dict[str, Any]) -> str:
    table = rows(report)
    callgrind = any("ratio_instr" in r for r in table)
    head = ["case", "version", "overhead µs/call [95 % CI]", "÷ floor (wall)"]
    if callgrind:
        head += [
            "overhead M instr/call",
            "÷ floor (instr)",
            "per-chunk instr (replayed)",
            "per-chunk instr (SSE)",
        ]
    head += ["per-chunk ns (wall)", "import+instrument ms", "RSS Δ MiB"]
    lines = ["| " + " | ".join(head) + " |", "|---|---|" + "---:|" * (len(head) - 2)]
    for r in table:
        ci = r.get("overhead_ci95_us")
        cells = [
            r["label"],
            r.get("version") or "-",
            f"{_fmt(r.get('overhead_us'), '.0f')}" + (f" [{ci[0]:.0f}..{ci[1]:.0f}]" if ci else ""),
            _fmt(r.get("ratio_wall"), ".2f"),
        ]
        if callgrind:
            cells += [
                _fmt(r.get("overhead_minstr"), ".3f"),
                _fmt(r.get("ratio_instr"), ".2f"),
                _fmt(r.get("chunk_instr"), ",.0f"),
                _fmt(r.get("chunk_instr_sse"), ",.0f"),
            ]
        cells += [
            _fmt(r.get("chunk_ns"), ".0f"),
            _fmt(r.get("import_ms"), ".1f")
            + (f" ({r['import_minstr']:.1f} M instr)" if "import_minstr" in r else ""),
            _fmt(r.get("rss_mib"), "+.2f"),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    env = report["environment"]
    lines.append("")
    lines.append(
        f"Python {env['python']}, {env['cpus']} CPUs; pins: {', '.join(PINS)}; "
        f"{report['rss_calls']:,} calls for RSS; "
        + (f"{report['rounds']} wall rounds" if report.get("rounds") else "")
        + ("; --quick" if report["quick"] else "")
    )
    base = report["cases"].get("ours", {}).get("wall", {}).get("summary", {}).get("wall", {}).get("cases", {})
    if base:
        lines.append(
            f"Baseline (uninstrumented) in our venv: {base['baseline']['chat']['per_call']:.0f} µs/call, "
            f"{base['baseline']['per_chunk'] * 1e3:.0f} ns/chunk (wall)."
        )
    # Every venv measures its own baseline in its own process: equal counts show the venvs (and
    # the uninstrumented processes) run the same SDK code, untouched by the instrumentation.
    baselines = {
        name: result["callgrind"]["summary"]["cases"]["baseline"]
        for name, result in report["cases"].items()
        if "summary" in result.get("callgrind", {})
    }
    if baselines:
        lines.append(
            "Baseline (uninstrumented) per venv, callgrind: "
            + "; ".join(
                f"{name} {b['chat']['per_call'] / 1e6:.3f} M instr/call, {b['per_chunk']:,.0f} instr/chunk"
                for name, b in baselines.items()
            )
            + "."
        )
    lines.append("")
    lines.append("| target (ours) | met | value |")
    lines.append("|---|---|---|")
    for text, ok, value in targets(report, table):
        lines.append(f"| {text} | {'n/a' if ok is None else ('yes' if ok else 'NO')} | {value} |")
    problems = [
        f"{name}: {p}" for name, result in report["cases"].items() for p in result.get("problems", [])
    ]
    if problems:
        lines.append("")
        lines.append("Problems: " + "; ".join(problems))
    return "\n".join(lines) + "\n"


def driver_main(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    names = args.cases.split(",") if args.cases else list(CASES)
    for name in names:
        if name not in CASES:
            raise SystemExit(f"unknown case {name}; known: {', '.join(CASES)}")
    scratch = (
        Path(args.venv_dir) if args.venv_dir else Path(tempfile.mkdtemp(prefix="otel-tokenomics-peers-"))
    )
    if ROOT in scratch.resolve().parents or scratch.resolve() == ROOT:
        raise SystemExit("--venv-dir must be outside the repository")
    scratch.mkdir(parents=True, exist_ok=True)
    log = sys.stderr
    print(f"venvs under {scratch}", file=log, flush=True)
    pythons: dict[str, Path] = {}
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        for name, path in zip(names, pool.map(lambda n: ensure_venv(scratch, n, log), names), strict=True):
            pythons[name] = venv_python(path)
    wall_plan = WALL_PLANS["quick" if args.quick else "default"]
    callgrind_plan = "quick" if args.quick or args.callgrind_plan == "quick" else "default"
    report: dict[str, Any] = {
        "environment": {
            "python": platform.python_version(),
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            "pins": PINS,
        },
        "quick": args.quick,
        "rss_calls": args.rss_calls,
        "rounds": args.rounds or wall_plan["rounds"],
        "callgrind_plan": callgrind_plan if args.callgrind else None,
        "cases": {name: {} for name in names},
    }
    failed: set[str] = set()
    for name in names:
        entry = report["cases"][name]
        entry["notes"] = CASES[name].notes
        entry["problems"] = []
        try:
            entry["versions"] = run_worker(pythons[name], name, "versions", args)
        except WorkerFailed as exc:
            entry["problems"].append(str(exc))
            failed.add(name)
    # Timed phases one venv after the other: nothing else runs beside them.
    for name in [n for n in names if n not in failed]:
        entry = report["cases"][name]
        t0 = time.perf_counter()
        print(f"[{name}] wall clock rounds, one process per mode...", file=log, flush=True)
        try:
            wall = entry["wall"] = wall_case(pythons[name], name, wall_plan, report["rounds"])
        except WorkerFailed as exc:
            entry["problems"].append(str(exc))
            failed.add(name)
            continue
        entry["problems"] += wall["problems"]
        print(f"[{name}] import + instrument...", file=log, flush=True)
        entry["import"] = import_time_ms(pythons[name], name, wall_plan["import_pairs"])
        print(f"[{name}] timed phases {time.perf_counter() - t0:.0f} s", file=log, flush=True)

    # Instruction counts, RSS and the uninstrument check do not depend on the machine's load:
    # run them side by side, each in its own process.
    alive = [n for n in names if n not in failed]
    jobs: list[tuple[str, str]] = [(n, "restore") for n in alive]
    if args.rss_calls:
        if "ours" in alive:
            jobs += [("ours", "rss-baseline"), ("ours", "rss-floor")]
        jobs += [(n, "rss-inst") for n in alive]
    if args.callgrind:
        jobs += [(n, f"callgrind-{mode}") for n in alive for mode in worker_modes(n)]
        jobs += [(n, "callgrind-import") for n in alive]

    def run_job(job: tuple[str, str]) -> tuple[str, str, Any]:
        name, task = job
        t0 = time.perf_counter()
        print(f"[{name}] {task}...", file=log, flush=True)
        try:
            if task == "callgrind-import":
                result = callgrind_import(pythons[name], name)
            elif task.startswith("callgrind-"):
                result = callgrind_mode(pythons[name], name, task.removeprefix("callgrind-"), callgrind_plan)
            else:
                result = run_worker(pythons[name], name, task, args)
        except (WorkerFailed, SystemExit) as exc:
            return name, task, {"failed": str(exc)}
        print(f"[{name}] {task} done in {time.perf_counter() - t0:.0f} s", file=log, flush=True)
        return name, task, result

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        for name, task, result in pool.map(run_job, jobs):
            entry = report["cases"][name]
            if "failed" in result:
                entry["problems"].append(f"{task}: {result['failed']}")
            elif task == "restore":
                entry["restore"] = result
                entry["problems"] += [f"restore check: {text}" for text in result["problems"]]
            elif task == "callgrind-import":
                entry.setdefault("callgrind", {}).update(result)
            elif task.startswith("callgrind-"):
                modes = entry.setdefault("callgrind", {}).setdefault("modes", {})
                modes[task.removeprefix("callgrind-")] = result["per_call"]
                replays = entry["callgrind"].setdefault("replay_per_chunk", {})
                replays[task.removeprefix("callgrind-")] = result["replay_per_chunk"]
                entry["problems"] += [f"callgrind: {text}" for text in result["problems"]]
            else:
                entry.setdefault("rss", {})[task.removeprefix("rss-")] = result
    for name in alive:
        callgrind = report["cases"][name].get("callgrind", {})
        modes = callgrind.get("modes", {})
        if set(modes) == set(worker_modes(name)):
            per_round = {
                mode: {kind: [modes[mode][kind]] for kind in overhead.WORKLOADS}
                for mode in worker_modes(name)
            }
            callgrind["summary"] = overhead.summarize(per_round, "instructions")
            callgrind["chunk_path"] = overhead.chunk_path(callgrind["replay_per_chunk"])
    report["elapsed_s"] = time.perf_counter() - started
    text = markdown(report)
    print(text)
    print(f"elapsed {report['elapsed_s']:.0f} s", file=log)
    if args.markdown:
        Path(args.markdown).write_text(text)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: few rounds, small batches")
    parser.add_argument("--venv-dir", metavar="DIR", help="where the venvs live (reused); default a temp dir")
    parser.add_argument("--cases", help=f"comma-separated subset of: {', '.join(CASES)}")
    parser.add_argument("--rounds", type=int, help="wall clock: interleaved rounds (default 20, quick 4)")
    parser.add_argument(
        "--rss-calls", type=int, help="calls for the RSS growth (default 100000, quick 10000; 0 skips)"
    )
    parser.add_argument("--callgrind", action="store_true", help="also count instructions under valgrind")
    parser.add_argument(
        "--callgrind-plan",
        choices=sorted(CALLGRIND_PLANS),
        default="default",
        help="calls per callgrind segment (quick: ~5x faster, per-chunk spread ~1,000 instr)",
    )
    parser.add_argument("--jobs", type=int, default=2, help="parallel venv builds, callgrind and RSS runs")
    parser.add_argument("--markdown", metavar="FILE", help="also write the table here")
    parser.add_argument("--json", metavar="FILE", help="also write every number as JSON")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--worker-task", help=argparse.SUPPRESS)
    parser.add_argument("--worker-out", help=argparse.SUPPRESS)
    parser.add_argument("--worker-mode", choices=UNINSTRUMENTED + INSTRUMENTED, help=argparse.SUPPRESS)
    parser.add_argument("--callgrind-dir", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rss_calls is None:
        args.rss_calls = 10_000 if args.quick else 100_000
    if args.worker:
        return worker_main(args)
    if args.callgrind and shutil.which("valgrind") is None:
        raise SystemExit("--callgrind needs valgrind on PATH")
    return driver_main(args)


if __name__ == "__main__":
    raise SystemExit(main())
