"""Optional second opinion: price models our catalog lacks through genai-prices.

Enabled by ``OTEL_TOKENOMICS_PRICING_FALLBACK=genai-prices`` with that package
installed (a newer release than the one the catalog was built from knows newer
models). We keep our own list of the providers it ships in its package data and
turn a matched model into our own price entry, so the arithmetic stays ours.
Its process-global snapshot is never read (its auto-updater, or another library,
may swap it at any time for data we never checked) and its updater is never
started: no network, no threads.
"""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal
from typing import Any

from otel_tokenomics.errors import own_error_alone
from otel_tokenomics.pricing.catalog import catalog_provider_id
from otel_tokenomics.pricing.engine import SOURCE_CATALOG, Match
from otel_tokenomics.pricing.prices import GENAI_PRICES_KEYS, ModelPrices, Price, PriceSet, Tiered, When

logger = logging.getLogger("otel_tokenomics")

FALLBACK_GENAI_PRICES = "genai-prices"
Factors = list[tuple[dict[str, str], Decimal]]
_DISABLED = {"", "none", "off", "false", "0"}


class Fallback:
    """genai-prices' bundled data, matched like the catalog (first matching model wins)."""

    def __init__(self) -> None:
        import genai_prices
        from genai_prices import data

        self.version = f"genai-prices:{getattr(genai_prices, '__version__', 'unknown')}"
        # Our own list: rebinding `data.providers` later cannot change what we price with.
        self._all: list[Any] = list(data.providers)
        self._providers: dict[str, Any] = {p.id: p for p in self._all}
        self._entries: dict[tuple[str, str], ModelPrices | None] = {}
        self._context_factors: dict[str, Factors] | None = None

    def match(self, provider: str, names: list[str]) -> Match | None:
        try:
            return self._match(provider, names)
        except Exception:
            # Called inside an LLM call: data we cannot read leaves the call unpriced
            # (the pricer remembers the miss, so this is logged once per model).
            own_error_alone()
            logger.warning(
                "otel-tokenomics cannot read genai-prices' entry for %r of provider %r",
                names[0] if names else "",
                provider,
                exc_info=True,
            )
            return None

    def _match(self, provider: str, names: list[str]) -> Match | None:
        source = self._providers.get(catalog_provider_id(provider)) or self._providers.get(provider)
        if source is None:
            return None
        for name in names:
            model = source.find_model(name, all_providers=self._all)
            if model is not None:
                entry = self._entry(source, model)
                if entry is not None:
                    return Match(entry, SOURCE_CATALOG, self.version)
        return None

    def _entry(self, source: Any, model: Any) -> ModelPrices | None:
        owner = self._owner(source, model)
        key = (owner, model.id)
        if key in self._entries:
            return self._entries[key]
        entry = _convert(owner, model, self._factors(owner))
        self._entries[key] = entry
        return entry

    def _owner(self, source: Any, model: Any) -> str:
        """The provider whose list holds ``model`` (Azure answers with OpenAI's entries)."""
        if any(candidate is model for candidate in source.models):
            return str(source.id)
        for provider_id in source.fallback_model_providers or ():
            provider = self._providers.get(provider_id)
            if provider is not None and any(candidate is model for candidate in provider.models):
                return str(provider_id)
        return str(source.id)

    def _factors(self, provider_id: str) -> Factors:
        """The catalog's provider-wide context rules (batch at 50%), which genai-prices lacks."""
        factors = self._context_factors
        if factors is None:
            from otel_tokenomics.pricing.catalog import load_catalog

            factors = {p.id: p.context_factors for p in load_catalog().providers.values()}
            self._context_factors = factors
        return factors.get(provider_id, [])


def _convert(provider_id: str, model: Any, factors: Factors) -> ModelPrices | None:
    from genai_prices.types import ModelPrice

    if isinstance(model.prices, ModelPrice):
        periods = [(When(None), _price_set(model.prices))]
    else:
        periods = [(_when(period.constraint), _price_set(period.prices)) for period in model.prices]
    if not periods or all(prices.is_empty for _, prices in periods):
        return None  # priced only per request, page or hour: nothing a token count can price
    variants = [
        (dict(variant.when), _when(variant.constraint), _price_set(variant.prices))
        for variant in model.price_variants or ()
    ]
    return ModelPrices(provider_id, model.id, periods, variants, factors, getattr(model, "name", None))


def _when(constraint: Any) -> When:
    from genai_prices.types import StartDateConstraint, TimeOfDateConstraint

    if constraint is None:
        return When(None)
    if isinstance(constraint, StartDateConstraint):
        return When({"from": constraint.start_date.isoformat()})
    if isinstance(constraint, TimeOfDateConstraint):
        return When({"daily": [_utc_time(constraint.start_time), _utc_time(constraint.end_time)]})
    raise TypeError(f"unknown genai-prices constraint {constraint!r}")


def _utc_time(value: dt.time) -> str:
    # Our windows are in UTC; a window given in another zone is shifted, not misread.
    if value.tzinfo is not None:
        value = dt.datetime.combine(dt.date(2000, 1, 1), value).astimezone(dt.timezone.utc).time()
    return value.strftime("%H:%M")


def _decimal(value: Any) -> Decimal:
    # Exactly Decimal (not float, not a subclass): the cost arithmetic relies on it.
    return Decimal(str(value))


def _price_set(model_price: Any) -> PriceSet:
    from genai_prices.types import TieredPrices

    prices: dict[str, Price] = {}
    for key, value in vars(model_price).items():
        ours = GENAI_PRICES_KEYS.get(key)
        if ours is None or value is None:
            continue
        if isinstance(value, TieredPrices):
            tiers = [(int(tier.start), _decimal(tier.price)) for tier in value.tiers]
            prices[ours] = Tiered(_decimal(value.base), tiers)
        else:
            prices[ours] = _decimal(value)
    return PriceSet(**prices)


def load_fallback(name: str | None) -> Fallback | None:
    """The fallback named by the user, or None (with a warning when it cannot be used)."""
    if name is None or name.strip().lower() in _DISABLED:
        return None
    if name.strip().lower() != FALLBACK_GENAI_PRICES:
        logger.warning(
            "otel-tokenomics: unknown OTEL_TOKENOMICS_PRICING_FALLBACK %r (known: genai-prices); "
            "models missing from the catalog stay unpriced",
            name,
        )
        return None
    try:
        return Fallback()
    except ImportError:
        logger.warning(
            "otel-tokenomics: OTEL_TOKENOMICS_PRICING_FALLBACK=genai-prices, but the genai-prices package "
            "cannot be imported (pip install 'otel-tokenomics[genai-prices]'); models missing from the "
            "catalog stay unpriced"
        )
        return None
    except Exception:
        logger.warning("otel-tokenomics: the genai-prices fallback could not be loaded", exc_info=True)
        return None
