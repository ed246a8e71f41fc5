"""The ``google-genai`` SDK (Gemini API and Vertex AI): what we wrap and how we read it.

One span per HTTP request. ``Models.generate_content`` may send several requests:
automatic function calling (python functions in ``tools``) sends one per round
trip, and automatic continuation one per ``continuation_token``. The public
response then carries either the last request's usage (function calling) or the
sum over requests (continuation), and a long-context price tier applies to each
request on its own, so neither can be priced from the public answer. The private
``_generate_content`` / ``_generate_content_stream`` methods send exactly one
request each: those are wrapped, and the public methods (and chat sessions, which
call them) are not, so nothing is counted twice.

Token model (``usage_metadata``):

* ``prompt_token_count`` INCLUDES ``cached_content_token_count``;
* ``tool_use_prompt_token_count`` (results of server-side tools read back by the
  model) is input NOT inside the prompt count;
* ``thoughts_token_count`` is output NOT inside ``candidates_token_count``;

so input = prompt + tool_use_prompt, cache read = cached_content, output =
candidates + thoughts, reasoning = thoughts. Per-modality lists
(``*_tokens_details``) give the modality split; video is counted with image (Google
prices them together) and document with text. A stream's ``usage_metadata`` is
the running total of its request: the last one wins, chunks are never summed.
"""

from __future__ import annotations

import base64
import functools
import inspect
from collections.abc import Iterator, Mapping
from typing import Any

from otel_tokenomics import semconv as sc
from otel_tokenomics.activation import Adapter
from otel_tokenomics.call import InferenceCall, Route, report_internal_error
from otel_tokenomics.providers.gemini_prompt import (
    append_candidate_texts,
    embed_prompt,
    generate_prompt,
    response_output_text,
)
from otel_tokenomics.providers.prompt_parts import get as _get
from otel_tokenomics.request_fields import Put, choice_count, integer, number, stop_sequences
from otel_tokenomics.telemetry import Telemetry
from otel_tokenomics.usage import MAX_COUNT, Usage, as_fields, count, reported
from otel_tokenomics.wrapping import (
    Adopt,
    Endpoint,
    MethodPatcher,
    finish,
    follow_async_iterator,
    follow_iterator,
    may_trace,
    start_call,
)

GEMINI = "gcp.gemini"
VERTEX_AI = "gcp.vertex_ai"

# The Gemini API's answer to a request for a tier it could not serve (graceful downgrade).
SERVICE_TIER_HEADER = "x-gemini-service-tier"

_TRAFFIC_CONTEXTS: dict[str, tuple[tuple[str, str], ...]] = {
    "ON_DEMAND_FLEX": (("service_tier", "flex"),),
    "ON_DEMAND_PRIORITY": (("service_tier", "priority"),),
}
# Served from capacity bought ahead (GSUs): the call itself is not billed per token.
# A request over the provisioned quota is served, and billed, on demand, and says so.
_PREPAID_TRAFFIC = "PROVISIONED_THROUGHPUT"
_TIER_CONTEXTS: dict[str, tuple[tuple[str, str], ...]] = {
    "flex": (("service_tier", "flex"),),
    "priority": (("service_tier", "priority"),),
}


def _enum_text(value: Any) -> str | None:
    """An SDK enum (or the string a user passed for it) as its wire value."""
    value = getattr(value, "value", value)
    return value if isinstance(value, str) and value else None


# -- request attributes -------------------------------------------------------------------


_OUTPUT_MIME_TYPES = {"application/json": "json", "text/plain": "text", "text/x.enum": "text"}


def _output_type(config: Any) -> str | None:
    modalities = _get(config, "response_modalities")
    if isinstance(modalities, (list, tuple)):
        names = {(_enum_text(m) or "").upper() for m in modalities}
        if "IMAGE" in names:
            return "image"
        if "AUDIO" in names:
            return "speech"
    mime_type = _get(config, "response_mime_type")
    return _OUTPUT_MIME_TYPES.get(mime_type) if isinstance(mime_type, str) else None


