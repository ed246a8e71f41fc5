"""ollama calls that end without counts: estimated from the request and the text streamed.

Ollama reports counts only in an answer's ``done`` part, and leaves out what it did
not count: a stream left before that part, an answer without ``prompt_eval_count``
and the legacy ``/api/embeddings`` are estimated. The model's tokenizer is not known
here, so every estimate is heuristic (``tokenizers.heuristic_count``, ``h`` below):
a prompt costs 3 tokens, plus 4 per message and the count of each text; the output
is the streamed thinking, text and tool calls, joined.

Local models cost nothing on purpose, estimated or not: the engine prices provider
``ollama`` at 0 (``tokenomics.cost.source=local``); an estimate says
``tokenomics.cost.status=estimated`` instead of ``priced``.
"""

from __future__ import annotations

import asyncio
import base64
import gc
from typing import Any

import estimation_checks as checks
import httpx
import ollama
import pytest
from estimation_checks import HEURISTIC_INPUT, MESSAGES, PIECES, SYSTEM, png
from ollama_fakes import Server, answer, chat_answer, chat_parts, embed_answer, generate_parts, message
from opentelemetry.trace import StatusCode

from otel_tokenomics.estimation import images
from otel_tokenomics.estimation.tokenizers import heuristic_count as h
from otel_tokenomics.providers import ollama_prompt

# ollama 0.4 does not model thinking: its answers drop it, its requests do not send it.
THINKING = "thinking" in ollama.Message.model_fields
LOCAL_ESTIMATE = {
    "tokenomics.cost.status": "estimated",
    "tokenomics.cost.source": "local",
    "tokenomics.cost.currency": "USD",
    "tokenomics.cost.total": 0.0,
    "tokenomics.cost.input": 0.0,
    "tokenomics.cost.output": 0.0,
}


def _assert_estimated(attributes: Any, input_tokens: int, output_tokens: int | None = None) -> None:
    checks.assert_estimated_usage(attributes, input_tokens, output_tokens)
    assert {key: attributes[key] for key in LOCAL_ESTIMATE} == LOCAL_ESTIMATE
    assert "tokenomics.pricing.model" not in attributes


def _uncounted_chat(pieces: tuple[str, ...] = PIECES, **counts: Any) -> Server:
    """A streamed chat whose ``done`` part carries no counts unless given."""
    counts.setdefault("prompt", None)
    counts.setdefault("output", None)
    server = Server()
    server.stream("/api/chat", chat_parts(list(pieces), **counts))
    return server


def _chat_stream(server: Server) -> Any:
    return server.client().chat(model="llama3.2", messages=MESSAGES, stream=True)


# -- chat streams -----------------------------------------------------------------------------------


def test_stream_without_counts_is_estimated(instrument, telemetry) -> None:
    instrument()
    parts = list(_chat_stream(_uncounted_chat()))
    assert [part.message.content for part in parts] == [*PIECES, ""]
    attributes = telemetry.span().attributes
    assert attributes["tokenomics.stream.outcome"] == "completed"
    assert attributes["gen_ai.response.finish_reasons"] == ("stop",)
    _assert_estimated(attributes, HEURISTIC_INPUT, h("Hello team!"))
    # The rule itself, in numbers: a change of the heuristic or the framing shows here.
    assert (HEURISTIC_INPUT, h("Hello team!")) == (21, 3)
    assert checks.token_usage(telemetry) == {"input": 21, "output": 3}


def test_break_early_is_estimated(instrument, telemetry) -> None:
    instrument()
    for _part in _chat_stream(_uncounted_chat(prompt=30, output=3)):
        break
    gc.collect()
    span = checks.ended_stream(telemetry, "closed_early", StatusCode.UNSET)
    assert span.attributes["tokenomics.stream.chunk_count"] == 1
    _assert_estimated(span.attributes, HEURISTIC_INPUT, h("Hel"))


def test_close_is_estimated(instrument, telemetry) -> None:
    instrument()
    stream = _chat_stream(_uncounted_chat(prompt=30, output=3))
    checks.close_after(stream, 2)
    attributes = checks.ended_stream(telemetry, "closed_early", StatusCode.UNSET).attributes
    _assert_estimated(attributes, HEURISTIC_INPUT, h("Hello"))


