"""Budgets: ``otel_tokenomics.budget(usd, on_exceed="warn"|"raise", name=...)``, exact to the digit.

The calls are real: the openai and anthropic SDKs over their fake transports,
instrumented. Every amount is computed here from the catalog's per-million prices,
and compared exactly: ``Decimal`` where the API gives ``Decimal``, floats on spans to
1e-12 (``float(Decimal)`` is correctly rounded).
"""

from __future__ import annotations

import asyncio
import contextvars
import gc
import inspect
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import anthropic_fakes
import openai
import pytest
from openai_fakes import (
    CHAT_USAGE,
    HTTP,
    Server,
    requires,
    response_object,
)
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

import otel_tokenomics
from otel_tokenomics import Budget, BudgetExceeded
from otel_tokenomics.pricing.catalog import load_catalog
from otel_tokenomics.pricing.prices import Tiered

MESSAGES = [{"role": "user", "content": "Say hello."}]
# "Say hello." framed as one chat message, counted with o200k (gpt-4o-mini's encoding).
PROMPT_TOKENS = 10
MODEL = "gpt-4o-mini"
RESPONSE_MODEL = "gpt-4o-mini-2024-07-18"
UNPRICED = "acme-private-llm"  # in no catalog
# What the fake answers a call with unless told otherwise: 1000 tokens in, 200 out.
SMALL_USAGE = {"prompt_tokens": 1000, "completion_tokens": 200, "total_tokens": 1200}

pytestmark = pytest.mark.filterwarnings("ignore:.*deprecated:DeprecationWarning")

BUDGET_KEYS = ("tokenomics.budget.name", "tokenomics.budget.limit", "tokenomics.budget.spent")
EXCEEDED = "tokenomics.budget.exceeded"


def exact(value: Any) -> Any:
    return pytest.approx(float(value), rel=1e-12, abs=0)


def _rate(price: Any, input_tokens: int) -> Decimal:
    return price.at(input_tokens) if isinstance(price, Tiered) else price


def usd(
    model: str, input_tokens: int, output_tokens: int, cached: int = 0, provider: str = "openai"
) -> Decimal:
    """A call's cost in US dollars from the catalog's per-million prices (no cache writes)."""
    prices = load_catalog().find(provider, model).at(time.time_ns())
    cache_rate = prices.cache_read if prices.cache_read is not None else prices.input
    cost = (
        (input_tokens - cached) * _rate(prices.input, input_tokens)
        + cached * _rate(cache_rate, input_tokens)
        + output_tokens * _rate(prices.output, input_tokens)
    )
    return cost / 1_000_000


SMALL_COST = usd(MODEL, 1000, 200)  # $0.00027


def worst(max_tokens: int, model: str = MODEL) -> Decimal:
    """The worst case of MESSAGES with ``max_tokens`` of output."""
    return usd(model, PROMPT_TOKENS, max_tokens)


def _answer_usage(usage: Any, body: dict[str, Any]) -> Any:
    return usage(body) if callable(usage) else usage


def _server(usage: Any = SMALL_USAGE) -> Server:
    """Chat answers with ``usage`` (a dict, or a function of the request body); streamed when asked."""
    server = Server()
    server.chat(
        lambda body: (
            RESPONSE_MODEL if body["model"] == MODEL else body["model"],
            _answer_usage(usage, body),
        )
    )
    return server


def _create(client: Any, **kwargs: Any) -> Any:
    kwargs.setdefault("model", MODEL)
    kwargs.setdefault("messages", MESSAGES)
    return client.chat.completions.create(**kwargs)


def _budget_state(span: ReadableSpan) -> tuple[Any, ...]:
    return tuple(span.attributes.get(key) for key in BUDGET_KEYS)


def _state(name: str, limit: Any, spent: Any) -> tuple[Any, ...]:
    return (name, exact(limit), exact(spent))


def _events(span: ReadableSpan) -> list[tuple[str, dict[str, Any]]]:
    return [(event.name, dict(event.attributes)) for event in span.events]


def _exceeded_event(name: str, on_exceed: str, limit: Any, spent: Any) -> tuple[str, dict[str, Any]]:
    return (
        EXCEEDED,
        {
            "tokenomics.budget.name": name,
            "tokenomics.budget.on_exceed": on_exceed,
            "tokenomics.budget.outcome": "exceeded",
            "tokenomics.budget.limit": exact(limit),
            "tokenomics.budget.spent": exact(spent),
        },
    )


def _refused_event(name: str, limit: Any, spent: Any, worst_case: Any) -> tuple[str, dict[str, Any]]:
    attributes = {
        "tokenomics.budget.name": name,
        "tokenomics.budget.on_exceed": "raise",
        "tokenomics.budget.outcome": "refused",
        "tokenomics.budget.limit": exact(limit),
        "tokenomics.budget.spent": exact(spent),
    }
    if worst_case is not None:
        attributes["tokenomics.budget.worst_case_cost"] = exact(worst_case)
    return (EXCEEDED, attributes)


