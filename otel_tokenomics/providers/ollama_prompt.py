"""Ollama requests read into a countable Prompt, and answers into their output text.

Read only to estimate a call that ended without counts: a stream left before its
``done`` part, an answer without ``prompt_eval_count``, the legacy ``/api/embeddings``
(which never reports one). The body is the JSON the SDK sends (plain dicts:
``messages``, ``tools``, base64 ``images``).

Not counted: a ``template`` or ``raw`` prompt's own framing, and ``context`` (the
token ids of an earlier ``generate`` answer, sent back; deprecated by Ollama).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from otel_tokenomics.estimation.prompt import Image, Message, Prompt
from otel_tokenomics.providers.prompt_parts import (
    add_text,
    add_tool_call_texts,
    function_tools,
    get,
    inline_image,
    items_of,
    records_of,
    text_of,
    texts_of,
    tool_calls,
)


def _images(images: Any) -> list[Image]:
    return [inline_image(image) for image in items_of(images)]


def chat_prompt(body: Mapping[str, Any]) -> Prompt:
    messages = []
    for message in records_of(body.get("messages")):
        role = text_of(get(message, "role")) or "user"
        # A tool result names the tool it answers (tool_name).
        parsed = Message(role, name=text_of(get(message, "tool_name")) if role == "tool" else None)
        # An assistant turn sent back with its thinking: the template may render it.
        for key in ("thinking", "content"):
            add_text(parsed.texts, get(message, key))
        parsed.images = _images(get(message, "images"))
        parsed.tool_calls = tool_calls(get(message, "tool_calls"))
        messages.append(parsed)
    return Prompt(messages, function_tools(body.get("tools")))


def generate_prompt(body: Mapping[str, Any]) -> Prompt:
    messages = []
    system = text_of(body.get("system"))
    if system is not None:
        messages.append(Message("system", [system]))
    texts = [text for text in (text_of(body.get("prompt")), text_of(body.get("suffix"))) if text]
    images = _images(body.get("images"))
    if texts or images:
        messages.append(Message("user", texts, images=images))
    return Prompt(messages)


def embed_prompt(body: Mapping[str, Any]) -> Prompt:
    return Prompt([Message("user", texts_of(body.get("input")))])


def embeddings_prompt(body: Mapping[str, Any]) -> Prompt:
    """Legacy ``/api/embeddings``: one ``prompt``."""
    text = text_of(body.get("prompt"))
    return Prompt([Message("user", [text] if text is not None else [])])


def add_message_texts(texts: list[str], message: Any) -> None:
    """The billed text of a chat answer (or a streamed part of one): thinking, content, tool calls."""
    for key in ("thinking", "content"):
        add_text(texts, get(message, key))
    add_tool_call_texts(texts, get(message, "tool_calls"))


def add_generated_texts(texts: list[str], part: Any) -> None:
    for key in ("thinking", "response"):
        add_text(texts, get(part, key))


def chat_output_text(response: Any) -> list[str]:
    texts: list[str] = []
    add_message_texts(texts, get(response, "message"))
    return texts


def generate_output_text(response: Any) -> list[str]:
    texts: list[str] = []
    add_generated_texts(texts, response)
    return texts
