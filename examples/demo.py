"""otel-tokenomics in one minute: six OpenAI calls, their spans, costs and metrics, summed up.

Offline (the default when OPENAI_API_KEY is not set, or with --offline) the calls go
to a fake OpenAI-compatible server started on localhost, so nothing leaves the
machine and every token count is reproducible::

    python examples/demo.py

With OPENAI_API_KEY set the same calls go to the real API with cheap models
(a few hundredths of a cent in total)::

    OPENAI_API_KEY=sk-... python examples/demo.py --model gpt-4o-mini

Every call is priced from the bundled catalog, except the one to --unpriced-model
(default my-finetune-v1, a model no catalog knows), which shows what an unpriced call
looks like. The real API has no model of that name and answers 404 (the call is then
shown, not counted as a failure). Your own prices apply as in any app::

    OTEL_TOKENOMICS_PRICES=prices.toml python examples/demo.py

Options: --console prints every span as JSON; --otlp also exports spans and metrics
over OTLP, configured by the standard OTEL_EXPORTER_OTLP_* variables (for example
OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 for a local Jaeger;
OTEL_EXPORTER_OTLP_PROTOCOL=grpc to use gRPC instead of http/protobuf).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import pathlib
import re
import sys
import textwrap
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from typing import Any

import openai
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    HistogramDataPoint,
    InMemoryMetricReader,
    MetricReader,
    NumberDataPoint,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

HERE = pathlib.Path(__file__).resolve().parent
SERVICE_NAME = "otel-tokenomics-demo"
FAKE_API_KEY = "sk-fake-offline-demo"

DEFAULT_MODEL = "gpt-4o-mini"
DEFAULT_REASONING_MODEL = "gpt-5-nano"
DEFAULT_EMBEDDING_MODEL = "text-embedding-3-small"
# No price catalog knows it, so its span says tokenomics.cost.status=unpriced. The fake
# server answers for any model id; the real API only for the models it serves you.
DEFAULT_UNPRICED_MODEL = "my-finetune-v1"
ERROR_MODEL = "fail-429"  # the fake server answers 429 for it; the real API answers 404


def _local_import(name: str, directory: pathlib.Path) -> Any:
    """Import a module from this checkout when it is not installed."""
    try:
        return importlib.import_module(name)
    except ImportError:
        sys.path.insert(0, str(directory))
        return importlib.import_module(name)


# -- the fixed prompts ------------------------------------------------------------------------

_TOPICS = (
    "span names",
    "metric attributes",
    "token counts",
    "cost figures",
    "stream timings",
    "error types",
    "cache reads",
    "sampling rules",
)
_RULES = (
    "Record {t} the same way in every service, so that one dashboard query covers them all.",
    "Never let {t} carry prompt or completion text unless the user has opted in to capture it.",
    "Prefer the names of the GenAI semantic conventions for {t} over names invented locally.",
    "When {t} are unknown, say so explicitly rather than writing a zero that looks like a fact.",
    "Keep {t} low in cardinality: no request ids, user ids or raw URLs as attribute values.",
    "Review {t} whenever a new model or provider is added, because their usage fields differ.",
    "Document {t} next to the code that produces them, with one example of a real value.",
)
# A long, stable system prompt: the prefix a provider can cache (>= 1024 tokens).
SYSTEM_PROMPT = (
    "You are the reviewer of an observability style guide. The guide says:\n"
    + "\n".join(
        f"{n}. {rule.format(t=topic)}"
        for n, (topic, rule) in enumerate(((t, r) for t in _TOPICS for r in _RULES), start=1)
    )
    + "\nAnswer in one or two sentences."
)
CHAT_QUESTION = "Why should every LLM call record its token usage on a span?"
STREAM_QUESTION = "In one sentence, what does time to first chunk measure?"
RESPONSES_INPUT = "In one sentence, why are cached input tokens cheaper?"
UNPRICED_QUESTION = "In one sentence, why are tokens worth recording without a price?"
EMBEDDING_INPUTS = [
    "Tokens are the unit of cost.",
    "Time to first chunk is what a user feels.",
    "Cached prefixes make long prompts cheap.",
]


# -- telemetry setup ------------------------------------------------------------------------------


def _resource() -> Resource:
    resource = Resource.create()
    if str(resource.attributes.get("service.name", "")).startswith("unknown_service"):
        resource = resource.merge(Resource({"service.name": SERVICE_NAME}))
    return resource


def _otlp_protocol(signal: str) -> str:
    return (
        os.environ.get(f"OTEL_EXPORTER_OTLP_{signal}_PROTOCOL")
        or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    ).strip()


def _otlp_exporters() -> tuple[Any, Any]:
    """OTLP span and metric exporters; endpoint, headers etc. come from OTEL_EXPORTER_OTLP_*."""
    exporters = []
    for signal, module, name in (
        ("TRACES", "trace_exporter", "OTLPSpanExporter"),
        ("METRICS", "metric_exporter", "OTLPMetricExporter"),
    ):
        transport = "grpc" if _otlp_protocol(signal) == "grpc" else "http"
        exporter_module = importlib.import_module(f"opentelemetry.exporter.otlp.proto.{transport}.{module}")
        exporters.append(getattr(exporter_module, name)())
    return exporters[0], exporters[1]


class Telemetry:
    """The SDK pipeline of the demo: in memory for the summary, optionally console and OTLP."""

    def __init__(self, console: bool, otlp: bool) -> None:
        resource = _resource()
        self.spans = InMemorySpanExporter()
        self.tracer_provider = TracerProvider(resource=resource)
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        if console:
            self.tracer_provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
        self.reader = InMemoryMetricReader()
        readers: list[MetricReader] = [self.reader]
        if otlp:
            span_exporter, metric_exporter = _otlp_exporters()
            self.tracer_provider.add_span_processor(BatchSpanProcessor(span_exporter))
            readers.append(PeriodicExportingMetricReader(metric_exporter))
        self.meter_provider = MeterProvider(metric_readers=readers, resource=resource)

    def finished_spans(self) -> list[ReadableSpan]:
        self.tracer_provider.force_flush()
        return sorted(self.spans.get_finished_spans(), key=lambda span: span.start_time or 0)

    def shutdown(self) -> None:
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()


# -- the calls ----------------------------------------------------------------------------------


WIDTH = 92  # output stays readable on a 100-column terminal


def _show(text: str) -> None:
    print(textwrap.fill(text, WIDTH, initial_indent="    -> ", subsequent_indent="       "))


class _StreamPrinter:
    """Prints stream deltas as they arrive, wrapped like :func:`_show`.

    Deltas split words anywhere ("Tok", "ens"), so a line only breaks at whitespace.
    """

    def __init__(self) -> None:
        self.column = 0
        self.space = ""

    def write(self, text: str) -> None:
        for token in re.findall(r"\s+|\S+", text):
            if token.isspace():
                self.space += token.replace("\n", " ")
                continue
            if self.column == 0:
                print("    -> ", end="")
                self.column, self.space = 7, ""
            elif self.space and self.column + len(self.space) + len(token) > WIDTH:
                print("\n       ", end="")
                self.column, self.space = 7, ""
            print(self.space + token, end="", flush=True)
            self.column += len(self.space) + len(token)
            self.space = ""

    def close(self) -> None:
        print()


def _error_message(error: openai.APIStatusError) -> str:
    body = error.body
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return body["message"]
    return error.message


def call_chat(client: openai.OpenAI, args: argparse.Namespace) -> None:
    print(f"[1] chat.completions.create  model={args.model}")
    completion = client.chat.completions.create(
        model=args.model,
        messages=[{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": CHAT_QUESTION}],
        max_completion_tokens=1000,
    )
    choice = completion.choices[0]
    _show(choice.message.content or f"(no text; finish_reason={choice.finish_reason})")


def call_chat_stream(client: openai.OpenAI, args: argparse.Namespace) -> None:
    print(f"[2] chat.completions.create  model={args.model}  stream=True, include_usage=True")
    stream = client.chat.completions.create(
        model=args.model,
        messages=[{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": STREAM_QUESTION}],
        max_completion_tokens=1000,
        stream=True,
        stream_options={"include_usage": True},
    )
    printer = _StreamPrinter()
    with stream:
        for chunk in stream:
            for choice in chunk.choices:
                if choice.delta.content:
                    printer.write(choice.delta.content)
    printer.close()


def call_responses(client: openai.OpenAI, args: argparse.Namespace) -> None:
    print(f"[3] responses.create  model={args.reasoning_model}  reasoning.effort=low")
    response = client.responses.create(
        model=args.reasoning_model,
        input=RESPONSES_INPUT,
        reasoning={"effort": "low"},
        max_output_tokens=2000,
    )
    _show(response.output_text)


def call_embeddings(client: openai.OpenAI, args: argparse.Namespace) -> None:
    print(f"[4] embeddings.create  model={args.embedding_model}  {len(EMBEDDING_INPUTS)} inputs")
    result = client.embeddings.create(
        model=args.embedding_model, input=EMBEDDING_INPUTS, encoding_format="float"
    )
    _show(f"{len(result.data)} vectors of {len(result.data[0].embedding)} dimensions")


def call_unpriced(client: openai.OpenAI, args: argparse.Namespace) -> None:
    print(f"[5] chat.completions.create  model={args.unpriced_model}  (not in the price catalog)")
    try:
        completion = client.chat.completions.create(
            model=args.unpriced_model,
            messages=[{"role": "user", "content": UNPRICED_QUESTION}],
            max_completion_tokens=1000,
        )
    except openai.NotFoundError as error:  # the real API, without a model of yours by that name
        _show(f"NotFoundError (HTTP 404): {_error_message(error)}")
        return
    choice = completion.choices[0]
    _show(choice.message.content or f"(no text; finish_reason={choice.finish_reason})")


def call_error(client: openai.OpenAI, args: argparse.Namespace) -> None:
    print(f"[6] chat.completions.create  model={ERROR_MODEL}  (expected to fail)")
    try:
        client.chat.completions.create(model=ERROR_MODEL, messages=[{"role": "user", "content": "Hello?"}])
    except openai.RateLimitError as error:
        _show(f"RateLimitError (HTTP {error.status_code}): {_error_message(error)}")
    except openai.APIStatusError as error:  # the real API has no such model: 404
        _show(f"{type(error).__name__} (HTTP {error.status_code}): {_error_message(error)}")
    else:
        _show("no error?")


CALLS: tuple[Callable[[openai.OpenAI, argparse.Namespace], None], ...] = (
    call_chat,
    call_chat_stream,
    call_responses,
    call_embeddings,
    call_unpriced,
    call_error,
)


class _LibraryWarnings(logging.Handler):
    """Prints otel-tokenomics' warnings where they happen, under the call that caused them.

    The one to look for: the first call to a model without a price logs a warning
    (once per model and provider), so a missing price is noticed, not silently summed as 0.
    """

    def emit(self, record: logging.LogRecord) -> None:
        text = f"{record.levelname}: {record.getMessage()}"
        print(textwrap.fill(text, WIDTH, initial_indent="    !! ", subsequent_indent="       "))


# -- the summary --------------------------------------------------------------------------------


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], right: set[int]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        parts = [
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  " + "  ".join(parts).rstrip()

    return [line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)]


def _tokens(attributes: Any, key: str) -> str:
    value = attributes.get(key)
    return "-" if value is None else str(value)


def _ms(seconds: Any) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.1f}"


def _usd(value: Any) -> str:
    # Eight decimals: a call to a small model costs millionths of a dollar (the
    # embeddings call 0.00000056), which fewer decimals would round away.
    return "-" if value is None else f"{value:.8f}"


def _cost(attributes: Any) -> str:
    """The span's total cost, or why there is none (the cost status)."""
    total = attributes.get("tokenomics.cost.total")
    if total is not None:
        return _usd(total)
    return str(attributes.get("tokenomics.cost.status", "-"))


