"""The integer path of cost_of (flat per-token rates) against the Decimal path.

Every priced call with flat rates takes the integer path; its floats must be the
values float(Decimal) gives, and its Decimal amounts (read by budgets, spend
reports, the CLI) the very Decimals of the general path, exponent included.
"""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from otel_tokenomics.cost import cost_attributes
from otel_tokenomics.pricing.compute import FlatCost, _decimal_cost, cost_of, flat_rates
from otel_tokenomics.pricing.prices import PriceSet, Tiered
from otel_tokenomics.usage import Usage

MILLION = Decimal(1_000_000)

# Per-million prices as catalogs write them: up to 4 decimals, some absent.
per_million = st.decimals(min_value=0, max_value=200, places=4, allow_nan=False, allow_infinity=False)
maybe_price = st.one_of(st.none(), per_million)
counts = st.integers(min_value=0, max_value=5_000_000)


def _per_token(**per_million_prices: Decimal | None) -> PriceSet:
    return PriceSet(**{k: v for k, v in per_million_prices.items() if v is not None}).per_token()


def _same(flat: FlatCost, exact: object) -> None:
    for name in ("input", "cache_read", "cache_write", "output", "cache_savings", "total"):
        mine, theirs = getattr(flat, name), getattr(exact, name)
        assert (mine, str(mine)) == (theirs, str(theirs)), name
    assert flat.floats() == (
        float(exact.total),  # type: ignore[attr-defined]
        float(exact.input),  # type: ignore[attr-defined]
        float(exact.cache_read),  # type: ignore[attr-defined]
        float(exact.cache_write),  # type: ignore[attr-defined]
        float(exact.output),  # type: ignore[attr-defined]
        float(exact.cache_savings),  # type: ignore[attr-defined]
    )


@settings(max_examples=400, deadline=None)
@given(
    input_price=maybe_price,
    output_price=maybe_price,
    read_price=maybe_price,
    write_price=maybe_price,
    input_tokens=counts,
    output_tokens=counts,
    cache_read=counts,
    cache_write=counts,
    reasoning=counts,
)
def test_flat_path_gives_the_decimal_paths_amounts_and_floats(
    input_price: Decimal | None,
    output_price: Decimal | None,
    read_price: Decimal | None,
    write_price: Decimal | None,
    input_tokens: int,
    output_tokens: int,
    cache_read: int,
    cache_write: int,
    reasoning: int,
) -> None:
    prices = _per_token(
        input=input_price, output=output_price, cache_read=read_price, cache_write=write_price
    )
    usage = Usage(input_tokens, output_tokens, cache_read_tokens=cache_read, cache_write_tokens=cache_write)
    usage.reasoning_tokens = min(reasoning, output_tokens)
    cost = cost_of(usage, prices, "m", "p", "catalog", "v1")
    assert isinstance(cost, FlatCost)
    _same(cost, _decimal_cost(usage, prices, "m", "p", "catalog", "v1"))


def test_a_known_call_to_the_micro_dollar() -> None:
    # o4-mini-like: $1.10 in, $0.275 cached, $4.40 out per million.
    prices = _per_token(input=Decimal("1.10"), cache_read=Decimal("0.275"), output=Decimal("4.40"))
    usage = Usage(1_200, 800, cache_read_tokens=1_000)
    cost = cost_of(usage, prices, "o4-mini", "openai", "catalog", "v1")
    assert isinstance(cost, FlatCost)
    assert cost.input == Decimal("0.000220") and str(cost.input) == "0.00022000"
    assert cost.cache_read == Decimal("0.000275")
    assert cost.output == Decimal("0.003520")
    assert cost.total == Decimal("0.004015")
    assert cost.cache_savings == Decimal("0.000825")
    attributes = cost_attributes("priced", cost)
    assert attributes["tokenomics.cost.total"] == 0.004015
    assert attributes["tokenomics.cost.input"] == 0.00022
    assert attributes["tokenomics.cost.cache_read"] == 0.000275
    assert attributes["tokenomics.cost.output"] == 0.00352
    assert attributes["tokenomics.cost.cache_savings"] == 0.000825
    assert attributes["tokenomics.cost.cache_write"] == 0.0


def test_prices_that_are_not_flat_take_the_decimal_path() -> None:
    tiered = PriceSet(
        input=Tiered(Decimal("1.25"), [(200_000, Decimal("2.50"))]), output=Decimal(10)
    ).per_token()
    assert flat_rates(tiered) is None
    with_reasoning = PriceSet(input=Decimal(1), output=Decimal(2), reasoning=Decimal(3)).per_token()
    assert flat_rates(with_reasoning) is None
    usage = Usage(300_000, 10)
    assert not isinstance(cost_of(usage, tiered, "m", "p", "catalog", "v"), FlatCost)
    # The 1-hour cache writes of a price set that has their rate: Decimal path too.
    ttl = PriceSet(
        input=Decimal(3), cache_write=Decimal("3.75"), cache_write_1h=Decimal(6), output=Decimal(15)
    )
    ttl = ttl.per_token()
    usage = Usage(2_000, 10, cache_write_tokens=1_000, cache_write_by_ttl={"5m": 400, "1h": 600})
    cost = cost_of(usage, ttl, "m", "p", "catalog", "v")
    assert not isinstance(cost, FlatCost)
    assert cost.cache_write == Decimal("0.0051")  # 400 at 3.75 + 600 at 6 per million
    # Without a 1-hour split the same prices are flat.
    assert isinstance(cost_of(Usage(2_000, 10), ttl, "m", "p", "catalog", "v"), FlatCost)


def test_float_division_is_exact_where_a_float_product_would_not_be() -> None:
    # 11 tokens at $1.10 per million: 11 * 1.1e-6 in floats is 1.2100000000000001e-05.
    prices = _per_token(input=Decimal("1.10"), output=Decimal("1.10"))
    cost = cost_of(Usage(11, 0), prices, "m", "p", "catalog", "v")
    assert 11 * 1.1e-6 != 1.21e-5
    assert cost.floats()[0] == 1.21e-5 == float(Decimal("0.0000121"))
