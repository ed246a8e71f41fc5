"""The cost of one call: normalized usage times the prices in force, in Decimal.

Usage arrives normalized (input counts cache reads and writes, output counts
reasoning), so the classes partition it:

* uncached input = input - cache_read - cache_write, at the input price (audio and
  image input at their own price where the catalog has one);
* cache_read at the cache-read price, cache_write at the 5-minute or 1-hour rate;
* output at the output price (reasoning, audio and image output at their own
  price where the catalog has one).

A class the catalog has no price for is billed at the price it is a part of
(cached input at the input price): an upper bound, never a silent zero.
"""

from __future__ import annotations

from decimal import Decimal

from otel_tokenomics.pricing.prices import UNKNOWN_FLAT as _UNKNOWN
from otel_tokenomics.pricing.prices import Price, PriceSet
from otel_tokenomics.usage import Usage

MILLION = Decimal(1_000_000)
ZERO = Decimal(0)


class Cost:
    """Amounts of one call in ``currency``, by token class."""

    __slots__ = (
        "cache_read",
        "cache_savings",
        "cache_write",
        "currency",
        "input",
        "model",
        "output",
        "provider",
        "source",
        "split",
        "total",
        "version",
    )

    def __init__(
        self,
        input: Decimal,
        cache_read: Decimal,
        cache_write: Decimal,
        output: Decimal,
        cache_savings: Decimal,
        model: str,
        provider: str,
        source: str,
        version: str,
        currency: str = "USD",
        total: Decimal | None = None,
    ) -> None:
        self.input = input
        self.cache_read = cache_read
        self.cache_write = cache_write
        self.output = output
        self.total = input + cache_read + cache_write + output if total is None else total
        self.cache_savings = cache_savings
        self.model = model
        self.provider = provider
        self.source = source
        self.version = version
        self.currency = currency
        # False when only a total is known (a provider-stated cost for a model the
        # catalog cannot split): the per-class amounts are then not reported.
        self.split = True

    def amounts(self) -> dict[str, Decimal]:
        return {
            "total": self.total,
            "input": self.input,
            "cache_read": self.cache_read,
            "cache_write": self.cache_write,
            "output": self.output,
        }

    def floats(self) -> tuple[float, float, float, float, float, float]:
        """``(total, input, cache_read, cache_write, output, cache_savings)`` as floats: the
        nearest double to each exact amount, what span attributes and metrics carry."""
        # A Decimal becomes a float through its string: skip that for the zeros
        # (no cache write, no cache at all) that most calls have.
        read, write, savings = self.cache_read, self.cache_write, self.cache_savings
        return (
            float(self.total),
            float(self.input),
            float(read) if read else 0.0,
            float(write) if write else 0.0,
            float(self.output),
            float(savings) if savings else 0.0,
        )

    def __repr__(self) -> str:
        parts = ", ".join(f"{k}={v}" for k, v in self.amounts().items())
        return f"Cost({parts}, model={self.model!r}, source={self.source!r})"


