"""``otel-tokenomics doctor``: why no LLM spans, metrics or costs show up.

Every check is a plain function over an environment mapping and an
:class:`Installed` snapshot (distribution versions and entry points read from
package metadata), so tests feed made-up environments and nothing here imports
an LLM SDK. :func:`diagnose` runs them all; :func:`report` is the same from
inside a running app, where it also says which SDKs are patched right now.

Secrets: of an OTLP header only the name is ever read into a report; header
values, user-info and query strings of endpoints never reach any output.
"""

from __future__ import annotations

import argparse
import difflib
import hashlib
import json
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timezone
from typing import Any, TextIO
from urllib.parse import urlsplit

from otel_tokenomics.version import __version__

PROBLEM = "problem"
WARNING = "warning"
EXIT_OK = 0
EXIT_PROBLEM = 1

OURS = "otel-tokenomics"
SIGNALS = ("traces", "metrics", "logs")
CATALOG_MAX_AGE_DAYS = 90
TOKENIZER_TIMEOUT = 10.0

# Our entry point -> the distribution it instruments (its range is read from our
# `instruments-any` metadata, as opentelemetry-instrument reads it).
SDK_DISTRIBUTIONS: dict[str, str] = {
    "tokenomics_openai": "openai",
    "tokenomics_anthropic": "anthropic",
    "tokenomics_google_genai": "google-genai",
    "tokenomics_bedrock": "botocore",
    "tokenomics_cohere": "cohere",
    "tokenomics_mistral": "mistralai",
    "tokenomics_groq": "groq",
    "tokenomics_ollama": "ollama",
    "tokenomics_litellm": "litellm",
}

# Other instrumentations that trace the same calls (double spans, cost counted twice).
# distribution -> (our entry point, what the project is called)
OTHER_INSTRUMENTATIONS: dict[str, tuple[str, str]] = {
    "opentelemetry-instrumentation-openai-v2": ("tokenomics_openai", "OpenTelemetry contrib"),
    "opentelemetry-instrumentation-genai-openai": ("tokenomics_openai", "OpenTelemetry GenAI"),
    "opentelemetry-instrumentation-openai": ("tokenomics_openai", "OpenLLMetry"),
    "openinference-instrumentation-openai": ("tokenomics_openai", "OpenInference"),
    "opentelemetry-instrumentation-genai-anthropic": ("tokenomics_anthropic", "OpenTelemetry GenAI"),
    "opentelemetry-instrumentation-anthropic": ("tokenomics_anthropic", "OpenLLMetry"),
    "openinference-instrumentation-anthropic": ("tokenomics_anthropic", "OpenInference"),
    "opentelemetry-instrumentation-google-genai": ("tokenomics_google_genai", "OpenTelemetry GenAI"),
    "openinference-instrumentation-google-genai": ("tokenomics_google_genai", "OpenInference"),
    "opentelemetry-instrumentation-genai-bedrock": ("tokenomics_bedrock", "OpenTelemetry GenAI"),
    "opentelemetry-instrumentation-bedrock": ("tokenomics_bedrock", "OpenLLMetry"),
    "openinference-instrumentation-bedrock": ("tokenomics_bedrock", "OpenInference"),
    "opentelemetry-instrumentation-botocore": (
        "tokenomics_bedrock",
        "OpenTelemetry contrib (Bedrock extension)",
    ),
    "opentelemetry-instrumentation-cohere": ("tokenomics_cohere", "OpenLLMetry"),
    "opentelemetry-instrumentation-mistralai": ("tokenomics_mistral", "OpenLLMetry"),
    "openinference-instrumentation-mistralai": ("tokenomics_mistral", "OpenInference"),
    "opentelemetry-instrumentation-groq": ("tokenomics_groq", "OpenLLMetry"),
    "openinference-instrumentation-groq": ("tokenomics_groq", "OpenInference"),
    "opentelemetry-instrumentation-ollama": ("tokenomics_ollama", "OpenLLMetry"),
    "openinference-instrumentation-litellm": ("tokenomics_litellm", "OpenInference"),
}
# Instrument every SDK from one init() call, with no entry point to disable.
ALL_IN_ONE = {"openlit": "OpenLIT", "traceloop-sdk": "OpenLLMetry (Traceloop SDK)"}

# tiktoken caches a download under the SHA-1 of its URL.
ENCODING_URLS = {
    "o200k_base": "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
    "cl100k_base": "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
}

HONEYCOMB_HOSTS = ("api.honeycomb.io", "api.eu1.honeycomb.io")
OTLP_NAMES = ("otlp", "otlp_proto_grpc", "otlp_proto_http")
PROTOCOLS = {"grpc": "otlp_proto_grpc", "http/protobuf": "otlp_proto_http"}
EXPORTER_DISTRIBUTIONS = {
    "otlp_proto_grpc": "opentelemetry-exporter-otlp-proto-grpc",
    "otlp_proto_http": "opentelemetry-exporter-otlp-proto-http",
    "prometheus": "opentelemetry-exporter-prometheus",
}
COMPRESSIONS = ("gzip", "deflate", "none")
SAMPLERS = (
    "always_on",
    "always_off",
    "traceidratio",
    "parentbased_always_on",
    "parentbased_always_off",
    "parentbased_traceidratio",
)

