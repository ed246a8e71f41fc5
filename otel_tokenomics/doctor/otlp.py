"""Check 3, per signal: the OTLP exporter, protocol, endpoint, headers and compression, and their mistakes.

Secrets: of an OTLP header only the name is ever read; header values, user-info
and query strings of endpoints never leave this module.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from otel_tokenomics.doctor.findings import PROBLEM, WARNING, Finding
from otel_tokenomics.doctor.installed import Installed

HONEYCOMB_HOSTS = ("api.honeycomb.io", "api.eu1.honeycomb.io")
OTLP_NAMES = ("otlp", "otlp_proto_grpc", "otlp_proto_http")
PROTOCOLS = {"grpc": "otlp_proto_grpc", "http/protobuf": "otlp_proto_http"}
EXPORTER_DISTRIBUTIONS = {
    "otlp_proto_grpc": "opentelemetry-exporter-otlp-proto-grpc",
    "otlp_proto_http": "opentelemetry-exporter-otlp-proto-http",
    "prometheus": "opentelemetry-exporter-prometheus",
}
COMPRESSIONS = ("gzip", "deflate", "none")


@dataclass(frozen=True)
class SignalExport:
    signal: str
    exporters: list[str]
    exporters_source: str
    # OTLP only (None when the signal has no OTLP exporter)
    protocol: str | None = None
    protocol_source: str | None = None
    component: str | None = None
    component_installed: bool | None = None
    endpoint: str | None = None
    endpoint_source: str | None = None
    header_names: list[str] = field(default_factory=list)
    headers_source: str | None = None
    compression: str | None = None


def header_names(text: str) -> tuple[list[str], int]:
    """The names in an OTLP headers variable, and how many entries lack ``=``.

    Values are dropped here, before anything else can see them.
    """
    from urllib.parse import unquote

    names: list[str] = []
    malformed = 0
    for entry in text.split(","):
        if not entry.strip():
            continue
        name, sep, _ = entry.partition("=")
        if not sep or not name.strip():
            malformed += 1
            continue
        key = unquote(name).strip().lower()
        if key not in names:
            names.append(key)
    return names, malformed


def redact_endpoint(url: str) -> str:
    """An endpoint fit to print: user-info and query values (credentials at times) replaced."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable endpoint>"
    if not parts.scheme or not parts.netloc:
        return url.split("?", 1)[0] + ("?<redacted>" if "?" in url else "")
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "<redacted>@" + netloc.rsplit("@", 1)[1]
    query = "?<redacted>" if parts.query else ""
    return f"{parts.scheme}://{netloc}{parts.path}{query}"


def env_value(environ: Mapping[str, str], name: str) -> str | None:
    """A variable's value, None when unset or blank (the SDK treats both alike)."""
    value = environ.get(name)
    return value if value and value.strip() else None


