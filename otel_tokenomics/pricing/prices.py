"""Per-million-token prices of one model, and which of them apply to one call.

An entry holds a price history (periods starting on a UTC date, or daily time
windows as DeepSeek's off-peak hours) and request-context variants (batch, a
service tier) that override some of its prices. Resolving them for a call's
timestamp and context gives a :class:`PriceSet`, which :mod:`.compute` applies.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any

NS_PER_DAY = 86_400_000_000_000
NS_PER_MINUTE = 60_000_000_000
_EPOCH = date(1970, 1, 1).toordinal()

# Our price keys: per million tokens of each class. `cache_write` is the 5-minute
# (or only) rate; `reasoning`, the audio and the image rates apply only where the
# catalog sets them (otherwise those tokens pay the plain input or output rate).
PRICE_KEYS = (
    "input",
    "output",
    "cache_read",
    "cache_write",
    "cache_write_1h",
    "reasoning",
    "input_audio",
    "output_audio",
    "input_image",
    "output_image",
)


# genai-prices' per-million price keys -> ours: the catalog build and the optional
# genai-prices fallback read its data through this one map. Its per-request,
# per-search, per-hour and per-page prices have no token count to apply to, and
# its cached audio/image/video rates no usage field to split by: both left out.
GENAI_PRICES_KEYS = {
    "input_mtok": "input",
    "output_mtok": "output",
    "cache_read_mtok": "cache_read",
    "cache_write_mtok": "cache_write",
    "cache_write_5m_mtok": "cache_write",
    "cache_write_1h_mtok": "cache_write_1h",
    "output_reasoning_mtok": "reasoning",
    "input_audio_mtok": "input_audio",
    "output_audio_mtok": "output_audio",
    "input_image_mtok": "input_image",
    "output_image_mtok": "output_image",
}


class Tiered:
    """A price that changes for the whole request once its input exceeds a threshold.

    Cliff semantics, as the providers bill long context: a request whose total
    input (cached included) is above ``start`` pays the tier price for all of its
    tokens of that class, not only for the tokens past the threshold.
    """

    __slots__ = ("base", "tiers")

    def __init__(self, base: Decimal, tiers: list[tuple[int, Decimal]]) -> None:
        self.base = base
        self.tiers = sorted(tiers)

    def at(self, input_tokens: int) -> Decimal:
        for start, price in reversed(self.tiers):
            if input_tokens > start:
                return price
        return self.base

    def scaled(self, factor: Decimal) -> Tiered:
        return Tiered(self.base * factor, [(start, price * factor) for start, price in self.tiers])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Tiered) and (self.base, self.tiers) == (other.base, other.tiers)

    def __repr__(self) -> str:
        return f"Tiered({self.base}, {self.tiers})"

    def as_json(self) -> dict[str, Any]:
        return {"base": str(self.base), "tiers": [[start, str(price)] for start, price in self.tiers]}


Price = Decimal | Tiered
# What a price depends on besides the model and the date, as sorted (key, value)
# pairs: (("service_tier", "flex"),), (("processing", "batch"),).
Context = tuple[tuple[str, str], ...]
PER_TOKEN = Decimal("0.000001")


# PriceSet.flat before it is worked out (None then means "not flat").
UNKNOWN_FLAT: Any = object()


class PriceSet:
    """The prices in force for one call: None where the catalog has no price."""

    __slots__ = (*PRICE_KEYS, "_per_token", "flat", "priced_input_parts", "priced_output_parts")

    def __init__(self, **prices: Price | None) -> None:
        for key in PRICE_KEYS:
            setattr(self, key, prices.get(key))
        self._per_token: PriceSet | None = None
        # The same rates as integers (pricing.compute.FlatRates), worked out on first use.
        self.flat: Any = UNKNOWN_FLAT
        # Whether some part of a class has a price of its own: most models price
        # input and output flat, and their calls skip the per-part split.
        self.priced_input_parts = self.input_audio is not None or self.input_image is not None
        self.priced_output_parts = (
            self.reasoning is not None or self.output_audio is not None or self.output_image is not None
        )

    def per_token(self) -> PriceSet:
        """The same prices per single token (exact: a decimal shift), computed once."""
        found = self._per_token
        if found is None:
            found = self._per_token = self.scaled(PER_TOKEN)
        return found

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> PriceSet:
        return cls(**{key: parse_price(value) for key, value in raw.items() if key in PRICE_KEYS})

    def items(self) -> list[tuple[str, Price]]:
        return [(key, value) for key in PRICE_KEYS if (value := getattr(self, key)) is not None]

    def updated(self, other: PriceSet) -> PriceSet:
        # Built whole, never patched: __init__ derives the part flags from the prices.
        return PriceSet(**{**dict(self.items()), **dict(other.items())})

    def scaled(self, factor: Decimal) -> PriceSet:
        return PriceSet(
            **{
                key: value.scaled(factor) if isinstance(value, Tiered) else value * factor
                for key, value in self.items()
            }
        )

    @property
    def is_empty(self) -> bool:
        return self.input is None and self.output is None

    def as_json(self) -> dict[str, Any]:
        return {
            key: value.as_json() if isinstance(value, Tiered) else str(value) for key, value in self.items()
        }

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PriceSet) and self.items() == other.items()

    def __repr__(self) -> str:
        return f"PriceSet({', '.join(f'{k}={v}' for k, v in self.items())})"


def parse_price(raw: Any) -> Price:
    if isinstance(raw, Mapping):
        return Tiered(Decimal(str(raw["base"])), [(int(start), Decimal(str(p))) for start, p in raw["tiers"]])
    return Decimal(str(raw))


class When:
    """When a period or variant applies: from a UTC date on, or in a daily UTC window."""

    __slots__ = ("from_day", "from_text", "window")

    def __init__(self, raw: Mapping[str, Any] | None) -> None:
        self.from_day: int | None = None
        self.from_text: str | None = None
        self.window: tuple[int, int] | None = None
        if not raw:
            return
        if "from" in raw:
            self.from_text = str(raw["from"])
            self.from_day = date.fromisoformat(self.from_text).toordinal() - _EPOCH
        if "daily" in raw:
            start, end = raw["daily"]
            self.window = (_minutes(start), _minutes(end))

    def active(self, day: int, minute: int) -> bool:
        if self.from_day is not None and day < self.from_day:
            return False
        window = self.window
        if window is not None:
            start, end = window
            if end < start:  # wraps past midnight
                return minute >= start or minute < end
            return start <= minute < end
        return True

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.from_text:
            out["from"] = self.from_text
        if self.window:
            out["daily"] = [f"{m // 60:02d}:{m % 60:02d}" for m in self.window]
        return out


def _minutes(text: str) -> int:
    hours, minutes = str(text).split(":")[:2]
    return int(hours) * 60 + int(minutes)


class ModelPrices:
    """One catalog (or override) entry: its price history and context variants."""

    __slots__ = (
        "_resolved",
        "context_factors",
        "entry_id",
        "name",
        "periods",
        "provider_id",
        "time_of_day",
        "variants",
    )

    def __init__(
        self,
        provider_id: str,
        entry_id: str,
        periods: list[tuple[When, PriceSet]],
        variants: list[tuple[dict[str, str], When, PriceSet]] | None = None,
        context_factors: list[tuple[dict[str, str], Decimal]] | None = None,
        name: str | None = None,
    ) -> None:
        self.provider_id = provider_id
        self.entry_id = entry_id
        self.name = name
        self.periods = periods
        self.variants = variants or []
        self.context_factors = context_factors or []
        # Daily windows make the price depend on the time of day, not only the date.
        self.time_of_day = any(w.window for w, _ in periods) or any(w.window for _, w, _ in self.variants)
        self._resolved: dict[Any, PriceSet] = {}

    @classmethod
    def from_json(
        cls, provider_id: str, raw: Mapping[str, Any], context_factors: list[tuple[dict[str, str], Decimal]]
    ) -> ModelPrices:
        periods = [(When(p.get("when")), PriceSet.from_json(p["prices"])) for p in raw["prices"]]
        variants = [
            (dict(v["context"]), When(v.get("when")), PriceSet.from_json(v["prices"]))
            for v in raw.get("variants", ())
        ]
        return cls(provider_id, raw["id"], periods, variants, context_factors, raw.get("name"))

    def moment_key(self, timestamp_ns: int, context: Context | None) -> Any:
        """What the prices in force depend on: the UTC day, the minute for daily windows, the context."""
        minute = (timestamp_ns // NS_PER_MINUTE) % 1440 if self.time_of_day else 0
        return (timestamp_ns // NS_PER_DAY, minute, context)

    def at(self, timestamp_ns: int, context: Mapping[str, str] | Context | None = None) -> PriceSet:
        """The prices in force at ``timestamp_ns`` (UTC) for a request in ``context``."""
        context = as_context(context)
        key = self.moment_key(timestamp_ns, context)
        found = self._resolved.get(key)
        if found is None:
            found = self._resolve(key[0], key[1], dict(context) if context else None)
            if len(self._resolved) > 64:
                self._resolved.clear()
            self._resolved[key] = found
        return found

    def _resolve(self, day: int, minute: int, context: Mapping[str, str] | None) -> PriceSet:
        periods = self.periods
        standard = periods[0][1]
        # The last period in force wins: a history lists its changes in order.
        for when, prices in reversed(periods):
            if when.active(day, minute):
                standard = prices
                break
        if not context:
            return standard
        resolved = standard
        matched_contexts: list[dict[str, str]] = []
        overrides: dict[str, Price] = {}
        for variant_context, when, prices in self.variants:
            if not when.active(day, minute) or not _within(variant_context, context):
                continue
            matched_contexts.append(variant_context)
            for key, value in prices.items():
                overrides.setdefault(key, value)
        if overrides:
            resolved = standard.updated(PriceSet(**overrides))
        for factor_context, factor in self.context_factors:
            # A provider-wide rule (batch at 50%) only where the entry publishes no
            # price of its own for that context.
            if _within(factor_context, context) and factor_context not in matched_contexts:
                resolved = resolved.scaled(factor)
        return resolved


def as_context(context: Mapping[str, str] | Context | None) -> Context | None:
    """A request context as a sorted tuple of pairs: hashable, so prices cache on it."""
    if not context:
        return None
    if context.__class__ is tuple:
        return context  # type: ignore[return-value]
    return tuple(sorted(context.items()))  # type: ignore[union-attr]


def _within(required: Mapping[str, str], context: Mapping[str, str]) -> bool:
    return all(context.get(key) == value for key, value in required.items())
