"""boto3 / botocore ``bedrock-runtime``: Converse, ConverseStream, InvokeModel, InvokeModelWithResponseStream.

Every AWS call of the application goes through ``BaseClient._make_api_call``; we
replace it and let anything that is not one of the four Bedrock inference
operations through after one set lookup. Patching the base class also covers
clients created before instrumenting.

Token model (semconv input = uncached + cache read + cache write):

* Converse / ConverseStream ``TokenUsage``: ``inputTokens`` EXCLUDES
  ``cacheReadInputTokens`` and ``cacheWriteInputTokens``; ``totalTokens`` is all
  of them plus ``outputTokens``. ``cacheDetails`` splits the writes by TTL. A
  report whose ``totalTokens`` is only ``inputTokens + outputTokens`` while cache
  counts are set (some non-Anthropic models) already counts the cache in
  ``inputTokens``, and is not added twice. ConverseStream has usage only in its
  final ``metadata`` event.
* InvokeModel: the body is the model vendor's own format; Claude's (bodies and
  stream events) is the Anthropic Messages format, read by ``anthropic_messages``
  as for the ``anthropic`` SDK. A body that reports usage wins (Anthropic's has
  the cache TTL split, Nova's the cache counts); a body without (Mistral, Cohere)
  falls back to the ``x-amzn-bedrock-*-token-count`` headers, which count like
  ``TokenUsage`` (input without cache).
* InvokeModelWithResponseStream: Claude's ``message_start`` / ``message_delta``
  usage (cumulative: the last wins), else the ``amazon-bedrock-invocationMetrics``
  Bedrock appends to the last chunk of every model.
"""

from __future__ import annotations

import functools
import io
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from otel_tokenomics import semconv as sc
from otel_tokenomics.activation import Adapter
from otel_tokenomics.budgets import BudgetExceeded
from otel_tokenomics.call import InferenceCall, Route, report_internal_error
from otel_tokenomics.endpoints import default_port
from otel_tokenomics.providers.anthropic_messages import input_content as anthropic_input_content
from otel_tokenomics.providers.anthropic_messages import read_event as read_anthropic_event
from otel_tokenomics.providers.anthropic_messages import read_response as read_anthropic_response
from otel_tokenomics.providers.anthropic_prompt import message_output_text
from otel_tokenomics.providers.bedrock_prompt import (
    converse_output_text,
    converse_prompt,
    embeddings_prompt,
    invoke_prompt,
    is_nova_body,
)
from otel_tokenomics.request_fields import Put, integer, number, request_reader, stop, strings, text
from otel_tokenomics.streams import follow_stream
from otel_tokenomics.telemetry import Telemetry
from otel_tokenomics.usage import MAX_COUNT, Usage, as_fields, count, reported, sound
from otel_tokenomics.wrapping import Adopt, finish, may_trace, run

PROVIDER = "aws.bedrock"
SERVICE = "bedrock-runtime"

CONVERSE = "Converse"
CONVERSE_STREAM = "ConverseStream"
INVOKE = "InvokeModel"
INVOKE_STREAM = "InvokeModelWithResponseStream"
# CountTokens, ApplyGuardrail, the async and bidirectional operations: no span.
TRACED_OPERATIONS = frozenset({CONVERSE, CONVERSE_STREAM, INVOKE, INVOKE_STREAM})

_ENDPOINT_CACHE = "_tokenomics_endpoint"
_METRICS_KEY = "amazon-bedrock-invocationMetrics"
_HEADER_INPUT = "x-amzn-bedrock-input-token-count"
_HEADER_OUTPUT = "x-amzn-bedrock-output-token-count"
_HEADER_CACHE_READ = "x-amzn-bedrock-cache-read-input-token-count"
_HEADER_CACHE_WRITE = "x-amzn-bedrock-cache-write-input-token-count"


# -- request attributes -----------------------------------------------------------------
#
# The vendors' bodies and Converse's inferenceConfig name the same parameters
# differently but never reuse one name for another meaning, so one table reads all.

_effort = text(sc.GEN_AI_REQUEST_REASONING_LEVEL)


def _effort_in(key: str) -> Put:
    """A reasoning effort nested one level down: Nova's reasoningConfig, Claude's output_config."""

    def put(value: Any, attributes: dict[str, Any]) -> None:
        if isinstance(value, Mapping):
            _effort(value.get(key), attributes)

    return put


