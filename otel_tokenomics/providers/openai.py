"""The ``openai`` SDK: which endpoints we trace and how to read them.

Token model (OpenAI, and OpenAI-compatible servers that follow it):

* chat/completions: ``prompt_tokens`` INCLUDES ``prompt_tokens_details.cached_tokens``
  and ``cache_write_tokens``; ``completion_tokens`` INCLUDES ``reasoning_tokens``,
  audio tokens and both accepted and rejected prediction tokens (all billed as output).
* responses: ``input_tokens`` includes ``input_tokens_details.cached_tokens`` and
  ``cache_write_tokens`` (split by TTL in ``cache_write_tokens_details``);
  ``output_tokens`` includes ``output_tokens_details.reasoning_tokens``.
* embeddings: ``prompt_tokens`` only.

So OpenAI's counts already have the semconv shape and map one to one.
Stream usage arrives once, in the last chunk (chat/completions with
``stream_options.include_usage``) or in the terminal ``response.completed`` /
``response.incomplete`` / ``response.failed`` event (responses).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from otel_tokenomics import semconv as sc
from otel_tokenomics.activation import Adapter
from otel_tokenomics.call import HIDE, InferenceCall, Route
from otel_tokenomics.providers import openai_prompt
from otel_tokenomics.providers.openai_stream_usage import request_stream_usage
from otel_tokenomics.request_fields import Put, choice_count, integer, number, request_reader, stop, text
from otel_tokenomics.stainless import StainlessInstrumentation
from otel_tokenomics.telemetry import Telemetry
from otel_tokenomics.usage import MAX_COUNT, Usage, as_fields, count, field, reported

# -- request attributes -----------------------------------------------------------------


def _service_tier(value: Any, attributes: dict[str, Any]) -> None:
    if isinstance(value, str) and value != "auto":
        attributes[sc.OPENAI_REQUEST_SERVICE_TIER] = value


_OUTPUT_TYPES = {"text": "text", "json_object": "json", "json_schema": "json"}


def _format_output_type(response_format: Any, attributes: dict[str, Any]) -> None:
    if isinstance(response_format, Mapping):
        output_type = _OUTPUT_TYPES.get(response_format.get("type"))  # type: ignore[arg-type]
        if output_type:
            attributes.setdefault(sc.GEN_AI_OUTPUT_TYPE, output_type)


def _modalities(value: Any, attributes: dict[str, Any]) -> None:
    if isinstance(value, (list, tuple)) and "audio" in value:
        attributes[sc.GEN_AI_OUTPUT_TYPE] = "speech"


_reasoning_level = text(sc.GEN_AI_REQUEST_REASONING_LEVEL)


def _reasoning(value: Any, attributes: dict[str, Any]) -> None:
    if isinstance(value, Mapping):
        _reasoning_level(value.get("effort"), attributes)


def _conversation(value: Any, attributes: dict[str, Any]) -> None:
    if isinstance(value, Mapping):
        value = value.get("id")
    if isinstance(value, str) and value:
        attributes[sc.GEN_AI_CONVERSATION_ID] = value


def _text_format(value: Any, attributes: dict[str, Any]) -> None:
    if isinstance(value, Mapping):
        _format_output_type(value.get("format"), attributes)


def _encoding_format(value: Any, attributes: dict[str, Any]) -> None:
    if isinstance(value, str):
        attributes[sc.GEN_AI_REQUEST_ENCODING_FORMATS] = [value]


_SAMPLING: dict[str, Put] = {
    "temperature": number(sc.GEN_AI_REQUEST_TEMPERATURE),
    "top_p": number(sc.GEN_AI_REQUEST_TOP_P),
    "frequency_penalty": number(sc.GEN_AI_REQUEST_FREQUENCY_PENALTY),
    "presence_penalty": number(sc.GEN_AI_REQUEST_PRESENCE_PENALTY),
    "seed": integer(sc.GEN_AI_REQUEST_SEED),
    "stop": stop,
    "n": choice_count,
    "service_tier": _service_tier,
}
CHAT_REQUEST_FIELDS: dict[str, Put] = {
    **_SAMPLING,
    # max_completion_tokens replaced max_tokens; when both are sent it is the one obeyed.
    "max_completion_tokens": integer(sc.GEN_AI_REQUEST_MAX_TOKENS),
    "max_tokens": integer(sc.GEN_AI_REQUEST_MAX_TOKENS, overridable=True),
    "reasoning_effort": text(sc.GEN_AI_REQUEST_REASONING_LEVEL),
    "response_format": _format_output_type,
    "modalities": _modalities,
}
RESPONSES_REQUEST_FIELDS: dict[str, Put] = {
    **_SAMPLING,
    "max_output_tokens": integer(sc.GEN_AI_REQUEST_MAX_TOKENS),
    "reasoning": _reasoning,
    "previous_response_id": text(sc.GEN_AI_REQUEST_PREVIOUS_RESPONSE_ID),
    "conversation": _conversation,
    "text": _text_format,
}
COMPLETIONS_REQUEST_FIELDS: dict[str, Put] = {
    **_SAMPLING,
    "max_tokens": integer(sc.GEN_AI_REQUEST_MAX_TOKENS),
}
EMBEDDINGS_REQUEST_FIELDS: dict[str, Put] = {
    "encoding_format": _encoding_format,
    "dimensions": integer(sc.GEN_AI_EMBEDDINGS_DIMENSION_COUNT),
}


read_chat_request = request_reader(CHAT_REQUEST_FIELDS)
read_responses_request = request_reader(RESPONSES_REQUEST_FIELDS)
read_completions_request = request_reader(COMPLETIONS_REQUEST_FIELDS)
read_embeddings_request = request_reader(EMBEDDINGS_REQUEST_FIELDS)


# -- usage ------------------------------------------------------------------------------


def _modality(value: Any) -> int | None:
    """A per-modality count, or None unless reported non-zero (a 0 says nothing about the call)."""
    return (count(value) or None) if value else None


def completion_usage(usage: Any) -> Usage | None:
    """``CompletionUsage`` of chat/completions and legacy completions; None if it reports no count."""
    fast = _plain_completion_usage(usage)
    return fast if fast is not None else _completion_usage_read(usage)


def _completion_usage_read(usage: Any) -> Usage | None:
    """:func:`completion_usage` for any shape: models, dicts, extras, malformed counts."""
    usage = as_fields(usage)
    prompt_tokens = getattr(usage, "prompt_tokens", None)
    completion_tokens = getattr(usage, "completion_tokens", None)
    if not reported(prompt_tokens, completion_tokens):
        return None
    result = Usage(count(prompt_tokens), count(completion_tokens))
    prompt = as_fields(getattr(usage, "prompt_tokens_details", None))
    if prompt is not None:
        result.cache_read_tokens = count(getattr(prompt, "cached_tokens", None))
        result.cache_write_tokens = count(getattr(prompt, "cache_write_tokens", None))
        text = getattr(prompt, "text_tokens", None)
        audio = getattr(prompt, "audio_tokens", None)
        image = getattr(prompt, "image_tokens", None)
        if text or audio or image:  # a plain text chat reports none, or zeros
            result.text_input_tokens = _modality(text)
            result.audio_input_tokens = _modality(audio)
            result.image_input_tokens = _modality(image)
    completion = as_fields(getattr(usage, "completion_tokens_details", None))
    if completion is not None:
        result.reasoning_tokens = count(getattr(completion, "reasoning_tokens", None))
        text = getattr(completion, "text_tokens", None)
        audio = getattr(completion, "audio_tokens", None)
        if text or audio:
            result.text_output_tokens = _modality(text)
            result.audio_output_tokens = _modality(audio)
    stated = _stated_cost(usage)
    if stated is not None:
        result.provider_cost = stated
    return result


# What the fast readers read; a model without all of them declared takes the general path.
_USAGE_FIELDS = frozenset(
    {"prompt_tokens", "completion_tokens", "prompt_tokens_details", "completion_tokens_details"}
)
_PROMPT_DETAILS = frozenset(
    {"cached_tokens", "cache_write_tokens", "text_tokens", "audio_tokens", "image_tokens"}
)
_COMPLETION_DETAILS = frozenset({"reasoning_tokens", "text_tokens", "audio_tokens"})
_COMMON_FIELDS = frozenset({"id", "model", "service_tier", "system_fingerprint"})
_COMPLETION_FIELDS = _COMMON_FIELDS | {"choices", "usage"}


def _plain_completion_usage(usage: Any) -> Usage | None:
    """:func:`completion_usage` for what nearly every call gets: an SDK model (or a dict)
    whose two totals are plain ints and whose details hold ints or nothing.

    Reads the fields from the model's ``__dict__`` (pydantic keeps them there) instead of
    one ``getattr`` each; None hands anything else, an absent field included, to the
    general reader.
    """
    values = usage if type(usage) is dict else getattr(usage, "__dict__", None)
    # Both details fields declared (openai 1.0 has neither: an answer's details are extras).
    if not values or not values.keys() >= _USAGE_FIELDS:
        return None
    prompt_tokens = values.get("prompt_tokens")
    completion_tokens = values.get("completion_tokens")
    if not (
        type(prompt_tokens) is int
        and type(completion_tokens) is int
        and 0 <= prompt_tokens <= MAX_COUNT
        and 0 <= completion_tokens <= MAX_COUNT
    ):
        return None
    result = Usage(prompt_tokens, completion_tokens)
    prompt = values.get("prompt_tokens_details")
    if prompt is not None:
        details = prompt if type(prompt) is dict else getattr(prompt, "__dict__", None)
        # A field an older SDK does not declare is a pydantic extra, outside __dict__.
        if details is None or not details.keys() >= _PROMPT_DETAILS:
            return None
        result.cache_read_tokens = count(details["cached_tokens"])
        result.cache_write_tokens = count(details.get("cache_write_tokens"))
        text = details.get("text_tokens")
        audio = details.get("audio_tokens")
        image = details.get("image_tokens")
        if text or audio or image:
            result.text_input_tokens = _modality(text)
            result.audio_input_tokens = _modality(audio)
            result.image_input_tokens = _modality(image)
    completion = values.get("completion_tokens_details")
    if completion is not None:
        details = completion if type(completion) is dict else getattr(completion, "__dict__", None)
        if details is None or not details.keys() >= _COMPLETION_DETAILS:
            return None
        result.reasoning_tokens = count(details["reasoning_tokens"])
        text = details.get("text_tokens")
        audio = details.get("audio_tokens")
        if text or audio:
            result.text_output_tokens = _modality(text)
            result.audio_output_tokens = _modality(audio)
    # A gateway's stated cost (OpenRouter) is an extra field of the SDK's model.
    extra = values if values is usage else getattr(usage, "__pydantic_extra__", None)
    if extra and extra.get("cost") is not None:
        stated = _stated_cost(as_fields(usage))
        if stated is not None:
            result.provider_cost = stated
    return result


def x_groq_usage(chunk: Any) -> Usage | None:
    """The usage Groq puts in a stream chunk's ``x_groq`` (an extra field for the openai SDK).

    Token counts only: a non-streamed answer's ``x_groq.usage`` holds hardware cache
    statistics instead (``dram_cached_tokens``), which must never replace the counts.
    """
    x_groq = field(chunk, "x_groq")
    if x_groq is None:
        return None
    usage = as_fields(getattr(as_fields(x_groq), "usage", None))
    if usage is None or getattr(usage, "prompt_tokens", None) is None:
        return None
    return completion_usage(usage)


def _stated_cost(usage: Any) -> float | None:
    """The cost a gateway states in the usage object (OpenRouter: ``usage.cost``, in USD).

    With bring-your-own-key the gateway's ``cost`` is only its fee; the upstream
    provider's charge is ``cost_details.upstream_inference_cost``.
    """
    cost = field(usage, "cost")  # OpenRouter's; OpenAI's own usage has no such field
    if type(cost) not in (int, float) or not 0 <= cost < float("inf"):
        return None
    total = float(cost)
    if getattr(usage, "is_byok", None) is True:
        upstream = getattr(as_fields(getattr(usage, "cost_details", None)), "upstream_inference_cost", None)
        if type(upstream) in (int, float) and 0 <= upstream < float("inf"):
            total += float(upstream)
    return total


def responses_usage(usage: Any) -> Usage | None:
    """``ResponseUsage`` of the Responses API; None if it reports no count."""
    usage = as_fields(usage)
    input_tokens = getattr(usage, "input_tokens", None)
    output_tokens = getattr(usage, "output_tokens", None)
    if not reported(input_tokens, output_tokens):
        return None
    result = Usage(count(input_tokens), count(output_tokens))
    details = as_fields(getattr(usage, "input_tokens_details", None))
    if details is not None:
        result.cache_read_tokens = count(getattr(details, "cached_tokens", None))
        result.cache_write_tokens = count(getattr(details, "cache_write_tokens", None))
        ttl = as_fields(getattr(details, "cache_write_tokens_details", None))
        if ttl is not None:
            result.cache_write_by_ttl = {
                "30m": count(getattr(ttl, "ttl_30m_tokens", None)),
                "12h": count(getattr(ttl, "ttl_12h_tokens", None)),
            }
    details = as_fields(getattr(usage, "output_tokens_details", None))
    if details is not None:
        result.reasoning_tokens = count(getattr(details, "reasoning_tokens", None))
    stated = _stated_cost(usage)
    if stated is not None:
        result.provider_cost = stated
    return result


def embeddings_usage(usage: Any) -> Usage | None:
    prompt_tokens = getattr(as_fields(usage), "prompt_tokens", None)
    return Usage(count(prompt_tokens), 0) if reported(prompt_tokens) else None


# -- responses --------------------------------------------------------------------------


def _read_common(call: InferenceCall, response: Any) -> None:
    values = getattr(response, "__dict__", None)
    if values and values.keys() >= _COMMON_FIELDS:
        _read_common_fields(call, values)
        return
    _read_common_attributes(call, response)


def _read_common_fields(call: InferenceCall, values: dict[str, Any]) -> None:
    """:func:`_read_common` of an SDK model, from its ``__dict__``: a lookup per field
    instead of a getattr (pydantic keeps declared fields there)."""
    response_id = values["id"]
    if type(response_id) is str:
        call.response_id = response_id
    model = values.get("model")
    if type(model) is str:
        call.response_model = model
    end_attributes = call.end_attributes
    tier = values.get("service_tier")
    if type(tier) is str:
        end_attributes[sc.OPENAI_RESPONSE_SERVICE_TIER] = tier
        # The tier that served the call sets its price (flex is half, priority more).
        call.price_context = (("service_tier", tier),)
    fingerprint = values.get("system_fingerprint")
    if type(fingerprint) is str:
        end_attributes[sc.OPENAI_RESPONSE_SYSTEM_FINGERPRINT] = fingerprint


def _read_common_attributes(call: InferenceCall, response: Any) -> None:
    response_id = getattr(response, "id", None)
    if isinstance(response_id, str):
        call.response_id = response_id
    model = getattr(response, "model", None)
    if isinstance(model, str):
        call.response_model = model
    tier = getattr(response, "service_tier", None)
    if isinstance(tier, str):
        call.set_attribute(sc.OPENAI_RESPONSE_SERVICE_TIER, tier)
        # The tier that served the call sets its price (flex is half, priority more).
        call.price_context = (("service_tier", tier),)
    fingerprint = getattr(response, "system_fingerprint", None)
    if isinstance(fingerprint, str):
        call.set_attribute(sc.OPENAI_RESPONSE_SYSTEM_FINGERPRINT, fingerprint)


def _read_completion(call: InferenceCall, response: Any) -> Any:
    """What chat and legacy completions share: ids, finish reasons, usage. Returns the choices."""
    values = getattr(response, "__dict__", None)
    if values and values.keys() >= _COMPLETION_FIELDS:
        _read_common_fields(call, values)
        choices = values["choices"]
        if type(choices) is list:
            for position, choice in enumerate(choices):
                fields = getattr(choice, "__dict__", None) or {}
                reason = fields.get("finish_reason")
                if type(reason) is str:
                    index = fields.get("index", position)
                    call.set_finish_reason(index if type(index) is int else position, reason)
                elif reason is not None or "finish_reason" not in fields:
                    _read_choice(call, choice, position)
            usage = values["usage"]
            if usage is not None:
                call.usage = completion_usage(usage)
            return choices
    _read_common(call, response)
    choices = getattr(response, "choices", None) or ()
    for position, choice in enumerate(choices):
        _read_choice(call, choice, position)
    usage = getattr(response, "usage", None)
    if usage is not None:
        call.usage = completion_usage(usage)
    return choices


def _read_choice(call: InferenceCall, choice: Any, position: int) -> None:
    reason = getattr(choice, "finish_reason", None)
    if isinstance(reason, str):
        index = getattr(choice, "index", position)
        call.set_finish_reason(index if isinstance(index, int) else position, reason)


def read_chat_response(call: InferenceCall, response: Any) -> None:
    choices = _read_completion(call, response)
    if call.capture:
        call.content = [chat_output_message(choice) for choice in choices]


def read_completion_response(call: InferenceCall, response: Any) -> None:
    choices = _read_completion(call, response)
    if call.capture:
        call.content = [
            {"role": "assistant", "parts": [{"type": "text", "content": getattr(c, "text", "")}]}
            for c in choices
        ]


def _read_chunk_usage(call: InferenceCall, usage: Any) -> None:
    """A stream chunk's usage; one without a count leaves what an earlier chunk said."""
    read = completion_usage(usage)
    if read is not None:
        call.usage = read


