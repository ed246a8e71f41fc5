"""Generate the constants module and the reference page from the semconv registry.

Reads ``semconv/manifest.yaml``, ``semconv/model/*.yaml`` and ``semconv/upstream.yaml`` and
writes:

* ``otel_tokenomics/semconv.py``: one string constant per attribute, metric and event name,
  ``METRIC_SPECS``, ``ALL_ATTRIBUTES`` and enum value classes (stdlib only);
* ``semconv/REFERENCE.md``: a readable reference of every name, with the Prometheus series
  names the OpenTelemetry Prometheus exporter derives from each metric.

Run from the repository root::

    python semconv/generate.py           # validate the registry, then (re)write both files
    python semconv/generate.py --check   # exit 1 if the registry is invalid or a file is stale

Only the standard library and PyYAML are needed.
"""

from __future__ import annotations

import argparse
import difflib
import importlib.util
import json
import re
import sys
import textwrap
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
MODULE_PATH = REPO / "otel_tokenomics" / "semconv.py"
REFERENCE_PATH = HERE / "REFERENCE.md"
LINE_LENGTH = 110


def load_checker() -> ModuleType:
    """Import semconv/check.py by path (semconv/ is not a package)."""
    name = "_tokenomics_semconv_check"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, HERE / "check.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up in sys.modules
    spec.loader.exec_module(module)
    return module


# --------------------------------------------------------------------------------------------
# Normalised view of the registry
# --------------------------------------------------------------------------------------------


@dataclass
class Attribute:
    key: str
    type_label: str
    stability: str
    brief: str
    origin: str  # tokenomics | genai | core
    note: str = ""
    examples: list[Any] = field(default_factory=list)
    members: list[tuple[Any, str]] = field(default_factory=list)  # (value, brief)


@dataclass
class Metric:
    name: str
    instrument: str
    unit: str
    stability: str
    brief: str
    origin: str
    status: str = "pinned"
    attributes: list[tuple[str, str]] = field(default_factory=list)  # (key, requirement level)
    buckets: list[float] = field(default_factory=list)  # advised boundaries; histograms only


@dataclass
class Event:
    name: str
    stability: str
    brief: str
    origin: str


@dataclass
class SpanRefinement:
    id: str
    ref: str
    brief: str
    note: str
    kind: str
    name: str
    attributes: list[tuple[str, str, str]]  # (key, requirement level, note)


@dataclass
class Model:
    schema_url: str
    registry_name: str
    upstream: dict[str, Any]
    attributes: list[Attribute]
    metrics: list[Metric]
    events: list[Event]
    spans: list[SpanRefinement]


def _type_label(type_value: Any) -> tuple[str, list[tuple[Any, str]]]:
    if isinstance(type_value, dict):
        members = [(m["value"], m.get("brief", "")) for m in type_value["members"]]
        kinds = {type(v).__name__ for v, _ in members}
        value_type = {"str": "string", "int": "int", "bool": "boolean"}.get(kinds.pop(), "string")
        return f"{value_type} enum", members
    return str(type_value), []


def _requirement_text(level: Any) -> str:
    if level is None:
        return "as upstream"
    if isinstance(level, str):
        return level
    (name, text) = next(iter(level.items()))
    return f"{name}: {' '.join(str(text).split())}"