# Our own variables and the values config.py takes without a warning.
KNOWN_OPTIONS = (
    "OTEL_TOKENOMICS_PROVIDER_MAP",
    "OTEL_TOKENOMICS_METRIC_NAMES",
    "OTEL_TOKENOMICS_ESTIMATE_USAGE",
    "OTEL_TOKENOMICS_STREAM_USAGE",
    "OTEL_TOKENOMICS_BAGGAGE_KEYS",
    "OTEL_TOKENOMICS_METRIC_BAGGAGE",
    "OTEL_TOKENOMICS_ROLLUP",
    "OTEL_TOKENOMICS_TOKENIZER",
    "OTEL_TOKENOMICS_PRICES",
    "OTEL_TOKENOMICS_PRICING_FALLBACK",
)


@dataclass(frozen=True)
class Finding:
    """One thing wrong (``problem``: exit 1) or worth a look (``warning``), and how to fix it."""

    severity: str
    message: str
    fix: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def canonical(name: str) -> str:
    """A distribution name as pip compares them (``Google_GenAI`` is ``google-genai``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


# -- what is installed ----------------------------------------------------------------------


@dataclass(frozen=True)
class Installed:
    """Distribution versions, entry points and requirements, as package metadata lists them."""

    versions: Mapping[str, str] = field(default_factory=dict)
    # group -> entry point name -> distribution
    entry_points: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    # distribution -> its Requires-Dist lines (only those with instrumentor entry points)
    requires: Mapping[str, Sequence[str]] = field(default_factory=dict)

    @classmethod
    def from_metadata(cls) -> Installed:
        """This environment's snapshot: metadata files only, no package is imported."""
        from importlib.metadata import distributions

        versions: dict[str, str] = {}
        groups: dict[str, dict[str, str]] = {}
        requires: dict[str, list[str]] = {}
        for dist in distributions():
            name = dist.metadata["Name"]
            if not name:
                continue
            key = canonical(name)
            if key in versions:  # the first on sys.path wins, as for imports
                continue
            versions[key] = dist.version
            for entry_point in dist.entry_points:
                if entry_point.group.startswith("opentelemetry_"):
                    groups.setdefault(entry_point.group, {}).setdefault(entry_point.name, key)
                    if entry_point.group == "opentelemetry_instrumentor":
                        requires[key] = list(dist.requires or ())
        return cls(versions, groups, requires)

    def version(self, name: str) -> str | None:
        return self.versions.get(canonical(name))

    def group(self, name: str) -> Mapping[str, str]:
        return self.entry_points.get(name, {})


def _in_range(version: str, specifier: str) -> bool | None:
    """Whether ``version`` satisfies ``specifier``; None when either cannot be parsed."""
    from packaging.specifiers import InvalidSpecifier, SpecifierSet
    from packaging.version import InvalidVersion, Version

    try:
        return SpecifierSet(specifier).contains(Version(version), prereleases=True)
    except (InvalidSpecifier, InvalidVersion):
        return None


def instruments_any(installed: Installed) -> dict[str, str]:
    """Our ``instruments-any`` requirements: distribution -> specifier (empty if we are not installed)."""
    from packaging.requirements import InvalidRequirement, Requirement

    found: dict[str, str] = {}
    for line in installed.requires.get(OURS, ()):
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            continue
        if requirement.marker is not None and requirement.marker.evaluate({"extra": "instruments-any"}):
            found[canonical(requirement.name)] = str(requirement.specifier)
    return found


# -- 1. SDKs ---------------------------------------------------------------------------------

NOT_INSTRUMENTED = "not instrumented"
WAITING = "waiting for import"
PATCHED = "patched"


@dataclass(frozen=True)
class SdkStatus:
    entry_point: str
    distribution: str
    requirement: str | None
    version: str | None
    supported: bool | None
    entry_point_installed: bool
    disabled: bool
    launcher_loads: bool
    launcher_reason: str
    # None outside an instrumented process (the CLI); else patched / waiting for import / not instrumented
    this_process: str | None


@dataclass(frozen=True)
class OtherInstrumentation:
    distribution: str
    version: str
    project: str
    sdk_entry_point: str
    their_entry_points: tuple[str, ...]
    disabled: bool


def disabled_instrumentations(environ: Mapping[str, str]) -> set[str]:
    """``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS`` as opentelemetry-instrument splits it."""
    return {part.strip() for part in environ.get("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", "").split(",")} - {
        ""
    }


def instrumented_now(entry_point: str) -> str:
    """Whether our instrumentor for ``entry_point`` is active in this process; imports nothing."""
    from otel_tokenomics.providers import INSTRUMENTORS

    _, target = INSTRUMENTORS[entry_point]
    module_name, _, class_name = target.partition(":")
    module = sys.modules.get(module_name)
    if module is None:  # never imported, so never instrumented
        return NOT_INSTRUMENTED
    # BaseInstrumentor is a singleton: this is the instance instrument() used.
    instrumentor = getattr(module, class_name)()
    patcher = getattr(instrumentor, "_patcher", None)
    if not instrumentor.is_instrumented_by_opentelemetry or patcher is None:
        return NOT_INSTRUMENTED
    from otel_tokenomics.instrumentor import _deferred

    pending = _deferred.get(id(patcher))
    if pending is not None and pending.patcher is not None:
        return WAITING
    return PATCHED


