"""The rest of the openai SDK surface: helpers, parse, raw responses, Responses, embeddings, completions.

Each call is exactly one span, whatever helper made it.
"""

from __future__ import annotations

import asyncio
import gc

import openai
import pydantic
import pytest
from openai_fakes import (
    CHAT_USAGE,
    RESPONSES_USAGE,
    Server,
    chat_chunks,
    chat_completion,
    embeddings_response,
    requires,
    response_events,
    response_object,
    sse,
)
from opentelemetry.trace import StatusCode

MESSAGES = [{"role": "user", "content": "Capital of France?"}]


class Answer(pydantic.BaseModel):
    city: str


@requires("chat_parse")
def test_parse_is_one_span_with_json_output(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.json("/chat/completions", chat_completion(content='{"city": "Paris"}', model="gpt-4o-2024-08-06"))
    result = server.client().chat.completions.parse(model="gpt-4o", messages=MESSAGES, response_format=Answer)
    assert result.choices[0].message.parsed == Answer(city="Paris")
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.output.type"] == "json"
    assert attributes["gen_ai.usage.input_tokens"] == 2048
    assert attributes["gen_ai.response.model"] == "gpt-4o-2024-08-06"


@requires("chat_stream_helper")
def test_stream_helper_is_one_span_and_keeps_its_api(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.stream("/chat/completions", sse(chat_chunks(usage=CHAT_USAGE)))
    client = server.client()
    with client.chat.completions.stream(
        model="gpt-4o-mini", messages=MESSAGES, stream_options={"include_usage": True}
    ) as stream:
        deltas = [event.delta for event in stream if event.type == "content.delta"]
        final = stream.get_final_completion()
    assert "".join(deltas) == "Hello there."
    assert final.choices[0].message.content == "Hello there."
    assert final.usage.prompt_tokens == 2048
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.usage.output_tokens"] == 612
    assert attributes["tokenomics.stream.outcome"] == "completed"


@requires("chat_stream_helper")
def test_stream_helper_final_completion_only(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.stream("/chat/completions", sse(chat_chunks(usage=CHAT_USAGE)))
    with server.client().chat.completions.stream(model="gpt-4o-mini", messages=MESSAGES) as stream:
        assert stream.get_final_completion().choices[0].finish_reason == "stop"
    assert telemetry.span().attributes["gen_ai.response.finish_reasons"] == ("stop",)


def test_request_parameters_sent_through_extra_body_are_recorded(instrument, telemetry) -> None:
    """extra_body reaches the provider like any parameter; the span says what was sent."""
    instrument()
    server = Server()
    server.json("/chat/completions", chat_completion())
    server.client().chat.completions.create(
        model="gpt-4o", messages=MESSAGES, temperature=0.9, extra_body={"temperature": 0.1, "seed": 11}
    )
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.request.temperature"] == 0.1  # extra_body wins on the wire too
    assert attributes["gen_ai.request.seed"] == 11
    assert server.request_json()["temperature"] == 0.1


def test_with_raw_response(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.json("/chat/completions", chat_completion(), headers={"x-request-id": "req_42"})
    raw = server.client().chat.completions.with_raw_response.create(model="o4-mini", messages=MESSAGES)
    assert raw.headers["x-request-id"] == "req_42"
    # The span is already complete: the raw body was read with the response.
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.usage.input_tokens"] == 2048
    completion = raw.parse()
    assert completion.usage.completion_tokens == 612
    assert raw.parse() is completion


def test_with_raw_response_stream(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.stream("/chat/completions", sse(chat_chunks(usage=CHAT_USAGE)))
    raw = server.client().chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True
    )
    stream = raw.parse()
    assert isinstance(stream, openai.Stream)
    assert len(list(stream)) == 6
    assert telemetry.span().attributes["gen_ai.usage.input_tokens"] == 2048


@requires("streaming_response")
def test_with_streaming_response_parse(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.json("/chat/completions", chat_completion())
    with server.client().chat.completions.with_streaming_response.create(
        model="o4-mini", messages=MESSAGES
    ) as response:
        assert telemetry.spans() == []  # body not read yet
        completion = response.parse()
    assert completion.choices[0].message.content == "Hello there."
    assert telemetry.span().attributes["gen_ai.usage.output_tokens"] == 612


@requires("streaming_response")
def test_with_streaming_response_stream(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.stream("/chat/completions", sse(chat_chunks(usage=CHAT_USAGE)))
    with server.client().chat.completions.with_streaming_response.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True
    ) as response:
        chunks = list(response.parse())
    assert len(chunks) == 6
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.usage.input_tokens"] == 2048
    assert attributes["tokenomics.stream.outcome"] == "completed"


@requires("streaming_response")
def test_with_streaming_response_read_as_lines_ends_on_close(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.stream("/chat/completions", sse(chat_chunks()))
    with server.client().chat.completions.with_streaming_response.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True
    ) as response:
        lines = [line for line in response.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    span = telemetry.span()
    assert span.attributes["tokenomics.usage.source"] == "unavailable"
    gc.collect()
    assert len(telemetry.spans()) == 1


@requires("streaming_response")
def test_async_raw_and_streaming_response(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.json("/chat/completions", chat_completion())

    async def main() -> None:
        client = server.async_client()
        raw = await client.chat.completions.with_raw_response.create(model="o4-mini", messages=MESSAGES)
        assert raw.parse().usage.prompt_tokens == 2048
        async with client.chat.completions.with_streaming_response.create(
            model="o4-mini", messages=MESSAGES
        ) as response:
            parsed = await response.parse()
            assert parsed.usage.prompt_tokens == 2048

    asyncio.run(main())
    spans = telemetry.spans()
    assert [s.attributes["gen_ai.usage.input_tokens"] for s in spans] == [2048, 2048]


@requires("responses")
def test_responses_create(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.json("/responses", response_object(conversation={"id": "conv_77"}))
    response = server.client().responses.create(
        model="gpt-5",
        input="Capital of France?",
        instructions="Be brief.",
        max_output_tokens=1000,
        reasoning={"effort": "high"},
        previous_response_id="resp_prev",
        temperature=1.0,
        text={"format": {"type": "json_schema", "name": "a", "schema": {"type": "object"}}},
    )
    assert response.output_text == "Paris."
    span = telemetry.span()
    assert span.name == "chat gpt-5"
    attributes = dict(span.attributes)
    assert attributes["openai.api.type"] == "responses"
    assert attributes["gen_ai.request.max_tokens"] == 1000
    assert attributes["gen_ai.request.reasoning.level"] == "high"
    assert attributes["gen_ai.request.previous_response.id"] == "resp_prev"
    assert attributes["gen_ai.output.type"] == "json"
    assert attributes["gen_ai.conversation.id"] == "conv_77"
    assert attributes["gen_ai.response.id"] == "resp_123"
    assert attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert attributes["gen_ai.usage.input_tokens"] == 3000
    assert attributes["gen_ai.usage.cache_read.input_tokens"] == 1000
    assert attributes["gen_ai.usage.cache_write.input_tokens"] == 500
    assert attributes["gen_ai.usage.output_tokens"] == 900
    assert attributes["gen_ai.usage.reasoning.output_tokens"] == 700


@requires("responses")
def test_responses_incomplete_and_tool_calls(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.json(
        "/responses", response_object(status="incomplete", incomplete_details={"reason": "max_output_tokens"})
    )
    client = server.client()
    client.responses.create(model="gpt-5", input="x")
    tool_call = {
        "type": "function_call",
        "id": "fc_1",
        "call_id": "call_1",
        "name": "lookup",
        "arguments": "{}",
        "status": "completed",
    }
    server.json("/responses", response_object(output=[tool_call]))
    client.responses.create(model="gpt-5", input="x")
    reasons = [s.attributes["gen_ai.response.finish_reasons"] for s in telemetry.spans()]
    assert reasons == [("length",), ("tool_calls",)]


@requires("responses")
def test_responses_stream_and_helper(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.stream("/responses", sse(response_events(response_object()), named=True, done=False))
    client = server.client()
    events = list(client.responses.create(model="gpt-5", input="Capital?", stream=True))
    assert [e.type for e in events][-1] == "response.completed"
    with client.responses.stream(model="gpt-5", input="Capital?") as stream:
        text = "".join(e.delta for e in stream if e.type == "response.output_text.delta")
        final = stream.get_final_response()
    assert text == "Paris."
    assert final.usage.input_tokens == 3000
    spans = telemetry.spans()
    assert len(spans) == 2
    for span in spans:
        assert span.attributes["gen_ai.usage.input_tokens"] == 3000
        assert span.attributes["gen_ai.usage.cache_write.input_tokens"] == 500
        assert span.attributes["gen_ai.usage.reasoning.output_tokens"] == 700
        assert span.attributes["gen_ai.response.id"] == "resp_123"
        assert span.attributes["tokenomics.stream.outcome"] == "completed"


@requires("responses")
def test_responses_failed_event(instrument, telemetry) -> None:
    instrument()
    server = Server()
    failed = response_object(
        status="failed",
        usage={**RESPONSES_USAGE, "output_tokens": 0, "output_tokens_details": {"reasoning_tokens": 0}},
        error={"code": "server_error", "message": "boom"},
    )
    server.stream("/responses", sse(response_events(failed), named=True, done=False))
    list(server.client().responses.create(model="gpt-5", input="x", stream=True))
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.response.finish_reasons"] == ("error",)
    assert attributes["gen_ai.usage.input_tokens"] == 3000


@requires("responses")
def test_responses_parse(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.json("/responses", response_object(text='{"city": "Paris"}'))
    parsed = server.client().responses.parse(model="gpt-5", input="Capital?", text_format=Answer)
    assert parsed.output_parsed == Answer(city="Paris")
    assert telemetry.span().attributes["gen_ai.usage.output_tokens"] == 900


@requires("responses")
def test_responses_compact_is_billed(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.json(
        "/responses/compact",
        {
            "id": "cmp_1",
            "object": "response.compaction",
            "created_at": 1,
            "output": [],
            "usage": RESPONSES_USAGE,
            "context_compression": "enabled",
        },
    )
    server.client().responses.compact(model="gpt-5", input="long history")
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.conversation.compacted"] is True
    assert attributes["gen_ai.usage.input_tokens"] == 3000


@requires("dimensions")
def test_embeddings(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.json("/embeddings", embeddings_response(9, vector=[0.1] * 256))
    result = server.client().embeddings.create(
        model="text-embedding-3-small", input="hello world", dimensions=256, encoding_format="float"
    )
    assert len(result.data[0].embedding) == 256
    span = telemetry.span()
    assert span.name == "embeddings text-embedding-3-small"
    attributes = dict(span.attributes)
    assert attributes["gen_ai.operation.name"] == "embeddings"
    assert attributes["gen_ai.usage.input_tokens"] == 9
    assert "gen_ai.usage.output_tokens" not in attributes
    assert attributes["gen_ai.embeddings.dimension.count"] == 256
    assert attributes["gen_ai.request.encoding_formats"] == ("float",)
    # text-embedding-3-small: $0.02 per million input tokens, no output price.
    assert attributes["tokenomics.cost.status"] == "priced"
    assert attributes["tokenomics.cost.total"] == pytest.approx(0.00000018, rel=1e-12, abs=0)
    assert attributes["tokenomics.cost.input"] == pytest.approx(0.00000018, rel=1e-12, abs=0)
    assert attributes["tokenomics.cost.output"] == 0.0
    usage = telemetry.metrics()["gen_ai.client.token.usage"]
    assert [(p.attributes["gen_ai.token.type"], p.sum) for p in usage] == [("input", 9)]


@requires("stream_options")
def test_legacy_completions(instrument, telemetry) -> None:
    instrument()
    server = Server()
    usage = {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}
    server.json(
        "/completions",
        {
            "id": "cmpl-1",
            "object": "text_completion",
            "created": 1,
            "model": "gpt-3.5-turbo-instruct",
            "choices": [{"index": 0, "text": "done", "finish_reason": "length", "logprobs": None}],
            "usage": usage,
        },
    )
    client = server.client()
    client.completions.create(model="gpt-3.5-turbo-instruct", prompt="Say", max_tokens=7)
    chunk = {"id": "cmpl-2", "object": "text_completion", "created": 1, "model": "gpt-3.5-turbo-instruct"}
    events = [
        {**chunk, "choices": [{"index": 0, "text": t, "finish_reason": None, "logprobs": None}]}
        for t in ("a", "b")
    ]
    events.append({**chunk, "choices": [{"index": 0, "text": "", "finish_reason": "stop", "logprobs": None}]})
    events.append({**chunk, "choices": [], "usage": usage})
    server.stream("/completions", sse(events))
    list(
        client.completions.create(
            model="gpt-3.5-turbo-instruct", prompt="Say", stream=True, stream_options={"include_usage": True}
        )
    )
    first, second = telemetry.spans()
    assert first.name == "text_completion gpt-3.5-turbo-instruct"
    assert first.attributes["gen_ai.response.finish_reasons"] == ("length",)
    assert first.attributes["gen_ai.request.max_tokens"] == 7
    assert second.attributes["gen_ai.usage.output_tokens"] == 7
    assert second.attributes["gen_ai.response.finish_reasons"] == ("stop",)


def test_untraced_endpoints_make_no_span(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.json("/models", {"object": "list", "data": []})
    server.client().models.list()
    assert telemetry.spans() == []


@requires("chat_parse")
def test_beta_namespace_is_the_same_call(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.json("/chat/completions", chat_completion())
    client = server.client()
    chat = getattr(getattr(client, "beta", None), "chat", None)
    target = chat.completions if chat is not None else client.chat.completions
    target.parse(model="o4-mini", messages=MESSAGES)
    assert telemetry.span().status.status_code is StatusCode.UNSET
    assert len(telemetry.spans()) == 1


@requires("responses")
def test_responses_time_to_first_chunk_waits_for_output(instrument, telemetry) -> None:
    """response.created arrives before any output; the first chunk is the first delta."""
    import time

    from openai_fakes import HTTP

    instrument()
    events = response_events(response_object())
    opening, rest = sse(events[:3], named=True, done=False), sse(events[3:], named=True, done=False)

    def body():
        yield opening
        time.sleep(0.25)
        yield rest

    server = Server()
    server.routes["/responses"] = lambda request: HTTP.Response(
        200, headers={"content-type": "text/event-stream"}, content=body()
    )
    list(server.client().responses.create(model="gpt-5", input="x", stream=True))
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.response.time_to_first_chunk"] >= 0.25
    assert attributes["tokenomics.stream.chunk_count"] == 9
    (per_chunk,) = telemetry.metrics()["gen_ai.client.operation.time_per_output_chunk"]
    assert per_chunk.count == 1 and per_chunk.sum < 0.25  # between the two deltas only


@requires("chat_stream_helper", "stream_close")
def test_stream_helper_left_early_ends_at_exit(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.stream("/chat/completions", sse(chat_chunks(usage=CHAT_USAGE)))
    with server.client().chat.completions.stream(model="gpt-4o-mini", messages=MESSAGES) as stream:
        for _event in stream:
            break
        assert telemetry.spans() == []
    span = telemetry.span()  # ended by the helper's exit, not by the garbage collector
    assert span.attributes["tokenomics.stream.outcome"] == "closed_early"


@requires("responses")
def test_async_responses_helper_left_early(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.stream("/responses", sse(response_events(response_object()), named=True, done=False))

    async def main() -> None:
        async with server.async_client().responses.stream(model="gpt-5", input="x") as stream:
            async for _event in stream:
                break

    asyncio.run(main())
    assert telemetry.span().attributes["tokenomics.stream.outcome"] == "closed_early"