class FlatCost(Cost):
    """A cost at flat per-token rates, held as exact integer multiples of ``10**exponent``.

    Every call is priced, but the Decimal amounts are read only by budgets, spend
    reports and the CLI: they are worked out on first read, by the same Decimal
    arithmetic as any other cost (same values, same exponents). The floats of the span
    and the metrics come from the integers: ``units / 10**-exponent`` is the double
    nearest the exact amount, the value ``float(Decimal)`` gives, at a fraction of its cost.
    """

    __slots__ = ("_exact", "_prices", "_usage", "exponent", "units")

    def __init__(
        self,
        units: tuple[int, int, int, int, int, int],
        exponent: int,
        usage: Usage,
        prices: PriceSet,
        model: str,
        provider: str,
        source: str,
        version: str,
        currency: str = "USD",
    ) -> None:
        # (input, cache_read, cache_write, output, cache_savings, total)
        self.units = units
        self.exponent = exponent
        self._usage = usage
        self._prices = prices
        self._exact: Cost | None = None
        self.model = model
        self.provider = provider
        self.source = source
        self.version = version
        self.currency = currency
        self.split = True

    def exact(self) -> Cost:
        exact = self._exact
        if exact is None:
            exact = self._exact = _decimal_cost(
                self._usage, self._prices, self.model, self.provider, self.source, self.version, self.currency
            )
        return exact

    input = property(lambda self: self.exact().input)  # type: ignore[assignment]
    cache_read = property(lambda self: self.exact().cache_read)  # type: ignore[assignment]
    cache_write = property(lambda self: self.exact().cache_write)  # type: ignore[assignment]
    output = property(lambda self: self.exact().output)  # type: ignore[assignment]
    cache_savings = property(lambda self: self.exact().cache_savings)  # type: ignore[assignment]
    total = property(lambda self: self.exact().total)  # type: ignore[assignment]

    def floats(self) -> tuple[float, float, float, float, float, float]:
        input, read, write, output, savings, total = self.units
        # Exact integers on both sides: true division rounds once, correctly.
        scale = 10**-self.exponent
        return (
            total / scale,
            input / scale,
            read / scale if read else 0.0,
            write / scale if write else 0.0,
            output / scale,
            savings / scale if savings else 0.0,
        )


class FlatRates:
    """Per-token rates as integers over one power of ten: ``rate = units * 10**exponent``."""

    __slots__ = ("cache_read", "cache_write", "exponent", "input", "output")

    def __init__(self, exponent: int, input: int, cache_read: int, cache_write: int, output: int) -> None:
        self.exponent = exponent
        self.input = input
        self.cache_read = cache_read
        self.cache_write = cache_write
        self.output = output


def flat_rates(prices: PriceSet) -> FlatRates | None:
    """``prices`` as :class:`FlatRates`, or None when a class needs more than one flat rate
    (tiers by context length, parts with a price of their own such as reasoning or audio)."""
    if prices.priced_input_parts or prices.priced_output_parts:
        return None
    input = prices.input if prices.input is not None else ZERO
    read = prices.cache_read if prices.cache_read is not None else input
    write = prices.cache_write if prices.cache_write is not None else input
    output = prices.output if prices.output is not None else ZERO
    rates = (input, read, write, output)
    if any(rate.__class__ is not Decimal or not rate.is_finite() for rate in rates):
        return None
    exponent = min(min(rate.as_tuple().exponent for rate in rates), 0)  # type: ignore[type-var]
    units = [int(rate.scaleb(-exponent)) for rate in rates]
    if any(Decimal(unit).scaleb(exponent) != rate for unit, rate in zip(units, rates, strict=True)):
        return None  # more digits than the context holds: the Decimal path then
    return FlatRates(exponent, *units)


def _rate(price: Price | None, input_tokens: int) -> Decimal | None:
    if price is None or price.__class__ is Decimal:
        return price  # type: ignore[return-value]
    return price.at(input_tokens)  # type: ignore[union-attr]


def _class_cost(
    tokens: int, rate: Decimal, total_input: int, *parts: tuple[int | None, Price | None]
) -> Decimal:
    """One token class: the parts with a price of their own (reasoning, audio, image)
    at that price, the rest at ``rate``. A part the catalog has no price for stays in
    the rest and pays the class's price."""
    cost = None
    for count, price in parts:
        if count and price is not None:
            count = min(count, tokens)
            part = count * _rate(price, total_input)  # type: ignore[operator]
            cost = part if cost is None else cost + part
            tokens -= count
    if tokens:
        part = tokens * rate
        cost = part if cost is None else cost + part
    return ZERO if cost is None else cost