def check_sdks(
    environ: Mapping[str, str],
    installed: Installed,
    this_process: Callable[[str], str] | None = None,
) -> tuple[list[SdkStatus], list[OtherInstrumentation], list[Finding]]:
    findings: list[Finding] = []
    disabled = disabled_instrumentations(environ)
    ours = installed.group("opentelemetry_instrumentor")
    ranges = instruments_any(installed)
    any_in_range = any(
        (found := installed.version(dist)) is not None and _in_range(found, spec)
        for dist, spec in ranges.items()
    )
    if OURS not in installed.versions:
        findings.append(
            Finding(
                PROBLEM,
                "otel-tokenomics is not installed as a distribution: opentelemetry-instrument cannot "
                "find its entry points",
                "pip install otel-tokenomics (or pip install -e . in a checkout)",
            )
        )
    statuses: list[SdkStatus] = []
    for entry_point, dist in SDK_DISTRIBUTIONS.items():
        version = installed.version(dist)
        requirement = ranges.get(dist)
        supported = _in_range(version, requirement) if version is not None and requirement else None
        present = ours.get(entry_point) == OURS
        is_disabled = "*" in disabled or entry_point in disabled
        reason = ""
        if not present:
            reason = "entry point not installed"
        elif "*" in disabled:
            reason = "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=*"
        elif entry_point in disabled:
            reason = f"disabled by OTEL_PYTHON_DISABLED_INSTRUMENTATIONS ({entry_point})"
        elif not any_in_range:
            reason = "no supported SDK installed: every tokenomics_* entry point is skipped"
        elif version is None:
            reason = f"{dist} not installed"
        elif supported is False:
            reason = f"{dist} {version} outside {requirement}"
        statuses.append(
            SdkStatus(
                entry_point=entry_point,
                distribution=dist,
                requirement=requirement,
                version=version,
                supported=supported,
                entry_point_installed=present,
                disabled=is_disabled,
                launcher_loads=not reason,
                launcher_reason=reason or "loads",
                this_process=this_process(entry_point) if this_process is not None else None,
            )
        )
        if version is not None and supported is False:
            findings.append(
                Finding(
                    PROBLEM,
                    f"{dist} {version} is outside the supported range {requirement}: its calls are not "
                    "traced (instrument() and opentelemetry-instrument both leave it alone)",
                    f"pip install '{dist}{requirement}', "
                    f"or OTEL_PYTHON_DISABLED_INSTRUMENTATIONS={entry_point}",
                )
            )
    if OURS in installed.versions:
        for status in statuses:
            if not status.entry_point_installed:
                findings.append(
                    Finding(
                        PROBLEM,
                        f"entry point {status.entry_point} is missing from the installed otel-tokenomics "
                        "metadata (an install older than the code?)",
                        "reinstall otel-tokenomics (pip install -e . in a checkout)",
                    )
                )
    if not any(s.version is not None for s in statuses):
        findings.append(
            Finding(
                PROBLEM,
                "none of the SDKs we instrument is installed: nothing can be traced",
                "install the SDK your app calls (openai, anthropic, google-genai, boto3, cohere, mistralai, "
                "groq, ollama, litellm), or record calls with otel_tokenomics.inference()",
            )
        )
    elif ranges and not any_in_range:
        findings.append(
            Finding(
                PROBLEM,
                "no installed SDK is in a supported range: opentelemetry-instrument skips every "
                "tokenomics_* entry point",
                "upgrade the SDK your app calls",
            )
        )
    if "*" in disabled:
        findings.append(
            Finding(
                PROBLEM,
                "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=* disables every instrumentation under "
                "opentelemetry-instrument, ours included",
                "list only the instrumentations you want off",
            )
        )
    others, more = _other_instrumentations(installed, disabled, statuses)
    return statuses, others, findings + more


def _other_instrumentations(
    installed: Installed, disabled: set[str], statuses: Sequence[SdkStatus]
) -> tuple[list[OtherInstrumentation], list[Finding]]:
    by_entry_point = {status.entry_point: status for status in statuses}
    theirs: dict[str, list[str]] = {}
    for name, dist in installed.group("opentelemetry_instrumentor").items():
        if dist != OURS:
            theirs.setdefault(dist, []).append(name)
    sdk_names = {canonical(dist): ep for ep, dist in SDK_DISTRIBUTIONS.items()}
    others: list[OtherInstrumentation] = []
    findings: list[Finding] = []
    candidates = dict(OTHER_INSTRUMENTATIONS)
    # An instrumentation we do not know by name, whose entry point is named after an SDK.
    for dist, names in theirs.items():
        for name in names:
            ep = sdk_names.get(canonical(name))
            if ep is not None and dist not in candidates:
                candidates[dist] = (ep, dist)
    for dist, (ep, project) in sorted(candidates.items()):
        version = installed.version(dist)
        status = by_entry_point.get(ep)
        if version is None or status is None or status.version is None:
            continue
        names = tuple(sorted(theirs.get(dist, ())))
        is_disabled = bool(names) and ("*" in disabled or all(name in disabled for name in names))
        others.append(OtherInstrumentation(dist, version, project, ep, names, is_disabled))
        if is_disabled or status.disabled:
            continue
        sdk = status.distribution
        off = ",".join(names) if names else None
        fix = (
            f"keep one: OTEL_PYTHON_DISABLED_INSTRUMENTATIONS={off} turns {dist} off under "
            f"opentelemetry-instrument (every instrumentation with that entry point name), or "
            f"OTEL_PYTHON_DISABLED_INSTRUMENTATIONS={ep} turns ours off; or pip uninstall {dist}"
            if off
            else f"keep one: pip uninstall {dist}, or do not call its instrumentor for {sdk}"
        )
        findings.append(
            Finding(
                PROBLEM,
                f"{dist} {version} ({project}) also traces {sdk}: two spans per call, and a backend summing "
                "tokens or cost over spans counts every call twice",
                fix,
            )
        )
    for dist, project in ALL_IN_ONE.items():
        version = installed.version(dist)
        if version is not None:
            findings.append(
                Finding(
                    WARNING,
                    f"{dist} {version} ({project}) is installed: if your app calls its init(), "
                    "every LLM call gets a second span and its cost is counted twice",
                    f"use one of them: do not call {dist}'s init() alongside otel-tokenomics",
                )
            )
    return others, findings


