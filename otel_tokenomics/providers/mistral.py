"""The ``mistralai`` SDK (2.x and 3.x, ``mistralai.client.Mistral``): what we wrap and how we read it.

Wrapped, one span per call: ``chat.complete`` / ``complete_async`` / ``stream`` /
``stream_async``, ``fim`` (the same four) and ``embeddings.create`` /
``create_async``. ``chat.parse`` and ``parse_stream`` (and their async twins)
call ``complete`` / ``stream`` on the same object, so they are traced through
those and are not wrapped themselves (wrapping both would give two spans).

Token model (``UsageInfo``, the same on chat, FIM and embeddings):

* ``prompt_tokens`` is ALL input and INCLUDES the cached prompt tokens;
* ``usage.prompt_tokens_details.cached_tokens`` is the part read from the prompt
  cache (billed at 10 % of input). The API sends it but the SDK does not model
  it: it arrives as a pydantic extra and is read from there;
* ``completion_tokens`` is ALL output; reasoning models think in the output
  (``thinking`` content chunks) and no separate count is reported;
* ``prompt_audio_seconds`` (audio input length) is not a token count and has no
  price in the catalog: it is not recorded.

so input = prompt, cache read = cached (never more than prompt), output =
completion. A stream sends its usage once, on the last chunk before ``[DONE]``; a
stream left before it is estimated at its end from the request
(:mod:`~otel_tokenomics.providers.mistral_prompt`) and the text, thinking and tool
calls it streamed. Mistral's tokenizers are not loaded here: the estimate is heuristic.

Streams: ``stream`` returns the SDK's ``EventStream`` (``stream_async`` a
coroutine giving ``EventStreamAsync``); the user keeps that object, whose class
is swapped for an observing subclass (:func:`otel_tokenomics.streams.follow_stream`).

The SDK's own tracing hook (opt-in through ``MISTRAL_SDK_TELEMETRY`` in recent
releases; in 2.0, on whenever a global tracer provider is set) opens a span per
request with ``gen_ai.usage.*`` on it; where that span goes to the application's
own tracer provider, a backend summing usage over spans would count every call
twice. While one of our calls is open, that span is folded into ours: the hook
gets no span, and the request's ``traceparent`` names ours. A span bound for the
SDK-owned ("dedicated") provider, exported to Mistral only, is left alone.

Opt-in content (:mod:`~otel_tokenomics.providers.chat_content`): the chat messages as
given (system ones stay in the history), the tool definitions, and one answer per
choice (thinking chunks as reasoning parts); FIM records its prompt, its suffix as a
``generic`` part of type ``suffix``, and the completion.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

from otel_tokenomics import semconv as sc
from otel_tokenomics.activation import Adapter
from otel_tokenomics.call import (
    IN_CALL,
    InferenceCall,
    Route,
    report_internal_error,
)
from otel_tokenomics.providers import mistral_prompt
from otel_tokenomics.providers.chat_content import (
    REASONING,
    TEXT,
    ChatOutput,
    capture_output,
    generic_part,
    image_url_part,
    text_part,
)
from otel_tokenomics.providers.chat_content import chat_input_content as shared_chat_input_content
from otel_tokenomics.providers.prompt_parts import add_tool_call_texts, items_of, text_of
from otel_tokenomics.providers.prompt_parts import get as _get
from otel_tokenomics.request_fields import Put, choice_count, integer, number, stop, strings, text
from otel_tokenomics.streams import follow_stream
from otel_tokenomics.telemetry import Telemetry
from otel_tokenomics.usage import Usage, as_fields, count, field, reported
from otel_tokenomics.wrapping import Adopt, Endpoint, MethodPatcher, finish, start_call

MISTRAL = "mistral_ai"

# -- request attributes -------------------------------------------------------------------


_OUTPUT_TYPES = {"text": "text", "json_object": "json", "json_schema": "json"}


def _output_type(value: Any, attributes: dict[str, Any]) -> None:
    kind = _get(value, "type")
    kind = _OUTPUT_TYPES.get(kind) if isinstance(kind, str) else None
    if kind:
        attributes[sc.GEN_AI_OUTPUT_TYPE] = kind


_SAMPLING: dict[str, Put] = {
    "temperature": number(sc.GEN_AI_REQUEST_TEMPERATURE),
    "top_p": number(sc.GEN_AI_REQUEST_TOP_P),
    "max_tokens": integer(sc.GEN_AI_REQUEST_MAX_TOKENS),
    "random_seed": integer(sc.GEN_AI_REQUEST_SEED),
    "stop": stop,
}
_CHAT_FIELDS: dict[str, Put] = {
    **_SAMPLING,
    "top_k": number(sc.GEN_AI_REQUEST_TOP_K),
    "frequency_penalty": number(sc.GEN_AI_REQUEST_FREQUENCY_PENALTY),
    "presence_penalty": number(sc.GEN_AI_REQUEST_PRESENCE_PENALTY),
    "n": choice_count,
    "reasoning_effort": text(sc.GEN_AI_REQUEST_REASONING_LEVEL),
    "response_format": _output_type,
}
_EMBED_FIELDS: dict[str, Put] = {
    "output_dimension": integer(sc.GEN_AI_EMBEDDINGS_DIMENSION_COUNT),
    "encoding_format": strings(sc.GEN_AI_REQUEST_ENCODING_FORMATS, single=True),
}


def _reader(fields: Mapping[str, Put]) -> Callable[[Mapping[str, Any], dict[str, Any]], None]:
    """Reads the keyword arguments of the call. They hold only what the user passed (every
    method is keyword-only), and values may be SDK models, which each put checks by type."""
    table = tuple(fields.items())

    def read(kwargs: Mapping[str, Any], attributes: dict[str, Any]) -> None:
        get = kwargs.get
        for key, put in table:
            value = get(key)
            if value is not None:
                put(value, attributes)

    return read


read_chat_request = _reader(_CHAT_FIELDS)
read_fim_request = _reader(_SAMPLING)
read_embed_request = _reader(_EMBED_FIELDS)


# -- usage and responses --------------------------------------------------------------------


def mistral_usage(usage: Any) -> Usage | None:
    """``UsageInfo`` in the semconv arithmetic (see the module docstring); None without a count."""
    usage = as_fields(usage)
    prompt = field(usage, "prompt_tokens")
    completion = field(usage, "completion_tokens")
    prompt = count(prompt)
    # mistralai's models fill a count the API left out with 0, so an empty usage reads as
    # zeros; a prompt is never 0 tokens, so without one there is no count to trust.
    if not prompt:
        return None
    result = Usage(prompt, count(completion))
    details = field(usage, "prompt_tokens_details")
    if details is not None:
        # Part of the prompt by definition; a larger count is malformed and would break the invariant.
        result.cache_read_tokens = min(count(field(as_fields(details), "cached_tokens")), prompt)
    return result


def _read_usage(call: InferenceCall, usage: Any) -> None:
    read = mistral_usage(usage)
    if read is not None:  # a stream chunk without a count leaves an earlier one standing
        call.usage = read
    tier = field(as_fields(usage), "service_tier")  # 3.x models it; the API sends it regardless
    if isinstance(tier, str) and tier:
        call.set_attribute(sc.TOKENOMICS_RESPONSE_SERVICE_TIER, tier)
        # The tier that served the call; the catalog prices it where it lists that tier.
        call.price_context = (("service_tier", tier),)


def _read_ids(call: InferenceCall, response: Any) -> None:
    response_id = getattr(response, "id", None)
    if isinstance(response_id, str) and response_id:
        call.response_id = response_id
    model = getattr(response, "model", None)
    if isinstance(model, str) and model:
        call.response_model = model


def read_completion_response(call: InferenceCall, response: Any) -> None:
    """``ChatCompletionResponse`` and ``FIMCompletionResponse``."""
    _read_ids(call, response)
    for position, choice in enumerate(getattr(response, "choices", None) or ()):
        reason = getattr(choice, "finish_reason", None)
        if isinstance(reason, str) and reason:
            index = getattr(choice, "index", None)
            call.set_finish_reason(index if type(index) is int else position, reason)
    usage = getattr(response, "usage", None)
    if usage is not None:
        _read_usage(call, usage)
    if call.capture:
        capture_output(call, _add_response, response)


def read_completion_event(call: InferenceCall, event: Any) -> bool:
    """One ``CompletionEvent`` of a stream; says whether it carried output.

    The first chunk only opens the assistant message (empty content) and the
    last may only close it: neither is output for time to first chunk.
    """
    chunk = getattr(event, "data", event)
    if call.response_id is None:
        _read_ids(call, chunk)
    output = False
    for position, choice in enumerate(getattr(chunk, "choices", None) or ()):
        reason = getattr(choice, "finish_reason", None)
        if isinstance(reason, str) and reason:
            index = getattr(choice, "index", None)
            call.set_finish_reason(index if type(index) is int else position, reason)
        delta = getattr(choice, "delta", None)
        if delta is None:
            continue
        # Unset fields are the SDK's UNSET, which is falsy.
        content = getattr(delta, "content", None)
        tool_calls = getattr(delta, "tool_calls", None)
        if content or tool_calls:
            output = True
            output_text = call.output_text
            if output_text is not None:
                mistral_prompt.add_content_texts(output_text, content)
                add_tool_call_texts(output_text, tool_calls)
    usage = getattr(chunk, "usage", None)
    if usage is not None:
        _read_usage(call, usage)
    if call.capture:
        capture_output(call, _add_chunk, chunk)
    return output


def read_embed_response(call: InferenceCall, response: Any) -> None:
    _read_ids(call, response)
    usage = getattr(response, "usage", None)
    prompt_tokens = field(as_fields(usage), "prompt_tokens")
    if usage is not None and reported(prompt_tokens):
        call.usage = Usage(count(prompt_tokens), 0)
    data = getattr(response, "data", None)
    if data:
        vector = getattr(data[0], "embedding", None)
        if isinstance(vector, list) and vector:
            call.set_attribute(sc.GEN_AI_EMBEDDINGS_DIMENSION_COUNT, len(vector))


# -- opt-in content, in the semconv message shape ------------------------------------------------


def _thinking_text(chunk: Any) -> str:
    """A ``thinking`` chunk's text: the text chunks inside it (references carry none)."""
    return "".join(
        text for inner in items_of(_get(chunk, "thinking")) if isinstance(text := _get(inner, "text"), str)
    )


