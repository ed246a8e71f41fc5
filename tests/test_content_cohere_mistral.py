"""Opt-in message content for the cohere v2 client and the mistralai client, over the real SDKs.

What is recorded is the request and the answer in the GenAI semconv message shape,
exactly; on the span, in the ``gen_ai.client.inference.operation.details`` event, or both,
as the capture mode says. Content never changes the usage or the cost: each test checks
those too. Off by default is proven for both SDKs by tests/test_security.py.

Prices (USD per million tokens): command-a-03-2025 input 2.5, output 10;
mistral-large-2512 input 0.5, output 1.5; codestral-2508 input 0.3, output 0.9.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor

from otel_tokenomics import call as call_module
from otel_tokenomics.config import ENV_CAPTURE_CONTENT
from otel_tokenomics.providers.chat_content import ChatOutput

M = 1_000_000
MODES = ("SPAN_ONLY", "EVENT_ONLY", "SPAN_AND_EVENT")
CONTENT_KEYS = (
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.system_instructions",
    "gen_ai.tool.definitions",
)
EVENT = "gen_ai.client.inference.operation.details"
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
WEATHER_DEFINITION = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}


def exact(value: float) -> Any:
    return pytest.approx(value, rel=1e-12, abs=0)


def text(content: str) -> dict[str, Any]:
    return {"type": "text", "content": content}


def reasoning(content: str) -> dict[str, Any]:
    return {"type": "reasoning", "content": content}


def user(content: str) -> list[dict[str, Any]]:
    return [{"role": "user", "parts": [text(content)]}]


def answer(*parts: dict[str, Any], finish_reason: str | None = "stop") -> list[dict[str, Any]]:
    message: dict[str, Any] = {"role": "assistant", "parts": list(parts)}
    if finish_reason is not None:
        message["finish_reason"] = finish_reason
    return [message]


@dataclass
class Pipeline:
    telemetry: Any
    logs: InMemoryLogRecordExporter
    mode: str

    def span(self) -> Any:
        return self.telemetry.span()

    def content(self) -> dict[str, Any]:
        """The one call's content, read where the mode puts it; checked absent elsewhere."""
        span = self.span()
        on_span = {key: json.loads(span.attributes[key]) for key in CONTENT_KEYS if key in span.attributes}
        records = [record.log_record for record in self.logs.get_finished_logs()]
        if self.mode == "SPAN_ONLY":
            assert records == []
            return on_span
        (record,) = records
        assert record.event_name == EVENT
        assert record.span_id == span.context.span_id
        assert record.body is None
        in_event = {
            key: json.loads(record.attributes[key]) for key in CONTENT_KEYS if key in record.attributes
        }
        if self.mode == "EVENT_ONLY":
            assert on_span == {}
            return in_event
        assert on_span == in_event
        return on_span


@pytest.fixture
def capture(instrument: Any, telemetry: Any, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], Pipeline]:
    monkeypatch.delenv(ENV_CAPTURE_CONTENT, raising=False)
    monkeypatch.delenv("MISTRAL_SDK_TELEMETRY", raising=False)

    def start(mode: str) -> Pipeline:
        logs = InMemoryLogRecordExporter()
        logger_provider = LoggerProvider()
        logger_provider.add_log_record_processor(SimpleLogRecordProcessor(logs))
        instrument(capture_content=mode, logger_provider=logger_provider)
        return Pipeline(telemetry, logs, mode)

    return start


def cohere_fakes() -> Any:
    pytest.importorskip("cohere")
    import cohere_fakes

    return cohere_fakes


def mistral_fakes() -> Any:
    pytest.importorskip("mistralai")
    import mistral_fakes

    return mistral_fakes


# -- cohere ------------------------------------------------------------------------------------------

COHERE_MODEL = "command-a-03-2025"


