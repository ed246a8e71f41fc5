"""Switching one SDK's adapter on and off: the state ``instrument()`` and the instrumentors share.

``otel_tokenomics.instrument()`` works from here directly, without
``opentelemetry.instrumentation``'s ``BaseInstrumentor``: importing that class costs
more than all the rest of ``instrument()`` (it loads ``packaging`` and every semantic
convention module). The ``BaseInstrumentor`` subclasses that ``opentelemetry-instrument``
loads (``otel_tokenomics.instrumentor``) drive the same functions, so either way of
switching an SDK on sees the other's.
"""

from __future__ import annotations

import importlib
import logging
import threading
from typing import Any, Protocol

from otel_tokenomics.config import load_options
from otel_tokenomics.telemetry import Telemetry

logger = logging.getLogger("otel_tokenomics")


class Patcher(Protocol):
    def patch(self) -> None: ...

    def unpatch(self) -> None: ...


class Adapter:
    """What one SDK's module declares: the SDK, the oldest release it reads, how to patch it.

    Subclasses are never instantiated; the class is the adapter.
    """

    #: import name of the SDK package
    package: str = ""
    #: the oldest SDK release the adapter reads, as ``"distribution >= version"``
    requirement: str = ""
    #: the SDK module whose import triggers the patch. ``instrument()`` must not
    #: import SDKs the app may never use (google-genai alone takes most of a
    #: second): the patch waits for the app's own import, or runs at once if the
    #: module is already imported.
    patch_when_imported: str = ""

    @classmethod
    def make_patcher(cls, telemetry: Telemetry) -> Patcher:
        raise NotImplementedError


def load_adapter(target: str) -> type[Adapter]:
    """``"module:Class"`` -> the adapter class (imports the adapter's module, never its SDK)."""
    module_name, _, class_name = target.partition(":")
    adapter = getattr(importlib.import_module(module_name), class_name)
    if not (isinstance(adapter, type) and issubclass(adapter, Adapter)):
        raise TypeError(f"{target} is not an otel_tokenomics adapter")
    return adapter


class _DeferredPatch:
    """One pending patch: applied when the module is imported, unless cancelled first.

    wrapt's post-import hooks cannot be removed, so a switch-off before the import
    leaves a hook that does nothing.
    """

    def __init__(self, patcher: Patcher, package: str) -> None:
        self.patcher: Patcher | None = patcher
        self.package = package

    def cancel(self) -> None:
        self.patcher = None

    @property
    def pending(self) -> bool:
        return self.patcher is not None

    def __call__(self, module: Any) -> None:
        patcher = self.patcher
        if patcher is None:
            return
        self.patcher = None
        try:
            patcher.patch()
        except Exception:  # runs inside the app's import statement: never raise there
            logger.warning("otel-tokenomics could not instrument %s", self.package, exc_info=True)
            try:
                patcher.unpatch()
            except Exception:
                logger.debug("undoing a partial patch of %s failed", self.package, exc_info=True)


class _Active:
    """An adapter switched on: its patcher, and the import hook still waiting to apply it."""

    def __init__(self, patcher: Patcher, deferred: _DeferredPatch | None) -> None:
        self.patcher = patcher
        self.deferred = deferred


_lock = threading.RLock()
_active: dict[type[Adapter], _Active] = {}


def is_active(adapter: type[Adapter]) -> bool:
    return adapter in _active


def is_waiting(adapter: type[Adapter]) -> bool:
    """Switched on, and its SDK not imported yet: the patch waits for the app's import."""
    active = _active.get(adapter)
    return active is not None and active.deferred is not None and active.deferred.pending


def activate(adapter: type[Adapter], **kwargs: Any) -> bool:
    """Switch ``adapter`` on with ``instrument()``'s keyword arguments; True if it is on.

    Never raises: a failure is logged and leaves the SDK as it was. Already on: nothing changes.
    """
    with _lock:
        if adapter in _active:
            return True
        patcher: Patcher | None = None
        deferred: _DeferredPatch | None = None
        try:
            from otel_tokenomics import pricing

            pricing.configure_once(kwargs.get("prices"))
            from otel_tokenomics.estimation import tokenizers

            # lazy (default) loads an encoding in the background when first needed;
            # preload starts both loads now; off never imports tiktoken.
            tokenizers.configure(kwargs.get("tokenizer"))
            telemetry = Telemetry(
                load_options(kwargs),
                tracer_provider=kwargs.get("tracer_provider"),
                meter_provider=kwargs.get("meter_provider"),
                logger_provider=kwargs.get("logger_provider"),
            )
            patcher = adapter.make_patcher(telemetry)
            if adapter.patch_when_imported:
                import wrapt

                deferred = _DeferredPatch(patcher, adapter.package)
                wrapt.register_post_import_hook(deferred, adapter.patch_when_imported)
            else:
                patcher.patch()
        except ModuleNotFoundError:
            logger.debug("%s is not installed; not instrumenting it", adapter.package)
            _undo(adapter.package, patcher, deferred)
            return False
        except Exception:
            logger.warning("otel-tokenomics could not instrument %s", adapter.package, exc_info=True)
            _undo(adapter.package, patcher, deferred)
            return False
        _active[adapter] = _Active(patcher, deferred)
        return True


def deactivate(adapter: type[Adapter]) -> None:
    """Switch ``adapter`` off: the SDK's own functions are back. Never raises."""
    with _lock:
        active = _active.pop(adapter, None)
        if active is not None:
            _undo(adapter.package, active.patcher, active.deferred)


def _undo(package: str, patcher: Patcher | None, deferred: _DeferredPatch | None) -> None:
    if deferred is not None:
        deferred.cancel()
    if patcher is not None:
        try:
            patcher.unpatch()
        except Exception:
            logger.debug("undoing a partial patch of %s failed", package, exc_info=True)