def _part(chunk: Any) -> dict[str, Any] | None:
    """One content chunk of a message: text, thinking, an image, audio; anything else kept whole."""
    kind = _get(chunk, "type")
    if kind == "text":
        text = _get(chunk, "text")
        return text_part(text) if isinstance(text, str) else None
    if kind == "thinking":
        return {"type": REASONING, "content": _thinking_text(chunk)}
    if kind == "image_url":
        return image_url_part(_get(chunk, "image_url"))
    if kind == "input_audio":
        return {"type": "blob", "modality": "audio", "content": text_of(_get(chunk, "input_audio"))}
    return generic_part(kind, chunk)


def chat_input_content(body: Mapping[str, Any]) -> dict[str, Any]:
    """The chat messages (system ones stay in the history, where Mistral takes them) and tools."""
    return shared_chat_input_content(body, _part)


def fim_input_content(body: Mapping[str, Any]) -> dict[str, Any]:
    """Fill in the middle: the code before the gap, and the code after it as a part of its own."""
    parts: list[dict[str, Any]] = []
    prompt = body.get("prompt")
    if isinstance(prompt, str):
        parts.append(text_part(prompt))
    suffix = body.get("suffix")
    if isinstance(suffix, str) and suffix:
        parts.append({"type": "generic", "generic_type": "suffix", "content": suffix})
    return {sc.GEN_AI_INPUT_MESSAGES: [{"role": "user", "parts": parts}]}


