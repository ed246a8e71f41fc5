"""pydantic-ai over the openai and anthropic SDKs: one inference span per model request.

pydantic-ai calls the async SDK clients (``run_sync`` runs them on its own loop):
``chat.completions.create`` (OpenAIChatModel, ``stream_options.include_usage`` set by
pydantic-ai when streaming) and ``beta.messages.create`` (AnthropicModel). Its
providers take an SDK client, so the clients here speak httpx2 to the mock server.

Without pydantic-ai's instrumentation our span is the inference span, under the
app's. With it, pydantic-ai opens a ``chat <model>`` span around each model request
and our call borrows it (:mod:`otel_tokenomics.frameworks`): our attributes and cost
on their span, no span of ours, their agent and tool spans untouched.

Prices (catalog, USD per million tokens):

* gpt-4o-mini: input $0.15, cache read $0.075, output $0.60. CHAT_USAGE: 2,048 in
  (1,536 cached, so 512 uncached), 612 out: 512 x 0.15 + 1,536 x 0.075 + 612 x 0.60
  = $0.0005592.
* claude-sonnet-4-5: input $3, cache read $0.30, cache write 5m $3.75, 1h $6, output
  $15. USAGE: 1,200 uncached + 40,000 read + 1,000 5m + 2,000 1h in, 800 out = $0.04335.
* text-embedding-3-small: input $0.02; 7 tokens = $0.00000014.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import anthropic_fakes
import openai_fakes
import pytest
from anthropic_fakes import exact
from framework_fakes import (
    GPT_COST,
    SONNET_COST,
    app_span,
    openai_server,
    openai_stream_server,
    ours,
    tool_loop_server,
)
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode
from pydantic_ai import Agent
from pydantic_ai.capabilities.instrumentation import Instrumentation
from pydantic_ai.embeddings import Embedder
from pydantic_ai.embeddings.openai import OpenAIEmbeddingModel
from pydantic_ai.exceptions import ModelHTTPError
from pydantic_ai.models.anthropic import AnthropicModel
from pydantic_ai.models.fallback import FallbackModel
from pydantic_ai.models.instrumented import InstrumentationSettings, InstrumentedModel
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.anthropic import AnthropicProvider
from pydantic_ai.providers.openai import OpenAIProvider

from otel_tokenomics import frameworks
from otel_tokenomics.call import Route
from otel_tokenomics.config import Options
from otel_tokenomics.telemetry import SCOPE_NAME
from otel_tokenomics.telemetry import Telemetry as Tokenomics

pytestmark = pytest.mark.filterwarnings("ignore:.*deprecated:DeprecationWarning")


# -- models over the mock transports ------------------------------------------------------------


def _openai_model(server: openai_fakes.Server) -> OpenAIChatModel:
    return OpenAIChatModel("gpt-4o-mini", provider=OpenAIProvider(openai_client=server.async_client()))


def _anthropic_server(stream: bool = False) -> anthropic_fakes.Server:
    server = anthropic_fakes.Server()
    if stream:
        server.stream("/v1/messages", anthropic_fakes.sse(anthropic_fakes.events()))
    else:
        server.json("/v1/messages", anthropic_fakes.message())
    return server


def _anthropic_model(server: anthropic_fakes.Server) -> AnthropicModel:
    return AnthropicModel(
        anthropic_fakes.MODEL, provider=AnthropicProvider(anthropic_client=server.async_client())
    )


# max_tokens: the SDK refuses a non-streamed request whose default max_tokens may take over 10 minutes.
ANTHROPIC_SETTINGS: Any = {"max_tokens": 1024}


def _settings(telemetry: Any) -> InstrumentationSettings:
    return InstrumentationSettings(
        tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider
    )


def _instrumented(telemetry: Any) -> list[Any]:
    return [Instrumentation(settings=_settings(telemetry))]


def _theirs(telemetry: Any, name_prefix: str = "chat ") -> list[Any]:
    return sorted(
        (
            span
            for span in telemetry.spans()
            if span.instrumentation_scope.name == "pydantic-ai" and span.name.startswith(name_prefix)
        ),
        key=lambda span: span.start_time,
    )


def _inference_spans(telemetry: Any) -> list[Any]:
    """Every span that carries an inference's usage: what a backend would sum."""
    return [span for span in telemetry.spans() if "gen_ai.usage.input_tokens" in span.attributes]


