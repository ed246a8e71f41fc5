"""Opt-in content of chat APIs shaped like OpenAI's whose requests hold SDK models (cohere, mistralai).

The ``openai`` readers take plain dicts only; these SDKs take the user's dicts or their own
pydantic models, with their "not given" sentinels where a field was left out, so every
field is read with :func:`~otel_tokenomics.providers.prompt_parts.get` and checked by type.
The message shape is the one every adapter emits (the GenAI semantic conventions):
``{"role", "parts": [...], "finish_reason"}`` with ``text``, ``reasoning``, ``uri``,
``tool_call``, ``tool_call_response`` and ``generic`` parts.

An answer, streamed or not, is gathered in :class:`ChatOutput` (``call.content``): each
choice's parts in the order they came, streamed pieces of one part joined, tool calls last.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from otel_tokenomics import semconv as sc
from otel_tokenomics.call import InferenceCall, report_internal_error
from otel_tokenomics.providers.prompt_parts import get, items_of, records_of, schema_of, text_of

_T = TypeVar("_T")

TEXT = "text"
REASONING = "reasoning"


def plain(value: Any) -> Any:
    """A JSON-ready value: SDK models (in lists and dicts too) as the dicts their SDK sends."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    dumped = schema_of(value)  # a model dumped by its wire names; None for anything else
    return dict(dumped) if dumped is not None else str(value)


def text_part(text: str) -> dict[str, Any]:
    return {"type": TEXT, "content": text}


def image_url_part(image_url: Any) -> dict[str, Any]:
    """``image_url``: the URL itself, or ``{"url", "detail"}`` (a dict or the SDK's model)."""
    url = image_url if isinstance(image_url, str) else text_of(get(image_url, "url"))
    return {"type": "uri", "modality": "image", "uri": url}


def generic_part(kind: Any, part: Any) -> dict[str, Any]:
    """A part of a kind the conventions do not name: kept whole, under its own type."""
    generic_type = kind if isinstance(kind, str) else None
    return {"type": "generic", "generic_type": generic_type, "content": plain(part)}


def tool_call_part(tool_call: Any) -> dict[str, Any]:
    """``{"id", "function": {"name", "arguments"}}``; arguments as sent (JSON text, or an object)."""
    function = get(tool_call, "function")
    return {
        "type": "tool_call",
        "id": text_of(get(tool_call, "id")),
        "name": text_of(get(function, "name")),
        "arguments": plain(_arguments(get(function, "arguments"))),
    }


def _arguments(value: Any) -> Any:
    # The SDKs' unset sentinels (cohere's ``...``, mistralai's UNSET) are not arguments.
    return value if isinstance(value, (str, Mapping)) or hasattr(value, "model_dump") else None


def tool_call_parts(tool_calls: Any) -> list[dict[str, Any]]:
    return [tool_call_part(tool_call) for tool_call in items_of(tool_calls)]


def tool_response_part(call_id: Any, content: Any) -> dict[str, Any]:
    """A tool's result: its content as sent (text, or the SDK's parts as plain dicts)."""
    return {"type": "tool_call_response", "id": text_of(call_id), "response": plain(_content(content))}


def _content(content: Any) -> Any:
    return content if isinstance(content, str) else list(items_of(content))


def tool_definitions(tools: Any) -> list[dict[str, Any]]:
    """``[{"type": "function", "function": {"name", "description", "parameters"}}]``, dicts or models."""
    definitions = []
    for tool in items_of(tools):
        function = get(tool, "function")
        name = text_of(get(function, "name"))
        if name is None:
            continue
        definitions.append(
            {
                "type": text_of(get(tool, "type")) or "function",
                "name": name,
                "description": text_of(get(function, "description")),
                "parameters": plain(schema_of(get(function, "parameters"))),
            }
        )
    return definitions


def content_parts(content: Any, part_of: Callable[[Any], dict[str, Any] | None]) -> list[dict[str, Any]]:
    """A message's content: a string is one text part; each item of a list goes to ``part_of``."""
    if isinstance(content, str):
        return [text_part(content)]
    return [part for part in map(part_of, items_of(content)) if part is not None]


def chat_input_content(
    body: Mapping[str, Any],
    part_of: Callable[[Any], dict[str, Any] | None],
    more_parts: Callable[[Any], list[dict[str, Any]]] | None = None,
) -> dict[str, Any]:
    """``messages`` and ``tools`` of a request as GenAI input messages and tool definitions.

    System messages stay in the history, where these APIs take them. ``part_of`` reads one
    content block; ``more_parts`` adds what an assistant message holds beside its content
    and before its tool calls (Cohere's ``tool_plan``).
    """
    messages = []
    for message in records_of(body.get("messages")):
        role = text_of(get(message, "role")) or "user"
        content = get(message, "content")
        if role == "tool":
            parts = [tool_response_part(get(message, "tool_call_id"), content)]
        else:
            parts = content_parts(content, part_of)
            if more_parts is not None:
                parts.extend(more_parts(message))
            parts.extend(tool_call_parts(get(message, "tool_calls")))
        messages.append({"role": role, "parts": parts})
    result: dict[str, Any] = {sc.GEN_AI_INPUT_MESSAGES: messages}
    tools = tool_definitions(body.get("tools"))
    if tools:
        result[sc.GEN_AI_TOOL_DEFINITIONS] = tools
    return result


