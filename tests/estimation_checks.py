"""Shared by the estimation tests of cohere, groq, mistralai and ollama (models counted by the heuristic).

One request, the same for every SDK, and what each of their tests repeats: how an
estimated (or not estimated) call's span reads, how its stream ended, a stream closed
early, and the PNG images the request readers size from their headers.
"""

from __future__ import annotations

import struct
import zlib
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode

from otel_tokenomics.estimation.tokenizers import heuristic_count as h

M = 1_000_000  # catalog prices are USD per million tokens
SYSTEM = "Be brief."
USER = "Say hello to the whole team."
MESSAGES = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": USER}]
# A heuristic prompt costs 3 tokens, plus 4 per message and the count of each text
# (counting.generic_prompt_tokens).
HEURISTIC_INPUT = 3 + (4 + h(SYSTEM)) + (4 + h(USER))
# The answer streamed in three pieces, "Hello team!" joined.
PIECES = ("Hel", "lo", " team!")


def exact(value: float) -> Any:
    return pytest.approx(value, rel=1e-12, abs=0)


def assert_estimated_usage(
    attributes: Any, input_tokens: int, output_tokens: int | None, tokenizer: str = "heuristic"
) -> None:
    """Estimated counts (output_tokens None: an embedding, no output to check) and their source."""
    assert attributes["gen_ai.usage.input_tokens"] == input_tokens
    if output_tokens is not None:
        assert attributes["gen_ai.usage.output_tokens"] == output_tokens
    # A tokenizer of the model's own makes an "estimated" count; the heuristic, a "heuristic" one.
    assert attributes["tokenomics.usage.source"] == ("heuristic" if tokenizer == "heuristic" else "estimated")
    assert attributes["tokenomics.usage.tokenizer"] == tokenizer
    assert attributes["tokenomics.cost.status"] == "estimated"


def assert_estimated(
    attributes: Any,
    input_tokens: int,
    output_tokens: int,
    prices: tuple[float, float],
    tokenizer: str = "heuristic",
) -> None:
    """Estimated counts, priced at (input, output) USD per million tokens."""
    assert_estimated_usage(attributes, input_tokens, output_tokens, tokenizer)
    assert attributes["tokenomics.cost.input"] == exact(input_tokens * prices[0] / M)
    assert attributes["tokenomics.cost.output"] == exact(output_tokens * prices[1] / M)
    assert attributes["tokenomics.cost.total"] == exact(
        (input_tokens * prices[0] + output_tokens * prices[1]) / M
    )


def assert_provider_usage(attributes: Any) -> None:
    """The provider's own counts were kept: nothing estimated, priced as reported."""
    assert attributes["tokenomics.usage.source"] == "provider"
    assert "tokenomics.usage.tokenizer" not in attributes
    assert attributes["tokenomics.cost.status"] == "priced"


def assert_not_estimated(attributes: Any) -> None:
    """A request the provider refused was not billed: nothing to estimate."""
    assert attributes["tokenomics.usage.source"] == "unavailable"
    assert attributes["tokenomics.cost.status"] == "no_usage"
    assert "gen_ai.usage.input_tokens" not in attributes


def close_after(stream: Any, chunks: int) -> None:
    """Read a stream's first chunks, then close it: a caller that stopped early."""
    for _ in range(chunks):
        next(stream)
    stream.close()


def ended_stream(telemetry: Any, outcome: str, status: StatusCode) -> ReadableSpan:
    """The call's span, once checked that its stream ended as said."""
    span = telemetry.span()
    assert span.status.status_code is status
    assert span.attributes["tokenomics.stream.outcome"] == outcome
    return span


def token_usage(telemetry: Any) -> dict[str, int]:
    """The gen_ai.client.token.usage histogram's sums, by token type."""
    points = telemetry.metrics()["gen_ai.client.token.usage"]
    return {point.attributes["gen_ai.token.type"]: point.sum for point in points}


def png(width: int, height: int) -> bytes:
    """A complete RGB PNG, all black: what the request readers size images from."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\x00\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )
