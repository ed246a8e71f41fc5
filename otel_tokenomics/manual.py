"""The public API for LLM calls we do not patch: one context manager, the same span.

A raw HTTP call to an in-house gateway, an SDK we do not support yet, a model
served by a framework of your own: wrap it in :func:`inference` and hand over what
the provider answered. The call gets the very span, metrics and cost that the
patched SDKs produce::

    with otel_tokenomics.inference("openai", "gpt-4o-mini", server_address="llm.internal") as call:
        reply = http.post("https://llm.internal/v1/chat/completions", json=body).json()
        call.record_response(model=reply["model"], response_id=reply["id"])
        call.record_usage(reply["usage"])  # the provider's own usage object, as JSON

Usage comes either as the provider's raw usage mapping, read with the same
token model as the patched SDK of that provider (``docs/token-models.md``), or as
explicit counts in the semconv arithmetic (input counts cache reads and writes,
output counts reasoning). The format of a raw mapping follows from the provider
name, or from its keys when the provider is one we do not know; ``usage_format``
names it outright.

Streams: call :meth:`ManualCall.chunk` per chunk received (for time to first chunk)
and :meth:`ManualCall.record_usage` whenever usage arrives; mappings recorded
one after another are merged, later values winning, which is how providers
that split usage over events (Anthropic's ``message_start`` / ``message_delta``)
add up.

Like the patched SDKs, nothing here raises into the caller: a malformed usage
mapping is logged once and the call is recorded without it. An exception raised
inside the ``with`` block ends the span as failed and propagates unchanged.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace

from otel_tokenomics.budgets import BudgetExceeded
from otel_tokenomics.call import (
    IN_CALL,
    OUTCOME_CLOSED_EARLY,
    OUTCOME_COMPLETED,
    InferenceCall,
    Route,
    report_internal_error,
)
from otel_tokenomics.usage import SOURCE_ESTIMATED, Fields, Usage, count

__all__ = ["USAGE_FORMATS", "ManualCall", "inference"]

# usage format -> "module:function" reading that provider's raw usage mapping into a
# Usage. The adapters' own readers, imported on first use of a format.
USAGE_FORMATS: dict[str, str] = {
    "openai": "otel_tokenomics.providers.openai:completion_usage",
    "openai_responses": "otel_tokenomics.providers.openai:responses_usage",
    "anthropic": "otel_tokenomics.providers.anthropic_messages:message_usage",
    "gemini": "otel_tokenomics.manual:gemini_usage",
    "bedrock": "otel_tokenomics.providers.bedrock:converse_usage",
    "cohere": "otel_tokenomics.providers.cohere:chat_usage",
    "ollama": "otel_tokenomics.providers.ollama:read_usage",
}

# gen_ai.provider.name -> the usage format its API speaks, when the caller names none.
PROVIDER_FORMATS: dict[str, str] = {
    "anthropic": "anthropic",
    "aws.bedrock": "bedrock",
    "gcp.gemini": "gemini",
    "gcp.vertex_ai": "gemini",
    "gcp.gen_ai": "gemini",
    "cohere": "cohere",
    "ollama": "ollama",
}

# Keys that give a usage mapping's format away, for a provider we do not know (an
# in-house gateway speaks some public API's dialect). First match wins.
_FORMAT_KEYS: tuple[tuple[str, str], ...] = (
    ("prompt_tokens", "openai"),
    ("completion_tokens", "openai"),
    ("cache_creation_input_tokens", "anthropic"),
    ("cache_read_input_tokens", "anthropic"),
    ("input_tokens_details", "openai_responses"),
    ("output_tokens_details", "openai_responses"),
    ("promptTokenCount", "gemini"),
    ("prompt_token_count", "gemini"),
    ("candidatesTokenCount", "gemini"),
    ("inputTokens", "bedrock"),
    ("billed_units", "cohere"),
    ("prompt_eval_count", "ollama"),
    ("eval_count", "ollama"),
    ("input_tokens", "openai_responses"),
)

# Where a whole response body keeps its usage, for callers that hand over the body.
_USAGE_KEYS = ("usage", "usageMetadata", "usage_metadata")

_EXPLICIT = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens")


def _camel_to_snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")


def _snake_keys(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {_camel_to_snake(str(k)): _snake_keys(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_snake_keys(v) for v in value]
    return value


def gemini_usage(raw: Mapping[str, Any]) -> Usage:
    """Gemini / Vertex ``usageMetadata``: REST camelCase or the SDK's snake_case."""
    from otel_tokenomics.providers.google_genai import generate_usage

    return generate_usage(_snake_keys(raw))


