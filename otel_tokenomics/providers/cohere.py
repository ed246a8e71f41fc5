"""The ``cohere`` SDK's v2 client (``ClientV2``, ``AsyncClientV2``, ``client.v2``): what we wrap and how.

Token model (``usage`` of a chat response or of the stream's ``message-end`` event,
``meta`` of an embed response); every count is a float on the wire:

* ``billed_units.input_tokens`` / ``output_tokens`` are what Cohere invoices;
* ``tokens.input_tokens`` / ``output_tokens`` are what the model processed, which
  includes tokens Cohere adds itself (prompt template, special tokens) and does not
  bill, so they are at least the billed counts;
* ``cached_tokens`` ("the number of prompt tokens that hit the inference cache") is
  documented neither as a part of the billed input nor with a price of its own; as
  a count of prompt tokens it may include the template tokens that are not billed.

So input = billed input, output = billed output. ``cached_tokens`` is the cache
read, capped at the billed input so that it stays a part of it: that keeps the
cache hit ratio visible, and prices nothing differently (the catalog has no Cohere
cache-read price, so cache reads cost the input price, as Cohere bills them). Only a response without
``billed_units`` falls back to ``tokens`` (an upper bound of the bill). The usage
has no thinking count, so reasoning is not broken out. Embed v4 bills image tokens
(``billed_units.image_tokens``) at a price of their own, next to ``input_tokens``
(the text; ``text_tokens`` where sent): input = text + image, with the modality
split. A stream's usage arrives once, in ``message-end``; a stream left before it
is estimated at its end from the request (:mod:`~otel_tokenomics.providers.cohere_prompt`)
and the text, thinking, tool plans and tool calls it streamed. Cohere publishes no
tokenizer: the estimate is heuristic.

Where: ``V2Client`` sends nothing itself. Since cohere 5.16 every method delegates
to ``RawV2Client`` (what ``with_raw_response`` returns), so the raw client's
``chat``, ``chat_stream`` and ``embed`` (and their async twins) are wrapped: one
span per call, whichever way the user came in. ``chat_stream`` there is a context
manager that sends the request on entry and yields an ``HttpResponse`` whose
``data`` is the event generator; ours is followed in its place. The partner
clients (``BedrockClientV2``, ``SagemakerClientV2``, ``OciClientV2``) share these
classes and rewrite each request in an httpx hook: the hook names the provider.

Opt-in content (:mod:`~otel_tokenomics.providers.chat_content`): the v2 messages as
given (system ones stay in the history), the tool definitions, and the answer: text,
thinking and the tool plan as reasoning parts, tool calls, Cohere's finish reason as
mapped above. The documents of a RAG call are not recorded.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import Any

from otel_tokenomics import semconv as sc
from otel_tokenomics.activation import Adapter
from otel_tokenomics.call import OUTCOME_CLOSED_EARLY, InferenceCall, Route, report_internal_error
from otel_tokenomics.providers import cohere_prompt
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
from otel_tokenomics.providers.prompt_parts import get as _get
from otel_tokenomics.providers.prompt_parts import items_of, text_of
from otel_tokenomics.request_fields import Put, integer, number, stop_sequences, strings
from otel_tokenomics.telemetry import Telemetry
from otel_tokenomics.usage import Usage, as_fields, count, field, reported
from otel_tokenomics.wrapping import (
    Endpoint,
    MethodPatcher,
    follow_async_iterator,
    follow_iterator,
    may_trace,
    run,
    run_async,
    start_call,
)

COHERE = "cohere"
DEFAULT_BASE_URL = "https://api.cohere.com"


# -- request attributes -------------------------------------------------------------------

_OUTPUT_TYPES = {"text": "text", "json_object": "json"}


def _response_format(value: Any, attributes: dict[str, Any]) -> None:
    output_type = _OUTPUT_TYPES.get(_get(value, "type"))  # type: ignore[arg-type]
    if output_type:
        attributes[sc.GEN_AI_OUTPUT_TYPE] = output_type


_budget_tokens = integer(sc.TOKENOMICS_REQUEST_REASONING_BUDGET_TOKENS)


def _thinking(value: Any, attributes: dict[str, Any]) -> None:
    if _get(value, "type") == "enabled":
        budget = _get(value, "token_budget")
        if budget is not None:
            _budget_tokens(budget, attributes)


# Cohere's names: ``p`` is top-p, ``k`` is top-k.
_CHAT_FIELDS: tuple[tuple[str, Put], ...] = (
    ("temperature", number(sc.GEN_AI_REQUEST_TEMPERATURE)),
    ("max_tokens", integer(sc.GEN_AI_REQUEST_MAX_TOKENS)),
    ("p", number(sc.GEN_AI_REQUEST_TOP_P)),
    ("k", number(sc.GEN_AI_REQUEST_TOP_K)),
    ("seed", integer(sc.GEN_AI_REQUEST_SEED)),
    ("stop_sequences", stop_sequences),
    ("frequency_penalty", number(sc.GEN_AI_REQUEST_FREQUENCY_PENALTY)),
    ("presence_penalty", number(sc.GEN_AI_REQUEST_PRESENCE_PENALTY)),
    ("response_format", _response_format),
    ("thinking", _thinking),
)
_EMBED_FIELDS: tuple[tuple[str, Put], ...] = (
    ("output_dimension", integer(sc.GEN_AI_EMBEDDINGS_DIMENSION_COUNT)),
    ("embedding_types", strings(sc.GEN_AI_REQUEST_ENCODING_FORMATS)),
)


def _request_reader(
    fields: tuple[tuple[str, Put], ...],
) -> Callable[[Mapping[str, Any], dict[str, Any]], None]:
    def read(body: Mapping[str, Any], attributes: dict[str, Any]) -> None:
        # The SDK passes every parameter, unset ones as its OMIT sentinel (``...``);
        # objects (``Thinking``, response formats) may be models or dicts.
        get = body.get
        for key, put in fields:
            value = get(key)
            if value is not None and value is not ...:
                put(value, attributes)

    return read


read_chat_request = _request_reader(_CHAT_FIELDS)
read_embed_request = _request_reader(_EMBED_FIELDS)


# -- usage ---------------------------------------------------------------------------------


def _billed_or_processed(billed: Any, tokens: Any) -> tuple[Any, Any] | None:
    """The (input, output) counts to record: billed ones, else processed ones, else None
    (neither has a count: see :func:`otel_tokenomics.usage.reported`)."""
    billed = as_fields(billed)
    if billed is not None:
        billed_in, billed_out = field(billed, "input_tokens"), field(billed, "output_tokens")
        if reported(billed_in, billed_out):
            return billed_in, billed_out
    tokens = as_fields(tokens)
    if tokens is not None:
        used_in, used_out = field(tokens, "input_tokens"), field(tokens, "output_tokens")
        if reported(used_in, used_out):
            return used_in, used_out
    return None


def chat_usage(usage: Any) -> Usage | None:
    """A chat ``Usage`` (or a Bedrock-style ``meta``) in the semconv arithmetic."""
    usage = as_fields(usage)
    if usage is None:
        return None
    counts = _billed_or_processed(field(usage, "billed_units"), field(usage, "tokens"))
    if counts is None:
        return None
    result = Usage(count(counts[0]), count(counts[1]))
    cached = field(usage, "cached_tokens")
    if cached:
        result.cache_read_tokens = min(count(cached), result.input_tokens)
    return result


def embed_usage(meta: Any) -> Usage | None:
    """An embed response's ``meta``: billed input, split into text and image where Cohere says."""
    meta = as_fields(meta)
    if meta is None:
        return None
    billed = as_fields(field(meta, "billed_units"))
    counts = _billed_or_processed(billed, field(meta, "tokens"))
    images = count(field(billed, "image_tokens")) if billed is not None else 0
    if not images:
        return None if counts is None else Usage(count(counts[0]), 0)
    # Embed v4 reports billed image tokens next to input_tokens (the text), and bills
    # them at a price of their own. A text_tokens count, where sent, is the text part
    # exactly; processed counts would hold the images too.
    text_tokens = field(billed, "text_tokens")
    text = count(text_tokens if text_tokens is not None else field(billed, "input_tokens"))
    usage = Usage(text + images, 0)
    usage.text_input_tokens = text or None
    usage.image_input_tokens = images
    return usage