def _counter(telemetry: Any) -> dict[tuple[str, str, str], int]:
    """The ``tokenomics.budget.exceeded`` counter: (name, on_exceed, outcome) -> value."""
    counts = {}
    for point in telemetry.metrics().get(EXCEEDED, []):
        attributes = dict(point.attributes)
        assert set(attributes) == {
            "tokenomics.budget.name",
            "tokenomics.budget.on_exceed",
            "tokenomics.budget.outcome",
        }
        key = (
            attributes["tokenomics.budget.name"],
            attributes["tokenomics.budget.on_exceed"],
            attributes["tokenomics.budget.outcome"],
        )
        counts[key] = point.value
    return counts


def _chat_spans(telemetry: Any) -> list[ReadableSpan]:
    return [span for span in telemetry.spans() if span.name.startswith("chat ")]


def _app_tracer(telemetry: Any) -> trace.Tracer:
    return trace.get_tracer("app", tracer_provider=telemetry.tracer_provider)


# -- 1. warn ------------------------------------------------------------------------------------


def test_warn_budget_charges_every_call_and_reports_the_crossing_once(instrument, telemetry) -> None:
    instrument()
    client = _server().client()
    limit = Decimal("0.0005")
    with otel_tokenomics.budget(limit, name="team") as spending:
        for _ in range(3):
            result = _create(client)
            assert result.choices[0].message.content == "Hello there."
        assert spending.spent == 3 * SMALL_COST == Decimal("0.00081")
    assert spending.llm_calls == 3
    assert spending.exceeded is True
    assert spending.remaining == limit - 3 * SMALL_COST

    spans = _chat_spans(telemetry)
    assert len(spans) == 3
    # Every span: the budget and its running spend, this call included.
    assert [_budget_state(span) for span in spans] == [
        _state("team", limit, SMALL_COST * n) for n in (1, 2, 3)
    ]
    # The second call takes the spend (0.00054) over 0.0005: the only event.
    assert _events(spans[0]) == []
    assert _events(spans[1]) == [_exceeded_event("team", "warn", limit, 2 * SMALL_COST)]
    assert _events(spans[2]) == []
    assert _counter(telemetry) == {("team", "warn", "exceeded"): 1}


def test_spend_equal_to_the_limit_is_not_over_it(instrument, telemetry) -> None:
    instrument()
    client = _server().client()
    with otel_tokenomics.budget(2 * SMALL_COST) as spending:
        _create(client)
        _create(client)
        assert spending.spent == spending.limit and not spending.exceeded
        assert EXCEEDED not in telemetry.metrics()
        _create(client)
    spans = _chat_spans(telemetry)
    assert [_events(span) for span in spans[:2]] == [[], []]
    # Unnamed: the default name.
    assert _events(spans[2]) == [_exceeded_event("budget", "warn", 2 * SMALL_COST, 3 * SMALL_COST)]
    assert _counter(telemetry) == {("budget", "warn", "exceeded"): 1}


def test_calls_outside_a_budget_carry_no_budget_attributes(instrument, telemetry) -> None:
    instrument()
    client = _server().client()
    with otel_tokenomics.budget(1) as spending:
        _create(client)
    _create(client)
    inside, outside = _chat_spans(telemetry)
    assert _budget_state(inside) == _state("budget", 1, SMALL_COST)
    assert _budget_state(outside) == (None, None, None)
    assert spending.spent == SMALL_COST and spending.llm_calls == 1


# -- 2. raise -----------------------------------------------------------------------------------


def test_raise_budget_refuses_the_call_that_does_not_fit(instrument, telemetry) -> None:
    instrument()
    server = _server()
    client = server.client()
    limit = Decimal("0.0003")
    estimate = otel_tokenomics.estimate("openai", MODEL, messages=MESSAGES, max_tokens=100)
    assert estimate.input_tokens == PROMPT_TOKENS
    with (
        _app_tracer(telemetry).start_as_current_span("handler"),
        otel_tokenomics.budget(limit, on_exceed="raise", name="hard") as spending,
    ):
        # Worst case $0.0000615 fits $0.0003; the call then costs $0.00027.
        _create(client, max_tokens=100)
        # $0.00003 left: the same call's worst case does not fit.
        with pytest.raises(BudgetExceeded) as refused:
            _create(client, max_tokens=100)

    error = refused.value
    assert (error.budget, error.limit, error.spent) == ("hard", limit, SMALL_COST)
    # 10 prompt tokens at $0.15 + 100 output tokens at $0.60 per million.
    assert error.worst_case == worst(100) == Decimal("0.0000615")
    assert float(error.worst_case) == estimate.worst_case.total
    assert str(error) == "budget 'hard' ($0.0003) has $0.00003 left; the call may cost up to $0.0000615"
    assert isinstance(error, Exception) and not isinstance(error, openai.OpenAIError)
    # The refused request was never sent, and has no span.
    assert len(server.requests) == 1
    assert server.request_json(0)["max_tokens"] == 100
    (call,) = _chat_spans(telemetry)
    assert _budget_state(call) == _state("hard", limit, SMALL_COST)
    assert _events(call) == []
    # The refusal is an event on the span that was current: the application's.
    (handler,) = [span for span in telemetry.spans() if span.name == "handler"]
    assert _events(handler) == [_refused_event("hard", limit, SMALL_COST, worst(100))]
    assert _counter(telemetry) == {("hard", "raise", "refused"): 1}
    assert spending.spent == SMALL_COST and spending.llm_calls == 1