# The config is an SDK model or the TypedDict a user may pass instead: read key by key.
_CONFIG_FIELDS: dict[str, Put] = {
    "temperature": number(sc.GEN_AI_REQUEST_TEMPERATURE),
    "top_p": number(sc.GEN_AI_REQUEST_TOP_P),
    "top_k": number(sc.GEN_AI_REQUEST_TOP_K),
    "presence_penalty": number(sc.GEN_AI_REQUEST_PRESENCE_PENALTY),
    "frequency_penalty": number(sc.GEN_AI_REQUEST_FREQUENCY_PENALTY),
    "max_output_tokens": integer(sc.GEN_AI_REQUEST_MAX_TOKENS),
    "seed": integer(sc.GEN_AI_REQUEST_SEED),
    "candidate_count": choice_count,
    "stop_sequences": stop_sequences,
}


def read_generate_request(body: Mapping[str, Any], attributes: dict[str, Any]) -> None:
    config = body.get("config")
    if config is None:
        return
    for key, put in _CONFIG_FIELDS.items():
        value = _get(config, key)
        if value is not None:
            put(value, attributes)
    level = _enum_text(_get(_get(config, "thinking_config"), "thinking_level"))
    if level:
        attributes[sc.GEN_AI_REQUEST_REASONING_LEVEL] = level
    output_type = _output_type(config)
    if output_type:
        attributes[sc.GEN_AI_OUTPUT_TYPE] = output_type


_dimension_count = integer(sc.GEN_AI_EMBEDDINGS_DIMENSION_COUNT)


def read_embed_request(body: Mapping[str, Any], attributes: dict[str, Any]) -> None:
    _dimension_count(_get(body.get("config"), "output_dimensionality"), attributes)


# -- usage ---------------------------------------------------------------------------------

# Google's modalities onto the semconv ones. Video is billed at the image rate in
# every Google price table that splits input, and a document (PDF) at the text rate.
_MODALITIES = {
    "TEXT": "text",
    "DOCUMENT": "text",
    "MODALITY_UNSPECIFIED": "text",  # documented as "treated as TEXT"
    "IMAGE": "image",
    "VIDEO": "image",
    "AUDIO": "audio",
}


def _by_modality(*lists: Any) -> dict[str, int] | None:
    """Token counts per semconv modality, summed over ``*_tokens_details`` lists; None if none."""
    totals: dict[str, int] | None = None
    for details in lists:
        if not isinstance(details, (list, tuple)):
            continue
        for entry in details:
            entry = as_fields(entry)
            modality = _MODALITIES.get((_enum_text(getattr(entry, "modality", None)) or "").upper())
            tokens = count(getattr(entry, "token_count", None))
            if modality is not None and tokens:
                if totals is None:
                    totals = {}
                totals[modality] = min(totals.get(modality, 0) + tokens, MAX_COUNT)
    return totals


def generate_usage(metadata: Any) -> Usage | None:
    """``GenerateContentResponseUsageMetadata`` in the semconv arithmetic; None without a count."""
    metadata = as_fields(metadata)
    prompt = getattr(metadata, "prompt_token_count", None)
    tool_use = getattr(metadata, "tool_use_prompt_token_count", None)
    thoughts = getattr(metadata, "thoughts_token_count", None)
    candidates = getattr(metadata, "candidates_token_count", None)
    if not reported(prompt, candidates, thoughts, tool_use):
        return None
    prompt, tool_use, thoughts = count(prompt), count(tool_use), count(thoughts)
    usage = Usage(prompt + tool_use, count(candidates) + thoughts)
    # Part of the prompt by definition; a larger count is malformed and would break the invariant.
    usage.cache_read_tokens = min(count(getattr(metadata, "cached_content_token_count", None)), prompt)
    usage.reasoning_tokens = thoughts
    inputs = _by_modality(
        getattr(metadata, "prompt_tokens_details", None),
        getattr(metadata, "tool_use_prompt_tokens_details", None),
    )
    if inputs:
        usage.text_input_tokens = inputs.get("text")
        usage.image_input_tokens = inputs.get("image")
        usage.audio_input_tokens = inputs.get("audio")
    outputs = _by_modality(getattr(metadata, "candidates_tokens_details", None))
    if outputs:
        # Thoughts are text the model wrote; the candidates' details leave them out.
        text = outputs.get("text", 0) + thoughts
        usage.text_output_tokens = text or None
        usage.image_output_tokens = outputs.get("image")
        usage.audio_output_tokens = outputs.get("audio")
    return usage


