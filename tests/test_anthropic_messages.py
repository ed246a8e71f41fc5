"""anthropic Messages: one span per call with exact tokens and cost, SDK return types untouched."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import anthropic
import pytest
from anthropic_fakes import (
    HTTP,
    MESSAGES,
    MODEL,
    USAGE,
    Server,
    cost_attributes,
    exact,
    message,
    requires,
)
from opentelemetry.trace import SpanKind, StatusCode

from otel_tokenomics.call import InferenceCall
from otel_tokenomics.providers import anthropic as adapter
from otel_tokenomics.providers import anthropic_messages as readers

pytestmark = pytest.mark.filterwarnings("ignore:.*deprecated:DeprecationWarning")

# claude-sonnet-4-5 per million tokens (catalog): input $3, output $15, cache read $0.30,
# cache write 5m $3.75, 1h $6. USAGE: 1,200 uncached + 40,000 read + 1,000 5m + 2,000 1h in; 800 out.
SONNET_COSTS = {
    "tokenomics.cost.status": "priced",
    "tokenomics.cost.source": "catalog",
    "tokenomics.cost.currency": "USD",
    "tokenomics.cost.input": exact(1200 * 3 / 1e6),
    "tokenomics.cost.cache_read": exact(40000 * 0.3 / 1e6),
    "tokenomics.cost.cache_write": exact(1000 * 3.75 / 1e6 + 2000 * 6 / 1e6),
    "tokenomics.cost.output": exact(800 * 15 / 1e6),
    "tokenomics.cost.total": exact(0.0036 + 0.012 + 0.01575 + 0.012),
    # What the cached tokens would have cost as plain input, less what reads and writes cost.
    "tokenomics.cost.cache_savings": exact(43000 * 3 / 1e6 - 0.012 - 0.01575),
}


def _server(body: Any = None, path: str = "/v1/messages") -> Server:
    server = Server()
    server.json(path, body if body is not None else message())
    return server


def _create(client: Any, **kwargs: Any) -> Any:
    kwargs.setdefault("model", MODEL)
    kwargs.setdefault("max_tokens", 1024)
    kwargs.setdefault("messages", MESSAGES)
    # A client, or a resource such as messages.with_raw_response.
    return getattr(client, "messages", client).create(**kwargs)


def test_sampling_parameters_sent_through_extra_body_are_recorded(instrument, telemetry) -> None:
    """messages.create takes temperature, top_p and top_k only through extra_body."""
    instrument()
    server = _server()
    _create(server.client(), extra_body={"temperature": 0.3, "top_p": 0.8, "top_k": 40})
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.request.temperature"] == 0.3
    assert attributes["gen_ai.request.top_p"] == 0.8
    assert attributes["gen_ai.request.top_k"] == 40.0
    assert server.request_json()["top_k"] == 40


def test_create_records_tokens_and_cost(instrument, telemetry) -> None:
    instrument()
    server = _server()
    result = _create(server.client(), stop_sequences=["END"], service_tier="standard_only")
    assert isinstance(result, anthropic.types.Message)
    assert result.content[0].text == "Hello there."

    span = telemetry.span()
    assert span.name == f"chat {MODEL}"
    assert span.kind == SpanKind.CLIENT
    assert span.instrumentation_scope.name == "otel_tokenomics"
    assert span.status.status_code == StatusCode.UNSET
    attributes = dict(span.attributes)
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.provider.name"] == "anthropic"
    assert attributes["server.address"] == "api.anthropic.com"
    assert attributes["server.port"] == 443
    assert attributes["gen_ai.request.model"] == MODEL
    assert attributes["gen_ai.request.max_tokens"] == 1024
    assert attributes["gen_ai.request.stop_sequences"] == ("END",)
    assert attributes["tokenomics.response.service_tier"] == "standard"
    assert attributes["gen_ai.response.id"] == "msg_01abc"
    assert attributes["gen_ai.response.model"] == MODEL
    assert attributes["gen_ai.response.finish_reasons"] == ("end_turn",)
    # Anthropic's input_tokens excludes the cache: semconv input is the sum.
    assert attributes["gen_ai.usage.input_tokens"] == 1200 + 40000 + 3000
    assert attributes["gen_ai.usage.cache_read.input_tokens"] == 40000
    assert attributes["gen_ai.usage.cache_write.input_tokens"] == 3000
    assert attributes["tokenomics.usage.cache_write.ttl_5m.input_tokens"] == 1000
    assert attributes["tokenomics.usage.cache_write.ttl_1h.input_tokens"] == 2000
    assert attributes["gen_ai.usage.output_tokens"] == 800
    assert attributes["gen_ai.usage.reasoning.output_tokens"] == 0
    assert attributes["tokenomics.usage.source"] == "provider"
    assert cost_attributes(attributes) == SONNET_COSTS
    assert attributes["tokenomics.pricing.model"] == "claude-sonnet-4-5"
    assert "gen_ai.request.stream" not in attributes
    assert not any(key.startswith(("gen_ai.input", "gen_ai.output", "gen_ai.system")) for key in attributes)

    points = telemetry.metrics()
    usage = {p.attributes["gen_ai.token.type"]: p.sum for p in points["gen_ai.client.token.usage"]}
    assert usage == {"input": 44200, "output": 800}
    assert points["gen_ai.client.operation.duration"][0].count == 1


def test_sampling_parameters_are_read() -> None:
    # Dropped from the SDK's signatures (extra_body sends them), still in raw and Bedrock bodies.
    attributes: dict[str, Any] = {}
    readers.read_request(
        {
            "temperature": 0.5,
            "top_p": 0.9,
            "stop_sequences": ["END"],
            "output_config": {"effort": "high", "format": {"type": "json_schema", "schema": {}}},
            "service_tier": "auto",
        },
        attributes,
    )
    assert attributes == {
        "gen_ai.request.temperature": 0.5,
        "gen_ai.request.top_p": 0.9,
        "gen_ai.request.stop_sequences": ["END"],
        "gen_ai.request.reasoning.level": "high",
        "gen_ai.output.type": "json",
    }


def test_async_create(instrument, telemetry) -> None:
    instrument()
    server = _server()

    async def run() -> Any:
        return await _create(server.async_client())

    result = asyncio.run(run())
    assert isinstance(result, anthropic.types.Message)
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.usage.input_tokens"] == 44200
    assert cost_attributes(attributes) == SONNET_COSTS


def test_cache_write_without_ttl_split_is_priced_as_5m(instrument, telemetry) -> None:
    instrument()
    usage = {"input_tokens": 100, "cache_creation_input_tokens": 4000, "output_tokens": 10}
    _create(_server(message(usage=usage)).client())
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.usage.input_tokens"] == 4100
    assert attributes["gen_ai.usage.cache_write.input_tokens"] == 4000
    assert "tokenomics.usage.cache_write.ttl_5m.input_tokens" not in attributes
    assert attributes["tokenomics.cost.cache_write"] == exact(4000 * 3.75 / 1e6)
    assert attributes["tokenomics.cost.total"] == exact(100 * 3 / 1e6 + 4000 * 3.75 / 1e6 + 10 * 15 / 1e6)


def test_thinking_is_part_of_output(instrument, telemetry) -> None:
    instrument()
    usage = {"input_tokens": 500, "output_tokens": 2000, "output_tokens_details": {"thinking_tokens": 1500}}
    content = [
        {"type": "thinking", "thinking": "Let me think.", "signature": "sig"},
        {"type": "text", "text": "42."},
    ]
    _create(
        _server(message(usage=usage, content=content)).client(),
        thinking={"type": "enabled", "budget_tokens": 4096},
    )
    attributes = telemetry.span().attributes
    assert attributes["tokenomics.request.reasoning_budget_tokens"] == 4096
    assert attributes["gen_ai.usage.output_tokens"] == 2000
    assert attributes["gen_ai.usage.reasoning.output_tokens"] == 1500
    assert attributes["tokenomics.cost.output"] == exact(2000 * 15 / 1e6)
    assert attributes["tokenomics.cost.total"] == exact(500 * 3 / 1e6 + 2000 * 15 / 1e6)


def test_web_search_and_fetch_requests_are_counted(instrument, telemetry) -> None:
    instrument()
    usage = {
        "input_tokens": 900,
        "output_tokens": 300,
        "server_tool_use": {"web_search_requests": 3, "web_fetch_requests": 2},
    }
    _create(_server(message(usage=usage, stop_reason="pause_turn")).client())
    attributes = telemetry.span().attributes
    assert attributes["tokenomics.usage.web_search_requests"] == 3
    assert attributes["tokenomics.usage.web_fetch_requests"] == 2
    assert attributes["gen_ai.response.finish_reasons"] == ("pause_turn",)
    assert attributes["tokenomics.cost.total"] == exact(900 * 3 / 1e6 + 300 * 15 / 1e6)


def test_long_context_tier_applies_above_200k_input(instrument, telemetry) -> None:
    # Over 200k input tokens (cache included) every rate switches: $6 in, $0.60 read, $22.50 out.
    instrument()
    usage = {"input_tokens": 150000, "cache_read_input_tokens": 60000, "output_tokens": 1000}
    _create(_server(message(usage=usage)).client())
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.usage.input_tokens"] == 210000
    assert attributes["tokenomics.cost.input"] == exact(150000 * 6 / 1e6)
    assert attributes["tokenomics.cost.cache_read"] == exact(60000 * 0.6 / 1e6)
    assert attributes["tokenomics.cost.output"] == exact(1000 * 22.5 / 1e6)
    assert attributes["tokenomics.cost.total"] == exact(0.9 + 0.036 + 0.0225)


def test_fast_mode_is_priced_as_such(instrument, telemetry) -> None:
    # claude-opus-4-8: $5 / $25 standard, $10 / $50 in fast mode.
    instrument()
    usage = {"input_tokens": 1000, "output_tokens": 100, "speed": "fast", "service_tier": "priority"}
    _create(_server(message(model="claude-opus-4-8", usage=usage)).client(), model="claude-opus-4-8")
    attributes = telemetry.span().attributes
    assert attributes["tokenomics.response.service_tier"] == "priority"
    assert attributes["tokenomics.cost.total"] == exact(1000 * 10 / 1e6 + 100 * 50 / 1e6)


@requires("parse")
def test_parse(instrument, telemetry) -> None:
    instrument()
    server = _server(message(content=[{"type": "text", "text": '{"answer": 42}'}]))
    kwargs: dict[str, Any] = {"model": MODEL, "max_tokens": 100, "messages": MESSAGES}
    try:
        import pydantic

        class Answer(pydantic.BaseModel):
            answer: int

        result = server.client().messages.parse(output_format=Answer, **kwargs)
    except TypeError:
        pytest.skip("this anthropic release's parse() takes no output_format")
    assert isinstance(result, anthropic.types.Message)
    assert result.parsed_output.answer == 42
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.output.type"] == "json"
    assert cost_attributes(attributes) == SONNET_COSTS


def test_beta_create(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.json("/v1/messages", message())
    result = server.client().beta.messages.create(
        model=MODEL, max_tokens=100, messages=MESSAGES, betas=["context-1m-2025-08-07"]
    )
    assert isinstance(result, anthropic.types.beta.BetaMessage)
    assert cost_attributes(telemetry.span().attributes) == SONNET_COSTS


def test_beta_compaction_iterations_are_billed(instrument, telemetry) -> None:
    instrument()
    usage = {
        "input_tokens": 1000,
        "output_tokens": 200,
        "iterations": [
            {"type": "compaction", "input_tokens": 5000, "output_tokens": 400},
            {"type": "message", "input_tokens": 1000, "output_tokens": 200},
        ],
    }
    _server(message(usage=usage)).client().beta.messages.create(
        model=MODEL, max_tokens=100, messages=MESSAGES
    )
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.usage.input_tokens"] == 6000
    assert attributes["gen_ai.usage.output_tokens"] == 600
    assert attributes["tokenomics.cost.total"] == exact(6000 * 3 / 1e6 + 600 * 15 / 1e6)


def test_with_raw_response_is_read_without_parse(instrument, telemetry) -> None:
    instrument()
    raw = _create(_server().client().messages.with_raw_response)
    assert raw.headers["content-type"] == "application/json"
    # Ended already: the user may never parse a raw response.
    assert cost_attributes(telemetry.span().attributes) == SONNET_COSTS
    assert isinstance(raw.parse(), anthropic.types.Message)
    assert len(telemetry.spans()) == 1


def test_async_with_raw_response(instrument, telemetry) -> None:
    instrument()
    server = _server()

    async def run() -> Any:
        raw = await _create(server.async_client().messages.with_raw_response)
        assert cost_attributes(telemetry.span().attributes) == SONNET_COSTS
        return await raw.parse()

    assert isinstance(asyncio.run(run()), anthropic.types.Message)
    assert len(telemetry.spans()) == 1


def test_with_streaming_response_ends_on_parse(instrument, telemetry) -> None:
    instrument()
    with _create(_server().client().messages.with_streaming_response) as response:
        assert telemetry.spans() == []
        assert isinstance(response.parse(), anthropic.types.Message)
    assert cost_attributes(telemetry.span().attributes) == SONNET_COSTS


def test_with_streaming_response_closed_unread_is_not_estimated(instrument, telemetry) -> None:
    instrument()
    with _create(_server().client().messages.with_streaming_response) as response:
        assert response.http_response.status_code == 200
    attributes = telemetry.span().attributes
    # Answered but never read: the output is unknown (not 0), so nothing is estimated.
    assert attributes["tokenomics.usage.source"] == "unavailable"
    assert attributes["tokenomics.cost.status"] == "no_usage"
    assert "tokenomics.usage.tokenizer" not in attributes
    assert not any(key.startswith("gen_ai.usage.") for key in attributes)


def test_async_with_streaming_response(instrument, telemetry) -> None:
    instrument()
    server = _server()

    async def run() -> Any:
        async with _create(server.async_client().messages.with_streaming_response) as response:
            return await response.parse()

    assert isinstance(asyncio.run(run()), anthropic.types.Message)
    assert cost_attributes(telemetry.span().attributes) == SONNET_COSTS


def test_count_tokens_and_batches_have_no_span(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.json("/v1/messages/count_tokens", {"input_tokens": 12})
    server.json(
        "/v1/messages/batches",
        {
            "id": "msgbatch_1",
            "type": "message_batch",
            "processing_status": "in_progress",
            "request_counts": {"processing": 1, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0},
            "created_at": "2026-11-27T00:00:00Z",
            "expires_at": "2026-11-28T00:00:00Z",
            "ended_at": None,
            "cancel_initiated_at": None,
            "archived_at": None,
            "results_url": None,
        },
    )
    client = server.client()
    assert client.messages.count_tokens(model=MODEL, messages=MESSAGES).input_tokens == 12
    request = {"custom_id": "a", "params": {"model": MODEL, "max_tokens": 10, "messages": MESSAGES}}
    client.messages.batches.create(requests=[request])
    assert telemetry.spans() == []


def test_unknown_host_defaults_to_anthropic(instrument, telemetry) -> None:
    instrument()
    _create(_server().client(base_url="https://llm-gateway.internal.example"))
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.provider.name"] == "anthropic"
    assert attributes["server.address"] == "llm-gateway.internal.example"
    assert attributes["tokenomics.cost.status"] == "priced"


# -- Bedrock and Vertex -------------------------------------------------------------------------

US_ID = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
GLOBAL_ID = "global.anthropic.claude-sonnet-4-5-20250929-v1:0"


@pytest.mark.parametrize(("model", "factor"), [(US_ID, 1.1), (GLOBAL_ID, 1.0)])
def test_bedrock_regional_ids_cost_a_tenth_more(instrument, telemetry, model: str, factor: float) -> None:
    instrument()
    server = _server(path=f"/model/{model}/invoke")
    result = _create(server.bedrock_client(), model=model)
    assert isinstance(result, anthropic.types.Message)
    body = server.request_json()
    assert "model" not in body  # the client moved it into the path

    attributes = telemetry.span().attributes
    assert attributes["gen_ai.provider.name"] == "aws.bedrock"
    assert attributes["server.address"] == "bedrock-runtime.us-east-1.amazonaws.com"
    assert attributes["gen_ai.request.model"] == model
    assert attributes["gen_ai.response.model"] == MODEL  # Bedrock answers with the bare name
    assert attributes["gen_ai.usage.input_tokens"] == 44200
    rates = {
        "input": 3 * factor,
        "read": 0.3 * factor,
        "w5m": 3.75 * factor,
        "w1h": 6 * factor,
        "out": 15 * factor,
    }
    expected = (
        1200 * rates["input"]
        + 40000 * rates["read"]
        + 1000 * rates["w5m"]
        + 2000 * rates["w1h"]
        + 800 * rates["out"]
    ) / 1e6
    assert attributes["tokenomics.cost.total"] == pytest.approx(expected, rel=1e-9, abs=0)
    assert attributes["tokenomics.cost.cache_write"] == pytest.approx(
        (1000 * rates["w5m"] + 2000 * rates["w1h"]) / 1e6, rel=1e-9, abs=0
    )


def test_bedrock_exact_regional_cost(instrument, telemetry) -> None:
    # Regional rates from the catalog: $3.30 in, $0.33 read, $4.125 5m write, $16.50 out.
    instrument()
    usage = {
        "input_tokens": 1000,
        "cache_read_input_tokens": 10000,
        "cache_creation_input_tokens": 2000,
        "output_tokens": 100,
    }
    _create(_server(message(usage=usage), path=f"/model/{US_ID}/invoke").bedrock_client(), model=US_ID)
    attributes = telemetry.span().attributes
    assert attributes["tokenomics.cost.input"] == exact(1000 * 3.3 / 1e6)
    assert attributes["tokenomics.cost.cache_read"] == exact(10000 * 0.33 / 1e6)
    assert attributes["tokenomics.cost.cache_write"] == exact(2000 * 4.125 / 1e6)
    assert attributes["tokenomics.cost.output"] == exact(100 * 16.5 / 1e6)
    assert attributes["tokenomics.cost.total"] == exact(0.0033 + 0.0033 + 0.00825 + 0.00165)
    assert attributes["tokenomics.pricing.model"] == "regional.anthropic.claude-sonnet-4-5-20250929-v1:0"


def test_bedrock_provider_follows_the_client_not_the_host(instrument, telemetry) -> None:
    instrument()
    server = _server(path=f"/model/{GLOBAL_ID}/invoke")
    _create(server.bedrock_client(base_url="https://bedrock-proxy.example"), model=GLOBAL_ID)
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.provider.name"] == "aws.bedrock"
    assert attributes["tokenomics.pricing.model"] == GLOBAL_ID


def test_async_bedrock(instrument, telemetry) -> None:
    instrument()
    server = _server(path=f"/model/{GLOBAL_ID}/invoke")

    async def run() -> Any:
        return await _create(server.async_bedrock_client(), model=GLOBAL_ID)

    assert isinstance(asyncio.run(run()), anthropic.types.Message)
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.provider.name"] == "aws.bedrock"
    assert cost_attributes(attributes) == SONNET_COSTS


def test_vertex(instrument, telemetry) -> None:
    instrument()
    model = "claude-sonnet-4-5@20250929"
    path = f"/v1/projects/proj/locations/us-east5/publishers/anthropic/models/{model}:rawPredict"
    server = _server(path=path)
    result = _create(server.vertex_client(), model=model)
    assert isinstance(result, anthropic.types.Message)
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.provider.name"] == "gcp.vertex_ai"
    assert attributes["gen_ai.request.model"] == model
    assert attributes["server.address"] == "us-east5-aiplatform.googleapis.com"
    assert cost_attributes(attributes) == SONNET_COSTS


# -- content capture ------------------------------------------------------------------------------


def test_content_capture_is_opt_in(instrument, telemetry) -> None:
    instrument(capture_content="SPAN_ONLY")
    content = [
        {"type": "thinking", "thinking": "Weather tool.", "signature": "s"},
        {"type": "text", "text": "Checking."},
        {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
    ]
    messages = [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": [{"type": "text", "text": "One moment."}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_0", "content": "rainy"}]},
    ]
    tools = [{"name": "get_weather", "description": "Weather", "input_schema": {"type": "object"}}]
    _create(
        _server(message(content=content, stop_reason="tool_use")).client(),
        system="Be brief.",
        messages=messages,
        tools=tools,
    )
    attributes = telemetry.span().attributes
    assert json.loads(attributes["gen_ai.system_instructions"]) == [{"type": "text", "content": "Be brief."}]
    inputs = json.loads(attributes["gen_ai.input.messages"])
    assert inputs[0] == {"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]}
    assert inputs[2]["parts"] == [{"type": "tool_call_response", "id": "toolu_0", "response": "rainy"}]
    assert json.loads(attributes["gen_ai.tool.definitions"]) == [
        {
            "type": "function",
            "name": "get_weather",
            "description": "Weather",
            "parameters": {"type": "object"},
        }
    ]
    assert json.loads(attributes["gen_ai.output.messages"]) == [
        {
            "role": "assistant",
            "parts": [
                {"type": "reasoning", "content": "Weather tool."},
                {"type": "text", "content": "Checking."},
                {"type": "tool_call", "id": "toolu_1", "name": "get_weather", "arguments": {"city": "Paris"}},
            ],
            "finish_reason": "tool_use",
        }
    ]


# -- errors -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error_type", "error"),
    [
        (429, "rate_limit_error", anthropic.RateLimitError),
        (529, "overloaded_error", anthropic.APIStatusError),
        (400, "invalid_request_error", anthropic.BadRequestError),
    ],
)
def test_http_errors_fail_the_span(instrument, telemetry, status: int, error_type: str, error: type) -> None:
    instrument()
    server = Server()
    server.json(
        "/v1/messages", {"type": "error", "error": {"type": error_type, "message": "no"}}, status=status
    )
    with pytest.raises(error) as raised:
        _create(server.client())
    span = telemetry.span()
    assert span.status.status_code == StatusCode.ERROR
    assert span.attributes["error.type"] == type(raised.value).__qualname__
    assert span.status.description == f"{type(raised.value).__qualname__} (HTTP {status})"
    assert span.attributes["tokenomics.usage.source"] == "unavailable"
    duration = telemetry.metrics()["gen_ai.client.operation.duration"]
    assert duration[0].attributes["error.type"] == type(raised.value).__qualname__


def test_retries_make_one_span(instrument, telemetry) -> None:
    instrument()
    server = Server()
    answers = iter(
        [
            HTTP.Response(529, json={"type": "error", "error": {"type": "overloaded_error", "message": "x"}}),
            HTTP.Response(200, json=message()),
        ]
    )
    server.routes["/v1/messages"] = lambda request: next(answers)
    client = server.client(max_retries=1)
    client._sleep_for_retry = lambda **kwargs: None  # type: ignore[method-assign]
    try:
        result = _create(client)
    except anthropic.APIStatusError:
        pytest.skip("this anthropic release cannot skip its retry sleep")
    assert isinstance(result, anthropic.types.Message)
    assert len(server.requests) == 2
    assert cost_attributes(telemetry.span().attributes) == SONNET_COSTS


def test_a_broken_reader_never_reaches_the_user(instrument, telemetry, monkeypatch) -> None:
    instrument()

    def broken(call: InferenceCall, response: Any) -> None:
        raise RuntimeError("bug in our reader")

    monkeypatch.setattr(adapter.ROUTES["/v1/messages"], "read_response", broken)
    result = _create(_server().client())
    assert isinstance(result, anthropic.types.Message)
    assert len(telemetry.spans()) == 1


def test_uninstrument_restores_the_sdk(instrument, telemetry) -> None:
    import anthropic._base_client as base

    original = base.SyncAPIClient.request
    start = base.__dict__.get("start_api_call_span")
    instrument()
    assert base.SyncAPIClient.request is not original
    import otel_tokenomics

    otel_tokenomics.uninstrument()
    assert base.SyncAPIClient.request is original
    assert base.__dict__.get("start_api_call_span") is start
    _create(_server().client())
    assert telemetry.spans() == []


# -- the readers on plain dicts (what Bedrock InvokeModel bodies give) ---------------------------


class _Call:
    provider = "anthropic"
    capture = False
    response_id = response_model = usage = price_context = content = output_text = None
    partial_usage = False

    def __init__(self) -> None:
        self.reasons: dict[int, str] = {}
        self.end_attributes: dict[str, Any] = {}

    def set_finish_reason(self, index: int, reason: str) -> None:
        self.reasons[index] = reason

    def set_attribute(self, key: str, value: Any) -> None:
        self.end_attributes[key] = value


def test_readers_take_dicts() -> None:
    call: Any = _Call()
    readers.read_response(call, message())
    assert (call.response_id, call.response_model, call.reasons) == ("msg_01abc", MODEL, {0: "end_turn"})
    assert call.usage.input_tokens == 44200 and call.usage.cache_write_by_ttl == {"5m": 1000, "1h": 2000}

    from anthropic_fakes import events

    streamed: Any = _Call()
    for event in events():
        readers.read_event(streamed, event)
    assert streamed.usage == call.usage
    assert streamed.reasons == {0: "end_turn"}
    assert USAGE["output_tokens"] == streamed.usage.output_tokens
