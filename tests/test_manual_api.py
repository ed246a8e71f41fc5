"""otel_tokenomics.inference(): a call we do not patch, recorded exactly like a patched one.

Prices used (catalog, USD per million tokens):
gpt-4o-mini: input 0.15, cache read 0.075, output 0.60;
claude-sonnet-4-5: input 3, cache write 5m 3.75, 1h 6, cache read 0.30, output 15;
gemini-2.5-flash: input 0.30, cache read 0.03, output 2.50;
command-r: input 0.15, output 0.60.
"""

from __future__ import annotations

import asyncio
import http.server
import json
import threading
import urllib.request
from typing import Any

import pytest
from opentelemetry.trace import SpanKind, StatusCode

import otel_tokenomics
from otel_tokenomics.manual import inference

M = 1_000_000
EXACT = {"rel": 1e-12, "abs": 0}


def _usage(attributes: Any) -> dict[str, Any]:
    return {k: v for k, v in attributes.items() if k.startswith("gen_ai.usage.")}


def test_openai_shaped_usage_from_a_raw_http_call(instrument, telemetry) -> None:
    instrument()
    reply = {
        "id": "chatcmpl-1",
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "hi"}}],
        "usage": {
            "prompt_tokens": 2000,
            "completion_tokens": 300,
            "total_tokens": 2300,
            "prompt_tokens_details": {"cached_tokens": 1024},
            "completion_tokens_details": {"reasoning_tokens": 0},
        },
    }
    with inference(
        "openai",
        "gpt-4o-mini",
        server_address="llm.internal",
        server_port=8443,
        request={"temperature": 0.2, "max_tokens": 400, "messages": [{"role": "user", "content": "secret"}]},
    ) as call:
        call.record_response(model=reply["model"], response_id=reply["id"], finish_reasons=["stop"])
        call.record_usage(reply["usage"])

    span = telemetry.span()
    attributes = span.attributes
    assert span.name == "chat gpt-4o-mini"
    assert span.kind is SpanKind.CLIENT
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.provider.name"] == "openai"
    assert attributes["gen_ai.request.model"] == "gpt-4o-mini"
    assert attributes["gen_ai.response.model"] == "gpt-4o-mini-2024-07-18"
    assert attributes["gen_ai.response.id"] == "chatcmpl-1"
    assert attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert attributes["server.address"] == "llm.internal"
    assert attributes["server.port"] == 8443
    assert attributes["gen_ai.request.temperature"] == 0.2
    assert attributes["gen_ai.request.max_tokens"] == 400
    # The messages are never recorded unless content capture is on.
    assert "secret" not in json.dumps(dict(attributes))
    assert _usage(attributes) == {
        "gen_ai.usage.input_tokens": 2000,
        "gen_ai.usage.output_tokens": 300,
        "gen_ai.usage.cache_read.input_tokens": 1024,
        "gen_ai.usage.cache_write.input_tokens": 0,
        "gen_ai.usage.reasoning.output_tokens": 0,
    }
    assert attributes["tokenomics.usage.source"] == "provider"
    assert attributes["tokenomics.cost.status"] == "priced"
    input_cost = (2000 - 1024) * 0.15 / M
    read_cost = 1024 * 0.075 / M
    output_cost = 300 * 0.60 / M
    assert attributes["tokenomics.cost.input"] == pytest.approx(input_cost, **EXACT)
    assert attributes["tokenomics.cost.cache_read"] == pytest.approx(read_cost, **EXACT)
    assert attributes["tokenomics.cost.output"] == pytest.approx(output_cost, **EXACT)
    assert attributes["tokenomics.cost.total"] == pytest.approx(0.0004032, **EXACT)


def test_metrics_are_those_of_a_patched_call(instrument, telemetry) -> None:
    instrument()
    with inference("openai", "gpt-4o-mini") as call:
        call.record_usage(input_tokens=1000, output_tokens=100)
    metrics = telemetry.metrics()
    tokens = {p.attributes["gen_ai.token.type"]: p.sum for p in metrics["gen_ai.client.token.usage"]}
    assert tokens == {"input": 1000, "output": 100}
    (duration,) = metrics["gen_ai.client.operation.duration"]
    assert duration.count == 1
    assert duration.attributes["gen_ai.provider.name"] == "openai"
    cost = sum(p.value for p in metrics["tokenomics.cost"])
    assert cost == pytest.approx((1000 * 0.15 + 100 * 0.60) / M, **EXACT)