_encoding_formats = strings(sc.GEN_AI_REQUEST_ENCODING_FORMATS, single=True)
_max_tokens = integer(sc.GEN_AI_REQUEST_MAX_TOKENS)
_top_p = number(sc.GEN_AI_REQUEST_TOP_P)

REQUEST_FIELDS: dict[str, Put] = {
    "maxTokens": _max_tokens,  # Converse
    "max_tokens": _max_tokens,  # Anthropic, Mistral, Cohere, chat-completions bodies
    "max_new_tokens": _max_tokens,  # Nova
    "max_gen_len": _max_tokens,  # Llama
    "maxTokenCount": _max_tokens,  # Titan
    "temperature": number(sc.GEN_AI_REQUEST_TEMPERATURE),
    "topP": _top_p,
    "top_p": _top_p,
    "p": _top_p,  # Cohere
    "stopSequences": stop,
    "stop_sequences": stop,
    "stop": stop,
    "seed": integer(sc.GEN_AI_REQUEST_SEED),
    "reasoning_effort": _effort,
    "reasoningConfig": _effort_in("maxReasoningEffort"),
    "output_config": _effort_in("effort"),
}
EMBEDDINGS_FIELDS: dict[str, Put] = {
    "dimensions": integer(sc.GEN_AI_EMBEDDINGS_DIMENSION_COUNT),  # Titan v2
    "output_dimension": integer(sc.GEN_AI_EMBEDDINGS_DIMENSION_COUNT),  # Cohere v4
    "embeddingTypes": _encoding_formats,
    "embedding_types": _encoding_formats,
}
# Where the parameters sit one level down.
_NESTED = frozenset({"inferenceConfig", "textGenerationConfig", "additionalModelRequestFields"})


read_request = request_reader(REQUEST_FIELDS, _NESTED)
read_embeddings_request = request_reader(EMBEDDINGS_FIELDS, _NESTED)


# -- usage ------------------------------------------------------------------------------


def cache_usage(uncached: int, output: int, read: int, write: int, total: Any = None) -> Usage:
    """Bedrock's own counts (TokenUsage, Nova, headers, invocation metrics): input without cache.

    ``total`` is ``totalTokens`` where reported: equal to input + output while cache
    counts are set, the input already includes them.
    """
    inclusive = (read or write) and type(total) is int and total == uncached + output
    result = Usage(uncached if inclusive and uncached >= read + write else uncached + read + write, output)
    result.cache_read_tokens = read
    result.cache_write_tokens = write
    return result


def converse_usage(usage: Any) -> Usage | None:
    """Converse's ``TokenUsage`` (also Nova's InvokeModel ``usage``, whose cache keys differ);
    None when it reports no count."""
    usage = as_fields(usage)
    uncached = usage.inputTokens
    output = usage.outputTokens
    read = usage.cacheReadInputTokens
    if read is None:
        read = usage.cacheReadInputTokenCount
    write = usage.cacheWriteInputTokens
    if write is None:
        write = usage.cacheWriteInputTokenCount
    if not reported(uncached, output, read, write):
        return None
    result = cache_usage(count(uncached), count(output), count(read), count(write), usage.totalTokens)
    by_ttl = _ttl_split(usage.cacheDetails, result.cache_write_tokens)
    if by_ttl is not None:
        result.cache_write_by_ttl = by_ttl
    return result


def _ttl_split(details: Any, write: int) -> dict[str, int] | None:
    """``cacheDetails`` [{ttl, inputTokens}] as the 5m/1h split; unlabelled writes are 5-minute ones."""
    if not write or not isinstance(details, (list, tuple)):
        return None
    split = {"5m": 0, "1h": 0}
    for detail in details:
        detail = as_fields(detail)
        ttl = getattr(detail, "ttl", None)
        if ttl in split:
            split[ttl] = min(split[ttl] + count(getattr(detail, "inputTokens", None)), MAX_COUNT)
    if not any(split.values()):
        return None
    split["5m"] += max(write - split["5m"] - split["1h"], 0)
    return split


