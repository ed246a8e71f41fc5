"""mistralai calls that end without usage: estimated from the request and the text streamed.

A Mistral stream reports its usage once, on its last chunk: a stream left before it
(or one whose usage a proxy dropped) is estimated. Mistral's tokenizers are not
loaded here, so every estimate is heuristic (``tokenizers.heuristic_count``, ``h``
below): a prompt costs 3 tokens, plus 4 per message and the count of each text;
the output is the streamed text (thinking and tool calls included), joined.

Prices are those of the model the answer names (USD per million tokens):
mistral-large-2512 input 0.5, output 1.5; codestral-2508 input 0.3, output 0.9.
"""

from __future__ import annotations

import asyncio
import base64
import gc
from typing import Any

import estimation_checks as checks
import pytest
from estimation_checks import HEURISTIC_INPUT, MESSAGES, M, exact
from mistral_fakes import Server, chunk, http, usage
from mistralai.client import errors, models
from mistralai.client.types import UNSET
from mistralai.client.utils.eventstreaming import EventStream
from opentelemetry.trace import StatusCode

from otel_tokenomics.estimation import images
from otel_tokenomics.estimation.tokenizers import heuristic_count as h
from otel_tokenomics.providers import mistral_prompt

CHAT_PATH = "/v1/chat/completions"
FIM_PATH = "/v1/fim/completions"
LARGE = (0.5, 1.5)
CODESTRAL = (0.3, 0.9)
# 2.x streams close only through ``with``; close() came with 3.x.
requires_close = pytest.mark.skipif(not hasattr(EventStream, "close"), reason="stream has no close()")


@pytest.fixture(autouse=True)
def sdk_telemetry_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MISTRAL_SDK_TELEMETRY", raising=False)


def _events(final_usage: dict[str, Any] | None = None, **options: Any) -> list[dict[str, Any]]:
    return [
        chunk("", role="assistant", **options),
        chunk("Hel", **options),
        chunk("lo", **options),
        chunk(" team!", **options),
        chunk("", finish_reason="stop", usage=final_usage, **options),
    ]


def _server(events: list[dict[str, Any]] | None = None, fail_after: int | None = None) -> Server:
    server = Server()
    server.stream(CHAT_PATH, events if events is not None else _events(), fail_after=fail_after)
    return server


def _stream(server: Server, **params: Any) -> Any:
    return server.client().chat.stream(model="mistral-large-latest", messages=MESSAGES, **params)


def _assert_estimated(
    attributes: Any, input_tokens: int, output_tokens: int, prices: tuple[float, float] = LARGE
) -> None:
    checks.assert_estimated(attributes, input_tokens, output_tokens, prices)
    assert attributes["gen_ai.usage.cache_read.input_tokens"] == 0


# -- chat streams -----------------------------------------------------------------------------------


def test_stream_without_usage_is_estimated(instrument, telemetry) -> None:
    instrument()
    events = list(_stream(_server()))
    assert len(events) == 5
    attributes = telemetry.span().attributes
    assert attributes["tokenomics.stream.outcome"] == "completed"
    assert attributes["gen_ai.response.model"] == "mistral-large-2512"
    assert attributes["gen_ai.response.finish_reasons"] == ("stop",)
    _assert_estimated(attributes, HEURISTIC_INPUT, h("Hello team!"))
    # The rule itself, in numbers: a change of the heuristic or the framing shows here.
    assert (HEURISTIC_INPUT, h("Hello team!")) == (21, 3)
    assert attributes["tokenomics.cost.total"] == exact(15 / M)  # 21 x 0.5 + 3 x 1.5


def test_break_early_is_estimated(instrument, telemetry) -> None:
    instrument()
    for position, _event in enumerate(_stream(_server(_events(usage(1200, 300))))):
        if position == 1:  # the opening chunk, then "Hel"
            break
    gc.collect()
    span = checks.ended_stream(telemetry, "closed_early", StatusCode.UNSET)
    assert span.attributes["tokenomics.stream.chunk_count"] == 2
    _assert_estimated(span.attributes, HEURISTIC_INPUT, h("Hel"))


