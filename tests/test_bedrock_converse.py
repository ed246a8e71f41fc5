"""Bedrock Converse and ConverseStream through a real boto3 client on loopback."""

from __future__ import annotations

import gc
import json

import pytest
from bedrock_fakes import (
    SONNET_45,
    SONNET_45_GLOBAL,
    SONNET_45_US,
    BedrockServer,
    converse_frames,
    converse_response,
    converse_stream_events,
    exception_frame,
    shared_server,
)
from botocore.eventstream import EventStream
from botocore.exceptions import EventStreamError
from opentelemetry.trace import StatusCode

MESSAGES = [{"role": "user", "content": [{"text": "Say hello."}]}]
# 100 uncached + 2000 read + 1000 written (400 for 5 minutes, 600 for an hour), 50 out.
CACHED_USAGE = {
    "inputTokens": 100,
    "outputTokens": 50,
    "totalTokens": 3150,
    "cacheReadInputTokens": 2000,
    "cacheWriteInputTokens": 1000,
    "cacheDetails": [{"ttl": "1h", "inputTokens": 600}, {"ttl": "5m", "inputTokens": 400}],
}


def _cached_usage_costs(
    input_rate: float, read: float, write_5m: float, write_1h: float, output: float
) -> dict:
    """CACHED_USAGE's cost attributes at these prices per million tokens."""
    costs = {
        "tokenomics.cost.input": 100 * input_rate * 1e-6,
        "tokenomics.cost.cache_read": 2000 * read * 1e-6,
        "tokenomics.cost.cache_write": (400 * write_5m + 600 * write_1h) * 1e-6,
        "tokenomics.cost.output": 50 * output * 1e-6,
    }
    costs["tokenomics.cost.total"] = sum(costs.values())
    return costs


# Per million, Claude Sonnet 4.5 on Bedrock: global $3 in, $0.30 read, $3.75 5m write,
# $6 1h write, $15 out; in-region and geo profiles 1.1x that.
GLOBAL_COSTS = _cached_usage_costs(3, 0.3, 3.75, 6, 15)
REGIONAL_COSTS = _cached_usage_costs(3.3, 0.33, 4.125, 6.6, 16.5)


@pytest.fixture
def server() -> BedrockServer:
    return shared_server()


def _costs(attributes) -> dict:
    return {key: attributes[key] for key in GLOBAL_COSTS}


def _exact(costs: dict) -> dict:
    return {key: pytest.approx(value, rel=1e-12, abs=0) for key, value in costs.items()}


def test_converse_with_cache_reads_and_ttl_writes(instrument, telemetry, server) -> None:
    instrument()
    server.reply_json(converse_response(CACHED_USAGE))
    response = server.client().converse(
        modelId=SONNET_45_US,
        messages=MESSAGES,
        inferenceConfig={"maxTokens": 512, "temperature": 0.2, "topP": 0.9, "stopSequences": ["END"]},
        additionalModelRequestFields={"reasoning_effort": "low"},
    )
    assert response["usage"] == CACHED_USAGE  # the user's answer is untouched
    span = telemetry.span()
    attributes = span.attributes
    assert span.name == f"chat {SONNET_45_US}"
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.provider.name"] == "aws.bedrock"
    assert attributes["gen_ai.request.model"] == SONNET_45_US
    assert attributes["server.address"] == "127.0.0.1"
    assert attributes["server.port"] == server.port
    assert attributes["gen_ai.request.max_tokens"] == 512
    assert attributes["gen_ai.request.temperature"] == 0.2
    assert attributes["gen_ai.request.top_p"] == 0.9
    assert attributes["gen_ai.request.stop_sequences"] == ("END",)
    assert attributes["gen_ai.request.reasoning.level"] == "low"
    assert attributes["gen_ai.response.finish_reasons"] == ("end_turn",)
    assert attributes["gen_ai.usage.input_tokens"] == 3100
    assert attributes["gen_ai.usage.output_tokens"] == 50
    assert attributes["gen_ai.usage.cache_read.input_tokens"] == 2000
    assert attributes["gen_ai.usage.cache_write.input_tokens"] == 1000
    assert attributes["tokenomics.usage.cache_write.ttl_5m.input_tokens"] == 400
    assert attributes["tokenomics.usage.cache_write.ttl_1h.input_tokens"] == 600
    assert attributes["tokenomics.usage.source"] == "provider"
    assert attributes["tokenomics.cost.status"] == "priced"
    assert attributes["tokenomics.pricing.model"] == "regional.anthropic.claude-sonnet-4-5-20250929-v1:0"
    assert _costs(attributes) == _exact(REGIONAL_COSTS)
    assert "gen_ai.input.messages" not in attributes and "gen_ai.output.messages" not in attributes
    assert "gen_ai.request.stream" not in attributes


