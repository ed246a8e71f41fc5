"""Our catalog against the pinned genai-prices data, model by model.

Every model both sources know is priced by our engine and by genai-prices for a
few usage vectors, dates and request contexts; the totals must agree unless
``prices/corrections.toml`` says why they don't. A disagreement nobody wrote
down means the build or the engine changed a price by accident, so it fails the
test with the full list.

Only genai-prices' data module and its model/provider types are used: never its
module-level ``calc_price`` (that reads a process-wide snapshot which may
auto-update), so this test prices with exactly the pinned release.

Deliberate exclusions, each a price the catalog does not carry on purpose (see
``TOKEN_PRICE_KEYS`` in ``prices/build.py``):

* fees that are not per token (per request, per search, per hour or page): a
  genai-prices price with such a key is compared on its token prices only;
* models with no token price at all (the build drops them);
* models whose genai-prices calculation raises (an unpriceable usage shape).
"""

from __future__ import annotations

import datetime as dt
import pathlib
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest

genai_prices = pytest.importorskip("genai_prices", reason="genai-prices needs Python 3.11+")

import tomllib  # noqa: E402 - genai-prices being importable means Python 3.11+
from genai_prices import data as source  # noqa: E402
from genai_prices import types as gp  # noqa: E402

from otel_tokenomics.pricing import Pricer  # noqa: E402
from otel_tokenomics.usage import Usage  # noqa: E402
from prices.build import PINNED_SOURCE, TOKEN_PRICE_KEYS  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
CORRECTIONS = ROOT / "prices" / "corrections.toml"

# Before, around and after the price changes the data records (OpenAI's
# 2025-06-10 cut, DeepSeek's 2025-09-05 move, the late-2026 variants). Noon UTC
# is inside DeepSeek's standard-price window; 20:00 UTC probes its off-peak one.
DATES = (
    dt.datetime(2024, 6, 1, 12, tzinfo=dt.timezone.utc),
    dt.datetime(2025, 6, 1, 12, tzinfo=dt.timezone.utc),
    dt.datetime(2026, 11, 1, 12, tzinfo=dt.timezone.utc),
)
OFF_PEAK = dt.datetime(2025, 6, 1, 20, tzinfo=dt.timezone.utc)
BATCH: Mapping[str, str] = {"processing": "batch"}

# Token counts with no common factor with the prices, so a wrong rate cannot
# hide behind rounding; the long one crosses every 128k/200k long-context tier.
PLAIN = {"input_tokens": 12_345, "output_tokens": 678}
CACHE_READ = {"input_tokens": 20_011, "cache_read_tokens": 15_003, "output_tokens": 501}
LONG_CACHE_READ = {"input_tokens": 300_007, "cache_read_tokens": 100_003, "output_tokens": 2_001}
CACHE_WRITE = {
    "input_tokens": 20_011,
    "cache_read_tokens": 4_003,
    "cache_write_tokens": 8_009,
    "output_tokens": 307,
}

# Both sides compute exactly in Decimal but sum in a different order; a
# nano-dollar is far below any price difference worth reporting.
TOLERANCE = Decimal("1e-9")

CACHE_WRITE_KEYS = {"cache_write_mtok", "cache_write_5m_mtok", "cache_write_1h_mtok"}


@dataclass(frozen=True)
class Disagreement:
    provider: str
    model: str
    entry: str
    date: str
    context: str
    usage: str
    ours: Decimal
    theirs: Decimal

    def __str__(self) -> str:
        return (
            f"{self.provider}/{self.model} (genai-prices entry {self.entry}) at {self.date}{self.context}, "
            f"{self.usage}: ours {self.ours.normalize()} vs genai-prices {self.theirs.normalize()}"
        )


def _equals_ids(clause: Any) -> Iterator[str]:
    """The ids a match rule accepts by equality (what a user can type for it)."""
    if isinstance(clause, gp.ClauseEquals):
        yield clause.equals.lower()
    elif isinstance(clause, gp.ClauseOr):
        for part in clause.or_:
            yield from _equals_ids(part)


def _probe_ids(model: gp.ModelInfo) -> list[str]:
    return list(dict.fromkeys([model.id.lower(), *_equals_ids(model.match)]))


def _price_periods(model: gp.ModelInfo) -> list[gp.ModelPrice]:
    if isinstance(model.prices, gp.ModelPrice):
        return [model.prices]
    return [conditional.prices for conditional in model.prices]


