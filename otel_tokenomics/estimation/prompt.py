"""What a request sends the model, in one shape for every provider, so it can be counted.

Adapters read their SDK's request body into a :class:`Prompt` (``Route.read_prompt``);
:mod:`otel_tokenomics.estimation.counting` counts it by the rules of the model's
provider. Only what costs tokens is kept: roles, names, texts, images, tool calls
and tool definitions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class Image:
    """An image in a prompt. Sizes are known for inline data (read from its header), not for URLs."""

    __slots__ = ("detail", "height", "width")

    def __init__(
        self, width: int | None = None, height: int | None = None, detail: str | None = None
    ) -> None:
        self.width = width
        self.height = height
        # OpenAI's "low" | "high" | "auto"; None where the provider has no such choice.
        self.detail = detail

    def __repr__(self) -> str:
        return f"Image({self.width}x{self.height}, detail={self.detail!r})"


class ToolCall:
    """A tool call the assistant made earlier in the conversation (sent back as history)."""

    __slots__ = ("arguments", "name")

    def __init__(self, name: str, arguments: str) -> None:
        self.name = name
        self.arguments = arguments

    def __repr__(self) -> str:
        return f"ToolCall({self.name!r}, {self.arguments!r})"


class Message:
    """One message: a role, an optional author name, its text parts, images and tool calls.

    For ``tool`` and ``function`` messages (tool results), ``name`` is the name of the
    function whose result it is, where the request says it.
    """

    __slots__ = ("images", "name", "role", "texts", "tool_calls")

    def __init__(
        self,
        role: str,
        texts: list[str] | None = None,
        name: str | None = None,
        images: list[Image] | None = None,
        tool_calls: list[ToolCall] | None = None,
    ) -> None:
        self.role = role
        self.texts = texts if texts is not None else []
        self.name = name
        self.images = images if images is not None else []
        self.tool_calls = tool_calls if tool_calls is not None else []

    def __repr__(self) -> str:
        return f"Message({self.role!r}, {self.texts!r}, name={self.name!r})"


class Tool:
    """A function the model may call: name, description and JSON-schema parameters."""

    __slots__ = ("description", "name", "parameters")

    def __init__(
        self, name: str, description: str | None = None, parameters: Mapping[str, Any] | None = None
    ) -> None:
        self.name = name
        self.description = description
        self.parameters = parameters

    def __repr__(self) -> str:
        return f"Tool({self.name!r})"


class Prompt:
    """The counted parts of one request.

    ``raw``: the texts are billed as they are, with no chat framing (a legacy
    completion prompt, a fill-in-the-middle prompt, embedding inputs).
    """

    __slots__ = ("messages", "raw", "tools")

    def __init__(
        self, messages: list[Message] | None = None, tools: list[Tool] | None = None, raw: bool = False
    ) -> None:
        self.messages = messages if messages is not None else []
        self.tools = tools if tools is not None else []
        self.raw = raw

    @classmethod
    def of_text(cls, text: str) -> Prompt:
        """A single user message (a plain-text prompt, a completion prompt)."""
        return cls([Message("user", [text])])

    def __repr__(self) -> str:
        return f"Prompt({self.messages!r}, tools={self.tools!r})"