@pytest.mark.parametrize(
    ("model_id", "entry", "costs"),
    [
        (SONNET_45_GLOBAL, "global.anthropic.claude-sonnet-4-5-20250929-v1:0", GLOBAL_COSTS),
        (SONNET_45_US, "regional.anthropic.claude-sonnet-4-5-20250929-v1:0", REGIONAL_COSTS),
        ("eu." + SONNET_45, "regional.anthropic.claude-sonnet-4-5-20250929-v1:0", REGIONAL_COSTS),
        ("apac." + SONNET_45, "regional.anthropic.claude-sonnet-4-5-20250929-v1:0", REGIONAL_COSTS),
        (SONNET_45, "regional.anthropic.claude-sonnet-4-5-20250929-v1:0", REGIONAL_COSTS),
        (
            "arn:aws:bedrock:us-east-1::foundation-model/" + SONNET_45,
            "regional.anthropic.claude-sonnet-4-5-20250929-v1:0",
            REGIONAL_COSTS,
        ),
        (
            "arn:aws:bedrock:us-east-1:123456789012:inference-profile/" + SONNET_45_US,
            "regional.anthropic.claude-sonnet-4-5-20250929-v1:0",
            REGIONAL_COSTS,
        ),
        (
            "arn:aws:bedrock:us-east-1:123456789012:inference-profile/" + SONNET_45_GLOBAL,
            "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
            GLOBAL_COSTS,
        ),
    ],
)
def test_model_id_shapes_are_priced(instrument, telemetry, server, model_id, entry, costs) -> None:
    instrument()
    server.reply_json(converse_response(CACHED_USAGE))
    server.client().converse(modelId=model_id, messages=MESSAGES)
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.request.model"] == model_id
    assert attributes["tokenomics.pricing.model"] == entry
    assert _costs(attributes) == _exact(costs)
    # botocore puts the id in the URL path, quoted.
    assert server.requests[-1].path.endswith("/converse")


def test_regional_is_one_point_one_times_global(instrument, telemetry, server) -> None:
    instrument()
    client = server.client()
    for model_id in (SONNET_45_GLOBAL, SONNET_45_US):
        server.reply_json(converse_response(CACHED_USAGE))
        client.converse(modelId=model_id, messages=MESSAGES)
    global_span, regional_span = telemetry.spans()
    assert regional_span.attributes["tokenomics.cost.total"] == pytest.approx(
        1.1 * global_span.attributes["tokenomics.cost.total"], rel=1e-12, abs=0
    )


def test_inclusive_input_count_is_not_added_twice(instrument, telemetry, server) -> None:
    # totalTokens == inputTokens + outputTokens with cache counts set: the cache is in inputTokens.
    usage = {
        "inputTokens": 5000,
        "outputTokens": 20,
        "totalTokens": 5020,
        "cacheReadInputTokens": 4000,
        "cacheWriteInputTokens": 0,
    }
    instrument()
    server.reply_json(converse_response(usage))
    server.client().converse(modelId="openai.gpt-oss-120b-1:0", messages=MESSAGES)
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.usage.input_tokens"] == 5000
    assert attributes["gen_ai.usage.cache_read.input_tokens"] == 4000
    # gpt-oss-120b: $0.15 in (no cache price: reads at the input rate), $0.60 out.
    assert attributes["tokenomics.cost.total"] == pytest.approx(
        5000 * 0.15e-6 + 20 * 0.6e-6, rel=1e-12, abs=0
    )


