"""Following a stream the SDK returned, without changing what the user holds.

The stream object's class is swapped for a subclass of its own class (made once
per class), so ``isinstance`` holds, helpers that wrap the stream keep working,
and every attribute and method of the SDK's stream stays in place. The subclass
only observes: each chunk is handed to the call, and the call ends exactly once:

* the stream is iterated to its end            -> ``completed``
* ``close()`` / ``with`` exit / ``break``       -> ``closed_early``
* an exception out of the stream               -> ``failed`` (span status ERROR)
* the stream is garbage-collected unfinished   -> ``abandoned`` (``InferenceCall.__del__``)

Works for any SDK stream class that iterates with ``__iter__``/``__next__`` (or
``__aiter__``/``__anext__``) and closes with ``close()`` (sync or async).
"""

from __future__ import annotations

import inspect
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace

from otel_tokenomics.call import (
    HIDE,
    IN_CALL,
    OUTCOME_CLOSED_EARLY,
    OUTCOME_COMPLETED,
    InferenceCall,
    report_internal_error,
)

CALL_ATTRIBUTE = "_tokenomics_call"

_subclasses: dict[type, type] = {}
_lock = threading.Lock()


def follow_stream(stream: Any, call: InferenceCall) -> bool:
    """Make ``stream`` report to ``call``; False (and nothing changed) if it cannot."""
    try:
        cls = type(stream)
        traced = _subclasses.get(cls)
        if traced is None:
            traced = _make_subclass(cls)
        stream.__dict__[CALL_ATTRIBUTE] = call
        stream.__class__ = traced
        # An SDK stream object exists once the provider answered: the request was taken.
        call.response_started = True
        call.may_be_abandoned()
        return True
    except Exception:
        report_internal_error("following a stream")
        return False


_END = object()
_perf_counter = time.perf_counter


def _output(call: InferenceCall, chunk: Any) -> bool:
    """The chunk reader of a route without one: every chunk is output."""
    return True


def observe(call: InferenceCall, source: Iterator[Any], request_in_first_next: bool = False) -> Iterator[Any]:
    """Yield what ``source`` yields, reporting each item to ``call``; end it exactly once.

    The one loop behind every stream we follow: an SDK stream's ``__iter__`` and a
    generator an SDK returns (:func:`otel_tokenomics.wrapping.follow_iterator`).
    With ``request_in_first_next`` the first ``next()`` runs with the call's span
    current and the call marked open: a generator function sends its request then.
    """
    on_chunk = call.on_chunk
    try:
        if request_in_first_next:
            token = otel_context.attach(trace.set_span_in_context(call.span))
            in_call = IN_CALL.set(True)
            try:
                first = next(source, _END)
            finally:
                IN_CALL.reset(in_call)
                otel_context.detach(token)
            if first is _END:
                call.end_stream(OUTCOME_COMPLETED)
                return
            if on_chunk(first):
                yield first
        # The loop every chunk of a `for` loop goes through: InferenceCall.on_chunk,
        # inlined (a Python call per chunk is a tenth of our per-chunk budget).
        read_chunk = call.route.read_chunk or _output
        for item in source:
            try:
                output = read_chunk(call, item)
            except Exception:
                output = call.chunk_not_read(item)
            if output:
                if output is HIDE:
                    continue
                now = _perf_counter()
                count = call.output_chunk_count
                if not count:
                    call.first_chunk_at = now
                call.output_chunk_count = count + 1
                call.last_chunk_at = now
            else:
                call.quiet_chunk_count += 1
            yield item
    except GeneratorExit:
        call.end_stream(OUTCOME_CLOSED_EARLY)
        raise
    except BaseException as error:
        call.fail(error)
        raise
    call.end_stream(OUTCOME_COMPLETED)


async def observe_async(
    call: InferenceCall, source: AsyncIterator[Any], request_in_first_next: bool = False
) -> AsyncIterator[Any]:
    """:func:`observe` for an async iterator.

    On close the source is not awaited: a generator collected outside its event
    loop may not await while closing. Dropped with this frame, it is closed by the
    loop's async-generator finalizer.
    """
    on_chunk = call.on_chunk
    try:
        if request_in_first_next:
            token = otel_context.attach(trace.set_span_in_context(call.span))
            in_call = IN_CALL.set(True)
            try:
                first = await anext(source, _END)
            finally:
                IN_CALL.reset(in_call)
                otel_context.detach(token)
            if first is _END:
                call.end_stream(OUTCOME_COMPLETED)
                return
            if on_chunk(first):
                yield first
        async for item in source:
            if on_chunk(item):
                yield item
    except GeneratorExit:
        call.end_stream(OUTCOME_CLOSED_EARLY)
        raise
    except BaseException as error:
        call.fail(error)
        raise
    call.end_stream(OUTCOME_COMPLETED)


