"""How long estimating a prompt takes: a 2,000-token chat prompt, counted as a call's end would.

Cases (``count_prompt`` for ``gpt-4o``, o200k_base loaded beforehand):

* ``cold``: every message text new (nothing cached): what the first call of a
  conversation pays;
* ``warm``: the same prompt again: the long texts come from the count cache, as a
  conversation resending its history does;
* ``heuristic``: a model without a public tokenizer (and an OpenAI model before its
  encoding loads), every text new.

Target (issue 6): a 2,000-token prompt in at most 1 ms. Per-chunk overhead with
estimation is measured by ``overhead.py --sdk openai-estimated`` (streams whose
usage is estimated at their end). Run: ``python benchmarks/estimation.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
_CACHE = ROOT.parent / "shared" / "tiktoken-cache"
if "TIKTOKEN_CACHE_DIR" not in os.environ and _CACHE.is_dir():
    os.environ["TIKTOKEN_CACHE_DIR"] = str(_CACHE)

TARGET_MS = 1.0
MODEL = "gpt-4o"

_PARAGRAPH = (
    "Prompt caching lets a provider reuse the processed prefix of a request, so a long system "
    "prompt or a shared document is billed at a lower rate when it is sent again within minutes. "
    "Streaming returns the answer in chunks as it is generated; the usage of a stream arrives at "
    "its end, if the request asked for it, and an application that stops reading early never sees "
    "it. Costs are then estimated from the request and the text that was streamed. "
)


def prompt_messages(salt: str, target_tokens: int = 2000) -> list[dict[str, Any]]:
    """Ten messages of about ``target_tokens`` in all; ``salt`` makes every text new."""
    per_message = target_tokens // 10
    words = _PARAGRAPH.split()
    messages: list[dict[str, Any]] = [{"role": "system", "content": f"[{salt}] You are a careful analyst."}]
    index = 0
    while len(messages) < 10:
        chunk = []
        # About one token a word for this English text, framing included.
        while len(chunk) < per_message:
            chunk.append(words[index % len(words)])
            index += 1
        role = "user" if len(messages) % 2 else "assistant"
        messages.append({"role": role, "content": f"[{salt}:{len(messages)}] " + " ".join(chunk)})
    return messages


def timed(function: Any, repeat: int) -> list[float]:
    samples = []
    for i in range(repeat):
        started = time.perf_counter()
        function(i)
        samples.append((time.perf_counter() - started) * 1e3)
    return samples


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=300)
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args(argv)

    from otel_tokenomics.estimation import tokenizers
    from otel_tokenomics.estimation.counting import count_prompt
    from otel_tokenomics.estimation.tokenizers import O200K
    from otel_tokenomics.providers.openai_prompt import chat_prompt

    if not tokenizers.wait_for([O200K], timeout=60):
        print(f"o200k_base does not load: {tokenizers.status()}")
        return 1
    probe = count_prompt(chat_prompt({"messages": prompt_messages("probe")}), MODEL, "openai")
    print(f"prompt: 10 messages, {probe.tokens} tokens ({probe.tokenizer})")

    prompts = [chat_prompt({"messages": prompt_messages(f"cold{i}")}) for i in range(args.repeat)]
    warm = chat_prompt({"messages": prompt_messages("warm")})
    count_prompt(warm, MODEL, "openai")

    def cold_case(i: int) -> None:
        count_prompt(prompts[i], MODEL, "openai")

    def warm_case(i: int) -> None:
        count_prompt(warm, MODEL, "openai")

    heuristic_prompts = [
        chat_prompt({"messages": prompt_messages(f"heuristic{i}")}) for i in range(args.repeat)
    ]

    def heuristic_case(i: int) -> None:
        count_prompt(heuristic_prompts[i], "claude-sonnet-4-5", "anthropic")

    results: dict[str, Any] = {"prompt_tokens": probe.tokens, "target_ms": TARGET_MS}
    print(f"{'case':<12}{'median ms':>12}{'p95 ms':>10}")
    for name, case in (("cold", cold_case), ("warm", warm_case), ("heuristic", heuristic_case)):
        samples = timed(case, args.repeat)
        median = statistics.median(samples)
        p95 = sorted(samples)[int(len(samples) * 0.95) - 1]
        results[name] = {"median_ms": median, "p95_ms": p95}
        print(f"{name:<12}{median:>12.3f}{p95:>10.3f}")
    verdict = "OK" if results["cold"]["median_ms"] <= TARGET_MS else "ABOVE TARGET"
    print(f"target: a {probe.tokens}-token prompt in <= {TARGET_MS} ms (cold): {verdict}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
