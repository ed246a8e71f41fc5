"""cohere v2 client: chat and embed, sync and async, raw responses, errors, patching.

Catalog prices (USD per million tokens): command-a-03-2025 input 2.5, output 10;
command-r input 0.15, output 0.6; embed-english-v3.0 input 0.1; embed-v4.0 text
input 0.12, image input 0.47; on Bedrock (provider aws), cohere.command-r-v1:0
input 0.5, output 1.5.

Payloads carry billed counts that differ from the processed ``tokens`` counts, so
every exact count below proves the billed ones are recorded.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import pathlib
import subprocess
import sys

import cohere
import httpx
import pytest
import respx
from cohere.v2.client import V2Client
from cohere.v2.raw_client import AsyncRawV2Client, RawV2Client
from cohere.v2.types import V2ChatResponse
from cohere_fakes import NO_RETRIES, Server, chat_response, embed_response, tool_call, usage
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.trace import SpanKind, StatusCode

M = 1_000_000
EXACT = {"rel": 1e-12, "abs": 0}
ROOT = pathlib.Path(__file__).resolve().parents[1]
MESSAGES = [{"role": "user", "content": "Say hello."}]


def _chat(client: cohere.ClientV2, **params) -> V2ChatResponse:
    return client.chat(model=params.pop("model", "command-a-03-2025"), messages=MESSAGES, **params)


# -- chat ------------------------------------------------------------------------------------


def test_chat_records_billed_tokens_and_cost(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.chat(chat_response(usage_body=usage(1234.0, 567.0, tokens_in=1300.0, tokens_out=570.0)))
    result = _chat(
        server.client(),
        temperature=0.3,
        max_tokens=200,
        p=0.9,
        k=40,
        seed=7,
        stop_sequences=["END"],
        frequency_penalty=0.1,
        presence_penalty=0.2,
    )
    assert isinstance(result, V2ChatResponse)
    assert result.message.content[0].text == "Hello! How can I help you today?"
    assert result.usage.tokens.input_tokens == 1300.0  # the SDK's object is untouched

    span = telemetry.span()
    assert span.name == "chat command-a-03-2025"
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    attributes = span.attributes
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.provider.name"] == "cohere"
    assert attributes["gen_ai.request.model"] == "command-a-03-2025"
    assert attributes["server.address"] == "api.cohere.com"
    assert attributes["server.port"] == 443
    assert attributes["gen_ai.response.id"] == "c14c80c3-18eb-4519-9460-6c92edd8cfb4"
    assert attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert "gen_ai.response.model" not in attributes  # Cohere's answer does not name it
    assert attributes["gen_ai.request.temperature"] == 0.3
    assert attributes["gen_ai.request.max_tokens"] == 200
    assert attributes["gen_ai.request.top_p"] == 0.9
    assert attributes["gen_ai.request.top_k"] == 40.0
    assert attributes["gen_ai.request.seed"] == 7
    assert attributes["gen_ai.request.stop_sequences"] == ("END",)
    assert attributes["gen_ai.request.frequency_penalty"] == 0.1
    assert attributes["gen_ai.request.presence_penalty"] == 0.2
    assert "gen_ai.request.stream" not in attributes
    assert attributes["gen_ai.usage.input_tokens"] == 1234
    assert attributes["gen_ai.usage.output_tokens"] == 567
    assert attributes["gen_ai.usage.cache_read.input_tokens"] == 0
    assert attributes["tokenomics.usage.source"] == "provider"
    assert attributes["tokenomics.cost.status"] == "priced"
    assert attributes["tokenomics.cost.input"] == pytest.approx(1234 * 2.5 / M, **EXACT)
    assert attributes["tokenomics.cost.output"] == pytest.approx(567 * 10 / M, **EXACT)
    assert attributes["tokenomics.cost.total"] == pytest.approx((1234 * 2.5 + 567 * 10) / M, **EXACT)
    assert server.bodies()[0]["p"] == 0.9  # the request went out as the user wrote it


def test_counts_are_ints_from_cohere_floats(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.chat(chat_response(usage_body=usage(41.0, 7.9, tokens_in=105.0, tokens_out=9.0)))
    _chat(server.client(), model="command-r")
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.usage.input_tokens"] == 41
    assert attributes["gen_ai.usage.output_tokens"] == 7
    assert type(attributes["gen_ai.usage.input_tokens"]) is int
    assert type(attributes["gen_ai.usage.output_tokens"]) is int
    assert attributes["tokenomics.cost.total"] == pytest.approx((41 * 0.15 + 7 * 0.6) / M, **EXACT)


def test_cached_tokens_are_cache_reads_within_the_billed_input(instrument, telemetry) -> None:
    """cached_tokens is the cache read; it has no published price of its own, so the
    cost is the same as without it."""
    instrument()
    server = Server()
    server.chat(
        chat_response(usage_body=usage(3000.0, 20.0, tokens_in=3100.0, tokens_out=22.0, cached=2048.0))
    )
    _chat(server.client())
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.usage.input_tokens"] == 3000
    assert attributes["gen_ai.usage.cache_read.input_tokens"] == 2048
    assert attributes["tokenomics.cost.cache_read"] == pytest.approx(2048 * 2.5 / M, **EXACT)
    assert attributes["tokenomics.cost.total"] == pytest.approx((3000 * 2.5 + 20 * 10) / M, **EXACT)


def test_cached_tokens_never_exceed_the_billed_input(instrument, telemetry) -> None:
    """cached_tokens counts processed prompt tokens (template included): it can exceed
    the billed input, and a cache read is a part of the input."""
    instrument()
    server = Server()
    server.chat(
        chat_response(usage_body=usage(300.0, 20.0, tokens_in=2400.0, tokens_out=22.0, cached=2048.0))
    )
    _chat(server.client())
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.usage.input_tokens"] == 300
    assert attributes["gen_ai.usage.cache_read.input_tokens"] == 300
    assert attributes["tokenomics.cost.total"] == pytest.approx((300 * 2.5 + 20 * 10) / M, **EXACT)


def test_processed_tokens_when_nothing_billed_is_reported(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.chat(chat_response(usage_body=usage(None, None, tokens_in=80.0, tokens_out=12.0)))
    _chat(server.client())
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.usage.input_tokens"] == 80
    assert attributes["gen_ai.usage.output_tokens"] == 12


def test_response_without_usage(instrument, telemetry) -> None:
    instrument(estimate_usage=False)  # estimated: tests/test_estimation_cohere.py
    server = Server()
    body = chat_response()
    del body["usage"]
    server.chat(body)
    assert isinstance(_chat(server.client()), V2ChatResponse)
    attributes = telemetry.span().attributes
    assert attributes["tokenomics.usage.source"] == "unavailable"
    assert attributes["tokenomics.cost.status"] == "no_usage"
    assert "gen_ai.usage.input_tokens" not in attributes


@pytest.mark.parametrize(
    ("cohere_reason", "recorded"),
    [
        ("COMPLETE", "stop"),
        ("STOP_SEQUENCE", "stop"),
        ("MAX_TOKENS", "length"),
        ("TOOL_CALL", "tool_calls"),
        ("ERROR", "error"),
        ("TIMEOUT", "timeout"),
        ("SOMETHING_NEW", "something_new"),
    ],
)
def test_finish_reasons(instrument, telemetry, cohere_reason: str, recorded: str) -> None:
    instrument()
    server = Server()
    server.chat(chat_response(finish_reason=cohere_reason))
    _chat(server.client())
    assert telemetry.span().attributes["gen_ai.response.finish_reasons"] == (recorded,)


def test_tool_call_response(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.chat(
        chat_response(
            finish_reason="TOOL_CALL",
            tool_calls=[tool_call("get_weather", {"city": "Paris"})],
            usage_body=usage(52.0, 31.0),
        )
    )
    result = _chat(server.client(), response_format={"type": "json_object"})
    assert result.message.tool_calls[0].function.name == "get_weather"
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.response.finish_reasons"] == ("tool_calls",)
    assert attributes["gen_ai.output.type"] == "json"
    assert attributes["gen_ai.usage.output_tokens"] == 31


@pytest.mark.skipif(
    "thinking" not in inspect.signature(V2Client.chat).parameters, reason="no thinking before cohere 5.17"
)
def test_thinking_budget(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.chat()
    _chat(
        server.client(),
        model="command-a-reasoning-08-2025",
        thinking={"type": "enabled", "token_budget": 512},
    )
    assert telemetry.span().attributes["tokenomics.request.reasoning_budget_tokens"] == 512


def test_async_chat(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.chat(chat_response(usage_body=usage(200.0, 50.0)))

    async def main() -> V2ChatResponse:
        return await server.async_client().chat(model="command-r", messages=MESSAGES, temperature=0.0)

    result = asyncio.run(main())
    assert isinstance(result, V2ChatResponse)
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.request.temperature"] == 0.0
    assert attributes["gen_ai.usage.input_tokens"] == 200
    assert attributes["gen_ai.usage.output_tokens"] == 50
    assert attributes["tokenomics.cost.total"] == pytest.approx((200 * 0.15 + 50 * 0.6) / M, **EXACT)


def test_chat_metrics(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.chat(chat_response(usage_body=usage(1234.0, 567.0)))
    _chat(server.client())
    metrics = telemetry.metrics()
    tokens = {p.attributes["gen_ai.token.type"]: p.sum for p in metrics["gen_ai.client.token.usage"]}
    assert tokens == {"input": 1234, "output": 567}
    (duration,) = metrics["gen_ai.client.operation.duration"]
    assert duration.attributes["gen_ai.provider.name"] == "cohere"
    assert duration.attributes["gen_ai.request.model"] == "command-a-03-2025"
    spend = {p.attributes["tokenomics.token.class"]: p.value for p in metrics["tokenomics.cost"]}
    assert spend == {
        "input": pytest.approx(1234 * 2.5 / M, **EXACT),
        "output": pytest.approx(567 * 10 / M, **EXACT),
    }


# -- one span per call, whichever way in -------------------------------------------------------


def test_with_raw_response_is_traced_once(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.chat(chat_response(usage_body=usage(30.0, 4.0)))
    raw = server.client().with_raw_response.chat(model="command-r", messages=MESSAGES)
    assert raw.headers["content-type"] == "application/json"
    assert isinstance(raw.data, V2ChatResponse)
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.usage.input_tokens"] == 30
    assert attributes["gen_ai.usage.output_tokens"] == 4


def test_async_with_raw_response_is_traced_once(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.embed()

    async def main():
        return await server.async_client().with_raw_response.embed(
            model="embed-english-v3.0", texts=["hello", "goodbye"], input_type="search_document"
        )

    raw = asyncio.run(main())
    assert raw.data.meta.billed_units.input_tokens == 6.0
    assert telemetry.span().attributes["gen_ai.usage.input_tokens"] == 6


def test_client_v2_property_is_traced_once(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.chat()
    client = cohere.Client(
        api_key="test-key",
        **NO_RETRIES,
        httpx_client=httpx.Client(transport=httpx.MockTransport(server.handle)),
    )
    client.v2.chat(model="command-r", messages=MESSAGES)
    assert telemetry.span().attributes["gen_ai.usage.input_tokens"] == 12


def test_custom_base_url(instrument, telemetry) -> None:
    instrument(provider_map={"llm-gateway.internal": "cohere"})
    server = Server()
    server.chat()
    _chat(server.client(base_url="https://llm-gateway.internal:8443"))
    attributes = telemetry.span().attributes
    assert attributes["server.address"] == "llm-gateway.internal"
    assert attributes["server.port"] == 8443
    assert attributes["gen_ai.provider.name"] == "cohere"


def test_bedrock_client_is_priced_as_bedrock(instrument, telemetry) -> None:
    """BedrockClientV2 rewrites each request to Bedrock in an httpx hook and reads the
    token counts from Bedrock's headers into ``meta``."""
    instrument()
    with respx.mock(assert_all_called=True) as mock:
        mock.post("https://bedrock-runtime.us-east-1.amazonaws.com/model/cohere.command-r-v1:0/invoke").mock(
            return_value=httpx.Response(
                200,
                json={
                    "response_id": "r-1",
                    "generation_id": "g-1",
                    "text": "Hi",
                    "finish_reason": "COMPLETE",
                },
                headers={
                    "X-Amzn-Bedrock-Input-Token-Count": "120",
                    "X-Amzn-Bedrock-Output-Token-Count": "30",
                },
            )
        )
        client = cohere.BedrockClientV2(
            aws_access_key="AKIDEXAMPLE", aws_secret_key="secret", aws_region="us-east-1"
        )
        client.chat(model="cohere.command-r-v1:0", messages=MESSAGES)
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.provider.name"] == "aws.bedrock"
    assert attributes["server.address"] == "bedrock-runtime.us-east-1.amazonaws.com"
    assert attributes["gen_ai.usage.input_tokens"] == 120
    assert attributes["gen_ai.usage.output_tokens"] == 30
    assert attributes["tokenomics.cost.total"] == pytest.approx((120 * 0.5 + 30 * 1.5) / M, **EXACT)


