"""A small LLM app that Prometheus can scrape, for trying the alerting rules beside it.

It starts the fake OpenAI server (``examples/fake_openai_server.py``) on 127.0.0.1,
points the real ``openai`` client at it, instruments it with otel-tokenomics, and
serves the metrics on ``http://127.0.0.1:PORT/metrics`` through the OpenTelemetry
Prometheus exporter. Then it makes calls, round-robin over the tenants given, at the
pace given: plain and streamed chat completions, and on request calls to a model no
catalog prices and calls that fail. Nothing leaves the machine::

    python examples/alerting/llm_app.py --port 9464 --forever
    prometheus --config.file=examples/alerting/prometheus.yml

Every priced call has the same token counts (they are fixed functions of the prompt,
see the fake server), so the spend is exact: with the defaults each call to gpt-4o
reads 1,227 or 1,223 input tokens (by question), 1,152 of them from the cache, and
writes 26 or 29 output tokens. After its calls the app keeps serving ``/metrics`` until it is interrupted
(Ctrl-C or SIGTERM), so that Prometheus scrapes the final counts.
"""

from __future__ import annotations

import argparse
import importlib
import itertools
import pathlib
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from types import FrameType
from typing import Any

import openai
import prometheus_client
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

HERE = pathlib.Path(__file__).resolve().parent
SERVICE_NAME = "otel-tokenomics-alerting-demo"
FAKE_API_KEY = "sk-fake-alerting-demo"
QUESTIONS = (
    "What did the last hour of model calls cost us?",
    "Why is the first chunk of a stream the latency that users feel?",
)
# The fake server reports as cached the part of the prompt before the last message,
# rounded down to 128 tokens, once it reaches 1,024 tokens: a long, stable system prompt.
FILLER = "Answer briefly and cite the dashboard you read the number from. "


def _local_import(name: str, directory: pathlib.Path) -> Any:
    """Import a module from this checkout when it is not installed."""
    try:
        return importlib.import_module(name)
    except ImportError:
        sys.path.insert(0, str(directory))
        return importlib.import_module(name)


class _ScrapeWatch:
    """A collector with no metrics that notes when /metrics has been scraped.

    With ``--wait-for-scrape`` the first call waits for it: a counter series that
    Prometheus first sees already above zero hides its first increase from rate()
    and increase(), so the calls should start after a scrape of the idle app.
    """

    def __init__(self) -> None:
        self.scraped = threading.Event()

    def describe(self) -> list[Any]:
        return []  # keeps the registry from collecting at registration

    def collect(self) -> Iterator[Any]:
        self.scraped.set()
        return iter(())