def signal_export(
    environ: Mapping[str, str], installed: Installed, signal: str, distro: bool, findings: list[Finding]
) -> SignalExport:
    upper = signal.upper()
    exporter_var = f"OTEL_{upper}_EXPORTER"
    raw = env_value(environ, exporter_var)
    if raw is not None:
        source = exporter_var
    elif distro:
        raw, source = "otlp", "opentelemetry-distro default"
    else:
        raw, source = "none", "unset"
    names = [] if raw.strip().lower() == "none" else [n.strip() for n in raw.split(",") if n.strip()]
    group = installed.group(f"opentelemetry_{signal}_exporter")
    for name in names:
        if name not in OTLP_NAMES and name not in group:
            findings.append(
                Finding(
                    PROBLEM,
                    f"{exporter_var} names {name!r}, which no installed package provides: the SDK "
                    "configuration fails and nothing is exported",
                    f"install the package of the {name} exporter, or fix {exporter_var}",
                )
            )
    otlp = next((name for name in names if name in OTLP_NAMES), None)
    if otlp is None:
        return SignalExport(signal, names, source)

    per_signal = f"OTEL_EXPORTER_OTLP_{upper}_PROTOCOL"
    if otlp != "otlp":
        protocol = "grpc" if otlp == "otlp_proto_grpc" else "http/protobuf"
        protocol_source = exporter_var
    elif env_value(environ, per_signal) is not None:
        protocol, protocol_source = environ[per_signal].strip(), per_signal
    elif env_value(environ, "OTEL_EXPORTER_OTLP_PROTOCOL") is not None:
        protocol, protocol_source = (
            environ["OTEL_EXPORTER_OTLP_PROTOCOL"].strip(),
            "OTEL_EXPORTER_OTLP_PROTOCOL",
        )
    elif distro:
        protocol, protocol_source = "grpc", "opentelemetry-distro default"
    else:
        protocol, protocol_source = "grpc", "SDK default"
    component = PROTOCOLS.get(protocol)
    if component is None:
        findings.append(
            Finding(
                PROBLEM,
                f"{protocol_source}={protocol!r}: the Python SDK exports OTLP as grpc or http/protobuf only, "
                f"so configuring {signal} fails and nothing is exported",
                f"set {protocol_source} to http/protobuf (port 4318) or grpc (port 4317)",
            )
        )
        return SignalExport(signal, names, source, protocol, protocol_source)
    component_installed = component in group
    if not component_installed:
        other = "otlp_proto_http" if component == "otlp_proto_grpc" else "otlp_proto_grpc"
        has_other = other in group
        switch = "http/protobuf" if other == "otlp_proto_http" else "grpc"
        why = (
            " (the opentelemetry-distro default)" if protocol_source == "opentelemetry-distro default" else ""
        )
        findings.append(
            Finding(
                PROBLEM,
                f"{signal}: protocol {protocol}{why} needs {EXPORTER_DISTRIBUTIONS[component]}, which is not "
                f"installed: \"Requested component '{component}' not found\", nothing is exported"
                + (f"; only {EXPORTER_DISTRIBUTIONS[other]} is installed" if has_other else ""),
                f"pip install {EXPORTER_DISTRIBUTIONS[component]}"
                + (f", or export OTEL_EXPORTER_OTLP_PROTOCOL={switch}" if has_other else ""),
            )
        )

    http = protocol == "http/protobuf"
    endpoint_var = f"OTEL_EXPORTER_OTLP_{upper}_ENDPOINT"
    generic = env_value(environ, "OTEL_EXPORTER_OTLP_ENDPOINT")
    if env_value(environ, endpoint_var) is not None:
        endpoint, endpoint_source = environ[endpoint_var].strip(), endpoint_var
    elif generic is not None:
        generic = generic.strip()
        endpoint = f"{generic.removesuffix('/')}/v1/{signal}" if http else generic
        endpoint_source = "OTEL_EXPORTER_OTLP_ENDPOINT" + (f" + /v1/{signal}" if http else "")
    else:
        endpoint = f"http://localhost:4318/v1/{signal}" if http else "http://localhost:4317"
        endpoint_source = "default"

    headers_var = f"OTEL_EXPORTER_OTLP_{upper}_HEADERS"
    if env_value(environ, headers_var) is not None:
        headers_source = headers_var
    elif env_value(environ, "OTEL_EXPORTER_OTLP_HEADERS") is not None:
        headers_source = "OTEL_EXPORTER_OTLP_HEADERS"
    else:
        headers_source = None
    names_found, malformed = header_names(environ.get(headers_source, "") if headers_source else "")
    if malformed:
        findings.append(
            Finding(
                WARNING,
                f"{headers_source} has {malformed} entr{'y' if malformed == 1 else 'ies'} without '=': "
                "the exporter drops them",
                "write headers as name=value pairs separated by commas",
            )
        )

    compression_var = f"OTEL_EXPORTER_OTLP_{upper}_COMPRESSION"
    compression = (
        env_value(environ, compression_var) or env_value(environ, "OTEL_EXPORTER_OTLP_COMPRESSION") or "none"
    )
    compression = compression.strip().lower()
    if compression not in COMPRESSIONS:
        findings.append(
            Finding(
                PROBLEM,
                f"{signal}: compression {compression!r} is not one of {', '.join(COMPRESSIONS)}: "
                "the exporter refuses to start",
                "set OTEL_EXPORTER_OTLP_COMPRESSION=gzip (or none)",
            )
        )

    export = SignalExport(
        signal,
        names,
        source,
        protocol,
        protocol_source,
        component,
        component_installed,
        redact_endpoint(endpoint),
        endpoint_source,
        names_found,
        headers_source,
        compression,
    )
    _endpoint_mistakes(environ, export, endpoint, generic, http, findings)
    return export


