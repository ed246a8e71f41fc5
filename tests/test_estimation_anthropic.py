"""anthropic calls that end without (all of) their usage: estimated from the request and the text seen.

Claude has no public tokenizer, so every estimate is the heuristic one
(``tokenomics.usage.source=heuristic``, ``tokenomics.usage.tokenizer=heuristic``):
each text's ``heuristic_count``, plus Claude's framing in ``counting``: 3 tokens
to open the reply and 4 per message, except the system prompt, which adds its text
alone (and 346 for the tool-use system prompt when a request has tools, none here).
A stream broken after ``message_start`` keeps the provider's input and cache counts;
only its output is estimated.

claude-sonnet-4-5 per million tokens (catalog): input $3, output $15, cache read
$0.30, cache write 5m $3.75, 1h $6; Bedrock in-region (``us.``) 1.1x that.
"""

from __future__ import annotations

import asyncio
import base64
import struct
import zlib
from typing import Any

import anthropic
import pytest
from anthropic_fakes import (
    DELTA_USAGE,
    ERROR_EVENT,
    HTTP,
    MODEL,
    START_USAGE,
    Server,
    bedrock_stream,
    events,
    exact,
    message,
    sse,
)
from opentelemetry.trace import StatusCode

from otel_tokenomics.estimation.tokenizers import heuristic_count
from otel_tokenomics.providers.anthropic_prompt import message_output_text, messages_prompt

pytestmark = pytest.mark.filterwarnings("ignore:.*deprecated:DeprecationWarning")

IN, OUT, READ, WRITE_5M, WRITE_1H = 3e-6, 15e-6, 0.3e-6, 3.75e-6, 6e-6
PER_REPLY, PER_MESSAGE = 3, 4
SYSTEM = "You are a terse assistant."
QUESTION = "Name three primary colours, comma separated."
PIECES = ("Red, ", "yellow and ", "blue are the three primary colours of paint.")
ANSWER = "".join(PIECES)
KWARGS: dict[str, Any] = {
    "model": MODEL,
    "max_tokens": 1024,
    "system": SYSTEM,
    "messages": [{"role": "user", "content": QUESTION}],
}
# The documented rule, spelled out: reply opener, the system text (not framed), then each
# other message's framing and text.
PROMPT_TOKENS = PER_REPLY + heuristic_count(SYSTEM) + (PER_MESSAGE + heuristic_count(QUESTION))
ANSWER_TOKENS = heuristic_count(ANSWER)
# message_start's usage (anthropic_fakes.START_USAGE): final input and cache counts.
START_INPUT_COST = 1200 * IN + 40000 * READ + 1000 * WRITE_5M + 2000 * WRITE_1H


def test_the_rule_in_numbers() -> None:
    """Literal counts: a change of the heuristic or of the framing shows here first."""
    assert (heuristic_count(SYSTEM), heuristic_count(QUESTION)) == (7, 9)
    assert PROMPT_TOKENS == 23  # 3 + 7 + (4 + 9)
    assert ANSWER_TOKENS == 13


