"""Bedrock calls that end without (all of) their usage, through a real boto3 client on loopback.

ConverseStream reports usage only in its final ``metadata`` event: a stream left,
closed or broken before it is estimated whole, from the request (``converse_prompt``)
and the deltas seen. An InvokeModel stream of Claude keeps ``message_start``'s input
and cache counts and estimates only its output. No model here has a public
tokenizer: every estimate is heuristic, ``heuristic_count`` per text plus the
framing of the model's family in ``counting``: Claude 3 to open the reply, 4 per
message and per tool call, the system prompt's text alone (no framing); Llama the
generic 3 + 4 per message.

Claude Sonnet 4.5 per million: global $3 in / $15 out ($0.30 read, $3.75 / $6
writes); in-region (``us.``) 1.1x. Llama 3.3 70B: $0.72 in and out.
"""

from __future__ import annotations

import json
import struct
import zlib

import pytest
from bedrock_fakes import (
    SONNET_45_GLOBAL,
    SONNET_45_US,
    BedrockServer,
    anthropic_message,
    anthropic_stream_events,
    chunk_frames,
    converse_frames,
    converse_response,
    converse_stream_events,
    exception_frame,
    shared_server,
)
from botocore.exceptions import ClientError, EventStreamError
from opentelemetry.trace import StatusCode

from otel_tokenomics.estimation.tokenizers import heuristic_count
from otel_tokenomics.providers.bedrock import Invocation, invoke_output_text
from otel_tokenomics.providers.bedrock_prompt import (
    converse_output_text,
    converse_prompt,
    embeddings_prompt,
    invoke_prompt,
)

US_IN, US_OUT = 3.3e-6, 16.5e-6
IN, OUT, READ, WRITE_5M, WRITE_1H = 3e-6, 15e-6, 0.3e-6, 3.75e-6, 6e-6
PER_REPLY, PER_MESSAGE = 3, 4
SYSTEM = "Answer in one sentence."
QUESTION = "Why is the sky blue?"
PIECES = ("Sunlight scatters ", "off air molecules, ", "and blue light scatters most.")
ANSWER = "".join(PIECES)
CONVERSE: dict = {
    "modelId": SONNET_45_US,
    "system": [{"text": SYSTEM}, {"cachePoint": {"type": "default"}}],
    "messages": [{"role": "user", "content": [{"text": QUESTION}]}],
}
# Claude's rule: reply opener, the system text (not framed), then the question with its framing.
PROMPT_TOKENS = PER_REPLY + heuristic_count(SYSTEM) + (PER_MESSAGE + heuristic_count(QUESTION))
ANSWER_TOKENS = heuristic_count(ANSWER)
USAGE = {"inputTokens": 100, "outputTokens": 50, "totalTokens": 150}


@pytest.fixture
def server() -> BedrockServer:
    return shared_server()


def _exact(value: float):
    return pytest.approx(value, rel=1e-12, abs=0)


def test_the_rule_in_numbers() -> None:
    """Literal counts: a change of the heuristic or of the framing shows here first."""
    assert (heuristic_count(SYSTEM), heuristic_count(QUESTION)) == (5, 6)
    assert PROMPT_TOKENS == 18  # 3 + 5 + (4 + 6)
    assert ANSWER_TOKENS == 14


def _assert_estimated(attributes, input_tokens: int, output_tokens: int, rates=(US_IN, US_OUT)) -> None:
    assert attributes["tokenomics.usage.source"] == "heuristic"
    assert attributes["tokenomics.usage.tokenizer"] == "heuristic"
    assert attributes["tokenomics.cost.status"] == "estimated"
    assert attributes["gen_ai.usage.input_tokens"] == input_tokens
    assert attributes["gen_ai.usage.output_tokens"] == output_tokens
    assert attributes["tokenomics.cost.total"] == _exact(input_tokens * rates[0] + output_tokens * rates[1])


def _converse_stream(server: BedrockServer, events: list) -> object:
    server.reply_stream(converse_frames(events))
    return server.client().converse_stream(**CONVERSE)["stream"]


