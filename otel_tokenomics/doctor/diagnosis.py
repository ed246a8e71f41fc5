"""Every check in one :class:`Report`: :func:`diagnose` from outside, :func:`report` from inside an app."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import date, datetime, timezone
from typing import Any

from otel_tokenomics.doctor.export import ExportConfig, check_export
from otel_tokenomics.doctor.findings import EXIT_OK, EXIT_PROBLEM, PROBLEM, WARNING, Finding
from otel_tokenomics.doctor.installed import Installed
from otel_tokenomics.doctor.options import check_options
from otel_tokenomics.doctor.pricing import PricingStatus, check_pricing, pricing_now
from otel_tokenomics.doctor.sdks import (
    PATCHED,
    WAITING,
    OtherInstrumentation,
    SdkStatus,
    check_sdks,
    instrumented_now,
)
from otel_tokenomics.doctor.text import render_text
from otel_tokenomics.doctor.tokenizer import (
    TOKENIZER_TIMEOUT,
    Loader,
    TokenizerStatus,
    check_tiktoken,
    current_encodings,
)
from otel_tokenomics.version import __version__


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
