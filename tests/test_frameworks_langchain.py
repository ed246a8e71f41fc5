"""LangChain over the openai and anthropic SDKs: one inference span per model call.

langchain-openai calls the SDK as ``client.with_raw_response.create`` (invoke,
ainvoke, batch), ``client.create(stream=True)`` (stream, astream) and
``chat.completions.with_raw_response.parse`` (with_structured_output);
langchain-anthropic as ``messages.with_raw_response.create`` for all of them. Each
is one pass through the SDK's ``request()``, so one span of ours.

LangChain opens no OpenTelemetry spans of its own: our span nests under the app's
current span, or under a callback handler's run span when the handler makes it
current (the tiny handler below; it must be ``run_inline`` for async runs).

Prices (catalog, USD per million tokens):

* gpt-4o-mini: input $0.15, cache read $0.075, output $0.60. CHAT_USAGE: 2,048 in
  (1,536 cached, so 512 uncached), 612 out: 512 x 0.15 + 1,536 x 0.075 + 612 x 0.60
  = $0.0005592.
* claude-sonnet-4-5: input $3, cache read $0.30, cache write 5m $3.75, 1h $6, output
  $15. USAGE: 1,200 uncached + 40,000 read + 1,000 5m + 2,000 1h in, 800 out = $0.04335.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import anthropic
import anthropic_fakes
import openai
import openai_fakes
import pytest
from anthropic_fakes import HTTP, exact
from framework_fakes import (
    GPT_COST,
    SONNET_COST,
    app_span,
    openai_server,
    openai_stream_server,
    ours,
    tool_loop_server,
)
from langchain_anthropic import ChatAnthropic
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, ToolMessage
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import StatusCode
from pydantic import BaseModel

from otel_tokenomics.telemetry import SCOPE_NAME

pytestmark = pytest.mark.filterwarnings("ignore:.*deprecated:DeprecationWarning")


# -- clients over the mock transports -------------------------------------------------------


def _chat_openai(server: openai_fakes.Server, **kwargs: Any) -> ChatOpenAI:
    kwargs.setdefault("stream_usage", True)
    return ChatOpenAI(
        model="gpt-4o-mini",
        api_key="sk-test-secret-key",
        http_client=server.http_client(),
        http_async_client=server.async_http_client(),
        max_retries=0,
        **kwargs,
    )


def _chat_anthropic(server: anthropic_fakes.Server) -> ChatAnthropic:
    model = ChatAnthropic(model=anthropic_fakes.MODEL, api_key="test-key", max_tokens=1024, max_retries=0)
    # ChatAnthropic takes no http_client: its SDK clients are cached properties, set here first.
    model.__dict__["_client"] = server.client()
    model.__dict__["_async_client"] = server.async_client()
    return model


def _assert_gpt_span(span: Any, *, stream: bool = False) -> None:
    attributes = span.attributes
    assert span.name == "chat gpt-4o-mini"
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.provider.name"] == "openai"
    assert attributes["gen_ai.request.model"] == "gpt-4o-mini"
    assert attributes["gen_ai.response.model"] == "gpt-4o-mini-2024-07-18"
    assert attributes["gen_ai.usage.input_tokens"] == 2048
    assert attributes["gen_ai.usage.cache_read.input_tokens"] == 1536
    assert attributes["gen_ai.usage.output_tokens"] == 612
    assert attributes["gen_ai.usage.reasoning.output_tokens"] == 256
    assert attributes["tokenomics.usage.source"] == "provider"
    assert attributes["tokenomics.cost.status"] == "priced"
    assert attributes["tokenomics.cost.input"] == exact(512 * 0.15 / 1e6)
    assert attributes["tokenomics.cost.cache_read"] == exact(1536 * 0.075 / 1e6)
    assert attributes["tokenomics.cost.output"] == exact(612 * 0.6 / 1e6)
    assert attributes["tokenomics.cost.total"] == exact(GPT_COST)
    assert attributes.get("gen_ai.request.stream", False) is stream
    assert span.status.status_code == StatusCode.UNSET


def _assert_sonnet_span(span: Any, *, stream: bool = False) -> None:
    attributes = span.attributes
    assert span.name == f"chat {anthropic_fakes.MODEL}"
    assert attributes["gen_ai.provider.name"] == "anthropic"
    assert attributes["gen_ai.request.max_tokens"] == 1024
    # Anthropic's input_tokens excludes the cache; semconv input includes it.
    assert attributes["gen_ai.usage.input_tokens"] == 1200 + 40000 + 3000
    assert attributes["gen_ai.usage.cache_read.input_tokens"] == 40000
    assert attributes["gen_ai.usage.cache_write.input_tokens"] == 3000
    assert attributes["tokenomics.usage.cache_write.ttl_5m.input_tokens"] == 1000
    assert attributes["tokenomics.usage.cache_write.ttl_1h.input_tokens"] == 2000
    assert attributes["gen_ai.usage.output_tokens"] == 800
    assert attributes["gen_ai.response.finish_reasons"] == ("end_turn",)
    assert attributes["tokenomics.cost.cache_write"] == exact(1000 * 3.75 / 1e6 + 2000 * 6 / 1e6)
    assert attributes["tokenomics.cost.total"] == exact(SONNET_COST)
    assert attributes.get("gen_ai.request.stream", False) is stream


def _our_metrics(telemetry: Any) -> dict[str, list[Any]]:
    points: dict[str, list[Any]] = {}
    data = telemetry.reader.get_metrics_data()
    for resource_metrics in data.resource_metrics if data else ():
        for scope_metrics in resource_metrics.scope_metrics:
            if scope_metrics.scope.name == SCOPE_NAME:
                for metric in scope_metrics.metrics:
                    points.setdefault(metric.name, []).extend(metric.data.data_points)
    return points


def _chunk_view(chunks: list[Any]) -> list[tuple[Any, ...]]:
    """What a user reads from the chunks; LangChain's run ids differ from run to run."""
    return [
        (type(c), c.content, c.usage_metadata, c.response_metadata, c.tool_call_chunks, c.chunk_position)
        for c in chunks
    ]


