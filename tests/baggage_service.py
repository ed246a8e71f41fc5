"""Process B of the two-process attribution test (tests/test_attribution.py).

A small HTTP service on 127.0.0.1: each POST extracts the W3C ``traceparent`` and
``baggage`` headers with the default propagators, attaches that context, makes one
real openai SDK call over the fake transport (instrumented with
``otel_tokenomics.instrument()`` into in-memory exporters) and answers with JSON:
the spans finished during the request, the metric points so far (cumulative) and
the propagation headers it was sent.

Usage: ``python baggage_service.py [--metric-baggage SPEC] [--lifetime SECONDS]``.
It binds port 0 and prints the port on stdout once ready. It exits when its stdin
closes (the test process ended, however it ended) or after ``--lifetime`` seconds,
so it never outlives the test. Network beyond loopback is refused by an audit hook.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import pathlib
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

HERE = pathlib.Path(__file__).resolve().parent
# The fakes live next to this file; the package is the repository's own checkout.
sys.path[:0] = [str(HERE), str(HERE.parent)]
# litellm fetches its price map from GitHub at import unless told to use its bundled copy.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

# Attempts to reach anything but the loopback interface, refused and reported.
BLOCKED: list[str] = []
_LOCAL_NAMES = {"localhost", "127.0.0.1", "::1", None, ""}


def _is_loopback(host: Any) -> bool:
    if isinstance(host, bytes):
        host = host.decode()
    if host in _LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _network_guard(event: str, args: tuple[Any, ...]) -> None:
    if event == "socket.connect":
        address = args[1]
        if isinstance(address, tuple) and not _is_loopback(address[0]):
            BLOCKED.append(f"connect {address!r}")
            raise PermissionError(f"baggage_service: no network beyond loopback ({address!r})")
    elif event == "socket.getaddrinfo" and not _is_loopback(args[0]):
        BLOCKED.append(f"getaddrinfo {args[0]!r}")
        raise PermissionError(f"baggage_service: no name lookups ({args[0]!r})")


sys.addaudithook(_network_guard)

from openai_fakes import Server, chat_completion  # noqa: E402
from opentelemetry import context, propagate  # noqa: E402
from opentelemetry.sdk.metrics import MeterProvider  # noqa: E402
from opentelemetry.sdk.metrics.export import InMemoryMetricReader  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402

import otel_tokenomics  # noqa: E402

MODEL = "gpt-4o-mini"
RESPONSE_MODEL = "gpt-4o-mini-2024-07-18"
# 1,000 input tokens (none cached) and 200 output tokens per call.
USAGE = {"prompt_tokens": 1000, "completion_tokens": 200, "total_tokens": 1200}
MESSAGES = [{"role": "user", "content": "Find the invoice."}]


class Service:
    def __init__(self, metric_baggage: str | None) -> None:
        self.exporter = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])
        options: dict[str, Any] = {}
        if metric_baggage is not None:
            options["metric_baggage"] = metric_baggage
        otel_tokenomics.instrument(
            tracer_provider=self.tracer_provider, meter_provider=self.meter_provider, **options
        )
        fake = Server()
        fake.json("/chat/completions", chat_completion(model=RESPONSE_MODEL, usage=USAGE))
        self.client = fake.client()
        self.lock = threading.Lock()

    def handle(self, headers: dict[str, str]) -> dict[str, Any]:
        with self.lock:
            self.exporter.clear()
            token = context.attach(propagate.extract(headers))
            try:
                self.client.chat.completions.create(model=MODEL, messages=MESSAGES)
            finally:
                context.detach(token)
            return {
                "received": {name: headers.get(name) for name in ("traceparent", "tracestate", "baggage")},
                "spans": [_span(span) for span in self.exporter.get_finished_spans()],
                "metrics": _metrics(self.reader),
                "blocked": list(BLOCKED),
            }


def _span(span: Any) -> dict[str, Any]:
    parent = span.parent
    return {
        "name": span.name,
        "trace_id": format(span.context.trace_id, "032x"),
        "span_id": format(span.context.span_id, "016x"),
        "parent_span_id": format(parent.span_id, "016x") if parent is not None else None,
        "parent_is_remote": parent.is_remote if parent is not None else None,
        "attributes": dict(span.attributes),
    }


def _metrics(reader: Any) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    data = reader.get_metrics_data()
    if data is None:
        return found
    for resource_metrics in data.resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                for point in metric.data.data_points:
                    entry: dict[str, Any] = {"attributes": dict(point.attributes)}
                    for field in ("value", "sum", "count"):
                        if hasattr(point, field):
                            entry[field] = getattr(point, field)
                    found.setdefault(metric.name, []).append(entry)
    return found


def _handler(service: Service) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            if length:
                self.rfile.read(length)
            headers = {name.lower(): value for name, value in self.headers.items()}
            try:
                status, answer = 200, service.handle(headers)
            except Exception as error:  # reported to the test, which fails on it
                status, answer = 500, {"error": f"{type(error).__name__}: {error}"}
            body = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def _exit_when_stdin_closes() -> None:
    try:
        while sys.stdin.buffer.read(4096):
            pass
    finally:
        os._exit(0)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--metric-baggage", default=None)
    parser.add_argument("--lifetime", type=float, default=120.0)
    args = parser.parse_args()

    watchdog = threading.Timer(args.lifetime, os._exit, (3,))
    watchdog.daemon = True
    watchdog.start()
    threading.Thread(target=_exit_when_stdin_closes, daemon=True).start()

    service = Service(args.metric_baggage)
    server = HTTPServer(("127.0.0.1", 0), _handler(service))
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