# -- responses -----------------------------------------------------------------------------

# Cohere's finish reasons onto the values OpenAI made common (and semconv examples use).
FINISH_REASONS = {
    "COMPLETE": "stop",
    "STOP_SEQUENCE": "stop",
    "MAX_TOKENS": "length",
    "TOOL_CALL": "tool_calls",
    "ERROR": "error",
    "TIMEOUT": "timeout",
}


def finish_reason(value: Any) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    return FINISH_REASONS.get(value) or value.lower()


def read_chat_response(call: InferenceCall, response: Any) -> None:
    response_id = getattr(response, "id", None)
    if isinstance(response_id, str) and response_id:
        call.response_id = response_id
    reason = finish_reason(getattr(response, "finish_reason", None))
    if reason:
        call.set_finish_reason(0, reason)
    usage = chat_usage(field(response, "usage"))
    if usage is None:
        # Partner platforms answer through the SDK with the v1 ``meta`` instead.
        usage = chat_usage(field(response, "meta"))
    if usage is not None:
        call.usage = usage
    if call.capture:
        capture_output(call, _add_response, response)


def _delta_message(chunk: Any) -> Any:
    return getattr(getattr(chunk, "delta", None), "message", None)


def _content_delta(call: InferenceCall, chunk: Any) -> bool:
    content = getattr(_delta_message(chunk), "content", None)
    text = getattr(content, "text", None)
    thinking = getattr(content, "thinking", None)
    output_text = call.output_text
    if output_text is not None:
        # Thinking is billed as output, like the text.
        if type(text) is str and text:
            output_text.append(text)
        if type(thinking) is str and thinking:
            output_text.append(thinking)
    return bool(text or thinking)


