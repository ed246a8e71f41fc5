"""Usage objects that say nothing, or say the impossible, per adapter reader.

Three rules, each found by ``test_fault_properties``:

* a count past ``MAX_COUNT`` (2**53) is malformed: 0, never on a span as is;
* a usage object without one sound direction total is no usage at all: the reader
  returns None, so the call is estimated as when the provider sent none;
* a sound 0 is a real answer: provider 0 tokens, priced at $0.

The readers are pure functions, checked directly; a few end-to-end cases check what
a None does to the span, and the include_usage chunk we inject.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import openai_fakes
import pytest

from otel_tokenomics.providers import (
    anthropic_messages,
    bedrock,
    cohere,
    google_genai,
    litellm,
    mistral,
    ollama,
)
from otel_tokenomics.providers import openai as openai_adapter
from otel_tokenomics.usage import MAX_COUNT, Fields, Usage, count, reported, sound

HUGE = 2**60

# -- the helpers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        *[(0, 0), (7, 7), (MAX_COUNT, MAX_COUNT), (MAX_COUNT + 1, 0), (2**63, 0), (-1, 0), (3.0, 3)],
        *[(2.5, 2), (float("nan"), 0), (float("inf"), 0), (1e300, 0), (True, 0), ("12", 0), (None, 0)],
    ],
)
def test_count_bounds(value: Any, expected: int) -> None:
    assert count(value) == expected
    assert type(count(value)) is int


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        *[(0, True), (0.0, True), (MAX_COUNT, True), (MAX_COUNT + 1, False), (-1, False), (2.5, False)],
        *[(float("nan"), False), (True, False), (False, False), ("3", False), (None, False), ([1], False)],
    ],
)
def test_sound(value: Any, expected: bool) -> None:
    assert sound(value) is expected


def test_reported_needs_one_sound_value() -> None:
    assert reported(None, "x", -1, 0) is True
    assert reported(None, "x", -1, HUGE) is False
    assert reported() is False


# -- per adapter reader: garbage -> None, huge -> 0, sound 0 -> provider 0 -----------------------

GARBAGE: list[Any] = [None, "12x", -5, True, float("nan"), HUGE]


def fields(**values: Any) -> Fields:
    return Fields(values)


# reader, a usage mapping from its direction totals (in, out), and its read of (0, 0).
READERS: dict[str, tuple[Callable[[Any], Usage | None], Callable[[Any, Any], Any]]] = {
    "openai chat": (
        openai_adapter.completion_usage,
        lambda i, o: fields(prompt_tokens=i, completion_tokens=o),
    ),
    "openai responses": (
        openai_adapter.responses_usage,
        lambda i, o: fields(input_tokens=i, output_tokens=o),
    ),
    "anthropic": (anthropic_messages.message_usage, lambda i, o: {"input_tokens": i, "output_tokens": o}),
    "bedrock converse": (bedrock.converse_usage, lambda i, o: fields(inputTokens=i, outputTokens=o)),
    "bedrock metrics": (bedrock.metrics_usage, lambda i, o: fields(inputTokenCount=i, outputTokenCount=o)),
    "cohere chat": (
        cohere.chat_usage,
        lambda i, o: fields(billed_units=fields(input_tokens=i, output_tokens=o)),
    ),
    "google generate": (
        google_genai.generate_usage,
        lambda i, o: fields(prompt_token_count=i, candidates_token_count=o),
    ),
    "litellm": (litellm.litellm_usage, lambda i, o: fields(prompt_tokens=i, completion_tokens=o)),
    "mistral": (mistral.mistral_usage, lambda i, o: fields(prompt_tokens=i, completion_tokens=o)),
    "ollama": (ollama.read_usage, lambda i, o: fields(prompt_eval_count=i, eval_count=o)),
}


@pytest.mark.parametrize("name", list(READERS))
@pytest.mark.parametrize("garbage", GARBAGE, ids=repr)
def test_garbage_usage_reads_as_none(name: str, garbage: Any) -> None:
    reader, build = READERS[name]
    assert reader(build(garbage, garbage)) is None


# mistralai's models fill a missing count with 0, so for it a 0 prompt is no count at all.
PROMPT_REQUIRED = {"mistral"}


@pytest.mark.parametrize("name", sorted(set(READERS) - PROMPT_REQUIRED))
def test_sound_zero_is_provider_zero(name: str) -> None:
    reader, build = READERS[name]
    usage = reader(build(0, 0))
    assert usage is not None
    assert (usage.input_tokens, usage.output_tokens, usage.source) == (0, 0, "provider")


@pytest.mark.parametrize("name", sorted(set(READERS) - PROMPT_REQUIRED))
def test_huge_count_is_zero_next_to_a_sound_one(name: str) -> None:
    reader, build = READERS[name]
    usage = reader(build(HUGE, 12))
    assert usage is not None
    assert (usage.input_tokens, usage.output_tokens) == (0, 12)


@pytest.mark.parametrize(("prompt", "completion"), [(0, 0), (0, 12), (HUGE, 12)])
def test_mistral_usage_needs_a_prompt_count(prompt: int, completion: int) -> None:
    assert mistral.mistral_usage(fields(prompt_tokens=prompt, completion_tokens=completion)) is None
    sound = mistral.mistral_usage(fields(prompt_tokens=9, completion_tokens=completion))
    assert sound == Usage(9, completion)


def test_embedding_readers() -> None:
    assert openai_adapter.embeddings_usage(fields(prompt_tokens="7")) is None
    assert openai_adapter.embeddings_usage(fields(prompt_tokens=7)) == Usage(7, 0)
    embed = Fields({"usage_metadata": fields(prompt_token_count=HUGE)})
    assert google_genai.embed_usage(embed) is None
    assert cohere.embed_usage(fields(billed_units=fields(input_tokens=-3))) is None
    assert cohere.embed_usage(fields(billed_units=fields(input_tokens=5))) == Usage(5, 0)


def test_huge_cache_counts_are_dropped() -> None:
    chat = openai_adapter.completion_usage(
        fields(prompt_tokens=2048, completion_tokens=9, prompt_tokens_details=fields(cached_tokens=HUGE))
    )
    assert chat is not None
    assert (chat.input_tokens, chat.cache_read_tokens) == (2048, 0)
    anthropic = anthropic_messages.message_usage(
        {
            "input_tokens": 10,
            "output_tokens": 3,
            "cache_read_input_tokens": HUGE,
            "cache_creation_input_tokens": 4,
        }
    )
    assert anthropic is not None
    assert (anthropic.input_tokens, anthropic.cache_read_tokens, anthropic.cache_write_tokens) == (14, 0, 4)
    converse = bedrock.converse_usage(fields(inputTokens=10, outputTokens=3, cacheReadInputTokens=HUGE))
    assert converse is not None
    assert (converse.input_tokens, converse.cache_read_tokens) == (10, 0)


def test_anthropic_iteration_sums_stay_bounded() -> None:
    iteration = {"type": "compaction", "input_tokens": MAX_COUNT, "output_tokens": MAX_COUNT}
    usage = anthropic_messages.message_usage(
        {"input_tokens": MAX_COUNT, "output_tokens": 1, "iterations": [iteration] * 4}
    )
    assert usage is not None
    assert (usage.input_tokens, usage.output_tokens) == (MAX_COUNT, MAX_COUNT)


def test_bedrock_headers() -> None:
    names = ("x-amzn-bedrock-input-token-count", "x-amzn-bedrock-output-token-count")
    assert bedrock.header_usage(dict.fromkeys(names, "n/a")) is None
    assert bedrock.header_usage(dict(zip(names, ("12", str(HUGE)), strict=True))) == Usage(12, 0)


def test_anthropic_stream_delta_without_counts_keeps_the_start() -> None:
    start = anthropic_messages.message_usage({"input_tokens": 20, "output_tokens": 1})
    assert anthropic_messages.merge_stream_usage(start, {"output_tokens": "many"}) is None
    merged = anthropic_messages.merge_stream_usage(start, {"output_tokens": 0})
    assert merged == Usage(20, 0)


# -- end to end: what the span says ------------------------------------------------------------

MESSAGES = [{"role": "user", "content": "hi"}]


def test_sound_zero_usage_is_priced_at_zero(instrument: Any) -> None:
    telemetry = instrument()
    server = openai_fakes.Server()
    usage = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    server.json("/chat/completions", openai_fakes.chat_completion(usage=usage))
    server.client().chat.completions.create(model="o4-mini", messages=MESSAGES)
    attributes = telemetry.span().attributes
    assert attributes["tokenomics.usage.source"] == "provider"
    assert attributes["tokenomics.cost.status"] == "priced"
    assert attributes["tokenomics.cost.total"] == 0.0
    assert (attributes["gen_ai.usage.input_tokens"], attributes["gen_ai.usage.output_tokens"]) == (0, 0)


def test_garbage_stream_usage_leaves_an_earlier_one(instrument: Any) -> None:
    """A second usage chunk with no count (a proxy repeating it, broken) does not erase the first."""
    telemetry = instrument()
    server = openai_fakes.Server()
    chunks = openai_fakes.chat_chunks(usage=openai_fakes.CHAT_USAGE)
    chunks.append({**chunks[-1], "usage": {"prompt_tokens": "?", "completion_tokens": None}})
    server.stream("/chat/completions", openai_fakes.sse(chunks))
    stream = server.client().chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    assert len(list(stream)) == len(chunks)
    attributes = telemetry.span().attributes
    assert attributes["tokenomics.usage.source"] == "provider"
    assert attributes["gen_ai.usage.input_tokens"] == openai_fakes.CHAT_USAGE["prompt_tokens"]
    assert attributes["gen_ai.usage.output_tokens"] == openai_fakes.CHAT_USAGE["completion_tokens"]


def test_azure_prompt_filter_chunk_still_reaches_the_user(instrument: Any) -> None:
    """Azure's first chunk has no choices and no usage: the user's, also when we injected include_usage."""
    instrument()
    server = openai_fakes.Server()
    chunks = openai_fakes.chat_chunks(usage=openai_fakes.CHAT_USAGE)
    filters = {**chunks[0], "id": "", "model": "", "choices": [], "usage": None}
    filters["prompt_filter_results"] = [{"prompt_index": 0, "content_filter_results": {}}]
    chunks.insert(0, filters)

    def answer(request: Any) -> Any:
        asked = (json.loads(request.content).get("stream_options") or {}).get("include_usage") is True
        payload = openai_fakes.sse(chunks if asked else chunks[:-1])
        return server.http.Response(200, headers={"content-type": "text/event-stream"}, content=payload)

    server.routes["/chat/completions"] = answer
    seen = list(server.client().chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True))
    assert [len(chunk.choices) for chunk in seen] == [0, 1, 1, 1, 1, 1]
    assert seen[0].model_extra["prompt_filter_results"][0]["prompt_index"] == 0
