"""Checker for the otel-tokenomics semantic-convention registry.

Weaver cannot run in our CI, so this module enforces the parts of the Weaver
``definition/2`` syntax we use, plus our own house rules:

* every file under ``model/`` declares ``file_format: definition/2`` and only uses known
  sections and fields;
* attributes, metrics, events, spans and refinements carry their required fields, with
  valid types, stabilities, instruments, span kinds and requirement levels;
* everything defined locally lives under ``tokenomics.`` and is defined once;
* every ``ref`` resolves to a local definition or to an upstream name listed in
  ``upstream.yaml``; every ``ref_group`` to a local attribute group;
* the manifest has a name and a versioned ``schema_url``, and pins the same upstream commit
  as ``upstream.yaml``.

Usage: ``python semconv/check.py [REGISTRY_DIR]`` (default: the directory of this file).
Exit status 0 when the registry is valid, 1 otherwise. Only the standard library and
PyYAML are needed.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import yaml

FILE_FORMAT = "definition/2"
LOCAL_PREFIX = "tokenomics."

STABILITIES = frozenset({"stable", "development", "alpha", "beta", "release_candidate"})
INSTRUMENTS = frozenset({"counter", "updowncounter", "gauge", "histogram"})
SPAN_KINDS = frozenset({"client", "server", "producer", "consumer", "internal"})
PRIMITIVE_TYPES = frozenset(
    {"string", "int", "double", "boolean", "string[]", "int[]", "double[]", "boolean[]", "any"}
)
BASIC_REQUIREMENT_LEVELS = frozenset({"required", "recommended", "opt_in"})
TEXT_REQUIREMENT_LEVELS = frozenset({"conditionally_required", "recommended", "opt_in"})
DEPRECATION_REASONS = frozenset({"renamed", "obsoleted", "uncategorized", "unspecified"})
UPSTREAM_ORIGINS = frozenset({"genai", "core"})
UPSTREAM_METRIC_STATUSES = frozenset({"pinned", "proposed"})

SECTIONS = (
    "attributes",
    "attribute_groups",
    "spans",
    "span_refinements",
    "metrics",
    "metric_refinements",
    "events",
    "event_refinements",
    "entities",
    "entity_refinements",
    "imports",
)

_COMMON = {"brief", "note", "stability", "deprecated", "annotations"}
ATTRIBUTE_FIELDS = {"key", "type", "examples"} | _COMMON
ENUM_MEMBER_FIELDS = {"id", "value", "brief", "note", "stability", "deprecated", "annotations"}
ATTRIBUTE_REF_FIELDS = {"ref", "requirement_level", "sampling_relevant", "examples"} | _COMMON
GROUP_FIELDS = {"id", "visibility", "attributes"} | _COMMON
SPAN_FIELDS = {"type", "kind", "name", "attributes", "entity_associations"} | _COMMON
METRIC_FIELDS = {
    "name",
    "instrument",
    "unit",
    "attributes",
    "entity_associations",
    "requirement_level",
} | _COMMON
EVENT_FIELDS = {"name", "attributes", "entity_associations", "body"} | _COMMON
ENTITY_FIELDS = {"type", "identity", "description"} | _COMMON
REFINEMENT_FIELDS = {"id", "ref", "attributes", "entity_associations"} | _COMMON
MANIFEST_FIELDS = {"name", "description", "schema_url", "stability", "dependencies"}
DEPENDENCY_FIELDS = {"name", "schema_url", "registry_path"}

# A dotted, lower-case name with at least two segments: `tokenomics.cost.total`.
NAME_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
# An enum member id (`closed_early`, `aws.bedrock`) or a group id.
ID_RE = re.compile(r"^[a-z_][a-z0-9_]*(\.[a-z0-9_]+)*$")
# http(s)://host[:port]/path.../<version>; the version is semver with an optional suffix.
SCHEMA_URL_RE = re.compile(
    r"^https?://[A-Za-z0-9.-]+(:[0-9]+)?(/[A-Za-z0-9._~-]+)+/v?[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.-]+)?$"
)
COMMIT_RE = re.compile(r"^[0-9a-f]{40}$")
# https://github.com/<owner>/<repo>@<ref>[<folder>]
REMOTE_REGISTRY_RE = re.compile(
    r"^https://github\.com/[^/@\s]+/[^/@\s]+@(?P<ref>[^\[\s]+)\[(?P<path>[^\]]+)\]$"
)


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


class RegistryError(Exception):
    """A registry file cannot be read at all (missing, not YAML, duplicate keys)."""


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that rejects a mapping with the same key twice (PyYAML keeps the last one)."""


def _construct_unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping",
                node.start_mark,
                f"found duplicate key {key!r}",
                key_node.start_mark,
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping)


def parse_yaml(text: str, source: str = "<string>") -> Any:
    """Parse one YAML document, rejecting duplicate mapping keys."""
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass: no arbitrary objects
    except yaml.YAMLError as exc:
        raise RegistryError(f"{source}: {exc}") from exc


def load_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RegistryError(f"{path}: {exc}") from exc
    return parse_yaml(text, path.name)