def _finish_choice(call: InferenceCall, chunk: Any, choice: Any, reason: str, usage: Any) -> None:
    call.set_finish_reason(choice.index, reason)
    if usage is None and call.usage is None:
        # Groq sends a stream's usage in x_groq on the finishing chunk, with or
        # without include_usage (whose chunk, later, wins).
        grouped = x_groq_usage(chunk)
        if grouped is not None:
            call.usage = grouped


def read_chat_chunk(call: InferenceCall, chunk: Any) -> Any:
    """One chat stream chunk. Every chunk with choices counts as output: the first one
    already carries the first delta. Its text goes to ``call.output_text``, counted once
    at the end if no usage arrives. This runs per chunk: the common case (a content
    delta) is inline and reads four attributes."""
    if call.response_id is None:
        _read_common(call, chunk)
    usage = getattr(chunk, "usage", None)  # not modelled by SDKs older than the field
    if usage is not None:
        _read_chunk_usage(call, usage)
    choices = chunk.choices
    if not choices:
        return HIDE if injected_usage_chunk(call, chunk) else True
    output_text = call.output_text
    for choice in choices:
        delta = choice.delta
        if delta is not None and output_text is not None:
            content = delta.content
            if content:
                output_text.append(content)
            elif content is None:
                # A delta without content: a tool call, a refusal, or the reasoning of
                # an OpenAI-compatible server (its role chunk has content "").
                _collect_other_delta(output_text, delta)
        reason = choice.finish_reason
        if reason is not None:
            _finish_choice(call, chunk, choice, reason, usage)
        if call.capture:
            _accumulator(call).add_chat_delta(choice)
    return True