# -- 2. tiktoken -----------------------------------------------------------------------------


@dataclass(frozen=True)
class EncodingStatus:
    name: str
    cached: bool | None
    status: str  # loaded / failed / timed out / not loaded / off / not installed


@dataclass(frozen=True)
class TokenizerStatus:
    tiktoken_version: str | None
    mode: str
    mode_valid: bool
    cache_dir: str | None  # None: caching switched off (TIKTOKEN_CACHE_DIR="")
    cache_source: str
    encodings: list[EncodingStatus]


Loader = Callable[[Sequence[str], float], Mapping[str, str]]


def tiktoken_cache(environ: Mapping[str, str]) -> tuple[str | None, str]:
    """tiktoken's cache folder and the variable that chose it (None: the cache is off)."""
    for name in ("TIKTOKEN_CACHE_DIR", "DATA_GYM_CACHE_DIR"):
        if name in environ:
            return (environ[name] or None), name
    return os.path.join(tempfile.gettempdir(), "data-gym-cache"), "default"


def encoding_cache_file(cache_dir: str, encoding: str) -> str:
    return os.path.join(cache_dir, hashlib.sha1(ENCODING_URLS[encoding].encode()).hexdigest())


def load_encodings(encodings: Sequence[str], timeout: float) -> dict[str, str]:
    """Load through the same background loader the instrumentation uses, waiting at most ``timeout`` s.

    A download without network cannot hang doctor: the load runs in the loader's
    daemon thread and an unfinished one is reported as ``timed out``.
    """
    from otel_tokenomics.estimation import tokenizers

    deadline = time.monotonic() + timeout
    for encoding in encodings:
        tokenizers.counter(encoding, max(0.0, deadline - time.monotonic()))
    return current_encodings()


def current_encodings() -> dict[str, str]:
    """What this process has loaded, without starting a load."""
    from otel_tokenomics.estimation import tokenizers

    names = {"loaded": "loaded", "failed": "failed", "loading": "timed out", "not loaded": "not loaded"}
    return {name: names.get(state, state) for name, state in tokenizers.status().items()}


def check_tiktoken(
    environ: Mapping[str, str],
    installed: Installed,
    load: Loader | None = None,
    timeout: float = TOKENIZER_TIMEOUT,
    exists: Callable[[str], bool] = os.path.isfile,
) -> tuple[TokenizerStatus, list[Finding]]:
    """tiktoken's state; ``load`` (None: report only) loads the encodings within ``timeout``."""
    from otel_tokenomics.estimation.tokenizers import ENCODINGS, ENV_TOKENIZER, MODE_LAZY, MODE_OFF, MODES

    findings: list[Finding] = []
    version = installed.version("tiktoken")
    raw_mode = environ.get(ENV_TOKENIZER, "").strip().lower()
    mode = raw_mode if raw_mode in MODES else MODE_LAZY
    mode_valid = not raw_mode or raw_mode in MODES
    cache_dir, source = tiktoken_cache(environ)
    heuristic = "token estimates are heuristic counts (tokenomics.usage.source=heuristic)"
    if not mode_valid:
        findings.append(
            Finding(
                PROBLEM,
                f"{ENV_TOKENIZER}={environ.get(ENV_TOKENIZER)!r} is not one of {', '.join(MODES)}; "
                "lazy is used",
                f"set {ENV_TOKENIZER} to lazy, preload or off",
            )
        )
    statuses: dict[str, str] = {}
    if mode == MODE_OFF:
        statuses = dict.fromkeys(ENCODINGS, "off")
    elif version is None:
        statuses = dict.fromkeys(ENCODINGS, "not installed")
        findings.append(
            Finding(
                WARNING,
                f"tiktoken is not installed: {heuristic}",
                "pip install tiktoken",
            )
        )
    elif load is not None:
        statuses = dict(load(ENCODINGS, timeout))
    encodings = []
    for name in ENCODINGS:
        cached = exists(encoding_cache_file(cache_dir, name)) if cache_dir is not None else None
        state = statuses.get(name, "not loaded")
        encodings.append(EncodingStatus(name, cached, state))
        if state in ("failed", "timed out"):
            where = (
                f"it is not in the cache ({cache_dir}) and " if cache_dir is not None and not cached else ""
            )
            findings.append(
                Finding(
                    WARNING,
                    f"tiktoken encoding {name} "
                    f"{'did not load' if state == 'failed' else 'did not load in time'}: {where}"
                    f"tiktoken downloads it on first use; until it loads, {heuristic}",
                    "give the app network access to openaipublic.blob.core.windows.net once, or copy the "
                    "cache files and point TIKTOKEN_CACHE_DIR at them",
                )
            )
    return TokenizerStatus(version, mode, mode_valid, cache_dir, source, encodings), findings


