"""Attribution: baggage entries onto inference and workflow spans, the allowed few onto metrics.

The calls are real: the openai and anthropic SDKs over their fake transports. The
last tests run a second process (tests/baggage_service.py) on 127.0.0.1 and send it
W3C ``traceparent`` and ``baggage`` headers, as a front end calling a back end would.
Expected costs are worked out from the catalog's per-million prices.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import os
import pathlib
import select
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import anthropic_fakes
import pytest
from openai_fakes import CHAT_USAGE, Server, chat_completion, requires
from opentelemetry import baggage, propagate
from opentelemetry import context as otel_context

import otel_tokenomics
from otel_tokenomics import attribution, pricing
from otel_tokenomics.config import ENV_BAGGAGE_KEYS, ENV_METRIC_BAGGAGE, load_options
from otel_tokenomics.metrics import WORKFLOW_CALL_BUCKETS, WORKFLOW_COST_BUCKETS
from otel_tokenomics.pricing.catalog import load_catalog

TENANT = "tokenomics.tenant"
FEATURE = "tokenomics.feature"
USER = "enduser.id"
OTHER = "_other"
# Every baggage key these tests set; what a span carries of them is its attribution.
BAGGAGE_KEYS = (TENANT, FEATURE, USER, "team", "cost.center", "session.id")

# The anthropic SDK warns that the fakes' model is deprecated.
pytestmark = pytest.mark.filterwarnings("ignore:.*deprecated:DeprecationWarning")

MESSAGES = [{"role": "user", "content": "Say hello."}]
MODEL = "gpt-4o-mini"
RESPONSE_MODEL = "gpt-4o-mini-2024-07-18"
COST = "tokenomics.cost"
DURATION = "gen_ai.client.operation.duration"
TOKEN_USAGE = "gen_ai.client.token.usage"
WORKFLOW_COST = "tokenomics.workflow.cost"
WORKFLOW_CALLS = "tokenomics.workflow.llm_calls"

# CHAT_USAGE: 2048 input tokens of which 1536 cached (512 uncached), 612 output of which
# 256 reasoning. gpt-4o-mini prices reasoning as output.
_PRICES = load_catalog().find("openai", RESPONSE_MODEL).at(time.time_ns())
CALL_COST = {
    "input": 512 * _PRICES.input / 1_000_000,
    "cache_read": 1536 * _PRICES.cache_read / 1_000_000,
    "output": 612 * _PRICES.output / 1_000_000,
}
CALL_TOTAL = sum(CALL_COST.values(), Decimal(0))


def exact(value: Decimal | float) -> Any:
    # abs=0: pytest's default absolute tolerance (1e-12) would swamp amounts of 1e-7.
    return pytest.approx(float(value), rel=1e-12, abs=0)


@pytest.fixture(autouse=True)
def fresh_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No attribution options from the environment, the bundled catalog, no values kept by a cap."""
    for name in (ENV_BAGGAGE_KEYS, ENV_METRIC_BAGGAGE, "OTEL_TOKENOMICS_PRICES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("OTEL_TOKENOMICS_PRICING_FALLBACK", raising=False)
    pricing.reset()
    attribution.forget_for_tests()
    assert baggage.get_all() == {}
    yield
    attribution.forget_for_tests()
    pricing.reset()
    # Every test leaves the context as it found it.
    assert baggage.get_all() == {}


def _server(usage: Any = CHAT_USAGE) -> Server:
    """Chat completions of gpt-4o-mini, streamed when asked (usage chunk when asked)."""
    server = Server()
    server.chat(lambda body: (RESPONSE_MODEL, usage))
    return server


def _chat(client: Any, **kwargs: Any) -> Any:
    return client.chat.completions.create(model=MODEL, messages=MESSAGES, **kwargs)


def _attributed(span: Any) -> dict[str, Any]:
    return {key: value for key, value in span.attributes.items() if key in BAGGAGE_KEYS}


def _baggage_keys_on_metrics(telemetry: Any) -> set[str]:
    return {
        key
        for points in telemetry.metrics().values()
        for point in points
        for key in point.attributes
        if key in BAGGAGE_KEYS
    }


# -- 1. baggage -> span attributes ----------------------------------------------------------------


def test_openai_sync_call_gets_the_default_keys_only(instrument, telemetry) -> None:
    instrument()
    server = _server()
    client = server.client()

    _chat(client)
    with otel_tokenomics.attribute_to(tenant="acme", feature="search", user="u-42", **{"session.id": "s-9"}):
        assert baggage.get_all() == {TENANT: "acme", FEATURE: "search", USER: "u-42", "session.id": "s-9"}
        _chat(client)
    _chat(client)

    before, during, after = telemetry.spans()
    assert _attributed(before) == {}
    # session.id is in the baggage but not in the default list: not copied.
    assert _attributed(during) == {TENANT: "acme", FEATURE: "search", USER: "u-42"}
    assert "session.id" not in during.attributes
    assert _attributed(after) == {}
    # The call itself is intact (priced as without baggage), and the baggage stays
    # in the process: nothing of it is sent to the provider.
    assert during.attributes["tokenomics.cost.total"] == exact(CALL_TOTAL)
    assert during.attributes["gen_ai.usage.input_tokens"] == 2048
    for request in server.requests:
        assert "baggage" not in request.headers
        assert "acme" not in str(request.headers)


def test_openai_async_calls_each_get_their_own_task_s_baggage(instrument, telemetry) -> None:
    instrument()
    server = _server()

    async def one(client: Any, tenant: str, user: str) -> None:
        async with otel_tokenomics.attribute_to(tenant=tenant, feature="chat", user=user):
            await asyncio.sleep(0)  # let the other task run inside its own block
            await client.chat.completions.create(model=MODEL, messages=MESSAGES)

    async def main() -> None:
        client = server.async_client()
        await asyncio.gather(one(client, "acme", "u-1"), one(client, "globex", "u-2"))
        await client.chat.completions.create(model=MODEL, messages=MESSAGES)

    asyncio.run(main())

    spans = telemetry.spans()
    assert len(spans) == 3
    assert sorted((_attributed(span) for span in spans), key=lambda a: a.get(TENANT, "")) == [
        {},
        {TENANT: "acme", FEATURE: "chat", USER: "u-1"},
        {TENANT: "globex", FEATURE: "chat", USER: "u-2"},
    ]


@requires("stream_options")
def test_openai_streams_are_attributed_when_they_start(instrument, telemetry) -> None:
    """The baggage in force when the stream is created counts, even if it is read after the block."""
    instrument(metric_baggage=TENANT)
    server = _server()
    client = server.client()

    with otel_tokenomics.attribute_to(tenant="acme", feature="search", user="u-42"):
        stream = _chat(client, stream=True, stream_options={"include_usage": True})
    with otel_tokenomics.attribute_to(tenant="globex"):
        pieces = [chunk.choices[0].delta.content for chunk in stream if chunk.choices]
    assert pieces == ["", "Hel", "lo", " there.", None]

    async def main() -> None:
        async with otel_tokenomics.attribute_to(tenant="initech", user="u-7"):
            stream = await server.async_client().chat.completions.create(
                model=MODEL, messages=MESSAGES, stream=True, stream_options={"include_usage": True}
            )
            assert len([chunk async for chunk in stream]) == 6

    asyncio.run(main())

    sync_span, async_span = telemetry.spans()
    assert _attributed(sync_span) == {TENANT: "acme", FEATURE: "search", USER: "u-42"}
    assert _attributed(async_span) == {TENANT: "initech", USER: "u-7"}
    for span in (sync_span, async_span):
        assert span.attributes["gen_ai.request.stream"] is True
        assert span.attributes["gen_ai.usage.output_tokens"] == 612
        assert span.attributes["tokenomics.cost.total"] == exact(CALL_TOTAL)
    # The stream's metrics too, including its time to first chunk.
    points = telemetry.metrics()
    for name in (DURATION, "gen_ai.client.operation.time_to_first_chunk"):
        assert sorted(p.attributes[TENANT] for p in points[name]) == ["acme", "initech"], name
    cost = {(p.attributes[TENANT], p.attributes["tokenomics.token.class"]): p.value for p in points[COST]}
    assert cost == {
        (tenant, token_class): exact(amount)
        for tenant in ("acme", "initech")
        for token_class, amount in CALL_COST.items()
    }


def test_anthropic_calls_and_streams_get_the_baggage(instrument, telemetry) -> None:
    instrument()
    server = anthropic_fakes.Server()
    server.json("/v1/messages", anthropic_fakes.message())
    client = server.client()
    kwargs: dict[str, Any] = {
        "model": anthropic_fakes.MODEL,
        "max_tokens": 1024,
        "messages": anthropic_fakes.MESSAGES,
    }

    with otel_tokenomics.attribute_to(tenant="acme", feature="support", user="u-42", team="care"):
        client.messages.create(**kwargs)
    server.stream("/v1/messages", anthropic_fakes.sse(anthropic_fakes.events()))
    with otel_tokenomics.attribute_to(tenant="globex", feature="drafts"):
        stream = client.messages.create(stream=True, **kwargs)
    assert [event.type for event in stream][-1] == "message_stop"

    async def main() -> None:
        server.json("/v1/messages", anthropic_fakes.message())
        async with otel_tokenomics.attribute_to(user="u-9"):
            await server.async_client().messages.create(**kwargs)

    asyncio.run(main())

    created, streamed, awaited = telemetry.spans()
    assert _attributed(created) == {TENANT: "acme", FEATURE: "support", USER: "u-42"}
    assert _attributed(streamed) == {TENANT: "globex", FEATURE: "drafts"}
    assert _attributed(awaited) == {USER: "u-9"}
    # claude-sonnet-4-5: 1,200 uncached + 40,000 read + 1,000 5m + 2,000 1h written in, 800 out;
    # $3 input, $0.30 read, $3.75 5m write, $6 1h write, $15 output per million (under 200k).
    prices = load_catalog().find("anthropic", anthropic_fakes.MODEL).at(time.time_ns())
    total = (
        1200 * prices.input.at(44200)
        + 40000 * prices.cache_read.at(44200)
        + 1000 * prices.cache_write.at(44200)
        + 2000 * prices.cache_write_1h.at(44200)
        + 800 * prices.output.at(44200)
    ) / 1_000_000
    for span in (created, streamed, awaited):
        assert span.attributes["gen_ai.provider.name"] == "anthropic"
        assert span.attributes["tokenomics.cost.total"] == exact(total)


def test_baggage_keys_option_replaces_the_default_list(instrument, telemetry) -> None:
    # A string as in the environment: blanks dropped, a repeated key taken once.
    instrument(baggage_keys=" team, tokenomics.tenant,, team ")
    client = _server().client()
    with (
        otel_tokenomics.attribute_to(tenant="acme", feature="search", user="u-42", team="payments"),
        otel_tokenomics.workflow("checkout"),
    ):
        _chat(client)

    call, run = telemetry.spans()
    assert run.name == "invoke_workflow checkout"
    for span in (call, run):
        assert _attributed(span) == {TENANT: "acme", "team": "payments"}


def test_baggage_keys_as_a_list_and_empty(instrument, telemetry) -> None:
    instrument(baggage_keys=["cost.center"])
    client = _server().client()
    with otel_tokenomics.attribute_to(tenant="acme", **{"cost.center": "cc-1001"}):
        _chat(client)
    assert _attributed(telemetry.span()) == {"cost.center": "cc-1001"}

    otel_tokenomics.uninstrument()
    telemetry.exporter.clear()
    instrument(baggage_keys=[])
    with otel_tokenomics.attribute_to(tenant="acme", feature="search", user="u-42"):
        _chat(client)
    assert _attributed(telemetry.span()) == {}


def test_env_baggage_keys_replace_the_default_list(instrument, telemetry, monkeypatch) -> None:
    monkeypatch.setenv(ENV_BAGGAGE_KEYS, "team,cost.center")
    instrument()
    client = _server().client()
    with otel_tokenomics.attribute_to(
        tenant="acme", feature="search", user="u-42", team="payments", **{"cost.center": "cc-7"}
    ):
        _chat(client)
    assert _attributed(telemetry.span()) == {"team": "payments", "cost.center": "cc-7"}


def test_empty_env_baggage_keys_means_the_defaults(instrument, telemetry, monkeypatch) -> None:
    monkeypatch.setenv(ENV_BAGGAGE_KEYS, "")
    instrument()
    with otel_tokenomics.attribute_to(tenant="acme", feature="search", user="u-42"):
        _chat(_server().client())
    assert _attributed(telemetry.span()) == {TENANT: "acme", FEATURE: "search", USER: "u-42"}


def test_env_baggage_keys_none_copies_no_key(instrument, telemetry, monkeypatch) -> None:
    monkeypatch.setenv(ENV_BAGGAGE_KEYS, "none")
    instrument()
    with otel_tokenomics.attribute_to(tenant="acme", feature="search", user="u-42"):
        _chat(_server().client())
    assert _attributed(telemetry.span()) == {}


def test_baggage_keys_option_wins_over_the_env(instrument, telemetry, monkeypatch) -> None:
    monkeypatch.setenv(ENV_BAGGAGE_KEYS, "team")
    instrument(baggage_keys=[USER])
    with otel_tokenomics.attribute_to(tenant="acme", user="u-42", team="payments"):
        _chat(_server().client())
    assert _attributed(telemetry.span()) == {USER: "u-42"}


def test_long_values_are_cut_to_256_characters(instrument, telemetry) -> None:
    instrument(metric_baggage=TENANT)
    client = _server().client()
    long_tenant = "t" * 255 + "é" + "x" * 44  # 300 characters, the 256th not ASCII
    exactly = "f" * 256
    with (
        otel_tokenomics.attribute_to(tenant=long_tenant, feature=exactly, user="u" * 257),
        otel_tokenomics.workflow("report"),
    ):
        _chat(client)
    # Differs from long_tenant only after the cut: the same metric series.
    with otel_tokenomics.attribute_to(tenant="t" * 255 + "é" + "y" * 10):
        _chat(client)

    first, run, second = telemetry.spans()
    for span in (first, run):
        assert _attributed(span) == {TENANT: "t" * 255 + "é", FEATURE: exactly, USER: "u" * 256}
    assert _attributed(second) == {TENANT: "t" * 255 + "é"}
    (duration,) = telemetry.metrics()[DURATION]
    assert duration.attributes[TENANT] == "t" * 255 + "é"
    assert duration.count == 2


def test_attribute_to_nests_and_restores(instrument, telemetry) -> None:
    instrument()
    client = _server().client()
    with otel_tokenomics.attribute_to(tenant="acme", feature="search"):
        # None leaves an entry as it is; other values are text.
        with otel_tokenomics.attribute_to(feature="billing", user=7, tenant=None):
            _chat(client)
        _chat(client)
        with otel_tokenomics.attribute_to(user="u-1") as block:
            assert block.entries == {USER: "u-1"}
            _chat(client)

    inner, outer, user = telemetry.spans()
    assert _attributed(inner) == {TENANT: "acme", FEATURE: "billing", USER: "7"}
    assert _attributed(outer) == {TENANT: "acme", FEATURE: "search"}
    assert _attributed(user) == {TENANT: "acme", FEATURE: "search", USER: "u-1"}


def test_plain_opentelemetry_baggage_works_too(instrument, telemetry) -> None:
    instrument()
    client = _server().client()
    current = baggage.set_baggage(TENANT, "globex")
    current = baggage.set_baggage(USER, "u-5", current)
    current = baggage.set_baggage("session.id", "s-1", current)
    token = otel_context.attach(current)
    try:
        _chat(client)
    finally:
        otel_context.detach(token)
    assert _attributed(telemetry.span()) == {TENANT: "globex", USER: "u-5"}


def test_workflow_span_gets_the_baggage_of_its_start(instrument, telemetry) -> None:
    instrument()
    client = _server().client()
    with (
        otel_tokenomics.attribute_to(tenant="acme", feature="agent", user="u-42"),
        otel_tokenomics.workflow("triage", ticket="T-1") as run,
    ):
        _chat(client)
        with otel_tokenomics.attribute_to(tenant="globex"):
            _chat(client)

    first, second, span = telemetry.spans()
    assert _attributed(first) == {TENANT: "acme", FEATURE: "agent", USER: "u-42"}
    assert _attributed(second) == {TENANT: "globex", FEATURE: "agent", USER: "u-42"}
    assert _attributed(span) == {TENANT: "acme", FEATURE: "agent", USER: "u-42"}
    assert span.attributes["ticket"] == "T-1"
    assert span.attributes["tokenomics.rollup.llm_calls"] == 2
    assert run.cost == 2 * CALL_TOTAL


# -- 2. metrics: the allowlist and its caps --------------------------------------------------------


def _by_tenant(points: list[Any], *others: str) -> dict[Any, Any]:
    found: dict[Any, Any] = {}
    for point in points:
        key = (point.attributes[TENANT], *(point.attributes[name] for name in others))
        assert key not in found, key
        found[key] = point
    return found


def test_cap_folds_new_tenants_into_other(instrument, telemetry) -> None:
    instrument(metric_baggage="tokenomics.tenant:3", metric_names="both")
    client = _server().client()
    # t-1..t-3 take the three places; t-4 and t-5 come later and share _other. A kept
    # value keeps its own series after the cap is reached (the last t-3 calls).
    plan = ["t-1"] + ["t-2"] * 2 + ["t-3"] * 3 + ["t-4"] * 4 + ["t-5"] * 5 + ["t-3"]
    for number, tenant in enumerate(plan):
        with otel_tokenomics.attribute_to(tenant=tenant, feature=f"f-{number}", user=f"u-{number}"):
            _chat(client)
    calls = {"t-1": 1, "t-2": 2, "t-3": 4, OTHER: 9}

    # Spans have no cap: every call keeps its own values.
    spans = telemetry.spans()
    assert collections.Counter(span.attributes[TENANT] for span in spans) == collections.Counter(plan)
    assert [span.attributes[USER] for span in spans] == [f"u-{n}" for n in range(len(plan))]

    points = telemetry.metrics()
    cost = _by_tenant(points[COST], "tokenomics.token.class")
    assert {key: point.value for key, point in cost.items()} == {
        (tenant, token_class): exact(n * amount)
        for tenant, n in calls.items()
        for token_class, amount in CALL_COST.items()
    }
    tokens = _by_tenant(points[TOKEN_USAGE], "gen_ai.token.type")
    assert {key: (point.count, point.sum) for key, point in tokens.items()} == {
        **{(tenant, "input"): (n, n * 2048) for tenant, n in calls.items()},
        **{(tenant, "output"): (n, n * 612) for tenant, n in calls.items()},
    }
    duration = _by_tenant(points[DURATION])
    assert {key[0]: point.count for key, point in duration.items()} == calls
    latest = {
        "gen_ai.client.inference.usage.input_tokens": 2048,
        "gen_ai.client.inference.usage.output_tokens": 612,
        "gen_ai.client.inference.usage.cache_read.input_tokens": 1536,
        "gen_ai.client.inference.usage.reasoning.output_tokens": 256,
    }
    for name, per_call in latest.items():
        assert {p.attributes[TENANT]: p.value for p in points[name]} == {
            tenant: n * per_call for tenant, n in calls.items()
        }, name
    assert {p.attributes[TENANT]: p.count for p in points["gen_ai.client.inference.duration"]} == calls

    # Every series of every metric: one of the four tenant values, never a feature or a user.
    for name, series in points.items():
        for point in series:
            assert point.attributes[TENANT] in calls, (name, dict(point.attributes))
            assert FEATURE not in point.attributes and USER not in point.attributes, name


def test_no_allowlist_means_no_baggage_on_any_metric(instrument, telemetry) -> None:
    instrument(metric_names="both")
    client = _server().client()
    for tenant in ("acme", "globex"):
        with (
            otel_tokenomics.attribute_to(tenant=tenant, feature="search", user="u-42", team="x"),
            otel_tokenomics.workflow("lookup"),
        ):
            _chat(client)

    spans = telemetry.spans()
    assert [span.attributes[TENANT] for span in spans] == ["acme", "acme", "globex", "globex"]
    points = telemetry.metrics()
    assert {COST, DURATION, WORKFLOW_COST, WORKFLOW_CALLS} <= set(points)
    assert _baggage_keys_on_metrics(telemetry) == set()
    # One series for both tenants.
    (duration,) = points[DURATION]
    assert duration.count == 2
    (run_cost,) = points[WORKFLOW_COST]
    assert run_cost.count == 2
    assert run_cost.sum == exact(2 * CALL_TOTAL)


def test_metric_keys_need_not_be_span_keys(instrument, telemetry) -> None:
    """The allowlist is its own list: a key on metrics, not on spans, if so configured."""
    instrument(baggage_keys=[USER], metric_baggage={"team": 5})
    with otel_tokenomics.attribute_to(tenant="acme", user="u-1", team="payments"):
        _chat(_server().client())
    assert _attributed(telemetry.span()) == {USER: "u-1"}
    assert _baggage_keys_on_metrics(telemetry) == {"team"}
    (duration,) = telemetry.metrics()[DURATION]
    assert duration.attributes["team"] == "payments"


def test_env_metric_baggage(instrument, telemetry, monkeypatch) -> None:
    monkeypatch.setenv(ENV_METRIC_BAGGAGE, " tokenomics.tenant:2 , tokenomics.feature")
    instrument()
    client = _server().client()
    for tenant, feature in (("a", "search"), ("b", "chat"), ("c", "drafts"), ("a", "chat")):
        with otel_tokenomics.attribute_to(tenant=tenant, feature=feature, user="u-42"):
            _chat(client)

    assert _baggage_keys_on_metrics(telemetry) == {TENANT, FEATURE}
    duration = _by_tenant(telemetry.metrics()[DURATION], FEATURE)
    # Tenants capped at 2; features at the default cap (100), so all three kept.
    assert {key: point.count for key, point in duration.items()} == {
        ("a", "search"): 1,
        ("b", "chat"): 1,
        (OTHER, "drafts"): 1,
        ("a", "chat"): 1,
    }


def test_metric_baggage_option_wins_over_the_env(instrument, telemetry, monkeypatch) -> None:
    monkeypatch.setenv(ENV_METRIC_BAGGAGE, TENANT)
    instrument(metric_baggage={FEATURE: 1})
    client = _server().client()
    for feature in ("search", "chat"):
        with otel_tokenomics.attribute_to(tenant="acme", feature=feature):
            _chat(client)
    assert _baggage_keys_on_metrics(telemetry) == {FEATURE}
    assert {p.attributes[FEATURE]: p.count for p in telemetry.metrics()[DURATION]} == {
        "search": 1,
        OTHER: 1,
    }


def test_invalid_caps_warn_and_take_the_default() -> None:
    logged: list[tuple[str, Any]] = []
    caps = attribution.parse_metric_caps(
        "a:0, b:-3, c:2.5, d:many, e:, f:7, g", lambda key, cap: logged.append((key, cap))
    )
    assert caps == {"a": 100, "b": 100, "c": 100, "d": 100, "e": 100, "f": 7, "g": 100}
    assert logged == [("a", "0"), ("b", "-3"), ("c", "2.5"), ("d", "many")]
    assert attribution.parse_metric_caps({"a": 3, "b": "x", "c": None}, lambda *_: None) == {
        "a": 3,
        "b": 100,
        "c": 100,
    }


CAP_WARNING = (
    f"{ENV_METRIC_BAGGAGE}: the cap of 'tokenomics.tenant' must be a positive integer, not 'lots'; "
    "using the default"
)


def test_invalid_cap_option_warns_and_caps_at_100(instrument, telemetry, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="otel_tokenomics"):
        assert load_options({"metric_baggage": "tokenomics.tenant:lots"}, environ={}).metric_baggage == {
            TENANT: 100
        }
        caplog.clear()
        instrument(metric_baggage="tokenomics.tenant:lots")
    # The same warning (once per instrumentor: see the test below), nothing else.
    assert {r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING} == {CAP_WARNING}
    client = _server().client()
    for number in range(101):
        with otel_tokenomics.attribute_to(tenant=f"tenant-{number:03d}"):
            _chat(client)
    counts = {p.attributes[TENANT]: p.count for p in telemetry.metrics()[DURATION]}
    assert counts == {**{f"tenant-{n:03d}": 1 for n in range(100)}, OTHER: 1}


def test_invalid_cap_is_reported_once(instrument, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="otel_tokenomics"):
        instrument(metric_baggage="tokenomics.tenant:lots")
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == [CAP_WARNING]


def test_workflow_histograms_carry_the_allowed_key(instrument, telemetry) -> None:
    instrument(metric_baggage="tokenomics.tenant:2")
    client = _server().client()
    for tenant, calls in (("acme", 2), ("globex", 1), ("initech", 3), ("acme", 1)):
        with (
            otel_tokenomics.attribute_to(tenant=tenant, feature="agent", user="u-1"),
            otel_tokenomics.workflow("agent", attempt=calls),
        ):
            for _ in range(calls):
                _chat(client)

    points = telemetry.metrics()
    runs = {"acme": (2, 3), "globex": (1, 1), OTHER: (1, 3)}  # tenant -> (runs, calls)
    for name in (WORKFLOW_COST, WORKFLOW_CALLS):
        for point in points[name]:
            tenant = point.attributes[TENANT]
            assert dict(point.attributes) == {
                "tokenomics.workflow.name": "agent",
                "tokenomics.rollup.cost.status": "complete",
                TENANT: tenant,
            }
    cost = {p.attributes[TENANT]: p for p in points[WORKFLOW_COST]}
    assert {tenant: (p.count, p.sum) for tenant, p in cost.items()} == {
        tenant: (n_runs, exact(n_calls * CALL_TOTAL)) for tenant, (n_runs, n_calls) in runs.items()
    }
    assert tuple(cost["acme"].explicit_bounds) == WORKFLOW_COST_BUCKETS
    calls_points = {p.attributes[TENANT]: p for p in points[WORKFLOW_CALLS]}
    assert {tenant: (p.count, p.sum) for tenant, p in calls_points.items()} == runs
    assert tuple(calls_points["acme"].explicit_bounds) == WORKFLOW_CALL_BUCKETS
    # The workflow spans keep the real tenant.
    tenants = [s.attributes[TENANT] for s in telemetry.spans() if s.name == "invoke_workflow agent"]
    assert tenants == ["acme", "globex", "initech", "acme"]


def test_workflow_decorator_reads_the_baggage_of_each_call(instrument, telemetry) -> None:
    instrument(metric_baggage=TENANT)
    client = _server().client()

    @otel_tokenomics.workflow("answer")
    def answer() -> None:
        _chat(client)

    @otel_tokenomics.workflow("answer")
    async def answer_async() -> None:
        await server.async_client().chat.completions.create(model=MODEL, messages=MESSAGES)

    server = _server()

    async def main() -> None:
        async with otel_tokenomics.attribute_to(tenant="globex"):
            await answer_async()

    with otel_tokenomics.attribute_to(tenant="acme"):
        answer()
    asyncio.run(main())
    answer()

    runs = [s for s in telemetry.spans() if s.name == "invoke_workflow answer"]
    assert [_attributed(span) for span in runs] == [{TENANT: "acme"}, {TENANT: "globex"}, {}]
    cost = {p.attributes.get(TENANT): (p.count, p.sum) for p in telemetry.metrics()[WORKFLOW_COST]}
    assert cost == {tenant: (1, exact(CALL_TOTAL)) for tenant in ("acme", "globex", None)}


def test_the_cap_is_shared_by_every_sdk(instrument, telemetry) -> None:
    """One cap per key for the process: the openai and anthropic instrumentations count together."""
    instrument(metric_baggage="tokenomics.tenant:1")
    anthropic_server = anthropic_fakes.Server()
    anthropic_server.json("/v1/messages", anthropic_fakes.message())
    with otel_tokenomics.attribute_to(tenant="acme"):
        _chat(_server().client())
    with otel_tokenomics.attribute_to(tenant="globex"):
        anthropic_server.client().messages.create(
            model=anthropic_fakes.MODEL, max_tokens=1024, messages=anthropic_fakes.MESSAGES
        )
    durations = {
        p.attributes["gen_ai.provider.name"]: p.attributes[TENANT] for p in telemetry.metrics()[DURATION]
    }
    assert durations == {"openai": "acme", "anthropic": OTHER}
    assert [_attributed(s) for s in telemetry.spans()] == [{TENANT: "acme"}, {TENANT: "globex"}]


def test_every_metric_of_a_call_carries_the_key(instrument, telemetry) -> None:
    """The unpriced counter and a failed call's duration are labeled like the rest."""
    instrument(metric_baggage=TENANT)
    server = Server()
    server.json("/chat/completions", chat_completion(model="acme-private-llm"))
    server.json("/embeddings", {"error": {"message": "boom"}}, status=500)
    client = server.client()
    with otel_tokenomics.attribute_to(tenant="acme"):
        client.chat.completions.create(model="acme-private-llm", messages=MESSAGES)
        with pytest.raises(Exception, match="boom"):
            client.embeddings.create(model="text-embedding-3-small", input="x")

    points = telemetry.metrics()
    (unpriced,) = points["tokenomics.unpriced.calls"]
    assert unpriced.value == 1
    assert unpriced.attributes[TENANT] == "acme"
    failed = [p for p in points[DURATION] if "error.type" in p.attributes]
    assert [(p.attributes[TENANT], p.attributes["error.type"]) for p in failed] == [
        ("acme", "InternalServerError")
    ]
    assert COST not in points


def test_caps_are_process_wide_until_forgotten(instrument, telemetry) -> None:
    """A new instrument() keeps the values already kept; forget_for_tests() starts over."""
    instrument(metric_baggage="tokenomics.tenant:1")
    client = _server().client()
    with otel_tokenomics.attribute_to(tenant="acme"):
        _chat(client)
    otel_tokenomics.uninstrument()
    instrument(metric_baggage="tokenomics.tenant:1")
    with otel_tokenomics.attribute_to(tenant="globex"):
        _chat(client)
    assert {p.attributes[TENANT]: p.count for p in telemetry.metrics()[DURATION]} == {"acme": 1, OTHER: 1}

    otel_tokenomics.uninstrument()
    attribution.forget_for_tests()
    instrument(metric_baggage="tokenomics.tenant:1")
    with otel_tokenomics.attribute_to(tenant="globex"):
        _chat(client)
    assert {p.attributes[TENANT]: p.count for p in telemetry.metrics()[DURATION]} == {
        "acme": 1,
        OTHER: 1,
        "globex": 1,
    }


def test_cap_holds_under_concurrent_calls(instrument, telemetry) -> None:
    instrument(metric_baggage="tokenomics.tenant:10")
    server = _server()
    barrier = threading.Barrier(8)

    def worker(number: int) -> None:
        client = server.client()
        barrier.wait()
        for call in range(25):
            with otel_tokenomics.attribute_to(tenant=f"w{number}-c{call}"):
                _chat(client)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)

    counts = {p.attributes[TENANT]: p.count for p in telemetry.metrics()[DURATION]}
    assert len(counts) == 11 and counts[OTHER] == 190
    assert set(counts.values()) == {1, 190}
    total = sum(p.value for p in telemetry.metrics()[COST])
    assert total == pytest.approx(float(200 * CALL_TOTAL), rel=1e-9, abs=0)
    assert len({s.attributes[TENANT] for s in telemetry.spans()}) == 200


