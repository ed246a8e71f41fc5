"""Gemini API / Vertex AI wire payloads and mock transports for the real ``google-genai`` client.

The SDK speaks ``httpx2``; both the sync and the async client are handed in, so
the async path does not switch to aiohttp (which the SDK prefers when installed).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import httpx2
from google import genai
from google.auth.credentials import Credentials
from google.genai import types

GEMINI_URL = "https://generativelanguage.googleapis.com"
VERTEX_URL = "https://us-central1-aiplatform.googleapis.com"

Reply = Callable[[httpx2.Request], httpx2.Response]


class FakeCredentials(Credentials):  # type: ignore[misc]
    """Valid, never expiring Google credentials: Vertex mode without any auth traffic."""

    def __init__(self) -> None:
        super().__init__()
        self.token = "test-token"

    def refresh(self, request: Any) -> None:  # pragma: no cover - never expired
        self.token = "test-token"


def usage_metadata(
    prompt: int,
    candidates: int,
    *,
    thoughts: int | None = None,
    cached: int | None = None,
    tool_use: int | None = None,
    prompt_details: list[tuple[str, int]] | None = None,
    candidates_details: list[tuple[str, int]] | None = None,
    cache_details: list[tuple[str, int]] | None = None,
    tool_use_details: list[tuple[str, int]] | None = None,
    traffic_type: str | None = None,
) -> dict[str, Any]:
    """``usageMetadata`` as sent (camelCase); total = prompt + candidates + tool use + thoughts."""
    metadata: dict[str, Any] = {
        "promptTokenCount": prompt,
        "candidatesTokenCount": candidates,
        "totalTokenCount": prompt + candidates + (thoughts or 0) + (tool_use or 0),
    }
    for key, value in (
        ("thoughtsTokenCount", thoughts),
        ("cachedContentTokenCount", cached),
        ("toolUsePromptTokenCount", tool_use),
        ("trafficType", traffic_type),
        ("promptTokensDetails", _details(prompt_details)),
        ("candidatesTokensDetails", _details(candidates_details)),
        ("cacheTokensDetails", _details(cache_details)),
        ("toolUsePromptTokensDetails", _details(tool_use_details)),
    ):
        if value is not None:
            metadata[key] = value
    return metadata


def _details(details: list[tuple[str, int]] | None) -> list[dict[str, Any]] | None:
    if details is None:
        return None
    return [{"modality": modality, "tokenCount": tokens} for modality, tokens in details]


def candidate(
    *parts: dict[str, Any], finish_reason: str | None = "STOP", index: int | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"content": {"role": "model", "parts": list(parts)}}
    if finish_reason is not None:
        body["finishReason"] = finish_reason
    if index is not None:
        body["index"] = index
    return body


def response(
    *candidates: dict[str, Any],
    usage: dict[str, Any] | None = None,
    model: str = "gemini-2.5-flash",
    response_id: str = "resp-1",
) -> dict[str, Any]:
    body: dict[str, Any] = {"candidates": list(candidates), "modelVersion": model, "responseId": response_id}
    if usage is not None:
        body["usageMetadata"] = usage
    return body


def text(value: str, *, thought: bool = False) -> dict[str, Any]:
    return {"text": value, "thought": True} if thought else {"text": value}


def function_call(name: str, args: dict[str, Any]) -> dict[str, Any]:
    return {"functionCall": {"name": name, "args": args}}


def sse(events: Iterable[dict[str, Any]]) -> bytes:
    return b"".join(b"data: " + json.dumps(event).encode() + b"\r\n\r\n" for event in events)


class Server:
    """Answers each request with the next reply queued for the first path suffix it ends with."""

    def __init__(self) -> None:
        self.replies: list[tuple[str, Reply]] = []
        self.requests: list[httpx2.Request] = []

    def json(self, suffix: str, body: Any, status: int = 200, headers: dict[str, str] | None = None) -> None:
        content = json.dumps(body).encode()
        self.replies.append(
            (
                suffix,
                lambda request: httpx2.Response(
                    status, content=content, headers={"content-type": "application/json", **(headers or {})}
                ),
            )
        )

    def stream(self, suffix: str, events: Iterable[dict[str, Any]], fail_after: int | None = None) -> None:
        """An SSE stream; with ``fail_after``, the connection breaks after that many events."""
        events = list(events)
        self.replies.append((suffix, lambda request: self._stream_response(events, fail_after, request)))

    def error(self, suffix: str, status: int, reason: str, message: str = "error") -> None:
        self.json(suffix, {"error": {"code": status, "status": reason, "message": message}}, status)

    def _stream_response(
        self, events: list[dict[str, Any]], fail_after: int | None, request: httpx2.Request
    ) -> httpx2.Response:
        is_async = request.extensions.get("async", False)
        chunks = [sse([event]) for event in events]

        def body() -> Iterator[bytes]:
            for position, chunk in enumerate(chunks):
                if fail_after is not None and position == fail_after:
                    raise httpx2.ReadError("connection lost", request=request)
                yield chunk

        async def async_body() -> Any:
            for chunk in body():
                yield chunk

        return httpx2.Response(
            200,
            headers={"content-type": "text/event-stream"},
            content=async_body() if is_async else body(),
        )

    def handle(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        path = request.url.path
        for position, (suffix, reply) in enumerate(self.replies):
            if path.endswith(suffix):
                del self.replies[position]
                return reply(request)
        return httpx2.Response(404, json={"error": {"code": 404, "status": "NOT_FOUND", "message": path}})

    async def handle_async(self, request: httpx2.Request) -> httpx2.Response:
        request.extensions["async"] = True
        return self.handle(request)

    def http_options(self, base_url: str) -> types.HttpOptions:
        return types.HttpOptions(
            base_url=base_url,
            httpx_client=httpx2.Client(transport=httpx2.MockTransport(self.handle)),
            httpx_async_client=httpx2.AsyncClient(transport=httpx2.MockTransport(self.handle_async)),
            retry_options=types.HttpRetryOptions(attempts=1),
        )

    def gemini(self) -> genai.Client:
        options = self.http_options(GEMINI_URL)
        options.api_version = "v1beta"
        return genai.Client(api_key="test-key", http_options=options)

    def vertex(self) -> genai.Client:
        return genai.Client(
            vertexai=True,
            project="p",
            location="us-central1",
            credentials=FakeCredentials(),
            http_options=self.http_options(VERTEX_URL),
        )

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(request.content) for request in self.requests]