# -- ChatOpenAI ----------------------------------------------------------------------------------


def test_invoke_is_one_span_under_the_app_span(instrument, telemetry) -> None:
    instrument()
    server = openai_server()
    with app_span(telemetry):
        message = _chat_openai(server).invoke("Say hello.")
    assert isinstance(message, AIMessage)
    assert message.content == "Hello there."
    assert message.usage_metadata == {
        "input_tokens": 2048,
        "output_tokens": 612,
        "total_tokens": 2660,
        "input_token_details": {"audio": 0, "cache_read": 1536},
        "output_token_details": {"audio": 0, "reasoning": 256},
    }
    # langchain-openai asks for the raw response (headers); it is one SDK request.
    assert server.requests[0].headers["x-stainless-raw-response"] == "true"
    (span,) = ours(telemetry)
    (app,) = [s for s in telemetry.spans() if s.name == "app"]
    assert span.parent.span_id == app.context.span_id
    _assert_gpt_span(span)
    assert span.attributes["gen_ai.response.finish_reasons"] == ("stop",)

    points = _our_metrics(telemetry)
    usage = {p.attributes["gen_ai.token.type"]: p.sum for p in points["gen_ai.client.token.usage"]}
    assert usage == {"input": 2048, "output": 612}


def test_ainvoke(instrument, telemetry) -> None:
    instrument()
    server = openai_server()

    async def main() -> Any:
        with app_span(telemetry):
            return await _chat_openai(server).ainvoke("Say hello.")

    message = asyncio.run(main())
    assert message.usage_metadata["input_tokens"] == 2048
    (span,) = ours(telemetry)
    assert span.parent is not None
    _assert_gpt_span(span)


