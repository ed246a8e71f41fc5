"""The SDK workloads of ``overhead.py``: one call and one stream of a real SDK over a mock transport.

A workload knows its SDK only: how to build a client answering a fixed body, how to
make the call, and what a minimal hand-made span (the floor) would read from the
answer. The cases, timing and reporting in ``overhead.py`` are the same for all.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

SMALL, LARGE = 10, 200  # chunks per stream, bookkeeping events included

PRICING_VERSION = "2026.11.27"


def answer(length: int = 600) -> str:
    sentence = (
        "Prompt caching lets the provider reuse the already processed prefix of a request, "
        "so repeated system prompts and long shared contexts are billed at a lower rate. "
    )
    text = sentence * (length // len(sentence) + 1)
    return text[:length]


ANSWER = answer()


def pieces(count: int) -> list[str]:
    step = -(-len(ANSWER) // count)
    return [ANSWER[i * step : (i + 1) * step] for i in range(count)]


def cost_attributes(
    model: str, uncached: int, read: int, write: int, output: int, rates: tuple[float, float, float, float]
) -> dict[str, Any]:
    """The cost attributes a minimal instrumentation would write: float maths on known rates."""
    input_rate, read_rate, write_rate, output_rate = rates
    input_cost, read_cost, write_cost = uncached * input_rate, read * read_rate, write * write_rate
    output_cost = output * output_rate
    return {
        "tokenomics.cost.status": "priced",
        "tokenomics.cost.total": input_cost + read_cost + write_cost + output_cost,
        "tokenomics.cost.currency": "USD",
        "tokenomics.cost.source": "catalog",
        "tokenomics.pricing.version": PRICING_VERSION,
        "tokenomics.pricing.model": model,
        "tokenomics.cost.input": input_cost,
        "tokenomics.cost.cache_read": read_cost,
        "tokenomics.cost.cache_write": write_cost,
        "tokenomics.cost.output": output_cost,
        "tokenomics.cost.cache_savings": (read + write) * input_rate - read_cost - write_cost,
    }


def mock_client(factory: Any, body: bytes, content_type: str, **kwargs: Any) -> Any:
    import httpx2

    headers = {"content-type": content_type}

    def handler(request: Any) -> Any:
        return httpx2.Response(200, headers=headers, content=body)

    return factory(
        max_retries=0, http_client=httpx2.Client(transport=httpx2.MockTransport(handler)), **kwargs
    )


class StreamWatch:
    """What the floor keeps while a stream passes: timing, count, and the workload's fields."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.first: float | None = None
        self.last: float | None = None
        self.count = 0
        self.output_count = 0

    def output(self) -> None:
        """An output chunk arrived (the floor times them as we do)."""
        now = time.perf_counter()
        if self.first is None:
            self.first = now
        self.last = now
        self.output_count += 1

    def stream_attributes(self, output_tokens: int | None) -> dict[str, Any]:
        attributes: dict[str, Any] = {}
        if self.first is not None:
            attributes["gen_ai.response.time_to_first_chunk"] = self.first - self.started
            if self.last is not None and self.output_count > 1:
                attributes["tokenomics.stream.time_per_output_chunk"] = (self.last - self.first) / (
                    self.output_count - 1
                )
            if output_tokens:
                attributes["tokenomics.throughput.output_tokens_per_second"] = output_tokens / max(
                    time.perf_counter() - self.first, 1e-9
                )
        attributes["tokenomics.stream.chunk_count"] = self.count
        attributes["tokenomics.stream.outcome"] = "completed"
        return attributes


