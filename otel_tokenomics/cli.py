"""``otel-tokenomics``: look up a model's prices and the cost of a call from the shell.

Everything goes through the same :class:`~otel_tokenomics.pricing.Pricer` as the
instrumentation (bundled catalog, the user's ``OTEL_TOKENOMICS_PRICES`` or
``--prices`` file, the optional fallback), so the CLI answers what a span would
record. Exit codes: 0 on success, 1 for a price file that cannot be used, 2 for
a usage error or a model/provider without a price. A closed output pipe
(``| head``) ends quietly with 1.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import re
import sys
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, TextIO

from otel_tokenomics.cost import STATUS_PRICED
from otel_tokenomics.pricing import PriceOverrideError, Pricer, configure
from otel_tokenomics.pricing.catalog import PROVIDER_IDS, Catalog, catalog_provider_id, exact_ids
from otel_tokenomics.pricing.engine import Match
from otel_tokenomics.pricing.model_ids import candidates
from otel_tokenomics.pricing.prices import NS_PER_DAY, NS_PER_MINUTE, Price, PriceSet, Tiered, When
from otel_tokenomics.usage import Usage

PROG = "otel-tokenomics"
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2

# A Bedrock model id (anthropic.claude-..., us.meta.llama..., an ARN): other lists
# match these by substring (Vertex's "contains claude-sonnet-4-5"), so without
# --provider Bedrock's own list is read first for them.
_BEDROCK_ID = re.compile(r"^(?:arn:aws:bedrock:|(?:[a-z]{2,6}(?:-gov)?\.)?[a-z0-9]+\.[a-z])")

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MAX_SUGGESTIONS = 5


class _Failure(Exception):
    """A message for stderr and the exit code that goes with it."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


# -- argument types ---------------------------------------------------------------------