@dataclass
class Registry:
    """The raw documents of a registry directory, keyed by path relative to it."""

    root: Path
    manifest: Any
    upstream: Any
    model: dict[str, Any]

    @classmethod
    def load(cls, root: Path | str | None = None) -> Registry:
        root = Path(root) if root is not None else Path(__file__).resolve().parent
        model_dir = root / "model"
        files = sorted(model_dir.glob("*.yaml")) + sorted(model_dir.glob("*.yml"))
        if not files:
            raise RegistryError(f"no model files under {model_dir}")
        return cls(
            root=root,
            manifest=load_yaml(root / "manifest.yaml"),
            upstream=load_yaml(root / "upstream.yaml"),
            model={f"model/{p.name}": load_yaml(p) for p in files},
        )

    # Convenience views used by generate.py (valid registries only).

    def items(self, section: str) -> Iterator[tuple[str, dict[str, Any]]]:
        for name, doc in self.model.items():
            for item in (doc or {}).get(section) or []:
                yield name, item

    def local_attributes(self) -> list[dict[str, Any]]:
        return [item for _, item in self.items("attributes")]

    def local_metrics(self) -> list[dict[str, Any]]:
        return [item for _, item in self.items("metrics")]

    def local_events(self) -> list[dict[str, Any]]:
        return [item for _, item in self.items("events")]

    def groups(self) -> dict[str, dict[str, Any]]:
        return {item["id"]: item for _, item in self.items("attribute_groups")}

    def upstream_section(self, section: str) -> list[dict[str, Any]]:
        return list((self.upstream or {}).get(section) or [])


# --------------------------------------------------------------------------------------------
# Problems
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    file: str
    where: str
    message: str

    def __str__(self) -> str:
        where = f" {self.where}:" if self.where else ""
        return f"{self.file}:{where} {self.message}"


@dataclass
class _Reporter:
    file: str
    problems: list[Problem] = field(default_factory=list)

    def __call__(self, where: str, message: str) -> None:
        self.problems.append(Problem(self.file, where, message))


def _is_str(value: Any) -> bool:
    return isinstance(value, str) and value.strip() != ""


def _describe(section: str, index: int, item: Any, name_field: str) -> str:
    name = item.get(name_field) if isinstance(item, Mapping) else None
    return f"{section}[{index}]" + (f" ({name})" if isinstance(name, str) else "")


def _check_fields(
    report: _Reporter, where: str, item: Mapping[str, Any], allowed: set[str], required: Iterable[str]
) -> None:
    for name in required:
        if name not in item or item[name] is None:
            report(where, f"missing required field '{name}'")
    for name in sorted(set(item) - allowed, key=str):
        report(where, f"unknown field '{name}'")


def _check_stability(report: _Reporter, where: str, value: Any) -> None:
    if value is None:
        return  # a missing required stability is reported by _check_fields
    if value not in STABILITIES:
        report(where, f"invalid stability {value!r}; expected one of {sorted(STABILITIES)}")


def _check_text(report: _Reporter, where: str, item: Mapping[str, Any], name: str) -> None:
    if name in item and item[name] is not None and not _is_str(item[name]):
        report(where, f"'{name}' must be a non-empty string")


def _check_common(report: _Reporter, where: str, item: Mapping[str, Any]) -> None:
    _check_text(report, where, item, "brief")
    _check_text(report, where, item, "note")
    if "stability" in item:
        _check_stability(report, where, item["stability"])
    if "deprecated" in item:
        _check_deprecated(report, where, item["deprecated"])
    if "annotations" in item and not isinstance(item["annotations"], Mapping):
        report(where, "'annotations' must be a mapping")


def _check_deprecated(report: _Reporter, where: str, value: Any) -> None:
    if not isinstance(value, Mapping):
        report(where, "'deprecated' must be a mapping with a 'reason'")
        return
    reason = value.get("reason")
    if reason not in DEPRECATION_REASONS:
        report(where, f"invalid deprecation reason {reason!r}; expected one of {sorted(DEPRECATION_REASONS)}")
    if reason == "renamed" and not _is_str(value.get("renamed_to")):
        report(where, "a 'renamed' deprecation needs 'renamed_to'")


# --------------------------------------------------------------------------------------------
# Attribute types
# --------------------------------------------------------------------------------------------


def _scalar_matches(type_name: str, value: Any) -> bool:
    if type_name == "string":
        return isinstance(value, str)
    if type_name == "boolean":
        return isinstance(value, bool)
    if type_name == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if type_name == "double":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return True  # any


