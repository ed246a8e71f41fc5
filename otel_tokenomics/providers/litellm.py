"""LiteLLM: one span per provider call made through ``completion`` / ``acompletion`` /
``embedding`` / ``aembedding``, under the provider that actually served it.

Where we hook. Every public entry is litellm's ``@client`` decorator around the real
function in ``litellm.main``; the decorator keeps that function in its closure
(``original_function``) and calls it once its cache lookup missed, and again for
each of its own retries. We swap the function in that closure cell, so the hook is
reached however the entry was obtained: ``litellm.completion`` (a dispatch function
holding ``litellm.main.completion`` since import), ``from litellm import completion``
done before ``instrument()``, the Router (which looks entries up on the package at
call time), ``litellm.Chat``. A cache hit or a ``mock_response`` opens no span: no
provider was called. With ``fallbacks=`` litellm calls its own entry once per model:
each attempt is a span, the loop around them is not. The span is current, and
``IN_CALL`` set, while litellm runs (and while a stream sends its request at the
first chunk, as Gemini's does), so the openai / anthropic / bedrock instrumentation
underneath opens no second span. Not seen: a call litellm would serve natively (its
Rust route; chat and embeddings are Python-only in 1.110).

Provider and model. ``gen_ai.provider.name`` comes from litellm's
``custom_llm_provider`` (``litellm.get_llm_provider``), mapped to the semconv names;
for its OpenAI-compatible providers the host of ``api_base`` decides, as for the
openai SDK (``openai/...`` sent to DeepSeek's host is ``deepseek``). The request
model loses litellm's ``provider/`` prefix; the response model is the provider's
own (``_hidden_params["provider_response_model"]``), which prices the call.

Token model (litellm's ``Usage``: OpenAI's shape for every provider):

* ``prompt_tokens`` INCLUDES cache reads (``prompt_tokens_details.cached_tokens``)
  and cache writes (``prompt_tokens_details.cache_write_tokens``, also
  ``cache_creation_input_tokens``): litellm adds Anthropic's and Bedrock's separate
  cache counts to it, and Gemini's and OpenAI's already include them;
* ``completion_tokens`` INCLUDES ``completion_tokens_details.reasoning_tokens``
  (litellm adds Gemini's thoughts to it);
* the Anthropic cache-write TTL split is in
  ``prompt_tokens_details.cache_creation_token_details`` (``ephemeral_5m/1h``);
* embeddings: ``prompt_tokens`` only.

So the counts map one to one. Per-modality counts are not read: litellm's
``prompt_tokens_details.text_tokens`` is the uncached remainder for Anthropic and
Bedrock, not a modality split. Where a provider breaks out no reasoning count,
litellm fills ``reasoning_tokens`` with its own tokenizer count of the thinking
text; it is a part of the (reported) output, priced alike. litellm's own
``response_cost`` is never used: the catalog prices the call.

Streams (``CustomStreamWrapper``, followed in place, class swapped): the usage is
the provider's, read from the chunks litellm kept (``.chunks``) when the stream
ends, each field from the last chunk that reported it. A stream whose provider
reported none gets litellm's own count (its tokenizer, shown as the final chunk's
``usage`` or hidden ``usage``), marked ``tokenomics.usage.source=estimated``.
"""

from __future__ import annotations

import functools
import inspect
import os
import re
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

from opentelemetry import context as otel_context
from opentelemetry import trace

from otel_tokenomics import semconv as sc
from otel_tokenomics.activation import Adapter
from otel_tokenomics.call import (
    IN_CALL,
    OUTCOME_CLOSED_EARLY,
    OUTCOME_COMPLETED,
    InferenceCall,
    Route,
    report_internal_error,
)
from otel_tokenomics.endpoints import default_port, provider_for_host
from otel_tokenomics.providers.openai import (
    CHAT_REQUEST_FIELDS,
    EMBEDDINGS_REQUEST_FIELDS,
    StreamedChatOutput,
    chat_input_content,
)
from otel_tokenomics.request_fields import request_reader
from otel_tokenomics.streams import CALL_ATTRIBUTE, observing_subclass
from otel_tokenomics.telemetry import Telemetry
from otel_tokenomics.usage import SOURCE_ESTIMATED, Usage, as_fields, count, field, reported
from otel_tokenomics.wrapping import may_trace, run, run_async, start_call

