"""The mock server behind the Stainless SDKs' tests (``openai``, ``anthropic``).

Both SDKs take an ``http_client``; one built on ``MockTransport`` answers from
here, in process. ``http`` is the module the SDK under test speaks: ``httpx2``,
or ``httpx`` for openai releases before 3, whose classes have the same names.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any


class MockServer:
    """A mock transport: path -> response, every request kept for assertions."""

    def __init__(self, http: ModuleType) -> None:
        self.http = http
        self.routes: dict[str, Callable[[Any], Any]] = {}
        self.requests: list[Any] = []

    # What differs by API: how a request's path names a route, and the 404 it gets otherwise.
    def route_path(self, path: str) -> str:
        return path

    def not_found(self, path: str) -> Any:
        raise NotImplementedError

    def json(self, path: str, body: Any, status: int = 200, headers: dict[str, str] | None = None) -> None:
        self.routes[path] = lambda request: self.http.Response(status, json=body, headers=headers or {})

    def stream(self, path: str, payload: bytes, content_type: str = "text/event-stream") -> None:
        self.routes[path] = lambda request: self.http.Response(
            200, headers={"content-type": content_type}, content=payload
        )

    def dying_stream(self, path: str, payload: bytes) -> None:
        """A stream whose connection breaks after ``payload``."""

        def body() -> Iterator[bytes]:
            yield payload
            raise self.http.ReadError("connection reset")

        self.routes[path] = lambda request: self.http.Response(
            200, headers={"content-type": "text/event-stream"}, content=body()
        )

    def handler(self, request: Any) -> Any:
        self.requests.append(request)
        path = self.route_path(request.url.path)
        route = self.routes.get(path)
        if route is None:
            return self.http.Response(404, json=self.not_found(path))
        return route(request)

    async def async_handler(self, request: Any) -> Any:
        # An async transport needs an async body: the sync one is read here, up front.
        response = self.handler(request)
        try:
            body = response.read()
        except self.http.ReadError:
            raise self.http.ReadError("connection reset") from None
        return self.http.Response(response.status_code, headers=response.headers, content=body)

    def request_json(self, index: int = -1) -> Any:
        return json.loads(self.requests[index].content)

    def http_client(self) -> Any:
        return self.http.Client(transport=self.http.MockTransport(self.handler))

    def async_http_client(self) -> Any:
        return self.http.AsyncClient(transport=self.http.MockTransport(self.async_handler))