def injected_usage_chunk(call: InferenceCall, chunk: Any) -> bool:
    """The choice-less chunk that include_usage adds, when we asked for it: ours alone,
    whatever its usage says (a proxy may null it). Azure's first choice-less chunk
    (prompt_filter_results, before any finish) is the user's."""
    return (
        call.usage_injected
        and not getattr(chunk, "choices", True)
        and (getattr(chunk, "usage", None) is not None or call.finish_reasons is not None)
    )


def _collect_other_delta(output_text: list[str], delta: Any) -> None:
    tool_calls = field(delta, "tool_calls")  # not modelled before openai 1.1
    if tool_calls:
        collect_tool_calls(output_text, tool_calls)
        return
    # Reasoning text of OpenAI-compatible servers (DeepSeek, vLLM: reasoning_content;
    # OpenRouter: reasoning) and refusals stream where content would.
    other = field(delta, "reasoning_content") or field(delta, "reasoning") or field(delta, "refusal")
    if type(other) is str:
        output_text.append(other)


def collect_tool_calls(output_text: list[str], tool_calls: Any) -> None:
    """The billed text of streamed tool-call deltas: names and argument pieces.

    Models, or dicts where an SDK older than tool calls keeps them as extra fields.
    """
    for tool_call in tool_calls:
        function = as_fields(getattr(as_fields(tool_call), "function", None))
        if function is not None:
            for text in (getattr(function, "name", None), getattr(function, "arguments", None)):
                if isinstance(text, str) and text:
                    output_text.append(text)