# -- ConverseStream -------------------------------------------------------------------------------


def test_converse_stream_without_metadata_is_estimated(instrument, telemetry, server) -> None:
    instrument()
    events = converse_stream_events(USAGE, PIECES)[:-1]  # no metadata event at all
    assert len(list(_converse_stream(server, events))) == len(events)
    attributes = telemetry.span().attributes
    assert attributes["tokenomics.stream.outcome"] == "completed"
    _assert_estimated(attributes, PROMPT_TOKENS, ANSWER_TOKENS)
    assert (attributes["gen_ai.usage.input_tokens"], attributes["gen_ai.usage.output_tokens"]) == (18, 14)


def test_converse_stream_left_early(instrument, telemetry, server) -> None:
    instrument()
    for event in _converse_stream(server, converse_stream_events(USAGE, PIECES)):
        if "contentBlockDelta" in event:
            break
    attributes = telemetry.span().attributes
    assert attributes["tokenomics.stream.outcome"] == "closed_early"
    _assert_estimated(attributes, PROMPT_TOKENS, heuristic_count(PIECES[0]))


def test_converse_stream_closed(instrument, telemetry, server) -> None:
    instrument()
    stream = _converse_stream(server, converse_stream_events(USAGE, PIECES))
    seen = 0
    for event in stream:
        seen += "contentBlockDelta" in event
        if seen == 2:
            break
    stream.close()
    _assert_estimated(telemetry.span().attributes, PROMPT_TOKENS, heuristic_count("".join(PIECES[:2])))


def test_converse_stream_error_mid_way(instrument, telemetry, server) -> None:
    instrument()
    frames = converse_frames(converse_stream_events(USAGE, PIECES)[:3])  # start and two deltas
    server.reply_stream([*frames, exception_frame("modelStreamErrorException", "broken")])
    stream = server.client().converse_stream(**CONVERSE)["stream"]
    with pytest.raises(EventStreamError):
        for _ in stream:
            pass
    span = telemetry.span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["tokenomics.stream.outcome"] == "failed"
    _assert_estimated(span.attributes, PROMPT_TOKENS, heuristic_count("".join(PIECES[:2])))


def test_converse_stream_completed_keeps_provider_counts(instrument, telemetry, server) -> None:
    instrument()
    list(_converse_stream(server, converse_stream_events(USAGE, PIECES)))
    attributes = telemetry.span().attributes
    assert attributes["tokenomics.usage.source"] == "provider"
    assert "tokenomics.usage.tokenizer" not in attributes
    assert attributes["tokenomics.cost.status"] == "priced"
    assert (attributes["gen_ai.usage.input_tokens"], attributes["gen_ai.usage.output_tokens"]) == (100, 50)


def test_converse_stream_tool_call_and_reasoning_are_output(instrument, telemetry, server) -> None:
    instrument()
    reasoning = "The user asks about weather."
    events = [
        {"messageStart": {"role": "assistant"}},
        {"contentBlockDelta": {"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": reasoning}}}},
        {"contentBlockDelta": {"contentBlockIndex": 0, "delta": {"reasoningContent": {"signature": "c2ln"}}}},
        {"contentBlockStop": {"contentBlockIndex": 0}},
        {
            "contentBlockStart": {
                "contentBlockIndex": 1,
                "start": {"toolUse": {"toolUseId": "t1", "name": "weather"}},
            }
        },
        {"contentBlockDelta": {"contentBlockIndex": 1, "delta": {"toolUse": {"input": '{"city": '}}}},
        {"contentBlockDelta": {"contentBlockIndex": 1, "delta": {"toolUse": {"input": '"Oslo"}'}}}},
        {"contentBlockStop": {"contentBlockIndex": 1}},
        {"messageStop": {"stopReason": "tool_use"}},
    ]
    list(_converse_stream(server, events))
    expected_output = heuristic_count(reasoning + "weather" + '{"city": "Oslo"}')
    _assert_estimated(telemetry.span().attributes, PROMPT_TOKENS, expected_output)


