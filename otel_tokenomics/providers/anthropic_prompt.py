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

from collections.abc import Callable, Mapping
from typing import Any

from otel_tokenomics.estimation.prompt import Image, Message, Prompt, Tool, ToolCall
from otel_tokenomics.providers.prompt_parts import (
    add_content,
    add_text,
    get,
    inline_image,
    items_of,
    json_text,
    named_tool,
    parsed_items,
    text_of,
    tool_calls,
    tool_of,
)

_TOOL_CALLS = frozenset({"tool_use", "server_tool_use", "mcp_tool_use"})
# Server and MCP tool results carry what the tool returned in ``content`` too.
_TOOL_RESULTS = frozenset(
    {"tool_result", "mcp_tool_result", "web_fetch_tool_result", "code_execution_tool_result"}
)


def tool_use(block: Any) -> ToolCall:
    """A tool call by its ``name`` and ``input`` (a Messages ``tool_use`` block, a Converse ``toolUse``)."""
    return ToolCall(text_of(get(block, "name")) or "", json_text(get(block, "input"), spaced=True) or "")


def _image(block: Any) -> Image:
    source = get(block, "source")
    if get(source, "type") == "base64":
        return inline_image(get(source, "data"))
    return Image()  # a URL or a Files API id: no bytes to size


# -- content blocks ---------------------------------------------------------------------------


def add_blocks(message: Message, content: Any, thinking: bool = True) -> None:
    """Add a message's content (a string or blocks) to ``message``."""
    add_content(message.texts, content, lambda block: _add_block(message, block, thinking))


def _add_block(message: Message, block: Any, thinking: bool) -> None:
    if isinstance(block, str):  # a chat-completions body's bare string part
        add_text(message.texts, block)
        return
    kind = get(block, "type")
    if kind == "text":
        add_text(message.texts, get(block, "text"))
    elif kind == "image":
        message.images.append(_image(block))
    elif kind in _TOOL_CALLS:
        message.tool_calls.append(tool_use(block))
    elif kind in _TOOL_RESULTS:
        add_blocks(message, get(block, "content"), thinking)
    elif kind == "thinking":
        if thinking:
            add_text(message.texts, get(block, "thinking"))
    elif kind == "document":
        _add_document(message, block)
    elif kind == "search_result":
        add_text(message.texts, get(block, "title"))
        add_blocks(message, get(block, "content"), thinking)
    elif kind != "redacted_thinking":
        # A block type this reader does not know yet: its text, if it has one.
        add_text(message.texts, get(block, "text"))


def _add_document(message: Message, block: Any) -> None:
    add_text(message.texts, get(block, "title"))
    add_text(message.texts, get(block, "context"))
    source = get(block, "source")
    kind = get(source, "type")
    if kind == "text":
        add_text(message.texts, get(source, "data"))
    elif kind == "content":
        add_blocks(message, get(source, "content"))


# -- the request ---------------------------------------------------------------------------------


def system_message(system: Any) -> Message | None:
    if not system:
        return None
    message = Message("system")
    add_blocks(message, system)
    return message if message.texts or message.images else None


def tools_of(tools: Any) -> list[Tool]:
    """Anthropic tool definitions (and a chat-completions body's ``{"type": "function", ...}``)."""
    return parsed_items(tools, _tool)


def _tool(tool: Any) -> Tool | None:
    function = get(tool, "function")
    if function is not None:
        return named_tool(function)
    # Server tools (web search, ...) have a name and no schema.
    return tool_of(get(tool, "name"), get(tool, "description"), get(tool, "input_schema"))


def _is_tool_result(block: Any) -> bool:
    return get(block, "type") == "tool_result"


def _only_tool_results(content: Any, is_tool_result: Callable[[Any], bool]) -> bool:
    blocks = items_of(content)
    return bool(blocks) and all(is_tool_result(block) for block in blocks)


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
    entries = list(items_of(entries))
    turn = current_turn_start(entries, is_tool_result)
    messages: list[Message] = []
    for position, entry in enumerate(entries):
        message = Message(text_of(get(entry, "role")) or "user")
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
    add_blocks(message, get(entry, "content"), thinking=current_turn)
    # A chat-completions assistant message's ``tool_calls`` (Bedrock's OpenAI-format bodies).
    message.tool_calls.extend(tool_calls(get(entry, "tool_calls")))


def message_output_text(message: Any) -> list[str]:
    """What a non-streamed ``Message`` (SDK model or dict) says the model wrote."""
    texts: list[str] = []
    for block in items_of(get(message, "content")):
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
        add_text(texts, text)
    return texts
