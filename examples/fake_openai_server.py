"""A small OpenAI-compatible HTTP server for offline demos and tests.

It speaks enough of the OpenAI wire format for the official ``openai`` client:

* ``POST /v1/chat/completions`` - JSON, or server-sent events with ``"stream": true``
  (a role chunk, content deltas, a finish chunk, the usage chunk only when
  ``stream_options.include_usage`` is true, then ``data: [DONE]``);
* ``POST /v1/responses`` - JSON, or the ``response.created`` ... ``response.completed`` events;
* ``POST /v1/embeddings`` - float or base64 vectors;
* ``GET /v1/models``.

Any model id is answered, also one that no price catalog knows: the demo's
``my-finetune-v1`` stands for a fine-tune of your own.

Nothing is random: the answer and every token count are fixed functions of the request.

* text tokens:   ``ceil(len(text) / 4)``;
* chat input:    text tokens of each message + 4 per message + 3;
* responses input: text tokens of the instructions and of each input item + 4 per item + 3;
* cached input:  when everything before the last message (the reusable prefix) is at least
  1024 tokens, that prefix rounded down to a multiple of 128 is reported as cached;
* reasoning:     for o-series and gpt-5 models, by effort: minimal 0, low 64, medium 192
  (the default), high 448; reasoning counts as output;
* output:        text tokens of the answer (+ reasoning).

Failures on demand: the model ``fail-429`` (or the request header ``x-fake-fail: 429``)
answers 429 with an OpenAI-style error body; ``fail-500`` (or ``x-fake-fail: 500``) answers 500.

Streams are sent with chunked transfer encoding and small real delays (``first_chunk_delay``
before the first content, ``chunk_delay`` between chunks), so time to first chunk is visible.

As a module::

    with start_server() as (server, base_url):
        client = openai.OpenAI(base_url=base_url, api_key="sk-fake", max_retries=0)

As a script::

    python examples/fake_openai_server.py --port 8765
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import itertools
import json
import math
import random
import re
import socketserver
import struct
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = [
    "FakeOpenAIServer",
    "chat_usage",
    "count_text_tokens",
    "serve_in_background",
    "start_server",
    "stop_server",
]

CREATED = 1764201600  # a fixed timestamp, so that whole bodies are reproducible
SYSTEM_FINGERPRINT = "fp_fake0001"
CACHE_MIN_TOKENS = 1024
CACHE_BLOCK = 128
REASONING_BY_EFFORT = {"none": 0, "minimal": 0, "low": 64, "medium": 192, "high": 448, "xhigh": 768}
DEFAULT_EFFORT = "medium"
EMBEDDING_DIMENSIONS = {"text-embedding-3-large": 3072}
DEFAULT_EMBEDDING_DIMENSIONS = 1536

ANSWERS = (
    "Tokens are the unit you pay for, so a span that records them turns every trace into a bill "
    "you can read.",
    "Latency tells you how long a call took; time to first chunk tells you how long the user "
    "stared at an empty screen.",
    "Cached input tokens cost a fraction of fresh ones, so a stable prompt prefix is the cheapest "
    "optimisation there is.",
)

_REASONING_MODEL = re.compile(r"^(o\d|gpt-5)")


# -- deterministic usage ----------------------------------------------------------------------


def count_text_tokens(text: str) -> int:
    """The fake tokenizer: four characters per token, rounded up."""
    return math.ceil(len(text) / 4)


def _content_tokens(content: Any) -> int:
    """Tokens of a message's content: a string, or a list of typed parts."""
    if content is None:
        return 0
    if isinstance(content, str):
        return count_text_tokens(content)
    total = 0
    if isinstance(content, list):
        for part in content:
            if isinstance(part, str):
                total += count_text_tokens(part)
            elif isinstance(part, dict):
                text = part.get("text")
                if isinstance(text, str):
                    total += count_text_tokens(text)
                elif part.get("type") in ("image_url", "input_image"):
                    total += 85  # a low-detail image
                elif isinstance(part.get("output"), str):
                    total += count_text_tokens(part["output"])
    return total


def _message_tokens(message: Any) -> int:
    if isinstance(message, str):
        return count_text_tokens(message) + 4
    if not isinstance(message, dict):
        return 4
    tokens = _content_tokens(message.get("content")) + 4
    for key in ("output", "arguments"):  # function call items of the Responses API
        if isinstance(message.get(key), str):
            tokens += count_text_tokens(message[key])
    return tokens


