"""Roll-ups: what the LLM calls beneath a span cost, written on that span.

:class:`RollupSpanProcessor` gives every span that has LLM calls beneath it, in the
same process, the ``tokenomics.rollup.*`` attributes: the cost of those calls in USD,
whether that cost is ``complete`` or ``partial``, how many calls there were and their
token counts. An LLM call is one of our inference or embeddings spans (it carries
``tokenomics.cost.status``); it keeps its own ``tokenomics.cost.*`` and gets no
roll-up.

How it works. A span's attributes can only be set while it is open (the SDK freezes
a span before any processor hears of its end), so the sums travel up as spans end:

* ``on_start`` keeps a small record per open span, linked to its parent's record
  when the parent is a local span of this process;
* when an LLM call ends, its amounts are added to the tally of its parent, and the
  parent's roll-up attributes are rewritten (one ``set_attributes`` call);
* when any other span ends, what its tally holds is added to its own parent the same
  way. So a call costs one update per level, each made when a level ends.

What is not rolled up, on purpose:

* A child that ends after its parent (a fire-and-forget task, a stream read after the
  handler returned): the parent has been exported and keeps the values it had; the
  child's amounts go to the nearest ancestor still open, if any.
* A child that starts after its parent ended (a task that runs after the handler that
  created it returned) is attached to its grandparent if that one is still open. If
  both had ended, or the parent was started before the processor was installed, the
  child is a root here.
* A span whose parent is remote (another process, an extracted ``traceparent``) is a
  root here: roll-ups never cross processes.
* Spans the sampler drops never reach a processor: their calls are not counted.

Memory: only open spans are tracked, and at most ``max_open_spans`` of them. Spans
that are never ended cannot grow that table without bound: past the cap the oldest
are dropped (treated as ended). A record is a tuple (the span, its parent's record),
dropped from the table when its span ends; a child still open keeps its ended
parent's record (and so that span object) alive until the child ends too, which is
how a late child finds the ancestors above an ended parent. Tallies exist only for
tracked spans that a call has reached.

The SDK has no way to remove a processor: :meth:`RollupSpanProcessor.set_enabled`
with False makes it inert (and forgets every open span) instead.
"""

from __future__ import annotations

import itertools
import logging
import math
import threading
import weakref
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.trace import StatusCode

from otel_tokenomics import semconv as sc
from otel_tokenomics.call import report_internal_error
from otel_tokenomics.spend import CURRENCY, Tally, counts_as_complete

logger = logging.getLogger("otel_tokenomics")

MAX_OPEN_SPANS = 100_000

_ENDED_SPAN_WARNING = "Setting attribute on ended span"
_writing = threading.local()


