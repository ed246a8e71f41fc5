"""Mistral API wire payloads and a mock transport for the real ``mistralai`` client.

The client is handed both its sync and its async HTTP client, built on the HTTP
module the installed SDK speaks (``httpx2`` since 3.x, ``httpx`` in 2.x).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from mistralai.client import Mistral
from mistralai.client.utils import eventstreaming

# The HTTP module the SDK imports (``import httpx2 as httpx`` in 3.x).
http = eventstreaming.httpx

SERVER_URL = "https://api.mistral.ai"

Reply = Callable[[Any], Any]


def usage(prompt: int, completion: int, *, cached: int | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        **extra,
    }
    if cached is not None:
        body["prompt_tokens_details"] = {"cached_tokens": cached}
    return body


def completion(
    *contents: str,
    usage: dict[str, Any] | None = None,
    model: str = "mistral-large-2512",
    response_id: str = "cmpl-1",
    finish_reason: str = "stop",
) -> dict[str, Any]:
    """A ``chat.completion`` (FIM answers have the same shape): one choice per content."""
    return {
        "id": response_id,
        "object": "chat.completion",
        "model": model,
        "created": 1767225600,
        "choices": [
            {
                "index": index,
                "message": {"role": "assistant", "content": content},
                "finish_reason": finish_reason,
            }
            for index, content in enumerate(contents)
        ],
        "usage": usage or {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
    }


def chunk(
    content: str | None = None,
    *,
    role: str | None = None,
    finish_reason: str | None = None,
    usage: dict[str, Any] | None = None,
    index: int = 0,
    model: str = "mistral-large-2512",
    response_id: str = "cmpl-2",
) -> dict[str, Any]:
    delta: dict[str, Any] = {}
    if role is not None:
        delta["role"] = role
    if content is not None:
        delta["content"] = content
    body: dict[str, Any] = {
        "id": response_id,
        "object": "chat.completion.chunk",
        "created": 1767225600,
        "model": model,
        "choices": [{"index": index, "delta": delta, "finish_reason": finish_reason}],
    }
    if usage is not None:
        body["usage"] = usage
    return body


def embedding(*vectors: list[float], prompt_tokens: int, model: str = "mistral-embed") -> dict[str, Any]:
    return {
        "id": "emb-1",
        "object": "list",
        "model": model,
        "data": [
            {"object": "embedding", "embedding": vector, "index": i} for i, vector in enumerate(vectors)
        ],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": 0, "total_tokens": prompt_tokens},
    }


def sse(events: Iterable[dict[str, Any]], done: bool = True) -> list[bytes]:
    chunks = [b"data: " + json.dumps(event).encode() + b"\n\n" for event in events]
    if done:
        chunks.append(b"data: [DONE]\n\n")
    return chunks


class Server:
    """Answers each request with the next reply queued for its path; keeps every request."""

    def __init__(self) -> None:
        self.replies: list[tuple[str, Reply]] = []
        self.requests: list[Any] = []

    def json(self, path: str, body: Any, status: int = 200) -> None:
        content = json.dumps(body).encode()
        self.replies.append(
            (
                path,
                lambda request: http.Response(
                    status, content=content, headers={"content-type": "application/json"}
                ),
            )
        )

    def error(self, path: str, status: int, message: str = "error") -> None:
        self.json(
            path, {"object": "error", "message": message, "type": "api_error", "code": str(status)}, status
        )

    def stream(self, path: str, events: Iterable[dict[str, Any]], fail_after: int | None = None) -> None:
        """An SSE stream ending in ``[DONE]``; with ``fail_after``, the connection breaks
        after that many events."""
        chunks = sse(events)
        self.replies.append((path, lambda request: self._stream_response(chunks, fail_after, request)))

    @staticmethod
    def _stream_response(chunks: list[bytes], fail_after: int | None, request: Any) -> Any:
        def body() -> Iterator[bytes]:
            for position, data in enumerate(chunks):
                if fail_after is not None and position == fail_after:
                    raise http.ReadError("connection lost", request=request)
                yield data

        async def async_body() -> Any:
            for data in body():
                yield data

        is_async = request.extensions.get("async", False)
        return http.Response(
            200, headers={"content-type": "text/event-stream"}, content=async_body() if is_async else body()
        )

    def handle(self, request: Any) -> Any:
        self.requests.append(request)
        path = request.url.path
        for position, (wanted, reply) in enumerate(self.replies):
            if path == wanted:
                del self.replies[position]
                return reply(request)
        return http.Response(404, json={"object": "error", "message": f"no reply queued for {path}"})

    async def handle_async(self, request: Any) -> Any:
        request.extensions["async"] = True
        return self.handle(request)

    def client(self, server_url: str = SERVER_URL, **options: Any) -> Mistral:
        return Mistral(
            api_key="test-key",
            server_url=server_url,
            client=http.Client(transport=http.MockTransport(self.handle)),
            async_client=http.AsyncClient(transport=http.MockTransport(self.handle_async)),
            **options,
        )

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(request.content) for request in self.requests]