def _without_usage(stream_events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What a proxy that strips usage sends: no usage in message_start nor message_delta."""
    for event in stream_events:
        event.get("message", {}).pop("usage", None)
        if event["type"] == "message_delta":
            event.pop("usage", None)
    return stream_events


def _stream_server(payload: bytes) -> Server:
    server = Server()
    server.stream("/v1/messages", payload)
    return server


def _assert_estimated(attributes: Any) -> None:
    assert attributes["tokenomics.usage.source"] == "heuristic"
    assert attributes["tokenomics.usage.tokenizer"] == "heuristic"
    assert attributes["tokenomics.cost.status"] == "estimated"


def _assert_start_input_kept(attributes: Any, output_tokens: int) -> None:
    """message_start's input and cache counts, an estimated output, priced as such."""
    _assert_estimated(attributes)
    assert attributes["gen_ai.usage.input_tokens"] == 44200
    assert attributes["gen_ai.usage.cache_read.input_tokens"] == 40000
    assert attributes["gen_ai.usage.cache_write.input_tokens"] == 3000
    assert attributes["tokenomics.usage.cache_write.ttl_5m.input_tokens"] == 1000
    assert attributes["tokenomics.usage.cache_write.ttl_1h.input_tokens"] == 2000
    assert attributes["gen_ai.usage.output_tokens"] == output_tokens
    assert attributes["tokenomics.cost.output"] == exact(output_tokens * OUT)
    assert attributes["tokenomics.cost.total"] == exact(START_INPUT_COST + output_tokens * OUT)


# -- streams ------------------------------------------------------------------------------------


def test_stream_without_any_usage_is_estimated_whole(instrument, telemetry) -> None:
    instrument()
    payload = sse(_without_usage(events(PIECES)))
    stream = _stream_server(payload).client().messages.create(stream=True, **KWARGS)
    assert [event.type for event in stream][-1] == "message_stop"
    attributes = telemetry.span().attributes
    _assert_estimated(attributes)
    assert attributes["tokenomics.stream.outcome"] == "completed"
    assert attributes["gen_ai.usage.input_tokens"] == PROMPT_TOKENS == 23
    assert attributes["gen_ai.usage.output_tokens"] == ANSWER_TOKENS == 13
    assert attributes["gen_ai.usage.cache_read.input_tokens"] == 0
    assert attributes["tokenomics.cost.input"] == exact(23 * IN)
    assert attributes["tokenomics.cost.total"] == exact(23 * IN + 13 * OUT)


def test_stream_left_early_keeps_start_input_and_estimates_output(instrument, telemetry) -> None:
    instrument()
    stream = _stream_server(sse(events(PIECES))).client().messages.create(stream=True, **KWARGS)
    seen = []
    for event in stream:
        if event.type == "content_block_delta":
            seen.append(event.delta.text)
            if len(seen) == 2:
                break
    attributes = telemetry.span().attributes
    assert attributes["tokenomics.stream.outcome"] == "closed_early"
    _assert_start_input_kept(attributes, heuristic_count("Red, yellow and "))


def test_stream_closed_after_one_delta(instrument, telemetry) -> None:
    instrument()
    stream = _stream_server(sse(events(PIECES))).client().messages.create(stream=True, **KWARGS)
    for event in stream:
        if event.type == "content_block_delta":
            break
    stream.close()
    attributes = telemetry.span().attributes
    assert attributes["tokenomics.stream.outcome"] == "closed_early"
    # "Red, " is 2 tokens by the heuristic: more than message_start's placeholder 1.
    _assert_start_input_kept(attributes, heuristic_count("Red, "))
    assert attributes["gen_ai.usage.output_tokens"] == 2


def test_stream_placeholder_output_wins_over_less_text(instrument, telemetry) -> None:
    """The provider's running count stays when the text seen says less."""
    instrument()
    start_usage = {**START_USAGE, "output_tokens": 5}
    payload = sse(events(PIECES, start_usage=start_usage))
    stream = _stream_server(payload).client().messages.create(stream=True, **KWARGS)
    for event in stream:
        if event.type == "content_block_delta":
            break
    stream.close()
    _assert_start_input_kept(telemetry.span().attributes, 5)


def test_error_event_mid_stream(instrument, telemetry) -> None:
    instrument()
    stream_events = events(PIECES)
    payload = sse([*stream_events[:4], ERROR_EVENT])  # message_start, block start, two deltas
    stream = _stream_server(payload).client().messages.create(stream=True, **KWARGS)
    with pytest.raises(anthropic.APIStatusError):
        for _ in stream:
            pass
    span = telemetry.span()
    assert span.status.status_code == StatusCode.ERROR
    assert span.attributes["tokenomics.stream.outcome"] == "failed"
    _assert_start_input_kept(span.attributes, heuristic_count("Red, yellow and "))


def test_transport_dying_mid_stream_without_usage(instrument, telemetry) -> None:
    """Nothing reported at all, and the connection breaks: input and output both estimated."""
    instrument()
    server = Server()
    server.dying_stream("/v1/messages", sse(_without_usage(events(PIECES))[:3]))
    with pytest.raises(HTTP.ReadError):
        for _ in server.client().messages.create(stream=True, **KWARGS):
            pass
    attributes = telemetry.span().attributes
    _assert_estimated(attributes)
    assert attributes["tokenomics.stream.outcome"] == "failed"
    assert attributes["gen_ai.usage.input_tokens"] == PROMPT_TOKENS
    assert attributes["gen_ai.usage.output_tokens"] == heuristic_count("Red, ")
    assert attributes["tokenomics.cost.total"] == exact(PROMPT_TOKENS * IN + heuristic_count("Red, ") * OUT)


def test_stream_completed_keeps_provider_counts(instrument, telemetry) -> None:
    instrument()
    stream = _stream_server(sse(events(PIECES))).client().messages.create(stream=True, **KWARGS)
    list(stream)
    attributes = telemetry.span().attributes
    assert attributes["tokenomics.usage.source"] == "provider"
    assert "tokenomics.usage.tokenizer" not in attributes
    assert attributes["tokenomics.cost.status"] == "priced"
    assert attributes["gen_ai.usage.input_tokens"] == 44200
    assert attributes["gen_ai.usage.output_tokens"] == 800
    assert attributes["tokenomics.cost.total"] == exact(START_INPUT_COST + 800 * OUT)


def test_delta_with_only_output_tokens_is_final(instrument, telemetry) -> None:
    instrument()
    payload = sse(events(PIECES, delta_usage={"output_tokens": 800}))
    list(_stream_server(payload).client().messages.create(stream=True, **KWARGS))
    attributes = telemetry.span().attributes
    assert attributes["tokenomics.usage.source"] == "provider"
    assert attributes["gen_ai.usage.output_tokens"] == 800


def test_stream_helper_left_early(instrument, telemetry) -> None:
    instrument()
    with _stream_server(sse(events(PIECES))).client().messages.stream(**KWARGS) as stream:
        for text in stream.text_stream:
            assert text == "Red, "
            break
    attributes = telemetry.span().attributes
    assert attributes["tokenomics.stream.outcome"] == "closed_early"
    _assert_start_input_kept(attributes, 2)


def test_async_stream_helper_left_early(instrument, telemetry) -> None:
    instrument()
    server = _stream_server(sse(events(PIECES)))

    async def run() -> None:
        async with server.async_client().messages.stream(**KWARGS) as stream:
            pieces = 0
            async for event in stream:
                pieces += event.type == "content_block_delta"
                if pieces == 2:
                    break

    asyncio.run(run())
    _assert_start_input_kept(telemetry.span().attributes, heuristic_count("Red, yellow and "))


def test_beta_stream_without_usage(instrument, telemetry) -> None:
    instrument()
    payload = sse(_without_usage(events(PIECES)))
    stream = _stream_server(payload).client().beta.messages.create(stream=True, **KWARGS)
    list(stream)
    attributes = telemetry.span().attributes
    _assert_estimated(attributes)
    assert (attributes["gen_ai.usage.input_tokens"], attributes["gen_ai.usage.output_tokens"]) == (23, 13)


def test_tool_call_and_thinking_deltas_count_as_output(instrument, telemetry) -> None:
    """A tool call's name and input JSON, and visible thinking, are output the model wrote."""
    instrument()
    thinking = "The user wants weather; call the tool."
    arguments = '{"location": "Paris, France"}'
    stream_events = [
        *events(())[:1],
        {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}},
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "thinking_delta", "thinking": thinking},
        },
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "signature_delta", "signature": "c2ln"},
        },
        {"type": "content_block_stop", "index": 0},
        {
            "type": "content_block_start",
            "index": 1,
            "content_block": {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}},
        },
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": arguments[:14]},
        },
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": arguments[14:]},
        },
    ]
    stream = _stream_server(sse(stream_events)).client().messages.create(stream=True, **KWARGS)
    list(stream)  # the stream ends without message_delta: the output is estimated
    attributes = telemetry.span().attributes
    _assert_start_input_kept(attributes, heuristic_count(thinking + "get_weather" + arguments))


