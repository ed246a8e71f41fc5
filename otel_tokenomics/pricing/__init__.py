"""Prices and costs: the bundled catalog, the user's overrides, the arithmetic.

Nothing here loads price data at import: the catalog is read by
:func:`configure` (which ``instrument()`` calls at start-up), or else by the
first call that needs a price.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from typing import Any

from otel_tokenomics import cost as _cost
from otel_tokenomics.pricing.compute import Cost
from otel_tokenomics.pricing.engine import Pricer
from otel_tokenomics.pricing.overrides import Overrides, PriceOverrideError, load_overrides

__all__ = ["Cost", "Overrides", "PriceOverrideError", "Pricer", "configure", "load_overrides"]

logger = logging.getLogger("otel_tokenomics")

ENV_PRICES = "OTEL_TOKENOMICS_PRICES"
ENV_FALLBACK = "OTEL_TOKENOMICS_PRICING_FALLBACK"

_lock = threading.Lock()
_configured = False


def _overrides(prices: Any) -> Overrides | None:
    if prices is None or prices is False or prices == "":
        return None
    if isinstance(prices, Overrides):
        return prices
    if isinstance(prices, Mapping):
        return Overrides.from_mapping(prices, origin="prices")
    if isinstance(prices, (str, os.PathLike)):
        return load_overrides(prices)
    raise PriceOverrideError(
        f"prices: expected a .toml/.json file path, a mapping or Overrides, got {type(prices).__name__}"
    )


def configure(
    prices: Any = None, fallback: str | None = None, environ: Mapping[str, str] | None = None
) -> Pricer:
    """Install the pricer every instrumented call uses, and return it.

    ``prices``: a ``.toml``/``.json`` path, a mapping of the same shape, or
    :class:`Overrides`; None reads ``OTEL_TOKENOMICS_PRICES``. ``fallback``:
    ``"genai-prices"`` or None to read ``OTEL_TOKENOMICS_PRICING_FALLBACK``.
    Raises :class:`PriceOverrideError` for a bad override, naming the file, the
    entry and the problem; nothing is changed then.
    """
    global _configured
    from otel_tokenomics.pricing.fallback import load_fallback

    env = os.environ if environ is None else environ
    if prices is None:
        prices = env.get(ENV_PRICES, "").strip() or None
    overrides = _overrides(prices)
    pricer = Pricer(overrides, load_fallback(fallback if fallback is not None else env.get(ENV_FALLBACK)))
    # Read the catalog now, at start-up, rather than inside the first LLM call. A
    # damaged install must not make instrument() raise: the calls then go unpriced.
    try:
        pricer.catalog  # noqa: B018
    except Exception:
        logger.warning("otel-tokenomics could not read its price catalog; calls stay unpriced", exc_info=True)
    if overrides is not None:
        overrides.check(pricer)
    with _lock:
        _cost.set_pricer(pricer)
        _configured = True
    return pricer


def is_configured() -> bool:
    return _configured


def configure_once(prices: Any = None) -> None:
    """For instrumentors: configure from the environment unless already done; never raise.

    Under ``opentelemetry-instrument`` a raise would abort every instrumentor
    after ours, so a bad price file is reported as an error and its calls are
    left unpriced (``tokenomics.cost.status=unpriced``, the unpriced counter
    grows): wrong numbers would be worse than none.
    """
    if _configured and prices is None:
        return
    try:
        configure(prices)
    except PriceOverrideError as error:
        logger.error(
            "otel-tokenomics: bad price overrides: %s; every call stays unpriced "
            "(tokenomics.cost.status=unpriced) until they are fixed",
            error,
        )
        _refuse()
    except Exception:
        logger.warning("otel-tokenomics could not set up pricing; calls stay unpriced", exc_info=True)
        _refuse()


def _refuse() -> None:
    global _configured
    with _lock:
        _cost.set_pricer(_cost.NO_PRICES)
        _configured = True


def reset() -> None:
    """Back to the state of a fresh process (tests)."""
    global _configured
    with _lock:
        _cost.set_pricer(None)
        _configured = False
