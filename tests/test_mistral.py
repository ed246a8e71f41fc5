"""The ``mistralai`` SDK, driven for real over a mock transport: chat, FIM, embeddings, errors.

Prices (USD per million tokens, catalog provider ``mistral``):

* mistral-large-2512: input 0.5, cache read 0.05 (10 %), output 1.5
* codestral-2508: input 0.3, cache read 0.03, output 0.9
* mistral-embed: input 0.1

so 1200 prompt tokens of which 1024 cached, and 300 output on mistral-large-2512
cost 176 * 0.5 + 1024 * 0.05 + 300 * 1.5 = 589.2 micro-dollars.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import pathlib
import subprocess
import sys
from typing import Any
from urllib.parse import urlsplit

import pydantic
import pytest
from mistral_fakes import Server, completion, embedding, http, usage
from mistralai.client import errors, models
from mistralai.client.chat import Chat
from mistralai.client.embeddings import Embeddings
from mistralai.client.fim import Fim
from mistralai.client.sdkconfiguration import SERVERS
from opentelemetry.trace import SpanKind, StatusCode

M = 1_000_000
MESSAGES = [{"role": "user", "content": "Say hello."}]
CHAT_PATH = "/v1/chat/completions"
FIM_PATH = "/v1/fim/completions"
EMBED_PATH = "/v1/embeddings"
ROOT = pathlib.Path(__file__).resolve().parents[1]
LARGE_CACHED_COST = (176 * 0.5 + 1024 * 0.05 + 300 * 1.5) / M


def exact(value: float) -> Any:
    # abs=0: pytest's default absolute tolerance (1e-12) would swamp amounts of 1e-7.
    return pytest.approx(value, rel=1e-12, abs=0)


@pytest.fixture(autouse=True)
def sdk_telemetry_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK's own tracing hook is opt-in through the environment: off unless a test turns it on."""
    monkeypatch.delenv("MISTRAL_SDK_TELEMETRY", raising=False)


def _cached_server() -> Server:
    server = Server()
    server.json(CHAT_PATH, completion("Hello.", "Hi.", usage=usage(1200, 300, cached=1024)))
    return server


def _assert_cached_chat(span: Any) -> None:
    attributes = span.attributes
    assert span.name == "chat mistral-large-latest"
    assert span.kind is SpanKind.CLIENT
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.provider.name"] == "mistral_ai"
    assert attributes["gen_ai.request.model"] == "mistral-large-latest"
    assert attributes["gen_ai.response.model"] == "mistral-large-2512"
    assert attributes["gen_ai.response.id"] == "cmpl-1"
    assert attributes["gen_ai.response.finish_reasons"] == ("stop", "stop")
    assert attributes["server.address"] == "api.mistral.ai"
    assert attributes["server.port"] == 443
    assert attributes["gen_ai.usage.input_tokens"] == 1200
    assert attributes["gen_ai.usage.cache_read.input_tokens"] == 1024
    assert attributes["gen_ai.usage.cache_write.input_tokens"] == 0
    assert attributes["gen_ai.usage.output_tokens"] == 300
    assert attributes["gen_ai.usage.reasoning.output_tokens"] == 0
    assert attributes["tokenomics.usage.source"] == "provider"
    assert attributes["tokenomics.cost.status"] == "priced"
    assert attributes["tokenomics.pricing.model"] == "mistral-large-2512"
    assert attributes["tokenomics.cost.input"] == exact(176 * 0.5 / M)
    assert attributes["tokenomics.cost.cache_read"] == exact(1024 * 0.05 / M)
    assert attributes["tokenomics.cost.output"] == exact(300 * 1.5 / M)
    assert attributes["tokenomics.cost.total"] == exact(LARGE_CACHED_COST)
    assert attributes["tokenomics.cost.cache_savings"] == exact(1024 * (0.5 - 0.05) / M)
    assert "gen_ai.request.stream" not in attributes
    assert span.status.status_code is StatusCode.UNSET