def _check_type(report: _Reporter, where: str, type_value: Any) -> None:
    if isinstance(type_value, str):
        if type_value in PRIMITIVE_TYPES:
            return
        match = re.fullmatch(r"template\[(.+)\]", type_value)
        if match and match.group(1) in PRIMITIVE_TYPES:
            return
        report(
            where,
            f"invalid type {type_value!r}; expected one of {sorted(PRIMITIVE_TYPES)}, "
            "template[<type>] or an enum",
        )
        return
    if not isinstance(type_value, Mapping) or set(type_value) != {"members"}:
        report(where, "invalid type: an enum type is a mapping with exactly one field, 'members'")
        return
    members = type_value["members"]
    if not isinstance(members, list) or not members:
        report(where, "enum 'members' must be a non-empty list")
        return
    ids: set[Any] = set()
    values: set[Any] = set()
    kinds: set[type] = set()
    for i, member in enumerate(members):
        mwhere = f"{where} member[{i}]"
        if not isinstance(member, Mapping):
            report(mwhere, "enum member must be a mapping")
            continue
        _check_fields(report, mwhere, member, ENUM_MEMBER_FIELDS, ("id", "value", "brief", "stability"))
        _check_common(report, mwhere, member)
        member_id, value = member.get("id"), member.get("value")
        if member_id is not None:
            if not isinstance(member_id, str) or not ID_RE.match(member_id):
                report(mwhere, f"invalid enum member id {member_id!r}")
            elif member_id in ids:
                report(mwhere, f"duplicate enum member id {member_id!r}")
            ids.add(member_id)
        if value is not None:
            if not isinstance(value, (str, int, bool)) or isinstance(value, float):
                report(mwhere, f"enum value {value!r} must be a string, int or boolean")
            else:
                if value in values:
                    report(mwhere, f"duplicate enum value {value!r}")
                values.add(value)
                kinds.add(type(value))
    if len(kinds) > 1:
        report(where, "enum members mix value types")


def _check_examples(report: _Reporter, where: str, type_value: Any, examples: Any) -> None:
    if isinstance(type_value, Mapping):
        members = type_value.get("members") or []
        kinds = {type(m.get("value")) for m in members if isinstance(m, Mapping)}
        scalar = (
            {str: "string", int: "int", bool: "boolean"}.get(next(iter(kinds))) if len(kinds) == 1 else None
        )
    elif isinstance(type_value, str):
        inner = re.fullmatch(r"template\[(.+)\]", type_value)
        scalar = inner.group(1) if inner else type_value
    else:
        return
    if scalar is None or scalar == "any":
        return
    items = examples if isinstance(examples, list) else [examples]
    if scalar.endswith("[]"):
        element = scalar[:-2]
        # Either a list of example arrays, or one flat example array.
        arrays = items if all(isinstance(x, list) for x in items) else [items]
        bad = [v for arr in arrays for v in arr if not _scalar_matches(element, v)]
    else:
        bad = [v for v in items if not _scalar_matches(scalar, v)]
    if bad:
        report(where, f"example value(s) {bad!r} do not match type {scalar!r}")


# --------------------------------------------------------------------------------------------
# Upstream listing
# --------------------------------------------------------------------------------------------


@dataclass
class Known:
    """Names a `ref` may point to: upstream ones from upstream.yaml plus local definitions."""

    upstream_attributes: dict[str, dict[str, Any]] = field(default_factory=dict)
    upstream_metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    upstream_events: dict[str, dict[str, Any]] = field(default_factory=dict)
    upstream_spans: dict[str, dict[str, Any]] = field(default_factory=dict)
    attributes: dict[str, dict[str, Any]] = field(default_factory=dict)
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    metrics: set[str] = field(default_factory=set)
    events: set[str] = field(default_factory=set)
    spans: dict[str, dict[str, Any]] = field(default_factory=dict)
    entities: set[str] = field(default_factory=set)

    @classmethod
    def from_upstream(cls, doc: Any) -> Known:
        doc = doc if isinstance(doc, Mapping) else {}

        def index(section: str, key: str) -> dict[str, dict[str, Any]]:
            items = doc.get(section) or []
            return {i[key]: dict(i) for i in items if isinstance(i, Mapping) and isinstance(i.get(key), str)}

        return cls(
            upstream_attributes=index("attributes", "key"),
            upstream_metrics=index("metrics", "name"),
            upstream_events=index("events", "name"),
            upstream_spans=index("span_types", "type"),
        )