def parse_at(text: str) -> datetime:
    """``YYYY-MM-DD`` (00:00 UTC) or an ISO 8601 date-time; naive means UTC."""
    value = text.strip()
    # Python 3.10's fromisoformat rejects the "Z" suffix that most tools write.
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected YYYY-MM-DD or an ISO 8601 date-time such as 2025-06-10T12:00:00Z, got {text!r}"
        ) from None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def _count(text: str) -> int:
    try:
        value = int(text.strip().replace(",", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of tokens, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative number of tokens, got {text!r}")
    return value


def _timestamp_ns(moment: datetime) -> int:
    # Integer arithmetic: a float timestamp could land a midnight on the previous day.
    return (moment - _EPOCH) // timedelta(microseconds=1) * 1000


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


# -- formatting -------------------------------------------------------------------------


def amount(value: Decimal) -> str:
    """A Decimal as plain digits: never exponent notation, no trailing zeros, never rounded."""
    if value == 0:
        return "0"
    return format(value.normalize(), "f")


def _price_json(value: Price) -> Any:
    if isinstance(value, Tiered):
        return {"base": amount(value.base), "tiers": [[start, amount(price)] for start, price in value.tiers]}
    return amount(value)


def _prices_json(prices: PriceSet) -> dict[str, Any]:
    return {key: _price_json(value) for key, value in prices.items()}


def _price_text(value: Price | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, Tiered):
        tiers = "; ".join(f"above {start:,} input tokens: {amount(price)}" for start, price in value.tiers)
        return f"{amount(value.base)} ({tiers})" if tiers else amount(value.base)
    return amount(value)


def _short_price(value: Price | None) -> str:
    if isinstance(value, Tiered):
        return f"{amount(value.base)} (tiered)"
    return _price_text(value)


def _prices_inline(prices: PriceSet) -> str:
    items = prices.items()
    if not items:
        return "standard prices"
    return ", ".join(f"{key} {_price_text(value)}" for key, value in items)


def _when_text(when: When, default: str) -> str:
    described = when.describe()
    parts = []
    if "from" in described:
        parts.append(f"from {described['from']}")
    if "daily" in described:
        start, end = described["daily"]
        parts.append(f"daily {start}-{end} UTC")
    return ", ".join(parts) or default


def _context_text(context: Mapping[str, str]) -> str:
    return ", ".join(f"{key}={value}" for key, value in context.items())


def _table(rows: list[list[str]], out: TextIO) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        out.write(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() + "\n"
        )


# -- lookups ----------------------------------------------------------------------------


def _own_provider(catalog: Catalog, provider: str) -> str | None:
    """The catalog id for a ``gen_ai.provider.name`` or a catalog id, None if neither."""
    for name in (catalog_provider_id(provider), provider):
        if name in catalog.providers:
            return name
    return None


def _searched_providers(catalog: Catalog, provider: str) -> list[str]:
    """The catalog lists a lookup under ``provider`` reads: its own, then those it resells."""
    own = _own_provider(catalog, provider)
    if own is None:
        return []
    return [own, *(f for f in catalog.providers[own].fallback if f in catalog.providers)]


def _search_order(pricer: Pricer, model: str | None = None) -> list[str]:
    bedrock = model is not None and _BEDROCK_ID.match(model.strip().lower())
    order = pricer.catalog.search_order("aws" if bedrock else None)
    if pricer.overrides is not None:
        # A custom model under a provider the catalog does not know.
        for rule in pricer.overrides.models:
            if rule.provider and rule.provider not in order:
                order.append(rule.provider)
    return order


def _known_providers(catalog: Catalog) -> str:
    names = sorted(name for name, target in PROVIDER_IDS.items() if target in catalog.providers)
    return ", ".join(names + sorted(p for p in catalog.providers if p not in names))


def _closest(model: str, known: Mapping[str, str]) -> list[str]:
    """The known ids nearest to any spelling of ``model``, best first."""
    scores: dict[str, float] = {}
    for spelling in candidates(model):
        for cutoff in (0.6, 0.0):
            found = difflib.get_close_matches(spelling, list(known), n=_MAX_SUGGESTIONS, cutoff=cutoff)
            if found:
                break
        for name in found:
            ratio = difflib.SequenceMatcher(None, spelling, name).ratio()
            scores[name] = max(scores.get(name, 0.0), ratio)
    return sorted(scores, key=lambda name: -scores[name])[:_MAX_SUGGESTIONS]


def _unknown_model(pricer: Pricer, provider: str | None, model: str) -> _Failure:
    catalog = pricer.catalog
    if provider is not None:
        searched = _searched_providers(catalog, provider)
        if not searched:
            return _Failure(
                f"{PROG}: no price for model {model!r}: provider {provider!r} is not in the price catalog "
                f"(known providers: {_known_providers(catalog)})"
            )
    else:
        searched = [p for p in _search_order(pricer, model) if p in catalog.providers]
    known: dict[str, str] = {}
    for provider_id in searched:
        for raw in catalog.providers[provider_id].raw_models:
            for name in (raw["id"], *exact_ids(raw["match"])):
                known.setdefault(name, provider_id)
    closest = _closest(model, known)
    where = f"provider {provider!r}" if provider is not None else "any provider"
    message = f"{PROG}: no price for model {model!r} of {where}"
    if closest:
        shown = closest if provider is not None else [f"{name} ({known[name]})" for name in closest]
        message += f"; closest known ids: {', '.join(shown)}"
    return _Failure(message)


def _resolve(pricer: Pricer, provider: str | None, model: str) -> tuple[str, Match]:
    """The provider to price under and the matched entry; raises :class:`_Failure` if none."""
    if provider is not None:
        match = pricer.match(provider, model)
        if match is not None:
            return provider, match
    else:
        for candidate in _search_order(pricer, model):
            match = pricer.match(candidate, model)
            if match is not None:
                return candidate, match
    raise _unknown_model(pricer, provider, model)


def _context(args: argparse.Namespace) -> dict[str, str]:
    context: dict[str, str] = {}
    if args.batch:
        context["processing"] = "batch"
    if args.service_tier:
        context["service_tier"] = args.service_tier
    return context


def _moment(args: argparse.Namespace) -> datetime:
    at: datetime | None = args.at
    return at if at is not None else datetime.now(timezone.utc)


def _write_json(value: Any, out: TextIO) -> None:
    out.write(json.dumps(value, indent=2) + "\n")


# -- commands ---------------------------------------------------------------------------


def _cmd_price(args: argparse.Namespace, pricer: Pricer, out: TextIO) -> int:
    provider, match = _resolve(pricer, args.provider, args.model)
    entry = match.prices
    moment = _moment(args)
    timestamp = _timestamp_ns(moment)
    context = _context(args)
    factor = match.factor

    def scaled(prices: PriceSet) -> PriceSet:
        return prices.scaled(factor) if factor is not None else prices

    in_force = scaled(entry.at(timestamp, context or None))
    day = timestamp // NS_PER_DAY
    minute = (timestamp // NS_PER_MINUTE) % 1440 if entry.time_of_day else 0
    # The last period active wins, as the engine resolves a history.
    current = next(
        (i for i in reversed(range(len(entry.periods))) if entry.periods[i][0].active(day, minute)), 0
    )
    currency = pricer.catalog.currency

    if args.json:
        _write_json(
            {
                "model": args.model,
                "provider": entry.provider_id,
                "id": entry.entry_id,
                "name": entry.name,
                "pricing_version": match.version,
                "source": match.source,
                "currency": currency,
                "unit": "per 1M tokens",
                "at": _iso(moment),
                "context": context,
                "factor": amount(factor) if factor is not None else None,
                "prices": _prices_json(in_force),
                "periods": [
                    {
                        "when": when.describe(),
                        "prices": _prices_json(scaled(prices)),
                        "in_force": i == current,
                    }
                    for i, (when, prices) in enumerate(entry.periods)
                ],
                "variants": [
                    {
                        "context": variant_context,
                        "when": when.describe(),
                        "prices": _prices_json(scaled(prices)),
                    }
                    for variant_context, when, prices in entry.variants
                ],
                "context_multipliers": [
                    {"context": rule_context, "factor": amount(rule_factor)}
                    for rule_context, rule_factor in entry.context_factors
                ],
            },
            out,
        )
        return EXIT_OK

    title = entry.entry_id + (f"  ({entry.name})" if entry.name and entry.name != entry.entry_id else "")
    out.write(f"{title}\n")
    facts = [
        [
            "provider",
            entry.provider_id + (f" (looked up as {provider})" if provider != entry.provider_id else ""),
        ],
        ["entry id", entry.entry_id],
        ["pricing version", f"{match.version} ({match.source})"],
        ["prices at", _iso(moment)],
    ]
    if context:
        facts.append(["context", _context_text(context)])
    if factor is not None:
        facts.append(["multiplier", f"x{amount(factor)} from your price file, included below"])
    _table([["", *row] for row in facts], out)

    out.write(f"\nPrices in force, {currency} per 1M tokens:\n")
    _table([["", key, _price_text(value)] for key, value in in_force.items()] or [["", "(none)"]], out)

    if len(entry.periods) > 1 or entry.periods[0][0].describe():
        out.write("\nPrice history:\n")
        rows = [
            [
                "",
                _when_text(when, "initially"),
                _prices_inline(scaled(prices)) + ("  <- in force" if i == current else ""),
            ]
            for i, (when, prices) in enumerate(entry.periods)
        ]
        _table(rows, out)

    if entry.variants or entry.context_factors:
        out.write("\nContext variants (replace the prices they list):\n")
        rows = [
            [
                "",
                _context_text(variant_context) + (f" ({_when_text(when, '')})" if when.describe() else ""),
                _prices_inline(scaled(prices)),
            ]
            for variant_context, when, prices in entry.variants
        ]
        rows += [
            [
                "",
                f"{_context_text(rule_context)} (provider-wide)",
                f"x{amount(rule_factor)} where no price is listed",
            ]
            for rule_context, rule_factor in entry.context_factors
        ]
        _table(rows, out)
    return EXIT_OK


def _usage(args: argparse.Namespace) -> Usage:
    cache_write = args.cache_write
    hour = args.cache_write_1h
    if cache_write is None:
        cache_write = hour or 0
    elif hour is not None and hour > cache_write:
        # --cache-write counts all writes, so it cannot be below its 1-hour part:
        # the only sensible reading is the 5-minute writes alone.
        cache_write += hour
    cache_read = args.cache_read or 0
    if cache_read + cache_write > args.input:
        raise _Failure(
            f"{PROG}: --input ({args.input}) counts all input tokens, so it must be at least "
            f"--cache-read + --cache-write ({cache_read + cache_write})"
        )
    reasoning = args.reasoning or 0
    if reasoning > args.output:
        raise _Failure(f"{PROG}: --reasoning ({reasoning}) is a part of --output ({args.output})")
    details: dict[str, Any] = {
        "cache_read_tokens": cache_read,
        "cache_write_tokens": cache_write,
        "reasoning_tokens": reasoning,
    }
    if hour is not None:
        details["cache_write_by_ttl"] = {"5m": cache_write - hour, "1h": hour}
    return Usage(input_tokens=args.input, output_tokens=args.output, **details)


def _cmd_cost(args: argparse.Namespace, pricer: Pricer, out: TextIO) -> int:
    usage = _usage(args)
    provider, match = _resolve(pricer, args.provider, args.model)
    moment = _moment(args)
    context = _context(args)
    cost = pricer.cost(provider, (args.model,), usage, _timestamp_ns(moment), context or None)
    if cost is None:  # matched a moment ago, so only a broken override could get here
        raise _unknown_model(pricer, args.provider, args.model)

    if args.json:
        _write_json(
            {
                "total": amount(cost.total),
                "input": amount(cost.input),
                "cache_read": amount(cost.cache_read),
                "cache_write": amount(cost.cache_write),
                "output": amount(cost.output),
                "currency": cost.currency,
                "model": cost.model,
                "pricing_version": cost.version,
                "status": STATUS_PRICED,
            },
            out,
        )
        return EXIT_OK

    currency = cost.currency
    heading = f"{cost.model} ({match.prices.provider_id}), pricing {cost.version} ({cost.source})"
    out.write(f"{heading}, at {_iso(moment)}")
    out.write(f", {_context_text(context)}\n" if context else "\n")
    write_detail = ""
    if usage.cache_write_by_ttl is not None:
        write_detail = f"({usage.cache_write_by_ttl['1h']:,} with 1h TTL)"
    rows = [
        ["", "input (uncached)", f"{usage.uncached_input_tokens:,}", amount(cost.input), currency, ""],
        ["", "cache read", f"{usage.cache_read_tokens:,}", amount(cost.cache_read), currency, ""],
        [
            "",
            "cache write",
            f"{usage.cache_write_tokens:,}",
            amount(cost.cache_write),
            currency,
            write_detail,
        ],
        [
            "",
            "output",
            f"{usage.output_tokens:,}",
            amount(cost.output),
            currency,
            f"({usage.reasoning_tokens:,} reasoning)" if usage.reasoning_tokens else "",
        ],
        ["", "total", f"{usage.input_tokens + usage.output_tokens:,}", amount(cost.total), currency, ""],
    ]
    _table(rows, out)
    if usage.cache_read_tokens or usage.cache_write_tokens:
        out.write(f"  cache savings vs. uncached input: {amount(cost.cache_savings)} {currency}\n")
    if match.factor is not None:
        out.write(f"  includes your multiplier x{amount(match.factor)}\n")
    return EXIT_OK


def _cmd_prices(args: argparse.Namespace, pricer: Pricer, out: TextIO) -> int:
    catalog = pricer.catalog
    overrides = pricer.overrides
    wanted: str | None = None
    if args.provider is not None:
        wanted = _own_provider(catalog, args.provider)
        has_own = overrides is not None and any(
            rule.provider and catalog_provider_id(rule.provider) == catalog_provider_id(args.provider)
            for rule in overrides.models
        )
        if wanted is None and not has_own:
            raise _Failure(
                f"{PROG}: provider {args.provider!r} is not in the price catalog "
                f"(known providers: {_known_providers(catalog)})"
            )
    moment = datetime.now(timezone.utc)
    now = _timestamp_ns(moment)
    entries: list[dict[str, Any]] = []

    if overrides is not None:
        for rule in overrides.models:
            if (
                rule.provider is not None
                and args.provider is not None
                and catalog_provider_id(rule.provider) != catalog_provider_id(args.provider)
            ):
                continue
            own = overrides.prices_for(rule.provider or args.provider or "", [rule.id], pricer)
            if own is None:
                continue
            prices = own.at(now)
            factor = overrides.factor(rule.provider or "", [rule.id], rule.id)
            entries.append(_listed(rule.provider or "*", rule.id, None, "override", prices, factor))

    for provider_id, provider_catalog in catalog.providers.items():
        if wanted is not None and provider_id != wanted:
            continue
        if args.provider is not None and wanted is None:
            continue
        for raw in provider_catalog.raw_models:
            entry = provider_catalog.entry(raw)
            factor = (
                overrides.factor(provider_id, [entry.entry_id.lower()], entry.entry_id) if overrides else None
            )
            entries.append(_listed(provider_id, entry.entry_id, entry.name, "catalog", entry.at(now), factor))

    if args.json:
        _write_json(
            [{key: value for key, value in item.items() if not key.startswith("_")} for item in entries], out
        )
        return EXIT_OK
    unit = f"{catalog.currency} per 1M tokens, at {_iso(moment)}; pricing {catalog.version}"
    if overrides is not None:
        unit += f" + your prices {overrides.version}"
    out.write(f"{len(entries)} entries ({unit})\n")
    if entries:
        rows = [["provider", "id", "input", "output"]]
        rows += [
            [e["provider"], e["id"], _short_price(e["_input"]), _short_price(e["_output"])] for e in entries
        ]
        _table(rows, out)
    if wanted is not None and catalog.providers[wanted].fallback:
        resold = ", ".join(catalog.providers[wanted].fallback)
        out.write(f"Models not listed here are looked up in the lists of: {resold}\n")
    return EXIT_OK


def _listed(
    provider: str, entry_id: str, name: str | None, source: str, prices: PriceSet, factor: Decimal | None
) -> dict[str, Any]:
    if factor is not None:
        prices = prices.scaled(factor)
    return {
        "provider": provider,
        "id": entry_id,
        "name": name,
        "source": source,
        "input": _price_json(prices.input) if prices.input is not None else None,
        "output": _price_json(prices.output) if prices.output is not None else None,
        # For the text table; dropped from the JSON.
        "_input": prices.input,
        "_output": prices.output,
    }


# -- parser -----------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Prices of LLM models and the cost of a call, as otel-tokenomics records them.",
    )
    prices_help = "a .toml/.json price override file (default: $OTEL_TOKENOMICS_PRICES)"
    parser.add_argument("--prices", metavar="FILE", help=prices_help)

    common = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: given after the command it wins, absent it leaves the global one alone.
    common.add_argument("--prices", metavar="FILE", default=argparse.SUPPRESS, help=prices_help)
    common.add_argument("--json", action="store_true", help="print JSON")

    provider_help = (
        "gen_ai.provider.name (openai, anthropic, gcp.gen_ai, aws.bedrock, azure.ai.openai, ...) "
        "or a catalog provider id; inferred when omitted"
    )
    at_help = "price date: YYYY-MM-DD (00:00 UTC) or an ISO 8601 date-time, naive = UTC (default: now)"

    def add_context(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--at", type=parse_at, metavar="DATE", help=at_help)
        sub.add_argument("--batch", action="store_true", help="price a batch request")
        sub.add_argument(
            "--service-tier", metavar="TIER", help="price under this service tier (flex, priority, ...)"
        )

    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    price = commands.add_parser(
        "price",
        parents=[common],
        help="the prices of one model",
        description="The matched entry and its prices.",
    )
    price.add_argument("model", metavar="MODEL", help="model id as the provider's API takes it")
    price.add_argument("--provider", metavar="P", help=provider_help)
    add_context(price)
    price.set_defaults(handler=_cmd_price)

    cost = commands.add_parser(
        "cost",
        parents=[common],
        help="the cost of one call",
        description="The cost of one call. --input counts ALL input tokens, cached ones included; "
        "--reasoning is a part of --output.",
    )
    cost.add_argument("--provider", metavar="P", help=provider_help)
    cost.add_argument("--model", metavar="M", required=True, help="model id as the provider's API takes it")
    cost.add_argument(
        "--input", type=_count, metavar="N", required=True, help="all input tokens, cached included"
    )
    cost.add_argument(
        "--output", type=_count, metavar="N", required=True, help="all output tokens, reasoning included"
    )
    cost.add_argument("--cache-read", type=_count, metavar="N", help="input tokens read from the cache")
    cost.add_argument(
        "--cache-write",
        type=_count,
        metavar="N",
        help="input tokens written to the cache, all TTLs (the 5-minute ones if below --cache-write-1h)",
    )
    cost.add_argument(
        "--cache-write-1h",
        type=_count,
        metavar="N",
        help="the part of --cache-write written with a 1-hour TTL",
    )
    cost.add_argument("--reasoning", type=_count, metavar="N", help="the part of --output spent on reasoning")
    add_context(cost)
    cost.set_defaults(handler=_cmd_cost)

    estimating = commands.add_parser(
        "estimate",
        parents=[common],
        help="count a prompt and price the call before making it",
        description="Input tokens of a prompt and what the call would cost, without calling the "
        "provider. FILE holds a JSON list of messages (the provider SDK's format; OpenAI's chat "
        "format for OpenAI-compatible providers), a JSON object with 'messages' (and optional "
        "'system', 'tools', 'max_tokens'), or plain text; '-' reads standard input.",
    )
    estimating.add_argument("file", metavar="FILE", help="messages (JSON) or plain text; - for stdin")
    estimating.add_argument(
        "--model", metavar="M", required=True, help="model id as the provider's API takes it"
    )
    estimating.add_argument("--provider", metavar="P", help=provider_help)
    estimating.add_argument(
        "--max-tokens", type=_count, metavar="N", help="the output limit: prices the worst case"
    )
    estimating.add_argument(
        "--expected-output", type=_count, metavar="N", help="output tokens you expect (default 0)"
    )
    estimating.set_defaults(handler=_cmd_estimate)

    listing = commands.add_parser(
        "prices",
        parents=[common],
        help="list the priced models",
        description="Every entry with its price now.",
    )
    listing.add_argument("--provider", metavar="P", help="only this provider's entries")
    listing.set_defaults(handler=_cmd_prices)

    from otel_tokenomics import doctor

    checking = commands.add_parser(
        "doctor",
        parents=[common],
        help="check why no LLM telemetry shows up",
        description="SDKs and their instrumentation, tiktoken, the OpenTelemetry export settings, "
        "our own settings and prices. Exit status 1 when a problem was found.",
    )
    doctor.add_arguments(checking)
    checking.set_defaults(handler=None)
    return parser


def _read_prompt_file(name: str) -> tuple[Any, dict[str, Any]]:
    """(messages or text, extra estimate() arguments) from a file or stdin."""
    try:
        text = sys.stdin.read() if name == "-" else open(name, encoding="utf-8").read()  # noqa: SIM115
    except OSError as error:
        raise _Failure(f"{PROG}: cannot read {name}: {error.strerror or error}", EXIT_USAGE) from None
    stripped = text.strip()
    if stripped[:1] in ("[", "{"):
        try:
            loaded = json.loads(stripped)
        except ValueError:
            return text, {}
        if isinstance(loaded, list):
            return loaded, {}
        if isinstance(loaded, dict) and isinstance(loaded.get("messages"), list):
            extra = {key: loaded[key] for key in ("system", "tools", "max_tokens") if key in loaded}
            return loaded["messages"], extra
    return text, {}


def _cmd_estimate(args: argparse.Namespace, pricer: Pricer, out: TextIO) -> int:
    from otel_tokenomics.estimation.preflight import estimate

    messages, extra = _read_prompt_file(args.file)
    if args.provider is not None:
        provider = args.provider
    else:
        provider, _ = _resolve(pricer, None, args.model)
    max_tokens = args.max_tokens if args.max_tokens is not None else extra.pop("max_tokens", None)
    extra.pop("max_tokens", None)
    try:
        result = estimate(
            provider,
            args.model,
            messages,
            max_tokens=max_tokens if isinstance(max_tokens, int) else None,
            expected_output_tokens=args.expected_output,
            **extra,
        )
    except (TypeError, ValueError) as error:
        raise _Failure(f"{PROG}: {error}", EXIT_USAGE) from None
    if args.json:
        _write_json(result.as_dict(), out)
        return EXIT_OK if result.status != "unpriced" else EXIT_USAGE
    out.write(
        f"{args.model} ({provider}): {result.input_tokens:,} input tokens "
        f"({result.source}, {result.tokenizer})\n"
    )
    if result.expected is None:
        out.write("  no price for this model: cost unknown\n")
        return EXIT_USAGE
    currency = result.expected.currency
    rows = [
        ["", "input", f"{result.input_tokens:,}", amount(Decimal(str(result.expected.input))), currency, ""],
        [
            "",
            "expected output",
            f"{result.expected.output_tokens:,}",
            amount(Decimal(str(result.expected.output))),
            currency,
            "",
        ],
        ["", "expected total", "", amount(Decimal(str(result.expected.total))), currency, ""],
    ]
    if result.worst_case is not None:
        rows.append(
            [
                "",
                "worst case",
                f"{result.worst_case.output_tokens:,} out",
                amount(Decimal(str(result.worst_case.total))),
                currency,
                "(max_tokens of output)",
            ]
        )
    _table(rows, out)
    out.write(f"  pricing {result.pricing_version} ({result.pricing_model})\n")
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as done:  # --help, or a usage error argparse already reported
        return done.code if isinstance(done.code, int) else EXIT_USAGE
    if args.command == "doctor":
        # Before configure(): a bad price file is one of the things doctor reports.
        from otel_tokenomics import doctor

        return doctor.main(args, sys.stdout)
    handler: Callable[[argparse.Namespace, Pricer, TextIO], int] = args.handler
    try:
        pricer = configure(prices=args.prices or None)
        return handler(args, pricer, sys.stdout)
    except PriceOverrideError as error:
        sys.stderr.write(f"{PROG}: {error}\n")
        return EXIT_ERROR
    except _Failure as failure:
        sys.stderr.write(f"{failure}\n")
        return failure.code
    except BrokenPipeError:
        # `| head` closed the pipe: stop quietly, and keep the interpreter's final
        # flush from raising again.
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return EXIT_ERROR
