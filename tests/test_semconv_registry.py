"""Checks of the semconv/ registry, its generated files, and their agreement with the code.

* every registry file passes our own definition/2 checker (semconv/check.py);
* otel_tokenomics/semconv.py and semconv/REFERENCE.md are what semconv/generate.py produces;
* every attribute/metric-looking string literal in otel_tokenomics/ is a registered name;
* the checker reports each kind of defect it is meant to catch (negative tests).
"""

from __future__ import annotations

import ast
import copy
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from semconv_tools import check, generate, load

REPO = Path(__file__).resolve().parent.parent
SEMCONV_DIR = REPO / "semconv"
PACKAGE_DIR = REPO / "otel_tokenomics"
GENERATED_MODULE = PACKAGE_DIR / "semconv.py"


@pytest.fixture(scope="module")
def registry() -> Any:
    return check.Registry.load(SEMCONV_DIR)


@pytest.fixture(scope="module")
def problems(registry: Any) -> list[Any]:
    return check.check_registry(registry)


@pytest.fixture(scope="module")
def generated() -> ModuleType:
    """The generated constants module, loaded by path (without importing the package)."""
    return load("_tokenomics_generated_semconv", GENERATED_MODULE)


# ------------------------------------------------------------------------------------------
# (a) the registry is valid
# ------------------------------------------------------------------------------------------

REGISTRY_FILES = sorted(
    str(p.relative_to(SEMCONV_DIR))
    for p in [SEMCONV_DIR / "manifest.yaml", SEMCONV_DIR / "upstream.yaml", *SEMCONV_DIR.glob("model/*.y*ml")]
)


def test_registry_has_model_files() -> None:
    assert any(name.startswith("model/") for name in REGISTRY_FILES)


@pytest.mark.parametrize("file", REGISTRY_FILES)
def test_registry_file_is_valid(file: str, problems: list[Any]) -> None:
    mine = [str(p) for p in problems if p.file == file]
    assert mine == []


def test_registry_is_valid_as_a_whole(problems: list[Any]) -> None:
    assert [str(p) for p in problems] == []