def cohere_messages() -> list[Any]:
    """Every role, as dicts and as the SDK's models: the system prompt stays in the history."""
    import cohere

    return [
        {"role": "system", "content": "Be brief."},
        cohere.UserChatMessageV2(
            content=[
                cohere.TextContent(text="Weather in Paris? See:"),
                {"type": "image_url", "image_url": {"url": "https://example.com/sky.png"}},
            ]
        ),
        {
            "role": "assistant",
            "tool_plan": "I will look it up.",
            "tool_calls": [
                {
                    "id": "get_weather_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        cohere.ToolChatMessageV2(
            tool_call_id="get_weather_1",
            content=[{"type": "document", "document": {"data": {"sky": "clear"}, "id": "w1"}}],
        ),
        {"role": "user", "content": [{"type": "text", "text": "And tomorrow?"}]},
    ]


COHERE_INPUT = [
    {"role": "system", "parts": [text("Be brief.")]},
    {
        "role": "user",
        "parts": [
            text("Weather in Paris? See:"),
            {"type": "uri", "modality": "image", "uri": "https://example.com/sky.png"},
        ],
    },
    {
        "role": "assistant",
        "parts": [
            reasoning("I will look it up."),
            {
                "type": "tool_call",
                "id": "get_weather_1",
                "name": "get_weather",
                "arguments": '{"city": "Paris"}',
            },
        ],
    },
    {
        "role": "tool",
        "parts": [
            {
                "type": "tool_call_response",
                "id": "get_weather_1",
                "response": [{"type": "document", "document": {"data": {"sky": "clear"}, "id": "w1"}}],
            }
        ],
    },
    {"role": "user", "parts": [text("And tomorrow?")]},
]


def cohere_thinking_response(fakes: Any) -> dict[str, Any]:
    body = fakes.chat_response(usage_body=fakes.usage(120.0, 30.0))
    body["message"]["content"] = [
        {"type": "thinking", "thinking": "Clear today, so likely clear."},
        {"type": "text", "text": "Clear skies."},
    ]
    return body


def cohere_thinking_events(fakes: Any) -> list[dict[str, Any]]:
    """A reasoning model's stream: a thinking block (index 0), then the text (index 1)."""
    start, text_start, *deltas, text_end, end = fakes.stream_events(
        ("Clear ", "skies."), usage_body=fakes.usage(120.0, 30.0)
    )
    for delta in deltas:
        delta["index"] = 1
    text_start["index"] = text_end["index"] = 1
    thinking = [
        {
            "type": "content-start",
            "index": 0,
            "delta": {"message": {"content": {"type": "thinking", "thinking": ""}}},
        },
        {
            "type": "content-delta",
            "index": 0,
            "delta": {"message": {"content": {"thinking": "Clear today, "}}},
        },
        {
            "type": "content-delta",
            "index": 0,
            "delta": {"message": {"content": {"thinking": "so likely clear."}}},
        },
        {"type": "content-end", "index": 0},
    ]
    return [start, *thinking, text_start, *deltas, text_end, end]


COHERE_THINKING_OUTPUT = answer(reasoning("Clear today, so likely clear."), text("Clear skies."))
COHERE_COST = (120 * 2.5 + 30 * 10) / M


def assert_cohere_usage(span: Any) -> None:
    assert span.attributes["gen_ai.usage.input_tokens"] == 120
    assert span.attributes["gen_ai.usage.output_tokens"] == 30
    assert span.attributes["tokenomics.cost.total"] == exact(COHERE_COST)


@pytest.mark.parametrize("mode", MODES)
def test_cohere_chat_records_every_role_tool_and_the_thinking(capture, mode: str) -> None:
    pipeline = capture(mode)
    fakes = cohere_fakes()
    server = fakes.Server()
    server.chat(cohere_thinking_response(fakes))
    server.client().chat(model=COHERE_MODEL, messages=cohere_messages(), tools=[WEATHER_TOOL])
    assert pipeline.content() == {
        "gen_ai.input.messages": COHERE_INPUT,
        "gen_ai.tool.definitions": [WEATHER_DEFINITION],
        "gen_ai.output.messages": COHERE_THINKING_OUTPUT,
    }
    assert_cohere_usage(pipeline.span())


@pytest.mark.parametrize("mode", MODES)
def test_cohere_stream_gathers_thinking_and_text(capture, mode: str) -> None:
    pipeline = capture(mode)
    fakes = cohere_fakes()
    server = fakes.Server()
    server.stream(cohere_thinking_events(fakes))
    list(server.client().chat_stream(model=COHERE_MODEL, messages=[{"role": "user", "content": "Sky?"}]))
    assert pipeline.content() == {
        "gen_ai.input.messages": user("Sky?"),
        "gen_ai.output.messages": COHERE_THINKING_OUTPUT,
    }
    assert_cohere_usage(pipeline.span())


COHERE_TOOL_OUTPUT = answer(
    reasoning("I will check the weather."),
    {"type": "tool_call", "id": "get_weather_1", "name": "get_weather", "arguments": '{"city": "Paris"}'},
    finish_reason="tool_calls",
)


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_cohere_async_tool_call_answer(capture, stream: bool) -> None:
    pipeline = capture("SPAN_ONLY")
    fakes = cohere_fakes()
    server = fakes.Server()
    client = server.async_client()
    messages = [{"role": "user", "content": "Weather in Paris?"}]

    async def main() -> None:
        if stream:
            server.stream(fakes.tool_stream_events())
            async for _ in client.chat_stream(model=COHERE_MODEL, messages=messages, tools=[WEATHER_TOOL]):
                pass
        else:
            body = fakes.chat_response(
                tool_calls=[fakes.tool_call("get_weather", {"city": "Paris"}, "get_weather_1")],
                finish_reason="TOOL_CALL",
                usage_body=fakes.usage(40.0, 21.0),
            )
            body["message"]["tool_plan"] = "I will check the weather."
            server.chat(body)
            await client.chat(model=COHERE_MODEL, messages=messages, tools=[WEATHER_TOOL])

    asyncio.run(main())
    assert pipeline.content() == {
        "gen_ai.input.messages": user("Weather in Paris?"),
        "gen_ai.tool.definitions": [WEATHER_DEFINITION],
        "gen_ai.output.messages": COHERE_TOOL_OUTPUT,
    }
    span = pipeline.span()
    assert (span.attributes["gen_ai.usage.input_tokens"], span.attributes["gen_ai.usage.output_tokens"]) == (
        40,
        21,
    )
    assert span.attributes["tokenomics.cost.total"] == exact((40 * 2.5 + 21 * 10) / M)


def test_cohere_stream_cut_short_keeps_what_arrived(capture) -> None:
    pipeline = capture("SPAN_AND_EVENT")
    fakes = cohere_fakes()
    server = fakes.Server()
    # message-start, content-start, "Hel", "lo", then the connection breaks.
    server.stream(fakes.stream_events(("Hel", "lo", "!")), fail_after=4)
    with pytest.raises(Exception, match="connection lost"):
        list(server.client().chat_stream(model=COHERE_MODEL, messages=[{"role": "user", "content": "Hi"}]))
    assert pipeline.content() == {
        "gen_ai.input.messages": user("Hi"),
        "gen_ai.output.messages": answer(text("Hello"), finish_reason=None),
    }
    assert pipeline.span().attributes["tokenomics.stream.outcome"] == "failed"


# -- mistralai ---------------------------------------------------------------------------------------

MISTRAL_MODEL = "mistral-large-2512"
CHAT_PATH = "/v1/chat/completions"
FIM_PATH = "/v1/fim/completions"


def mistral_messages() -> list[Any]:
    from mistralai.client import models

    return [
        models.SystemMessage(content="Be brief."),
        {
            "role": "user",
            "content": [
                models.TextChunk(text="Weather in Paris? See:"),
                {"type": "image_url", "image_url": "https://example.com/sky.png"},
                {"type": "image_url", "image_url": {"url": "https://example.com/sea.png"}},
            ],
        },
        {
            "role": "assistant",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": {"city": "Paris"}},
                }
            ],
        },
        models.ToolMessage(tool_call_id="call_1", name="get_weather", content="clear"),
    ]


