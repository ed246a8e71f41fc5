"""Tracing one SDK function call: the shared path of every adapter that is not Stainless.

Stainless SDKs (openai, anthropic, groq) go through :mod:`otel_tokenomics.stainless`;
the others (google-genai, boto3 Bedrock, ...) wrap their own functions and use the
pieces here, so the rules of the call path live once:

* a call nested in another call of ours, or made while instrumentation is
  suppressed, opens no span (:func:`start_call` returns None);
* the SDK runs with our span current and :data:`~otel_tokenomics.call.IN_CALL` set;
* an exception of the SDK ends the call as failed and is re-raised untouched;
* nothing of ours ever raises into the caller.

Streams that are Python generators cannot have their class swapped like the SDK
stream objects of :mod:`otel_tokenomics.streams`, so :func:`follow_iterator` and
:func:`follow_async_iterator` wrap them in a generator of ours instead.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.instrumentation.utils import is_instrumentation_enabled

from otel_tokenomics.call import IN_CALL, InferenceCall, Route, report_internal_error
from otel_tokenomics.streams import observe, observe_async
from otel_tokenomics.telemetry import Telemetry

try:  # the keys is_instrumentation_enabled() reads, read from one context lookup
    from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY
    from opentelemetry.instrumentation.utils import _SUPPRESS_INSTRUMENTATION_KEY_PLAIN

    def instrumentation_enabled() -> bool:
        current = otel_context.get_current()
        return not (
            current.get(_SUPPRESS_INSTRUMENTATION_KEY) or current.get(_SUPPRESS_INSTRUMENTATION_KEY_PLAIN)
        )

except ImportError:  # pragma: no cover - older or newer opentelemetry-instrumentation
    instrumentation_enabled = is_instrumentation_enabled

_attach = otel_context.attach
_detach = otel_context.detach
_set_span_in_context = trace.set_span_in_context

# What an adapter does with the SDK's return value: read it into the call (and end
# the call, or hand it a stream) and return what the user gets, usually the same object.
Adopt = Callable[[InferenceCall, Any], Any]


def may_trace() -> bool:
    """Whether a call starting now may open an inference span (cheap; check it first)."""
    return not IN_CALL.get() and instrumentation_enabled()


def start_call(
    telemetry: Telemetry,
    route: Route,
    provider: str,
    request_model: str | None,
    server_address: str | None,
    server_port: int | None,
    stream: bool,
    body: Mapping[str, Any],
) -> InferenceCall | None:
    """Open the call's span, or None when it is not ours to trace or opening failed."""
    if not may_trace():
        return None
    try:
        return telemetry.start_call(route, provider, request_model, server_address, server_port, stream, body)
    except Exception:
        report_internal_error("starting a span")
        return None


def finish(call: InferenceCall, result: Any) -> Any:
    """The default :data:`Adopt`: a complete response, read now."""
    call.finish(result)
    return result


def _adopt(call: InferenceCall, result: Any, adopt: Adopt) -> Any:
    try:
        return adopt(call, result)
    except Exception:
        report_internal_error("reading a response")
        call.end()
        return result


def run(
    call: InferenceCall, function: Callable[..., Any], args: Any, kwargs: Any, adopt: Adopt = finish
) -> Any:
    """Run the SDK's ``function`` as ``call``: span current, failures recorded, result adopted."""
    token = _attach(_set_span_in_context(call.span))
    in_call = IN_CALL.set(True)
    try:
        result = function(*args, **kwargs)
    except BaseException as error:
        call.fail(error)
        raise
    finally:
        IN_CALL.reset(in_call)
        _detach(token)
    return _adopt(call, result, adopt)


async def run_async(
    call: InferenceCall,
    function: Callable[..., Awaitable[Any]],
    args: Any,
    kwargs: Any,
    adopt: Adopt = finish,
) -> Any:
    """:func:`run` for a coroutine function."""
    token = _attach(_set_span_in_context(call.span))
    in_call = IN_CALL.set(True)
    try:
        result = await function(*args, **kwargs)
    except BaseException as error:
        call.fail(error)
        raise
    finally:
        IN_CALL.reset(in_call)
        _detach(token)
    return _adopt(call, result, adopt)


def follow_iterator(call: InferenceCall, source: Iterator[Any]) -> Iterator[Any]:
    """A generator that yields what ``source`` yields, reporting each item to ``call``.

    The first ``next()`` runs with the call's span current: for a generator
    function, that is when the SDK sends the request. The call ends exactly once:
    exhausted, closed (``close()``, ``break``, collected while suspended), or failed.
    """
    call.may_be_abandoned()
    return observe(call, source, request_in_first_next=True)


def follow_async_iterator(call: InferenceCall, source: AsyncIterator[Any]) -> AsyncIterator[Any]:
    """:func:`follow_iterator` for an async iterator."""
    call.may_be_abandoned()
    return observe_async(call, source, request_in_first_next=True)
