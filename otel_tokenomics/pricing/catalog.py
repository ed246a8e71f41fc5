"""The bundled price catalog: loaded on first use, matched by model id.

``catalog.jsonl`` is built by ``python -m prices.build`` from a pinned release of
the genai-prices data plus ``prices/corrections.toml``: a JSON header line, then
one JSON line per model, in each provider's order. Each model has match rules
(equals, starts_with, ends_with, contains, regex, and/or); the first entry that
matches wins, as in the source. Loading reads the file and finds where each
provider's lines start, without splitting or parsing them; a provider's lines are
split, parsed and its rules compiled on its first lookup, so a process that only
calls OpenAI never parses OpenRouter's thousand entries.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from otel_tokenomics.pricing.prices import ModelPrices

logger = logging.getLogger("otel_tokenomics")

Matcher = Callable[[str], bool]

# gen_ai.provider.name values (and a few spellings in the wild) -> catalog provider ids.
PROVIDER_IDS: dict[str, str] = {
    "openai": "openai",
    "anthropic": "anthropic",
    "gcp.gen_ai": "google",
    "gcp.gemini": "google",
    "gcp.vertex_ai": "google",
    "google": "google",
    "aws.bedrock": "aws",
    "azure.ai.openai": "azure",
    "azure.ai.inference": "azure",
    "mistral_ai": "mistral",
    "x_ai": "x-ai",
    "xai": "x-ai",
    "together_ai": "together",
    "fireworks_ai": "fireworks",
    "moonshot_ai": "moonshotai",
    "cohere": "cohere",
    "groq": "groq",
    "deepseek": "deepseek",
    "openrouter": "openrouter",
    "perplexity": "perplexity",
    "cerebras": "cerebras",
}


# Gateways whose model ids are "<maker>/<model>" and whose price is the maker's.
GATEWAY_VENDORS: dict[str, dict[str, str]] = {
    "openrouter": {
        "openai": "openai",
        "anthropic": "anthropic",
        "google": "google",
        "x-ai": "x-ai",
        "mistralai": "mistral",
        "deepseek": "deepseek",
        "cohere": "cohere",
        "moonshotai": "moonshotai",
        "perplexity": "perplexity",
    },
}


# Where a model is looked for when no provider is named: the makers' own lists
# first, then the big resellers, whose lists repeat the makers' models at other
# prices (Vertex's rule "contains claude-sonnet-4-5" matches Bedrock ids too).
PREFERRED_PROVIDERS = (
    "openai",
    "anthropic",
    "google",
    "mistral",
    "x-ai",
    "deepseek",
    "cohere",
    "moonshotai",
    "aws",
    "azure",
    "groq",
)


def catalog_provider_id(provider: str) -> str:
    """The catalog's id for a ``gen_ai.provider.name`` (unknown names pass through)."""
    return PROVIDER_IDS.get(provider) or provider.replace("_", "-")


def compile_clause(raw: Mapping[str, Any]) -> Matcher:
    (kind, value), *_ = raw.items()
    if kind == "equals":
        return value.__eq__  # type: ignore[no-any-return]
    if kind == "starts_with":
        return lambda text: text.startswith(value)
    if kind == "ends_with":
        return lambda text: text.endswith(value)
    if kind == "contains":
        return lambda text: value in text
    if kind == "regex":
        pattern = re.compile(value)
        return lambda text: pattern.search(text) is not None
    if kind == "or":
        parts = [compile_clause(part) for part in value]
        return lambda text: any(part(text) for part in parts)
    if kind == "and":
        parts = [compile_clause(part) for part in value]
        return lambda text: all(part(text) for part in parts)
    raise ValueError(f"unknown match rule {kind!r}")


def exact_ids(raw: Mapping[str, Any]) -> list[str]:
    """The ids an entry matches by equality: the names a user can type for it."""
    (kind, value), *_ = raw.items()
    if kind == "equals":
        return [value]
    if kind == "or":
        return [found for part in value for found in exact_ids(part)]
    return []


