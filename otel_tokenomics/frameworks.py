"""Agent frameworks that open their own inference span around the SDK call we trace.

pydantic-ai's instrumentation (``InstrumentationSettings``, ``Agent.instrument_all()``,
``logfire.instrument_pydantic_ai()``) opens a ``chat <model>`` CLIENT span around each
model request and sets ``gen_ai.usage.*`` on it. A span of ours for the SDK call inside
would be a second inference span for the same tokens, and a backend summing
``gen_ai.usage.*`` over spans would count them twice. So a call that starts while
such a span is current *borrows* it: the call's attributes (request, response, usage,
cost) go onto the framework's span, no span of ours exists, and the framework ends its
own span. The call's metrics are recorded as usual.

A framework is one entry of :data:`FRAMEWORK_SPANS`: the instrumentation scope name of
its tracer, and the ``gen_ai.operation.name`` values of the spans it opens around one
model call. A span is borrowed only by a call of the same operation.

The rules, and why:

* A framework span is borrowed by one call at most; a later call under it opens its
  own span, a child of it (the framework span describes the first call).
* The call writes onto the framework span when it ends, not before, and only if it
  succeeded. A failed call writes nothing and frees the span for the next call:
  pydantic-ai's ``FallbackModel`` retries another model under the same ``chat`` span,
  which keeps the outcome of the model that answered; the framework records failed
  attempts and escaping errors on its own spans, and our metrics record the failure.
* The framework reads the SDK's answer after our call has ended, so where both set the
  same key (``gen_ai.usage.input_tokens``, ``gen_ai.response.finish_reasons``, ...),
  the framework's value is the one exported.
* If the framework ends its span before our call ends (a stream read after the
  framework let go of it), our attributes are dropped; the metrics are not.

LangChain opens no spans of its own: the SDK call's span nests under whatever span is
current, the app's or that of a callback handler that makes its run span current.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanContext, Status, StatusCode

from otel_tokenomics import semconv as sc
from otel_tokenomics.call import report_internal_error

# instrumentation scope name -> gen_ai.operation.name of the spans it opens around one model call
FRAMEWORK_SPANS: dict[str, frozenset[str]] = {
    # pydantic_ai.models.instrumented.InstrumentationSettings; logfire uses the same settings.
    "pydantic-ai": frozenset({"chat", "embeddings"}),
}

# framework span -> the call that borrowed it; weak, as the framework owns its spans.
_borrowed: weakref.WeakKeyDictionary[Any, BorrowedSpan] = weakref.WeakKeyDictionary()

try:  # the span of a context without get_current_span()'s isinstance check against an ABC
    from opentelemetry.trace.propagation import _SPAN_KEY

    def _span_of(context: Any) -> Any:
        return context.get(_SPAN_KEY)

except ImportError:  # pragma: no cover - another opentelemetry-api layout
    _span_of = trace.get_current_span


def borrow(operation: str, context: Any = None) -> BorrowedSpan | None:
    """The span current in ``context`` (default: the current context) as a :class:`BorrowedSpan`,
    if a framework opened it for this call.

    Cheap when it is not: the non-recording spans of the API (no span current, or a
    span not sampled) have no instrumentation scope, and an app span's scope is not in
    the table.
    """
    host = _span_of(otel_context.get_current() if context is None else context)
    if host is None:  # no span current: most calls of an app without tracing around them
        return None
    scope = getattr(host, "instrumentation_scope", None)
    if scope is None:
        return None
    operations = FRAMEWORK_SPANS.get(scope.name)
    if operations is None or operation not in operations:
        return None
    try:
        return _borrow(host, operation)
    except Exception:
        report_internal_error("borrowing a framework's span")
        return None


def _borrow(host: Any, operation: str) -> BorrowedSpan | None:
    if not host.is_recording():  # ended (or never recorded): ours will be a span of its own
        return None
    attributes = getattr(host, "attributes", None)
    if attributes is None or attributes.get(sc.GEN_AI_OPERATION_NAME) != operation or host in _borrowed:
        return None
    borrowed = BorrowedSpan(host)
    # setdefault is one dict operation: two calls racing for one span cannot both win.
    if _borrowed.setdefault(host, borrowed) is not borrowed:
        return None
    return borrowed


class BorrowedSpan(trace.Span):
    """A framework's span, seen by one call of ours as its own.

    Attributes are kept until :meth:`end` and then written onto the framework's span
    if the call succeeded; :meth:`end` never ends the framework's span.
    """

    __slots__ = ("_attributes", "_ended", "_failed", "_host")

    def __init__(self, host: Any) -> None:
        self._host = host
        self._attributes: dict[str, Any] = {}
        self._failed = False
        self._ended = False

    def get_span_context(self) -> SpanContext:
        return self._host.get_span_context()  # type: ignore[no-any-return]

    def is_recording(self) -> bool:
        return not self._ended and self._host.is_recording()  # type: ignore[no-any-return]

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        if not self._ended:
            self._attributes.update(attributes)

    def set_attribute(self, key: str, value: Any) -> None:
        if not self._ended:
            self._attributes[key] = value

    def set_status(self, status: Status | StatusCode, description: str | None = None) -> None:
        code = status.status_code if isinstance(status, Status) else status
        if code is StatusCode.ERROR:
            self._failed = True

    def add_event(self, name: str, attributes: Any = None, timestamp: int | None = None) -> None:
        self._host.add_event(name, attributes, timestamp)

    def record_exception(
        self,
        exception: BaseException,
        attributes: Any = None,
        timestamp: int | None = None,
        escaped: bool = False,
    ) -> None:
        # Exception messages can quote the request back: we record none, and the framework
        # records the errors that reach it under its own content policy.
        pass

    def update_name(self, name: str) -> None:
        pass  # the framework names its own span

    def end(self, end_time: int | None = None) -> None:
        if self._ended:
            return
        self._ended = True
        host = self._host
        if self._failed:
            if _borrowed.get(host) is self:
                del _borrowed[host]
            return
        if self._attributes and host.is_recording():
            host.set_attributes(self._attributes)
        self._attributes = {}