def build_model(registry: Any) -> Model:
    upstream = dict(registry.upstream["upstream"])
    attributes: list[Attribute] = []
    for item in registry.local_attributes():
        label, members = _type_label(item["type"])
        examples = item.get("examples", [])
        attributes.append(
            Attribute(
                key=item["key"],
                type_label=label,
                stability=item["stability"],
                brief=" ".join(item["brief"].split()),
                origin="tokenomics",
                note=item.get("note", "").strip(),
                examples=examples if isinstance(examples, list) else [examples],
                members=members,
            )
        )
    for item in registry.upstream_section("attributes"):
        if item["type"] == "enum":
            label, members = "string enum", [(m, "") for m in item["members"]]
        else:
            label, members = item["type"], []
        attributes.append(
            Attribute(
                key=item["key"],
                type_label=label,
                stability=item["stability"],
                brief=" ".join(item["brief"].split()),
                origin=item["origin"],
                note=item.get("note", "").strip(),
                members=members,
            )
        )

    metrics = [
        Metric(
            m["name"],
            m["instrument"],
            m["unit"],
            m["stability"],
            " ".join(m["brief"].split()),
            "tokenomics",
            attributes=[
                (ref["ref"], _requirement_text(ref.get("requirement_level")))
                for ref in m.get("attributes") or []
            ],
            buckets=list(((m.get("annotations") or {}).get("tokenomics") or {}).get("buckets") or []),
        )
        for m in registry.local_metrics()
    ] + [
        Metric(
            m["name"],
            m["instrument"],
            m["unit"],
            m["stability"],
            " ".join(m["brief"].split()),
            "genai",
            m["status"],
            attributes=[(key, "as upstream") for key in m["attributes"]],
            buckets=list(m.get("buckets") or []),
        )
        for m in registry.upstream_section("metrics")
    ]
    events = [
        Event(e["name"], e["stability"], " ".join(e["brief"].split()), "tokenomics")
        for e in registry.local_events()
    ] + [
        Event(e["name"], e["stability"], " ".join(e["brief"].split()), "genai")
        for e in registry.upstream_section("events")
    ]

    groups = registry.groups()
    upstream_spans = {s["type"]: s for s in registry.upstream_section("span_types")}

    def expand(refs: Iterable[dict[str, Any]]) -> list[tuple[str, str, str]]:
        out: list[tuple[str, str, str]] = []
        for ref in refs or []:
            if "ref_group" in ref:
                out.extend(expand(groups[ref["ref_group"]].get("attributes") or []))
            else:
                note = " ".join(str(ref.get("note", "")).split())
                out.append((ref["ref"], _requirement_text(ref.get("requirement_level")), note))
        return out

    spans = []
    for _, item in registry.items("span_refinements"):
        ours = (item.get("annotations") or {}).get("tokenomics") or {}
        base = upstream_spans.get(item["ref"], {})
        spans.append(
            SpanRefinement(
                id=item["id"],
                ref=item["ref"],
                brief=" ".join(item.get("brief", "").split()),
                note=item.get("note", "").strip(),
                kind=ours.get("span_kind") or base.get("kind", ""),
                name=ours.get("span_name", ""),
                attributes=expand(item.get("attributes") or []),
            )
        )
    return Model(
        schema_url=registry.manifest["schema_url"],
        registry_name=registry.manifest["name"],
        upstream=upstream,
        attributes=attributes,
        metrics=metrics,
        events=events,
        spans=spans,
    )


# --------------------------------------------------------------------------------------------
# Naming helpers
# --------------------------------------------------------------------------------------------


def constant_name(name: str) -> str:
    """`gen_ai.usage.cache_read.input_tokens` -> `GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS`."""
    constant = name.upper().replace(".", "_")
    if not re.fullmatch(r"[A-Z][A-Z0-9_]*", constant):
        raise ValueError(f"{name!r} does not give a valid Python constant name")
    return constant


def enum_class_name(key: str) -> str:
    return "".join(part.capitalize() for part in re.split(r"[._]", key) if part) + "Values"


def enum_member_name(value: Any) -> str:
    name = re.sub(r"[^A-Za-z0-9]+", "_", str(value)).strip("_").upper()
    if not name:
        raise ValueError(f"enum value {value!r} gives no Python name")
    return f"V_{name}" if name[0].isdigit() else name


_PROM_UNITS = {
    "s": "seconds",
    "ms": "milliseconds",
    "us": "microseconds",
    "ns": "nanoseconds",
    "min": "minutes",
    "h": "hours",
    "d": "days",
    "By": "bytes",
    "KiBy": "kibibytes",
    "MiBy": "mebibytes",
    "GiBy": "gibibytes",
    "KBy": "kilobytes",
    "MBy": "megabytes",
    "GBy": "gigabytes",
    "m": "meters",
    "V": "volts",
    "A": "amperes",
    "J": "joules",
    "W": "watts",
    "g": "grams",
    "Cel": "celsius",
    "Hz": "hertz",
    "%": "percent",
}
_PROM_PER_UNITS = {
    "s": "second",
    "m": "minute",
    "h": "hour",
    "d": "day",
    "w": "week",
    "mo": "month",
    "y": "year",
}


