"""The Anthropic Messages wire format, whichever client carried it.

The same ``Message`` / ``usage`` shapes and stream events arrive through the
``anthropic`` SDK (first-party, ``AnthropicBedrock``, ``AnthropicVertex``) and in
the bodies of Bedrock ``InvokeModel`` calls for Claude models, so they are read
here once. Everything takes SDK models and plain dicts alike: the request reader,
``read_response`` (a ``Message``) and ``read_event`` (one raw stream event, also
what Bedrock's ``invoke_model_with_response_stream`` chunks decode to).

Token model (https://docs.anthropic.com/en/api/messages, "usage"):

* ``input_tokens`` EXCLUDES cache reads (``cache_read_input_tokens``) and cache
  writes (``cache_creation_input_tokens``): semconv input = the three summed;
* cache writes are split by time to live in ``cache_creation``
  (``ephemeral_5m_input_tokens`` / ``ephemeral_1h_input_tokens``), priced apart;
  without the split every write is a 5-minute write;
* ``output_tokens`` INCLUDES thinking (``output_tokens_details.thinking_tokens``);
* ``server_tool_use`` counts billed-per-request server tools (web search, fetch);
* beta ``iterations`` entries of type ``compaction`` are billed but NOT in the
  top-level fields, so they are added to the totals.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from otel_tokenomics import semconv as sc
from otel_tokenomics.call import InferenceCall
from otel_tokenomics.request_fields import Put, integer, number, request_reader, stop_sequences, text
from otel_tokenomics.usage import MAX_COUNT, Fields, Usage, as_fields, count, reported

BEDROCK = "aws.bedrock"


def message_usage(usage: Any) -> Usage | None:
    """A ``Usage`` / ``BetaUsage`` / ``MessageDeltaUsage`` (or its dict) in semconv arithmetic;
    None when it reports no count at all.

    Runs for every call: SDK models are read with plain getattr, the rare parts
    (TTL split, thinking, server tools, beta iterations) only when present.
    """
    if isinstance(usage, dict):
        usage = Fields(usage)
    uncached = getattr(usage, "input_tokens", None)
    read = getattr(usage, "cache_read_input_tokens", None)
    write = getattr(usage, "cache_creation_input_tokens", None)
    output = getattr(usage, "output_tokens", None)
    if not reported(uncached, output, read, write):
        return None
    # Counts are almost always plain ints in range: taken as they are, without a
    # call; count() cleans up anything else.
    if type(uncached) is not int or not 0 <= uncached <= MAX_COUNT:
        uncached = count(uncached)
    if type(read) is not int or not 0 <= read <= MAX_COUNT:
        read = count(read)
    if type(write) is not int or not 0 <= write <= MAX_COUNT:
        write = count(write)
    if type(output) is not int or not 0 <= output <= MAX_COUNT:
        output = count(output)
    creation = getattr(usage, "cache_creation", None)
    five_minutes, one_hour = _ttl_split(creation) if creation is not None else (None, None)
    iterations = _iterations(usage)
    if iterations:
        for iteration in iterations:
            iteration = as_fields(iteration)
            if getattr(iteration, "type", None) != "compaction":
                continue
            uncached += count(getattr(iteration, "input_tokens", None))
            read += count(getattr(iteration, "cache_read_input_tokens", None))
            iteration_write = count(getattr(iteration, "cache_creation_input_tokens", None))
            write += iteration_write
            output += count(getattr(iteration, "output_tokens", None))
            extra_5m, extra_1h = _ttl_split(getattr(iteration, "cache_creation", None))
            if extra_5m is None and iteration_write:
                extra_5m, extra_1h = iteration_write, 0
            if extra_5m is not None:
                five_minutes = (five_minutes or 0) + extra_5m
                one_hour = (one_hour or 0) + (extra_1h or 0)
        # However many iterations, each total stays a count OTLP can carry.
        uncached, read, write, output = (min(total, MAX_COUNT) for total in (uncached, read, write, output))
        if five_minutes is not None:
            five_minutes, one_hour = min(five_minutes, MAX_COUNT), min(one_hour or 0, MAX_COUNT)
    result = Usage(uncached + read + write, output)
    if read:
        result.cache_read_tokens = read
    if write:
        result.cache_write_tokens = write
        if five_minutes or one_hour:
            result.cache_write_by_ttl = {"5m": five_minutes or 0, "1h": one_hour or 0}
    details = getattr(usage, "output_tokens_details", None)
    if details is not None:
        thinking = count(getattr(as_fields(details), "thinking_tokens", None))
        result.reasoning_tokens = min(thinking, output)
    server = getattr(usage, "server_tool_use", None)
    if server is not None:
        server = as_fields(server)
        result.web_search_requests = count(getattr(server, "web_search_requests", None))
        result.web_fetch_requests = count(getattr(server, "web_fetch_requests", None))
    return result


def _iterations(usage: Any) -> Any:
    """Beta ``usage.iterations``, read without a missing-attribute lookup on the plain
    ``Usage`` model (see :func:`otel_tokenomics.usage.field`): this runs for every call."""
    namespace = getattr(usage, "__dict__", None)
    if not namespace:
        return getattr(usage, "iterations", None)  # a dict read as fields
    iterations = namespace.get("iterations")
    if iterations is None:
        # An SDK older than the field keeps it with the other unmodelled ones.
        extra = getattr(usage, "__pydantic_extra__", None)
        if extra:
            iterations = extra.get("iterations")
    return iterations


def _ttl_split(cache_creation: Any) -> tuple[int | None, int | None]:
    creation = as_fields(cache_creation)
    if creation is None:
        return None, None
    return (
        count(getattr(creation, "ephemeral_5m_input_tokens", None)),
        count(getattr(creation, "ephemeral_1h_input_tokens", None)),
    )


def merge_stream_usage(start: Usage | None, delta: Any) -> Usage | None:
    """The usage of a stream after a ``message_delta``: the delta's fields are
    cumulative totals and win where present; fields it omits keep ``message_start``'s.

    ``message_start`` has the final input and cache counts (and the only TTL split)
    with a placeholder ``output_tokens``; never add the two. None when the delta
    reports no count: ``start`` then stands, its output still a placeholder.
    """
    delta = as_fields(delta)
    merged = message_usage(delta)
    if start is None or merged is None:
        return merged
    if getattr(delta, "input_tokens", None) is None:
        uncached = start.input_tokens - start.cache_read_tokens - start.cache_write_tokens
        merged.input_tokens = max(uncached, 0) + merged.cache_read_tokens + merged.cache_write_tokens
    if getattr(delta, "cache_read_input_tokens", None) is None:
        merged.input_tokens += start.cache_read_tokens
        merged.cache_read_tokens = start.cache_read_tokens
    if getattr(delta, "cache_creation_input_tokens", None) is None:
        merged.input_tokens += start.cache_write_tokens
        merged.cache_write_tokens = start.cache_write_tokens
    if merged.cache_write_by_ttl is None and merged.cache_write_tokens == start.cache_write_tokens:
        merged.cache_write_by_ttl = start.cache_write_by_ttl
    if getattr(delta, "output_tokens_details", None) is None:
        merged.reasoning_tokens = min(start.reasoning_tokens, merged.output_tokens)
    if getattr(delta, "server_tool_use", None) is None:
        merged.web_search_requests = start.web_search_requests
        merged.web_fetch_requests = start.web_fetch_requests
    return merged


# -- request attributes -------------------------------------------------------------------

_budget_tokens = integer(sc.TOKENOMICS_REQUEST_REASONING_BUDGET_TOKENS)
_reasoning_level = text(sc.GEN_AI_REQUEST_REASONING_LEVEL)


def _thinking(value: Any, attributes: dict[str, Any]) -> None:
    if isinstance(value, Mapping):
        _budget_tokens(value.get("budget_tokens"), attributes)


def _output_format(value: Any, attributes: dict[str, Any]) -> None:
    if isinstance(value, Mapping) and value.get("type") == "json_schema":
        attributes[sc.GEN_AI_OUTPUT_TYPE] = "json"


def _output_config(value: Any, attributes: dict[str, Any]) -> None:
    if isinstance(value, Mapping):
        _reasoning_level(value.get("effort"), attributes)
        _output_format(value.get("format"), attributes)


REQUEST_FIELDS: dict[str, Put] = {
    "max_tokens": integer(sc.GEN_AI_REQUEST_MAX_TOKENS),
    "temperature": number(sc.GEN_AI_REQUEST_TEMPERATURE),
    "top_p": number(sc.GEN_AI_REQUEST_TOP_P),
    "top_k": number(sc.GEN_AI_REQUEST_TOP_K),
    "stop_sequences": stop_sequences,
    "thinking": _thinking,
    "output_config": _output_config,
    # The beta structured-output parameter before output_config.format.
    "output_format": _output_format,
}


read_request = request_reader(REQUEST_FIELDS)


# -- responses and stream events ------------------------------------------------------------


def _read_head(call: InferenceCall, message: Any) -> None:
    """What a Message and the message of ``message_start`` share: id and model."""
    message_id = getattr(message, "id", None)
    if isinstance(message_id, str):
        call.response_id = message_id
    model = getattr(message, "model", None)
    if isinstance(model, str) and model:
        call.response_model = model
        if call.provider == BEDROCK:
            # Bedrock answers with the bare Anthropic name; the request's model id
            # ("global.anthropic...", "us.anthropic...") is what sets the price.
            call.price_request_model_first = True


def _read_usage(call: InferenceCall, usage: Any) -> None:
    """Usage fields that are not token counts: the tier served and the price mode."""
    tier = getattr(usage, "service_tier", None)
    if isinstance(tier, str):
        call.end_attributes[sc.TOKENOMICS_RESPONSE_SERVICE_TIER] = tier
    speed = getattr(usage, "speed", None)
    # Fast mode is priced apart (a catalog variant); service tiers are not.
    if isinstance(speed, str) and speed != "standard":
        call.price_context = (("speed", speed),)


def read_response(call: InferenceCall, response: Any) -> None:
    message = Fields(response) if isinstance(response, dict) else response
    _read_head(call, message)
    reason = getattr(message, "stop_reason", None)
    if isinstance(reason, str):
        call.set_finish_reason(0, reason)
    usage = as_fields(getattr(message, "usage", None))
    if usage is not None:
        call.usage = message_usage(usage)
        _read_usage(call, usage)
    if call.capture:
        call.content = [output_message(getattr(message, "content", None), reason)]


def read_event(call: InferenceCall, event: Any) -> bool:
    """One raw stream event (SDK model or dict); True for output (``content_block_delta``),
    the rest is bookkeeping. Usage: see ``merge_stream_usage``.

    The text the model wrote is kept in ``call.output_text`` (one append per delta) for
    a stream that ends before ``message_delta``: its output is then estimated from it.
    """
    event = as_fields(event)
    kind = getattr(event, "type", None)
    if kind == "content_block_delta":
        output_text = call.output_text
        if output_text is not None:
            delta = getattr(event, "delta", None)
            if type(delta) is dict:  # a Bedrock event (plain JSON), or a delta the SDK does not model
                delta = Fields(delta)
            # Once per delta of every stream: text deltas, by far the most, read inline.
            piece = getattr(delta, "text", None) if getattr(delta, "type", None) == "text_delta" else None
            if piece is None:
                piece = _delta_text(delta)
            if type(piece) is str and piece:
                output_text.append(piece)
        if call.capture:
            _accumulator(call).add(event, kind)
        return True
    if kind == "content_block_start":
        _read_block_start(call, event)
        if call.capture:
            _accumulator(call).add(event, kind)
    elif kind == "message_start":
        message = as_fields(getattr(event, "message", None))
        if message is not None:
            _read_head(call, message)
            usage = as_fields(getattr(message, "usage", None))
            if usage is not None:
                read = message_usage(usage)
                if read is not None:
                    call.usage = read
                    # Final input and cache counts, a placeholder output count: until
                    # message_delta says more, the output is estimated at the end.
                    call.partial_usage = True
                _read_usage(call, usage)
    elif kind == "message_delta":
        delta = as_fields(getattr(event, "delta", None))
        reason = getattr(delta, "stop_reason", None)
        if isinstance(reason, str):
            call.set_finish_reason(0, reason)
        usage = getattr(event, "usage", None)
        if usage is not None:
            merged = merge_stream_usage(call.usage, usage)
            if merged is not None:
                call.usage = merged
                call.partial_usage = False
    return False


# The field holding the text of each billed delta type; citations (quoted source
# text) and signatures are not output the model wrote.
_DELTA_FIELDS = {"input_json_delta": "partial_json", "thinking_delta": "thinking"}
_TOOL_CALL_BLOCKS = frozenset({"tool_use", "server_tool_use", "mcp_tool_use"})


def _delta_text(delta: Any) -> str | None:
    """The billed text of a delta that is not a text delta (tool input JSON, thinking)."""
    name = _DELTA_FIELDS.get(getattr(delta, "type", None))  # type: ignore[arg-type]
    if name is None:
        return None
    piece = getattr(delta, name, None)
    return piece if isinstance(piece, str) else None


def _read_block_start(call: InferenceCall, event: Any) -> None:
    """A tool call's name is output too; its input follows as ``input_json_delta``."""
    output_text = call.output_text
    if output_text is None:
        return
    block = as_fields(getattr(event, "content_block", None))
    kind = getattr(block, "type", None)
    if kind in _TOOL_CALL_BLOCKS:
        name = getattr(block, "name", None)
        if isinstance(name, str):
            output_text.append(name)
    elif kind == "text":
        text = getattr(block, "text", None)
        if isinstance(text, str) and text:
            output_text.append(text)