def _tool_plan_delta(call: InferenceCall, chunk: Any) -> bool:
    plan = getattr(_delta_message(chunk), "tool_plan", None)
    if type(plan) is str and plan and call.output_text is not None:
        call.output_text.append(plan)
    return True


def _tool_call_delta(call: InferenceCall, chunk: Any) -> bool:
    """``tool-call-start`` names the function (arguments may begin there); deltas add arguments."""
    function = getattr(getattr(_delta_message(chunk), "tool_calls", None), "function", None)
    output_text = call.output_text
    if function is not None and output_text is not None:
        name = getattr(function, "name", None)
        if type(name) is str and name:
            output_text.append(name)
        arguments = getattr(function, "arguments", None)
        if type(arguments) is str and arguments:
            output_text.append(arguments)
    return True


def _message_start(call: InferenceCall, chunk: Any) -> bool:
    response_id = getattr(chunk, "id", None)
    if isinstance(response_id, str) and response_id:
        call.response_id = response_id
    return False


def _message_end(call: InferenceCall, chunk: Any) -> bool:
    delta = getattr(chunk, "delta", None)
    if delta is not None:
        reason = finish_reason(getattr(delta, "finish_reason", None))
        if reason:
            call.set_finish_reason(0, reason)
        # A pydantic extra before cohere 5.17 modelled it.
        usage = chat_usage(field(delta, "usage"))
        if usage is not None:
            call.usage = usage  # sent once, at the end: nothing to add up
    return False


# Stream event type -> reader; each says whether the event carried model output.
# Citations, content/tool-call boundaries and debug events carry none.
_CHUNK_READERS: dict[str, Callable[[InferenceCall, Any], bool]] = {
    "message-start": _message_start,
    "content-delta": _content_delta,
    "tool-plan-delta": _tool_plan_delta,
    "tool-call-start": _tool_call_delta,
    "tool-call-delta": _tool_call_delta,
    "message-end": _message_end,
}


def read_chat_chunk(call: InferenceCall, chunk: Any) -> bool:
    kind = getattr(chunk, "type", None)
    reader = _CHUNK_READERS.get(kind)  # type: ignore[arg-type]
    output = reader(call, chunk) if reader is not None else False
    if call.capture:
        add = _CHUNK_CONTENT.get(kind)  # type: ignore[arg-type]
        if add is not None:
            capture_output(call, add, chunk)
    return output


# -- opt-in content, in the semconv message shape ------------------------------------------------
# A tool plan is the model's stated reasoning before its tool calls: a reasoning part,
# after the content and before the calls, as the response lists them.
_PLAN = "tool_plan"


def _part(part: Any) -> dict[str, Any] | None:
    """One content block of a message: text, thinking, an image, a document of a tool result."""
    kind = _get(part, "type")
    if kind == "text":
        text = _get(part, "text")
        return text_part(text) if isinstance(text, str) else None
    if kind == "thinking":
        thinking = _get(part, "thinking")
        return {"type": REASONING, "content": thinking} if isinstance(thinking, str) else None
    if kind == "image_url":
        return image_url_part(_get(part, "image_url"))
    return generic_part(kind, part)


