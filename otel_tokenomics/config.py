"""User options: keyword arguments of ``instrument()`` over environment variables over defaults."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from otel_tokenomics.attribution import DEFAULT_SPAN_KEYS, parse_keys, parse_metric_caps

logger = logging.getLogger(__name__)
_warned: set[str] = set()


def forget_warnings() -> None:
    """A new instrument(): its option problems are reported again (once)."""
    _warned.clear()


def _warn(message: str, *args: Any) -> None:
    """Log a configuration problem once: options are read by every instrumentor of instrument()."""
    text = message % args
    if text not in _warned:
        _warned.add(text)
        logger.warning("%s", text)


ENV_CAPTURE_CONTENT = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
ENV_SEMCONV_OPT_IN = "OTEL_SEMCONV_STABILITY_OPT_IN"
ENV_PROVIDER_MAP = "OTEL_TOKENOMICS_PROVIDER_MAP"
ENV_METRIC_NAMES = "OTEL_TOKENOMICS_METRIC_NAMES"
ENV_ESTIMATE_USAGE = "OTEL_TOKENOMICS_ESTIMATE_USAGE"
ENV_STREAM_USAGE = "OTEL_TOKENOMICS_STREAM_USAGE"
ENV_BAGGAGE_KEYS = "OTEL_TOKENOMICS_BAGGAGE_KEYS"
ENV_METRIC_BAGGAGE = "OTEL_TOKENOMICS_METRIC_BAGGAGE"
ENV_ROLLUP = "OTEL_TOKENOMICS_ROLLUP"

# When to add stream_options.include_usage to an OpenAI chat stream the user left without it.
STREAM_USAGE_AUTO = "auto"  # only where the endpoint is known to accept it (OpenAI, Azure OpenAI)
STREAM_USAGE_ALWAYS = "always"  # any endpoint (vLLM, gateways that forward it): the user's call
STREAM_USAGE_NEVER = "never"
_STREAM_USAGE = {STREAM_USAGE_AUTO, STREAM_USAGE_ALWAYS, STREAM_USAGE_NEVER}
_BOOLEAN_WORDS = {
    "true": True,
    "1": True,
    "yes": True,
    "on": True,
    "false": False,
    "0": False,
    "no": False,
    "off": False,
}

# Content capture modes of the GenAI conventions (opentelemetry-util-genai spelling).
NO_CONTENT = "NO_CONTENT"
SPAN_ONLY = "SPAN_ONLY"
EVENT_ONLY = "EVENT_ONLY"
SPAN_AND_EVENT = "SPAN_AND_EVENT"
_CAPTURE_MODES = {NO_CONTENT, SPAN_ONLY, EVENT_ONLY, SPAN_AND_EVENT}
# The first OpenAI contrib instrumentation used booleans; keep them working.
_LEGACY_CAPTURE = {"true": SPAN_ONLY, "1": SPAN_ONLY, "false": NO_CONTENT, "0": NO_CONTENT, "": NO_CONTENT}

# Which generation of metric names to emit.
METRICS_LEGACY = "legacy"  # gen_ai.client.operation.duration, gen_ai.client.token.usage, ...
METRICS_LATEST = "latest"  # gen_ai.client.inference.*, gen_ai.client.embeddings.*
METRICS_BOTH = "both"
_METRIC_NAMINGS = {METRICS_LEGACY, METRICS_LATEST, METRICS_BOTH}


@dataclass(frozen=True)
class Options:
    capture_content: str = NO_CONTENT
    metric_names: str = METRICS_LEGACY
    # host (or host:port) -> gen_ai.provider.name, consulted before the built-in table.
    provider_map: Mapping[str, str] = field(default_factory=dict)
    # Estimate the usage a provider did not report (tokenomics.usage.source=estimated|heuristic).
    estimate_usage: bool = True
    stream_usage: str = STREAM_USAGE_AUTO
    # Baggage keys copied onto inference and workflow spans.
    baggage_keys: tuple[str, ...] = DEFAULT_SPAN_KEYS
    # Baggage keys allowed onto metrics -> their cap on distinct values (none by default).
    metric_baggage: Mapping[str, int] = field(default_factory=dict)
    # Add the roll-up span processor to an SDK tracer provider.
    rollup: bool = True

    # Derived from capture_content once: every call asks them, a property would
    # compare strings on each ask.
    content_on_span: bool = field(init=False, default=False)
    content_in_event: bool = field(init=False, default=False)
    capture_any_content: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        mode = self.capture_content
        object.__setattr__(self, "content_on_span", mode in (SPAN_ONLY, SPAN_AND_EVENT))
        object.__setattr__(self, "content_in_event", mode in (EVENT_ONLY, SPAN_AND_EVENT))
        object.__setattr__(self, "capture_any_content", mode != NO_CONTENT)

    @property
    def legacy_metrics(self) -> bool:
        return self.metric_names in (METRICS_LEGACY, METRICS_BOTH)

    @property
    def latest_metrics(self) -> bool:
        return self.metric_names in (METRICS_LATEST, METRICS_BOTH)


def parse_capture_content(value: Any) -> str:
    if isinstance(value, bool):
        return SPAN_ONLY if value else NO_CONTENT
    text = str(value).strip()
    upper = text.upper()
    if upper in _CAPTURE_MODES:
        return upper
    if text.lower() in _LEGACY_CAPTURE:
        return _LEGACY_CAPTURE[text.lower()]
    _warn("%s=%r is not a known mode; content capture stays off", ENV_CAPTURE_CONTENT, value)
    return NO_CONTENT


def metric_names_from_env(environ: Mapping[str, str]) -> str:
    explicit = environ.get(ENV_METRIC_NAMES, "").strip().lower()
    if explicit:
        if explicit in _METRIC_NAMINGS:
            return explicit
        _warn("%s=%r is not one of %s; using legacy", ENV_METRIC_NAMES, explicit, sorted(_METRIC_NAMINGS))
        return METRICS_LEGACY
    opt_in = {part.strip() for part in environ.get(ENV_SEMCONV_OPT_IN, "").split(",")}
    if "gen_ai_latest_experimental/dup" in opt_in:
        return METRICS_BOTH
    if "gen_ai_latest_experimental" in opt_in:
        return METRICS_LATEST
    return METRICS_LEGACY


def parse_provider_map(text: str) -> dict[str, str]:
    """``host=provider,host:port=provider`` pairs; malformed pairs are skipped with a warning."""
    mapping: dict[str, str] = {}
    for pair in text.split(","):
        pair = pair.strip()
        if not pair:
            continue
        host, sep, provider = pair.partition("=")
        if not sep or not host.strip() or not provider.strip():
            _warn("ignoring malformed %s entry %r", ENV_PROVIDER_MAP, pair)
            continue
        mapping[host.strip().lower()] = provider.strip()
    return mapping


def parse_boolean(value: Any, name: str, default: bool) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _BOOLEAN_WORDS:
        return _BOOLEAN_WORDS[text]
    _warn("%s=%r is not a boolean; using %s", name, value, default)
    return default


def parse_stream_usage(value: Any) -> str:
    if isinstance(value, bool):  # instrument(stream_usage=False)
        return STREAM_USAGE_ALWAYS if value else STREAM_USAGE_NEVER
    text = str(value).strip().lower()
    if text in _STREAM_USAGE:
        return text
    if text in _BOOLEAN_WORDS:
        return STREAM_USAGE_AUTO if _BOOLEAN_WORDS[text] else STREAM_USAGE_NEVER
    _warn("%s=%r is not one of %s; using auto", ENV_STREAM_USAGE, value, sorted(_STREAM_USAGE))
    return STREAM_USAGE_AUTO


def load_options(kwargs: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> Options:
    env = os.environ if environ is None else environ
    capture = kwargs.get("capture_content")
    if capture is None:
        capture = env.get(ENV_CAPTURE_CONTENT, NO_CONTENT)
    metric_names = kwargs.get("metric_names")
    if metric_names not in _METRIC_NAMINGS:
        if metric_names is not None:
            _warn("metric_names=%r is not one of %s", metric_names, sorted(_METRIC_NAMINGS))
        metric_names = metric_names_from_env(env)
    provider_map = parse_provider_map(env.get(ENV_PROVIDER_MAP, ""))
    provider_map.update({str(k).lower(): str(v) for k, v in (kwargs.get("provider_map") or {}).items()})
    estimate = kwargs.get("estimate_usage")
    if estimate is None:
        estimate = env.get(ENV_ESTIMATE_USAGE, "true") or "true"
    stream_usage = kwargs.get("stream_usage")
    if stream_usage is None:
        stream_usage = env.get(ENV_STREAM_USAGE, STREAM_USAGE_AUTO) or STREAM_USAGE_AUTO
    baggage_keys = kwargs.get("baggage_keys")
    if baggage_keys is None:
        # Empty is unset, as for every OpenTelemetry variable; "none" copies no key.
        baggage_keys = env.get(ENV_BAGGAGE_KEYS) or None
        if baggage_keys is not None and baggage_keys.strip().lower() == "none":
            baggage_keys = ()
    metric_baggage = kwargs.get("metric_baggage")
    if metric_baggage is None:
        metric_baggage = env.get(ENV_METRIC_BAGGAGE, "")
    rollup = kwargs.get("rollup")
    if rollup is None:
        rollup = env.get(ENV_ROLLUP, "true") or "true"
    return Options(
        capture_content=parse_capture_content(capture),
        metric_names=metric_names,
        provider_map=provider_map,
        estimate_usage=parse_boolean(estimate, ENV_ESTIMATE_USAGE, True),
        stream_usage=parse_stream_usage(stream_usage),
        baggage_keys=DEFAULT_SPAN_KEYS if baggage_keys is None else parse_keys(baggage_keys),
        metric_baggage=parse_metric_caps(metric_baggage, _warn_cap),
        rollup=parse_boolean(rollup, ENV_ROLLUP, True),
    )


def _warn_cap(key: str, cap: Any) -> None:
    _warn(
        "%s: the cap of %r must be a positive integer, not %r; using the default",
        ENV_METRIC_BAGGAGE,
        key,
        cap,
    )