def check_upstream(doc: Any, file: str = "upstream.yaml") -> list[Problem]:
    """Validate the structure of our upstream listing."""
    report = _Reporter(file)
    if not isinstance(doc, Mapping):
        report("", "must be a mapping")
        return report.problems
    for name in sorted(set(doc) - {"upstream", "attributes", "metrics", "events", "span_types"}):
        report("", f"unknown section '{name}'")
    meta = doc.get("upstream")
    if not isinstance(meta, Mapping):
        report("upstream", "missing 'upstream' block (repository, commit, schema_url)")
    else:
        _check_fields(
            report,
            "upstream",
            meta,
            {"repository", "commit", "commit_date", "schema_url", "core_repository", "core_version"},
            ("repository", "commit", "schema_url"),
        )
        if "commit" in meta and not (isinstance(meta["commit"], str) and COMMIT_RE.match(meta["commit"])):
            report("upstream", "'commit' must be a full 40-character commit id (never a branch)")
        if "schema_url" in meta and not (
            isinstance(meta["schema_url"], str) and SCHEMA_URL_RE.match(meta["schema_url"])
        ):
            report("upstream", f"invalid schema_url {meta['schema_url']!r}")

    seen: set[str] = set()
    for i, item in enumerate(doc.get("attributes") or []):
        where = _describe("attributes", i, item, "key")
        if not isinstance(item, Mapping):
            report(where, "must be a mapping")
            continue
        _check_fields(
            report,
            where,
            item,
            {"key", "type", "members", "stability", "origin", "brief", "note"},
            ("key", "type", "stability", "origin", "brief"),
        )
        key = item.get("key")
        if isinstance(key, str):
            if not NAME_RE.match(key):
                report(where, f"invalid attribute key {key!r}")
            if key.startswith(LOCAL_PREFIX):
                report(where, f"'{key}' is ours: define it under model/, not in the upstream listing")
            if key in seen:
                report(where, f"duplicate upstream attribute {key!r}")
            seen.add(key)
        type_value = item.get("type")
        if type_value == "enum":
            members = item.get("members")
            if not isinstance(members, list) or not members or not all(isinstance(m, str) for m in members):
                report(where, "an upstream enum needs 'members': a non-empty list of values")
        elif type_value is not None:
            if "members" in item:
                report(where, "'members' is only valid with type 'enum'")
            _check_type(report, where, type_value)
        if "stability" in item:
            _check_stability(report, where, item["stability"])
        if "origin" in item and item["origin"] not in UPSTREAM_ORIGINS:
            report(where, f"invalid origin {item['origin']!r}; expected one of {sorted(UPSTREAM_ORIGINS)}")
        _check_text(report, where, item, "brief")

    seen_attributes = set(seen)
    seen = set()
    for i, item in enumerate(doc.get("metrics") or []):
        where = _describe("metrics", i, item, "name")
        if not isinstance(item, Mapping):
            report(where, "must be a mapping")
            continue
        _check_fields(
            report,
            where,
            item,
            {"name", "instrument", "unit", "stability", "status", "brief", "note", "attributes", "buckets"},
            ("name", "instrument", "unit", "stability", "status", "brief", "attributes"),
        )
        _check_metric_core(report, where, item)
        listed = item.get("attributes")
        if "attributes" in item and not (
            isinstance(listed, list) and listed and all(isinstance(key, str) for key in listed)
        ):
            report(where, "'attributes' must be a non-empty list of attribute keys")
        elif isinstance(listed, list):
            for key in sorted({key for key in listed if listed.count(key) > 1}):
                report(where, f"attribute {key!r} listed twice")
            for key in listed:
                if key not in seen_attributes:
                    report(where, f"attribute {key!r} is not in this listing's attributes")
        if "buckets" in item:
            if item.get("instrument") != "histogram":
                report(where, "'buckets' are only valid on a histogram")
            _check_buckets(report, where, item["buckets"])
        elif item.get("instrument") == "histogram":
            report(where, "a histogram needs its 'buckets'")
        if "status" in item and item["status"] not in UPSTREAM_METRIC_STATUSES:
            report(
                where,
                f"invalid status {item['status']!r}; expected one of {sorted(UPSTREAM_METRIC_STATUSES)}",
            )
        name = item.get("name")
        if isinstance(name, str):
            if name.startswith(LOCAL_PREFIX):
                report(where, f"'{name}' is ours: define it under model/, not in the upstream listing")
            if name in seen:
                report(where, f"duplicate upstream metric {name!r}")
            seen.add(name)

    for section, key, extra in (("events", "name", set()), ("span_types", "type", {"kind"})):
        seen = set()
        for i, item in enumerate(doc.get(section) or []):
            where = _describe(section, i, item, key)
            if not isinstance(item, Mapping):
                report(where, "must be a mapping")
                continue
            required = (key, "stability", "brief", *sorted(extra))
            _check_fields(report, where, item, {key, "stability", "brief", "note", *extra}, required)
            name = item.get(key)
            if isinstance(name, str):
                if not NAME_RE.match(name):
                    report(where, f"invalid name {name!r}")
                if name in seen:
                    report(where, f"duplicate {section} entry {name!r}")
                seen.add(name)
            if "stability" in item:
                _check_stability(report, where, item["stability"])
            if "kind" in item and item["kind"] not in SPAN_KINDS:
                report(where, f"invalid span kind {item['kind']!r}; expected one of {sorted(SPAN_KINDS)}")
    return report.problems


def _check_buckets(report: _Reporter, where: str, buckets: Any) -> None:
    """Explicit histogram boundaries: a non-empty, strictly increasing list of numbers."""
    if not (
        isinstance(buckets, list)
        and buckets
        and all(isinstance(b, (int, float)) and not isinstance(b, bool) for b in buckets)
    ):
        report(where, "'buckets' must be a non-empty list of numbers")
    elif any(lower >= upper for lower, upper in pairwise(buckets)):
        report(where, "'buckets' must be strictly increasing")


def _check_metric_core(report: _Reporter, where: str, item: Mapping[str, Any]) -> None:
    name = item.get("name")
    if name is not None and not (isinstance(name, str) and NAME_RE.match(name)):
        report(where, f"invalid metric name {name!r}")
    if "instrument" in item and item["instrument"] not in INSTRUMENTS:
        report(where, f"invalid instrument {item['instrument']!r}; expected one of {sorted(INSTRUMENTS)}")
    if "unit" in item and not isinstance(item["unit"], str):
        report(where, "'unit' must be a string (UCUM, e.g. 's', '{token}', '1')")
    if "stability" in item:
        _check_stability(report, where, item["stability"])
    _check_text(report, where, item, "brief")


# --------------------------------------------------------------------------------------------
# Manifest
# --------------------------------------------------------------------------------------------