def _tool_plan(message: Any) -> list[dict[str, Any]]:
    plan = text_of(_get(message, _PLAN))
    return [{"type": REASONING, "content": plan}] if plan is not None else []


def chat_input_content(body: Mapping[str, Any]) -> dict[str, Any]:
    """The v2 messages (system ones stay in the history, where Cohere takes them) and tools."""
    return shared_chat_input_content(body, _part, _tool_plan)


def _add_response(output: ChatOutput, response: Any) -> None:
    """A ``V2ChatResponse``: one message; its finish reason comes from ``call.finish_reasons``."""
    message = _get(response, "message")
    answer = output.choice(0)
    content = _get(message, "content")
    # Text and thinking as a stream gathers them, so both read the same.
    for index, block in enumerate([content] if isinstance(content, str) else items_of(content)):
        slot = ("content", index)
        kind = "text" if isinstance(block, str) else _get(block, "type")
        if kind == "text":
            answer.add_piece(slot, TEXT, block if isinstance(block, str) else _get(block, "text"))
        elif kind == "thinking":
            answer.add_piece(slot, REASONING, _get(block, "thinking"))
        else:
            answer.add_part(generic_part(kind, block))
    answer.add_piece(_PLAN, REASONING, text_of(_get(message, _PLAN)))
    # Cohere's tool calls carry no index: their order is theirs.
    answer.add_tool_calls(_get(message, "tool_calls"))


def _add_message_start(output: ChatOutput, chunk: Any) -> None:
    output.choice(0)  # an answer that streams nothing more is still one (empty) message


def _add_content(output: ChatOutput, chunk: Any) -> None:
    """``content-start`` (names the block's type) and ``content-delta``: pieces of block ``index``."""
    content = getattr(_delta_message(chunk), "content", None)
    thinking = getattr(content, "thinking", None)
    is_thinking = getattr(content, "type", None) == "thinking" or (isinstance(thinking, str) and thinking)
    piece = thinking if is_thinking else getattr(content, "text", None)
    slot = ("content", getattr(chunk, "index", None))
    output.choice(0).add_piece(slot, REASONING if is_thinking else TEXT, piece)


def _add_plan(output: ChatOutput, chunk: Any) -> None:
    output.choice(0).add_piece(_PLAN, REASONING, getattr(_delta_message(chunk), _PLAN, None))


def _add_tool_call(output: ChatOutput, chunk: Any) -> None:
    """``tool-call-start`` has the id and name (arguments may begin there); deltas add arguments."""
    tool_call = getattr(_delta_message(chunk), "tool_calls", None)
    function = getattr(tool_call, "function", None)
    output.choice(0).add_tool_call(
        getattr(chunk, "index", None),
        getattr(tool_call, "id", None),
        getattr(function, "name", None),
        getattr(function, "arguments", None),
    )


# Stream event type -> what it adds to the captured answer (read only with capture on).
_CHUNK_CONTENT: dict[str, Callable[[ChatOutput, Any], None]] = {
    "message-start": _add_message_start,
    "content-start": _add_content,
    "content-delta": _add_content,
    "tool-plan-delta": _add_plan,
    "tool-call-start": _add_tool_call,
    "tool-call-delta": _add_tool_call,
}


def read_embed_response(call: InferenceCall, response: Any) -> None:
    response_id = getattr(response, "id", None)
    if isinstance(response_id, str) and response_id:
        call.response_id = response_id
    usage = embed_usage(field(response, "meta"))
    if usage is not None:
        call.usage = usage
    embeddings = getattr(response, "embeddings", None)
    if isinstance(embeddings, list):  # the v1 response shape: one list of floats per input
        vectors = embeddings
    else:
        # By type; binary types pack eight dimensions a number, so they say nothing here.
        vectors = field(embeddings, "float_") or field(embeddings, "int8") or field(embeddings, "uint8")
    if isinstance(vectors, list) and vectors and isinstance(vectors[0], list):
        call.set_attribute(sc.GEN_AI_EMBEDDINGS_DIMENSION_COUNT, len(vectors[0]))


def describe_error(error: BaseException) -> tuple[str | None, int | None]:
    """The SDK raises a named ``ApiError`` subclass per documented status (``TooManyRequestsError``);
    any other status raises the bare ``ApiError``, whose status code then says more than its name."""
    status = getattr(error, "status_code", None)
    status = status if type(status) is int else None
    if status is not None and type(error).__name__ == "ApiError":
        return str(status), status
    return None, status


