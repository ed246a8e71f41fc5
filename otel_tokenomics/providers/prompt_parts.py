"""Pieces shared by the request readers (the ``*_prompt`` modules of every provider).

Request bodies hold the user's own objects: plain dicts, TypedDicts, or the SDK's
pydantic models, with the SDK's "not given" sentinels (cohere's ``...``,
mistralai's ``UNSET``) where a field was left out. Everything here reads such
values by type and gives up quietly on anything else: these run only when a
call ended without usage, to estimate it, and must never raise.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any, TypeVar

from otel_tokenomics.estimation import images
from otel_tokenomics.estimation.prompt import Image, Message, Prompt, Tool, ToolCall
from otel_tokenomics.usage import field

_T = TypeVar("_T")

_COMPACT = (",", ":")
_SPACED = (", ", ": ")


def get(obj: Any, name: str) -> Any:
    """A field of a dict or of an SDK model (None when absent)."""
    if type(obj) is dict:  # the common case, without an ABC check
        return obj.get(name)
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        return obj.get(name)
    return field(obj, name)


def text_of(value: Any) -> str | None:
    """A non-empty string, else None (sentinels, None and other types included)."""
    return value if isinstance(value, str) and value else None


def items_of(value: Any) -> Sequence[Any]:
    """A list-like field as it is; anything else (a string, a dict, a sentinel, None) as nothing.

    Iterators are not read: what the SDK consumed is gone, what it did not is the user's.
    """
    if isinstance(value, (list, tuple)):
        return value
    if value is None or isinstance(value, (str, bytes, bytearray, memoryview)):
        return ()
    return value if isinstance(value, Sequence) else ()


def texts_of(value: Any) -> list[str]:
    """One string or a list of them (an embedding input), as its non-empty texts."""
    text = text_of(value)
    if text is not None:
        return [text]
    return [text for text in items_of(value) if isinstance(text, str) and text]


def records_of(value: Any) -> list[Any]:
    """The dicts and SDK models of a list (messages, parts); stray values are not messages."""
    return [item for item in items_of(value) if isinstance(item, Mapping) or hasattr(item, "__dict__")]


def parsed_items(value: Any, parse: Callable[[Any], _T | None]) -> list[_T]:
    """Each item of a list parsed; the ones ``parse`` could not read (None) are left out."""
    return [parsed for parsed in map(parse, items_of(value)) if parsed is not None]


def add_text(texts: list[str], value: Any) -> None:
    """Add ``value`` when it is a non-empty string."""
    text = text_of(value)
    if text is not None:
        texts.append(text)


def add_content(texts: list[str], content: Any, add_part: Callable[[Any], None]) -> None:
    """A message's content: a string is its one text; each part of a list goes to ``add_part``."""
    text = text_of(content)
    if text is not None:
        texts.append(text)
        return
    for part in items_of(content):
        add_part(part)