def check_manifest(doc: Any, file: str = "manifest.yaml", upstream: Any = None) -> list[Problem]:
    """Validate manifest.yaml; with `upstream`, also check that both pin the same commit."""
    report = _Reporter(file)
    if not isinstance(doc, Mapping):
        report("", "must be a mapping")
        return report.problems
    _check_fields(report, "", doc, MANIFEST_FIELDS, ("name", "schema_url"))
    name = doc.get("name")
    if name is not None and not (isinstance(name, str) and re.match(r"^[a-z][a-z0-9_.-]*$", name)):
        report("", f"invalid registry name {name!r}")
    url = doc.get("schema_url")
    if url is not None and not (isinstance(url, str) and SCHEMA_URL_RE.match(url)):
        report("", f"schema_url {url!r} is not of the form http(s)://host/path/<version>")
    if "stability" in doc:
        _check_stability(report, "", doc["stability"])
    _check_text(report, "", doc, "description")

    deps = doc.get("dependencies") or []
    if not isinstance(deps, list):
        report("dependencies", "must be a list")
        deps = []
    pinned: list[tuple[str, str]] = []
    for i, dep in enumerate(deps):
        where = f"dependencies[{i}]"
        if not isinstance(dep, Mapping):
            report(where, "must be a mapping")
            continue
        _check_fields(report, where, dep, DEPENDENCY_FIELDS, ("schema_url", "registry_path"))
        dep_url = dep.get("schema_url")
        if dep_url is not None and not (isinstance(dep_url, str) and SCHEMA_URL_RE.match(dep_url)):
            report(where, f"schema_url {dep_url!r} is not of the form http(s)://host/path/<version>")
        path = dep.get("registry_path")
        if isinstance(path, str) and path.startswith("https://"):
            match = REMOTE_REGISTRY_RE.match(path)
            if not match:
                report(
                    where,
                    f"remote registry_path {path!r} is not https://github.com/<owner>/<repo>@<ref>[<dir>]",
                )
            else:
                pinned.append((path, match.group("ref")))
                if "semantic-conventions-genai" in path and not COMMIT_RE.match(match.group("ref")):
                    report(where, "the genai registry has no releases: pin a full 40-character commit id")

    meta = upstream.get("upstream") if isinstance(upstream, Mapping) else None
    if isinstance(meta, Mapping):
        genai = [(path, ref) for path, ref in pinned if "semantic-conventions-genai" in path]
        if not genai:
            report("dependencies", "no dependency on the semantic-conventions-genai registry")
        for _, ref in genai:
            if ref != meta.get("commit"):
                report(
                    "dependencies", f"pins {ref!r} but upstream.yaml lists names from {meta.get('commit')!r}"
                )
        schema_urls = {d.get("schema_url") for d in deps if isinstance(d, Mapping)}
        if genai and meta.get("schema_url") not in schema_urls:
            report("dependencies", f"no dependency has upstream.yaml's schema_url {meta.get('schema_url')!r}")
    return report.problems


# --------------------------------------------------------------------------------------------
# Model files
# --------------------------------------------------------------------------------------------


def _local_name_problem(name: Any, kind: str) -> str | None:
    if not isinstance(name, str):
        return None
    if not NAME_RE.match(name):
        return f"invalid {kind} {name!r}: use lower-case dotted segments"
    if not name.startswith(LOCAL_PREFIX):
        return f"{kind} {name!r} is defined locally but is not under '{LOCAL_PREFIX}'"
    return None


def _collect(docs: Mapping[str, Any], known: Known) -> list[Problem]:
    """First pass: index local definitions and report duplicates and namespace clashes."""
    problems: list[Problem] = []
    seen: dict[tuple[str, str], str] = {}

    def register(kind: str, name: Any, file: str, where: str) -> bool:
        if not isinstance(name, str):
            return False
        if (kind, name) in seen:
            problems.append(
                Problem(file, where, f"duplicate {kind} {name!r} (also defined in {seen[(kind, name)]})")
            )
            return False
        seen[(kind, name)] = file
        return True

    for file, doc in docs.items():
        if not isinstance(doc, Mapping):
            continue
        for section, id_field, kind in (
            ("attributes", "key", "attribute"),
            ("attribute_groups", "id", "attribute group"),
            ("spans", "type", "span type"),
            ("metrics", "name", "metric"),
            ("events", "name", "event"),
            ("entities", "type", "entity"),
            ("span_refinements", "id", "refinement id"),
            ("metric_refinements", "id", "refinement id"),
            ("event_refinements", "id", "refinement id"),
            ("entity_refinements", "id", "refinement id"),
        ):
            items = doc.get(section)
            if not isinstance(items, list):
                continue
            for i, item in enumerate(items):
                if not isinstance(item, Mapping):
                    continue
                name = item.get(id_field)
                if not register(kind, name, file, _describe(section, i, item, id_field)):
                    continue
                if section == "attributes":
                    known.attributes[name] = dict(item)
                elif section == "attribute_groups":
                    known.groups[name] = dict(item)
                elif section == "spans":
                    known.spans[name] = dict(item)
                elif section == "metrics":
                    known.metrics.add(name)
                elif section == "events":
                    known.events.add(name)
                elif section == "entities":
                    known.entities.add(name)

    # Local keys must not shadow upstream ones, and no key may be the namespace of another
    # (`tokenomics.cost` next to `tokenomics.cost.total` cannot both be attributes).
    every_key = set(known.attributes) | set(known.upstream_attributes)
    for key in sorted(known.attributes):
        file = seen[("attribute", key)]
        if key in known.upstream_attributes:
            problems.append(Problem(file, key, "attribute is both defined locally and listed as upstream"))
        for other in every_key:
            if other.startswith(key + "."):
                problems.append(Problem(file, key, f"attribute key is a namespace of attribute {other!r}"))
            elif key.startswith(other + "."):
                problems.append(Problem(file, key, f"attribute {other!r} is a namespace of this key"))
    for name in sorted(known.metrics & set(known.upstream_metrics)):
        problems.append(
            Problem(seen[("metric", name)], name, "metric is both defined locally and listed as upstream")
        )
    return problems