def read_completion_chunk(call: InferenceCall, chunk: Any) -> Any:
    """One legacy completions stream chunk: text sits in ``choice.text``."""
    if call.response_id is None:
        _read_common(call, chunk)
    usage = getattr(chunk, "usage", None)
    if usage is not None:
        _read_chunk_usage(call, usage)
    choices = chunk.choices
    if not choices:
        return True
    output_text = call.output_text
    for choice in choices:
        text = choice.text
        if text and output_text is not None:
            output_text.append(text)
        reason = choice.finish_reason
        if reason is not None:
            _finish_choice(call, chunk, choice, reason, usage)
        if call.capture:
            _accumulator(call).add_text(choice.index, text)
    return True


_INCOMPLETE_REASONS = {"max_output_tokens": "length", "content_filter": "content_filter"}
_TOOL_CALL_ITEMS = frozenset(
    {"function_call", "custom_tool_call", "mcp_call", "computer_call", "local_shell_call", "shell_call"}
)


def read_responses_response(call: InferenceCall, response: Any) -> None:
    _read_common(call, response)
    status = getattr(response, "status", None)
    output = getattr(response, "output", None) or ()
    if status == "completed":
        calls_tool = any(getattr(item, "type", None) in _TOOL_CALL_ITEMS for item in output)
        call.set_finish_reason(0, "tool_calls" if calls_tool else "stop")
    elif status == "incomplete":
        reason = getattr(getattr(response, "incomplete_details", None), "reason", None)
        call.set_finish_reason(0, _INCOMPLETE_REASONS.get(reason, reason or "incomplete"))  # type: ignore[arg-type]
    elif status == "failed":
        call.set_finish_reason(0, "error")
    elif isinstance(status, str):
        call.set_finish_reason(0, status)
    conversation = getattr(response, "conversation", None)
    conversation_id = getattr(conversation, "id", None)
    if isinstance(conversation_id, str):
        call.set_attribute(sc.GEN_AI_CONVERSATION_ID, conversation_id)
    usage = getattr(response, "usage", None)
    if usage is not None:
        call.usage = responses_usage(usage)
    if call.capture:
        call.content = [_responses_output_message(output)]


