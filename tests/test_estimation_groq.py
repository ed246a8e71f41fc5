"""groq calls that end without usage: estimated from the request and the text streamed.

Groq sends a stream's usage in ``x_groq`` on its last chunk (or a usage chunk when
asked): a stream left before it, or whose usage a proxy dropped, is estimated.
The request is read as OpenAI's chat request. Models of other vendors have no
tokenizer here: Llama counts are heuristic (``tokenizers.heuristic_count``, ``h``
below; 3 tokens a prompt, 4 a message). OpenAI's gpt-oss models are counted with
o200k_base and OpenAI's chat framing (3 a message plus its role, 3 for the reply):
``estimated``.

Catalog prices (USD per million tokens): llama-3.3-70b-versatile input 0.59,
output 0.79; openai/gpt-oss-20b on Groq input 0.075, output 0.3.
"""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import estimation_checks as checks
import groq
import httpx
import pytest
import tiktoken
from estimation_checks import HEURISTIC_INPUT, MESSAGES, PIECES, SYSTEM, USER, M, exact
from groq_fakes import (
    CHAT_PATH,
    EMBEDDINGS_PATH,
    LLAMA_USAGE,
    Server,
    chat_chunks,
    chat_completion,
    embeddings_response,
    requires,
    sse,
)
from opentelemetry.trace import StatusCode

from otel_tokenomics.estimation.tokenizers import heuristic_count as h
from otel_tokenomics.providers import groq as adapter

LLAMA = "llama-3.3-70b-versatile"
LLAMA_PRICES = (0.59, 0.79)
GPT_OSS = "openai/gpt-oss-20b"
GPT_OSS_PRICES = (0.075, 0.3)
O200K = tiktoken.get_encoding("o200k_base")


def o200k(text: str) -> int:
    return len(O200K.encode(text))


# OpenAI's chat framing: 3 per message plus its role (one token each here), 3 for the reply.
GPT_OSS_INPUT = 3 + (3 + o200k("system") + o200k(SYSTEM)) + (3 + o200k("user") + o200k(USER))


def _assert_estimated(
    attributes: Any,
    input_tokens: int,
    output_tokens: int,
    prices: tuple[float, float] = LLAMA_PRICES,
    tokenizer: str = "heuristic",
) -> None:
    checks.assert_estimated(attributes, input_tokens, output_tokens, prices, tokenizer)


def _server(**chunk_options: Any) -> Server:
    chunk_options.setdefault("x_groq_usage", None)
    server = Server()
    server.stream(CHAT_PATH, sse(chat_chunks(PIECES, **chunk_options)))
    return server


def _create(server: Server, model: str = LLAMA, **params: Any) -> Any:
    return server.client().chat.completions.create(model=model, messages=MESSAGES, **params)


# -- streams ----------------------------------------------------------------------------------------


