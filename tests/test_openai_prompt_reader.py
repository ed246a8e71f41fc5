"""OpenAI request bodies read into prompts, answers into their billed text, and both at work on calls."""

from __future__ import annotations

import base64
import struct
import zlib
from typing import Any

import pytest
from openai.types import Completion
from openai.types.chat import ChatCompletion, ChatCompletionMessage
from openai_cookbook import COOKBOOK_7_MESSAGES, WEATHER_TOOL
from openai_fakes import Server, chat_completion, requires, response_object

from otel_tokenomics.estimation.prompt import Prompt
from otel_tokenomics.estimation.tokenizers import HEURISTIC_COUNTER, counter_for_model
from otel_tokenomics.providers import openai_prompt
from otel_tokenomics.providers.openai_prompt import (
    TOKEN_ID_STAND_IN,
    chat_output_text,
    chat_prompt,
    completion_output_text,
    completions_prompt,
    embeddings_prompt,
    responses_output_text,
    responses_prompt,
)


def png_url(width: int, height: int) -> str:
    """A ``data:`` URL of a real (black, grayscale) PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = zlib.compress(b"".join(b"\x00" + bytes(width) for _ in range(height)))
    data = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
        + chunk(b"IDAT", rows)
        + chunk(b"IEND", b"")
    )
    return "data:image/png;base64," + base64.b64encode(data).decode()


def shape(prompt: Prompt) -> list[tuple[Any, ...]]:
    """A prompt as plain values, to compare whole."""
    return [
        (
            message.role,
            message.name,
            message.texts,
            [(image.width, image.height, image.detail) for image in message.images],
            [(call.name, call.arguments) for call in message.tool_calls],
        )
        for message in prompt.messages
    ]


def tools(prompt: Prompt) -> list[tuple[Any, ...]]:
    return [(tool.name, tool.description, tool.parameters) for tool in prompt.tools]


# -- chat completions --------------------------------------------------------------------------

WEATHER_PARAMETERS = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


def test_chat_prompt_reads_every_part() -> None:
    body = {
        "model": "gpt-4o",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "name": "ann", "content": "Hi"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in these?"},
                    {"type": "image_url", "image_url": {"url": png_url(640, 480), "detail": "high"}},
                    {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
                    {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}},
                    {"type": "file", "file": {"file_id": "file-1"}},
                ],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "weather", "arguments": '{"city":"Oslo"}'},
                    },
                    {"id": "call_2", "type": "custom", "custom": {"name": "sql", "input": "SELECT 1"}},
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "4 degrees"},
            {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "1"}]},
            {"role": "tool", "tool_call_id": "call_9", "content": "orphan"},
            {"role": "assistant", "content": [{"type": "refusal", "refusal": "I can't."}]},
            {"role": "assistant", "content": None, "refusal": "No."},
            {"role": "assistant", "content": "", "function_call": {"name": "legacy", "arguments": "{}"}},
            {"role": "function", "name": "legacy", "content": "ok"},
        ],
        "tools": [
            {
                "type": "function",
                "function": {"name": "weather", "description": "Weather", "parameters": WEATHER_PARAMETERS},
            },
            {
                "type": "custom",
                "custom": {"name": "sql", "description": "Runs SQL", "format": {"type": "text"}},
            },
        ],
        "functions": [{"name": "legacy"}],
    }
    prompt = chat_prompt(body)
    assert shape(prompt) == [
        ("system", None, ["Be brief."], [], []),
        ("user", "ann", ["Hi"], [], []),
        ("user", None, ["What is in these?"], [(640, 480, "high"), (None, None, None)], []),
        ("assistant", None, [], [], [("weather", '{"city":"Oslo"}'), ("sql", "SELECT 1")]),
        # tool results take their function's name, found by the call id
        ("tool", "weather", ["4 degrees"], [], []),
        ("tool", "sql", ["1"], [], []),
        ("tool", None, ["orphan"], [], []),
        ("assistant", None, ["I can't."], [], []),
        ("assistant", None, ["No."], [], []),
        ("assistant", None, [], [], [("legacy", "{}")]),
        ("function", "legacy", ["ok"], [], []),
    ]
    assert tools(prompt) == [
        ("weather", "Weather", WEATHER_PARAMETERS),
        ("sql", "Runs SQL", None),
        ("legacy", None, None),
    ]


def test_chat_prompt_reads_sdk_models_passed_back_as_history() -> None:
    # The assistant message of a previous answer, appended to the history as returned.
    previous = ChatCompletionMessage.model_validate(
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": "{}"}}
            ],
        }
    )
    body = {
        "messages": (
            {"role": "user", "content": "Weather?"},
            previous,
            {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
        )
    }
    assert shape(chat_prompt(body)) == [
        ("user", None, ["Weather?"], [], []),
        ("assistant", None, [], [], [("weather", "{}")]),
        ("tool", "weather", ["sunny"], [], []),
    ]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (None, []),
        ({}, []),
        ({"messages": None}, []),
        ({"messages": "hello"}, []),
        ({"messages": {"role": "user"}}, []),
        ({"messages": [None, 3, "x", {"content": "no role"}, {"role": 5}]}, []),
        (
            {"messages": [{"role": "user", "content": 42}], "tools": "x", "functions": [None, {"name": 3}]},
            [("user", None, [], [], [])],
        ),
        (
            {"messages": [{"role": "user", "content": [None, {"type": "text"}, {"type": "image_url"}]}]},
            [("user", None, [], [(None, None, None)], [])],
        ),
        (
            {
                "messages": [
                    {"role": "assistant", "tool_calls": [None, {"function": None}, {"type": "custom"}]}
                ]
            },
            [("assistant", None, [], [], [])],
        ),
        (
            {
                "messages": [{"role": "user", "content": "hi"}],
                "tools": [{"type": "function", "function": "x"}],
            },
            [("user", None, ["hi"], [], [])],
        ),
    ],
)
def test_chat_prompt_never_raises_on_odd_bodies(body: Any, expected: list[tuple[Any, ...]]) -> None:
    prompt = chat_prompt(body)
    assert shape(prompt) == expected
    assert prompt.tools == []


def test_chat_prompt_keeps_what_it_can_read_of_odd_parts() -> None:
    body = {
        "messages": [
            {
                "role": "user",
                "content": ["bare string part", {"type": "image_url", "image_url": "https://x/y.png"}],
            },
            {"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": None}}]},
        ],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": "not a schema"}}],
    }
    prompt = chat_prompt(body)
    assert shape(prompt) == [
        ("user", None, ["bare string part"], [(None, None, None)], []),
        ("assistant", None, [], [], [("f", "")]),
    ]
    assert tools(prompt) == [("f", None, None)]


def test_an_iterator_of_messages_is_not_consumed() -> None:
    messages = iter([{"role": "user", "content": "hi"}])
    assert chat_prompt({"messages": messages}).messages == []
    assert next(messages) == {"role": "user", "content": "hi"}


# -- Responses ---------------------------------------------------------------------------------


def test_responses_prompt_reads_instructions_items_and_function_tools() -> None:
    body = {
        "model": "gpt-5",
        "instructions": "Be brief.",
        "input": [
            {"role": "user", "content": "Hi"},
            {
                "type": "message",
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "Look:"},
                    {"type": "input_image", "image_url": png_url(300, 200), "detail": "low"},
                    {"type": "input_image", "file_id": "file-1", "detail": "auto"},
                    {"type": "input_file", "file_id": "file-2"},
                ],
            },
            {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "gAAA"},
            {
                "type": "message",
                "role": "assistant",
                "id": "msg_1",
                "status": "completed",
                "content": [{"type": "output_text", "text": "Checking.", "annotations": []}],
            },
            {"type": "function_call", "call_id": "call_1", "name": "weather", "arguments": '{"city":"Oslo"}'},
            {"type": "function_call", "call_id": "call_2", "name": "time", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "call_1", "output": "4 degrees"},
            {
                "type": "function_call_output",
                "call_id": "call_2",
                "output": [{"type": "input_text", "text": "noon"}],
            },
            {"type": "custom_tool_call", "call_id": "call_3", "name": "sql", "input": "SELECT 1"},
            {"type": "custom_tool_call_output", "call_id": "call_3", "output": "1"},
            {"type": "item_reference", "id": "msg_0"},
            {"type": "web_search_call", "id": "ws_1", "status": "completed"},
            {"role": "assistant", "content": [{"type": "refusal", "refusal": "No."}]},
        ],
        "tools": [
            {
                "type": "function",
                "name": "weather",
                "description": "Weather",
                "parameters": WEATHER_PARAMETERS,
            },
            {"type": "custom", "name": "sql", "description": "Runs SQL"},
            {"type": "web_search"},
        ],
    }
    prompt = responses_prompt(body)
    assert shape(prompt) == [
        ("system", None, ["Be brief."], [], []),
        ("user", None, ["Hi"], [], []),
        ("user", None, ["Look:"], [(300, 200, "low"), (None, None, "auto")], []),
        # the calls of one turn join the assistant message before them
        ("assistant", None, ["Checking."], [], [("weather", '{"city":"Oslo"}'), ("time", "{}")]),
        ("tool", "weather", ["4 degrees"], [], []),
        ("tool", "time", ["noon"], [], []),
        ("assistant", None, [], [], [("sql", "SELECT 1")]),
        ("tool", "sql", ["1"], [], []),
        ("assistant", None, ["No."], [], []),
    ]
    assert tools(prompt) == [("weather", "Weather", WEATHER_PARAMETERS), ("sql", "Runs SQL", None)]


def test_responses_prompt_of_a_string() -> None:
    assert shape(responses_prompt({"input": "Hello"})) == [("user", None, ["Hello"], [], [])]
    assert shape(responses_prompt({"instructions": "", "input": None})) == []


@pytest.mark.parametrize(
    "body",
    [None, {"input": 5}, {"input": [None, 1, {"type": "function_call"}, {"type": "message", "role": None}]}],
)
def test_responses_prompt_never_raises(body: Any) -> None:
    assert shape(responses_prompt(body)) == []


# -- completions and embeddings ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "texts"),
    [
        ("Say this is a test", ["Say this is a test"]),
        (["one", "two", ""], ["one", "two"]),
        ([1, 2, 3], [TOKEN_ID_STAND_IN * 3]),
        ([[1, 2], [3, 4, 5], "mixed"], [TOKEN_ID_STAND_IN * 2, TOKEN_ID_STAND_IN * 3, "mixed"]),
        ([[1, "x"], [], None], []),
        (None, []),
        (7, []),
    ],
)
def test_completion_and_embedding_inputs(raw: Any, texts: list[str]) -> None:
    assert shape(completions_prompt({"prompt": raw})) == [("user", None, texts, [], [])]
    assert shape(embeddings_prompt({"input": raw})) == [("user", None, texts, [], [])]


@pytest.mark.parametrize("ids", [1, 7, 300, 8191])
def test_token_id_stand_in_counts_one_token_per_id(ids: int) -> None:
    text = embeddings_prompt({"input": list(range(ids))}).messages[0].texts[0]
    assert counter_for_model("text-embedding-3-small", wait=30).count(text) == ids  # cl100k_base
    assert counter_for_model("gpt-4o", wait=30).count(text) == ids  # o200k_base
    assert HEURISTIC_COUNTER.count(text) == ids


# -- answers -----------------------------------------------------------------------------------


def test_chat_output_text_of_every_choice() -> None:
    response = ChatCompletion.model_validate(
        chat_completion(
            content="Hello there.",
            choices=2,
            usage=None,
        )
    )
    assert chat_output_text(response) == ["Hello there.", "Hello there."]
    # model_construct: SDKs before tool calls (openai 1.0) reject the finish reason.
    calls = ChatCompletion.model_construct(
        **{
            "id": "c",
            "object": "chat.completion",
            "created": 0,
            "model": "gpt-4o",
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "tool_calls",
                    "message": {
                        "role": "assistant",
                        "content": None,
                        "refusal": None,
                        "tool_calls": [
                            {
                                "id": "1",
                                "type": "function",
                                "function": {"name": "weather", "arguments": '{"c":1}'},
                            },
                            {"id": "2", "type": "function", "function": {"name": "time", "arguments": ""}},
                        ],
                    },
                },
                {
                    "index": 1,
                    "finish_reason": "stop",
                    "message": {"role": "assistant", "content": None, "refusal": "I can't help."},
                },
                {
                    "index": 2,
                    "finish_reason": "function_call",
                    "message": {
                        "role": "assistant",
                        "content": None,
                        "function_call": {"name": "f", "arguments": "{}"},
                    },
                },
            ],
        }
    )
    assert chat_output_text(calls) == ["weather", '{"c":1}', "time", "I can't help.", "f", "{}"]


def test_responses_output_text() -> None:
    response = {
        "output": [
            {"type": "reasoning", "summary": [{"type": "summary_text", "text": "Thinking."}]},
            {
                "type": "message",
                "content": [
                    {"type": "output_text", "text": "Paris.", "annotations": []},
                    {"type": "refusal", "refusal": "No more."},
                ],
            },
            {"type": "function_call", "name": "weather", "arguments": '{"city":"Paris"}', "call_id": "c"},
            {"type": "custom_tool_call", "name": "sql", "input": "SELECT 1", "call_id": "d"},
            {"type": "web_search_call", "id": "ws", "status": "completed"},
        ]
    }
    assert responses_output_text(response) == [
        "Thinking.",
        "Paris.",
        "No more.",
        "weather",
        '{"city":"Paris"}',
        "sql",
        "SELECT 1",
    ]


def test_completion_output_text() -> None:
    completion = Completion.model_validate(
        {
            "id": "cmpl",
            "object": "text_completion",
            "created": 0,
            "model": "gpt-3.5-turbo-instruct",
            "choices": [
                {"index": 0, "text": "This is a test.", "finish_reason": "stop", "logprobs": None},
                {"index": 1, "text": "", "finish_reason": "stop", "logprobs": None},
            ],
        }
    )
    assert completion_output_text(completion) == ["This is a test."]


@pytest.mark.parametrize("response", [None, "text", 5, {"choices": "x"}, {"choices": [None, {"message": 3}]}])
def test_output_readers_never_raise(response: Any) -> None:
    assert chat_output_text(response) == []
    assert completion_output_text(response) == []
    assert responses_output_text(response) == []
    assert responses_output_text({"output": [None, {"type": "message", "content": [None, 5]}]}) == []


def test_a_reader_that_fails_returns_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: Any) -> None:
        raise RuntimeError("a body we did not foresee")

    monkeypatch.setattr(openai_prompt, "_chat_message", broken)
    assert chat_prompt({"messages": [{"role": "user", "content": "hi"}]}).messages == []


# -- at work: calls whose answers carry no usage ---------------------------------------------


@requires("tools")
def test_chat_call_without_usage_is_estimated_exactly(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.json(
        "/chat/completions",
        chat_completion(model="gpt-4o-mini-2024-07-18", content="It is sunny.", usage=None),
    )
    server.client().chat.completions.create(
        model="gpt-4o-mini",
        messages=COOKBOOK_7_MESSAGES,
        tools=[WEATHER_TOOL],
    )
    attributes = telemetry.span().attributes
    # The OpenAI cookbook's tools example: the API reported 101 prompt tokens on gpt-4o-mini.
    assert attributes["gen_ai.usage.input_tokens"] == 101
    assert attributes["gen_ai.usage.output_tokens"] == 4  # "It", " is", " sunny", "."
    assert attributes["tokenomics.usage.source"] == "estimated"
    assert attributes["tokenomics.usage.tokenizer"] == "o200k_base"
    assert attributes["tokenomics.cost.status"] == "estimated"
    # gpt-4o-mini: $0.15 input, $0.60 output per million tokens.
    assert attributes["tokenomics.cost.input"] == pytest.approx(101 * 0.15e-6, rel=1e-12, abs=0)
    assert attributes["tokenomics.cost.output"] == pytest.approx(4 * 0.6e-6, rel=1e-12, abs=0)
    assert attributes["tokenomics.cost.total"] == pytest.approx(1.755e-05, rel=1e-12, abs=0)


@requires("responses")
def test_responses_call_without_usage_is_estimated(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.json("/responses", response_object(usage=None, text="Paris."))
    server.client().responses.create(
        model="gpt-5", instructions="Be brief.", input="What is the capital of France?"
    )
    attributes = telemetry.span().attributes
    # system: 3 + 1 + "Be brief." (3); user: 3 + 1 + 7; reply 3
    assert attributes["gen_ai.usage.input_tokens"] == 21
    assert attributes["gen_ai.usage.output_tokens"] == 2  # "Paris", "."
    assert attributes["tokenomics.usage.tokenizer"] == "o200k_base"
    # gpt-5: $1.25 input, $10 output per million tokens.
    assert attributes["tokenomics.cost.total"] == pytest.approx(21 * 1.25e-6 + 2 * 10e-6, rel=1e-12, abs=0)


def test_embeddings_of_token_ids_without_usage(instrument, telemetry) -> None:
    instrument()
    server = Server()
    answer = {
        "object": "list",
        "model": "text-embedding-3-small",
        "data": [{"object": "embedding", "index": i, "embedding": [0.5]} for i in range(2)],
    }
    server.json("/embeddings", answer)
    server.client().embeddings.create(
        model="text-embedding-3-small", input=[[1, 2, 3, 4, 5], [6, 7, 8, 9, 10, 11, 12]]
    )
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.usage.input_tokens"] == 12  # the ids sent, 5 + 7
    assert attributes["tokenomics.usage.source"] == "estimated"
    assert attributes["tokenomics.cost.total"] == pytest.approx(12 * 0.02e-6, rel=1e-12, abs=0)