_RESPONSE_TERMINAL_EVENTS = frozenset({"response.completed", "response.incomplete", "response.failed"})
_RESPONSE_OPENING_EVENTS = frozenset({"response.created", "response.in_progress"})


def read_responses_event(call: InferenceCall, event: Any) -> bool:
    """Output of the Responses API streams as ``*.delta`` events (text, refusal,
    reasoning, tool arguments, audio); the rest is bookkeeping."""
    event_type = event.type
    if event_type in _RESPONSE_TERMINAL_EVENTS:
        read_responses_response(call, event.response)
    elif event_type in _RESPONSE_OPENING_EVENTS:
        if call.response_id is None:
            _read_common(call, event.response)
    elif isinstance(event_type, str) and event_type.endswith(".delta"):
        delta = getattr(event, "delta", None)
        # Text, refusals, reasoning summaries and tool arguments; not audio (base64 bytes,
        # and a transcript of audio tokens billed at their own rate).
        if type(delta) is str and call.output_text is not None and "audio" not in event_type:
            call.output_text.append(delta)
        return True
    return False


def read_compaction_response(call: InferenceCall, response: Any) -> None:
    """``responses.compact``: a billed summarisation of a conversation, usage as in Responses."""
    response_id = getattr(response, "id", None)
    if isinstance(response_id, str):
        call.response_id = response_id
    usage = getattr(response, "usage", None)
    if usage is not None:
        call.usage = responses_usage(usage)