def test_stream_chunks_are_unchanged_and_usage_is_langchains_request(instrument, telemetry) -> None:
    # stream_usage=True makes LangChain itself send stream_options.include_usage; we add nothing.
    expected = _chunk_view(list(_chat_openai(openai_stream_server()).stream("Say hello.")))
    instrument()
    server = openai_stream_server()
    chunks = list(_chat_openai(server).stream("Say hello."))
    assert _chunk_view(chunks) == expected
    assert all(isinstance(chunk, AIMessageChunk) for chunk in chunks)
    assert server.request_json()["stream_options"] == {"include_usage": True}
    (span,) = ours(telemetry)
    _assert_gpt_span(span, stream=True)
    assert span.attributes["tokenomics.stream.outcome"] == "completed"
    assert span.attributes["tokenomics.stream.chunk_count"] == 6


def test_astream(instrument, telemetry) -> None:
    async def collect(model: ChatOpenAI) -> list[Any]:
        return [chunk async for chunk in model.astream("Say hello.")]

    expected = _chunk_view(asyncio.run(collect(_chat_openai(openai_stream_server()))))
    instrument()
    chunks = asyncio.run(collect(_chat_openai(openai_stream_server())))
    assert _chunk_view(chunks) == expected
    (span,) = ours(telemetry)
    _assert_gpt_span(span, stream=True)
    assert span.attributes["tokenomics.stream.outcome"] == "completed"


def test_stream_without_stream_usage_gets_usage_langchain_never_sees(instrument, telemetry) -> None:
    """A custom client turns LangChain's stream_usage default off: we ask OpenAI for the usage,
    and LangChain gets the chunks it would get without us (no usage on its messages)."""
    expected = list(_chat_openai(openai_stream_server(), stream_usage=None).stream("Say hello."))
    instrument()
    server = openai_stream_server()
    model = _chat_openai(server, stream_usage=None)
    chunks = list(model.stream("Say hello."))
    assert "".join(str(chunk.content) for chunk in chunks) == "Hello there."
    assert [c.usage_metadata for c in chunks] == [c.usage_metadata for c in expected]
    assert len(chunks) == len(expected)
    assert server.request_json()["stream_options"] == {"include_usage": True}
    (span,) = ours(telemetry)
    assert span.attributes["tokenomics.usage.source"] == "provider"
    assert span.attributes["gen_ai.usage.input_tokens"] == 2048


def test_stream_closed_early_ends_the_span_once(instrument, telemetry) -> None:
    instrument()
    stream = _chat_openai(openai_stream_server()).stream("Say hello.")
    first = next(stream)
    assert isinstance(first, AIMessageChunk)
    stream.close()  # what a `break` does once the generator is dropped
    (span,) = ours(telemetry)
    assert span.attributes["tokenomics.stream.outcome"] == "closed_early"
    # Left before the usage chunk: the input is estimated ("Say hello." framed: 10 tokens).
    assert span.attributes["tokenomics.usage.source"] == "estimated"
    assert span.attributes["gen_ai.usage.input_tokens"] == 10


def test_batch_is_one_span_per_input(instrument, telemetry) -> None:
    instrument()
    server = openai_server()
    with app_span(telemetry):
        messages = _chat_openai(server).batch(["a", "b", "c"])
    assert [m.content for m in messages] == ["Hello there."] * 3
    spans = ours(telemetry)
    assert len(spans) == 3 == len(server.requests)
    (app,) = [s for s in telemetry.spans() if s.name == "app"]
    for span in spans:
        _assert_gpt_span(span)
        # batch runs on a thread pool with the caller's context copied.
        assert span.parent.span_id == app.context.span_id
    points = _our_metrics(telemetry)
    usage = {p.attributes["gen_ai.token.type"]: p.sum for p in points["gen_ai.client.token.usage"]}
    assert usage == {"input": 3 * 2048, "output": 3 * 612}


def test_abatch_is_one_span_per_input(instrument, telemetry) -> None:
    instrument()
    server = openai_server()
    messages = asyncio.run(_chat_openai(server).abatch(["a", "b"]))
    assert len(messages) == 2
    spans = ours(telemetry)
    assert len(spans) == 2
    for span in spans:
        _assert_gpt_span(span)


@tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"Sunny in {city}."


def test_tool_calling_loop_is_one_span_per_model_call(instrument, telemetry) -> None:
    instrument()
    server = tool_loop_server()
    model = _chat_openai(server).bind_tools([get_weather])
    with app_span(telemetry):
        messages: list[Any] = [HumanMessage("Weather in Paris?")]
        reply = model.invoke(messages)
        messages.append(reply)
        for call in reply.tool_calls:
            messages.append(ToolMessage(get_weather.invoke(call["args"]), tool_call_id=call["id"]))
        final = model.invoke(messages)
    assert final.content == "It is sunny in Paris."
    assert server.request_json(0)["tools"][0]["function"]["name"] == "get_weather"

    first, second = sorted(ours(telemetry), key=lambda span: span.start_time)
    assert first.attributes["gen_ai.response.finish_reasons"] == ("tool_calls",)
    assert first.attributes["gen_ai.usage.input_tokens"] == 300
    assert first.attributes["gen_ai.usage.output_tokens"] == 20
    assert first.attributes["tokenomics.cost.total"] == exact(300 * 0.15 / 1e6 + 20 * 0.6 / 1e6)
    assert second.attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert second.attributes["gen_ai.usage.input_tokens"] == 400
    assert second.attributes["gen_ai.usage.cache_read.input_tokens"] == 256
    assert second.attributes["gen_ai.usage.output_tokens"] == 10
    assert second.attributes["tokenomics.cost.total"] == exact(
        144 * 0.15 / 1e6 + 256 * 0.075 / 1e6 + 10 * 0.6 / 1e6
    )


class Weather(BaseModel):
    city: str
    sunny: bool


def test_with_structured_output_is_one_span(instrument, telemetry) -> None:
    instrument()
    server = openai_server(
        openai_fakes.chat_completion(
            model="gpt-4o-mini-2024-07-18", content=json.dumps({"city": "Paris", "sunny": True})
        )
    )
    result = _chat_openai(server).with_structured_output(Weather).invoke("Weather in Paris?")
    assert result == Weather(city="Paris", sunny=True)
    # parse(): a json_schema response format, sent through chat.completions.with_raw_response.parse.
    assert server.request_json()["response_format"]["type"] == "json_schema"
    (span,) = ours(telemetry)
    _assert_gpt_span(span)


def test_http_error_reaches_the_user_as_without_instrumentation(instrument, telemetry) -> None:
    def failing() -> openai_fakes.Server:
        server = openai_fakes.Server()
        server.json("/chat/completions", {"error": {"message": "boom", "type": "server_error"}}, status=500)
        return server

    with pytest.raises(Exception) as plain:
        _chat_openai(failing()).invoke("Say hello.")
    instrument()
    with pytest.raises(Exception) as traced:
        _chat_openai(failing()).invoke("Say hello.")
    assert type(traced.value) is type(plain.value)
    assert str(traced.value) == str(plain.value)
    # Newer langchain-openai re-raise the SDK's error as a class of their own, from the SDK's.
    sdk_error = traced.value.__cause__ or traced.value
    assert type(sdk_error) is openai.InternalServerError
    (span,) = ours(telemetry)
    assert span.status.status_code == StatusCode.ERROR
    assert span.attributes["error.type"] == "InternalServerError"


# -- ChatAnthropic --------------------------------------------------------------------------------


def _anthropic_server(stream: bool = False) -> anthropic_fakes.Server:
    server = anthropic_fakes.Server()
    if stream:
        server.stream("/v1/messages", anthropic_fakes.sse(anthropic_fakes.events()))
    else:
        server.json("/v1/messages", anthropic_fakes.message())
    return server


