"""OpenAI's chat format counted against prompt_tokens the API reported, exactly.

Each expected count is a public measurement of the API's own ``usage.prompt_tokens``:

* COOKBOOK-6 / COOKBOOK-7: OpenAI cookbook, "How to count tokens with tiktoken"
  (examples/How_to_count_tokens_with_tiktoken.ipynb), sections 6 (six messages with
  system names, no tools) and 7 (the ``get_current_weather`` tool), the lines
  "N prompt tokens counted by the OpenAI API." per model (the requests: ``openai_cookbook``);
* HMARR: hmarr/openai-chat-tokens, tests/token-counts.test.ts: gpt-3.5-turbo cases
  whose counts were validated against the API (functions, function-role messages,
  assistant function calls, nested objects, enums, arrays);
* WORLD-CUP: gpt-4o-mini, one user message "Who won the World Cup in 2022?", 17.

The requests go through the request reader, as the SDK's body would.
"""

from __future__ import annotations

from typing import Any

import pytest
from openai_cookbook import COOKBOOK_6_MESSAGES, COOKBOOK_7_MESSAGES, WEATHER_TOOL

from otel_tokenomics.estimation import openai_chat
from otel_tokenomics.estimation.prompt import Message, Prompt, Tool, ToolCall
from otel_tokenomics.estimation.tokenizers import HEURISTIC_COUNTER, Counter, counter_for_model
from otel_tokenomics.providers.openai_prompt import chat_prompt

GPT35 = "gpt-3.5-turbo"


def counter(model: str) -> Counter:
    found = counter_for_model(model, wait=30)
    assert found.source == "estimated", "the session fixture loads both encodings"
    return found


def count(model: str, body: dict[str, Any]) -> int:
    return openai_chat.prompt_tokens(chat_prompt(body), counter(model), model)


# -- the measured cases ----------------------------------------------------------------------


def _function(name: str, properties: dict[str, Any], description: str | None = None) -> dict[str, Any]:
    function: dict[str, Any] = {"name": name, "parameters": {"type": "object", "properties": properties}}
    if description is not None:
        function["description"] = description
    return function


DO_STUFF = _function("do_stuff", {})
RECIPE = {
    "name": "get_recipe",
    "parameters": {
        "type": "object",
        "required": ["ingredients", "instructions", "time_to_cook"],
        "properties": {
            "ingredients": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["name", "unit", "amount"],
                    "properties": {
                        "name": {"type": "string"},
                        "unit": {"enum": ["grams", "ml", "cups", "pieces", "teaspoons"], "type": "string"},
                        "amount": {"type": "number"},
                    },
                },
            },
            "instructions": {
                "type": "array",
                "items": {"type": "string"},
                "description": "Steps to prepare the recipe (no numbering)",
            },
            "time_to_cook": {"type": "number", "description": "Total time to prepare the recipe in minutes"},
        },
    },
}


def user(text: str) -> dict[str, str]:
    return {"role": "user", "content": text}


def system(text: str) -> dict[str, str]:
    return {"role": "system", "content": text}


