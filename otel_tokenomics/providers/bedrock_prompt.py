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
from otel_tokenomics.providers.anthropic_prompt import (
    add_text,
    as_json,
    get,
    image_of_base64,
    image_of_bytes,
    messages_prompt,
    tool_of,
    tool_use,
    turn_messages,
)

# Document formats whose bytes are text the model reads as it is.
_TEXT_DOCUMENTS = frozenset({"txt", "md", "csv", "html"})


def _is_tool_result(block: Any) -> bool:
    return isinstance(block, Mapping) and "toolResult" in block


def _image(image: Any) -> Image:
    data = get(get(image, "source"), "bytes")
    if isinstance(data, str):
        return image_of_base64(data)
    return image_of_bytes(data)


def _document(message: Message, document: Any) -> None:
    add_text(message, get(document, "name"))
    source = get(document, "source")
    add_text(message, get(source, "text"))
    for block in get(source, "content") or ():
        add_text(message, get(block, "text"))
    data = get(source, "bytes")
    if get(document, "format") in _TEXT_DOCUMENTS and isinstance(data, (bytes, bytearray)):
        message.texts.append(bytes(data).decode("utf-8", "replace"))


def _tool_result(message: Message, result: Any) -> None:
    # A ToolResultContentBlock holds one of text, image, document (read as in a message) or json.
    for block in get(result, "content") or ():
        if isinstance(block, Mapping) and "json" in block:
            message.texts.append(as_json(block["json"]))
        else:
            add_blocks(message, [block])


def add_blocks(message: Message, content: Any, reasoning: bool = True) -> None:
    """Add Converse ContentBlocks (or SystemContentBlocks) to ``message``."""
    if isinstance(content, str):  # not the API's shape, but a plain string reads plainly
        add_text(message, content)
        return
    for block in content if isinstance(content, (list, tuple)) else ():
        if not isinstance(block, Mapping):
            continue
        if "text" in block:
            add_text(message, block["text"])
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
                add_text(message, get(get(block["reasoningContent"], "reasoningText"), "text"))
        elif "guardContent" in block:
            add_text(message, get(get(block["guardContent"], "text"), "text"))
        elif "citationsContent" in block:
            for part in get(block["citationsContent"], "content") or ():
                add_text(message, get(part, "text"))


def _tools(tool_config: Any) -> list[Tool]:
    tools: list[Tool] = []
    for tool in get(tool_config, "tools") or ():
        spec = get(tool, "toolSpec")
        name = get(spec, "name")
        if not isinstance(name, str):
            continue  # a cachePoint, a system tool
        tools.append(tool_of(name, get(spec, "description"), get(get(spec, "inputSchema"), "json")))
    return tools


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
    preamble = body.get("preamble")  # Cohere Command R
    if isinstance(preamble, str) and preamble:
        messages.append(Message("system", [preamble]))
    for turn in body.get("chat_history") or ():
        text = get(turn, "message")
        if isinstance(text, str) and text:
            role = get(turn, "role")
            messages.append(Message("assistant" if role == "CHATBOT" else "user", [text]))
    user = Message("user")
    for key in ("prompt", "message", "inputText"):
        add_text(user, body.get(key))
    for document in body.get("documents") or ():
        if isinstance(document, Mapping):
            user.texts.extend(value for value in document.values() if isinstance(value, str) and value)
    if user.texts:
        messages.append(user)
    return Prompt(messages)


def embeddings_prompt(body: Mapping[str, Any]) -> Prompt:
    """Embedding inputs: Titan's ``inputText``, Cohere's ``texts``; counted without framing."""
    texts: list[str] = []
    text = body.get("inputText")
    if isinstance(text, str) and text:
        texts.append(text)
    for text in body.get("texts") or ():
        if isinstance(text, str) and text:
            texts.append(text)
    return Prompt([Message("user", texts)])


def converse_output_text(response: Any) -> list[str]:
    """What a Converse answer (or Nova's InvokeModel answer) says the model wrote."""
    message = get(get(response, "output"), "message")
    texts: list[str] = []
    for block in get(message, "content") or ():
        if not isinstance(block, Mapping):
            continue
        if isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif "toolUse" in block:
            call = tool_use(block["toolUse"])
            texts.append(call.name + call.arguments)
        elif "reasoningContent" in block:
            text = get(get(block["reasoningContent"], "reasoningText"), "text")
            if isinstance(text, str):
                texts.append(text)
    return [text for text in texts if text]