def test_checker_cli_accepts_registry() -> None:
    result = subprocess.run(
        [sys.executable, str(SEMCONV_DIR / "check.py")], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("file", [f for f in REGISTRY_FILES if f.startswith("model/")])
def test_model_files_use_definition_v2(file: str, registry: Any) -> None:
    assert registry.model[file]["file_format"] == "definition/2"


# Upstream names the instrumentation emits (from the project brief); dropping one from
# upstream.yaml must be a deliberate change to this list too.
EXPECTED_UPSTREAM_ATTRIBUTES = {
    "gen_ai.operation.name",
    "gen_ai.provider.name",
    "gen_ai.request.model",
    "gen_ai.request.max_tokens",
    "gen_ai.request.temperature",
    "gen_ai.request.top_p",
    "gen_ai.request.seed",
    "gen_ai.request.stop_sequences",
    "gen_ai.request.frequency_penalty",
    "gen_ai.request.presence_penalty",
    "gen_ai.request.choice.count",
    "gen_ai.request.stream",
    "gen_ai.request.reasoning.level",
    "gen_ai.request.previous_response.id",
    "gen_ai.request.encoding_formats",
    "gen_ai.output.type",
    "gen_ai.conversation.id",
    "gen_ai.embeddings.dimension.count",
    "gen_ai.response.id",
    "gen_ai.response.model",
    "gen_ai.response.finish_reasons",
    "gen_ai.response.time_to_first_chunk",
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.cache_read.input_tokens",
    "gen_ai.usage.cache_write.input_tokens",
    "gen_ai.usage.reasoning.output_tokens",
    "gen_ai.usage.text.input_tokens",
    "gen_ai.usage.image.input_tokens",
    "gen_ai.usage.audio.input_tokens",
    "gen_ai.usage.text.output_tokens",
    "gen_ai.usage.image.output_tokens",
    "gen_ai.usage.audio.output_tokens",
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.system_instructions",
    "gen_ai.tool.definitions",
    "gen_ai.token.type",
    "gen_ai.token.modality",
    "server.address",
    "server.port",
    "error.type",
    "openai.request.service_tier",
    "openai.response.service_tier",
    "openai.response.system_fingerprint",
    "openai.api.type",
}
EXPECTED_UPSTREAM_METRICS = {
    "gen_ai.client.operation.duration": ("histogram", "s"),
    "gen_ai.client.token.usage": ("histogram", "{token}"),
    "gen_ai.client.operation.time_to_first_chunk": ("histogram", "s"),
    "gen_ai.client.operation.time_per_output_chunk": ("histogram", "s"),
    "gen_ai.client.inference.duration": ("histogram", "s"),
    "gen_ai.client.inference.time_to_first_chunk": ("histogram", "s"),
    "gen_ai.client.inference.time_per_output_chunk": ("histogram", "s"),
    "gen_ai.client.inference.usage.input_tokens": ("counter", "{token}"),
    "gen_ai.client.inference.usage.output_tokens": ("counter", "{token}"),
    "gen_ai.client.inference.usage.cache_read.input_tokens": ("counter", "{token}"),
    "gen_ai.client.inference.usage.cache_write.input_tokens": ("counter", "{token}"),
    "gen_ai.client.inference.usage.reasoning.output_tokens": ("counter", "{token}"),
    "gen_ai.client.inference.operation.input_tokens": ("histogram", "{token}"),
    "gen_ai.client.inference.operation.output_tokens": ("histogram", "{token}"),
    "gen_ai.client.embeddings.duration": ("histogram", "s"),
    "gen_ai.client.embeddings.operation.input_tokens": ("histogram", "{token}"),
}


def test_upstream_listing_covers_emitted_names(registry: Any) -> None:
    attributes = {a["key"] for a in registry.upstream_section("attributes")}
    assert attributes >= EXPECTED_UPSTREAM_ATTRIBUTES, sorted(EXPECTED_UPSTREAM_ATTRIBUTES - attributes)
    metrics = {m["name"]: (m["instrument"], m["unit"]) for m in registry.upstream_section("metrics")}
    for name, spec in EXPECTED_UPSTREAM_METRICS.items():
        assert metrics.get(name) == spec, name
    events = {e["name"] for e in registry.upstream_section("events")}
    assert "gen_ai.client.inference.operation.details" in events


def test_manifest_pins_the_upstream_commit(registry: Any) -> None:
    commit = registry.upstream["upstream"]["commit"]
    paths = [d["registry_path"] for d in registry.manifest["dependencies"]]
    assert f"https://github.com/open-telemetry/semantic-conventions-genai@{commit}[model]" in paths


# ------------------------------------------------------------------------------------------
# (b) generated files are up to date and sound
# ------------------------------------------------------------------------------------------


def test_generator_check_mode_passes() -> None:
    result = subprocess.run(
        [sys.executable, "semconv/generate.py", "--check"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_generated_files_match_registry_in_process() -> None:
    for path, content in generate.render_all(SEMCONV_DIR).items():
        assert path.read_text(encoding="utf-8") == content, f"{path.name} is stale: run semconv/generate.py"


def test_generator_check_mode_detects_stale_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(generate, "MODULE_PATH", tmp_path / "semconv.py")
    monkeypatch.setattr(generate, "REFERENCE_PATH", tmp_path / "REFERENCE.md")
    assert generate.main(["--check"]) == 1  # missing files are stale
    assert generate.main([]) == 0
    assert generate.main(["--check"]) == 0
    with (tmp_path / "semconv.py").open("a", encoding="utf-8") as f:
        f.write('HAND_EDITED = "gen_ai.hand.edited"\n')
    assert generate.main(["--check"]) == 1


def test_generated_files_hold_no_machine_paths() -> None:
    for path, content in generate.render_all(SEMCONV_DIR).items():
        assert str(REPO) not in content, path.name
        assert not re.search(r"(?m)(^|[\s\"'(])/(home|tmp|work|root|Users)/", content), path.name


def test_generated_module_is_stdlib_only() -> None:
    tree = ast.parse(GENERATED_MODULE.read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            imported.add(node.module.split(".")[0])
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}, imported


def test_generated_constants(generated: ModuleType, registry: Any) -> None:
    assert generated.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS == "gen_ai.usage.cache_read.input_tokens"
    assert generated.TOKENOMICS_USAGE_SOURCE == "tokenomics.usage.source"
    assert generated.SERVER_ADDRESS == "server.address"
    assert generated.ERROR_TYPE == "error.type"
    assert generated.OPENAI_API_TYPE == "openai.api.type"
    assert generated.METRIC_GEN_AI_CLIENT_OPERATION_DURATION == "gen_ai.client.operation.duration"
    assert (
        generated.EVENT_GEN_AI_CLIENT_INFERENCE_OPERATION_DETAILS
        == "gen_ai.client.inference.operation.details"
    )

    keys = {a["key"] for a in registry.local_attributes()} | {
        a["key"] for a in registry.upstream_section("attributes")
    }
    assert frozenset(keys) == generated.ALL_ATTRIBUTES
    for key in keys:
        assert getattr(generated, key.upper().replace(".", "_")) == key

    metrics = registry.local_metrics() + registry.upstream_section("metrics")
    assert set(generated.METRIC_SPECS) == {m["name"] for m in metrics}
    for metric in metrics:
        instrument, unit, brief = generated.METRIC_SPECS[metric["name"]]
        assert (instrument, unit) == (metric["instrument"], metric["unit"])
        assert brief == " ".join(metric["brief"].split())
        assert getattr(generated, "METRIC_" + metric["name"].upper().replace(".", "_")) == metric["name"]


def test_generated_enum_values(generated: ModuleType) -> None:
    assert generated.TokenomicsCostStatusValues.UNPRICED == "unpriced"
    assert generated.TokenomicsStreamOutcomeValues.CLOSED_EARLY == "closed_early"
    assert generated.TokenomicsUsageSourceValues.PROVIDER == "provider"
    assert generated.GenAiProviderNameValues.AWS_BEDROCK == "aws.bedrock"
    assert generated.GenAiTokenModalityValues.UNKNOWN == "unknown"


def test_local_attributes_have_good_docs(registry: Any) -> None:
    for attr in registry.local_attributes():
        assert attr["stability"] == "development", attr["key"]
        assert attr["brief"].strip().endswith("."), attr["key"]
        assert attr.get("examples"), f"{attr['key']} has no examples"


def test_reference_lists_every_name(registry: Any) -> None:
    text = (SEMCONV_DIR / "REFERENCE.md").read_text(encoding="utf-8")
    for attr in registry.local_attributes() + registry.upstream_section("attributes"):
        assert f"`{attr['key']}`" in text
    for metric in registry.upstream_section("metrics"):
        assert f"`{metric['name']}`" in text
    assert registry.upstream["upstream"]["commit"] in text
    assert "`gen_ai_client_inference_usage_input_tokens_total`" in text
    assert "`gen_ai_client_operation_duration_seconds_bucket`" in text


@pytest.mark.parametrize(
    ("name", "instrument", "unit", "expected"),
    [
        (
            "gen_ai.client.operation.duration",
            "histogram",
            "s",
            [
                "gen_ai_client_operation_duration_seconds_bucket",
                "gen_ai_client_operation_duration_seconds_sum",
                "gen_ai_client_operation_duration_seconds_count",
            ],
        ),
        (
            "gen_ai.client.token.usage",
            "histogram",
            "{token}",
            [
                "gen_ai_client_token_usage_bucket",
                "gen_ai_client_token_usage_sum",
                "gen_ai_client_token_usage_count",
            ],
        ),
        (
            "gen_ai.client.inference.usage.input_tokens",
            "counter",
            "{token}",
            ["gen_ai_client_inference_usage_input_tokens_total"],
        ),
        ("tokenomics.cost.spent", "counter", "{USD}", ["tokenomics_cost_spent_total"]),
        ("tokenomics.queue.fill", "gauge", "1", ["tokenomics_queue_fill_ratio"]),
        ("tokenomics.payload.size", "updowncounter", "By", ["tokenomics_payload_size_bytes"]),
        ("tokenomics.throughput", "gauge", "{token}/s", ["tokenomics_throughput_per_second"]),
    ],
)
def test_prometheus_series_names(name: str, instrument: str, unit: str, expected: list[str]) -> None:
    assert generate.prometheus_series(name, instrument, unit) == expected


# ------------------------------------------------------------------------------------------
# (c) the code only uses registered names
# ------------------------------------------------------------------------------------------

NAME_LITERAL_RE = re.compile(r"^(gen_ai|tokenomics|openai|server|error)\.[a-z0-9_]+(\.[a-z0-9_]+)*$")
NAMESPACE_PREFIX_RE = re.compile(r"^(gen_ai|tokenomics|openai|server|error)\.")
# Strings in those namespaces that are not telemetry names: Python module paths of the
# SDKs we patch, and host names (e.g. "openai.azure.com" in endpoint tables).
MODULE_PATH_PREFIXES = ("openai.resources", "openai.lib", "openai.types", "openai._")
HOST_SUFFIXES = (".com", ".net", ".org", ".io", ".ai", ".dev", ".cloud", ".azure")
# Call arguments that name modules or loggers, never telemetry.
NON_TELEMETRY_CALLS = {
    "import_module",
    "wrap_function_wrapper",
    "unwrap",
    "getLogger",
    "find_spec",
    "__import__",
}


def _is_telemetry_candidate(value: str) -> bool:
    return (
        bool(NAME_LITERAL_RE.match(value))
        and not value.startswith(MODULE_PATH_PREFIXES)
        and not value.endswith(HOST_SUFFIXES)
    )


def _call_name(node: ast.Call) -> str:
    func = node.func
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return ""


def scan_name_literals(source: str, filename: str = "<source>") -> list[tuple[int, str, str]]:
    """(line, literal, kind) for namespace-looking string literals; kind is 'name' or 'prefix'."""
    tree = ast.parse(source, filename)
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            skip.add(id(node.value))  # docstrings and bare string statements
        elif isinstance(node, ast.Call) and _call_name(node) in NON_TELEMETRY_CALLS:
            for arg in [*node.args, *(k.value for k in node.keywords)]:
                skip.update(id(n) for n in ast.walk(arg))
        elif isinstance(node, ast.JoinedStr):
            skip.update(id(v) for v in node.values)
    found: list[tuple[int, str, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr) and id(node) not in skip:
            head = node.values[0] if node.values else None
            if (
                isinstance(head, ast.Constant)
                and isinstance(head.value, str)
                and NAMESPACE_PREFIX_RE.match(head.value)
                and not head.value.startswith(MODULE_PATH_PREFIXES)
            ):
                found.append((node.lineno, head.value, "prefix"))
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in skip
            and _is_telemetry_candidate(node.value)
        ):
            found.append((node.lineno, node.value, "name"))
    return found


def _known_names(registry: Any) -> set[str]:
    names = {a["key"] for a in registry.local_attributes()}
    names |= {a["key"] for a in registry.upstream_section("attributes")}
    names |= {m["name"] for m in registry.local_metrics() + registry.upstream_section("metrics")}
    names |= {e["name"] for e in registry.local_events() + registry.upstream_section("events")}
    names |= {s["type"] for s in registry.upstream_section("span_types")}
    names |= {item["id"] for _, item in registry.items("span_refinements")}
    return names


def test_code_uses_only_registered_names(registry: Any) -> None:
    known = _known_names(registry)
    unknown = []
    files = sorted(p for p in PACKAGE_DIR.rglob("*.py") if p != GENERATED_MODULE)
    for path in files:
        for line, value, kind in scan_name_literals(path.read_text(encoding="utf-8"), str(path)):
            ok = value in known if kind == "name" else any(n.startswith(value) for n in known)
            if not ok:
                unknown.append(f"{path.relative_to(REPO)}:{line}: {value!r} ({kind})")
    assert unknown == [], (
        "names missing from the registry (add them to semconv/ and regenerate):\n" + "\n".join(unknown)
    )


def _semconv_constants_used(source: str) -> set[str]:
    """Names the code reads from otel_tokenomics.semconv (`sc.NAME` or `from ... import NAME`)."""
    tree = ast.parse(source)
    aliases: set[str] = set()
    used: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "otel_tokenomics":
            aliases |= {a.asname or a.name for a in node.names if a.name == "semconv"}
        elif isinstance(node, ast.ImportFrom) and node.module == "otel_tokenomics.semconv":
            used |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level > 0 and node.module in (None, "semconv"):
            if node.module == "semconv":
                used |= {a.name for a in node.names}
            else:
                aliases |= {a.asname or a.name for a in node.names if a.name == "semconv"}
        elif isinstance(node, ast.Import):
            aliases |= {a.asname for a in node.names if a.name == "otel_tokenomics.semconv" and a.asname}
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
            used.add(node.attr)
    return used


def test_code_uses_only_generated_constants(generated: ModuleType) -> None:
    """A constant missing here means someone edited semconv.py by hand: add the name to the registry."""
    missing = []
    for path in sorted(p for p in PACKAGE_DIR.rglob("*.py") if p != GENERATED_MODULE):
        for name in sorted(_semconv_constants_used(path.read_text(encoding="utf-8"))):
            if not hasattr(generated, name):
                missing.append(f"{path.relative_to(REPO)}: semconv.{name}")
    assert missing == [], "\n".join(missing)


def test_literal_scanner() -> None:
    source = '''
"""Module docstring mentioning gen_ai.usage.input_tokens is fine."""
import importlib
importlib.import_module("openai.resources.chat")
HOST = "openai.azure.com"
A = "gen_ai.usage.input_tokens"
B = "tokenomics.made.up"
C = f"gen_ai.usage.{modality}.input_tokens"
D = "not a name"
'''
    found = scan_name_literals(source)
    assert {(value, kind) for _, value, kind in found} == {
        ("gen_ai.usage.input_tokens", "name"),
        ("tokenomics.made.up", "name"),
        ("gen_ai.usage.", "prefix"),
    }


# ------------------------------------------------------------------------------------------
# (d) the checker reports broken documents
# ------------------------------------------------------------------------------------------

UPSTREAM = {
    "upstream": {
        "repository": "https://github.com/open-telemetry/semantic-conventions-genai",
        "commit": "0" * 40,
        "schema_url": "https://opentelemetry.io/schemas/gen-ai-dev/1.42.0-dev",
    },
    "attributes": [
        {
            "key": "gen_ai.request.model",
            "type": "string",
            "stability": "development",
            "origin": "genai",
            "brief": "Model.",
        },
    ],
    "metrics": [
        {
            "name": "gen_ai.client.inference.duration",
            "instrument": "histogram",
            "unit": "s",
            "stability": "development",
            "status": "pinned",
            "brief": "Duration.",
            "attributes": ["gen_ai.request.model"],
            "buckets": [0.01, 0.02, 0.04],
        }
    ],
    "span_types": [
        {
            "type": "gen_ai.client.inference",
            "kind": "client",
            "stability": "development",
            "brief": "Inference.",
        }
    ],
}


def _valid_doc() -> dict[str, Any]:
    return {
        "file_format": "definition/2",
        "attributes": [
            {
                "key": "tokenomics.test.count",
                "type": "int",
                "stability": "development",
                "brief": "A count.",
                "examples": [3],
            },
            {
                "key": "tokenomics.test.state",
                "type": {
                    "members": [
                        {"id": "on", "value": "on", "brief": "On.", "stability": "development"},
                        {"id": "off", "value": "off", "brief": "Off.", "stability": "development"},
                    ]
                },
                "stability": "development",
                "brief": "A state.",
            },
        ],
        "attribute_groups": [
            {
                "id": "attributes.tokenomics.test",
                "visibility": "internal",
                "attributes": [{"ref": "tokenomics.test.count"}],
            }
        ],
        "span_refinements": [
            {
                "id": "tokenomics.test.inference",
                "ref": "gen_ai.client.inference",
                "brief": "Refined inference span.",
                "stability": "development",
                "annotations": {"tokenomics": {"span_kind": "client", "span_name": "{gen_ai.request.model}"}},
                "attributes": [
                    {"ref_group": "attributes.tokenomics.test"},
                    {
                        "ref": "tokenomics.test.state",
                        "requirement_level": "required",
                        "sampling_relevant": True,
                    },
                    {
                        "ref": "gen_ai.request.model",
                        "requirement_level": {"conditionally_required": "If known."},
                    },
                ],
            }
        ],
        "spans": [
            {
                "type": "tokenomics.test.span",
                "kind": "internal",
                "name": {"note": "tokenomics test"},
                "brief": "A span.",
                "stability": "development",
            }
        ],
        "metrics": [
            {
                "name": "tokenomics.test.duration",
                "instrument": "histogram",
                "unit": "s",
                "stability": "development",
                "brief": "A duration.",
                "attributes": [{"ref": "gen_ai.request.model", "requirement_level": "recommended"}],
                "annotations": {"tokenomics": {"buckets": [0.5, 1, 2]}},
            }
        ],
        "metric_refinements": [
            {"id": "tokenomics.test.inference.duration", "ref": "gen_ai.client.inference.duration"}
        ],
        "events": [{"name": "tokenomics.test.event", "brief": "An event.", "stability": "development"}],
    }


def _problems(doc: Any, *more: tuple[str, Any], upstream: Any = None) -> list[str]:
    docs = {"model/test.yaml": doc, **dict(more)}
    return [str(p) for p in check.check_model(docs, UPSTREAM if upstream is None else upstream)]


def test_valid_document_has_no_problems() -> None:
    assert _problems(_valid_doc()) == []


def _mutated(path: tuple[Any, ...], value: Any = None, *, delete: bool = False) -> dict[str, Any]:
    doc = copy.deepcopy(_valid_doc())
    target: Any = doc
    for step in path[:-1]:
        target = target[step]
    if delete:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return doc


BROKEN_CASES = {
    "missing brief": (_mutated(("attributes", 0, "brief"), delete=True), "missing required field 'brief'"),
    "missing type": (_mutated(("attributes", 0, "type"), delete=True), "missing required field 'type'"),
    "missing stability": (
        _mutated(("attributes", 0, "stability"), delete=True),
        "missing required field 'stability'",
    ),
    "bad stability": (
        _mutated(("attributes", 0, "stability"), "experimental"),
        "invalid stability 'experimental'",
    ),
    "bad type": (_mutated(("attributes", 0, "type"), "float"), "invalid type 'float'"),
    "bad template type": (
        _mutated(("attributes", 0, "type"), "template[map]"),
        "invalid type 'template[map]'",
    ),
    "enum member without brief": (
        _mutated(("attributes", 1, "type", "members", 0, "brief"), delete=True),
        "missing required field 'brief'",
    ),
    "enum member without stability": (
        _mutated(("attributes", 1, "type", "members", 1, "stability"), delete=True),
        "missing required field 'stability'",
    ),
    "duplicate enum value": (
        _mutated(("attributes", 1, "type", "members", 1, "value"), "on"),
        "duplicate enum value 'on'",
    ),
    "key outside tokenomics": (
        _mutated(("attributes", 0, "key"), "myapp.cost.total"),
        "not under 'tokenomics.'",
    ),
    "upper-case key": (_mutated(("attributes", 0, "key"), "tokenomics.Cost"), "invalid attribute key"),
    "example of the wrong type": (
        _mutated(("attributes", 0, "examples"), ["three"]),
        "do not match type 'int'",
    ),
    "unknown attribute field": (_mutated(("attributes", 0, "unit"), "s"), "unknown field 'unit'"),
    "dangling ref": (
        _mutated(("span_refinements", 0, "attributes", 1, "ref"), "tokenomics.test.missing"),
        "ref 'tokenomics.test.missing' resolves neither",
    ),
    "dangling upstream ref": (
        _mutated(("metrics", 0, "attributes", 0, "ref"), "gen_ai.request.top_z"),
        "ref 'gen_ai.request.top_z' resolves neither",
    ),
    "dangling ref_group": (
        _mutated(("span_refinements", 0, "attributes", 0, "ref_group"), "attributes.tokenomics.nope"),
        "does not resolve to a local attribute group",
    ),
    "refinement of an unknown span": (
        _mutated(("span_refinements", 0, "ref"), "gen_ai.inference.client"),
        "resolves to no local or upstream span",
    ),
    "refinement of an unknown metric": (
        _mutated(("metric_refinements", 0, "ref"), "gen_ai.client.token.total"),
        "resolves to no local or upstream metric",
    ),
    "bad instrument": (_mutated(("metrics", 0, "instrument"), "summary"), "invalid instrument 'summary'"),
    "metric without unit": (_mutated(("metrics", 0, "unit"), delete=True), "missing required field 'unit'"),
    "metric outside tokenomics": (
        _mutated(("metrics", 0, "name"), "gen_ai.client.cost"),
        "metric name 'gen_ai.client.cost' is defined locally but is not under 'tokenomics.'",
    ),
    "histogram without buckets": (
        _mutated(("metrics", 0, "annotations"), delete=True),
        "a histogram needs its buckets in annotations.tokenomics.buckets",
    ),
    "buckets not increasing": (
        _mutated(("metrics", 0, "annotations", "tokenomics", "buckets"), [1, 1, 2]),
        "'buckets' must be strictly increasing",
    ),
    "buckets on a counter": (_mutated(("metrics", 0, "instrument"), "counter"), "only valid on a histogram"),
    "sampling_relevant on a metric": (
        _mutated(("metrics", 0, "attributes", 0, "sampling_relevant"), True),
        "unknown field 'sampling_relevant'",
    ),
    "bad span kind": (_mutated(("spans", 0, "kind"), "outbound"), "invalid span kind 'outbound'"),
    "span name not a note": (_mutated(("spans", 0, "name"), "tokenomics test"), "'name' must be a mapping"),
    "bad span kind annotation": (
        _mutated(("span_refinements", 0, "annotations", "tokenomics", "span_kind"), "server"),
        "differs from the kind 'client'",
    ),
    "bad requirement level": (
        _mutated(("span_refinements", 0, "attributes", 1, "requirement_level"), "mandatory"),
        "invalid requirement_level 'mandatory'",
    ),
    "requirement level without text": (
        _mutated(
            ("span_refinements", 0, "attributes", 2, "requirement_level"), {"conditionally_required": ""}
        ),
        "invalid requirement_level",
    ),
    "requirement level with unknown key": (
        _mutated(("span_refinements", 0, "attributes", 2, "requirement_level"), {"sometimes": "yes"}),
        "invalid requirement_level",
    ),
    "ref and ref_group together": (
        _mutated(("span_refinements", 0, "attributes", 0, "ref"), "tokenomics.test.count"),
        "exactly one of 'ref' or 'ref_group'",
    ),
    "attribute referenced twice": (
        _mutated(("span_refinements", 0, "attributes", 1, "ref"), "tokenomics.test.count"),
        "referenced more than once",
    ),
    "public group without brief": (
        _mutated(("attribute_groups", 0, "visibility"), "public"),
        "missing required field 'brief'",
    ),
    "bad visibility": (_mutated(("attribute_groups", 0, "visibility"), "private"), "invalid visibility"),
    "event without stability": (
        _mutated(("events", 0, "stability"), delete=True),
        "missing required field 'stability'",
    ),
    "wrong file format": (_mutated(("file_format",), "definition/1"), "file_format must be 'definition/2'"),
    "missing file format": (_mutated(("file_format",), delete=True), "file_format must be 'definition/2'"),
    "unknown section": (_mutated(("groups",), []), "unknown top-level section 'groups'"),
    "namespace clash": (
        _mutated(("attributes", 1, "key"), "tokenomics.test.count.total"),
        "namespace of attribute 'tokenomics.test.count.total'",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN_CASES))
def test_checker_reports_broken_document(case: str) -> None:
    doc, expected = BROKEN_CASES[case]
    problems = _problems(doc)
    assert any(expected in p for p in problems), problems


def test_checker_reports_duplicate_key_across_files() -> None:
    other = {"file_format": "definition/2", "attributes": [copy.deepcopy(_valid_doc()["attributes"][0])]}
    problems = _problems(_valid_doc(), ("model/other.yaml", other))
    assert any("duplicate attribute 'tokenomics.test.count'" in p for p in problems), problems


def test_checker_reports_local_redefinition_of_upstream_key() -> None:
    upstream = copy.deepcopy(UPSTREAM)
    upstream["attributes"].append(
        {
            "key": "tokenomics.test.count",
            "type": "int",
            "stability": "development",
            "origin": "genai",
            "brief": "X.",
        }
    )
    problems = _problems(_valid_doc(), upstream=upstream)
    assert any("both defined locally and listed as upstream" in p for p in problems), problems


def test_yaml_duplicate_mapping_key_is_an_error() -> None:
    with pytest.raises(check.RegistryError, match="duplicate key 'brief'"):
        check.parse_yaml("key: tokenomics.a.b\nbrief: one\nbrief: two\n")


MANIFEST = {
    "name": "tokenomics",
    "schema_url": "https://otel-tokenomics.dev/schemas/0.1.0",
    "stability": "development",
    "dependencies": [
        {
            "schema_url": "https://opentelemetry.io/schemas/gen-ai-dev/1.42.0-dev",
            "registry_path": "https://github.com/open-telemetry/semantic-conventions-genai@"
            + "0" * 40
            + "[model]",
        }
    ],
}


def test_valid_manifest_has_no_problems() -> None:
    assert check.check_manifest(MANIFEST, upstream=UPSTREAM) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"name": None}, "missing required field 'name'"),
        ({"schema_url": None}, "missing required field 'schema_url'"),
        ({"schema_url": "https://otel-tokenomics.dev/schemas"}, "is not of the form"),
        ({"schema_url": "otel-tokenomics.dev/schemas/0.1.0"}, "is not of the form"),
        ({"schema_url": "https://otel-tokenomics.dev/0.1.0"}, "is not of the form"),
        ({"stability": "experimental"}, "invalid stability"),
        ({"semconv_version": "0.1.0"}, "unknown field 'semconv_version'"),
        (
            {
                "dependencies": [
                    {
                        "schema_url": "https://opentelemetry.io/schemas/gen-ai-dev/1.42.0-dev",
                        "registry_path": "https://github.com/open-telemetry/semantic-conventions-genai@main[model]",
                    }
                ]
            },
            "pin a full 40-character commit id",
        ),
        (
            {
                "dependencies": [
                    {
                        "schema_url": "https://opentelemetry.io/schemas/gen-ai-dev/1.42.0-dev",
                        "registry_path": "https://github.com/open-telemetry/semantic-conventions-genai@"
                        + "1" * 40
                        + "[model]",
                    }
                ]
            },
            "but upstream.yaml lists names from",
        ),
    ],
)
def test_checker_reports_broken_manifest(change: dict[str, Any], expected: str) -> None:
    manifest = {**MANIFEST, **change}
    manifest = {k: v for k, v in manifest.items() if v is not None}
    problems = [str(p) for p in check.check_manifest(manifest, upstream=UPSTREAM)]
    assert any(expected in p for p in problems), problems


