"""Span roll-ups: every span with LLM calls beneath it carries their exact sums.

The calls are real: the openai SDK over the fake server, instrumented; the spans
around them come from an application tracer, in threads and asyncio tasks.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import os
import pathlib
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import pytest
from openai_fakes import CHAT_USAGE, Server, embeddings_response
from opentelemetry import context, trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from otel_tokenomics.pricing.catalog import load_catalog
from otel_tokenomics.rollup import RollupSpanProcessor, _write, install

MESSAGES = [{"role": "user", "content": "Say hello."}]
ROLLUP = "tokenomics.rollup."

# Per request model: what the fake answers with. o4-mini is the fake's default usage:
# 2048 input of which 1536 cached, 612 output of which 256 reasoning.
MINI_USAGE = {
    "prompt_tokens": 1200,
    "completion_tokens": 300,
    "total_tokens": 1500,
    "prompt_tokens_details": {"cached_tokens": 200, "cache_write_tokens": 100},
    "completion_tokens_details": {"reasoning_tokens": 0},
}
ANSWERS = {
    "o4-mini": ("o4-mini-2025-04-16", CHAT_USAGE),
    "gpt-4o-mini": ("gpt-4o-mini-2024-07-18", MINI_USAGE),
    # No catalog has it: priced by nobody.
    "acme-private-llm": ("acme-private-llm", CHAT_USAGE),
}
EMBEDDING_TOKENS = 321


def _server() -> Server:
    """Chat answers by request model (streamed when asked, usage chunk when asked), and embeddings."""
    server = Server()

    def answer(body: dict[str, Any]) -> Any:
        if body["model"] == "failing-model":
            return server.http.Response(500, json={"error": {"message": "boom", "type": "server_error"}})
        return ANSWERS[body["model"]]

    server.chat(answer)
    server.json("/embeddings", embeddings_response(EMBEDDING_TOKENS))
    return server


def _catalog_cost(
    model: str, input_tokens: int, cached: int, output_tokens: int, cache_write: int = 0
) -> Decimal:
    """One call's USD cost from the catalog's per-million prices (no reasoning price: output rate)."""
    prices = load_catalog().find("openai", model).at(time.time_ns())
    cache_read_rate = prices.cache_read if prices.cache_read is not None else prices.input
    cache_write_rate = prices.cache_write if prices.cache_write is not None else prices.input
    uncached = input_tokens - cached - cache_write
    cost = uncached * prices.input + cached * cache_read_rate + cache_write * cache_write_rate
    if output_tokens:  # embeddings have no output price
        cost += output_tokens * prices.output
    return cost / 1_000_000


O4_COST = _catalog_cost("o4-mini-2025-04-16", 2048, 1536, 612)
MINI_COST = _catalog_cost("gpt-4o-mini-2024-07-18", 1200, 200, 300, cache_write=100)
EMBEDDING_COST = _catalog_cost("text-embedding-3-small", EMBEDDING_TOKENS, 0, 0)


def _setup(instrument: Any, telemetry: Any) -> RollupSpanProcessor:
    instrument()
    # instrument() may already have added it: install() then returns that one.
    processor = install(telemetry.tracer_provider)
    assert processor is not None
    return processor


def _by_name(telemetry: Any) -> dict[str, ReadableSpan]:
    spans = telemetry.spans()
    named = {span.name: span for span in spans}
    assert len(named) == len(spans), [span.name for span in spans]
    return named


def _rollup(span: ReadableSpan) -> dict[str, Any]:
    return {
        key.removeprefix(ROLLUP): value for key, value in span.attributes.items() if key.startswith(ROLLUP)
    }


def _expected(
    cost: Decimal,
    calls: int,
    input_tokens: int,
    output_tokens: int,
    cache_read: int,
    cache_write: int,
    reasoning: int,
    status: str = "complete",
) -> dict[str, Any]:
    return {
        # float(Decimal) is correctly rounded: equal floats mean the exact sum.
        "cost.total": float(cost),
        "cost.status": status,
        "llm_calls": calls,
        "usage.input_tokens": input_tokens,
        "usage.output_tokens": output_tokens,
        "usage.cache_read.input_tokens": cache_read,
        "usage.cache_write.input_tokens": cache_write,
        "usage.reasoning.output_tokens": reasoning,
    }


def _own_costs(spans: list[ReadableSpan]) -> Decimal:
    return sum(
        (
            Decimal(repr(s.attributes["tokenomics.cost.total"]))
            for s in spans
            if "tokenomics.cost.total" in s.attributes
        ),
        Decimal(0),
    )


def _llm_spans(telemetry: Any) -> list[ReadableSpan]:
    return [s for s in telemetry.spans() if "tokenomics.cost.status" in s.attributes]


def test_tree_across_threads_and_asyncio_tasks_sums_exactly_on_every_level(instrument, telemetry) -> None:
    processor = _setup(instrument, telemetry)
    server = _server()
    client, async_client = server.client(), server.async_client()
    tracer = telemetry.tracer_provider.get_tracer("app")

    def in_thread(model: str) -> None:
        client.chat.completions.create(model=model, messages=MESSAGES)

    async def in_tasks() -> None:
        await asyncio.gather(
            async_client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES),
            async_client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES),
            async_client.embeddings.create(model="text-embedding-3-small", input="hello"),
        )

    with tracer.start_as_current_span("root"):
        with tracer.start_as_current_span("threads"), ThreadPoolExecutor(2) as pool:
            # The OTel context lives in contextvars: each thread runs in a copy of ours.
            futures = [
                pool.submit(contextvars.copy_context().run, in_thread, model)
                for model in ("o4-mini", "gpt-4o-mini")
            ]
            for future in futures:
                future.result()
        with tracer.start_as_current_span("tasks"):
            asyncio.run(in_tasks())

    # LLM spans' names repeat: each is found by its parent.
    finished = telemetry.spans()
    app = {s.name: s for s in finished if s.name in ("root", "threads", "tasks")}
    children = {
        name: [s for s in finished if s.parent and s.parent.span_id == app[name].context.span_id]
        for name in app
    }
    assert len(children["threads"]) == 2 and len(children["tasks"]) == 3
    assert all("tokenomics.cost.status" in s.attributes for s in children["threads"] + children["tasks"])

    threads = _expected(O4_COST + MINI_COST, 2, 2048 + 1200, 612 + 300, 1536 + 200, 100, 256)
    tasks = _expected(2 * MINI_COST + EMBEDDING_COST, 3, 2 * 1200 + EMBEDDING_TOKENS, 600, 400, 200, 0)
    root = _expected(
        O4_COST + 3 * MINI_COST + EMBEDDING_COST,
        5,
        2048 + 3 * 1200 + EMBEDDING_TOKENS,
        612 + 900,
        1536 + 600,
        300,
        256,
    )
    assert _rollup(app["threads"]) == threads
    assert _rollup(app["tasks"]) == tasks
    assert _rollup(app["root"]) == root
    # The LLM spans carry their own cost, no roll-up; their costs add up to the root's.
    assert all(not _rollup(s) for s in children["threads"] + children["tasks"])
    assert _own_costs(_llm_spans(telemetry)) == O4_COST + 3 * MINI_COST + EMBEDDING_COST
    assert float(O4_COST) == pytest.approx(0.0036784, abs=1e-12)  # the list prices, by hand
    assert processor.open_spans == 0


def test_fifty_levels_deep_each_level_has_the_rollup(instrument, telemetry) -> None:
    _setup(instrument, telemetry)
    client = _server().client()
    tracer = telemetry.tracer_provider.get_tracer("app")

    def nest(level: int) -> None:
        with tracer.start_as_current_span(f"level-{level}"):
            if level == 50:
                client.chat.completions.create(model="o4-mini", messages=MESSAGES)
            else:
                nest(level + 1)

    nest(1)
    spans = _by_name(telemetry)
    expected = _expected(O4_COST, 1, 2048, 612, 1536, 0, 256)
    for level in range(1, 51):
        assert _rollup(spans[f"level-{level}"]) == expected, level
    assert not _rollup(spans["chat o4-mini"])


def test_unpriced_call_makes_the_sum_partial_without_its_cost(instrument, telemetry) -> None:
    _setup(instrument, telemetry)
    client = _server().client()
    tracer = telemetry.tracer_provider.get_tracer("app")
    with tracer.start_as_current_span("root"):
        with tracer.start_as_current_span("priced"):
            client.chat.completions.create(model="o4-mini", messages=MESSAGES)
        with tracer.start_as_current_span("unpriced"):
            client.chat.completions.create(model="acme-private-llm", messages=MESSAGES)

    spans = _by_name(telemetry)
    assert spans["chat acme-private-llm"].attributes["tokenomics.cost.status"] == "unpriced"
    assert _rollup(spans["priced"]) == _expected(O4_COST, 1, 2048, 612, 1536, 0, 256)
    assert _rollup(spans["unpriced"]) == _expected(Decimal(0), 1, 2048, 612, 1536, 0, 256, status="partial")
    # The call is counted, its tokens too; its unknown cost is not: partial.
    assert _rollup(spans["root"]) == _expected(O4_COST, 2, 4096, 1224, 3072, 0, 512, status="partial")


def test_estimated_stream_makes_the_sum_partial(instrument, telemetry) -> None:
    _setup(instrument, telemetry)
    server = _server()
    # An endpoint we do not know: no include_usage asked, no usage sent; the call is estimated.
    local = server.client(base_url="http://localhost:8000/v1")
    tracer = telemetry.tracer_provider.get_tracer("app")
    with tracer.start_as_current_span("root"):
        server.client().chat.completions.create(model="o4-mini", messages=MESSAGES)
        stream = local.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
        assert "".join(c.choices[0].delta.content or "" for c in stream) == "Hello there."

    spans = _by_name(telemetry)
    estimated = spans["chat gpt-4o-mini"].attributes
    assert estimated["tokenomics.cost.status"] == "estimated"
    # "Say hello." is 10 prompt tokens for gpt-4o-mini, "Hello there." 3 output tokens.
    assert (estimated["gen_ai.usage.input_tokens"], estimated["gen_ai.usage.output_tokens"]) == (10, 3)
    # The estimate is added (it is the best figure there is) but the sum is only partial.
    total = O4_COST + _catalog_cost("gpt-4o-mini-2024-07-18", 10, 0, 3)
    assert _rollup(spans["root"]) == _expected(total, 2, 2058, 615, 1536, 0, 256, status="partial")
    assert _own_costs(_llm_spans(telemetry)) == total


def test_failed_call_without_usage_keeps_the_sum_complete(instrument, telemetry) -> None:
    _setup(instrument, telemetry)
    client = _server().client()
    tracer = telemetry.tracer_provider.get_tracer("app")
    with tracer.start_as_current_span("root"):
        client.chat.completions.create(model="o4-mini", messages=MESSAGES)
        with pytest.raises(Exception, match="boom"):
            client.chat.completions.create(model="failing-model", messages=MESSAGES)

    spans = _by_name(telemetry)
    assert spans["chat failing-model"].attributes["tokenomics.cost.status"] == "no_usage"
    # A refused request was not billed: counted as a call, nothing missing from the cost.
    assert _rollup(spans["root"]) == _expected(O4_COST, 2, 2048, 612, 1536, 0, 256)


def test_stream_read_after_its_span_ended_goes_to_the_open_grandparent(instrument, telemetry, caplog) -> None:
    processor = _setup(instrument, telemetry)
    client = _server().client()
    tracer = telemetry.tracer_provider.get_tracer("app")
    caplog.set_level(logging.DEBUG)
    with tracer.start_as_current_span("grandparent"):
        with tracer.start_as_current_span("handler"):
            client.chat.completions.create(model="o4-mini", messages=MESSAGES)
            stream = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
        # The handler returned its stream; it is read after the handler's span ended.
        assert "".join(c.choices[0].delta.content or "" for c in stream) == "Hello there."
        assert processor.open_spans == 1  # the grandparent

    spans = _by_name(telemetry)
    streamed = spans["chat gpt-4o-mini"]
    assert streamed.parent.span_id == spans["handler"].context.span_id
    assert streamed.end_time > spans["handler"].end_time
    mini_stream_cost = _catalog_cost("gpt-4o-mini-2024-07-18", 1200, 200, 300, cache_write=100)
    # The handler keeps what it had when it ended; the grandparent gets both calls.
    assert _rollup(spans["handler"]) == _expected(O4_COST, 1, 2048, 612, 1536, 0, 256)
    assert _rollup(spans["grandparent"]) == _expected(
        O4_COST + mini_stream_cost, 2, 3248, 912, 1736, 100, 256
    )
    assert not [r for r in caplog.records if "ended span" in r.getMessage()]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_task_that_outlives_its_handler_counts_in_the_open_request(instrument, telemetry, caplog) -> None:
    processor = _setup(instrument, telemetry)
    async_client = _server().async_client()
    tracer = telemetry.tracer_provider.get_tracer("app")

    async def serve() -> None:
        with tracer.start_as_current_span("request"):
            with tracer.start_as_current_span("handler"):
                # Fire and forget: the task first runs once the handler has returned.
                task = asyncio.create_task(
                    async_client.chat.completions.create(model="o4-mini", messages=MESSAGES)
                )
            await task

    asyncio.run(serve())
    spans = _by_name(telemetry)
    call = spans["chat o4-mini"]
    assert call.parent.span_id == spans["handler"].context.span_id
    assert call.start_time > spans["handler"].end_time
    assert not _rollup(spans["handler"])
    assert _rollup(spans["request"]) == _expected(O4_COST, 1, 2048, 612, 1536, 0, 256)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert processor.open_spans == 0


def test_late_call_with_no_open_ancestor_is_dropped_quietly(instrument, telemetry, caplog) -> None:
    processor = _setup(instrument, telemetry)
    client = _server().client()
    tracer = telemetry.tracer_provider.get_tracer("app")
    with tracer.start_as_current_span("handler"):
        stream = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    list(stream)
    spans = _by_name(telemetry)
    assert not _rollup(spans["handler"])
    assert processor.open_spans == 0
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_our_write_racing_a_span_end_logs_nothing(telemetry, caplog) -> None:
    # Between "is it open?" and our write, another thread may end the span: the SDK
    # then warns about the write; ours is expected and silenced, anyone else's is not.
    span = telemetry.tracer_provider.get_tracer("app").start_span("ended")
    span.end()
    caplog.set_level(logging.WARNING)
    _write(span, {"tokenomics.rollup.llm_calls": 1})
    assert not caplog.records
    span.set_attributes({"other": 1})
    assert [r.getMessage() for r in caplog.records] == ["Setting attribute on ended span."]


def test_remote_parent_makes_a_root(instrument, telemetry) -> None:
    processor = _setup(instrument, telemetry)
    client = _server().client()
    tracer = telemetry.tracer_provider.get_tracer("app")
    with tracer.start_as_current_span("local") as local:
        context = local.get_span_context()
        # A request from another process whose parent span id happens to be the same
        # as an open local span's: remote, so not that span's child.
        carrier = {"traceparent": f"00-{'ab' * 16}-{context.span_id:016x}-01"}
        remote = TraceContextTextMapPropagator().extract(carrier)
        with tracer.start_as_current_span("server", context=remote):
            client.chat.completions.create(model="o4-mini", messages=MESSAGES)

    spans = _by_name(telemetry)
    assert spans["server"].parent.is_remote
    assert _rollup(spans["server"]) == _expected(O4_COST, 1, 2048, 612, 1536, 0, 256)
    assert not _rollup(spans["local"])
    assert processor.open_spans == 0


def test_spans_of_other_tracers_in_between_get_the_rollup(instrument, telemetry) -> None:
    _setup(instrument, telemetry)
    client = _server().client()
    app = telemetry.tracer_provider.get_tracer("app")
    framework = telemetry.tracer_provider.get_tracer("some.framework")
    with app.start_as_current_span("request"), framework.start_as_current_span("agent"):
        with framework.start_as_current_span("tool"):
            client.chat.completions.create(model="o4-mini", messages=MESSAGES)
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

    spans = _by_name(telemetry)
    assert _rollup(spans["tool"]) == _expected(O4_COST, 1, 2048, 612, 1536, 0, 256)
    both = _expected(O4_COST + MINI_COST, 2, 3248, 912, 1736, 100, 256)
    assert _rollup(spans["agent"]) == both
    assert _rollup(spans["request"]) == both


def test_many_children_ending_at_once_in_threads(instrument, telemetry) -> None:
    processor = _setup(instrument, telemetry)
    client = _server().client()
    tracer = telemetry.tracer_provider.get_tracer("app")
    workers, calls = 8, 12
    barrier = threading.Barrier(workers)

    def work(index: int) -> None:
        with tracer.start_as_current_span(f"worker-{index}"):
            barrier.wait()
            for _ in range(calls):
                client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

    with tracer.start_as_current_span("root"), ThreadPoolExecutor(workers) as pool:
        for future in [pool.submit(contextvars.copy_context().run, work, i) for i in range(workers)]:
            future.result()

    spans = {s.name: s for s in telemetry.spans()}
    n = workers * calls
    assert _rollup(spans["root"]) == _expected(n * MINI_COST, n, n * 1200, n * 300, n * 200, n * 100, 0)
    for index in range(workers):
        assert _rollup(spans[f"worker-{index}"])["llm_calls"] == calls
    assert _own_costs(_llm_spans(telemetry)) == n * MINI_COST
    assert processor.open_spans == 0


def test_parent_ending_while_its_children_end_loses_nothing(instrument, telemetry, caplog) -> None:
    processor = _setup(instrument, telemetry)
    client = _server().client()
    tracer = telemetry.tracer_provider.get_tracer("app")
    workers, calls = 4, 10
    start = threading.Barrier(workers + 1)

    def work(parent_context: Any) -> None:
        token = context.attach(parent_context)
        try:
            start.wait()
            for _ in range(calls):
                client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        finally:
            context.detach(token)

    with tracer.start_as_current_span("grandparent"), ThreadPoolExecutor(workers) as pool:
        parent = tracer.start_span("parent")
        futures = [pool.submit(work, trace.set_span_in_context(parent)) for _ in range(workers)]
        start.wait()
        deadline = time.monotonic() + 10
        while len(telemetry.spans()) < 2 and time.monotonic() < deadline:
            time.sleep(0.0005)
        # Ends while calls beneath it end, and start, on other threads: each call reaches
        # the grandparent exactly once, through the parent or (once it ended) directly.
        parent.end()
        for future in futures:
            future.result()

    spans = {s.name: s for s in telemetry.spans()}
    n = workers * calls
    assert _rollup(spans["grandparent"]) == _expected(
        n * MINI_COST, n, n * 1200, n * 300, n * 200, n * 100, 0
    )
    assert 2 <= _rollup(spans["parent"])["llm_calls"] <= n
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert processor.open_spans == 0


def test_no_record_is_left_once_every_span_ended(instrument, telemetry) -> None:
    processor = _setup(instrument, telemetry)
    client = _server().client()
    tracer = telemetry.tracer_provider.get_tracer("app")
    for index in range(500):
        with tracer.start_as_current_span("outer"), tracer.start_as_current_span("inner"):
            if index % 50 == 0:
                client.chat.completions.create(model="o4-mini", messages=MESSAGES)
            assert processor.open_spans == 2
    assert processor.open_spans == 0


def test_open_spans_are_capped_and_newer_trees_still_roll_up(instrument, telemetry, caplog) -> None:
    processor = _setup(instrument, telemetry)
    processor.max_open_spans = 64
    client = _server().client()
    tracer = telemetry.tracer_provider.get_tracer("app")
    caplog.set_level(logging.DEBUG, logger="otel_tokenomics")
    leaked = [tracer.start_span(f"never-ended-{i}") for i in range(1000)]
    assert processor.open_spans <= 64
    with tracer.start_as_current_span("root"), tracer.start_as_current_span("mid"):
        client.chat.completions.create(model="o4-mini", messages=MESSAGES)
    spans = _by_name(telemetry)
    expected = _expected(O4_COST, 1, 2048, 612, 1536, 0, 256)
    assert _rollup(spans["root"]) == expected and _rollup(spans["mid"]) == expected
    assert len([r for r in caplog.records if "spans open" in r.getMessage()]) == 1
    # Spans that were dropped from the table end without harm, and the table drains.
    for span in leaked:
        span.end()
    assert processor.open_spans == 0


def test_tree_whose_root_was_dropped_past_the_cap_still_rolls_up_beneath(instrument, telemetry) -> None:
    processor = _setup(instrument, telemetry)
    client = _server().client()
    tracer = telemetry.tracer_provider.get_tracer("app")
    with tracer.start_as_current_span("root"):
        processor.max_open_spans = 16
        leaked = [tracer.start_span(f"leak-{i}") for i in range(15)]
        # The 17th open span: the oldest, "root", is dropped from the table as if it ended.
        with tracer.start_as_current_span("inner"):
            assert processor.open_spans == 16
            client.chat.completions.create(model="o4-mini", messages=MESSAGES)
            client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        for span in leaked:
            span.end()
    spans = _by_name(telemetry)
    assert _rollup(spans["inner"]) == _expected(O4_COST + MINI_COST, 2, 3248, 912, 1736, 100, 256)
    assert not _rollup(spans["root"])
    assert processor.open_spans == 0


def test_call_in_another_currency_is_not_added(telemetry) -> None:
    provider = telemetry.tracer_provider
    processor = RollupSpanProcessor()
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("app")
    with tracer.start_as_current_span("root"):
        for currency, total in (("USD", 0.1), ("EUR", 5.0), ("USD", 0.2)):
            attributes = {"tokenomics.cost.status": "priced", "tokenomics.cost.total": total}
            with tracer.start_as_current_span(
                "llm", attributes={**attributes, "tokenomics.cost.currency": currency}
            ):
                pass
    root = next(s for s in telemetry.spans() if s.name == "root")
    # 0.1 + 0.2 in Decimal: exactly 0.3, not 0.30000000000000004.
    assert _rollup(root) == _expected(Decimal("0.3"), 3, 0, 0, 0, 0, 0, status="partial")


def test_install_is_idempotent_and_needs_the_sdk(instrument, telemetry) -> None:
    instrument()
    provider = telemetry.tracer_provider
    first = install(provider)
    assert first is not None and install(provider) is first
    assert sum(p is first for p in provider._active_span_processor._span_processors) == 1
    assert install(trace.NoOpTracerProvider()) is None
    assert install(trace.ProxyTracerProvider()) is None


def test_disabled_processor_is_inert(instrument, telemetry) -> None:
    processor = _setup(instrument, telemetry)
    processor.set_enabled(False)
    client = _server().client()
    tracer = telemetry.tracer_provider.get_tracer("app")
    with tracer.start_as_current_span("root"):
        assert processor.open_spans == 0
        client.chat.completions.create(model="o4-mini", messages=MESSAGES)
    assert not _rollup(_by_name(telemetry)["root"])
    # Installing again switches it back on.
    assert install(telemetry.tracer_provider) is processor and processor.enabled


LATE_PROVIDER_APP = """
import json, sys
sys.path.insert(0, {tests!r})
import otel_tokenomics
otel_tokenomics.instrument()  # before the app sets its tracer provider
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from openai_fakes import Server, chat_completion

exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)
server = Server()
server.json("/chat/completions", chat_completion())
client = server.client()
messages = [{{"role": "user", "content": "hi"}}]
client.chat.completions.create(model="o4-mini", messages=messages)  # the first recorded call
with trace.get_tracer("app").start_as_current_span("handler"):
    client.chat.completions.create(model="o4-mini", messages=messages)
    client.chat.completions.create(model="o4-mini", messages=messages)
print(json.dumps({{s.name: dict(s.attributes) for s in exporter.get_finished_spans()}}))
"""


def test_a_tracer_provider_set_after_instrument_gets_the_roll_ups(tmp_path) -> None:
    app = tmp_path / "app.py"
    app.write_text(LATE_PROVIDER_APP.format(tests=str(pathlib.Path(__file__).parent)))
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    done = subprocess.run([sys.executable, str(app)], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    spans = json.loads(done.stdout.strip().splitlines()[-1])
    call_cost = spans["chat o4-mini"]["tokenomics.cost.total"]
    handler = spans["handler"]
    assert handler["tokenomics.rollup.llm_calls"] == 2
    assert handler["tokenomics.rollup.usage.input_tokens"] == 2 * 2048
    assert handler["tokenomics.rollup.cost.total"] == 2 * call_cost