def embed_usage(response: Any) -> Usage | None:
    """Embeddings usage: ``usage_metadata`` where sent, else Vertex's per-embedding statistics."""
    metadata = as_fields(getattr(response, "usage_metadata", None))
    if metadata is not None and reported(getattr(metadata, "prompt_token_count", None)):
        usage = Usage(count(getattr(metadata, "prompt_token_count", None)), 0)
        inputs = _by_modality(getattr(metadata, "prompt_tokens_details", None))
        if inputs:
            usage.text_input_tokens = inputs.get("text")
            usage.image_input_tokens = inputs.get("image")
            usage.audio_input_tokens = inputs.get("audio")
        return usage
    total = None
    for embedding in getattr(response, "embeddings", None) or ():
        statistics = getattr(embedding, "statistics", None)
        tokens = getattr(statistics, "token_count", None)
        if reported(tokens):
            total = min((total or 0) + count(tokens), MAX_COUNT)
    return None if total is None else Usage(total, 0)


# -- responses -----------------------------------------------------------------------------


def _finish_reason(candidate: Any) -> str | None:
    reason = _enum_text(getattr(candidate, "finish_reason", None))
    return reason.lower() if reason else None


def _price_context(call: InferenceCall, response: Any, metadata: Any) -> None:
    traffic = _enum_text(getattr(metadata, "traffic_type", None))
    if traffic:
        # Vertex says how the call was served (on demand, flex, priority, provisioned).
        call.set_attribute(sc.TOKENOMICS_RESPONSE_SERVICE_TIER, traffic.lower())
        traffic = traffic.upper()
        if traffic == _PREPAID_TRAFFIC and call.usage is not None:
            # What the response says this call cost: nothing beyond the subscription.
            call.usage.provider_cost = 0.0
        call.price_context = _TRAFFIC_CONTEXTS.get(traffic)
        return
    headers = getattr(getattr(response, "sdk_http_response", None), "headers", None)
    if isinstance(headers, Mapping):
        tier = headers.get(SERVICE_TIER_HEADER)
        if isinstance(tier, str) and tier:
            tier = tier.lower()
            call.set_attribute(sc.TOKENOMICS_RESPONSE_SERVICE_TIER, tier)
            # What served the call, not what was asked: priority may be downgraded.
            call.price_context = _TIER_CONTEXTS.get(tier)


def _read_common(call: InferenceCall, response: Any) -> Any:
    """Ids, model, finish reasons, usage and tier of a response or chunk; returns its candidates."""
    response_id = getattr(response, "response_id", None)
    if isinstance(response_id, str) and response_id:
        call.response_id = response_id
    model = getattr(response, "model_version", None)
    if isinstance(model, str) and model:
        call.response_model = model
    candidates = getattr(response, "candidates", None) or ()
    for position, candidate in enumerate(candidates):
        reason = _finish_reason(candidate)
        if reason:
            index = getattr(candidate, "index", None)
            call.set_finish_reason(index if type(index) is int else position, reason)
    metadata = getattr(response, "usage_metadata", None)
    if metadata is not None:
        usage = generate_usage(metadata)
        if usage is not None:  # a chunk without a count leaves the running total standing
            call.usage = usage
        _price_context(call, response, metadata)
    return candidates


def read_generate_response(call: InferenceCall, response: Any) -> None:
    candidates = _read_common(call, response)
    if call.capture:
        call.content = [_output_message(candidate) for candidate in candidates]