def _expand_group(known: Known, group_id: str, stack: tuple[str, ...] = ()) -> list[str]:
    if group_id in stack:
        return []
    keys: list[str] = []
    for ref in (known.groups.get(group_id) or {}).get("attributes") or []:
        if not isinstance(ref, Mapping):
            continue
        if isinstance(ref.get("ref"), str):
            keys.append(ref["ref"])
        elif isinstance(ref.get("ref_group"), str):
            keys.extend(_expand_group(known, ref["ref_group"], (*stack, group_id)))
    return keys


def _check_requirement_level(report: _Reporter, where: str, value: Any) -> None:
    if isinstance(value, str):
        if value not in BASIC_REQUIREMENT_LEVELS:
            report(
                where,
                f"invalid requirement_level {value!r}; expected one of {sorted(BASIC_REQUIREMENT_LEVELS)} "
                f"or a mapping {{{'|'.join(sorted(TEXT_REQUIREMENT_LEVELS))}: <text>}}",
            )
        return
    if isinstance(value, Mapping) and len(value) == 1:
        level, text = next(iter(value.items()))
        if level in TEXT_REQUIREMENT_LEVELS and _is_str(text):
            return
    report(
        where,
        f"invalid requirement_level {value!r}; a mapping form has one key out of "
        f"{sorted(TEXT_REQUIREMENT_LEVELS)} with a non-empty text",
    )


def _check_attribute_refs(
    report: _Reporter,
    where: str,
    refs: Any,
    known: Known,
    *,
    allow_sampling: bool,
    owner_group: str | None = None,
) -> None:
    if refs is None:
        return
    if not isinstance(refs, list):
        report(where, "'attributes' must be a list of {ref: ...} or {ref_group: ...}")
        return
    resolved: list[str] = []
    for i, ref in enumerate(refs):
        rwhere = f"{where} attributes[{i}]"
        if not isinstance(ref, Mapping):
            report(rwhere, "attribute reference must be a mapping")
            continue
        has_ref, has_group = "ref" in ref, "ref_group" in ref
        if has_ref == has_group:
            report(rwhere, "an attribute reference has exactly one of 'ref' or 'ref_group'")
            continue
        if has_group:
            group_id = ref["ref_group"]
            for extra in sorted(set(ref) - {"ref_group"}):
                report(rwhere, f"unknown field '{extra}' ('ref_group' takes no refinements)")
            if group_id not in known.groups:
                report(rwhere, f"ref_group {group_id!r} does not resolve to a local attribute group")
            elif group_id == owner_group:
                report(rwhere, f"group {group_id!r} references itself")
            else:
                resolved.extend(_expand_group(known, group_id))
            continue
        rwhere = f"{rwhere} ({ref['ref']})" if isinstance(ref["ref"], str) else rwhere
        allowed = ATTRIBUTE_REF_FIELDS if allow_sampling else ATTRIBUTE_REF_FIELDS - {"sampling_relevant"}
        _check_fields(report, rwhere, ref, allowed, ("ref",))
        _check_common(report, rwhere, ref)
        key = ref["ref"]
        if not isinstance(key, str) or (key not in known.attributes and key not in known.upstream_attributes):
            report(
                rwhere,
                f"ref {key!r} resolves neither to a local attribute nor to one listed in upstream.yaml",
            )
        else:
            resolved.append(key)
        if "requirement_level" in ref:
            _check_requirement_level(report, rwhere, ref["requirement_level"])
        if "sampling_relevant" in ref and allow_sampling and not isinstance(ref["sampling_relevant"], bool):
            report(rwhere, "'sampling_relevant' must be a boolean")
        if "examples" in ref and isinstance(key, str):
            type_value = (known.attributes.get(key) or {}).get("type")
            if type_value is not None:
                _check_examples(report, rwhere, type_value, ref["examples"])
    dupes = sorted({k for k in resolved if resolved.count(k) > 1})
    for key in dupes:
        report(where, f"attribute {key!r} is referenced more than once (directly or through groups)")


def _check_entity_associations(report: _Reporter, where: str, value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, list) or not all(
        isinstance(v, Mapping) and _is_str(v.get("ref")) for v in value
    ):
        report(where, "'entity_associations' must be a list of {ref: <entity type>}")