def test_stream_without_usage_is_estimated(instrument, telemetry) -> None:
    instrument()
    chunks = list(_create(_server(), stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Hello team!"
    attributes = telemetry.span().attributes
    assert attributes["tokenomics.stream.outcome"] == "completed"
    _assert_estimated(attributes, HEURISTIC_INPUT, h("Hello team!"))
    # The rule itself, in numbers: a change of the heuristic or the framing shows here.
    assert (HEURISTIC_INPUT, h("Hello team!")) == (21, 3)
    assert attributes["tokenomics.cost.total"] == exact((21 * 0.59 + 3 * 0.79) / M)


def test_break_early_is_estimated(instrument, telemetry) -> None:
    instrument()
    for position, _chunk in enumerate(_create(_server(x_groq_usage=LLAMA_USAGE), stream=True)):
        if position == 1:  # the opening chunk, then "Hel"
            break
    gc.collect()
    span = checks.ended_stream(telemetry, "closed_early", StatusCode.UNSET)
    _assert_estimated(span.attributes, HEURISTIC_INPUT, h("Hel"))


def test_close_is_estimated(instrument, telemetry) -> None:
    instrument()
    stream = _create(_server(x_groq_usage=LLAMA_USAGE), stream=True)
    checks.close_after(stream, 3)
    attributes = checks.ended_stream(telemetry, "closed_early", StatusCode.UNSET).attributes
    _assert_estimated(attributes, HEURISTIC_INPUT, h("Hello"))


def test_stream_failing_mid_way_is_estimated(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.dying_stream(CHAT_PATH, sse(chat_chunks(PIECES)[:3], done=False))
    with pytest.raises(httpx.ReadError):
        list(_create(server, stream=True))
    span = checks.ended_stream(telemetry, "failed", StatusCode.ERROR)
    _assert_estimated(span.attributes, HEURISTIC_INPUT, h("Hello"))


def test_rejected_stream_is_not_estimated(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.json(CHAT_PATH, {"error": {"message": "over capacity", "type": "internal_server_error"}}, 503)
    with pytest.raises(groq.InternalServerError):
        _create(server, stream=True)
    checks.assert_not_estimated(telemetry.span().attributes)


def test_completed_stream_keeps_the_provider_counts(instrument, telemetry) -> None:
    instrument()
    list(_create(_server(x_groq_usage=LLAMA_USAGE), stream=True))
    attributes = telemetry.span().attributes
    assert (attributes["gen_ai.usage.input_tokens"], attributes["gen_ai.usage.output_tokens"]) == (120, 45)
    checks.assert_provider_usage(attributes)
    assert attributes["tokenomics.cost.total"] == exact(0.00010635)


def test_gpt_oss_stream_is_counted_with_its_own_tokenizer(instrument, telemetry) -> None:
    instrument()
    server = _server(model=GPT_OSS, reasoning=("The user wants", " a greeting."))
    list(_create(server, model=GPT_OSS, stream=True))
    attributes = telemetry.span().attributes
    # The reasoning is billed as output, with the answer.
    output = o200k("The user wants a greeting." + "Hello team!")
    _assert_estimated(attributes, GPT_OSS_INPUT, output, GPT_OSS_PRICES, "o200k_base")
    assert (GPT_OSS_INPUT, output) == (21, 9)


def test_tool_call_deltas_are_output(instrument, telemetry) -> None:
    instrument()
    chunks = chat_chunks((), x_groq_usage=None)
    base = {key: chunks[0][key] for key in ("id", "object", "created", "model")}
    for delta in (
        {"tool_calls": [{"index": 0, "id": "c1", "type": "function", "function": {"name": "get_weather"}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": '{"city": "Paris"}'}}]},
    ):
        chunks.insert(-1, {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
    server = Server()
    server.stream(CHAT_PATH, sse(chunks))
    list(_create(server, stream=True))
    _assert_estimated(telemetry.span().attributes, HEURISTIC_INPUT, h("get_weather" + '{"city": "Paris"}'))


def test_async_stream_break_early_is_estimated(instrument, telemetry) -> None:
    instrument()
    server = _server()

    async def main() -> None:
        stream = await server.async_client().chat.completions.create(
            model=LLAMA, messages=MESSAGES, stream=True
        )
        async for chunk in stream:
            if chunk.choices[0].delta.content:
                break
        await stream.close()

    asyncio.run(main())
    attributes = checks.ended_stream(telemetry, "closed_early", StatusCode.UNSET).attributes
    _assert_estimated(attributes, HEURISTIC_INPUT, h("Hel"))


# -- non-streamed answers -------------------------------------------------------------------------


def test_answer_without_usage_counts_its_text(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.json(CHAT_PATH, chat_completion(content="Hello team, all is good here!", usage=None))
    _create(server)
    _assert_estimated(telemetry.span().attributes, HEURISTIC_INPUT, h("Hello team, all is good here!"))


def test_gpt_oss_answer_without_usage_counts_its_reasoning(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.json(
        CHAT_PATH,
        chat_completion(
            model=GPT_OSS, content="Hello team!", reasoning="The user wants a greeting.", usage=None
        ),
    )
    _create(server, model=GPT_OSS)
    output = o200k("The user wants a greeting." + "Hello team!")
    _assert_estimated(telemetry.span().attributes, GPT_OSS_INPUT, output, GPT_OSS_PRICES, "o200k_base")


@requires("embeddings")
def test_embeddings_without_usage_are_estimated(instrument, telemetry) -> None:
    instrument()
    server = Server()
    body = embeddings_response(0)
    del body["usage"]
    server.json(EMBEDDINGS_PATH, body)
    server.client().embeddings.create(model="nomic-embed-text-v1_5", input=["hello", "goodbye"])
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.usage.input_tokens"] == h("hello") + h("goodbye") == 2
    assert attributes["tokenomics.usage.source"] == "heuristic"
    assert attributes["tokenomics.cost.status"] == "unpriced"  # no price for the model


# -- the reader, on its own -------------------------------------------------------------------------


def test_documents_are_part_of_the_prompt() -> None:
    body = {
        "model": LLAMA,
        "messages": MESSAGES,
        "documents": [
            {"source": {"type": "text", "text": "The team meets each Monday."}},
            {"id": "d2", "source": {"type": "json", "data": {"plan": "Ship it today."}}},
            "not a document",
        ],
    }
    prompt = adapter.chat_prompt(body)
    assert prompt.messages[0].role == "system"
    assert prompt.messages[0].texts == ["The team meets each Monday.", '{"plan":"Ship it today."}']
    assert [m.texts for m in prompt.messages[1:]] == [[SYSTEM], [USER]]
    assert adapter.chat_prompt({"messages": MESSAGES, "documents": None}).messages[0].texts == [SYSTEM]