def _our_metrics(telemetry: Any) -> dict[str, list[Any]]:
    points: dict[str, list[Any]] = {}
    data = telemetry.reader.get_metrics_data()
    for resource_metrics in data.resource_metrics if data else ():
        for scope_metrics in resource_metrics.scope_metrics:
            if scope_metrics.scope.name == SCOPE_NAME:
                for metric in scope_metrics.metrics:
                    points.setdefault(metric.name, []).extend(metric.data.data_points)
    return points


def _token_sums(telemetry: Any) -> dict[str, int]:
    points = _our_metrics(telemetry)["gen_ai.client.token.usage"]
    return {p.attributes["gen_ai.token.type"]: p.sum for p in points}


def _assert_gpt(attributes: Any, *, stream: bool = False) -> None:
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.provider.name"] == "openai"
    assert attributes["gen_ai.request.model"] == "gpt-4o-mini"
    assert attributes["gen_ai.response.model"] == "gpt-4o-mini-2024-07-18"
    assert attributes["server.address"] == "api.openai.com"
    assert attributes["server.port"] == 443
    assert attributes["gen_ai.usage.input_tokens"] == 2048
    assert attributes["gen_ai.usage.cache_read.input_tokens"] == 1536
    assert attributes["gen_ai.usage.output_tokens"] == 612
    assert attributes["gen_ai.usage.reasoning.output_tokens"] == 256
    assert attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert attributes["tokenomics.usage.source"] == "provider"
    assert attributes["tokenomics.cost.status"] == "priced"
    assert attributes["tokenomics.cost.input"] == exact(512 * 0.15 / 1e6)
    assert attributes["tokenomics.cost.cache_read"] == exact(1536 * 0.075 / 1e6)
    assert attributes["tokenomics.cost.output"] == exact(612 * 0.6 / 1e6)
    assert attributes["tokenomics.cost.total"] == exact(GPT_COST)
    assert attributes.get("gen_ai.request.stream", False) is stream
    if stream:
        assert attributes["tokenomics.stream.outcome"] == "completed"


def _assert_sonnet(attributes: Any, *, stream: bool = False) -> None:
    assert attributes["gen_ai.provider.name"] == "anthropic"
    assert attributes["gen_ai.request.model"] == anthropic_fakes.MODEL
    assert attributes["gen_ai.request.max_tokens"] == 1024
    # Anthropic's input_tokens excludes the cache; semconv input includes it.
    assert attributes["gen_ai.usage.input_tokens"] == 1200 + 40000 + 3000
    assert attributes["gen_ai.usage.cache_read.input_tokens"] == 40000
    assert attributes["gen_ai.usage.cache_write.input_tokens"] == 3000
    assert attributes["tokenomics.usage.cache_write.ttl_5m.input_tokens"] == 1000
    assert attributes["tokenomics.usage.cache_write.ttl_1h.input_tokens"] == 2000
    assert attributes["gen_ai.usage.output_tokens"] == 800
    assert attributes["tokenomics.cost.input"] == exact(1200 * 3 / 1e6)
    assert attributes["tokenomics.cost.cache_read"] == exact(40000 * 0.3 / 1e6)
    assert attributes["tokenomics.cost.cache_write"] == exact(1000 * 3.75 / 1e6 + 2000 * 6 / 1e6)
    assert attributes["tokenomics.cost.output"] == exact(800 * 15 / 1e6)
    assert attributes["tokenomics.cost.total"] == exact(SONNET_COST)
    assert attributes.get("gen_ai.request.stream", False) is stream


def _parent(span: Any, telemetry: Any) -> Any:
    spans = {s.context.span_id: s for s in telemetry.spans()}
    return spans.get(span.parent.span_id) if span.parent else None


async def _stream_text(agent: Agent[Any, str], **kwargs: Any) -> list[str]:
    async with agent.run_stream("Say hello.", **kwargs) as result:
        return [text async for text in result.stream_text()]


# -- without pydantic-ai's instrumentation: our span, under the app's ---------------------------------


def test_run_sync_is_one_span_under_the_app_span(instrument, telemetry) -> None:
    instrument()
    server = openai_server()
    with app_span(telemetry):
        result = Agent(_openai_model(server)).run_sync("Say hello.")
    assert result.output == "Hello there."
    assert result.usage.input_tokens == 2048
    (span,) = ours(telemetry)
    assert span.kind == SpanKind.CLIENT
    assert _parent(span, telemetry).name == "app"
    _assert_gpt(span.attributes)
    assert _token_sums(telemetry) == {"input": 2048, "output": 612}