def check_model(docs: Mapping[str, Any], upstream: Any = None) -> list[Problem]:
    """Validate definition/2 documents (file name -> parsed YAML) against `upstream`.

    `upstream` is the parsed upstream.yaml (or None for an empty listing).
    """
    known = Known.from_upstream(upstream)
    problems = _collect(docs, known)
    for file, doc in docs.items():
        report = _Reporter(file)
        _check_document(report, doc, known)
        problems.extend(report.problems)
    return problems


def _check_document(report: _Reporter, doc: Any, known: Known) -> None:
    if not isinstance(doc, Mapping):
        report("", "a model file must be a mapping")
        return
    if doc.get("file_format") != FILE_FORMAT:
        report("", f"file_format must be {FILE_FORMAT!r}, found {doc.get('file_format')!r}")
    for name in sorted(set(doc) - {"file_format", *SECTIONS}, key=str):
        report("", f"unknown top-level section '{name}'")
    for section in SECTIONS:
        if section == "imports":
            continue
        items = doc.get(section)
        if items is None:
            continue
        if not isinstance(items, list):
            report(section, "must be a list")
            continue
        for i, item in enumerate(items):
            if not isinstance(item, Mapping):
                report(f"{section}[{i}]", "must be a mapping")
                continue
            _CHECKERS[section](report, section, i, item, known)
    if "imports" in doc:
        _check_imports(report, doc["imports"])


def _check_attribute(report: _Reporter, section: str, i: int, item: Mapping[str, Any], known: Known) -> None:
    where = _describe(section, i, item, "key")
    _check_fields(report, where, item, ATTRIBUTE_FIELDS, ("key", "type", "stability", "brief"))
    _check_common(report, where, item)
    problem = _local_name_problem(item.get("key"), "attribute key")
    if problem:
        report(where, problem)
    if item.get("type") is not None:
        _check_type(report, where, item["type"])
        if "examples" in item:
            _check_examples(report, where, item["type"], item["examples"])


def _check_group(report: _Reporter, section: str, i: int, item: Mapping[str, Any], known: Known) -> None:
    where = _describe(section, i, item, "id")
    visibility = item.get("visibility")
    required = ["id", "visibility"] + (["brief", "stability"] if visibility == "public" else [])
    _check_fields(report, where, item, GROUP_FIELDS, required)
    _check_common(report, where, item)
    group_id = item.get("id")
    if group_id is not None and not (isinstance(group_id, str) and ID_RE.match(group_id)):
        report(where, f"invalid group id {group_id!r}")
    if visibility is not None and visibility not in {"internal", "public"}:
        report(where, f"invalid visibility {visibility!r}; expected 'internal' or 'public'")
    _check_attribute_refs(
        report, where, item.get("attributes"), known, allow_sampling=True, owner_group=group_id
    )


def _check_span(report: _Reporter, section: str, i: int, item: Mapping[str, Any], known: Known) -> None:
    where = _describe(section, i, item, "type")
    _check_fields(report, where, item, SPAN_FIELDS, ("type", "kind", "brief", "stability", "name"))
    _check_common(report, where, item)
    problem = _local_name_problem(item.get("type"), "span type")
    if problem:
        report(where, problem)
    if "kind" in item and item["kind"] not in SPAN_KINDS:
        report(where, f"invalid span kind {item['kind']!r}; expected one of {sorted(SPAN_KINDS)}")
    name = item.get("name")
    if name is not None and not (
        isinstance(name, Mapping) and set(name) == {"note"} and _is_str(name["note"])
    ):
        report(where, "'name' must be a mapping with a single non-empty 'note'")
    _check_attribute_refs(report, where, item.get("attributes"), known, allow_sampling=True)
    _check_entity_associations(report, where, item.get("entity_associations"))


def _check_metric(report: _Reporter, section: str, i: int, item: Mapping[str, Any], known: Known) -> None:
    where = _describe(section, i, item, "name")
    _check_fields(report, where, item, METRIC_FIELDS, ("name", "instrument", "unit", "stability", "brief"))
    _check_common(report, where, item)
    _check_metric_core(report, where, item)
    problem = _local_name_problem(item.get("name"), "metric name")
    if problem:
        report(where, problem)
    if "requirement_level" in item:
        _check_requirement_level(report, where, item["requirement_level"])
    _check_attribute_refs(report, where, item.get("attributes"), known, allow_sampling=False)
    _check_entity_associations(report, where, item.get("entity_associations"))
    # Our one annotation on a metric: the histogram boundaries the instrumentation advises.
    buckets = ((item.get("annotations") or {}).get("tokenomics") or {}).get("buckets")
    if item.get("instrument") == "histogram":
        if buckets is None:
            report(where, "a histogram needs its buckets in annotations.tokenomics.buckets")
        else:
            _check_buckets(report, where, buckets)
    elif buckets is not None:
        report(where, "'buckets' are only valid on a histogram")


def _check_event(report: _Reporter, section: str, i: int, item: Mapping[str, Any], known: Known) -> None:
    where = _describe(section, i, item, "name")
    _check_fields(report, where, item, EVENT_FIELDS, ("name", "brief", "stability"))
    _check_common(report, where, item)
    problem = _local_name_problem(item.get("name"), "event name")
    if problem:
        report(where, problem)
    _check_attribute_refs(report, where, item.get("attributes"), known, allow_sampling=False)
    _check_entity_associations(report, where, item.get("entity_associations"))


