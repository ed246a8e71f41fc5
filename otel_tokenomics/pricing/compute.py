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

from otel_tokenomics.pricing.prices import Price, PriceSet, Tiered
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

    def __repr__(self) -> str:
        parts = ", ".join(f"{k}={v}" for k, v in self.amounts().items())
        return f"Cost({parts}, model={self.model!r}, source={self.source!r})"


def _rate(price: Price | None, input_tokens: int) -> Decimal | None:
    if price is None:
        return None
    if isinstance(price, Tiered):
        return price.at(input_tokens)
    return price


def _times(tokens: int, rate: Decimal) -> Decimal:
    return tokens * rate / MILLION if tokens else ZERO


def cost_of(
    usage: Usage,
    prices: PriceSet,
    *,
    model: str,
    provider: str,
    source: str,
    version: str,
    currency: str = "USD",
) -> Cost:
    total_input = usage.input_tokens
    input_rate = _rate(prices.input, total_input) or ZERO
    output_rate = _rate(prices.output, total_input) or ZERO

    cache_read = min(usage.cache_read_tokens, total_input)
    cache_write = min(usage.cache_write_tokens, total_input - cache_read)
    uncached = total_input - cache_read - cache_write

    input_cost = ZERO
    audio_rate = _rate(prices.input_audio, total_input)
    if audio_rate is not None and usage.audio_input_tokens:
        audio = min(usage.audio_input_tokens, uncached)
        input_cost += _times(audio, audio_rate)
        uncached -= audio
    image_rate = _rate(prices.input_image, total_input)
    if image_rate is not None and usage.image_input_tokens:
        image = min(usage.image_input_tokens, uncached)
        input_cost += _times(image, image_rate)
        uncached -= image
    input_cost += _times(uncached, input_rate)

    read_rate = _rate(prices.cache_read, total_input)
    if read_rate is None:
        read_rate = input_rate
    read_cost = _times(cache_read, read_rate)

    write_rate = _rate(prices.cache_write, total_input)
    if write_rate is None:
        write_rate = input_rate
    write_cost = ZERO
    if cache_write:
        long_lived = 0
        hour_rate = _rate(prices.cache_write_1h, total_input)
        ttl = usage.cache_write_by_ttl
        if ttl and hour_rate is not None:
            long_lived = min(ttl.get("1h", 0) or 0, cache_write)
            write_cost = _times(long_lived, hour_rate)
        write_cost += _times(cache_write - long_lived, write_rate)

    output = usage.output_tokens
    output_cost = ZERO
    reasoning_rate = _rate(prices.reasoning, total_input)
    if reasoning_rate is not None and usage.reasoning_tokens:
        reasoning = min(usage.reasoning_tokens, output)
        output_cost += _times(reasoning, reasoning_rate)
        output -= reasoning
    audio_out_rate = _rate(prices.output_audio, total_input)
    if audio_out_rate is not None and usage.audio_output_tokens:
        audio_out = min(usage.audio_output_tokens, output)
        output_cost += _times(audio_out, audio_out_rate)
        output -= audio_out
    image_out_rate = _rate(prices.output_image, total_input)
    if image_out_rate is not None and usage.image_output_tokens:
        image_out = min(usage.image_output_tokens, output)
        output_cost += _times(image_out, image_out_rate)
        output -= image_out
    output_cost += _times(output, output_rate)

    # What the cached tokens would have cost at the plain input rate, minus what
    # they did cost: negative when writes cost more than reads saved.
    savings = _times(cache_read + cache_write, input_rate) - read_cost - write_cost
    return Cost(
        input_cost,
        read_cost,
        write_cost,
        output_cost,
        savings,
        model=model,
        provider=provider,
        source=source,
        version=version,
        currency=currency,
    )
