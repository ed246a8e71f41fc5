"""The optional genai-prices fallback for models the catalog lacks."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from datetime import datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any, NoReturn

import pytest

genai_prices = pytest.importorskip("genai_prices")

from otel_tokenomics import pricing  # noqa: E402
from otel_tokenomics.pricing import Overrides, Pricer  # noqa: E402
from otel_tokenomics.pricing.catalog import Catalog  # noqa: E402
from otel_tokenomics.pricing.fallback import Fallback, load_fallback  # noqa: E402
from otel_tokenomics.usage import Usage  # noqa: E402

MILLION = 1_000_000
VERSION = "genai-prices:0.2.3"  # the release pinned by the test extra


def at(*when: int) -> int:
    return int(datetime(*when, tzinfo=timezone.utc).timestamp()) * 1_000_000_000


# The bundled catalog prices everything genai-prices does (they share a source), so a
# model "missing from the catalog" is simulated with a catalog that knows only gpt-4o.
TINY = {
    "version": "tiny-1",
    "providers": [
        {
            "id": "openai",
            "models": [
                {
                    "id": "gpt-4o",
                    "match": {"equals": "gpt-4o"},
                    "prices": [{"prices": {"input": "2", "output": "8"}}],
                }
            ],
        },
        {"id": "deepseek", "models": []},
    ],
}


@pytest.fixture(autouse=True)
def clean_pricing(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv(pricing.ENV_PRICES, raising=False)
    monkeypatch.delenv(pricing.ENV_FALLBACK, raising=False)
    pricing.reset()
    yield
    pricing.reset()


@pytest.fixture
def untouchable_globals(monkeypatch: pytest.MonkeyPatch) -> None:
    """genai-prices' shared snapshot and updater: any use of them fails the test."""
    from genai_prices import data_snapshot, update_prices

    def forbidden(*args: Any, **kwargs: Any) -> NoReturn:
        raise AssertionError("the fallback must not use genai-prices' global snapshot or updater")

    for name in ("get_snapshot", "set_custom_snapshot", "_bundled_snapshot"):
        monkeypatch.setattr(data_snapshot, name, forbidden)
    for name in ("__init__", "start", "fetch", "wait"):
        monkeypatch.setattr(update_prices.UpdatePrices, name, forbidden)
    monkeypatch.setattr(update_prices, "wait_prices_updated_sync", forbidden)
    monkeypatch.setattr(genai_prices, "calc_price", forbidden)


def fallback_pricer(**environ: str) -> Pricer:
    """The fallback as ``configure`` builds it from the environment, over the tiny catalog."""
    configured = pricing.configure(environ=environ)
    return Pricer(catalog=Catalog(TINY), fallback=configured.fallback)


def test_model_missing_from_the_catalog_is_priced_when_enabled(untouchable_globals: None) -> None:
    pricer = fallback_pricer(OTEL_TOKENOMICS_PRICING_FALLBACK="genai-prices")
    assert isinstance(pricer.fallback, Fallback)

    found = pricer.cost(
        "openai",
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        Usage(MILLION, MILLION, cache_read_tokens=200_000),
        at(2026, 1, 5),
    )

    assert found is not None
    assert found.amounts() == {
        "total": Decimal("0.735"),
        "input": Decimal("0.12"),  # 800k x 0.15
        "cache_read": Decimal("0.015"),  # 200k x 0.075
        "cache_write": Decimal(0),
        "output": Decimal("0.6"),
    }
    assert (found.source, found.version, found.model, found.provider) == (
        "catalog",
        VERSION,
        "gpt-4o-mini",
        "openai",
    )
    # What the catalog has still comes from the catalog.
    own = pricer.cost("openai", ("gpt-4o",), Usage(MILLION, MILLION), at(2026, 1, 5))
    assert own is not None and (own.total, own.version) == (Decimal("10"), "tiny-1")


def test_model_missing_from_the_catalog_is_unpriced_when_not_enabled() -> None:
    for environ in (
        {},
        {"OTEL_TOKENOMICS_PRICING_FALLBACK": ""},
        {"OTEL_TOKENOMICS_PRICING_FALLBACK": "none"},
    ):
        pricer = fallback_pricer(**environ)
        assert pricer.fallback is None
        assert pricer.cost("openai", ("gpt-4o-mini",), Usage(MILLION, MILLION), at(2026, 1, 5)) is None


