"""Bedrock InvokeModel and InvokeModelWithResponseStream: each vendor's body, on loopback."""

from __future__ import annotations

import io
import json

import pytest
from bedrock_fakes import (
    CLAUDE_USAGE,
    SONNET_45_GLOBAL,
    BedrockServer,
    anthropic_message,
    anthropic_stream_events,
    chunk_frames,
    exception_frame,
    shared_server,
    token_headers,
)
from botocore.eventstream import EventStream
from botocore.exceptions import EventStreamError
from botocore.response import StreamingBody
from opentelemetry.trace import StatusCode

ANTHROPIC_BODY = {
    "anthropic_version": "bedrock-2023-05-31",
    "max_tokens": 256,
    "temperature": 0.5,
    "stop_sequences": ["END"],
    "messages": [{"role": "user", "content": "Say hello."}],
}
ANTHROPIC_USAGE = CLAUDE_USAGE
# Claude Sonnet 4.5, global profile, per million: $3 in, $0.30 read, $3.75 / $6 writes, $15 out.
SONNET_GLOBAL_TOTAL = 100 * 3e-6 + 2000 * 0.3e-6 + 400 * 3.75e-6 + 600 * 6e-6 + 50 * 15e-6


@pytest.fixture
def server() -> BedrockServer:
    return shared_server()


def _exact(value: float):
    return pytest.approx(value, rel=1e-12, abs=0)


def _invoke(server: BedrockServer, model_id: str, body: dict, reply: dict, headers=None) -> dict:
    server.reply_json(reply, headers=headers)
    return server.client().invoke_model(modelId=model_id, body=json.dumps(body))


def test_anthropic_body_usage_wins_and_the_body_reads_the_same(instrument, telemetry, server) -> None:
    instrument()
    reply = anthropic_message(ANTHROPIC_USAGE)
    response = _invoke(server, SONNET_45_GLOBAL, ANTHROPIC_BODY, reply, token_headers(100, 50, 2000, 1000))
    body = response["body"]
    assert isinstance(body, StreamingBody)
    assert body.read(10) + body.read() == json.dumps(reply).encode()
    span = telemetry.span()
    attributes = span.attributes
    assert span.name == f"chat {SONNET_45_GLOBAL}"
    assert attributes["gen_ai.request.max_tokens"] == 256
    assert attributes["gen_ai.request.temperature"] == 0.5
    assert attributes["gen_ai.request.stop_sequences"] == ("END",)
    assert attributes["gen_ai.response.id"] == "msg_bdrk_01"
    # Anthropic's model name is recorded, but the price follows the requested global. id.
    assert attributes["gen_ai.response.model"] == reply["model"]
    assert attributes["gen_ai.response.finish_reasons"] == ("end_turn",)
    assert attributes["gen_ai.usage.input_tokens"] == 3100
    assert attributes["gen_ai.usage.output_tokens"] == 50
    assert attributes["gen_ai.usage.cache_read.input_tokens"] == 2000
    assert attributes["gen_ai.usage.cache_write.input_tokens"] == 1000
    # Only the body has the TTL split: it is what was read.
    assert attributes["tokenomics.usage.cache_write.ttl_1h.input_tokens"] == 600
    assert attributes["tokenomics.pricing.model"] == "global.anthropic.claude-sonnet-4-5-20250929-v1:0"
    assert attributes["tokenomics.cost.total"] == _exact(SONNET_GLOBAL_TOTAL)


def test_headers_fill_in_when_the_body_has_no_usage(instrument, telemetry, server) -> None:
    instrument()
    reply = anthropic_message(ANTHROPIC_USAGE)
    del reply["usage"]
    _invoke(server, SONNET_45_GLOBAL, ANTHROPIC_BODY, reply, token_headers(100, 50, 2000, 1000))
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.usage.input_tokens"] == 3100
    assert attributes["gen_ai.usage.cache_read.input_tokens"] == 2000
    assert "tokenomics.usage.cache_write.ttl_1h.input_tokens" not in attributes
    # Without a split, every write is priced as a 5-minute write.
    total = 100 * 3e-6 + 2000 * 0.3e-6 + 1000 * 3.75e-6 + 50 * 15e-6
    assert attributes["tokenomics.cost.total"] == _exact(total)


