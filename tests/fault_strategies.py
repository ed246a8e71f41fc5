"""Hypothesis strategies that break a valid provider answer the ways real ones break.

A provider, a proxy or a newer API version can send a usage object whose counts are
missing, ``null``, negative, of the wrong JSON type or absurdly large, add fields no
SDK knows, or cut a stream short, reorder or repeat its events, or leave out the
event that carries the usage. Each strategy here starts from a valid payload built by
the provider's fake (``tests/*_fakes.py``) and returns a mutated deep copy of it; the
input is never modified.

Paths name nested fields with dots (``"prompt_tokens_details.cached_tokens"``); a
path whose parent was itself replaced by garbage is left alone.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

from hypothesis import strategies as st

# The value that means "leave the field out of the JSON".
MISSING: Any = object()
_KEEP: Any = object()

# Past int64: what an OTLP int attribute can carry. A count this big is garbage.
INT64_MAX = 2**63 - 1

UNKNOWN_FIELD_NAMES = (
    "x_future_count",
    "billing_units",
    "total_tokens_v2",
    "cost",
    "provider_meta",
    "_internal",
)

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.text(max_size=6),
)
# JSON values of any shape, for fields that no SDK models.
json_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)

valid_counts = st.integers(min_value=0, max_value=5_000_000)

# Every way a count field goes wrong, each named so a failing example says which.
bad_counts = st.one_of(
    st.just(MISSING),
    st.none(),
    st.integers(max_value=-1, min_value=-(2**70)),
    st.integers(min_value=2**63, max_value=2**80),  # does not fit an OTLP int
    st.sampled_from(["12", "", "abc", "-5", "1e3"]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.lists(st.integers(min_value=0, max_value=9), max_size=2),
    st.dictionaries(st.sampled_from(["value", "tokens"]), valid_counts, max_size=1),
    st.booleans(),
)

# What replaces a whole usage object (or a details object inside it).
container_faults = st.one_of(
    st.just(MISSING),
    st.none(),
    st.builds(dict),  # a fresh one each time: later paths may write into it
    st.sampled_from(["usage", 7, -1, 2.5, True]),
    st.lists(valid_counts, max_size=2),
)


def _parent(root: Any, path: str) -> tuple[Any, str] | None:
    """The mapping that holds ``path``'s last part, or None when the way there is broken."""
    *parents, last = path.split(".")
    node = root
    for part in parents:
        if not isinstance(node, dict) or not isinstance(node.get(part), dict):
            return None
        node = node[part]
    return (node, last) if isinstance(node, dict) else None


def set_path(root: Any, path: str, value: Any) -> None:
    """``root[a][b] = value`` for ``path`` ``"a.b"``; MISSING deletes it. A no-op on a broken path."""
    found = _parent(root, path)
    if found is None:
        return
    node, last = found
    if value is MISSING:
        node.pop(last, None)
    else:
        node[last] = value


def get_path(root: Any, path: str, default: Any = MISSING) -> Any:
    found = _parent(root, path)
    if found is None:
        return default
    node, last = found
    return node.get(last, default)


@st.composite
def mutated_fields(draw: Callable[..., Any], base: Any, fields: Sequence[str], *, extras: bool = True) -> Any:
    """A deep copy of ``base`` with each of ``fields`` kept or broken, and maybe unknown fields added.

    ``fields`` are paths inside ``base``; a path that names a details object (not a
    count) gets the container faults instead of the count faults.
    """
    out = copy.deepcopy(base)
    for path in fields:
        original = get_path(out, path)
        faults = container_faults if isinstance(original, dict) else bad_counts
        # Kept about half the time, so most examples mix good and bad fields.
        value = draw(st.one_of(st.just(_KEEP), faults), label=path)
        if value is not _KEEP:
            set_path(out, path, value)
    if extras and isinstance(out, dict):
        added = draw(
            st.dictionaries(st.sampled_from(UNKNOWN_FIELD_NAMES), json_values, max_size=2), label="extra"
        )
        for key, value in added.items():
            out.setdefault(key, value)
    return out


@st.composite
def mutated_body(
    draw: Callable[..., Any], body: dict[str, Any], usage_path: str, fields: Sequence[str]
) -> dict[str, Any]:
    """``body`` whose usage object (at ``usage_path``) is replaced whole, or has its fields broken.

    ``fields`` are paths inside the usage object. Unknown fields may also appear at the
    top of the body.
    """
    out = copy.deepcopy(body)
    usage = get_path(out, usage_path)
    if draw(st.integers(min_value=0, max_value=5), label="replace usage") == 0:
        set_path(out, usage_path, draw(container_faults, label="usage"))
    elif isinstance(usage, dict):
        set_path(out, usage_path, draw(mutated_fields(usage, fields), label="usage fields"))
    added = draw(st.dictionaries(st.sampled_from(UNKNOWN_FIELD_NAMES), json_values, max_size=1), label="top")
    for key, value in added.items():
        out.setdefault(key, value)
    return out


# -- streams ---------------------------------------------------------------------------------


class StreamPlan:
    """A mutated event list, and whether the stream still ends with its terminator."""

    __slots__ = ("events", "terminated", "what")

    def __init__(self, events: list[Any], terminated: bool, what: str) -> None:
        self.events = events
        self.terminated = terminated
        self.what = what

    def __repr__(self) -> str:
        return f"StreamPlan({self.what}, terminated={self.terminated}, events={self.events!r})"


@st.composite
def mutated_stream(
    draw: Callable[..., Any],
    events: list[Any],
    usage_events: dict[int, tuple[str, Sequence[str]]],
) -> StreamPlan:
    """``events`` with their usage broken, then cut short, reordered, repeated or stripped of usage.

    ``usage_events`` maps the index of each event that carries usage to (the usage
    object's path in that event, the count paths inside it). One structural change at
    most per example, so that a failure points at one kind of fault.
    """
    out = copy.deepcopy(events)
    for index, (usage_path, fields) in usage_events.items():
        if draw(st.booleans(), label=f"break usage of event {index}"):
            out[index] = draw(mutated_body(out[index], usage_path, fields), label=f"event {index}")
    kind = draw(st.sampled_from(["none", "truncate", "reorder", "duplicate", "drop_usage"]), label="kind")
    terminated = True
    if kind == "truncate":
        keep = draw(st.integers(min_value=0, max_value=len(out) - 1), label="keep")
        out = out[:keep]
        terminated = False
    elif kind == "reorder":
        out = draw(st.permutations(out), label="order")
    elif kind == "duplicate":
        for _ in range(draw(st.integers(min_value=1, max_value=3), label="copies")):
            source = draw(st.integers(min_value=0, max_value=len(out) - 1))
            target = draw(st.integers(min_value=0, max_value=len(out)))
            out.insert(target, copy.deepcopy(out[source]))
    elif kind == "drop_usage":
        dropped = set(usage_events)
        out = [event for index, event in enumerate(out) if index not in dropped]
    return StreamPlan(out, terminated, kind)