class ProviderCatalog:
    def __init__(
        self, raw: Mapping[str, Any], lines: Sequence[str | bytes] | Callable[[], list[bytes]] | None = None
    ) -> None:
        """``lines``: the provider's JSON lines, or what returns them; None: ``raw["models"]``."""
        self.id: str = raw["id"]
        self.name: str = raw.get("name", self.id)
        self.fallback: list[str] = list(raw.get("fallback", ()))
        self._lines = lines
        self._raw_models: list[Mapping[str, Any]] | None = None if lines is not None else list(raw["models"])
        self.context_factors = [
            (dict(rule["context"]), Decimal(rule["factor"])) for rule in raw.get("context_multipliers", ())
        ]
        self._compiled: list[tuple[Matcher, Mapping[str, Any]]] | None = None
        self._entries: dict[str, ModelPrices] = {}
        self._lock = threading.Lock()

    @property
    def raw_models(self) -> list[Mapping[str, Any]]:
        """The provider's model records, in match order (parsed on first use)."""
        models = self._raw_models
        if models is None:
            with self._lock:
                if self._raw_models is None:
                    lines = self._lines or ()
                    if callable(lines):
                        lines = lines()
                    self._raw_models = [json.loads(line) for line in lines]
                models = self._raw_models
        return models

    def _rules(self) -> list[tuple[Matcher, Mapping[str, Any]]]:
        compiled = self._compiled
        if compiled is None:
            models = self.raw_models
            with self._lock:
                if self._compiled is None:
                    self._compiled = [(compile_clause(m["match"]), m) for m in models]
                compiled = self._compiled
        return compiled

    def match(self, model_id: str) -> ModelPrices | None:
        """The first entry whose rule matches ``model_id`` (already lower-cased)."""
        for rule, raw in self._rules():
            if rule(model_id):
                return self.entry(raw)
        return None

    def entry(self, raw: Mapping[str, Any]) -> ModelPrices:
        found = self._entries.get(raw["id"])
        if found is None:
            found = self._entries[raw["id"]] = ModelPrices.from_json(self.id, raw, self.context_factors)
        return found

    def by_id(self, entry_id: str) -> ModelPrices | None:
        for raw in self.raw_models:
            if raw["id"] == entry_id:
                return self.entry(raw)
        return None