class _OwnLateWrites(logging.Filter):
    """Drops the SDK's ended-span warning when it comes from one of our writes.

    A parent may end on another thread between our check that it is open and our
    write: the SDK drops the write (the parent keeps what it had, and the amounts go
    on up, see ``_credit``), and its warning about it would only alarm the user.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not (getattr(_writing, "active", False) and str(record.msg).startswith(_ENDED_SPAN_WARNING))


def _silence_own_late_writes() -> None:
    sdk_logger = logging.getLogger("opentelemetry.sdk.trace")
    if not any(isinstance(f, _OwnLateWrites) for f in sdk_logger.filters):
        sdk_logger.addFilter(_OwnLateWrites())


# A record of one open span: (the span, its parent's record or None). A tuple, made in
# C for every span of the application; the chain of records is how a call that ends
# finds its ancestors, also those that ended before it.
_Record = tuple[Span, Any]


def _span_id(span: ReadableSpan) -> int:
    return span._context[1]  # type: ignore[no-any-return,attr-defined]


# on_start and on_end run for every span of the application: they read the attributes
# behind the SDK's context and parent properties directly (a property is a Python call).
# Every SDK release from 1.30 has them; a release without them gets no roll-ups.
_SDK_LAYOUT = all(hasattr(ReadableSpan("probe"), name) for name in ("_context", "_parent"))


class RollupSpanProcessor(SpanProcessor):
    """Writes ``tokenomics.rollup.*`` on every span with LLM calls beneath it (see the module doc)."""

    def __init__(self, max_open_spans: int = MAX_OPEN_SPANS) -> None:
        # span_id -> record, for open spans.
        self._records: dict[int, _Record] = {}
        # span_id -> what the calls beneath an open span add up to so far; only spans
        # that a call has reached have one.
        self._tallies: dict[int, Tally] = {}
        # span_id -> the roll-up attributes last written on that span: a rewrite sends
        # only what changed (the SDK validates each attribute it is given).
        self._written: dict[int, dict[str, Any]] = {}
        # Public: may be changed at any time; checked on every span start.
        self.max_open_spans = max(1, max_open_spans)
        # Makes "is the span still open? then add to its tally" one step against "the
        # span ended: take its tally", or a span ending meanwhile would lose an amount.
        self._lock = threading.Lock()
        self._evicting = threading.Lock()
        self._overflow_logged = False
        self._enabled = _SDK_LAYOUT
        if not _SDK_LAYOUT:
            logger.warning("otel-tokenomics roll-ups are off: this opentelemetry-sdk lays spans out anew")
        _silence_own_late_writes()

    @property
    def enabled(self) -> bool:
        return self._enabled

    @property
    def open_spans(self) -> int:
        """How many open spans are tracked now."""
        return len(self._records)

    def set_enabled(self, enabled: bool) -> None:
        """Turn roll-ups on or off; off also forgets every open span."""
        try:
            self._enabled = bool(enabled) and _SDK_LAYOUT
            if not enabled:
                with self._lock:
                    self._records.clear()
                    self._tallies.clear()
                    self._written.clear()
        except Exception:
            report_internal_error("switching span roll-ups")

    # -- SpanProcessor ------------------------------------------------------------------

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        # Runs for every span of the application: a lookup, a tuple, an insert.
        if not self._enabled:
            return
        try:
            records = self._records
            parent = span._parent
            parent_record = None
            if parent is not None and not parent.is_remote:
                parent_record = records.get(parent.span_id)
                if parent_record is None:
                    parent_record = self._grandparent(parent_context)
            records[span._context[1]] = (span, parent_record)
            if len(records) > self.max_open_spans:
                self._evict()
        except Exception:
            report_internal_error("starting a span roll-up")

    def on_end(self, span: ReadableSpan) -> None:
        if not self._enabled:
            return
        try:
            span_id = span._context[1]
            record = self._records.pop(span_id, None)
            # A tally only exists once a call reached the span; most spans have none.
            amounts = self._take(span_id) if self._tallies else None
            if record is None or record[1] is None:
                # Started while we were off, dropped past the cap, or a root here (most
                # LLM calls of an app without spans around them): nothing above it.
                return
            attributes = span.attributes
            status = attributes.get(sc.TOKENOMICS_COST_STATUS)
            if status is not None:
                call = _call_amounts(attributes, status, span.status.status_code is StatusCode.ERROR)
                if amounts is None:
                    amounts = call
                else:  # an LLM span with calls of its own beneath: both go up
                    amounts.add_tally(call)
            if amounts is not None:
                self._credit(record[1], amounts)
        except Exception:
            report_internal_error("ending a span roll-up")

    def shutdown(self) -> None:
        self.set_enabled(False)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        # Nothing is buffered: every update is written onto its span at once.
        return True

    # -- internals ----------------------------------------------------------------------

    def _grandparent(self, parent_context: Context | None) -> _Record | None:
        """For a span whose local parent is not tracked: the parent's parent, if it is.

        The usual case is a task that starts its calls after the span that spawned it
        ended. The ended parent is still in the context the span was started in, and
        tells who its own parent was; one level only, as an ended span's record is gone.
        """
        parent_span = trace.get_current_span(parent_context)
        grandparent = getattr(parent_span, "parent", None)
        if grandparent is None or grandparent.is_remote:
            return None
        return self._records.get(grandparent.span_id)

    def _take(self, span_id: int) -> Tally | None:
        """The tally of a span that ended, removed; None if no call reached it."""
        with self._lock:
            self._written.pop(span_id, None)
            return self._tallies.pop(span_id, None)

    def _credit(self, record: _Record | None, amounts: Tally) -> None:
        """Add ``amounts`` to the nearest open span from ``record`` up, and rewrite its roll-up."""
        while record is not None:
            span = record[0]
            span_id = _span_id(span)
            with self._lock:
                # Tracked and open; a span dropped past the cap counts as ended, so that
                # tallies never outnumber the records.
                if span_id in self._records and span.is_recording():
                    tally = self._tallies.get(span_id)
                    if tally is None:
                        tally = self._tallies[span_id] = Tally()
                    tally.add_tally(amounts)
                    # Written under the lock so that two children ending at once cannot
                    # leave the older of their two sums on the span.
                    attributes = tally.rollup_attributes()
                    written = self._written.get(span_id)
                    self._written[span_id] = attributes
                    if written is not None:
                        attributes = {k: v for k, v in attributes.items() if written.get(k) != v}
                    _write(span, attributes)
                    if span.is_recording():
                        return
                    # It ended meanwhile, and its end may have found no tally to take
                    # (it looks only when some tally exists): take it here and go on up.
                    self._written.pop(span_id, None)
                    taken = self._tallies.pop(span_id, None)
                    if taken is None:
                        return  # its end took it, with these amounts: they go up from there
                    amounts = taken
            # Ended: its amounts have gone, or will go, up from it; so do these.
            record = record[1]

    def _evict(self) -> None:
        """Past the cap: drop the oldest sixteenth of the open spans at once, as if they ended.

        In batches because finding the oldest entry of a dict scans from its start.
        """
        if not self._evicting.acquire(blocking=False):
            return
        try:
            if not self._overflow_logged:
                self._overflow_logged = True
                logger.debug(
                    "otel-tokenomics roll-ups: more than %d spans open; dropping the oldest",
                    self.max_open_spans,
                )
            records = self._records
            try:
                oldest = list(itertools.islice(records, max(1, self.max_open_spans // 16)))
            except RuntimeError:  # changed by another thread meanwhile: next time
                return
            for span_id in oldest:
                record = records.pop(span_id, None)
                amounts = self._take(span_id)
                if record is not None and amounts is not None:
                    self._credit(record[1], amounts)
        finally:
            self._evicting.release()


def _write(span: Span, attributes: Mapping[str, Any]) -> None:
    _writing.active = True
    try:
        span.set_attributes(attributes)
    finally:
        _writing.active = False


def _call_amounts(attributes: Mapping[str, Any], status: str, failed: bool) -> Tally:
    """One LLM call's span attributes as a tally of one call; never raises."""
    currency = attributes.get(sc.TOKENOMICS_COST_CURRENCY)
    total = attributes.get(sc.TOKENOMICS_COST_TOTAL)
    cost = None
    # repr gives the shortest decimal that round-trips: the amount the span shows, so
    # a sum of many calls is exact to its last digit. Other currencies are not added.
    if isinstance(total, (int, float)) and math.isfinite(total) and currency in (None, CURRENCY):
        cost = Decimal(repr(float(total)))
    call = Tally()
    call.add(
        cost,
        counts_as_complete(status, failed, currency),
        _tokens(attributes, sc.GEN_AI_USAGE_INPUT_TOKENS),
        _tokens(attributes, sc.GEN_AI_USAGE_OUTPUT_TOKENS),
        _tokens(attributes, sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS),
        _tokens(attributes, sc.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS),
        _tokens(attributes, sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS),
    )
    return call