class OpenAIWorkload:
    """``chat.completions.create(model="o4-mini", ...)``; streams with ``include_usage``."""

    sdk = "openai"
    instrumentor = "tokenomics_openai"
    import_line = "import openai"
    description = (
        'client.chat.completions.create(model="o4-mini", 2 messages, temperature, max_completion_tokens)'
    )
    model = "o4-mini"
    response_model = "o4-mini-2025-04-16"
    messages = [
        {"role": "system", "content": "You are a concise assistant."},
        {"role": "user", "content": "Explain prompt caching in a paragraph."},
    ]
    temperature = 0.7
    max_tokens = 1024
    prompt_tokens, completion_tokens, cached_tokens, reasoning_tokens = 2048, 612, 1536, 256
    # USD per token: input, cached input, cache write, output.
    rates = (1.10e-6, 0.275e-6, 0.0, 4.40e-6)
    usage = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "prompt_tokens_details": {"cached_tokens": cached_tokens, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": reasoning_tokens,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }
    chat_id, stream_id = "chatcmpl-bench0001", "chatcmpl-bench0002"

    def expected(self, stream: bool) -> dict[str, Any]:
        return {
            "gen_ai.usage.input_tokens": self.prompt_tokens,
            "gen_ai.usage.output_tokens": self.completion_tokens,
            "gen_ai.usage.cache_read.input_tokens": self.cached_tokens,
            "gen_ai.usage.reasoning.output_tokens": self.reasoning_tokens,
            "gen_ai.response.id": self.stream_id if stream else self.chat_id,
        }

    @staticmethod
    def version() -> str:
        import openai

        return openai.__version__

    base_url = "https://api.openai.com/v1"

    def client(self, body: bytes, content_type: str) -> Any:
        import openai

        return mock_client(
            openai.OpenAI, body, content_type, api_key="sk-bench-not-a-key", base_url=self.base_url
        )

    def chat_body(self) -> bytes:
        body = {
            "id": self.chat_id,
            "object": "chat.completion",
            "created": 1764201600,
            "model": self.response_model,
            "system_fingerprint": "fp_bench",
            "service_tier": "default",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": ANSWER, "refusal": None, "annotations": []},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": self.usage,
        }
        return json.dumps(body).encode()

    def sse_body(self, chunks: int) -> bytes:
        """``chunks`` SSE events: a role chunk, ``chunks - 3`` deltas, a finish chunk, a usage chunk."""
        head = {
            "id": self.stream_id,
            "object": "chat.completion.chunk",
            "created": 1764201600,
            "model": self.response_model,
            "system_fingerprint": "fp_bench",
            "service_tier": "default",
        }

        def chunk(choices: list[dict[str, Any]], usage: Any = None) -> str:
            return "data: " + json.dumps({**head, "choices": choices, "usage": usage}) + "\n\n"

        events = [chunk([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])]
        events += [
            chunk([{"index": 0, "delta": {"content": text}, "finish_reason": None}])
            for text in pieces(chunks - 3)
        ]
        events.append(chunk([{"index": 0, "delta": {}, "finish_reason": "stop"}]))
        events.append(chunk([], self.usage))
        events.append("data: [DONE]\n\n")
        return "".join(events).encode()

    def call(self, client: Any) -> Any:
        return client.chat.completions.create(
            model=self.model,
            messages=self.messages,
            temperature=self.temperature,
            max_completion_tokens=self.max_tokens,
        )

    # What the stream's request adds: the usage chunk, asked for by the app.
    stream_request: dict[str, Any] = {"stream_options": {"include_usage": True}}

    def open_stream(self, client: Any) -> Any:
        return client.chat.completions.create(
            model=self.model,
            messages=self.messages,
            temperature=self.temperature,
            max_completion_tokens=self.max_tokens,
            stream=True,
            **self.stream_request,
        )

    def request_attributes(self, stream: bool) -> dict[str, Any]:
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": self.model,
            "server.address": "api.openai.com",
            "server.port": 443,
            "openai.api.type": "chat_completions",
            "gen_ai.request.temperature": self.temperature,
            "gen_ai.request.max_tokens": self.max_tokens,
        }
        if stream:
            attributes["gen_ai.request.stream"] = True
        return attributes

    def _attributes(
        self, model: str, response_id: str, finish: list[str], usage: Any, tier: Any, fingerprint: Any
    ) -> dict[str, Any]:
        attributes: dict[str, Any] = {
            "gen_ai.response.id": response_id,
            "gen_ai.response.model": model,
            "gen_ai.response.finish_reasons": finish,
        }
        if usage is not None:
            details = usage.prompt_tokens_details
            cached = details.cached_tokens or 0
            write = getattr(details, "cache_write_tokens", 0) or 0
            attributes["gen_ai.usage.input_tokens"] = usage.prompt_tokens
            attributes["gen_ai.usage.output_tokens"] = usage.completion_tokens
            attributes["gen_ai.usage.cache_read.input_tokens"] = cached
            attributes["gen_ai.usage.cache_write.input_tokens"] = write
            attributes["gen_ai.usage.reasoning.output_tokens"] = (
                usage.completion_tokens_details.reasoning_tokens
            )
            attributes["tokenomics.usage.source"] = "provider"
            attributes.update(
                cost_attributes(
                    self.model,
                    usage.prompt_tokens - cached - write,
                    cached,
                    write,
                    usage.completion_tokens,
                    self.rates,
                )
            )
        attributes["openai.response.service_tier"] = tier
        attributes["openai.response.system_fingerprint"] = fingerprint
        return attributes

    def response_attributes(self, response: Any) -> dict[str, Any]:
        return self._attributes(
            response.model,
            response.id,
            [c.finish_reason for c in response.choices],
            response.usage,
            response.service_tier,
            response.system_fingerprint,
        )

    def output_tokens(self, usage: Any) -> int | None:
        return usage.completion_tokens if usage is not None else None

    def watch(self, stream: Any, span: Any) -> Iterator[Any]:
        watch = StreamWatch()
        response_id = model = tier = fingerprint = None
        finish: list[str] = []
        usage = None
        try:
            for chunk in stream:
                watch.count += 1
                watch.output()
                if response_id is None:
                    response_id, model = chunk.id, chunk.model
                    tier, fingerprint = chunk.service_tier, chunk.system_fingerprint
                if chunk.usage is not None:
                    usage = chunk.usage
                for choice in chunk.choices:
                    if choice.finish_reason is not None:
                        finish.append(choice.finish_reason)
                yield chunk
        finally:
            attributes = self._attributes(
                model or self.model, response_id or "", finish, usage, tier, fingerprint
            )
            attributes.update(watch.stream_attributes(self.output_tokens(usage)))
            span.set_attributes(attributes)
            span.end()