def test_converse_without_usage(instrument, telemetry, server) -> None:
    instrument()
    reply = converse_response(USAGE, text=ANSWER)
    del reply["usage"]
    server.reply_json(reply)
    server.client().converse(**CONVERSE)
    _assert_estimated(telemetry.span().attributes, PROMPT_TOKENS, ANSWER_TOKENS)


def test_throttled_converse_is_not_estimated(instrument, telemetry, server) -> None:
    instrument()
    server.reply_error(429, "ThrottlingException")
    with pytest.raises(ClientError):
        server.client().converse(**CONVERSE)
    assert telemetry.span().attributes["tokenomics.usage.source"] == "unavailable"


# -- InvokeModel -----------------------------------------------------------------------------------

CLAUDE_BODY = {
    "anthropic_version": "bedrock-2023-05-31",
    "max_tokens": 256,
    "system": SYSTEM,
    "messages": [{"role": "user", "content": QUESTION}],
}
START_USAGE = {
    "input_tokens": 100,
    "cache_read_input_tokens": 2000,
    "cache_creation_input_tokens": 1000,
    "cache_creation": {"ephemeral_5m_input_tokens": 400, "ephemeral_1h_input_tokens": 600},
    "output_tokens": 1,
}
START_INPUT_COST = 100 * IN + 2000 * READ + 400 * WRITE_5M + 600 * WRITE_1H


def _invoke_stream(server: BedrockServer, payloads: list, model_id: str = SONNET_45_GLOBAL, body=None):
    server.reply_stream(chunk_frames(payloads))
    return server.client().invoke_model_with_response_stream(
        modelId=model_id, body=json.dumps(body if body is not None else CLAUDE_BODY)
    )["body"]


def _assert_start_kept(attributes, output_tokens: int) -> None:
    assert attributes["tokenomics.usage.source"] == "heuristic"
    assert attributes["tokenomics.usage.tokenizer"] == "heuristic"
    assert attributes["tokenomics.cost.status"] == "estimated"
    assert attributes["gen_ai.usage.input_tokens"] == 3100
    assert attributes["gen_ai.usage.cache_read.input_tokens"] == 2000
    assert attributes["gen_ai.usage.cache_write.input_tokens"] == 1000
    assert attributes["tokenomics.usage.cache_write.ttl_1h.input_tokens"] == 600
    assert attributes["gen_ai.usage.output_tokens"] == output_tokens
    assert attributes["tokenomics.cost.total"] == _exact(START_INPUT_COST + output_tokens * OUT)


def test_claude_invoke_stream_left_early(instrument, telemetry, server) -> None:
    instrument()
    payloads = anthropic_stream_events(START_USAGE, {"output_tokens": 50}, pieces=PIECES)
    seen = 0
    stream = _invoke_stream(server, payloads)
    for event in stream:
        seen += json.loads(event["chunk"]["bytes"])["type"] == "content_block_delta"
        if seen == 2:
            break
    stream.close()
    attributes = telemetry.span().attributes
    assert attributes["tokenomics.stream.outcome"] == "closed_early"
    _assert_start_kept(attributes, heuristic_count("".join(PIECES[:2])))


def test_claude_invoke_stream_error_mid_way(instrument, telemetry, server) -> None:
    instrument()
    payloads = anthropic_stream_events(START_USAGE, {"output_tokens": 50}, pieces=PIECES)[:4]
    server.reply_stream([*chunk_frames(payloads), exception_frame("throttlingException", "slow down")])
    stream = server.client().invoke_model_with_response_stream(
        modelId=SONNET_45_GLOBAL, body=json.dumps(CLAUDE_BODY)
    )["body"]
    with pytest.raises(EventStreamError):
        for _ in stream:
            pass
    attributes = telemetry.span().attributes
    assert attributes["tokenomics.stream.outcome"] == "failed"
    _assert_start_kept(attributes, heuristic_count("".join(PIECES[:2])))