def test_sagemaker_client_names_sagemaker(instrument, telemetry) -> None:
    instrument()
    with respx.mock(assert_all_called=True) as mock:
        mock.post(
            "https://runtime.sagemaker.eu-west-1.amazonaws.com/endpoints/my-command-r/invocations"
        ).mock(
            return_value=httpx.Response(
                200, json={"response_id": "r-2", "text": "Hi", "finish_reason": "COMPLETE"}
            )
        )
        client = cohere.SagemakerClientV2(
            aws_access_key="AKIDEXAMPLE", aws_secret_key="secret", aws_region="eu-west-1"
        )
        client.chat(model="my-command-r", messages=MESSAGES)
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.provider.name"] == "aws.sagemaker"
    assert attributes["server.address"] == "runtime.sagemaker.eu-west-1.amazonaws.com"
    # SageMaker bills instance hours, not tokens: no token price applies.
    assert attributes["tokenomics.cost.status"] == "unpriced"


def test_suppressed_instrumentation_opens_no_span(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.chat()
    with suppress_instrumentation():
        _chat(server.client())
    assert telemetry.spans() == []


# -- embed -----------------------------------------------------------------------------------


def test_embed(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.embed(embed_response(billed={"input_tokens": 6.0}, tokens={"input_tokens": 8.0}))
    result = server.client().embed(
        model="embed-english-v3.0",
        texts=["hello", "goodbye"],
        input_type="search_document",
        embedding_types=["float"],
    )
    assert isinstance(result, cohere.EmbedByTypeResponse)
    assert len(result.embeddings.float_) == 2
    span = telemetry.span()
    assert span.name == "embeddings embed-english-v3.0"
    attributes = span.attributes
    assert attributes["gen_ai.operation.name"] == "embeddings"
    assert attributes["gen_ai.provider.name"] == "cohere"
    assert attributes["gen_ai.response.id"] == "8a4b2c1d-embed"
    assert attributes["gen_ai.request.encoding_formats"] == ("float",)
    assert attributes["gen_ai.embeddings.dimension.count"] == 4
    assert attributes["gen_ai.usage.input_tokens"] == 6
    assert "gen_ai.usage.output_tokens" not in attributes
    assert attributes["tokenomics.cost.total"] == pytest.approx(6 * 0.1 / M, **EXACT)


def test_embed_requested_dimension(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.embed(embed_response(dimension=256, billed={"input_tokens": 3.0}))
    server.client().embed(
        model="embed-v4.0", texts=["hello"], input_type="search_query", output_dimension=256
    )
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.embeddings.dimension.count"] == 256
    assert attributes["tokenomics.cost.total"] == pytest.approx(3 * 0.12 / M, **EXACT)


@pytest.mark.parametrize(
    "billed",
    [
        {"input_tokens": 10.0, "image_tokens": 1000.0},
        # With text_tokens sent, it is the text part whatever input_tokens holds.
        {"input_tokens": 1010.0, "text_tokens": 10.0, "image_tokens": 1000.0},
    ],
)
def test_embed_images_priced_apart(instrument, telemetry, billed: dict) -> None:
    instrument()
    server = Server()
    server.embed(embed_response(vectors=1, billed=billed))
    server.client().embed(
        model="embed-v4.0",
        inputs=[
            {"content": [{"type": "text", "text": "page 1"}, {"type": "image_url", "image_url": "data:,"}]}
        ],
        input_type="search_document",
    )
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.usage.input_tokens"] == 1010
    assert attributes["tokenomics.cost.total"] == pytest.approx((10 * 0.12 + 1000 * 0.47) / M, **EXACT)


def test_async_embed(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.embed(embed_response(billed={"input_tokens": 9.0}))

    async def main():
        return await server.async_client().embed(
            model="embed-english-v3.0", texts=["hello", "goodbye"], input_type="classification"
        )

    assert isinstance(asyncio.run(main()), cohere.EmbedByTypeResponse)
    (points,) = [telemetry.metrics()["gen_ai.client.token.usage"]]
    assert [p.sum for p in points] == [9]
    assert telemetry.span().attributes["tokenomics.cost.total"] == pytest.approx(9 * 0.1 / M, **EXACT)


# -- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error_class", "error_type"),
    [
        (429, cohere.TooManyRequestsError, "TooManyRequestsError"),
        (500, cohere.InternalServerError, "InternalServerError"),
        (502, cohere.core.ApiError, "502"),  # no class of its own: the status says more
    ],
)
def test_http_errors(instrument, telemetry, status: int, error_class: type, error_type: str) -> None:
    instrument()
    server = Server()
    server.error("/v2/chat", status, "rate limited, key sk-secret")
    with pytest.raises(error_class) as raised:
        _chat(server.client())
    assert type(raised.value) is error_class
    assert raised.value.status_code == status
    span = telemetry.span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == f"{error_type} (HTTP {status})"  # never the message
    assert span.attributes["error.type"] == error_type
    assert "tokenomics.stream.outcome" not in span.attributes
    (duration,) = telemetry.metrics()["gen_ai.client.operation.duration"]
    assert duration.attributes["error.type"] == error_type


def test_async_error(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.error("/v2/embed", 429)

    async def main() -> None:
        await server.async_client().embed(
            model="embed-english-v3.0", texts=["x"], input_type="classification"
        )

    with pytest.raises(cohere.TooManyRequestsError):
        asyncio.run(main())
    span = telemetry.span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "TooManyRequestsError"


def test_connection_error(instrument, telemetry) -> None:
    instrument()

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    client = cohere.ClientV2(
        api_key="k", **NO_RETRIES, httpx_client=httpx.Client(transport=httpx.MockTransport(refuse))
    )
    with pytest.raises(httpx.ConnectError):
        _chat(client)
    assert telemetry.span().attributes["error.type"] == "ConnectError"


# -- patching --------------------------------------------------------------------------------


def test_uninstrument_restores_the_sdk(instrument, telemetry) -> None:
    import otel_tokenomics

    originals = {
        (cls, name): cls.__dict__[name]
        for cls in (RawV2Client, AsyncRawV2Client)
        for name in ("chat", "chat_stream", "embed")
    }
    instrument()
    assert all(cls.__dict__[name] is not original for (cls, name), original in originals.items())
    otel_tokenomics.uninstrument()
    assert all(cls.__dict__[name] is original for (cls, name), original in originals.items())
    server = Server()
    server.chat()
    _chat(server.client())
    assert telemetry.spans() == []


_LAZY_PROBE = """
import json, sys
import otel_tokenomics

active = otel_tokenomics.instrument()
imported_before = "cohere" in sys.modules
from cohere.v2.raw_client import RawV2Client
patched = "otel_tokenomics" in RawV2Client.chat.__code__.co_filename
otel_tokenomics.uninstrument()
restored = "otel_tokenomics" not in RawV2Client.chat.__code__.co_filename
print(json.dumps({"active": "tokenomics_cohere" in active, "imported_before": imported_before,
                  "patched": patched, "restored": restored}))
"""


def test_instrument_before_import_patches_lazily() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _LAZY_PROBE], capture_output=True, text=True, cwd=ROOT, check=True, timeout=120
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {
        "active": True,
        "imported_before": False,
        "patched": True,
        "restored": True,
    }
