"""OpenAI chat streams: the usage we ask for, hidden from the app, and the estimate when there is none.

The fake server answers like OpenAI: the usage-only chunk comes only when the
request has ``stream_options.include_usage``.
"""

from __future__ import annotations

import asyncio
import gc

import openai
import pytest
from openai_fakes import CHAT_USAGE, HTTP, Server, chat_chunks, requires, sse

MESSAGES = [{"role": "user", "content": "Say hello."}]
# "Say hello." to gpt-4o-mini: 3 (message) + 1 ("user") + 3 ("Say", " hello", ".") + 3 (reply priming).
PROMPT_TOKENS = 10
# "Hello there." in o200k_base: "Hello", " there", ".".
OUTPUT_TOKENS = 3
# gpt-4o-mini per million tokens: $0.15 input, $0.60 output.
INPUT_PRICE = 0.15e-6
OUTPUT_PRICE = 0.60e-6


def _server(usage=CHAT_USAGE) -> Server:
    server = Server()
    server.chat_stream(usage=usage)
    # Azure OpenAI names the deployment in the path.
    server.chat_stream(usage=usage, path="/deployments/gpt-4o-mini/chat/completions")
    return server


def _without_instrumentation(**create) -> list[dict]:
    """What the SDK alone yields for the same call."""
    stream = _server().client().chat.completions.create(**create)
    return [chunk.model_dump() for chunk in stream]


def _assert_estimated(attributes, input_tokens: int, output_tokens: int) -> None:
    assert attributes["tokenomics.usage.source"] == "estimated"
    assert attributes["tokenomics.usage.tokenizer"] == "o200k_base"
    assert attributes["gen_ai.usage.input_tokens"] == input_tokens
    assert attributes["gen_ai.usage.output_tokens"] == output_tokens
    assert attributes["tokenomics.cost.status"] == "estimated"
    assert attributes["tokenomics.cost.input"] == pytest.approx(input_tokens * INPUT_PRICE, rel=1e-12)
    assert attributes["tokenomics.cost.output"] == pytest.approx(output_tokens * OUTPUT_PRICE, rel=1e-12)
    assert attributes["tokenomics.cost.total"] == pytest.approx(
        input_tokens * INPUT_PRICE + output_tokens * OUTPUT_PRICE, rel=1e-12
    )


# -- include_usage, asked for by us ------------------------------------------------------------


def test_usage_is_requested_from_openai_and_its_chunk_hidden(instrument, telemetry) -> None:
    create = {"model": "gpt-4o-mini", "messages": MESSAGES, "stream": True}
    expected = _without_instrumentation(**create)
    instrument()
    server = _server()
    chunks = [chunk.model_dump() for chunk in server.client().chat.completions.create(**create)]
    # The app sees exactly the chunks it would see without us: no usage-only chunk.
    assert chunks == expected
    assert all(chunk["choices"] for chunk in chunks)
    assert server.request_json()["stream_options"] == {"include_usage": True}
    attributes = telemetry.span().attributes
    assert attributes["tokenomics.stream.usage_requested"] is True
    assert attributes["tokenomics.usage.source"] == "provider"
    assert "tokenomics.usage.tokenizer" not in attributes
    assert attributes["gen_ai.usage.input_tokens"] == 2048
    assert attributes["gen_ai.usage.output_tokens"] == 612
    assert attributes["tokenomics.stream.chunk_count"] == len(expected) == 5
    assert attributes["tokenomics.stream.outcome"] == "completed"
    assert attributes["tokenomics.cost.status"] == "priced"


def test_async_stream_hides_the_usage_chunk(instrument, telemetry) -> None:
    create = {"model": "gpt-4o-mini", "messages": MESSAGES, "stream": True}
    expected = _without_instrumentation(**create)
    instrument()
    server = _server()

    async def main() -> list[dict]:
        stream = await server.async_client().chat.completions.create(**create)
        return [chunk.model_dump() async for chunk in stream]

    assert asyncio.run(main()) == expected
    assert server.request_json()["stream_options"] == {"include_usage": True}
    assert telemetry.span().attributes["gen_ai.usage.output_tokens"] == 612


def test_next_by_hand_never_returns_the_hidden_chunk(instrument, telemetry) -> None:
    instrument()
    stream = _server().client().chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    received = []
    while True:
        try:
            received.append(next(stream))
        except StopIteration:
            break
    assert [chunk.choices[0].finish_reason for chunk in received] == [None, None, None, None, "stop"]
    assert telemetry.span().attributes["gen_ai.usage.input_tokens"] == 2048


@requires("chat_stream_helper")
def test_stream_helper_sees_what_it_would_see_without_us(instrument, telemetry) -> None:
    def events() -> tuple[list[str], object]:
        client = _server().client()
        # GA since openai 1.92; the beta namespace before.
        completions = client.chat.completions
        helper = completions.stream if hasattr(completions, "stream") else client.beta.chat.completions.stream
        with helper(model="gpt-4o-mini", messages=MESSAGES) as stream:
            kinds = [event.type for event in stream]
            return kinds, stream.get_final_completion().usage

    expected_kinds, expected_usage = events()
    instrument()
    kinds, usage = events()
    assert kinds == expected_kinds
    assert usage == expected_usage is None
    attributes = telemetry.span().attributes
    assert attributes["tokenomics.stream.usage_requested"] is True
    assert attributes["gen_ai.usage.input_tokens"] == 2048


