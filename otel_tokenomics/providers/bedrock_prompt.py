"""Bedrock requests read into a countable :class:`~otel_tokenomics.estimation.prompt.Prompt`.

Runs only for a call that ended without usage. Converse (and Nova's InvokeModel
body, the same ContentBlocks) is read here; Claude's and the chat-completions
InvokeModel bodies by :mod:`otel_tokenomics.providers.anthropic_prompt`; the
prompt-string bodies (Llama, Mistral, Titan, Cohere Command) as one user message.

Converse ContentBlocks (https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ContentBlock.html):
text, ``toolUse`` (name and JSON input), ``toolResult`` (its text, JSON and images),
``reasoningContent`` (in the current turn only, as for Claude: see
``anthropic_prompt``), ``guardContent`` text, ``citationsContent`` text, images by
their size, and documents whose format is text (txt, md, csv, html) or that carry
text; PDF and office documents, video and ``cachePoint`` markers are not counted.
Through boto3 an image's ``bytes`` are raw bytes; in a Nova InvokeModel body, base64.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from otel_tokenomics.estimation.prompt import Image, Message, Prompt, Tool
from otel_tokenomics.providers.anthropic_prompt import messages_prompt, tool_use, turn_messages
from otel_tokenomics.providers.prompt_parts import (
    add_content,
    add_text,
    get,
    inline_image,
    items_of,
    json_text,
    parsed_items,
    text_of,
    texts_of,
    tool_of,
)

# Document formats whose bytes are text the model reads as it is.
_TEXT_DOCUMENTS = frozenset({"txt", "md", "csv", "html"})


def _is_tool_result(block: Any) -> bool:
    return isinstance(block, Mapping) and "toolResult" in block


def _image(image: Any) -> Image:
    # Raw bytes through boto3, base64 text in a Nova InvokeModel body.
    return inline_image(get(get(image, "source"), "bytes"))


def _document(message: Message, document: Any) -> None:
    add_text(message.texts, get(document, "name"))
    source = get(document, "source")
    add_text(message.texts, get(source, "text"))
    for block in items_of(get(source, "content")):
        add_text(message.texts, get(block, "text"))
    data = get(source, "bytes")
    if get(document, "format") in _TEXT_DOCUMENTS and isinstance(data, (bytes, bytearray)):
        message.texts.append(bytes(data).decode("utf-8", "replace"))


def _tool_result(message: Message, result: Any) -> None:
    # A ToolResultContentBlock holds one of text, image, document (read as in a message) or json.
    for block in items_of(get(result, "content")):
        if isinstance(block, Mapping) and "json" in block:
            add_text(message.texts, json_text(block["json"], spaced=True))
        else:
            _add_block(message, block, True)


def add_blocks(message: Message, content: Any, reasoning: bool = True) -> None:
    """Add Converse ContentBlocks (or SystemContentBlocks) to ``message``."""
    # A plain string is not the API's shape, but reads plainly.
    add_content(message.texts, content, lambda block: _add_block(message, block, reasoning))


def _add_block(message: Message, block: Any, reasoning: bool) -> None:
    if not isinstance(block, Mapping):
        return
    if "text" in block:
        add_text(message.texts, block["text"])
    elif "image" in block:
        message.images.append(_image(block["image"]))
    elif "toolUse" in block:
        message.tool_calls.append(tool_use(block["toolUse"]))
    elif "toolResult" in block:
        _tool_result(message, block["toolResult"])
    elif "document" in block:
        _document(message, block["document"])
    elif "reasoningContent" in block:
        if reasoning:
            add_text(message.texts, get(get(block["reasoningContent"], "reasoningText"), "text"))
    elif "guardContent" in block:
        add_text(message.texts, get(get(block["guardContent"], "text"), "text"))
    elif "citationsContent" in block:
        for part in items_of(get(block["citationsContent"], "content")):
            add_text(message.texts, get(part, "text"))


def _tools(tool_config: Any) -> list[Tool]:
    return parsed_items(get(tool_config, "tools"), _tool)


def _tool(tool: Any) -> Tool | None:
    spec = get(tool, "toolSpec")  # None for a cachePoint, a system tool
    return tool_of(get(spec, "name"), get(spec, "description"), get(get(spec, "inputSchema"), "json"))


def converse_prompt(body: Mapping[str, Any]) -> Prompt:
    """A Converse / ConverseStream request (the boto3 parameters), or a Nova InvokeModel body."""
    messages: list[Message] = []
    system = body.get("system")
    if system:
        message = Message("system")
        add_blocks(message, system)
        messages.append(message)
    messages.extend(turn_messages(body.get("messages"), _add_entry, _is_tool_result))
    return Prompt(messages, _tools(body.get("toolConfig")))


def _add_entry(message: Message, entry: Any, current_turn: bool) -> None:
    add_blocks(message, get(entry, "content"), reasoning=current_turn)


def is_nova_body(body: Mapping[str, Any]) -> bool:
    """Nova's InvokeModel body: Converse's shape, recognised as ``invoke_input_content`` does."""
    return bool(body.get("schemaVersion")) or "inferenceConfig" in body


def invoke_prompt(body: Mapping[str, Any]) -> Prompt:
    """An InvokeModel body of any vendor, by its shape (the model id may be an opaque ARN)."""
    if "messages" in body:
        return converse_prompt(body) if is_nova_body(body) else messages_prompt(body)
    messages: list[Message] = []
    preamble = text_of(body.get("preamble"))  # Cohere Command R
    if preamble is not None:
        messages.append(Message("system", [preamble]))
    for turn in items_of(body.get("chat_history")):
        text = text_of(get(turn, "message"))
        if text is not None:
            role = get(turn, "role")
            messages.append(Message("assistant" if role == "CHATBOT" else "user", [text]))
    user = Message("user")
    for key in ("prompt", "message", "inputText"):
        add_text(user.texts, body.get(key))
    for document in items_of(body.get("documents")):
        if isinstance(document, Mapping):
            for value in document.values():
                add_text(user.texts, value)
    if user.texts:
        messages.append(user)
    return Prompt(messages)


def embeddings_prompt(body: Mapping[str, Any]) -> Prompt:
    """Embedding inputs: Titan's ``inputText``, Cohere's ``texts``; counted without framing."""
    return Prompt([Message("user", texts_of(body.get("inputText")) + texts_of(body.get("texts")))])


def converse_output_text(response: Any) -> list[str]:
    """What a Converse answer (or Nova's InvokeModel answer) says the model wrote."""
    message = get(get(response, "output"), "message")
    texts: list[str] = []
    for block in items_of(get(message, "content")):
        if not isinstance(block, Mapping):
            continue
        if isinstance(block.get("text"), str):
            add_text(texts, block["text"])
        elif "toolUse" in block:
            call = tool_use(block["toolUse"])
            add_text(texts, call.name + call.arguments)
        elif "reasoningContent" in block:
            add_text(texts, get(get(block["reasoningContent"], "reasoningText"), "text"))
    return texts
