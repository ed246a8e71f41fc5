"""The cost seam: normalized usage in, a priced answer out.

Every call is priced through :func:`price_call`; the pricer behind it (the
bundled catalog, the user's overrides) is installed by
:func:`otel_tokenomics.pricing.configure` and otherwise built on first use. A
model without a price gets ``tokenomics.cost.status=unpriced`` and no amount,
never a silent 0.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from otel_tokenomics import semconv as sc
from otel_tokenomics.usage import SOURCE_PROVIDER, Usage

if TYPE_CHECKING:
    from otel_tokenomics.pricing.compute import Cost

STATUS_PRICED = "priced"
STATUS_UNPRICED = "unpriced"
STATUS_ESTIMATED = "estimated"
STATUS_NO_USAGE = "no_usage"


class Pricer(Protocol):
    def cost(
        self,
        provider: str,
        models: tuple[str | None, ...],
        usage: Usage,
        timestamp_ns: int,
        context: Mapping[str, str] | tuple[tuple[str, str], ...] | None = None,
    ) -> Cost | None: ...


class _NoPrices:
    """Prices nothing: every call is unpriced (a bad price file, or tests)."""

    def cost(self, *args: Any, **kwargs: Any) -> None:
        return None


NO_PRICES: Pricer = _NoPrices()
_pricer: Pricer | None = None
_time_ns = time.time_ns


def set_pricer(pricer: Pricer | None) -> None:
    """Install the price lookup; None goes back to the bundled catalog (loaded on first use)."""
    global _pricer
    _pricer = pricer


def get_pricer() -> Pricer:
    global _pricer
    pricer = _pricer
    if pricer is None:
        from otel_tokenomics.pricing.engine import Pricer as CatalogPricer

        pricer = _pricer = CatalogPricer()
    return pricer


def price_call(
    provider: str,
    models: tuple[str | None, ...],
    usage: Usage | None,
    context: Mapping[str, str] | tuple[tuple[str, str], ...] | None = None,
    timestamp_ns: int | None = None,
) -> tuple[str, Cost | None]:
    """``(tokenomics.cost.status, cost or None)`` for one call. May raise: callers guard it."""
    if usage is None:
        return STATUS_NO_USAGE, None
    cost = (_pricer or get_pricer()).cost(
        provider, models, usage, _time_ns() if timestamp_ns is None else timestamp_ns, context
    )
    if cost is None:
        return STATUS_UNPRICED, None
    return (STATUS_PRICED if usage.source == SOURCE_PROVIDER else STATUS_ESTIMATED), cost


# Shared answers: never mutated by callers (they update() their own dict from them).
_STATUS_ONLY: dict[str, Mapping[str, Any]] = {
    status: {sc.TOKENOMICS_COST_STATUS: status} for status in (STATUS_NO_USAGE, STATUS_UNPRICED)
}


def cost_attributes(status: str, cost: Cost | None) -> Mapping[str, Any]:
    """The ``tokenomics.cost.*`` / ``tokenomics.pricing.*`` span attributes of a priced call."""
    if cost is None:
        return _STATUS_ONLY.get(status) or {sc.TOKENOMICS_COST_STATUS: status}
    if cost.split and cost.version and cost.model:
        return put_cost_attributes({}, status, cost)
    attributes: dict[str, Any] = {
        sc.TOKENOMICS_COST_STATUS: status,
        sc.TOKENOMICS_COST_TOTAL: float(cost.total),
        sc.TOKENOMICS_COST_CURRENCY: cost.currency,
        sc.TOKENOMICS_COST_SOURCE: cost.source,
    }
    if cost.version:
        attributes[sc.TOKENOMICS_PRICING_VERSION] = cost.version
    if cost.model:
        attributes[sc.TOKENOMICS_PRICING_MODEL] = cost.model
    if cost.split:
        attributes[sc.TOKENOMICS_COST_INPUT] = float(cost.input)
        attributes[sc.TOKENOMICS_COST_CACHE_READ] = float(cost.cache_read)
        attributes[sc.TOKENOMICS_COST_CACHE_WRITE] = float(cost.cache_write)
        attributes[sc.TOKENOMICS_COST_OUTPUT] = float(cost.output)
        attributes[sc.TOKENOMICS_COST_CACHE_SAVINGS] = float(cost.cache_savings)
    return attributes


def put_cost_attributes(attributes: dict[str, Any], status: str, cost: Cost | None) -> dict[str, Any]:
    """:func:`cost_attributes` written into ``attributes``: what a span's end does, with
    no dict built to be copied."""
    if cost is None or not (cost.split and cost.version and cost.model):
        attributes.update(cost_attributes(status, cost))
        return attributes
    total, input, read, write, output, savings = cost.floats()
    attributes[sc.TOKENOMICS_COST_STATUS] = status
    attributes[sc.TOKENOMICS_COST_TOTAL] = total
    attributes[sc.TOKENOMICS_COST_CURRENCY] = cost.currency
    attributes[sc.TOKENOMICS_COST_SOURCE] = cost.source
    attributes[sc.TOKENOMICS_PRICING_VERSION] = cost.version
    attributes[sc.TOKENOMICS_PRICING_MODEL] = cost.model
    attributes[sc.TOKENOMICS_COST_INPUT] = input
    attributes[sc.TOKENOMICS_COST_CACHE_READ] = read
    attributes[sc.TOKENOMICS_COST_CACHE_WRITE] = write
    attributes[sc.TOKENOMICS_COST_OUTPUT] = output
    attributes[sc.TOKENOMICS_COST_CACHE_SAVINGS] = savings
    return attributes
