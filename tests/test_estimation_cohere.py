"""cohere v2 calls that end without usage: estimated from the request and the text streamed.

Cohere publishes no tokenizer, so every estimate is heuristic
(``tokenizers.heuristic_count``, ``h`` below): a prompt costs 3 tokens, plus 4 per
message and the heuristic count of each text it holds (``counting.generic_prompt_tokens``),
and tool definitions as compact JSON at 0.7 of their heuristic count (rounded);
the output is the streamed text, joined and counted once. The expected numbers are
built from those parts, so they check which texts are read; the literals check the rule.

Catalog prices (USD per million tokens): command-a-03-2025 input 2.5, output 10;
command-r input 0.15, output 0.6; embed-english-v3.0 input 0.1.
"""

from __future__ import annotations

import asyncio
import base64
import gc
import json
from typing import Any

import cohere
import estimation_checks as checks
import httpx
import pytest
from cohere_fakes import Server, chat_response, embed_response, stream_events, tool_stream_events, usage
from estimation_checks import HEURISTIC_INPUT, MESSAGES, PIECES, M, exact, png
from opentelemetry.trace import StatusCode

from otel_tokenomics.estimation import images
from otel_tokenomics.estimation.tokenizers import heuristic_count as h
from otel_tokenomics.providers import cohere_prompt

COMMAND_A = (2.5, 10)
COMMAND_R = (0.15, 0.6)
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather of one city.",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]


def _events_without_usage(**options: Any) -> list[dict[str, Any]]:
    events = stream_events(pieces=PIECES, **options)
    del events[-1]["delta"]["usage"]  # message-end without usage (a proxy that drops it)
    return events


def _stream(server: Server, model: str = "command-a-03-2025", **params: Any) -> Any:
    return server.client().chat_stream(model=model, messages=MESSAGES, **params)


# -- streams ----------------------------------------------------------------------------------------