def header_usage(headers: Any) -> Usage | None:
    """The ``x-amzn-bedrock-*-token-count`` headers of an InvokeModel answer (botocore lower-cases them)."""
    if not isinstance(headers, Mapping) or _HEADER_INPUT not in headers:
        return None
    uncached = _header_count(headers.get(_HEADER_INPUT))
    output = _header_count(headers.get(_HEADER_OUTPUT))
    read = _header_count(headers.get(_HEADER_CACHE_READ))
    write = _header_count(headers.get(_HEADER_CACHE_WRITE))
    if not reported(uncached, output, read, write):
        return None
    return cache_usage(count(uncached), count(output), count(read), count(write))


def _header_count(value: Any) -> int | None:
    """A header's count; None unless it is digits (then bounded like any count by ``count``)."""
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def metrics_usage(metrics: Any) -> Usage | None:
    """``amazon-bedrock-invocationMetrics`` of the last stream chunk; None when it has no count."""
    metrics = as_fields(metrics)
    uncached = metrics.inputTokenCount
    output = metrics.outputTokenCount
    read = metrics.cacheReadInputTokenCount
    write = metrics.cacheWriteInputTokenCount
    if not reported(uncached, output, read, write):
        return None
    return cache_usage(count(uncached), count(output), count(read), count(write))


# -- Converse ---------------------------------------------------------------------------


def _service_tier(call: InferenceCall, tier: Any) -> None:
    tier = getattr(as_fields(tier), "type", None)
    # The tier that served the call sets its price (flex is cheaper, priority dearer).
    if isinstance(tier, str) and tier != "default":
        call.price_context = (("service_tier", tier),)


def read_converse_response(call: InferenceCall, response: Any) -> None:
    response = as_fields(response)
    stop = response.stopReason
    if isinstance(stop, str):
        call.set_finish_reason(0, stop)
    if response.usage is not None:
        call.usage = converse_usage(response.usage)
    _service_tier(call, response.serviceTier)
    if call.capture:
        message = as_fields(as_fields(response.output).message) if response.output else None
        parts = converse_parts(message.content if message is not None else None)
        call.content = [_output_message(parts, stop)]


def read_converse_event(call: InferenceCall, event: Any) -> bool:
    """One ConverseStream event; True for output (``contentBlockDelta``).

    The text each delta carries is kept in ``call.output_text`` for a stream that
    ends before its ``metadata`` event: its output is then estimated from it.
    """
    if not isinstance(event, dict):
        return False
    if "contentBlockDelta" in event:
        output_text = call.output_text
        if output_text is not None:
            piece = _converse_delta_text(event["contentBlockDelta"])
            if piece:
                output_text.append(piece)
        if call.capture:
            _stream_output(call).add_converse_delta(event["contentBlockDelta"])
        return True
    if "metadata" in event:
        metadata = as_fields(event["metadata"])
        if metadata.usage is not None:
            read = converse_usage(metadata.usage)
            if read is not None:
                call.usage = read
        _service_tier(call, metadata.serviceTier)
    elif "messageStop" in event:
        stop = as_fields(event["messageStop"]).stopReason
        if isinstance(stop, str):
            call.set_finish_reason(0, stop)
    elif "contentBlockStart" in event:
        _read_converse_start(call, event["contentBlockStart"])
    return False


def _converse_delta_text(event: Any) -> str | None:
    """The billed text of a ``contentBlockDelta``: text, tool input JSON or reasoning text."""
    delta = event.get("delta") if isinstance(event, dict) else None
    if not isinstance(delta, dict):
        return None
    text = delta.get("text")
    if text is None:
        use = delta.get("toolUse")
        if isinstance(use, dict):
            text = use.get("input")
        else:
            reasoning = delta.get("reasoningContent")
            text = reasoning.get("text") if isinstance(reasoning, dict) else None
    return text if isinstance(text, str) else None


def _read_converse_start(call: InferenceCall, event: Any) -> None:
    """A tool call's name is output too; its input follows in deltas."""
    output_text = call.output_text
    if output_text is not None:
        use = as_fields(as_fields(event).start) if isinstance(event, dict) else None
        name = as_fields(use.toolUse).name if use is not None and use.toolUse is not None else None
        if isinstance(name, str):
            output_text.append(name)
    if call.capture:
        _stream_output(call).add_converse_start(event)