def _keys(price: gp.ModelPrice) -> set[str]:
    return {key for key, value in price.__dict__.items() if value is not None and not key.startswith("_")}


def _has_time_of_day(model: gp.ModelInfo) -> bool:
    periods = [] if isinstance(model.prices, gp.ModelPrice) else model.prices
    constraints = [p.constraint for p in periods] + [v.constraint for v in model.price_variants or ()]
    return any(isinstance(c, gp.TimeOfDateConstraint) for c in constraints)


def _has_batch(model: gp.ModelInfo) -> bool:
    return any(dict(v.when) == dict(BATCH) for v in model.price_variants or ())


class Explanations:
    """Which disagreements ``corrections.toml`` accounts for, and how strictly.

    An ``alias`` covers its one API id, an ``add`` the ids it lists (models the
    source does not price, so never a disagreement), a ``set`` its entry, a ``from`` its entry
    from its date on, a ``regional_premium`` the in-region Claude entries of its
    provider. A ``context_multiplier`` covers a request in its context only where
    our total is exactly ``factor`` x genai-prices' context-free total: the
    multiplier stands in for a batch price the source does not publish (yet), so
    any other difference in that context is still a finding.
    """

    def __init__(self, corrections: list[Mapping[str, Any]]) -> None:
        self.aliases: set[tuple[str, str]] = set()
        self.entries: dict[tuple[str, str], dt.date | None] = {}
        self.regional: dict[str, set[str]] = {}
        self.context_rules: list[tuple[str, dict[str, str], Decimal]] = []
        for correction in corrections:
            provider, kind = correction["provider"], correction["kind"]
            if kind == "alias":
                self.aliases.add((provider, correction["model"].lower()))
            elif kind == "add":
                for model_id in (correction["model"], *correction.get("ids", ())):
                    self.aliases.add((provider, model_id.lower()))
            elif kind == "set":
                self.entries[(provider, correction["model"])] = None
            elif kind == "from":
                self.entries[(provider, correction["model"])] = dt.date.fromisoformat(str(correction["date"]))
            elif kind == "regional_premium":
                self.regional[provider] = set(correction.get("exempt", ()))
            elif kind == "context_multiplier":
                rule = (provider, dict(correction["context"]), Decimal(str(correction["factor"])))
                self.context_rules.append(rule)
            else:
                raise AssertionError(f"corrections.toml: kind {kind!r} is unknown to this test; teach it")

    def covers_model(self, provider: str, probe: str, entry: str, when: dt.datetime) -> bool:
        """Whether a correction changes this id's price at ``when`` (in any context)."""
        if (provider, probe) in self.aliases:
            return True
        if (provider, entry) in self.entries:
            start = self.entries[(provider, entry)]
            return start is None or when.date() >= start
        exempt = self.regional.get(provider)
        return (
            exempt is not None
            and entry.startswith("regional.")
            and ".claude-" in entry
            and entry.removeprefix("regional.") not in exempt
        )

    def context_factor(self, provider: str, context: Mapping[str, str] | None) -> Decimal | None:
        if not context:
            return None
        for rule_provider, rule, factor in self.context_rules:
            if rule_provider == provider and all(context.get(k) == v for k, v in rule.items()):
                return factor
        return None


def _theirs(
    model: gp.ModelInfo,
    provider: gp.Provider,
    counts: Mapping[str, int],
    when: dt.datetime,
    context: Mapping[str, str] | None,
    tokens_only: bool = False,
) -> Decimal | None:
    """genai-prices' total, or None where its calculation raises (a usage shape it refuses)."""
    usage = gp.Usage(**counts)
    try:
        if not tokens_only:
            calculation = model.calc_price(
                usage, provider, genai_request_timestamp=when, price_context=context
            )
            return calculation.total_price
        # The same resolution calc_price does, then only the keys our catalog carries.
        in_force = model.get_prices(when, context)
        token_prices = gp.ModelPrice(**{k: v for k, v in in_force.__dict__.items() if k in TOKEN_PRICE_KEYS})
        return token_prices.calc_price(usage)["total_price"]
    except Exception:  # whatever the source cannot price is not ours to judge
        return None


def _ns(when: dt.datetime) -> int:
    return int(when.timestamp()) * 1_000_000_000


class Result:
    """What the crosscheck found: unexplained disagreements, ids we miss, counts."""

    def __init__(self) -> None:
        self.disagreements: list[Disagreement] = []
        self.unknown: list[str] = []
        self.stats = {"probes": 0, "comparisons": 0, "explained": 0, "fees_only": 0, "raised": 0}


