"""A loopback HTTP server for litellm: it speaks to providers with its own clients
(the openai SDK for ``openai/...``, its own httpx handler for ``anthropic/...``), so
the tests point ``api_base`` here instead of mocking a transport.

Replies are queued per test and sent in order: JSON bodies, or server-sent events
written one event per chunk, as the providers stream them.
"""

from __future__ import annotations

import json
import queue
import sys
import threading
from collections.abc import Iterable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Reply:
    __slots__ = ("body", "events", "headers", "status")

    def __init__(
        self, status: int, body: bytes, headers: Mapping[str, str], events: list[bytes] | None = None
    ) -> None:
        self.status = status
        self.body = body
        self.headers = dict(headers)
        self.events = events


class Request:
    __slots__ = ("body", "headers", "path")

    def __init__(self, path: str, headers: Mapping[str, str], body: bytes) -> None:
        self.path = path
        self.headers = dict(headers)
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        owner = self.server.owner
        owner.requests.append(Request(self.path, dict(self.headers), body))
        try:
            reply = owner.replies.get_nowait()
        except queue.Empty:
            reply = Reply(
                500, b'{"error": {"message": "no reply queued"}}', {"Content-Type": "application/json"}
            )
        try:
            self._send(reply)
        except (BrokenPipeError, ConnectionResetError):  # the client left mid-stream
            self.close_connection = True

    def _send(self, reply: Reply) -> None:
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if reply.events is None:
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)
            return
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for event in reply.events:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: LoopbackServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that drops its kept-alive connection (a stream closed early, a
        # client garbage-collected) is what the tests do on purpose: no traceback.
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


class LoopbackServer:
    """An OpenAI- and Anthropic-shaped endpoint on 127.0.0.1; one reply queued per request."""

    def __init__(self) -> None:
        self.replies: queue.Queue[Reply] = queue.Queue()
        self.requests: list[Request] = []
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.owner = self
        self.port = self._httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()

    def reset(self) -> None:
        self.replies = queue.Queue()
        self.requests.clear()

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

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


_shared: LoopbackServer | None = None


def shared_server() -> LoopbackServer:
    """One server for the session; the replies and requests of the last test are dropped."""
    global _shared
    if _shared is None:
        _shared = LoopbackServer()
    _shared.reset()
    return _shared
