"""Groq wire payloads and a mock transport for the real ``groq`` client (``httpx``).

The same tests run against older groq releases (down to 0.4.0): a request
parameter the installed SDK does not take goes in ``extra_body``, as a user of
that release sends it; what an old release cannot do at all is skipped by name.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Iterable
from typing import Any

import groq
import httpx
import pytest
from mock_http import MockServer

# Re-exported for the tests: where they live depends on the release.
try:
    from groq.types.chat import ChatCompletionChunk as ChatCompletionChunk
except ImportError:  # groq < 0.8 kept it in groq.lib
    from groq.lib.chat_completion_chunk import ChatCompletionChunk as ChatCompletionChunk  # type: ignore[no-redef]
try:
    from groq.types import CreateEmbeddingResponse as CreateEmbeddingResponse
except ImportError:  # groq < 0.6 had no embeddings
    CreateEmbeddingResponse = None  # type: ignore[assignment,misc]


def _chat_parameters() -> set[str]:
    from groq.resources.chat.completions import Completions

    return set(inspect.signature(Completions.create).parameters)


def create_kwargs(**params: Any) -> dict[str, Any]:
    """Keyword arguments of ``chat.completions.create``: the ones this SDK lacks as ``extra_body``."""
    known = _chat_parameters()
    kwargs = {key: value for key, value in params.items() if key in known}
    extra = {key: value for key, value in params.items() if key not in known}
    if extra:
        kwargs["extra_body"] = extra
    return kwargs


_FEATURES: dict[str, Callable[[], bool]] = {
    "embeddings": lambda: CreateEmbeddingResponse is not None,
    # An ``error`` payload inside the event stream raises APIError (older releases yield it as a chunk).
    "stream_errors": lambda: "error" in inspect.getsource(groq.Stream.__stream__),
}


def requires(*features: str) -> pytest.MarkDecorator:
    """Skip on a groq release that predates a feature the test exercises."""
    missing = [name for name in features if not _FEATURES[name]()]
    return pytest.mark.skipif(bool(missing), reason=f"groq {groq.__version__} lacks {', '.join(missing)}")


CHAT_PATH = "/openai/v1/chat/completions"
EMBEDDINGS_PATH = "/openai/v1/embeddings"

# Groq's usage: OpenAI's token fields plus its own timings, in seconds.
TIMINGS = {"queue_time": 0.0421, "prompt_time": 0.0113, "completion_time": 0.0862, "total_time": 0.0975}

LLAMA_USAGE = {"prompt_tokens": 120, "completion_tokens": 45, "total_tokens": 165, **TIMINGS}

# A reasoning model with a prompt cache hit: 1024 of 2000 prompt tokens cached,
# 500 of 700 completion tokens spent reasoning.
GPT_OSS_USAGE = {
    "prompt_tokens": 2000,
    "completion_tokens": 700,
    "total_tokens": 2700,
    "prompt_tokens_details": {"cached_tokens": 1024},
    "completion_tokens_details": {"reasoning_tokens": 500},
    **TIMINGS,
}


def chat_completion(
    *,
    model: str = "llama-3.3-70b-versatile",
    content: str = "Hello there.",
    usage: Any = LLAMA_USAGE,
    finish_reason: str = "stop",
    reasoning: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if reasoning is not None:
        message["reasoning"] = reasoning
    body = {
        "id": "chatcmpl-f51b2cd2",
        "object": "chat.completion",
        "created": 1764201600,
        "model": model,
        "system_fingerprint": "fp_3f39b6c8b1",
        "service_tier": "on_demand",
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}],
        "usage": usage,
        "usage_breakdown": None,
        "x_groq": {"id": "req_01kbv3y8qwe5", "usage": {"dram_cached_tokens": 0, "sram_cached_tokens": 0}},
    }
    body.update(extra)
    return body


def chat_chunks(
    pieces: Iterable[str] = ("Hel", "lo", " there."),
    *,
    model: str = "llama-3.3-70b-versatile",
    x_groq_usage: Any = LLAMA_USAGE,
    include_usage: Any = None,
    reasoning: Iterable[str] = (),
) -> list[dict[str, Any]]:
    """A Groq stream: ``x_groq`` on the first and the finishing chunk, usage in the latter.

    ``include_usage`` adds the final chunk without choices that ``stream_options`` asks for.
    """
    base = {
        "id": "chatcmpl-stream7",
        "object": "chat.completion.chunk",
        "created": 1764201600,
        "model": model,
        "system_fingerprint": "fp_3f39b6c8b1",
    }
    chunks = [
        {
            **base,
            "choices": [
                {
                    "index": 0,
                    "delta": {"role": "assistant", "content": ""},
                    "logprobs": None,
                    "finish_reason": None,
                }
            ],
            "x_groq": {"id": "req_01kbv3y8qwe5"},
        }
    ]
    for piece in reasoning:
        chunks.append(
            {
                **base,
                "choices": [
                    {"index": 0, "delta": {"reasoning": piece}, "logprobs": None, "finish_reason": None}
                ],
            }
        )
    for piece in pieces:
        chunks.append(
            {
                **base,
                "choices": [
                    {"index": 0, "delta": {"content": piece}, "logprobs": None, "finish_reason": None}
                ],
            }
        )
    last: dict[str, Any] = {
        **base,
        "choices": [{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}],
        "x_groq": {"id": "req_01kbv3y8qwe5"},
    }
    if x_groq_usage is not None:
        last["x_groq"]["usage"] = x_groq_usage
    chunks.append(last)
    if include_usage is not None:
        chunks.append({**base, "choices": [], "usage": include_usage})
    return chunks


def sse(events: Iterable[dict[str, Any]], *, done: bool = True) -> bytes:
    out = [f"data: {json.dumps(event)}\n\n" for event in events]
    if done:
        out.append("data: [DONE]\n\n")
    return "".join(out).encode()


def embeddings_response(
    tokens: int, *, model: str = "nomic-embed-text-v1_5", size: int = 3
) -> dict[str, Any]:
    return {
        "object": "list",
        "model": model,
        "data": [{"object": "embedding", "index": 0, "embedding": [0.25] * size}],
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def error_body(message: str, kind: str, code: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "code": code}}


class Server(MockServer):
    """Answers the groq clients in process, through ``httpx.MockTransport``."""

    def __init__(self) -> None:
        super().__init__(httpx)

    def route_path(self, path: str) -> str:
        # A proxy may put Groq's paths under a prefix of its own.
        start = path.find("/openai/v1/")
        return path[start:] if start > 0 else path

    def not_found(self, path: str) -> Any:
        return error_body(f"Unknown request URL: POST {path}", "invalid_request_error", "unknown_url")

    def client(self, **kwargs: Any) -> groq.Groq:
        kwargs.setdefault("api_key", "gsk_test_secret")
        kwargs.setdefault("max_retries", 0)  # the SDK retries 429/5xx after a sleep
        return groq.Groq(http_client=self.http_client(), **kwargs)

    def async_client(self, **kwargs: Any) -> groq.AsyncGroq:
        kwargs.setdefault("api_key", "gsk_test_secret")
        kwargs.setdefault("max_retries", 0)
        return groq.AsyncGroq(http_client=self.async_http_client(), **kwargs)