# -- InvokeModel ------------------------------------------------------------------------


class Invocation:
    """What an InvokeModel answer says: the body's bytes and the HTTP headers."""

    __slots__ = ("data", "headers")

    def __init__(self, data: bytes | None, headers: Any) -> None:
        self.data = data
        self.headers = headers


def read_invoke_response(call: InferenceCall, invocation: Invocation) -> None:
    payload = _loads(invocation.data)
    if isinstance(payload, dict):
        read_payload(call, payload)
    if call.usage is None:
        call.usage = header_usage(invocation.headers)


def read_payload(call: InferenceCall, payload: dict[str, Any]) -> None:
    """One vendor body, recognised by its shape (the model id may be an opaque profile ARN)."""
    if payload.get("type") == "message":
        read_anthropic_response(call, payload)  # Claude: the Anthropic Messages format
    elif "output" in payload and "stopReason" in payload:
        read_converse_response(call, payload)  # Nova: Converse's shape, own cache key names
    elif "embedding" in payload or "embeddings" in payload:
        _read_embedding(call, payload)
    elif "choices" in payload:
        _read_choices(call, payload)
    else:
        _read_text_body(call, payload)


def _read_embedding(call: InferenceCall, payload: dict[str, Any]) -> None:
    tokens = payload.get("inputTextTokenCount")  # Titan
    if reported(tokens):
        call.usage = Usage(count(tokens), 0)
    vectors = payload.get("embeddings")  # Cohere: a list, or a dict by embedding type
    if isinstance(vectors, dict):
        vectors = next(iter(vectors.values()), None)
    vector = payload.get("embedding") if vectors is None else (vectors[0] if vectors else None)
    if isinstance(vector, list):
        call.set_attribute(sc.GEN_AI_EMBEDDINGS_DIMENSION_COUNT, len(vector))


def _read_choices(call: InferenceCall, payload: dict[str, Any]) -> None:
    """The chat-completions shape (newer Mistral models, gpt-oss, DeepSeek)."""
    response_id = payload.get("id")
    if isinstance(response_id, str):
        call.response_id = response_id
    texts = []
    for position, choice in enumerate(payload.get("choices") or ()):
        choice = as_fields(choice)
        reason = choice.finish_reason or choice.stop_reason
        if isinstance(reason, str):
            call.set_finish_reason(position, reason)
        message = as_fields(choice.message)
        texts.append(message.content if message is not None else choice.text)
    usage = as_fields(payload.get("usage"))
    if usage is not None and reported(usage.prompt_tokens, usage.completion_tokens):
        call.usage = Usage(count(usage.prompt_tokens), count(usage.completion_tokens))
    if call.capture:
        call.content = _text_outputs(call, texts)


def _read_text_body(call: InferenceCall, payload: dict[str, Any]) -> None:
    """Llama, Titan text, Mistral (outputs), Cohere Command and Command R bodies."""
    prompt, generation = payload.get("prompt_token_count"), payload.get("generation_token_count")
    if reported(prompt, generation):  # Llama
        call.usage = Usage(count(prompt), count(generation))
    results = payload.get("results")  # Titan text
    if isinstance(results, list) and "inputTextTokenCount" in payload:
        counts = [as_fields(r).tokenCount for r in results if isinstance(r, dict)]
        if reported(payload["inputTextTokenCount"], *counts):
            output = min(sum(count(tokens) for tokens in counts), MAX_COUNT)
            call.usage = Usage(count(payload["inputTextTokenCount"]), output)
    meta = payload.get("meta")
    billed = as_fields(meta.get("billed_units")) if isinstance(meta, dict) else None
    # Cohere, when the body says what it billed
    if billed is not None and reported(billed.input_tokens, billed.output_tokens):
        call.usage = Usage(count(billed.input_tokens), count(billed.output_tokens))
    texts: list[Any] = []
    for index, entry in enumerate(_entries(payload)):
        for key in ("stop_reason", "finish_reason", "completionReason"):
            if isinstance(entry.get(key), str):
                call.set_finish_reason(index, entry[key])
                break
        texts.append(entry.get("generation") or entry.get("text") or entry.get("outputText"))
    if call.capture:
        call.content = _text_outputs(call, texts)


