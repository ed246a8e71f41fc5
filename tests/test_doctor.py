"""``otel-tokenomics doctor``: each check over made-up environments, then the real thing."""

from __future__ import annotations

import importlib.metadata
import json
import logging
import os
import pathlib
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from datetime import date
from typing import Any

import pytest

import otel_tokenomics.pricing
from otel_tokenomics import doctor
from otel_tokenomics.cli import main
from otel_tokenomics.doctor import PROBLEM, WARNING, Finding, Installed

ROOT = pathlib.Path(__file__).resolve().parents[1]
TODAY = date(2026, 11, 27)
SECRET = "hcK3y-9f8e7d6c5b4a3"

RANGES = {
    "openai": ">=1.0.0",
    "anthropic": ">=1.0.0",
    "google-genai": ">=1.0.0",
    "botocore": ">=1.34.116",
    "cohere": ">=5.16.0",
    "mistralai": ">=2.0.0",
    "groq": ">=0.4.0",
    "ollama": ">=0.4.0",
    "litellm": ">=1.80.0",
}
SDK_VERSIONS = {
    "openai": "3.57.0",
    "anthropic": "2.14.0",
    "google-genai": "3.6.1",
    "botocore": "1.44.8",
    "cohere": "7.3.1",
    "mistralai": "3.7.0",
    "groq": "1.7.0",
    "ollama": "0.6.3",
    "litellm": "1.110.2",
}


def fake_installed(
    sdks: Mapping[str, str] | None = None,
    exporters: Sequence[str] = ("otlp_proto_grpc", "otlp_proto_http"),
    distro: bool = True,
    others: Mapping[str, tuple[str, Sequence[str]]] | None = None,
    extra: Mapping[str, str] | None = None,
) -> Installed:
    """An environment: our package, the given SDK versions, exporters, distro, other instrumentations."""
    versions = {
        "otel-tokenomics": "0.1.0",
        "tiktoken": "0.14.0",
        **(sdks if sdks is not None else SDK_VERSIONS),
    }
    versions.update(extra or {})
    instrumentors = {name: "otel-tokenomics" for name in doctor.SDK_DISTRIBUTIONS}
    groups: dict[str, dict[str, str]] = {"opentelemetry_instrumentor": instrumentors}
    for signal in doctor.SIGNALS:
        groups[f"opentelemetry_{signal}_exporter"] = {
            name: doctor.EXPORTER_DISTRIBUTIONS[name] for name in exporters
        } | {"console": "opentelemetry-sdk"}
    for name in exporters:
        versions[doctor.EXPORTER_DISTRIBUTIONS[name]] = "1.45.2"
    if distro:
        versions["opentelemetry-distro"] = "0.66b2"
        groups["opentelemetry_distro"] = {"distro": "opentelemetry-distro"}
        groups["opentelemetry_configurator"] = {"configurator": "opentelemetry-distro"}
    for dist, (version, entry_points) in (others or {}).items():
        versions[dist] = version
        for name in entry_points:
            instrumentors[name] = dist
    requires = {
        "otel-tokenomics": [f'{dist}{spec}; extra == "instruments-any"' for dist, spec in RANGES.items()]
        + ["opentelemetry-api>=1.30", 'pytest>=8; extra == "test"']
    }
    return Installed(versions, groups, requires)


def messages(findings: Sequence[Finding], severity: str | None = None) -> list[str]:
    return [f.message for f in findings if severity is None or f.severity == severity]


def export(env: Mapping[str, str], installed: Installed | None = None) -> tuple[Any, list[Finding]]:
    config, findings = doctor.check_export({"OTEL_SERVICE_NAME": "svc", **env}, installed or fake_installed())
    return config, findings


def signal(config: Any, name: str) -> Any:
    return next(s for s in config.signals if s.signal == name)


@pytest.fixture(autouse=True)
def _clean_pricing() -> Iterator[None]:
    yield
    otel_tokenomics.pricing.reset()


# -- 1. SDKs ------------------------------------------------------------------------------------


def test_every_sdk_in_range_loads_under_the_launcher() -> None:
    sdks, others, findings = doctor.check_sdks({}, fake_installed())
    assert [(s.distribution, s.version, s.requirement, s.supported, s.launcher_loads) for s in sdks] == [
        (dist, SDK_VERSIONS[dist], RANGES[dist], True, True) for dist in RANGES
    ]
    assert all(s.this_process is None for s in sdks)
    assert others == [] and findings == []


def test_sdk_table_matches_the_instrumentors_and_pyproject() -> None:
    import tomllib

    from otel_tokenomics.providers import INSTRUMENTORS

    assert list(doctor.SDK_DISTRIBUTIONS) == list(INSTRUMENTORS)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = [line.split(">=")[0].strip() for line in project["optional-dependencies"]["instruments-any"]]
    assert sorted(declared) == sorted(doctor.SDK_DISTRIBUTIONS.values())


def test_missing_sdk_is_skipped_without_a_problem() -> None:
    sdks, _, findings = doctor.check_sdks({}, fake_installed({"openai": "3.57.0"}))
    by_dist = {s.distribution: s for s in sdks}
    assert by_dist["openai"].launcher_loads
    assert (by_dist["anthropic"].version, by_dist["anthropic"].launcher_reason) == (
        None,
        "anthropic not installed",
    )
    assert findings == []


