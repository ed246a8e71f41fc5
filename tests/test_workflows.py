"""Workflows: ``otel_tokenomics.workflow(name, **attributes)``, the cost of one unit of work.

Real calls (the openai SDK over its fake transport, instrumented) inside workflow
runs; the span, its ``tokenomics.rollup.*`` sums and the two histograms are checked
to the digit against amounts computed here from the catalog's prices.
"""

from __future__ import annotations

import asyncio
import bisect
import contextvars
import inspect
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import pytest
from openai_fakes import CHAT_USAGE, Server
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace import SpanKind, StatusCode

import otel_tokenomics
from otel_tokenomics import BudgetExceeded, Workflow
from otel_tokenomics.attribution import forget_for_tests
from otel_tokenomics.metrics import WORKFLOW_CALL_BUCKETS, WORKFLOW_COST_BUCKETS
from otel_tokenomics.pricing.catalog import load_catalog

MESSAGES = [{"role": "user", "content": "Say hello."}]
UNPRICED = "acme-private-llm"  # in no catalog
SMALL_USAGE = {"prompt_tokens": 1000, "completion_tokens": 200, "total_tokens": 1200}
# Per request model: the model the fake answers with, and its usage.
ANSWERS = {
    # 2048 in of which 1536 cached, 612 out of which 256 reasoning.
    "o4-mini": ("o4-mini-2025-04-16", CHAT_USAGE),
    "gpt-4o-mini": ("gpt-4o-mini-2024-07-18", SMALL_USAGE),
    UNPRICED: (UNPRICED, SMALL_USAGE),
}
COST = "tokenomics.workflow.cost"
CALLS = "tokenomics.workflow.llm_calls"


def exact(value: Any) -> Any:
    return pytest.approx(float(value), rel=1e-12, abs=0)


def usd(model: str, input_tokens: int, output_tokens: int, cached: int = 0) -> Decimal:
    """A call's cost in US dollars from the catalog's per-million prices (reasoning is output)."""
    prices = load_catalog().find("openai", model).at(time.time_ns())
    cost = (input_tokens - cached) * prices.input + cached * prices.cache_read + output_tokens * prices.output
    return cost / 1_000_000


O4_COST = usd("o4-mini-2025-04-16", 2048, 612, cached=1536)  # $0.0036784
MINI_COST = usd("gpt-4o-mini-2024-07-18", 1000, 200)  # $0.00027


def _server() -> Server:
    server = Server()
    server.chat(lambda body: ANSWERS[body["model"]])
    return server


def _create(client: Any, model: str = "gpt-4o-mini", **kwargs: Any) -> Any:
    return client.chat.completions.create(model=model, messages=MESSAGES, **kwargs)


def _rollup(
    cost: Decimal,
    calls: int,
    input_tokens: int,
    output_tokens: int,
    cache_read: int = 0,
    reasoning: int = 0,
    status: str = "complete",
) -> dict[str, Any]:
    return {
        "tokenomics.rollup.cost.total": exact(cost),
        "tokenomics.rollup.cost.status": status,
        "tokenomics.rollup.llm_calls": calls,
        "tokenomics.rollup.usage.input_tokens": input_tokens,
        "tokenomics.rollup.usage.output_tokens": output_tokens,
        "tokenomics.rollup.usage.cache_read.input_tokens": cache_read,
        "tokenomics.rollup.usage.cache_write.input_tokens": 0,
        "tokenomics.rollup.usage.reasoning.output_tokens": reasoning,
    }


def _identity(name: str) -> dict[str, Any]:
    return {
        "gen_ai.operation.name": "invoke_workflow",
        "gen_ai.workflow.name": name,
        "tokenomics.workflow.name": name,
    }


def _workflow_spans(telemetry: Any) -> list[ReadableSpan]:
    return [span for span in telemetry.spans() if span.name.startswith("invoke_workflow ")]


def _chat_spans(telemetry: Any) -> list[ReadableSpan]:
    return [span for span in telemetry.spans() if span.name.startswith("chat ")]