def invoke_output_text(invocation: Invocation) -> list[str]:
    """What an InvokeModel answer without usage says the model wrote, by the body's shape."""
    payload = _loads(invocation.data)
    if not isinstance(payload, dict):
        return []
    if payload.get("type") == "message":
        return message_output_text(payload)
    if "output" in payload and "stopReason" in payload:
        return converse_output_text(payload)
    texts: list[Any] = []
    for choice in payload.get("choices") or ():
        choice = as_fields(choice)
        message = as_fields(choice.message)
        texts.append(message.content if message is not None else choice.text)
    if "choices" not in payload:
        texts = [
            entry.get("generation") or entry.get("text") or entry.get("outputText")
            for entry in _entries(payload)
        ]
    return [text for text in texts if isinstance(text, str) and text]


def _entries(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """The generations of a body: a list under outputs/results/generations, else the body itself."""
    for key in ("outputs", "results", "generations"):
        entries = payload.get(key)
        if isinstance(entries, list):
            return [entry for entry in entries if isinstance(entry, dict)]
    return [payload]


# -- InvokeModelWithResponseStream --------------------------------------------------------


def read_invoke_chunk(call: InferenceCall, event: Any) -> bool:
    """One chunk of InvokeModelWithResponseStream; True when it carried output."""
    chunk = event.get("chunk") if isinstance(event, dict) else None
    payload = _loads(chunk.get("bytes")) if isinstance(chunk, dict) else None
    if not isinstance(payload, dict):
        return False
    if isinstance(payload.get("type"), str):
        output = read_anthropic_event(call, payload)  # Claude: the Anthropic Messages stream events
    else:
        output = _read_vendor_chunk(call, payload)
    metrics = payload.get(_METRICS_KEY)
    if metrics is not None:
        if call.usage is None:
            call.usage = metrics_usage(metrics)
        elif call.partial_usage:
            # Claude's message_delta carried no usage: Bedrock's final count of the output.
            tokens = as_fields(metrics).outputTokenCount
            if sound(tokens):
                call.usage.output_tokens = count(tokens)
                call.partial_usage = False
    return output


def _read_vendor_chunk(call: InferenceCall, payload: dict[str, Any]) -> bool:
    """Nova's Converse-like events, or a generation piece of the other vendors (output)."""
    if "metadata" in payload or "messageStop" in payload or "contentBlockDelta" in payload:
        return read_converse_event(call, payload)
    if "messageStart" in payload or "contentBlockStart" in payload or "contentBlockStop" in payload:
        return False  # Nova's bookkeeping events
    choices = payload.get("choices")
    entries = [as_fields(c) for c in choices if isinstance(c, dict)] if isinstance(choices, list) else None
    output_text = call.output_text
    for index, entry in enumerate(entries if entries is not None else _entries(payload)):
        for key in ("stop_reason", "finish_reason", "completionReason"):
            if isinstance(entry.get(key), str):
                call.set_finish_reason(index, entry[key])
                break
        delta = as_fields(entry.get("delta"))
        text = (
            (delta.content if delta is not None else None)
            or entry.get("generation")
            or entry.get("outputText")
            or entry.get("text")
        )
        if output_text is not None and isinstance(text, str) and text:
            output_text.append(text)
        if call.capture:
            _stream_output(call).add_text(index, text)
    return True


# -- opt-in content, in the semconv message shape ------------------------------------------


def _text(text: Any) -> list[dict[str, Any]]:
    return [{"type": "text", "content": text}] if isinstance(text, str) and text else []


def _arguments(value: Any) -> Any:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


def _text_outputs(call: InferenceCall, texts: list[Any]) -> list[dict[str, Any]]:
    reasons = call.finish_reasons or {}
    return [_output_message(_text(text), reasons.get(index)) for index, text in enumerate(texts)]


def _output_message(parts: list[dict[str, Any]], reason: Any) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "parts": parts}
    if isinstance(reason, str):
        message["finish_reason"] = reason
    return message