# -- 3. exporters ----------------------------------------------------------------------------


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


def _env(environ: Mapping[str, str], name: str) -> str | None:
    """A variable's value, None when unset or blank (the SDK treats both alike)."""
    value = environ.get(name)
    return value if value and value.strip() else None


def _signal_export(
    environ: Mapping[str, str], installed: Installed, signal: str, distro: bool, findings: list[Finding]
) -> SignalExport:
    upper = signal.upper()
    exporter_var = f"OTEL_{upper}_EXPORTER"
    raw = _env(environ, exporter_var)
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
    elif _env(environ, per_signal) is not None:
        protocol, protocol_source = environ[per_signal].strip(), per_signal
    elif _env(environ, "OTEL_EXPORTER_OTLP_PROTOCOL") is not None:
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
    generic = _env(environ, "OTEL_EXPORTER_OTLP_ENDPOINT")
    if _env(environ, endpoint_var) is not None:
        endpoint, endpoint_source = environ[endpoint_var].strip(), endpoint_var
    elif generic is not None:
        generic = generic.strip()
        endpoint = f"{generic.removesuffix('/')}/v1/{signal}" if http else generic
        endpoint_source = "OTEL_EXPORTER_OTLP_ENDPOINT" + (f" + /v1/{signal}" if http else "")
    else:
        endpoint = f"http://localhost:4318/v1/{signal}" if http else "http://localhost:4317"
        endpoint_source = "default"

    headers_var = f"OTEL_EXPORTER_OTLP_{upper}_HEADERS"
    if _env(environ, headers_var) is not None:
        headers_source = headers_var
    elif _env(environ, "OTEL_EXPORTER_OTLP_HEADERS") is not None:
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
    compression = _env(environ, compression_var) or _env(environ, "OTEL_EXPORTER_OTLP_COMPRESSION") or "none"
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


def check_export(environ: Mapping[str, str], installed: Installed) -> tuple[ExportConfig, list[Finding]]:
    findings: list[Finding] = []
    distros = installed.group("opentelemetry_distro")
    configurators = installed.group("opentelemetry_configurator")
    wanted_distro = _env(environ, "OTEL_PYTHON_DISTRO")
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
    wanted_configurator = _env(environ, "OTEL_PYTHON_CONFIGURATOR")
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

    signals = [_signal_export(environ, installed, signal, our_distro, findings) for signal in SIGNALS]
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
    name = (_env(environ, "OTEL_TRACES_SAMPLER") or "").strip()
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
    name = _env(environ, "OTEL_SERVICE_NAME")
    if name is not None:
        return name.strip(), "OTEL_SERVICE_NAME"
    for item in environ.get("OTEL_RESOURCE_ATTRIBUTES", "").split(","):
        key, sep, value = item.partition("=")
        if sep and key.strip() == "service.name" and value.strip():
            from urllib.parse import unquote

            return unquote(value.strip()), "OTEL_RESOURCE_ATTRIBUTES"
    return "unknown_service", "default"


# -- our own options -------------------------------------------------------------------------


def check_options(environ: Mapping[str, str]) -> tuple[dict[str, str], list[Finding]]:
    """Our variables that are set, and the values config.py would warn about (and ignore)."""
    from otel_tokenomics import config
    from otel_tokenomics.attribution import parse_metric_caps

    findings: list[Finding] = []
    found = {name: value for name, value in environ.items() if name.startswith("OTEL_TOKENOMICS_")}
    capture = environ.get(config.ENV_CAPTURE_CONTENT)
    if capture is not None:
        found[config.ENV_CAPTURE_CONTENT] = capture

    def bad(name: str, allowed: Iterable[str], effect: str) -> None:
        findings.append(
            Finding(
                PROBLEM,
                f"{name}={environ[name]!r} is not valid; {effect}",
                f"set {name} to one of: {', '.join(allowed)}",
            )
        )

    booleans = sorted(config._BOOLEAN_WORDS)
    if capture is not None:
        text = capture.strip()
        if text.upper() not in config._CAPTURE_MODES and text.lower() not in config._LEGACY_CAPTURE:
            bad(config.ENV_CAPTURE_CONTENT, sorted(config._CAPTURE_MODES), "content capture stays off")
    checks: list[tuple[str, Iterable[str], str]] = [
        (config.ENV_METRIC_NAMES, sorted(config._METRIC_NAMINGS), "legacy metric names are used"),
        (config.ENV_ESTIMATE_USAGE, booleans, "estimates stay on"),
        (config.ENV_ROLLUP, booleans, "roll-ups stay on"),
        (config.ENV_STREAM_USAGE, [*sorted(config._STREAM_USAGE), *booleans], "auto is used"),
    ]
    for name, allowed, effect in checks:
        value = environ.get(name)
        if value is None or not value.strip():
            continue
        if value.strip().lower() not in set(allowed):
            bad(name, allowed, effect)
    provider_map = environ.get(config.ENV_PROVIDER_MAP, "")
    for pair in provider_map.split(","):
        pair = pair.strip()
        host, sep, provider = pair.partition("=")
        if pair and (not sep or not host.strip() or not provider.strip()):
            findings.append(
                Finding(
                    PROBLEM,
                    f"{config.ENV_PROVIDER_MAP}: entry {pair!r} is not host=provider and is ignored",
                    "write host=provider or host:port=provider pairs separated by commas",
                )
            )
    caps: list[str] = []
    parse_metric_caps(environ.get(config.ENV_METRIC_BAGGAGE, ""), lambda key, cap: caps.append(key))
    for key in caps:
        findings.append(
            Finding(
                PROBLEM,
                f"{config.ENV_METRIC_BAGGAGE}: the cap of {key!r} is not a positive integer; "
                "the default is used",
                "write key:cap with a positive whole number, e.g. tokenomics.tenant:50",
            )
        )
    for name in found:
        if name.startswith("OTEL_TOKENOMICS_") and name not in KNOWN_OPTIONS:
            close = difflib.get_close_matches(name, KNOWN_OPTIONS, n=1)
            findings.append(
                Finding(
                    WARNING,
                    f"{name} is not a variable otel-tokenomics reads"
                    + (f" (did you mean {close[0]}?)" if close else ""),
                    f"rename it to {close[0]}" if close else "remove it",
                )
            )
    return dict(sorted(found.items())), findings