def _status(span: ReadableSpan) -> str:
    error_type = span.attributes.get("error.type") if span.attributes else None
    if error_type:
        return str(error_type)
    return "ERROR" if span.status.status_code is StatusCode.ERROR else "ok"


COST_HEADERS = (
    "#",
    "cost status",
    "priced as",
    "input",
    "cache read",
    "cache write",
    "output",
    "cache savings",
)


def span_summary(spans: Sequence[ReadableSpan]) -> list[str]:
    calls, tokens, costs = [], [], []
    prices: list[str] = []
    for number, span in enumerate(spans, start=1):
        a = span.attributes or {}
        duration = (span.end_time - span.start_time) / 1e9 if span.end_time and span.start_time else None
        calls.append(
            [
                str(number),
                span.name,
                str(a.get("gen_ai.provider.name", "-")),
                str(a.get("openai.api.type", "-")),
                "yes" if a.get("gen_ai.request.stream") else "no",
                _status(span),
                _cost(a),
            ]
        )
        tokens.append(
            [
                str(number),
                str(a.get("gen_ai.response.model") or a.get("gen_ai.request.model") or "-"),
                _tokens(a, "gen_ai.usage.input_tokens"),
                _tokens(a, "gen_ai.usage.cache_read.input_tokens"),
                _tokens(a, "gen_ai.usage.output_tokens"),
                _tokens(a, "gen_ai.usage.reasoning.output_tokens"),
                _ms(duration),
                _ms(a.get("gen_ai.response.time_to_first_chunk")),
            ]
        )
        costs.append(
            [
                str(number),
                str(a.get("tokenomics.cost.status", "-")),
                str(a.get("tokenomics.pricing.model", "-")),
                _usd(a.get("tokenomics.cost.input")),
                _usd(a.get("tokenomics.cost.cache_read")),
                _usd(a.get("tokenomics.cost.cache_write")),
                _usd(a.get("tokenomics.cost.output")),
                _usd(a.get("tokenomics.cost.cache_savings")),
            ]
        )
        source = a.get("tokenomics.cost.source")
        if source is not None:
            described = f"{source} {a.get('tokenomics.pricing.version', '')}".rstrip()
            if described not in prices:
                prices.append(described)
    lines = [f"Spans ({len(spans)})"]
    lines += _table(["#", "span name", "provider", "api", "stream", "status", "cost USD"], calls, right={6})
    lines += ["", "Tokens and timing"]
    lines += _table(
        ["#", "response model", "input", "cached", "output", "reasoning", "duration ms", "ttfc ms"],
        tokens,
        right={2, 3, 4, 5, 6, 7},
    )
    headers = list(COST_HEADERS)
    write = COST_HEADERS.index("cache write")
    if all(row[write] in ("-", _usd(0)) for row in costs):
        # When no call wrote to the provider cache, a column of zeros would only widen the table.
        del headers[write]
        costs = [row[:write] + row[write + 1 :] for row in costs]
    lines += ["", "Cost in USD by token class"]
    lines += _table(headers, costs, right=set(range(3, len(headers))))
    if prices:
        lines.append(f"  prices: {', '.join(prices)}  (tokenomics.cost.source, tokenomics.pricing.version)")
    return lines


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.3f}"