def _check_entity(report: _Reporter, section: str, i: int, item: Mapping[str, Any], known: Known) -> None:
    where = _describe(section, i, item, "type")
    _check_fields(report, where, item, ENTITY_FIELDS, ("type", "brief", "stability", "identity"))
    _check_common(report, where, item)
    problem = _local_name_problem(item.get("type"), "entity type")
    if problem:
        report(where, problem)
    _check_attribute_refs(report, f"{where} identity", item.get("identity"), known, allow_sampling=False)
    _check_attribute_refs(
        report, f"{where} description", item.get("description"), known, allow_sampling=False
    )


def _refinement_checker(kind: str):
    def check(report: _Reporter, section: str, i: int, item: Mapping[str, Any], known: Known) -> None:
        where = _describe(section, i, item, "id")
        _check_fields(report, where, item, REFINEMENT_FIELDS, ("id", "ref"))
        _check_common(report, where, item)
        problem = _local_name_problem(item.get("id"), "refinement id")
        if problem:
            report(where, problem)
        target = item.get("ref")
        targets: set[str] = {
            "span": set(known.upstream_spans) | set(known.spans),
            "metric": set(known.upstream_metrics) | known.metrics,
            "event": set(known.upstream_events) | known.events,
            "entity": set(known.entities),
        }[kind]
        if target is not None and target not in targets:
            report(where, f"ref {target!r} resolves to no local or upstream {kind} (see upstream.yaml)")
        _check_attribute_refs(report, where, item.get("attributes"), known, allow_sampling=kind == "span")
        _check_entity_associations(report, where, item.get("entity_associations"))
        if kind == "span":
            _check_span_annotation(report, where, item, known)

    return check


def _check_span_annotation(report: _Reporter, where: str, item: Mapping[str, Any], known: Known) -> None:
    """Our `annotations.tokenomics` on span refinements restates span kind and name."""
    ours = (
        (item.get("annotations") or {}).get("tokenomics")
        if isinstance(item.get("annotations"), Mapping)
        else None
    )
    if ours is None:
        return
    if not isinstance(ours, Mapping):
        report(where, "annotations.tokenomics must be a mapping")
        return
    for extra in sorted(set(ours) - {"span_kind", "span_name"}):
        report(where, f"unknown annotations.tokenomics field '{extra}'")
    kind = ours.get("span_kind")
    if kind is not None:
        if kind not in SPAN_KINDS:
            report(where, f"invalid span kind {kind!r}; expected one of {sorted(SPAN_KINDS)}")
        base = known.upstream_spans.get(item.get("ref")) or known.spans.get(item.get("ref"))
        if base and base.get("kind") and base["kind"] != kind:
            report(where, f"span_kind {kind!r} differs from the kind {base['kind']!r} of {item.get('ref')!r}")
    name = ours.get("span_name")
    if name is not None:
        if not _is_str(name):
            report(where, "annotations.tokenomics.span_name must be a non-empty string")
        else:
            for placeholder in re.findall(r"\{([^}]+)\}", name):
                if placeholder not in known.attributes and placeholder not in known.upstream_attributes:
                    report(where, f"span_name placeholder {{{placeholder}}} is not a known attribute")


def _check_imports(report: _Reporter, value: Any) -> None:
    if not isinstance(value, Mapping):
        report("imports", "must be a mapping of entities/events/metrics wildcard lists")
        return
    for name, patterns in value.items():
        if name not in {"entities", "events", "metrics"}:
            report("imports", f"unknown imports field '{name}'")
        elif not isinstance(patterns, list) or not all(_is_str(p) for p in patterns):
            report("imports", f"imports.{name} must be a list of strings")


_CHECKERS = {
    "attributes": _check_attribute,
    "attribute_groups": _check_group,
    "spans": _check_span,
    "span_refinements": _refinement_checker("span"),
    "metrics": _check_metric,
    "metric_refinements": _refinement_checker("metric"),
    "events": _check_event,
    "event_refinements": _refinement_checker("event"),
    "entities": _check_entity,
    "entity_refinements": _refinement_checker("entity"),
}


# --------------------------------------------------------------------------------------------
# Whole registry
# --------------------------------------------------------------------------------------------


def check_registry(registry: Registry) -> list[Problem]:
    problems = check_manifest(registry.manifest, upstream=registry.upstream)
    problems += check_upstream(registry.upstream)
    problems += check_model(registry.model, registry.upstream)
    return problems


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) > 1 or (args and args[0] in {"-h", "--help"}):
        print(__doc__)
        return 0 if args and args[0] in {"-h", "--help"} else 2
    try:
        registry = Registry.load(args[0] if args else None)
    except RegistryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    problems = check_registry(registry)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"{len(problems)} problem(s) found", file=sys.stderr)
        return 1
    counts = (
        f"{len(registry.local_attributes())} local attributes, "
        f"{len(registry.upstream_section('attributes'))} upstream attributes, "
        f"{len(registry.upstream_section('metrics'))} upstream metrics"
    )
    print(f"registry OK ({counts})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
