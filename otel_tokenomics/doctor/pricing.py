"""Check 5: the bundled price catalog, your price file and the pricing fallback."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from otel_tokenomics.doctor.findings import PROBLEM, WARNING, Finding
from otel_tokenomics.doctor.installed import Installed

CATALOG_MAX_AGE_DAYS = 90


@dataclass(frozen=True)
class PricingStatus:
    catalog_version: str | None
    catalog_built: str | None
    catalog_age_days: int | None
    price_file: str | None
    price_file_source: str | None
    price_file_status: str  # none / loaded / error
    price_file_version: str | None
    price_file_error: str | None
    fallback: str
    fallback_status: str
    # report() only: what the running process prices with
    this_process: str | None = None


def catalog_header(path: str | None = None) -> Mapping[str, Any]:
    """The catalog's first line (version, source): the model lines are not read."""
    from otel_tokenomics.pricing.catalog import CATALOG_FILE

    with open(path or CATALOG_FILE, encoding="utf-8") as file:
        header: Mapping[str, Any] = json.loads(file.readline())
    return header


def catalog_date(version: str) -> date | None:
    """``2026.11.27.2`` -> 2026-11-27 (the build date leads the version)."""
    match = re.match(r"^(\d{4})\.(\d{1,2})\.(\d{1,2})", version)
    if match is None:
        return None
    try:
        return date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return None


def check_pricing(
    environ: Mapping[str, str],
    installed: Installed,
    today: date,
    prices: str | None = None,
    header: Callable[[], Mapping[str, Any]] = catalog_header,
) -> tuple[PricingStatus, list[Finding]]:
    from otel_tokenomics.pricing import ENV_FALLBACK, ENV_PRICES, load_overrides
    from otel_tokenomics.pricing.engine import Pricer
    from otel_tokenomics.pricing.fallback import FALLBACK_GENAI_PRICES
    from otel_tokenomics.pricing.overrides import PriceOverrideError

    findings: list[Finding] = []
    version: str | None = None
    built: date | None = None
    age: int | None = None
    try:
        version = str(header()["version"])
    except Exception as error:
        findings.append(
            Finding(
                PROBLEM,
                f"the bundled price catalog cannot be read ({type(error).__name__}): every call is unpriced",
                "reinstall otel-tokenomics",
            )
        )
    if version is not None:
        built = catalog_date(version)
        if built is not None:
            age = (today - built).days
            if age > CATALOG_MAX_AGE_DAYS:
                findings.append(
                    Finding(
                        WARNING,
                        f"the price catalog {version} is {age} days old: newer models are unpriced and "
                        "changed prices are not known",
                        "upgrade otel-tokenomics, add your own prices (OTEL_TOKENOMICS_PRICES), or set "
                        "OTEL_TOKENOMICS_PRICING_FALLBACK=genai-prices with a current genai-prices",
                    )
                )

    source = "--prices" if prices else ENV_PRICES
    path = prices or (environ.get(ENV_PRICES, "").strip() or None)
    status, file_version, error_text = "none", None, None
    if path is not None:
        try:
            overrides = load_overrides(path)
            overrides.check(Pricer(overrides))
            status, file_version = "loaded", overrides.version
        except PriceOverrideError as error:
            status, error_text = "error", str(error)
            findings.append(
                Finding(
                    PROBLEM,
                    f"your price file cannot be used: {error}. Under instrumentation every call is then "
                    "unpriced (tokenomics.cost.status=unpriced)",
                    f"fix the file named by {source}, or unset it",
                )
            )

    raw_fallback = environ.get(ENV_FALLBACK, "")
    fallback = raw_fallback.strip().lower() or "off"
    if fallback in ("", "none", "off", "false", "0"):
        fallback_status = "off"
    elif fallback != FALLBACK_GENAI_PRICES:
        fallback_status = "unknown"
        findings.append(
            Finding(
                PROBLEM,
                f"{ENV_FALLBACK}={raw_fallback!r} is not a known fallback: models missing from the catalog "
                "stay unpriced",
                f"set {ENV_FALLBACK}=genai-prices, or unset it",
            )
        )
    elif installed.version("genai-prices") is None:
        fallback_status = "genai-prices not installed"
        findings.append(
            Finding(
                PROBLEM,
                f"{ENV_FALLBACK}=genai-prices, but genai-prices is not installed: the fallback is off",
                "pip install 'otel-tokenomics[genai-prices]' (Python 3.11 or later)",
            )
        )
    else:
        fallback_status = f"genai-prices {installed.version('genai-prices')}"
    status_obj = PricingStatus(
        version,
        built.isoformat() if built else None,
        age,
        path,
        source if path else None,
        status,
        file_version,
        error_text,
        fallback,
        fallback_status,
    )
    return status_obj, findings


def pricing_now() -> str:
    """What the running process prices with; reads state, configures nothing."""
    from otel_tokenomics import cost, pricing

    current = cost._pricer
    if current is cost.NO_PRICES:
        return "refused: a bad price file, every call unpriced"
    if current is None:
        return "not configured yet (the catalog loads on the first call)"
    overrides = getattr(current, "overrides", None)
    mine = f" + your prices {overrides.version}" if overrides is not None else ""
    fallback = getattr(current, "fallback", None)
    more = f" + fallback {fallback.version}" if fallback is not None else ""
    state = "configured" if pricing.is_configured() else "set"
    return f"{state}: catalog{mine}{more}"
