"""OpenAI wire payloads and a mock transport for the real ``openai`` client.

openai >= 3 speaks ``httpx2``; older releases speak ``httpx``. ``HTTP`` is the
module the installed SDK uses, so the same tests run against both.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import json
from collections.abc import Callable, Iterable
from typing import Any

import openai
import pytest
from mock_http import MockServer

OPENAI_MAJOR = int(openai.__version__.split(".")[0])
if OPENAI_MAJOR >= 3:
    import httpx2 as HTTP
else:
    import httpx as HTTP  # type: ignore[no-redef]


def _create_parameters() -> set[str]:
    from openai.resources.chat import Completions

    return set(inspect.signature(Completions.create).parameters)


def _has_chat_method(name: str) -> bool:
    """Whether chat completions have ``name``, in the GA or (before 1.92) the beta namespace."""
    from openai.resources.chat import Completions

    if hasattr(Completions, name):
        return True
    try:
        from openai.resources.beta.chat.completions import Completions as BetaCompletions
    except ImportError:
        return False
    return hasattr(BetaCompletions, name)


_FEATURES: dict[str, Callable[[], bool]] = {
    "stream_options": lambda: "stream_options" in _create_parameters(),
    "max_completion_tokens": lambda: "max_completion_tokens" in _create_parameters(),
    "modalities": lambda: "modalities" in _create_parameters(),
    "tools": lambda: "tools" in _create_parameters(),
    "dimensions": lambda: (
        "dimensions"
        in inspect.signature(
            importlib.import_module("openai.resources.embeddings").Embeddings.create
        ).parameters
    ),
    "chat_stream_helper": lambda: _has_chat_method("stream"),
    "stream_close": lambda: hasattr(openai.Stream, "close") and hasattr(openai.Stream, "__enter__"),
    "responses": lambda: importlib.util.find_spec("openai.resources.responses") is not None,
    "chat_parse": lambda: _has_chat_method("parse"),
    "streaming_response": lambda: hasattr(openai._response, "AsyncAPIResponse"),
}


def requires(*features: str) -> pytest.MarkDecorator:
    """Skip on an openai release that predates a feature the test exercises."""
    missing = [name for name in features if not _FEATURES[name]()]
    return pytest.mark.skipif(bool(missing), reason=f"openai {openai.__version__} lacks {', '.join(missing)}")


CHAT_USAGE = {
    "prompt_tokens": 2048,
    "completion_tokens": 612,
    "total_tokens": 2660,
    "prompt_tokens_details": {"cached_tokens": 1536, "audio_tokens": 0},
    "completion_tokens_details": {
        "reasoning_tokens": 256,
        "audio_tokens": 0,
        "accepted_prediction_tokens": 0,
        "rejected_prediction_tokens": 0,
    },
}


def chat_completion(
    *,
    model: str = "o4-mini-2025-04-16",
    content: str = "Hello there.",
    usage: Any = CHAT_USAGE,
    finish_reason: str = "stop",
    choices: int = 1,
    **extra: Any,
) -> dict[str, Any]:
    body = {
        "id": "chatcmpl-abc123",
        "object": "chat.completion",
        "created": 1764201600,
        "model": model,
        "system_fingerprint": "fp_44709d6fcb",
        "service_tier": "default",
        "choices": [
            {
                "index": i,
                "message": {"role": "assistant", "content": content, "refusal": None},
                "logprobs": None,
                "finish_reason": finish_reason,
            }
            for i in range(choices)
        ],
        "usage": usage,
    }
    body.update(extra)
    return body


def chat_chunks(
    pieces: Iterable[str] = ("Hel", "lo", " there."),
    *,
    model: str = "gpt-4o-mini-2024-07-18",
    usage: Any = None,
) -> list[dict[str, Any]]:
    base = {
        "id": "chatcmpl-stream1",
        "object": "chat.completion.chunk",
        "created": 1764201600,
        "model": model,
        "system_fingerprint": "fp_s",
        "service_tier": "default",
    }
    chunks = [
        {
            **base,
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}],
            "usage": None,
        }
    ]
    for piece in pieces:
        chunks.append(
            {
                **base,
                "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}],
                "usage": None,
            }
        )
    chunks.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "usage": None})
    if usage is not None:
        chunks.append({**base, "choices": [], "usage": usage})
    return chunks


def sse(events: Iterable[dict[str, Any]], *, named: bool = False, done: bool = True) -> bytes:
    out = []
    for event in events:
        if named:
            out.append(f"event: {event['type']}\ndata: {json.dumps(event)}\n\n")
        else:
            out.append(f"data: {json.dumps(event)}\n\n")
    if done:
        out.append("data: [DONE]\n\n")
    return "".join(out).encode()


RESPONSES_USAGE = {
    "input_tokens": 3000,
    "input_tokens_details": {
        "cached_tokens": 1000,
        "cache_write_tokens": 500,
        "cache_write_tokens_details": {"ttl_30m_tokens": 300, "ttl_12h_tokens": 200},
    },
    "output_tokens": 900,
    "output_tokens_details": {"reasoning_tokens": 700},
    "total_tokens": 3900,
}


def response_object(
    *,
    status: str = "completed",
    usage: Any = RESPONSES_USAGE,
    text: str = "Paris.",
    model: str = "gpt-5-2025-08-07",
    **extra: Any,
) -> dict[str, Any]:
    body = {
        "id": "resp_123",
        "object": "response",
        "created_at": 1764201600,
        "status": status,
        "model": model,
        "output": [
            {
                "type": "message",
                "id": "msg_1",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": text, "annotations": []}],
            }
        ],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": usage,
        "service_tier": "default",
        "incomplete_details": None,
        "error": None,
        "instructions": None,
        "metadata": {},
        "temperature": 1.0,
        "top_p": 1.0,
    }
    body.update(extra)
    return body


def response_events(final: dict[str, Any]) -> list[dict[str, Any]]:
    opening = {**final, "status": "in_progress", "usage": None, "output": []}
    item = {"type": "message", "id": "msg_1", "status": "in_progress", "role": "assistant", "content": []}
    part = {"type": "output_text", "text": "", "annotations": []}
    where = {"item_id": "msg_1", "output_index": 0, "content_index": 0}
    done_item = final["output"][0] if final["output"] else {**item, "status": "completed"}
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": opening},
        {"type": "response.output_item.added", "output_index": 0, "item": item},
        {"type": "response.content_part.added", **where, "part": part},
        {"type": "response.output_text.delta", **where, "delta": "Par", "logprobs": []},
        {"type": "response.output_text.delta", **where, "delta": "is.", "logprobs": []},
        {"type": "response.output_text.done", **where, "text": "Paris.", "logprobs": []},
        {
            "type": "response.content_part.done",
            **where,
            "part": {"type": "output_text", "text": "Paris.", "annotations": []},
        },
        {"type": "response.output_item.done", "output_index": 0, "item": done_item},
        {"type": f"response.{final['status']}", "response": final},
    ]
    for number, event in enumerate(events):
        event["sequence_number"] = number
    return events


def embeddings_response(
    tokens: int, *, model: str = "text-embedding-3-small", vector: list[float] | None = None
) -> dict[str, Any]:
    return {
        "object": "list",
        "model": model,
        "data": [{"object": "embedding", "index": 0, "embedding": vector if vector is not None else [0.5]}],
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


class Server(MockServer):
    """Answers the openai clients; a path is routed without the Azure and ``/v1`` prefixes."""

    def __init__(self) -> None:
        super().__init__(HTTP)

    def route_path(self, path: str) -> str:
        return path.removeprefix("/openai").removeprefix("/v1")

    def not_found(self, path: str) -> Any:
        return {"error": {"message": f"no route {path}"}}

    def chat_stream(
        self,
        pieces: Iterable[str] = ("Hel", "lo", " there."),
        *,
        usage: Any = CHAT_USAGE,
        model: str = "gpt-4o-mini-2024-07-18",
        path: str = "/chat/completions",
    ) -> None:
        """A chat stream ending with the usage chunk only when the request asks for it, as OpenAI's does."""

        def answer(request: Any) -> Any:
            body = json.loads(request.content)
            asked = (body.get("stream_options") or {}).get("include_usage") is True
            payload = sse(chat_chunks(pieces, model=model, usage=usage if asked else None))
            return self.http.Response(200, headers={"content-type": "text/event-stream"}, content=payload)

        self.routes[path] = answer

    def chat(self, answer: Callable[[dict[str, Any]], Any]) -> None:
        """Chat completions answered per request: ``answer(body)`` gives (response model, usage).

        Whole or streamed as the request asks, the usage chunk only when the request asks
        for it; an ``answer`` that returns an HTTP response (a failure) sends that instead.
        """

        def route(request: Any) -> Any:
            body = json.loads(request.content)
            answered = answer(body)
            if not isinstance(answered, tuple):
                return answered
            model, usage = answered
            if body.get("stream"):
                asked = (body.get("stream_options") or {}).get("include_usage") is True
                payload = sse(chat_chunks(model=model, usage=usage if asked else None))
                return self.http.Response(200, headers={"content-type": "text/event-stream"}, content=payload)
            return self.http.Response(200, json=chat_completion(model=model, usage=usage))

        self.routes["/chat/completions"] = route

    def client(self, **kwargs: Any) -> openai.OpenAI:
        kwargs.setdefault("api_key", "sk-test-secret-key")
        kwargs.setdefault("max_retries", 0)
        return openai.OpenAI(http_client=self.http_client(), **kwargs)

    def azure_client(self) -> openai.AzureOpenAI:
        """An Azure OpenAI client for the contoso resource, answered by this server."""
        return openai.AzureOpenAI(
            azure_endpoint="https://contoso.openai.azure.com",
            api_key="azure-secret",
            api_version="2024-10-21",
            http_client=self.http_client(),
            max_retries=0,
        )

    def async_client(self, **kwargs: Any) -> openai.AsyncOpenAI:
        kwargs.setdefault("api_key", "sk-test-secret-key")
        kwargs.setdefault("max_retries", 0)
        return openai.AsyncOpenAI(http_client=self.async_http_client(), **kwargs)
