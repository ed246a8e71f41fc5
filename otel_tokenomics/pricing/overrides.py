"""The user's own prices: negotiated rates, custom models, Azure deployment names.

A file (``OTEL_TOKENOMICS_PRICES=/path/prices.toml`` or ``.json``) or a mapping
passed to ``otel_tokenomics.set_prices()`` / ``instrument(prices=...)``::

    [[models]]                      # absolute prices, USD per million tokens
    provider = "openai"             # optional: a gen_ai.provider.name; any provider if absent
    id = "ft:gpt-4o-mini-2024-07-18:acme:*"    # exact id, or a prefix ending in '*'
    base = "gpt-4o-mini"            # optional: start from this catalog model's prices
    base_provider = "openai"        # optional: where to find `base` (default: `provider`)
    input = "0.30"
    output = "1.20"                 # also cache_read, cache_write, cache_write_1h, reasoning,
                                    # input_audio, output_audio, input_image, output_image;
                                    # a long-context price: { base = "1.25", tiers = [[200000, "2.5"]] }

    [[multipliers]]                 # a negotiated discount on whatever price applies
    provider = "anthropic"          # optional
    model = "claude-sonnet-4-5*"    # optional: model id, catalog entry id, or prefix*
    factor = "0.8"

    [azure_deployments]             # deployment name -> the model it serves
    prod-chat = "gpt-4o-2024-08-06"

The most specific rule wins, whatever the order in the file: an exact id over a
prefix, a longer prefix over a shorter one, then a rule naming a provider over
one that does not; for multipliers a model rule over a provider-wide one over a
global one. An id that is a catalog entry's (``gpt-4o``) also covers the dated
snapshots the catalog files under it (``gpt-4o-2024-08-06``, the model
responses name). A ``base`` model keeps its catalog prices for what the rule does not
set (its batch and service-tier prices included); the prices the rule sets apply
in every context. A multiplier also scales the user's own absolute prices.

Everything is checked when it is loaded (at ``instrument()``): a bad file raises
:class:`PriceOverrideError` naming the file, the entry and what is wrong, so no
mistake in it can surface inside an LLM call.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any

from otel_tokenomics.pricing.catalog import PREFERRED_PROVIDERS, catalog_provider_id, exact_ids
from otel_tokenomics.pricing.model_ids import candidates
from otel_tokenomics.pricing.prices import PRICE_KEYS, ModelPrices, Price, PriceSet, Tiered, When

if TYPE_CHECKING:
    from otel_tokenomics.pricing.catalog import ProviderCatalog
    from otel_tokenomics.pricing.engine import Pricer

PROVIDER_OVERRIDE = "override"
AZURE_PROVIDER = "azure.ai.openai"
_MODEL_KEYS = ("id", "provider", "base", "base_provider", *PRICE_KEYS)
_MULTIPLIER_KEYS = ("provider", "model", "factor")
_TOP_KEYS = ("models", "multipliers", "azure_deployments")


class PriceOverrideError(ValueError):
    """A price override file or mapping that cannot be used, and why.

    The message reads ``<file>: <entry>: <problem>``; the three parts are also
    attributes (``entry`` is empty when the problem is the file as a whole).
    """

    def __init__(self, message: str, *, origin: str = "", entry: str = "", problem: str = "") -> None:
        super().__init__(message)
        self.origin = origin
        self.entry = entry
        self.problem = problem or message


def _error(origin: str, entry: str, problem: str) -> PriceOverrideError:
    prefix = f"{origin}: {entry}: " if entry else f"{origin}: "
    return PriceOverrideError(prefix + problem, origin=origin, entry=entry, problem=problem)


class _ModelRule:
    __slots__ = ("base", "base_provider", "entry", "id", "prices", "provider")

    def __init__(
        self,
        entry: str,
        provider: str | None,
        id: str,
        base: str | None,
        base_provider: str | None,
        prices: PriceSet,
    ) -> None:
        self.entry = entry
        self.provider = provider
        self.id = id
        self.base = base
        self.base_provider = base_provider
        self.prices = prices


class _Multiplier:
    __slots__ = ("entry", "factor", "model", "provider")

    def __init__(self, entry: str, provider: str | None, model: str | None, factor: Decimal) -> None:
        self.entry = entry
        self.provider = provider
        self.model = model
        self.factor = factor


def _names_match(pattern: str, names: list[str]) -> bool:
    if pattern.endswith("*"):
        prefix = pattern[:-1]
        return any(name.startswith(prefix) for name in names)
    return pattern in names


def _specificity(pattern: str) -> tuple[bool, int]:
    """Sort key: exact ids first, then the longest prefix."""
    return (pattern.endswith("*"), -len(pattern))


def _provider_key(provider: str | None) -> str | None:
    return catalog_provider_id(provider) if provider else None


def _provider_matches(rule_provider: str | None, provider: str) -> bool:
    return rule_provider is None or catalog_provider_id(rule_provider) == catalog_provider_id(provider)


class Overrides:
    """Validated user prices. Build with :func:`load_overrides` or :meth:`from_mapping`."""

    def __init__(
        self,
        origin: str,
        digest: str,
        models: list[_ModelRule],
        multipliers: list[_Multiplier],
        deployments: dict[str, str],
    ) -> None:
        self.origin = origin
        self.digest = digest
        self.version = f"user:{digest[:12]}"
        # sorted() is stable: among equally specific rules the file order decides.
        self.models = sorted(models, key=lambda r: (*_specificity(r.id), r.provider is None))
        self.multipliers = sorted(
            multipliers,
            key=lambda m: (m.model is None, *_specificity(m.model or ""), m.provider is None),
        )
        self.deployments = deployments
        self._derived: dict[tuple[int, str | None], ModelPrices] = {}

    # -- building --------------------------------------------------------------------

    @classmethod
    def from_mapping(
        cls, data: Mapping[str, Any], origin: str = "prices", digest: str | None = None
    ) -> Overrides:
        """Check ``data`` (the parsed file) and build the rules; raises :class:`PriceOverrideError`."""
        if not isinstance(data, Mapping):
            raise _error(origin, "", f"expected a table/object at the top, got {_kind(data)}")
        _reject_unknown(origin, "", data, _TOP_KEYS)
        models = [_model_rule(origin, i, raw) for i, raw in enumerate(_list(origin, data, "models"))]
        multipliers = [_multiplier(origin, i, m) for i, m in enumerate(_list(origin, data, "multipliers"))]
        deployments = _deployments(origin, data.get("azure_deployments", {}))
        _reject_duplicates(origin, ((r.entry, (_provider_key(r.provider), r.id)) for r in models))
        _reject_duplicates(origin, ((m.entry, (_provider_key(m.provider), m.model)) for m in multipliers))
        if digest is None:
            # Of the checked content, so equal prices give equal versions however they were typed.
            canonical = {
                "models": [[r.provider, r.id, r.base, r.base_provider, r.prices.as_json()] for r in models],
                "multipliers": [[m.provider, m.model, str(m.factor)] for m in multipliers],
                "azure_deployments": deployments,
            }
            digest = hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()
        return cls(origin, digest, models, multipliers, deployments)

    def check(self, pricer: Pricer) -> None:
        """Resolve every ``base`` model and deployment now, so a typo fails at load, not per call."""
        for rule in self.models:
            if rule.base is not None and self._base(rule, pricer, None) is None:
                where = rule.base_provider or rule.provider
                raise _error(
                    self.origin,
                    rule.entry,
                    f"base model {rule.base!r} is not in the catalog"
                    + (f" of provider {where!r}" if where else "")
                    + _did_you_mean(rule.base, _catalog_ids(pricer, where)),
                )
        for name, model in self.deployments.items():
            names = candidates(model)
            found = self.prices_for(AZURE_PROVIDER, names, pricer) is not None
            found = found or pricer.catalog_match(AZURE_PROVIDER, names) is not None
            if not found and pricer.fallback is not None:
                found = pricer.fallback.match(AZURE_PROVIDER, names) is not None
            if not found:
                raise _error(
                    self.origin,
                    f"azure_deployments.{name}",
                    f"model {model!r} is neither in the catalog (Azure, OpenAI) nor in this file's models"
                    + _did_you_mean(model, _catalog_ids(pricer, AZURE_PROVIDER)),
                )

    # -- lookups (from the Pricer) ----------------------------------------------------

    def deployment(self, provider: str, names: list[str]) -> str | None:
        if not self.deployments or catalog_provider_id(provider) != "azure":
            return None
        for name in names:
            model = self.deployments.get(name)
            if model is not None:
                return model
        return None

    def prices_for(self, provider: str, names: list[str], pricer: Pricer) -> ModelPrices | None:
        if not self.models:
            return None
        rule = self._rule(provider, names)
        if rule is None:
            # Responses name the dated snapshot (gpt-4o-2024-08-06): a rule for the
            # catalog entry it belongs to (gpt-4o) prices it, as a multiplier would.
            match = pricer.catalog_match(provider, names)
            if match is not None:
                rule = self._rule(provider, [match.prices.entry_id.lower()])
        if rule is None:
            return None
        if rule.base is None:
            return ModelPrices(PROVIDER_OVERRIDE, rule.id, [(When(None), rule.prices)])
        return self._base(rule, pricer, provider)

    def _rule(self, provider: str, names: list[str]) -> _ModelRule | None:
        for rule in self.models:
            if _provider_matches(rule.provider, provider) and _names_match(rule.id, names):
                return rule
        return None

    def factor(self, provider: str, names: list[str], entry_id: str) -> Decimal | None:
        for rule in self.multipliers:
            if not _provider_matches(rule.provider, provider):
                continue
            if rule.model is None or _names_match(rule.model, [*names, entry_id.lower()]):
                return rule.factor
        return None

    def _base(self, rule: _ModelRule, pricer: Pricer, provider: str | None) -> ModelPrices | None:
        """The rule's ``base`` entry with the rule's prices on top.

        Without a provider in the rule, the base is looked up under the calling
        provider first (a fine-tune on Azure pays Azure's rates), then the makers'.
        """
        explicit = rule.base_provider or rule.provider
        first = explicit or provider
        key = (id(rule), _provider_key(first))
        derived = self._derived.get(key)
        if derived is not None:
            return derived
        names = candidates(rule.base or "")
        match = pricer.catalog_match(first, names) if first else None
        if match is None and not explicit:
            for catalog_provider in pricer.catalog.search_order():
                match = pricer.catalog_match(catalog_provider, names)
                if match is not None:
                    break
        fallback = pricer.fallback
        if match is None and fallback is not None:
            for fallback_provider in [first] if explicit else [p for p in (first, *PREFERRED_PROVIDERS) if p]:
                match = fallback.match(fallback_provider, names)
                if match is not None:
                    break
        if match is None:
            return None
        base = match.prices
        own = rule.prices
        own_keys = {name for name, _ in own.items()}
        periods = [(when, prices.updated(own)) for when, prices in base.periods]
        # A price the user states holds in every context: a batch or priority row of
        # the base model must not silently replace it.
        variants = [
            (context, when, PriceSet(**{k: v for k, v in prices.items() if k not in own_keys}))
            for context, when, prices in base.variants
        ]
        derived = ModelPrices(base.provider_id, rule.id, periods, variants, base.context_factors)
        self._derived[key] = derived
        return derived


def _catalog_ids(pricer: Pricer, provider: str | None) -> list[str]:
    """Every id a user may type for a catalog model (only built to suggest a fix)."""
    catalog = pricer.catalog
    chosen: list[ProviderCatalog] = []
    if provider:
        found = catalog.providers.get(catalog_provider_id(provider)) or catalog.providers.get(provider)
        if found is not None:
            chosen = [found, *(catalog.providers[f] for f in found.fallback if f in catalog.providers)]
    else:
        chosen = list(catalog.providers.values())
    ids: list[str] = []
    for provider_catalog in chosen:
        for raw in provider_catalog.raw_models:
            ids.append(raw["id"])
            ids.extend(exact_ids(raw["match"]))
    return ids


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    import difflib  # only for a bad price file: not worth its import at every start-up

    close = difflib.get_close_matches(word.lower(), list(dict.fromkeys(choices)), n=3, cutoff=0.75)
    if not close:
        return ""
    quoted = [repr(c) for c in close]
    listed = quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"
    return f" (did you mean {listed}?)"


_KINDS = {dict: "a table", list: "a list", str: "a string", bool: "a boolean"}


def _kind(value: Any) -> str:
    return _KINDS.get(type(value), type(value).__name__)


def _reject_unknown(origin: str, entry: str, raw: Mapping[Any, Any], allowed: tuple[str, ...]) -> None:
    unknown = [key for key in raw if key not in allowed]
    if not unknown:
        return
    described = [repr(key) + _did_you_mean(str(key), allowed) for key in unknown]
    raise _error(
        origin,
        entry,
        f"unknown key{'s' if len(unknown) > 1 else ''} {', '.join(described)}; allowed: {', '.join(allowed)}",
    )


def _reject_duplicates(origin: str, keyed: Iterable[tuple[str, Any]]) -> None:
    seen: dict[Any, str] = {}
    for entry, key in keyed:
        first = seen.setdefault(key, entry)
        if first != entry:
            raise _error(origin, entry, f"the same rule as {first}: only one of them could ever apply")


def _list(origin: str, data: Mapping[str, Any], key: str) -> list[Any]:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise _error(origin, key, f"expected a list of tables ([[{key}]]), got {_kind(value)}")
    return value


def _string(origin: str, entry: str, raw: Mapping[str, Any], key: str, what: str) -> str | None:
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise _error(origin, entry, f"{key}: expected {what}, got {value!r}")
    return value.strip()


def _number(origin: str, entry: str, key: str, value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        raise _error(origin, entry, f"{key}: expected a number, got {value!r}")
    try:
        # str() first: a float read as 0.3 must stay 0.3, not 0.2999999999999999889.
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise _error(origin, entry, f"{key}: expected a number, got {value!r}") from None
    if not number.is_finite():
        raise _error(origin, entry, f"{key}: expected a finite number, got {value!r}")
    return number


def _decimal(origin: str, entry: str, key: str, value: Any) -> Decimal:
    number = _number(origin, entry, key, value)
    if number < 0:
        raise _error(origin, entry, f"{key}: a price cannot be negative, got {value!r}")
    return number


def _price(origin: str, entry: str, key: str, value: Any) -> Price:
    if not isinstance(value, Mapping):
        return _decimal(origin, entry, key, value)
    shape = f"{key}: a long-context price is {{base = N, tiers = [[above_input_tokens, N], ...]}}"
    tiers_raw = value.get("tiers")
    if set(value) != {"base", "tiers"} or not isinstance(tiers_raw, list) or not tiers_raw:
        raise _error(origin, entry, shape)
    tiers: list[tuple[int, Decimal]] = []
    for tier in tiers_raw:
        if not isinstance(tier, list) or len(tier) != 2:
            raise _error(origin, entry, f"{shape}, got tier {tier!r}")
        start, price = tier
        if isinstance(start, bool) or not isinstance(start, int) or start < 0:
            raise _error(
                origin, entry, f"{key}: a tier starts at a whole number of input tokens, got {start!r}"
            )
        tiers.append((start, _decimal(origin, entry, key, price)))
    return Tiered(_decimal(origin, entry, key, value["base"]), tiers)


def _model_rule(origin: str, index: int, raw: Any) -> _ModelRule:
    entry = f"models[{index}]"
    if not isinstance(raw, Mapping):
        raise _error(origin, entry, f"expected a table, got {_kind(raw)}")
    model_id = _string(origin, entry, raw, "id", "a model id string")
    if model_id is None:
        raise _error(origin, entry, "'id' (the model id, or a prefix ending in '*') is required")
    entry = f"{entry} ({model_id})"
    _reject_unknown(origin, entry, raw, _MODEL_KEYS)
    if "*" in model_id[:-1]:
        raise _error(origin, entry, "id: '*' may only end the id (a prefix), as in 'ft:gpt-4o-mini:acme:*'")
    provider = _string(origin, entry, raw, "provider", "a gen_ai.provider.name string")
    base = _string(origin, entry, raw, "base", "a catalog model id string")
    base_provider = _string(origin, entry, raw, "base_provider", "a gen_ai.provider.name string")
    if base_provider is not None and base is None:
        raise _error(origin, entry, "base_provider: only means something with a 'base' model")
    prices = {key: _price(origin, entry, key, raw[key]) for key in PRICE_KEYS if key in raw}
    if base is None:
        missing = [key for key in ("input", "output") if key not in prices]
        if missing:
            raise _error(
                origin,
                entry,
                f"no {' and no '.join(repr(k) for k in missing)} price: give both (USD per million tokens), "
                "or a 'base' model to take the missing prices from",
            )
    return _ModelRule(entry, provider, model_id.lower(), base, base_provider, PriceSet(**prices))


def _multiplier(origin: str, index: int, raw: Any) -> _Multiplier:
    entry = f"multipliers[{index}]"
    if not isinstance(raw, Mapping):
        raise _error(origin, entry, f"expected a table, got {_kind(raw)}")
    provider = _string(origin, entry, raw, "provider", "a gen_ai.provider.name string")
    model = _string(origin, entry, raw, "model", "a model id string")
    entry = f"{entry} ({' '.join(filter(None, (provider, model))) or 'all models'})"
    _reject_unknown(origin, entry, raw, _MULTIPLIER_KEYS)
    if model is not None and "*" in model[:-1]:
        raise _error(origin, entry, "model: '*' may only end the id (a prefix), as in 'claude-sonnet-4-5*'")
    if "factor" not in raw:
        raise _error(origin, entry, "'factor' is required (0.8 for a 20% discount)")
    factor = _number(origin, entry, "factor", raw["factor"])
    if factor <= 0:
        raise _error(
            origin,
            entry,
            f"factor: must be above 0 (0.8 for a 20% discount), got {raw['factor']!r}; "
            "a free model is a [[models]] entry with input = 0 and output = 0",
        )
    return _Multiplier(entry, provider, model.lower() if model else None, factor)


def _deployments(origin: str, raw: Any) -> dict[str, str]:
    if not isinstance(raw, Mapping):
        raise _error(
            origin, "azure_deployments", f"expected a table of deployment name = model id, got {_kind(raw)}"
        )
    deployments: dict[str, str] = {}
    for name, model in raw.items():
        entry = f"azure_deployments.{name}"
        if not isinstance(name, str) or not name.strip():
            raise _error(origin, entry, "a deployment name must be a non-empty string")
        if not isinstance(model, str) or not model.strip():
            raise _error(origin, entry, f"expected the id of the model it serves, got {model!r}")
        # Looked up among the lower-cased spellings of the request's model.
        key = name.strip().lower()
        if key in deployments:
            raise _error(origin, entry, "listed twice (deployment names are matched ignoring case)")
        deployments[key] = model.strip()
    return deployments


def load_overrides(path: str | os.PathLike[str]) -> Overrides:
    """Read and check a ``.toml`` or ``.json`` price file; raises :class:`PriceOverrideError`."""
    file = Path(path)
    origin = str(file)
    suffix = file.suffix.lower()
    if suffix not in (".toml", ".json"):
        raise _error(origin, "", "expected a .toml or .json file")
    try:
        content = file.read_bytes()
    except OSError as error:
        raise _error(origin, "", f"cannot be read ({error.strerror or error})") from None
    try:
        # Decimal straight from the text: the price the user typed, digit for digit.
        data = json.loads(content, parse_float=Decimal) if suffix == ".json" else _toml(content, origin)
    except PriceOverrideError:
        raise
    except Exception as error:
        raise _error(origin, "", f"not valid {suffix[1:].upper()}: {error}") from None
    # The version names the file's bytes: `sha256sum prices.toml` tells which one is in force.
    return Overrides.from_mapping(data, origin, hashlib.sha256(content).hexdigest())


def _toml(content: bytes, origin: str) -> Any:
    try:
        import tomllib
    except ImportError:  # Python 3.10
        try:
            import tomli as tomllib  # type: ignore[no-redef]
        except ImportError:
            raise _error(
                origin, "", "reading TOML on Python 3.10 needs the 'tomli' package (or use a .json file)"
            ) from None
    return tomllib.loads(content.decode("utf-8"), parse_float=Decimal)