def test_explicit_counts_use_the_semconv_arithmetic(instrument, telemetry) -> None:
    instrument()
    with inference("anthropic", "claude-sonnet-4-5") as call:
        # input counts the cache reads and writes, output counts the reasoning
        call.record_usage(
            input_tokens=10_000, cache_read_tokens=6_000, cache_write_tokens=2_000, output_tokens=500
        )
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.usage.input_tokens"] == 10_000
    assert attributes["gen_ai.usage.cache_read.input_tokens"] == 6_000
    assert attributes["gen_ai.usage.cache_write.input_tokens"] == 2_000
    # 2000 uncached * 3 + 6000 * 0.30 + 2000 * 3.75 + 500 * 15, per million
    assert attributes["tokenomics.cost.total"] == pytest.approx(0.0228, **EXACT)


def test_anthropic_stream_events_merge_like_the_sdk_adapter(instrument, telemetry) -> None:
    """message_start carries input and a placeholder output; message_delta the final output."""
    instrument()
    with inference("anthropic", "claude-sonnet-4-5", stream=True) as call:
        call.record_usage(
            {
                "input_tokens": 100,
                "cache_read_input_tokens": 4000,
                "cache_creation_input_tokens": 1000,
                "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 1000},
                "output_tokens": 1,
            }
        )
        call.chunk(output=False)
        for _ in range(3):
            call.chunk()
        call.record_usage({"output_tokens": 250, "input_tokens": None})
    attributes = telemetry.span().attributes
    assert _usage(attributes) == {
        "gen_ai.usage.input_tokens": 5100,
        "gen_ai.usage.output_tokens": 250,
        "gen_ai.usage.cache_read.input_tokens": 4000,
        "gen_ai.usage.cache_write.input_tokens": 1000,
        "gen_ai.usage.reasoning.output_tokens": 0,
    }
    assert attributes["tokenomics.usage.cache_write.ttl_1h.input_tokens"] == 1000
    assert attributes["tokenomics.stream.chunk_count"] == 4
    assert attributes["tokenomics.stream.outcome"] == "completed"
    assert attributes["gen_ai.request.stream"] is True
    assert attributes["gen_ai.response.time_to_first_chunk"] >= 0
    # 100 * 3 + 4000 * 0.30 + 1000 * 6 (1h write) + 250 * 15, per million
    assert attributes["tokenomics.cost.total"] == pytest.approx(0.01125, **EXACT)


def test_gemini_rest_usage_in_camel_case(instrument, telemetry) -> None:
    instrument()
    body = {
        "candidates": [],
        "usageMetadata": {
            "promptTokenCount": 1200,
            "cachedContentTokenCount": 1000,
            "candidatesTokenCount": 100,
            "thoughtsTokenCount": 50,
            "totalTokenCount": 1350,
        },
    }
    with inference("gcp.gemini", "gemini-2.5-flash", operation="generate_content") as call:
        call.record_usage(body)  # a whole response body: its usage is found
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.usage.input_tokens"] == 1200
    assert attributes["gen_ai.usage.cache_read.input_tokens"] == 1000
    assert attributes["gen_ai.usage.output_tokens"] == 150
    assert attributes["gen_ai.usage.reasoning.output_tokens"] == 50
    assert attributes["tokenomics.cost.total"] == pytest.approx(
        (200 * 0.30 + 1000 * 0.03 + 150 * 2.50) / M, **EXACT
    )


COHERE_USAGE = {"billed_units": {"input_tokens": 12.0, "output_tokens": 3e1}, "tokens": {"input_tokens": 8e1}}
BEDROCK_USAGE = {"inputTokens": 10, "outputTokens": 5, "cacheReadInputTokens": 90, "totalTokens": 105}
RESPONSES_USAGE = {"input_tokens": 9, "output_tokens": 4, "input_tokens_details": {"cached_tokens": 0}}


