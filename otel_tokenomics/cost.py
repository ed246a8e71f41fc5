"""The cost seam: normalized usage in, cost attributes out.

Everything that prices a call goes through :func:`cost_attributes`; the price
catalog plugs in behind it. Until a price is known for a model the answer is an
explicit ``tokenomics.cost.status=unpriced`` and no amount, never a silent 0.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, Protocol

from otel_tokenomics import semconv as sc
from otel_tokenomics.usage import SOURCE_PROVIDER, Usage

STATUS_PRICED = "priced"
STATUS_UNPRICED = "unpriced"
STATUS_ESTIMATED = "estimated"
STATUS_NO_USAGE = "no_usage"


class CostBreakdown(Protocol):
    """What a price lookup returns: amounts in ``currency`` per token class."""

    currency: str
    input: float
    output: float
    cache_read: float
    cache_write: float
    total: float
    source: str


class Pricer(Protocol):
    def __call__(
        self, provider: str, model: str, usage: Usage, timestamp_ns: int
    ) -> CostBreakdown | None: ...


def _no_prices(provider: str, model: str, usage: Usage, timestamp_ns: int) -> CostBreakdown | None:
    return None


_pricer: Pricer = _no_prices


def set_pricer(pricer: Pricer | None) -> None:
    """Install the price lookup (the catalog, or a user's own); None removes it."""
    global _pricer
    _pricer = pricer if pricer is not None else _no_prices


# Shared answers: never mutated by callers (they update() their own dict from them).
_NO_USAGE: dict[str, Any] = {sc.TOKENOMICS_COST_STATUS: STATUS_NO_USAGE}
_UNPRICED: dict[str, Any] = {sc.TOKENOMICS_COST_STATUS: STATUS_UNPRICED}


def cost_attributes(
    provider: str, model: str | None, usage: Usage | None, timestamp_ns: int | None = None
) -> Mapping[str, Any]:
    """The ``tokenomics.cost.*`` attributes for one call, priced at ``timestamp_ns`` (now)."""
    if usage is None:
        return _NO_USAGE
    if _pricer is _no_prices or not model:
        return _UNPRICED
    breakdown = _pricer(provider, model, usage, time.time_ns() if timestamp_ns is None else timestamp_ns)
    if breakdown is None:
        return _UNPRICED
    return {
        sc.TOKENOMICS_COST_TOTAL: breakdown.total,
        sc.TOKENOMICS_COST_INPUT: breakdown.input,
        sc.TOKENOMICS_COST_OUTPUT: breakdown.output,
        sc.TOKENOMICS_COST_CACHE_READ: breakdown.cache_read,
        sc.TOKENOMICS_COST_CACHE_WRITE: breakdown.cache_write,
        sc.TOKENOMICS_COST_CURRENCY: breakdown.currency,
        sc.TOKENOMICS_PRICING_SOURCE: breakdown.source,
        sc.TOKENOMICS_COST_STATUS: STATUS_PRICED if usage.source == SOURCE_PROVIDER else STATUS_ESTIMATED,
    }
