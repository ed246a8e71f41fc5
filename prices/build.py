"""Build ``otel_tokenomics/pricing/catalog.jsonl`` from the pinned genai-prices data.

Run from the repository root, with the pinned ``genai-prices`` installed (it is in
the ``test`` extra)::

    python -m prices.build           # rewrite the catalog, print what changed
    python -m prices.build --check   # exit 1 if the catalog is not what the build makes

The source is the ``genai_prices.data`` module of one pinned release (never its
auto-updater), rewritten into our own JSON shape; ``prices/corrections.toml`` then
fixes what that release gets wrong, each fix with its reason. The catalog version
only moves when the priced content changes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import tomllib

from otel_tokenomics.pricing.prices import GENAI_PRICES_KEYS

ROOT = Path(__file__).resolve().parent.parent
CATALOG = ROOT / "otel_tokenomics" / "pricing" / "catalog.jsonl"
CORRECTIONS = ROOT / "prices" / "corrections.toml"
PINNED_SOURCE = "0.2.3"
FORMAT = 2

# Per-token prices we can apply (shared with the runtime's genai-prices fallback).
TOKEN_PRICE_KEYS = GENAI_PRICES_KEYS


def _decimal(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text


def _price(value: Any) -> Any:
    from genai_prices.types import TieredPrices

    if isinstance(value, TieredPrices):
        return {"base": _decimal(value.base), "tiers": [[t.start, _decimal(t.price)] for t in value.tiers]}
    return _decimal(value)


def _prices(model_price: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in model_price.__dict__.items():
        ours = TOKEN_PRICE_KEYS.get(key)
        if ours is not None and value is not None:
            out[ours] = _price(value)
    return out


def _constraint(constraint: Any) -> dict[str, Any] | None:
    from genai_prices.types import StartDateConstraint, TimeOfDateConstraint

    if constraint is None:
        return None
    if isinstance(constraint, StartDateConstraint):
        return {"from": constraint.start_date.isoformat()}
    if isinstance(constraint, TimeOfDateConstraint):
        return {"daily": [_utc_time(constraint.start_time), _utc_time(constraint.end_time)]}
    raise TypeError(f"unknown constraint {constraint!r}")


def _utc_time(value: dt.time) -> str:
    if value.tzinfo is not None:
        value = dt.datetime.combine(dt.date(2000, 1, 1), value).astimezone(dt.timezone.utc).time()
    return value.strftime("%H:%M")


def _clause(clause: Any) -> Any:
    from genai_prices import types as t

    if isinstance(clause, t.ClauseEquals):
        return {"equals": clause.equals.lower()}
    if isinstance(clause, t.ClauseStartsWith):
        return {"starts_with": clause.starts_with.lower()}
    if isinstance(clause, t.ClauseEndsWith):
        return {"ends_with": clause.ends_with.lower()}
    if isinstance(clause, t.ClauseContains):
        return {"contains": clause.contains.lower()}
    if isinstance(clause, t.ClauseRegex):
        return {"regex": clause.regex}
    if isinstance(clause, t.ClauseOr):
        return {"or": [_clause(c) for c in clause.or_]}
    if isinstance(clause, t.ClauseAnd):
        return {"and": [_clause(c) for c in clause.and_]}
    raise TypeError(f"unknown clause {clause!r}")


def _model(model: Any) -> dict[str, Any] | None:
    from genai_prices.types import ModelPrice

    periods = [] if isinstance(model.prices, ModelPrice) else model.prices
    if isinstance(model.prices, ModelPrice):
        history = [{"prices": _prices(model.prices)}]
    else:
        history = []
        for period in periods:
            entry: dict[str, Any] = {"prices": _prices(period.prices)}
            constraint = _constraint(period.constraint)
            if constraint:
                entry["when"] = constraint
            history.append(entry)
    if not any(period["prices"] for period in history):
        return None  # priced only per request, hour or page: nothing we can count
    out: dict[str, Any] = {"id": model.id, "match": _clause(model.match)}
    if model.name:
        out["name"] = model.name
    out["prices"] = history
    variants = []
    for variant in model.price_variants or ():
        prices = _prices(variant.prices)
        entry = {"context": dict(variant.when), "prices": prices}
        constraint = _constraint(variant.constraint)
        if constraint:
            entry["when"] = constraint
        variants.append(entry)
    if variants:
        out["variants"] = variants
    return out


def from_source() -> list[dict[str, Any]]:
    import genai_prices
    from genai_prices import data

    version = getattr(genai_prices, "__version__", None)
    if version != PINNED_SOURCE:
        raise SystemExit(f"genai-prices {PINNED_SOURCE} is pinned; {version} is installed")
    providers = []
    for provider in data.providers:
        models = [m for m in (_model(model) for model in provider.models) if m is not None]
        if not models:
            continue
        entry: dict[str, Any] = {"id": provider.id, "name": provider.name}
        if provider.fallback_model_providers:
            entry["fallback"] = list(provider.fallback_model_providers)
        entry["models"] = models
        providers.append(entry)
    return providers


# --- corrections ----------------------------------------------------------------------


def load_corrections(path: Path = CORRECTIONS) -> list[dict[str, Any]]:
    with path.open("rb") as f:
        document = tomllib.load(f)
    corrections = document.get("correction", [])
    for number, correction in enumerate(corrections, 1):
        for key in ("provider", "kind", "reason"):
            if not correction.get(key):
                raise SystemExit(f"{path}: correction #{number} has no {key!r}")
    return corrections


def _find(providers: list[dict[str, Any]], provider_id: str) -> dict[str, Any]:
    for provider in providers:
        if provider["id"] == provider_id:
            return provider
    raise SystemExit(f"corrections: no provider {provider_id!r}")


def _find_model(provider: dict[str, Any], model_id: str) -> dict[str, Any]:
    for model in provider["models"]:
        if model["id"] == model_id:
            return model
    raise SystemExit(f"corrections: provider {provider['id']!r} has no model {model_id!r}")


def _str_prices(prices: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in prices.items():
        if key not in set(TOKEN_PRICE_KEYS.values()):
            raise SystemExit(f"corrections: unknown price key {key!r}")
        if isinstance(value, dict):
            out[key] = {"base": str(value["base"]), "tiers": [[int(s), str(p)] for s, p in value["tiers"]]}
        else:
            out[key] = str(value)
    return out


def apply_corrections(providers: list[dict[str, Any]], corrections: list[dict[str, Any]]) -> None:
    for correction in corrections:
        provider = _find(providers, correction["provider"])
        kind = correction["kind"]
        if kind == "alias":
            # A model id that the source prices as the wrong model: a new entry that
            # matches exactly that id, placed first so that it wins.
            target = _find_model(provider, correction["like"])
            entry = {
                "id": correction["model"],
                "match": {"equals": correction["model"].lower()},
                "prices": json.loads(json.dumps(target["prices"])),
            }
            if "variants" in target:
                entry["variants"] = json.loads(json.dumps(target["variants"]))
            if "prices" in correction:
                for period in entry["prices"]:
                    period["prices"].update(_str_prices(correction["prices"]))
            provider["models"].insert(0, entry)
        elif kind == "add":
            # A model the source does not price at all: a new entry matching the
            # listed ids exactly, placed first.
            ids = [correction["model"], *correction.get("ids", [])]
            entry = {
                "id": correction["model"],
                "match": {"or": [{"equals": i.lower()} for i in ids]}
                if len(ids) > 1
                else {"equals": ids[0].lower()},
                "prices": [{"prices": _str_prices(correction["prices"])}],
            }
            provider["models"].insert(0, entry)
        elif kind == "set":
            # Prices of every period (or of the one starting at `from`) updated.
            model = _find_model(provider, correction["model"])
            update = _str_prices(correction["prices"])
            periods = model["prices"]
            if "period_from" in correction:
                periods = [p for p in periods if p.get("when", {}).get("from") == correction["period_from"]]
            elif correction.get("first_period"):
                periods = periods[:1]
            if not periods:
                raise SystemExit(f"corrections: no matching period in {correction['model']!r}")
            for period in periods:
                period["prices"].update(update)
        elif kind == "from":
            # A price change the source lacks: a new period from a date on.
            model = _find_model(provider, correction["model"])
            model["prices"].append(
                {"prices": _str_prices(correction["prices"]), "when": {"from": correction["date"]}}
            )
        elif kind == "regional_premium":
            _regional_premium(provider, Decimal(str(correction["factor"])), set(correction.get("exempt", [])))
        elif kind == "context_multiplier":
            provider.setdefault("context_multipliers", []).append(
                {"context": dict(correction["context"]), "factor": str(correction["factor"])}
            )
        else:
            raise SystemExit(f"corrections: unknown kind {kind!r}")


def _scaled(value: Any, factor: Decimal) -> Any:
    if isinstance(value, dict):
        return {
            "base": _decimal(Decimal(value["base"]) * factor),
            "tiers": [[s, _decimal(Decimal(p) * factor)] for s, p in value["tiers"]],
        }
    return _decimal(Decimal(value) * factor)


def _regional_premium(provider: dict[str, Any], factor: Decimal, exempt: set[str]) -> None:
    """In-region (and geo) Claude ids cost ``factor`` x the model's ``global.`` price."""
    by_id = {model["id"]: model for model in provider["models"]}
    for model_id, glob in by_id.items():
        name = model_id.removeprefix("global.")
        regional = by_id.get(f"regional.{name}")
        if name == model_id or regional is None or name in exempt or ".claude-" not in f".{name}":
            continue
        regional["prices"] = [
            {
                **({"when": p["when"]} if "when" in p else {}),
                "prices": {k: _scaled(v, factor) for k, v in p["prices"].items()},
            }
            for p in glob["prices"]
        ]


