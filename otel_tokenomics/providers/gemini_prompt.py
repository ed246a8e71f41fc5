"""A google-genai request read into a countable :class:`~otel_tokenomics.estimation.prompt.Prompt`.

Runs only for a call that ended without usage. The body is the keyword arguments
of ``Models._generate_content`` (``model``, ``contents``, ``config``): contents as
the user passed them (a string, parts, ``Content`` objects or their dicts, PIL
images), normalised by the SDK's own ``t_contents`` as the request itself is.

What is counted (https://ai.google.dev/gemini-api/docs/tokens):

* ``config.system_instruction`` as a system message;
* text parts (thought summaries sent back included), function calls (name and
  JSON arguments), function responses (name and JSON response), executable code
  and its result;
* images, inline (sized from their header) or by URI (size unknown); audio, video
  and PDF parts are billed by duration or page, which the request does not say:
  not counted;
* ``config.tools`` function declarations (a Python function, as the SDK declares it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from otel_tokenomics.estimation.prompt import Image, Message, Prompt, Tool, ToolCall
from otel_tokenomics.providers.prompt_parts import (
    add_text,
    get,
    inline_image,
    items_of,
    json_text,
    parsed_items,
    text_of,
    tool_of,
)


def _contents(contents: Any) -> list[Any]:
    """The request's contents as the SDK itself normalises them (``Content`` objects)."""
    if contents is None:
        return []
    from google.genai import _transformers

    try:
        return list(_transformers.t_contents(contents) or ())
    except (ValueError, TypeError):  # empty, or a shape the SDK itself rejects
        return []


def _role(role: Any) -> str:
    return "assistant" if role == "model" else text_of(role) or "user"


def _is_image(mime_type: Any) -> bool:
    return isinstance(mime_type, str) and mime_type.startswith("image/")


def _add_part(message: Message, part: Any) -> None:
    text = part if isinstance(part, str) else get(part, "text")
    if isinstance(text, str):  # a text part, even an empty one, is nothing else
        add_text(message.texts, text)
        return
    call = get(part, "function_call")
    if call is not None:
        message.tool_calls.append(ToolCall(text_of(get(call, "name")) or "", _json(get(call, "args"))))
        return
    response = get(part, "function_response")
    if response is not None:
        message.texts.append((text_of(get(response, "name")) or "") + _json(get(response, "response")))
        return
    _add_media_or_code(message, part)


def _add_media_or_code(message: Message, part: Any) -> None:
    inline = get(part, "inline_data")
    if inline is not None:
        if _is_image(get(inline, "mime_type")):
            message.images.append(inline_image(get(inline, "data")))
        return
    file_data = get(part, "file_data")
    if file_data is not None:
        if _is_image(get(file_data, "mime_type")):
            message.images.append(Image())
        return
    add_text(message.texts, get(get(part, "executable_code"), "code"))
    add_text(message.texts, get(get(part, "code_execution_result"), "output"))


def _json(value: Any) -> str:
    # A function call's arguments, a function's response: JSON as the model reads it.
    return json_text(value, spaced=True) or ""


def _parts(instruction: Any) -> Iterable[Any]:
    """A system instruction's parts: a string, a part, a list of them, or a ``Content``."""
    parts = get(instruction, "parts") if not isinstance(instruction, (str, list, tuple)) else None
    if parts is not None:
        return items_of(parts)
    return instruction if isinstance(instruction, (list, tuple)) else (instruction,)


def _declaration(tool: Any) -> Any:
    """A Python function in ``tools`` as the SDK declares it to the model."""
    from google.genai import types

    declare = getattr(types.FunctionDeclaration, "from_callable_with_api_option", None)
    if declare is not None:
        try:
            return declare(callable=tool, use_json_schema=True)
        except Exception:  # an SDK without JSON schemas, or a signature it cannot declare
            pass
    return {"name": getattr(tool, "__name__", None), "description": getattr(tool, "__doc__", None)}


def tools_of(tools: Any) -> list[Tool]:
    result: list[Tool] = []
    for tool in items_of(tools):
        declarations = get(tool, "function_declarations") if not callable(tool) else [_declaration(tool)]
        result.extend(parsed_items(declarations, _declared_tool))
    return result


def _declared_tool(declaration: Any) -> Tool | None:
    schema = get(declaration, "parameters_json_schema") or get(declaration, "parameters")
    return tool_of(get(declaration, "name"), get(declaration, "description"), schema)


def generate_prompt(body: Mapping[str, Any]) -> Prompt:
    """The counted parts of a ``generate_content`` request."""
    messages: list[Message] = []
    config = body.get("config")
    instruction = get(config, "system_instruction")
    if instruction:
        system = Message("system")
        for part in _parts(instruction):
            _add_part(system, part)
        messages.append(system)
    for content in _contents(body.get("contents")):
        message = Message(_role(get(content, "role")))
        for part in items_of(get(content, "parts")):
            _add_part(message, part)
        messages.append(message)
    return Prompt(messages, tools_of(get(config, "tools")))


def embed_prompt(body: Mapping[str, Any]) -> Prompt:
    """``embed_content`` inputs: every text part, counted without framing."""
    texts = []
    for content in _contents(body.get("contents")):
        for part in items_of(get(content, "parts")):
            add_text(texts, get(part, "text"))
    return Prompt([Message("user", texts)])


def append_candidate_texts(output_text: list[str], candidates: Any) -> None:
    """The text a response or stream chunk delivers: text parts and function calls."""
    for candidate in candidates:
        content = getattr(candidate, "content", None)
        for part in getattr(content, "parts", None) or ():
            text = getattr(part, "text", None)
            if text:
                output_text.append(text)
                continue
            call = getattr(part, "function_call", None)
            if call is not None:
                output_text.append((getattr(call, "name", None) or "") + _json(getattr(call, "args", None)))


def response_output_text(response: Any) -> list[str]:
    """What a non-streamed answer without usage says the model wrote."""
    texts: list[str] = []
    append_candidate_texts(texts, getattr(response, "candidates", None) or ())
    return texts