def read_generate_chunk(call: InferenceCall, chunk: Any) -> bool:
    """Every chunk of a Gemini stream is a response with candidates: all are output.

    The text each chunk delivers is kept in ``call.output_text`` for a stream whose
    chunks carry no usage, or that ends before its output was counted.
    """
    candidates = _read_common(call, chunk)
    if candidates:
        output_text = call.output_text
        if output_text is not None:
            append_candidate_texts(output_text, candidates)
    metadata = getattr(chunk, "usage_metadata", None)
    if metadata is not None:
        # A running total that counts the prompt but not yet the candidates: the
        # output seen so far is estimated if the stream ends here.
        call.partial_usage = getattr(metadata, "candidates_token_count", None) is None and not any(
            getattr(candidate, "finish_reason", None) for candidate in candidates
        )
    if call.capture and candidates:
        output = call.content
        if output is None:
            output = call.content = _StreamedOutput()
        for position, candidate in enumerate(candidates):
            index = getattr(candidate, "index", None)
            output.add(index if type(index) is int else position, candidate)
    return True


def read_embed_response(call: InferenceCall, response: Any) -> None:
    usage = embed_usage(response)
    if usage is not None:
        call.usage = usage
    embeddings = getattr(response, "embeddings", None)
    if embeddings:
        values = getattr(embeddings[0], "values", None)
        if isinstance(values, list):
            call.set_attribute(sc.GEN_AI_EMBEDDINGS_DIMENSION_COUNT, len(values))


# -- opt-in content, in the semconv message shape ------------------------------------------


def _modality(mime_type: Any) -> str | None:
    return mime_type.split("/", 1)[0] if isinstance(mime_type, str) and "/" in mime_type else None


def _part(part: Any) -> dict[str, Any] | None:
    if isinstance(part, str):
        return {"type": "text", "content": part}
    text = _get(part, "text")
    if isinstance(text, str):
        return {"type": "reasoning" if _get(part, "thought") else "text", "content": text}
    function_call = _get(part, "function_call")
    if function_call is not None:
        return {
            "type": "tool_call",
            "id": _get(function_call, "id"),
            "name": _get(function_call, "name"),
            "arguments": _get(function_call, "args"),
        }
    function_response = _get(part, "function_response")
    if function_response is not None:
        return {
            "type": "tool_call_response",
            "id": _get(function_response, "id"),
            "response": _get(function_response, "response"),
        }
    inline = _get(part, "inline_data")
    if inline is not None:
        data = _get(inline, "data")
        mime_type = _get(inline, "mime_type")
        return {
            "type": "blob",
            "modality": _modality(mime_type),
            "mime_type": mime_type,
            "content": base64.b64encode(data).decode("ascii") if isinstance(data, bytes) else data,
        }
    file_data = _get(part, "file_data")
    if file_data is not None:
        mime_type = _get(file_data, "mime_type")
        return {
            "type": "uri",
            "modality": _modality(mime_type),
            "mime_type": mime_type,
            "uri": _get(file_data, "file_uri"),
        }
    fields = part if isinstance(part, Mapping) else getattr(part, "__dict__", {})
    kind = next((key for key, value in fields.items() if value is not None), None)
    return {"type": "generic", "generic_type": kind, "content": str(fields.get(kind))} if kind else None


def _parts(parts: Any) -> list[dict[str, Any]]:
    if parts is None:
        return []
    if isinstance(parts, str) or not isinstance(parts, (list, tuple)):
        parts = [parts]
    return [converted for part in parts if (converted := _part(part)) is not None]


def _role(role: Any) -> str:
    return "assistant" if role == "model" else role if isinstance(role, str) and role else "user"


def _contents(contents: Any) -> list[Any]:
    """The request's contents as a list of ``Content``, as the SDK itself normalises them."""
    from google.genai import _transformers

    return list(_transformers.t_contents(contents) or ())


def _system_instruction(instruction: Any) -> list[dict[str, Any]]:
    parts = _get(instruction, "parts")
    return _parts(parts if parts is not None else instruction)


def _tool_definitions(tools: Any) -> list[dict[str, Any]]:
    definitions: list[dict[str, Any]] = []
    for tool in tools if isinstance(tools, (list, tuple)) else ():
        if callable(tool) and not hasattr(tool, "function_declarations"):
            definitions.append(
                {"type": "function", "name": getattr(tool, "__name__", None), "description": tool.__doc__}
            )
            continue
        for declaration in _get(tool, "function_declarations") or ():
            parameters = _get(declaration, "parameters_json_schema") or _get(declaration, "parameters")
            dump = getattr(parameters, "model_dump", None)
            definitions.append(
                {
                    "type": "function",
                    "name": _get(declaration, "name"),
                    "description": _get(declaration, "description"),
                    "parameters": dump(exclude_none=True, mode="json") if dump is not None else parameters,
                }
            )
    return definitions


