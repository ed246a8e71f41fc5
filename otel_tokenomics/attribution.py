"""Who spent it: baggage entries copied onto spans, and the few allowed onto metrics.

An app (or a service upstream of it) puts ``tokenomics.tenant``, ``tokenomics.feature``
or ``enduser.id`` in the OpenTelemetry baggage; W3C ``baggage`` propagation carries
them across processes. Every inference span opened beneath gets them as attributes.

Metrics are another matter: each distinct value is a new time series in every metric
it labels. Only the keys of an allowlist become metric attributes, and each has a cap
on distinct values: once a key has seen that many, further new values are recorded as
``_other``. Baggage can come from outside (an incoming request's header), so nothing a
caller sends can grow the number of series past the caps.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import Any

from opentelemetry import baggage

from otel_tokenomics import semconv as sc

# Copied onto spans unless configured otherwise (OTEL_TOKENOMICS_BAGGAGE_KEYS).
DEFAULT_SPAN_KEYS: tuple[str, ...] = (sc.TOKENOMICS_TENANT, sc.TOKENOMICS_FEATURE, sc.ENDUSER_ID)
# Distinct values a metric attribute keeps before folding new ones into OTHER.
DEFAULT_CAP = 100
OTHER = "_other"
# Longer values are cut: an attribute is not the place for a document.
MAX_VALUE_LENGTH = 256

try:  # the key of the baggage's own dict in a context: read without get_all()'s read-only copy
    from opentelemetry.baggage import _BAGGAGE_KEY as BAGGAGE_KEY
except ImportError:  # pragma: no cover - another opentelemetry-api layout
    BAGGAGE_KEY = "baggage"  # never a key of a context: no call is attributed

MetricValues = tuple[tuple[str, str], ...]


class _DistinctValues:
    """The values one metric attribute has kept, process-wide; full at its cap."""

    __slots__ = ("_lock", "cap", "values")

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.values: set[str] = set()
        self._lock = threading.Lock()

    def fold(self, value: str) -> str:
        values = self.values
        if value in values:
            return value
        with self._lock:
            if value in values:
                return value
            if len(values) >= self.cap:
                return OTHER
            values.add(value)
            return value


# Shared by every instrumentation of the process: the cap bounds the series of a key in
# all of them together, and survives a new instrument().
_kept: dict[str, _DistinctValues] = {}
_kept_lock = threading.Lock()


def _distinct_values(key: str, cap: int) -> _DistinctValues:
    with _kept_lock:
        kept = _kept.get(key)
        if kept is None:
            kept = _kept[key] = _DistinctValues(cap)
        else:
            kept.cap = cap
        return kept


def _text(value: Any) -> str:
    text = value if type(value) is str else str(value)
    return text if len(text) <= MAX_VALUE_LENGTH else text[:MAX_VALUE_LENGTH]


class Attribution:
    """Which baggage keys go onto spans, and which (with their caps) onto metrics."""

    __slots__ = ("_metric", "metric_caps", "span_keys")

    def __init__(self, span_keys: Iterable[str], metric_caps: Mapping[str, int]) -> None:
        self.span_keys = tuple(span_keys)
        self.metric_caps = dict(metric_caps)
        self._metric = tuple((key, _distinct_values(key, cap)) for key, cap in self.metric_caps.items())

    def read(
        self, entries: Mapping[str, Any] | None, span_attributes: dict[str, Any] | None
    ) -> MetricValues | None:
        """Add the baggage ``entries`` to ``span_attributes``; return the metric ones."""
        if not entries:
            return None
        if span_attributes is not None:
            for key in self.span_keys:
                value = entries.get(key)
                if value is not None:
                    span_attributes[key] = _text(value)
        if not self._metric:
            return None
        found: list[tuple[str, str]] = []
        for key, kept in self._metric:
            value = entries.get(key)
            if value is not None:
                found.append((key, kept.fold(_text(value))))
        return tuple(found) if found else None


def parse_keys(value: Any) -> tuple[str, ...]:
    """``a,b,c`` or an iterable of keys; blanks dropped, order kept, duplicates once."""
    items = value.split(",") if isinstance(value, str) else list(value or ())
    keys: list[str] = []
    for item in items:
        key = str(item).strip()
        if key and key not in keys:
            keys.append(key)
    return tuple(keys)


def parse_metric_caps(value: Any, warn: Any) -> dict[str, int]:
    """``key[:cap],...`` (or a mapping key -> cap, or an iterable of ``key[:cap]``) -> caps.

    A cap that is not a positive integer is reported through ``warn`` and the
    default is used.
    """
    if isinstance(value, Mapping):
        pairs = [(str(k), v) for k, v in value.items()]
    else:
        pairs = []
        for item in parse_keys(value):
            key, sep, cap = item.rpartition(":") if ":" in item else (item, "", "")
            pairs.append((key.strip(), cap.strip() if sep else None))
    caps: dict[str, int] = {}
    for key, cap in pairs:
        if not key:
            continue
        if cap is None or cap == "":
            caps[key] = DEFAULT_CAP
            continue
        try:
            number = int(cap)
        except (TypeError, ValueError):
            number = 0
        if number <= 0:
            warn(key, cap)
            number = DEFAULT_CAP
        caps[key] = number
    return caps


def forget_for_tests() -> None:
    with _kept_lock:
        _kept.clear()


# Short names of attribute_to() -> the baggage keys they set.
_SHORT_NAMES = {"tenant": sc.TOKENOMICS_TENANT, "feature": sc.TOKENOMICS_FEATURE, "user": sc.ENDUSER_ID}


class AttributeTo:
    """Baggage entries set for a block (``with`` / ``async with``); see :func:`attribute_to`."""

    def __init__(self, entries: Mapping[str, Any]) -> None:
        self.entries = {key: str(value) for key, value in entries.items() if value is not None}
        self._tokens: list[Any] = []

    def __enter__(self) -> AttributeTo:
        from opentelemetry import context as otel_context

        current = otel_context.get_current()
        for key, value in self.entries.items():
            current = baggage.set_baggage(key, value, current)
        self._tokens.append(otel_context.attach(current))
        return self

    def __exit__(self, *exc: Any) -> None:
        from opentelemetry import context as otel_context

        if self._tokens:
            otel_context.detach(self._tokens.pop())

    async def __aenter__(self) -> AttributeTo:
        return self.__enter__()

    async def __aexit__(self, *exc: Any) -> None:
        self.__exit__(*exc)


def attribute_to(
    tenant: str | None = None, feature: str | None = None, user: str | None = None, **entries: Any
) -> AttributeTo:
    """Attribute the calls of a block: ``tokenomics.tenant``, ``tokenomics.feature``, ``enduser.id``.

    Sets OpenTelemetry baggage entries, so they also travel to other processes with
    W3C baggage propagation. ``entries`` sets other baggage keys as given.
    """
    named = {_SHORT_NAMES["tenant"]: tenant, _SHORT_NAMES["feature"]: feature, _SHORT_NAMES["user"]: user}
    return AttributeTo({**named, **entries})