# litellm's custom_llm_provider -> gen_ai.provider.name. Names not listed pass through.
PROVIDERS: dict[str, str] = {
    "openai": "openai",
    "text-completion-openai": "openai",
    "azure": "azure.ai.openai",
    "azure_text": "azure.ai.openai",
    "azure_ai": "azure.ai.inference",
    "anthropic": "anthropic",
    "anthropic_text": "anthropic",
    "vertex_ai": "gcp.vertex_ai",
    "vertex_ai_beta": "gcp.vertex_ai",
    "gemini": "gcp.gemini",
    "bedrock": "aws.bedrock",
    "mistral": "mistral_ai",
    "codestral": "mistral_ai",
    "text-completion-codestral": "mistral_ai",
    "groq": "groq",
    "cohere": "cohere",
    "cohere_chat": "cohere",
    "ollama": "ollama",
    "ollama_chat": "ollama",
    "lm_studio": "lm_studio",
    "xai": "x_ai",
    "deepseek": "deepseek",
    "openrouter": "openrouter",
    "perplexity": "perplexity",
    "together_ai": "together_ai",
    "fireworks_ai": "fireworks_ai",
    "cerebras": "cerebras",
    "deepinfra": "deepinfra",
    "watsonx": "ibm.watsonx.ai",
    "watsonx_text": "ibm.watsonx.ai",
    "moonshot": "moonshot_ai",
    "dashscope": "alibaba_cloud",
}
# OpenAI-compatible catch-alls: whoever answers at api_base is the provider.
_HOST_DECIDES = frozenset({"openai", "text-completion-openai", "custom_openai", "openai_like"})
# Where litellm sends a provider's calls when neither the call nor litellm names an api_base.
_DEFAULT_BASES: dict[str, str] = {
    "openai": "https://api.openai.com/v1",
    "text-completion-openai": "https://api.openai.com/v1",
    "anthropic": "https://api.anthropic.com",
    "gemini": "https://generativelanguage.googleapis.com",
    "openrouter": "https://openrouter.ai/api/v1",
    "ollama": "http://localhost:11434",
    "ollama_chat": "http://localhost:11434",
}
_ENV_BASES: dict[str, tuple[str, ...]] = {
    "openai": ("OPENAI_BASE_URL", "OPENAI_API_BASE"),
    "text-completion-openai": ("OPENAI_BASE_URL", "OPENAI_API_BASE"),
    "anthropic": ("ANTHROPIC_API_BASE", "ANTHROPIC_BASE_URL"),
    "ollama": ("OLLAMA_API_BASE",),
    "ollama_chat": ("OLLAMA_API_BASE",),
}
# litellm's Bedrock routes ride in the model name ("bedrock/converse/<model id>").
_BEDROCK_ROUTES = ("converse/", "invoke/")
UNKNOWN_PROVIDER = "litellm"
# (gen_ai.provider.name, litellm's provider, request model, server address, server port)
Endpoint = tuple[str, str | None, str | None, str | None, int | None]
_OPENAI_TIER_PROVIDERS = frozenset({"openai", "azure.ai.openai"})

# -- request attributes ------------------------------------------------------------------

# OpenAI's parameter names are litellm's for every provider. service_tier is left
# out: its attribute is OpenAI's own (openai.request.service_tier).
read_chat_request = request_reader({k: v for k, v in CHAT_REQUEST_FIELDS.items() if k != "service_tier"})
read_embedding_request = request_reader(EMBEDDINGS_REQUEST_FIELDS)

# -- usage --------------------------------------------------------------------------------

_TTL_FIELDS = (
    ("5m", "ephemeral_5m_input_tokens"),
    ("1h", "ephemeral_1h_input_tokens"),
    ("30m", "ephemeral_30m_input_tokens"),
    ("12h", "ephemeral_12h_input_tokens"),
)


def _ttl_split(details: Any) -> dict[str, int] | None:
    creation = as_fields(field(details, "cache_creation_token_details"))
    if creation is None:
        return None
    split = {
        ttl: count(field(creation, name)) for ttl, name in _TTL_FIELDS if field(creation, name) is not None
    }
    return split if any(split.values()) else None