def _add_content(output: ChatOutput, index: Any, content: Any) -> None:
    """A message's (or a delta's) content into choice ``index``: text and thinking pieces are
    joined with the ones before them of the same kind, as a stream splits them."""
    message = output.choice(index)
    if isinstance(content, str):
        message.add_piece(TEXT, TEXT, content)
        return
    for chunk in items_of(content):
        kind = _get(chunk, "type")
        if kind == "text":
            message.add_piece(TEXT, TEXT, _get(chunk, "text"))
        elif kind == "thinking":
            message.add_piece(REASONING, REASONING, _thinking_text(chunk))
        else:
            part = _part(chunk)
            if part is not None:
                message.add_part(part)


def _choice_index(choice: Any, position: int) -> int:
    index = getattr(choice, "index", None)
    return index if type(index) is int else position


def _add_response(output: ChatOutput, response: Any) -> None:
    for position, choice in enumerate(getattr(response, "choices", None) or ()):
        index = _choice_index(choice, position)
        message = getattr(choice, "message", None)
        _add_content(output, index, getattr(message, "content", None))
        output.choice(index).add_tool_calls(getattr(message, "tool_calls", None))


def _add_chunk(output: ChatOutput, event: Any) -> None:
    chunk = getattr(event, "data", event)
    for position, choice in enumerate(getattr(chunk, "choices", None) or ()):
        index = _choice_index(choice, position)
        delta = getattr(choice, "delta", None)
        _add_content(output, index, getattr(delta, "content", None))
        output.choice(index).add_tool_calls(getattr(delta, "tool_calls", None))