# Counters whose total is shown split by one attribute, in this order of its values.
BREAKDOWNS = {
    "tokenomics.cost": (
        "tokenomics.token.class",
        ("input", "cache_read", "cache_write", "output", "unattributed"),
    ),
    "tokenomics.unpriced.calls": ("gen_ai.request.model", ()),
}


def _amount(value: float, unit: str) -> str:
    return f"{_usd(value)} {unit}" if unit == "USD" else f"{_number(value)} {unit}".rstrip()


def _breakdown(points: Sequence[NumberDataPoint], key: str, order: Sequence[str]) -> list[tuple[str, float]]:
    totals: dict[str, float] = {}
    for point in points:
        value = str(point.attributes.get(key, "?"))
        totals[value] = totals.get(value, 0) + point.value
    rank = {value: position for position, value in enumerate(order)}
    return sorted(totals.items(), key=lambda item: (rank.get(item[0], len(rank)), item[0]))


def metrics_summary(reader: InMemoryMetricReader) -> list[str]:
    data = reader.get_metrics_data()
    metrics: dict[str, Any] = {}
    for resource_metrics in data.resource_metrics if data else ():
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                metrics[metric.name] = metric
    lines = ["Metrics"]
    if not metrics:
        return [*lines, "  (none recorded)"]
    width = max(len(name) for name in metrics)
    for name in sorted(metrics):
        metric = metrics[name]
        points = list(metric.data.data_points)
        unit = metric.unit or ""
        details: list[str] = []
        if name == "gen_ai.client.token.usage":
            by_type: dict[str, float] = {}
            for point in points:
                token_type = str(point.attributes.get("gen_ai.token.type", "?"))
                by_type[token_type] = by_type.get(token_type, 0) + point.sum
            text = "   ".join(f"{kind} {_number(total)}" for kind, total in sorted(by_type.items()))
            text += "  (sum of tokens)"
        elif points and isinstance(points[0], HistogramDataPoint):
            count = sum(p.count for p in points)
            failed = sum(p.count for p in points if p.attributes.get("error.type"))
            total = sum(p.sum for p in points)
            shown = f"{total * 1000:.1f} ms" if unit == "s" else f"{_number(total)} {unit}"
            text = f"count {count}"
            if failed:
                text += f" ({failed} with error.type)"
            text += f", sum {shown}"
        elif points and isinstance(points[0], NumberDataPoint):
            text = f"total {_amount(sum(p.value for p in points), unit)}"
            if name in BREAKDOWNS:
                key, order = BREAKDOWNS[name]
                details = [
                    f"    {f'{key}={value}'.ljust(width - 2)}  {_amount(total, unit)}"
                    for value, total in _breakdown(points, key, order)
                ]
        else:
            text = f"{len(points)} points"
        lines.append(f"  {name.ljust(width)}  {text}")
        lines += details
    return lines