# (case id, model, request body, prompt_tokens the API reported)
MEASURED: list[tuple[str, str, dict[str, Any], int]] = [
    # COOKBOOK-6: the same six messages on each model; cl100k_base models 129, o200k_base 124.
    *[
        (f"cookbook-6-{model}", model, {"messages": COOKBOOK_6_MESSAGES}, expected)
        for model, expected in (
            ("gpt-3.5-turbo", 129),
            ("gpt-4-0613", 129),
            ("gpt-4", 129),
            ("gpt-4o", 124),
            ("gpt-4o-mini", 124),
        )
    ],
    # COOKBOOK-7: the weather tool (tools= form) with a system and a user message.
    *[
        (f"cookbook-7-{model}", model, {"messages": COOKBOOK_7_MESSAGES, "tools": [WEATHER_TOOL]}, expected)
        for model, expected in (("gpt-3.5-turbo", 105), ("gpt-4", 105), ("gpt-4o", 101), ("gpt-4o-mini", 101))
    ],
    # WORLD-CUP
    ("world-cup-gpt-4o-mini", "gpt-4o-mini", {"messages": [user("Who won the World Cup in 2022?")]}, 17),
    # HMARR (gpt-3.5-turbo), in the order of tests/token-counts.test.ts.
    ("hmarr-user-hello", GPT35, {"messages": [user("hello")]}, 8),
    ("hmarr-user-hello-world", GPT35, {"messages": [user("hello world")]}, 9),
    ("hmarr-system-hello", GPT35, {"messages": [system("hello")]}, 8),
    ("hmarr-system-hello-colon", GPT35, {"messages": [system("hello:")]}, 9),
    (
        "hmarr-three-roles",
        GPT35,
        {
            "messages": [
                system("# Important: you're the best robot"),
                user("hello robot"),
                {"role": "assistant", "content": "hello world"},
            ]
        },
        27,
    ),
    ("hmarr-function-empty", GPT35, {"messages": [user("hello")], "functions": [_function("foo", {})]}, 31),
    (
        "hmarr-function-description",
        GPT35,
        {"messages": [user("hello")], "functions": [_function("foo", {}, "Do a foo")]},
        36,
    ),
    (
        "hmarr-function-string-property",
        GPT35,
        {
            "messages": [user("hello")],
            "functions": [_function("bing_bong", {"foo": {"type": "string"}}, "Do a bing bong")],
        },
        49,
    ),
    (
        "hmarr-function-described-property",
        GPT35,
        {
            "messages": [user("hello")],
            "functions": [
                _function(
                    "bing_bong",
                    {"foo": {"type": "string"}, "bar": {"type": "number", "description": "A number"}},
                    "Do a bing bong",
                )
            ],
        },
        57,
    ),
    (
        "hmarr-function-nested-object-enum",
        GPT35,
        {
            "messages": [user("hello")],
            "functions": [
                _function(
                    "bing_bong",
                    {
                        "foo": {
                            "type": "object",
                            "properties": {
                                "bar": {"type": "string", "enum": ["a", "b", "c"]},
                                "baz": {"type": "boolean"},
                            },
                        }
                    },
                    "Do a bing bong",
                )
            ],
        },
        68,
    ),
    (
        "hmarr-function-message-empty",
        GPT35,
        {"messages": [user("hello world"), {"role": "function", "name": "do_stuff", "content": "{}"}]},
        15,
    ),
    (
        "hmarr-function-message",
        GPT35,
        {
            "messages": [
                user("hello world"),
                {"role": "function", "name": "do_stuff", "content": '{"foo": "bar", "baz": 1.5}'},
            ]
        },
        28,
    ),
    (
        "hmarr-function-message-alone",
        GPT35,
        {
            "messages": [
                {"role": "function", "name": "dance_the_tango", "content": '{"a": { "b" : { "c": false}}}'}
            ]
        },
        24,
    ),
    (
        "hmarr-assistant-function-call",
        GPT35,
        {
            "messages": [
                {
                    "role": "assistant",
                    "content": "",
                    "function_call": {"name": "do_stuff", "arguments": '{"foo": "bar", "baz": 1.5}'},
                }
            ]
        },
        26,
    ),
    (
        "hmarr-assistant-function-call-newlines",
        GPT35,
        {
            "messages": [
                {
                    "role": "assistant",
                    "content": "",
                    "function_call": {"name": "do_stuff", "arguments": '{"foo":"bar", "baz":\n\n 1.5}'},
                }
            ]
        },
        25,
    ),
    (
        "hmarr-system-and-function",
        GPT35,
        {"messages": [system("Hello"), user("Hi there")], "functions": [DO_STUFF]},
        35,
    ),
    (
        "hmarr-system-colon-and-function",
        GPT35,
        {"messages": [system("Hello:"), user("Hi there")], "functions": [DO_STUFF]},
        35,
    ),
    (
        "hmarr-two-systems-and-function",
        GPT35,
        {"messages": [system("Hello:"), system("Hello"), user("Hi there")], "functions": [DO_STUFF]},
        40,
    ),
    ("hmarr-recipe-arrays", GPT35, {"messages": [user("hello")], "functions": [RECIPE]}, 106),
]


@pytest.mark.parametrize(
    ("model", "body", "expected"), [case[1:] for case in MEASURED], ids=[c[0] for c in MEASURED]
)
def test_prompt_tokens_match_what_the_api_reported(model: str, body: dict[str, Any], expected: int) -> None:
    assert count(model, body) == expected