def _endpoint_mistakes(
    environ: Mapping[str, str],
    export: SignalExport,
    endpoint: str,
    generic: str | None,
    http: bool,
    findings: list[Finding],
) -> None:
    signal = export.signal
    shown = export.endpoint
    try:
        parts = urlsplit(endpoint)
        port = parts.port
    except ValueError:
        findings.append(
            Finding(
                PROBLEM, f"{signal}: endpoint {shown} cannot be parsed", "set a URL such as http://host:4318"
            )
        )
        return
    has_scheme = parts.scheme in ("http", "https") and bool(parts.netloc)
    if http and not has_scheme:
        findings.append(
            Finding(
                PROBLEM,
                f"{signal}: HTTP endpoint {shown} ({export.endpoint_source}) has no http:// or https:// "
                "scheme: the exporter cannot send to it",
                "write the endpoint with its scheme, e.g. http://localhost:4318",
            )
        )
    if not http and not has_scheme and "OTEL_EXPORTER_OTLP_INSECURE" not in environ:
        findings.append(
            Finding(
                WARNING,
                f"{signal}: gRPC endpoint {shown} has no scheme, so the exporter uses TLS: a plain-text "
                "collector (the usual localhost:4317) refuses the connection",
                "write http://host:4317 for plain text, https:// for TLS "
                "(or set OTEL_EXPORTER_OTLP_INSECURE)",
            )
        )
    if has_scheme and http and port == 4317:
        findings.append(
            Finding(
                PROBLEM,
                f"{signal}: protocol http/protobuf sends to {shown}, but 4317 is the OTLP gRPC port",
                "use port 4318 for http/protobuf, or set OTEL_EXPORTER_OTLP_PROTOCOL=grpc",
            )
        )
    if has_scheme and not http and port == 4318:
        findings.append(
            Finding(
                PROBLEM,
                f"{signal}: protocol grpc sends to {shown}, but 4318 is the OTLP HTTP port",
                "use port 4317 for grpc, or set OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
            )
        )
    if (
        http
        and generic is not None
        and export.endpoint_source != f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT"
    ):
        path = urlsplit(generic).path.rstrip("/") if "://" in generic else ""
        if re.search(r"/v1/(traces|metrics|logs)$", path):
            findings.append(
                Finding(
                    PROBLEM,
                    f"{signal}: OTEL_EXPORTER_OTLP_ENDPOINT already ends in "
                    f"{path[path.rindex('/v1/') :]}, and the HTTP exporter appends /v1/{signal}: "
                    f"it sends to {shown}",
                    "set OTEL_EXPORTER_OTLP_ENDPOINT to the base URL (without /v1/...), or use "
                    f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT for a full URL",
                )
            )
    if http and has_scheme and export.endpoint_source == f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT":
        path = parts.path.rstrip("/")
        if not path.endswith(f"/v1/{signal}"):
            findings.append(
                Finding(
                    PROBLEM if not path else WARNING,
                    f"{signal}: OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT is used verbatim and has no "
                    f"/v1/{signal} path ({shown})",
                    f"append /v1/{signal}, or set OTEL_EXPORTER_OTLP_ENDPOINT to the base URL instead",
                )
            )
    host = (parts.hostname or "") if has_scheme else endpoint.split(":", 1)[0]
    if host in HONEYCOMB_HOSTS:
        _honeycomb_mistakes(environ, export, findings)


def _honeycomb_mistakes(environ: Mapping[str, str], export: SignalExport, findings: list[Finding]) -> None:
    signal = export.signal
    names = set(export.header_names)
    upper = signal.upper()
    generic_names = set(header_names(environ.get("OTEL_EXPORTER_OTLP_HEADERS", ""))[0])
    replaced = export.headers_source == f"OTEL_EXPORTER_OTLP_{upper}_HEADERS"
    if "x-honeycomb-team" not in names:
        hint = (
            f" (it is in OTEL_EXPORTER_OTLP_HEADERS, but OTEL_EXPORTER_OTLP_{upper}_HEADERS replaces "
            "those, it does not add to them)"
            if replaced and "x-honeycomb-team" in generic_names
            else ""
        )
        findings.append(
            Finding(
                PROBLEM,
                f"{signal} go to Honeycomb without an x-honeycomb-team header{hint}: Honeycomb rejects them",
                "add x-honeycomb-team=<ingest key> to "
                + (export.headers_source or "OTEL_EXPORTER_OTLP_HEADERS"),
            )
        )
    if signal == "metrics" and "x-honeycomb-dataset" not in names:
        findings.append(
            Finding(
                PROBLEM,
                "metrics go to Honeycomb without an x-honeycomb-dataset header: they land in "
                "'unknown_metrics' or are dropped",
                "OTEL_EXPORTER_OTLP_METRICS_HEADERS="
                "x-honeycomb-team=<ingest key>,x-honeycomb-dataset=<dataset> "
                "(the per-signal variable replaces OTEL_EXPORTER_OTLP_HEADERS, so repeat the key)",
            )
        )