def _tokens(attributes: Mapping[str, Any], key: str) -> int:
    # Missing is 0; anything but an int (a span someone else wrote) must not break a sum.
    value = attributes.get(key)
    return value if type(value) is int else 0


# provider -> its processor, so that installing twice adds one processor.
_installed: weakref.WeakKeyDictionary[Any, RollupSpanProcessor] = weakref.WeakKeyDictionary()
_install_lock = threading.Lock()


def install(tracer_provider: Any = None) -> RollupSpanProcessor | None:
    """Add roll-ups to an SDK ``TracerProvider`` (the global one by default), once.

    Returns the provider's processor (the one already there on a second call, switched
    back on if it was off), or None when the provider is not the SDK's (a proxy, a
    no-op, another implementation): roll-ups need the SDK's span processors.
    """
    try:
        provider = tracer_provider if tracer_provider is not None else trace.get_tracer_provider()
        if not isinstance(provider, TracerProvider):
            return None
        with _install_lock:
            processor = _installed.get(provider)
            if processor is None:
                processor = RollupSpanProcessor()
                provider.add_span_processor(processor)
                _installed[provider] = processor
            else:
                processor.set_enabled(True)
            return processor
    except Exception:
        report_internal_error("installing span roll-ups")
        return None


def disable_all() -> None:
    """Make every processor that install() added inert (uninstrument()); install() turns it on again."""
    with _install_lock:
        processors = list(_installed.values())
    for processor in processors:
        processor.set_enabled(False)
