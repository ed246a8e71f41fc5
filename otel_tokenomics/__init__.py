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

__all__ = [
    "Budget",
    "BudgetExceeded",
    "PriceOverrideError",
    "RollupSpanProcessor",
    "Workflow",
    "__version__",
    "attribute_to",
    "budget",
    "estimate",
    "inference",
    "instrument",
    "instrumented",
    "set_prices",
    "uninstrument",
    "workflow",
]

logger = logging.getLogger("otel_tokenomics")
_lock = threading.Lock()


def _installed(package: str) -> bool:
    """Whether ``package`` can be imported; a dotted name whose parent is missing is not."""
    try:
        return importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):
        return False


def _adapters() -> list[tuple[str, Any]]:
    """(entry-point name, adapter class) of every supported SDK that is installed."""
    from otel_tokenomics.activation import load_adapter
    from otel_tokenomics.providers import INSTRUMENTORS

    found = []
    for name, (package, target) in INSTRUMENTORS.items():
        try:
            if _installed(package):
                found.append((name, load_adapter(target)))
        except Exception:
            logger.warning("otel-tokenomics could not load its adapter for %s", package, exc_info=True)
    return found


def instrument(
    tracer_provider: Any = None, meter_provider: Any = None, *, prices: Any = None, **options: Any
) -> list[str]:
    """Instrument every supported SDK that is installed; returns the entry-point names now active.

    ``tracer_provider`` / ``meter_provider`` default to the global ones. Options
    (see the README): ``capture_content``, ``metric_names``, ``provider_map``,
    ``logger_provider``, ``estimate_usage``, ``stream_usage``, ``tokenizer``,
    ``baggage_keys``, ``metric_baggage``, ``rollup``.
    ``prices``: your own prices, a ``.toml``/``.json`` path or
    a mapping (default: ``OTEL_TOKENOMICS_PRICES``). Calling it again changes
    nothing. It raises only :class:`PriceOverrideError`, for a bad price file,
    before patching anything; nothing else it does can raise.
    """
    from otel_tokenomics import activation, config, pricing
    from otel_tokenomics.sdk_versions import requirement_conflict

    config.forget_warnings()
    if prices is not None or not pricing.is_configured():
        pricing.configure(prices)  # a bad price file fails here, loudly, and never inside a call
    try:
        from otel_tokenomics import manual

        # Calls recorded by hand (otel_tokenomics.inference) go where the patched ones go.
        manual.configure(tracer_provider, meter_provider, **options)
    except Exception:
        logger.warning("otel-tokenomics could not configure manual calls", exc_info=True)
    active: list[str] = []
    with _lock:
        for name, adapter in _adapters():
            try:
                if not activation.is_active(adapter):
                    conflict = requirement_conflict(adapter.requirement)
                    if conflict is not None:
                        needs = adapter.requirement
                        logger.warning("otel-tokenomics does not instrument %s: it needs %s", conflict, needs)
                        continue
                    activation.activate(
                        adapter, tracer_provider=tracer_provider, meter_provider=meter_provider, **options
                    )
                if activation.is_active(adapter):
                    active.append(name)
            except Exception:
                logger.warning("otel-tokenomics could not instrument %s", adapter.package, exc_info=True)
    return active


def set_prices(prices: Any) -> None:
    """Replace the user prices in force: a ``.toml``/``.json`` path, a mapping, or None for none.

    Checked at once: raises :class:`PriceOverrideError` naming the entry and the
    problem, and then leaves the prices in force unchanged.
    """
    from otel_tokenomics import pricing

    pricing.configure(prices if prices is not None else False)


# Public names -> the module that defines them, imported on first use: importing the
# package loads no pricing or tracing code.
_LAZY = {
    "PriceOverrideError": "otel_tokenomics.pricing.overrides",
    "inference": "otel_tokenomics.manual",
    "estimate": "otel_tokenomics.estimation.preflight",
    "workflow": "otel_tokenomics.workflows",
    "Workflow": "otel_tokenomics.workflows",
    "budget": "otel_tokenomics.budgets",
    "Budget": "otel_tokenomics.budgets",
    "BudgetExceeded": "otel_tokenomics.budgets",
    "attribute_to": "otel_tokenomics.attribution",
    "RollupSpanProcessor": "otel_tokenomics.rollup",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(name)
    return getattr(importlib.import_module(module), name)


def uninstrument() -> None:
    """Restore every SDK patched by :func:`instrument` (or by ``opentelemetry-instrument``)."""
    from otel_tokenomics import activation

    with _lock:
        for _name, adapter in _adapters():
            activation.deactivate(adapter)
        try:
            # The SDK cannot remove a span processor: ours stay on the provider, inert.
            from otel_tokenomics import rollup

            rollup.disable_all()
        except Exception:
            logger.warning("otel-tokenomics could not switch span roll-ups off", exc_info=True)


def instrumented() -> list[str]:
    """Entry-point names of the instrumentors that are active now."""
    from otel_tokenomics import activation

    return [name for name, adapter in _adapters() if activation.is_active(adapter)]