# --- output ---------------------------------------------------------------------------


def build() -> dict[str, Any]:
    providers = from_source()
    corrections = load_corrections()
    apply_corrections(providers, corrections)
    return {
        "format": FORMAT,
        "currency": "USD",
        "unit": "USD per million tokens",
        "source": {"package": "genai-prices", "version": PINNED_SOURCE},
        "corrections": [
            {k: correction[k] for k in ("provider", "model", "kind", "reason") if k in correction}
            for correction in corrections
        ],
        "providers": providers,
    }


def _content_hash(catalog: dict[str, Any]) -> str:
    body = {k: v for k, v in catalog.items() if k not in ("version", "content_sha256")}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def _serialize(catalog: dict[str, Any]) -> str:
    """JSON Lines: a header, then one model per line, each line starting with its provider.

    Each provider's lines come together, in the header's order: the runtime finds a
    provider's block with one search and parses it on the provider's first lookup
    (out of order, it falls back to grouping line by line). One model per line also
    keeps the diff of a price change to that model's line.
    """
    header = {k: v for k, v in catalog.items() if k != "providers"}
    header["providers"] = [{k: v for k, v in p.items() if k != "models"} for p in catalog["providers"]]
    lines = [json.dumps(header, separators=(",", ":"), ensure_ascii=False)]
    for provider in catalog["providers"]:
        for model in provider["models"]:
            lines.append(
                json.dumps({"provider": provider["id"], **model}, separators=(",", ":"), ensure_ascii=False)
            )
    return "\n".join(lines) + "\n"


