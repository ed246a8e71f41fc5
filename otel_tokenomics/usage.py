"""The normalized token usage of one LLM call.

Every provider adapter translates its SDK's usage object into this one shape, so
span attributes, metrics and pricing are written once. The invariants are the
semantic conventions' ones, whatever the provider reported:

* ``input_tokens`` counts ALL input, cache reads and cache writes included;
* ``output_tokens`` counts ALL output, reasoning included;
* ``cache_read_tokens`` and ``cache_write_tokens`` are parts of ``input_tokens``;
* ``reasoning_tokens`` is a part of ``output_tokens``;
* per-modality counts are parts of their direction's total.
"""

from __future__ import annotations

from typing import Any

# Where a count came from; the values of the tokenomics.usage.source attribute.
SOURCE_PROVIDER = "provider"
SOURCE_ESTIMATED = "estimated"
SOURCE_HEURISTIC = "heuristic"
SOURCE_UNAVAILABLE = "unavailable"


class Usage:
    """Token counts of one call, normalized to the semconv arithmetic.

    Fields left unset keep the class defaults below (0, or None for "not
    reported"), so building one costs only the fields a provider reported.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    # Cache writes split by time-to-live where the provider bills them apart
    # ("5m"/"1h" for Anthropic, "30m"/"12h" for OpenAI Responses).
    cache_write_by_ttl: dict[str, int] | None = None
    text_input_tokens: int | None = None
    image_input_tokens: int | None = None
    audio_input_tokens: int | None = None
    text_output_tokens: int | None = None
    image_output_tokens: int | None = None
    audio_output_tokens: int | None = None
    # Server-side tools billed per request, not per token (Anthropic server_tool_use).
    web_search_requests: int = 0
    web_fetch_requests: int = 0
    source: str = SOURCE_PROVIDER
    # What the response itself says the call cost, in USD (OpenRouter's usage.cost).
    provider_cost: float | None = None

    FIELDS = (
        "input_tokens",
        "output_tokens",
        "cache_read_tokens",
        "cache_write_tokens",
        "reasoning_tokens",
        "cache_write_by_ttl",
        "text_input_tokens",
        "image_input_tokens",
        "audio_input_tokens",
        "text_output_tokens",
        "image_output_tokens",
        "audio_output_tokens",
        "web_search_requests",
        "web_fetch_requests",
        "source",
        "provider_cost",
    )

    def __init__(self, input_tokens: int = 0, output_tokens: int = 0, **details: Any) -> None:
        self.input_tokens = input_tokens
        self.output_tokens = output_tokens
        if details:
            for name, value in details.items():
                if name not in self.FIELDS:
                    raise TypeError(f"Usage has no field {name!r}")
                setattr(self, name, value)

    @property
    def has_modalities(self) -> bool:
        """Whether the provider broke any count down by modality.

        The modality fields stay class defaults (None) unless an adapter set them,
        so a glance at the instance's own fields answers for most calls.
        """
        if _MODALITY_FIELDS.isdisjoint(self.__dict__):
            return False
        return not (
            self.text_input_tokens is None
            and self.image_input_tokens is None
            and self.audio_input_tokens is None
            and self.text_output_tokens is None
            and self.image_output_tokens is None
            and self.audio_output_tokens is None
        )

    @property
    def uncached_input_tokens(self) -> int:
        """Input billed at the plain input rate."""
        return max(self.input_tokens - self.cache_read_tokens - self.cache_write_tokens, 0)

    def as_dict(self) -> dict[str, Any]:  # for tests and debugging
        return {name: getattr(self, name) for name in self.FIELDS}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Usage) and self.as_dict() == other.as_dict()

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self.as_dict().items() if v not in (None, 0))
        return f"Usage({fields})"


_MODALITY_FIELDS = frozenset(
    {
        "text_input_tokens",
        "image_input_tokens",
        "audio_input_tokens",
        "text_output_tokens",
        "image_output_tokens",
        "audio_output_tokens",
    }
)


# The largest count taken as real. Beyond 2**53 a float (JSON numbers, for many
# parsers) no longer holds every integer, so no tokenizer produced it; and a sum of
# a few counts this size (input = uncached + cache reads + writes) stays far inside
# the int64 that OTLP encodes, whose encoder fails the whole export batch otherwise.
MAX_COUNT = 2**53


def count(value: Any) -> int:
    """A token count from an SDK field: a non-negative int, or 0 when absent or malformed.

    Providers and proxies send None, floats (Cohere) and, when broken, strings,
    negatives or absurd sizes (past ``MAX_COUNT``); none of that may raise or poison a sum.
    """
    if type(value) is int:
        return value if 0 < value <= MAX_COUNT else 0
    if value is None or value is True or value is False:
        return 0
    if isinstance(value, int):
        return int(value) if 0 < value <= MAX_COUNT else 0
    if isinstance(value, float):
        # NaN fails both comparisons, infinity the bound.
        return int(value) if 0 < value <= MAX_COUNT else 0
    return 0


def sound(value: Any) -> bool:
    """Whether an SDK field is a count a provider could have sent: a whole number in
    ``0..MAX_COUNT`` (an int, or a float without a fraction), never a bool."""
    if type(value) is int:
        return 0 <= value <= MAX_COUNT
    if isinstance(value, float):
        return 0 <= value <= MAX_COUNT and value.is_integer()
    return isinstance(value, int) and value is not True and value is not False and 0 <= value <= MAX_COUNT


def reported(*values: Any) -> bool:
    """Whether a usage object says anything: one of its direction totals is :func:`sound`.

    A usage with none (``{}``, every count null, a string or negative) is not the
    provider saying "0 tokens": readers then return None, as for a missing usage, so
    the call is estimated (or marked without usage) instead of priced at $0. A sound
    0 is a real answer and stays one.
    """
    # A loop, not any(<generator>): this runs for every usage read, and the first value decides it.
    for value in values:  # noqa: SIM110
        if sound(value):
            return True
    return False


_MISSING = object()


def field(obj: Any, name: str) -> Any:
    """``getattr(obj, name, None)`` for a field an SDK model may not have, without its cost.

    A pydantic model answers an unknown name by raising AttributeError from Python
    code: about 5 µs, more than all the rest of reading a response. Its fields live
    in ``__dict__``, and fields its SDK does not model (newer API fields) in
    ``__pydantic_extra__``; both are read directly. Anything else: plain getattr.
    """
    namespace = getattr(obj, "__dict__", None)
    if namespace:
        value = namespace.get(name, _MISSING)
        if value is not _MISSING:
            return value
        extra = getattr(obj, "__pydantic_extra__", _MISSING)
        if extra is not _MISSING:
            return extra.get(name) if extra else None
    return getattr(obj, name, None)


class Fields(dict):  # type: ignore[type-arg]
    """A plain dict read like an SDK model: ``fields.name`` is ``fields.get(name)``."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        return self.get(name)


def as_fields(obj: Any) -> Any:
    """SDK models pass through; dicts become :class:`Fields` so one ``getattr`` reads both.

    An SDK older than the API keeps fields it does not model as plain dicts
    (pydantic extras); proxies and ``parse(to=dict)`` give dicts all the way down.
    """
    if isinstance(obj, dict):
        return Fields(obj)
    return obj


def as_fields_tree(value: Any) -> Any:
    """A JSON body read like the SDK's model of it, all the way down (lists included)."""
    if isinstance(value, dict):
        return Fields({key: as_fields_tree(item) for key, item in value.items()})
    if isinstance(value, list):
        return [as_fields_tree(item) for item in value]
    return value
