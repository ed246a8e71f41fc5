"""A loopback HTTP server for litellm: it speaks to providers with its own clients
(the openai SDK for ``openai/...``, its own httpx handler for ``anthropic/...``), so
the tests point ``api_base`` here instead of mocking a transport.

Replies are queued per test and sent in order: JSON bodies, or server-sent events
written one event per chunk, as the providers stream them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from loopback import LoopbackServer as Loopback
from loopback import Reply


class LiteLLMServer(Loopback):
    """An OpenAI- and Anthropic-shaped endpoint on 127.0.0.1; one reply queued per request."""

    def reply_json(self, body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> None:
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        self.replies.put(Reply(status, json.dumps(body).encode(), all_headers))

    def reply_openai_stream(self, chunks: Iterable[Mapping[str, Any]], done: bool = True) -> None:
        """OpenAI chat chunks as ``data:`` events, closed by ``data: [DONE]`` (Gemini sends none)."""
        events = [f"data: {json.dumps(chunk)}\n\n".encode() for chunk in chunks]
        if done:
            events.append(b"data: [DONE]\n\n")
        self.replies.put(Reply(200, b"", {"Content-Type": "text/event-stream"}, events))

    def reply_anthropic_stream(self, stream_events: Iterable[Mapping[str, Any]]) -> None:
        """Anthropic Messages events, each named by its type."""
        events = [
            f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode() for event in stream_events
        ]
        self.replies.put(Reply(200, b"", {"Content-Type": "text/event-stream"}, events))


_shared: LiteLLMServer | None = None


def shared_server() -> LiteLLMServer:
    """One server for the session; the replies and requests of the last test are dropped."""
    global _shared
    if _shared is None:
        _shared = LiteLLMServer()
    _shared.reset()
    return _shared