@requires("max_completion_tokens")
def test_refusal_is_per_call_a_smaller_call_still_fits(instrument, telemetry) -> None:
    instrument()
    server = _server()
    client = server.client()
    with otel_tokenomics.budget("0.0003", on_exceed="raise") as spending:
        _create(client, max_tokens=100)
        with pytest.raises(BudgetExceeded):
            _create(client, max_tokens=100)
        # $0.00003 left: 10 tokens in and 47 out ($0.0000297) fit, 48 out ($0.0000303) do not.
        # max_completion_tokens is the same cap as max_tokens.
        with pytest.raises(BudgetExceeded) as refused:
            _create(client, max_completion_tokens=48)
        assert refused.value.worst_case == worst(48)
        _create(client, max_completion_tokens=47)
    assert len(server.requests) == 2
    assert spending.spent == 2 * SMALL_COST
    assert _counter(telemetry) == {
        ("budget", "raise", "refused"): 2,
        ("budget", "raise", "exceeded"): 1,
    }


@requires("responses")
def test_responses_max_output_tokens_is_the_cap(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.json("/responses", response_object())
    client = server.client()
    estimate = otel_tokenomics.estimate("openai", "gpt-5", messages="Say hello.", max_tokens=100)
    with (
        otel_tokenomics.budget("0.001", on_exceed="raise", name="responses"),
        pytest.raises(BudgetExceeded) as refused,
    ):
        client.responses.create(model="gpt-5", input="Say hello.", max_output_tokens=100)
    # gpt-5: $1.25 in, $10 out per million; 10 tokens in, 100 out: $0.0010125 > $0.001.
    assert refused.value.worst_case == usd("gpt-5", 10, 100) == Decimal("0.0010125")
    assert float(refused.value.worst_case) == estimate.worst_case.total
    assert server.requests == []


def test_refusal_without_a_recording_span_still_counts(instrument, telemetry) -> None:
    instrument()
    client = _server().client()
    with otel_tokenomics.budget(0, on_exceed="raise", name="zero"), pytest.raises(BudgetExceeded) as refused:
        _create(client, max_tokens=1)
    assert (refused.value.spent, refused.value.worst_case) == (0, worst(1))
    assert telemetry.spans() == []
    assert _counter(telemetry) == {("zero", "raise", "refused"): 1}


def test_a_failed_call_releases_its_reservation(instrument, telemetry) -> None:
    """A call the provider refused costs nothing and holds nothing afterwards."""
    instrument()
    server = _server()
    client = server.client()
    ok = server.routes["/chat/completions"]
    server.json("/chat/completions", {"error": {"message": "boom", "type": "server_error"}}, status=500)
    # Room for exactly one worst case: held by the failing call while it runs.
    with otel_tokenomics.budget(worst(100), on_exceed="raise") as spending:
        with pytest.raises(openai.InternalServerError):
            _create(client, max_tokens=100)
        assert spending.spent == 0
        server.routes["/chat/completions"] = ok
        _create(client, max_tokens=100)
    assert len(server.requests) == 2
    assert spending.llm_calls == 2 and spending.spent == SMALL_COST
    assert _counter(telemetry) == {("budget", "raise", "exceeded"): 1}
    failed, succeeded = _chat_spans(telemetry)
    assert failed.attributes["error.type"] == "InternalServerError"
    assert _budget_state(failed) == _state("budget", worst(100), 0)
    assert _budget_state(succeeded) == _state("budget", worst(100), SMALL_COST)


# -- 3. streams ---------------------------------------------------------------------------------

# gpt-4o-mini, the fake's usage chunk: 512 + 1536 cached in, 612 out: $0.0005592.
STREAM_COST = usd(MODEL, 2048, 612, cached=1536)


@requires("stream_options")
def test_warn_stream_crossing_reports_when_the_stream_ends(instrument, telemetry) -> None:
    instrument()
    client = _server(CHAT_USAGE).client()
    assert Decimal("0.0005592") == STREAM_COST
    with otel_tokenomics.budget("0.0005", name="streams") as spending:
        stream = _create(client, stream=True, stream_options={"include_usage": True})
        # Nothing is charged before the stream ends.
        assert spending.spent == 0 and telemetry.spans() == []
        text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert text == "Hello there."
    assert spending.spent == STREAM_COST
    span = telemetry.span()
    assert span.attributes["tokenomics.stream.outcome"] == "completed"
    assert _budget_state(span) == _state("streams", Decimal("0.0005"), STREAM_COST)
    assert _events(span) == [_exceeded_event("streams", "warn", Decimal("0.0005"), STREAM_COST)]
    assert _counter(telemetry) == {("streams", "warn", "exceeded"): 1}


# A prompt counted as 10 tokens that the provider bills as 9000 (say, an attachment the
# counter cannot see), and 20 tokens out: $0.001362.
UNDERCOUNTED_USAGE = {"prompt_tokens": 9000, "completion_tokens": 20, "total_tokens": 9020}


@requires("stream_options")
def test_raise_stream_admitted_then_over_the_limit_refuses_the_next_call(instrument, telemetry) -> None:
    instrument()
    server = _server(UNDERCOUNTED_USAGE)
    client = server.client()
    limit = Decimal("0.001")
    actual = usd(MODEL, 9000, 20)
    with otel_tokenomics.budget(limit, on_exceed="raise", name="cap") as spending:
        # Worst case $0.0000135 fits: the stream is admitted.
        stream = _create(client, stream=True, max_tokens=20, stream_options={"include_usage": True})
        for _chunk in stream:
            pass
        assert spending.spent == actual == Decimal("0.001362")
        with pytest.raises(BudgetExceeded) as refused:
            _create(client, max_tokens=20)
    assert len(server.requests) == 1
    assert (refused.value.spent, refused.value.worst_case) == (actual, worst(20))
    span = telemetry.span()
    assert _budget_state(span) == _state("cap", limit, actual)
    assert _events(span) == [_exceeded_event("cap", "raise", limit, actual)]
    assert _counter(telemetry) == {("cap", "raise", "exceeded"): 1, ("cap", "raise", "refused"): 1}


@requires("stream_options")
def test_an_open_stream_holds_its_worst_case_until_it_ends(instrument, telemetry) -> None:
    instrument()
    # 10 tokens in, 3 out: $0.0000033.
    server = _server({"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13})
    client = server.client()
    limit = Decimal("0.0001")
    with otel_tokenomics.budget(limit, on_exceed="raise") as spending:
        stream = _create(client, stream=True, max_tokens=20)  # holds $0.0000135
        # $0.0000915 does not fit the $0.0000865 the open stream leaves...
        with pytest.raises(BudgetExceeded) as refused:
            _create(client, max_tokens=150)
        assert (refused.value.spent, refused.value.worst_case) == (0, worst(150))
        for _chunk in stream:
            pass
        assert spending.spent == usd(MODEL, 10, 3)
        # ...and fits the $0.0000967 left once it ended.
        _create(client, max_tokens=150)
    assert len(server.requests) == 2


@requires("stream_close")
def test_stream_broken_out_of_is_charged_once(instrument, telemetry) -> None:
    instrument()
    server = _server(CHAT_USAGE)
    client = server.client()
    limit = 2 * worst(50)  # room for two worst cases of $0.0000315
    with otel_tokenomics.budget(limit, on_exceed="raise") as spending:
        stream = _create(client, stream=True, max_tokens=50)
        for index, _chunk in enumerate(stream):
            if index == 1:
                break
        span = telemetry.span()
        attributes = span.attributes
        assert attributes["tokenomics.stream.outcome"] == "closed_early"
        # No usage chunk was read: the prompt and "Hel" counted (10 + 1 tokens).
        assert attributes["tokenomics.usage.source"] == "estimated"
        assert (attributes["gen_ai.usage.input_tokens"], attributes["gen_ai.usage.output_tokens"]) == (10, 1)
        cost = usd(MODEL, 10, 1)
        assert attributes["tokenomics.cost.total"] == exact(cost)
        assert spending.spent == cost and spending.llm_calls == 1
        stream.close()
        del stream
        gc.collect()
        assert spending.spent == cost and spending.llm_calls == 1
        assert len(telemetry.spans()) == 1
        # Its worst case was released: another fits the $0.0000609 left (it would not fit
        # the $0.0000294 left if the stream still held its $0.0000315).
        _create(client, max_tokens=50)
    assert spending.llm_calls == 2
    assert _budget_state(_chat_spans(telemetry)[0]) == _state("budget", limit, cost)


def test_abandoned_stream_is_charged_once_when_collected(instrument, telemetry) -> None:
    instrument()
    server = _server(CHAT_USAGE)
    client = server.client()
    with otel_tokenomics.budget(2 * worst(50), on_exceed="raise") as spending:
        stream = _create(client, stream=True, max_tokens=50)
        next(stream)
        assert spending.llm_calls == 0
        del stream
        gc.collect()
        assert spending.llm_calls == 1
        assert telemetry.span().attributes["tokenomics.stream.outcome"] == "abandoned"
        # Only the opening (empty) chunk was read: the prompt alone.
        assert spending.spent == usd(MODEL, 10, 0)
        gc.collect()
        assert spending.llm_calls == 1
        # Released when collected: another worst case fits.
        _create(client, max_tokens=50)
    assert len(server.requests) == 2


# -- 4. nesting ---------------------------------------------------------------------------------


def test_warn_outer_raise_inner_both_charged_span_carries_the_innermost(instrument, telemetry) -> None:
    instrument()
    server = _server()
    client = server.client()
    outer_limit, inner_limit = Decimal("0.001"), Decimal("0.0005")
    with otel_tokenomics.budget(outer_limit, name="outer") as outer:
        with otel_tokenomics.budget(inner_limit, on_exceed="raise", name="inner") as inner:
            _create(client, max_tokens=100)
            _create(client, max_tokens=100)  # inner: $0.00054 > $0.0005
            with pytest.raises(BudgetExceeded) as refused:
                _create(client, max_tokens=100)
        assert refused.value.budget == "inner"
        _create(client, max_tokens=100)  # outer only: $0.00081
        _create(client, max_tokens=100)  # outer: $0.00108 > $0.001
    assert (outer.spent, outer.llm_calls) == (5 * SMALL_COST - SMALL_COST, 4)
    assert (inner.spent, inner.llm_calls) == (2 * SMALL_COST, 2)
    spans = _chat_spans(telemetry)
    assert [_budget_state(span) for span in spans] == [
        _state("inner", inner_limit, SMALL_COST),
        _state("inner", inner_limit, 2 * SMALL_COST),
        _state("outer", outer_limit, 3 * SMALL_COST),
        _state("outer", outer_limit, 4 * SMALL_COST),
    ]
    assert [_events(span) for span in spans] == [
        [],
        [_exceeded_event("inner", "raise", inner_limit, 2 * SMALL_COST)],
        [],
        [_exceeded_event("outer", "warn", outer_limit, 4 * SMALL_COST)],
    ]
    assert _counter(telemetry) == {
        ("inner", "raise", "exceeded"): 1,
        ("inner", "raise", "refused"): 1,
        ("outer", "warn", "exceeded"): 1,
    }


def test_two_raise_budgets_the_outer_one_refuses(instrument, telemetry) -> None:
    instrument()
    server = _server()
    client = server.client()
    with (
        otel_tokenomics.budget("0.0003", on_exceed="raise", name="outer") as outer,
        otel_tokenomics.budget(1, on_exceed="raise", name="inner") as inner,
    ):
        _create(client, max_tokens=100)
        with pytest.raises(BudgetExceeded) as refused:
            _create(client, max_tokens=100)
    assert (refused.value.budget, refused.value.limit) == ("outer", Decimal("0.0003"))
    assert outer.spent == inner.spent == SMALL_COST
    assert _budget_state(telemetry.span()) == _state("inner", 1, SMALL_COST)
    assert _counter(telemetry) == {("outer", "raise", "refused"): 1}


def test_inner_refusal_releases_what_the_outer_budget_reserved(instrument, telemetry) -> None:
    instrument()
    server = _server()
    client = server.client()
    with otel_tokenomics.budget("0.001", on_exceed="raise", name="outer") as outer:
        with otel_tokenomics.budget("0.0001", on_exceed="raise", name="inner") as inner:
            _create(client, max_tokens=100)  # fits both; costs $0.00027
            # The outer budget ($0.00073 left) holds $0.0006015, then the inner one refuses.
            with pytest.raises(BudgetExceeded) as refused:
                _create(client, max_tokens=1000)
        assert (refused.value.budget, refused.value.worst_case) == ("inner", worst(1000))
        # Fits only if the outer budget let go of the refused call's worst case.
        _create(client, max_tokens=1000)
    assert (outer.spent, inner.spent) == (2 * SMALL_COST, SMALL_COST)
    assert len(server.requests) == 2


def test_warn_inner_under_raise_outer_still_refuses(instrument, telemetry) -> None:
    instrument()
    client = _server().client()
    with (
        otel_tokenomics.budget("0.0003", on_exceed="raise", name="outer"),
        otel_tokenomics.budget("0.0001", name="soft") as soft,
    ):
        _create(client, max_tokens=100)
        with pytest.raises(BudgetExceeded) as refused:
            _create(client, max_tokens=100)
    assert refused.value.budget == "outer"
    assert _budget_state(telemetry.span()) == _state("soft", Decimal("0.0001"), SMALL_COST)
    assert soft.llm_calls == 1
    assert _counter(telemetry) == {("soft", "warn", "exceeded"): 1, ("outer", "raise", "refused"): 1}


# -- 5. decorator and reuse ---------------------------------------------------------------------


def test_decorator_gives_every_call_a_budget_of_its_own(instrument, telemetry) -> None:
    instrument()
    client = _server().client()

    @otel_tokenomics.budget("0.0005", name="per_request")
    def handle(calls: int) -> int:
        for _ in range(calls):
            _create(client)
        return calls

    assert handle.__name__ == "handle"
    assert handle(1) == 1
    assert handle(3) == 3
    spans = _chat_spans(telemetry)
    limit = Decimal("0.0005")
    assert [_budget_state(span) for span in spans] == [
        _state("per_request", limit, SMALL_COST),
        _state("per_request", limit, SMALL_COST),
        _state("per_request", limit, 2 * SMALL_COST),
        _state("per_request", limit, 3 * SMALL_COST),
    ]
    assert [len(_events(span)) for span in spans] == [0, 0, 1, 0]
    assert handle(2) == 2  # crosses again: a new budget
    assert _counter(telemetry) == {("per_request", "warn", "exceeded"): 2}


def test_async_decorator_gives_every_call_a_budget_of_its_own(instrument, telemetry) -> None:
    instrument()
    server = _server()
    client = server.async_client()

    @otel_tokenomics.budget(SMALL_COST, on_exceed="raise", name="per_task")
    async def handle() -> str:
        await _create(client, max_tokens=100)
        try:
            await _create(client, max_tokens=100)
        except BudgetExceeded as error:
            return f"refused at {error.spent}"
        return "not refused"

    assert inspect.iscoroutinefunction(handle)
    results = asyncio.run(_gather(handle(), handle()))
    assert results == ["refused at 0.00027000", "refused at 0.00027000"]
    assert len(server.requests) == 2
    assert [_budget_state(span) for span in _chat_spans(telemetry)] == [
        _state("per_task", SMALL_COST, SMALL_COST)
    ] * 2
    assert _counter(telemetry) == {("per_task", "raise", "refused"): 2}


async def _gather(*coroutines: Any) -> list[Any]:
    return list(await asyncio.gather(*coroutines))


def test_one_budget_object_keeps_its_spend_across_blocks(instrument, telemetry) -> None:
    instrument()
    server = _server()
    client = server.client()
    batch = otel_tokenomics.budget("0.0006", on_exceed="raise", name="batch")
    for _ in range(2):
        with batch:
            _create(client, max_tokens=100)
    _create(client, max_tokens=100)  # outside: not charged
    assert batch.spent == 2 * SMALL_COST and batch.llm_calls == 2
    with batch, pytest.raises(BudgetExceeded) as refused:
        _create(client, max_tokens=100)
    assert refused.value.spent == 2 * SMALL_COST
    assert len(server.requests) == 3
    assert [_budget_state(span) for span in _chat_spans(telemetry)] == [
        _state("batch", Decimal("0.0006"), SMALL_COST),
        _state("batch", Decimal("0.0006"), 2 * SMALL_COST),
        (None, None, None),
    ]


def test_reentering_an_open_budget_charges_once(instrument, telemetry) -> None:
    instrument()
    client = _server().client()
    batch = otel_tokenomics.budget(1, name="batch")
    with batch, batch:  # a helper entering the batch's budget inside the batch's block
        _create(client)
    assert (batch.spent, batch.llm_calls) == (SMALL_COST, 1)


def test_one_budget_shared_by_concurrent_tasks_closes_in_each(instrument, telemetry, caplog) -> None:
    instrument()
    client = _server().async_client()
    batch = otel_tokenomics.budget(1, name="batch")

    async def run(before: float, after: float) -> None:
        async with batch:
            await asyncio.sleep(before)
            await _create(client)
        await asyncio.sleep(after)
        await _create(client)  # after the block: not the budget's

    async def both() -> None:
        await asyncio.gather(run(0.01, 0.05), run(0.03, 0))

    asyncio.run(both())
    assert (batch.spent, batch.llm_calls) == (2 * SMALL_COST, 2)
    assert "Failed to detach context" not in caplog.text


# -- 6. concurrency -----------------------------------------------------------------------------

CALLS, FITS, MAX_TOKENS = 10, 4, 100


def _exact_usage(body: dict[str, Any]) -> dict[str, int]:
    """What makes a call cost its worst case exactly: the counted prompt and the whole cap."""
    return {
        "prompt_tokens": PROMPT_TOKENS,
        "completion_tokens": body["max_tokens"],
        "total_tokens": PROMPT_TOKENS + body["max_tokens"],
    }


def test_concurrent_async_calls_reserve_their_worst_case(instrument, telemetry) -> None:
    instrument()
    server = _server(_exact_usage)
    limit = FITS * worst(MAX_TOKENS)
    gate = asyncio.Event()
    arrived: list[Any] = []
    refused: list[BudgetExceeded] = []
    in_flight: list[int] = []

    async def held(request: Any) -> Any:
        # Every admitted request waits here until each call was admitted or refused.
        arrived.append(request)
        in_flight.append(len(arrived))
        await gate.wait()
        return await server.async_handler(request)

    client = openai.AsyncOpenAI(
        api_key="sk-test", max_retries=0, http_client=HTTP.AsyncClient(transport=HTTP.MockTransport(held))
    )

    async def one() -> None:
        try:
            await _create(client, max_tokens=MAX_TOKENS)
        except BudgetExceeded as error:
            refused.append(error)

    async def open_gate() -> None:
        for _ in range(1000):
            if len(arrived) + len(refused) == CALLS:
                break
            await asyncio.sleep(0.001)
        gate.set()

    async def main() -> Budget:
        async with otel_tokenomics.budget(limit, on_exceed="raise", name="pool") as pool:
            await asyncio.gather(*(one() for _ in range(CALLS)), open_gate())
        return pool

    pool = asyncio.run(main())
    assert (len(arrived), len(refused)) == (FITS, CALLS - FITS)
    assert max(in_flight) == FITS  # all admitted calls were in flight at once
    # Refused while the others held everything: nothing spent yet.
    assert {(error.spent, error.worst_case) for error in refused} == {(0, worst(MAX_TOKENS))}
    # Each call cost exactly its worst case: the spend reached the limit, never more.
    assert pool.spent == limit and not pool.exceeded
    assert pool.llm_calls == FITS
    assert _counter(telemetry) == {("pool", "raise", "refused"): CALLS - FITS}
    spans = _chat_spans(telemetry)
    assert len(spans) == FITS
    assert sorted(span.attributes["tokenomics.budget.spent"] for span in spans) == [
        exact(worst(MAX_TOKENS) * n) for n in range(1, FITS + 1)
    ]
    assert all(_events(span) == [] for span in spans)


def test_concurrent_threads_reserve_their_worst_case(instrument, telemetry) -> None:
    instrument()
    server = _server(_exact_usage)
    limit = FITS * worst(MAX_TOKENS)
    gate = threading.Event()
    lock = threading.Lock()
    arrived: list[Any] = []
    refused: list[BudgetExceeded] = []

    def held(request: Any) -> Any:
        with lock:
            arrived.append(request)
        assert gate.wait(10)
        return server.handler(request)

    client = openai.OpenAI(
        api_key="sk-test", max_retries=0, http_client=HTTP.Client(transport=HTTP.MockTransport(held))
    )

    def one() -> None:
        try:
            _create(client, max_tokens=MAX_TOKENS)
        except BudgetExceeded as error:
            with lock:
                refused.append(error)

    with (
        otel_tokenomics.budget(limit, on_exceed="raise", name="threads") as pool,
        ThreadPoolExecutor(CALLS) as executor,
    ):
        futures = [executor.submit(contextvars.copy_context().run, one) for _ in range(CALLS)]
        deadline = time.monotonic() + 10
        while len(arrived) + len(refused) < CALLS and time.monotonic() < deadline:
            time.sleep(0.001)
        gate.set()
        for future in futures:
            future.result()
    assert (len(arrived), len(refused)) == (FITS, CALLS - FITS)
    assert pool.spent == limit and pool.llm_calls == FITS
    assert _counter(telemetry) == {("threads", "raise", "refused"): CALLS - FITS}


# -- 7. unpriced models -------------------------------------------------------------------------


def test_unpriced_model_is_allowed_while_money_is_left(instrument, telemetry) -> None:
    instrument()
    server = _server()
    client = server.client()
    limit = Decimal("0.00054")  # two calls of $0.00027
    with otel_tokenomics.budget(limit, on_exceed="raise", name="mixed") as spending:
        _create(client, model=UNPRICED, max_tokens=100)  # no worst case: $0.00054 left
        assert (spending.spent, spending.llm_calls) == (0, 1)
        _create(client, max_tokens=100)
        _create(client, max_tokens=100)
        # Spent == limit: nothing left, so a call that cannot be priced is refused.
        with pytest.raises(BudgetExceeded) as refused:
            _create(client, model=UNPRICED, max_tokens=100)
    error = refused.value
    assert (error.budget, error.limit, error.spent, error.worst_case) == ("mixed", limit, limit, None)
    assert str(error).startswith("budget 'mixed' ($0.00054) has $0")
    assert str(error).endswith(" left; the call cannot be priced")
    assert len(server.requests) == 3
    unpriced = _chat_spans(telemetry)[0]
    assert unpriced.attributes["tokenomics.cost.status"] == "unpriced"
    assert _budget_state(unpriced) == _state("mixed", limit, 0)
    assert _counter(telemetry) == {("mixed", "raise", "refused"): 1}


def test_refusal_event_of_an_unpriced_call_has_no_worst_case(instrument, telemetry) -> None:
    instrument()
    client = _server().client()
    with (
        _app_tracer(telemetry).start_as_current_span("job"),
        otel_tokenomics.budget(0, on_exceed="raise"),
        pytest.raises(BudgetExceeded),
    ):
        _create(client, model=UNPRICED)
    assert _events(telemetry.span()) == [_refused_event("budget", 0, 0, None)]


# -- 8. sampling --------------------------------------------------------------------------------


def test_budget_counts_calls_whose_spans_are_not_sampled(instrument, telemetry) -> None:
    telemetry.tracer_provider = TracerProvider(sampler=ALWAYS_OFF)
    instrument()
    server = _server()
    client = server.client()
    with otel_tokenomics.budget("0.0005", on_exceed="raise", name="unsampled") as spending:
        _create(client, max_tokens=100)
        _create(client, max_tokens=100)
        with pytest.raises(BudgetExceeded) as refused:
            _create(client, max_tokens=100)
    assert spending.spent == refused.value.spent == 2 * SMALL_COST
    assert spending.llm_calls == 2
    assert telemetry.spans() == []
    assert _counter(telemetry) == {
        ("unsampled", "raise", "exceeded"): 1,
        ("unsampled", "raise", "refused"): 1,
    }


# -- 9. arguments -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("usd_value", "error"),
    [
        (-1, ValueError),
        (Decimal("-0.01"), ValueError),
        (float("nan"), ValueError),
        (Decimal("NaN"), ValueError),
        (float("inf"), ValueError),
        ("ten dollars", ValueError),
        (None, ValueError),
        (True, TypeError),
        (False, TypeError),
    ],
)
def test_budget_rejects_amounts_that_are_not_dollars(usd_value: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        otel_tokenomics.budget(usd_value)


def test_budget_rejects_an_unknown_on_exceed() -> None:
    with pytest.raises(ValueError, match="on_exceed"):
        otel_tokenomics.budget(1, on_exceed="x")
    with pytest.raises(ValueError):
        otel_tokenomics.budget(1, on_exceed="RAISE")


@pytest.mark.parametrize(
    ("usd_value", "limit"),
    [(0.1, Decimal("0.1")), ("2.50", Decimal("2.50")), (3, Decimal(3)), (0, Decimal(0))],
)
def test_budget_amounts_are_kept_as_decimal(usd_value: Any, limit: Decimal) -> None:
    made = otel_tokenomics.budget(usd_value, on_exceed="raise", name="x")
    assert isinstance(made.limit, Decimal) and made.limit == limit
    assert str(made.limit) == str(limit)  # 0.1, not 0.1000000000000000055511151231257827
    assert (made.spent, made.remaining, made.exceeded, made.name) == (0, limit, False, "x")
    assert isinstance(made, Budget)


# -- 10. anthropic ------------------------------------------------------------------------------


def test_anthropic_call_under_a_raise_budget(instrument, telemetry) -> None:
    instrument()
    server = anthropic_fakes.Server()
    server.json("/v1/messages", anthropic_fakes.message())
    client = server.client()
    model = anthropic_fakes.MODEL
    system = "Be brief."
    estimate = otel_tokenomics.estimate(
        "anthropic", model, messages=anthropic_fakes.MESSAGES, system=system, max_tokens=1024
    )
    # USAGE: 1,200 uncached + 40,000 read + 1,000 5m + 2,000 1h written in; 800 out: $0.04335.
    actual = (
        Decimal(1200 * 3 + 40000 * Decimal("0.3") + 1000 * Decimal("3.75") + 2000 * 6 + 800 * 15) / 1_000_000
    )
    limit = Decimal("0.05")
    with otel_tokenomics.budget(limit, on_exceed="raise", name="claude") as spending:
        client.messages.create(model=model, max_tokens=1024, system=system, messages=anthropic_fakes.MESSAGES)
        assert spending.spent == actual == Decimal("0.04335")
        with pytest.raises(BudgetExceeded) as refused:
            client.messages.create(
                model=model, max_tokens=1024, system=system, messages=anthropic_fakes.MESSAGES
            )
    assert len(server.requests) == 1
    error = refused.value
    expected_worst = usd(model, estimate.input_tokens, 1024, provider="anthropic")
    assert error.worst_case == expected_worst
    assert float(error.worst_case) == estimate.worst_case.total
    # $3 per million in, $15 out: 1024 tokens of output are $0.01536 of it.
    assert error.worst_case - Decimal("0.01536") == estimate.input_tokens * Decimal(3) / 1_000_000
    assert (error.limit, error.spent) == (limit, actual)
    assert _budget_state(telemetry.span()) == _state("claude", limit, actual)
    assert _counter(telemetry) == {("claude", "raise", "refused"): 1}


# -- what the worst case leaves out ---------------------------------------------------------------


def test_worst_case_counts_every_choice(instrument, telemetry) -> None:
    instrument()
    server = _server(_exact_choices_usage)
    client = server.client()
    # Room for the prompt and 150 tokens out: a call for 3 choices of up to 100 does not fit.
    with otel_tokenomics.budget(worst(150), on_exceed="raise"), pytest.raises(BudgetExceeded) as refused:
        _create(client, max_tokens=100, n=3)
    assert refused.value.worst_case == usd(MODEL, PROMPT_TOKENS, 300)
    assert server.requests == []


def _exact_choices_usage(body: dict[str, Any]) -> dict[str, int]:
    output = body["max_tokens"] * body.get("n", 1)
    return {
        "prompt_tokens": PROMPT_TOKENS,
        "completion_tokens": output,
        "total_tokens": PROMPT_TOKENS + output,
    }