def _system_prompt(tokens: int) -> str:
    """A text of exactly ``tokens`` fake-server tokens (four characters each)."""
    text = FILLER * (tokens * 4 // len(FILLER) + 1)
    return text[: tokens * 4]


def _messages(args: argparse.Namespace, index: int) -> list[dict[str, str]]:
    question = QUESTIONS[index % len(QUESTIONS)]
    system = _system_prompt(args.system_tokens)
    if args.no_cache:  # the same tokens in one message: nothing before the last one to cache
        return [{"role": "user", "content": f"{system}\n\n{question}"}]
    return [{"role": "system", "content": system}, {"role": "user", "content": question}]


def _kind(args: argparse.Namespace, index: int) -> str:
    """What call number ``index`` (from 1) is: error, unpriced, stream or plain."""
    if args.error_every and index % args.error_every == 0:
        return "error"
    if args.unpriced_every and index % args.unpriced_every == 0:
        return "unpriced"
    if args.stream_every and index % args.stream_every == 0:
        return "stream"
    return "plain"


def call_once(client: openai.OpenAI, args: argparse.Namespace, index: int) -> str:
    """Make call number ``index``; returns a one-line description of it."""
    kind = _kind(args, index)
    messages: Any = _messages(args, index)
    if kind == "error":
        try:
            client.chat.completions.create(model=args.error_model, messages=messages)
        except openai.APIStatusError as error:
            return f"error    {args.error_model}: HTTP {error.status_code}"
        return f"error    {args.error_model}: no error?"
    model = args.unpriced_model if kind == "unpriced" else args.model
    if kind == "stream":
        stream = client.chat.completions.create(
            model=model, messages=messages, stream=True, stream_options={"include_usage": True}
        )
        usage = None
        for chunk in stream:
            usage = chunk.usage or usage
    else:
        usage = client.chat.completions.create(model=model, messages=messages).usage
    tokens = f"{usage.prompt_tokens} in, {usage.completion_tokens} out" if usage else "no usage"
    return f"{kind:<8} {model}: {tokens}"


def run_calls(client: openai.OpenAI, args: argparse.Namespace, stop: threading.Event, library: Any) -> int:
    """The calls, each attributed to the next tenant and feature; returns how many were made."""
    tenants = [t for t in args.tenants.split(",") if t] or [None]
    features = [f for f in args.features.split(",") if f] or [None]
    made = 0
    for index in itertools.count(1):
        if stop.is_set() or (not args.forever and index > args.calls):
            break
        tenant = tenants[(index - 1) % len(tenants)]
        feature = features[(index - 1) % len(features)]
        with library.attribute_to(tenant=tenant, feature=feature):
            line = call_once(client, args, index)
        made += 1
        print(f"call {index:>4}  tenant={tenant} feature={feature}  {line}", flush=True)
        if stop.wait(args.interval):
            break
    return made


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--port", type=int, default=9464, help="metrics port (0: a free one)")
    parser.add_argument("--calls", type=int, default=20, help="number of calls (default 20)")
    parser.add_argument("--forever", action="store_true", help="keep calling until interrupted")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between calls (default 1)")
    parser.add_argument("--model", default="gpt-4o", help="the priced model (default gpt-4o)")
    parser.add_argument("--unpriced-model", default="my-finetune-v1", help="a model no catalog prices")
    parser.add_argument("--unpriced-every", type=int, default=0, help="every Nth call is unpriced (0: none)")
    parser.add_argument("--error-model", default="fail-500", help="fail-500 or fail-429 (default fail-500)")
    parser.add_argument("--error-every", type=int, default=0, help="every Nth call fails (0: none)")
    parser.add_argument("--stream-every", type=int, default=2, help="every Nth call streams (0: none)")
    parser.add_argument("--system-tokens", type=int, default=1200, help="tokens of the system prompt")
    parser.add_argument("--no-cache", action="store_true", help="prompts the fake server reports uncached")
    parser.add_argument(
        "--first-chunk-delay", type=float, default=0.06, help="the fake server's wait before the first chunk"
    )
    parser.add_argument("--tenants", default="acme,globex", help="comma separated, round-robin")
    parser.add_argument("--features", default="search,chat", help="comma separated, round-robin")
    parser.add_argument(
        "--metric-names",
        choices=("legacy", "latest", "both"),
        default="both",
        help="metric generation (default both: the cache-hit rule needs the latest counters)",
    )
    parser.add_argument("--wait-for-scrape", action="store_true", help="first call after the first scrape")
    parser.add_argument("--exit", action="store_true", help="exit after the calls instead of serving on")
    args = parser.parse_args(argv)
    if args.calls < 0 or args.interval < 0 or args.system_tokens < 0:
        parser.error("--calls, --interval and --system-tokens cannot be negative")
    return args


def _stop_on_sigterm(stop: threading.Event) -> None:
    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    otel_tokenomics = _local_import("otel_tokenomics", HERE.parent.parent)
    fake = _local_import("fake_openai_server", HERE.parent)
    stop = threading.Event()
    _stop_on_sigterm(stop)

    with ExitStack() as stack:
        server = fake.serve_in_background(first_chunk_delay=args.first_chunk_delay)
        stack.callback(fake.stop_server, server)

        # A registry of our own: the process-wide one also carries Python's process metrics.
        registry = prometheus_client.CollectorRegistry(auto_describe=True)
        watch = _ScrapeWatch()
        registry.register(watch)
        resource = Resource.create({"service.name": SERVICE_NAME})
        meter_provider = MeterProvider(
            metric_readers=[PrometheusMetricReader(registry=registry)], resource=resource
        )
        stack.callback(meter_provider.shutdown)
        httpd, _ = prometheus_client.start_http_server(args.port, addr="127.0.0.1", registry=registry)
        stack.callback(httpd.server_close)
        stack.callback(httpd.shutdown)

        otel_tokenomics.instrument(
            tracer_provider=TracerProvider(resource=resource),
            meter_provider=meter_provider,
            metric_names=args.metric_names,
            # The fake server stands for OpenAI; without this its calls would be priced as an
            # unknown provider's.
            provider_map={f"{server.host}:{server.port}": "openai"},
            # Tenant and feature label the metrics only when allowed, each with a cap on values.
            metric_baggage="tokenomics.tenant:50,tokenomics.feature:20",
        )
        stack.callback(otel_tokenomics.uninstrument)
        client = openai.OpenAI(base_url=server.base_url, api_key=FAKE_API_KEY, max_retries=0)
        stack.callback(client.close)

        print(f"metrics on http://127.0.0.1:{httpd.server_port}/metrics", flush=True)
        if args.wait_for_scrape:
            print("waiting for the first scrape", flush=True)
            while not stop.is_set() and not watch.scraped.wait(0.1):
                pass
        made = run_calls(client, args, stop, otel_tokenomics)
        print(f"done: {made} calls", flush=True)
        while not args.exit and not stop.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
