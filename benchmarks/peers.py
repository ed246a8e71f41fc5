"""otel-tokenomics side by side with the peer OpenAI instrumentations, one venv per case.

Every venv holds the same pinned ``openai``, ``httpx2`` and OpenTelemetry packages plus one
instrumentation (ours, installed editable from this repository, or a peer from the package
index). In each venv a worker (this script with ``--worker``) measures, in one process, on the
workload and tracer pipeline of ``overhead.py`` (imported from this repository, not copied):

* ``baseline``: the uninstrumented ``openai`` call;
* ``floor``: the hand-made span of ``overhead.py`` (the same attributes as ours);
* ``inst``: the venv's instrumentation at its default content capture (and ``inst_nocontent``
  where the default captures content and switching it off is cheap).

Reported per case: per-call overhead (wall: interleaved rounds, median; ``--callgrind``:
instructions) and its ratio to the floor, per-chunk overhead of a 200-chunk stream, import +
instrument time in a fresh interpreter, and RSS growth over ``--rss-calls`` calls after a warm-up.
See ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
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

# -- worker: runs inside a case's venv ------------------------------------------------------------


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


def _patched_attributes() -> dict[str, Any]:
    """The SDK attributes some instrumentation wraps: each must be restored when it is switched off."""
    import openai
    from openai.resources.chat import completions

    return {"Completions.create": completions.Completions.create, "OpenAI.request": openai.OpenAI.request}


class PeerBench(overhead.Bench):
    """``overhead.Bench`` (same clients, pipeline and floor) whose instrumented mode is the venv's case."""

    def __init__(self, case: str) -> None:
        super().__init__("openai")
        self.case = case
        self.original = _patched_attributes()
        self.unrestored: list[str] = []

    def set_mode(self, mode: str | None) -> None:
        """None: uninstrumented; "inst": the case at its defaults; "inst_nocontent": content off."""
        if mode == self.mode:
            return
        if self.mode is not None:
            self._off()
            now = _patched_attributes()
            self.unrestored += [name for name, value in now.items() if value is not self.original[name]]
        if mode is not None:
            self._on(content=mode != "inst_nocontent")
        self.mode = mode

    def _on(self, content: bool) -> None:
        tp = self.tracer_provider
        if self.case == "ours":
            import otel_tokenomics

            active = otel_tokenomics.instrument(tracer_provider=tp)
            if "tokenomics_openai" not in active:
                raise SystemExit(f"otel_tokenomics.instrument() did not activate openai ({active})")
            return
        if self.case == "openllmetry":
            # Read on every call by the instrumentation; default "true".
            if content:
                os.environ.pop("TRACELOOP_TRACE_CONTENT", None)
            else:
                os.environ["TRACELOOP_TRACE_CONTENT"] = "false"
        kwargs: dict[str, Any] = {"tracer_provider": tp}
        if self.case == "openinference" and not content:
            from openinference.instrumentation import TraceConfig

            kwargs["config"] = TraceConfig(hide_inputs=True, hide_outputs=True)
        _instrumentor(self.case).instrument(**kwargs)

    def _off(self) -> None:
        if self.case == "ours":
            import otel_tokenomics

            otel_tokenomics.uninstrument()
        else:
            _instrumentor(self.case).uninstrument()
        os.environ.pop("TRACELOOP_TRACE_CONTENT", None)


def worker_cases(case: str) -> dict[str, tuple[str | None, str]]:
    cases: dict[str, tuple[str | None, str]] = {
        "baseline": (None, "baseline (uninstrumented)"),
        "floor": (None, "floor (hand-made span)"),
        "inst": ("inst", CASES[case].label),
    }
    if CASES[case].content_off:
        cases["inst_nocontent"] = ("inst_nocontent", CASES[case].label + ", content off")
    return cases


def _usage_seen(attributes: dict[str, Any]) -> dict[str, bool]:
    """Whether a span carries the workload's token counts under any attribute name."""
    values = set()
    for value in attributes.values():
        if isinstance(value, int) and not isinstance(value, bool):
            values.add(value)
    return {"input_tokens": 2048 in values, "output_tokens": 612 in values, "cached_tokens": 1536 in values}


def verify(bench: PeerBench, cases: dict[str, tuple[str | None, str]]) -> tuple[list[str], dict[str, Any]]:
    """One call of every case and workload: one span per traced call, every chunk reaches the app."""
    problems: list[str] = []
    spans: dict[str, Any] = {}
    for case, (mode, _label) in cases.items():
        bench.set_mode(mode)
        for kind in overhead.WORKLOADS:
            traced = overhead.run_once(bench, case, kind, problems)
            if traced and bench.exporter.last is not None:
                attributes = dict(bench.exporter.last.attributes or {})
                spans[f"{case}/{kind}"] = {"attributes": len(attributes), "usage": _usage_seen(attributes)}
    bench.set_mode(None)
    if bench.unrestored:
        problems.append(f"not restored after uninstrument: {sorted(set(bench.unrestored))}")
    return problems, spans