class Catalog:
    """The catalog from a mapping with ``providers[*].models`` (tests, tools) or :meth:`from_lines`."""

    def __init__(
        self,
        raw: Mapping[str, Any],
        lines: Mapping[str, Sequence[str | bytes] | Callable[[], list[bytes]]] | None = None,
    ) -> None:
        self.version: str = raw["version"]
        self.currency: str = raw.get("currency", "USD")
        self.source: Mapping[str, Any] = raw.get("source", {})
        self.corrections: list[Mapping[str, Any]] = raw.get("corrections", [])
        self.providers: dict[str, ProviderCatalog] = {
            p["id"]: ProviderCatalog(p, None if lines is None else lines.get(p["id"], []))
            for p in raw["providers"]
        }

    @classmethod
    def from_lines(cls, text: str | bytes) -> Catalog:
        """Parse the header; find where each provider's lines start, and leave them unsplit.

        The build writes each provider's lines together, in the header's order, each
        line starting with ``{"provider":"<id>",``: one search per provider finds its
        block. Splitting the 550 KB body into lines at start-up cost more than all
        the rest of ``instrument()``. Counting, not splitting, proves the order: when
        every line lies in its own provider's block the blocks are used, else the
        lines are grouped one by one.
        """
        # Bytes: the catalog has non-ASCII names, and a str holding one costs 2 to 4 bytes
        # per character to search.
        data = text.encode("utf-8") if isinstance(text, str) else text
        header, _, body = data.partition(b"\n")
        raw = json.loads(header)
        body = b"\n" + body  # every line then starts after a newline
        starts: list[tuple[int, str]] = []
        at = 0
        for provider in raw["providers"]:
            found = body.find(_line_start(provider["id"]), at)
            if found >= 0:
                starts.append((found, provider["id"]))
                at = found
        ends = [start for start, _id in starts[1:]] + [len(body)]
        spans = [(provider_id, start, end) for (start, provider_id), end in zip(starts, ends, strict=True)]
        in_place = sum(body.count(_line_start(provider_id), start, end) for provider_id, start, end in spans)
        if in_place != body.count(b'\n{"provider":'):
            return cls(raw, _grouped(body))
        blocks: dict[str, Sequence[str | bytes] | Callable[[], list[bytes]]] = {
            provider_id: functools.partial(_provider_lines, body, start, end, provider_id)
            for provider_id, start, end in spans
        }
        return cls(raw, blocks)

    def find(self, provider: str, model_id: str) -> ModelPrices | None:
        """``model_id`` (one lower-cased spelling) under ``provider`` or its fallbacks."""
        # The raw name second: catalog ids with an underscore (huggingface_groq) must
        # survive the gen_ai-name rewrite of "_" to "-".
        catalog = self.providers.get(catalog_provider_id(provider)) or self.providers.get(provider)
        if catalog is None:
            return None
        found = catalog.match(model_id)
        if found is not None:
            return found
        # Providers that resell others' models (Azure: OpenAI's; Vertex: Anthropic's)
        # fall back one step to the maker's list, as the source does.
        for fallback_id in catalog.fallback:
            fallback = self.providers.get(fallback_id)
            if fallback is not None:
                found = fallback.match(model_id)
                if found is not None:
                    return found
        # A gateway that passes the maker's price through names the maker first
        # (x-ai/grok-4): a model missing from the gateway's own list is priced from
        # the maker's.
        vendors = GATEWAY_VENDORS.get(catalog.id)
        if vendors and "/" in model_id:
            vendor, _, name = model_id.partition("/")
            maker = self.providers.get(vendors.get(vendor, ""))
            if maker is not None:
                return maker.match(name)
        return None

    def search_order(self, first: str | None = None) -> list[str]:
        """Catalog provider ids in :data:`PREFERRED_PROVIDERS` order, ``first`` first, then the rest."""
        preferred = [first, *PREFERRED_PROVIDERS] if first else list(PREFERRED_PROVIDERS)
        order = list(dict.fromkeys(p for p in preferred if p in self.providers))
        return order + [p for p in self.providers if p not in order]

    def all_models(self, provider: str | None = None) -> list[tuple[str, Mapping[str, Any]]]:
        wanted = catalog_provider_id(provider) if provider else None
        return [
            (p.id, raw)
            for p in self.providers.values()
            if wanted is None or p.id == wanted
            for raw in p.raw_models
        ]


def _line_start(provider_id: str) -> bytes:
    return b'\n{"provider":' + json.dumps(provider_id).encode() + b","


def _provider_lines(body: bytes, start: int, end: int, provider_id: str) -> list[bytes]:
    """The lines of ``provider_id`` in its block ``body[start:end]``."""
    head = _line_start(provider_id)[1:]
    return [line for line in body[start:end].split(b"\n") if line.startswith(head)]


def _grouped(body: bytes) -> dict[str, Sequence[str | bytes] | Callable[[], list[bytes]]]:
    """Every line under its provider, whatever their order."""
    by_provider: dict[str, list[bytes]] = {}
    for line in body.split(b"\n"):
        if line.startswith(b'{"provider":'):
            provider = json.loads(line[12 : line.index(b",", 12)])
            by_provider.setdefault(provider, []).append(line)
    return dict(by_provider)


_catalog: Catalog | None = None
_load_lock = threading.Lock()


CATALOG_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "catalog.jsonl")


def load_catalog() -> Catalog:
    """The bundled catalog, read once per process (never at import).

    A missing or damaged file is reported once and leaves an empty catalog, so
    no call ever retries the read (or raises): every call is then unpriced.
    """
    global _catalog
    if _catalog is None:
        with _load_lock:
            if _catalog is None:
                try:
                    # A plain file read: importlib.resources alone costs more to
                    # import than the whole catalog takes to load.
                    with open(CATALOG_FILE, "rb") as file:
                        _catalog = Catalog.from_lines(file.read())
                except Exception:
                    logger.error(
                        "otel-tokenomics could not read its price catalog %s; every call stays unpriced",
                        CATALOG_FILE,
                        exc_info=True,
                    )
                    _catalog = Catalog({"version": "unavailable", "providers": []})
    return _catalog