# The subclasses we made, so a stream followed twice is not subclassed twice.
_traced_classes: set[type] = set()


def observing_subclass(cls: type, overrides: dict[str, Any]) -> type:
    """A subclass of an SDK class that looks like it (name, module, doc) and
    overrides only ``overrides``: objects whose class is swapped to it still are,
    for every check and every repr, what the SDK made."""
    namespace = {"__module__": cls.__module__, "__qualname__": cls.__qualname__, "__doc__": cls.__doc__}
    namespace.update(overrides)
    return type(cls.__name__, (cls,), namespace)


def _make_subclass(cls: type) -> type:
    with _lock:
        traced = _subclasses.get(cls)
        if traced is not None:
            return traced
        if cls in _traced_classes:
            return cls
        namespace = _async_namespace(cls) if hasattr(cls, "__anext__") else _sync_namespace(cls)
        traced = observing_subclass(cls, namespace)
        _subclasses[cls] = traced
        _traced_classes.add(traced)
        return traced


def _sync_namespace(cls: type) -> dict[str, Any]:
    # Some streams are iterables, not iterators (botocore's EventStream has only
    # __iter__); they get no __next__ of ours either.
    base_next = getattr(cls, "__next__", None)
    base_iter = cls.__iter__  # type: ignore[attr-defined]

    def __next__(self: Any) -> Any:
        call: InferenceCall = self.__dict__[CALL_ATTRIBUTE]
        while True:
            try:
                item = base_next(self)  # type: ignore[misc]
            except StopIteration:
                call.end_stream(OUTCOME_COMPLETED)
                raise
            except BaseException as error:
                call.fail(error)
                raise
            if call.on_chunk(item):  # else a chunk of ours (the injected usage): read the next
                return item

    def __iter__(self: Any) -> Iterator[Any]:
        source = base_iter(self)
        if source is self:
            # An iterator of its own (mistralai's EventStream): looping over it would
            # come back here. Loop over its own __next__ instead, so that leaving the
            # loop early still ends the call as closed_early.
            source = _items(self, base_next)
        return observe(self.__dict__[CALL_ATTRIBUTE], source)

    namespace: dict[str, Any] = {"__iter__": __iter__}
    if base_next is not None:
        namespace["__next__"] = __next__
    # close() and the with-block exit both end the call; some streams (mistralai
    # 2.x) close in __exit__ without a close() method.
    for name in ("close", "__exit__"):
        base = getattr(cls, name, None)
        if base is not None:
            namespace[name] = _closing(base)
    return namespace


def _items(stream: Any, base_next: Any) -> Iterator[Any]:
    while True:
        try:
            item = base_next(stream)
        except StopIteration:
            return
        yield item


async def _async_items(stream: Any, base_anext: Any) -> AsyncIterator[Any]:
    while True:
        try:
            item = await base_anext(stream)
        except StopAsyncIteration:
            return
        yield item


def _closing(base: Any) -> Any:
    def close(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return base(self, *args, **kwargs)
        finally:
            # A stream read to its end has ended as completed already: nothing changes then.
            self.__dict__[CALL_ATTRIBUTE].end_stream(OUTCOME_CLOSED_EARLY)

    return close


def _async_closing(base: Any) -> Any:
    async def close(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return await base(self, *args, **kwargs)
        finally:
            self.__dict__[CALL_ATTRIBUTE].end_stream(OUTCOME_CLOSED_EARLY)

    return close


def _async_namespace(cls: type) -> dict[str, Any]:
    base_anext = cls.__anext__  # type: ignore[attr-defined]
    base_aiter = cls.__aiter__  # type: ignore[attr-defined]

    async def __anext__(self: Any) -> Any:
        call: InferenceCall = self.__dict__[CALL_ATTRIBUTE]
        while True:
            try:
                item = await base_anext(self)
            except StopAsyncIteration:
                call.end_stream(OUTCOME_COMPLETED)
                raise
            except BaseException as error:
                call.fail(error)
                raise
            if call.on_chunk(item):
                return item

    def __aiter__(self: Any) -> AsyncIterator[Any]:
        source = base_aiter(self)
        if source is self:  # see __iter__ of the sync namespace
            source = _async_items(self, base_anext)
        return observe_async(self.__dict__[CALL_ATTRIBUTE], source)

    namespace: dict[str, Any] = {"__anext__": __anext__, "__aiter__": __aiter__}
    for name in ("close", "__aexit__"):
        base = getattr(cls, name, None)
        if base is not None:
            namespace[name] = _async_closing(base) if inspect.iscoroutinefunction(base) else _closing(base)
    return namespace
