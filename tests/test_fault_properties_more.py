"""Broken answers for the other providers: Groq, Cohere, Mistral, Ollama, LiteLLM, Bedrock InvokeModel.

The same properties as ``test_fault_properties`` (whose harness is used as is): one
mutated answer, the same request made through the real SDK with our instrumentation
suppressed and then traced; the user gets the same thing, exactly one span of ours
ends exactly once, nothing of ours logs an error, and what the span says about
tokens and cost is sound.
"""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Callable
from typing import Any

import cohere_fakes
import groq_fakes
import litellm
import mistral_fakes
import ollama_fakes
import openai_fakes
import pytest
import test_fault_properties as base
from bedrock_fakes import (
    CLAUDE_USAGE,
    SONNET_45_GLOBAL,
    BedrockServer,
    anthropic_message,
    anthropic_stream_events,
    chunk_frames,
    token_headers,
)
from bedrock_fakes import shared_server as shared_bedrock
from fault_strategies import (
    INT64_MAX,
    MISSING,
    StreamPlan,
    get_path,
    mutated_body,
    mutated_fields,
    mutated_stream,
)
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from litellm_fakes import LiteLLMServer
from litellm_fakes import shared_server as shared_litellm
from opentelemetry.sdk.trace import ReadableSpan
from test_fault_properties import PROPERTY, Harness, outcome, stream_outcome

# The shared fixture: instrumentation on, and the harness's counters and log capture.
harness = base.harness

# litellm does much more per call than an SDK (its own logging, cost map, threads).
LITELLM_PROPERTY = settings(PROPERTY, max_examples=15)

MESSAGES = [{"role": "user", "content": "Say hello."}]


def sound(value: Any) -> bool:
    """Whether a count as sent is one: a whole non-negative number an OTLP int holds, never a bool."""
    if type(value) is int:
        return 0 <= value <= INT64_MAX
    return type(value) is float and value.is_integer() and 0 <= value <= INT64_MAX


def coerced(value: Any) -> bool:
    """Whether a pydantic SDK that validates (Cohere, Mistral, Ollama) turns it into a usable count.

    Their lax mode makes ``"12"`` 12 and ``False`` 0, which the user then gets too: such
    a count is the SDK's answer, not garbage of ours to drop.
    """
    if type(value) not in (int, float, str, bool):
        return False
    try:
        number = float(value)
    except ValueError:
        return False
    return math.isfinite(number) and 0 <= number <= INT64_MAX


def check_cost_source(
    span: ReadableSpan, usage_sent: Any, paths: tuple[str, ...], is_count: Callable[[Any], bool] = sound
) -> None:
    """A cost said to come from the provider's counts needs at least one count from it.

    Follows ``test_fault_properties.GARBAGE_USAGE_IS_PRICED``: off while that bug is open.
    """
    if base.GARBAGE_USAGE_IS_PRICED:
        return
    attributes = dict(span.attributes or {})
    if attributes.get("tokenomics.usage.source") != "provider" or "tokenomics.cost.total" not in attributes:
        return
    found = isinstance(usage_sent, dict) and any(is_count(get_path(usage_sent, path, None)) for path in paths)
    assert found, (usage_sent, attributes)


def defaulted(usage_sent: Any, paths: tuple[str, ...]) -> bool:
    """Whether one of ``paths`` was not sent (or null): an SDK that validates may fill in 0 for it."""
    if not isinstance(usage_sent, dict):
        return True
    return any(get_path(usage_sent, path, None) is None for path in paths)


# Bugs the properties found (regression tests at the end), fixed: True narrows a property again.
# Cohere: a ``tokens`` / ``billed_units`` part that is not an object raises in our reader.
COHERE_PART_OF_WRONG_TYPE_RAISES = False
# Mistral's SDK defaults missing counts to 0: ``usage: {}`` is then priced as 0 provider tokens.
MISTRAL_DEFAULT_ZEROS_ARE_PRICED = False
# litellm makes a ``Usage`` of zeros when the provider sent none: priced as 0 provider tokens.
LITELLM_PLACEHOLDER_USAGE_IS_PRICED = False


