"""An Anthropic Messages request read into a countable :class:`~otel_tokenomics.estimation.prompt.Prompt`.

Runs only for a call that ended without usage (a stream broken before
``message_delta``, a proxy that drops ``usage``), never on the call path. The
same body arrives from the ``anthropic`` SDK (first-party, Bedrock, Vertex) and
in Bedrock ``InvokeModel`` bodies for Claude; a chat-completions body (gpt-oss,
DeepSeek on Bedrock) has the same ``messages`` of string or text-block content
and reads the same. Blocks are SDK-transformed dicts as a rule; SDK models are
read too.

What is counted, and why (https://docs.anthropic.com/en/api/messages,
https://docs.anthropic.com/en/docs/build-with-claude/token-counting):

* ``system`` (a string or text blocks) as a system message;
* text, ``tool_use`` (name and JSON input), ``tool_result`` (its text and images),
  ``search_result`` and text ``document`` blocks; images by their size, read from
  the base64 data's header (a URL or file image has no size here);
* ``thinking`` blocks only in the current assistant turn: the token counting guide
  says thinking from previous assistant turns is ignored and not counted, the
  current turn's thinking (a tool-use loop) is;
* ``redacted_thinking`` (encrypted) and PDF pages are not countable here and left out;
* ``tools``: name, description and ``input_schema`` (server tools: their name).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping
from typing import Any

from otel_tokenomics.estimation import images
from otel_tokenomics.estimation.prompt import Image, Message, Prompt, Tool, ToolCall

_TOOL_CALLS = frozenset({"tool_use", "server_tool_use", "mcp_tool_use"})
# Server and MCP tool results carry what the tool returned in ``content`` too.
_TOOL_RESULTS = frozenset(
    {"tool_result", "mcp_tool_result", "web_fetch_tool_result", "code_execution_tool_result"}
)
# The image header is at the start of the data; 64 KiB of base64 covers a JPEG's
# EXIF and ICC segments before its frame header in all but unusual files.
_HEAD_CHARS = 65536


def get(obj: Any, name: str) -> Any:
    """A field of a request dict or of an SDK model passed in its place."""
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def add_text(message: Message, text: Any) -> None:
    if isinstance(text, str) and text:
        message.texts.append(text)


def tool_use(block: Any) -> ToolCall:
    """A tool call by its ``name`` and ``input`` (a Messages ``tool_use`` block, a Converse ``toolUse``)."""
    name = get(block, "name")
    return ToolCall(name if isinstance(name, str) else "", as_json(get(block, "input")))


def tool_of(name: str, description: Any, schema: Any) -> Tool:
    """A tool definition; a description or schema of an unexpected type is left out."""
    return Tool(
        name,
        description if isinstance(description, str) else None,
        schema if isinstance(schema, Mapping) else None,
    )


def as_json(value: Any) -> str:
    """A tool call's input as the JSON text the model wrote (or a string kept as it is)."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        value = dump(mode="json")
    return json.dumps(value, ensure_ascii=False, default=str)


# -- images ------------------------------------------------------------------------------


def image_of_bytes(data: Any) -> Image:
    """An image of known bytes, sized from its header when the size reader can."""
    read = getattr(images, "image_size", None)
    if callable(read) and isinstance(data, (bytes, bytearray)) and data:
        try:
            size = read(bytes(data))
        except Exception:  # an unreadable header: the size stays unknown
            size = None
        if isinstance(size, tuple) and len(size) == 2:
            return Image(size[0], size[1])
    return Image()


def image_of_base64(data: Any) -> Image:
    """An image sent as base64 (Anthropic ``source.data``, a ``data:`` URL's payload)."""
    if not isinstance(data, str) or not data:
        return Image()
    if data.startswith("data:"):
        data = data.partition(",")[2]
    head = _decode(data[:_HEAD_CHARS] if len(data) > _HEAD_CHARS else data)
    image = image_of_bytes(head)
    if image.width is None and len(data) > _HEAD_CHARS:
        image = image_of_bytes(_decode(data))
    return image


def _decode(data: str) -> bytes:
    data = "".join(data.split())
    data = data[: len(data) - len(data) % 4]
    try:
        return base64.b64decode(data)
    except (binascii.Error, ValueError):
        return b""


def _image(block: Any) -> Image:
    source = get(block, "source")
    if get(source, "type") == "base64":
        return image_of_base64(get(source, "data"))
    return Image()  # a URL or a Files API id: no bytes to size


# -- content blocks ---------------------------------------------------------------------------


def add_content(message: Message, content: Any, thinking: bool = True) -> None:
    """Add a message's content (a string or blocks) to ``message``."""
    if isinstance(content, str):
        if content:
            message.texts.append(content)
        return
    if not isinstance(content, (list, tuple)):
        return
    for block in content:
        if isinstance(block, str):  # a chat-completions body's bare string part
            message.texts.append(block)
        else:
            _add_block(message, block, thinking)