def test_run_async(instrument, telemetry) -> None:
    instrument()

    async def main() -> Any:
        with app_span(telemetry):
            return await Agent(_openai_model(openai_server())).run("Say hello.")

    assert asyncio.run(main()).output == "Hello there."
    (span,) = ours(telemetry)
    assert _parent(span, telemetry).name == "app"
    _assert_gpt(span.attributes)


def test_run_stream(instrument, telemetry) -> None:
    instrument()
    server = openai_stream_server()
    texts = asyncio.run(_stream_text(Agent(_openai_model(server))))
    assert texts[-1] == "Hello there."
    assert server.request_json()["stream_options"] == {"include_usage": True}  # pydantic-ai's own
    (span,) = ours(telemetry)
    _assert_gpt(span.attributes, stream=True)


def _weather_agent(server: openai_fakes.Server, **kwargs: Any) -> Agent[None, str]:
    agent = Agent(_openai_model(server), **kwargs)

    @agent.tool_plain
    def get_weather(city: str) -> str:
        """The weather in a city."""
        return f"Sunny in {city}."

    return agent


FIRST_COST = 300 * 0.15 / 1e6 + 20 * 0.6 / 1e6
SECOND_COST = 144 * 0.15 / 1e6 + 256 * 0.075 / 1e6 + 10 * 0.6 / 1e6


def test_tool_loop_is_one_span_per_model_request(instrument, telemetry) -> None:
    instrument()
    server = tool_loop_server()
    result = _weather_agent(server).run_sync("Weather in Paris?")
    assert result.output == "It is sunny in Paris."
    assert json.loads(server.requests[1].content)["messages"][-1]["content"] == "Sunny in Paris."
    first, second = sorted(ours(telemetry), key=lambda span: span.start_time)
    assert first.attributes["gen_ai.response.finish_reasons"] == ("tool_calls",)
    assert first.attributes["gen_ai.usage.input_tokens"] == 300
    assert first.attributes["gen_ai.usage.output_tokens"] == 20
    assert first.attributes["tokenomics.cost.total"] == exact(FIRST_COST)
    assert second.attributes["gen_ai.usage.input_tokens"] == 400
    assert second.attributes["gen_ai.usage.cache_read.input_tokens"] == 256
    assert second.attributes["tokenomics.cost.total"] == exact(SECOND_COST)
    assert _token_sums(telemetry) == {"input": 700, "output": 30}


def test_anthropic_run_sync_and_run_stream(instrument, telemetry) -> None:
    instrument()
    result = Agent(_anthropic_model(_anthropic_server())).run_sync(
        "Say hello.", model_settings=ANTHROPIC_SETTINGS
    )
    assert result.output == "Hello there."
    streamed = Agent(_anthropic_model(_anthropic_server(stream=True)))
    texts = asyncio.run(_stream_text(streamed, model_settings=ANTHROPIC_SETTINGS))
    assert texts[-1] == "Hello there."
    plain, stream = sorted(ours(telemetry), key=lambda span: span.start_time)
    _assert_sonnet(plain.attributes)
    _assert_sonnet(stream.attributes, stream=True)
    assert plain.attributes["gen_ai.response.finish_reasons"] == ("end_turn",)


def test_http_error_without_instrumentation(instrument, telemetry) -> None:
    instrument()
    server = openai_fakes.Server()
    server.json("/chat/completions", {"error": {"message": "boom", "type": "server_error"}}, status=500)
    with pytest.raises(ModelHTTPError) as raised:
        Agent(_openai_model(server)).run_sync("Say hello.")
    assert raised.value.status_code == 500
    (span,) = ours(telemetry)
    assert span.status.status_code == StatusCode.ERROR
    assert span.attributes["error.type"] == "InternalServerError"


# -- with pydantic-ai's instrumentation: our call borrows its "chat" span --------------------------------


def test_instrumented_run_sync_folds_into_the_chat_span(instrument, telemetry) -> None:
    instrument()
    with app_span(telemetry):
        result = Agent(_openai_model(openai_server()), capabilities=_instrumented(telemetry)).run_sync(
            "Say hello."
        )
    assert result.output == "Hello there."

    assert ours(telemetry) == []
    (chat,) = _inference_spans(telemetry)
    assert chat.name == "chat gpt-4o-mini"
    assert chat.instrumentation_scope.name == "pydantic-ai"
    assert chat.kind == SpanKind.CLIENT
    # The final values (theirs are set last) are the provider's, under our token model.
    _assert_gpt(chat.attributes)
    assert chat.attributes["operation.cost"] == exact(GPT_COST)  # pydantic-ai's own price agrees
    agent_run = _parent(chat, telemetry)
    assert agent_run.name == "invoke_agent agent"
    assert _parent(agent_run, telemetry).name == "app"
    # The run span sums under another name, so a backend summing gen_ai.usage.* counts once.
    assert agent_run.attributes["gen_ai.aggregated_usage.input_tokens"] == 2048
    assert _token_sums(telemetry) == {"input": 2048, "output": 612}