def test_no_sdk_installed_is_a_problem() -> None:
    _, _, findings = doctor.check_sdks({}, fake_installed({}))
    assert messages(findings) == ["none of the SDKs we instrument is installed: nothing can be traced"]


def test_version_outside_the_range() -> None:
    sdks, _, findings = doctor.check_sdks({}, fake_installed({"openai": "0.28.1", "anthropic": "2.14.0"}))
    openai = sdks[0]
    assert (openai.supported, openai.launcher_loads, openai.launcher_reason) == (
        False,
        False,
        "openai 0.28.1 outside >=1.0.0",
    )
    assert findings == [
        Finding(
            PROBLEM,
            "openai 0.28.1 is outside the supported range >=1.0.0: its calls are not traced "
            "(instrument() and opentelemetry-instrument both leave it alone)",
            "pip install 'openai>=1.0.0', or OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=tokenomics_openai",
        )
    ]


def test_only_sdk_out_of_range_skips_every_entry_point() -> None:
    sdks, _, findings = doctor.check_sdks({}, fake_installed({"openai": "0.28.1"}))
    assert {s.launcher_reason for s in sdks} == {
        "no supported SDK installed: every tokenomics_* entry point is skipped"
    }
    assert (
        "no installed SDK is in a supported range: opentelemetry-instrument skips every tokenomics_* "
        "entry point" in messages(findings)
    )