@pytest.mark.parametrize(
    ("model_id", "request_body", "reply", "headers", "expected"),
    [
        pytest.param(
            "us.amazon.nova-lite-v1:0",
            {"schemaVersion": "messages-v1", "messages": [], "inferenceConfig": {"max_new_tokens": 64}},
            {
                "output": {"message": {"role": "assistant", "content": [{"text": "Hi"}]}},
                "stopReason": "end_turn",
                "usage": {
                    "inputTokens": 500,
                    "outputTokens": 100,
                    "totalTokens": 1600,
                    "cacheReadInputTokenCount": 1000,
                    "cacheWriteInputTokenCount": 0,
                },
            },
            None,
            # Nova Lite: $0.06 in, $0.015 cached, $0.24 out.
            (1500, 100, 1000, "end_turn", 500 * 0.06e-6 + 1000 * 0.015e-6 + 100 * 0.24e-6, 64),
            id="nova",
        ),
        pytest.param(
            "us.meta.llama3-3-70b-instruct-v1:0",
            {"prompt": "Hi", "max_gen_len": 128, "temperature": 0.1},
            {
                "generation": "Hello",
                "prompt_token_count": 30,
                "generation_token_count": 12,
                "stop_reason": "stop",
            },
            None,
            (30, 12, 0, "stop", 42 * 0.72e-6, 128),
            id="llama",
        ),
        pytest.param(
            "mistral.mistral-large-2402-v1:0",
            {"prompt": "<s>[INST] Hi [/INST]", "max_tokens": 32},
            {"outputs": [{"text": "Hello", "stop_reason": "stop"}]},
            token_headers(25, 7),
            (25, 7, 0, "stop", 25 * 4e-6 + 7 * 12e-6, 32),
            id="mistral-outputs",
        ),
        pytest.param(
            "mistral.pixtral-large-2502-v1:0",
            {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 16},
            {
                "id": "cmpl-1",
                "object": "chat.completion",
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}
                ],
                "usage": {"prompt_tokens": 40, "completion_tokens": 9, "total_tokens": 49},
            },
            token_headers(1, 1),
            (40, 9, 0, "stop", 40 * 2e-6 + 9 * 6e-6, 16),
            id="mistral-chat",
        ),
        pytest.param(
            "cohere.command-r-v1:0",
            {"message": "Hi", "max_tokens": 8, "p": 0.7},
            {"text": "Hello", "generation_id": "g1", "finish_reason": "COMPLETE", "chat_history": []},
            token_headers(20, 5),
            (20, 5, 0, "COMPLETE", 20 * 0.5e-6 + 5 * 1.5e-6, 8),
            id="cohere-command-r",
        ),
    ],
)
def test_vendor_bodies(
    instrument, telemetry, server, model_id, request_body, reply, headers, expected
) -> None:
    input_tokens, output_tokens, read, reason, total, max_tokens = expected
    instrument()
    response = _invoke(server, model_id, request_body, reply, headers)
    assert json.loads(response["body"].read()) == reply
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.request.max_tokens"] == max_tokens
    assert attributes["gen_ai.usage.input_tokens"] == input_tokens
    assert attributes["gen_ai.usage.output_tokens"] == output_tokens
    assert attributes["gen_ai.usage.cache_read.input_tokens"] == read
    assert attributes["gen_ai.response.finish_reasons"] == (reason,)
    assert attributes["tokenomics.cost.total"] == _exact(total)


def test_cohere_embed(instrument, telemetry, server) -> None:
    instrument()
    reply = {"id": "e1", "embeddings": [[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]], "texts": ["a", "b"]}
    body = {"texts": ["a", "b"], "input_type": "search_document", "embedding_types": ["float"]}
    _invoke(server, "cohere.embed-english-v3", body, reply, token_headers(8))
    span = telemetry.span()
    assert span.name == "embeddings cohere.embed-english-v3"
    attributes = span.attributes
    assert attributes["gen_ai.operation.name"] == "embeddings"
    assert attributes["gen_ai.usage.input_tokens"] == 8
    assert "gen_ai.usage.output_tokens" not in attributes
    assert attributes["gen_ai.embeddings.dimension.count"] == 3
    assert attributes["gen_ai.request.encoding_formats"] == ("float",)
    assert attributes["tokenomics.cost.total"] == _exact(8 * 0.1e-6)