def converse_parts(content: Any) -> list[dict[str, Any]]:
    """Converse ContentBlocks; binaries are named by format, never copied."""
    parts: list[dict[str, Any]] = []
    for block in content or ():
        if not isinstance(block, Mapping):
            continue
        if "text" in block:
            parts += _text(block["text"])
        elif "toolUse" in block:
            use = as_fields(block["toolUse"])
            parts.append(
                {
                    "type": "tool_call",
                    "id": use.toolUseId,
                    "name": use.name,
                    "arguments": _arguments(use.input),
                }
            )
        elif "toolResult" in block:
            result = as_fields(block["toolResult"])
            parts.append({"type": "tool_call_response", "id": result.toolUseId, "response": result.content})
        elif "reasoningContent" in block:
            reasoning = as_fields(as_fields(block["reasoningContent"]).reasoningText)
            if reasoning is not None:
                parts.append({"type": "reasoning", "content": reasoning.text})
        elif "cachePoint" not in block:
            for modality in ("image", "document", "video", "audio"):
                if modality in block:
                    media = as_fields(block[modality])
                    parts.append(
                        {"type": "blob", "modality": modality, "mime_type": f"{modality}/{media.format}"}
                    )
                    break
    return parts


def _converse_messages(body: Mapping[str, Any]) -> dict[str, Any]:
    """The messages and system prompt of a Converse request or a Nova body, in ContentBlocks."""
    messages = [
        {"role": message.get("role"), "parts": converse_parts(message.get("content"))}
        for message in body.get("messages") or ()
        if isinstance(message, Mapping)
    ]
    content: dict[str, Any] = {sc.GEN_AI_INPUT_MESSAGES: messages}
    system = body.get("system")
    system = _text(system) if isinstance(system, str) else converse_parts(system)
    if system:
        content[sc.GEN_AI_SYSTEM_INSTRUCTIONS] = system
    return content


def converse_input_content(body: Mapping[str, Any]) -> dict[str, Any]:
    content = _converse_messages(body)
    tools = as_fields(body.get("toolConfig")).tools if body.get("toolConfig") else None
    definitions = []
    for tool in tools or ():
        spec = as_fields(as_fields(tool).toolSpec)
        if spec is not None:
            schema = as_fields(spec.inputSchema)
            definitions.append(
                {
                    "type": "function",
                    "name": spec.name,
                    "description": spec.description,
                    "parameters": schema.json if schema is not None else None,
                }
            )
    if definitions:
        content[sc.GEN_AI_TOOL_DEFINITIONS] = definitions
    return content


def invoke_input_content(body: Mapping[str, Any]) -> dict[str, Any]:
    """The vendor body's messages (Nova, Anthropic, chat-completions) or its prompt."""
    if "messages" in body:
        if is_nova_body(body):
            return _converse_messages(body)  # Nova
        # Claude's body; a chat-completions body's string or text-block messages read the same.
        return anthropic_input_content(body)
    prompt = body.get("prompt") or body.get("message") or body.get("inputText")
    return {sc.GEN_AI_INPUT_MESSAGES: [{"role": "user", "parts": _text(prompt)}]}


class StreamedOutput:
    """Opt-in only: the streamed text, reasoning and tool calls, per content block, of
    ConverseStream and of the InvokeModel streams other than Claude's (the Anthropic
    events have their own accumulator in ``anthropic_messages``)."""

    __slots__ = ("blocks",)

    def __init__(self) -> None:
        self.blocks: dict[int, dict[str, Any]] = {}

    def _block(self, index: Any) -> dict[str, Any]:
        index = index if isinstance(index, int) else 0
        block = self.blocks.get(index)
        if block is None:
            block = self.blocks[index] = {"text": [], "reasoning": [], "tool": None, "arguments": []}
        return block

    def add_text(self, index: Any, text: Any) -> None:
        if isinstance(text, str) and text:
            self._block(index)["text"].append(text)

    def add_converse_start(self, event: Any) -> None:
        event = as_fields(event)
        use = as_fields(as_fields(event.start).toolUse) if event.start else None
        if use is not None:
            self._block(event.contentBlockIndex)["tool"] = {"id": use.toolUseId, "name": use.name}

    def add_converse_delta(self, event: Any) -> None:
        event = as_fields(event)
        delta = as_fields(event.delta)
        if delta is None:
            return
        block = self._block(event.contentBlockIndex)
        if isinstance(delta.text, str):
            block["text"].append(delta.text)
        elif delta.toolUse is not None:
            block["arguments"].append(as_fields(delta.toolUse).input or "")
        elif delta.reasoningContent is not None:
            block["reasoning"].append(as_fields(delta.reasoningContent).text or "")

    def messages(self, finish_reasons: dict[int, str] | None) -> list[dict[str, Any]]:
        parts: list[dict[str, Any]] = []
        for index in sorted(self.blocks):
            block = self.blocks[index]
            if block["reasoning"]:
                parts.append({"type": "reasoning", "content": "".join(block["reasoning"])})
            if block["text"]:
                parts.append({"type": "text", "content": "".join(block["text"])})
            if block["tool"] is not None:
                parts.append({"type": "tool_call", **block["tool"], "arguments": "".join(block["arguments"])})
        return [_output_message(parts, (finish_reasons or {}).get(0))]