def prometheus_unit_suffix(unit: str, instrument: str) -> str:
    """Unit suffix the OTel Prometheus exporter appends (empty when the unit adds none)."""
    unit = re.sub(r"\{[^}]*\}", "", unit).strip()  # `{token}` annotations carry no unit
    if not unit:
        return ""
    if unit == "1":
        return "ratio" if instrument == "gauge" else ""
    if "/" in unit:
        num, _, den = unit.partition("/")
        num_s = _PROM_UNITS.get(num, num) if num and num != "1" else ""
        den_s = _PROM_PER_UNITS.get(den, den)
        suffix = f"{num_s}_per_{den_s}" if num_s else f"per_{den_s}"
    else:
        suffix = _PROM_UNITS.get(unit, unit)
    return re.sub(r"[^A-Za-z0-9_]+", "_", suffix).strip("_")


def prometheus_series(name: str, instrument: str, unit: str) -> list[str]:
    """Series names exposed for a metric by the OTel -> Prometheus translation.

    Dots become underscores, the unit suffix is appended (`s` -> `_seconds`, `{token}` adds
    nothing), counters end in `_total`, histograms expose `_bucket`, `_sum` and `_count`.
    """
    base = re.sub(r"[^A-Za-z0-9_:]", "_", name)
    suffix = prometheus_unit_suffix(unit, instrument)
    if suffix and not base.endswith(f"_{suffix}"):
        base = f"{base}_{suffix}"
    if instrument == "counter":
        return [base if base.endswith("_total") else f"{base}_total"]
    if instrument == "histogram":
        return [f"{base}_bucket", f"{base}_sum", f"{base}_count"]
    return [base]


# --------------------------------------------------------------------------------------------
# otel_tokenomics/semconv.py
# --------------------------------------------------------------------------------------------


def _py_str(value: str) -> str:
    if any(ord(ch) > 0xFFFF for ch in value):
        raise ValueError(f"characters outside the BMP are not supported: {value!r}")
    return json.dumps(value)  # a double-quoted literal that is also valid Python


def _py_str_lines(value: str, indent: int, trailer: str = ",") -> list[str]:
    """A string literal as one line, or as implicitly concatenated lines that fit."""
    pad = " " * indent
    single = f"{pad}{_py_str(value)}{trailer}"
    if len(single) <= LINE_LENGTH:
        return [single]
    width = LINE_LENGTH - indent - 4 - len(trailer)
    chunks = textwrap.wrap(value, width=width, drop_whitespace=False, break_on_hyphens=False)
    lines = [f"{pad}{_py_str(chunk)}" for chunk in chunks]
    lines[-1] += trailer
    return lines


def _docstring(text: str, meta: str = "", indent: int = 0) -> list[str]:
    """A docstring: `text` then `meta`, on one line when it fits, else meta on its own line."""
    pad = " " * indent

    def escape(value: str) -> str:
        return value.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')

    text, meta = escape(text), escape(meta)
    one_line = f'{pad}"""{text} {meta}"""' if meta else f'{pad}"""{text}"""'
    if len(one_line) <= LINE_LENGTH:
        return [one_line]
    wrapped = textwrap.wrap(text, width=LINE_LENGTH - indent - 3)
    lines = [f'{pad}"""{wrapped[0]}', *(f"{pad}{line}" for line in wrapped[1:])]
    if meta:
        lines += ["", f"{pad}{meta}"]
    return [*lines, f'{pad}"""']