# -- main ----------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Make six OpenAI calls with otel-tokenomics on and summarise their telemetry and cost."
    )
    parser.add_argument(
        "--offline", action="store_true", help="use the local fake server even if OPENAI_API_KEY is set"
    )
    parser.add_argument("--model", default=DEFAULT_MODEL, help=f"chat model (default {DEFAULT_MODEL})")
    parser.add_argument(
        "--reasoning-model",
        default=DEFAULT_REASONING_MODEL,
        help=f"model of the Responses API call (default {DEFAULT_REASONING_MODEL})",
    )
    parser.add_argument(
        "--embedding-model",
        default=DEFAULT_EMBEDDING_MODEL,
        help=f"embeddings model (default {DEFAULT_EMBEDDING_MODEL})",
    )
    parser.add_argument(
        "--unpriced-model",
        default=DEFAULT_UNPRICED_MODEL,
        help=f"chat model that has no price, to show an unpriced call (default {DEFAULT_UNPRICED_MODEL})",
    )
    parser.add_argument("--console", action="store_true", help="also print every span as JSON")
    parser.add_argument(
        "--otlp",
        action="store_true",
        help="also export over OTLP (configure with OTEL_EXPORTER_OTLP_* variables)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    otel_tokenomics = _local_import("otel_tokenomics", HERE.parent)
    offline = args.offline or not os.environ.get("OPENAI_API_KEY")

    try:
        telemetry = Telemetry(console=args.console, otlp=args.otlp)
    except ImportError as error:
        print(f"cannot set up OTLP export: {error}", file=sys.stderr)
        return 2

    with ExitStack() as stack:
        if offline:
            fake = _local_import("fake_openai_server", HERE)
            server, base_url = stack.enter_context(fake.start_server())
            client = openai.OpenAI(base_url=base_url, api_key=FAKE_API_KEY, max_retries=0)
            provider_map = {f"{server.host}:{server.port}": "openai"}
            reason = "--offline" if args.offline else "no OPENAI_API_KEY"
            print(f"Offline mode ({reason}): fake OpenAI server at {base_url}")
        else:
            client = openai.OpenAI(max_retries=0)
            provider_map = {}
            print(f"Online mode: {client.base_url} (use --offline for the local fake server)")
        stack.callback(client.close)

        warnings = _LibraryWarnings(logging.WARNING)
        library_logger = logging.getLogger("otel_tokenomics")
        library_logger.addHandler(warnings)
        stack.callback(library_logger.removeHandler, warnings)
        try:
            active = otel_tokenomics.instrument(
                tracer_provider=telemetry.tracer_provider,
                meter_provider=telemetry.meter_provider,
                provider_map=provider_map,
            )
        except otel_tokenomics.PriceOverrideError as error:  # a bad OTEL_TOKENOMICS_PRICES file
            print(f"otel_tokenomics.instrument() refused the price file: {error}", file=sys.stderr)
            return 2
        stack.callback(otel_tokenomics.uninstrument)
        print(f"otel_tokenomics.instrument() -> {active}")
        if not active:
            print("nothing was instrumented; is the openai package installed?", file=sys.stderr)
            return 1
        print()

        failed = 0
        for call in CALLS:
            started = time.perf_counter()
            try:
                call(client, args)
            except openai.APIError as error:
                failed += 1
                _show(f"unexpected {type(error).__name__}: {error}")
            except Exception as error:  # a bug in the demo or the library: show it, keep going
                failed += 1
                _show(f"unexpected {type(error).__name__}: {error}")
            print(f"    ({(time.perf_counter() - started) * 1000:.0f} ms)")

        print()
        for line in span_summary(telemetry.finished_spans()):
            print(line)
        print()
        for line in metrics_summary(telemetry.reader):
            print(line)

    if args.otlp:
        endpoint = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "the default localhost endpoint")
        print(f"\nflushing the OTLP export to {endpoint} (retries for a while if nothing listens)...")
    telemetry.shutdown()
    if failed:
        print(f"\n{failed} call(s) failed unexpectedly", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