def _buckets(values: list[float], bounds: tuple[float, ...]) -> list[int]:
    """Explicit-bucket counts as the SDK makes them: bucket i holds (bounds[i-1], bounds[i]]."""
    counts = [0] * (len(bounds) + 1)
    for value in values:
        counts[bisect.bisect_left(bounds, value)] += 1
    return counts


def _histograms(telemetry: Any) -> dict[str, dict[tuple[tuple[str, Any], ...], Any]]:
    """metric -> sorted attribute items -> point, for the two workflow histograms."""
    points = telemetry.metrics()
    return {
        name: {tuple(sorted(point.attributes.items())): point for point in points.get(name, [])}
        for name in (COST, CALLS)
    }


def _assert_point(point: Any, values: list[float], bounds: tuple[float, ...]) -> None:
    assert point.count == len(values)
    assert point.sum == pytest.approx(sum(values), rel=1e-12, abs=0)
    assert tuple(point.explicit_bounds) == bounds
    assert list(point.bucket_counts) == _buckets(values, bounds)
    assert (point.min, point.max) == (min(values), max(values))


def _key(name: str, status: str = "complete", **more: Any) -> tuple[tuple[str, Any], ...]:
    return tuple(
        sorted({"tokenomics.workflow.name": name, "tokenomics.rollup.cost.status": status, **more}.items())
    )


@pytest.fixture
def fresh_attribution() -> None:
    # Baggage value caps are per process: start from none seen.
    forget_for_tests()


# -- 11. the span, its roll-up, the histograms ----------------------------------------------------


def test_workflow_span_rollup_and_histograms_over_three_calls(instrument, telemetry) -> None:
    instrument()
    client = _server().client()
    with otel_tokenomics.workflow("summarize_ticket", ticket_id="T-42", attempt=2) as run:
        assert isinstance(run, Workflow)
        _create(client, model="o4-mini")
        _create(client)
        _create(client)
        assert run.llm_calls == 3
    total = O4_COST + 2 * MINI_COST
    assert total == Decimal("0.0042184")
    assert isinstance(run.cost, Decimal) and run.cost == total

    (span,) = _workflow_spans(telemetry)
    assert span.name == "invoke_workflow summarize_ticket"
    assert span.kind is SpanKind.INTERNAL
    assert span.status.status_code is StatusCode.UNSET
    assert span.parent is None
    assert list(span.events) == []
    assert dict(span.attributes) == {
        **_identity("summarize_ticket"),
        "ticket_id": "T-42",
        "attempt": 2,
        # o4-mini: 2048 in (1536 cached), 612 out (256 reasoning); gpt-4o-mini twice: 1000 in, 200 out.
        **_rollup(total, 3, 2048 + 2000, 612 + 400, cache_read=1536, reasoning=256),
    }
    # The calls are its children, and their own costs add up to the roll-up.
    calls = _chat_spans(telemetry)
    assert [call.parent.span_id for call in calls] == [span.context.span_id] * 3
    assert sum(Decimal(repr(call.attributes["tokenomics.cost.total"])) for call in calls) == total

    histograms = _histograms(telemetry)
    # The keyword attributes are the span's only: an id per run would be a series per run.
    assert list(histograms[COST]) == [_key("summarize_ticket")]
    _assert_point(histograms[COST][_key("summarize_ticket")], [float(total)], WORKFLOW_COST_BUCKETS)
    assert list(histograms[CALLS]) == [_key("summarize_ticket")]
    _assert_point(histograms[CALLS][_key("summarize_ticket")], [3], WORKFLOW_CALL_BUCKETS)
    # $0.0042184 falls in (0.003, 0.01]; 3 calls in (2, 4].
    assert list(histograms[COST][_key("summarize_ticket")].bucket_counts)[4] == 1
    assert list(histograms[CALLS][_key("summarize_ticket")].bucket_counts)[2] == 1


def test_async_with_workflow(instrument, telemetry) -> None:
    instrument()
    client = _server().async_client()

    async def main() -> Workflow:
        async with otel_tokenomics.workflow("answer") as run:
            await _create(client)
            await _create(client, model="o4-mini")
        return run

    run = asyncio.run(main())
    assert (run.cost, run.llm_calls) == (MINI_COST + O4_COST, 2)
    (span,) = _workflow_spans(telemetry)
    assert dict(span.attributes) == {
        **_identity("answer"),
        **_rollup(MINI_COST + O4_COST, 2, 3048, 812, cache_read=1536, reasoning=256),
    }