def test_complete_reads_request_response_and_the_unmodelled_cached_tokens(instrument, telemetry) -> None:
    # The SDK does not model the API's cached-token count: it only survives as a pydantic extra.
    assert "prompt_tokens_details" not in models.UsageInfo.model_fields
    instrument()
    server = _cached_server()
    result = server.client().chat.complete(
        model="mistral-large-latest",
        messages=MESSAGES,
        temperature=0.3,
        top_p=0.9,
        max_tokens=400,
        random_seed=7,
        stop=["\n\n", "END"],
        frequency_penalty=0.5,
        presence_penalty=0.25,
        n=2,
        response_format={"type": "json_object"},
    )
    assert isinstance(result, models.ChatCompletionResponse)
    assert result.choices[1].message.content == "Hi."
    assert result.usage.additional_properties == {"prompt_tokens_details": {"cached_tokens": 1024}}
    span = telemetry.span()
    _assert_cached_chat(span)
    attributes = span.attributes
    assert attributes["gen_ai.request.temperature"] == 0.3
    assert attributes["gen_ai.request.top_p"] == 0.9
    assert attributes["gen_ai.request.max_tokens"] == 400
    assert attributes["gen_ai.request.seed"] == 7
    assert attributes["gen_ai.request.stop_sequences"] == ("\n\n", "END")
    assert attributes["gen_ai.request.frequency_penalty"] == 0.5
    assert attributes["gen_ai.request.presence_penalty"] == 0.25
    assert attributes["gen_ai.request.choice.count"] == 2
    assert attributes["gen_ai.output.type"] == "json"
    # What went over the wire is the SDK's own request.
    body = server.bodies()[0]
    assert body["random_seed"] == 7 and body["n"] == 2 and body["stop"] == ["\n\n", "END"]


def test_request_attributes_from_sdk_models_and_single_values(instrument, telemetry) -> None:
    instrument()
    server = _cached_server()
    # reasoning_effort came after 2.0.
    has_reasoning = "reasoning_effort" in inspect.signature(Chat.complete).parameters
    reasoning = {"reasoning_effort": "high"} if has_reasoning else {}
    server.client().chat.complete(
        model="mistral-large-latest",
        messages=MESSAGES,
        stop="END",
        n=1,
        response_format=models.ResponseFormat(type="json_schema", json_schema=None),
        **reasoning,
    )
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.request.stop_sequences"] == ("END",)
    assert "gen_ai.request.choice.count" not in attributes  # one choice is the default
    assert attributes.get("gen_ai.request.reasoning.level") == reasoning.get("reasoning_effort")
    assert attributes["gen_ai.output.type"] == "json"


def test_complete_async(instrument, telemetry) -> None:
    instrument()
    server = _cached_server()

    async def main() -> models.ChatCompletionResponse:
        return await server.client().chat.complete_async(model="mistral-large-latest", messages=MESSAGES)

    result = asyncio.run(main())
    assert isinstance(result, models.ChatCompletionResponse)
    _assert_cached_chat(telemetry.span())


