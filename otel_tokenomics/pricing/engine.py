"""From (provider, model, usage, time) to a :class:`Cost`: the lookups and caches.

Order of authority for one model: the user's overrides (absolute prices, custom
models, Azure deployment names), then the bundled catalog, then, only when the
user asked for it, the genai-prices fallback. A user multiplier (a negotiated
discount) applies to whatever price was found. Every answer, a miss included, is
cached per (provider, model), so a call for a model already seen costs a dict
lookup plus the Decimal arithmetic.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from otel_tokenomics.pricing.catalog import Catalog, load_catalog
from otel_tokenomics.pricing.compute import Cost, cost_of
from otel_tokenomics.pricing.model_ids import candidates
from otel_tokenomics.pricing.prices import NS_PER_DAY, Context, ModelPrices, PriceSet, as_context
from otel_tokenomics.usage import Usage

if TYPE_CHECKING:
    from otel_tokenomics.pricing.fallback import Fallback
    from otel_tokenomics.pricing.overrides import Overrides

logger = logging.getLogger("otel_tokenomics")

SOURCE_CATALOG = "catalog"
SOURCE_OVERRIDE = "override"
SOURCE_PROVIDER = "provider"
SOURCE_LOCAL = "local"

# Providers that run the model on the user's own hardware: no per-token bill, so
# a call costs 0 by design (status priced, source local), unless the user prices
# it (GPU time per token) with an override, which is looked up first.
LOCAL_PROVIDERS = frozenset({"ollama", "lm_studio"})


class Match:
    """A model id resolved to prices: the entry, who says so, and at what version."""

    __slots__ = ("_last", "_rates", "factor", "prices", "source", "version")

    def __init__(self, prices: ModelPrices, source: str, version: str, factor: Decimal | None = None) -> None:
        self.prices = prices
        self.source = source
        self.version = version
        self.factor = factor
        self._rates: dict[Any, PriceSet] = {}
        # (day, rates) last asked with no context, what nearly every call asks: one
        # tuple, so a thread never sees one day's number with another day's rates.
        self._last: tuple[int, PriceSet | None] = (-1, None)

    def rates(self, timestamp_ns: int, context: Context | None) -> PriceSet:
        """Per-token prices in force (the user's multiplier applied), cached per day and context."""
        last = self._last
        if context is None and timestamp_ns // NS_PER_DAY == last[0]:
            return last[1]  # type: ignore[return-value]
        entry = self.prices
        if entry.time_of_day:
            key: Any = entry.moment_key(timestamp_ns, context)
        else:
            key = (timestamp_ns // NS_PER_DAY, context)
        found = self._rates.get(key)
        if found is None:
            prices = self.prices.at(timestamp_ns, context)
            if self.factor is not None:
                prices = prices.scaled(self.factor)
            found = prices.per_token()
            if len(self._rates) > 64:
                self._rates.clear()
            self._rates[key] = found
        if context is None and not entry.time_of_day:
            self._last = (key[0], found)
        return found


_MAX_CACHED = 4096
_UNSEEN: Any = object()


class Pricer:
    def __init__(
        self,
        overrides: Overrides | None = None,
        fallback: Fallback | None = None,
        catalog: Catalog | None = None,
    ) -> None:
        self.overrides = overrides
        self.fallback = fallback
        self._catalog = catalog
        self._cache: dict[tuple[str, str], Match | None] = {}
        # (provider, (response model, request model)) -> the match: one lookup per call.
        self._by_call: dict[tuple[str, tuple[str | None, ...]], Match | None] = {}
        self._warned: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    @property
    def catalog(self) -> Catalog:
        if self._catalog is None:
            self._catalog = load_catalog()
        return self._catalog

    # -- lookups -----------------------------------------------------------------------

    def match(self, provider: str, model: str) -> Match | None:
        key = (provider, model)
        cache = self._cache
        if key in cache:
            return cache[key]
        found = self._match(provider, model)
        if len(cache) >= _MAX_CACHED:
            cache.clear()
        cache[key] = found
        return found

    def _match(self, provider: str, model: str) -> Match | None:
        overrides = self.overrides
        names = candidates(model)
        if overrides is not None:
            deployment = overrides.deployment(provider, names)
            if deployment is not None:
                names = candidates(deployment) + names
            own = overrides.prices_for(provider, names, self)
            if own is not None:
                return Match(
                    own, SOURCE_OVERRIDE, overrides.version, overrides.factor(provider, names, own.entry_id)
                )
        match = self.catalog_match(provider, names)
        if match is None and self.fallback is not None:
            match = self.fallback.match(provider, names)
        if match is not None and overrides is not None:
            factor = overrides.factor(provider, names, match.prices.entry_id)
            if factor is not None:
                return Match(match.prices, SOURCE_OVERRIDE, overrides.version, factor)
        return match

    def catalog_match(self, provider: str, names: list[str]) -> Match | None:
        catalog = self.catalog
        for name in names:
            found = catalog.find(provider, name)
            if found is not None:
                return Match(found, SOURCE_CATALOG, catalog.version)
        return None

    # -- pricing -------------------------------------------------------------------------

    def cost(
        self,
        provider: str,
        models: tuple[str | None, ...],
        usage: Usage,
        timestamp_ns: int,
        context: Mapping[str, str] | Context | None = None,
    ) -> Cost | None:
        """The cost of one call, or None when no model id given is priced.

        ``models`` is tried in order: the response's model (what actually served the
        call, a dated snapshot) before the request's (an alias, a deployment name).
        ``context``: what else sets the price, ``{"service_tier": "flex"}`` or the
        same as sorted pairs (what adapters pass: it is hashed as it is).
        """
        if context is not None and context.__class__ is not tuple:
            context = as_context(context)
        key = (provider, models)
        by_call = self._by_call
        match = by_call.get(key, _UNSEEN)
        if match is _UNSEEN:
            match = None
            for model in models:
                if model:
                    match = self.match(provider, model)
                    if match is not None:
                        break
            if len(by_call) >= _MAX_CACHED:
                by_call.clear()
            by_call[key] = match
        cost = None
        if match is not None:
            entry = match.prices
            cost = cost_of(
                usage,
                match.rates(timestamp_ns, context),  # type: ignore[arg-type]
                entry.entry_id,
                entry.provider_id,
                match.source,
                match.version,
            )
        if usage.provider_cost is not None:
            return _stated(usage.provider_cost, cost, provider)
        if cost is None:
            if provider in LOCAL_PROVIDERS:
                return _local(provider)
            self._warn_unpriced(provider, models)
        return cost

    def _warn_unpriced(self, provider: str, models: tuple[str | None, ...]) -> None:
        model = next((m for m in models if m), None)
        if not model:
            return
        key = (provider, model)
        if key in self._warned:
            return
        with self._lock:
            if key in self._warned:
                return
            self._warned.add(key)
        logger.warning(
            "otel-tokenomics has no price for model %r of provider %r: its calls are recorded with "
            "tokenomics.cost.status=unpriced and no cost. Add it with OTEL_TOKENOMICS_PRICES or "
            "otel_tokenomics.set_prices().",
            model,
            provider,
        )


def _stated(amount: float, computed: Cost | None, provider: str) -> Cost:
    """The provider's own figure for the call, split in the catalog's proportions when known.

    The total is what the provider bills; the classes are what our prices say
    each part is worth, scaled to that total, so they still add up to it.
    """
    total = Decimal(repr(float(amount)))
    if computed is not None and computed.total > 0:
        ratio = total / computed.total
        return Cost(
            computed.input * ratio,
            computed.cache_read * ratio,
            computed.cache_write * ratio,
            computed.output * ratio,
            computed.cache_savings * ratio,
            model=computed.model,
            provider=computed.provider,
            source=SOURCE_PROVIDER,
            version=computed.version,
            total=total,
        )
    zero = Decimal(0)
    cost = Cost(
        zero,
        zero,
        zero,
        zero,
        zero,
        model="",
        provider=provider,
        source=SOURCE_PROVIDER,
        version="",
        total=total,
    )
    cost.split = False
    return cost


def _local(provider: str) -> Cost:
    """A call served on the user's own hardware: 0 in every class, said to be on purpose.

    No price entry stands behind it, so no ``tokenomics.pricing.model`` or version.
    """
    zero = Decimal(0)
    return Cost(zero, zero, zero, zero, zero, model="", provider=provider, source=SOURCE_LOCAL, version="")