# -- 3. two processes: W3C baggage over HTTP -------------------------------------------------------

SERVICE = pathlib.Path(__file__).resolve().with_name("baggage_service.py")
STARTUP_TIMEOUT = 60.0
REQUEST_TIMEOUT = 30.0
# The service's call: 1,000 input tokens (none cached), 200 output, gpt-4o-mini.
SERVICE_CALL = (1000 * _PRICES.input + 200 * _PRICES.output) / 1_000_000


class RemoteService:
    """Process B, reached over HTTP on 127.0.0.1 (never through a proxy)."""

    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}/"
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def call(self, headers: dict[str, str]) -> dict[str, Any]:
        request = urllib.request.Request(self.url, data=b"{}", headers=headers, method="POST")
        with self._opener.open(request, timeout=REQUEST_TIMEOUT) as response:
            answer = json.loads(response.read())
        assert answer["blocked"] == []
        return answer


def _read_port(process: subprocess.Popen[bytes], stderr: Any) -> int:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    assert process.stdout is not None
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], 0.2)
        if ready:
            line = process.stdout.readline()
            if line.strip().isdigit():
                return int(line)
            if not line:
                break
        if process.poll() is not None:
            break
    stderr.seek(0)
    pytest.fail(f"baggage_service did not start (exit {process.poll()}):\n{stderr.read().decode()}")