@pytest.mark.parametrize(
    ("section", "index", "field", "value", "expected"),
    [
        ("metrics", 0, "instrument", "summary", "invalid instrument 'summary'"),
        ("metrics", 0, "status", "maybe", "invalid status 'maybe'"),
        ("metrics", 0, "attributes", ["gen_ai.request.modle"], "'gen_ai.request.modle' is not in"),
        ("metrics", 0, "attributes", [], "must be a non-empty list of attribute keys"),
        ("metrics", 0, "buckets", [0.1, "1"], "must be a non-empty list of numbers"),
        ("metrics", 0, "instrument", "counter", "'buckets' are only valid on a histogram"),
        ("attributes", 0, "type", "enum", "an upstream enum needs 'members'"),
        ("attributes", 0, "key", "tokenomics.cost.total", "is ours"),
        ("attributes", 0, "origin", "vendor", "invalid origin 'vendor'"),
        ("span_types", 0, "kind", "outbound", "invalid span kind 'outbound'"),
    ],
)
def test_checker_reports_broken_upstream_listing(
    section: str, index: int, field: str, value: Any, expected: str
) -> None:
    upstream = copy.deepcopy(UPSTREAM)
    upstream[section][index][field] = value
    problems = [str(p) for p in check.check_upstream(upstream)]
    assert any(expected in p for p in problems), problems


def test_upstream_listing_needs_a_pinned_commit() -> None:
    upstream = copy.deepcopy(UPSTREAM)
    upstream["upstream"]["commit"] = "main"
    problems = [str(p) for p in check.check_upstream(upstream)]
    assert any("40-character commit" in p for p in problems), problems