CHAT = Route(
    "chat",
    read_chat_request,
    read_chat_response,
    read_input_content=chat_input_content,
    describe_error=describe_error,
    read_prompt=cohere_prompt.chat_prompt,
    read_output_text=cohere_prompt.chat_output_text,
)
CHAT_STREAM = Route(
    "chat",
    read_chat_request,
    read_chat_response,
    read_chat_chunk,
    read_input_content=chat_input_content,
    describe_error=describe_error,
    read_prompt=cohere_prompt.chat_prompt,
)
EMBED = Route(
    "embeddings",
    read_embed_request,
    read_embed_response,
    describe_error=describe_error,
    read_prompt=cohere_prompt.embed_prompt,
)


# -- following what the raw client returns ------------------------------------------------


def _adopt_response(call: InferenceCall, response: Any) -> Any:
    """``HttpResponse``: the model is in ``data``; the user gets the response unchanged."""
    call.finish(response.data)
    return response


def _adopt_stream(call: InferenceCall, response: Any) -> Any:
    """Swap the response's event generator for one that reports to ``call``."""
    events = response.__dict__.get("_data")  # behind the read-only ``data`` property
    if not hasattr(events, "__next__"):
        call.end()
        return response
    # The SDK hands the events over only for a 2xx answer: the request was taken.
    call.response_started = True
    response._data = follow_iterator(call, events)
    return response


def _adopt_async_stream(call: InferenceCall, response: Any) -> Any:
    events = response.__dict__.get("_data")
    if not hasattr(events, "__anext__"):
        call.end()
        return response
    call.response_started = True
    response._data = follow_async_iterator(call, events)
    return response


class _Entered:
    """Enters the SDK's stream context manager as ``call``: the request is sent on entry."""

    __slots__ = ("call", "manager")

    def __init__(self, call: InferenceCall, manager: Any) -> None:
        self.call = call
        self.manager = manager

    def __enter__(self) -> Any:
        return run(self.call, self.manager.__enter__, (), {}, _adopt_stream)

    def __exit__(self, *exc_info: Any) -> Any:
        return self.manager.__exit__(*exc_info)

    async def __aenter__(self) -> Any:
        return await run_async(self.call, self.manager.__aenter__, (), {}, _adopt_async_stream)

    async def __aexit__(self, *exc_info: Any) -> Any:
        return await self.manager.__aexit__(*exc_info)


# -- where a call goes ---------------------------------------------------------------------

# Partner clients (BedrockClientV2, SagemakerClientV2, OciClientV2) keep the Cohere
# base URL and rewrite each request in an httpx event hook; the hook's module says where to.
_AWS_HOOKS = "cohere.aws_client"
_OCI_HOOKS = "cohere.oci_client"
_AWS_SERVICES = {
    "bedrock": ("aws.bedrock", "bedrock-runtime.{region}.amazonaws.com"),
    "sagemaker": ("aws.sagemaker", "runtime.sagemaker.{region}.amazonaws.com"),
}
OCI_GENERATIVE_AI = "oci.generative_ai"


def _closure(function: Any) -> dict[str, Any]:
    code = getattr(function, "__code__", None)
    cells = getattr(function, "__closure__", None) or ()
    if code is None:
        return {}
    values = {}
    for name, cell in zip(code.co_freevars, cells, strict=False):
        try:
            values[name] = cell.cell_contents
        except ValueError:  # an empty cell
            continue
    return values


def _partner_endpoint(hooks: Any) -> Endpoint | None:
    for hook in hooks:
        module = getattr(hook, "__module__", None)
        if module == _AWS_HOOKS:
            values = _closure(hook)
            found = _AWS_SERVICES.get(values.get("service"))  # type: ignore[arg-type]
            if found is None:
                continue
            provider, host = found
            region = values.get("aws_region")
            return provider, (host.format(region=region) if isinstance(region, str) else None), 443
        if module == _OCI_HOOKS:
            return OCI_GENERATIVE_AI, None, None
    return None


def _request_hooks(wrapper: Any) -> Any:
    client = getattr(getattr(wrapper, "httpx_client", None), "httpx_client", None)
    hooks = getattr(client, "_event_hooks", None)
    return hooks.get("request") if isinstance(hooks, dict) else None