def test_decorator_makes_every_call_a_run(instrument, telemetry) -> None:
    instrument()
    client = _server().client()

    @otel_tokenomics.workflow("triage", queue="support")
    def triage(calls: int) -> str:
        for _ in range(calls):
            _create(client)
        return f"{calls} calls"

    assert triage.__name__ == "triage"
    assert triage(1) == "1 calls"
    assert triage(2) == "2 calls"
    first, second = _workflow_spans(telemetry)
    assert dict(first.attributes) == {
        **_identity("triage"),
        "queue": "support",
        **_rollup(MINI_COST, 1, 1000, 200),
    }
    assert dict(second.attributes) == {
        **_identity("triage"),
        "queue": "support",
        **_rollup(2 * MINI_COST, 2, 2000, 400),
    }
    assert first.context.trace_id != second.context.trace_id  # two runs, two traces
    histograms = _histograms(telemetry)
    _assert_point(
        histograms[COST][_key("triage")], [float(MINI_COST), float(2 * MINI_COST)], WORKFLOW_COST_BUCKETS
    )
    _assert_point(histograms[CALLS][_key("triage")], [1, 2], WORKFLOW_CALL_BUCKETS)


def test_async_decorator_makes_every_call_a_run(instrument, telemetry) -> None:
    instrument()
    client = _server().async_client()

    @otel_tokenomics.workflow("research")
    async def research(model: str) -> str:
        await _create(client, model=model)
        await _create(client)
        return model

    assert inspect.iscoroutinefunction(research)

    async def main() -> list[str]:
        return list(await asyncio.gather(research("o4-mini"), research("gpt-4o-mini")))

    assert asyncio.run(main()) == ["o4-mini", "gpt-4o-mini"]
    spans = _workflow_spans(telemetry)
    # O4_COST + MINI_COST > 2 * MINI_COST
    assert sorted(span.attributes["tokenomics.rollup.cost.total"] for span in spans) == [
        exact(2 * MINI_COST),
        exact(O4_COST + MINI_COST),
    ]
    # Concurrent runs do not mix: each run's calls are its own children.
    for span in spans:
        children = [call for call in _chat_spans(telemetry) if call.parent.span_id == span.context.span_id]
        assert len(children) == 2
        assert sum(Decimal(repr(call.attributes["tokenomics.cost.total"])) for call in children) == Decimal(
            repr(span.attributes["tokenomics.rollup.cost.total"])
        )
    histograms = _histograms(telemetry)
    _assert_point(
        histograms[COST][_key("research")],
        [float(2 * MINI_COST), float(O4_COST + MINI_COST)],
        WORKFLOW_COST_BUCKETS,
    )
    _assert_point(histograms[CALLS][_key("research")], [2, 2], WORKFLOW_CALL_BUCKETS)


def test_failure_inside_marks_the_run_and_propagates_unchanged(instrument, telemetry) -> None:
    instrument()
    client = _server().client()
    error = ValueError("no ticket")
    with pytest.raises(ValueError) as raised, otel_tokenomics.workflow("summarize_ticket") as run:
        _create(client)
        raise error
    assert raised.value is error
    assert raised.value.__traceback__ is not None
    (span,) = _workflow_spans(telemetry)
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "ValueError"
    # The call made before the failure is still counted.
    assert dict(span.attributes) == {
        **_identity("summarize_ticket"),
        "error.type": "ValueError",
        **_rollup(MINI_COST, 1, 1000, 200),
    }
    assert run.cost == MINI_COST
    histograms = _histograms(telemetry)
    key = _key("summarize_ticket", **{"error.type": "ValueError"})
    assert list(histograms[COST]) == [key] and list(histograms[CALLS]) == [key]
    _assert_point(histograms[COST][key], [float(MINI_COST)], WORKFLOW_COST_BUCKETS)


