"""Check 3: what opentelemetry-instrument would set up: distro, configurator, sampler, service, signals."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from otel_tokenomics.doctor.findings import PROBLEM, WARNING, Finding
from otel_tokenomics.doctor.installed import Installed
from otel_tokenomics.doctor.otlp import SignalExport, env_value, signal_export

SIGNALS = ("traces", "metrics", "logs")


SAMPLERS = (
    "always_on",
    "always_off",
    "traceidratio",
    "parentbased_always_on",
    "parentbased_always_off",
    "parentbased_traceidratio",
)


@dataclass(frozen=True)
class ExportConfig:
    distro: str | None
    configurator: str | None
    sdk_disabled: bool
    sampler: str
    sampler_source: str
    sampler_ratio: float | None
    service_name: str
    service_name_source: str
    signals: list[SignalExport]


def check_export(environ: Mapping[str, str], installed: Installed) -> tuple[ExportConfig, list[Finding]]:
    findings: list[Finding] = []
    distros = installed.group("opentelemetry_distro")
    configurators = installed.group("opentelemetry_configurator")
    wanted_distro = env_value(environ, "OTEL_PYTHON_DISTRO")
    distro_name = wanted_distro if wanted_distro in distros else next(iter(distros), None)
    if wanted_distro and wanted_distro not in distros:
        distro_name = None
        findings.append(
            Finding(
                PROBLEM,
                f"OTEL_PYTHON_DISTRO={wanted_distro!r} names no installed distro",
                "unset OTEL_PYTHON_DISTRO or install that distro",
            )
        )
    # Only opentelemetry-distro's own distro sets the grpc / otlp defaults we know.
    our_distro = distro_name is not None and distros.get(distro_name) == "opentelemetry-distro"
    distro = f"{distros[distro_name]} ({distro_name})" if distro_name else None
    wanted_configurator = env_value(environ, "OTEL_PYTHON_CONFIGURATOR")
    configurator = None
    if wanted_configurator:
        if wanted_configurator in configurators:
            configurator = wanted_configurator
        else:
            findings.append(
                Finding(
                    PROBLEM,
                    f"OTEL_PYTHON_CONFIGURATOR={wanted_configurator!r} names no installed configurator: "
                    "opentelemetry-instrument sets up no SDK",
                    "unset OTEL_PYTHON_CONFIGURATOR or install that configurator",
                )
            )
    else:
        configurator = next(iter(configurators), None)
    if configurator is None and not wanted_configurator:
        relied = any(key.startswith(("OTEL_EXPORTER_OTLP_", "OTEL_TRACES_EXPORTER")) for key in environ)
        findings.append(
            Finding(
                PROBLEM if relied else WARNING,
                "no OpenTelemetry configurator is installed: opentelemetry-instrument patches the SDKs but "
                "sets up no tracer or meter provider, so the OTEL_* exporter settings are ignored",
                "pip install opentelemetry-distro (and an exporter), or set up providers in your code",
            )
        )

    sdk_disabled = environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"
    if sdk_disabled:
        findings.append(
            Finding(
                PROBLEM,
                "OTEL_SDK_DISABLED=true: the SDK providers are no-ops, nothing is recorded or exported",
                "unset OTEL_SDK_DISABLED",
            )
        )

    sampler, sampler_source, ratio = _sampler(environ, findings)
    service_name, service_source = _service_name(environ)
    if service_source == "default":
        findings.append(
            Finding(
                WARNING,
                "no service name: telemetry arrives as unknown_service "
                "(Honeycomb names its dataset after it)",
                "set OTEL_SERVICE_NAME",
            )
        )

    signals = [signal_export(environ, installed, signal, our_distro, findings) for signal in SIGNALS]
    by_name = {s.signal: s for s in signals}
    if not by_name["traces"].exporters and configurator is not None:
        findings.append(
            Finding(
                PROBLEM,
                f"traces exporter is none ({by_name['traces'].exporters_source}): no span leaves the process",
                "set OTEL_TRACES_EXPORTER=otlp",
            )
        )
    if not by_name["metrics"].exporters and configurator is not None:
        findings.append(
            Finding(
                WARNING,
                f"metrics exporter is none ({by_name['metrics'].exporters_source}): no token or cost metrics "
                "(spans still carry them)",
                "set OTEL_METRICS_EXPORTER=otlp (or prometheus)",
            )
        )
    config = ExportConfig(
        distro,
        configurator,
        sdk_disabled,
        sampler,
        sampler_source,
        ratio,
        service_name,
        service_source,
        signals,
    )
    return config, findings


def _sampler(environ: Mapping[str, str], findings: list[Finding]) -> tuple[str, str, float | None]:
    name = (env_value(environ, "OTEL_TRACES_SAMPLER") or "").strip()
    if not name:
        return "parentbased_always_on", "default", None
    source = "OTEL_TRACES_SAMPLER"
    if name not in SAMPLERS:
        findings.append(
            Finding(
                WARNING,
                f"OTEL_TRACES_SAMPLER={name!r} is not a sampler the Python SDK ships; unless a package adds "
                "it, the default (parentbased_always_on) is used",
                f"use one of {', '.join(SAMPLERS)}",
            )
        )
        return name, source, None
    if name.endswith("always_off"):
        findings.append(
            Finding(
                PROBLEM,
                f"OTEL_TRACES_SAMPLER={name}: no span is recorded (metrics still are)",
                "unset OTEL_TRACES_SAMPLER, or use parentbased_traceidratio with OTEL_TRACES_SAMPLER_ARG",
            )
        )
        return name, source, 0.0
    if not name.endswith("traceidratio"):
        return name, source, None
    try:
        ratio = float(environ.get("OTEL_TRACES_SAMPLER_ARG", ""))
    except ValueError:
        ratio = 1.0  # what the SDK falls back to
    if ratio <= 0:
        findings.append(
            Finding(
                PROBLEM,
                f"OTEL_TRACES_SAMPLER={name} with OTEL_TRACES_SAMPLER_ARG={ratio:g}: no span is recorded",
                "set OTEL_TRACES_SAMPLER_ARG to the share of traces to keep, e.g. 0.1",
            )
        )
    return name, source, ratio


def _service_name(environ: Mapping[str, str]) -> tuple[str, str]:
    name = env_value(environ, "OTEL_SERVICE_NAME")
    if name is not None:
        return name.strip(), "OTEL_SERVICE_NAME"
    for item in environ.get("OTEL_RESOURCE_ATTRIBUTES", "").split(","):
        key, sep, value = item.partition("=")
        if sep and key.strip() == "service.name" and value.strip():
            from urllib.parse import unquote

            return unquote(value.strip()), "OTEL_RESOURCE_ATTRIBUTES"
    return "unknown_service", "default"
