"""Mistral requests read into a countable Prompt, and answers into their output text.

Read only to estimate a call that ended without usage (a stream left before its
last chunk, which alone carries the usage). The body is the keyword arguments of
``chat.complete`` / ``stream``, ``fim.*`` or ``embeddings.create``: messages as the
user passed them (dicts or the SDK's models), unset fields as the SDK's ``UNSET``.

Content is a string or a list of chunks; the ones that cost text tokens are read:
``text``, ``thinking`` (a reasoning model's thoughts, a list of text chunks) and
``image_url`` (sized from a base64 ``data:`` URL). Documents, files, audio and
references are not counted: their token cost is not derivable from the request.
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
    chat_request_prompt,
    get,
    image_part,
    items_of,
    text_of,
    texts_of,
)


def chat_prompt(body: Mapping[str, Any]) -> Prompt:
    # A tool result names the function it answers in ``name``.
    return chat_request_prompt(body, _add_chunk, tool_name_field="name")


def _add_chunk(message: Message, chunk: Any) -> None:
    if get(chunk, "type") == "image_url":
        message.images.append(image_part(chunk))
    else:
        add_chunk_texts(message.texts, chunk)


def add_chunk_texts(texts: list[str], chunk: Any) -> None:
    """The text of a ``text`` chunk, or of the text chunks inside a ``thinking`` one."""
    kind = get(chunk, "type")
    if kind == "text":
        add_text(texts, get(chunk, "text"))
    elif kind == "thinking":
        for inner in items_of(get(chunk, "thinking")):
            add_text(texts, get(inner, "text"))


def add_content_texts(texts: list[str], content: Any) -> None:
    """The texts of a message's (or a stream delta's) content: a string, or chunks."""
    add_content(texts, content, partial(add_chunk_texts, texts))


def fim_prompt(body: Mapping[str, Any]) -> Prompt:
    """Fill-in-the-middle: the code before the gap and, when given, after it."""
    texts = [text for text in (text_of(body.get("prompt")), text_of(body.get("suffix"))) if text]
    return Prompt([Message("user", texts)], raw=True)


def embeddings_prompt(body: Mapping[str, Any]) -> Prompt:
    # ``inputs`` in the SDK's signature (``input`` on the wire).
    raw = body.get("inputs")
    if raw is None:
        raw = body.get("input")
    return Prompt([Message("user", texts_of(raw))])


def completion_output_text(response: Any) -> list[str]:
    """The billed text of a chat or FIM answer: every choice's content (thinking included) and tool calls."""
    texts: list[str] = []
    for choice in items_of(get(response, "choices")):
        message = get(choice, "message")
        add_content_texts(texts, get(message, "content"))
        add_tool_call_texts(texts, get(message, "tool_calls"))
    return texts
