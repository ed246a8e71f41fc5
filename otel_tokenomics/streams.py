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
from collections.abc import AsyncIterator, Iterator
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace

from otel_tokenomics.call import (
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
        call.may_be_abandoned()
        return True
    except Exception:
        report_internal_error("following a stream")
        return False


_END = object()


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
            on_chunk(first)
            yield first
        for item in source:
            on_chunk(item)
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
            on_chunk(first)
            yield first
        async for item in source:
            on_chunk(item)
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
    base_close = getattr(cls, "close", None)

    def __next__(self: Any) -> Any:
        call: InferenceCall = self.__dict__[CALL_ATTRIBUTE]
        try:
            item = base_next(self)  # type: ignore[misc]
        except StopIteration:
            call.end_stream(OUTCOME_COMPLETED)
            raise
        except BaseException as error:
            call.fail(error)
            raise
        call.on_chunk(item)
        return item

    def __iter__(self: Any) -> Iterator[Any]:
        return observe(self.__dict__[CALL_ATTRIBUTE], base_iter(self))

    namespace: dict[str, Any] = {"__iter__": __iter__}
    if base_next is not None:
        namespace["__next__"] = __next__
    if base_close is not None:

        def close(self: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return base_close(self, *args, **kwargs)
            finally:
                self.__dict__[CALL_ATTRIBUTE].end_stream(OUTCOME_CLOSED_EARLY)

        namespace["close"] = close
    return namespace


def _async_namespace(cls: type) -> dict[str, Any]:
    base_anext = cls.__anext__  # type: ignore[attr-defined]
    base_aiter = cls.__aiter__  # type: ignore[attr-defined]
    base_close = getattr(cls, "close", None)

    async def __anext__(self: Any) -> Any:
        call: InferenceCall = self.__dict__[CALL_ATTRIBUTE]
        try:
            item = await base_anext(self)
        except StopAsyncIteration:
            call.end_stream(OUTCOME_COMPLETED)
            raise
        except BaseException as error:
            call.fail(error)
            raise
        call.on_chunk(item)
        return item

    def __aiter__(self: Any) -> AsyncIterator[Any]:
        return observe_async(self.__dict__[CALL_ATTRIBUTE], base_aiter(self))

    namespace: dict[str, Any] = {"__anext__": __anext__, "__aiter__": __aiter__}
    if base_close is not None:
        if inspect.iscoroutinefunction(base_close):

            async def aclose(self: Any, *args: Any, **kwargs: Any) -> Any:
                try:
                    return await base_close(self, *args, **kwargs)
                finally:
                    self.__dict__[CALL_ATTRIBUTE].end_stream(OUTCOME_CLOSED_EARLY)

            namespace["close"] = aclose
        else:

            def close(self: Any, *args: Any, **kwargs: Any) -> Any:
                try:
                    return base_close(self, *args, **kwargs)
                finally:
                    self.__dict__[CALL_ATTRIBUTE].end_stream(OUTCOME_CLOSED_EARLY)

            namespace["close"] = close
    return namespace