def test_bedrock_client_stream_left_early(instrument, telemetry) -> None:
    """AnthropicBedrock: the same events; the in-region model id sets the price (1.1x)."""
    instrument()
    model = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
    server = Server()
    server.stream(
        f"/model/{model}/invoke-with-response-stream",
        bedrock_stream(events(PIECES)),
        content_type="application/vnd.amazon.eventstream",
    )
    with server.bedrock_client().messages.stream(**{**KWARGS, "model": model}) as stream:
        for _ in stream.text_stream:
            break
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.provider.name"] == "aws.bedrock"
    _assert_estimated(attributes)
    assert attributes["gen_ai.usage.input_tokens"] == 44200
    assert attributes["gen_ai.usage.output_tokens"] == 2
    assert attributes["tokenomics.cost.total"] == pytest.approx(1.1 * (START_INPUT_COST + 2 * OUT), rel=1e-12)


# -- non-streamed answers ---------------------------------------------------------------------------


def test_response_without_usage(instrument, telemetry) -> None:
    instrument()
    body = message(content=[{"type": "text", "text": ANSWER}])
    del body["usage"]
    server = Server()
    server.json("/v1/messages", body)
    server.client().messages.create(**KWARGS)
    attributes = telemetry.span().attributes
    _assert_estimated(attributes)
    assert (attributes["gen_ai.usage.input_tokens"], attributes["gen_ai.usage.output_tokens"]) == (23, 13)
    assert attributes["tokenomics.cost.total"] == exact(23 * IN + 13 * OUT)