def test_stream_without_usage_is_estimated(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.stream(_events_without_usage())
    events = list(_stream(server))
    assert events[-1].type == "message-end"
    attributes = telemetry.span().attributes
    assert attributes["tokenomics.stream.outcome"] == "completed"
    assert attributes["gen_ai.response.finish_reasons"] == ("stop",)
    checks.assert_estimated(attributes, HEURISTIC_INPUT, h("Hello team!"), COMMAND_A)
    # The rule itself, in numbers: a change of the heuristic or the framing shows here.
    assert (HEURISTIC_INPUT, h("Hello team!")) == (21, 3)
    assert attributes["tokenomics.cost.total"] == exact(82.5 / M)  # 21 x 2.5 + 3 x 10
    assert checks.token_usage(telemetry) == {"input": 21, "output": 3}


def test_stream_break_early_is_estimated(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.stream(stream_events(pieces=PIECES, usage_body=usage(250.0, 3.0)))
    for position, _event in enumerate(_stream(server)):
        if position == 2:  # message-start, content-start, "Hel"
            break
    gc.collect()
    span = checks.ended_stream(telemetry, "closed_early", StatusCode.UNSET)
    assert span.attributes["tokenomics.stream.chunk_count"] == 3
    checks.assert_estimated(span.attributes, HEURISTIC_INPUT, h("Hel"), COMMAND_A)


def test_stream_close_is_estimated(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.stream(stream_events(pieces=PIECES, usage_body=usage(250.0, 3.0)))
    stream = _stream(server, model="command-r")
    checks.close_after(stream, 5)  # up to the last content-delta
    attributes = checks.ended_stream(telemetry, "closed_early", StatusCode.UNSET).attributes
    checks.assert_estimated(attributes, HEURISTIC_INPUT, h("Hello team!"), COMMAND_R)


def test_stream_failing_mid_way_is_estimated(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.stream(stream_events(pieces=PIECES, usage_body=usage(250.0, 3.0)), fail_after=4)
    with pytest.raises(httpx.ReadError):
        list(_stream(server))
    span = checks.ended_stream(telemetry, "failed", StatusCode.ERROR)
    checks.assert_estimated(span.attributes, HEURISTIC_INPUT, h("Hello"), COMMAND_A)


def test_rejected_stream_is_not_estimated(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.error("/v2/chat", 500, "internal error")
    with pytest.raises(cohere.InternalServerError):
        list(_stream(server))
    checks.assert_not_estimated(telemetry.span().attributes)


def test_completed_stream_keeps_the_provider_counts(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.stream(stream_events(pieces=PIECES, usage_body=usage(250.0, 3.0, tokens_in=316.0)))
    list(_stream(server))
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.usage.input_tokens"] == 250
    assert attributes["gen_ai.usage.output_tokens"] == 3
    checks.assert_provider_usage(attributes)
    assert attributes["tokenomics.cost.total"] == exact((250 * 2.5 + 3 * 10) / M)


def test_tool_call_stream_counts_plan_name_and_arguments(instrument, telemetry) -> None:
    instrument()
    server = Server()
    events = tool_stream_events()
    del events[-1]["delta"]["usage"]
    server.stream(events)
    list(_stream(server, tools=TOOLS))
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.response.finish_reasons"] == ("tool_calls",)
    # Output: the plan, the function's name and its arguments, joined.
    output = "I will check the weather." + "get_weather" + '{"city": "Paris"}'
    # Input: the messages, and the tool definitions as compact JSON, at 0.7 of their heuristic count.
    definitions = json.dumps(
        [{"name": "get_weather", **{k: v for k, v in TOOLS[0]["function"].items() if k != "name"}}],
        separators=(",", ":"),
    )
    tool_tokens = round(0.7 * h(definitions))
    # 0.7 x 54 = 37.8 -> 38; 21 + 38 = 59.
    assert (h(definitions), tool_tokens, HEURISTIC_INPUT + tool_tokens, h(output)) == (54, 38, 59, 16)
    checks.assert_estimated(attributes, HEURISTIC_INPUT + tool_tokens, h(output), COMMAND_A)
    assert attributes["tokenomics.cost.total"] == exact((59 * 2.5 + 16 * 10) / M)


def test_thinking_deltas_are_output(instrument, telemetry) -> None:
    instrument()
    server = Server()
    events = _events_without_usage()
    thinking = {
        "type": "content-delta",
        "index": 0,
        "delta": {"message": {"content": {"thinking": "User wants hi."}}},
    }
    events.insert(2, thinking)
    server.stream(events)
    list(_stream(server))
    checks.assert_estimated(
        telemetry.span().attributes, HEURISTIC_INPUT, h("User wants hi." + "Hello team!"), COMMAND_A
    )


def test_async_stream_break_early_is_estimated(instrument, telemetry) -> None:
    instrument()
    server = Server()

    async def main() -> None:
        server.stream(_events_without_usage())
        stream = server.async_client().chat_stream(model="command-a-03-2025", messages=MESSAGES)
        async for event in stream:
            if event.type == "content-delta":
                break
        await stream.aclose()

    asyncio.run(main())
    attributes = checks.ended_stream(telemetry, "closed_early", StatusCode.UNSET).attributes
    checks.assert_estimated(attributes, HEURISTIC_INPUT, h("Hel"), COMMAND_A)


def test_raw_stream_left_unread_is_estimated(instrument, telemetry) -> None:
    """The events were handed over (HTTP 200): the request was taken, its input is billed."""
    instrument()
    server = Server()
    server.stream(_events_without_usage())
    with server.client().with_raw_response.chat_stream(model="command-r", messages=MESSAGES) as response:
        assert response.headers["content-type"] == "text/event-stream"
    attributes = telemetry.span().attributes
    assert attributes["tokenomics.stream.chunk_count"] == 0
    checks.assert_estimated(attributes, HEURISTIC_INPUT, 0, COMMAND_R)


def test_estimation_can_be_turned_off(instrument, telemetry) -> None:
    instrument(estimate_usage=False)
    server = Server()
    server.stream(_events_without_usage())
    list(_stream(server))
    attributes = telemetry.span().attributes
    assert attributes["tokenomics.usage.source"] == "unavailable"
    assert "tokenomics.usage.tokenizer" not in attributes


# -- non-streamed answers ---------------------------------------------------------------------


def test_chat_without_usage_counts_the_answer(instrument, telemetry) -> None:
    instrument()
    server = Server()
    body = chat_response("Hello team, all is good here!")
    del body["usage"]
    server.chat(body)
    server.client().chat(model="command-a-03-2025", messages=MESSAGES)
    checks.assert_estimated(
        telemetry.span().attributes, HEURISTIC_INPUT, h("Hello team, all is good here!"), COMMAND_A
    )


def test_chat_answer_with_tool_calls_counts_them(instrument, telemetry) -> None:
    instrument()
    server = Server()
    body = chat_response(
        tool_calls=[
            {
                "id": "t1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
            }
        ]
    )
    del body["usage"]
    server.chat(body)
    server.client().chat(model="command-a-03-2025", messages=MESSAGES)
    output = "I will look up the weather." + "get_weather" + '{"city": "Paris"}'
    checks.assert_estimated(telemetry.span().attributes, HEURISTIC_INPUT, h(output), COMMAND_A)


def test_documents_are_input(instrument, telemetry) -> None:
    instrument()
    server = Server()
    body = chat_response("Hello team, all is good here!")
    del body["usage"]
    server.chat(body)
    documents = [
        "The team meets each Monday.",
        {"id": "d2", "data": {"title": "Plan", "text": "Ship it today."}},
    ]
    server.client().chat(model="command-a-03-2025", messages=MESSAGES, documents=documents)
    sent = server.bodies()[0]["documents"]
    assert sent[1]["data"] == {"title": "Plan", "text": "Ship it today."}
    # One more message, of the documents: the text, and the data as compact JSON.
    documents_tokens = 4 + h("The team meets each Monday.") + h('{"title":"Plan","text":"Ship it today."}')
    output = h("Hello team, all is good here!")
    attributes = telemetry.span().attributes
    checks.assert_estimated(attributes, HEURISTIC_INPUT + documents_tokens, output, COMMAND_A)


# -- embeddings ---------------------------------------------------------------------------------


def test_embed_without_meta_is_estimated(instrument, telemetry) -> None:
    instrument()
    server = Server()
    body = embed_response()
    del body["meta"]
    server.embed(body)
    server.client().embed(
        model="embed-english-v3.0",
        texts=["hello", "goodbye"],
        input_type="search_document",
        embedding_types=["float"],
    )
    attributes = telemetry.span().attributes
    # Each input on its own, without framing.
    assert h("hello") + h("goodbye") == 2
    checks.assert_estimated_usage(attributes, 2, None)
    assert "gen_ai.usage.output_tokens" not in attributes
    assert attributes["tokenomics.cost.total"] == exact(2 * 0.1 / M)


# -- the reader, on its own ---------------------------------------------------------------------


def test_chat_prompt_reads_every_kind_of_message() -> None:
    data_url = "data:image/png;base64," + base64.b64encode(png(3, 2)).decode()
    body = {
        "model": "command-a-03-2025",
        "messages": [
            {"role": "system", "content": "Be brief."},  # a plain dict, among the SDK's models
            cohere.UserChatMessageV2(
                content=[
                    cohere.TextContent(text="What is this?"),
                    cohere.ImageUrlContent(image_url=cohere.ImageUrl(url=data_url, detail="low")),
                    {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
                ]
            ),
            cohere.AssistantChatMessageV2(
                tool_plan="Look it up.",
                tool_calls=[
                    cohere.ToolCallV2(
                        id="t1",
                        type="function",
                        function=cohere.ToolCallV2Function(name="lookup", arguments='{"q": "cat"}'),
                    )
                ],
            ),
            {
                "role": "tool",
                "tool_call_id": "t1",
                "content": [{"type": "document", "document": {"data": {"a": 1}}}],
            },
            {
                "role": "assistant",
                "content": [{"type": "thinking", "thinking": "Hmm."}, {"type": "text", "text": "A cat."}],
            },
        ],
        "tools": TOOLS,
        "documents": ...,  # the SDK's "not given"
    }
    prompt = cohere_prompt.chat_prompt(body)
    assert [m.role for m in prompt.messages] == ["system", "user", "assistant", "tool", "assistant"]
    assert [m.texts for m in prompt.messages] == [
        ["Be brief."],
        ["What is this?"],
        ["Look it up."],
        ['{"a":1}'],
        ["Hmm.", "A cat."],
    ]
    calls = prompt.messages[2].tool_calls
    assert [(c.name, c.arguments) for c in calls] == [("lookup", '{"q": "cat"}')]
    first, second = prompt.messages[1].images
    assert first.detail == "low"
    if hasattr(images, "image_size"):  # the header reader (estimation.images)
        assert (first.width, first.height) == (3, 2)
    assert (second.width, second.height, second.detail) == (None, None, None)
    assert [t.name for t in prompt.tools] == ["get_weather"]
    assert prompt.tools[0].parameters == TOOLS[0]["function"]["parameters"]


def test_readers_never_raise_on_odd_input() -> None:
    for body in (
        {},
        {"messages": ...},
        {"messages": [None, 3, "x", {"content": 5}]},
        {"documents": [None, 7]},
    ):
        prompt = cohere_prompt.chat_prompt(body)
        assert all(not m.texts for m in prompt.messages)
    assert len(cohere_prompt.chat_prompt({"messages": [None, 3, "x", {"content": 5}]}).messages) == 1
    assert cohere_prompt.embed_prompt(
        {"texts": ..., "inputs": [{"content": [{"type": "text", "text": "a"}]}]}
    ).messages[0].texts == ["a"]
    assert cohere_prompt.chat_output_text(None) == []
    assert cohere_prompt.chat_output_text({"message": {"content": "Hi."}}) == ["Hi."]
