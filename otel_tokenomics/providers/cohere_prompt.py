"""Cohere v2 requests read into a countable Prompt, and answers into their output text.

Read only to estimate a call that ended without usage (a stream left before its
``message-end``, an answer without ``usage``). The body is the keyword arguments of
``RawV2Client.chat`` / ``embed``: messages and tools as the user passed them (dicts
or the SDK's models), unset parameters as the SDK's ``...`` sentinel.

What Cohere bills as input besides the messages: the ``documents`` of a RAG call
(rendered into the prompt; counted as one system message of their texts) and the
tool definitions. Images in embed requests are billed as image tokens at a price of
their own; the estimate counts the texts only.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

from otel_tokenomics.estimation.prompt import Message, Prompt
from otel_tokenomics.providers.prompt_parts import (
    add_content,
    add_text,
    add_tool_call_texts,
    chat_message,
    function_tools,
    get,
    image_part,
    items_of,
    json_text,
    records_of,
    text_of,
    texts_of,
)


def chat_prompt(body: Mapping[str, Any]) -> Prompt:
    messages = [_message(message) for message in records_of(body.get("messages"))]
    documents = [text for text in map(_document_text, items_of(body.get("documents"))) if text]
    if documents:
        messages.insert(0, Message("system", documents))
    return Prompt(messages, function_tools(body.get("tools")))


def _message(message: Any) -> Message:
    parsed = chat_message(message, _add_part)
    add_text(parsed.texts, get(message, "tool_plan"))  # an assistant's plan before its tool calls
    return parsed


def _add_part(message: Message, part: Any) -> None:
    kind = get(part, "type")
    if kind == "image_url":
        message.images.append(image_part(part))
    elif kind == "document":  # a tool result given as a document
        add_text(message.texts, _document_text(get(part, "document")))
    else:
        _add_part_text(message.texts, part)


def _add_part_text(texts: list[str], part: Any) -> None:
    """A text part, or the thinking of an assistant turn sent back."""
    add_text(texts, text_of(get(part, "text")) or text_of(get(part, "thinking")))


def _document_text(document: Any) -> str | None:
    """A document is a string, or ``{"data": {...}, "id": ...}`` whose data the model reads."""
    text = text_of(document)
    if text is not None:
        return text
    return json_text(get(document, "data"))


def embed_prompt(body: Mapping[str, Any]) -> Prompt:
    texts = texts_of(body.get("texts"))
    for item in items_of(body.get("inputs")):  # mixed inputs: their text parts
        for part in items_of(get(item, "content")):
            add_text(texts, get(part, "text"))
    return Prompt([Message("user", texts)])


def chat_output_text(response: Any) -> list[str]:
    """The billed text of a ``V2ChatResponse``: text and thinking, the tool plan, tool calls."""
    message = get(response, "message")
    texts: list[str] = []
    add_content(texts, get(message, "content"), partial(_add_part_text, texts))
    add_text(texts, get(message, "tool_plan"))
    add_tool_call_texts(texts, get(message, "tool_calls"))
    return texts