MISTRAL_INPUT = [
    {"role": "system", "parts": [text("Be brief.")]},
    {
        "role": "user",
        "parts": [
            text("Weather in Paris? See:"),
            {"type": "uri", "modality": "image", "uri": "https://example.com/sky.png"},
            {"type": "uri", "modality": "image", "uri": "https://example.com/sea.png"},
        ],
    },
    {
        "role": "assistant",
        "parts": [
            {"type": "tool_call", "id": "call_1", "name": "get_weather", "arguments": {"city": "Paris"}}
        ],
    },
    {"role": "tool", "parts": [{"type": "tool_call_response", "id": "call_1", "response": "clear"}]},
]


def thinking(*pieces: str) -> list[dict[str, Any]]:
    return [{"type": "thinking", "thinking": [{"type": "text", "text": piece} for piece in pieces]}]


MISTRAL_COST = (1000 * 0.5 + 200 * 1.5) / M


def assert_mistral_usage(span: Any) -> None:
    assert span.attributes["gen_ai.usage.input_tokens"] == 1000
    assert span.attributes["gen_ai.usage.output_tokens"] == 200
    assert span.attributes["tokenomics.cost.total"] == exact(MISTRAL_COST)


@pytest.mark.parametrize("mode", MODES)
def test_mistral_chat_records_every_role_tool_and_each_choice(capture, mode: str) -> None:
    pipeline = capture(mode)
    fakes = mistral_fakes()
    server = fakes.Server()
    body = fakes.completion(
        [*thinking("Clear ", "today."), {"type": "text", "text": "Clear skies."}],
        "Sunny.",
        usage=fakes.usage(1000, 200),
    )
    body["choices"][1]["finish_reason"] = "length"
    server.json(CHAT_PATH, body)
    server.client().chat.complete(model=MISTRAL_MODEL, messages=mistral_messages(), tools=[WEATHER_TOOL], n=2)
    assert pipeline.content() == {
        "gen_ai.input.messages": MISTRAL_INPUT,
        "gen_ai.tool.definitions": [WEATHER_DEFINITION],
        "gen_ai.output.messages": [
            *answer(reasoning("Clear today."), text("Clear skies.")),
            *answer(text("Sunny."), finish_reason="length"),
        ],
    }
    assert_mistral_usage(pipeline.span())