def test_instrumented_run_async(instrument, telemetry) -> None:
    instrument()
    agent = Agent(_openai_model(openai_server()), capabilities=_instrumented(telemetry))
    assert asyncio.run(agent.run("Say hello.")).output == "Hello there."
    assert ours(telemetry) == []
    (chat,) = _inference_spans(telemetry)
    _assert_gpt(chat.attributes)


def test_instrumented_run_stream(instrument, telemetry) -> None:
    instrument()
    agent = Agent(_openai_model(openai_stream_server()), capabilities=_instrumented(telemetry))
    assert asyncio.run(_stream_text(agent))[-1] == "Hello there."
    assert ours(telemetry) == []
    (chat,) = _inference_spans(telemetry)
    assert chat.instrumentation_scope.name == "pydantic-ai"
    _assert_gpt(chat.attributes, stream=True)
    assert chat.attributes["tokenomics.stream.chunk_count"] == 6
    assert chat.attributes["gen_ai.response.time_to_first_chunk"] > 0


@pytest.mark.parametrize("instrumented", [False, True])
def test_run_stream_left_early_ends_the_call_once(instrument, telemetry, instrumented) -> None:
    instrument()
    server = openai_fakes.Server()
    chunks = openai_fakes.chat_chunks(["a"] * 20, usage=openai_fakes.CHAT_USAGE)
    server.stream("/chat/completions", openai_fakes.sse(chunks))
    agent = Agent(_openai_model(server), capabilities=_instrumented(telemetry) if instrumented else [])

    async def main() -> str:
        async with agent.run_stream("Say hello.") as result:
            async for text in result.stream_text(delta=True, debounce_by=None):
                return text
        raise AssertionError("no text")

    assert asyncio.run(main()) == "a"
    our_spans = ours(telemetry)
    (span,) = our_spans if not instrumented else _theirs(telemetry)
    assert len(our_spans) == (0 if instrumented else 1)
    assert span.attributes["tokenomics.stream.outcome"] == "closed_early"
    # Left after the first delta, before any usage: an estimate, marked as one.
    assert span.attributes["tokenomics.usage.source"] == "estimated"
    assert span.attributes["gen_ai.usage.output_tokens"] == 1  # "a"
    (duration,) = _our_metrics(telemetry)["gen_ai.client.operation.duration"]
    assert duration.count == 1


def test_instrumented_model_wrapper_folds_too(instrument, telemetry) -> None:
    """An explicit InstrumentedModel sets its request attributes as it opens the span."""
    instrument()
    model = InstrumentedModel(_openai_model(openai_server()), _settings(telemetry))
    assert Agent(model).run_sync("Say hello.").output == "Hello there."
    assert ours(telemetry) == []
    (chat,) = _inference_spans(telemetry)
    _assert_gpt(chat.attributes)


def test_instrumented_tool_loop_keeps_their_spans_and_one_chat_span_per_request(
    instrument, telemetry
) -> None:
    instrument()
    result = _weather_agent(tool_loop_server(), capabilities=_instrumented(telemetry)).run_sync("Weather?")
    assert result.output == "It is sunny in Paris."

    assert ours(telemetry) == []
    first, second = _theirs(telemetry)
    assert set(_inference_spans(telemetry)) == {first, second}
    assert first.attributes["gen_ai.usage.input_tokens"] == 300
    assert first.attributes["gen_ai.usage.output_tokens"] == 20
    assert first.attributes["tokenomics.cost.total"] == exact(FIRST_COST)
    # pydantic-ai writes its own normalized finish reason after ours: "tool_call", not OpenAI's "tool_calls".
    assert first.attributes["gen_ai.response.finish_reasons"] == ("tool_call",)
    assert second.attributes["gen_ai.usage.input_tokens"] == 400
    assert second.attributes["gen_ai.usage.cache_read.input_tokens"] == 256
    assert second.attributes["tokenomics.cost.total"] == exact(SECOND_COST)
    (tool,) = [span for span in telemetry.spans() if span.attributes.get("gen_ai.tool.name") == "get_weather"]
    assert _parent(tool, telemetry).name == "invoke_agent agent"
    assert _parent(first, telemetry) is _parent(tool, telemetry)
    assert _token_sums(telemetry) == {"input": 700, "output": 30}


