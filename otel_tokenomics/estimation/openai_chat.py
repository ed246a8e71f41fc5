"""OpenAI's chat format, counted: the input tokens OpenAI bills for a chat request.

The API renders every message as ``<start>{role}\\n{content}<end>`` and primes the
reply with ``<start>assistant<message>``: 3 tokens of framing per message plus its
role, 3 for the reply (OpenAI cookbook, "How to count tokens with tiktoken",
section 6). A ``name`` costs its own tokens and one more.

Tool (function) definitions are rendered to the model as TypeScript-like types in
a ``namespace functions { ... }`` block, under a ``# Tools`` / ``## functions``
heading, inside the first system message (a new one when there is none). The
layout is the one OpenAI publishes for its harmony format (github.com/openai/harmony,
docs/format.md): ``// description`` comments, ``type name = (_: { ... }) => any;``,
optional properties marked ``?``, enums as ``"a" | "b"``, arrays as ``T[]``, a
blank line after each function. Counting the system text and the section as one
text gives the adjustments others apply by hand: the system text's last token
may merge with the separator (a trailing ``":"`` does), and tools added to an
existing system message save that message's framing.

Rules measured against provider-reported ``prompt_tokens``, all exact in
tests/test_estimation_openai_accuracy.py: the cookbook's sections 6 and 7 (cl100k
and o200k models) and the 19 gpt-3.5-turbo cases of hmarr/openai-chat-tokens
(functions, nested objects, enums, arrays, function-role messages, assistant
function calls).

Assumed where no public count exists (each the natural extension of a measured rule):

* assistant ``tool_calls`` cost what a legacy ``function_call`` costs, each;
* a ``tool`` message whose function name is known costs what a ``function``
  message costs (the name stands in for the role); otherwise it is an ordinary
  message with the role ``tool``;
* text parts of one message are counted one by one and summed;
* nested properties' descriptions are rendered like top-level ones (harmony does);
* an image costs its tile or patch tokens alone (:mod:`.images`), no framing;
* reasoning models (o-series, gpt-5) frame messages as the older models do.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from otel_tokenomics.estimation import images
from otel_tokenomics.estimation.prompt import Message, Prompt, Tool
from otel_tokenomics.estimation.tokenizers import Counter

# <start>, the newline (or <message>) after the role, <end>.
PER_MESSAGE = 3
# <start>assistant<message>, which opens the reply.
PER_REPLY = 3
# The name's separator from the role.
PER_NAME = 1
# A function call in the history: the recipient and argument markers around its
# name and arguments (hmarr/openai-chat-tokens, measured with gpt-3.5-turbo).
PER_FUNCTION_CALL = 3
# The API bills one token fewer than the rendered tools section; the same on every
# measured case, with or without a system message to carry it, for both encodings.
TOOLS_SECTION_ADJUSTMENT = -1

# Roles that are one token in cl100k_base and o200k_base alike, so counted without
# a tokenizer (and so exactly even by the heuristic).
_ONE_TOKEN_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
# Messages that carry the tools section: the instructions.
_INSTRUCTION_ROLES = ("system", "developer")
# Roles whose messages are rendered under the function's name instead.
_RESULT_ROLES = ("function", "tool")

TOOLS_HEADING = "# Tools\n\n## functions\n\n"
# Between the system message's own text and the tools section.
_SECTION_SEPARATOR = "\n\n"


def prompt_tokens(prompt: Prompt, counter: Counter, model: str) -> int:
    """Input tokens of ``prompt`` for the OpenAI chat model ``model``, framing and tools included."""
    count = counter.count
    messages = prompt.messages
    section = tools_section(prompt.tools) if prompt.tools else None
    carrier = _carrier(messages) if section is not None else -1
    tokens = PER_REPLY
    if section is not None and carrier < 0:
        tokens += PER_MESSAGE + _role_tokens("system", count) + count(section) + TOOLS_SECTION_ADJUSTMENT
    for index, message in enumerate(messages):
        if index == carrier:
            tokens += _carrier_tokens(message, section or "", count) + TOOLS_SECTION_ADJUSTMENT
        else:
            tokens += _message_tokens(message, count)
        for image in message.images:
            tokens += images.image_tokens(image, "openai", model)
    return tokens


def _carrier(messages: list[Message]) -> int:
    for index, message in enumerate(messages):
        if message.role in _INSTRUCTION_ROLES:
            return index
    return -1


def _role_tokens(role: str, count: Callable[[str], int]) -> int:
    return 1 if role in _ONE_TOKEN_ROLES else count(role)


def _message_tokens(message: Message, count: Callable[[str], int]) -> int:
    name = message.name
    if name and message.role in _RESULT_ROLES:
        tokens = PER_MESSAGE + count(name)
    else:
        tokens = PER_MESSAGE + _role_tokens(message.role, count)
        if name:
            tokens += count(name) + PER_NAME
    for text in message.texts:
        tokens += count(text)
    for call in message.tool_calls:
        tokens += PER_FUNCTION_CALL + count(call.name) + count(call.arguments)
    return tokens


def _carrier_tokens(message: Message, section: str, count: Callable[[str], int]) -> int:
    """The first system message, with the tools section appended to its text.

    Counted as one text: the system text's last characters and the section's
    first ones may merge into one token (``":\\n\\n"`` does).
    """
    texts = message.texts
    tokens = PER_MESSAGE + _role_tokens(message.role, count)
    if message.name:
        tokens += count(message.name) + PER_NAME
    for text in texts[:-1]:
        tokens += count(text)
    last = texts[-1] + _SECTION_SEPARATOR if texts and texts[-1] else ""
    return tokens + count(last + section)


# -- tool definitions as the model sees them ------------------------------------------------


def tools_section(tools: list[Tool]) -> str:
    """The ``# Tools`` section that defines ``tools`` to the model."""
    lines = ["namespace functions {", ""]
    for tool in tools:
        lines.extend(_function(tool))
        lines.append("")
    lines.append("} // namespace functions")
    return TOOLS_HEADING + "\n".join(lines)


