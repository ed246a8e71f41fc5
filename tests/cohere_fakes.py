"""Cohere API v2 wire payloads and a mock transport for the real ``cohere`` client.

Shapes follow Cohere's API reference (``POST /v2/chat``, ``POST /v2/embed``) and the
SDK's models (``V2ChatResponse``, ``V2ChatStreamResponse``, ``EmbedByTypeResponse``).
Counts are floats, as Cohere sends and the SDK models them. Billed counts are
smaller than processed ones: Cohere does not bill the tokens it adds itself.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import Any

import cohere
import httpx

BASE_URL = "https://api.cohere.com"

Reply = Callable[[httpx.Request], httpx.Response]

# No retries: a 429 or 500 must reach the test at once, without the SDK's backoff.
# Releases before max_retries existed (5.x) did not retry by default.
NO_RETRIES: dict[str, Any] = (
    {"max_retries": 0} if "max_retries" in inspect.signature(cohere.ClientV2.__init__).parameters else {}
)


def usage(
    billed_in: float | None,
    billed_out: float | None,
    *,
    tokens_in: float | None = None,
    tokens_out: float | None = None,
    cached: float | None = None,
) -> dict[str, Any]:
    """``Usage``: billed units, processed tokens (by default larger: template and special tokens)."""
    body: dict[str, Any] = {}
    if billed_in is not None or billed_out is not None:
        body["billed_units"] = {"input_tokens": billed_in, "output_tokens": billed_out}
    tokens_in = tokens_in if tokens_in is not None else (billed_in or 0.0) + 66.0
    tokens_out = tokens_out if tokens_out is not None else (billed_out or 0.0) + 2.0
    body["tokens"] = {"input_tokens": tokens_in, "output_tokens": tokens_out}
    if cached is not None:
        body["cached_tokens"] = cached
    return body


def chat_response(
    text: str = "Hello! How can I help you today?",
    *,
    finish_reason: str = "COMPLETE",
    usage_body: dict[str, Any] | None = None,
    response_id: str = "c14c80c3-18eb-4519-9460-6c92edd8cfb4",
    tool_calls: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant"}
    if tool_calls:
        message["tool_plan"] = "I will look up the weather."
        message["tool_calls"] = tool_calls
    else:
        message["content"] = [{"type": "text", "text": text}]
    body: dict[str, Any] = {"id": response_id, "finish_reason": finish_reason, "message": message}
    body["usage"] = usage_body if usage_body is not None else usage(12.0, 9.0)
    return body


def tool_call(
    name: str, arguments: dict[str, Any], call_id: str = "get_weather_k9s4mhe1r7xz"
) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}


def stream_events(
    pieces: Iterable[str] = ("Hel", "lo", "!"),
    *,
    finish_reason: str = "COMPLETE",
    usage_body: dict[str, Any] | None = None,
    response_id: str = "29f14a5a-11de-4cae-9800-25e4747408ea",
) -> list[dict[str, Any]]:
    """The events of a streamed text answer; usage only in ``message-end``."""
    events: list[dict[str, Any]] = [
        {
            "id": response_id,
            "type": "message-start",
            "delta": {
                "message": {
                    "role": "assistant",
                    "content": [],
                    "tool_plan": "",
                    "tool_calls": [],
                    "citations": [],
                }
            },
        },
        {
            "type": "content-start",
            "index": 0,
            "delta": {"message": {"content": {"type": "text", "text": ""}}},
        },
    ]
    events += [
        {"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": piece}}}}
        for piece in pieces
    ]
    events.append({"type": "content-end", "index": 0})
    events.append(
        {
            "type": "message-end",
            "delta": {
                "finish_reason": finish_reason,
                "usage": usage_body if usage_body is not None else usage(10.0, 3.0),
            },
        }
    )
    return events


def tool_stream_events() -> list[dict[str, Any]]:
    """A streamed tool call: plan, call start, argument deltas, end with TOOL_CALL."""
    return [
        {"id": "a1b2", "type": "message-start", "delta": {"message": {"role": "assistant"}}},
        {"type": "tool-plan-delta", "delta": {"message": {"tool_plan": "I will check the weather."}}},
        {
            "type": "tool-call-start",
            "index": 0,
            "delta": {
                "message": {
                    "tool_calls": {
                        "id": "get_weather_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": ""},
                    }
                }
            },
        },
        {
            "type": "tool-call-delta",
            "index": 0,
            "delta": {"message": {"tool_calls": {"function": {"arguments": '{"city": "Paris"}'}}}},
        },
        {"type": "tool-call-end", "index": 0},
        {"type": "message-end", "delta": {"finish_reason": "TOOL_CALL", "usage": usage(40.0, 21.0)}},
    ]


def embed_response(
    vectors: int = 2,
    dimension: int = 4,
    *,
    billed: dict[str, Any] | None = None,
    tokens: dict[str, Any] | None = None,
    response_id: str = "8a4b2c1d-embed",
) -> dict[str, Any]:
    meta: dict[str, Any] = {"api_version": {"version": "2"}}
    meta["billed_units"] = billed if billed is not None else {"input_tokens": 6.0}
    if tokens is not None:
        meta["tokens"] = tokens
    return {
        "id": response_id,
        "embeddings": {"float": [[0.015625 * (i + j) for j in range(dimension)] for i in range(vectors)]},
        "texts": ["hello", "goodbye"][:vectors],
        "meta": meta,
        "response_type": "embeddings_by_type",
    }


def error_body(message: str) -> dict[str, Any]:
    return {"id": "5f8ab7b0-err", "message": message}


def sse(event: dict[str, Any]) -> bytes:
    return f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode()


class Server:
    """Answers each request with the next reply queued for its path (``/v2/chat``, ``/v2/embed``)."""

    def __init__(self) -> None:
        self.replies: list[tuple[str, Reply]] = []
        self.requests: list[httpx.Request] = []

    def json(self, path: str, body: Any, status: int = 200, headers: dict[str, str] | None = None) -> None:
        content = json.dumps(body).encode()
        self.replies.append(
            (
                path,
                lambda request: httpx.Response(
                    status, content=content, headers={"content-type": "application/json", **(headers or {})}
                ),
            )
        )

    def chat(self, body: dict[str, Any] | None = None) -> None:
        self.json("/v2/chat", body if body is not None else chat_response())

    def embed(self, body: dict[str, Any] | None = None) -> None:
        self.json("/v2/embed", body if body is not None else embed_response())

    def error(self, path: str, status: int, message: str = "error") -> None:
        self.json(path, error_body(message), status)

    def stream(self, events: Iterable[dict[str, Any]], fail_after: int | None = None) -> None:
        """An SSE stream on ``/v2/chat``; ``fail_after``: the connection breaks after that many events."""
        events = list(events)
        self.replies.append(("/v2/chat", lambda request: self._stream_response(events, fail_after, request)))

    def _stream_response(
        self, events: list[dict[str, Any]], fail_after: int | None, request: httpx.Request
    ) -> httpx.Response:
        chunks = [sse(event) for event in events]

        def body() -> Iterator[bytes]:
            for position, chunk in enumerate(chunks):
                if fail_after is not None and position == fail_after:
                    raise httpx.ReadError("connection lost", request=request)
                yield chunk

        async def async_body() -> AsyncIterator[bytes]:
            for chunk in body():
                yield chunk

        is_async = request.extensions.get("async", False)
        return httpx.Response(
            200, headers={"content-type": "text/event-stream"}, content=async_body() if is_async else body()
        )

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        for position, (path, reply) in enumerate(self.replies):
            if request.url.path == path:
                del self.replies[position]
                return reply(request)
        return httpx.Response(404, json=error_body(f"no route {request.url.path}"))

    async def handle_async(self, request: httpx.Request) -> httpx.Response:
        request.extensions["async"] = True
        return self.handle(request)

    def client(self, base_url: str | None = None) -> cohere.ClientV2:
        return cohere.ClientV2(
            api_key="test-key",
            base_url=base_url or BASE_URL,
            **NO_RETRIES,
            httpx_client=httpx.Client(transport=httpx.MockTransport(self.handle)),
        )

    def async_client(self, base_url: str | None = None) -> cohere.AsyncClientV2:
        return cohere.AsyncClientV2(
            api_key="test-key",
            base_url=base_url or BASE_URL,
            **NO_RETRIES,
            httpx_client=httpx.AsyncClient(transport=httpx.MockTransport(self.handle_async)),
        )

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(request.content) for request in self.requests]
