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
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from otel_tokenomics.estimation import images
from otel_tokenomics.estimation.prompt import Image, Message, Prompt, Tool, ToolCall

logger = logging.getLogger("otel_tokenomics")

_T = TypeVar("_T")

# A text that tiktoken (cl100k_base and o200k_base) and the heuristic both count as
# exactly one token per repetition: it stands for a prompt sent as token ids, whose
# billed size is the number of ids.
TOKEN_ID_STAND_IN = " the"


def _get(item: Any, key: str) -> Any:
    """A field of a dict or of an SDK model alike."""
    if type(item) is dict:  # the common case, without an ABC check
        return item.get(key)
    if isinstance(item, Mapping):
        return item.get(key)
    return getattr(item, key, None)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _add_text(message: Message, value: Any) -> None:
    text = _text(value)
    if text:
        message.texts.append(text)


def _items(value: Any) -> Sequence[Any]:
    """A list-like body field; anything else (a string, a dict, an iterator, None) as empty.

    Iterators are not read: what the SDK consumed is gone, what it did not is the user's.
    """
    if isinstance(value, (list, tuple)):
        return value
    if value is None:
        return ()
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes, bytearray)):
        return value
    return ()


def _read_content(content: Any, message: Message, read_part: Callable[[Any, Message], None]) -> None:
    """A message's content: a string is its one text; each part of a list goes to ``read_part``."""
    if isinstance(content, str):
        _add_text(message, content)
        return
    for part in _items(content):
        read_part(part, message)


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
    for raw in _items(_get(body, "messages")):
        message = _chat_message(raw, tool_names)
        if message is not None:
            messages.append(message)
    return Prompt(messages, _chat_tools(body))


def _chat_message(raw: Any, tool_names: dict[str, str]) -> Message | None:
    role = _get(raw, "role")
    if not isinstance(role, str):
        return None
    message = Message(role, name=_text(_get(raw, "name")))
    _read_content(_get(raw, "content"), message, _read_chat_part)
    _add_text(message, _get(raw, "refusal"))
    for call in _items(_get(raw, "tool_calls")):
        tool_call = _chat_tool_call(call)
        if tool_call is not None:
            message.tool_calls.append(tool_call)
            call_id = _get(call, "id")
            if isinstance(call_id, str):
                tool_names[call_id] = tool_call.name
    function_call = _get(raw, "function_call")
    if function_call is not None:
        name = _text(_get(function_call, "name"))
        if name:
            message.tool_calls.append(ToolCall(name, _string(_get(function_call, "arguments"))))
    if role == "tool" and not message.name:
        # A tool result is rendered under its function's name, known from the call.
        call_id = _get(raw, "tool_call_id")
        message.name = tool_names.get(call_id) if isinstance(call_id, str) else None
    return message


def _read_chat_part(part: Any, message: Message) -> None:
    if isinstance(part, str):  # some compatible servers accept bare strings
        _add_text(message, part)
        return
    kind = _get(part, "type")
    if kind in ("text", "refusal"):  # each holds its text in the field of its type's name
        _add_text(message, _get(part, kind))
    elif kind == "image_url":
        image_url = _get(part, "image_url")
        if isinstance(image_url, str):
            message.images.append(_image(image_url, None))
        else:
            message.images.append(_image(_get(image_url, "url"), _get(image_url, "detail")))
    # input_audio, file: billed by their own rules, left out.


def _chat_tool_call(call: Any) -> ToolCall | None:
    kind = _get(call, "type")
    if kind == "custom":
        custom = _get(call, "custom")
        name = _text(_get(custom, "name"))
        return ToolCall(name, _string(_get(custom, "input"))) if name else None
    function = _get(call, "function")
    name = _text(_get(function, "name"))
    return ToolCall(name, _string(_get(function, "arguments"))) if name else None


def _chat_tools(body: Any) -> list[Tool]:
    tools: list[Tool] = []
    for raw in _items(_get(body, "tools")):
        kind = _get(raw, "type")
        definition = _get(raw, "custom") if kind == "custom" else _get(raw, "function")
        tool = _tool(definition)
        if tool is not None:
            tools.append(tool)
    for raw in _items(_get(body, "functions")):  # the legacy form
        tool = _tool(raw)
        if tool is not None:
            tools.append(tool)
    return tools


def _tool(definition: Any) -> Tool | None:
    name = _text(_get(definition, "name"))
    if name is None:
        return None
    description = _text(_get(definition, "description"))
    parameters = _get(definition, "parameters")
    return Tool(name, description, parameters if isinstance(parameters, Mapping) else None)


def _image(url: Any, detail: Any) -> Image:
    size = images.data_url_size(url) if isinstance(url, str) else None
    width, height = size if size is not None else (None, None)
    return Image(width, height, detail if isinstance(detail, str) else None)


def _string(value: Any) -> str:
    return value if isinstance(value, str) else ""


# -- Responses ---------------------------------------------------------------------------------


@_never_raises(Prompt)
def responses_prompt(body: Mapping[str, Any]) -> Prompt:
    """``responses.create`` kwargs: instructions, input (a string or items) and function tools."""
    messages: list[Message] = []
    instructions = _text(_get(body, "instructions"))
    if instructions:
        messages.append(Message("system", [instructions]))
    raw_input = _get(body, "input")
    if isinstance(raw_input, str):
        messages.append(Message("user", [raw_input]))
    else:
        tool_names: dict[str, str] = {}
        for item in _items(raw_input):
            _read_responses_item(item, messages, tool_names)
    tools = []
    for raw in _items(_get(body, "tools")):
        # Built-in tools (web search, file search, ...) have no definition to count.
        if _get(raw, "type") in ("function", "custom"):
            tool = _tool(raw)
            if tool is not None:
                tools.append(tool)
    return Prompt(messages, tools)


