"""Pieces shared by the request readers of SDKs that are not OpenAI's (cohere, mistralai, ollama, groq).

Their request bodies hold the user's own objects: plain dicts, TypedDicts, or the
SDK's pydantic models, with the SDK's "not given" sentinels (cohere's ``...``,
mistralai's ``UNSET``) where a field was left out. Everything here reads such
values by type and gives up quietly on anything else: these run only when a
call ended without usage, to estimate it, and must never raise.
"""

from __future__ import annotations

import binascii
import json
from base64 import b64decode
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any, TypeVar

from otel_tokenomics.estimation import images
from otel_tokenomics.estimation.prompt import Image, Message, Prompt, Tool, ToolCall
from otel_tokenomics.usage import field

_T = TypeVar("_T")

# Image headers sit at the start of the file; a JPEG's size marker comes after its
# EXIF block, at most 64 KiB: 72 KiB of the file, or its base64 text, is read.
_HEADER_BYTES = 72 * 1024
_HEADER_BASE64_CHARS = _HEADER_BYTES // 3 * 4


def get(obj: Any, name: str) -> Any:
    """A field of a dict or of an SDK model (None when absent)."""
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        return obj.get(name)
    return field(obj, name)


def text_of(value: Any) -> str | None:
    """A non-empty string, else None (sentinels, None and other types included)."""
    return value if type(value) is str and value else None


def items_of(value: Any) -> list[Any] | tuple[Any, ...]:
    """A list or tuple as it is; anything else (a sentinel, a spent generator) as nothing."""
    return value if isinstance(value, (list, tuple)) else ()


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


def json_text(value: Any) -> str | None:
    """What a structured value costs as text: strings as they are, the rest as compact JSON."""
    if value is None or value is ...:
        return None
    if isinstance(value, str):
        return value or None
    if hasattr(value, "model_dump"):  # a pydantic model: its JSON, not its repr
        try:
            value = value.model_dump(exclude_none=True)
        except Exception:
            return None
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return None


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


def function_tool(definition: Any) -> Tool | None:
    """``{"type": "function", "function": {name, description, parameters}}``, the shape they all share."""
    function = get(definition, "function")
    name = text_of(get(function, "name"))
    if name is None:
        return None
    parameters = get(function, "parameters")
    if hasattr(parameters, "model_dump"):
        try:
            parameters = parameters.model_dump(exclude_none=True, by_alias=True)
        except Exception:
            parameters = None
    return Tool(
        name,
        text_of(get(function, "description")),
        parameters if isinstance(parameters, Mapping) else None,
    )


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
    detail = text_of(detail)
    if type(url) is str and url.startswith("data:"):
        _, marker, data = url.partition(";base64,")
        if marker:
            return image_from_base64(data, detail)
    return Image(detail=detail)


def image_from_base64(data: Any, detail: str | None = None) -> Image:
    """An image sent inline (base64 text, or raw bytes), sized from its header when readable."""
    size = None
    if isinstance(data, (bytes, bytearray)):
        size = _image_size(bytes(data[:_HEADER_BYTES]))
    elif type(data) is str and data:
        prefix = data[:_HEADER_BASE64_CHARS]
        prefix = prefix[: len(prefix) // 4 * 4]
        try:
            decoded = b64decode(prefix)
        except (binascii.Error, ValueError):
            decoded = b""
        if decoded:
            size = _image_size(decoded)
    if size is None:
        return Image(detail=detail)
    return Image(size[0], size[1], detail)


def _image_size(data: bytes) -> tuple[int, int] | None:
    # images.image_size reads PNG, JPEG, GIF and WebP headers; a release without it
    # (or a header it cannot read) leaves the image unsized, counted by the default rule.
    reader = getattr(images, "image_size", None)
    if reader is None:
        return None
    try:
        size = reader(data)
    except Exception:
        return None
    if isinstance(size, tuple) and len(size) == 2 and all(type(side) is int and side > 0 for side in size):
        return size
    return None
