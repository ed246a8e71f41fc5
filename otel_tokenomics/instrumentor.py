"""The base of every provider instrumentor: options, telemetry, and never raising."""

from __future__ import annotations

import logging
from collections.abc import Collection
from typing import Any, Protocol

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

    def instrumentation_dependencies(self) -> Collection[str]:
        return (self.requirement,)

    def make_patcher(self, telemetry: Telemetry) -> Patcher:
        raise NotImplementedError

    def _instrument(self, **kwargs: Any) -> None:
        patcher = None
        try:
            from otel_tokenomics import pricing

            pricing.configure_once(kwargs.get("prices"))
            telemetry = Telemetry(
                load_options(kwargs),
                tracer_provider=kwargs.get("tracer_provider"),
                meter_provider=kwargs.get("meter_provider"),
                logger_provider=kwargs.get("logger_provider"),
            )
            patcher = self.make_patcher(telemetry)
            patcher.patch()
            self._patcher = patcher
        except ModuleNotFoundError:
            logger.debug("%s is not installed; not instrumenting it", self.package)
            self._undo(patcher)
        except Exception:
            logger.warning("otel-tokenomics could not instrument %s", self.package, exc_info=True)
            self._undo(patcher)

    def _undo(self, patcher: Patcher | None) -> None:
        if patcher is not None:
            try:
                patcher.unpatch()
            except Exception:
                logger.debug("undoing a partial patch of %s failed", self.package, exc_info=True)
        self._patcher = None

    def _uninstrument(self, **kwargs: Any) -> None:
        patcher = getattr(self, "_patcher", None)
        self._undo(patcher)