def cost_of(
    usage: Usage,
    prices: PriceSet,
    model: str,
    provider: str,
    source: str,
    version: str,
    currency: str = "USD",
) -> Cost:
    """The cost of ``usage`` at per-token ``prices`` (:meth:`PriceSet.per_token`)."""
    _total, cache_read, cache_write, uncached = input_classes(usage)
    flat = prices.flat
    if flat is _UNKNOWN:
        flat = prices.flat = flat_rates(prices)
    if flat is not None and not (usage.cache_write_by_ttl and prices.cache_write_1h is not None):
        # Most calls: one flat rate per class, integer arithmetic.
        input_rate = flat.input
        input_units = uncached * input_rate
        read_units = cache_read * flat.cache_read
        write_units = cache_write * flat.cache_write
        output_units = usage.output_tokens * flat.output
        savings = (
            (cache_read + cache_write) * input_rate - read_units - write_units
            if cache_read or cache_write
            else 0
        )
        return FlatCost(
            (
                input_units,
                read_units,
                write_units,
                output_units,
                savings,
                input_units + read_units + write_units + output_units,
            ),
            flat.exponent,
            usage,
            prices,
            model,
            provider,
            source,
            version,
            currency,
        )

    return _decimal_cost(usage, prices, model, provider, source, version, currency)


def input_classes(usage: Usage) -> tuple[int, int, int, int]:
    """``(input, cache_read, cache_write, uncached)``: the input split into the classes
    billed apart, cache counts capped so that the parts never exceed the whole."""
    total_input = usage.input_tokens
    cache_read = usage.cache_read_tokens
    if cache_read > total_input:
        cache_read = total_input
    cache_write = usage.cache_write_tokens
    if cache_write > total_input - cache_read:
        cache_write = total_input - cache_read
    return total_input, cache_read, cache_write, total_input - cache_read - cache_write


def _decimal_cost(
    usage: Usage,
    prices: PriceSet,
    model: str,
    provider: str,
    source: str,
    version: str,
    currency: str = "USD",
) -> Cost:
    """:func:`cost_of` in Decimal arithmetic, for every price shape."""
    # Every Decimal operation costs about a microsecond's tenth: rates are looked up
    # and amounts computed only for the classes the call has tokens in, and no amount
    # is ever added to a zero.
    total_input, cache_read, cache_write, uncached = input_classes(usage)
    input_rate = _rate(prices.input, total_input) or ZERO

    if prices.priced_input_parts:
        input_cost = _class_cost(
            uncached,
            input_rate,
            total_input,
            (usage.audio_input_tokens, prices.input_audio),
            (usage.image_input_tokens, prices.input_image),
        )
    else:
        input_cost = uncached * input_rate if uncached else ZERO
    total = input_cost

    read_cost = write_cost = savings = ZERO
    if cache_read:
        read_rate = _rate(prices.cache_read, total_input)
        read_cost = cache_read * (input_rate if read_rate is None else read_rate)
        total += read_cost
    if cache_write:
        write_rate = _rate(prices.cache_write, total_input)
        if write_rate is None:
            write_rate = input_rate
        long_lived = 0
        ttl = usage.cache_write_by_ttl
        if ttl and prices.cache_write_1h is not None:
            long_lived = ttl.get("1h") or 0
            if long_lived > cache_write:
                long_lived = cache_write
        if long_lived:
            write_cost = long_lived * _rate(prices.cache_write_1h, total_input)  # type: ignore[operator]
            if cache_write > long_lived:
                write_cost += (cache_write - long_lived) * write_rate
        else:
            write_cost = cache_write * write_rate
        total += write_cost
    if cache_read or cache_write:
        # What the cached tokens would have cost at the plain input rate, minus what
        # they did cost: negative when writes cost more than reads saved.
        savings = (cache_read + cache_write) * input_rate - (
            read_cost + write_cost if cache_write else read_cost
        )

    output_cost = ZERO
    output = usage.output_tokens
    if output:
        output_rate = _rate(prices.output, total_input) or ZERO
        if prices.priced_output_parts:
            output_cost = _class_cost(
                output,
                output_rate,
                total_input,
                (usage.reasoning_tokens, prices.reasoning),
                (usage.audio_output_tokens, prices.output_audio),
                (usage.image_output_tokens, prices.output_image),
            )
        else:
            output_cost = output * output_rate
        total += output_cost

    return Cost(
        input_cost,
        read_cost,
        write_cost,
        output_cost,
        savings,
        model,
        provider,
        source,
        version,
        currency,
        total,
    )