def _cached(prefix_tokens: int) -> int:
    if prefix_tokens < CACHE_MIN_TOKENS:
        return 0
    return prefix_tokens // CACHE_BLOCK * CACHE_BLOCK


def is_reasoning_model(model: str) -> bool:
    return bool(_REASONING_MODEL.match(model))


def _reasoning_tokens(model: str, effort: Any) -> int:
    if not is_reasoning_model(model):
        return 0
    return REASONING_BY_EFFORT.get(effort if isinstance(effort, str) else DEFAULT_EFFORT, 192)


def _pick_answer(text: str) -> str:
    digest = hashlib.sha256(text.encode()).digest()
    return ANSWERS[digest[0] % len(ANSWERS)]


def _limit_output(answer: str, reasoning: int, limit: Any) -> tuple[str, int, bool]:
    """Apply a max output tokens limit: (answer, reasoning tokens, truncated?)."""
    if not isinstance(limit, int) or isinstance(limit, bool) or limit <= 0:
        return answer, reasoning, False
    if reasoning >= limit:
        return "", limit, True
    room = limit - reasoning
    if count_text_tokens(answer) <= room:
        return answer, reasoning, False
    return answer[: room * 4], reasoning, True


def chat_usage(body: dict[str, Any], answer: str, reasoning: int, choices: int = 1) -> dict[str, Any]:
    """The ``usage`` object of a chat completion for this request and answer."""
    messages = body.get("messages") or []
    if not isinstance(messages, list):
        messages = []
    prompt = sum(_message_tokens(m) for m in messages) + 3
    prefix = sum(_message_tokens(m) for m in messages[:-1])
    completion = (count_text_tokens(answer) + reasoning) * choices
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": _cached(prefix), "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": reasoning * choices,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _responses_items(body: dict[str, Any]) -> list[Any]:
    raw = body.get("input")
    if isinstance(raw, str):
        return [raw]
    return list(raw) if isinstance(raw, list) else []


def responses_usage(body: dict[str, Any], answer: str, reasoning: int) -> dict[str, Any]:
    """The ``usage`` object of a Responses API response for this request and answer."""
    items = _responses_items(body)
    instructions = body.get("instructions")
    instruction_tokens = count_text_tokens(instructions) + 4 if isinstance(instructions, str) else 0
    prompt = instruction_tokens + sum(_message_tokens(item) for item in items) + 3
    prefix = instruction_tokens + sum(_message_tokens(item) for item in items[:-1])
    output = count_text_tokens(answer) + reasoning
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": _cached(prefix)},
        "output_tokens": output,
        "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": prompt + output,
    }


def _last_text(items: list[Any]) -> str:
    """The text of the last message: what the canned answer is chosen by."""
    for item in reversed(items):
        if isinstance(item, str):
            return item
        if isinstance(item, dict):
            content = item.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def _pieces(text: str) -> list[str]:
    """Split an answer into stream deltas of about three words each."""
    words = re.findall(r"\S+\s*", text)
    return ["".join(words[i : i + 3]) for i in range(0, len(words), 3)] or [""]


def _embedding(text: str, dimensions: int) -> list[float]:
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")
    rng = random.Random(seed)
    vector = [rng.gauss(0.0, 1.0) for _ in range(dimensions)]
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return [round(v / norm, 6) for v in vector]


# -- errors -----------------------------------------------------------------------------------