_readers: dict[str, Callable[[Any], Usage | None]] = {}


def _reader(usage_format: str) -> Callable[[Any], Usage | None] | None:
    reader = _readers.get(usage_format)
    if reader is None:
        target = USAGE_FORMATS.get(usage_format)
        if target is None:
            return None
        module, _, name = target.partition(":")
        reader = _readers[usage_format] = getattr(importlib.import_module(module), name)
    return reader


def _sniff(raw: Mapping[str, Any]) -> str | None:
    for key, usage_format in _FORMAT_KEYS:
        if key in raw:
            return usage_format
    return None


def _usage_part(raw: Mapping[str, Any]) -> Mapping[str, Any]:
    """A whole response body's usage mapping; a usage mapping as it is."""
    if _sniff(raw) is None:
        for key in _USAGE_KEYS:
            nested = raw.get(key)
            if isinstance(nested, Mapping):
                return nested
    return raw


def _merge(into: dict[str, Any], update: Mapping[str, Any]) -> None:
    """Later values win, nested mappings merged, and a None never erases a count."""
    for key, value in update.items():
        if value is None:
            continue
        current = into.get(key)
        if isinstance(value, Mapping) and isinstance(current, dict):
            _merge(current, value)
        elif isinstance(value, Mapping):
            merged: dict[str, Any] = {}
            _merge(merged, value)
            into[key] = merged
        else:
            into[key] = value


def _read_chunk(call: InferenceCall, output: Any) -> bool:
    if type(output) is str:
        # The chunk's text: counted at the end if no usage is recorded.
        if output and call.output_text is not None:
            call.output_text.append(output)
        return bool(output)
    return bool(output)


def _read_prompt(body: Mapping[str, Any]) -> Any:
    """The request's ``messages`` (OpenAI's chat format, or plain role/content dicts), if given."""
    from otel_tokenomics.estimation.preflight import read_prompt

    messages = body.get("messages")
    if messages is None and isinstance(body.get("prompt"), str):
        messages = body["prompt"]
    return read_prompt("openai", messages, None, body.get("tools"))


def _read_nothing(call: InferenceCall, response: Any) -> None:
    return None


def _request_reader() -> Callable[[Mapping[str, Any], dict[str, Any]], None]:
    from otel_tokenomics.providers.openai import read_chat_request

    return read_chat_request


_routes: dict[str, Route] = {}


def _route(operation: str) -> Route:
    route = _routes.get(operation)
    if route is None:
        route = _routes[operation] = Route(
            operation, _request_reader(), _read_nothing, _read_chunk, read_prompt=_read_prompt
        )
    return route


# -- where the telemetry goes -------------------------------------------------------------

_settings_lock = threading.Lock()
_settings: dict[str, Any] = {}
_telemetry: Any = None


def configure(
    tracer_provider: Any = None, meter_provider: Any = None, logger_provider: Any = None, **options: Any
) -> None:
    """Send manual calls where ``instrument()`` sends the patched ones (it calls this)."""
    global _telemetry
    with _settings_lock:
        _settings.clear()
        _settings.update(
            tracer_provider=tracer_provider,
            meter_provider=meter_provider,
            logger_provider=logger_provider,
            options=dict(options),
        )
        _telemetry = None


def shared_telemetry() -> Any:
    """The telemetry of manual calls and workflows: where instrument() sends the patched calls."""
    global _telemetry
    telemetry = _telemetry
    if telemetry is None:
        from otel_tokenomics.config import load_options
        from otel_tokenomics.telemetry import Telemetry

        with _settings_lock:
            if _telemetry is None:
                _telemetry = Telemetry(
                    load_options(_settings.get("options") or {}),
                    tracer_provider=_settings.get("tracer_provider"),
                    meter_provider=_settings.get("meter_provider"),
                    logger_provider=_settings.get("logger_provider"),
                )
            telemetry = _telemetry
    return telemetry


# -- the public API ---------------------------------------------------------------------------