# -- opt-in content, in the semconv message shape -------------------------------------------


def _block_part(block: Any) -> dict[str, Any] | None:
    """One content block (request dict or response model) as a semconv message part."""
    block = as_fields(block)
    kind = getattr(block, "type", None)
    if kind == "text":
        return {"type": "text", "content": getattr(block, "text", "")}
    if kind == "thinking":
        return {"type": "reasoning", "content": getattr(block, "thinking", "")}
    if kind == "redacted_thinking":
        return None  # encrypted: nothing a reader could use
    if kind in ("tool_use", "server_tool_use", "mcp_tool_use"):
        return {
            "type": "tool_call",
            "id": getattr(block, "id", None),
            "name": getattr(block, "name", None),
            "arguments": _plain(getattr(block, "input", None)),
        }
    if kind == "tool_result":
        return {
            "type": "tool_call_response",
            "id": getattr(block, "tool_use_id", None),
            "response": _plain(getattr(block, "content", None)),
        }
    if kind == "image":
        source = as_fields(getattr(block, "source", None))
        if getattr(source, "type", None) == "url":
            return {"type": "uri", "modality": "image", "uri": getattr(source, "url", None)}
        return {
            "type": "blob",
            "modality": "image",
            "mime_type": getattr(source, "media_type", None),
            "content": getattr(source, "data", None),
        }
    return {"type": "generic", "generic_type": kind, "content": _plain(block)}