def test_rejected_request_is_not_estimated(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.json("/v1/messages", {"type": "error", "error": {"type": "overloaded_error"}}, status=529)
    with pytest.raises(anthropic.APIStatusError):
        server.client(max_retries=0).messages.create(**KWARGS)
    attributes = telemetry.span().attributes
    assert attributes["tokenomics.usage.source"] == "unavailable"
    assert "gen_ai.usage.input_tokens" not in attributes


def test_estimation_off(instrument, telemetry) -> None:
    instrument(estimate_usage=False)
    payload = sse(_without_usage(events(PIECES)))
    list(_stream_server(payload).client().messages.create(stream=True, **KWARGS))
    attributes = telemetry.span().attributes
    assert attributes["tokenomics.usage.source"] == "unavailable"
    assert "tokenomics.usage.tokenizer" not in attributes


# -- the request reader ------------------------------------------------------------------------------


def _png(width: int, height: int) -> bytes:
    """A real (tiny-content) PNG header of the given size: signature, IHDR, IEND."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def test_reader_system_blocks_images_tools_and_documents() -> None:
    image = base64.b64encode(_png(800, 600)).decode()
    body = {
        "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": image}},
                    {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}},
                    {"type": "text", "text": "What is this?"},
                    {
                        "type": "document",
                        "title": "Notes",
                        "source": {"type": "text", "media_type": "text/plain", "data": "Plain notes."},
                    },
                    {
                        "type": "document",
                        "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBE"},
                    },
                ],
            },
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "t1", "name": "lookup", "input": {"q": "x"}}],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "text", "text": "42"}]}
                ],
            },
        ],
        "tools": [
            {"name": "lookup", "description": "Look up.", "input_schema": {"type": "object"}},
            {"type": "web_search_20250305", "name": "web_search", "max_uses": 2},
        ],
    }
    prompt = messages_prompt(body)
    system, user, assistant, result = prompt.messages
    assert (system.role, system.texts) == ("system", ["Be brief."])
    assert user.texts == ["What is this?", "Notes", "Plain notes."]
    assert [(i.width, i.height) for i in user.images] == [(800, 600), (None, None)]
    assert [(c.name, c.arguments) for c in assistant.tool_calls] == [("lookup", '{"q": "x"}')]
    assert (result.role, result.texts) == ("user", ["42"])
    assert [(t.name, t.description, t.parameters) for t in prompt.tools] == [
        ("lookup", "Look up.", {"type": "object"}),
        ("web_search", None, None),
    ]


def test_reader_counts_thinking_of_the_current_turn_only() -> None:
    """The token counting guide: earlier turns' thinking is not counted, the current turn's is."""
    old = {"type": "thinking", "thinking": "Earlier reasoning.", "signature": "s"}
    current = {"type": "thinking", "thinking": "Current reasoning.", "signature": "s"}
    body = {
        "messages": [
            {"role": "user", "content": "First question?"},
            {"role": "assistant", "content": [old, {"type": "text", "text": "First answer."}]},
            {"role": "user", "content": "Second question?"},
            {
                "role": "assistant",
                "content": [current, {"type": "tool_use", "id": "t", "name": "f", "input": {}}],
            },
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": "done"}]},
            {"role": "assistant", "content": [{"type": "redacted_thinking", "data": "opaque"}]},
        ]
    }
    texts = [message.texts for message in messages_prompt(body).messages]
    assert texts == [
        ["First question?"],
        ["First answer."],
        ["Second question?"],
        ["Current reasoning."],
        ["done"],
        [],
    ]


def test_reader_never_raises_on_odd_bodies() -> None:
    assert messages_prompt({}).messages == []
    odd = messages_prompt({"system": 3, "messages": [None, {"role": None, "content": 5}, "x"], "tools": "t"})
    assert [message.role for message in odd.messages] == ["user", "user", "user"]
    assert odd.tools == []


def test_output_text_of_a_message() -> None:
    reply = message(
        content=[
            {"type": "thinking", "thinking": "Hmm.", "signature": "s"},
            {"type": "text", "text": "Calling."},
            {"type": "tool_use", "id": "t", "name": "f", "input": {"a": 1}},
        ]
    )
    assert message_output_text(reply) == ["Hmm.", "Calling.", 'f{"a": 1}']
    assert message_output_text(anthropic.types.Message.model_validate({**reply, "usage": DELTA_USAGE})) == [
        "Hmm.",
        "Calling.",
        'f{"a": 1}',
    ]