def litellm_usage(usage: Any) -> Usage | None:
    """litellm's ``Usage`` (or its dict) in the semconv arithmetic: see the module docstring.
    None when it has no count."""
    usage = as_fields(usage)
    prompt_tokens = getattr(usage, "prompt_tokens", None)
    completion_tokens = getattr(usage, "completion_tokens", None)
    if not reported(prompt_tokens, completion_tokens):
        return None
    result = Usage(count(prompt_tokens), count(completion_tokens))
    details = as_fields(getattr(usage, "prompt_tokens_details", None))
    read = write = 0
    if details is not None:
        read = count(field(details, "cached_tokens"))
        write = count(field(details, "cache_write_tokens")) or count(field(details, "cache_creation_tokens"))
        if write:
            result.cache_write_by_ttl = _ttl_split(details)
    # The Anthropic-named copies litellm also sets; older releases set only these.
    result.cache_read_tokens = read or count(field(usage, "cache_read_input_tokens"))
    result.cache_write_tokens = write or count(field(usage, "cache_creation_input_tokens"))
    completion = as_fields(getattr(usage, "completion_tokens_details", None))
    if completion is not None:
        result.reasoning_tokens = min(count(field(completion, "reasoning_tokens")), result.output_tokens)
    server = as_fields(field(usage, "server_tool_use"))
    if server is not None:
        result.web_search_requests = count(field(server, "web_search_requests"))
    return result


def _merge(usages: list[Usage]) -> Usage:
    """Stream usage: each count from the last chunk that reported it (non-zero).

    Providers repeat cumulative totals (Gemini, Anthropic's ``message_delta``) or
    send zeros before the real count (Ollama); Anthropic's ``message_start`` has the
    final input and the only TTL split. Never a sum.
    """
    merged = Usage()
    for usage in usages:
        for name in ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens"):
            value = getattr(usage, name)
            if value:
                setattr(merged, name, value)
        if usage.cache_write_by_ttl:
            merged.cache_write_by_ttl = usage.cache_write_by_ttl
        if usage.reasoning_tokens:
            merged.reasoning_tokens = usage.reasoning_tokens
        if usage.web_search_requests:
            merged.web_search_requests = usage.web_search_requests
    merged.reasoning_tokens = min(merged.reasoning_tokens, merged.output_tokens)
    return merged


# -- responses ------------------------------------------------------------------------------