WALL_PLANS = {
    # rounds; per workload: (warm-up calls after each switch, calls per timed batch)
    "quick": {"rounds": 4, "chat": (10, 50), "s10": (3, 20), "s200": (1, 3), "import_pairs": 3},
    "default": {"rounds": 20, "chat": (20, 150), "s10": (5, 60), "s200": (1, 8), "import_pairs": 10},
}
CALLGRIND_PLANS = overhead.CALLGRIND_PLANS


def worker_wall(case: str, plan: dict[str, Any], rounds: int) -> dict[str, Any]:
    overhead.block_network()
    bench = PeerBench(case)
    cases = worker_cases(case)
    problems, spans = verify(bench, cases)
    # overhead.run_wall rotates the cases of its module-level table: give it this venv's.
    overhead.CASES = cases
    per_round = overhead.run_wall(bench, plan, rounds)
    bench.flush()
    again, _ = verify(bench, cases)  # after hundreds of on/off switches the cases still behave
    return {
        "problems": problems + [f"after the rounds: {p}" for p in again],
        "spans": spans,
        "summary": {clock: overhead.summarize(values, "us") for clock, values in per_round.items()},
        "spans_exported": bench.exporter.count,
        "spans_expected": bench.spans_expected,
    }


def worker_callgrind(case: str, out_dir: str, plan: dict[str, tuple[int, int]]) -> None:
    """Runs under callgrind: every os.getppid() closes a segment (``--dump-before=getppid``)."""
    labels: list[str] = []

    def mark(label: str) -> None:
        labels.append(label)
        os.getppid()

    overhead.block_network()
    bench = PeerBench(case)
    cases = worker_cases(case)
    problems, _spans = verify(bench, cases)
    mark("startup")
    for name, (mode, _label) in cases.items():
        bench.set_mode(mode)
        mark(f"{name}/set_mode")
        for kind in overhead.WORKLOADS:
            warm, measured = plan[kind]
            fn, _traced = bench.workload(name, kind)
            for _ in range(warm):
                fn()
            bench.flush()
            gc.collect()
            mark(f"{name}/{kind}/warmup")
            for _ in range(measured):
                fn()
            bench.flush()
            mark(f"{name}/{kind}/measured")
    bench.set_mode(None)
    mark("teardown")
    with open(os.path.join(out_dir, "segments.json"), "w") as f:
        json.dump({"labels": labels, "cases": list(cases), "problems": problems}, f)


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


RSS_WARMUP = 5000
RSS_FLUSH_EVERY = 1000


def worker_rss(case: str, which: str, calls: int) -> dict[str, Any]:
    """RSS growth over ``calls`` non-streaming calls after a warm-up, spans flushed every 1,000 calls.

    The flushes keep the span processor's queue short, so what grows is what the calls leave behind,
    not the exporter's backlog.
    """
    overhead.block_network()
    bench = PeerBench(case)
    bench.set_mode("inst" if which == "inst" else None)
    fn, _traced = bench.workload(which, "chat")
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
    plan_name = "quick" if args.quick else "default"
    if args.worker_task == "callgrind":
        worker_callgrind(args.worker, args.callgrind_dir, CALLGRIND_PLANS[plan_name])
        return 0
    if args.worker_task == "wall":
        plan = WALL_PLANS[plan_name]
        result = worker_wall(args.worker, plan, args.rounds or plan["rounds"])
    elif args.worker_task in ("rss-baseline", "rss-floor", "rss-inst"):
        result = worker_rss(args.worker, args.worker_task.removeprefix("rss-"), args.rss_calls)
    elif args.worker_task == "versions":
        result = worker_versions()
    else:
        raise SystemExit(f"unknown worker task {args.worker_task}")
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
    """A case's worker exited non-zero: the report says so and the other cases go on."""


def run_worker(
    python: Path, case: str, task: str, args: argparse.Namespace, extra: list[str] | None = None
) -> Any:
    with tempfile.TemporaryDirectory(prefix="peers-") as tmp:
        out = os.path.join(tmp, "out.json")
        command = [str(python), str(Path(__file__).resolve()), "--worker", case, "--worker-task", task]
        command += ["--worker-out", out, "--rss-calls", str(args.rss_calls)]
        if args.quick:
            command.append("--quick")
        if args.rounds:
            command += ["--rounds", str(args.rounds)]
        command += extra or []
        code = subprocess.run(command, env=worker_env()).returncode
        if code != 0:
            raise WorkerFailed(f"worker {case}/{task} failed ({code}); its traceback is above")
        with open(out) as f:
            return json.load(f)


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