class AnthropicWorkload:
    """``messages.create(model="claude-sonnet-4-5", system, 1 message, max_tokens)``;
    streams with ``stream=True`` (message_start, content block events, message_delta, message_stop)."""

    sdk = "anthropic"
    instrumentor = "tokenomics_anthropic"
    import_line = "import anthropic"
    description = 'client.messages.create(model="claude-sonnet-4-5", system, 1 message, max_tokens)'
    model = "claude-sonnet-4-5"
    response_model = "claude-sonnet-4-5-20250929"
    system = "You are a concise assistant."
    messages = [{"role": "user", "content": "Explain prompt caching in a paragraph."}]
    max_tokens = 1024
    uncached_tokens, cache_read_tokens, cache_write_tokens, output_tokens = 512, 1536, 0, 612
    # USD per token: input, cache read, cache write (5 minutes), output.
    rates = (3e-6, 0.3e-6, 3.75e-6, 15e-6)
    usage = {
        "input_tokens": uncached_tokens,
        "cache_read_input_tokens": cache_read_tokens,
        "cache_creation_input_tokens": cache_write_tokens,
        "output_tokens": output_tokens,
        "service_tier": "standard",
    }
    chat_id, stream_id = "msg_bench0001", "msg_bench0002"

    def expected(self, stream: bool) -> dict[str, Any]:
        return {
            "gen_ai.usage.input_tokens": self.uncached_tokens
            + self.cache_read_tokens
            + self.cache_write_tokens,
            "gen_ai.usage.output_tokens": self.output_tokens,
            "gen_ai.usage.cache_read.input_tokens": self.cache_read_tokens,
            "gen_ai.response.id": self.stream_id if stream else self.chat_id,
        }

    @staticmethod
    def version() -> str:
        import anthropic

        return anthropic.__version__

    def client(self, body: bytes, content_type: str) -> Any:
        import anthropic

        # No SDK span of its own: the floor is one span, and so is ours.
        return mock_client(
            anthropic.Anthropic, body, content_type, api_key="bench-not-a-key", open_telemetry=False
        )

    def _message(
        self, message_id: str, content: str, usage: dict[str, Any], stop: str | None
    ) -> dict[str, Any]:
        return {
            "id": message_id,
            "type": "message",
            "role": "assistant",
            "model": self.response_model,
            "content": [{"type": "text", "text": content}] if content else [],
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": usage,
        }

    def chat_body(self) -> bytes:
        return json.dumps(self._message(self.chat_id, ANSWER, self.usage, "end_turn")).encode()

    def sse_body(self, chunks: int) -> bytes:
        """``chunks`` events: message_start, block start, ``chunks - 5`` deltas, block stop, delta, stop."""

        def event(kind: str, data: dict[str, Any]) -> str:
            return f"event: {kind}\ndata: {json.dumps({'type': kind, **data})}\n\n"

        start_usage = {**self.usage, "output_tokens": 1}
        events = [event("message_start", {"message": self._message(self.stream_id, "", start_usage, None)})]
        events.append(
            event("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}})
        )
        events += [
            event("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": text}})
            for text in pieces(chunks - 5)
        ]
        events.append(event("content_block_stop", {"index": 0}))
        events.append(
            event(
                "message_delta",
                {
                    "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                    "usage": {"output_tokens": self.output_tokens},
                },
            )
        )
        events.append(event("message_stop", {}))
        return "".join(events).encode()

    def call(self, client: Any) -> Any:
        return client.messages.create(
            model=self.model,
            system=self.system,
            messages=self.messages,
            max_tokens=self.max_tokens,
        )

    def open_stream(self, client: Any) -> Any:
        return client.messages.create(
            model=self.model,
            system=self.system,
            messages=self.messages,
            max_tokens=self.max_tokens,
            stream=True,
        )

    def request_attributes(self, stream: bool) -> dict[str, Any]:
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "anthropic",
            "gen_ai.request.model": self.model,
            "server.address": "api.anthropic.com",
            "server.port": 443,
            "gen_ai.request.max_tokens": self.max_tokens,
        }
        if stream:
            attributes["gen_ai.request.stream"] = True
        return attributes

    def _attributes(
        self, model: str, response_id: str, finish: list[str], usage: Any, output_tokens: int
    ) -> dict[str, Any]:
        attributes: dict[str, Any] = {
            "gen_ai.response.id": response_id,
            "gen_ai.response.model": model,
            "gen_ai.response.finish_reasons": finish,
        }
        if usage is not None:
            # Anthropic's input_tokens excludes the cache: add reads and writes back.
            uncached = usage.input_tokens
            read = usage.cache_read_input_tokens or 0
            write = usage.cache_creation_input_tokens or 0
            attributes["gen_ai.usage.input_tokens"] = uncached + read + write
            attributes["gen_ai.usage.output_tokens"] = output_tokens
            attributes["gen_ai.usage.cache_read.input_tokens"] = read
            attributes["gen_ai.usage.cache_write.input_tokens"] = write
            attributes["gen_ai.usage.reasoning.output_tokens"] = 0
            attributes["tokenomics.usage.source"] = "provider"
            attributes.update(cost_attributes(self.model, uncached, read, write, output_tokens, self.rates))
            attributes["tokenomics.response.service_tier"] = usage.service_tier
        return attributes

    def response_attributes(self, response: Any) -> dict[str, Any]:
        return self._attributes(
            response.model, response.id, [response.stop_reason], response.usage, response.usage.output_tokens
        )

    def watch(self, stream: Any, span: Any) -> Iterator[Any]:
        watch = StreamWatch()
        response_id = model = None
        finish: list[str] = []
        usage = None
        output_tokens = 0
        try:
            for event in stream:
                watch.count += 1
                kind = event.type
                if kind == "message_start":
                    message = event.message
                    response_id, model, usage = message.id, message.model, message.usage
                    output_tokens = usage.output_tokens
                elif kind == "content_block_delta":
                    watch.output()
                elif kind == "message_delta":
                    output_tokens = event.usage.output_tokens
                    if event.delta.stop_reason is not None:
                        finish.append(event.delta.stop_reason)
                yield event
        finally:
            attributes = self._attributes(
                model or self.model, response_id or "", finish, usage, output_tokens
            )
            attributes.update(watch.stream_attributes(output_tokens if usage is not None else None))
            span.set_attributes(attributes)
            span.end()