def test_async_decorator_failure(instrument, telemetry) -> None:
    instrument()

    class QuotaError(Exception):
        pass

    @otel_tokenomics.workflow("batch")
    async def batch() -> None:
        raise QuotaError("later")

    with pytest.raises(QuotaError, match="later"):
        asyncio.run(batch())
    (span,) = _workflow_spans(telemetry)
    error_type = "test_async_decorator_failure.<locals>.QuotaError"
    assert span.attributes["error.type"] == error_type
    assert span.status.status_code is StatusCode.ERROR
    key = _key("batch", **{"error.type": error_type})
    _assert_point(_histograms(telemetry)[CALLS][key], [0], WORKFLOW_CALL_BUCKETS)


def test_budget_refusal_inside_a_workflow(instrument, telemetry) -> None:
    instrument()
    server = _server()
    client = server.client()
    with (
        pytest.raises(BudgetExceeded),
        otel_tokenomics.workflow("agent") as run,
        otel_tokenomics.budget("0.0003", on_exceed="raise", name="hard"),
    ):
        _create(client, max_tokens=100)
        _create(client, max_tokens=100)  # $0.00003 left: refused
    assert len(server.requests) == 1
    (span,) = _workflow_spans(telemetry)
    assert span.attributes["error.type"] == "BudgetExceeded"
    assert span.attributes["tokenomics.rollup.llm_calls"] == 1
    # The refusal is an event on the span that was current: the run's.
    ((name, attributes),) = [(event.name, dict(event.attributes)) for event in span.events]
    assert name == "tokenomics.budget.exceeded"
    assert attributes["tokenomics.budget.outcome"] == "refused"
    # 10 prompt tokens at $0.15, 100 output at $0.60 per million.
    assert attributes["tokenomics.budget.worst_case_cost"] == exact(usd("gpt-4o-mini", 10, 100))
    assert run.cost == MINI_COST


def test_unpriced_model_makes_the_run_partial(instrument, telemetry) -> None:
    instrument()
    client = _server().client()
    with otel_tokenomics.workflow("mixed") as run:
        _create(client)
        _create(client, model=UNPRICED)
    # Its tokens count; its cost is unknown, so the total is the priced call's, partial.
    assert (run.cost, run.llm_calls) == (MINI_COST, 2)
    (span,) = _workflow_spans(telemetry)
    assert dict(span.attributes) == {
        **_identity("mixed"),
        **_rollup(MINI_COST, 2, 2000, 400, status="partial"),
    }
    histograms = _histograms(telemetry)
    assert list(histograms[COST]) == [_key("mixed", "partial")]
    _assert_point(histograms[COST][_key("mixed", "partial")], [float(MINI_COST)], WORKFLOW_COST_BUCKETS)


def test_nested_workflows_are_both_charged(instrument, telemetry) -> None:
    instrument()
    client = _server().client()
    with otel_tokenomics.workflow("outer") as outer:
        _create(client, model="o4-mini")
        with otel_tokenomics.workflow("inner") as inner:
            _create(client)
            _create(client)
    assert (outer.cost, outer.llm_calls) == (O4_COST + 2 * MINI_COST, 3)
    assert (inner.cost, inner.llm_calls) == (2 * MINI_COST, 2)
    spans = {span.name: span for span in _workflow_spans(telemetry)}
    outer_span, inner_span = spans["invoke_workflow outer"], spans["invoke_workflow inner"]
    assert inner_span.parent.span_id == outer_span.context.span_id
    assert dict(inner_span.attributes) == {**_identity("inner"), **_rollup(2 * MINI_COST, 2, 2000, 400)}
    assert dict(outer_span.attributes) == {
        **_identity("outer"),
        **_rollup(O4_COST + 2 * MINI_COST, 3, 4048, 1012, cache_read=1536, reasoning=256),
    }
    histograms = _histograms(telemetry)
    _assert_point(histograms[COST][_key("inner")], [float(2 * MINI_COST)], WORKFLOW_COST_BUCKETS)
    _assert_point(histograms[COST][_key("outer")], [float(O4_COST + 2 * MINI_COST)], WORKFLOW_COST_BUCKETS)
    _assert_point(histograms[CALLS][_key("outer")], [3], WORKFLOW_CALL_BUCKETS)