def test_disabled_instrumentations() -> None:
    env = {"OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": " requests , tokenomics_openai"}
    sdks, _, findings = doctor.check_sdks(env, fake_installed())
    assert [(s.entry_point, s.disabled) for s in sdks if s.disabled] == [("tokenomics_openai", True)]
    assert sdks[0].launcher_reason == "disabled by OTEL_PYTHON_DISABLED_INSTRUMENTATIONS (tokenomics_openai)"
    assert sdks[1].launcher_loads
    assert findings == []

    sdks, _, findings = doctor.check_sdks({"OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "*"}, fake_installed())
    assert {(s.launcher_loads, s.launcher_reason) for s in sdks} == {
        (False, "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=*")
    }
    assert messages(findings) == [
        "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=* disables every instrumentation under "
        "opentelemetry-instrument, "
        "ours included"
    ]


def test_not_installed_as_a_distribution() -> None:
    installed = Installed({"openai": "3.57.0"}, {}, {})
    sdks, _, findings = doctor.check_sdks({}, installed)
    assert {s.launcher_reason for s in sdks} == {"entry point not installed"}
    assert messages(findings)[0].startswith("otel-tokenomics is not installed as a distribution")


def test_other_openai_instrumentation_is_a_double_count() -> None:
    others = {"opentelemetry-instrumentation-openai-v2": ("2.4b0", ["openai"])}
    _, found, findings = doctor.check_sdks({}, fake_installed(others=others))
    assert [(o.distribution, o.sdk_entry_point, o.their_entry_points, o.disabled) for o in found] == [
        ("opentelemetry-instrumentation-openai-v2", "tokenomics_openai", ("openai",), False)
    ]
    assert findings == [
        Finding(
            PROBLEM,
            "opentelemetry-instrumentation-openai-v2 2.4b0 (OpenTelemetry contrib) also traces openai: two "
            "spans "
            "per call, and a backend summing tokens or cost over spans counts every call twice",
            "keep one: OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=openai turns "
            "opentelemetry-instrumentation-openai-v2 "
            "off under opentelemetry-instrument (every instrumentation with that entry point name), or "
            "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=tokenomics_openai turns ours off; or pip uninstall "
            "opentelemetry-instrumentation-openai-v2",
        )
    ]
    # Either one switched off: no double count.
    for off in ("openai", "tokenomics_openai"):
        env = {"OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": off}
        assert doctor.check_sdks(env, fake_installed(others=others))[2] == []


def test_unknown_instrumentation_named_after_an_sdk_and_all_in_one_packages() -> None:
    others = {"acme-llm-tracing": ("1.2.0", ["anthropic"])}
    _, found, findings = doctor.check_sdks({}, fake_installed(others=others, extra={"openlit": "1.45.0"}))
    assert [(o.distribution, o.sdk_entry_point) for o in found] == [
        ("acme-llm-tracing", "tokenomics_anthropic")
    ]
    assert [(f.severity, f.message.split(":")[0]) for f in findings] == [
        (PROBLEM, "acme-llm-tracing 1.2.0 (acme-llm-tracing) also traces anthropic"),
        (WARNING, "openlit 1.45.0 (OpenLIT) is installed"),
    ]


def test_other_instrumentation_of_an_sdk_not_installed_is_ignored() -> None:
    others = {"openinference-instrumentation-groq": ("0.1.0", ["groq"])}
    _, found, findings = doctor.check_sdks({}, fake_installed({"openai": "3.57.0"}, others=others))
    assert found == [] and findings == []


# -- 2. tiktoken ----------------------------------------------------------------------------------


def test_tiktoken_cache_location() -> None:
    import tempfile

    assert doctor.tiktoken_cache({"TIKTOKEN_CACHE_DIR": "/c"}) == ("/c", "TIKTOKEN_CACHE_DIR")
    assert doctor.tiktoken_cache({"DATA_GYM_CACHE_DIR": "/d"}) == ("/d", "DATA_GYM_CACHE_DIR")
    assert doctor.tiktoken_cache({"TIKTOKEN_CACHE_DIR": ""}) == (None, "TIKTOKEN_CACHE_DIR")
    assert doctor.tiktoken_cache({}) == (os.path.join(tempfile.gettempdir(), "data-gym-cache"), "default")


def test_tiktoken_cache_file_names_are_tiktokens() -> None:
    # The shared cache was filled by tiktoken itself: our names must be the ones it wrote.
    cache = os.environ.get("TIKTOKEN_CACHE_DIR")
    if not cache or not os.path.isdir(cache):
        pytest.skip("no tiktoken cache here")
    for encoding in doctor.ENCODING_URLS:
        assert os.path.isfile(doctor.encoding_cache_file(cache, encoding)), encoding


def test_tiktoken_not_cached_and_not_loading(tmp_path: pathlib.Path) -> None:
    def slow(names: Sequence[str], timeout: float) -> dict[str, str]:
        assert timeout == 0.5
        return {"o200k_base": "timed out", "cl100k_base": "failed"}

    env = {"TIKTOKEN_CACHE_DIR": str(tmp_path)}
    status, findings = doctor.check_tiktoken(env, fake_installed(), slow, timeout=0.5)
    assert [(e.name, e.cached, e.status) for e in status.encodings] == [
        ("o200k_base", False, "timed out"),
        ("cl100k_base", False, "failed"),
    ]
    assert [(f.severity, f.message) for f in findings] == [
        (
            WARNING,
            f"tiktoken encoding o200k_base did not load in time: it is not in the cache ({tmp_path}) and "
            "tiktoken "
            "downloads it on first use; until it loads, token estimates are heuristic counts "
            "(tokenomics.usage.source=heuristic)",
        ),
        (
            WARNING,
            f"tiktoken encoding cl100k_base did not load: it is not in the cache ({tmp_path}) and tiktoken "
            "downloads it on first use; until it loads, token estimates are heuristic counts "
            "(tokenomics.usage.source=heuristic)",
        ),
    ]


def test_tiktoken_off_missing_and_bad_mode(tmp_path: pathlib.Path) -> None:
    def never(names: Sequence[str], timeout: float) -> dict[str, str]:
        raise AssertionError("no load when tiktoken is off or missing")

    status, findings = doctor.check_tiktoken({"OTEL_TOKENOMICS_TOKENIZER": "OFF"}, fake_installed(), never)
    assert (status.mode, [e.status for e in status.encodings], findings) == ("off", ["off", "off"], [])

    missing = Installed({"otel-tokenomics": "0.1.0"}, {}, {})
    status, findings = doctor.check_tiktoken({}, missing, never)
    assert status.tiktoken_version is None
    assert [e.status for e in status.encodings] == ["not installed", "not installed"]
    assert messages(findings, WARNING) == [
        "tiktoken is not installed: token estimates are heuristic counts (tokenomics.usage.source=heuristic)"
    ]

    status, findings = doctor.check_tiktoken({"OTEL_TOKENOMICS_TOKENIZER": "eager"}, fake_installed())
    assert (status.mode, status.mode_valid) == ("lazy", False)
    assert messages(findings, PROBLEM) == [
        "OTEL_TOKENOMICS_TOKENIZER='eager' is not one of lazy, preload, off; lazy is used"
    ]


def test_tiktoken_real_load_is_bounded() -> None:
    # The session fixture loaded both encodings: the real loader answers at once.
    status, findings = doctor.check_tiktoken(
        dict(os.environ), Installed.from_metadata(), doctor.load_encodings, 5
    )
    assert [(e.name, e.status) for e in status.encodings] == [
        ("o200k_base", "loaded"),
        ("cl100k_base", "loaded"),
    ]
    assert findings == []


# -- 3. exporters -------------------------------------------------------------------------------


def test_distro_defaults_grpc_to_localhost_4317() -> None:
    config, findings = export({})
    assert (config.distro, config.configurator) == ("opentelemetry-distro (distro)", "configurator")
    for s in config.signals:
        assert (s.exporters, s.exporters_source, s.protocol, s.protocol_source) == (
            ["otlp"],
            "opentelemetry-distro default",
            "grpc",
            "opentelemetry-distro default",
        )
        assert (s.component, s.component_installed, s.endpoint, s.endpoint_source) == (
            "otlp_proto_grpc",
            True,
            "http://localhost:4317",
            "default",
        )
    assert findings == []


def test_distro_grpc_default_with_only_the_http_exporter() -> None:
    config, findings = export({}, fake_installed(exporters=("otlp_proto_http",)))
    assert signal(config, "traces").component_installed is False
    assert findings[0] == Finding(
        PROBLEM,
        "traces: protocol grpc (the opentelemetry-distro default) needs "
        "opentelemetry-exporter-otlp-proto-grpc, "
        "which is not installed: \"Requested component 'otlp_proto_grpc' not found\", nothing is exported; "
        "only opentelemetry-exporter-otlp-proto-http is installed",
        "pip install opentelemetry-exporter-otlp-proto-grpc, or export "
        "OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
    )
    assert len(findings) == 3  # one per signal


def test_http_protocol_with_only_the_grpc_exporter() -> None:
    env = {"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf", "OTEL_METRICS_EXPORTER": "none"}
    _, findings = export(env, fake_installed(exporters=("otlp_proto_grpc",)))
    assert [f.message.split(":")[0] for f in findings] == [
        "traces",
        "logs",
        "metrics exporter is none (OTEL_METRICS_EXPORTER)",
    ]
    assert findings[0].fix == (
        "pip install opentelemetry-exporter-otlp-proto-http, or export OTEL_EXPORTER_OTLP_PROTOCOL=grpc"
    )


def test_http_endpoint_resolution() -> None:
    env = {
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_EXPORTER_OTLP_ENDPOINT": "https://collector.example:4318/",
        "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": "http://logs.example:4318/v1/logs",
        "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "grpc",
    }
    config, findings = export(env)
    assert [(s.protocol, s.protocol_source, s.endpoint, s.endpoint_source) for s in config.signals] == [
        (
            "http/protobuf",
            "OTEL_EXPORTER_OTLP_PROTOCOL",
            "https://collector.example:4318/v1/traces",
            "OTEL_EXPORTER_OTLP_ENDPOINT + /v1/traces",
        ),
        # gRPC takes the generic endpoint verbatim: and 4318 is the HTTP port.
        (
            "grpc",
            "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
            "https://collector.example:4318/",
            "OTEL_EXPORTER_OTLP_ENDPOINT",
        ),
        (
            "http/protobuf",
            "OTEL_EXPORTER_OTLP_PROTOCOL",
            "http://logs.example:4318/v1/logs",
            "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
        ),
    ]
    assert messages(findings) == [
        "metrics: protocol grpc sends to https://collector.example:4318/, but 4318 is the OTLP HTTP port"
    ]


def test_defaults_without_distro_and_explicit_exporter_names() -> None:
    env = {"OTEL_TRACES_EXPORTER": "otlp_proto_http,console", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}
    config, findings = export(env, fake_installed(distro=False))
    traces = signal(config, "traces")
    assert (traces.exporters, traces.protocol, traces.protocol_source, traces.endpoint) == (
        ["otlp_proto_http", "console"],
        "http/protobuf",
        "OTEL_TRACES_EXPORTER",
        "http://localhost:4318/v1/traces",
    )
    assert (signal(config, "metrics").exporters, signal(config, "metrics").exporters_source) == ([], "unset")
    assert messages(findings, PROBLEM) == [
        "no OpenTelemetry configurator is installed: opentelemetry-instrument patches the SDKs but sets up "
        "no "
        "tracer or meter provider, so the OTEL_* exporter settings are ignored"
    ]
    # Nothing in the environment says the launcher is relied on: only a warning then.
    _, findings = export({}, fake_installed(distro=False))
    assert [f.severity for f in findings] == [WARNING]


def test_port_and_path_mistakes() -> None:
    env = {
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://localhost:4317/v1/traces",
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http://localhost:4318",
        "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": "https://gateway.example/otlp/logs",
    }
    _, findings = export(env)
    assert [(f.severity, f.message) for f in findings] == [
        (
            PROBLEM,
            "traces: protocol http/protobuf sends to http://localhost:4317/v1/traces/v1/traces, but 4317 is "
            "the OTLP gRPC port",
        ),
        (
            PROBLEM,
            "traces: OTEL_EXPORTER_OTLP_ENDPOINT already ends in /v1/traces, and the HTTP exporter appends "
            "/v1/traces: it sends to http://localhost:4317/v1/traces/v1/traces",
        ),
        (
            PROBLEM,
            "metrics: OTEL_EXPORTER_OTLP_METRICS_ENDPOINT is used verbatim and has no /v1/metrics path "
            "(http://localhost:4318)",
        ),
        (
            WARNING,
            "logs: OTEL_EXPORTER_OTLP_LOGS_ENDPOINT is used verbatim and has no /v1/logs path "
            "(https://gateway.example/otlp/logs)",
        ),
    ]


def test_endpoints_without_scheme() -> None:
    _, findings = export(
        {"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf", "OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"}
    )
    assert messages(findings)[0] == (
        "traces: HTTP endpoint collector:4318/v1/traces (OTEL_EXPORTER_OTLP_ENDPOINT + /v1/traces) has no "
        "http:// "
        "or https:// scheme: the exporter cannot send to it"
    )
    _, findings = export({"OTEL_EXPORTER_OTLP_ENDPOINT": "localhost:4317"})
    assert {(f.severity, f.message.split(":")[0]) for f in findings} == {(WARNING, s) for s in doctor.SIGNALS}
    assert (
        doctor.check_export(
            {
                "OTEL_SERVICE_NAME": "s",
                "OTEL_EXPORTER_OTLP_ENDPOINT": "localhost:4317",
                "OTEL_EXPORTER_OTLP_INSECURE": "true",
            },
            fake_installed(),
        )[1]
        == []
    )


def test_unsupported_protocol_compression_and_exporter_name() -> None:
    env = {
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json",
        "OTEL_METRICS_EXPORTER": "zipkin_json",
        "OTEL_LOGS_EXPORTER": "otlp_proto_grpc",
        "OTEL_EXPORTER_OTLP_LOGS_COMPRESSION": "brotli",
    }
    _, findings = export(env)
    assert messages(findings) == [
        "OTEL_EXPORTER_OTLP_PROTOCOL='http/json': the Python SDK exports OTLP as grpc or http/protobuf "
        "only, so "
        "configuring traces fails and nothing is exported",
        "OTEL_METRICS_EXPORTER names 'zipkin_json', which no installed package provides: the SDK "
        "configuration "
        "fails and nothing is exported",
        "logs: compression 'brotli' is not one of gzip, deflate, none: the exporter refuses to start",
    ]


def test_sdk_disabled_traces_none_and_samplers() -> None:
    env = {
        "OTEL_SDK_DISABLED": "TRUE",
        "OTEL_TRACES_EXPORTER": "none",
        "OTEL_TRACES_SAMPLER": "parentbased_always_off",
    }
    config, findings = export(env)
    assert config.sdk_disabled and (config.sampler, config.sampler_ratio) == ("parentbased_always_off", 0.0)
    assert messages(findings) == [
        "OTEL_SDK_DISABLED=true: the SDK providers are no-ops, nothing is recorded or exported",
        "OTEL_TRACES_SAMPLER=parentbased_always_off: no span is recorded (metrics still are)",
        "traces exporter is none (OTEL_TRACES_EXPORTER): no span leaves the process",
    ]
    config, findings = export({"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0"})
    assert messages(findings) == [
        "OTEL_TRACES_SAMPLER=traceidratio with OTEL_TRACES_SAMPLER_ARG=0: no span is recorded"
    ]
    config, findings = export(
        {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.25"}
    )
    assert (config.sampler_ratio, findings) == (0.25, [])


def test_service_name_sources() -> None:
    config, findings = doctor.check_export(
        {"OTEL_RESOURCE_ATTRIBUTES": "a=b, service.name=shop%20api"}, fake_installed()
    )
    assert (config.service_name, config.service_name_source, findings) == (
        "shop api",
        "OTEL_RESOURCE_ATTRIBUTES",
        [],
    )
    config, findings = doctor.check_export({}, fake_installed())
    assert (config.service_name, messages(findings, WARNING)) == (
        "unknown_service",
        ["no service name: telemetry arrives as unknown_service (Honeycomb names its dataset after it)"],
    )


def test_honeycomb_metrics_need_a_dataset() -> None:
    env = {
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_EXPORTER_OTLP_ENDPOINT": "https://api.honeycomb.io",
        "OTEL_EXPORTER_OTLP_HEADERS": f"x-honeycomb-team={SECRET}",
    }
    config, findings = export(env)
    assert signal(config, "metrics").endpoint == "https://api.honeycomb.io/v1/metrics"
    assert signal(config, "metrics").header_names == ["x-honeycomb-team"]
    assert findings == [
        Finding(
            PROBLEM,
            "metrics go to Honeycomb without an x-honeycomb-dataset header: they land in 'unknown_metrics' "
            "or "
            "are dropped",
            "OTEL_EXPORTER_OTLP_METRICS_HEADERS=x-honeycomb-team=<ingest key>,x-honeycomb-dataset=<dataset> "
            "(the per-signal variable replaces OTEL_EXPORTER_OTLP_HEADERS, so repeat the key)",
        )
    ]
    # Fixed the way the message says: nothing left.
    fixed = {
        **env,
        "OTEL_EXPORTER_OTLP_METRICS_HEADERS": f"x-honeycomb-team={SECRET},x-honeycomb-dataset=llm",
    }
    assert export(fixed)[1] == []


def test_honeycomb_per_signal_headers_replace_the_generic_ones() -> None:
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "https://api.eu1.honeycomb.io:443",
        "OTEL_EXPORTER_OTLP_HEADERS": f"x-honeycomb-team={SECRET}",
        "OTEL_EXPORTER_OTLP_METRICS_HEADERS": "x-honeycomb-dataset=llm",
    }
    _, findings = export(env)
    assert findings == [
        Finding(
            PROBLEM,
            "metrics go to Honeycomb without an x-honeycomb-team header (it is in "
            "OTEL_EXPORTER_OTLP_HEADERS, but "
            "OTEL_EXPORTER_OTLP_METRICS_HEADERS replaces those, it does not add to them): Honeycomb rejects "
            "them",
            "add x-honeycomb-team=<ingest key> to OTEL_EXPORTER_OTLP_METRICS_HEADERS",
        )
    ]
    _, findings = export(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "https://api.honeycomb.io", "OTEL_METRICS_EXPORTER": "none"}
    )
    assert messages(findings, PROBLEM) == [
        "traces go to Honeycomb without an x-honeycomb-team header: Honeycomb rejects them",
        "logs go to Honeycomb without an x-honeycomb-team header: Honeycomb rejects them",
    ]


def test_header_values_and_credentials_never_appear(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [k for k in os.environ if k.startswith("OTEL_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("OTEL_SERVICE_NAME", "svc")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"https://user:{SECRET}@api.honeycomb.io/?key={SECRET}")
    monkeypatch.setenv(
        "OTEL_EXPORTER_OTLP_HEADERS", f"x-honeycomb-team={SECRET},Authorization=Bearer%20{SECRET},{SECRET}"
    )
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_HEADERS", f"authorization={SECRET}")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_HEADERS", f"x-honeycomb-team={SECRET}")
    # A value with a comma it should have encoded (%2C): the part after it is read as a header name.
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_LOGS_HEADERS", f"authorization=Basic {SECRET}, {SECRET[:6]} more")
    outputs = []
    for extra in ([], ["--json"]):
        code = main(["doctor", "--timeout", "5", *extra])
        out, err = capsys.readouterr()
        assert code == 1
        outputs.append(out + err)
    outputs.append(str(doctor.report()))
    outputs.append(json.dumps(doctor.report().as_dict()))
    pieces = {SECRET[i : i + 4] for i in range(len(SECRET) - 3)}
    for output in outputs:
        assert "x-honeycomb-team" in output
        leaked = [piece for piece in pieces if piece in output]
        assert leaked == [], leaked
    report = json.loads(outputs[1])
    assert report["export"]["signals"][0]["header_names"] == ["authorization"]
    assert report["export"]["signals"][1]["header_names"] == ["x-honeycomb-team"]
    # The exporter appends /v1/traces to the whole string, query included: it is redacted with it.
    assert report["export"]["signals"][0]["endpoint"] == "https://<redacted>@api.honeycomb.io/?<redacted>"


# -- our own settings -----------------------------------------------------------------------------

BAD_OPTIONS = {
    "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "everything",
    "OTEL_TOKENOMICS_METRIC_NAMES": "newest",
    "OTEL_TOKENOMICS_ESTIMATE_USAGE": "maybe",
    "OTEL_TOKENOMICS_STREAM_USAGE": "sometimes",
    "OTEL_TOKENOMICS_ROLLUP": "2",
    "OTEL_TOKENOMICS_PROVIDER_MAP": "llm.internal=openai,broken",
    "OTEL_TOKENOMICS_METRIC_BAGGAGE": "tokenomics.tenant:0,tokenomics.feature:20",
    "OTEL_TOKENOMICS_PRICE": "prices.toml",
}


def test_invalid_options_are_the_ones_config_warns_about(caplog: pytest.LogCaptureFixture) -> None:
    from otel_tokenomics import config

    options, findings = doctor.check_options(BAD_OPTIONS)
    assert list(options) == sorted(BAD_OPTIONS)
    assert [(f.severity, f.message) for f in findings] == [
        (
            PROBLEM,
            "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT='everything' is not valid; content capture "
            "stays off",
        ),
        (PROBLEM, "OTEL_TOKENOMICS_METRIC_NAMES='newest' is not valid; legacy metric names are used"),
        (PROBLEM, "OTEL_TOKENOMICS_ESTIMATE_USAGE='maybe' is not valid; estimates stay on"),
        (PROBLEM, "OTEL_TOKENOMICS_ROLLUP='2' is not valid; roll-ups stay on"),
        (PROBLEM, "OTEL_TOKENOMICS_STREAM_USAGE='sometimes' is not valid; auto is used"),
        (PROBLEM, "OTEL_TOKENOMICS_PROVIDER_MAP: entry 'broken' is not host=provider and is ignored"),
        (
            PROBLEM,
            "OTEL_TOKENOMICS_METRIC_BAGGAGE: the cap of 'tokenomics.tenant' is not a positive integer; the "
            "default is used",
        ),
        (
            WARNING,
            "OTEL_TOKENOMICS_PRICE is not a variable otel-tokenomics reads (did you mean "
            "OTEL_TOKENOMICS_PRICES?)",
        ),
    ]
    # config.py warns about exactly these seven values (and so ignores them).
    config.forget_warnings()
    with caplog.at_level(logging.WARNING, logger="otel_tokenomics.config"):
        config.load_options({}, BAD_OPTIONS)
    assert len(caplog.records) == 7, [r.getMessage() for r in caplog.records]
    config.forget_warnings()


def test_valid_options_pass() -> None:
    good = {
        "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "true",
        "OTEL_TOKENOMICS_METRIC_NAMES": "Both",
        "OTEL_TOKENOMICS_ESTIMATE_USAGE": "off",
        "OTEL_TOKENOMICS_STREAM_USAGE": "never",
        "OTEL_TOKENOMICS_ROLLUP": "",
        "OTEL_TOKENOMICS_PROVIDER_MAP": "llm.internal:8000=openai, ",
        "OTEL_TOKENOMICS_METRIC_BAGGAGE": "tokenomics.tenant:50,tokenomics.feature",
        "OTEL_TOKENOMICS_TOKENIZER": "preload",
        "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT": "16384",
    }
    assert doctor.check_options(good)[1] == []


# -- 5. pricing -----------------------------------------------------------------------------------


def test_catalog_version_date_and_age() -> None:
    status, findings = doctor.check_pricing({}, fake_installed(), TODAY)
    header = doctor.catalog_header()
    assert status.catalog_version == header["version"]
    built = doctor.catalog_date(header["version"])
    assert built is not None and status.catalog_built == built.isoformat()
    assert status.catalog_age_days == (TODAY - built).days
    assert (status.price_file, status.price_file_status, status.fallback_status) == (None, "none", "off")
    assert doctor.catalog_date("2026.11.27.2") == date(2026, 11, 27)
    assert doctor.catalog_date("unavailable") is None

    old = {"version": "2026.08.28.1"}
    status, findings = doctor.check_pricing({}, fake_installed(), TODAY, header=lambda: old)
    assert status.catalog_age_days == 91
    assert messages(findings, WARNING) == [
        "the price catalog 2026.08.28.1 is 91 days old: newer models are unpriced and changed prices are "
        "not known"
    ]
    assert (
        doctor.check_pricing({}, fake_installed(), TODAY, header=lambda: {"version": "2026.08.29.1"})[1] == []
    )


def test_unreadable_catalog() -> None:
    def broken() -> dict[str, str]:
        raise OSError("gone")

    status, findings = doctor.check_pricing({}, fake_installed(), TODAY, header=broken)
    assert status.catalog_version is None
    assert messages(findings) == [
        "the bundled price catalog cannot be read (OSError): every call is unpriced"
    ]


def test_price_file_loads_or_reports_its_error(tmp_path: pathlib.Path) -> None:
    good = tmp_path / "prices.toml"
    good.write_text('[[models]]\nid = "prod-chat"\nprovider = "openai"\ninput = 1.5\noutput = 6\n')
    status, findings = doctor.check_pricing({"OTEL_TOKENOMICS_PRICES": str(good)}, fake_installed(), TODAY)
    assert (status.price_file, status.price_file_source, status.price_file_status, findings) == (
        str(good),
        "OTEL_TOKENOMICS_PRICES",
        "loaded",
        [],
    )
    assert status.price_file_version is not None and status.price_file_version.startswith("user:")

    bad = tmp_path / "bad.toml"
    bad.write_text('[[models]]\nid = "prod-chat"\nbase = "gpt-nonexistent-9"\n')
    status, findings = doctor.check_pricing(
        {"OTEL_TOKENOMICS_PRICES": str(good)}, fake_installed(), TODAY, str(bad)
    )
    assert (status.price_file, status.price_file_source, status.price_file_status) == (
        str(bad),
        "--prices",
        "error",
    )
    assert status.price_file_error is not None and "gpt-nonexistent-9" in status.price_file_error
    assert [f.severity for f in findings] == [PROBLEM]
    assert findings[0].message == (
        f"your price file cannot be used: {status.price_file_error}. Under instrumentation every call is "
        "then "
        "unpriced (tokenomics.cost.status=unpriced)"
    )


def test_fallback_settings() -> None:
    env = {"OTEL_TOKENOMICS_PRICING_FALLBACK": "genai-prices"}
    status, findings = doctor.check_pricing(env, fake_installed(extra={"genai-prices": "0.2.3"}), TODAY)
    assert (status.fallback_status, findings) == ("genai-prices 0.2.3", [])
    status, findings = doctor.check_pricing(env, fake_installed(), TODAY)
    assert messages(findings) == [
        "OTEL_TOKENOMICS_PRICING_FALLBACK=genai-prices, but genai-prices is not installed: the fallback is "
        "off"
    ]
    status, findings = doctor.check_pricing(
        {"OTEL_TOKENOMICS_PRICING_FALLBACK": "litellm"}, fake_installed(), TODAY
    )
    assert status.fallback_status == "unknown" and [f.severity for f in findings] == [PROBLEM]


# -- the real environment --------------------------------------------------------------------------


def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [k for k in os.environ if k.startswith(("OTEL_", "ANTHROPIC_OPEN"))]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("OTEL_SERVICE_NAME", "doctor-test")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")


def _installed_here() -> None:
    names = {ep.name for ep in importlib.metadata.entry_points(group="opentelemetry_instrumentor")}
    if "tokenomics_openai" not in names:
        if os.environ.get("CI"):
            pytest.fail("the package must be pip-installed for this test in CI")
        pytest.skip("otel-tokenomics is not pip-installed here")


def test_cli_in_the_dev_environment(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _installed_here()
    _clean_env(monkeypatch)
    code = main(["doctor", "--json"])
    out, err = capsys.readouterr()
    result = json.loads(out)
    assert (code, result["ok"], result["findings"], err) == (0, True, [], "")
    for sdk in result["sdks"]:
        assert sdk["version"] == importlib.metadata.version(sdk["distribution"])
        assert (sdk["supported"], sdk["launcher_loads"], sdk["this_process"]) == (True, True, None)
    assert [(e["name"], e["cached"], e["status"]) for e in result["tokenizer"]["encodings"]] == [
        ("o200k_base", True, "loaded"),
        ("cl100k_base", True, "loaded"),
    ]
    traces = result["export"]["signals"][0]
    assert (traces["protocol"], traces["component_installed"], traces["endpoint"]) == (
        "http/protobuf",
        True,
        "http://localhost:4318/v1/traces",
    )
    assert result["pricing"]["catalog_version"] == doctor.catalog_header()["version"]

    code = main(["doctor"])
    text = capsys.readouterr().out
    assert code == 0
    assert "  openai        " + importlib.metadata.version("openai") in text
    assert text.endswith("No problems found.\n")


def test_cli_exits_1_and_lists_the_fix(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _clean_env(monkeypatch)
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    code = main(["doctor"])
    text = capsys.readouterr().out
    assert code == 1
    assert (
        "Problems (1)\n"
        "  - OTEL_SDK_DISABLED=true: the SDK providers are no-ops, nothing is recorded or exported\n"
        "    fix: unset OTEL_SDK_DISABLED\n"
    ) in text
    assert text.endswith("1 problem(s) found.\n")


def test_cli_reports_a_bad_price_file_instead_of_failing(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path
) -> None:
    _clean_env(monkeypatch)
    bad = tmp_path / "prices.yaml"
    bad.write_text("x: 1\n")
    code = main(["--prices", str(bad), "doctor", "--json"])
    result = json.loads(capsys.readouterr().out)
    assert code == 1
    assert result["pricing"]["price_file_status"] == "error"
    assert [f["severity"] for f in result["findings"]] == [PROBLEM]


def test_report_in_process_says_what_is_patched(instrument: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import openai  # noqa: F401  (imported: its patch applies at once)

    _clean_env(monkeypatch)
    before = {s.distribution: s.this_process for s in doctor.report().sdks}
    assert before["openai"] == doctor.NOT_INSTRUMENTED
    instrument()
    result = doctor.report()
    states = {s.distribution: s.this_process for s in result.sdks}
    assert states["openai"] == doctor.PATCHED
    # Each of the others is patched when the app imports it, or already is.
    assert set(states.values()) <= {doctor.PATCHED, doctor.WAITING}
    assert result.as_dict()["in_process"] is True
    assert "this process" in str(result)
    assert "no SDK is instrumented in this process" not in messages(result.findings)
    assert result.pricing.this_process is not None and result.pricing.this_process.startswith(
        "configured: catalog"
    )


def test_report_without_providers_or_instrumentation(monkeypatch: pytest.MonkeyPatch) -> None:
    _clean_env(monkeypatch)
    result = doctor.report()
    found = messages(result.findings, PROBLEM)
    assert "no SDK is instrumented in this process" in found
    if result.providers == {
        "tracer_provider": "ProxyTracerProvider",
        "meter_provider": "_ProxyMeterProvider",
    }:
        assert (
            "no global tracer provider is set in this process (ProxyTracerProvider): our spans go nowhere"
            in found
        )
    assert result.exit_code == 1


def _launcher() -> str:
    _installed_here()
    launcher = shutil.which("opentelemetry-instrument", path=str(pathlib.Path(sys.executable).parent))
    if launcher is None:
        pytest.skip("opentelemetry-instrument is not installed here")
    return launcher


def _subprocess_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(OTEL_SERVICE_NAME="doctor-test", OTEL_TRACES_EXPORTER="console", OTEL_METRICS_EXPORTER="none")
    env.update(OTEL_LOGS_EXPORTER="none", **extra)
    return env


def test_under_opentelemetry_instrument_the_launcher_arms_every_sdk() -> None:
    launcher = _launcher()
    done = subprocess.run(
        [launcher, sys.executable, "-m", "otel_tokenomics", "doctor", "--json"],
        capture_output=True,
        text=True,
        env=_subprocess_env(OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="tokenomics_groq"),
        timeout=120,
        cwd=ROOT,
    )
    result = json.loads(done.stdout)
    states = {s["distribution"]: s["this_process"] for s in result["sdks"]}
    # Nothing imported the SDKs: each instrumentor waits for its import; groq's is off.
    assert states == {**dict.fromkeys(states, doctor.WAITING), "groq": doctor.NOT_INSTRUMENTED}
    assert result["providers"]["tracer_provider"] == "TracerProvider"
    assert (done.returncode, [f["message"] for f in result["findings"]]) == (
        0,
        [
            "metrics exporter is none (OTEL_METRICS_EXPORTER): no token or cost metrics (spans still carry "
            "them)"
        ],
    ), done.stderr


def test_console_script_exit_status() -> None:
    script = shutil.which("otel-tokenomics", path=str(pathlib.Path(sys.executable).parent))
    command = [script] if script else [sys.executable, "-m", "otel_tokenomics"]
    done = subprocess.run(
        [*command, "doctor"],
        capture_output=True,
        text=True,
        env=_subprocess_env(OTEL_TRACES_SAMPLER="always_off"),
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 1, done.stderr
    assert "  - OTEL_TRACES_SAMPLER=always_off: no span is recorded (metrics still are)\n" in done.stdout


def test_launcher_leaves_an_sdk_outside_its_range_alone(
    monkeypatch: pytest.MonkeyPatch, telemetry: Any
) -> None:
    from otel_tokenomics import sdk_versions
    from otel_tokenomics.instrumentor import OpenAIInstrumentor

    real = sdk_versions.installed_version
    monkeypatch.setattr(
        sdk_versions, "installed_version", lambda name: "0.28.1" if name == "openai" else real(name)
    )
    instrumentor = OpenAIInstrumentor()
    # What opentelemetry-instrument does after its distribution-level check passed on another SDK.
    instrumentor.instrument(
        skip_dep_check=True,
        tracer_provider=telemetry.tracer_provider,
        meter_provider=telemetry.meter_provider,
    )
    try:
        assert doctor.instrumented_now("tokenomics_openai") == doctor.NOT_INSTRUMENTED
        assert "tokenomics_openai" not in otel_tokenomics.instrumented()
    finally:
        instrumentor.uninstrument()


@pytest.mark.parametrize(
    ("environ", "warned"),
    [
        ({"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "SPAN_ONLY"}, True),
        ({"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "true"}, True),
        (
            {
                "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "SPAN_AND_EVENT",
                "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT": "16384",
            },
            True,  # the content event's log record has no limit
        ),
        (
            {
                "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "SPAN_AND_EVENT",
                "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT": "16384",
            },
            False,
        ),
        ({"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "NO_CONTENT"}, False),
        ({}, False),
    ],
)
def test_captured_content_without_a_length_limit_is_a_warning(environ: dict[str, str], warned: bool) -> None:
    _, findings = doctor.check_options(environ)
    expected = Finding(
        WARNING,
        "message content is captured with no attribute length limit: a long conversation is recorded "
        "whole, and an export batch over the backend's limit (OTLP/gRPC: 4 MB) is lost whole",
        "set OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT (spans and log records), e.g. 16384",
    )
    assert findings == ([expected] if warned else [])
