"""Check 1: which SDKs we instrument, under opentelemetry-instrument and in this process."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from otel_tokenomics.doctor.findings import PROBLEM, WARNING, Finding
from otel_tokenomics.doctor.installed import OURS, Installed, canonical, in_range, instruments_any

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
    """Whether our adapter for ``entry_point`` is active in this process; imports nothing."""
    from otel_tokenomics.providers import INSTRUMENTORS

    _, target = INSTRUMENTORS[entry_point]
    module_name, _, class_name = target.partition(":")
    module = sys.modules.get(module_name)
    activation = sys.modules.get("otel_tokenomics.activation")
    if module is None or activation is None:  # never imported, so never switched on
        return NOT_INSTRUMENTED
    adapter = getattr(module, class_name)
    if not activation.is_active(adapter):
        return NOT_INSTRUMENTED
    return WAITING if activation.is_waiting(adapter) else PATCHED


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
        (found := installed.version(dist)) is not None and in_range(found, spec)
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
        supported = in_range(version, requirement) if version is not None and requirement else None
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