def read_embeddings_response(call: InferenceCall, response: Any) -> None:
    model = getattr(response, "model", None)
    if isinstance(model, str):
        call.response_model = model
    usage = getattr(response, "usage", None)
    if usage is not None:
        call.usage = embeddings_usage(usage)
    data = getattr(response, "data", None)
    if data:
        vector = getattr(data[0], "embedding", None)
        if isinstance(vector, list):
            call.set_attribute(sc.GEN_AI_EMBEDDINGS_DIMENSION_COUNT, len(vector))


# -- opt-in content, in the semconv message shape ------------------------------------------


def _text_parts(content: Any) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "content": content}]
    parts: list[dict[str, Any]] = []
    if isinstance(content, (list, tuple)):
        for part in content:
            if not isinstance(part, Mapping):
                continue
            kind = part.get("type")
            if kind in ("text", "input_text", "output_text"):
                parts.append({"type": "text", "content": part.get("text", "")})
            elif kind in ("image_url", "input_image"):
                image = part.get("image_url")
                url = image.get("url") if isinstance(image, Mapping) else image
                parts.append({"type": "uri", "modality": "image", "uri": url})
            elif kind == "input_audio":
                audio = part.get("input_audio") or {}
                parts.append(
                    {
                        "type": "blob",
                        "modality": "audio",
                        "mime_type": f"audio/{audio.get('format', '')}",
                        "content": audio.get("data"),
                    }
                )
            elif kind in ("file", "input_file"):
                parts.append({"type": "file", "file": part.get("file") or part.get("file_id")})
            elif kind == "refusal":
                parts.append({"type": "text", "content": part.get("refusal", "")})
            else:
                parts.append({"type": "generic", "generic_type": kind, "content": dict(part)})
    return parts


def _tool_definitions(tools: Any) -> list[dict[str, Any]] | None:
    if not isinstance(tools, (list, tuple)) or not tools:
        return None
    definitions = []
    for tool in tools:
        if not isinstance(tool, Mapping):
            continue
        function = tool.get("function") if isinstance(tool.get("function"), Mapping) else tool
        definitions.append(
            {
                "type": tool.get("type", "function"),
                "name": function.get("name"),
                "description": function.get("description"),
                "parameters": function.get("parameters"),
            }
        )
    return definitions