def _stream_output(call: InferenceCall) -> StreamedOutput:
    content = call.content
    if content is None:
        content = call.content = StreamedOutput()
    return content  # type: ignore[no-any-return]


# -- the routes -----------------------------------------------------------------------------


def describe_error(error: BaseException) -> tuple[str | None, int | None]:
    """The AWS error code as ``error.type``, the same whether a throttle came as HTTP
    429 (``ThrottlingException``) or inside an event stream (botocore's
    ``EventStreamError`` with code ``throttlingException``)."""
    response = getattr(error, "response", None)
    if not isinstance(response, dict):
        return None, None
    code = as_fields(response.get("Error")).Code if isinstance(response.get("Error"), dict) else None
    metadata = response.get("ResponseMetadata")
    status = as_fields(metadata).HTTPStatusCode if isinstance(metadata, dict) else None
    error_type = code[0].upper() + code[1:] if isinstance(code, str) and code else None
    return error_type, status if type(status) is int else None


CONVERSE_ROUTE = Route(
    "chat",
    read_request,
    read_converse_response,
    read_converse_event,
    read_input_content=converse_input_content,
    describe_error=describe_error,
    read_prompt=converse_prompt,
    read_output_text=converse_output_text,
)
INVOKE_ROUTE = Route(
    "chat",
    read_request,
    read_invoke_response,
    read_invoke_chunk,
    read_input_content=invoke_input_content,
    describe_error=describe_error,
    read_prompt=invoke_prompt,
    read_output_text=invoke_output_text,
)
EMBEDDINGS_ROUTE = Route(
    "embeddings",
    read_embeddings_request,
    read_invoke_response,
    describe_error=describe_error,
    read_prompt=embeddings_prompt,
)

# Request body keys only embedding models take (Titan, Cohere, Nova multimodal embeddings).
_EMBEDDING_KEYS = ("texts", "input_type", "embeddingTypes", "embedding_types", "normalize", "taskType")


def is_embeddings(model_id: str | None, body: Mapping[str, Any]) -> bool:
    if model_id is not None and "embed" in model_id.lower():
        return True
    return any(key in body for key in _EMBEDDING_KEYS)


# -- reading what botocore returns ------------------------------------------------------------


def _loads(data: Any) -> Any:
    if not data or not isinstance(data, (bytes, bytearray, str)):
        return None
    try:
        return json.loads(data)
    except ValueError:
        return None


def request_body(body: Any) -> dict[str, Any]:
    """The InvokeModel body as a dict; a file object stays unread (it is the user's)."""
    if isinstance(body, (bytes, bytearray, str)):
        parsed = _loads(body)
        if isinstance(parsed, dict):
            return parsed
    return {}


def _headers(result: dict[str, Any]) -> Any:
    return as_fields(result.get("ResponseMetadata")).HTTPHeaders if result.get("ResponseMetadata") else None


def adopt_invoke(call: InferenceCall, result: Any) -> Any:
    """Read the body now and hand the user an equivalent unread one."""
    if type(result) is not dict:
        call.end()
        return result
    body = result.get("body")
    data = None
    read = getattr(body, "read", None)
    if read is not None:
        from botocore.response import StreamingBody

        try:
            data = read()
        except Exception as error:  # the SDK's own I/O failure: the user meets it on read()
            result["body"] = StreamingBody(_Failing(error), None)
            call.fail(error)
            return result
        result["body"] = StreamingBody(io.BytesIO(data), len(data))
    call.finish(Invocation(data, _headers(result)))
    return result