# -- 5. pricing ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PricingStatus:
    catalog_version: str | None
    catalog_built: str | None
    catalog_age_days: int | None
    price_file: str | None
    price_file_source: str | None
    price_file_status: str  # none / loaded / error
    price_file_version: str | None
    price_file_error: str | None
    fallback: str
    fallback_status: str
    # report() only: what the running process prices with
    this_process: str | None = None


def catalog_header(path: str | None = None) -> Mapping[str, Any]:
    """The catalog's first line (version, source): the model lines are not read."""
    from otel_tokenomics.pricing.catalog import CATALOG_FILE

    with open(path or CATALOG_FILE, encoding="utf-8") as file:
        header: Mapping[str, Any] = json.loads(file.readline())
    return header


def catalog_date(version: str) -> date | None:
    """``2026.11.27.2`` -> 2026-11-27 (the build date leads the version)."""
    match = re.match(r"^(\d{4})\.(\d{1,2})\.(\d{1,2})", version)
    if match is None:
        return None
    try:
        return date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return None


def check_pricing(
    environ: Mapping[str, str],
    installed: Installed,
    today: date,
    prices: str | None = None,
    header: Callable[[], Mapping[str, Any]] = catalog_header,
) -> tuple[PricingStatus, list[Finding]]:
    from otel_tokenomics.pricing import ENV_FALLBACK, ENV_PRICES, load_overrides
    from otel_tokenomics.pricing.engine import Pricer
    from otel_tokenomics.pricing.fallback import FALLBACK_GENAI_PRICES
    from otel_tokenomics.pricing.overrides import PriceOverrideError

    findings: list[Finding] = []
    version: str | None = None
    built: date | None = None
    age: int | None = None
    try:
        version = str(header()["version"])
    except Exception as error:
        findings.append(
            Finding(
                PROBLEM,
                f"the bundled price catalog cannot be read ({type(error).__name__}): every call is unpriced",
                "reinstall otel-tokenomics",
            )
        )
    if version is not None:
        built = catalog_date(version)
        if built is not None:
            age = (today - built).days
            if age > CATALOG_MAX_AGE_DAYS:
                findings.append(
                    Finding(
                        WARNING,
                        f"the price catalog {version} is {age} days old: newer models are unpriced and "
                        "changed prices are not known",
                        "upgrade otel-tokenomics, add your own prices (OTEL_TOKENOMICS_PRICES), or set "
                        "OTEL_TOKENOMICS_PRICING_FALLBACK=genai-prices with a current genai-prices",
                    )
                )

    source = "--prices" if prices else ENV_PRICES
    path = prices or (environ.get(ENV_PRICES, "").strip() or None)
    status, file_version, error_text = "none", None, None
    if path is not None:
        try:
            overrides = load_overrides(path)
            overrides.check(Pricer(overrides))
            status, file_version = "loaded", overrides.version
        except PriceOverrideError as error:
            status, error_text = "error", str(error)
            findings.append(
                Finding(
                    PROBLEM,
                    f"your price file cannot be used: {error}. Under instrumentation every call is then "
                    "unpriced (tokenomics.cost.status=unpriced)",
                    f"fix the file named by {source}, or unset it",
                )
            )

    raw_fallback = environ.get(ENV_FALLBACK, "")
    fallback = raw_fallback.strip().lower() or "off"
    if fallback in ("", "none", "off", "false", "0"):
        fallback_status = "off"
    elif fallback != FALLBACK_GENAI_PRICES:
        fallback_status = "unknown"
        findings.append(
            Finding(
                PROBLEM,
                f"{ENV_FALLBACK}={raw_fallback!r} is not a known fallback: models missing from the catalog "
                "stay unpriced",
                f"set {ENV_FALLBACK}=genai-prices, or unset it",
            )
        )
    elif installed.version("genai-prices") is None:
        fallback_status = "genai-prices not installed"
        findings.append(
            Finding(
                PROBLEM,
                f"{ENV_FALLBACK}=genai-prices, but genai-prices is not installed: the fallback is off",
                "pip install 'otel-tokenomics[genai-prices]' (Python 3.11 or later)",
            )
        )
    else:
        fallback_status = f"genai-prices {installed.version('genai-prices')}"
    status_obj = PricingStatus(
        version,
        built.isoformat() if built else None,
        age,
        path,
        source if path else None,
        status,
        file_version,
        error_text,
        fallback,
        fallback_status,
    )
    return status_obj, findings