def chat_input_content(body: Mapping[str, Any]) -> dict[str, Any]:
    messages = []
    for message in body.get("messages") or ():
        if not isinstance(message, Mapping):
            continue
        role = message.get("role")
        parts = _text_parts(message.get("content"))
        if role == "tool":
            parts = [
                {
                    "type": "tool_call_response",
                    "id": message.get("tool_call_id"),
                    "response": message.get("content"),
                }
            ]
        for tool_call in message.get("tool_calls") or ():
            if isinstance(tool_call, Mapping):
                function = tool_call.get("function") or {}
                parts.append(
                    {
                        "type": "tool_call",
                        "id": tool_call.get("id"),
                        "name": function.get("name"),
                        "arguments": function.get("arguments"),
                    }
                )
        entry: dict[str, Any] = {"role": role, "parts": parts}
        if message.get("name"):
            entry["name"] = message["name"]
        messages.append(entry)
    content: dict[str, Any] = {sc.GEN_AI_INPUT_MESSAGES: messages}
    tools = _tool_definitions(body.get("tools"))
    if tools:
        content[sc.GEN_AI_TOOL_DEFINITIONS] = tools
    return content


def responses_input_content(body: Mapping[str, Any]) -> dict[str, Any]:
    content: dict[str, Any] = {}
    instructions = body.get("instructions")
    if isinstance(instructions, str):
        content[sc.GEN_AI_SYSTEM_INSTRUCTIONS] = [{"type": "text", "content": instructions}]
    raw = body.get("input")
    messages: list[dict[str, Any]] = []
    if isinstance(raw, str):
        messages.append({"role": "user", "parts": [{"type": "text", "content": raw}]})
    elif isinstance(raw, (list, tuple)):
        for item in raw:
            if not isinstance(item, Mapping):
                continue
            kind = item.get("type", "message")
            if kind == "message" or "role" in item:
                messages.append({"role": item.get("role"), "parts": _text_parts(item.get("content"))})
            elif kind == "function_call_output":
                messages.append(
                    {
                        "role": "tool",
                        "parts": [
                            {
                                "type": "tool_call_response",
                                "id": item.get("call_id"),
                                "response": item.get("output"),
                            }
                        ],
                    }
                )
            elif kind == "function_call":
                messages.append(
                    {
                        "role": "assistant",
                        "parts": [
                            {
                                "type": "tool_call",
                                "id": item.get("call_id"),
                                "name": item.get("name"),
                                "arguments": item.get("arguments"),
                            }
                        ],
                    }
                )
    content[sc.GEN_AI_INPUT_MESSAGES] = messages
    tools = _tool_definitions(body.get("tools"))
    if tools:
        content[sc.GEN_AI_TOOL_DEFINITIONS] = tools
    return content


def completions_input_content(body: Mapping[str, Any]) -> dict[str, Any]:
    prompt = body.get("prompt")
    prompts = [prompt] if isinstance(prompt, str) else [p for p in prompt or () if isinstance(p, str)]
    return {
        sc.GEN_AI_INPUT_MESSAGES: [
            {"role": "user", "parts": [{"type": "text", "content": p}]} for p in prompts
        ]
    }


def chat_output_message(choice: Any) -> dict[str, Any]:
    message = getattr(choice, "message", None)
    parts: list[dict[str, Any]] = []
    text = getattr(message, "content", None)
    if text:
        parts.append({"type": "text", "content": text})
    refusal = getattr(message, "refusal", None)
    if refusal:
        parts.append({"type": "text", "content": refusal})
    for tool_call in getattr(message, "tool_calls", None) or ():
        function = getattr(tool_call, "function", None)
        parts.append(
            {
                "type": "tool_call",
                "id": getattr(tool_call, "id", None),
                "name": getattr(function, "name", None),
                "arguments": getattr(function, "arguments", None),
            }
        )
    entry: dict[str, Any] = {"role": getattr(message, "role", "assistant") or "assistant", "parts": parts}
    reason = getattr(choice, "finish_reason", None)
    if reason:
        entry["finish_reason"] = reason
    return entry


def _responses_output_message(output: Any) -> dict[str, Any]:
    parts: list[dict[str, Any]] = []
    for item in output:
        kind = getattr(item, "type", None)
        if kind == "message":
            for piece in getattr(item, "content", None) or ():
                text = getattr(piece, "text", None) or getattr(piece, "refusal", None)
                if text:
                    parts.append({"type": "text", "content": text})
        elif kind == "function_call":
            parts.append(
                {
                    "type": "tool_call",
                    "id": getattr(item, "call_id", None),
                    "name": getattr(item, "name", None),
                    "arguments": getattr(item, "arguments", None),
                }
            )
        elif kind == "reasoning":
            for summary in getattr(item, "summary", None) or ():
                parts.append({"type": "reasoning", "content": getattr(summary, "text", "")})
    return {"role": "assistant", "parts": parts}


