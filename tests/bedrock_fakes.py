"""Bedrock Runtime on loopback: payloads, an AWS event-stream encoder, and a small HTTP server.

botocore ships only the event-stream decoder (``botocore.eventstream.EventStreamBuffer``);
the encoder here writes the frame format it reads:

    prelude   total length (uint32) | headers length (uint32) | CRC-32 of those 8 bytes
    headers   name length (uint8) | name | value type (uint8, 7 = string) | length (uint16) | value
    payload   the event's JSON
    trailer   CRC-32 of every byte before it

The server is :class:`loopback.LoopbackServer`: event streams go out chunked, one
frame per chunk, as Bedrock sends them. Each test queues the replies it expects,
in order.
"""

from __future__ import annotations

import base64
import json
import struct
import zlib
from collections.abc import Iterable, Mapping
from typing import Any

import boto3
from botocore.config import Config
from loopback import LoopbackServer, Reply

EVENT_STREAM = "application/vnd.amazon.eventstream"

# A Claude answer's usage on Bedrock: uncached input, cache reads, writes split by TTL, output.
CLAUDE_USAGE = {
    "input_tokens": 100,
    "cache_read_input_tokens": 2000,
    "cache_creation_input_tokens": 1000,
    "cache_creation": {"ephemeral_5m_input_tokens": 400, "ephemeral_1h_input_tokens": 600},
    "output_tokens": 50,
}

SONNET_45 = "anthropic.claude-sonnet-4-5-20250929-v1:0"
SONNET_45_US = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
SONNET_45_GLOBAL = "global.anthropic.claude-sonnet-4-5-20250929-v1:0"


# -- frames ---------------------------------------------------------------------------------


def _header(name: str, value: str) -> bytes:
    raw_name = name.encode("ascii")
    raw_value = value.encode("utf-8")
    return struct.pack(">B", len(raw_name)) + raw_name + struct.pack(">BH", 7, len(raw_value)) + raw_value


def encode_frame(headers: Mapping[str, str], payload: bytes) -> bytes:
    """One event-stream message with string headers."""
    encoded_headers = b"".join(_header(name, value) for name, value in headers.items())
    total = 12 + len(encoded_headers) + len(payload) + 4
    prelude = struct.pack(">II", total, len(encoded_headers))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    message = prelude + encoded_headers + payload
    return message + struct.pack(">I", zlib.crc32(message))


def event_frame(event_type: str, payload: Mapping[str, Any]) -> bytes:
    return encode_frame(
        {":event-type": event_type, ":content-type": "application/json", ":message-type": "event"},
        json.dumps(payload).encode(),
    )


def exception_frame(exception_type: str, message: str = "boom") -> bytes:
    return encode_frame(
        {
            ":exception-type": exception_type,
            ":content-type": "application/json",
            ":message-type": "exception",
        },
        json.dumps({"message": message}).encode(),
    )


def converse_frames(events: Iterable[Mapping[str, Any]]) -> list[bytes]:
    """ConverseStream events as ``{"messageStart": {...}}`` dicts, one key each."""
    frames = []
    for event in events:
        ((event_type, payload),) = event.items()
        frames.append(event_frame(event_type, payload))
    return frames


def chunk_frames(payloads: Iterable[Mapping[str, Any]]) -> list[bytes]:
    """InvokeModelWithResponseStream chunks: each model event's JSON, base64 in ``bytes``."""
    return [
        event_frame("chunk", {"bytes": base64.b64encode(json.dumps(payload).encode()).decode(), "p": "abcd"})
        for payload in payloads
    ]


# -- payloads -------------------------------------------------------------------------------


def converse_response(
    usage: Mapping[str, Any], text: str = "Hello there.", stop: str = "end_turn"
) -> dict[str, Any]:
    return {
        "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
        "stopReason": stop,
        "usage": dict(usage),
        "metrics": {"latencyMs": 321},
    }