def pricing_now() -> str:
    """What the running process prices with; reads state, configures nothing."""
    from otel_tokenomics import cost, pricing

    current = cost._pricer
    if current is cost.NO_PRICES:
        return "refused: a bad price file, every call unpriced"
    if current is None:
        return "not configured yet (the catalog loads on the first call)"
    overrides = getattr(current, "overrides", None)
    mine = f" + your prices {overrides.version}" if overrides is not None else ""
    fallback = getattr(current, "fallback", None)
    more = f" + fallback {fallback.version}" if fallback is not None else ""
    state = "configured" if pricing.is_configured() else "set"
    return f"{state}: catalog{mine}{more}"


# -- the report ------------------------------------------------------------------------------


@dataclass
class Report:
    version: str
    python: str
    in_process: bool
    sdks: list[SdkStatus]
    other_instrumentations: list[OtherInstrumentation]
    tokenizer: TokenizerStatus
    export: ExportConfig
    options: dict[str, str]
    pricing: PricingStatus
    providers: dict[str, str] | None
    findings: list[Finding]

    @property
    def problems(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == PROBLEM]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == WARNING]

    @property
    def exit_code(self) -> int:
        return EXIT_PROBLEM if self.problems else EXIT_OK

    def as_dict(self) -> dict[str, Any]:
        result = asdict(self)
        result["ok"] = not self.problems
        return result

    def __str__(self) -> str:
        return render_text(self)


def providers_now() -> dict[str, str]:
    """The global tracer/meter providers: a proxy or no-op one records nothing."""
    from opentelemetry import metrics, trace

    return {
        "tracer_provider": type(trace.get_tracer_provider()).__name__,
        "meter_provider": type(metrics.get_meter_provider()).__name__,
    }


def _provider_findings(providers: Mapping[str, str]) -> list[Finding]:
    findings = []
    for kind, name in providers.items():
        if "Proxy" in name or "NoOp" in name:
            signal = "spans" if kind == "tracer_provider" else "metrics"
            findings.append(
                Finding(
                    PROBLEM,
                    f"no global {kind.replace('_', ' ')} is set in this process ({name}): "
                    f"our {signal} go nowhere",
                    "run under opentelemetry-instrument with a configurator, or set the provider in code "
                    "before otel_tokenomics.instrument() (or pass tracer_provider= / meter_provider=)",
                )
            )
    return findings


def diagnose(
    environ: Mapping[str, str] | None = None,
    installed: Installed | None = None,
    *,
    in_process: bool = False,
    load: Loader | None = None,
    prices: str | None = None,
    today: date | None = None,
    timeout: float = TOKENIZER_TIMEOUT,
) -> Report:
    """Every check. ``in_process``: also what this process has patched and configured."""
    env = os.environ if environ is None else environ
    found = Installed.from_metadata() if installed is None else installed
    day = today if today is not None else datetime.now(timezone.utc).date()
    sdks, others, findings = check_sdks(env, found, instrumented_now if in_process else None)
    tokenizer, more = check_tiktoken(env, found, load, timeout)
    findings += more
    export, more = check_export(env, found)
    findings += more
    options, more = check_options(env)
    findings += more
    pricing_status, more = check_pricing(env, found, day, prices)
    findings += more
    providers = None
    if in_process:
        providers = providers_now()
        findings += _provider_findings(providers)
        pricing_status = PricingStatus(**{**asdict(pricing_status), "this_process": pricing_now()})
        if not any(s.this_process in (PATCHED, WAITING) for s in sdks if s.version is not None):
            findings.append(
                Finding(
                    PROBLEM,
                    "no SDK is instrumented in this process",
                    "call otel_tokenomics.instrument() at start-up, "
                    "or run the app under opentelemetry-instrument",
                )
            )
    return Report(
        __version__,
        sys.version.split()[0],
        in_process,
        sdks,
        others,
        tokenizer,
        export,
        options,
        pricing_status,
        providers,
        findings,
    )


def report() -> Report:
    """The doctor's report from inside your app (a debug endpoint, a start-up log line).

    Says which SDKs are patched right now, the tracer/meter providers in force and
    the pricer in use; loads nothing (tokenizer states are as the app has them).
    ``str(report())`` is the text; ``report().as_dict()`` is JSON-ready.
    """
    return diagnose(in_process=True, load=lambda names, timeout: current_encodings())


def _under_launcher() -> bool:
    """Whether opentelemetry-instrument started this process (its sitecustomize ran)."""
    return any(name.startswith("opentelemetry.instrumentation.auto_instrumentation") for name in sys.modules)


# -- text ------------------------------------------------------------------------------------


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows]


def _yes(value: bool | None, yes: str = "yes", no: str = "no", unknown: str = "-") -> str:
    return unknown if value is None else yes if value else no