@requires_close
def test_close_is_estimated(instrument, telemetry) -> None:
    instrument()
    stream = _stream(_server(_events(usage(1200, 300))))
    checks.close_after(stream, 3)
    attributes = checks.ended_stream(telemetry, "closed_early", StatusCode.UNSET).attributes
    _assert_estimated(attributes, HEURISTIC_INPUT, h("Hello"))


def test_with_block_left_early_is_estimated(instrument, telemetry) -> None:
    instrument()
    with _stream(_server(_events(usage(1200, 300)))) as stream:
        next(stream)
        next(stream)
    _assert_estimated(telemetry.span().attributes, HEURISTIC_INPUT, h("Hel"))


def test_stream_failing_mid_way_is_estimated(instrument, telemetry) -> None:
    instrument()
    with pytest.raises(http.ReadError):
        list(_stream(_server(_events(usage(1200, 300)), fail_after=3)))
    span = checks.ended_stream(telemetry, "failed", StatusCode.ERROR)
    _assert_estimated(span.attributes, HEURISTIC_INPUT, h("Hello"))


def test_rejected_stream_is_not_estimated(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.error(CHAT_PATH, 503, "Service unavailable")
    with pytest.raises(errors.SDKError):
        _stream(server)
    checks.assert_not_estimated(telemetry.span().attributes)


def test_completed_stream_keeps_the_provider_counts(instrument, telemetry) -> None:
    instrument()
    list(_stream(_server(_events(usage(1200, 300, cached=1024)))))
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.usage.input_tokens"] == 1200
    assert attributes["gen_ai.usage.cache_read.input_tokens"] == 1024
    assert attributes["gen_ai.usage.output_tokens"] == 300
    checks.assert_provider_usage(attributes)
    assert attributes["tokenomics.cost.total"] == exact((176 * 0.5 + 1024 * 0.05 + 300 * 1.5) / M)


def test_thinking_and_tool_calls_are_output(instrument, telemetry) -> None:
    instrument()
    thinking = chunk()
    thinking["choices"][0]["delta"] = {
        "content": [{"type": "thinking", "thinking": [{"type": "text", "text": "User wants the weather."}]}]
    }
    tool_call = chunk()
    tool_call["choices"][0]["delta"] = {
        "tool_calls": [
            {"id": "c1", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}, "index": 0}
        ]
    }
    events = [chunk("", role="assistant"), thinking, tool_call, chunk("", finish_reason="tool_calls")]
    received = list(_stream(_server(events)))
    assert received[2].data.choices[0].delta.tool_calls[0].function.name == "get_weather"
    output = "User wants the weather." + "get_weather" + '{"city": "Paris"}'
    _assert_estimated(telemetry.span().attributes, HEURISTIC_INPUT, h(output))


def test_async_stream_break_early_is_estimated(instrument, telemetry) -> None:
    instrument()
    server = _server()

    async def main() -> None:
        stream = await server.client().chat.stream_async(model="mistral-large-latest", messages=MESSAGES)
        async with stream:
            async for event in stream:
                if event.data.choices[0].delta.content:
                    break

    asyncio.run(main())
    attributes = checks.ended_stream(telemetry, "closed_early", StatusCode.UNSET).attributes
    _assert_estimated(attributes, HEURISTIC_INPUT, h("Hel"))


def test_estimation_can_be_turned_off(instrument, telemetry) -> None:
    instrument(estimate_usage=False)
    list(_stream(_server()))
    attributes = telemetry.span().attributes
    assert attributes["tokenomics.usage.source"] == "unavailable"
    assert attributes["tokenomics.cost.status"] == "no_usage"


# -- fill in the middle -------------------------------------------------------------------------

PROMPT = "def add(a, b):\n"
SUFFIX = "\n\nprint(add(1, 2))\n"


