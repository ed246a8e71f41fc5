"""Anthropic wire payloads and a mock transport for the real ``anthropic`` client (httpx2 only)."""

from __future__ import annotations

import base64
import binascii
import json
import struct
from collections.abc import Callable, Iterable
from typing import Any

import anthropic
import httpx2 as HTTP
import pytest
from mock_http import MockServer

ANTHROPIC_VERSION = tuple(int(part) for part in anthropic.__version__.split(".")[:2])
MODEL = "claude-sonnet-4-5-20250929"
MESSAGES = [{"role": "user", "content": "Say hello."}]


def _has(module: str, name: str) -> bool:
    try:
        return hasattr(__import__(module, fromlist=[name]), name)
    except ImportError:
        return False


_FEATURES: dict[str, Callable[[], bool]] = {
    # The SDK's own OpenTelemetry span (and its open_telemetry= client option).
    "sdk_tracing": lambda: _has("anthropic._base_client", "start_api_call_span"),
    "parse": lambda: hasattr(anthropic.resources.messages.Messages, "parse"),
    "beta_parse": lambda: hasattr(anthropic.resources.beta.messages.Messages, "parse"),
}


def requires(*features: str) -> pytest.MarkDecorator:
    """Skip on an anthropic release that predates a feature the test exercises."""
    missing = [name for name in features if not _FEATURES[name]()]
    return pytest.mark.skipif(
        bool(missing), reason=f"anthropic {anthropic.__version__} lacks {', '.join(missing)}"
    )


# -- payloads ---------------------------------------------------------------------------------

USAGE = {
    "input_tokens": 1200,
    "cache_creation_input_tokens": 3000,
    "cache_read_input_tokens": 40000,
    "cache_creation": {"ephemeral_5m_input_tokens": 1000, "ephemeral_1h_input_tokens": 2000},
    "output_tokens": 800,
    "service_tier": "standard",
}


def message(
    *,
    model: str = MODEL,
    usage: Any = USAGE,
    content: list[dict[str, Any]] | None = None,
    stop_reason: str = "end_turn",
    **extra: Any,
) -> dict[str, Any]:
    body = {
        "id": "msg_01abc",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content if content is not None else [{"type": "text", "text": "Hello there."}],
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": usage,
    }
    body.update(extra)
    return body


# message_start: the final input counts, a placeholder output count.
START_USAGE = {**USAGE, "output_tokens": 1}
# Cumulative: the final output count, and the input counts again (never to be added).
DELTA_USAGE = {
    "input_tokens": 1200,
    "cache_creation_input_tokens": 3000,
    "cache_read_input_tokens": 40000,
    "output_tokens": 800,
}


def events(
    pieces: Iterable[str] = ("Hel", "lo", " there."),
    *,
    model: str = MODEL,
    start_usage: Any = START_USAGE,
    delta_usage: Any = DELTA_USAGE,
    stop_reason: str = "end_turn",
) -> list[dict[str, Any]]:
    start = message(model=model, usage=start_usage, content=[], stop_reason=None)  # type: ignore[arg-type]
    out: list[dict[str, Any]] = [
        {"type": "message_start", "message": start},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    ]
    for piece in pieces:
        out.append({"type": "ping"} if piece == "" else _text_delta(piece))
    out += [
        {"type": "content_block_stop", "index": 0},
        {
            "type": "message_delta",
            "delta": {"stop_reason": stop_reason, "stop_sequence": None},
            "usage": delta_usage,
        },
        {"type": "message_stop"},
    ]
    return out


def _text_delta(text: str) -> dict[str, Any]:
    return {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}}


def sse(stream_events: Iterable[dict[str, Any]]) -> bytes:
    return "".join(
        f"event: {event['type']}\ndata: {json.dumps(event)}\n\n" for event in stream_events
    ).encode()


ERROR_EVENT = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}


# -- AWS event stream (Bedrock invoke-with-response-stream) -------------------------------------


def _header(name: str, value: str) -> bytes:
    raw_name, raw_value = name.encode(), value.encode()
    return (
        struct.pack("B", len(raw_name)) + raw_name + b"\x07" + struct.pack(">H", len(raw_value)) + raw_value
    )


def aws_frame(payload: bytes, headers: dict[str, str]) -> bytes:
    encoded = b"".join(_header(name, value) for name, value in headers.items())
    total = 12 + len(encoded) + len(payload) + 4
    prelude = struct.pack(">II", total, len(encoded))
    prelude += struct.pack(">I", binascii.crc32(prelude) & 0xFFFFFFFF)
    body = prelude + encoded + payload
    return body + struct.pack(">I", binascii.crc32(body) & 0xFFFFFFFF)


def bedrock_stream(stream_events: Iterable[dict[str, Any]]) -> bytes:
    """Each Anthropic event as a Bedrock ``chunk`` frame: ``{"bytes": base64(event JSON)}``."""
    headers = {":event-type": "chunk", ":content-type": "application/json", ":message-type": "event"}
    return b"".join(
        aws_frame(json.dumps({"bytes": base64.b64encode(json.dumps(e).encode()).decode()}).encode(), headers)
        for e in stream_events
    )


# -- the mock server ----------------------------------------------------------------------------


_BEDROCK_OPTIONS = {"aws_access_key": "x", "aws_secret_key": "y", "aws_region": "us-east-1", "max_retries": 0}


class Server(MockServer):
    """Answers the anthropic clients (first-party, Bedrock, Vertex) on their own paths."""

    def __init__(self) -> None:
        super().__init__(HTTP)

    def not_found(self, path: str) -> Any:
        return {"type": "error", "error": {"type": "not_found_error"}}

    def client(self, **kwargs: Any) -> anthropic.Anthropic:
        kwargs.setdefault("api_key", "test-key")
        kwargs.setdefault("max_retries", 0)
        return anthropic.Anthropic(http_client=self.http_client(), **kwargs)

    def async_client(self, **kwargs: Any) -> anthropic.AsyncAnthropic:
        kwargs.setdefault("api_key", "test-key")
        kwargs.setdefault("max_retries", 0)
        return anthropic.AsyncAnthropic(http_client=self.async_http_client(), **kwargs)

    def bedrock_client(self, **kwargs: Any) -> anthropic.AnthropicBedrock:
        return anthropic.AnthropicBedrock(http_client=self.http_client(), **_BEDROCK_OPTIONS, **kwargs)

    def async_bedrock_client(self) -> anthropic.AsyncAnthropicBedrock:
        return anthropic.AsyncAnthropicBedrock(http_client=self.async_http_client(), **_BEDROCK_OPTIONS)

    def vertex_client(self) -> anthropic.AnthropicVertex:
        return anthropic.AnthropicVertex(
            region="us-east5",
            project_id="proj",
            access_token="t",
            http_client=self.http_client(),
            max_retries=0,
        )


def cost_attributes(attributes: Any) -> dict[str, Any]:
    return {key: value for key, value in attributes.items() if key.startswith("tokenomics.cost.")}


def exact(value: float) -> Any:
    return pytest.approx(value, rel=1e-12, abs=0)
