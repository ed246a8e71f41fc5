"""Many calls at once: every span keeps exactly its own counts and cost, and the sums add up.

1,000 async streams under ``asyncio.gather`` (the fake server hands each chunk out with a
yield to the event loop, so the streams really interleave, chunk by chunk), and 16
threads of sync calls. Each request names a number; the fake answers it with a usage
derived from that number alone, so a span that mixed up two calls' readings would not
match any request. Expected costs are worked out from the catalog's list prices.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import json
import threading
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import pytest
from openai_fakes import Server, chat_chunks, chat_completion, sse

from otel_tokenomics import pricing
from otel_tokenomics.pricing.catalog import load_catalog

MODEL = "o4-mini"
RESPONSE_MODEL = "o4-mini-2025-04-16"
STREAMS, GROUPS = 1000, 10  # async streams, in GROUPS task groups each under its own span
THREADS, PER_THREAD = 16, 50
ROLLUP = "tokenomics.rollup."
WAIT = 60.0  # a bound on every join: far above the seconds this takes on a loaded CI box


def usage_of(n: int) -> dict[str, Any]:
    """Request n's usage: input 1000+n tells the span's request apart from every other one."""
    output = 50 + (n * 7) % 300
    return {
        "prompt_tokens": 1000 + n,
        "completion_tokens": output,
        "total_tokens": 1000 + n + output,
        "prompt_tokens_details": {"cached_tokens": (n * 13) % 900},
        "completion_tokens_details": {"reasoning_tokens": n % 40},
    }


@functools.cache
def _prices() -> Any:
    return load_catalog().find("openai", RESPONSE_MODEL).at(time.time_ns())


@functools.cache
def cost_of(n: int) -> Decimal:
    """Request n's USD cost from the catalog's per-million prices (reasoning billed as output)."""
    prices = _prices()
    usage = usage_of(n)
    cached = usage["prompt_tokens_details"]["cached_tokens"]
    uncached = usage["prompt_tokens"] - cached
    total = uncached * prices.input + cached * prices.cache_read + usage["completion_tokens"] * prices.output
    return total / 1_000_000


def number_of(body: dict[str, Any]) -> int:
    return int(body["messages"][0]["content"].removeprefix("request "))


class InterleavingServer(Server):
    """Chat answered per request number; an async stream yields to the loop between chunks."""

    def __init__(self) -> None:
        super().__init__()
        self.routes["/chat/completions"] = self._chat

    def _chat(self, request: Any) -> Any:
        body = json.loads(request.content)
        n = number_of(body)
        if not body.get("stream"):
            return self.http.Response(200, json=chat_completion(model=RESPONSE_MODEL, usage=usage_of(n)))
        asked = (body.get("stream_options") or {}).get("include_usage") is True
        pieces = [f"answer {n}", " part", " two"]
        payload = sse(chat_chunks(pieces, model=RESPONSE_MODEL, usage=usage_of(n) if asked else None))
        return self.http.Response(200, headers={"content-type": "text/event-stream"}, content=payload)

    async def async_handler(self, request: Any) -> Any:
        await asyncio.sleep(0)
        response = self.handler(request)
        events = [event + b"\n\n" for event in response.read().split(b"\n\n") if event]

        async def body() -> AsyncIterator[bytes]:
            for event in events:
                await asyncio.sleep(0)  # the other streams read on between our chunks
                yield event

        return self.http.Response(response.status_code, headers=response.headers, content=body())


@pytest.fixture(autouse=True)
def catalog_prices(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.delenv("OTEL_TOKENOMICS_PRICES", raising=False)
    monkeypatch.delenv("OTEL_TOKENOMICS_PRICING_FALLBACK", raising=False)
    pricing.reset()
    yield
    pricing.reset()


def _rollup(span: Any) -> dict[str, Any]:
    return {k.removeprefix(ROLLUP): v for k, v in span.attributes.items() if k.startswith(ROLLUP)}


def _expected_rollup(numbers: list[int]) -> dict[str, Any]:
    usages = [usage_of(n) for n in numbers]
    return {
        # float(Decimal) is correctly rounded: equal floats mean the exact sum.
        "cost.total": float(sum((cost_of(n) for n in numbers), Decimal(0))),
        "cost.status": "complete",
        "llm_calls": len(numbers),
        "usage.input_tokens": sum(u["prompt_tokens"] for u in usages),
        "usage.output_tokens": sum(u["completion_tokens"] for u in usages),
        "usage.cache_read.input_tokens": sum(u["prompt_tokens_details"]["cached_tokens"] for u in usages),
        "usage.cache_write.input_tokens": 0,
        "usage.reasoning.output_tokens": sum(
            u["completion_tokens_details"]["reasoning_tokens"] for u in usages
        ),
    }


def _check_own_counts(llm_spans: list[Any], numbers: list[int], *, streamed: set[int]) -> None:
    """Each span's counts and cost are exactly those of one request, and every request has one span."""
    seen = []
    for span in llm_spans:
        attributes = span.attributes
        n = attributes["gen_ai.usage.input_tokens"] - 1000
        usage = usage_of(n)
        assert (
            attributes["gen_ai.usage.output_tokens"],
            attributes["gen_ai.usage.cache_read.input_tokens"],
            attributes["gen_ai.usage.reasoning.output_tokens"],
            attributes["tokenomics.cost.total"],
            attributes["tokenomics.cost.status"],
            attributes.get("gen_ai.request.stream", False),
        ) == (
            usage["completion_tokens"],
            usage["prompt_tokens_details"]["cached_tokens"],
            usage["completion_tokens_details"]["reasoning_tokens"],
            float(cost_of(n)),
            "priced",
            n in streamed,
        ), n
        if n in streamed:
            assert attributes["tokenomics.stream.outcome"] == "completed"
            assert attributes["tokenomics.stream.chunk_count"] == 5  # role, 3 pieces, finish; usage hidden
        seen.append(n)
    assert sorted(seen) == sorted(numbers)


