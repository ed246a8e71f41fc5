"""The user's own prices: negotiated rates, custom models, Azure deployment names.

A file (``OTEL_TOKENOMICS_PRICES=/path/prices.toml`` or ``.json``) or a mapping
passed to ``otel_tokenomics.set_prices()`` / ``instrument(prices=...)``::

    [[models]]                      # absolute prices, USD per million tokens
    provider = "openai"             # optional: a gen_ai.provider.name; any provider if absent
    id = "ft:gpt-4o-mini-2024-07-18:acme::*"   # exact id, or a prefix ending in '*'
    base = "gpt-4o-mini"            # optional: start from this catalog model's prices
    input = "0.30"
    output = "1.20"                 # also cache_read, cache_write, cache_write_1h, reasoning, ...

    [[multipliers]]                 # a negotiated discount on whatever price applies
    provider = "anthropic"          # optional
    model = "claude-sonnet-4-5*"    # optional: model id, catalog entry id, or prefix*
    factor = "0.8"

    [azure_deployments]             # deployment name -> the model it serves
    prod-chat = "gpt-4o-2024-08-06"

Everything is checked when it is loaded (at ``instrument()``): a bad file raises
:class:`PriceOverrideError` naming the file, the entry and what is wrong, so no
mistake in it can surface inside an LLM call.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any

from otel_tokenomics.pricing.catalog import catalog_provider_id
from otel_tokenomics.pricing.model_ids import candidates
from otel_tokenomics.pricing.prices import PRICE_KEYS, ModelPrices, PriceSet, Tiered, When

if TYPE_CHECKING:
    from otel_tokenomics.pricing.engine import Pricer

PROVIDER_OVERRIDE = "override"
_MODEL_KEYS = {"provider", "id", "base", "base_provider", *PRICE_KEYS}
_MULTIPLIER_KEYS = {"provider", "model", "factor"}
_TOP_KEYS = {"models", "multipliers", "azure_deployments"}


class PriceOverrideError(ValueError):
    """A price override file or mapping that cannot be used, and why."""


class _ModelRule:
    __slots__ = ("base", "base_provider", "id", "prices", "provider")

    def __init__(self, provider: str | None, id: str, base: str | None, base_provider: str | None, prices: PriceSet):
        self.provider = provider
        self.id = id
        self.base = base
        self.base_provider = base_provider
        self.prices = prices


class _Multiplier:
    __slots__ = ("factor", "model", "provider")

    def __init__(self, provider: str | None, model: str | None, factor: Decimal) -> None:
        self.provider = provider
        self.model = model
        self.factor = factor


def _names_match(pattern: str, names: list[str]) -> bool:
    if pattern.endswith("*"):
        prefix = pattern[:-1]
        return any(name.startswith(prefix) for name in names)
    return pattern in names


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
        self.version = f"user:{digest[:12]}"
        self.models = models
        # The most specific rule first: model and provider, then model, then provider.
        self.multipliers = sorted(multipliers, key=lambda m: (m.model is None, m.provider is None))
        self.deployments = deployments
        self._derived: dict[int, ModelPrices] = {}

    # -- building --------------------------------------------------------------------

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], origin: str = "prices", digest: str | None = None) -> Overrides:
        if not isinstance(data, Mapping):
            raise PriceOverrideError(f"{origin}: expected a table/object at the top, got {type(data).__name__}")
        unknown = set(data) - _TOP_KEYS
        if unknown:
            raise PriceOverrideError(
                f"{origin}: unknown key(s) {', '.join(sorted(unknown))}; expected {', '.join(sorted(_TOP_KEYS))}"
            )
        models = [_model_rule(origin, i, raw) for i, raw in enumerate(_list(origin, data, "models"))]
        multipliers = [_multiplier(origin, i, raw) for i, raw in enumerate(_list(origin, data, "multipliers"))]
        deployments_raw = data.get("azure_deployments", {})
        if not isinstance(deployments_raw, Mapping):
            raise PriceOverrideError(f"{origin}: azure_deployments: expected a table of name = model")
        deployments: dict[str, str] = {}
        for name, model in deployments_raw.items():
            if not isinstance(model, str) or not model.strip():
                raise PriceOverrideError(f"{origin}: azure_deployments.{name}: expected a model id string")
            deployments[str(name).strip().lower()] = model.strip()
        if digest is None:
            digest = hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()
        return cls(origin, digest, models, multipliers, deployments)

    def check(self, pricer: Pricer) -> None:
        """Resolve every ``base`` model now, so a typo fails at load, not per call."""
        for index, rule in enumerate(self.models):
            if rule.base is not None and self._base(rule, pricer) is None:
                raise PriceOverrideError(
                    f"{self.origin}: models[{index}] ({rule.id}): base model {rule.base!r} is not in the catalog"
                    + (f" of provider {rule.base_provider or rule.provider!r}" if (rule.base_provider or rule.provider) else "")
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
        for rule in self.models:
            if _provider_matches(rule.provider, provider) and _names_match(rule.id, names):
                if rule.base is None:
                    return ModelPrices(PROVIDER_OVERRIDE, rule.id, [(When(None), rule.prices)])
                return self._base(rule, pricer)
        return None

    def factor(self, provider: str, names: list[str], entry_id: str) -> Decimal | None:
        for rule in self.multipliers:
            if not _provider_matches(rule.provider, provider):
                continue
            if rule.model is None or _names_match(rule.model, [*names, entry_id.lower()]):
                return rule.factor
        return None

    def _base(self, rule: _ModelRule, pricer: Pricer) -> ModelPrices | None:
        derived = self._derived.get(id(rule))
        if derived is not None:
            return derived
        provider = rule.base_provider or rule.provider
        names = candidates(rule.base or "")
        match = None
        if provider:
            match = pricer.catalog_match(provider, names)
        else:
            for catalog_provider in pricer.catalog.providers:
                match = pricer.catalog_match(catalog_provider, names)
                if match is not None:
                    break
        if match is None:
            return None
        base = match.prices
        periods = [(when, prices.updated(rule.prices)) for when, prices in base.periods]
        derived = ModelPrices(base.provider_id, rule.id, periods, base.variants, base.context_factors)
        self._derived[id(rule)] = derived
        return derived


def _list(origin: str, data: Mapping[str, Any], key: str) -> list[Any]:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise PriceOverrideError(f"{origin}: {key}: expected a list of tables ([[{key}]])")
    return value


def _decimal(origin: str, where: str, key: str, value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        raise PriceOverrideError(f"{origin}: {where}: {key}: expected a number, got {value!r}")
    try:
        # str() first: a TOML/JSON float like 0.3 must stay 0.3, not 0.29999...
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise PriceOverrideError(f"{origin}: {where}: {key}: expected a number, got {value!r}") from None
    if not number.is_finite() or number < 0:
        raise PriceOverrideError(f"{origin}: {where}: {key}: expected a non-negative number, got {value!r}")
    return number


def _model_rule(origin: str, index: int, raw: Any) -> _ModelRule:
    where = f"models[{index}]"
    if not isinstance(raw, Mapping):
        raise PriceOverrideError(f"{origin}: {where}: expected a table")
    model_id = raw.get("id")
    if not isinstance(model_id, str) or not model_id.strip():
        raise PriceOverrideError(f"{origin}: {where}: 'id' (the model id) is required")
    where = f"{where} ({model_id})"
    unknown = set(raw) - _MODEL_KEYS
    if unknown:
        raise PriceOverrideError(
            f"{origin}: {where}: unknown key(s) {', '.join(sorted(unknown))}; prices are {', '.join(PRICE_KEYS)}"
        )
    prices: dict[str, Any] = {}
    for key in PRICE_KEYS:
        if key in raw:
            value = raw[key]
            if isinstance(value, Mapping):
                try:
                    tiers = [(int(start), _decimal(origin, where, key, price)) for start, price in value["tiers"]]
                    prices[key] = Tiered(_decimal(origin, where, key, value["base"]), tiers)
                except (KeyError, TypeError, ValueError) as error:
                    if isinstance(error, PriceOverrideError):
                        raise
                    raise PriceOverrideError(
                        f"{origin}: {where}: {key}: a tiered price is {{base = N, tiers = [[start, N], ...]}}"
                    ) from None
            else:
                prices[key] = _decimal(origin, where, key, value)
    base = raw.get("base")
    if base is not None and (not isinstance(base, str) or not base.strip()):
        raise PriceOverrideError(f"{origin}: {where}: base: expected a model id string")
    if base is None and ("input" not in prices or "output" not in prices):
        raise PriceOverrideError(f"{origin}: {where}: needs 'input' and 'output' prices, or a 'base' model")
    provider = raw.get("provider")
    if provider is not None and (not isinstance(provider, str) or not provider.strip()):
        raise PriceOverrideError(f"{origin}: {where}: provider: expected a gen_ai.provider.name string")
    return _ModelRule(
        provider.strip() if provider else None,
        model_id.strip().lower(),
        base.strip() if base else None,
        raw.get("base_provider"),
        PriceSet(**prices),
    )


def _multiplier(origin: str, index: int, raw: Any) -> _Multiplier:
    where = f"multipliers[{index}]"
    if not isinstance(raw, Mapping):
        raise PriceOverrideError(f"{origin}: {where}: expected a table")
    unknown = set(raw) - _MULTIPLIER_KEYS
    if unknown:
        raise PriceOverrideError(f"{origin}: {where}: unknown key(s) {', '.join(sorted(unknown))}")
    if "factor" not in raw:
        raise PriceOverrideError(f"{origin}: {where}: 'factor' is required (0.8 for a 20% discount)")
    factor = _decimal(origin, where, "factor", raw["factor"])
    if factor == 0:
        raise PriceOverrideError(f"{origin}: {where}: factor: must be above 0 (a free model is input = 0, output = 0)")
    provider, model = raw.get("provider"), raw.get("model")
    for key, value in (("provider", provider), ("model", model)):
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise PriceOverrideError(f"{origin}: {where}: {key}: expected a string")
    return _Multiplier(provider.strip() if provider else None, model.strip().lower() if model else None, factor)


def load_overrides(path: str | os.PathLike[str]) -> Overrides:
    """Read and check a ``.toml`` or ``.json`` price file."""
    file = Path(path)
    origin = str(file)
    try:
        content = file.read_bytes()
    except OSError as error:
        raise PriceOverrideError(f"{origin}: cannot be read ({error.strerror or error})") from None
    suffix = file.suffix.lower()
    try:
        if suffix == ".json":
            data = json.loads(content)
        elif suffix == ".toml":
            data = _toml(content, origin)
        else:
            raise PriceOverrideError(f"{origin}: expected a .toml or .json file")
    except PriceOverrideError:
        raise
    except Exception as error:
        raise PriceOverrideError(f"{origin}: not valid {suffix[1:].upper()}: {error}") from None
    return Overrides.from_mapping(data, origin, hashlib.sha256(content).hexdigest())


def _toml(content: bytes, origin: str) -> Any:
    try:
        import tomllib
    except ImportError:  # Python 3.10
        try:
            import tomli as tomllib  # type: ignore[no-redef]
        except ImportError:
            raise PriceOverrideError(
                f"{origin}: reading TOML on Python 3.10 needs the 'tomli' package (or use a .json file)"
            ) from None
    return tomllib.loads(content.decode("utf-8"))