class OpenAIEstimatedWorkload(OpenAIWorkload):
    """The openai workload against a local OpenAI-compatible server that reports no usage.

    Nothing asks for ``include_usage`` (the host is not OpenAI's), so every call and
    stream ends with its usage estimated: the prompt counted with o200k_base and the
    chat framing, the streamed text tokenized once at the end. The floor writes the
    same attributes with the counts known in advance, so the difference is the
    estimation itself plus what we do anyway.
    """

    instrumentor = "tokenomics_openai"
    description = OpenAIWorkload.description + ", no usage in the answers (estimated)"

    def __init__(self) -> None:
        import os

        cache = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", "shared")
        os.environ.setdefault("TIKTOKEN_CACHE_DIR", os.path.join(cache, "tiktoken-cache"))
        from otel_tokenomics.estimation import tokenizers
        from otel_tokenomics.estimation.counting import count_output, count_prompt
        from otel_tokenomics.providers.openai_prompt import chat_prompt

        if not tokenizers.wait_for(timeout=60):
            raise SystemExit(f"the tiktoken encodings do not load: {tokenizers.status()}")
        self.estimated_input = count_prompt(
            chat_prompt({"messages": self.messages}), self.model, "openai"
        ).tokens
        self.estimated_output = count_output([ANSWER], self.model).tokens

    # A local OpenAI-compatible server: nothing asks it for include_usage.
    base_url = "http://localhost:8000/v1"

    def expected(self, stream: bool) -> dict[str, Any]:
        return {
            "gen_ai.usage.input_tokens": self.estimated_input,
            "gen_ai.usage.output_tokens": self.estimated_output,
            "tokenomics.usage.source": "estimated",
            "tokenomics.usage.tokenizer": "o200k_base",
            "gen_ai.response.id": self.stream_id if stream else self.chat_id,
        }

    def chat_body(self) -> bytes:
        body = json.loads(super().chat_body())
        del body["usage"]
        return json.dumps(body).encode()

    def sse_body(self, chunks: int) -> bytes:
        # The same events without the usage chunk: one more delta keeps the count.
        saved, self.usage = self.usage, None
        try:
            text = super().sse_body(chunks + 1).decode()
        finally:
            self.usage = saved
        events = [event for event in text.split("\n\n") if event and '"choices": []' not in event]
        return ("\n\n".join(events) + "\n\n").encode()

    stream_request: dict[str, Any] = {}

    def request_attributes(self, stream: bool) -> dict[str, Any]:
        attributes = super().request_attributes(stream)
        attributes["server.address"] = "localhost"
        attributes["server.port"] = 8000
        return attributes

    def _attributes(
        self, model: str, response_id: str, finish: list[str], usage: Any, tier: Any, fingerprint: Any
    ) -> dict[str, Any]:
        attributes = super()._attributes(model, response_id, finish, usage, tier, fingerprint)
        attributes.update(
            {
                "gen_ai.usage.input_tokens": self.estimated_input,
                "gen_ai.usage.output_tokens": self.estimated_output,
                "gen_ai.usage.cache_read.input_tokens": 0,
                "gen_ai.usage.cache_write.input_tokens": 0,
                "gen_ai.usage.reasoning.output_tokens": 0,
                "tokenomics.usage.source": "estimated",
                "tokenomics.usage.tokenizer": "o200k_base",
            }
        )
        attributes.update(
            cost_attributes(self.model, self.estimated_input, 0, 0, self.estimated_output, self.rates)
        )
        attributes["tokenomics.cost.status"] = "estimated"
        return attributes

    def output_tokens(self, usage: Any) -> int | None:
        return self.estimated_output


WORKLOAD_TYPES = {
    "openai": OpenAIWorkload,
    "anthropic": AnthropicWorkload,
    "openai-estimated": OpenAIEstimatedWorkload,
}
