"""Ollama wire payloads and an in-process server for the real ``ollama`` client.

The SDK speaks ``httpx`` and hands extra ``Client(...)`` keywords to it, so a
``MockTransport`` goes straight in; the module-level functions (``ollama.chat``)
use a client made at import, reached through respx instead (:meth:`Server.everywhere`).
Streams are NDJSON: one JSON answer per line, the last one ``done: true`` with the counts.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import ollama
import respx

HOST = "http://127.0.0.1:11434"
CREATED_AT = "2026-11-02T12:00:00.000000Z"
# What a warm local server reports, in nanoseconds; never recorded, only sent.
DURATIONS = {
    "total_duration": 1_250_000_000,
    "load_duration": 20_000_000,
    "prompt_eval_duration": 130_000_000,
    "eval_duration": 1_000_000_000,
}

Reply = Callable[[httpx.Request], httpx.Response]


def answer(
    *,
    model: str = "llama3.2",
    prompt: int | None = 26,
    output: int | None = 12,
    cached: int | None = None,
    done_reason: str | None = "stop",
    **fields: Any,
) -> dict[str, Any]:
    """A final answer (``done: true``): counts left out when None, as the server's ``omitempty`` does."""
    body: dict[str, Any] = {"model": model, "created_at": CREATED_AT, **fields, "done": True}
    if done_reason is not None:
        body["done_reason"] = done_reason
    body.update(DURATIONS)
    for key, value in (
        ("prompt_eval_count", prompt),
        ("prompt_eval_cached_count", cached),
        ("eval_count", output),
    ):
        if value is not None:
            body[key] = value
    return body


def message(content: str = "", *, thinking: str | None = None, tool_calls: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"role": "assistant", "content": content}
    if thinking is not None:
        body["thinking"] = thinking
    if tool_calls is not None:
        body["tool_calls"] = tool_calls
    return body


def chat_answer(
    content: str = "Hello! How can I help?", *, thinking: str | None = None, **counts: Any
) -> dict:
    return answer(message=message(content, thinking=thinking), **counts)


def generate_answer(
    text: str = "Hello! How can I help?", *, thinking: str | None = None, **counts: Any
) -> dict:
    fields: dict[str, Any] = {"response": text}
    if thinking is not None:
        fields["thinking"] = thinking
    return answer(**fields, **counts)


def embed_answer(*, vectors: int = 2, dimensions: int = 4, prompt: int | None = 8) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": "nomic-embed-text",
        "embeddings": [[0.25] * dimensions for _ in range(vectors)],
        "total_duration": 14_000_000,
        "load_duration": 1_000_000,
    }
    if prompt is not None:
        body["prompt_eval_count"] = prompt
    return body


def chat_parts(pieces: list[str], final: dict[str, Any] | None = None, **counts: Any) -> list[dict]:
    """A streamed chat: one part per piece, then the final part (empty content, the counts)."""
    parts: list[dict[str, Any]] = [
        {"model": "llama3.2", "created_at": CREATED_AT, "message": message(piece), "done": False}
        for piece in pieces
    ]
    parts.append(final if final is not None else chat_answer("", **counts))
    return parts


def generate_parts(pieces: list[str], **counts: Any) -> list[dict]:
    parts: list[dict[str, Any]] = [
        {"model": "llama3.2", "created_at": CREATED_AT, "response": piece, "done": False} for piece in pieces
    ]
    parts.append(generate_answer("", **counts))
    return parts


def ndjson(parts: list[dict[str, Any]]) -> list[bytes]:
    return [json.dumps(part).encode() + b"\n" for part in parts]


class Server:
    """Path -> reply; every request kept for assertions."""

    def __init__(self) -> None:
        self.routes: dict[str, Reply] = {}
        # path -> (lines, how many are sent before the connection drops)
        self.streams: dict[str, tuple[list[bytes], int | None]] = {}
        self.requests: list[httpx.Request] = []

    def json(self, path: str, body: Any, status: int = 200) -> None:
        self.streams.pop(path, None)
        self.routes[path] = lambda request: httpx.Response(status, json=body)

    def error(self, path: str, status: int, message: str) -> None:
        """An HTTP error the way Ollama sends it: ``{"error": "..."}``."""
        self.json(path, {"error": message}, status)

    def stream(self, path: str, parts: list[dict[str, Any]], *, drop_after: int | None = None) -> None:
        """An NDJSON stream; with ``drop_after`` the connection breaks after that many lines."""
        self.routes.pop(path, None)
        self.streams[path] = (ndjson(parts), drop_after)

    def _lines(self, path: str) -> Iterator[bytes]:
        lines, drop_after = self.streams[path]
        for index, line in enumerate(lines):
            if drop_after is not None and index == drop_after:
                raise httpx.ReadError("connection reset")
            yield line

    async def _async_lines(self, path: str) -> AsyncIterator[bytes]:
        for line in self._lines(path):
            yield line

    def _reply(self, request: httpx.Request, content: Any) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if path in self.streams:
            return httpx.Response(
                200, headers={"content-type": "application/x-ndjson"}, content=content(path)
            )
        route = self.routes.get(path)
        if route is None:
            return httpx.Response(404, json={"error": f"no route for {path}"})
        return route(request)

    def handler(self, request: httpx.Request) -> httpx.Response:
        return self._reply(request, self._lines)

    async def async_handler(self, request: httpx.Request) -> httpx.Response:
        return self._reply(request, self._async_lines)

    def request_json(self, index: int = -1) -> Any:
        return json.loads(self.requests[index].content)

    def client(self, host: str = HOST) -> ollama.Client:
        return ollama.Client(host=host, transport=httpx.MockTransport(self.handler))

    def async_client(self, host: str = HOST) -> ollama.AsyncClient:
        return ollama.AsyncClient(host=host, transport=httpx.MockTransport(self.async_handler))

    def everywhere(self) -> respx.MockRouter:
        """Answer every httpx request made in the block, the default client's included."""
        router = respx.mock(assert_all_called=False)
        router.route().mock(side_effect=self._respx_reply)
        return router

    def _respx_reply(self, request: httpx.Request) -> httpx.Response:
        # respx serves sync and async clients alike from a sync side effect; an async
        # client reads the body through the async interface, so give it bytes.
        lines = self.streams.get(request.url.path)
        if lines is not None and lines[1] is None:
            self.requests.append(request)
            return httpx.Response(
                200, headers={"content-type": "application/x-ndjson"}, content=b"".join(lines[0])
            )
        return self.handler(request)