def render_text(report: Report) -> str:
    lines = [f"otel-tokenomics doctor: otel-tokenomics {report.version}, Python {report.python}", ""]

    lines.append("SDKs")
    header = ["SDK", "installed", "supported", "opentelemetry-instrument"]
    if report.in_process:
        header.append("this process")
    rows = [header]
    for s in report.sdks:
        row = [
            s.distribution,
            s.version or "no",
            f"{_yes(s.supported)} ({s.requirement})" if s.requirement else _yes(s.supported),
            "loads" if s.launcher_loads else f"skipped: {s.launcher_reason}",
        ]
        if report.in_process:
            row.append(s.this_process or "-")
        rows.append(row)
    lines += _table(rows)
    if report.other_instrumentations:
        lines.append("  other GenAI instrumentations:")
        for o in report.other_instrumentations:
            entry = ", ".join(o.their_entry_points) or "no entry point"
            off = " (disabled)" if o.disabled else ""
            lines.append(f"    {o.distribution} {o.version} ({o.project}; entry point {entry}){off}")

    t = report.tokenizer
    lines += ["", f"Tokenizer: tiktoken {t.tiktoken_version or 'not installed'}, mode {t.mode}"]
    cache = t.cache_dir if t.cache_dir is not None else "off (TIKTOKEN_CACHE_DIR is empty)"
    rows = [["cache", f"{cache} ({t.cache_source})"]]
    rows += [[e.name, f"{_yes(e.cached, 'cached', 'not cached')}, {e.status}"] for e in t.encodings]
    lines += _table(rows)

    e = report.export
    lines += ["", "Export (as opentelemetry-instrument would set it up from the environment)"]
    rows = [
        ["distro", e.distro or "none"],
        ["configurator", e.configurator or "none"],
        ["SDK", "disabled (OTEL_SDK_DISABLED)" if e.sdk_disabled else "enabled"],
        ["service name", f"{e.service_name} ({e.service_name_source})"],
        [
            "sampler",
            f"{e.sampler} ({e.sampler_source})"
            + (f", keeps {e.sampler_ratio:g} of traces" if e.sampler_ratio is not None else ""),
        ],
    ]
    lines += _table(rows)
    for s in e.signals:
        exporters = ", ".join(s.exporters) or "none"
        lines.append(f"  {s.signal}: {exporters} ({s.exporters_source})")
        if s.protocol is None:
            continue
        rows = [["protocol", f"{s.protocol} ({s.protocol_source})"]]
        if s.component is not None:
            rows.append(
                ["exporter", f"{s.component}: {_yes(s.component_installed, 'installed', 'NOT installed')}"]
            )
            rows.append(["endpoint", f"{s.endpoint} ({s.endpoint_source})"])
            headers = ", ".join(s.header_names) if s.header_names else "none"
            rows.append(
                [
                    "headers",
                    headers + (f" ({s.headers_source}; values not shown)" if s.headers_source else ""),
                ]
            )
            rows.append(["compression", s.compression or "none"])
        lines += ["  " + line for line in _table(rows)]

    if report.options:
        lines += ["", "otel-tokenomics settings"]
        lines += _table([[name, value] for name, value in report.options.items()])

    p = report.pricing
    lines += ["", "Pricing"]
    catalog = p.catalog_version or "unreadable"
    if p.catalog_built is not None:
        catalog += f", built {p.catalog_built} ({p.catalog_age_days} days ago)"
    rows = [["catalog", catalog]]
    if p.price_file is None:
        rows.append(["your prices", "none (OTEL_TOKENOMICS_PRICES unset)"])
    else:
        state = p.price_file_version if p.price_file_status == "loaded" else "ERROR, see below"
        rows.append(["your prices", f"{p.price_file} ({p.price_file_source}): {state}"])
    rows.append(["fallback", p.fallback_status])
    if p.this_process is not None:
        rows.append(["this process", p.this_process])
    lines += _table(rows)

    if report.providers is not None:
        lines += ["", "This process"]
        lines += _table([[k.replace("_", " "), v] for k, v in report.providers.items()])

    lines.append("")
    for title, items in (("Problems", report.problems), ("Warnings", report.warnings)):
        if not items:
            continue
        lines.append(f"{title} ({len(items)})")
        for item in items:
            lines.append(f"  - {item.message}")
            lines.append(f"    fix: {item.fix}")
        lines.append("")
    lines.append("No problems found." if not report.problems else f"{len(report.problems)} problem(s) found.")
    return "\n".join(lines) + "\n"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--timeout",
        type=float,
        default=TOKENIZER_TIMEOUT,
        metavar="SECONDS",
        help=f"how long to wait for the tiktoken encodings to load (default {TOKENIZER_TIMEOUT:g})",
    )


def main(args: argparse.Namespace, out: TextIO) -> int:
    """``otel-tokenomics doctor``: exit 0 when no problem was found, 1 otherwise."""
    launched = _under_launcher()
    result = diagnose(
        in_process=launched,
        load=load_encodings,
        prices=getattr(args, "prices", None) or None,
        timeout=max(0.0, args.timeout),
    )
    if args.json:
        out.write(json.dumps(result.as_dict(), indent=2) + "\n")
    else:
        out.write(render_text(result))
    return result.exit_code