def test_every_measured_source_is_covered() -> None:
    # 5 + 4 cookbook lines, the World Cup case and the 19 hmarr cases.
    assert len(MEASURED) == 29
    assert len({case[0] for case in MEASURED}) == 29


# -- the assumptions, where no public count exists -----------------------------------------


def test_legacy_functions_and_tools_count_the_same() -> None:
    # Both forms reach the model as the same namespace (measured: cookbook 7 uses tools=,
    # the hmarr cases functions=); assumed identical for every definition.
    tools = [{"type": "function", "function": RECIPE}]
    assert count(GPT35, {"messages": [user("hello")], "tools": tools}) == 106


def test_tool_calls_cost_what_a_function_call_costs_each() -> None:
    # Assumption: each entry of tool_calls is framed like the measured function_call
    # (3 tokens around its name and arguments), tool results like function messages.
    call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "do_stuff", "arguments": '{"foo": "bar"}'},
    }
    other = {"id": "call_2", "type": "function", "function": {"name": "do_more", "arguments": "{}"}}
    body = {
        "messages": [
            user("hello world"),
            {"role": "assistant", "content": None, "tool_calls": [call, other]},
            {"role": "tool", "tool_call_id": "call_1", "content": "done"},
            {"role": "tool", "tool_call_id": "call_2", "content": "done too"},
        ]
    }
    o200k = counter("gpt-4o")
    parts = [
        3 + 1 + o200k.count("hello world"),
        3
        + 1
        + (3 + o200k.count("do_stuff") + o200k.count('{"foo": "bar"}'))
        + (3 + o200k.count("do_more") + 1),
        # A tool result is rendered under its function's name (found by tool_call_id).
        3 + o200k.count("do_stuff") + o200k.count("done"),
        3 + o200k.count("do_more") + o200k.count("done too"),
        3,
    ]
    assert count("gpt-4o", body) == sum(parts) == 45


def test_a_tool_result_without_a_known_call_keeps_its_role() -> None:
    body = {"messages": [{"role": "tool", "tool_call_id": "call_unknown", "content": "done"}]}
    # 3 framing + "tool" + "done" + 3 for the reply
    assert count("gpt-4o", body) == 8


def test_text_parts_are_counted_one_by_one() -> None:
    # Assumption: a message's text parts cost the sum of their own counts (the API's
    # join is not public). Split this way the World Cup question costs one more
    # token than the measured 17: " the" and "World" are counted apart from "won".
    parts = [{"type": "text", "text": "Who won"}, {"type": "text", "text": " the World Cup in 2022?"}]
    body = {"messages": [{"role": "user", "content": parts}]}
    assert count("gpt-4o-mini", body) == 17
    split = [{"type": "text", "text": "Who won the Wor"}, {"type": "text", "text": "ld Cup in 2022?"}]
    assert count("gpt-4o-mini", {"messages": [{"role": "user", "content": split}]}) == 18


def test_images_add_their_tile_tokens() -> None:
    image = {"type": "image_url", "image_url": {"url": "https://example.com/cat.png", "detail": "low"}}
    body = {"messages": [{"role": "user", "content": [{"type": "text", "text": "hello"}, image]}]}
    # 8 for the text message (measured: hmarr-user-hello) + 85 for a low-detail image on gpt-4o.
    assert count("gpt-4o", body) == 8 + 85
    # gpt-4o-mini bills an image at 2833 base tokens.
    assert count("gpt-4o-mini", body) == 8 + 2833


def test_developer_message_carries_the_tools_like_a_system_message() -> None:
    body = {
        "messages": [{"role": "developer", "content": "Hello"}, user("Hi there")],
        "functions": [DO_STUFF],
    }
    assert count(GPT35, body) == 35  # as hmarr-system-and-function


# -- the rendering -----------------------------------------------------------------------------