CHAT = Route(
    "chat",
    read_chat_request,
    read_completion_response,
    read_completion_event,
    read_input_content=chat_input_content,
    read_prompt=mistral_prompt.chat_prompt,
    read_output_text=mistral_prompt.completion_output_text,
)
FIM = Route(
    "text_completion",
    read_fim_request,
    read_completion_response,
    read_completion_event,
    read_input_content=fim_input_content,
    read_prompt=mistral_prompt.fim_prompt,
    read_output_text=mistral_prompt.completion_output_text,
)
EMBEDDINGS = Route(
    "embeddings", read_embed_request, read_embed_response, read_prompt=mistral_prompt.embeddings_prompt
)


# -- streams ---------------------------------------------------------------------------------


def _follow(call: InferenceCall, stream: Any) -> Any:
    """Adopt the stream a streaming method returned: the user gets the same object."""
    if not follow_stream(stream, call):
        call.end()
    return stream


# -- the SDK's own span ---------------------------------------------------------------------

# The service name the SDK gives the tracer provider it creates and owns ("dedicated"
# telemetry, exported to Mistral only); any other provider is the application's.
_SDK_OWNED_SERVICE = "mistralai_sdk"


def _sdk_owned(tracer: Any) -> bool:
    attributes = getattr(getattr(tracer, "resource", None), "attributes", None)
    return isinstance(attributes, Mapping) and attributes.get("service.name") == _SDK_OWNED_SERVICE