def callgrind_case(python: Path, case: str, quick: bool) -> dict[str, Any]:
    """Instructions per call of every worker case, and import + instrument, under callgrind."""
    env = worker_env()
    env["PYTHONHASHSEED"] = "0"
    plan = CALLGRIND_PLANS["quick" if quick else "default"]
    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="peers-cg-") as out_dir:
        command = [*overhead.valgrind_command(out_dir), str(python), str(Path(__file__).resolve())]
        command += ["--worker", case, "--worker-task", "callgrind", "--callgrind-dir", out_dir]
        if quick:
            command.append("--quick")
        overhead._run_logged(command, env, os.path.join(out_dir, "valgrind.log"))
        with open(os.path.join(out_dir, "segments.json")) as f:
            meta = json.load(f)
        dumps = overhead._read_dumps(out_dir)
        labels = meta["labels"]
        if len(dumps) < len(labels):
            raise SystemExit(f"callgrind wrote {len(dumps)} dumps for {len(labels)} markers ({case})")
        segments = dict(zip(labels, dumps[: len(labels)], strict=True))
        per_round = {
            name: {kind: [segments[f"{name}/{kind}/measured"] / plan[kind][1]] for kind in overhead.WORKLOADS}
            for name in meta["cases"]
        }
        result["problems"] = meta["problems"]
        result["summary"] = overhead.summarize(per_round, "instructions")
        for path in Path(out_dir).glob("cg.out.*"):
            path.unlink()
        code = f"import os; import openai; os.getppid(); {CASES[case].import_code}; os.getppid()"
        overhead._run_logged(
            [*overhead.valgrind_command(out_dir), str(python), "-c", code],
            env,
            os.path.join(out_dir, "imp.log"),
        )
        dumps = overhead._read_dumps(out_dir)
        result["import_instr"] = dumps[1]
    return result


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
                row["chunk_instr"] = c["per_chunk_overhead"]
            if key == "inst":
                row["version"] = result.get("versions", {}).get("packages", {}).get(CASES[name].distribution)
                row["import_ms"] = result.get("import", {}).get("delta_ms")
                if "callgrind" in result:
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
        head += ["overhead M instr/call", "÷ floor (instr)", "per-chunk instr"]
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
    report: dict[str, Any] = {
        "environment": {
            "python": platform.python_version(),
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            "pins": PINS,
        },
        "quick": args.quick,
        "rss_calls": args.rss_calls,
        "rounds": args.rounds or WALL_PLANS["quick" if args.quick else "default"]["rounds"],
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
    pairs = WALL_PLANS["quick" if args.quick else "default"]["import_pairs"]
    for name in [n for n in names if n not in failed]:
        entry = report["cases"][name]
        t0 = time.perf_counter()
        print(f"[{name}] wall clock rounds...", file=log, flush=True)
        try:
            wall = entry["wall"] = run_worker(pythons[name], name, "wall", args)
        except WorkerFailed as exc:
            entry["problems"].append(str(exc))
            failed.add(name)
            continue
        entry["problems"] += wall["problems"]
        if wall["spans_exported"] != wall["spans_expected"]:
            entry["problems"].append(
                f"spans exported {wall['spans_exported']} != expected {wall['spans_expected']}"
            )
        print(f"[{name}] import + instrument...", file=log, flush=True)
        entry["import"] = import_time_ms(pythons[name], name, pairs)
        print(f"[{name}] timed phases {time.perf_counter() - t0:.0f} s", file=log, flush=True)

    # Instruction counts and RSS do not depend on the machine's load: run them side by side.
    alive = [n for n in names if n not in failed]
    jobs: list[tuple[str, str]] = []
    if args.rss_calls:
        if "ours" in alive:
            jobs += [("ours", "rss-baseline"), ("ours", "rss-floor")]
        jobs += [(n, "rss-inst") for n in alive]
    if args.callgrind:
        jobs += [(n, "callgrind") for n in alive]

    def run_job(job: tuple[str, str]) -> tuple[str, str, Any]:
        name, task = job
        t0 = time.perf_counter()
        print(f"[{name}] {task}...", file=log, flush=True)
        try:
            if task == "callgrind":
                result = callgrind_case(pythons[name], name, args.quick or args.callgrind_plan == "quick")
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
            elif task == "callgrind":
                entry["callgrind"] = result
                entry["problems"] += [f"callgrind: {p}" for p in result["problems"]]
            else:
                entry.setdefault("rss", {})[task.removeprefix("rss-")] = result
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