def test_titan_embed(instrument, telemetry, server) -> None:
    instrument()
    reply = {"embedding": [0.1, 0.2, 0.3, 0.4], "inputTextTokenCount": 6}
    _invoke(server, "amazon.titan-embed-text-v2:0", {"inputText": "hi", "dimensions": 256}, reply)
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.operation.name"] == "embeddings"
    assert attributes["gen_ai.usage.input_tokens"] == 6
    assert attributes["gen_ai.embeddings.dimension.count"] == 4
    assert attributes["tokenomics.cost.total"] == _exact(6 * 0.02e-6)


def test_malformed_body_breaks_nothing(instrument, telemetry, server) -> None:
    instrument()
    server.reply(b"\x00not json{", headers=token_headers(10, 2))
    response = server.client().invoke_model(modelId=SONNET_45_GLOBAL, body=b"also not json")
    assert response["body"].read() == b"\x00not json{"
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.usage.input_tokens"] == 10
    assert attributes["gen_ai.usage.output_tokens"] == 2


def test_nonsense_usage_breaks_nothing(instrument, telemetry, server) -> None:
    instrument()
    reply = anthropic_message({"input_tokens": "many", "output_tokens": None, "cache_creation": [1]})
    reply["content"] = "not a list"
    response = _invoke(server, SONNET_45_GLOBAL, ANTHROPIC_BODY, reply)
    assert json.loads(response["body"].read()) == reply
    attributes = telemetry.span().attributes
    # A usage without one sound count is no usage: estimated from the request, never "$0 from the provider".
    assert attributes["tokenomics.usage.source"] == "heuristic"
    assert attributes["gen_ai.usage.input_tokens"] == 10
    assert attributes["tokenomics.cost.status"] == "estimated"


def test_a_file_body_is_left_to_botocore(instrument, telemetry, server) -> None:
    instrument()
    server.reply_json(anthropic_message({"input_tokens": 1, "output_tokens": 1}))
    payload = json.dumps(ANTHROPIC_BODY).encode()
    server.client().invoke_model(modelId=SONNET_45_GLOBAL, body=io.BytesIO(payload))
    assert server.requests[-1].body == payload
    assert telemetry.span().attributes["gen_ai.usage.input_tokens"] == 1


def test_anthropic_content_capture(instrument, telemetry, server) -> None:
    instrument(capture_content="SPAN_ONLY")
    body = dict(ANTHROPIC_BODY, system="Be brief.")
    _invoke(server, SONNET_45_GLOBAL, body, anthropic_message({"input_tokens": 1, "output_tokens": 1}))
    attributes = telemetry.span().attributes
    assert json.loads(attributes["gen_ai.input.messages"]) == [
        {"role": "user", "parts": [{"type": "text", "content": "Say hello."}]}
    ]
    assert json.loads(attributes["gen_ai.system_instructions"]) == [{"type": "text", "content": "Be brief."}]
    assert json.loads(attributes["gen_ai.output.messages"]) == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "Hello there."}],
            "finish_reason": "end_turn",
        }
    ]


# -- InvokeModelWithResponseStream ---------------------------------------------------------------

STREAM_METRICS = {
    "inputTokenCount": 100,
    "outputTokenCount": 50,
    "cacheReadInputTokenCount": 2000,
    "cacheWriteInputTokenCount": 1000,
    "invocationLatency": 900,
    "firstByteLatency": 300,
}


def _stream(server: BedrockServer, model_id: str, payloads: list, body: dict) -> EventStream:
    server.reply_stream(chunk_frames(payloads))
    return server.client().invoke_model_with_response_stream(modelId=model_id, body=json.dumps(body))["body"]