def test_instrumented_anthropic_cache_arithmetic_agrees(instrument, telemetry) -> None:
    instrument()
    agent = Agent(_anthropic_model(_anthropic_server()), capabilities=_instrumented(telemetry))
    assert agent.run_sync("Say hello.", model_settings=ANTHROPIC_SETTINGS).output == "Hello there."
    streamed = Agent(_anthropic_model(_anthropic_server(stream=True)), capabilities=_instrumented(telemetry))
    assert asyncio.run(_stream_text(streamed, model_settings=ANTHROPIC_SETTINGS))[-1] == "Hello there."

    assert ours(telemetry) == []
    plain, stream = _theirs(telemetry)
    assert set(_inference_spans(telemetry)) == {plain, stream}
    for chat, is_stream in ((plain, False), (stream, True)):
        attributes = chat.attributes
        _assert_sonnet(attributes, stream=is_stream)
        # pydantic-ai's inclusive input and its older name for cache writes agree with ours.
        assert attributes["gen_ai.usage.cache_creation.input_tokens"] == 3000
        assert attributes["operation.cost"] == exact(SONNET_COST)
        # Theirs is written last: "stop", their normalized reason, where ours said "end_turn".
        assert attributes["gen_ai.response.finish_reasons"] == ("stop",)


def test_instrumented_http_error_leaves_their_span_to_them(instrument, telemetry) -> None:
    instrument()
    server = openai_fakes.Server()
    server.json("/chat/completions", {"error": {"message": "boom", "type": "server_error"}}, status=500)
    agent = Agent(_openai_model(server), capabilities=_instrumented(telemetry))
    with pytest.raises(ModelHTTPError):
        agent.run_sync("Say hello.")
    assert ours(telemetry) == []
    (chat,) = _theirs(telemetry)
    assert chat.status.status_code == StatusCode.ERROR  # pydantic-ai's own
    assert not any(key.startswith("tokenomics.") for key in chat.attributes)
    (duration,) = _our_metrics(telemetry)["gen_ai.client.operation.duration"]
    assert duration.attributes["error.type"] == "InternalServerError"


def test_instrumented_fallback_keeps_the_answering_models_outcome(instrument, telemetry) -> None:
    """FallbackModel tries the next model under the same chat span: the failed call writes nothing."""
    instrument()
    failing = openai_fakes.Server()
    failing.json("/chat/completions", {"error": {"message": "boom", "type": "server_error"}}, status=500)
    model = FallbackModel(_openai_model(failing), _anthropic_model(_anthropic_server()))
    agent = Agent(model, capabilities=_instrumented(telemetry))
    assert agent.run_sync("Say hello.", model_settings=ANTHROPIC_SETTINGS).output == "Hello there."

    assert ours(telemetry) == []
    (chat,) = _inference_spans(telemetry)
    assert chat.status.status_code != StatusCode.ERROR
    assert "error.type" not in chat.attributes
    _assert_sonnet(chat.attributes)
    durations = _our_metrics(telemetry)["gen_ai.client.operation.duration"]
    assert sorted(str(p.attributes.get("error.type")) for p in durations) == ["InternalServerError", "None"]


def test_instrumented_embedder_folds_into_the_embeddings_span(instrument, telemetry) -> None:
    instrument()
    server = openai_fakes.Server()
    server.json("/embeddings", openai_fakes.embeddings_response(7))
    model = OpenAIEmbeddingModel(
        "text-embedding-3-small", provider=OpenAIProvider(openai_client=server.async_client())
    )
    result = Embedder(model, instrument=_settings(telemetry)).embed_query_sync("hello")
    assert result.usage.input_tokens == 7
    assert ours(telemetry) == []
    (span,) = _inference_spans(telemetry)
    assert span.instrumentation_scope.name == "pydantic-ai"
    assert span.attributes["gen_ai.operation.name"] == "embeddings"
    assert span.attributes["gen_ai.usage.input_tokens"] == 7
    assert span.attributes["tokenomics.cost.total"] == exact(7 * 0.02 / 1e6)