def test_tools_are_rendered_as_a_typescript_namespace() -> None:
    tools = [
        Tool("get_location", "Gets the location of the user.\nNo arguments."),
        Tool(
            "search",
            "Searches.",
            {
                "type": "object",
                "required": ["query"],
                "properties": {
                    "query": {"type": "string", "description": "What to look for"},
                    "limit": {"type": "integer", "default": 10},
                    "unit": {"type": "string", "enum": ["c", "f"], "default": "c"},
                    "where": {
                        "type": "object",
                        "description": "A place",
                        "properties": {"city": {"type": "string", "description": "Its name"}},
                    },
                    "tags": {"type": "array", "items": {"type": "string"}},
                    "either": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                    "lang": {"type": "string", "default": "en"},
                },
            },
        ),
    ]
    assert openai_chat.tools_section(tools) == (
        "# Tools\n\n## functions\n\nnamespace functions {\n\n"
        "// Gets the location of the user.\n"
        "// No arguments.\n"
        "type get_location = () => any;\n\n"
        "// Searches.\n"
        "type search = (_: {\n"
        "// What to look for\n"
        "query: string,\n"
        "limit?: number, // default: 10\n"
        'unit?: "c" | "f", // default: c\n'
        "// A place\n"
        "where?: {\n"
        "  // Its name\n"
        "  city?: string,\n"
        "},\n"
        "tags?: string[],\n"
        "either?: string | null,\n"
        'lang?: string, // default: "en"\n'
        "}) => any;\n\n"
        "} // namespace functions"
    )


# -- without the encoding: the same framing, heuristic texts ------------------------------------


def test_heuristic_counter_keeps_the_framing() -> None:
    # The heuristic stands in for the texts alone; framing, roles (one token each in
    # both encodings) and the tools section's place stay as measured.
    h = HEURISTIC_COUNTER.count
    hello = Prompt([Message("user", ["hello"])])
    assert h("hello") == 1
    assert (
        openai_chat.prompt_tokens(hello, HEURISTIC_COUNTER, "gpt-4o") == 8
    )  # as measured (hmarr-user-hello)
    weather = chat_prompt({"messages": COOKBOOK_7_MESSAGES, "tools": [WEATHER_TOOL]})
    section = openai_chat.tools_section(weather.tools)
    system_text, user_text = COOKBOOK_7_MESSAGES[0]["content"], COOKBOOK_7_MESSAGES[1]["content"]
    expected = (3 + 1 + h(system_text + "\n\n" + section) - 1) + (3 + 1 + h(user_text)) + 3
    assert openai_chat.prompt_tokens(weather, HEURISTIC_COUNTER, "gpt-4o") == expected
    names = chat_prompt({"messages": COOKBOOK_6_MESSAGES})
    expected = 3 + sum(
        3 + 1 + h(message["content"]) + (h(message["name"]) + 1 if "name" in message else 0)
        for message in COOKBOOK_6_MESSAGES
    )
    assert openai_chat.prompt_tokens(names, HEURISTIC_COUNTER, "gpt-4o") == expected


def test_heuristic_counts_tool_calls_and_results() -> None:
    h = HEURISTIC_COUNTER.count
    prompt = Prompt(
        [
            Message("assistant", tool_calls=[ToolCall("do_stuff", '{"foo": "bar"}')]),
            Message("tool", ["done"], name="do_stuff"),
        ]
    )
    assistant = 3 + 1 + 3 + h("do_stuff") + h('{"foo": "bar"}')
    tool = 3 + h("do_stuff") + h("done")
    assert openai_chat.prompt_tokens(prompt, HEURISTIC_COUNTER, "gpt-4o") == assistant + tool + 3


def test_empty_prompt_costs_the_reply_priming() -> None:
    assert openai_chat.prompt_tokens(Prompt(), counter("gpt-4o"), "gpt-4o") == 3
    tools_only = Prompt(tools=[Tool("foo", None, {"type": "object", "properties": {}})])
    # hmarr-function-empty (31) without its user message (3 + 1 + 1 for "hello")
    assert openai_chat.prompt_tokens(tools_only, counter(GPT35), GPT35) == 26


def test_odd_schemas_render_without_failing() -> None:
    odd = Tool(
        "x",
        None,
        {
            "type": "object",
            "required": [{"not": "a name"}, "b"],
            "properties": {"b": {"type": ["string", "null"]}, "e": {"enum": [{"a": [1]}, 2]}, "c": None},
        },
    )
    assert openai_chat.tools_section([odd]) == (
        "# Tools\n\n## functions\n\nnamespace functions {\n\n"
        "type x = (_: {\n"
        "b: string | null,\n"
        'e?: {"a": [1]} | 2,\n'
        "c?: any,\n"
        "}) => any;\n\n"
        "} // namespace functions"
    )