def test_workflow_without_calls(instrument, telemetry) -> None:
    instrument()
    with otel_tokenomics.workflow("noop") as run:
        pass
    assert (run.cost, run.llm_calls) == (0, 0)
    (span,) = _workflow_spans(telemetry)
    assert dict(span.attributes) == {**_identity("noop"), **_rollup(Decimal(0), 0, 0, 0)}
    histograms = _histograms(telemetry)
    _assert_point(histograms[COST][_key("noop")], [0.0], WORKFLOW_COST_BUCKETS)
    _assert_point(histograms[CALLS][_key("noop")], [0], WORKFLOW_CALL_BUCKETS)
    # 0 is in the first bucket, (-inf, 0.0001].
    assert list(histograms[COST][_key("noop")].bucket_counts)[:2] == [1, 0]


def test_histograms_count_runs_whose_spans_are_not_sampled(instrument, telemetry) -> None:
    telemetry.tracer_provider = TracerProvider(sampler=ALWAYS_OFF)
    instrument()
    client = _server().client()
    for _ in range(2):
        with otel_tokenomics.workflow("unsampled") as run:
            _create(client, model="o4-mini")
        assert run.cost == O4_COST
    assert telemetry.spans() == []
    histograms = _histograms(telemetry)
    _assert_point(histograms[COST][_key("unsampled")], [float(O4_COST)] * 2, WORKFLOW_COST_BUCKETS)
    _assert_point(histograms[CALLS][_key("unsampled")], [1, 1], WORKFLOW_CALL_BUCKETS)


def test_baggage_on_the_span_and_allowed_baggage_on_the_histograms(
    fresh_attribution, instrument, telemetry
) -> None:
    instrument(metric_baggage="tokenomics.tenant")
    client = _server().client()
    with (
        otel_tokenomics.attribute_to(tenant="acme", feature="search"),
        otel_tokenomics.workflow("lookup", request_id="r-1"),
    ):
        _create(client)
    (span,) = _workflow_spans(telemetry)
    assert dict(span.attributes) == {
        **_identity("lookup"),
        "tokenomics.tenant": "acme",
        "tokenomics.feature": "search",
        "request_id": "r-1",
        **_rollup(MINI_COST, 1, 1000, 200),
    }
    histograms = _histograms(telemetry)
    key = _key("lookup", **{"tokenomics.tenant": "acme"})
    assert list(histograms[COST]) == [key] and list(histograms[CALLS]) == [key]


def test_workflow_arguments() -> None:
    with pytest.raises(ValueError):
        otel_tokenomics.workflow("")
    with pytest.raises(ValueError):
        otel_tokenomics.workflow(None)  # type: ignore[arg-type]


def test_entering_a_running_workflow_again_starts_another_run(instrument, telemetry) -> None:
    instrument()
    client = _server().client()
    workflow = otel_tokenomics.workflow("twice")
    with workflow as first:
        _create(client)
        with workflow as second:
            _create(client)
    assert first is workflow and second is not workflow
    # The inner run is nested in the outer one: the outer is charged for both calls.
    assert (first.cost, first.llm_calls) == (2 * MINI_COST, 2)
    assert (second.cost, second.llm_calls) == (MINI_COST, 1)
    inner, outer = _workflow_spans(telemetry)
    assert inner.parent.span_id == outer.context.span_id
    assert inner.attributes["tokenomics.rollup.llm_calls"] == 1
    assert outer.attributes["tokenomics.rollup.llm_calls"] == 2


def test_one_workflow_object_entered_by_concurrent_tasks_makes_a_run_each(instrument, telemetry) -> None:
    instrument()
    client = _server().async_client()
    workflow = otel_tokenomics.workflow("fan")

    async def task(calls: int) -> Any:
        async with workflow as run:
            for _ in range(calls):
                await _create(client)
                await asyncio.sleep(0)
        return run

    async def main() -> list[Any]:
        return list(await asyncio.gather(task(1), task(2), task(3)))

    runs = asyncio.run(main())
    assert sorted(run.llm_calls for run in runs) == [1, 2, 3]
    assert sorted(run.cost for run in runs) == [MINI_COST, 2 * MINI_COST, 3 * MINI_COST]
    spans = _workflow_spans(telemetry)
    assert sorted(s.attributes["tokenomics.rollup.llm_calls"] for s in spans) == [1, 2, 3]