def mistral_tool_stream(fakes: Any) -> list[dict[str, Any]]:
    """A reasoning model: an empty opening delta, thinking, text, then a tool call."""
    call = fakes.chunk(finish_reason="tool_calls", usage=fakes.usage(1000, 200))
    call["choices"][0]["delta"]["tool_calls"] = [
        {"id": "call_2", "index": 0, "function": {"name": "get_weather", "arguments": '{"city": "Nice"}'}}
    ]
    return [
        fakes.chunk("", role="assistant"),
        fakes.chunk(thinking("Need ")),
        fakes.chunk(thinking("the tool.")),
        fakes.chunk("Checking"),
        fakes.chunk([{"type": "text", "text": " Nice."}]),
        call,
    ]


MISTRAL_STREAM_OUTPUT = answer(
    reasoning("Need the tool."),
    text("Checking Nice."),
    {"type": "tool_call", "id": "call_2", "name": "get_weather", "arguments": '{"city": "Nice"}'},
    finish_reason="tool_calls",
)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("run", ["sync", "async"])
def test_mistral_stream_gathers_thinking_text_and_tool_calls(capture, mode: str, run: str) -> None:
    pipeline = capture(mode)
    fakes = mistral_fakes()
    server = fakes.Server()
    server.stream(CHAT_PATH, mistral_tool_stream(fakes))
    client = server.client()
    kwargs = {"model": MISTRAL_MODEL, "messages": [{"role": "user", "content": "Nice?"}]}
    if run == "sync":
        list(client.chat.stream(**kwargs))
    else:

        async def main() -> None:
            async for _ in await client.chat.stream_async(**kwargs):
                pass

        asyncio.run(main())
    assert pipeline.content() == {
        "gen_ai.input.messages": user("Nice?"),
        "gen_ai.output.messages": MISTRAL_STREAM_OUTPUT,
    }
    assert_mistral_usage(pipeline.span())


def test_mistral_async_chat(capture) -> None:
    pipeline = capture("SPAN_ONLY")
    fakes = mistral_fakes()
    server = fakes.Server()
    server.json(CHAT_PATH, fakes.completion("Hello.", usage=fakes.usage(1000, 200)))

    async def main() -> None:
        await server.client().chat.complete_async(
            model=MISTRAL_MODEL, messages=[{"role": "user", "content": "Hi"}]
        )

    asyncio.run(main())
    assert pipeline.content() == {
        "gen_ai.input.messages": user("Hi"),
        "gen_ai.output.messages": answer(text("Hello.")),
    }
    assert_mistral_usage(pipeline.span())


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_mistral_fim_records_prompt_suffix_and_answer(capture, stream: bool) -> None:
    pipeline = capture("SPAN_ONLY")
    fakes = mistral_fakes()
    server = fakes.Server()
    kwargs = {"model": "codestral-2508", "prompt": "def add(a, b):", "suffix": "print(add(1, 2))"}
    if stream:
        pieces = [
            fakes.chunk("    return", model="codestral-2508"),
            fakes.chunk(" a + b", finish_reason="stop", usage=fakes.usage(30, 6), model="codestral-2508"),
        ]
        server.stream(FIM_PATH, pieces)
        list(server.client().fim.stream(**kwargs))
    else:
        server.json(
            FIM_PATH, fakes.completion("    return a + b", usage=fakes.usage(30, 6), model="codestral-2508")
        )
        server.client().fim.complete(**kwargs)
    assert pipeline.content() == {
        "gen_ai.input.messages": [
            {
                "role": "user",
                "parts": [
                    text("def add(a, b):"),
                    {"type": "generic", "generic_type": "suffix", "content": "print(add(1, 2))"},
                ],
            }
        ],
        "gen_ai.output.messages": answer(text("    return a + b")),
    }
    assert pipeline.span().attributes["tokenomics.cost.total"] == exact((30 * 0.3 + 6 * 0.9) / M)