# -- the borrowing rules, on a framework span made by hand ----------------------------------------------


def _chat_route() -> Route:
    def read_response(call: Any, response: Any) -> None:
        pass

    return Route("chat", lambda body, attributes: None, read_response)


def test_a_framework_span_is_borrowed_once(telemetry) -> None:
    tokenomics = Tokenomics(Options(), telemetry.tracer_provider, telemetry.meter_provider)
    framework = telemetry.tracer_provider.get_tracer("pydantic-ai")
    route = _chat_route()
    with framework.start_as_current_span("chat m", attributes={"gen_ai.operation.name": "chat"}) as host:
        first = tokenomics.start_call(route, "openai", "m", None, None, False, {})
        assert isinstance(first.span, frameworks.BorrowedSpan)
        assert first.span.get_span_context() == host.get_span_context()
        first.end()
        # A second call under the same span is a call of its own: a span of ours, its child.
        second = tokenomics.start_call(route, "openai", "m", None, None, False, {})
        assert not isinstance(second.span, frameworks.BorrowedSpan)
        second.end()
    host_span, child = sorted(
        telemetry.spans(), key=lambda span: span.instrumentation_scope.name != "pydantic-ai"
    )
    assert host_span.attributes["tokenomics.usage.source"] == "unavailable"
    assert child.instrumentation_scope.name == SCOPE_NAME
    assert child.parent.span_id == host_span.context.span_id


def test_a_failed_call_frees_the_span_for_the_next(telemetry) -> None:
    tokenomics = Tokenomics(Options(), telemetry.tracer_provider, telemetry.meter_provider)
    framework = telemetry.tracer_provider.get_tracer("pydantic-ai")
    route = _chat_route()
    with framework.start_as_current_span("chat m", attributes={"gen_ai.operation.name": "chat"}):
        failed = tokenomics.start_call(route, "openai", "m", None, None, False, {})
        failed.fail(RuntimeError("boom"))
        retried = tokenomics.start_call(route, "openai", "m", None, None, False, {})
        assert isinstance(retried.span, frameworks.BorrowedSpan)
        retried.end()
    (host,) = telemetry.spans()
    assert "error.type" not in host.attributes
    assert host.status.status_code == StatusCode.UNSET
    assert host.attributes["tokenomics.usage.source"] == "unavailable"


@pytest.mark.parametrize(
    ("scope", "operation"),
    [("app", "chat"), ("pydantic-ai", "invoke_agent"), ("pydantic-ai", "embeddings")],
)
def test_other_spans_are_parents_not_hosts(telemetry, scope: str, operation: str) -> None:
    """An app span, an agent run span, or a framework span of another operation: ours is a child."""
    tokenomics = Tokenomics(Options(), telemetry.tracer_provider, telemetry.meter_provider)
    tracer = telemetry.tracer_provider.get_tracer(scope)
    with tracer.start_as_current_span("outer", attributes={"gen_ai.operation.name": operation}):
        call = tokenomics.start_call(_chat_route(), "openai", "m", None, None, False, {})
        assert not isinstance(call.span, frameworks.BorrowedSpan)
        call.end()
    assert len(telemetry.spans()) == 2


def test_an_ended_framework_span_is_not_borrowed(telemetry) -> None:
    tokenomics = Tokenomics(Options(), telemetry.tracer_provider, telemetry.meter_provider)
    host = telemetry.tracer_provider.get_tracer("pydantic-ai").start_span(
        "chat m", attributes={"gen_ai.operation.name": "chat"}
    )
    host.end()
    with trace.use_span(host):
        call = tokenomics.start_call(_chat_route(), "openai", "m", None, None, False, {})
    assert not isinstance(call.span, frameworks.BorrowedSpan)
    call.end()
    assert len(telemetry.spans()) == 2


def test_attributes_are_dropped_if_the_framework_ends_its_span_first(telemetry, caplog) -> None:
    tokenomics = Tokenomics(Options(), telemetry.tracer_provider, telemetry.meter_provider)
    framework = telemetry.tracer_provider.get_tracer("pydantic-ai")
    with framework.start_as_current_span("chat m", attributes={"gen_ai.operation.name": "chat"}):
        call = tokenomics.start_call(_chat_route(), "openai", "m", None, None, True, {})
    call.end_stream("closed_early")
    (host,) = telemetry.spans()
    assert not [record for record in caplog.records if "ended span" in record.getMessage()]
    assert not any(key.startswith("tokenomics.") for key in host.attributes)