def generate_input_content(body: Mapping[str, Any]) -> dict[str, Any]:
    messages = [
        {"role": _role(_get(content, "role")), "parts": _parts(_get(content, "parts"))}
        for content in _contents(body.get("contents"))
    ]
    content: dict[str, Any] = {sc.GEN_AI_INPUT_MESSAGES: messages}
    config = body.get("config")
    instruction = _get(config, "system_instruction")
    if instruction is not None:
        content[sc.GEN_AI_SYSTEM_INSTRUCTIONS] = _system_instruction(instruction)
    tools = _tool_definitions(_get(config, "tools"))
    if tools:
        content[sc.GEN_AI_TOOL_DEFINITIONS] = tools
    return content


def _output_message(candidate: Any) -> dict[str, Any]:
    message: dict[str, Any] = {
        "role": "assistant",
        "parts": _parts(getattr(getattr(candidate, "content", None), "parts", None)),
    }
    reason = _finish_reason(candidate)
    if reason:
        message["finish_reason"] = reason
    return message


class _StreamedOutput:
    """Opt-in only: each candidate's streamed parts, consecutive text pieces joined."""

    __slots__ = ("candidates",)

    def __init__(self) -> None:
        self.candidates: dict[int, list[dict[str, Any]]] = {}

    def add(self, index: int, candidate: Any) -> None:
        parts = self.candidates.setdefault(index, [])
        for part in _parts(getattr(getattr(candidate, "content", None), "parts", None)):
            last = parts[-1] if parts else None
            if last is not None and part["type"] in ("text", "reasoning") and last["type"] == part["type"]:
                last["content"] += part["content"]
            else:
                parts.append(part)

    def messages(self, finish_reasons: dict[int, str] | None) -> list[dict[str, Any]]:
        messages = []
        for index in sorted(self.candidates):
            message: dict[str, Any] = {"role": "assistant", "parts": self.candidates[index]}
            if finish_reasons and index in finish_reasons:
                message["finish_reason"] = finish_reasons[index]
            messages.append(message)
        return messages


# -- the routes and the patches ------------------------------------------------------------


def describe_error(error: BaseException) -> tuple[str | None, int | None]:
    """google-genai's ``APIError``: the API status (``RESOURCE_EXHAUSTED``) says more
    than the class (``ClientError`` for every 4xx); the HTTP status is in ``code``."""
    status = getattr(error, "status", None)
    code = getattr(error, "code", None)
    return (status if isinstance(status, str) and status else None), (code if type(code) is int else None)


GENERATE = Route(
    "generate_content",
    read_generate_request,
    read_generate_response,
    read_generate_chunk,
    read_input_content=generate_input_content,
    describe_error=describe_error,
    read_prompt=generate_prompt,
    read_output_text=response_output_text,
)
EMBED = Route(
    "embeddings",
    read_embed_request,
    read_embed_response,
    describe_error=describe_error,
    read_prompt=embed_prompt,
)

# (class, method wrapped, public method used when the private one is missing, route, stream)
_TARGETS = (
    ("Models", "_generate_content", "generate_content", GENERATE, False),
    ("Models", "_generate_content_stream", "generate_content_stream", GENERATE, True),
    ("AsyncModels", "_generate_content", "generate_content", GENERATE, False),
    ("AsyncModels", "_generate_content_stream", "generate_content_stream", GENERATE, True),
    ("Models", "embed_content", None, EMBED, False),
    ("AsyncModels", "embed_content", None, EMBED, False),
)


def _request_model(kwargs: Mapping[str, Any]) -> str | None:
    model = kwargs.get("model")
    return model if isinstance(model, str) and model else None