def test_writes_without_ttl_details_are_five_minute_writes(instrument, telemetry, server) -> None:
    usage = {"inputTokens": 10, "outputTokens": 5, "totalTokens": 1015, "cacheWriteInputTokens": 1000}
    instrument()
    server.reply_json(converse_response(usage))
    server.client().converse(modelId=SONNET_45_GLOBAL, messages=MESSAGES)
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.usage.input_tokens"] == 1010
    assert attributes["gen_ai.usage.cache_write.input_tokens"] == 1000
    assert "tokenomics.usage.cache_write.ttl_1h.input_tokens" not in attributes
    assert attributes["tokenomics.cost.cache_write"] == pytest.approx(1000 * 3.75e-6, rel=1e-12, abs=0)


def test_nova_converse(instrument, telemetry, server) -> None:
    usage = {"inputTokens": 1000, "outputTokens": 200, "totalTokens": 1200}
    instrument()
    server.reply_json(converse_response(usage, stop="max_tokens"))
    server.client().converse(modelId="us.amazon.nova-pro-v1:0", messages=MESSAGES)
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.response.finish_reasons"] == ("max_tokens",)
    assert attributes["tokenomics.pricing.model"] == "amazon.nova-pro-v1:0"
    # Nova Pro: $0.80 in, $3.20 out per million.
    assert attributes["tokenomics.cost.total"] == pytest.approx(
        1000 * 0.8e-6 + 200 * 3.2e-6, rel=1e-12, abs=0
    )


def test_content_is_captured_only_when_asked(instrument, telemetry, server) -> None:
    instrument(capture_content="SPAN_ONLY")
    response = converse_response({"inputTokens": 3, "outputTokens": 4, "totalTokens": 7}, stop="tool_use")
    response["output"]["message"]["content"].append(
        {"toolUse": {"toolUseId": "t1", "name": "weather", "input": {"city": "Paris"}}}
    )
    server.reply_json(response)
    server.client().converse(
        modelId=SONNET_45_US,
        messages=MESSAGES,
        system=[{"text": "Be brief."}, {"cachePoint": {"type": "default"}}],
        toolConfig={
            "tools": [
                {
                    "toolSpec": {
                        "name": "weather",
                        "description": "Weather by city",
                        "inputSchema": {"json": {"type": "object"}},
                    }
                }
            ]
        },
    )
    attributes = telemetry.span().attributes
    assert json.loads(attributes["gen_ai.input.messages"]) == [
        {"role": "user", "parts": [{"type": "text", "content": "Say hello."}]}
    ]
    assert json.loads(attributes["gen_ai.system_instructions"]) == [{"type": "text", "content": "Be brief."}]
    assert json.loads(attributes["gen_ai.tool.definitions"]) == [
        {
            "type": "function",
            "name": "weather",
            "description": "Weather by city",
            "parameters": {"type": "object"},
        }
    ]
    assert json.loads(attributes["gen_ai.output.messages"]) == [
        {
            "role": "assistant",
            "parts": [
                {"type": "text", "content": "Hello there."},
                {"type": "tool_call", "id": "t1", "name": "weather", "arguments": '{"city": "Paris"}'},
            ],
            "finish_reason": "tool_use",
        }
    ]


# -- ConverseStream ---------------------------------------------------------------------------


def _unwrapped_events(server: BedrockServer, usage: dict) -> list:
    server.reply_stream(converse_frames(converse_stream_events(usage)))
    return list(server.client().converse_stream(modelId=SONNET_45_US, messages=MESSAGES)["stream"])


