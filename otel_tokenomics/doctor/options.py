"""Check 4: our own OTEL_TOKENOMICS_* variables."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping

from otel_tokenomics.doctor.findings import PROBLEM, WARNING, Finding

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
        elif config.parse_capture_content(capture) != config.NO_CONTENT:
            findings.extend(_content_limit(environ))
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


# The variables that bound an attribute's length on spans and on log records (content events).
_SPAN_LIMITS = ("OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT")
_LOG_LIMITS = ("OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT", "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT")


def _content_limit(environ: Mapping[str, str]) -> list[Finding]:
    """Captured content with no length limit: one long conversation makes one huge attribute.

    The SDK's default is no limit. Backends cut or refuse long strings (Honeycomb at
    64 KB), and an OTLP/gRPC export over the 4 MB message limit loses its whole batch,
    spans of other requests included.
    """
    if any((environ.get(name) or "").strip() for name in _SPAN_LIMITS) and any(
        (environ.get(name) or "").strip() for name in _LOG_LIMITS
    ):
        return []
    return [
        Finding(
            WARNING,
            "message content is captured with no attribute length limit: a long conversation is "
            "recorded whole, and an export batch over the backend's limit (OTLP/gRPC: 4 MB) is lost whole",
            "set OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT (spans and log records), e.g. 16384",
        )
    ]