def _crosscheck() -> Result:
    explanations = Explanations(tomllib.loads(CORRECTIONS.read_text())["correction"])
    pricer = Pricer()
    result = Result()
    for provider in source.providers:
        seen: set[str] = set()
        for listed in provider.models:
            for probe in _probe_ids(listed):
                if probe in seen:
                    continue
                seen.add(probe)
                model = provider.find_model(probe, all_providers=source.providers)
                if model is None or not any(
                    _keys(p) & TOKEN_PRICE_KEYS.keys() for p in _price_periods(model)
                ):
                    continue  # no token price: the build leaves it out on purpose
                result.stats["probes"] += 1
                if pricer.match(provider.id, probe) is None:
                    result.unknown.append(f"{provider.id}/{probe}")
                    continue
                result.disagreements.extend(
                    _compare(pricer, provider, probe, model, explanations, result.stats)
                )
    return result


def _compare(
    pricer: Pricer,
    provider: gp.Provider,
    probe: str,
    model: gp.ModelInfo,
    explanations: Explanations,
    stats: dict[str, int],
) -> Iterator[Disagreement]:
    vectors = {"plain": PLAIN, "cache read": CACHE_READ, "long cache read": LONG_CACHE_READ}
    if any(_keys(p) & CACHE_WRITE_KEYS for p in _price_periods(model)):
        vectors["cache write"] = CACHE_WRITE
    dates = DATES + ((OFF_PEAK,) if _has_time_of_day(model) else ())
    contexts: tuple[Mapping[str, str] | None, ...] = (None, BATCH) if _has_batch(model) else (None,)
    for when in dates:
        for context in contexts:
            for label, counts in vectors.items():
                theirs = _theirs(model, provider, counts, when, context)
                if theirs is None:
                    stats["raised"] += 1
                    continue
                cost = pricer.cost(provider.id, (probe,), Usage(**counts), _ns(when), context)
                assert cost is not None  # matched above
                stats["comparisons"] += 1
                if abs(cost.total - theirs) <= TOLERANCE:
                    continue
                if explanations.covers_model(provider.id, probe, model.id, when):
                    stats["explained"] += 1
                    continue
                factor = explanations.context_factor(provider.id, context)
                if factor is not None:
                    standard = _theirs(model, provider, counts, when, None)
                    if standard is not None and abs(cost.total - factor * standard) <= TOLERANCE:
                        stats["explained"] += 1
                        continue
                in_force = model.get_prices(when, context)
                if _keys(in_force) - TOKEN_PRICE_KEYS.keys():
                    tokens = _theirs(model, provider, counts, when, context, tokens_only=True)
                    if tokens is not None and abs(cost.total - tokens) <= TOLERANCE:
                        stats["fees_only"] += 1
                        continue
                yield Disagreement(
                    provider.id,
                    probe,
                    model.id,
                    when.strftime("%Y-%m-%dT%H:%MZ"),
                    f" {dict(context)}" if context else "",
                    label,
                    cost.total,
                    theirs,
                )


@pytest.fixture(scope="module")
def crosscheck() -> Result:
    with warnings.catch_warnings():
        # genai-prices warns about price keys of its newer units; they are the
        # fees excluded above, not something this test can act on.
        warnings.simplefilter("ignore", UserWarning)
        return _crosscheck()


def test_pinned_source_is_installed() -> None:
    assert genai_prices.__version__ == PINNED_SOURCE


def test_every_disagreement_with_genai_prices_is_a_recorded_correction(crosscheck: Result) -> None:
    found = crosscheck.disagreements
    message = "\n".join(str(d) for d in found)
    assert not found, (
        f"{len(found)} price(s) differ from genai-prices {PINNED_SOURCE} with no correction:\n{message}"
    )


def test_every_token_priced_source_model_is_in_the_catalog(crosscheck: Result) -> None:
    # An id the source prices per token that we cannot price would leave its calls
    # unpriced: the build or a lookup rule lost it.
    assert not crosscheck.unknown, f"{len(crosscheck.unknown)} id(s) unpriced: {crosscheck.unknown}"


def test_the_crosscheck_compares_enough(crosscheck: Result) -> None:
    # Guards against a test that passes by comparing nothing (a renamed provider
    # id, a lookup that always misses, a source that raises on every usage).
    stats = crosscheck.stats
    assert stats["probes"] > 2_000, stats
    assert stats["comparisons"] > 10 * stats["probes"], stats
    assert stats["raised"] < stats["comparisons"] // 100, stats
