"""Counting a prompt and an output by the rules of the model that reads them.

* OpenAI models: tiktoken with the model's own encoding, and the chat format's
  framing (:mod:`~otel_tokenomics.estimation.openai_chat`): exact for the cases
  tested against the API, marked ``estimated``.
* Every other model: no public tokenizer, so a heuristic count of the same parts
  plus a small framing allowance, marked ``heuristic``
  (docs/estimation.md gives the error measured).
* An OpenAI model whose encoding is not loaded (yet): the same parts counted by
  the heuristic, with OpenAI's framing, marked ``heuristic``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from otel_tokenomics.estimation import images, openai_chat
from otel_tokenomics.estimation.prompt import Prompt
from otel_tokenomics.estimation.tokenizers import (
    HEURISTIC,
    HEURISTIC_COUNTER,
    Counter,
    counter_for_model,
    encoding_for_model,
)
from otel_tokenomics.usage import SOURCE_HEURISTIC


class Count:
    """A number of tokens and how it was reached."""

    __slots__ = ("source", "tokenizer", "tokens")

    def __init__(self, tokens: int, source: str, tokenizer: str) -> None:
        self.tokens = tokens
        self.source = source
        self.tokenizer = tokenizer

    def __repr__(self) -> str:
        return f"Count({self.tokens}, {self.source}, {self.tokenizer})"


# Framing of models without a published chat format, fitted to the counts their
# providers' count_tokens examples report (docs/estimation.md): role markers and
# separators cost a few tokens per message and a few to open the reply.
class _Framing:
    __slots__ = ("per_message", "per_reply", "system_framed", "tool_prompt")

    def __init__(self, per_reply: int, per_message: int, system_framed: bool, tool_prompt: int) -> None:
        self.per_reply = per_reply
        self.per_message = per_message
        self.system_framed = system_framed
        # The system prompt a provider adds when a request has tools.
        self.tool_prompt = tool_prompt


# Claude: "Hello, world" is 10 reported (3 + 4 + its 3 tokens), and a system prompt adds
# its text alone; with tools, Anthropic documents a tool-use system prompt of 346 tokens
# (tool_choice auto or none; 313 for any or tool) for Claude 3.5 Sonnet v2 to 4.x.
_CLAUDE = _Framing(per_reply=3, per_message=4, system_framed=False, tool_prompt=346)
# Gemini: a one-message count equals the text's; generate_content's usage adds 1.
_GEMINI = _Framing(per_reply=1, per_message=0, system_framed=False, tool_prompt=0)
_OTHER = _Framing(per_reply=3, per_message=4, system_framed=True, tool_prompt=0)
_FRAMINGS = {"anthropic": _CLAUDE, "gemini": _GEMINI}
# Compact tool JSON is dense in punctuation, which the heuristic over-counts: about 0.7
# of its count matched o200k_base and Gemini's reported counts on the examples.
_TOOL_JSON_FACTOR = 0.7


def counter_for(model: str | None, wait: float = 0.0) -> Counter:
    return counter_for_model(model, wait)


def is_openai_model(model: str | None) -> bool:
    return encoding_for_model(model) is not None


def count_prompt(prompt: Prompt, model: str | None, provider: str, wait: float = 0.0) -> Count:
    """Input tokens of ``prompt`` for ``model``."""
    counter = counter_for_model(model, wait)
    if is_openai_model(model):
        tokens = openai_chat.prompt_tokens(prompt, counter, model or "")
    else:
        tokens = generic_prompt_tokens(prompt, counter, provider, model)
    return Count(tokens, counter.source, counter.tokenizer)


def count_output(texts: Iterable[str], model: str | None, wait: float = 0.0) -> Count:
    """Output tokens of the text a model produced (the streamed deltas, in order)."""
    counter = counter_for_model(model, wait)
    text = "".join(texts)
    # Deltas split words anywhere: the joined text is tokenized once, as the model wrote it.
    return Count(counter.count(text) if text else 0, counter.source, counter.tokenizer)


def count_texts(texts: Iterable[str], model: str | None, wait: float = 0.0) -> Count:
    """Tokens of separate texts (embedding inputs): each one counted on its own."""
    counter = counter_for_model(model, wait)
    return Count(counter.count_all(texts), counter.source, counter.tokenizer)


def generic_prompt_tokens(prompt: Prompt, counter: Counter, provider: str, model: str | None) -> int:
    family = images.model_family(provider, images.model_name(model))
    framing = _FRAMINGS.get(family, _OTHER)
    count = counter.count
    tokens = framing.per_reply if prompt.messages else 0
    for message in prompt.messages:
        if framing.system_framed or message.role not in ("system", "developer"):
            tokens += framing.per_message
        for text in message.texts:
            tokens += count(text)
        if message.name:
            tokens += count(message.name) + 1
        for tool_call in message.tool_calls:
            tokens += count(tool_call.name) + count(tool_call.arguments) + framing.per_message
        for image in message.images:
            tokens += images.image_tokens(image, provider, model)
    if prompt.tools:
        tokens += framing.tool_prompt
        tool_json = count(_tools_json(prompt))
        tokens += round(tool_json * _TOOL_JSON_FACTOR) if counter.tokenizer == HEURISTIC else tool_json
    return tokens


def _tools_json(prompt: Prompt) -> str:
    definitions: list[dict[str, Any]] = []
    for tool in prompt.tools:
        definition: dict[str, Any] = {"name": tool.name}
        if tool.description:
            definition["description"] = tool.description
        if tool.parameters:
            definition["parameters"] = tool.parameters
        definitions.append(definition)
    return json.dumps(definitions, separators=(",", ":"), default=str)


__all__ = [
    "HEURISTIC_COUNTER",
    "SOURCE_HEURISTIC",
    "Count",
    "count_output",
    "count_prompt",
    "count_texts",
    "counter_for",
    "generic_prompt_tokens",
    "is_openai_model",
]