def json_text(value: Any, spaced: bool = False) -> str | None:
    """What a structured value costs as text: strings as they are, the rest as JSON.

    Compact JSON unless ``spaced`` (a space after each ``,`` and ``:``, as ``json.dumps``
    writes by default): the Anthropic, Bedrock and Gemini readers count a tool's input that way.
    """
    if value is None or value is ...:
        return None
    if isinstance(value, str):
        return value or None
    value = _plain(value)
    if value is None:
        return None
    try:
        separators = _SPACED if spaced else _COMPACT
        return json.dumps(value, separators=separators, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return None


def schema_of(value: Any) -> Mapping[str, Any] | None:
    """A tool's parameter schema as a mapping (an SDK's schema model dumped); else None."""
    value = _plain(value)
    return value if isinstance(value, Mapping) else None


def _plain(value: Any) -> Any:
    """A pydantic model as the JSON value its SDK sends (None when it cannot be dumped);
    anything else as it is. A model's repr is not what the model reads."""
    if not hasattr(value, "model_dump"):
        return value
    try:
        # Fields by their wire names, None ones left out, as the SDKs serialise a request.
        return value.model_dump(mode="json", exclude_none=True, by_alias=True)
    except Exception:
        return None


def tool_of(name: Any, description: Any, parameters: Any) -> Tool | None:
    """A tool definition, None without a name; a description or parameters of an unexpected
    type are left out."""
    name = text_of(name)
    if name is None:
        return None
    return Tool(name, text_of(description), schema_of(parameters))


def chat_request_prompt(
    body: Mapping[str, Any], add_part: Callable[[Message, Any], None], tool_name_field: str | None = None
) -> Prompt:
    """A chat request of the shape they share: ``messages`` (read by :func:`chat_message`) and
    function ``tools``."""
    messages = records_of(body.get("messages"))
    parsed = [chat_message(message, add_part, tool_name_field) for message in messages]
    return Prompt(parsed, function_tools(body.get("tools")))


def chat_message(
    message: Any, add_part: Callable[[Message, Any], None], tool_name_field: str | None = None
) -> Message:
    """A chat message of the shape they share: a role (``user`` when unsaid), a content that is a
    string or parts (each given to ``add_part``), and tool calls.

    ``tool_name_field``: where a tool result names the function it answers, for an SDK that sends it.
    """
    role = text_of(get(message, "role")) or "user"
    name = text_of(get(message, tool_name_field)) if tool_name_field and role == "tool" else None
    parsed = Message(role, name=name)
    add_content(parsed.texts, get(message, "content"), partial(add_part, parsed))
    parsed.tool_calls = tool_calls(get(message, "tool_calls"))
    return parsed


def named_tool(definition: Any) -> Tool | None:
    """A function's definition, ``{name, description, parameters}``; None without a name."""
    return tool_of(get(definition, "name"), get(definition, "description"), get(definition, "parameters"))


def function_tool(definition: Any) -> Tool | None:
    """``{"type": "function", "function": {name, description, parameters}}``, the shape they all share."""
    return named_tool(get(definition, "function"))


def function_tools(definitions: Any) -> list[Tool]:
    return parsed_items(definitions, function_tool)


def tool_call(call: Any) -> ToolCall | None:
    """A tool call of an assistant message: ``{"function": {"name", "arguments"}}``;
    arguments may be a JSON string (cohere, mistralai) or an object (ollama, mistralai)."""
    function = get(call, "function")
    name = text_of(get(function, "name"))
    if name is None:
        return None
    return ToolCall(name, json_text(get(function, "arguments")) or "")


def tool_calls(calls: Any) -> list[ToolCall]:
    return parsed_items(calls, tool_call)


def add_tool_call_texts(texts: list[str], calls: Any) -> None:
    """The billed output of tool calls: each call's name and arguments."""
    for call in tool_calls(calls):
        texts.append(call.name)
        if call.arguments:
            texts.append(call.arguments)


def image_part(part: Any) -> Image:
    """An ``image_url`` part: its ``image_url`` is the URL itself, or ``{"url", "detail"}``."""
    image_url = get(part, "image_url")
    url = image_url if type(image_url) is str else get(image_url, "url")
    return image_from_url(url, get(image_url, "detail"))


def image_from_url(url: Any, detail: Any = None) -> Image:
    """An image part given by URL: sized when it is a base64 ``data:`` URL, unsized otherwise."""
    size = images.data_url_size(url) if isinstance(url, str) else None
    width, height = size if size is not None else (None, None)
    return Image(width, height, text_of(detail))


def inline_image(data: Any, detail: Any = None) -> Image:
    """An image sent inline: raw bytes, or base64 text (a ``data:`` URL too), sized from its header."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        size = images.image_size(data)
    elif isinstance(data, str) and data.startswith("data:"):
        return image_from_url(data, detail)
    else:
        size = images.base64_image_size(data)
    width, height = size if size is not None else (None, None)
    return Image(width, height, text_of(detail))
