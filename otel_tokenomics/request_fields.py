"""Reading a request body into span attributes: a table of body keys to puts.

A request body has a handful of top-level keys; walking them against a table of
the ones we read costs less than asking the body for every key we know. A put
takes one value (never None) and the attributes being built, and records the value
only when it has the type the attribute wants: a request the API would reject is
still traced, without a malformed attribute. These run on every call, so a put is
one plain closure with its checks inline.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from otel_tokenomics import semconv as sc

Put = Callable[[Any, dict[str, Any]], None]
Reader = Callable[..., None]

_NOTHING_NESTED: frozenset[str] = frozenset()


def number(key: str) -> Put:
    def put(value: Any, attributes: dict[str, Any]) -> None:
        if type(value) is float or type(value) is int:  # not bool
            attributes[key] = float(value)

    return put


def integer(key: str, *, overridable: bool = False) -> Put:
    """``overridable``: a value another key of the body sets wins, whichever comes first
    (OpenAI's deprecated ``max_tokens`` against ``max_completion_tokens``)."""
    if overridable:

        def put_default(value: Any, attributes: dict[str, Any]) -> None:
            if type(value) is int:
                attributes.setdefault(key, value)

        return put_default

    def put(value: Any, attributes: dict[str, Any]) -> None:
        if type(value) is int:  # not bool
            attributes[key] = value

    return put


def text(key: str) -> Put:
    def put(value: Any, attributes: dict[str, Any]) -> None:
        if type(value) is str and value:
            attributes[key] = value

    return put


def strings(key: str, *, single: bool = False) -> Put:
    """A non-empty list of strings; with ``single``, a lone string too (as a list of one)."""

    def put(value: Any, attributes: dict[str, Any]) -> None:
        if isinstance(value, (list, tuple)) and value and all(isinstance(s, str) for s in value):
            attributes[key] = list(value)

    if not single:
        return put

    def put_one_or_many(value: Any, attributes: dict[str, Any]) -> None:
        if isinstance(value, str):
            attributes[key] = [value]
        else:
            put(value, attributes)

    return put_one_or_many


# Stop sequences: a list everywhere; OpenAI's ``stop`` and some Bedrock vendors' take one string too.
stop_sequences = strings(sc.GEN_AI_REQUEST_STOP_SEQUENCES)
stop = strings(sc.GEN_AI_REQUEST_STOP_SEQUENCES, single=True)


def choice_count(value: Any, attributes: dict[str, Any]) -> None:
    # One choice is the default: only a request for several says something.
    if type(value) is int and value != 1:
        attributes[sc.GEN_AI_REQUEST_CHOICE_COUNT] = value


# What a request parameter can be (JSON values); None and SDK sentinels are not.
_VALUE_TYPES = frozenset({int, float, str, list, tuple, dict})


def request_reader(fields: Mapping[str, Put], nested: frozenset[str] = _NOTHING_NESTED) -> Reader:
    """``read(body, attributes)``: every key of ``body`` that ``fields`` names, put.

    ``nested`` names top-level keys whose mapping holds more of the same keys one
    level down (Bedrock's ``inferenceConfig``); only one level is read.
    """

    table = tuple(fields.items())
    size = len(table)

    def read(body: Mapping[str, Any], attributes: dict[str, Any], depth: int = 0) -> None:
        if len(body) > size and not nested:
            # A body longer than the table: ask it for the keys we read. The anthropic
            # SDK hands over every parameter, unset ones as sentinels (17 keys, 4 set).
            get = body.get
            for key, put in table:
                value = get(key)
                # Unset parameters are None or the SDK's sentinels, whose truth test is
                # Python code: the class says it at C speed.
                if value.__class__ in _VALUE_TYPES:
                    put(value, attributes)
            return
        for key, value in body.items():
            put = fields.get(key)
            if put is not None:
                if value is not None:
                    put(value, attributes)
            elif key in nested and depth == 0 and isinstance(value, Mapping):
                read(value, attributes, 1)

    return read