# The id litellm gives a response whose provider's id it dropped (Anthropic's, Gemini's):
# "chatcmpl-" and a random UUID. Not the provider's, so not the call's gen_ai.response.id.
_MADE_UP_ID = re.compile(r"chatcmpl-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _read_id(call: InferenceCall, response: Any) -> None:
    response_id = getattr(response, "id", None)
    if isinstance(response_id, str) and response_id and not _MADE_UP_ID.fullmatch(response_id):
        call.response_id = response_id


def _hidden(obj: Any) -> Mapping[str, Any]:
    hidden = getattr(obj, "_hidden_params", None)
    return hidden if isinstance(hidden, Mapping) else {}


def _unprefixed(model: Any, call: InferenceCall) -> str | None:
    if not isinstance(model, str) or not model:
        return None
    prefix = getattr(call, _LITELLM_PROVIDER, None)
    if prefix and model.startswith(prefix + "/"):
        return model[len(prefix) + 1 :]
    return model


def _read_model(call: InferenceCall, response: Any) -> None:
    served = _hidden(response).get("provider_response_model")
    model = (
        served if isinstance(served, str) and served else _unprefixed(getattr(response, "model", None), call)
    )
    if model:
        call.response_model = model


def _read_tier(call: InferenceCall, response: Any, usage: Any) -> None:
    tier = getattr(response, "service_tier", None)
    if isinstance(tier, str) and tier and call.provider in _OPENAI_TIER_PROVIDERS:
        call.set_attribute(sc.OPENAI_RESPONSE_SERVICE_TIER, tier)
        # The tier that served the call sets its price (flex is half, priority more).
        call.price_context = (("service_tier", tier),)
        return
    if usage is None:
        return
    tier = field(usage, "service_tier")  # Anthropic's, in its usage
    if isinstance(tier, str) and tier:
        call.set_attribute(sc.TOKENOMICS_RESPONSE_SERVICE_TIER, tier)
    speed = field(usage, "speed")
    if isinstance(speed, str) and speed != "standard":
        call.price_context = (("speed", speed),)


def read_chat_response(call: InferenceCall, response: Any) -> None:
    _read_id(call, response)
    _read_model(call, response)
    choices = getattr(response, "choices", None) or ()
    for position, choice in enumerate(choices):
        reason = getattr(choice, "finish_reason", None)
        if isinstance(reason, str) and reason:
            index = getattr(choice, "index", position)
            call.set_finish_reason(index if type(index) is int else position, reason)
    usage = getattr(response, "usage", None)
    if usage is not None and not _hidden(response).get("cache_hit"):
        read = litellm_usage(usage)
        # litellm gives a response whose provider sent no usage a Usage of zeros, and a usage
        # without prompt_tokens a 0 for it: a prompt is never 0 tokens, so that is no count.
        call.usage = read if read is not None and read.input_tokens else None
    _read_tier(call, response, usage)
    if call.capture:
        call.content = [_output_message(choice) for choice in choices]


def read_chat_chunk(call: InferenceCall, chunk: Any) -> bool:
    """Ids, the served model and finish reasons; usage is read when the stream ends."""
    if call.chunk_count == 0:  # the first chunk: read before it is counted
        _read_id(call, chunk)
    if call.response_model is None:
        served = _hidden(chunk).get("provider_response_model")
        if isinstance(served, str) and served:
            call.response_model = served
    choices = getattr(chunk, "choices", None) or ()
    for choice in choices:
        reason = getattr(choice, "finish_reason", None)
        if isinstance(reason, str) and reason:
            index = getattr(choice, "index", 0)
            call.set_finish_reason(index if type(index) is int else 0, reason)
        if call.capture:
            _accumulator(call).add_chat_delta(choice)
    # The usage-only chunk that ends an include_usage stream has no choices.
    return bool(choices)


def read_embedding_response(call: InferenceCall, response: Any) -> None:
    _read_model(call, response)
    usage = getattr(response, "usage", None)
    prompt_tokens = getattr(as_fields(usage), "prompt_tokens", None)
    if usage is not None and reported(prompt_tokens) and not _hidden(response).get("cache_hit"):
        call.usage = Usage(count(prompt_tokens), 0)
    data = getattr(response, "data", None)
    if isinstance(data, list) and data:
        first = data[0]
        vector = first.get("embedding") if isinstance(first, Mapping) else getattr(first, "embedding", None)
        if isinstance(vector, list):
            call.set_attribute(sc.GEN_AI_EMBEDDINGS_DIMENSION_COUNT, len(vector))


# -- opt-in content, in the semconv message shape --------------------------------------------


def _tool_call_part(tool_call: Any) -> dict[str, Any]:
    function = getattr(tool_call, "function", None)
    return {
        "type": "tool_call",
        "id": getattr(tool_call, "id", None),
        "name": getattr(function, "name", None),
        "arguments": getattr(function, "arguments", None),
    }


def _output_message(choice: Any) -> dict[str, Any]:
    message = getattr(choice, "message", None)
    parts: list[dict[str, Any]] = []
    reasoning = getattr(message, "reasoning_content", None)
    if isinstance(reasoning, str) and reasoning:
        parts.append({"type": "reasoning", "content": reasoning})
    text = getattr(message, "content", None)
    if isinstance(text, str) and text:
        parts.append({"type": "text", "content": text})
    parts.extend(_tool_call_part(tool_call) for tool_call in getattr(message, "tool_calls", None) or ())
    entry: dict[str, Any] = {"role": "assistant", "parts": parts}
    reason = getattr(choice, "finish_reason", None)
    if isinstance(reason, str) and reason:
        entry["finish_reason"] = reason
    return entry


def _accumulator(call: InferenceCall) -> StreamedChatOutput:
    content = call.content
    if content is None:
        content = call.content = StreamedChatOutput()
    return content  # type: ignore[no-any-return]


CHAT = Route(
    "chat", read_chat_request, read_chat_response, read_chat_chunk, read_input_content=chat_input_content
)
EMBEDDINGS = Route("embeddings", read_embedding_request, read_embedding_response)

# -- streams ----------------------------------------------------------------------------------

_BUSY = "_tokenomics_busy"
_LAST = "_tokenomics_last"
_END = object()
# The litellm provider a call was resolved to, kept on the call for the prefix of its answer's model.
_LITELLM_PROVIDER = "_tokenomics_litellm_provider"


def _reported_usage(stream: Any) -> tuple[Usage | None, Any]:
    """The provider's usage among the chunks the stream kept (None if it reported none),
    and the last litellm ``Usage`` it came from."""
    chunks = stream.__dict__.get("chunks")
    if not isinstance(chunks, list):
        return None, None
    found: list[Usage] = []
    last = None
    # From the end: the last usage chunk is almost always complete on its own.
    for chunk in reversed(chunks):
        usage = getattr(chunk, "usage", None)
        if usage is None:
            continue
        read = litellm_usage(usage)
        if read is None:
            continue
        if last is None:
            last = usage
        found.append(read)
        if read.input_tokens and read.output_tokens:
            break
    if not found:
        return None, None
    found.reverse()
    return _merge(found), last


def _estimated_usage(stream: Any) -> Usage | None:
    """litellm's own count when the provider reported none: the last chunk's usage."""
    last = stream.__dict__.get(_LAST)
    if last is None:
        return None
    estimate = getattr(last, "usage", None) or _hidden(last).get("usage")
    # litellm's placeholder for "nothing reported" before the stream ended.
    if estimate is None or type(estimate).__name__ == "UnreportedUsage":
        return None
    usage = litellm_usage(estimate)
    if usage is None or not (usage.input_tokens or usage.output_tokens):
        return None
    usage.source = SOURCE_ESTIMATED
    return usage


def _read_stream_end(stream: Any, call: InferenceCall, completed: bool) -> None:
    try:
        usage, reported = _reported_usage(stream)
        if usage is None and completed:
            usage = _estimated_usage(stream)
        if usage is not None:
            call.usage = usage
        last = stream.__dict__.get(_LAST)
        if call.response_model is None:
            model = _unprefixed(getattr(last, "model", None), call)
            if model:
                call.response_model = model
        _read_tier(call, last, reported)
    except Exception:
        report_internal_error("reading a stream's usage")


def _finish(stream: Any, call: InferenceCall, outcome: str) -> None:
    if not call.ended:
        _read_stream_end(stream, call, outcome == OUTCOME_COMPLETED)
        call.end_stream(outcome)


def _fail(stream: Any, call: InferenceCall, error: BaseException) -> None:
    if not call.ended:
        _read_stream_end(stream, call, False)
        call.fail(error)


def _lazy(stream: Any) -> bool:
    """Whether the provider request is still to be sent: some providers send it at the first chunk."""
    state = stream.__dict__
    return state.get("completion_stream") is None and state.get("make_call") is not None


def _stream_namespace(cls: type) -> dict[str, Any]:
    """Observing ``__next__``/``__anext__``, iteration, ``close``/``aclose`` for ``CustomStreamWrapper``.

    Its ``__iter__``/``__aiter__`` return the stream itself; ours return a generator
    over it, so leaving a ``for`` loop early ends the call as ``closed_early``. litellm
    closes the stream itself when it ends or fails: those closes (made while a chunk is
    being read) are not the user's and end nothing.
    """
    base_next = cls.__next__  # type: ignore[attr-defined]
    base_anext = cls.__anext__  # type: ignore[attr-defined]
    base_close = getattr(cls, "close", None)
    base_aclose = getattr(cls, "aclose", None)

    def pull(stream: Any, call: InferenceCall) -> Any:
        state = stream.__dict__
        token = in_call = None
        if call.chunk_count == 0 and _lazy(stream):
            token = otel_context.attach(trace.set_span_in_context(call.span))
            in_call = IN_CALL.set(True)
        state[_BUSY] = True
        try:
            item = base_next(stream)
        except StopIteration:
            return _END
        except BaseException as error:
            _fail(stream, call, error)
            raise
        finally:
            state[_BUSY] = False
            if token is not None:
                IN_CALL.reset(in_call)  # type: ignore[arg-type]
                otel_context.detach(token)
        state[_LAST] = item
        return item

    async def apull(stream: Any, call: InferenceCall) -> Any:
        state = stream.__dict__
        token = in_call = None
        if call.chunk_count == 0 and _lazy(stream):
            token = otel_context.attach(trace.set_span_in_context(call.span))
            in_call = IN_CALL.set(True)
        state[_BUSY] = True
        try:
            item = await base_anext(stream)
        except StopAsyncIteration:
            return _END
        except BaseException as error:
            _fail(stream, call, error)
            raise
        finally:
            state[_BUSY] = False
            if token is not None:
                IN_CALL.reset(in_call)  # type: ignore[arg-type]
                otel_context.detach(token)
        state[_LAST] = item
        return item

    def __next__(self: Any) -> Any:
        call = self.__dict__.get(CALL_ATTRIBUTE)
        if call is None or call.ended:
            return base_next(self)
        item = pull(self, call)
        if item is _END:
            _finish(self, call, OUTCOME_COMPLETED)
            raise StopIteration
        call.on_chunk(item)
        return item

    async def __anext__(self: Any) -> Any:
        call = self.__dict__.get(CALL_ATTRIBUTE)
        if call is None or call.ended:
            return await base_anext(self)
        item = await apull(self, call)
        if item is _END:
            _finish(self, call, OUTCOME_COMPLETED)
            raise StopAsyncIteration
        call.on_chunk(item)
        return item

    def items(stream: Any, call: InferenceCall) -> Iterator[Any]:
        try:
            while True:
                item = pull(stream, call)
                if item is _END:
                    break
                call.on_chunk(item)
                yield item
        except GeneratorExit:
            _finish(stream, call, OUTCOME_CLOSED_EARLY)
            raise
        _finish(stream, call, OUTCOME_COMPLETED)

    async def aitems(stream: Any, call: InferenceCall) -> Any:
        try:
            while True:
                item = await apull(stream, call)
                if item is _END:
                    break
                call.on_chunk(item)
                yield item
        except GeneratorExit:
            _finish(stream, call, OUTCOME_CLOSED_EARLY)
            raise
        _finish(stream, call, OUTCOME_COMPLETED)

    def __iter__(self: Any) -> Any:
        call = self.__dict__.get(CALL_ATTRIBUTE)
        return self if call is None or call.ended else items(self, call)

    def __aiter__(self: Any) -> Any:
        call = self.__dict__.get(CALL_ATTRIBUTE)
        return self if call is None or call.ended else aitems(self, call)

    def _closed_by_user(stream: Any) -> None:
        call = stream.__dict__.get(CALL_ATTRIBUTE)
        if call is not None and not stream.__dict__.get(_BUSY):
            _finish(stream, call, OUTCOME_CLOSED_EARLY)

    namespace: dict[str, Any] = {
        "__next__": __next__,
        "__anext__": __anext__,
        "__iter__": __iter__,
        "__aiter__": __aiter__,
    }
    # close()/aclose() (and the with-statement over them) are litellm >= 1.81's.
    if base_close is not None:

        def close(self: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return base_close(self, *args, **kwargs)
            finally:
                _closed_by_user(self)

        namespace["close"] = close
    if base_aclose is not None:

        async def aclose(self: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return await base_aclose(self, *args, **kwargs)
            finally:
                _closed_by_user(self)

        namespace["aclose"] = aclose
    return namespace


# -- the patch ---------------------------------------------------------------------------------

# (name in litellm.main, route, is a coroutine function)
_TARGETS = (
    ("completion", CHAT, False),
    ("acompletion", CHAT, True),
    ("embedding", EMBEDDINGS, False),
    ("aembedding", EMBEDDINGS, True),
)
# litellm's flags for "this sync entry was called by its async twin": the twin's span covers it.
_ASYNC_FLAGS = ("acompletion", "aembedding")


def _decorated_cell(function: Any) -> Any:
    """The closure cell in which litellm's ``@client`` decorator keeps the real function."""
    for _ in range(8):  # through other decorators (ddtrace's tracer.wrap) that set __wrapped__
        code = getattr(function, "__code__", None)
        if code is not None and "original_function" in code.co_freevars and function.__closure__:
            cell = function.__closure__[code.co_freevars.index("original_function")]
            return cell if callable(cell.cell_contents) else None
        function = getattr(function, "__wrapped__", None)
        if function is None:
            return None
    return None


def _untraced(kwargs: Mapping[str, Any]) -> bool:
    """Calls that reach no provider here: mocks, and the fallback loop (each attempt has its span)."""
    return bool(
        kwargs.get("mock_response") is not None
        or kwargs.get("mock_tool_calls") is not None
        or kwargs.get("fallbacks")
        or any(kwargs.get(flag) is True for flag in _ASYNC_FLAGS)
    )


class LiteLLMPatcher:
    """Swaps litellm's real entry functions in their decorator's closure (see the module docstring)."""

    def __init__(self, telemetry: Telemetry) -> None:
        self.telemetry = telemetry
        self._active = False
        self._cells: list[tuple[Any, Any, Any]] = []
        self._attributes: list[tuple[Any, str, Any, Any]] = []
        self._endpoints: dict[tuple[Any, ...], Endpoint] = {}
        self._litellm: Any = None
        self._stream_class: type | None = None
        # CustomStreamWrapper (or a subclass) -> its observing subclass
        self._traced_streams: dict[type, type] = {}

    def patch(self) -> None:
        import litellm
        from litellm import main

        self._litellm = litellm
        self._stream_class = getattr(litellm, "CustomStreamWrapper", None)
        self._active = True
        for name, route, is_async in _TARGETS:
            entry = getattr(main, name, None)
            if entry is None:
                continue
            cell = _decorated_cell(entry)
            if cell is not None:
                original = cell.cell_contents
                replacement = self._wrapper(original, route, is_async)
                cell.cell_contents = replacement
                self._cells.append((cell, original, replacement))
                continue
            # No @client closure (a release we do not know): wrap the entries themselves.
            for owner in (main, litellm):
                current = getattr(owner, name, None)
                if current is not None:
                    replacement = self._wrapper(current, route, is_async)
                    setattr(owner, name, replacement)
                    self._attributes.append((owner, name, current, replacement))

    def unpatch(self) -> None:
        # Inactive wrappers pass straight through: one that something else has
        # wrapped again since cannot be taken out from under it.
        self._active = False
        for cell, original, replacement in reversed(self._cells):
            if cell.cell_contents is replacement:
                cell.cell_contents = original
        self._cells.clear()
        for owner, name, original, replacement in reversed(self._attributes):
            if getattr(owner, name, None) is replacement:
                setattr(owner, name, original)
        self._attributes.clear()

    # -- where a call goes ---------------------------------------------------------------------

    def _endpoint(self, model: str, kwargs: Mapping[str, Any]) -> Endpoint:
        """Where a call goes, resolved once per model and endpoint (litellm's lookup costs ~50 µs)."""
        api_base = kwargs.get("api_base") or kwargs.get("base_url")
        custom = kwargs.get("custom_llm_provider")
        default_base = getattr(self._litellm, "api_base", None)
        key = (model, custom, api_base, default_base)
        found = self._endpoints.get(key)
        if found is None:
            found = self._resolve(model, custom, api_base, default_base)
            if len(self._endpoints) > 256:
                self._endpoints.clear()
            self._endpoints[key] = found
        return found

    def _resolve(self, model: str, custom: Any, api_base: Any, default_base: Any) -> Endpoint:
        litellm = self._litellm
        model = (getattr(litellm, "model_alias_map", None) or {}).get(model, model)
        resolved_base = None
        try:
            request_model, litellm_provider, _key, resolved_base = litellm.get_llm_provider(
                model=model, custom_llm_provider=custom, api_base=api_base
            )
        except Exception:  # litellm will fail the call the same way; the span still records it
            litellm_provider, _, request_model = model.partition("/") if "/" in model else (custom, "", model)
        if not isinstance(litellm_provider, str) or not litellm_provider:
            litellm_provider = None
        if litellm_provider == "bedrock" and isinstance(request_model, str):
            for route in _BEDROCK_ROUTES:
                request_model = request_model.removeprefix(route)
        provider = PROVIDERS.get(litellm_provider, litellm_provider) if litellm_provider else UNKNOWN_PROVIDER
        base = api_base or resolved_base or default_base
        if not base and litellm_provider:
            base = next(filter(None, map(os.environ.get, _ENV_BASES.get(litellm_provider, ()))), None)
            base = base or _DEFAULT_BASES.get(litellm_provider)
        address = port = None
        if isinstance(base, str) and base:
            url = urlsplit(base if "//" in base else "//" + base)
            address = url.hostname or None
            if address is not None:
                overrides = self.telemetry.options.provider_map
                if litellm_provider in _HOST_DECIDES or overrides:
                    provider = provider_for_host(address, url.port, overrides, provider)
                port = url.port if url.port is not None else default_port(url.scheme)
        return (
            provider,
            litellm_provider,
            request_model if isinstance(request_model, str) else None,
            address,
            port,
        )

    def _start(self, route: Route, args: tuple[Any, ...], kwargs: dict[str, Any]) -> InferenceCall | None:
        try:
            model = args[0] if args else kwargs.get("model")
            if not isinstance(model, str):
                return None
            provider, litellm_provider, request_model, address, port = self._endpoint(model, kwargs)
            body: Mapping[str, Any] = kwargs
            if len(args) > 1:  # litellm.completion("model", messages)
                body = {**kwargs, ("messages" if route is CHAT else "input"): args[1]}
            stream = route is CHAT and bool(kwargs.get("stream"))
        except Exception:
            report_internal_error("reading a request")
            return None
        call = start_call(self.telemetry, route, provider, request_model, address, port, stream, body)
        if call is not None:
            setattr(call, _LITELLM_PROVIDER, litellm_provider)
            if provider == "aws.bedrock":
                # The requested id names the region scope (global., us.) that sets the price.
                call.price_request_model_first = True
        return call

    def _adopt(self, call: InferenceCall, result: Any) -> Any:
        stream_class = self._stream_class
        if stream_class is not None and isinstance(result, stream_class):
            self._follow(call, result)
        else:
            call.finish(result)
        return result

    def _follow(self, call: InferenceCall, stream: Any) -> None:
        cls = type(stream)
        traced = self._traced_streams.get(cls)
        if traced is None:
            if cls in self._traced_streams.values():  # followed already: not ours to follow twice
                call.end()
                return
            traced = self._traced_streams[cls] = observing_subclass(cls, _stream_namespace(cls))
        stream.__dict__[CALL_ATTRIBUTE] = call
        stream.__class__ = traced
        call.stream = True
        call.may_be_abandoned()

    # -- the wrappers -------------------------------------------------------------------------

    def _wrapper(self, original: Any, route: Route, is_async: bool) -> Any:
        start = self._start
        adopt = self._adopt

        if is_async or inspect.iscoroutinefunction(original):

            @functools.wraps(original)
            async def traced_async(*args: Any, **kwargs: Any) -> Any:
                if not self._active or not may_trace() or _untraced(kwargs):
                    return await original(*args, **kwargs)
                call = start(route, args, kwargs)
                if call is None:
                    return await original(*args, **kwargs)
                return await run_async(call, original, args, kwargs, adopt)

            return traced_async

        @functools.wraps(original)
        def traced(*args: Any, **kwargs: Any) -> Any:
            if not self._active or not may_trace() or _untraced(kwargs):
                return original(*args, **kwargs)
            call = start(route, args, kwargs)
            if call is None:
                return original(*args, **kwargs)
            return run(call, original, args, kwargs, adopt)

        return traced


class LiteLLMAdapter(Adapter):
    """Traces ``litellm`` calls under the provider that serves them."""

    package = "litellm"
    requirement = "litellm >= 1.80.0"
    patch_when_imported = "litellm"

    @classmethod
    def make_patcher(cls, telemetry: Telemetry) -> LiteLLMPatcher:
        return LiteLLMPatcher(telemetry)