@pytest.mark.parametrize(
    ("provider", "raw", "expected"),
    [
        ("cohere", COHERE_USAGE, (12, 30)),
        ("ollama", {"prompt_eval_count": 26, "eval_count": 290, "done": True}, (26, 290)),
        ("aws.bedrock", BEDROCK_USAGE, (100, 5)),
        ("acme-gateway", {"prompt_tokens": 7, "completion_tokens": 3}, (7, 3)),
        ("acme-gateway", {"input_tokens": 7, "cache_read_input_tokens": 3, "output_tokens": 2}, (10, 2)),
        ("acme-gateway", RESPONSES_USAGE, (9, 4)),
    ],
)
def test_usage_format_from_provider_or_keys(instrument, telemetry, provider, raw, expected) -> None:
    instrument()
    with inference(provider, "some-model") as call:
        call.record_usage(raw)
    attributes = telemetry.span().attributes
    assert (attributes["gen_ai.usage.input_tokens"], attributes["gen_ai.usage.output_tokens"]) == expected


def test_unknown_model_is_unpriced_not_zero(instrument, telemetry) -> None:
    instrument()
    with inference("acme-gateway", "house-model-7b") as call:
        call.record_usage(input_tokens=10, output_tokens=2)
    attributes = telemetry.span().attributes
    assert attributes["tokenomics.cost.status"] == "unpriced"
    assert "tokenomics.cost.total" not in attributes


def test_local_provider_costs_zero_on_purpose(instrument, telemetry) -> None:
    instrument()
    with inference("ollama", "llama3.2") as call:
        call.record_usage({"prompt_eval_count": 26, "eval_count": 290})
    attributes = telemetry.span().attributes
    assert attributes["tokenomics.cost.status"] == "priced"
    assert attributes["tokenomics.cost.source"] == "local"
    assert attributes["tokenomics.cost.total"] == 0.0


def test_estimated_counts_are_marked(instrument, telemetry) -> None:
    instrument()
    with inference("openai", "gpt-4o-mini") as call:
        call.record_usage(input_tokens=1000, output_tokens=100, estimated=True)
    attributes = telemetry.span().attributes
    assert attributes["tokenomics.usage.source"] == "estimated"
    assert attributes["tokenomics.cost.status"] == "estimated"
    assert attributes["tokenomics.cost.total"] == pytest.approx(0.00021, **EXACT)


def test_no_usage_recorded(instrument, telemetry) -> None:
    instrument()
    with inference("openai", "gpt-4o-mini"):
        pass
    attributes = telemetry.span().attributes
    assert attributes["tokenomics.usage.source"] == "unavailable"
    assert attributes["tokenomics.cost.status"] == "no_usage"


class GatewayTimeout(Exception):
    status_code = 504


def test_an_exception_in_the_block_fails_the_span_and_propagates(instrument, telemetry) -> None:
    instrument()
    with pytest.raises(GatewayTimeout), inference("openai", "gpt-4o-mini", stream=True) as call:
        call.chunk()
        call.record_usage(input_tokens=50)
        raise GatewayTimeout("upstream timed out")
    span = telemetry.span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "GatewayTimeout (HTTP 504)"
    assert span.attributes["error.type"] == "GatewayTimeout"
    assert span.attributes["tokenomics.stream.outcome"] == "failed"
    assert span.attributes["gen_ai.usage.input_tokens"] == 50


def test_closed_early_stream(instrument, telemetry) -> None:
    instrument()
    with inference("openai", "gpt-4o-mini", stream=True) as call:
        call.chunk()
        call.closed_early()
    assert telemetry.span().attributes["tokenomics.stream.outcome"] == "closed_early"


def test_async_context_manager(instrument, telemetry) -> None:
    instrument()

    async def main() -> None:
        async with inference("openai", "gpt-4o-mini") as call:
            await asyncio.sleep(0)
            call.record_usage({"prompt_tokens": 11, "completion_tokens": 4})

    asyncio.run(main())
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.usage.input_tokens"] == 11
    assert attributes["gen_ai.usage.output_tokens"] == 4