class _Failing(io.RawIOBase):
    """A raw stream that raises, on read, the error reading the real body raised."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def read(self, *args: Any) -> bytes:
        raise self.error


def _stream_adopter(key: str) -> Adopt:
    def adopt(call: InferenceCall, result: Any) -> Any:
        stream = result.get(key) if type(result) is dict else None
        if stream is None or not follow_stream(stream, call):
            call.end()
        return result

    return adopt


adopt_converse_stream = _stream_adopter("stream")
adopt_invoke_stream = _stream_adopter("body")


# -- patching ---------------------------------------------------------------------------------


class BedrockPatch:
    """Replaces ``botocore.client.BaseClient._make_api_call`` (aiobotocore is not covered)."""

    def __init__(self, telemetry: Telemetry) -> None:
        self.telemetry = telemetry
        self._active = False
        self._replaced: tuple[type, Any, Any] | None = None

    def patch(self) -> None:
        from botocore.client import BaseClient

        original = BaseClient.__dict__["_make_api_call"]
        replacement = self._replacement(original)
        BaseClient._make_api_call = replacement  # type: ignore[method-assign]
        self._replaced = (BaseClient, original, replacement)
        self._active = True

    def unpatch(self) -> None:
        # Inactive, the replacement passes straight through: if another library wrapped
        # it since, it cannot be taken out from under that one.
        self._active = False
        if self._replaced is not None:
            owner, original, replacement = self._replaced
            if owner.__dict__.get("_make_api_call") is replacement:
                owner._make_api_call = original  # type: ignore[attr-defined]
            self._replaced = None

    def _replacement(self, original: Any) -> Any:
        start = self._start

        @functools.wraps(original)
        def _make_api_call(client: Any, operation_name: str, api_params: Any) -> Any:
            # Every AWS call of the application passes here: one set lookup for the rest.
            if operation_name not in TRACED_OPERATIONS or not self._active:
                return original(client, operation_name, api_params)
            try:
                started = start(client, operation_name, api_params)
            except BudgetExceeded:
                raise
            except Exception:
                report_internal_error("starting a span")
                started = None
            if started is None:
                return original(client, operation_name, api_params)
            call, adopt = started
            return run(call, original, (client, operation_name, api_params), {}, adopt)

        return _make_api_call

    def _start(self, client: Any, operation: str, params: Any) -> tuple[InferenceCall, Adopt] | None:
        if not may_trace() or client.meta.service_model.service_name != SERVICE or type(params) is not dict:
            return None
        model = params.get("modelId")
        model = model if isinstance(model, str) else None
        if operation in (CONVERSE, CONVERSE_STREAM):
            route, body = CONVERSE_ROUTE, params
            adopt = finish if operation == CONVERSE else adopt_converse_stream
        else:
            body = request_body(params.get("body"))
            route = EMBEDDINGS_ROUTE if is_embeddings(model, body) else INVOKE_ROUTE
            adopt = adopt_invoke if operation == INVOKE else adopt_invoke_stream
        address, port = self._endpoint(client)
        stream = operation in (CONVERSE_STREAM, INVOKE_STREAM)
        call = self.telemetry.start_call(route, PROVIDER, model, address, port, stream, body)
        # The modelId says global. or in-region, which sets the price; the model a
        # Claude body answers with does not.
        call.price_request_model_first = True
        return call, adopt

    def _endpoint(self, client: Any) -> tuple[str | None, int | None]:
        url = client.meta.endpoint_url
        cached = client.__dict__.get(_ENDPOINT_CACHE)
        if cached is not None and cached[0] is url:
            return cached[1]  # type: ignore[no-any-return]
        parts = urlsplit(url or "")
        host = parts.hostname or None
        port = parts.port if parts.port is not None else default_port(parts.scheme)
        endpoint = (host, port if host else None)
        client.__dict__[_ENDPOINT_CACHE] = (url, endpoint)
        return endpoint


class BedrockAdapter(Adapter):
    """Traces Bedrock Runtime inference calls of every boto3 / botocore client."""

    package = "botocore"
    requirement = "botocore >= 1.34.116"
    patch_when_imported = "botocore.client"

    @classmethod
    def make_patcher(cls, telemetry: Telemetry) -> BedrockPatch:
        return BedrockPatch(telemetry)
