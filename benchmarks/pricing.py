"""Price-lookup benchmarks: first catalog load, cost of a call for a seen model, import.

    python benchmarks/pricing.py            # ~20 s
    python benchmarks/pricing.py --json out.json

Targets (issue: price catalog and cost engine): a cost lookup for a model already
seen <= 5 us; the first catalog load <= 20 ms; `import otel_tokenomics` loads no
catalog. Load times are measured in fresh interpreters (median of several), the
per-call cost as the best of several timeit repeats.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import timeit
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_LOAD = """
import time
from otel_tokenomics.pricing.catalog import load_catalog
t0 = time.perf_counter()
catalog = load_catalog()
t1 = time.perf_counter()
catalog.find("openai", "gpt-4o-2024-08-06")
t2 = time.perf_counter()
print((t1 - t0) * 1e3, (t2 - t1) * 1e3)
"""

_IMPORT = """
import sys
import otel_tokenomics
loaded = [m for m in sys.modules if m.startswith("otel_tokenomics.pricing") or m.startswith("genai_prices")]
print(",".join(loaded))
"""

_CASES = {
    "openai gpt-4o (dated id), cached input": (
        "openai",
        "gpt-4o-2024-08-06",
        {"input_tokens": 2048, "output_tokens": 612, "cache_read_tokens": 1536},
        None,
    ),
    "openai o4-mini, reasoning, service tier": (
        "openai",
        "o4-mini",
        {"input_tokens": 2048, "output_tokens": 612, "cache_read_tokens": 1536, "reasoning_tokens": 256},
        {"service_tier": "default"},
    ),
    "anthropic sonnet 4.5, 5m+1h cache writes": (
        "anthropic",
        "claude-sonnet-4-5-20250929",
        {
            "input_tokens": 10000,
            "output_tokens": 500,
            "cache_read_tokens": 6000,
            "cache_write_tokens": 2000,
            "cache_write_by_ttl": {"5m": 1000, "1h": 1000},
        },
        None,
    ),
    "gemini 2.5 pro, above the 200k tier": (
        "gcp.gen_ai",
        "models/gemini-2.5-pro",
        {"input_tokens": 250000, "output_tokens": 1000},
        None,
    ),
}


def _fresh(code: str, runs: int) -> list[str]:
    return [
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
        ).stdout
        for _ in range(runs)
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--runs", type=int, default=7, help="fresh interpreters for the load time")
    args = parser.parse_args()

    from otel_tokenomics.pricing.engine import Pricer
    from otel_tokenomics.usage import Usage

    results: dict[str, object] = {}
    loaded = _fresh(_IMPORT, 1)[0].strip()
    results["import_loads_pricing"] = loaded
    print(f"import otel_tokenomics loads pricing modules: {loaded or 'none'} (target: none)")

    loads, lookups = [], []
    for line in _fresh(_LOAD, args.runs):
        load, lookup = map(float, line.split())
        loads.append(load)
        lookups.append(lookup)
    load_ms, first_ms = statistics.median(loads), statistics.median(lookups)
    results["first_load_ms"] = load_ms
    results["first_lookup_ms"] = first_ms
    print(
        f"first catalog load: {load_ms:.2f} ms, then first OpenAI lookup {first_ms:.2f} ms "
        f"(median of {args.runs}; target load <= 20 ms)"
    )

    pricer = Pricer()
    per_call: dict[str, float] = {}
    for name, (provider, model, fields, context) in _CASES.items():
        usage = Usage(**fields)
        now = 1_790_000_000_000_000_000
        if pricer.cost(provider, (model,), usage, now, context) is None:
            raise SystemExit(f"{name}: not priced")
        number = 20000
        best = min(
            timeit.repeat(
                lambda p=provider, m=(model,), u=usage, c=context, t=now: pricer.cost(p, m, u, t, c),
                number=number,
                repeat=7,
            )
        )
        per_call[name] = best / number * 1e6
        print(f"cost of a call, seen model: {per_call[name]:.2f} us  [{name}] (target <= 5 us)")
    results["cost_us"] = per_call
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