def test_mistral_stream_cut_short_keeps_what_arrived(capture) -> None:
    pipeline = capture("SPAN_AND_EVENT")
    fakes = mistral_fakes()
    server = fakes.Server()
    events = [fakes.chunk("", role="assistant"), fakes.chunk("Hel"), fakes.chunk("lo."), fakes.chunk("!")]
    server.stream(CHAT_PATH, events, fail_after=3)
    with pytest.raises(fakes.http.ReadError):
        list(server.client().chat.stream(model=MISTRAL_MODEL, messages=[{"role": "user", "content": "Hi"}]))
    assert pipeline.content() == {
        "gen_ai.input.messages": user("Hi"),
        "gen_ai.output.messages": answer(text("Hello."), finish_reason=None),
    }
    assert pipeline.span().attributes["tokenomics.stream.outcome"] == "failed"


# -- our failures cost only the content ------------------------------------------------------------------


class SimulatedBug(RuntimeError):
    pass


def _raise(*args: Any, **kwargs: Any) -> Any:
    raise SimulatedBug("simulated bug in otel-tokenomics")


def _cohere_call(stream: bool) -> tuple[Callable[[], Any], int, int, float]:
    fakes = cohere_fakes()
    server = fakes.Server()
    client = server.client()
    messages = [{"role": "user", "content": "Hi"}]

    def make() -> Any:
        if stream:
            server.stream(fakes.stream_events())
            return [event.dict() for event in client.chat_stream(model=COHERE_MODEL, messages=messages)]
        server.chat()
        return client.chat(model=COHERE_MODEL, messages=messages).dict()

    # The fakes' usage: 10 in, 3 out streamed; 12 in, 9 out answered whole.
    tokens = (10, 3) if stream else (12, 9)
    return make, *tokens, (tokens[0] * 2.5 + tokens[1] * 10) / M


def _mistral_call(stream: bool) -> tuple[Callable[[], Any], int, int, float]:
    fakes = mistral_fakes()
    server = fakes.Server()
    client = server.client()
    messages = [{"role": "user", "content": "Hi"}]

    def make() -> Any:
        if stream:
            events = [
                fakes.chunk("Hel"),
                fakes.chunk("lo.", finish_reason="stop", usage=fakes.usage(1000, 200)),
            ]
            server.stream(CHAT_PATH, events)
            return [
                event.model_dump() for event in client.chat.stream(model=MISTRAL_MODEL, messages=messages)
            ]
        server.json(CHAT_PATH, fakes.completion("Hello.", usage=fakes.usage(1000, 200)))
        return client.chat.complete(model=MISTRAL_MODEL, messages=messages).model_dump()

    return make, 1000, 200, MISTRAL_COST


def _break_input(monkeypatch: pytest.MonkeyPatch) -> None:
    from otel_tokenomics.providers import cohere, mistral

    for route in (cohere.CHAT, cohere.CHAT_STREAM, mistral.CHAT):
        monkeypatch.setattr(route, "read_input_content", _raise)


FAULTS = {
    "input": (_break_input, "reading request content", "gen_ai.input.messages"),
    "output": (
        lambda monkeypatch: monkeypatch.setattr(ChatOutput, "choice", _raise),
        "capturing output content",
        "gen_ai.output.messages",
    ),
}


