"""OpenAI request bodies read into a countable :class:`Prompt`, and answers into their output text.

Read only when the provider reported no usage (an OpenAI-compatible server that
sends none, a stream cut short): the readers take the body as the SDK sent it,
plain dicts or the SDK's own models (an assistant message passed back as history
is often the ``ChatCompletionMessage`` the previous call returned), and never
raise: what they cannot read is left out.

What is kept is what the model is billed for: texts, names, images (sized from
``data:`` URLs), earlier tool calls, tool definitions. Audio and files are left
out (billed by their own rules, which need their content); so are reasoning
items passed back to the Responses API (encrypted) and a ``previous_response_id``
conversation (held by the server).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from otel_tokenomics.estimation.prompt import Message, Prompt, Tool, ToolCall
from otel_tokenomics.providers.prompt_parts import (
    add_content,
    add_text,
    get,
    image_from_url,
    image_part,
    items_of,
    named_tool,
    parsed_items,
    text_of,
)

logger = logging.getLogger("otel_tokenomics")

_T = TypeVar("_T")

# A text that tiktoken (cl100k_base and o200k_base) and the heuristic both count as
# exactly one token per repetition: it stands for a prompt sent as token ids, whose
# billed size is the number of ids.
TOKEN_ID_STAND_IN = " the"


def _never_raises(default: Callable[[], _T]) -> Callable[[Callable[..., _T]], Callable[..., _T]]:
    """The readers run inside our own end-of-call code: a body we misread must cost the
    estimate, never the user's call (the caller guards too; this keeps the log precise)."""

    def wrap(reader: Callable[..., _T]) -> Callable[..., _T]:
        @functools.wraps(reader)
        def guarded(*args: Any) -> _T:
            try:
                return reader(*args)
            except Exception:
                logger.debug("otel-tokenomics could not read %s", reader.__name__, exc_info=True)
                return default()

        return guarded

    return wrap


# -- chat completions ------------------------------------------------------------------------


@_never_raises(Prompt)
def chat_prompt(body: Mapping[str, Any]) -> Prompt:
    """``chat.completions.create`` kwargs: messages, tools and legacy functions."""
    messages: list[Message] = []
    tool_names: dict[str, str] = {}
    for raw in items_of(get(body, "messages")):
        message = _chat_message(raw, tool_names)
        if message is not None:
            messages.append(message)
    return Prompt(messages, _chat_tools(body))


def _chat_message(raw: Any, tool_names: dict[str, str]) -> Message | None:
    role = get(raw, "role")
    if not isinstance(role, str):
        return None
    message = Message(role, name=text_of(get(raw, "name")))
    add_content(message.texts, get(raw, "content"), functools.partial(_read_chat_part, message))
    add_text(message.texts, get(raw, "refusal"))
    for call in items_of(get(raw, "tool_calls")):
        tool_call = _chat_tool_call(call)
        if tool_call is not None:
            message.tool_calls.append(tool_call)
            call_id = get(call, "id")
            if isinstance(call_id, str):
                tool_names[call_id] = tool_call.name
    function_call = get(raw, "function_call")
    if function_call is not None:
        name = text_of(get(function_call, "name"))
        if name:
            message.tool_calls.append(ToolCall(name, text_of(get(function_call, "arguments")) or ""))
    if role == "tool" and not message.name:
        # A tool result is rendered under its function's name, known from the call.
        call_id = get(raw, "tool_call_id")
        message.name = tool_names.get(call_id) if isinstance(call_id, str) else None
    return message


def _read_chat_part(message: Message, part: Any) -> None:
    if isinstance(part, str):  # some compatible servers accept bare strings
        add_text(message.texts, part)
        return
    kind = get(part, "type")
    if kind in ("text", "refusal"):  # each holds its text in the field of its type's name
        add_text(message.texts, get(part, kind))
    elif kind == "image_url":
        message.images.append(image_part(part))
    # input_audio, file: billed by their own rules, left out.


def _chat_tool_call(call: Any) -> ToolCall | None:
    kind = get(call, "type")
    if kind == "custom":
        custom = get(call, "custom")
        name = text_of(get(custom, "name"))
        return ToolCall(name, text_of(get(custom, "input")) or "") if name else None
    function = get(call, "function")
    name = text_of(get(function, "name"))
    return ToolCall(name, text_of(get(function, "arguments")) or "") if name else None


def _chat_tools(body: Any) -> list[Tool]:
    tools = parsed_items(get(body, "tools"), _chat_tool)
    tools.extend(parsed_items(get(body, "functions"), named_tool))  # the legacy form
    return tools


def _chat_tool(raw: Any) -> Tool | None:
    return named_tool(get(raw, "custom") if get(raw, "type") == "custom" else get(raw, "function"))


# -- Responses ---------------------------------------------------------------------------------


@_never_raises(Prompt)
def responses_prompt(body: Mapping[str, Any]) -> Prompt:
    """``responses.create`` kwargs: instructions, input (a string or items) and function tools."""
    messages: list[Message] = []
    instructions = text_of(get(body, "instructions"))
    if instructions:
        messages.append(Message("system", [instructions]))
    raw_input = get(body, "input")
    if isinstance(raw_input, str):
        messages.append(Message("user", [raw_input]))
    else:
        tool_names: dict[str, str] = {}
        for item in items_of(raw_input):
            _read_responses_item(item, messages, tool_names)
    return Prompt(messages, parsed_items(get(body, "tools"), _responses_tool))