def test_malformed_usage_never_raises(instrument, telemetry) -> None:
    instrument()
    with inference("openai", "gpt-4o-mini") as call:
        call.record_usage("not a mapping")  # type: ignore[arg-type]
        call.record_usage({"prompt_tokens": "many", "completion_tokens": -3})
        call.record_response(model=42, finish_reasons=[None, "stop"])  # type: ignore[arg-type]
    attributes = telemetry.span().attributes
    # A usage without one sound count is no usage, as for the adapters: never "$0 from the provider".
    assert attributes["tokenomics.usage.source"] == "unavailable"
    assert attributes["tokenomics.cost.status"] == "no_usage"
    assert "gen_ai.usage.input_tokens" not in attributes
    assert "gen_ai.response.model" not in attributes


def test_the_span_is_current_inside_the_block(instrument, telemetry) -> None:
    """The user's own HTTP client spans nest under the inference span."""
    instrument()
    tracer = telemetry.tracer_provider.get_tracer("app")
    with tracer.start_as_current_span("request handler"), inference("openai", "gpt-4o-mini") as call:
        with tracer.start_as_current_span("POST /v1/chat/completions"):
            pass
        call.record_usage(input_tokens=1, output_tokens=1)
    spans = {s.name: s for s in telemetry.spans()}
    handler, inner, llm = (
        spans["request handler"],
        spans["POST /v1/chat/completions"],
        spans["chat gpt-4o-mini"],
    )
    assert llm.parent.span_id == handler.context.span_id
    assert inner.parent.span_id == llm.context.span_id


def test_a_patched_sdk_inside_the_block_opens_no_second_span(instrument, telemetry) -> None:
    """Wrapping a call we also patch: the manual span is the one inference span."""
    from openai_fakes import Server, chat_completion

    instrument()
    server = Server()
    server.json("/chat/completions", chat_completion())
    client = server.client()
    with inference("openai", "gpt-4o-mini") as call:
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
        call.record_usage(input_tokens=1, output_tokens=1)
    assert [s.name for s in telemetry.spans()] == ["chat gpt-4o-mini"]


def test_works_without_instrument(telemetry) -> None:
    """No instrument() call: the global providers are used (here: the test's, set as global)."""
    from otel_tokenomics import manual

    manual.configure(telemetry.tracer_provider, telemetry.meter_provider)
    try:
        with otel_tokenomics.inference("openai", "gpt-4o-mini") as call:
            call.record_usage(input_tokens=3, output_tokens=2)
    finally:
        manual.configure()
    assert telemetry.span().attributes["gen_ai.usage.input_tokens"] == 3


MODEL = "gpt-4o-mini-2024-07-18"