class ManualCall:
    """One LLM call described by hand. Get it from :func:`inference`."""

    def __init__(
        self,
        provider: str,
        model: str | None,
        operation: str,
        stream: bool,
        server_address: str | None,
        server_port: int | None,
        request: Mapping[str, Any] | None,
        usage_format: str | None,
    ) -> None:
        self.provider = provider
        self.model = model
        self.operation = operation
        self.stream = stream
        self.server_address = server_address
        self.server_port = server_port
        self.request = request
        self.usage_format = usage_format
        self._call: InferenceCall | None = None
        self._tokens: tuple[Any, Any] | None = None
        self._raw: dict[str, Any] | None = None
        self._explicit: dict[str, int] = {}
        self._estimated = False
        self._outcome = OUTCOME_COMPLETED

    # -- the span ----------------------------------------------------------------------

    @property
    def span(self) -> trace.Span:
        """The call's span (non-recording when nothing traces this call)."""
        call = self._call
        return call.span if call is not None else trace.INVALID_SPAN

    def __enter__(self) -> ManualCall:
        self._open()
        return self

    def __exit__(self, exc_type: Any, error: BaseException | None, traceback: Any) -> None:
        self._close(error)

    async def __aenter__(self) -> ManualCall:
        self._open()
        return self

    async def __aexit__(self, exc_type: Any, error: BaseException | None, traceback: Any) -> None:
        self._close(error)

    def _open(self) -> None:
        if self._call is not None:
            return
        try:
            from otel_tokenomics.wrapping import may_trace

            if not may_trace():
                # Inside another call of ours (a patched SDK call opened around this
                # block), or instrumentation suppressed: that call is the span.
                return
            body = self.request if isinstance(self.request, Mapping) else {}
            call = shared_telemetry().start_call(
                _route(self.operation),
                self.provider,
                self.model,
                self.server_address,
                self.server_port,
                self.stream,
                body,
            )
            if self.stream:
                call.may_be_abandoned()
            self._call = call
            # Current for the block: the user's HTTP client spans nest under it, and a
            # patched SDK called inside opens no second inference span.
            self._tokens = (otel_context.attach(trace.set_span_in_context(call.span)), IN_CALL.set(True))
        except BudgetExceeded:
            raise
        except Exception:
            report_internal_error("starting a manual span")

    def _close(self, error: BaseException | None) -> None:
        call = self._call
        if call is None or call.ended:
            return
        tokens, self._tokens = self._tokens, None
        if tokens is not None:
            try:
                IN_CALL.reset(tokens[1])
                otel_context.detach(tokens[0])
            except Exception:  # closed in another context than it was opened in
                report_internal_error("closing a manual span")
        try:
            usage = self._usage()
            if usage is not None:
                call.usage = usage
        except Exception:
            report_internal_error("reading manual usage")
        # The provider answered (a chunk arrived, or the block ended normally): what it
        # did not report is estimated from the request's messages and the text seen.
        call.response_started = error is None or call.chunk_count > 0
        if error is not None:
            call.fail(error)
        else:
            call.end(outcome=self._outcome if self.stream else None)

    # -- what the caller records ------------------------------------------------------------

    def record_usage(
        self,
        raw: Mapping[str, Any] | Any = None,
        /,
        *,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
        cache_read_tokens: int | None = None,
        cache_write_tokens: int | None = None,
        reasoning_tokens: int | None = None,
        estimated: bool = False,
    ) -> None:
        """The call's token usage: the provider's raw usage mapping, explicit counts, or both.

        ``raw``: the usage object as the provider's JSON has it (or a whole response
        body holding it under ``usage`` / ``usageMetadata``), or an SDK model with
        ``model_dump()``. Several calls merge, later values winning.

        Explicit counts use the semconv arithmetic: ``input_tokens`` counts ALL input,
        cache reads and writes included; ``output_tokens`` counts reasoning too. They
        override what a raw mapping says. ``estimated=True`` marks counts you
        estimated yourself (``tokenomics.usage.source=estimated``).
        """
        try:
            if raw is not None:
                if not isinstance(raw, Mapping) and callable(getattr(raw, "model_dump", None)):
                    raw = raw.model_dump()
                if isinstance(raw, Mapping):
                    if self._raw is None:
                        self._raw = {}
                    _merge(self._raw, _usage_part(raw))
                else:
                    report_internal_error("reading manual usage: not a mapping")
            for name, value in (
                ("input_tokens", input_tokens),
                ("output_tokens", output_tokens),
                ("cache_read_tokens", cache_read_tokens),
                ("cache_write_tokens", cache_write_tokens),
                ("reasoning_tokens", reasoning_tokens),
            ):
                if value is not None:
                    self._explicit[name] = count(value)
            if estimated:
                self._estimated = True
        except Exception:
            report_internal_error("reading manual usage")

    def record_response(
        self,
        *,
        model: str | None = None,
        response_id: str | None = None,
        finish_reasons: Iterable[str] | None = None,
        text: str | None = None,
    ) -> None:
        """What the provider answered: the model that served the call (priced first), its id.

        ``text``: the answer's text, counted as the output if no usage is recorded.
        """
        call = self._call
        if call is None:
            return
        try:
            if isinstance(model, str) and model:
                call.response_model = model
            if isinstance(response_id, str) and response_id:
                call.response_id = response_id
            if isinstance(text, str):
                call.output_text = [*(call.output_text or ()), text]
            if finish_reasons is not None:
                for index, reason in enumerate(
                    [finish_reasons] if isinstance(finish_reasons, str) else finish_reasons
                ):
                    if isinstance(reason, str):
                        call.set_finish_reason(index, reason)
        except Exception:
            report_internal_error("reading a manual response")

    def chunk(self, output: bool | str = True) -> None:
        """One stream chunk received; ``output=False`` for bookkeeping chunks that carry no output.

        Pass the chunk's text instead of True and a stream that ends without usage is
        estimated from it (``tokenomics.usage.source=estimated``).
        """
        call = self._call
        if call is not None:
            call.on_chunk(output)

    def closed_early(self) -> None:
        """The stream was left before its end: the span says ``tokenomics.stream.outcome=closed_early``."""
        self._outcome = OUTCOME_CLOSED_EARLY

    def set_attribute(self, key: str, value: Any) -> None:
        """Any further attribute, set on the span when the call ends."""
        call = self._call
        if call is not None and isinstance(key, str):
            call.set_attribute(key, value)

    # -- the usage, resolved once at the end ---------------------------------------------------

    def _usage(self) -> Usage | None:
        usage: Usage | None = None
        raw = self._raw
        if raw:
            usage_format = self.usage_format or PROVIDER_FORMATS.get(self.provider) or _sniff(raw) or "openai"
            reader = _reader(usage_format)
            if reader is None:
                report_internal_error(f"reading manual usage: unknown usage format {usage_format!r}")
            else:
                usage = reader(Fields(raw))
        explicit = self._explicit
        if explicit:
            if usage is None:
                usage = Usage()
            for name in _EXPLICIT:
                if name in explicit:
                    setattr(usage, name, explicit[name])
        if usage is not None and self._estimated:
            usage.source = SOURCE_ESTIMATED
        return usage