def _cost_counter_total(telemetry: Any) -> float:
    return sum(p.value for p in telemetry.metrics().get("tokenomics.cost", []))


def _children(spans: list[Any], parent: Any) -> list[Any]:
    return [s for s in spans if s.parent is not None and s.parent.span_id == parent.context.span_id]


def test_a_thousand_concurrent_async_streams_each_keep_their_own_usage(instrument, telemetry) -> None:
    instrument()
    client = InterleavingServer().async_client()
    tracer = telemetry.tracer_provider.get_tracer("app")
    texts: dict[int, str] = {}

    async def one(n: int) -> None:
        stream = await client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": f"request {n}"}], stream=True
        )
        parts = []
        async for chunk in stream:
            parts.extend(choice.delta.content or "" for choice in chunk.choices)
        texts[n] = "".join(parts)

    async def group(g: int) -> None:
        # One span per task group; the tasks inherit it through their copied context.
        with tracer.start_as_current_span(f"group {g}"):
            await asyncio.gather(*(one(n) for n in range(g, STREAMS, GROUPS)))

    async def main() -> None:
        with tracer.start_as_current_span("workflow"):
            await asyncio.wait_for(asyncio.gather(*(group(g) for g in range(GROUPS))), WAIT)

    asyncio.run(main())

    # The caller read each stream whole, its own answer, and no usage chunk it did not ask for.
    assert texts == {n: f"answer {n} part two" for n in range(STREAMS)}
    spans = telemetry.spans()
    llm = [s for s in spans if "tokenomics.cost.status" in s.attributes]
    # They really ran at once: most streams had started before the first one ended.
    first_end = min(s.end_time for s in llm)
    assert sum(s.start_time < first_end for s in llm) > STREAMS // 2
    workflow = next(s for s in spans if s.name == "workflow")
    groups = {s.name: s for s in _children(spans, workflow)}
    assert sorted(groups) == sorted(f"group {g}" for g in range(GROUPS))
    assert len(llm) == STREAMS
    _check_own_counts(llm, list(range(STREAMS)), streamed=set(range(STREAMS)))
    for g in range(GROUPS):
        members = list(range(g, STREAMS, GROUPS))
        children = _children(spans, groups[f"group {g}"])
        _check_own_counts(children, members, streamed=set(members))
        assert _rollup(groups[f"group {g}"]) == _expected_rollup(members)
    assert _rollup(workflow) == _expected_rollup(list(range(STREAMS)))
    total = sum((cost_of(n) for n in range(STREAMS)), Decimal(0))
    # The counter adds floats, one per token class per call: equal to the exact total up to rounding.
    assert _cost_counter_total(telemetry) == pytest.approx(float(total), rel=1e-9, abs=0)


def test_sixteen_threads_of_sync_calls_each_keep_their_own_usage(instrument, telemetry) -> None:
    instrument()
    server = InterleavingServer()
    tracer = telemetry.tracer_provider.get_tracer("app")
    start = threading.Barrier(THREADS, timeout=WAIT)
    streamed = {n for n in range(THREADS * PER_THREAD) if n % 2 == 0}  # half streamed, half whole

    def worker(t: int) -> list[str]:
        client = server.client()  # one client per thread, as apps commonly do; both are safe
        answers = []
        with tracer.start_as_current_span(f"thread {t}"):
            start.wait()  # all threads call at once
            for n in range(t * PER_THREAD, (t + 1) * PER_THREAD):
                messages = [{"role": "user", "content": f"request {n}"}]
                if n in streamed:
                    chunks = client.chat.completions.create(model=MODEL, messages=messages, stream=True)
                    answers.append("".join(c.choices[0].delta.content or "" for c in chunks))
                else:
                    answers.append(client.chat.completions.create(model=MODEL, messages=messages).id)
        return answers

    with tracer.start_as_current_span("workflow"), ThreadPoolExecutor(THREADS) as pool:
        futures = [pool.submit(contextvars.copy_context().run, worker, t) for t in range(THREADS)]
        results = [future.result(timeout=WAIT) for future in futures]

    for t, answers in enumerate(results):
        expected = [
            f"answer {n} part two" if n in streamed else "chatcmpl-abc123"
            for n in range(t * PER_THREAD, (t + 1) * PER_THREAD)
        ]
        assert answers == expected
    spans = telemetry.spans()
    workflow = next(s for s in spans if s.name == "workflow")
    threads = {s.name: s for s in _children(spans, workflow)}
    assert len(threads) == THREADS
    all_numbers = list(range(THREADS * PER_THREAD))
    _check_own_counts(
        [s for s in spans if "tokenomics.cost.status" in s.attributes], all_numbers, streamed=streamed
    )
    for t in range(THREADS):
        members = list(range(t * PER_THREAD, (t + 1) * PER_THREAD))
        _check_own_counts(_children(spans, threads[f"thread {t}"]), members, streamed=streamed)
        assert _rollup(threads[f"thread {t}"]) == _expected_rollup(members)
    assert _rollup(workflow) == _expected_rollup(all_numbers)
    total = sum((cost_of(n) for n in all_numbers), Decimal(0))
    assert _cost_counter_total(telemetry) == pytest.approx(float(total), rel=1e-9, abs=0)