def _add_block(message: Message, block: Any, thinking: bool) -> None:
    kind = get(block, "type")
    if kind == "text":
        add_text(message, get(block, "text"))
    elif kind == "image":
        message.images.append(_image(block))
    elif kind in _TOOL_CALLS:
        message.tool_calls.append(tool_use(block))
    elif kind in _TOOL_RESULTS:
        add_content(message, get(block, "content"), thinking)
    elif kind == "thinking":
        if thinking:
            add_text(message, get(block, "thinking"))
    elif kind == "document":
        _add_document(message, block)
    elif kind == "search_result":
        add_text(message, get(block, "title"))
        add_content(message, get(block, "content"), thinking)
    elif kind != "redacted_thinking":
        # A block type this reader does not know yet: its text, if it has one.
        add_text(message, get(block, "text"))


def _add_document(message: Message, block: Any) -> None:
    add_text(message, get(block, "title"))
    add_text(message, get(block, "context"))
    source = get(block, "source")
    kind = get(source, "type")
    if kind == "text":
        add_text(message, get(source, "data"))
    elif kind == "content":
        add_content(message, get(source, "content"))


# -- the request ---------------------------------------------------------------------------------


def system_message(system: Any) -> Message | None:
    if not system:
        return None
    message = Message("system")
    add_content(message, system)
    return message if message.texts or message.images else None


def tools_of(tools: Any) -> list[Tool]:
    """Anthropic tool definitions (and a chat-completions body's ``{"type": "function", ...}``)."""
    result: list[Tool] = []
    for tool in tools if isinstance(tools, (list, tuple)) else ():
        function = get(tool, "function")
        if function is not None:
            tool = function
        name = get(tool, "name")
        if not isinstance(name, str):
            continue
        schema = get(tool, "input_schema") if function is None else get(tool, "parameters")
        result.append(tool_of(name, get(tool, "description"), schema))
    return result


def _is_tool_result(block: Any) -> bool:
    return get(block, "type") == "tool_result"


def _only_tool_results(content: Any, is_tool_result: Callable[[Any], bool]) -> bool:
    if not isinstance(content, (list, tuple)) or not content:
        return False
    return all(is_tool_result(block) for block in content)


def current_turn_start(entries: list[Any], is_tool_result: Callable[[Any], bool] = _is_tool_result) -> int:
    """Where the current turn starts: the last user message that is not only tool results
    (``is_tool_result`` tells the API's tool result blocks)."""
    for position in range(len(entries) - 1, -1, -1):
        entry = entries[position]
        if get(entry, "role") == "user" and not _only_tool_results(get(entry, "content"), is_tool_result):
            return position
    return 0


def turn_messages(
    entries: Any,
    add_entry: Callable[[Message, Any, bool], None],
    is_tool_result: Callable[[Any], bool] = _is_tool_result,
) -> list[Message]:
    """A message per entry of a request's ``messages``, of the entry's role; ``add_entry`` fills
    it in, told whether the entry is in the current turn (the one whose thinking counts)."""
    entries = list(entries) if isinstance(entries, (list, tuple)) else []
    turn = current_turn_start(entries, is_tool_result)
    messages: list[Message] = []
    for position, entry in enumerate(entries):
        role = get(entry, "role")
        message = Message(role if isinstance(role, str) and role else "user")
        add_entry(message, entry, position >= turn)
        messages.append(message)
    return messages


def messages_prompt(body: Mapping[str, Any]) -> Prompt:
    """The counted parts of a Messages request body."""
    messages: list[Message] = []
    system = system_message(body.get("system"))
    if system is not None:
        messages.append(system)
    messages.extend(turn_messages(body.get("messages"), _add_entry))
    return Prompt(messages, tools_of(body.get("tools")))


def _add_entry(message: Message, entry: Any, current_turn: bool) -> None:
    add_content(message, get(entry, "content"), thinking=current_turn)
    _add_chat_tool_calls(message, get(entry, "tool_calls"))


def _add_chat_tool_calls(message: Message, tool_calls: Any) -> None:
    """A chat-completions assistant message's ``tool_calls`` (Bedrock's OpenAI-format bodies)."""
    for tool_call in tool_calls if isinstance(tool_calls, (list, tuple)) else ():
        function = get(tool_call, "function")
        name = get(function, "name")
        if isinstance(name, str):
            message.tool_calls.append(ToolCall(name, as_json(get(function, "arguments"))))


def message_output_text(message: Any) -> list[str]:
    """What a non-streamed ``Message`` (SDK model or dict) says the model wrote."""
    texts: list[str] = []
    content = get(message, "content")
    for block in content if isinstance(content, (list, tuple)) else ():
        kind = get(block, "type")
        if kind == "text":
            text = get(block, "text")
        elif kind == "thinking":
            text = get(block, "thinking")
        elif kind in _TOOL_CALLS:
            call = tool_use(block)
            text = call.name + call.arguments
        else:
            continue
        if isinstance(text, str) and text:
            texts.append(text)
    return texts