def test_claude_invoke_stream_metrics_give_the_final_output(instrument, telemetry, server) -> None:
    """message_delta without usage: Bedrock's invocation metrics on the last chunk say the output."""
    instrument()
    metrics = {"inputTokenCount": 100, "outputTokenCount": 50, "invocationLatency": 9, "firstByteLatency": 3}
    payloads = anthropic_stream_events(START_USAGE, {}, metrics, pieces=PIECES)
    del payloads[-2]["usage"]
    list(_invoke_stream(server, payloads))
    attributes = telemetry.span().attributes
    assert attributes["tokenomics.usage.source"] == "provider"
    assert "tokenomics.usage.tokenizer" not in attributes
    assert (attributes["gen_ai.usage.input_tokens"], attributes["gen_ai.usage.output_tokens"]) == (3100, 50)
    assert attributes["tokenomics.cost.total"] == _exact(START_INPUT_COST + 50 * OUT)


def test_claude_invoke_stream_without_any_usage(instrument, telemetry, server) -> None:
    instrument()
    payloads = anthropic_stream_events({}, {}, pieces=PIECES)
    del payloads[0]["message"]["usage"], payloads[-2]["usage"]
    list(_invoke_stream(server, payloads, SONNET_45_US))
    _assert_estimated(telemetry.span().attributes, PROMPT_TOKENS, ANSWER_TOKENS)


def test_claude_invoke_stream_completed(instrument, telemetry, server) -> None:
    instrument()
    payloads = anthropic_stream_events(START_USAGE, {"output_tokens": 50}, pieces=PIECES)
    list(_invoke_stream(server, payloads))
    attributes = telemetry.span().attributes
    assert attributes["tokenomics.usage.source"] == "provider"
    assert attributes["tokenomics.cost.status"] == "priced"
    assert attributes["gen_ai.usage.output_tokens"] == 50


def test_claude_invoke_without_usage_or_headers(instrument, telemetry, server) -> None:
    instrument()
    reply = anthropic_message({}, text=ANSWER)
    del reply["usage"]
    server.reply_json(reply)
    response = server.client().invoke_model(modelId=SONNET_45_US, body=json.dumps(CLAUDE_BODY))
    assert json.loads(response["body"].read()) == reply
    _assert_estimated(telemetry.span().attributes, PROMPT_TOKENS, ANSWER_TOKENS)


def test_llama_stream_without_metrics(instrument, telemetry, server) -> None:
    """A Llama stream cut before its last chunk (which carries the metrics): all estimated."""
    instrument()
    prompt = "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
    payloads = [{"generation": "Hello", "stop_reason": None}, {"generation": " there!", "stop_reason": None}]
    list(_invoke_stream(server, payloads, "us.meta.llama3-3-70b-instruct-v1:0", {"prompt": prompt}))
    expected_input = PER_REPLY + PER_MESSAGE + heuristic_count(prompt)
    _assert_estimated(
        telemetry.span().attributes, expected_input, heuristic_count("Hello there!"), rates=(0.72e-6, 0.72e-6)
    )


def test_cohere_embed_without_headers(instrument, telemetry, server) -> None:
    instrument()
    server.reply_json({"id": "e1", "embeddings": [[0.1, 0.2]], "texts": ["a b", "c"]})
    server.client().invoke_model(modelId="cohere.embed-english-v3", body=json.dumps({"texts": ["a b", "c"]}))
    attributes = telemetry.span().attributes
    assert attributes["tokenomics.usage.source"] == "heuristic"
    # Embedding inputs are counted as they are, each on its own, without framing.
    assert attributes["gen_ai.usage.input_tokens"] == heuristic_count("a b") + heuristic_count("c") == 3
    assert attributes["tokenomics.cost.total"] == _exact(3 * 0.1e-6)


# -- the readers ----------------------------------------------------------------------------------


def _png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))


