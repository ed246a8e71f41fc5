"""Optional second opinion: price models our catalog lacks through genai-prices.

Enabled by ``OTEL_TOKENOMICS_PRICING_FALLBACK=genai-prices`` with that package
installed. We read a private copy of the data it ships (never its process-global
snapshot, which its auto-updater or another library may swap, and never the
updater itself: no network, no threads) and turn the matched model into our own
price entry, so the arithmetic stays ours.
"""

from __future__ import annotations

import logging
from typing import Any

from otel_tokenomics.pricing.catalog import catalog_provider_id
from otel_tokenomics.pricing.prices import ModelPrices, PriceSet, Tiered, When

logger = logging.getLogger("otel_tokenomics")

FALLBACK_GENAI_PRICES = "genai-prices"

_KEYS = {
    "input_mtok": "input",
    "output_mtok": "output",
    "cache_read_mtok": "cache_read",
    "cache_write_mtok": "cache_write",
    "cache_write_1h_mtok": "cache_write_1h",
    "output_reasoning_mtok": "reasoning",
    "input_audio_mtok": "input_audio",
    "output_audio_mtok": "output_audio",
    "input_image_mtok": "input_image",
    "output_image_mtok": "output_image",
}


class Fallback:
    def __init__(self) -> None:
        import genai_prices
        from genai_prices import data

        self.version = f"genai-prices:{getattr(genai_prices, '__version__', 'unknown')}"
        self._providers: dict[str, Any] = {p.id: p for p in data.providers}
        self._all = list(data.providers)
        self._entries: dict[tuple[str, str], ModelPrices] = {}

    def match(self, provider: str, names: list[str]) -> Any:
        from otel_tokenomics.pricing.engine import SOURCE_CATALOG, Match

        source_provider = self._providers.get(catalog_provider_id(provider))
        if source_provider is None:
            return None
        for name in names:
            model = source_provider.find_model(name, all_providers=self._all)
            if model is not None:
                entry = self._convert(source_provider.id, model)
                if entry is not None:
                    return Match(entry, SOURCE_CATALOG, self.version)
        return None

    def _convert(self, provider_id: str, model: Any) -> ModelPrices | None:
        from genai_prices.types import ModelPrice, StartDateConstraint, TimeOfDateConstraint

        key = (provider_id, model.id)
        found = self._entries.get(key)
        if found is not None:
            return found
        raw_periods = [(None, model.prices)] if isinstance(model.prices, ModelPrice) else [
            (period.constraint, period.prices) for period in model.prices
        ]
        periods = []
        for constraint, prices in raw_periods:
            when: dict[str, Any] = {}
            if isinstance(constraint, StartDateConstraint):
                when["from"] = constraint.start_date.isoformat()
            elif isinstance(constraint, TimeOfDateConstraint):
                when["daily"] = [constraint.start_time.strftime("%H:%M"), constraint.end_time.strftime("%H:%M")]
            periods.append((When(when), _price_set(prices)))
        if all(prices.is_empty for _, prices in periods):
            return None
        entry = ModelPrices(provider_id, model.id, periods)
        self._entries[key] = entry
        return entry


def _price_set(model_price: Any) -> PriceSet:
    from genai_prices.types import TieredPrices

    prices: dict[str, Any] = {}
    for key, value in model_price.__dict__.items():
        ours = _KEYS.get(key)
        if ours is None or value is None:
            continue
        if isinstance(value, TieredPrices):
            prices[ours] = Tiered(value.base, [(tier.start, tier.price) for tier in value.tiers])
        else:
            prices[ours] = value
    return PriceSet(**prices)


def load_fallback(name: str | None) -> Fallback | None:
    """The fallback named by the user, or None (with a warning when it cannot load)."""
    if not name:
        return None
    if name.strip().lower() != FALLBACK_GENAI_PRICES:
        logger.warning("otel-tokenomics: unknown OTEL_TOKENOMICS_PRICING_FALLBACK %r (known: genai-prices)", name)
        return None
    try:
        return Fallback()
    except Exception:
        logger.warning("otel-tokenomics: the genai-prices fallback could not be loaded", exc_info=True)
        return None