def test_connection_dropped_mid_way_is_estimated(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.stream("/api/chat", chat_parts(list(PIECES), prompt=30, output=3), drop_after=2)
    with pytest.raises(httpx.ReadError):
        list(_chat_stream(server))
    span = checks.ended_stream(telemetry, "failed", StatusCode.ERROR)
    _assert_estimated(span.attributes, HEURISTIC_INPUT, h("Hello"))


def test_error_sent_mid_way_is_estimated(instrument, telemetry) -> None:
    """The model failed after answering in part: what it generated was computed."""
    instrument()
    server = Server()
    server.stream("/api/chat", [*chat_parts(["Hel"])[:1], {"error": "an error was encountered"}])
    with pytest.raises(ollama.ResponseError):
        list(_chat_stream(server))
    span = telemetry.span()
    assert span.attributes["tokenomics.stream.outcome"] == "failed"
    _assert_estimated(span.attributes, HEURISTIC_INPUT, h("Hel"))


def test_rejected_stream_is_not_estimated(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.error("/api/chat", 404, 'model "llama3.2" not found, try pulling it first')
    with pytest.raises(ollama.ResponseError):
        list(_chat_stream(server))
    checks.assert_not_estimated(telemetry.span().attributes)


def test_completed_stream_keeps_the_server_counts(instrument, telemetry) -> None:
    instrument()
    list(_chat_stream(_uncounted_chat(prompt=30, cached=24, output=3)))
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.usage.input_tokens"] == 30
    assert attributes["gen_ai.usage.cache_read.input_tokens"] == 24
    assert attributes["gen_ai.usage.output_tokens"] == 3
    checks.assert_provider_usage(attributes)
    assert attributes["tokenomics.cost.source"] == "local"


def test_thinking_and_tool_calls_are_output(instrument, telemetry) -> None:
    instrument()
    call = {"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}
    final = answer(message=message(""), prompt=None, output=None)
    parts = [
        {"model": "llama3.2", "message": message("", thinking="User wants the weather."), "done": False},
        {"model": "llama3.2", "message": message("", tool_calls=[call]), "done": False},
        final,
    ]
    server = Server()
    server.stream("/api/chat", parts)
    list(_chat_stream(server))
    # Arguments arrive as an object: counted as their compact JSON.
    output = ("User wants the weather." if THINKING else "") + "get_weather" + '{"city":"Paris"}'
    _assert_estimated(telemetry.span().attributes, HEURISTIC_INPUT, h(output))


def test_generate_stream_without_counts_is_estimated(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.stream("/api/generate", generate_parts(["The ", "sky is blue."], prompt=None, output=None))
    list(
        server.client().generate(model="llama3.2", prompt="Why is the sky blue?", system=SYSTEM, stream=True)
    )
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.operation.name"] == "text_completion"
    input_tokens = 3 + (4 + h(SYSTEM)) + (4 + h("Why is the sky blue?"))
    _assert_estimated(attributes, input_tokens, h("The sky is blue."))


def test_async_stream_break_early_is_estimated(instrument, telemetry) -> None:
    instrument()
    server = _uncounted_chat()

    async def main() -> None:
        stream = await server.async_client().chat(model="llama3.2", messages=MESSAGES, stream=True)
        async for _part in stream:
            break
        await stream.aclose()

    asyncio.run(main())
    attributes = checks.ended_stream(telemetry, "closed_early", StatusCode.UNSET).attributes
    _assert_estimated(attributes, HEURISTIC_INPUT, h("Hel"))


# -- answers and embeddings without counts -----------------------------------------------------


def test_answer_without_a_prompt_count_is_estimated(instrument, telemetry) -> None:
    """Servers before 2024 left prompt_eval_count out when the whole prompt was cached.

    Without the input count the usage is estimated whole, output included (from the
    answer's text), as one consistent estimate.
    """
    instrument()
    server = Server()
    server.json("/api/chat", chat_answer("Hello team, all is good here!", prompt=None, output=9))
    server.client().chat(model="llama3.2", messages=MESSAGES)
    _assert_estimated(telemetry.span().attributes, HEURISTIC_INPUT, h("Hello team, all is good here!"))


def test_a_model_load_evaluates_nothing(instrument, telemetry) -> None:
    """An empty chat only loads the model: its left-out counts are zeros, not an estimate."""
    instrument()
    server = Server()
    server.json("/api/chat", chat_answer("", prompt=None, output=None, done_reason="load"))
    server.client().chat(model="llama3.2", messages=[])
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.response.finish_reasons"] == ("load",)
    assert (attributes["gen_ai.usage.input_tokens"], attributes["gen_ai.usage.output_tokens"]) == (0, 0)
    assert attributes["tokenomics.usage.source"] == "provider"
    assert "tokenomics.usage.tokenizer" not in attributes
    assert (attributes["tokenomics.cost.status"], attributes["tokenomics.cost.total"]) == ("priced", 0.0)


def test_legacy_embeddings_are_estimated(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.json("/api/embeddings", {"embedding": [0.5, 0.25, 0.125]})
    server.client().embeddings(model="nomic-embed-text", prompt="Why is the sky blue?")
    attributes = telemetry.span().attributes
    # An embedding input is counted as it is: no framing.
    _assert_estimated(attributes, h("Why is the sky blue?"))
    assert "gen_ai.usage.output_tokens" not in attributes


def test_embed_without_a_count_is_estimated(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.json("/api/embed", embed_answer(prompt=None))
    server.client().embed(model="nomic-embed-text", input=["hello", "Why is the sky blue?"])
    _assert_estimated(telemetry.span().attributes, h("hello") + h("Why is the sky blue?"))


# -- the reader, on its own ---------------------------------------------------------------------


def test_chat_prompt_reads_images_tool_calls_and_tool_results(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.json("/api/chat", chat_answer())
    messages = [
        {"role": "user", "content": "What is this?", "images": [png(5, 4)]},
        {
            "role": "assistant",
            "content": "",
            "thinking": "Look it up.",
            "tool_calls": [{"function": {"name": "lookup", "arguments": {"q": "cat"}}}],
        },
        {"role": "tool", "content": "A cat.", "tool_name": "lookup"},
    ]
    tools = [{"type": "function", "function": {"name": "lookup", "description": "Finds things."}}]
    server.client().chat(model="llama3.2", messages=messages, tools=tools)
    body = server.request_json()  # what the SDK sent: the image as base64
    prompt = ollama_prompt.chat_prompt(body)
    thinking = ["Look it up."] if THINKING else []
    assert [m.texts for m in prompt.messages] == [["What is this?"], thinking, ["A cat."]]
    assert [(c.name, c.arguments) for c in prompt.messages[1].tool_calls] == [("lookup", '{"q":"cat"}')]
    if "tool_name" in body["messages"][2]:  # ollama >= 0.5 sends it
        assert prompt.messages[2].name == "lookup"
    (image,) = prompt.messages[0].images
    if hasattr(images, "image_size"):
        assert (image.width, image.height) == (5, 4)
    assert [(t.name, t.description) for t in prompt.tools] == [("lookup", "Finds things.")]


def test_generate_and_embed_prompts() -> None:
    encoded = base64.b64encode(png(2, 2)).decode()
    prompt = ollama_prompt.generate_prompt({"prompt": "Describe.", "suffix": "End.", "images": [encoded]})
    assert [(m.role, m.texts, len(m.images)) for m in prompt.messages] == [("user", ["Describe.", "End."], 1)]
    assert ollama_prompt.generate_prompt({"prompt": ""}).messages == []  # a model load: nothing sent
    assert ollama_prompt.embed_prompt({"input": "one"}).messages[0].texts == ["one"]
    assert ollama_prompt.embed_prompt({"input": ["one", None]}).messages[0].texts == ["one"]
    (odd,) = ollama_prompt.chat_prompt({"messages": [None, "x", {"images": "not a list"}]}).messages
    assert (odd.role, odd.texts, odd.images) == ("user", [], [])