class _Gateway(http.server.BaseHTTPRequestHandler):
    """An in-house model gateway on loopback that streams OpenAI-style SSE."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["content-length"]))
        chunks = [
            {
                "id": "gw-1",
                "model": "gpt-4o-mini-2024-07-18",
                "choices": [{"index": 0, "delta": {"content": w}}],
            }
            for w in ("Hel", "lo", "!")
        ]
        chunks.append(
            {
                "id": "gw-1",
                "model": MODEL,
                "choices": [],
                "usage": {"prompt_tokens": 20, "completion_tokens": 3},
            }
        )
        payload = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload.encode())

    def log_message(self, *args: Any) -> None:
        pass


def test_a_raw_http_stream_to_a_gateway_end_to_end(instrument, telemetry) -> None:
    """The documented example: stdlib HTTP to a loopback gateway, usage from the last chunk."""
    instrument()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Gateway)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        body = {"model": "gpt-4o-mini", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
        request = urllib.request.Request(
            f"http://{host}:{port}/v1/chat/completions",
            data=json.dumps(body).encode(),
            headers={"content-type": "application/json"},
        )
        text = []
        with (
            inference("openai", "gpt-4o-mini", stream=True, server_address=host, server_port=port) as call,
            urllib.request.urlopen(request) as response,
        ):
            for line in response:
                if not line.startswith(b"data: ") or line.strip() == b"data: [DONE]":
                    continue
                chunk = json.loads(line[6:])
                call.chunk(output=bool(chunk["choices"]))
                call.record_response(model=chunk["model"], response_id=chunk["id"])
                if chunk.get("usage"):
                    call.record_usage(chunk["usage"])
                text.extend(c["delta"].get("content", "") for c in chunk["choices"])
    finally:
        server.shutdown()
        server.server_close()
    assert "".join(text) == "Hello!"
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.usage.input_tokens"] == 20
    assert attributes["gen_ai.usage.output_tokens"] == 3
    assert attributes["tokenomics.stream.chunk_count"] == 4
    assert attributes["gen_ai.response.id"] == "gw-1"
    assert attributes["tokenomics.cost.total"] == pytest.approx((20 * 0.15 + 3 * 0.60) / M, **EXACT)


def test_the_gateway_example_runs_offline(capsys) -> None:
    import importlib.util
    import pathlib

    path = pathlib.Path(__file__).resolve().parents[1] / "examples" / "manual_gateway.py"
    spec = importlib.util.spec_from_file_location("manual_gateway", path)
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    try:
        assert example.main([]) == 0
    finally:
        otel_tokenomics.uninstrument()
    out = capsys.readouterr().out.splitlines()
    # The fake gateway's counts (examples/fake_openai_server.py), priced as gpt-4o-mini.
    assert out[-2] == "chat gpt-4o-mini: input=10 cached=0 output=29 cost=0.0000189 USD stream=-"
    assert out[-1] == "chat gpt-4o-mini: input=11 cached=0 output=29 cost=0.0000190 USD stream=completed"


def test_stream_without_usage_is_estimated_from_messages_and_chunks(instrument, telemetry) -> None:
    instrument()
    request = {"messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 50}
    with inference("openai", "gpt-4o-mini", stream=True, request=request) as call:
        for text in ("Hel", "lo", " there."):
            call.chunk(text)
    attributes = telemetry.span().attributes
    assert "gen_ai.input.messages" not in attributes
    assert attributes["gen_ai.request.max_tokens"] == 50
    assert attributes["tokenomics.usage.source"] == "estimated"
    assert attributes["tokenomics.usage.tokenizer"] == "o200k_base"
    # "Say hello." framed as one chat message: 10 tokens; "Hello there.": 3.
    assert attributes["gen_ai.usage.input_tokens"] == 10
    assert attributes["gen_ai.usage.output_tokens"] == 3
    assert attributes["tokenomics.cost.status"] == "estimated"
    assert attributes["tokenomics.cost.total"] == pytest.approx(10 * 0.15e-6 + 3 * 0.60e-6, rel=1e-12)


def test_answer_text_without_usage_is_estimated(instrument, telemetry) -> None:
    instrument()
    request = {"messages": [{"role": "user", "content": "Say hello."}]}
    with inference("openai", "gpt-4o-mini", request=request) as call:
        call.record_response(model="gpt-4o-mini-2024-07-18", text="Hello there.")
    attributes = telemetry.span().attributes
    assert (attributes["gen_ai.usage.input_tokens"], attributes["gen_ai.usage.output_tokens"]) == (10, 3)
    assert attributes["tokenomics.usage.source"] == "estimated"


def test_recorded_usage_wins_over_the_estimate(instrument, telemetry) -> None:
    instrument()
    request = {"messages": [{"role": "user", "content": "Say hello."}]}
    with inference("openai", "gpt-4o-mini", stream=True, request=request) as call:
        call.chunk("Hello there.")
        call.record_usage({"prompt_tokens": 11, "completion_tokens": 4})
    attributes = telemetry.span().attributes
    assert (attributes["gen_ai.usage.input_tokens"], attributes["gen_ai.usage.output_tokens"]) == (11, 4)
    assert attributes["tokenomics.usage.source"] == "provider"
    assert "tokenomics.usage.tokenizer" not in attributes