def test_cached_count_above_the_prompt_is_capped(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.json(CHAT_PATH, completion("x", usage=usage(100, 10, cached=500)))
    server.client().chat.complete(model="mistral-large-2512", messages=MESSAGES)
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.usage.input_tokens"] == 100
    assert attributes["gen_ai.usage.cache_read.input_tokens"] == 100
    assert attributes["tokenomics.cost.total"] == exact((100 * 0.05 + 10 * 1.5) / M)


def test_audio_seconds_and_service_tier(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.json(
        CHAT_PATH,
        completion("x", usage=usage(1000, 100, prompt_audio_seconds=12, service_tier="priority")),
    )
    server.client().chat.complete(model="mistral-large-2512", messages=MESSAGES)
    attributes = telemetry.span().attributes
    assert attributes["tokenomics.response.service_tier"] == "priority"
    # The catalog lists no priority price for Mistral: the standard one applies.
    assert attributes["tokenomics.cost.total"] == exact((1000 * 0.5 + 100 * 1.5) / M)
    # Audio seconds are no token count and have no price: nothing is recorded for them.
    assert not [key for key in attributes if "audio" in key]


def test_unknown_model_is_unpriced(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.json(CHAT_PATH, completion("x", model="mistral-imaginary-9", usage=usage(50, 5, cached=0)))
    server.client().chat.complete(model="mistral-imaginary-9", messages=MESSAGES)
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.usage.input_tokens"] == 50
    assert attributes["gen_ai.usage.output_tokens"] == 5
    assert attributes["tokenomics.cost.status"] == "unpriced"
    assert not [
        key for key in attributes if key.startswith("tokenomics.cost.") and key != "tokenomics.cost.status"
    ]
    points = telemetry.metrics()
    assert [p.value for p in points["tokenomics.unpriced.calls"]] == [1]
    assert "tokenomics.cost" not in points


def test_metrics(instrument, telemetry) -> None:
    instrument()
    server = _cached_server()
    server.client().chat.complete(model="mistral-large-latest", messages=MESSAGES)
    points = telemetry.metrics()
    tokens = {p.attributes["gen_ai.token.type"]: p for p in points["gen_ai.client.token.usage"]}
    assert {kind: p.sum for kind, p in tokens.items()} == {"input": 1200, "output": 300}
    attributes = tokens["input"].attributes
    assert attributes["gen_ai.provider.name"] == "mistral_ai"
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.request.model"] == "mistral-large-latest"
    assert attributes["gen_ai.response.model"] == "mistral-large-2512"
    cost = {p.attributes["tokenomics.token.class"]: p.value for p in points["tokenomics.cost"]}
    assert cost == {
        "input": exact(176 * 0.5 / M),
        "cache_read": exact(1024 * 0.05 / M),
        "output": exact(300 * 1.5 / M),
    }
    (duration,) = points["gen_ai.client.operation.duration"]
    assert duration.count == 1
    assert "error.type" not in duration.attributes


@pytest.mark.parametrize("status", [429, 500])
def test_http_errors_reach_the_user_unchanged(instrument, telemetry, status: int) -> None:
    instrument()
    server = Server()
    server.error(CHAT_PATH, status, "Rate limit exceeded" if status == 429 else "Internal error")
    with pytest.raises(errors.SDKError) as raised:
        server.client().chat.complete(model="mistral-large-2512", messages=MESSAGES)
    assert raised.value.status_code == status
    assert len(server.requests) == 1  # no retries configured: one attempt
    span = telemetry.span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == f"SDKError (HTTP {status})"
    assert span.attributes["error.type"] == "SDKError"
    assert span.attributes["tokenomics.usage.source"] == "unavailable"
    assert "gen_ai.usage.input_tokens" not in span.attributes
    (duration,) = telemetry.metrics()["gen_ai.client.operation.duration"]
    assert duration.attributes["error.type"] == "SDKError"


def test_async_error_and_validation_error(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.error(CHAT_PATH, 503, "Service unavailable")
    server.json(
        CHAT_PATH, {"detail": [{"loc": ["body", "model"], "msg": "field required", "type": "missing"}]}, 422
    )
    client = server.client()

    async def main() -> None:
        with pytest.raises(errors.SDKError):
            await client.chat.complete_async(model="mistral-large-2512", messages=MESSAGES)
        with pytest.raises(errors.HTTPValidationError) as raised:
            await client.chat.complete_async(model="mistral-large-2512", messages=MESSAGES)
        assert raised.value.data.detail[0].msg == "field required"

    asyncio.run(main())
    spans = telemetry.spans()
    assert [s.attributes["error.type"] for s in spans] == ["SDKError", "HTTPValidationError"]
    assert [s.status.description for s in spans] == ["SDKError (HTTP 503)", "HTTPValidationError (HTTP 422)"]


def test_transport_error(instrument, telemetry) -> None:
    def refuse(request: Any) -> Any:
        raise http.ConnectError("connection refused", request=request)

    instrument()
    server = Server()
    server.replies.append((CHAT_PATH, refuse))
    with pytest.raises(http.ConnectError):
        server.client().chat.complete(model="mistral-large-2512", messages=MESSAGES)
    span = telemetry.span()
    assert span.attributes["error.type"] == "ConnectError"
    assert span.status.status_code is StatusCode.ERROR


def test_embeddings(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.json(EMBED_PATH, embedding([0.1, 0.2, 0.3], [0.4, 0.5, 0.6], prompt_tokens=15))
    server.json(EMBED_PATH, embedding([0.1, 0.2], prompt_tokens=4))
    client = server.client()
    result = client.embeddings.create(model="mistral-embed", inputs=["a", "b"], output_dimension=3)
    assert isinstance(result, models.EmbeddingResponse)

    async def main() -> models.EmbeddingResponse:
        return await client.embeddings.create_async(
            model="mistral-embed", inputs="c", encoding_format="float"
        )

    assert isinstance(asyncio.run(main()), models.EmbeddingResponse)
    first, second = telemetry.spans()
    assert first.name == "embeddings mistral-embed"
    assert first.attributes["gen_ai.operation.name"] == "embeddings"
    assert first.attributes["gen_ai.provider.name"] == "mistral_ai"
    assert first.attributes["gen_ai.usage.input_tokens"] == 15
    assert "gen_ai.usage.output_tokens" not in first.attributes
    assert first.attributes["gen_ai.embeddings.dimension.count"] == 3
    assert first.attributes["tokenomics.cost.total"] == exact(15 * 0.1 / M)
    assert second.attributes["gen_ai.usage.input_tokens"] == 4
    assert second.attributes["gen_ai.embeddings.dimension.count"] == 2
    assert second.attributes["gen_ai.request.encoding_formats"] == ("float",)
    assert second.attributes["tokenomics.cost.total"] == exact(4 * 0.1 / M)
    inputs = telemetry.metrics()["gen_ai.client.token.usage"]
    assert [(p.attributes["gen_ai.token.type"], p.sum) for p in inputs] == [("input", 19)]


def test_fim_complete(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.json(
        FIM_PATH,
        completion(
            "return a + b", model="codestral-2508", usage=usage(640, 20, cached=512), finish_reason="length"
        ),
    )
    server.json(FIM_PATH, completion("pass", model="codestral-2508", usage=usage(10, 2)))
    client = server.client()
    result = client.fim.complete(
        model="codestral-2508", prompt="def add(a, b):", suffix="\n", max_tokens=20, temperature=0.0
    )
    assert isinstance(result, models.FIMCompletionResponse)

    async def main() -> None:
        await client.fim.complete_async(model="codestral-2508", prompt="def f():")

    asyncio.run(main())
    first, second = telemetry.spans()
    attributes = first.attributes
    assert first.name == "text_completion codestral-2508"
    assert attributes["gen_ai.operation.name"] == "text_completion"
    assert attributes["gen_ai.request.max_tokens"] == 20
    assert attributes["gen_ai.request.temperature"] == 0.0
    assert attributes["gen_ai.response.finish_reasons"] == ("length",)
    assert attributes["gen_ai.usage.cache_read.input_tokens"] == 512
    assert attributes["tokenomics.cost.total"] == exact((128 * 0.3 + 512 * 0.03 + 20 * 0.9) / M)
    assert second.attributes["tokenomics.cost.total"] == exact((10 * 0.3 + 2 * 0.9) / M)


class Greeting(pydantic.BaseModel):
    text: str


def test_parse_opens_one_span_through_complete(instrument, telemetry) -> None:
    instrument()
    server = Server()
    for _ in range(2):
        server.json(CHAT_PATH, completion('{"text": "Hello."}', usage=usage(1200, 300, cached=1024)))
    client = server.client()
    parsed = client.chat.parse(response_format=Greeting, model="mistral-large-latest", messages=MESSAGES)
    assert parsed.choices[0].message.parsed == Greeting(text="Hello.")

    async def main() -> Any:
        return await client.chat.parse_async(
            response_format=Greeting, model="mistral-large-latest", messages=MESSAGES
        )

    assert asyncio.run(main()).choices[0].message.parsed == Greeting(text="Hello.")
    spans = telemetry.spans()
    assert len(spans) == 2
    for span in spans:
        assert span.attributes["gen_ai.output.type"] == "json"
        assert span.attributes["tokenomics.cost.total"] == exact(LARGE_CACHED_COST)


def test_server_url_sets_address_and_provider(instrument, telemetry) -> None:
    instrument(provider_map={"llm-gateway.internal": "openai"})
    server = Server()
    for _ in range(4):
        server.json(CHAT_PATH, completion("x", usage=usage(10, 1)))
    server.client("https://api.eu.mistral.ai").chat.complete(model="mistral-large-2512", messages=MESSAGES)
    server.client("http://proxy.example:8080/").chat.complete(model="mistral-large-2512", messages=MESSAGES)
    server.client().chat.complete(
        model="mistral-large-2512", messages=MESSAGES, server_url="https://llm-gateway.internal"
    )
    server.client(server="eu", server_url=None).chat.complete(model="mistral-large-2512", messages=MESSAGES)
    found = [
        (s.attributes["gen_ai.provider.name"], s.attributes["server.address"], s.attributes["server.port"])
        for s in telemetry.spans()
    ]
    assert found == [
        ("mistral_ai", "api.eu.mistral.ai", 443),
        ("mistral_ai", "proxy.example", 8080),
        ("openai", "llm-gateway.internal", 443),
        ("mistral_ai", urlsplit(SERVERS["eu"]).hostname, 443),  # 2.0 names the global endpoint "eu"
    ]
    assert [str(r.url) for r in server.requests][2] == "https://llm-gateway.internal/v1/chat/completions"


def test_uninstrument_restores_the_sdk(instrument, telemetry) -> None:
    patched = [(Chat, "complete"), (Chat, "stream_async"), (Fim, "stream"), (Embeddings, "create_async")]
    originals = {target: target[0].__dict__[target[1]] for target in patched}
    instrument()
    assert all(owner.__dict__[name] is not originals[(owner, name)] for owner, name in patched)
    import otel_tokenomics

    otel_tokenomics.uninstrument()
    assert all(owner.__dict__[name] is originals[(owner, name)] for owner, name in patched)
    server = _cached_server()
    server.client().chat.complete(model="mistral-large-latest", messages=MESSAGES)
    assert telemetry.spans() == []
    # And again: a second instrument() patches again.
    instrument()
    server = _cached_server()
    server.client().chat.complete(model="mistral-large-latest", messages=MESSAGES)
    _assert_cached_chat(telemetry.span())


_LAZY_PROBE = """
import json, sys
import otel_tokenomics

otel_tokenomics.instrument()
seen = {"after_instrument": sorted(m for m in sys.modules if m.startswith("mistralai"))}
from mistralai.client import Mistral

def ours(function):
    return "otel_tokenomics" in function.__code__.co_filename

lazy = ("mistralai.client.chat", "mistralai.client.fim", "mistralai.client.embeddings")
seen["after_client_import"] = sorted(m for m in lazy if m in sys.modules)
client = Mistral(api_key="x")
seen["chat"] = ours(type(client.chat).complete)
seen["embeddings"] = ours(type(client.embeddings).create)
seen["fim"] = ours(type(client.fim).stream_async)
print(json.dumps(seen))
"""


def test_patched_when_the_app_imports_each_module() -> None:
    env = {key: value for key, value in os.environ.items() if key != "MISTRAL_SDK_TELEMETRY"}
    out = subprocess.run(
        [sys.executable, "-c", _LAZY_PROBE], capture_output=True, text=True, check=True, cwd=ROOT, env=env
    )
    assert "could not instrument mistralai" not in out.stderr
    assert json.loads(out.stdout) == {
        "after_instrument": [],
        "after_client_import": [],  # the client imports these on first use only
        "chat": True,
        "embeddings": True,
        "fim": True,
    }


def test_no_span_when_instrumentation_is_suppressed(instrument, telemetry) -> None:
    from opentelemetry import context
    from opentelemetry.instrumentation.utils import suppress_instrumentation

    instrument()
    server = _cached_server()
    with suppress_instrumentation():
        server.client().chat.complete(model="mistral-large-latest", messages=MESSAGES)
    assert telemetry.spans() == []
    assert context.get_current() is not None


# -- the SDK's own tracing hook ------------------------------------------------------------------


@pytest.fixture
def sdk_tracing(monkeypatch: pytest.MonkeyPatch, telemetry) -> None:
    """The SDK's tracing hook on, sending to the application's global provider (the test's).

    3.x opens its spans only when asked (``MISTRAL_SDK_TELEMETRY=global`` here);
    2.x whenever a global tracer provider is set.
    """
    from opentelemetry import trace

    monkeypatch.setenv("MISTRAL_SDK_TELEMETRY", "global")
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: telemetry.tracer_provider)


def _scopes(telemetry) -> list[str]:
    return [span.instrumentation_scope.name for span in telemetry.spans()]


def test_sdk_span_is_folded_into_ours(sdk_tracing, instrument, telemetry) -> None:
    server = Server()
    for _ in range(2):
        server.json(CHAT_PATH, completion("Hello.", "Hi.", usage=usage(1200, 300, cached=1024)))
    client = server.client()
    client.chat.complete(model="mistral-large-latest", messages=MESSAGES)
    (sdk_span,) = telemetry.spans()
    # Without us, the SDK's own span counts the tokens: summed with ours, twice.
    assert sdk_span.instrumentation_scope.name != "otel_tokenomics"
    assert sdk_span.attributes["gen_ai.usage.input_tokens"] == 1200
    instrument()
    client.chat.complete(model="mistral-large-latest", messages=MESSAGES)
    assert _scopes(telemetry) == [sdk_span.instrumentation_scope.name, "otel_tokenomics"]
    ours = telemetry.spans()[1]
    _assert_cached_chat(ours)
    context = ours.get_span_context()
    assert (
        server.requests[1]
        .headers["traceparent"]
        .startswith(f"00-{context.trace_id:032x}-{context.span_id:016x}-")
    )


def test_sdk_span_is_folded_for_streams(sdk_tracing, instrument, telemetry) -> None:
    from mistral_fakes import chunk

    instrument()
    server = Server()
    server.stream(
        CHAT_PATH, [chunk("Hi", role="assistant"), chunk(".", finish_reason="stop", usage=usage(10, 2))]
    )
    with server.client().chat.stream(model="mistral-large-2512", messages=MESSAGES) as stream:
        assert len(list(stream)) == 2
    assert _scopes(telemetry) == ["otel_tokenomics"]


def test_sdk_owned_telemetry_is_left_alone(instrument, telemetry) -> None:
    telemetry_module = pytest.importorskip("mistralai.extra.observability.telemetry")
    if not hasattr(telemetry_module, "configure_telemetry"):
        pytest.skip("this mistralai has no telemetry of its own")
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    # A provider like the one the SDK makes for itself ("dedicated": exported to Mistral only).
    exported = InMemorySpanExporter()
    owned = TracerProvider(resource=Resource.create({"service.name": "mistralai_sdk"}))
    owned.add_span_processor(SimpleSpanProcessor(exported))
    instrument()
    server = _cached_server()
    client = server.client()
    telemetry_module.configure_telemetry(client, provider=owned, redaction=False)
    client.chat.complete(model="mistral-large-latest", messages=MESSAGES)
    ours = telemetry.span()
    (sdk_span,) = exported.get_finished_spans()
    assert sdk_span.parent.span_id == ours.get_span_context().span_id
