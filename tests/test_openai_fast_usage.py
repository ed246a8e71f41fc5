"""The fast reader of OpenAI usage objects gives what the general reader gives.

``completion_usage`` first tries a reader for the common shape (an SDK model or a
dict with int totals, read from ``__dict__``); anything else goes to the general
reader. Whatever the shape, both must agree field for field.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from openai.types.completion_usage import CompletionUsage
from pydantic import BaseModel, ConfigDict

from otel_tokenomics.providers.openai import (
    _completion_usage_read,
    _plain_completion_usage,
    completion_usage,
)

counts = st.one_of(
    st.integers(min_value=-5, max_value=2**60),
    st.none(),
    st.floats(allow_nan=True),
    st.booleans(),
    st.text(max_size=3),
)
prompt_details = st.fixed_dictionaries(
    {},
    optional={
        "cached_tokens": counts,
        "cache_write_tokens": counts,
        "audio_tokens": counts,
        "text_tokens": counts,
        "image_tokens": counts,
    },
)
completion_details = st.fixed_dictionaries(
    {},
    optional={
        "reasoning_tokens": counts,
        "audio_tokens": counts,
        "text_tokens": counts,
        "accepted_prediction_tokens": counts,
    },
)
usages = st.fixed_dictionaries(
    {},
    optional={
        "prompt_tokens": counts,
        "completion_tokens": counts,
        "total_tokens": counts,
        "prompt_tokens_details": st.one_of(st.none(), prompt_details),
        "completion_tokens_details": st.one_of(st.none(), completion_details),
        "cost": st.one_of(st.none(), st.floats(allow_nan=True), st.integers(-1, 10)),
        "is_byok": st.booleans(),
        "cost_details": st.one_of(st.none(), st.fixed_dictionaries({"upstream_inference_cost": counts})),
    },
)


def _as_dict(usage: Any) -> Any:
    return None if usage is None else usage.as_dict()


@settings(max_examples=500, deadline=None)
@given(usages)
def test_a_dict_reads_the_same_either_way(raw: dict[str, Any]) -> None:
    assert _as_dict(completion_usage(raw)) == _as_dict(_completion_usage_read(raw))


@settings(max_examples=500, deadline=None)
@given(usages)
def test_an_sdk_model_reads_the_same_either_way(raw: dict[str, Any]) -> None:
    # model_construct keeps malformed values as they came, as a lenient proxy's answer would.
    model = CompletionUsage.model_construct(**raw)
    assert _as_dict(completion_usage(model)) == _as_dict(_completion_usage_read(model))


def test_the_common_shape_takes_the_fast_reader() -> None:
    model = CompletionUsage.model_validate(
        {
            "prompt_tokens": 1_200,
            "completion_tokens": 800,
            "total_tokens": 2_000,
            "prompt_tokens_details": {"cached_tokens": 1_000, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 512, "audio_tokens": 0},
        }
    )
    fast = _plain_completion_usage(model)
    assert fast is not None
    assert (fast.input_tokens, fast.output_tokens, fast.cache_read_tokens, fast.reasoning_tokens) == (
        1_200,
        800,
        1_000,
        512,
    )
    # OpenRouter's cost, an extra field of the SDK's model, is still read.
    routed = CompletionUsage.model_validate(
        {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15, "cost": 0.25}
    )
    assert completion_usage(routed).provider_cost == 0.25  # type: ignore[union-attr]


class _OldPromptDetails(BaseModel):
    """An SDK older than ``text_tokens``/``image_tokens``: they arrive as pydantic extras."""

    model_config = ConfigDict(extra="allow")
    cached_tokens: int | None = None
    audio_tokens: int | None = None


class _OldUsage(BaseModel):
    model_config = ConfigDict(extra="allow")
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    prompt_tokens_details: _OldPromptDetails | None = None
    service_tier: str | None = None


def test_fields_an_older_sdk_keeps_as_extras_are_still_read() -> None:
    usage = _OldUsage.model_validate(
        {
            "prompt_tokens": 500,
            "completion_tokens": 300,
            "total_tokens": 800,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 120, "text_tokens": 380},
        }
    )
    read = completion_usage(usage)
    assert read is not None
    assert (read.audio_input_tokens, read.text_input_tokens) == (120, 380)
    assert _as_dict(read) == _as_dict(_completion_usage_read(usage))


class _FirstUsage(BaseModel):
    """openai 1.0's ``CompletionUsage``: three counts, the details only as extras."""

    model_config = ConfigDict(extra="allow")
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


def test_details_an_sdk_does_not_declare_at_all_are_still_read() -> None:
    usage = _FirstUsage.model_validate(
        {
            "prompt_tokens": 2_048,
            "completion_tokens": 64,
            "total_tokens": 2_112,
            "prompt_tokens_details": {"cached_tokens": 1_024},
            "completion_tokens_details": {"reasoning_tokens": 32},
        }
    )
    read = completion_usage(usage)
    assert read is not None
    assert (read.input_tokens, read.cache_read_tokens, read.reasoning_tokens) == (2_048, 1_024, 32)
    assert _as_dict(read) == _as_dict(_completion_usage_read(usage))