def _responses_tool(raw: Any) -> Tool | None:
    # Built-in tools (web search, file search, ...) have no definition to count.
    return named_tool(raw) if get(raw, "type") in ("function", "custom") else None


_CALL_ITEMS = ("function_call", "custom_tool_call")
_OUTPUT_ITEMS = ("function_call_output", "custom_tool_call_output")


def _read_responses_item(item: Any, messages: list[Message], tool_names: dict[str, str]) -> None:
    kind = get(item, "type")
    if kind in _CALL_ITEMS:
        name = text_of(get(item, "name"))
        if name is None:
            return
        arguments = get(item, "arguments" if kind == "function_call" else "input")
        call_id = get(item, "call_id")
        if isinstance(call_id, str):
            tool_names[call_id] = name
        # Calls made in one turn are one assistant message, as in chat completions.
        if not messages or messages[-1].role != "assistant":
            messages.append(Message("assistant"))
        messages[-1].tool_calls.append(ToolCall(name, text_of(arguments) or ""))
    elif kind in _OUTPUT_ITEMS:
        call_id = get(item, "call_id")
        message = Message("tool", name=tool_names.get(call_id) if isinstance(call_id, str) else None)
        add_content(message.texts, get(item, "output"), functools.partial(_read_responses_part, message))
        messages.append(message)
    elif kind in (None, "message"):
        role = get(item, "role")
        if isinstance(role, str):
            message = Message(role)
            add_content(message.texts, get(item, "content"), functools.partial(_read_responses_part, message))
            messages.append(message)
    # reasoning (encrypted), item_reference and built-in tool calls: nothing to count.


def _read_responses_part(message: Message, part: Any) -> None:
    kind = get(part, "type")
    if kind in ("input_text", "output_text", "text"):
        add_text(message.texts, get(part, "text"))
    elif kind == "refusal":
        add_text(message.texts, get(part, "refusal"))
    elif kind == "input_image":
        message.images.append(image_from_url(get(part, "image_url"), get(part, "detail")))
    # input_file, input_audio: left out.


# -- legacy completions and embeddings -------------------------------------------------------


@_never_raises(Prompt)
def completions_prompt(body: Mapping[str, Any]) -> Prompt:
    """``completions.create`` kwargs: one text per prompt (each billed on its own, no chat framing)."""
    return Prompt([Message("user", _inputs(get(body, "prompt")))], raw=True)


@_never_raises(Prompt)
def embeddings_prompt(body: Mapping[str, Any]) -> Prompt:
    """``embeddings.create`` kwargs: one text per input."""
    return Prompt([Message("user", _inputs(get(body, "input")))], raw=True)


def _inputs(raw: Any) -> list[str]:
    """A string, a list of strings, a list of token ids or a list of such lists, as texts.

    A token-id input becomes :data:`TOKEN_ID_STAND_IN` repeated once per id, so that
    counting it gives its length, which is what it is billed.
    """
    if isinstance(raw, str):
        return [raw] if raw else []
    items = items_of(raw)
    if items and all(type(item) is int for item in items):
        return [TOKEN_ID_STAND_IN * len(items)]
    texts: list[str] = []
    for item in items:
        if isinstance(item, str):
            add_text(texts, item)
        else:
            ids = items_of(item)
            if ids and all(type(token) is int for token in ids):
                texts.append(TOKEN_ID_STAND_IN * len(ids))
    return texts


# -- answers that came without usage -------------------------------------------------------


@_never_raises(list)
def chat_output_text(response: Any) -> list[str]:
    """The billed text of a chat completion: content, refusal and tool calls, of every choice.

    Reasoning text that OpenAI-compatible servers return next to the content is
    theirs to add (the Groq adapter does): its field differs from server to server.
    """
    texts: list[str] = []
    for choice in items_of(get(response, "choices")):
        message = get(choice, "message")
        if message is None:
            continue
        for key in ("content", "refusal"):
            add_text(texts, get(message, key))
        for call in items_of(get(message, "tool_calls")):
            tool_call = _chat_tool_call(call)
            if tool_call is not None:
                texts.extend(_call_texts(tool_call))
        function_call = get(message, "function_call")
        name = text_of(get(function_call, "name"))
        if name:
            texts.extend(_call_texts(ToolCall(name, text_of(get(function_call, "arguments")) or "")))
    return texts


@_never_raises(list)
def responses_output_text(response: Any) -> list[str]:
    """The billed text of a Responses answer: output text, refusals, reasoning summaries, tool calls."""
    texts: list[str] = []
    for item in items_of(get(response, "output")):
        kind = get(item, "type")
        if kind == "message":
            for part in items_of(get(item, "content")):
                add_text(texts, text_of(get(part, "text")) or get(part, "refusal"))
        elif kind in _CALL_ITEMS:
            add_text(texts, get(item, "name"))
            add_text(texts, get(item, "arguments" if kind == "function_call" else "input"))
        elif kind == "reasoning":
            # The visible part of the reasoning, as a stream's deltas would carry it.
            for part in (*items_of(get(item, "summary")), *items_of(get(item, "content"))):
                add_text(texts, get(part, "text"))
    return texts


@_never_raises(list)
def completion_output_text(response: Any) -> list[str]:
    """The text of each choice of a legacy completion."""
    texts = []
    for choice in items_of(get(response, "choices")):
        add_text(texts, get(choice, "text"))
    return texts


def _call_texts(call: ToolCall) -> list[str]:
    return [call.name, call.arguments] if call.arguments else [call.name]