def _folding(original: Callable[..., Any]) -> Callable[..., Any]:
    """``get_traced_request_and_span`` that, inside one of our calls, opens no span of the SDK's."""

    def get_traced_request_and_span(
        tracing_enabled: Any,
        tracer: Any,
        span: Any,
        operation_id: Any,
        request: Any,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        if tracing_enabled and IN_CALL.get():
            try:
                if not _sdk_owned(tracer):
                    # Imported here: the propagators load entry points, a cost at instrument()
                    # for a path only the SDK's own tracing takes.
                    from opentelemetry import propagate

                    # What the SDK's span would have sent, naming ours instead.
                    propagate.inject(request.headers)
                    return request, span
            except Exception:
                report_internal_error("folding the SDK's span")
        return original(tracing_enabled, tracer, span, operation_id, request, *args, **kwargs)

    get_traced_request_and_span.__wrapped__ = original  # type: ignore[attr-defined]
    return get_traced_request_and_span


# -- the patches ------------------------------------------------------------------------------

# module -> (class, ((method, route, adopt for streams or None), ...))
_TARGETS: dict[str, tuple[str, tuple[tuple[str, Route, Adopt | None], ...]]] = {
    "mistralai.client.chat": (
        "Chat",
        (
            ("complete", CHAT, None),
            ("complete_async", CHAT, None),
            ("stream", CHAT, _follow),
            ("stream_async", CHAT, _follow),
        ),
    ),
    "mistralai.client.fim": (
        "Fim",
        (
            ("complete", FIM, None),
            ("complete_async", FIM, None),
            ("stream", FIM, _follow),
            ("stream_async", FIM, _follow),
        ),
    ),
    "mistralai.client.embeddings": (
        "Embeddings",
        (("create", EMBEDDINGS, None), ("create_async", EMBEDDINGS, None)),
    ),
}
_TRACING_HOOK_MODULE = "mistralai.client._hooks.tracing"
_FOLDED = "get_traced_request_and_span"


class MistralPatcher(MethodPatcher):
    """Wraps the methods of ``_TARGETS``, each module when the app first imports it.

    The client imports ``chat``, ``fim`` and ``embeddings`` lazily, on first use of
    ``client.chat`` etc.; importing them all up front would slow the app's start.
    """

    def __init__(self, telemetry: Telemetry) -> None:
        super().__init__(telemetry)
        self._lock = threading.Lock()

    def patch(self) -> None:
        import wrapt

        self.active = True
        # Runs at once for a module already imported; hooks cannot be removed, so one
        # left by an earlier patcher does nothing once that patcher is inactive.
        for module in (*_TARGETS, _TRACING_HOOK_MODULE):
            wrapt.register_post_import_hook(self._patch_module, module)

    def unpatch(self) -> None:
        with self._lock:
            super().unpatch()

    def _patch_module(self, module: Any) -> None:
        # Runs inside the app's import statement: never raise there.
        try:
            with self._lock:
                if self.active:
                    self._patch(module)
        except Exception:
            report_internal_error("patching the mistralai SDK")

    def _patch(self, module: Any) -> None:
        name = module.__name__
        if name == _TRACING_HOOK_MODULE:
            original = module.__dict__.get(_FOLDED)
            if callable(original):
                self.replace(module, _FOLDED, _folding(original))
            return
        class_name, methods = _TARGETS[name]
        owner = module.__dict__.get(class_name)
        if owner is None:
            return
        for method, route, adopt in methods:
            original = owner.__dict__.get(method)
            if original is not None:
                self.replace(owner, method, self._wrapper(original, route, adopt))

    # -- where a call goes ---------------------------------------------------------------

    def _endpoint(self, sdk: Any, kwargs: Mapping[str, Any]) -> Endpoint:
        url = kwargs.get("server_url")  # a per-call override
        if not isinstance(url, str) or not url:
            try:
                url = sdk.sdk_configuration.get_server_details()[0]
            except Exception:  # an unknown server name: the SDK raises it to the user itself
                url = None
        return self.endpoint(url, MISTRAL)

    def _wrapper(self, original: Any, route: Route, adopt: Adopt | None) -> Any:
        stream = adopt is not None

        def start(sdk: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> InferenceCall | None:
            try:
                provider, address, port = self._endpoint(sdk, kwargs)
            except Exception:
                report_internal_error("reading the client's endpoint")
                return None
            model = kwargs.get("model")
            model = model if isinstance(model, str) and model else None
            return start_call(self.telemetry, route, provider, model, address, port, stream, kwargs)

        return self.traced(original, start, adopt or finish)


class MistralAdapter(Adapter):
    """Traces chat, FIM and embeddings calls of the official ``mistralai`` SDK (2.x and later)."""

    package = "mistralai"
    requirement = "mistralai >= 2.0.0"
    # Every use of the SDK imports the client package; the modules defining Chat, Fim
    # and Embeddings are imported later, on first use, and patched then.
    patch_when_imported = "mistralai.client"

    @classmethod
    def make_patcher(cls, telemetry: Telemetry) -> MistralPatcher:
        return MistralPatcher(telemetry)