# -- Groq --------------------------------------------------------------------------------------

GROQ_MODEL = "openai/gpt-oss-120b"
GROQ_FIELDS = (
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "prompt_tokens_details",
    "prompt_tokens_details.cached_tokens",
    "completion_tokens_details",
    "completion_tokens_details.reasoning_tokens",
    "queue_time",
    "total_time",
)
GROQ_COUNTS = ("prompt_tokens", "completion_tokens")


@PROPERTY
@given(
    body=mutated_body(
        groq_fakes.chat_completion(model=GROQ_MODEL, usage=groq_fakes.GPT_OSS_USAGE), "usage", GROQ_FIELDS
    )
)
def test_groq_chat(harness: Harness, body: dict[str, Any]) -> None:
    server = groq_fakes.Server()
    server.json(groq_fakes.CHAT_PATH, body)
    client = server.client()
    span = harness.check(
        lambda: outcome(lambda: client.chat.completions.create(model=GROQ_MODEL, messages=MESSAGES))
    )
    check_cost_source(span, body.get("usage"), GROQ_COUNTS)


def _groq_chunks() -> list[dict[str, Any]]:
    usage = groq_fakes.GPT_OSS_USAGE
    return groq_fakes.chat_chunks(model=GROQ_MODEL, x_groq_usage=usage, include_usage=usage)


_GROQ_USAGE_EVENTS = {
    len(_groq_chunks()) - 2: ("x_groq.usage", GROQ_FIELDS),
    len(_groq_chunks()) - 1: ("usage", GROQ_FIELDS),
}


@PROPERTY
@given(plan=mutated_stream(_groq_chunks(), _GROQ_USAGE_EVENTS), ask=st.booleans())
def test_groq_chat_stream(harness: Harness, plan: StreamPlan, ask: bool) -> None:
    """Usage in the finishing chunk's ``x_groq``, and in a choice-less chunk when the request asks."""
    server = groq_fakes.Server()

    def answer(request: Any) -> Any:
        asked = (json.loads(request.content).get("stream_options") or {}).get("include_usage") is True
        events = [e for e in plan.events if asked or e.get("choices") != []]
        payload = groq_fakes.sse(events, done=plan.terminated)
        return server.http.Response(200, headers={"content-type": "text/event-stream"}, content=payload)

    server.routes[groq_fakes.CHAT_PATH] = answer
    client = server.client()
    options = groq_fakes.create_kwargs(stream_options={"include_usage": True}) if ask else {}
    harness.check(
        lambda: stream_outcome(
            lambda: client.chat.completions.create(
                model=GROQ_MODEL, messages=MESSAGES, stream=True, **options
            )
        )
    )


# -- Cohere ------------------------------------------------------------------------------------

COHERE_MODEL = "command-a-03-2025"
COHERE_FIELDS = (
    "billed_units",
    "billed_units.input_tokens",
    "billed_units.output_tokens",
    "tokens",
    "tokens.input_tokens",
    "tokens.output_tokens",
    "cached_tokens",
)
# The processed counts stand in for the billed ones when those are missing.
COHERE_COUNTS = (
    "billed_units.input_tokens",
    "billed_units.output_tokens",
    "tokens.input_tokens",
    "tokens.output_tokens",
)
COHERE_USAGE = cohere_fakes.usage(1200.0, 300.0, cached=1024.0)


@PROPERTY
@given(body=mutated_body(cohere_fakes.chat_response(usage_body=COHERE_USAGE), "usage", COHERE_FIELDS))
def test_cohere_chat(harness: Harness, body: dict[str, Any]) -> None:
    if COHERE_PART_OF_WRONG_TYPE_RAISES:
        assume(_cohere_parts_are_objects(body.get("usage")))
    server = cohere_fakes.Server()
    client = server.client()

    def measure() -> tuple[Any, ...]:
        server.chat(body)
        return outcome(lambda: client.chat(model=COHERE_MODEL, messages=MESSAGES))

    span = harness.check(measure)
    check_cost_source(span, body.get("usage"), COHERE_COUNTS, coerced)


