"""otel-tokenomics: tokens, latency and cost of LLM calls as OpenTelemetry spans and metrics.

``instrument()`` patches every supported LLM SDK that is installed; the same
instrumentors load under ``opentelemetry-instrument`` through their entry points.
Importing this package is cheap: no SDK, tokenizer or price data is imported
until ``instrument()`` runs.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import threading
from typing import Any

from otel_tokenomics.version import __version__

__all__ = ["__version__", "instrument", "instrumented", "uninstrument"]

logger = logging.getLogger("otel_tokenomics")
_lock = threading.Lock()


def _instrumentor(target: str) -> Any:
    module_name, _, class_name = target.partition(":")
    return getattr(importlib.import_module(module_name), class_name)()


def instrument(tracer_provider: Any = None, meter_provider: Any = None, **options: Any) -> list[str]:
    """Instrument every supported SDK that is installed; returns the entry-point names now active.

    ``tracer_provider`` / ``meter_provider`` default to the global ones. Options
    (see the README): ``capture_content``, ``metric_names``, ``provider_map``,
    ``logger_provider``. Calling it again changes nothing; it never raises.
    """
    from otel_tokenomics.providers import INSTRUMENTORS

    active: list[str] = []
    with _lock:
        for name, (package, target) in INSTRUMENTORS.items():
            try:
                if importlib.util.find_spec(package) is None:
                    continue
                instrumentor = _instrumentor(target)
                if not instrumentor.is_instrumented_by_opentelemetry:
                    instrumentor.instrument(
                        tracer_provider=tracer_provider, meter_provider=meter_provider, **options
                    )
                if instrumentor.is_instrumented_by_opentelemetry:
                    active.append(name)
            except Exception:
                logger.warning("otel-tokenomics could not instrument %s", package, exc_info=True)
    return active


def uninstrument() -> None:
    """Restore every SDK patched by :func:`instrument` (or by ``opentelemetry-instrument``)."""
    from otel_tokenomics.providers import INSTRUMENTORS

    with _lock:
        for _name, (package, target) in INSTRUMENTORS.items():
            try:
                if importlib.util.find_spec(package) is None:
                    continue
                instrumentor = _instrumentor(target)
                if instrumentor.is_instrumented_by_opentelemetry:
                    instrumentor.uninstrument()
            except Exception:
                logger.warning("otel-tokenomics could not uninstrument %s", package, exc_info=True)


def instrumented() -> list[str]:
    """Entry-point names of the instrumentors that are active now."""
    from otel_tokenomics.providers import INSTRUMENTORS

    names = []
    for name, (package, target) in INSTRUMENTORS.items():
        if importlib.util.find_spec(package) is None:
            continue
        try:
            if _instrumentor(target).is_instrumented_by_opentelemetry:
                names.append(name)
        except Exception:
            continue
    return names