def test_fim_stream_without_usage_is_estimated(instrument, telemetry) -> None:
    instrument()
    server = Server()
    events = [chunk("    return", model="codestral-2508"), chunk(" a + b", model="codestral-2508")]
    events.append(chunk("", finish_reason="stop", model="codestral-2508"))
    server.stream(FIM_PATH, events)
    list(server.client().fim.stream(model="codestral-latest", prompt=PROMPT, suffix=SUFFIX))
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.operation.name"] == "text_completion"
    # The code before the gap and after it, as they are: no chat framing.
    _assert_estimated(attributes, h(PROMPT) + h(SUFFIX), h("    return a + b"), CODESTRAL)


# -- the readers, on their own ----------------------------------------------------------------------

# A 2x3 GIF: its logical screen descriptor says the size.
GIF = (
    b"GIF89a\x02\x00\x03\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff"
    b"!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x02\x00\x03\x00\x00\x02\x02D\x01\x00;"
)


def test_chat_prompt_reads_models_chunks_and_tool_history() -> None:
    data_url = "data:image/gif;base64," + base64.b64encode(GIF).decode()
    body = {
        "model": "mistral-large-latest",
        "messages": [
            models.SystemMessage(content="Be brief."),
            models.UserMessage(
                content=[
                    models.TextChunk(text="What is this?"),
                    models.ImageURLChunk(image_url=models.ImageURL(url=data_url, detail="high")),
                    {"type": "image_url", "image_url": "https://example.com/cat.png"},
                    {"type": "document_url", "document_url": "https://example.com/a.pdf"},
                ]
            ),
            models.AssistantMessage(
                content=[{"type": "thinking", "thinking": [{"type": "text", "text": "A cat?"}]}],
                tool_calls=[
                    models.ToolCall(function=models.FunctionCall(name="lookup", arguments={"q": "cat"}))
                ],
            ),
            {"role": "tool", "name": "lookup", "content": "A cat.", "tool_call_id": "c1"},
        ],
        "tools": [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}],
    }
    prompt = mistral_prompt.chat_prompt(body)
    assert [m.role for m in prompt.messages] == ["system", "user", "assistant", "tool"]
    assert [m.texts for m in prompt.messages] == [["Be brief."], ["What is this?"], ["A cat?"], ["A cat."]]
    assert prompt.messages[3].name == "lookup"
    assert prompt.messages[1].name is None
    assert [(c.name, c.arguments) for c in prompt.messages[2].tool_calls] == [("lookup", '{"q":"cat"}')]
    sized, by_url = prompt.messages[1].images
    assert sized.detail == "high"
    if hasattr(images, "image_size"):
        assert (sized.width, sized.height) == (2, 3)
    assert (by_url.width, by_url.detail) == (None, None)
    assert [(t.name, t.parameters) for t in prompt.tools] == [("lookup", {"type": "object"})]


def test_fim_and_embedding_prompts() -> None:
    assert mistral_prompt.fim_prompt({"prompt": "a", "suffix": UNSET}).messages[0].texts == ["a"]
    assert mistral_prompt.embeddings_prompt({"inputs": "one"}).messages[0].texts == ["one"]
    assert mistral_prompt.embeddings_prompt({"inputs": ["one", "two", 3]}).messages[0].texts == ["one", "two"]


def test_output_text_of_an_answer() -> None:
    answer = models.ChatCompletionResponse(
        id="x",
        object="chat.completion",
        model="magistral-medium-latest",
        created=0,
        usage=models.UsageInfo(prompt_tokens=0, completion_tokens=0, total_tokens=0),
        choices=[
            models.ChatCompletionChoice(
                index=0,
                finish_reason="stop",
                message=models.AssistantMessage(
                    content=[
                        models.ThinkChunk(thinking=[models.TextChunk(text="Think.")]),
                        models.TextChunk(text="Answer."),
                    ]
                ),
            )
        ],
    )
    assert mistral_prompt.completion_output_text(answer) == ["Think.", "Answer."]
    assert mistral_prompt.completion_output_text(None) == []
    assert mistral_prompt.chat_prompt({"messages": UNSET}).messages == []