@pytest.fixture
def start_service() -> Iterator[Callable[..., RemoteService]]:
    """Starts process B; every process started is ended after the test, however it went."""
    started: list[tuple[subprocess.Popen[bytes], Any]] = []

    def start(*arguments: str) -> RemoteService:
        # No OTEL_* variable of this process: B runs with the default propagators.
        env = {name: value for name, value in os.environ.items() if not name.startswith("OTEL_")}
        if "TIKTOKEN_CACHE_DIR" in os.environ:
            env["TIKTOKEN_CACHE_DIR"] = os.environ["TIKTOKEN_CACHE_DIR"]
        env["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
        stderr = tempfile.TemporaryFile()  # noqa: SIM115 (closed with the process, below)
        process = subprocess.Popen(
            [sys.executable, str(SERVICE), "--lifetime", "300", *arguments],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            env=env,
            cwd=str(SERVICE.parent.parent),
        )
        started.append((process, stderr))
        return RemoteService(_read_port(process, stderr))

    try:
        yield start
    finally:
        for process, stderr in started:
            try:
                if process.stdin is not None:
                    process.stdin.close()  # B exits when its stdin closes
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=10)
            finally:
                if process.stdout is not None:
                    process.stdout.close()
                stderr.close()


def _inference_span(answer: dict[str, Any]) -> dict[str, Any]:
    (span,) = answer["spans"]
    assert span["name"] == "chat gpt-4o-mini"
    assert span["attributes"]["tokenomics.cost.total"] == exact(SERVICE_CALL)
    return span