class StreamedChatOutput:
    """Opt-in only: the streamed text and tool calls, per choice."""

    __slots__ = ("choices",)

    def __init__(self) -> None:
        self.choices: dict[int, dict[str, Any]] = {}

    def _choice(self, index: int) -> dict[str, Any]:
        choice = self.choices.get(index)
        if choice is None:
            choice = self.choices[index] = {"text": [], "tools": {}}
        return choice

    def add_text(self, index: int, text: str | None) -> None:
        if text:
            self._choice(index)["text"].append(text)

    def add_chat_delta(self, choice: Any) -> None:
        delta = choice.delta
        if delta is None:
            return
        self.add_text(choice.index, delta.content)
        for tool_call in delta.tool_calls or ():
            tools = self._choice(choice.index)["tools"]
            entry = tools.setdefault(tool_call.index, {"id": None, "name": None, "arguments": []})
            if tool_call.id:
                entry["id"] = tool_call.id
            function = tool_call.function
            if function is not None:
                if function.name:
                    entry["name"] = function.name
                if function.arguments:
                    entry["arguments"].append(function.arguments)

    def messages(self, finish_reasons: dict[int, str] | None) -> list[dict[str, Any]]:
        messages = []
        for index in sorted(self.choices):
            choice = self.choices[index]
            parts: list[dict[str, Any]] = []
            if choice["text"]:
                parts.append({"type": "text", "content": "".join(choice["text"])})
            for position in sorted(choice["tools"]):
                tool = choice["tools"][position]
                parts.append(
                    {
                        "type": "tool_call",
                        "id": tool["id"],
                        "name": tool["name"],
                        "arguments": "".join(tool["arguments"]),
                    }
                )
            entry: dict[str, Any] = {"role": "assistant", "parts": parts}
            if finish_reasons and index in finish_reasons:
                entry["finish_reason"] = finish_reasons[index]
            messages.append(entry)
        return messages


def _accumulator(call: InferenceCall) -> StreamedChatOutput:
    content = call.content
    if content is None:
        content = call.content = StreamedChatOutput()
    return content  # type: ignore[no-any-return]


# -- the endpoints --------------------------------------------------------------------------

ROUTES: dict[str, Route] = {
    "/chat/completions": Route(
        "chat",
        read_chat_request,
        read_chat_response,
        read_chat_chunk,
        attributes={sc.OPENAI_API_TYPE: "chat_completions"},
        read_input_content=chat_input_content,
        read_prompt=openai_prompt.chat_prompt,
        read_output_text=openai_prompt.chat_output_text,
        is_own_chunk=injected_usage_chunk,
    ),
    "/responses": Route(
        "chat",
        read_responses_request,
        read_responses_response,
        read_responses_event,
        attributes={sc.OPENAI_API_TYPE: "responses"},
        read_input_content=responses_input_content,
        read_prompt=openai_prompt.responses_prompt,
        read_output_text=openai_prompt.responses_output_text,
    ),
    "/responses/compact": Route(
        "chat",
        read_responses_request,
        read_compaction_response,
        attributes={sc.OPENAI_API_TYPE: "responses", sc.GEN_AI_CONVERSATION_COMPACTED: True},
        read_input_content=responses_input_content,
    ),
    "/completions": Route(
        "text_completion",
        read_completions_request,
        read_completion_response,
        read_completion_chunk,
        read_input_content=completions_input_content,
        read_prompt=openai_prompt.completions_prompt,
        read_output_text=openai_prompt.completion_output_text,
    ),
    "/embeddings": Route(
        "embeddings",
        read_embeddings_request,
        read_embeddings_response,
        read_prompt=openai_prompt.embeddings_prompt,
    ),
}


# The .stream() helpers close the HTTP response, not the raw stream, when left early.
HELPER_STREAMS = (
    ("openai.lib.streaming.chat._completions", "ChatCompletionStream"),
    ("openai.lib.streaming.chat._completions", "AsyncChatCompletionStream"),
    ("openai.lib.streaming.responses._responses", "ResponseStream"),
    ("openai.lib.streaming.responses._responses", "AsyncResponseStream"),
)


class OpenAIAdapter(Adapter):
    """Traces every call of the official ``openai`` SDK (and OpenAI-compatible endpoints)."""

    package = "openai"
    requirement = "openai >= 1.0.0"
    patch_when_imported = "openai"

    @classmethod
    def make_patcher(cls, telemetry: Telemetry) -> StainlessInstrumentation:
        return StainlessInstrumentation(
            "openai",
            ROUTES,
            telemetry,
            HELPER_STREAMS,
            stream_hooks={"/chat/completions": request_stream_usage},
        )
