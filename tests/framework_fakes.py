"""What the LangChain and pydantic-ai tests share: the SDK servers they answer from,
the costs of those answers, and how to tell our spans from the app's and the framework's.

Prices (catalog, USD per million tokens):

* gpt-4o-mini: input $0.15, cache read $0.075, output $0.60. ``openai_fakes.CHAT_USAGE``:
  2,048 in (1,536 cached, so 512 uncached), 612 out: 512 x 0.15 + 1,536 x 0.075 +
  612 x 0.60 = $0.0005592.
* claude-sonnet-4-5: input $3, cache read $0.30, cache write 5m $3.75, 1h $6, output
  $15. ``anthropic_fakes.USAGE``: 1,200 uncached + 40,000 read + 1,000 5m + 2,000 1h
  in, 800 out = $0.04335.
"""

from __future__ import annotations

import json
from typing import Any

import openai_fakes

from otel_tokenomics.telemetry import SCOPE_NAME

GPT_COST = 512 * 0.15 / 1e6 + 1536 * 0.075 / 1e6 + 612 * 0.6 / 1e6
SONNET_COST = 1200 * 3 / 1e6 + 40000 * 0.3 / 1e6 + 1000 * 3.75 / 1e6 + 2000 * 6 / 1e6 + 800 * 15 / 1e6


def openai_server(body: Any = None) -> openai_fakes.Server:
    server = openai_fakes.Server()
    server.json("/chat/completions", body or openai_fakes.chat_completion(model="gpt-4o-mini-2024-07-18"))
    return server


def openai_stream_server(usage: Any = openai_fakes.CHAT_USAGE) -> openai_fakes.Server:
    server = openai_fakes.Server()
    server.chat_stream(usage=usage)
    return server


def ours(telemetry: Any) -> list[Any]:
    """Our spans, not the app's or the framework's."""
    return [span for span in telemetry.spans() if span.instrumentation_scope.name == SCOPE_NAME]


def app_span(telemetry: Any) -> Any:
    return telemetry.tracer_provider.get_tracer("app").start_as_current_span("app")


def tool_loop_server() -> openai_fakes.Server:
    """A tool call, then the answer; each model request with usage of its own."""
    first = openai_fakes.chat_completion(
        model="gpt-4o-mini-2024-07-18",
        finish_reason="tool_calls",
        usage={"prompt_tokens": 300, "completion_tokens": 20, "total_tokens": 320},
    )
    first["choices"][0]["message"] = {
        "role": "assistant",
        "content": None,
        "refusal": None,
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": json.dumps({"city": "Paris"})},
            }
        ],
    }
    second = openai_fakes.chat_completion(
        model="gpt-4o-mini-2024-07-18",
        content="It is sunny in Paris.",
        usage={
            "prompt_tokens": 400,
            "completion_tokens": 10,
            "total_tokens": 410,
            "prompt_tokens_details": {"cached_tokens": 256},
        },
    )
    server = openai_fakes.Server()
    answers = iter([first, second])
    server.routes["/chat/completions"] = lambda request: server.http.Response(200, json=next(answers))
    return server