def test_a_finished_workflow_object_does_not_carry_its_tally_into_another_run(instrument, telemetry) -> None:
    instrument()
    client = _server().client()
    run = otel_tokenomics.workflow("reused")
    with run:
        _create(client)
    try:
        with run:
            _create(client)
    except RuntimeError:
        # Refusing a second run of one object is fine too: one run, one span.
        assert len(_workflow_spans(telemetry)) == 1
        return
    second = _workflow_spans(telemetry)[1]
    assert second.attributes["tokenomics.rollup.llm_calls"] == 1
    assert second.attributes["tokenomics.rollup.cost.total"] == exact(MINI_COST)


# -- 12. threads and tasks ------------------------------------------------------------------------


def test_calls_in_threads_given_the_context_are_charged(instrument, telemetry) -> None:
    instrument()
    client = _server().client()
    with otel_tokenomics.workflow("fanout") as run, ThreadPoolExecutor(4) as executor:
        # One copy of the context per task: a Context cannot be entered by two threads at once.
        futures = [executor.submit(contextvars.copy_context().run, _create, client) for _ in range(6)]
        for future in futures:
            future.result()
    assert (run.cost, run.llm_calls) == (6 * MINI_COST, 6)
    (span,) = _workflow_spans(telemetry)
    assert dict(span.attributes) == {**_identity("fanout"), **_rollup(6 * MINI_COST, 6, 6000, 1200)}
    assert {call.parent.span_id for call in _chat_spans(telemetry)} == {span.context.span_id}


def test_calls_in_asyncio_tasks_are_charged(instrument, telemetry) -> None:
    instrument()
    client = _server().async_client()

    async def main() -> Workflow:
        async with otel_tokenomics.workflow("tasks") as run:
            # Tasks copy the context they are created in.
            await asyncio.gather(*(_create(client) for _ in range(3)))
            await asyncio.create_task(_create(client, model="o4-mini"))
        return run

    run = asyncio.run(main())
    assert (run.cost, run.llm_calls) == (3 * MINI_COST + O4_COST, 4)
    (span,) = _workflow_spans(telemetry)
    assert span.attributes["tokenomics.rollup.cost.total"] == exact(3 * MINI_COST + O4_COST)
    assert span.attributes["tokenomics.rollup.llm_calls"] == 4


def test_a_thread_without_the_context_is_not_charged(instrument, telemetry) -> None:
    """A plain ``threading.Thread`` starts with an empty context: its calls belong to no run.

    Hand the context over (``contextvars.copy_context().run``, or
    ``opentelemetry.context.attach`` in the thread) to have them charged.
    """
    instrument()
    client = _server().client()
    with otel_tokenomics.workflow("forgetful") as run:
        _create(client)
        thread = threading.Thread(target=_create, args=(client,))
        thread.start()
        thread.join()
        with ThreadPoolExecutor(1) as executor:
            executor.submit(_create, client).result()
    assert (run.cost, run.llm_calls) == (MINI_COST, 1)
    (span,) = _workflow_spans(telemetry)
    assert span.attributes["tokenomics.rollup.llm_calls"] == 1
    calls = _chat_spans(telemetry)
    assert len(calls) == 3
    # The calls of the threads are roots of traces of their own.
    assert [call.parent is None for call in calls] == [False, True, True]


def test_decorating_a_generator_is_refused_where_it_is_defined() -> None:
    def steps() -> Any:
        yield 1

    async def async_steps() -> Any:
        yield 1

    for function in (steps, async_steps):
        with pytest.raises(TypeError, match=r"open `with workflow\(\.\.\.\)` inside it"):
            otel_tokenomics.workflow("agent")(function)
        with pytest.raises(TypeError, match=r"open `with budget\(\.\.\.\)` inside it"):
            otel_tokenomics.budget(1)(function)
