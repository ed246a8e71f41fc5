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

import functools
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

from opentelemetry import context as otel_context
from opentelemetry import trace

from otel_tokenomics.budgets import BudgetExceeded
from otel_tokenomics.call import IN_CALL, InferenceCall, Route, report_internal_error
from otel_tokenomics.endpoints import default_port, provider_from_map
from otel_tokenomics.streams import observe, observe_async
from otel_tokenomics.telemetry import Telemetry

# The two keys opentelemetry-instrumentation's is_instrumentation_enabled() reads, read here
# from one context lookup. Importing that module would load the propagators (entry points,
# compiled patterns) at instrument() time for one string; tests/test_suppression_keys.py
# checks that the key and the string are still the ones it reads.
SUPPRESS_KEY_PLAIN = "suppress_instrumentation"
try:
    from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY

    def enabled_context() -> Any:
        """The current context, or None while instrumentation is suppressed in it."""
        current = otel_context.get_current()
        if current.get(_SUPPRESS_INSTRUMENTATION_KEY) or current.get(SUPPRESS_KEY_PLAIN):
            return None
        return current

except ImportError:  # pragma: no cover - an opentelemetry-api that moved the key

    def enabled_context() -> Any:
        from opentelemetry.instrumentation.utils import is_instrumentation_enabled

        return otel_context.get_current() if is_instrumentation_enabled() else None


_attach = otel_context.attach
_detach = otel_context.detach
_set_span_in_context = trace.set_span_in_context

# What an adapter does with the SDK's return value: read it into the call (and end
# the call, or hand it a stream) and return what the user gets, usually the same object.
Adopt = Callable[[InferenceCall, Any], Any]


def may_trace() -> bool:
    """Whether a call starting now may open an inference span (cheap; check it first)."""
    return not IN_CALL.get() and enabled_context() is not None


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
    except BudgetExceeded:
        raise
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


# -- the patchers of SDKs that are not Stainless ---------------------------------------------

# What opens a call for one SDK method: (instance, positional args, keyword args) -> the
# call, or None when this one is not ours to trace.
Start = Callable[[Any, tuple[Any, ...], dict[str, Any]], "InferenceCall | None"]
Endpoint = tuple[str, "str | None", "int | None"]


class MethodPatcher:
    """What every patcher of SDK methods keeps: its replacements, and the endpoints seen.

    Subclasses implement ``patch()`` with :meth:`replace` and :meth:`traced`;
    ``unpatch()`` is the same for all of them.
    """

    def __init__(self, telemetry: Telemetry) -> None:
        self.telemetry = telemetry
        # False after unpatch(): a replacement that another library has wrapped again
        # since cannot be taken out from under it, so it passes straight through.
        self.active = False
        self._replaced: list[tuple[Any, str, Any, Any]] = []
        self._endpoints: dict[Any, Endpoint] = {}

    def replace(self, owner: Any, name: str, replacement: Any) -> None:
        """Put ``replacement`` on ``owner`` (a class or module) in place of what it has."""
        original = owner.__dict__[name]
        setattr(owner, name, replacement)
        self._replaced.append((owner, name, original, replacement))

    def unpatch(self) -> None:
        self.active = False
        for owner, name, original, replacement in reversed(self._replaced):
            if owner.__dict__.get(name) is replacement:
                setattr(owner, name, original)
        self._replaced.clear()

    def endpoint(self, url: Any, default: str) -> Endpoint:
        """``(gen_ai.provider.name, server.address, server.port)`` of a base URL, cached.

        ``default`` is the provider of the API the SDK speaks: whatever the host (a
        proxy, a gateway, a private deployment), the call is that provider's, unless
        the user's provider map names the host.
        """
        key = (url, default)
        found = self._endpoints.get(key)
        if found is None:
            if len(self._endpoints) > 256:
                self._endpoints.clear()
            found = self._endpoints[key] = endpoint_of_url(url, self.telemetry.options.provider_map, default)
        return found

    def traced(self, original: Any, start: Start, adopt: Adopt = finish) -> Any:
        """The replacement of an SDK method (a plain or a coroutine function) that runs it as a call.

        A plain function rather than a wrapt wrapper: a bound function wrapper costs
        more than all of our own per-call bookkeeping together.
        """
        if inspect.iscoroutinefunction(inspect.unwrap(original)):

            @functools.wraps(original)
            async def traced_async(instance: Any, *args: Any, **kwargs: Any) -> Any:
                if not self.active or not may_trace():
                    return await original(instance, *args, **kwargs)
                call = start(instance, args, kwargs)
                if call is None:
                    return await original(instance, *args, **kwargs)
                return await run_async(call, original, (instance, *args), kwargs, adopt)

            return traced_async

        @functools.wraps(original)
        def traced_sync(instance: Any, *args: Any, **kwargs: Any) -> Any:
            if not self.active or not may_trace():
                return original(instance, *args, **kwargs)
            call = start(instance, args, kwargs)
            if call is None:
                return original(instance, *args, **kwargs)
            return run(call, original, (instance, *args), kwargs, adopt)

        return traced_sync


def endpoint_of_url(url: Any, overrides: Mapping[str, str], default: str) -> Endpoint:
    """``(provider, host, port)`` of a URL string; ``(default, None, None)`` without a host.

    Only the user's map renames the provider: the built-in table of hosts is for
    OpenAI-compatible clients, whose protocol says nothing of who serves it.
    """
    if not isinstance(url, str) or not url:
        return default, None, None
    parts = urlsplit(url)
    host = parts.hostname
    if not host:
        return default, None, None
    port = parts.port if parts.port is not None else default_port(parts.scheme)
    return provider_from_map(host, parts.port, overrides) or default, host, port