def test_azure_openai_from_2024_08_01_gets_it(instrument, telemetry) -> None:
    instrument()
    server = _server()
    stream = server.azure_client().chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True
    )
    assert all(chunk.choices for chunk in stream)
    assert server.request_json()["stream_options"] == {"include_usage": True}
    assert telemetry.span().attributes["gen_ai.usage.output_tokens"] == 612


def test_older_azure_api_version_is_not_sent_what_it_rejects(instrument, telemetry) -> None:
    instrument()
    server = _server()
    client = openai.AzureOpenAI(
        azure_endpoint="https://contoso.openai.azure.com",
        api_key="azure-secret",
        api_version="2024-06-01",
        http_client=server.http_client(),
        max_retries=0,
    )
    list(client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True))
    assert "stream_options" not in server.request_json()
    _assert_estimated(telemetry.span().attributes, PROMPT_TOKENS, OUTPUT_TOKENS)


def test_unknown_endpoint_is_left_alone_and_estimated(instrument, telemetry) -> None:
    instrument()
    server = _server()
    client = server.client(base_url="http://localhost:8000/v1")
    chunks = list(client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Hello there."
    assert "stream_options" not in server.request_json()
    attributes = telemetry.span().attributes
    assert "tokenomics.stream.usage_requested" not in attributes
    _assert_estimated(attributes, PROMPT_TOKENS, OUTPUT_TOKENS)
    assert attributes["tokenomics.stream.outcome"] == "completed"
    # Estimated usage counts in the metrics, its cost marked estimated.
    points = telemetry.metrics()
    usage = {p.attributes["gen_ai.token.type"]: p.sum for p in points["gen_ai.client.token.usage"]}
    assert usage == {"input": PROMPT_TOKENS, "output": OUTPUT_TOKENS}
    assert {p.attributes["tokenomics.cost.status"] for p in points["tokenomics.cost"]} == {"estimated"}


def test_always_asks_any_endpoint(instrument, telemetry, monkeypatch) -> None:
    monkeypatch.setenv("OTEL_TOKENOMICS_STREAM_USAGE", "always")
    instrument()
    server = _server()
    client = server.client(base_url="http://localhost:8000/v1")
    chunks = list(client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True))
    assert len(chunks) == 5
    assert server.request_json()["stream_options"] == {"include_usage": True}
    assert telemetry.span().attributes["tokenomics.usage.source"] == "provider"


@pytest.mark.parametrize("setting", [{"env": "never"}, {"env": "false"}, {"option": False}])
def test_switched_off(instrument, telemetry, monkeypatch, setting) -> None:
    if "env" in setting:
        monkeypatch.setenv("OTEL_TOKENOMICS_STREAM_USAGE", setting["env"])
        instrument()
    else:
        instrument(stream_usage=setting["option"])
    server = _server()
    list(server.client().chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True))
    assert "stream_options" not in server.request_json()
    _assert_estimated(telemetry.span().attributes, PROMPT_TOKENS, OUTPUT_TOKENS)


@requires("stream_options")
@pytest.mark.parametrize("options", [{"include_usage": False}, None, {"include_obfuscation": False}])
def test_stream_options_set_by_the_user_are_never_touched(instrument, telemetry, options) -> None:
    create = {"model": "gpt-4o-mini", "messages": MESSAGES, "stream": True, "stream_options": options}
    expected = _without_instrumentation(**create)
    instrument()
    server = _server()
    chunks = [c.model_dump() for c in server.client().chat.completions.create(**create)]
    assert chunks == expected
    assert server.request_json()["stream_options"] == options
    attributes = telemetry.span().attributes
    assert "tokenomics.stream.usage_requested" not in attributes
    _assert_estimated(attributes, PROMPT_TOKENS, OUTPUT_TOKENS)


@requires("stream_options")
def test_usage_chunk_the_user_asked_for_reaches_the_user(instrument, telemetry) -> None:
    create = {"model": "gpt-4o-mini", "messages": MESSAGES, "stream": True}
    create["stream_options"] = {"include_usage": True}
    expected = _without_instrumentation(**create)
    instrument()
    chunks = [c.model_dump() for c in _server().client().chat.completions.create(**create)]
    assert chunks == expected
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["prompt_tokens"] == 2048
    attributes = telemetry.span().attributes
    assert "tokenomics.stream.usage_requested" not in attributes
    assert attributes["tokenomics.stream.chunk_count"] == 6


@requires("streaming_response")
def test_raw_streaming_response_is_not_changed(instrument, telemetry) -> None:
    instrument()
    server = _server()
    client = server.client()
    with client.chat.completions.with_streaming_response.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True
    ) as response:
        lines = [line for line in response.iter_lines() if line]
    assert "stream_options" not in server.request_json()
    assert not any('"choices": []' in line for line in lines)