@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("sdk", ["cohere", "mistral"])
def test_a_content_failure_costs_only_that_content(
    capture, telemetry, monkeypatch, caplog, sdk: str, stream: bool, fault: str
) -> None:
    monkeypatch.setattr(call_module, "_reported", set())  # the log-once memory is per process
    capture("SPAN_ONLY")
    make, tokens_in, tokens_out, cost = (_cohere_call if sdk == "cohere" else _mistral_call)(stream)
    with suppress_instrumentation():
        expected = make()
    breaker, place, lost = FAULTS[fault]
    breaker(monkeypatch)
    with caplog.at_level(logging.WARNING):
        assert [make(), make()] == [expected, expected]  # the caller sees what the SDK returns
    spans = telemetry.spans()
    assert len(spans) == 2
    for span in spans:
        attributes = span.attributes
        assert lost not in attributes
        # The other half of the content is still there.
        assert ({"gen_ai.input.messages", "gen_ai.output.messages"} - {lost}) <= set(attributes)
        assert (attributes["gen_ai.usage.input_tokens"], attributes["gen_ai.usage.output_tokens"]) == (
            tokens_in,
            tokens_out,
        )
        assert attributes["tokenomics.usage.source"] == "provider"
        assert attributes["tokenomics.cost.total"] == exact(cost)
        if stream:
            # Every chunk was still read as output: the stream's timing is whole.
            assert attributes["tokenomics.stream.outcome"] == "completed"
            assert attributes["gen_ai.response.time_to_first_chunk"] >= 0
            assert attributes["tokenomics.stream.time_per_output_chunk"] >= 0
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [(r.name, r.getMessage()) for r in warnings] == [
        (
            "otel_tokenomics",
            f"otel-tokenomics could not record telemetry ({place}); the call itself is unaffected",
        )
    ]
    assert warnings[0].exc_info is not None and warnings[0].exc_info[0] is SimulatedBug


# -- the length limit ------------------------------------------------------------------------------------
# Content is set as attributes, which the OpenTelemetry SDK cuts to its attribute value
# length limit, on the span and on the event alike (tests/test_security.py shows it for openai).

LIMIT = 2048
HUGE = "quokka " * 30_000  # 210 kB


@pytest.fixture
def limited(monkeypatch: pytest.MonkeyPatch, instrument: Any) -> Callable[[], Pipeline]:
    """Providers built after the limit is set: the SDK reads it then."""
    from conftest import Telemetry

    monkeypatch.delenv(ENV_CAPTURE_CONTENT, raising=False)
    monkeypatch.delenv("MISTRAL_SDK_TELEMETRY", raising=False)
    monkeypatch.setenv("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", str(LIMIT))

    def start() -> Pipeline:
        import otel_tokenomics

        telemetry = Telemetry()
        logs = InMemoryLogRecordExporter()
        logger_provider = LoggerProvider()
        logger_provider.add_log_record_processor(SimpleLogRecordProcessor(logs))
        otel_tokenomics.instrument(
            tracer_provider=telemetry.tracer_provider,
            meter_provider=telemetry.meter_provider,
            logger_provider=logger_provider,
            capture_content="SPAN_AND_EVENT",
        )
        return Pipeline(telemetry, logs, "SPAN_AND_EVENT")

    return start


def _cut(messages: list[dict[str, Any]]) -> str:
    return json.dumps(messages, ensure_ascii=False)[:LIMIT]


@pytest.mark.parametrize("sdk", ["cohere", "mistral"])
def test_huge_streamed_content_is_cut_to_the_limit(limited, sdk: str) -> None:
    pipeline = limited()
    messages = [{"role": "user", "content": HUGE}]
    halves = (HUGE[: len(HUGE) // 2], HUGE[len(HUGE) // 2 :])
    if sdk == "cohere":
        fakes = cohere_fakes()
        server = fakes.Server()
        server.stream(fakes.stream_events(halves, usage_body=fakes.usage(120.0, 30.0)))
        streamed = server.client().chat_stream(model=COHERE_MODEL, messages=messages)
        got = "".join(e.delta.message.content.text for e in streamed if e.type == "content-delta")
        cost = COHERE_COST
    else:
        fakes = mistral_fakes()
        server = fakes.Server()
        events = [
            fakes.chunk(halves[0]),
            fakes.chunk(halves[1], finish_reason="stop", usage=fakes.usage(1000, 200)),
        ]
        server.stream(CHAT_PATH, events)
        streamed = server.client().chat.stream(model=MISTRAL_MODEL, messages=messages)
        got = "".join(event.data.choices[0].delta.content for event in streamed)
        cost = MISTRAL_COST
    assert got == HUGE  # the caller's answer is whole
    cut = {
        "gen_ai.input.messages": _cut(user(HUGE)),
        "gen_ai.output.messages": _cut(answer(text(HUGE))),
    }
    span = pipeline.span()
    assert {key: span.attributes[key] for key in cut} == cut
    (record,) = pipeline.logs.get_finished_logs()
    assert {key: record.log_record.attributes[key] for key in cut} == cut
    # Only content is long: usage and cost are untouched by the limit.
    assert span.attributes["tokenomics.cost.total"] == exact(cost)
