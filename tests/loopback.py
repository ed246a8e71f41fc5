"""A stdlib HTTP server on 127.0.0.1 that answers each request with the next queued reply.

For SDKs that cannot take a mock transport (boto3, litellm's own handlers): the
tests point the SDK's endpoint here. It speaks HTTP/1.1, so a streamed reply goes
out chunked, one chunk per event or frame, as the providers send them; every
request is kept for assertions.
"""

from __future__ import annotations

import json
import queue
import sys
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Reply:
    __slots__ = ("body", "chunks", "headers", "status")

    def __init__(
        self,
        status: int = 200,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
        chunks: list[bytes] | None = None,
    ) -> None:
        self.status = status
        self.body = body
        self.headers = dict(headers or {})
        # None: a plain body; otherwise the stream, one HTTP chunk each.
        self.chunks = chunks


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
            reply = owner.unexpected()
        try:
            self._send(reply, owner.always_headers)
        except (BrokenPipeError, ConnectionResetError):  # the client left mid-stream
            self.close_connection = True

    do_GET = do_POST

    def _send(self, reply: Reply, always: Mapping[str, str]) -> None:
        self.send_response(reply.status)
        for name, value in {**reply.headers, **always}.items():
            self.send_header(name, value)
        if reply.chunks is None:
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)
            return
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for chunk in reply.chunks:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
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
    """Replies are queued per test and sent in order; a request with none queued gets a 500."""

    # Headers sent with every reply (Bedrock's request id, say).
    always_headers: Mapping[str, str] = {}

    def __init__(self) -> None:
        self.replies: queue.Queue[Reply] = queue.Queue()
        self.requests: list[Request] = []
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.owner = self
        self.port = self._httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()

    def unexpected(self) -> Reply:
        return Reply(500, b'{"error": {"message": "no reply queued"}}', {"Content-Type": "application/json"})

    def reset(self) -> None:
        self.replies = queue.Queue()
        self.requests.clear()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