def _plain(value: Any) -> Any:
    """A JSON-ready value: SDK models become dicts."""
    dump = getattr(value, "model_dump", None)
    return dump(mode="json") if callable(dump) else value


def _parts(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "content": content}]
    parts = []
    for block in content or ():
        part = _block_part(block)
        if part is not None:
            parts.append(part)
    return parts


def input_content(body: Mapping[str, Any]) -> dict[str, Any]:
    content: dict[str, Any] = {}
    system = body.get("system")
    if system:
        content[sc.GEN_AI_SYSTEM_INSTRUCTIONS] = _parts(system)
    messages = []
    for message in body.get("messages") or ():
        if isinstance(message, Mapping):
            messages.append({"role": message.get("role"), "parts": _parts(message.get("content"))})
    content[sc.GEN_AI_INPUT_MESSAGES] = messages
    tools = [_tool_definition(tool) for tool in body.get("tools") or () if isinstance(tool, Mapping)]
    if tools:
        content[sc.GEN_AI_TOOL_DEFINITIONS] = tools
    return content


def _tool_definition(tool: Mapping[str, Any]) -> dict[str, Any]:
    # Client tools have an input_schema; server tools (web search, ...) a versioned type.
    kind = "function" if "input_schema" in tool else tool.get("type", "function")
    return {
        "type": kind,
        "name": tool.get("name"),
        "description": tool.get("description"),
        "parameters": tool.get("input_schema"),
    }