def test_chat_anthropic_invoke_with_cache_tokens(instrument, telemetry) -> None:
    instrument()
    server = _anthropic_server()
    with app_span(telemetry):
        message = _chat_anthropic(server).invoke("Say hello.")
    assert isinstance(message, AIMessage)
    assert message.content == "Hello there."
    assert message.usage_metadata["input_tokens"] == 44200
    assert server.requests[0].headers["x-stainless-raw-response"] == "raw"
    (span,) = ours(telemetry)
    assert span.parent is not None
    _assert_sonnet_span(span)


def test_chat_anthropic_stream_with_cache_tokens(instrument, telemetry) -> None:
    expected = _chunk_view(list(_chat_anthropic(_anthropic_server(stream=True)).stream("Say hello.")))
    instrument()
    chunks = list(_chat_anthropic(_anthropic_server(stream=True)).stream("Say hello."))
    assert _chunk_view(chunks) == expected
    assert chunks[-1].usage_metadata["input_tokens"] == 44200
    (span,) = ours(telemetry)
    _assert_sonnet_span(span, stream=True)
    assert span.attributes["tokenomics.stream.outcome"] == "completed"


def _open_async_stream_client(payload: bytes) -> anthropic.AsyncAnthropic:
    """An async client whose stream body stays open until read, as over a network.

    The shared mock reads async bodies up front, which makes a with_raw_response
    stream look like an already-read JSON body.
    """

    async def handler(request: Any) -> Any:
        async def body() -> Any:
            yield payload

        return HTTP.Response(200, headers={"content-type": "text/event-stream"}, content=body())

    return anthropic.AsyncAnthropic(
        api_key="test-key", max_retries=0, http_client=HTTP.AsyncClient(transport=HTTP.MockTransport(handler))
    )


def test_chat_anthropic_ainvoke_and_astream(instrument, telemetry) -> None:
    """The async raw response of a stream is parsed by LangChain later: still one span."""
    instrument()
    streaming = _chat_anthropic(_anthropic_server())
    streaming.__dict__["_async_client"] = _open_async_stream_client(
        anthropic_fakes.sse(anthropic_fakes.events())
    )

    async def main() -> tuple[Any, list[Any]]:
        message = await _chat_anthropic(_anthropic_server()).ainvoke("Say hello.")
        chunks = [c async for c in streaming.astream("Say hello.")]
        return message, chunks

    message, chunks = asyncio.run(main())
    assert message.content == "Hello there."
    assert "".join(str(chunk.content) for chunk in chunks) == "Hello there."
    assert chunks[-1].usage_metadata["input_tokens"] == 44200
    plain, streamed = sorted(ours(telemetry), key=lambda span: span.start_time)
    _assert_sonnet_span(plain)
    _assert_sonnet_span(streamed, stream=True)
    assert streamed.attributes["tokenomics.stream.outcome"] == "completed"


# -- a callback handler that traces LangChain runs --------------------------------------------------


class RunSpans(BaseCallbackHandler):
    """A span per chain and chat-model run; the model run's span is made current while it runs.

    Parents come from LangChain's parent_run_id. Only the model run is made current:
    that is what the SDK call inside it sees. In async runs LangChain fires the end
    callback on another task, where the start's context token cannot be reset, so
    the end re-attaches the context the start found instead.
    """

    def __init__(self, tracer: Any, inline: bool = True) -> None:
        self.tracer = tracer
        self.run_inline = inline
        self.runs: dict[Any, tuple[Any, Any]] = {}

    def _start(self, run_id: Any, parent_run_id: Any, name: str, current: bool = False) -> None:
        parent = self.runs.get(parent_run_id)
        parent_context = trace.set_span_in_context(parent[0]) if parent else None
        span = self.tracer.start_span(name, context=parent_context)
        previous = otel_context.get_current() if current else None
        if current:
            otel_context.attach(trace.set_span_in_context(span))
        self.runs[run_id] = (span, previous)

    def _end(self, run_id: Any) -> None:
        span, previous = self.runs.pop(run_id)
        if previous is not None:
            otel_context.attach(previous)
        span.end()

    def on_chain_start(self, serialized: Any, inputs: Any, *, run_id: Any, **kwargs: Any) -> None:
        self._start(run_id, kwargs.get("parent_run_id"), f"chain {kwargs.get('name')}")

    def on_chain_end(self, outputs: Any, *, run_id: Any, **kwargs: Any) -> None:
        self._end(run_id)

    def on_chain_error(self, error: BaseException, *, run_id: Any, **kwargs: Any) -> None:
        self._end(run_id)

    def on_chat_model_start(self, serialized: Any, messages: Any, *, run_id: Any, **kwargs: Any) -> None:
        self._start(run_id, kwargs.get("parent_run_id"), "llm run", current=True)

    def on_llm_end(self, response: Any, *, run_id: Any, **kwargs: Any) -> None:
        self._end(run_id)

    def on_llm_error(self, error: BaseException, *, run_id: Any, **kwargs: Any) -> None:
        self._end(run_id)