def _remote_attributed(span: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in span["attributes"].items() if key in BAGGAGE_KEYS}


def test_baggage_and_trace_cross_processes(start_service, telemetry) -> None:
    assert "TIKTOKEN_CACHE_DIR" in os.environ  # set by conftest, passed to B
    service = start_service()
    tracer = telemetry.tracer_provider.get_tracer("frontend")
    feature = "search, beta=1; v2 é"  # needs percent-encoding in the header
    long_user = "u-42" + "z" * 296  # 300 characters

    with (
        otel_tokenomics.attribute_to(tenant="acme", feature="search", user="u-42"),
        tracer.start_as_current_span("GET /search") as parent,
    ):
        headers: dict[str, str] = {}
        propagate.inject(headers)
        with_baggage = service.call(headers)
    with (
        otel_tokenomics.attribute_to(tenant="acme", feature=feature, user=long_user, team="x"),
        tracer.start_as_current_span("GET /odd"),
    ):
        odd_headers: dict[str, str] = {}
        propagate.inject(odd_headers)
        odd = service.call(odd_headers)
    with tracer.start_as_current_span("GET /health") as plain_parent:
        plain_headers: dict[str, str] = {}
        propagate.inject(plain_headers)
        without_baggage = service.call(plain_headers)
    bare = service.call({})

    # The default propagators of A: trace context and baggage.
    assert set(headers) == {"traceparent", "baggage"}
    assert with_baggage["received"]["baggage"] == headers["baggage"]
    span = _inference_span(with_baggage)
    assert _remote_attributed(span) == {TENANT: "acme", FEATURE: "search", USER: "u-42"}
    # Part of A's trace, a child of A's span.
    context = parent.get_span_context()
    assert span["trace_id"] == format(context.trace_id, "032x")
    assert span["parent_span_id"] == format(context.span_id, "016x")
    assert span["parent_is_remote"] is True

    # Encoded values arrive intact, and are cut to 256 characters like local ones.
    assert _remote_attributed(_inference_span(odd)) == {
        TENANT: "acme",
        FEATURE: feature,
        USER: long_user[:256],
    }

    # A trace context and no baggage: the same trace, no attribution.
    assert set(plain_headers) == {"traceparent"}
    assert without_baggage["received"]["baggage"] is None
    span = _inference_span(without_baggage)
    assert _remote_attributed(span) == {}
    assert span["trace_id"] == format(plain_parent.get_span_context().trace_id, "032x")
    assert span["parent_span_id"] == format(plain_parent.get_span_context().span_id, "016x")

    # No headers at all: a trace of B's own.
    span = _inference_span(bare)
    assert _remote_attributed(span) == {}
    assert span["parent_span_id"] is None
    assert span["trace_id"] != format(parent.get_span_context().trace_id, "032x")

    # B has no metric allowlist: its metrics carry no baggage.
    for points in bare["metrics"].values():
        for point in points:
            assert not set(point["attributes"]) & set(BAGGAGE_KEYS)
    # A's own spans: only its application spans (A made no LLM call).
    assert [s.name for s in telemetry.spans()] == ["GET /search", "GET /odd", "GET /health"]