def output_message(blocks: Any, reason: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"role": "assistant", "parts": _parts(blocks)}
    if isinstance(reason, str):
        entry["finish_reason"] = reason
    return entry


class _StreamedMessage:
    """Opt-in only: the streamed content blocks, by index, rebuilt from their deltas."""

    __slots__ = ("blocks",)

    def __init__(self) -> None:
        self.blocks: dict[int, dict[str, Any]] = {}

    def add(self, event: Any, kind: str) -> None:
        index = getattr(event, "index", None)
        if not isinstance(index, int):
            return
        if kind == "content_block_start":
            block = as_fields(getattr(event, "content_block", None))
            self.blocks[index] = {"block": _plain(block), "pieces": []}
            return
        entry = self.blocks.setdefault(index, {"block": None, "pieces": []})
        delta = as_fields(getattr(event, "delta", None))
        for name in ("text", "thinking", "partial_json"):
            piece = getattr(delta, name, None)
            if isinstance(piece, str):
                entry["pieces"].append(piece)
                break

    def messages(self, finish_reasons: dict[int, str] | None) -> list[dict[str, Any]]:
        blocks = []
        for index in sorted(self.blocks):
            entry = self.blocks[index]
            block = dict(entry["block"] or {"type": "text"})
            streamed = "".join(entry["pieces"])
            kind = block.get("type")
            if kind == "text":
                block["text"] = block.get("text", "") + streamed
            elif kind == "thinking":
                block["thinking"] = block.get("thinking", "") + streamed
            elif streamed:
                block["input"] = streamed  # tool input, as the JSON text the model wrote
            blocks.append(block)
        return [output_message(blocks, (finish_reasons or {}).get(0))]


def _accumulator(call: InferenceCall) -> _StreamedMessage:
    content = call.content
    if content is None:
        content = call.content = _StreamedMessage()
    return content  # type: ignore[no-any-return]