def converse_stream_events(
    usage: Mapping[str, Any], pieces: Iterable[str] = ("Hel", "lo", " there."), stop: str = "end_turn"
) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = [{"messageStart": {"role": "assistant"}}]
    events += [{"contentBlockDelta": {"contentBlockIndex": 0, "delta": {"text": piece}}} for piece in pieces]
    events += [
        {"contentBlockStop": {"contentBlockIndex": 0}},
        {"messageStop": {"stopReason": stop}},
        {"metadata": {"usage": dict(usage), "metrics": {"latencyMs": 654}}},
    ]
    return events


def anthropic_message(usage: Mapping[str, Any], text: str = "Hello there.") -> dict[str, Any]:
    return {
        "id": "msg_bdrk_01",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5-20250929",
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": dict(usage),
    }


def anthropic_stream_events(
    start_usage: Mapping[str, Any],
    delta_usage: Mapping[str, Any],
    metrics: Mapping[str, Any] | None = None,
    pieces: Iterable[str] = ("Hel", "lo"),
) -> list[dict[str, Any]]:
    message = anthropic_message(start_usage, text="")
    message["content"] = []
    message["stop_reason"] = None
    events: list[dict[str, Any]] = [
        {"type": "message_start", "message": message},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    ]
    events += [
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}}
        for piece in pieces
    ]
    events += [
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": dict(delta_usage)},
    ]
    stop: dict[str, Any] = {"type": "message_stop"}
    if metrics is not None:
        stop["amazon-bedrock-invocationMetrics"] = dict(metrics)
    events.append(stop)
    return events


def token_headers(
    input_tokens: int, output_tokens: int | None = None, read: int | None = None, write: int | None = None
) -> dict[str, str]:
    headers = {"X-Amzn-Bedrock-Input-Token-Count": str(input_tokens)}
    if output_tokens is not None:
        headers["X-Amzn-Bedrock-Output-Token-Count"] = str(output_tokens)
    if read is not None:
        headers["X-Amzn-Bedrock-Cache-Read-Input-Token-Count"] = str(read)
    if write is not None:
        headers["X-Amzn-Bedrock-Cache-Write-Input-Token-Count"] = str(write)
    return headers


# -- the server -----------------------------------------------------------------------------


class BedrockServer(LoopbackServer):
    """A loopback endpoint for real boto3 clients; replies are queued per test."""

    always_headers = {"x-amzn-RequestId": "req-0001"}

    def __init__(self) -> None:
        super().__init__()
        self._clients: dict[str, Any] = {}

    def unexpected(self) -> Reply:
        return Reply(500, b'{"message": "no reply queued"}')

    def client(self, service: str = "bedrock-runtime") -> Any:
        client = self._clients.get(service)
        if client is None:
            client = self._clients[service] = boto3.client(
                service,
                endpoint_url=self.url,
                region_name="us-east-1",
                aws_access_key_id="x",
                aws_secret_access_key="y",
                config=Config(retries={"total_max_attempts": 1}),
            )
        return client

    def reply(
        self,
        body: Any = None,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        frames: list[bytes] | None = None,
    ) -> None:
        raw = body if isinstance(body, bytes) else json.dumps(body if body is not None else {}).encode()
        all_headers = {"Content-Type": "application/json"}
        all_headers.update(headers or {})
        self.replies.put(Reply(status, raw, all_headers, frames))

    def reply_json(self, body: Any, headers: Mapping[str, str] | None = None) -> None:
        self.reply(body, headers=headers)

    def reply_stream(self, frames: list[bytes], headers: Mapping[str, str] | None = None) -> None:
        self.replies.put(Reply(200, b"", {**(headers or {}), "Content-Type": EVENT_STREAM}, frames))

    def reply_error(self, status: int, code: str, message: str = "Too many requests") -> None:
        self.reply(
            {"message": message}, status=status, headers={"x-amzn-ErrorType": f"{code}:http://internal/"}
        )


_shared: BedrockServer | None = None


def shared_server() -> BedrockServer:
    """One server (and one client per service) for the whole session: clients are slow to build."""
    global _shared
    if _shared is None:
        _shared = BedrockServer()
    _shared.reset()
    return _shared