def test_a_caller_cannot_grow_the_remote_series_past_the_cap(start_service) -> None:
    """Baggage comes from outside; B's metric series stay within its caps whatever is sent."""
    service = start_service("--metric-baggage", "tokenomics.tenant:2")
    answers = []
    for number in range(1, 6):
        with otel_tokenomics.attribute_to(tenant=f"t-{number}", feature=f"feature-{number}"):
            headers: dict[str, str] = {}
            propagate.inject(headers)  # baggage only: no span is current
        assert set(headers) == {"baggage"}
        answers.append(service.call(headers))

    # Spans keep each caller's value.
    assert [_remote_attributed(_inference_span(a)) for a in answers] == [
        {TENANT: f"t-{n}", FEATURE: f"feature-{n}"} for n in range(1, 6)
    ]
    metrics = answers[-1]["metrics"]
    cost = {
        (p["attributes"][TENANT], p["attributes"]["tokenomics.token.class"]): p["value"]
        for p in metrics[COST]
    }
    calls = {"t-1": 1, "t-2": 1, OTHER: 3}
    assert cost == {
        **{(tenant, "input"): exact(n * 1000 * _PRICES.input / 1_000_000) for tenant, n in calls.items()},
        **{(tenant, "output"): exact(n * 200 * _PRICES.output / 1_000_000) for tenant, n in calls.items()},
    }
    tokens = {
        (p["attributes"][TENANT], p["attributes"]["gen_ai.token.type"]): p["sum"]
        for p in metrics[TOKEN_USAGE]
    }
    assert tokens == {
        **{(tenant, "input"): n * 1000 for tenant, n in calls.items()},
        **{(tenant, "output"): n * 200 for tenant, n in calls.items()},
    }
    for points in metrics.values():
        for point in points:
            assert point["attributes"][TENANT] in calls
            assert FEATURE not in point["attributes"]