def render_module(model: Model) -> str:
    up = model.upstream
    out: list[str] = [
        "# Generated by semconv/generate.py from semconv/manifest.yaml, semconv/model/*.yaml and",
        "# semconv/upstream.yaml. DO NOT EDIT: change the registry, then run",
        "# `python semconv/generate.py` from the repository root.",
        '"""Semantic-convention names emitted by otel-tokenomics.',
        "",
        "Our own names live under ``tokenomics.``; every other name comes from",
        f"{up['repository'].removeprefix('https://github.com/')} at commit",
        f"{up['commit']}, or from the core conventions.",
        "See semconv/REFERENCE.md for types, stability and meaning.",
        '"""',
        "",
        f"SCHEMA_URL = {_py_str(model.schema_url)}",
        '"""Schema URL of the otel-tokenomics registry."""',
        f"UPSTREAM_SCHEMA_URL = {_py_str(up['schema_url'])}",
        '"""Schema URL of the upstream GenAI registry our names come from."""',
        f"UPSTREAM_COMMIT = {_py_str(up['commit'])}",
        '"""Commit of semantic-conventions-genai the upstream names are pinned to."""',
    ]

    seen: dict[str, str] = {}

    def constant(name: str, value: str, doc: str, meta: str) -> None:
        if name in seen:
            raise ValueError(f"constant {name} would be generated for both {seen[name]!r} and {value!r}")
        seen[name] = value
        line = f"{name} = {_py_str(value)}"
        if len(line) <= LINE_LENGTH:
            out.append(line)
        else:
            out.extend([f"{name} = (", f"    {_py_str(value)}", ")"])
        out.extend(_docstring(doc, meta))

    sections = (
        ("Attributes defined by otel-tokenomics", [a for a in model.attributes if a.origin == "tokenomics"]),
        ("Upstream attributes", [a for a in model.attributes if a.origin != "tokenomics"]),
    )
    for title, attrs in sections:
        out += ["", f"# --- {title} " + "-" * max(0, 90 - len(title)), ""]
        for attr in sorted(attrs, key=lambda a: a.key):
            meta = f"Type: {attr.type_label}; stability: {attr.stability}."
            constant(constant_name(attr.key), attr.key, attr.brief, meta)

    out += ["", "# --- Metrics " + "-" * 83, ""]
    for metric in sorted(model.metrics, key=lambda m: m.name):
        status = "" if metric.status == "pinned" else f"; {metric.status} upstream"
        meta = f"Instrument: {metric.instrument}; unit: {metric.unit}{status}."
        constant("METRIC_" + constant_name(metric.name), metric.name, metric.brief, meta)

    out += ["", "# --- Events " + "-" * 84, ""]
    for event in sorted(model.events, key=lambda e: e.name):
        meta = f"Stability: {event.stability}."
        constant("EVENT_" + constant_name(event.name), event.name, event.brief, meta)

    out += ["", "# --- Collections " + "-" * 79, ""]
    out.append("METRIC_SPECS: dict[str, tuple[str, str, str]] = {")
    for metric in sorted(model.metrics, key=lambda m: m.name):
        out.append(f"    METRIC_{constant_name(metric.name)}: (")
        out.append(f"        {_py_str(metric.instrument)},")
        out.append(f"        {_py_str(metric.unit)},")
        out.extend(_py_str_lines(metric.brief, 8))
        out.append("    ),")
    out.append("}")
    out.append('"""Metric name -> (instrument, unit, brief)."""')
    out += ["", "METRIC_BUCKETS: dict[str, tuple[float, ...]] = {"]
    for metric in sorted(model.metrics, key=lambda m: m.name):
        if metric.buckets:
            bounds = ", ".join(repr(float(b)) for b in metric.buckets)
            out.append(f"    METRIC_{constant_name(metric.name)}: ({bounds}),")
    out.append("}")
    out.append('"""Histogram name -> the explicit bucket boundaries it advises."""')
    out += ["", "METRIC_ATTRIBUTES: dict[str, frozenset[str]] = {"]
    for metric in sorted(model.metrics, key=lambda m: m.name):
        keys = ", ".join(constant_name(key) for key, _ in sorted(metric.attributes))
        out.append(f"    METRIC_{constant_name(metric.name)}: frozenset(({keys},)),")
    out.append("}")
    out.append(
        '"""Metric name -> every attribute it may carry, besides the baggage entries allowed '
        'as metric attributes."""'
    )
    for name, items, doc in (
        (
            "ALL_ATTRIBUTES",
            sorted(constant_name(a.key) for a in model.attributes),
            "Every attribute key otel-tokenomics may emit, ours and upstream.",
        ),
        (
            "ALL_METRICS",
            sorted("METRIC_" + constant_name(m.name) for m in model.metrics),
            "Every metric name otel-tokenomics may emit.",
        ),
        (
            "ALL_EVENTS",
            sorted("EVENT_" + constant_name(e.name) for e in model.events),
            "Every event name otel-tokenomics may emit.",
        ),
    ):
        out += ["", f"{name}: frozenset[str] = frozenset(", "    {"]
        out += [f"        {item}," for item in items]
        out += ["    }", ")"]
        out.extend(_docstring(doc, meta))

    out += ["", "", "# --- Enum values " + "-" * 79]
    for attr in sorted((a for a in model.attributes if a.members), key=lambda a: a.key):
        out += ["", ""]
        out.append(f"class {enum_class_name(attr.key)}:")
        out.extend(_docstring(f"Known values of ``{attr.key}``.", indent=4))
        out.append("")
        members: dict[str, Any] = {}
        for value, _ in attr.members:
            member = enum_member_name(value)
            if member in members:
                raise ValueError(
                    f"{attr.key}: values {members[member]!r} and {value!r} share the name {member}"
                )
            members[member] = value
            literal = _py_str(value) if isinstance(value, str) else repr(value)
            out.append(f"    {member} = {literal}")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------------------------