def _follow_async(call: InferenceCall, stream: Any) -> Any:
    """Adopt the async generator a streaming coroutine returned: hand the user ours."""
    if not hasattr(stream, "__anext__"):
        call.end()
        return stream
    # The coroutine awaited the HTTP response before returning the generator: the
    # request was taken, whatever the stream does next.
    call.response_started = True
    call.may_be_abandoned()  # the user may drop it before iterating
    return follow_async_iterator(call, stream)


def _follow_sync(call: InferenceCall, stream: Any) -> Any:
    if not hasattr(stream, "__next__"):
        call.end()
        return stream
    call.may_be_abandoned()
    return follow_iterator(call, stream)


class GoogleGenAIPatcher(MethodPatcher):
    """Wraps ``google.genai.models`` (see the module docstring for what and why)."""

    def patch(self) -> None:
        from google.genai import models

        self.active = True
        for class_name, name, public, route, stream in _TARGETS:
            owner = getattr(models, class_name)
            if name not in owner.__dict__ and public is not None:
                name = public
            original = owner.__dict__.get(name)
            if original is None:
                continue
            replacement = self._wrapper(original, route, stream)
            if replacement is not None:
                self.replace(owner, name, replacement)

    # -- where a call goes ---------------------------------------------------------------

    def _endpoint(self, models: Any, config: Any) -> Endpoint:
        client = getattr(models, "_api_client", None)
        vertex = bool(getattr(client, "vertexai", False))
        base_url = _get(_get(config, "http_options"), "base_url") or getattr(
            getattr(client, "_http_options", None), "base_url", None
        )
        # The SDK's mode names the provider; the user's map may name a gateway or proxy.
        return self.endpoint(base_url, VERTEX_AI if vertex else GEMINI)

    def _start(self, models: Any, route: Route, kwargs: dict[str, Any], stream: bool) -> InferenceCall | None:
        try:
            provider, address, port = self._endpoint(models, kwargs.get("config"))
        except Exception:
            report_internal_error("reading the client's endpoint")
            return None
        call = start_call(
            self.telemetry, route, provider, _request_model(kwargs), address, port, stream, kwargs
        )
        if call is not None and route is GENERATE:
            try:
                self._request_tier(call, kwargs.get("config"))
            except Exception:
                report_internal_error("reading a request")
        return call

    @staticmethod
    def _request_tier(call: InferenceCall, config: Any) -> None:
        """The tier asked for prices the call until the response says which one served it."""
        tier = _enum_text(_get(config, "service_tier"))
        if tier:
            call.price_context = _TIER_CONTEXTS.get(tier.lower())

    # -- the wrappers ----------------------------------------------------------------------

    def _wrapper(self, original: Any, route: Route, stream: bool) -> Any:
        function = inspect.unwrap(original)
        if inspect.isgeneratorfunction(function):
            return self._generator_wrapper(original, route)
        if inspect.isasyncgenfunction(function):
            return None  # no such method in any release we know of
        adopt: Adopt = finish
        if stream:
            adopt = _follow_async if inspect.iscoroutinefunction(function) else _follow_sync

        def start(models: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> InferenceCall | None:
            return self._start(models, route, kwargs, stream)

        return self.traced(original, start, adopt)

    def _generator_wrapper(self, original: Any, route: Route) -> Any:
        """For a generator function: the request goes out at the first ``next()``, so the
        span starts there too, inside a generator of ours that the user gets instead."""
        start = self._start

        def follow(models: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Iterator[Any]:
            call = start(models, route, kwargs, True) if may_trace() else None
            source = original(models, *args, **kwargs)
            if call is None:
                return (yield from source)
            return (yield from follow_iterator(call, source))

        @functools.wraps(original)
        def traced(models: Any, *args: Any, **kwargs: Any) -> Any:
            if not self.active:
                return original(models, *args, **kwargs)
            return follow(models, args, kwargs)

        return traced


class GoogleGenAIAdapter(Adapter):
    """Traces the official ``google-genai`` SDK: Gemini API and Vertex AI."""

    package = "google.genai"
    requirement = "google-genai >= 1.0.0"
    patch_when_imported = "google.genai.models"

    @classmethod
    def make_patcher(cls, telemetry: Telemetry) -> GoogleGenAIPatcher:
        return GoogleGenAIPatcher(telemetry)