def _run_chain(mode: str, chain: Any, config: dict[str, Any]) -> None:
    inputs = {"question": "Say hello."}
    if mode == "invoke":
        chain.invoke(inputs, config)
    elif mode == "ainvoke":
        asyncio.run(chain.ainvoke(inputs, config))
    elif mode == "batch":
        chain.batch([inputs, inputs], config)
    elif mode == "abatch":
        asyncio.run(chain.abatch([inputs, inputs], config))
    elif mode == "stream":
        list(chain.stream(inputs, config))
    else:

        async def consume() -> None:
            async for _ in chain.astream(inputs, config):
                pass

        asyncio.run(consume())


def _by_id(telemetry: Any) -> dict[int, Any]:
    return {span.context.span_id: span for span in telemetry.spans()}


def _parent_name(span: Any, spans: dict[int, Any]) -> str | None:
    return spans[span.parent.span_id].name if span.parent and span.parent.span_id in spans else None


@pytest.fixture
def clean_context() -> Iterator[None]:
    # The handler leaves its context attached where LangChain ends a run on another task.
    token = otel_context.attach(otel_context.Context())
    yield
    otel_context.detach(token)


@pytest.mark.parametrize("mode", ["invoke", "ainvoke", "batch", "abatch", "stream", "astream"])
def test_nests_under_a_callback_handlers_run_spans(instrument, telemetry, clean_context, mode) -> None:
    instrument()
    streamed = mode in ("stream", "astream")
    server = openai_stream_server() if streamed else openai_server()
    handler = RunSpans(telemetry.tracer_provider.get_tracer("langchain-callbacks"))
    chain = ChatPromptTemplate.from_messages([("user", "{question}")]) | _chat_openai(server)
    with app_span(telemetry):
        _run_chain(mode, chain, {"callbacks": [handler]})

    spans = _by_id(telemetry)
    our_spans = ours(telemetry)
    assert len(our_spans) == (2 if "batch" in mode else 1) == len(server.requests)
    for span in our_spans:
        _assert_gpt_span(span, stream=streamed)
        llm_run = spans[span.parent.span_id]
        assert llm_run.name == "llm run"
        assert _parent_name(llm_run, spans) == "chain RunnableSequence"
        assert _parent_name(spans[llm_run.parent.span_id], spans) == "app"


def test_a_handler_not_run_inline_cannot_parent_async_calls(instrument, telemetry, clean_context) -> None:
    """In async runs LangChain calls such a handler on a worker thread: what it makes current there
    is not the model call's context, so the call's span nests under the app's span instead."""
    instrument()
    server = openai_server()
    handler = RunSpans(telemetry.tracer_provider.get_tracer("langchain-callbacks"), inline=False)
    chain = ChatPromptTemplate.from_messages([("user", "{question}")]) | _chat_openai(server)
    with app_span(telemetry):
        _run_chain("ainvoke", chain, {"callbacks": [handler]})
    (span,) = ours(telemetry)
    _assert_gpt_span(span)
    assert _parent_name(span, _by_id(telemetry)) == "app"