def _cohere_parts_are_objects(usage: Any) -> bool:
    if not isinstance(usage, dict):
        return True
    return all(isinstance(usage.get(part), dict | None) for part in ("billed_units", "tokens"))


def _cohere_events() -> list[dict[str, Any]]:
    return cohere_fakes.stream_events(usage_body=COHERE_USAGE)


@PROPERTY
@given(plan=mutated_stream(_cohere_events(), {len(_cohere_events()) - 1: ("delta.usage", COHERE_FIELDS)}))
def test_cohere_chat_stream(harness: Harness, plan: StreamPlan) -> None:
    """Cohere's stream has no terminator: a cut stream just stops."""
    if COHERE_PART_OF_WRONG_TYPE_RAISES:
        assume(all(_cohere_parts_are_objects(get_path(event, "delta.usage", None)) for event in plan.events))
    server = cohere_fakes.Server()
    client = server.client()

    def measure() -> tuple[Any, ...]:
        server.stream(_named(plan.events))
        return stream_outcome(lambda: client.chat_stream(model=COHERE_MODEL, messages=MESSAGES))

    harness.check(measure)


def _named(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Cohere's SSE names each event by its ``type``: an unknown field never replaces it."""
    return [event if isinstance(event.get("type"), str) else {**event, "type": "unknown"} for event in events]


# -- Mistral -----------------------------------------------------------------------------------

MISTRAL_MODEL = "mistral-large-latest"
MISTRAL_PATH = "/v1/chat/completions"
MISTRAL_FIELDS = (
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "prompt_tokens_details",
    "prompt_tokens_details.cached_tokens",
)
MISTRAL_COUNTS = ("prompt_tokens", "completion_tokens")
MISTRAL_USAGE = mistral_fakes.usage(1200, 300, cached=1024)


@PROPERTY
@given(
    body=mutated_body(
        mistral_fakes.completion("Hello.", usage=MISTRAL_USAGE, model="mistral-large-2512"),
        "usage",
        MISTRAL_FIELDS,
    )
)
def test_mistral_chat(harness: Harness, body: dict[str, Any]) -> None:
    server = mistral_fakes.Server()
    client = server.client()

    def measure() -> tuple[Any, ...]:
        server.json(MISTRAL_PATH, body)
        return outcome(lambda: client.chat.complete(model=MISTRAL_MODEL, messages=MESSAGES))

    span = harness.check(measure)
    if not (MISTRAL_DEFAULT_ZEROS_ARE_PRICED and defaulted(body.get("usage"), MISTRAL_COUNTS)):
        check_cost_source(span, body.get("usage"), MISTRAL_COUNTS, coerced)


def _mistral_events() -> list[dict[str, Any]]:
    return [
        mistral_fakes.chunk("", role="assistant"),
        mistral_fakes.chunk("Hel"),
        mistral_fakes.chunk("lo."),
        mistral_fakes.chunk("", finish_reason="stop", usage=MISTRAL_USAGE),
    ]


@PROPERTY
@given(plan=mutated_stream(_mistral_events(), {len(_mistral_events()) - 1: ("usage", MISTRAL_FIELDS)}))
def test_mistral_chat_stream(harness: Harness, plan: StreamPlan) -> None:
    server = mistral_fakes.Server()
    client = server.client()
    chunks = mistral_fakes.sse(plan.events, done=plan.terminated)

    def measure() -> tuple[Any, ...]:
        server.replies.append(
            (MISTRAL_PATH, lambda request: mistral_fakes.Server._stream_response(chunks, None, request))
        )
        return stream_outcome(lambda: client.chat.stream(model=MISTRAL_MODEL, messages=MESSAGES))

    harness.check(measure)


# -- Ollama ------------------------------------------------------------------------------------

OLLAMA_MODEL = "llama3.2"
# Ollama's counts sit at the top of the final answer, next to its durations.
OLLAMA_FIELDS = ("prompt_eval_count", "eval_count", "prompt_eval_cached_count", "total_duration")
OLLAMA_COUNTS = ("prompt_eval_count", "eval_count")


@PROPERTY
@given(body=mutated_fields(ollama_fakes.chat_answer(prompt=26, output=12, cached=20), OLLAMA_FIELDS))
def test_ollama_chat(harness: Harness, body: dict[str, Any]) -> None:
    server = ollama_fakes.Server()
    server.json("/api/chat", body)
    client = server.client()
    span = harness.check(lambda: outcome(lambda: client.chat(model=OLLAMA_MODEL, messages=MESSAGES)))
    check_cost_source(span, body, OLLAMA_COUNTS, coerced)


@st.composite
def ollama_stream(draw: Callable[..., Any]) -> StreamPlan:
    """Parts whose final one (the counts) is broken; then cut, reordered or repeated.

    An NDJSON stream has no terminator but ``done: true``: cutting it drops that part.
    """
    parts = ollama_fakes.chat_parts(["Hel", "lo."], prompt=26, output=12, cached=20)
    parts[-1] = draw(mutated_fields(parts[-1], OLLAMA_FIELDS), label="final part")
    return draw(mutated_stream(parts, {}), label="stream")


@PROPERTY
@given(plan=ollama_stream())
def test_ollama_chat_stream(harness: Harness, plan: StreamPlan) -> None:
    server = ollama_fakes.Server()
    server.stream("/api/chat", plan.events)
    client = server.client()
    harness.check(
        lambda: stream_outcome(lambda: client.chat(model=OLLAMA_MODEL, messages=MESSAGES, stream=True))
    )


# -- LiteLLM (through the openai SDK, on loopback) ---------------------------------------------

LITELLM_RESPONSE_MODEL = "gpt-4o-mini-2024-07-18"
LITELLM_FIELDS = tuple(field for field in base.CHAT_FIELDS if field != "cost")


@pytest.fixture
def litellm_server() -> LiteLLMServer:
    return shared_litellm()


# litellm stamps what it makes itself with the clock and a fresh id (stream chunks' ``created``,
# the response it was building when the provider's broke): the same on both runs, but for those.
_LITELLM_STAMPS = (
    (re.compile(r"chatcmpl-[0-9a-f]{8}-[0-9a-f-]{27}"), "chatcmpl-<litellm>"),
    (re.compile(r"(['\"]?created['\"]?[:=] ?)\d+"), r"\g<1><clock>"),
)


def steady(value: Any) -> Any:
    """``value`` (an outcome) with litellm's clock and id stamps blanked, strings inside lists too."""
    if isinstance(value, str):
        for pattern, replacement in _LITELLM_STAMPS:
            value = pattern.sub(replacement, value)
        return value
    if isinstance(value, list | tuple):
        return type(value)(steady(item) for item in value)
    return value


def _litellm_args(server: LiteLLMServer) -> dict[str, Any]:
    return {"api_base": f"{server.url}/v1", "api_key": "sk-test-secret", "max_retries": 0}


@LITELLM_PROPERTY
@given(body=mutated_body(openai_fakes.chat_completion(model=LITELLM_RESPONSE_MODEL), "usage", LITELLM_FIELDS))
def test_litellm_completion(harness: Harness, litellm_server: LiteLLMServer, body: dict[str, Any]) -> None:
    args = _litellm_args(litellm_server)

    def measure() -> tuple[Any, ...]:
        litellm_server.reply_json(body)
        return steady(
            outcome(lambda: litellm.completion(model="openai/gpt-4o-mini", messages=MESSAGES, **args))
        )

    span = harness.check(measure)
    if not (LITELLM_PLACEHOLDER_USAGE_IS_PRICED and defaulted(body.get("usage"), base.CHAT_COUNTS)):
        check_cost_source(span, body.get("usage"), base.CHAT_COUNTS, coerced)


def _litellm_chunks() -> list[dict[str, Any]]:
    return openai_fakes.chat_chunks(usage=openai_fakes.CHAT_USAGE)


@LITELLM_PROPERTY
@given(plan=mutated_stream(_litellm_chunks(), {len(_litellm_chunks()) - 1: ("usage", LITELLM_FIELDS)}))
def test_litellm_completion_stream(harness: Harness, litellm_server: LiteLLMServer, plan: StreamPlan) -> None:
    args = _litellm_args(litellm_server)

    def measure() -> tuple[Any, ...]:
        litellm_server.reply_openai_stream(plan.events, done=plan.terminated)
        return steady(
            stream_outcome(
                lambda: litellm.completion(model="openai/gpt-4o-mini", messages=MESSAGES, stream=True, **args)
            )
        )

    harness.check(measure)


# -- Bedrock InvokeModel, Anthropic's body -----------------------------------------------------

BEDROCK_REQUEST = json.dumps(
    {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 256,
        "messages": [{"role": "user", "content": "Hi"}],
    }
)
BEDROCK_USAGE = CLAUDE_USAGE
HEADERS = token_headers(100, 50, 2000, 1000)
HEADER_COUNTS = tuple(HEADERS)

# What a proxy or a broken gateway could put in a count header (only text survives HTTP).
bad_header_values = st.one_of(
    st.just(MISSING),
    st.sampled_from(["", "abc", "-5", "1e3", "12.5", " 7", str(2**63), str(2**80), "NaN", "None"]),
)


@st.composite
def token_header_sets(draw: Callable[..., Any]) -> dict[str, str]:
    """Bedrock's token-count headers, each kept, dropped or garbled."""
    out: dict[str, str] = {}
    for name, value in HEADERS.items():
        drawn = draw(st.one_of(st.just(value), bad_header_values), label=name)
        if drawn is not MISSING:
            out[name] = drawn
    return out


@pytest.fixture
def bedrock() -> BedrockServer:
    return shared_bedrock()


def _invoke_outcome(response: dict[str, Any]) -> Any:
    """The body read out (a StreamingBody's repr would differ on each call), and everything else."""
    rest = {key: value for key, value in response.items() if key not in ("body", "ResponseMetadata")}
    return rest, response["body"].read()


def _sound_headers(headers: dict[str, str]) -> dict[str, Any]:
    return {name: value for name, value in headers.items() if value.isdigit()}


@PROPERTY
@given(
    body=mutated_body(anthropic_message(BEDROCK_USAGE), "usage", base.ANTHROPIC_FIELDS),
    headers=token_header_sets(),
)
def test_bedrock_invoke_model(
    harness: Harness, bedrock: BedrockServer, body: dict[str, Any], headers: dict[str, str]
) -> None:
    client = bedrock.client()

    def measure() -> tuple[Any, ...]:
        bedrock.reply_json(body, headers=headers)
        return outcome(
            lambda: _invoke_outcome(client.invoke_model(modelId=SONNET_45_GLOBAL, body=BEDROCK_REQUEST))
        )

    span = harness.check(measure)
    if not _sound_headers(headers):
        check_cost_source(span, body.get("usage"), base.ANTHROPIC_COUNTS)


STREAM_METRICS = {
    "inputTokenCount": 100,
    "outputTokenCount": 50,
    "cacheReadInputTokenCount": 2000,
    "cacheWriteInputTokenCount": 1000,
    "invocationLatency": 900,
    "firstByteLatency": 300,
}
METRIC_FIELDS = tuple(STREAM_METRICS)


def _bedrock_stream_payloads() -> list[dict[str, Any]]:
    start = dict(BEDROCK_USAGE, output_tokens=1)
    return anthropic_stream_events(start, {"output_tokens": 50}, STREAM_METRICS)


_BEDROCK_STREAM_USAGE = {
    0: ("message.usage", base.ANTHROPIC_FIELDS),
    len(_bedrock_stream_payloads()) - 2: ("usage", base.ANTHROPIC_FIELDS),
    len(_bedrock_stream_payloads()) - 1: ("amazon-bedrock-invocationMetrics", METRIC_FIELDS),
}


@PROPERTY
@given(plan=mutated_stream(_bedrock_stream_payloads(), _BEDROCK_STREAM_USAGE))
def test_bedrock_invoke_model_with_response_stream(
    harness: Harness, bedrock: BedrockServer, plan: StreamPlan
) -> None:
    """Claude's events, each base64 in a ``chunk`` frame; Bedrock's own counts in the last one."""
    client = bedrock.client()
    frames = chunk_frames(copy.deepcopy(plan.events))

    def measure() -> tuple[Any, ...]:
        bedrock.reply_stream(frames)
        return stream_outcome(
            lambda: client.invoke_model_with_response_stream(modelId=SONNET_45_GLOBAL, body=BEDROCK_REQUEST)[
                "body"
            ]
        )

    harness.check(measure)


# -- what the properties found, one example each ------------------------------------------------


@pytest.mark.parametrize("tokens", ["usage", 7, [1.0, 2.0]])
def test_cohere_usage_part_of_the_wrong_type_is_ignored(instrument: Any, tokens: Any) -> None:
    telemetry = instrument()
    server = cohere_fakes.Server()
    usage = {"billed_units": {"input_tokens": 12.0, "output_tokens": 9.0}, "tokens": tokens}
    server.chat(cohere_fakes.chat_response(usage_body=usage))
    server.chat(cohere_fakes.chat_response(usage_body={"billed_units": tokens, "tokens": tokens}))
    client = server.client()
    with base.Harness(telemetry) as harness:
        client.chat(model=COHERE_MODEL, messages=MESSAGES)
        client.chat(model=COHERE_MODEL, messages=MESSAGES)
        reported = base.internal_errors(harness.ours.records)
    first, second = telemetry.spans()
    # The billed counts are sound: a processed part of the wrong type must not lose them.
    assert first.attributes["gen_ai.usage.input_tokens"] == 12
    assert first.attributes["gen_ai.usage.output_tokens"] == 9
    assert first.attributes["tokenomics.usage.source"] == "provider"
    # Nothing sound at all: estimated, as for a missing usage.
    assert second.attributes["tokenomics.usage.source"] != "provider"
    assert reported == []


def test_mistral_usage_without_counts_is_not_priced_as_provider_counts(instrument: Any) -> None:
    telemetry = instrument()
    server = mistral_fakes.Server()
    server.json(MISTRAL_PATH, mistral_fakes.completion("Hello.", usage={}))
    response = server.client().chat.complete(model=MISTRAL_MODEL, messages=MESSAGES)
    assert response.usage.prompt_tokens == 0  # the SDK's default, not the provider's count
    attributes = telemetry.span().attributes
    # As for a missing usage: estimated from the text, never "the provider said $0".
    assert attributes["tokenomics.usage.source"] != "provider"
    assert attributes["tokenomics.cost.status"] == "estimated"


def test_litellm_missing_usage_is_not_priced_as_provider_counts(instrument: Any) -> None:
    telemetry = instrument()
    server = shared_litellm()
    body = openai_fakes.chat_completion(model=LITELLM_RESPONSE_MODEL)
    del body["usage"]
    server.reply_json(body)
    response = litellm.completion(model="openai/gpt-4o-mini", messages=MESSAGES, **_litellm_args(server))
    assert response.usage.prompt_tokens == 0  # litellm's placeholder
    attributes = telemetry.span().attributes
    # litellm calls are not estimated by us (litellm counts streams itself): no usage, no cost.
    assert attributes["tokenomics.usage.source"] == "unavailable"
    assert attributes["tokenomics.cost.status"] == "no_usage"