def _deserialize(text: str) -> dict[str, Any]:
    first, *rest = text.splitlines()
    catalog = json.loads(first)
    providers = {p["id"]: {**p, "models": []} for p in catalog["providers"]}
    for line in rest:
        model = json.loads(line)
        providers[model.pop("provider")]["models"].append(model)
    catalog["providers"] = list(providers.values())
    return catalog


def _index(catalog: dict[str, Any]) -> dict[tuple[str, str], Any]:
    return {(p["id"], m["id"]): m for p in catalog.get("providers", []) for m in p["models"]}


def diff(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    before, after = _index(old), _index(new)
    lines = [f"+ {p}/{m}" for (p, m) in sorted(after.keys() - before.keys())]
    lines += [f"- {p}/{m}" for (p, m) in sorted(before.keys() - after.keys())]
    for key in sorted(before.keys() & after.keys()):
        if before[key] != after[key]:
            lines.append(f"~ {key[0]}/{key[1]}")
    return lines


def _next_version(previous: str | None) -> str:
    """The UTC date; a second change on the same day gets ``.2``, ``.3``, ... appended."""
    today = dt.datetime.now(dt.timezone.utc).strftime("%Y.%m.%d")
    if not previous or not previous.startswith(today):
        return today
    _, _, counter = previous[len(today) :].partition(".")
    return f"{today}.{int(counter or 1) + 1}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the catalog is out of date")
    args = parser.parse_args(argv)
    new = build()
    digest = _content_hash(new)
    old: dict[str, Any] = _deserialize(CATALOG.read_text()) if CATALOG.exists() else {}
    if old.get("content_sha256") == digest:
        new["version"] = old["version"]
    else:
        new["version"] = _next_version(old.get("version"))
    new["content_sha256"] = digest
    ordered = {"format": new.pop("format"), "version": new.pop("version"), **new}
    changes = diff(old, ordered)
    if args.check:
        if old.get("content_sha256") != digest:
            where = CATALOG.relative_to(ROOT)
            print(f"{where} is out of date ({len(changes)} model changes); run python -m prices.build")
            for line in changes[:50]:
                print(line)
            return 1
        print(f"catalog {old['version']} is up to date")
        return 0
    CATALOG.parent.mkdir(parents=True, exist_ok=True)
    CATALOG.write_text(_serialize(ordered))
    models = sum(len(p["models"]) for p in ordered["providers"])
    print(f"catalog {ordered['version']}: {len(ordered['providers'])} providers, {models} models")
    if not changes:
        print("no change")
    for line in changes:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