def test_converse_reader() -> None:
    body = {
        "system": [
            {"text": "Be brief."},
            {"cachePoint": {"type": "default"}},
            {"guardContent": {"text": {"text": "G"}}},
        ],
        "messages": [
            {
                "role": "user",
                "content": [
                    {"text": "Look:"},
                    {"image": {"format": "png", "source": {"bytes": _png(640, 480)}}},
                    {"document": {"format": "txt", "name": "notes", "source": {"bytes": b"plain text"}}},
                    {"document": {"format": "pdf", "name": "report", "source": {"bytes": b"%PDF-1.7"}}},
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {"reasoningContent": {"reasoningText": {"text": "Old thought.", "signature": "s"}}},
                    {"toolUse": {"toolUseId": "t", "name": "find", "input": {"q": 1}}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"toolResult": {"toolUseId": "t", "content": [{"json": {"n": 2}}, {"text": "ok"}]}}
                ],
            },
        ],
        "toolConfig": {
            "tools": [
                {
                    "toolSpec": {
                        "name": "find",
                        "description": "Find.",
                        "inputSchema": {"json": {"type": "object"}},
                    }
                },
                {"cachePoint": {"type": "default"}},
            ]
        },
    }
    prompt = converse_prompt(body)
    system, user, assistant, result = prompt.messages
    assert system.texts == ["Be brief.", "G"]
    assert user.texts == ["Look:", "notes", "plain text", "report"]
    assert [(image.width, image.height) for image in user.images] == [(640, 480)]
    # The assistant turn is inside the current turn (the last user message holds only tool results).
    assert assistant.texts == ["Old thought."]
    assert [(call.name, call.arguments) for call in assistant.tool_calls] == [("find", '{"q": 1}')]
    assert result.texts == ['{"n": 2}', "ok"]
    assert [(tool.name, tool.description, tool.parameters) for tool in prompt.tools] == [
        ("find", "Find.", {"type": "object"})
    ]


def test_invoke_reader_by_body_shape() -> None:
    nova = {
        "schemaVersion": "messages-v1",
        "system": [{"text": "S"}],
        "messages": [{"role": "user", "content": [{"text": "N"}]}],
    }
    assert [m.texts for m in invoke_prompt(nova).messages] == [["S"], ["N"]]
    chat = {
        "messages": [
            {"role": "user", "content": "Q"},
            {"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": "{}"}}]},
        ],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
    }
    prompt = invoke_prompt(chat)
    assert prompt.messages[1].tool_calls[0].name == "f"
    assert [(tool.name, tool.parameters) for tool in prompt.tools] == [("f", {"type": "object"})]
    cohere = {"preamble": "P", "chat_history": [{"role": "CHATBOT", "message": "H"}], "message": "M"}
    assert [(m.role, m.texts) for m in invoke_prompt(cohere).messages] == [
        ("system", ["P"]),
        ("assistant", ["H"]),
        ("user", ["M"]),
    ]
    assert [m.texts for m in invoke_prompt({"inputText": "T"}).messages] == [["T"]]
    assert invoke_prompt({}).messages == []
    assert embeddings_prompt({"inputText": "a", "texts": ["b", 3]}).messages[0].texts == ["a", "b"]


def test_output_text_readers() -> None:
    converse = converse_response(USAGE, text="Hi")
    converse["output"]["message"]["content"].append({"toolUse": {"toolUseId": "t", "name": "f", "input": {}}})
    assert converse_output_text(converse) == ["Hi", "f{}"]
    claude = Invocation(json.dumps(anthropic_message({}, text="Hello")).encode(), {})
    assert invoke_output_text(claude) == ["Hello"]
    llama = Invocation(json.dumps({"generation": "Yo", "stop_reason": "stop"}).encode(), {})
    assert invoke_output_text(llama) == ["Yo"]
    chat = Invocation(json.dumps({"choices": [{"message": {"content": "C"}}]}).encode(), {})
    assert invoke_output_text(chat) == ["C"]
    assert invoke_output_text(Invocation(b"not json", {})) == []