def test_anthropic_stream(instrument, telemetry, server) -> None:
    start = dict(ANTHROPIC_USAGE, output_tokens=1)
    payloads = anthropic_stream_events(start, {"output_tokens": 50}, STREAM_METRICS)
    instrument(capture_content="SPAN_ONLY")
    stream = _stream(server, SONNET_45_GLOBAL, payloads, ANTHROPIC_BODY)
    assert isinstance(stream, EventStream)
    received = [json.loads(event["chunk"]["bytes"]) for event in stream]
    assert received == payloads
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.request.stream"] is True
    assert attributes["gen_ai.response.id"] == "msg_bdrk_01"
    assert attributes["gen_ai.usage.input_tokens"] == 3100
    assert attributes["gen_ai.usage.output_tokens"] == 50
    assert attributes["tokenomics.usage.cache_write.ttl_5m.input_tokens"] == 400
    assert attributes["gen_ai.response.finish_reasons"] == ("end_turn",)
    assert attributes["tokenomics.stream.chunk_count"] == 7
    assert attributes["tokenomics.stream.outcome"] == "completed"
    assert attributes["tokenomics.cost.total"] == _exact(SONNET_GLOBAL_TOTAL)
    assert json.loads(attributes["gen_ai.output.messages"]) == [
        {"role": "assistant", "parts": [{"type": "text", "content": "Hello"}], "finish_reason": "end_turn"}
    ]


def test_llama_stream_uses_invocation_metrics(instrument, telemetry, server) -> None:
    metrics = {"inputTokenCount": 30, "outputTokenCount": 2, "invocationLatency": 100, "firstByteLatency": 50}
    payloads = [
        {"generation": "Hel", "prompt_token_count": 30, "generation_token_count": 1, "stop_reason": None},
        {
            "generation": "lo",
            "prompt_token_count": None,
            "generation_token_count": 2,
            "stop_reason": "stop",
            "amazon-bedrock-invocationMetrics": metrics,
        },
    ]
    instrument()
    stream = _stream(server, "us.meta.llama3-3-70b-instruct-v1:0", payloads, {"prompt": "Hi"})
    assert [json.loads(event["chunk"]["bytes"]) for event in stream] == payloads
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.usage.input_tokens"] == 30
    assert attributes["gen_ai.usage.output_tokens"] == 2
    assert attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert attributes["tokenomics.cost.total"] == _exact(32 * 0.72e-6)


def test_stream_failure_mid_way(instrument, telemetry, server) -> None:
    start = dict(ANTHROPIC_USAGE, output_tokens=1)
    payloads = anthropic_stream_events(start, {"output_tokens": 50}, STREAM_METRICS)[:3]
    instrument()
    server.reply_stream([*chunk_frames(payloads), exception_frame("throttlingException", "slow down")])
    stream = server.client().invoke_model_with_response_stream(
        modelId=SONNET_45_GLOBAL, body=json.dumps(ANTHROPIC_BODY)
    )["body"]
    received = []
    with pytest.raises(EventStreamError) as raised:
        for event in stream:
            received.append(event)
    assert len(received) == 3
    assert raised.value.response["Error"] == {"Code": "throttlingException", "Message": "slow down"}
    span = telemetry.span()
    assert span.status.status_code is StatusCode.ERROR
    # The same error.type as a throttle answered over HTTP (429 ThrottlingException).
    assert span.attributes["error.type"] == "ThrottlingException"
    assert span.attributes["tokenomics.stream.outcome"] == "failed"
    # What message_start said: the input, and the placeholder output.
    assert span.attributes["gen_ai.usage.input_tokens"] == 3100
    assert span.attributes["gen_ai.usage.output_tokens"] == 1


def test_stream_left_early(instrument, telemetry, server) -> None:
    payloads = anthropic_stream_events(dict(ANTHROPIC_USAGE, output_tokens=1), {"output_tokens": 50})
    instrument()
    stream = _stream(server, SONNET_45_GLOBAL, payloads, ANTHROPIC_BODY)
    for _event in stream:
        break
    stream.close()
    attributes = telemetry.span().attributes
    assert attributes["tokenomics.stream.outcome"] == "closed_early"
    assert attributes["tokenomics.stream.chunk_count"] == 1