class CoherePatcher(MethodPatcher):
    """Wraps ``cohere.v2.raw_client`` (see the module docstring for what and why)."""

    def patch(self) -> None:
        from cohere.v2 import raw_client

        self.active = True
        for class_name, name, route in (
            ("RawV2Client", "chat", CHAT),
            ("RawV2Client", "embed", EMBED),
            ("RawV2Client", "chat_stream", CHAT_STREAM),
            ("AsyncRawV2Client", "chat", CHAT),
            ("AsyncRawV2Client", "embed", EMBED),
            ("AsyncRawV2Client", "chat_stream", CHAT_STREAM),
        ):
            owner = getattr(raw_client, class_name, None)
            original = owner.__dict__.get(name) if owner is not None else None
            if original is None:
                continue
            replacement = self._wrapper(original, route)
            if replacement is not None:
                self.replace(owner, name, replacement)

    def _endpoint(self, raw: Any) -> Endpoint:
        wrapper = getattr(raw, "_client_wrapper", None)
        base_url = wrapper.get_base_url() if wrapper is not None else None
        hooks = _request_hooks(wrapper)
        if hooks:
            partner = _partner_endpoint(hooks)
            if partner is not None:
                return partner
        return self.endpoint(base_url or DEFAULT_BASE_URL, COHERE)

    def _start(self, raw: Any, route: Route, kwargs: dict[str, Any], stream: bool) -> InferenceCall | None:
        try:
            provider, address, port = self._endpoint(raw)
        except Exception:
            report_internal_error("reading the client's endpoint")
            return None
        model = kwargs.get("model")
        model = model if isinstance(model, str) and model else None
        return start_call(self.telemetry, route, provider, model, address, port, stream, kwargs)

    # -- the wrappers ----------------------------------------------------------------------

    def _wrapper(self, original: Any, route: Route) -> Any:
        function = inspect.unwrap(original)
        if route is CHAT_STREAM:
            if inspect.isasyncgenfunction(function):
                return self._async_stream_wrapper(original)
            if inspect.isgeneratorfunction(function):
                return self._stream_wrapper(original)
            return None  # not the context manager of any release we know of

        def start(raw: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> InferenceCall | None:
            return self._start(raw, route, kwargs, False)

        return self.traced(original, start, _adopt_response)

    def _stream_wrapper(self, original: Any) -> Any:
        """``chat_stream`` returns a context manager that sends on entry: the span starts there.

        The call ends when the events run out, fail, or are closed; leaving the
        ``with`` block first ends it as closed early.
        """
        start = self._start

        @contextlib.contextmanager
        def follow(raw: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Iterator[Any]:
            manager = original(raw, *args, **kwargs)
            call = start(raw, CHAT_STREAM, kwargs, True) if may_trace() else None
            if call is None:
                with manager as response:
                    yield response
                return
            try:
                with _Entered(call, manager) as response:
                    yield response
            finally:
                call.end_stream(OUTCOME_CLOSED_EARLY)

        @functools.wraps(original)
        def traced(raw: Any, *args: Any, **kwargs: Any) -> Any:
            if not self.active:
                return original(raw, *args, **kwargs)
            return follow(raw, args, kwargs)

        return traced

    def _async_stream_wrapper(self, original: Any) -> Any:
        start = self._start

        @contextlib.asynccontextmanager
        async def follow(raw: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> AsyncIterator[Any]:
            manager = original(raw, *args, **kwargs)
            call = start(raw, CHAT_STREAM, kwargs, True) if may_trace() else None
            if call is None:
                async with manager as response:
                    yield response
                return
            try:
                async with _Entered(call, manager) as response:
                    yield response
            finally:
                # AsyncV2Client.chat_stream leaves the events by ``async for``, which
                # does not close them when the user stops early: the exit says it.
                call.end_stream(OUTCOME_CLOSED_EARLY)

        @functools.wraps(original)
        def traced(raw: Any, *args: Any, **kwargs: Any) -> Any:
            if not self.active:
                return original(raw, *args, **kwargs)
            return follow(raw, args, kwargs)

        return traced


class CohereAdapter(Adapter):
    """Traces the ``cohere`` SDK's v2 client: chat, chat streams and embeddings."""

    package = "cohere"
    # 5.16.0 moved every V2Client method onto RawV2Client, the one place wrapped here.
    requirement = "cohere >= 5.16.0"
    # The module of the classes wrapped; ``cohere.v2.client`` (V2Client) imports it first thing.
    patch_when_imported = "cohere.v2.raw_client"

    @classmethod
    def make_patcher(cls, telemetry: Telemetry) -> CoherePatcher:
        return CoherePatcher(telemetry)
