"""The base of every provider instrumentor: options, telemetry, and never raising."""

from __future__ import annotations

import logging
from collections.abc import Collection
from typing import Any, Protocol

import wrapt
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]

from otel_tokenomics.config import load_options
from otel_tokenomics.telemetry import Telemetry

logger = logging.getLogger("otel_tokenomics")


class Patcher(Protocol):
    def patch(self) -> None: ...

    def unpatch(self) -> None: ...


class TokenomicsInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Subclasses name their SDK and build the patcher for it.

    ``opentelemetry-instrument`` aborts every instrumentor after one that raises,
    so ``_instrument`` logs and returns instead of raising.
    """

    #: import name of the SDK package
    package: str = ""
    #: pip requirement checked by ``instrument()``
    requirement: str = ""
    #: the SDK module whose import triggers the patch. ``instrument()`` must not
    #: import SDKs the app may never use (google-genai alone takes most of a
    #: second): the patch waits for the app's own import, or runs at once if the
    #: module is already imported.
    patch_when_imported: str = ""

    def instrumentation_dependencies(self) -> Collection[str]:
        return (self.requirement,)

    def instrument(self, **kwargs: Any) -> Any:
        # opentelemetry-instrument checks our distribution's any-of list once and then
        # skips each instrumentor's own check: with anthropic 2.x installed, an openai
        # outside our range would be patched. Check the SDK here, in that path only
        # (instrument() without skip_dep_check has BaseInstrumentor check it).
        if kwargs.get("skip_dep_check"):
            try:
                from opentelemetry.instrumentation.dependencies import get_dependency_conflicts

                conflict = get_dependency_conflicts(self.instrumentation_dependencies())
            except Exception:
                conflict = None
            if conflict is not None:
                logger.debug("otel-tokenomics does not instrument %s: %s", self.package, conflict)
                return None
        return super().instrument(**kwargs)

    def make_patcher(self, telemetry: Telemetry) -> Patcher:
        raise NotImplementedError

    def _instrument(self, **kwargs: Any) -> None:
        patcher = None
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
            patcher = self.make_patcher(telemetry)
            self._patcher = patcher
            if self.patch_when_imported:
                _patch_on_import(self.patch_when_imported, patcher, self.package)
            else:
                patcher.patch()
        except ModuleNotFoundError:
            logger.debug("%s is not installed; not instrumenting it", self.package)
            self._undo(patcher)
        except Exception:
            logger.warning("otel-tokenomics could not instrument %s", self.package, exc_info=True)
            self._undo(patcher)

    def _undo(self, patcher: Patcher | None) -> None:
        if patcher is not None:
            try:
                deferred = _deferred.pop(id(patcher), None)
                if deferred is not None:
                    deferred.cancel()
                patcher.unpatch()
            except Exception:
                logger.debug("undoing a partial patch of %s failed", self.package, exc_info=True)
        self._patcher = None

    def _uninstrument(self, **kwargs: Any) -> None:
        patcher = getattr(self, "_patcher", None)
        self._undo(patcher)


class _DeferredPatch:
    """One pending patch: applied when the module is imported, unless cancelled first.

    wrapt's post-import hooks cannot be removed, so an ``uninstrument()`` before
    the import leaves a hook that does nothing.
    """

    def __init__(self, patcher: Patcher, package: str) -> None:
        self.patcher: Patcher | None = patcher
        self.package = package

    def cancel(self) -> None:
        self.patcher = None

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


# id(patcher) -> its pending patch, so uninstrument() can cancel one not yet applied.
_deferred: dict[int, _DeferredPatch] = {}


def _patch_on_import(module: str, patcher: Patcher, package: str) -> None:
    deferred = _DeferredPatch(patcher, package)
    _deferred[id(patcher)] = deferred
    wrapt.register_post_import_hook(deferred, module)