def _function(tool: Tool) -> list[str]:
    lines = []
    description = tool.description
    if isinstance(description, str) and description:
        lines.extend(f"// {line}" for line in description.splitlines())
    parameters = tool.parameters
    properties = parameters.get("properties") if isinstance(parameters, Mapping) else None
    if isinstance(properties, Mapping) and properties:
        lines.append(f"type {tool.name} = (_: {{")
        lines.extend(_properties(parameters or {}, ""))
        lines.append("}) => any;")
    else:
        # No arguments (an empty or missing schema) is rendered as none at all.
        lines.append(f"type {tool.name} = () => any;")
    return lines


def _properties(schema: Mapping[str, Any], indent: str) -> list[str]:
    """One line per property of an object schema (more for comments and nested objects)."""
    properties = schema.get("properties")
    if not isinstance(properties, Mapping):
        return []
    listed = schema.get("required")
    required = {key for key in listed if isinstance(key, str)} if isinstance(listed, (list, tuple)) else set()
    lines: list[str] = []
    for key, value in properties.items():
        value = value if isinstance(value, Mapping) else {}
        description = value.get("description")
        if isinstance(description, str) and description:
            lines.append(f"{indent}// {description}")
        optional = "" if key in required else "?"
        line = f"{indent}{key}{optional}: {_type(value, indent)},"
        default = value.get("default")
        if default is not None:
            line += f" // default: {_literal(default, quoted=not _has_enum(value))}"
        lines.append(line)
    return lines


def _type(schema: Mapping[str, Any], indent: str) -> str:
    """A JSON schema as a TypeScript type."""
    if _has_enum(schema):
        return " | ".join(_literal(value) for value in schema["enum"])
    if "const" in schema:
        return _literal(schema["const"])
    for union in ("anyOf", "oneOf"):
        variants = schema.get(union)
        if isinstance(variants, list) and variants:
            return " | ".join(_type(v if isinstance(v, Mapping) else {}, indent) for v in variants)
    kind = schema.get("type")
    if isinstance(kind, list):
        return " | ".join(_scalar(k) for k in kind if isinstance(k, str)) or "any"
    if kind == "array":
        items = schema.get("items")
        return f"{_type(items, indent)}[]" if isinstance(items, Mapping) else "any[]"
    if kind == "object" or (kind is None and isinstance(schema.get("properties"), Mapping)):
        if not schema.get("properties"):
            return "object"
        inner = indent + "  "
        return "\n".join(["{", *_properties(schema, inner), f"{indent}}}"])
    return _scalar(kind) if isinstance(kind, str) else "any"


def _scalar(kind: str) -> str:
    return "number" if kind == "integer" else kind


def _has_enum(schema: Mapping[str, Any]) -> bool:
    values = schema.get("enum")
    return isinstance(values, list) and bool(values)


def _literal(value: Any, quoted: bool = True) -> str:
    if isinstance(value, str) and not quoted:
        return value
    return json.dumps(value, ensure_ascii=False, default=str)