def test_unknown_fallback_name_warns_and_is_ignored(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="otel_tokenomics"):
        pricer = fallback_pricer(OTEL_TOKENOMICS_PRICING_FALLBACK="genai_price")
    assert pricer.fallback is None
    (record,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert (
        "unknown OTEL_TOKENOMICS_PRICING_FALLBACK 'genai_price' (known: genai-prices)" in record.getMessage()
    )


def test_fallback_without_the_package_warns_and_is_ignored(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "genai_prices", None)  # import genai_prices now raises ImportError
    with caplog.at_level(logging.WARNING, logger="otel_tokenomics"):
        assert load_fallback("genai-prices") is None
    assert "the genai-prices package cannot be imported" in caplog.text


def test_a_swapped_global_snapshot_does_not_change_our_prices(monkeypatch: pytest.MonkeyPatch) -> None:
    from genai_prices import data_snapshot

    # What an auto-update (or another library) could install process-wide: no providers at all.
    monkeypatch.setattr(
        data_snapshot, "_custom_snapshot", data_snapshot.DataSnapshot([], from_auto_update=True)
    )
    pricer = Pricer(catalog=Catalog(TINY), fallback=Fallback())
    found = pricer.cost("openai", ("gpt-4o-mini",), Usage(MILLION, 0), at(2026, 1, 5))
    assert found is not None and (found.total, found.version) == (Decimal("0.15"), VERSION)


def test_time_of_day_prices_agree_with_genai_prices_own_arithmetic(untouchable_globals: None) -> None:
    pricer = Pricer(catalog=Catalog(TINY), fallback=Fallback())
    usage = Usage(MILLION, MILLION, cache_read_tokens=200_000)
    # genai-prices 0.2.3: deepseek-chat costs 0.27/0.07/1.10 from 00:30 to 16:30 UTC, half outside.
    peak = pricer.cost("deepseek", ("deepseek-chat",), usage, at(2025, 3, 1, 10))
    night = pricer.cost("deepseek", ("deepseek-chat",), usage, at(2025, 3, 1, 17))
    assert peak is not None and peak.total == Decimal("1.33")  # 800k x 0.27 + 200k x 0.07 + 1M x 1.10
    assert night is not None and night.total == Decimal("0.665")


def test_same_totals_as_genai_prices_itself() -> None:
    pricer = Pricer(catalog=Catalog(TINY), fallback=Fallback())
    when = datetime(2025, 3, 1, 17, tzinfo=timezone.utc)
    theirs = genai_prices.calc_price(
        genai_prices.Usage(input_tokens=MILLION, cache_read_tokens=200_000, output_tokens=MILLION),
        "deepseek-chat",
        provider_id="deepseek",
        genai_request_timestamp=when,
    )
    ours = pricer.cost(
        "deepseek", ("deepseek-chat",), Usage(MILLION, MILLION, cache_read_tokens=200_000), at(2025, 3, 1, 17)
    )
    assert ours is not None and ours.total == theirs.total_price == Decimal("0.665")


def test_windows_in_another_time_zone_are_shifted_to_utc() -> None:
    from genai_prices.types import TimeOfDateConstraint

    from otel_tokenomics.pricing.fallback import _when

    beijing = timezone(timedelta(hours=8))
    window = _when(
        TimeOfDateConstraint(start_time=time(8, 30, tzinfo=beijing), end_time=time(0, 30, tzinfo=beijing))
    )
    assert window.describe() == {"daily": ["00:30", "16:30"]}


def test_request_context_variants_and_provider_rules_apply(untouchable_globals: None) -> None:
    pricer = Pricer(catalog=Catalog(TINY), fallback=Fallback())
    usage = Usage(MILLION, MILLION)
    # gpt-4o-mini has its own priority row in genai-prices (0.25 / 1.00 from 2026-10-12).
    priority = pricer.cost("openai", ("gpt-4o-mini",), usage, at(2026, 11, 2), {"service_tier": "priority"})
    assert priority is not None and priority.total == Decimal("1.25")
    # gpt-4-32k (60 / 120) has no batch row: OpenAI's provider-wide batch rule halves it.
    batch = pricer.cost("openai", ("gpt-4-32k",), usage, at(2026, 11, 2), {"processing": "batch"})
    assert batch is not None and batch.total == Decimal("90")


def test_models_priced_only_per_hour_stay_unpriced() -> None:
    pricer = Pricer(catalog=Catalog(TINY), fallback=Fallback())
    assert pricer.cost("openai", ("whisper-1",), Usage(MILLION, MILLION), at(2026, 1, 5)) is None


def test_unreadable_genai_prices_data_leaves_the_call_unpriced(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    fallback = Fallback()

    def broken(*args: Any, **kwargs: Any) -> NoReturn:
        raise ValueError("corrupt data")

    monkeypatch.setattr(fallback._providers["openai"], "find_model", broken)
    pricer = Pricer(catalog=Catalog(TINY), fallback=fallback)
    with caplog.at_level(logging.WARNING, logger="otel_tokenomics"):
        assert pricer.cost("openai", ("gpt-4o-mini",), Usage(MILLION, MILLION), at(2026, 1, 5)) is None
    assert "cannot read genai-prices' entry for 'gpt-4o-mini' of provider 'openai'" in caplog.text


def test_override_base_model_found_through_the_fallback(untouchable_globals: None) -> None:
    overrides = Overrides.from_mapping(
        {"models": [{"id": "ft:acme:*", "base": "gpt-4o-mini", "output": "2"}]}
    )
    pricer = Pricer(overrides, Fallback(), Catalog(TINY))
    overrides.check(pricer)  # the base is known only to genai-prices: no error

    found = pricer.cost("openai", ("ft:acme:v1",), Usage(MILLION, MILLION), at(2026, 1, 5))
    assert found is not None
    assert (found.total, found.source, found.version) == (Decimal("2.15"), "override", overrides.version)
