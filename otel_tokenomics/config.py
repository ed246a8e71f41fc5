"""User options: keyword arguments of ``instrument()`` over environment variables over defaults."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)

ENV_CAPTURE_CONTENT = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
ENV_SEMCONV_OPT_IN = "OTEL_SEMCONV_STABILITY_OPT_IN"
ENV_PROVIDER_MAP = "OTEL_TOKENOMICS_PROVIDER_MAP"
ENV_METRIC_NAMES = "OTEL_TOKENOMICS_METRIC_NAMES"

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
    logger.warning("%s=%r is not a known mode; content capture stays off", ENV_CAPTURE_CONTENT, value)
    return NO_CONTENT


def metric_names_from_env(environ: Mapping[str, str]) -> str:
    explicit = environ.get(ENV_METRIC_NAMES, "").strip().lower()
    if explicit:
        if explicit in _METRIC_NAMINGS:
            return explicit
        logger.warning(
            "%s=%r is not one of %s; using legacy", ENV_METRIC_NAMES, explicit, sorted(_METRIC_NAMINGS)
        )
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
            logger.warning("ignoring malformed %s entry %r", ENV_PROVIDER_MAP, pair)
            continue
        mapping[host.strip().lower()] = provider.strip()
    return mapping


def load_options(kwargs: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> Options:
    env = os.environ if environ is None else environ
    capture = kwargs.get("capture_content")
    if capture is None:
        capture = env.get(ENV_CAPTURE_CONTENT, NO_CONTENT)
    metric_names = kwargs.get("metric_names")
    if metric_names not in _METRIC_NAMINGS:
        if metric_names is not None:
            logger.warning("metric_names=%r is not one of %s", metric_names, sorted(_METRIC_NAMINGS))
        metric_names = metric_names_from_env(env)
    provider_map = parse_provider_map(env.get(ENV_PROVIDER_MAP, ""))
    provider_map.update({str(k).lower(): str(v) for k, v in (kwargs.get("provider_map") or {}).items()})
    return Options(
        capture_content=parse_capture_content(capture),
        metric_names=metric_names,
        provider_map=provider_map,
    )