_CALL_ITEMS = ("function_call", "custom_tool_call")
_OUTPUT_ITEMS = ("function_call_output", "custom_tool_call_output")


def _read_responses_item(item: Any, messages: list[Message], tool_names: dict[str, str]) -> None:
    kind = _get(item, "type")
    if kind in _CALL_ITEMS:
        name = _text(_get(item, "name"))
        if name is None:
            return
        arguments = _get(item, "arguments" if kind == "function_call" else "input")
        call_id = _get(item, "call_id")
        if isinstance(call_id, str):
            tool_names[call_id] = name
        # Calls made in one turn are one assistant message, as in chat completions.
        if not messages or messages[-1].role != "assistant":
            messages.append(Message("assistant"))
        messages[-1].tool_calls.append(ToolCall(name, _string(arguments)))
    elif kind in _OUTPUT_ITEMS:
        call_id = _get(item, "call_id")
        message = Message("tool", name=tool_names.get(call_id) if isinstance(call_id, str) else None)
        _read_content(_get(item, "output"), message, _read_responses_part)
        messages.append(message)
    elif kind in (None, "message"):
        role = _get(item, "role")
        if isinstance(role, str):
            message = Message(role)
            _read_content(_get(item, "content"), message, _read_responses_part)
            messages.append(message)
    # reasoning (encrypted), item_reference and built-in tool calls: nothing to count.


def _read_responses_part(part: Any, message: Message) -> None:
    kind = _get(part, "type")
    if kind in ("input_text", "output_text", "text"):
        _add_text(message, _get(part, "text"))
    elif kind == "refusal":
        _add_text(message, _get(part, "refusal"))
    elif kind == "input_image":
        message.images.append(_image(_get(part, "image_url"), _get(part, "detail")))
    # input_file, input_audio: left out.


# -- legacy completions and embeddings -------------------------------------------------------


@_never_raises(Prompt)
def completions_prompt(body: Mapping[str, Any]) -> Prompt:
    """``completions.create`` kwargs: one text per prompt (each billed on its own, no chat framing)."""
    return Prompt([Message("user", _inputs(_get(body, "prompt")))], raw=True)


@_never_raises(Prompt)
def embeddings_prompt(body: Mapping[str, Any]) -> Prompt:
    """``embeddings.create`` kwargs: one text per input."""
    return Prompt([Message("user", _inputs(_get(body, "input")))], raw=True)


def _inputs(raw: Any) -> list[str]:
    """A string, a list of strings, a list of token ids or a list of such lists, as texts.

    A token-id input becomes :data:`TOKEN_ID_STAND_IN` repeated once per id, so that
    counting it gives its length, which is what it is billed.
    """
    if isinstance(raw, str):
        return [raw] if raw else []
    items = _items(raw)
    if items and all(type(item) is int for item in items):
        return [TOKEN_ID_STAND_IN * len(items)]
    texts = []
    for item in items:
        if isinstance(item, str):
            if item:
                texts.append(item)
        else:
            ids = _items(item)
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
    for choice in _items(_get(response, "choices")):
        message = _get(choice, "message")
        if message is None:
            continue
        for key in ("content", "refusal"):
            text = _text(_get(message, key))
            if text:
                texts.append(text)
        for call in _items(_get(message, "tool_calls")):
            tool_call = _chat_tool_call(call)
            if tool_call is not None:
                texts.extend(_call_texts(tool_call))
        function_call = _get(message, "function_call")
        name = _text(_get(function_call, "name"))
        if name:
            texts.extend(_call_texts(ToolCall(name, _string(_get(function_call, "arguments")))))
    return texts


@_never_raises(list)
def responses_output_text(response: Any) -> list[str]:
    """The billed text of a Responses answer: output text, refusals, reasoning summaries, tool calls."""
    texts: list[str] = []
    for item in _items(_get(response, "output")):
        kind = _get(item, "type")
        if kind == "message":
            for part in _items(_get(item, "content")):
                text = _text(_get(part, "text")) or _text(_get(part, "refusal"))
                if text:
                    texts.append(text)
        elif kind in _CALL_ITEMS:
            name = _text(_get(item, "name"))
            if name:
                texts.append(name)
            arguments = _text(_get(item, "arguments" if kind == "function_call" else "input"))
            if arguments:
                texts.append(arguments)
        elif kind == "reasoning":
            # The visible part of the reasoning, as a stream's deltas would carry it.
            for part in (*_items(_get(item, "summary")), *_items(_get(item, "content"))):
                text = _text(_get(part, "text"))
                if text:
                    texts.append(text)
    return texts


@_never_raises(list)
def completion_output_text(response: Any) -> list[str]:
    """The text of each choice of a legacy completion."""
    texts = []
    for choice in _items(_get(response, "choices")):
        text = _text(_get(choice, "text"))
        if text:
            texts.append(text)
    return texts


def _call_texts(call: ToolCall) -> list[str]:
    return [call.name, call.arguments] if call.arguments else [call.name]