def test_converse_stream(instrument, telemetry, server) -> None:
    expected = _unwrapped_events(server, CACHED_USAGE)
    instrument()
    server.reply_stream(converse_frames(converse_stream_events(CACHED_USAGE)))
    response = server.client().converse_stream(modelId=SONNET_45_US, messages=MESSAGES)
    stream = response["stream"]
    assert isinstance(stream, EventStream)
    assert telemetry.spans() == []  # open until the stream ends
    assert list(stream) == expected
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.request.stream"] is True
    assert attributes["gen_ai.usage.input_tokens"] == 3100
    assert attributes["gen_ai.usage.output_tokens"] == 50
    assert attributes["tokenomics.usage.cache_write.ttl_1h.input_tokens"] == 600
    assert attributes["gen_ai.response.finish_reasons"] == ("end_turn",)
    assert attributes["tokenomics.stream.outcome"] == "completed"
    assert attributes["tokenomics.stream.chunk_count"] == 7
    assert _costs(attributes) == _exact(REGIONAL_COSTS)
    assert attributes["gen_ai.response.time_to_first_chunk"] > 0
    points = telemetry.metrics()
    assert {p.attributes["gen_ai.token.type"]: p.sum for p in points["gen_ai.client.token.usage"]} == {
        "input": 3100,
        "output": 50,
    }


def test_converse_stream_content(instrument, telemetry, server) -> None:
    instrument(capture_content="SPAN_ONLY")
    server.reply_stream(converse_frames(converse_stream_events(CACHED_USAGE)))
    for _event in server.client().converse_stream(modelId=SONNET_45_US, messages=MESSAGES)["stream"]:
        pass
    assert json.loads(telemetry.span().attributes["gen_ai.output.messages"]) == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "Hello there."}],
            "finish_reason": "end_turn",
        }
    ]


def test_converse_stream_left_early(instrument, telemetry, server) -> None:
    instrument()
    server.reply_stream(converse_frames(converse_stream_events(CACHED_USAGE)))
    stream = server.client().converse_stream(modelId=SONNET_45_US, messages=MESSAGES)["stream"]
    for event in stream:
        if "contentBlockDelta" in event:
            break
    attributes = telemetry.span().attributes
    assert attributes["tokenomics.stream.outcome"] == "closed_early"
    # Usage comes only in the final metadata event: estimated (tests/test_estimation_bedrock.py).
    assert attributes["tokenomics.usage.source"] == "heuristic"
    stream.close()
    assert len(telemetry.spans()) == 1


def test_converse_stream_closed(instrument, telemetry, server) -> None:
    instrument()
    server.reply_stream(converse_frames(converse_stream_events(CACHED_USAGE)))
    stream = server.client().converse_stream(modelId=SONNET_45_US, messages=MESSAGES)["stream"]
    stream.close()
    assert telemetry.span().attributes["tokenomics.stream.outcome"] == "closed_early"


def test_converse_stream_dropped_is_abandoned(instrument, telemetry, server) -> None:
    instrument()
    server.reply_stream(converse_frames(converse_stream_events(CACHED_USAGE)))
    response = server.client().converse_stream(modelId=SONNET_45_US, messages=MESSAGES)
    del response
    gc.collect()
    assert telemetry.span().attributes["tokenomics.stream.outcome"] == "abandoned"


def test_converse_stream_exception_event(instrument, telemetry, server) -> None:
    events = converse_stream_events(CACHED_USAGE)[:3]
    instrument()
    server.reply_stream([*converse_frames(events), exception_frame("modelStreamErrorException")])
    stream = server.client().converse_stream(modelId=SONNET_45_US, messages=MESSAGES)["stream"]
    seen = []
    with pytest.raises(EventStreamError) as raised:
        for event in stream:
            seen.append(event)
    assert len(seen) == 3
    assert raised.value.response["Error"]["Code"] == "modelStreamErrorException"
    span = telemetry.span()
    assert span.status.status_code is StatusCode.ERROR
    # The AWS error code, as for the same error sent as an HTTP answer.
    assert span.attributes["error.type"] == "ModelStreamErrorException"
    assert span.attributes["tokenomics.stream.outcome"] == "failed"
    (duration,) = telemetry.metrics()["gen_ai.client.operation.duration"]
    assert duration.attributes["error.type"] == "ModelStreamErrorException"