# semconv/REFERENCE.md
# --------------------------------------------------------------------------------------------


def _md(text: Any) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _code(value: Any) -> str:
    if isinstance(value, float) and "e" in repr(value):
        text = f"{value:.12f}".rstrip("0")
    else:
        text = value if isinstance(value, str) else json.dumps(value)
    return f"`{text}`"


def render_reference(model: Model) -> str:
    up = model.upstream
    repo_url = up["repository"]
    commit = up["commit"]
    out: list[str] = [
        "<!-- Generated by semconv/generate.py from semconv/manifest.yaml, semconv/model/*.yaml",
        "     and semconv/upstream.yaml. DO NOT EDIT: change the registry and regenerate. -->",
        "",
        "# otel-tokenomics semantic conventions",
        "",
        f"- Registry: `{model.registry_name}`, schema URL `{model.schema_url}`.",
        f"- Upstream GenAI conventions: [{repo_url.removeprefix('https://github.com/')}]({repo_url}) "
        f"at commit [`{commit[:12]}`]({repo_url}/tree/{commit})"
        + (f" ({up['commit_date']})" if up.get("commit_date") else "")
        + f", schema URL `{up['schema_url']}`.",
    ]
    if up.get("core_version"):
        out.append(
            f"- Core conventions (`server.*`, `error.type`): "
            f"{up.get('core_repository', '')} {up['core_version']}."
        )
    out += [
        "- Everything under `tokenomics.` is ours; every other name is upstream and is only listed here.",
        "- Python constants: `otel_tokenomics/semconv.py` "
        "(`GEN_AI_USAGE_INPUT_TOKENS`, `METRIC_...`, `EVENT_...`).",
        "",
        "## Attributes defined by otel-tokenomics",
        "",
        "| Key | Type | Stability | Brief |",
        "|---|---|---|---|",
    ]
    ours = [a for a in model.attributes if a.origin == "tokenomics"]
    for attr in ours:
        out.append(
            f"| [`{attr.key}`](#{_anchor(attr.key)}) | {attr.type_label} | {attr.stability} "
            f"| {_md(attr.brief)} |"
        )
    for attr in ours:
        out += ["", f"### `{attr.key}`", "", f"{attr.brief}", ""]
        out.append(f"- Type: {attr.type_label}")
        out.append(f"- Stability: {attr.stability}")
        if attr.examples:
            out.append(f"- Examples: {', '.join(_code(e) for e in attr.examples)}")
        if attr.note:
            out += ["", attr.note]
        if attr.members:
            out += ["", "| Value | Meaning |", "|---|---|"]
            out += [f"| {_code(v)} | {_md(b)} |" for v, b in attr.members]

    out += [
        "",
        "## Upstream attributes we emit",
        "",
        f"Origin `genai`: semantic-conventions-genai at `{commit[:12]}`; `core`: semantic-conventions "
        f"{up.get('core_version', '')}. Briefs are summaries; the upstream model is authoritative.",
        "",
        "| Key | Type | Stability | Origin | Brief | Values |",
        "|---|---|---|---|---|---|",
    ]
    for attr in (a for a in model.attributes if a.origin != "tokenomics"):
        values = ", ".join(_code(v) for v, _ in attr.members)
        out.append(
            f"| `{attr.key}` | {attr.type_label} | {attr.stability} | {attr.origin} "
            f"| {_md(attr.brief)} | {values} |"
        )

    out += ["", "## Spans", ""]
    for span in model.spans:
        out += [f"### `{span.id}` (refines upstream `{span.ref}`)", "", span.brief, ""]
        if span.kind:
            out.append(f"- Span kind: `{span.kind.upper()}`")
        if span.name:
            out.append(f"- Span name: `{span.name}`")
        if span.note:
            out += ["", span.note]
        out += ["", "| Attribute | Requirement level | Note |", "|---|---|---|"]
        out += [f"| `{key}` | {_md(level)} | {_md(note)} |" for key, level, note in span.attributes]
        out.append("")

    out += [
        "## Metrics",
        "",
        "Status `pinned`: in the upstream model at the pinned commit; `proposed`: announced upstream "
        "but not in that model yet. Prometheus series: the names the OpenTelemetry Prometheus exporter "
        "derives (dots to underscores, unit suffix such as `_seconds`, `{token}` adds none, counters "
        "end in `_total`, histograms expose `_bucket`, `_sum` and `_count`).",
        "",
        "| Metric | Instrument | Unit | Stability | Status | Brief | Prometheus series |",
        "|---|---|---|---|---|---|---|",
    ]
    for metric in model.metrics:
        series = "<br>".join(f"`{s}`" for s in prometheus_series(metric.name, metric.instrument, metric.unit))
        status = metric.status if metric.origin != "tokenomics" else "ours"
        out.append(
            f"| `{metric.name}` | {metric.instrument} | `{metric.unit}` | {metric.stability} | {status} "
            f"| {_md(metric.brief)} | {series} |"
        )

    out += [
        "",
        "### Attributes and buckets",
        "",
        "Every attribute a metric may carry (upstream requirement levels apply to upstream metrics), "
        "as its Prometheus label (dots become underscores). Every metric of a call (all but "
        "`tokenomics.budget.exceeded`) also carries the baggage entries allowed by "
        "`OTEL_TOKENOMICS_METRIC_BAGGAGE`, such as `tokenomics.tenant` (label `tokenomics_tenant`); "
        "none by default. The Prometheus exporter adds `otel_scope_name`, `otel_scope_version` and "
        "`otel_scope_schema_url` to every series, and puts resource attributes on `target_info` only.",
        "",
        "| Metric | Attributes (Prometheus label) | Buckets |",
        "|---|---|---|",
    ]
    for metric in model.metrics:
        labels = "<br>".join(
            f"`{key}` (`{prometheus_label(key)}`)" + ("" if level == "as upstream" else f": {_md(level)}")
            for key, level in metric.attributes
        )
        buckets = ", ".join(_number(b) for b in metric.buckets) if metric.buckets else "none"
        out.append(f"| `{metric.name}` | {labels} | {buckets} |")

    out += ["", "## Events", "", "| Event | Stability | Origin | Brief |", "|---|---|---|---|"]
    out += [f"| `{e.name}` | {e.stability} | {e.origin} | {_md(e.brief)} |" for e in model.events]
    return "\n".join(out) + "\n"


def prometheus_label(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", key)


def _number(value: float) -> str:
    """A boundary as written in a config: 0.0001, 1024 (never 1e-04 or 1024.0)."""
    return f"{value:f}".rstrip("0").rstrip(".") if isinstance(value, float) else str(value)


def _anchor(key: str) -> str:
    """GitHub's heading anchor for a heading made of `key` in backticks."""
    return re.sub(r"[^a-z0-9_ -]", "", key.lower()).replace(" ", "-")


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------


def render_all(registry_dir: Path | None = None) -> dict[Path, str]:
    """Validate the registry and return {output path: expected content}."""
    check = load_checker()
    registry = check.Registry.load(registry_dir or HERE)
    problems = check.check_registry(registry)
    if problems:
        raise SystemExit("registry is invalid:\n" + "\n".join(f"  {p}" for p in problems))
    model = build_model(registry)
    return {MODULE_PATH: render_module(model), REFERENCE_PATH: render_reference(model)}


def _rel(path: Path) -> str:
    try:
        return str(path.relative_to(REPO))
    except ValueError:
        return str(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if a generated file is out of date")
    args = parser.parse_args(argv)
    try:
        outputs = render_all()
    except SystemExit as exc:
        print(exc, file=sys.stderr)
        return 1
    stale = []
    for path, content in outputs.items():
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == content:
            continue
        if args.check:
            stale.append(path)
            diff = difflib.unified_diff(
                (current or "").splitlines(keepends=True),
                content.splitlines(keepends=True),
                fromfile=f"{_rel(path)} (on disk)",
                tofile=f"{_rel(path)} (generated)",
            )
            sys.stderr.writelines(list(diff)[:40])
        else:
            path.write_text(content, encoding="utf-8", newline="\n")
            print(f"wrote {_rel(path)}")
    if stale:
        names = ", ".join(_rel(p) for p in stale)
        print(f"\nstale generated file(s): {names}; run `python semconv/generate.py`", file=sys.stderr)
        return 1
    if args.check:
        print("generated files are up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