# -- the answer ------------------------------------------------------------------------------------


class _Message:
    """One choice's parts: whole ones, and the pieces of streamed ones by slot."""

    __slots__ = ("parts", "slots", "tools")

    def __init__(self) -> None:
        self.parts: list[dict[str, Any]] = []
        # slot -> the part its pieces go to (a content block's index, a tool plan)
        self.slots: dict[Any, dict[str, Any]] = {}
        self.tools: dict[int, dict[str, Any]] = {}

    def add_piece(self, slot: Any, kind: str, piece: Any) -> None:
        """A piece of text of a ``text`` or ``reasoning`` part; pieces of one slot are joined."""
        # An empty piece opens nothing: a stream's first delta is often an empty text
        # before the thinking, and must not put the text first.
        if not isinstance(piece, str) or not piece:
            return
        part = self.slots.get(slot)
        if part is None:
            part = self.slots[slot] = {"type": kind, "pieces": []}
            self.parts.append(part)
        part["pieces"].append(piece)

    def add_part(self, part: dict[str, Any]) -> None:
        self.parts.append(part)

    def add_tool_call(self, index: Any, call_id: Any, name: Any, arguments: Any) -> None:
        """A tool call, or a piece of one: arguments stream as JSON text, or come whole."""
        position = index if type(index) is int else len(self.tools)
        entry = self.tools.get(position)
        if entry is None:
            entry = self.tools[position] = {"id": None, "name": None, "pieces": [], "whole": None}
        call_id = text_of(call_id)
        if call_id is not None and entry["id"] is None:
            entry["id"] = call_id
        name = text_of(name)
        if name is not None and entry["name"] is None:
            entry["name"] = name
        if isinstance(arguments, str):
            entry["pieces"].append(arguments)
        else:
            arguments = _arguments(arguments)
            if arguments is not None:
                entry["whole"] = plain(arguments)

    def add_tool_calls(self, tool_calls: Any) -> None:
        """Whole tool calls (``{"id", "function": {...}, "index"}``), in order unless indexed."""
        for position, tool_call in enumerate(items_of(tool_calls)):
            index = get(tool_call, "index")
            function = get(tool_call, "function")
            self.add_tool_call(
                index if type(index) is int else position,
                get(tool_call, "id"),
                get(function, "name"),
                get(function, "arguments"),
            )

    def message(self, finish_reason: str | None) -> dict[str, Any]:
        parts = []
        for part in self.parts:
            pieces = part.get("pieces")
            if pieces is None:
                parts.append(part)
            else:
                parts.append({"type": part["type"], "content": "".join(pieces)})
        for position in sorted(self.tools):
            entry = self.tools[position]
            pieces = entry["pieces"]
            parts.append(
                {
                    "type": "tool_call",
                    "id": entry["id"],
                    "name": entry["name"],
                    "arguments": "".join(pieces) if pieces else entry["whole"],
                }
            )
        message: dict[str, Any] = {"role": "assistant", "parts": parts}
        if finish_reason:
            message["finish_reason"] = finish_reason
        return message


class ChatOutput:
    """Opt-in only: the answer's messages, one per choice, read whole or gathered from a stream."""

    __slots__ = ("choices",)

    def __init__(self) -> None:
        self.choices: dict[int, _Message] = {}

    def choice(self, index: Any = 0) -> _Message:
        index = index if type(index) is int else 0
        message = self.choices.get(index)
        if message is None:
            message = self.choices[index] = _Message()
        return message

    def messages(self, finish_reasons: dict[int, str] | None) -> list[dict[str, Any]]:
        reasons = finish_reasons or {}
        return [self.choices[index].message(reasons.get(index)) for index in sorted(self.choices)]


class _Lost:
    """The content of a call whose capture failed once: none, rather than a part of it."""

    __slots__ = ()

    def messages(self, finish_reasons: dict[int, str] | None) -> None:
        return None


_LOST = _Lost()


def capture_output(call: InferenceCall, read: Callable[[ChatOutput, _T], None], value: _T) -> None:
    """Add what ``value`` (a response, a stream chunk) holds of the answer to ``call.content``.

    Guarded on its own: content is opt-in debugging, and a failure there must cost
    neither the usage read from the same response or chunk nor the chunk's timing.
    After a failure the call records no output content: a part of it would read as
    the whole answer.
    """
    output = call.content
    if output is _LOST:
        return
    try:
        if output is None:
            output = call.content = ChatOutput()
        read(output, value)
    except Exception:
        call.content = _LOST
        report_internal_error("capturing output content")