def inference(
    provider: str,
    model: str | None = None,
    *,
    operation: str = "chat",
    stream: bool = False,
    server_address: str | None = None,
    server_port: int | None = None,
    request: Mapping[str, Any] | None = None,
    usage_format: str | None = None,
) -> ManualCall:
    """A context manager (sync or async) that records one LLM call like a patched SDK.

    ``provider``: the ``gen_ai.provider.name`` whose prices apply (``openai``,
    ``anthropic``, ``gcp.vertex_ai``, ...; a name we do not price gives
    ``tokenomics.cost.status=unpriced``). ``model``: the model requested.
    ``operation``: ``chat``, ``text_completion``, ``generate_content`` or
    ``embeddings``. ``request``: the request parameters in OpenAI's spelling
    (``temperature``, ``max_tokens``, ``top_p``, ``seed``, ``stop``, ...), recorded as
    ``gen_ai.request.*``; its ``messages`` (and ``tools``) are never recorded, only
    counted when the call ends without usage. ``usage_format``: how to read raw usage
    mappings, one of :data:`USAGE_FORMATS` (default: from the provider, else from
    the mapping's keys).
    """
    return ManualCall(
        provider if isinstance(provider, str) and provider else "unknown",
        model if isinstance(model, str) and model else None,
        operation if isinstance(operation, str) and operation else "chat",
        bool(stream),
        server_address if isinstance(server_address, str) and server_address else None,
        server_port if type(server_port) is int else None,
        request,
        usage_format,
    )
