"""Recording a call we do not patch: raw HTTP to an in-house model gateway.

Many teams put an HTTP gateway in front of their models and call it with plain
HTTP, no SDK. ``otel_tokenomics.inference`` gives such a call the same span,
metrics and cost as a patched SDK call. This example calls an OpenAI-compatible
gateway twice with the standard library only: one JSON call and one stream, and
prints what was recorded.

Offline by default: the gateway is ``fake_openai_server.py``, started on
127.0.0.1. Point it at your own gateway with ``--base-url`` (and ``--model``).

    python examples/manual_gateway.py
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import pathlib
import sys
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import otel_tokenomics

HERE = pathlib.Path(__file__).resolve().parent


def _post(url: str, body: dict[str, Any]) -> Any:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"content-type": "application/json"}
    )
    return urllib.request.urlopen(request, timeout=30)


def _sse(response: Any) -> Iterator[dict[str, Any]]:
    for line in response:
        line = line.strip()
        if line.startswith(b"data: ") and line != b"data: [DONE]":
            yield json.loads(line[len(b"data: ") :])


def chat(base_url: str, model: str) -> str:
    """One JSON call: the whole usage object is handed over as the gateway sent it."""
    host = urllib.parse.urlsplit(base_url)
    body = {"model": model, "temperature": 0.2, "messages": [{"role": "user", "content": "Say hello."}]}
    with otel_tokenomics.inference(
        "openai", model, server_address=host.hostname, server_port=host.port, request=body
    ) as call:
        with _post(f"{base_url}/chat/completions", body) as response:
            reply = json.load(response)
        call.record_response(
            model=reply.get("model"),
            response_id=reply.get("id"),
            finish_reasons=[c.get("finish_reason") for c in reply.get("choices", [])],
        )
        call.record_usage(reply.get("usage"))
    return str(reply["choices"][0]["message"]["content"])


def chat_stream(base_url: str, model: str) -> str:
    """A stream: each chunk is reported, the usage comes in the last one."""
    host = urllib.parse.urlsplit(base_url)
    body = {
        "model": model,
        "stream": True,
        "stream_options": {"include_usage": True},
        "messages": [{"role": "user", "content": "Count to five."}],
    }
    text = []
    with (
        otel_tokenomics.inference(
            "openai", model, stream=True, server_address=host.hostname, server_port=host.port, request=body
        ) as call,
        _post(f"{base_url}/chat/completions", body) as response,
    ):
        for chunk in _sse(response):
            choices = chunk.get("choices") or []
            call.chunk(output=bool(choices))
            call.record_response(model=chunk.get("model"), response_id=chunk.get("id"))
            for choice in choices:
                text.append((choice.get("delta") or {}).get("content") or "")
                if choice.get("finish_reason"):
                    call.record_response(finish_reasons=[choice["finish_reason"]])
            if chunk.get("usage"):
                call.record_usage(chunk["usage"])
    return "".join(text)


@contextlib.contextmanager
def _gateway(base_url: str | None) -> Iterator[str]:
    if base_url:
        yield base_url.rstrip("/")
        return
    spec = importlib.util.spec_from_file_location("fake_openai_server", HERE / "fake_openai_server.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("fake_openai_server", module)
    spec.loader.exec_module(module)
    with module.start_server(first_chunk_delay=0.01, chunk_delay=0.0) as (_, url):
        yield url


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--base-url", help="your gateway's OpenAI-compatible base URL (default: a local fake)"
    )
    parser.add_argument("--model", default="gpt-4o-mini")
    args = parser.parse_args(argv)

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    # No SDK to patch here; instrument() only says where manual calls' telemetry goes.
    otel_tokenomics.instrument(tracer_provider=provider)

    with _gateway(args.base_url) as base_url:
        print("reply: ", chat(base_url, args.model))
        print("stream:", chat_stream(base_url, args.model))

    for span in exporter.get_finished_spans():
        a = span.attributes or {}
        cost = a.get("tokenomics.cost.total")
        shown = f"{cost:.7f} USD" if cost is not None else a.get("tokenomics.cost.status")
        print(
            f"{span.name}: input={a.get('gen_ai.usage.input_tokens')} "
            f"cached={a.get('gen_ai.usage.cache_read.input_tokens')} "
            f"output={a.get('gen_ai.usage.output_tokens')} "
            f"cost={shown} "
            f"stream={a.get('tokenomics.stream.outcome', '-')}"
        )
    otel_tokenomics.uninstrument()
    return 0


if __name__ == "__main__":
    sys.exit(main())