# -- estimates when the stream ends without usage --------------------------------------------


def _unasked(**client_options) -> openai.OpenAI:
    """A client of a server that never sends usage (a local OpenAI-compatible one)."""
    return _server(usage=None).client(base_url="http://localhost:8000/v1", **client_options)


@requires("stream_close")
def test_break_early_estimates_what_was_streamed(instrument, telemetry) -> None:
    instrument()
    stream = _unasked().chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    for chunk in stream:
        if chunk.choices[0].delta.content == "Hel":
            break
    stream.close()
    attributes = telemetry.span().attributes
    assert attributes["tokenomics.stream.outcome"] == "closed_early"
    _assert_estimated(attributes, PROMPT_TOKENS, 1)  # "Hel"


@requires("stream_close")
def test_close_before_reading_estimates_the_input(instrument, telemetry) -> None:
    instrument()
    stream = _unasked().chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    stream.close()
    attributes = telemetry.span().attributes
    assert attributes["tokenomics.stream.outcome"] == "closed_early"
    _assert_estimated(attributes, PROMPT_TOKENS, 0)


def test_abandoned_stream_is_estimated_when_collected(instrument, telemetry) -> None:
    instrument()
    stream = _unasked().chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    next(stream)
    next(stream)  # "Hel"
    del stream
    gc.collect()
    attributes = telemetry.span().attributes
    assert attributes["tokenomics.stream.outcome"] == "abandoned"
    _assert_estimated(attributes, PROMPT_TOKENS, 1)


def test_stream_failing_midway_is_estimated_up_to_the_failure(instrument, telemetry) -> None:
    instrument()
    server = Server()

    def body():
        yield sse(chat_chunks(("Hello", " there"))[:3], done=False)
        raise HTTP.ReadError("connection reset")

    server.routes["/chat/completions"] = lambda request: HTTP.Response(
        200, headers={"content-type": "text/event-stream"}, content=body()
    )
    stream = server.client().chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    with pytest.raises((openai.APIConnectionError, HTTP.ReadError)):
        list(stream)
    attributes = telemetry.span().attributes
    assert attributes["tokenomics.stream.outcome"] == "failed"
    _assert_estimated(attributes, PROMPT_TOKENS, 2)  # "Hello there"


def test_request_rejected_is_not_estimated(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.json("/chat/completions", {"error": {"message": "bad"}}, status=400)
    with pytest.raises(openai.BadRequestError):
        server.client().chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    attributes = telemetry.span().attributes
    assert attributes["tokenomics.usage.source"] == "unavailable"
    assert attributes["tokenomics.cost.status"] == "no_usage"


def test_estimation_switched_off(instrument, telemetry) -> None:
    instrument(estimate_usage=False)
    list(_unasked().chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True))
    attributes = telemetry.span().attributes
    assert attributes["tokenomics.usage.source"] == "unavailable"
    assert "gen_ai.usage.input_tokens" not in attributes


def test_non_streamed_answer_without_usage_is_estimated(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.json(
        "/chat/completions",
        {
            "id": "chatcmpl-local",
            "object": "chat.completion",
            "created": 1764201600,
            "model": "gpt-4o-mini",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "Hello there."},
                    "finish_reason": "stop",
                }
            ],
        },
    )
    client = server.client(base_url="http://localhost:8000/v1")
    answer = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert answer.usage is None
    _assert_estimated(telemetry.span().attributes, PROMPT_TOKENS, OUTPUT_TOKENS)


def test_time_per_output_chunk_on_the_span(instrument, telemetry) -> None:
    instrument()
    list(_server().client().chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True))
    attributes = telemetry.span().attributes
    assert attributes["tokenomics.stream.time_per_output_chunk"] > 0
    assert attributes["gen_ai.response.time_to_first_chunk"] > 0
    assert attributes["tokenomics.throughput.output_tokens_per_second"] > 0
    points = telemetry.metrics()
    assert points["gen_ai.client.operation.time_per_output_chunk"][0].count == 1


def test_tool_call_deltas_are_counted_as_output(instrument, telemetry) -> None:
    """A streamed tool call: its name and argument deltas are the output (no content at all)."""
    instrument()
    base = chat_chunks(())[0]
    call_start = {"index": 0, "id": "call_1", "type": "function", "function": {"name": "get_weather"}}
    pieces = ['{"location": ', '"Paris"}']
    chunks = [
        {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "tool_calls": [call_start]}}]},
        *[
            {
                **base,
                "choices": [
                    {"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": p}}]}}
                ],
            }
            for p in pieces
        ],
        {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
    ]
    for chunk in chunks[:-1]:
        chunk["choices"][0]["finish_reason"] = None
    server = Server()
    server.stream("/chat/completions", sse(chunks))
    client = server.client(base_url="http://localhost:8000/v1")
    list(client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True))
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.response.finish_reasons"] == ("tool_calls",)
    # o200k_base on the joined text 'get_weather{"location": "Paris"}': "get", "_weather",
    # then the 6 tokens of the arguments.
    _assert_estimated(attributes, PROMPT_TOKENS, 8)