def _error_body(message: str, kind: str, code: str | None, param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def _failure(model: str, header: str | None) -> tuple[int, dict[str, Any], dict[str, str]] | None:
    wanted = (header or "").strip()
    if model == "fail-429" or wanted == "429":
        message = (
            f"Rate limit reached for {model or 'this model'} on requests per minute (RPM): "
            "limit 3, used 3, requested 1. Please try again in 20s. (fake server)"
        )
        headers = {
            "retry-after": "20",
            "x-ratelimit-limit-requests": "3",
            "x-ratelimit-remaining-requests": "0",
        }
        return 429, _error_body(message, "requests", "rate_limit_exceeded"), headers
    if model == "fail-500" or wanted == "500":
        message = "The server had an error while processing your request. (fake server)"
        return 500, _error_body(message, "server_error", None), {}
    return None


class _ClientGone(Exception):
    """The client closed the connection while we were writing."""


# -- the HTTP layer -------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive and chunked transfer encoding
    server_version = "FakeOpenAI/1.0"
    timeout = 10  # idle keep-alive connections are closed after this many seconds
    disable_nagle_algorithm = True  # send each stream chunk at once
    server: FakeOpenAIServer

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            super().log_message(format, *args)

    # -- plumbing ----------------------------------------------------------------------------

    def _request_id(self) -> str:
        return f"req_fake{self.server.next_id():06d}"

    def _send_json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("x-request-id", self._request_id())
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(payload)

    def _start_events(self) -> None:
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("x-request-id", self._request_id())
        self.end_headers()

    def _write_chunk(self, data: bytes) -> None:
        try:
            self.wfile.write(b"%X\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError) as error:
            raise _ClientGone from error

    def _event(self, data: Any, name: str | None = None) -> None:
        text = data if isinstance(data, str) else json.dumps(data)
        prefix = f"event: {name}\n" if name else ""
        self._write_chunk(f"{prefix}data: {text}\n\n".encode())

    def _end_events(self) -> None:
        self._write_chunk(b"")  # the zero-length chunk ends the body

    def _read_body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        return json.loads(raw) if raw else {}

    # -- routing -------------------------------------------------------------------------------

    def _path(self) -> str:
        path = self.path.split("?", 1)[0].rstrip("/")
        return path[3:] if path.startswith("/v1/") else path

    def do_GET(self) -> None:
        if self._path() == "/models":
            models = [
                "gpt-4o-mini",
                "gpt-5-nano",
                "o4-mini",
                "text-embedding-3-small",
                "my-finetune-v1",
                "fail-429",
                "fail-500",
            ]
            data = [{"id": m, "object": "model", "created": CREATED, "owned_by": "fake"} for m in models]
            self._send_json(200, {"object": "list", "data": data})
        else:
            self._send_json(404, _error_body(f"Unknown path {self.path}", "invalid_request_error", None))

    def do_POST(self) -> None:
        routes = {
            "/chat/completions": self._chat,
            "/responses": self._responses,
            "/embeddings": self._embeddings,
        }
        path = self._path()
        try:
            body = self._read_body()
        except (ValueError, UnicodeDecodeError):
            self._send_json(400, _error_body("The body is not valid JSON.", "invalid_request_error", None))
            return
        handler = routes.get(path)
        if handler is None:
            self._send_json(404, _error_body(f"Unknown path {self.path}", "invalid_request_error", None))
            return
        if not isinstance(body, dict) or not isinstance(body.get("model"), str) or not body["model"]:
            self._send_json(
                400, _error_body("you must provide a model parameter", "invalid_request_error", None, "model")
            )
            return
        self.server.remember(path, body)
        failure = _failure(body["model"], self.headers.get("x-fake-fail"))
        if failure is not None:
            status, error, headers = failure
            self._send_json(status, error, headers)
            return
        try:
            handler(body)
        except _ClientGone:
            self.close_connection = True

    # -- chat completions ------------------------------------------------------------------------

    def _chat(self, body: dict[str, Any]) -> None:
        model = body["model"]
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            self._send_json(
                400,
                _error_body("messages must be a non-empty array", "invalid_request_error", None, "messages"),
            )
            return
        n = body.get("n") if isinstance(body.get("n"), int) and body["n"] > 0 else 1
        limit = body.get("max_completion_tokens", body.get("max_tokens"))
        answer, reasoning, truncated = _limit_output(
            _pick_answer(_last_text(messages)), _reasoning_tokens(model, body.get("reasoning_effort")), limit
        )
        finish = "length" if truncated else "stop"
        usage = chat_usage(body, answer, reasoning, n)
        completion_id = f"chatcmpl-fake{self.server.next_id():06d}"
        base = {
            "id": completion_id,
            "created": CREATED,
            "model": model,
            "system_fingerprint": SYSTEM_FINGERPRINT,
            "service_tier": "default",
        }
        if not body.get("stream"):
            time.sleep(self.server.first_chunk_delay)
            choices = [
                {
                    "index": i,
                    "message": {"role": "assistant", "content": answer, "refusal": None, "annotations": []},
                    "logprobs": None,
                    "finish_reason": finish,
                }
                for i in range(n)
            ]
            self._send_json(200, {**base, "object": "chat.completion", "choices": choices, "usage": usage})
            return

        options = body.get("stream_options")
        include_usage = isinstance(options, dict) and options.get("include_usage") is True
        base = {**base, "object": "chat.completion.chunk"}

        def chunk(choices: list[dict[str, Any]]) -> dict[str, Any]:
            data = {**base, "choices": choices}
            if include_usage:
                data["usage"] = None
            return data

        delay = self.server.chunk_delay
        self._start_events()
        time.sleep(self.server.first_chunk_delay)
        self._event(
            chunk(
                [
                    {
                        "index": i,
                        "delta": {"role": "assistant", "content": "", "refusal": None},
                        "logprobs": None,
                        "finish_reason": None,
                    }
                    for i in range(n)
                ]
            )
        )
        for piece in _pieces(answer):
            time.sleep(delay)
            self._event(
                chunk(
                    [
                        {"index": i, "delta": {"content": piece}, "logprobs": None, "finish_reason": None}
                        for i in range(n)
                    ]
                )
            )
        time.sleep(delay)
        self._event(
            chunk([{"index": i, "delta": {}, "logprobs": None, "finish_reason": finish} for i in range(n)])
        )
        if include_usage:
            self._event({**base, "choices": [], "usage": usage})
        self._event("[DONE]")
        self._end_events()

    # -- responses -----------------------------------------------------------------------------

    def _responses(self, body: dict[str, Any]) -> None:
        model = body["model"]
        items = _responses_items(body)
        if not items:
            self._send_json(
                400, _error_body("input must not be empty", "invalid_request_error", None, "input")
            )
            return
        reasoning_options = body.get("reasoning")
        effort = reasoning_options.get("effort") if isinstance(reasoning_options, dict) else None
        answer, reasoning, truncated = _limit_output(
            _pick_answer(_last_text(items)), _reasoning_tokens(model, effort), body.get("max_output_tokens")
        )
        number = self.server.next_id()
        response_id = f"resp_fake{number:06d}"
        message_id = f"msg_fake{number:06d}"
        output: list[dict[str, Any]] = []
        if is_reasoning_model(model):
            output.append({"type": "reasoning", "id": f"rs_fake{number:06d}", "summary": []})
        text_part = {"type": "output_text", "text": answer, "annotations": [], "logprobs": []}
        message = {
            "type": "message",
            "id": message_id,
            "status": "incomplete" if truncated else "completed",
            "role": "assistant",
            "content": [text_part],
        }
        output.append(message)
        final = {
            "id": response_id,
            "object": "response",
            "created_at": CREATED,
            "status": "incomplete" if truncated else "completed",
            "background": False,
            "error": None,
            "incomplete_details": {"reason": "max_output_tokens"} if truncated else None,
            "instructions": body.get("instructions"),
            "max_output_tokens": body.get("max_output_tokens"),
            "model": model,
            "output": output,
            "parallel_tool_calls": True,
            "previous_response_id": body.get("previous_response_id"),
            "reasoning": {
                "effort": effort or (DEFAULT_EFFORT if is_reasoning_model(model) else None),
                "summary": None,
            },
            "service_tier": "default",
            "store": True,
            "temperature": 1.0,
            "text": {"format": {"type": "text"}},
            "tool_choice": "auto",
            "tools": [],
            "top_p": 1.0,
            "truncation": "disabled",
            "usage": responses_usage(body, answer, reasoning),
            "metadata": {},
        }
        if not body.get("stream"):
            time.sleep(self.server.first_chunk_delay)
            self._send_json(200, final)
            return

        sequence = itertools.count()
        delay = self.server.chunk_delay

        def event(kind: str, **fields: Any) -> None:
            self._event({"type": kind, "sequence_number": next(sequence), **fields}, name=kind)

        opening = {**final, "status": "in_progress", "output": [], "usage": None, "incomplete_details": None}
        self._start_events()
        event("response.created", response=opening)
        event("response.in_progress", response=opening)
        time.sleep(self.server.first_chunk_delay)
        index = 0
        if is_reasoning_model(model):
            event("response.output_item.added", output_index=0, item=output[0])
            event("response.output_item.done", output_index=0, item=output[0])
            index = 1
        event(
            "response.output_item.added",
            output_index=index,
            item={**message, "status": "in_progress", "content": []},
        )
        event(
            "response.content_part.added",
            item_id=message_id,
            output_index=index,
            content_index=0,
            part={**text_part, "text": ""},
        )
        for piece in _pieces(answer):
            time.sleep(delay)
            event(
                "response.output_text.delta",
                item_id=message_id,
                output_index=index,
                content_index=0,
                delta=piece,
                logprobs=[],
            )
        time.sleep(delay)
        event(
            "response.output_text.done",
            item_id=message_id,
            output_index=index,
            content_index=0,
            text=answer,
            logprobs=[],
        )
        event(
            "response.content_part.done",
            item_id=message_id,
            output_index=index,
            content_index=0,
            part=text_part,
        )
        event("response.output_item.done", output_index=index, item=message)
        event("response.incomplete" if truncated else "response.completed", response=final)
        self._end_events()

    # -- embeddings ------------------------------------------------------------------------------

    def _embeddings(self, body: dict[str, Any]) -> None:
        model = body["model"]
        raw = body.get("input")
        if isinstance(raw, str) or (isinstance(raw, list) and raw and isinstance(raw[0], int)):
            inputs: list[Any] = [raw]
        elif isinstance(raw, list) and raw:
            inputs = raw
        else:
            self._send_json(
                400, _error_body("input must not be empty", "invalid_request_error", None, "input")
            )
            return
        dimensions = body.get("dimensions")
        if not isinstance(dimensions, int) or dimensions <= 0:
            dimensions = EMBEDDING_DIMENSIONS.get(model, DEFAULT_EMBEDDING_DIMENSIONS)
        as_base64 = body.get("encoding_format") == "base64"
        data = []
        tokens = 0
        for index, item in enumerate(inputs):
            if isinstance(item, str):
                text = item
                tokens += count_text_tokens(item)
            else:  # a list of token ids
                text = json.dumps(item)
                tokens += len(item) if isinstance(item, list) else 1
            vector = _embedding(text, dimensions)
            value: Any = vector
            if as_base64:
                value = base64.b64encode(struct.pack(f"<{dimensions}f", *vector)).decode()
            data.append({"object": "embedding", "index": index, "embedding": value})
        time.sleep(self.server.chunk_delay)
        self._send_json(
            200,
            {
                "object": "list",
                "data": data,
                "model": model,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            },
        )


class FakeOpenAIServer(ThreadingHTTPServer):
    """The server. ``base_url`` is what to give ``openai.OpenAI(base_url=...)``."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        first_chunk_delay: float = 0.06,
        chunk_delay: float = 0.02,
        verbose: bool = False,
    ) -> None:
        super().__init__((host, port), _Handler)
        self.first_chunk_delay = first_chunk_delay
        self.chunk_delay = chunk_delay
        self.verbose = verbose
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        # The last requests, (path, body), for tests to look at.
        self.requests: deque[tuple[str, dict[str, Any]]] = deque(maxlen=100)
        self._thread: threading.Thread | None = None

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that drops a keep-alive connection (the openai client closing its pool
        # at exit) is routine; socketserver would print a traceback for it.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks up the host's FQDN, which can stall for seconds
        # on a machine without working DNS; a fake server on loopback does not need it.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    @property
    def host(self) -> str:
        return str(self.server_address[0])

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def next_id(self) -> int:
        with self._lock:
            return next(self._ids)

    def remember(self, path: str, body: dict[str, Any]) -> None:
        with self._lock:
            self.requests.append((path, body))


def serve_in_background(host: str = "127.0.0.1", port: int = 0, **options: Any) -> FakeOpenAIServer:
    """Start a server on a daemon thread and return it; stop it with :func:`stop_server`."""
    server = FakeOpenAIServer(host, port, **options)
    thread = threading.Thread(target=server.serve_forever, name="fake-openai-server", daemon=True)
    server._thread = thread
    thread.start()
    return server


def stop_server(server: FakeOpenAIServer) -> None:
    server.shutdown()
    server.server_close()
    if server._thread is not None:
        server._thread.join(timeout=5)


@contextmanager
def start_server(
    host: str = "127.0.0.1", port: int = 0, **options: Any
) -> Iterator[tuple[FakeOpenAIServer, str]]:
    """``with start_server() as (server, base_url): ...`` - the server runs for the block."""
    server = serve_in_background(host, port, **options)
    try:
        yield server, server.base_url
    finally:
        stop_server(server)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve a fake OpenAI API on localhost.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    parser.add_argument(
        "--first-chunk-delay", type=float, default=0.06, help="seconds before the first content"
    )
    parser.add_argument("--chunk-delay", type=float, default=0.02, help="seconds between stream chunks")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    server = FakeOpenAIServer(
        args.host,
        args.port,
        first_chunk_delay=args.first_chunk_delay,
        chunk_delay=args.chunk_delay,
        verbose=args.verbose,
    )
    print(f"Fake OpenAI API on {server.base_url}  (Ctrl-C to stop)")
    print(f"  OPENAI_BASE_URL={server.base_url} OPENAI_API_KEY=sk-fake python your_script.py")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
