"""End to end against a real OTLP backend, Arize Phoenix: what a user sees there is what we recorded.

The real ``openai`` client (answered by the fake transport of tests/openai_fakes.py),
instrumented by otel-tokenomics, exports with the real OTLP span exporters, over
HTTP and over gRPC, to a Phoenix server started for this module (tests/phoenix_backend.py).
Under one parent span: a plain chat call that reads from the prompt cache, a stream
with ``include_usage``, a call to a model without a price, and a ``triage`` workflow
of two calls. The spans are then read back through Phoenix's REST API and checked to
the token and to 1e-12 of a dollar against amounts computed here from the catalog.

Phoenix also derives OpenInference attributes (``llm.*``, its span kind) from the
``gen_ai.*`` ones; the tests pin down exactly what it derives and what it leaves out.

Needs ``TOKENOMICS_PHOENIX``: the path of the ``phoenix`` executable in a virtualenv
with ``arize-phoenix`` installed (.ci/run makes one); skipped without it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from openai_fakes import CHAT_USAGE, Server
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from phoenix_backend import Phoenix

import otel_tokenomics
from otel_tokenomics import pricing
from otel_tokenomics.pricing.catalog import load_catalog

PHOENIX = os.environ.get("TOKENOMICS_PHOENIX", "")

pytestmark = [
    pytest.mark.phoenix,
    pytest.mark.skipif(not PHOENIX, reason="TOKENOMICS_PHOENIX (path of a phoenix executable) is not set"),
]

SERVICE = "tokenomics-phoenix-e2e"
MESSAGES = [{"role": "user", "content": "Say hello."}]
UNPRICED = "acme-private-llm"  # in no catalog
# 1200 in of which 1024 cached, 300 out.
STREAM_USAGE = {
    "prompt_tokens": 1200,
    "completion_tokens": 300,
    "total_tokens": 1500,
    "prompt_tokens_details": {"cached_tokens": 1024},
}
SMALL_USAGE = {"prompt_tokens": 1000, "completion_tokens": 200, "total_tokens": 1200}
# Per request model: the model the fake answers with, and its usage.
ANSWERS = {
    # 2048 in of which 1536 cached, 612 out of which 256 reasoning.
    "o4-mini": ("o4-mini-2025-04-16", CHAT_USAGE),
    "gpt-4o-mini": ("gpt-4o-mini-2024-07-18", STREAM_USAGE),
    UNPRICED: (UNPRICED, SMALL_USAGE),
}
# Request model -> (input, output, cache read, reasoning) tokens.
TOKENS = {"o4-mini": (2048, 612, 1536, 256), "gpt-4o-mini": (1200, 300, 1024, 0), UNPRICED: (1000, 200, 0, 0)}

# The spans of one run, by the order they start: (name, parent's name).
ROOT = "tokenomics e2e"
WORKFLOW = "invoke_workflow triage"
TREE = [
    (ROOT, None),
    ("chat o4-mini", ROOT),
    ("chat gpt-4o-mini", ROOT),
    (f"chat {UNPRICED}", ROOT),
    (WORKFLOW, ROOT),
    ("chat o4-mini", WORKFLOW),
    ("chat gpt-4o-mini", WORKFLOW),
]
CALLS = [i for i, (name, _) in enumerate(TREE) if name.startswith("chat ")]


def usd(model: str, input_tokens: int, output_tokens: int, cached: int = 0) -> Decimal:
    """A call's cost in US dollars from the catalog's per-million prices (reasoning is output)."""
    prices = load_catalog().find("openai", model).at(time.time_ns())
    cost = (input_tokens - cached) * prices.input + cached * prices.cache_read + output_tokens * prices.output
    return cost / 1_000_000


def exact(value: Decimal | float) -> Any:
    return pytest.approx(float(value), rel=1e-12, abs=0)


O4_COST = usd("o4-mini-2025-04-16", 2048, 612, cached=1536)
MINI_COST = usd("gpt-4o-mini-2024-07-18", 1200, 300, cached=1024)
COSTS = {"o4-mini": O4_COST, "gpt-4o-mini": MINI_COST}


@dataclass
class Run:
    """One run of the scenario over one protocol: what we exported, and what Phoenix gives back."""

    protocol: str
    project: str
    sent: list[ReadableSpan]  # as the SDK finished them, in TREE order
    flat: list[dict[str, Any]]  # GET /v1/projects/{project}/spans, in TREE order
    otlp: list[dict[str, Any]]  # GET /v1/projects/{project}/spans/otlpv1, in TREE order
    traces: list[dict[str, Any]]  # GET /v1/projects/{project}/traces


@pytest.fixture(scope="module")
def phoenix(request: pytest.FixtureRequest) -> Iterator[Phoenix]:
    server = Phoenix(PHOENIX)
    server.start()
    failed_before = request.session.testsfailed
    try:
        yield server
    finally:
        server.stop()
        if request.session.testsfailed > failed_before:
            reporter = request.config.pluginmanager.get_plugin("terminalreporter")
            if reporter is not None:
                reporter.write_line(
                    f"\n--- Phoenix log (tail), started in {server.startup_seconds:.1f} s ---"
                )
                reporter.write_line(server.log()[-20_000:])


def _exporter(protocol: str, phoenix: Phoenix) -> Any:
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

        return GrpcExporter(endpoint=phoenix.otlp_grpc_endpoint, insecure=True, timeout=10)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

    return HttpExporter(endpoint=phoenix.otlp_http_endpoint, timeout=10)


def _drive(tracer_provider: TracerProvider) -> None:
    server = Server()
    server.chat(lambda body: ANSWERS[body["model"]])
    client = server.client()
    tracer = tracer_provider.get_tracer("tests.phoenix")
    with tracer.start_as_current_span(ROOT):
        client.chat.completions.create(model="o4-mini", messages=MESSAGES)
        stream = client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
        chunks = list(stream)
        assert chunks[-1].usage is not None and chunks[-1].usage.prompt_tokens == 1200
        client.chat.completions.create(model=UNPRICED, messages=MESSAGES)
        with otel_tokenomics.workflow("triage") as run:
            client.chat.completions.create(model="o4-mini", messages=MESSAGES)
            client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        assert run.llm_calls == 2 and run.cost == O4_COST + MINI_COST
    assert len(server.requests) == 5


def _span_id(span: ReadableSpan) -> str:
    return f"{span.context.span_id:016x}"


def _like_sent(spans: list[dict[str, Any]], sent: list[ReadableSpan], span_id: Any) -> list[dict[str, Any]]:
    """Phoenix's spans in the order of ours (TREE order), matched by span id."""
    by_id = {span_id(span): span for span in spans}
    assert sorted(by_id) == sorted(_span_id(span) for span in sent), [s["name"] for s in spans]
    return [by_id[_span_id(span)] for span in sent]


@pytest.fixture(scope="module", params=["http", "grpc"])
def run(request: pytest.FixtureRequest, phoenix: Phoenix) -> Iterator[Run]:
    protocol = request.param
    project = f"tokenomics-e2e-{protocol}"
    with pytest.MonkeyPatch.context() as env:
        # The exporters honour proxy variables; loopback must never go through one.
        env.setenv("NO_PROXY", "127.0.0.1,localhost")
        env.setenv("no_proxy", "127.0.0.1,localhost")
        env.delenv("OTEL_TOKENOMICS_PRICES", raising=False)
        env.delenv("OTEL_TOKENOMICS_PRICING_FALLBACK", raising=False)
        pricing.reset()
        resource = Resource.create({"service.name": SERVICE, "openinference.project.name": project})
        tracer_provider = TracerProvider(resource=resource)
        memory = InMemorySpanExporter()
        tracer_provider.add_span_processor(SimpleSpanProcessor(memory))
        tracer_provider.add_span_processor(
            BatchSpanProcessor(_exporter(protocol, phoenix), schedule_delay_millis=50)
        )
        meter_provider = MeterProvider()
        try:
            otel_tokenomics.uninstrument()  # start from a clean slate whatever ran before
            otel_tokenomics.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
            _drive(tracer_provider)
        finally:
            otel_tokenomics.uninstrument()
            assert tracer_provider.force_flush(10_000)
            tracer_provider.shutdown()
            meter_provider.shutdown()
            pricing.reset()
    sent = sorted(memory.get_finished_spans(), key=lambda span: span.start_time)
    assert [span.name for span in sent] == [name for name, _ in TREE]
    count = len(TREE)
    flat = phoenix.wait_for_spans(project, count)
    otlp = phoenix.wait_for_spans(project, count, otlp=True)
    traces = phoenix.wait_for(lambda: phoenix.traces(project), lambda t: bool(t), f"a trace in {project!r}")
    yield Run(
        protocol=protocol,
        project=project,
        sent=sent,
        flat=_like_sent(flat, sent, lambda span: span["context"]["span_id"]),
        otlp=_like_sent(otlp, sent, lambda span: span["span_id"]),
        traces=traces,
    )


# -- what arrived, and where ---------------------------------------------------------------------


def test_project_is_named_by_the_resource_attribute(run: Run, phoenix: Phoenix) -> None:
    names = {project["name"] for project in phoenix.get_json("/v1/projects")["data"]}
    assert run.project in names
    assert len(run.flat) == len(TREE)
    # Nothing of ours landed in the default project.
    default = phoenix.spans("default") or []
    assert [s for s in default if s["name"] in {name for name, _ in TREE}] == []


def test_one_trace_with_the_tree_we_opened(run: Run) -> None:
    trace_id = f"{run.sent[0].context.trace_id:032x}"
    assert [t["trace_id"] for t in run.traces] == [trace_id]
    assert [span["name"] for span in run.flat] == [name for name, _ in TREE]
    span_ids = [span["context"]["span_id"] for span in run.flat]
    assert span_ids == [_span_id(span) for span in run.sent]
    assert {span["context"]["trace_id"] for span in run.flat} == {trace_id}
    names = [name for name, _ in TREE]
    expected_parents = [None if parent is None else span_ids[names.index(parent)] for _, parent in TREE]
    assert [span["parent_id"] for span in run.flat] == expected_parents
    # Phoenix's OTLP form says the same.
    assert [span["parent_span_id"] for span in run.otlp] == expected_parents
    assert {span["trace_id"] for span in run.otlp} == {trace_id}


def test_span_kinds(run: Run) -> None:
    ours = ["CLIENT" if i in CALLS else "INTERNAL" for i in range(len(TREE))]
    assert [span.kind.name for span in run.sent] == ours
    # Phoenix keeps no OpenTelemetry span kind (it stores its own, see test_phoenix_span_kinds):
    # its OTLP form says INTERNAL for every span, our CLIENT calls included.
    assert [span["kind"] for span in run.otlp] == ["SPAN_KIND_INTERNAL"] * len(TREE)
    assert [span["status_code"] for span in run.flat] == ["UNSET"] * len(TREE)


def test_every_attribute_we_exported_arrives_verbatim(run: Run) -> None:
    """Phoenix adds attributes of its own, but keeps every one of ours, with its type and value."""
    for sent, span in zip(run.sent, run.flat, strict=True):
        ours = {
            key: list(value) if isinstance(value, tuple) else value for key, value in sent.attributes.items()
        }
        got = {key: span["attributes"].get(key, "<missing>") for key in ours}
        assert got == ours, span["name"]
        for key, value in ours.items():
            assert type(span["attributes"][key]) is type(value), (span["name"], key)


# -- the calls ----------------------------------------------------------------------------------


PRICED_KEYS = [
    "gen_ai.operation.name",
    "gen_ai.provider.name",
    "gen_ai.request.model",
    "gen_ai.response.model",
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.cache_read.input_tokens",
    "gen_ai.usage.cache_write.input_tokens",
    "gen_ai.usage.reasoning.output_tokens",
    "tokenomics.usage.source",
    "tokenomics.cost.status",
    "tokenomics.cost.source",
    "tokenomics.cost.currency",
    "tokenomics.pricing.model",
    "tokenomics.cost.total",
]


COST_KEYS = [
    "tokenomics.cost.input",
    "tokenomics.cost.cache_read",
    "tokenomics.cost.cache_write",
    "tokenomics.cost.output",
    "tokenomics.cost.cache_savings",
]


def _call(run: Run, number: int) -> dict[str, Any]:
    return run.flat[CALLS[number]]["attributes"]


@pytest.mark.parametrize(
    ("number", "model"),
    [(0, "o4-mini"), (1, "gpt-4o-mini"), (3, "o4-mini"), (4, "gpt-4o-mini")],
    ids=["plain", "stream", "workflow-o4-mini", "workflow-gpt-4o-mini"],
)
def test_priced_call(run: Run, number: int, model: str) -> None:
    attributes = _call(run, number)
    input_tokens, output_tokens, cache_read, reasoning = TOKENS[model]
    response_model = ANSWERS[model][0]
    assert {key: attributes.get(key, "<missing>") for key in PRICED_KEYS} == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": model,
        "gen_ai.response.model": response_model,
        "gen_ai.usage.input_tokens": input_tokens,
        "gen_ai.usage.output_tokens": output_tokens,
        "gen_ai.usage.cache_read.input_tokens": cache_read,
        "gen_ai.usage.cache_write.input_tokens": 0,
        "gen_ai.usage.reasoning.output_tokens": reasoning,
        "tokenomics.usage.source": "provider",
        "tokenomics.cost.status": "priced",
        "tokenomics.cost.source": "catalog",
        "tokenomics.cost.currency": "USD",
        "tokenomics.pricing.model": model,
        "tokenomics.cost.total": exact(COSTS[model]),
    }
    assert type(attributes["tokenomics.cost.total"]) is float
    streamed = number == 1
    assert attributes.get("gen_ai.request.stream", False) is streamed
    assert ("gen_ai.response.time_to_first_chunk" in attributes) is streamed


def test_costs_of_the_plain_call_by_token_class(run: Run) -> None:
    # o4-mini: 512 uncached input, 1536 cached, 612 output (reasoning included).
    prices = load_catalog().find("openai", "o4-mini-2025-04-16").at(time.time_ns())
    attributes = _call(run, 0)
    assert {key: attributes[key] for key in COST_KEYS} == {
        "tokenomics.cost.input": exact(512 * prices.input / 1_000_000),
        "tokenomics.cost.cache_read": exact(1536 * prices.cache_read / 1_000_000),
        "tokenomics.cost.cache_write": 0.0,
        "tokenomics.cost.output": exact(612 * prices.output / 1_000_000),
        "tokenomics.cost.cache_savings": exact(1536 * (prices.input - prices.cache_read) / 1_000_000),
    }
    assert Decimal("0.0036784") == O4_COST


def test_unpriced_call_has_tokens_and_no_cost(run: Run) -> None:
    attributes = _call(run, 2)
    assert attributes["gen_ai.request.model"] == UNPRICED
    assert attributes["gen_ai.usage.input_tokens"] == 1000
    assert attributes["gen_ai.usage.output_tokens"] == 200
    assert attributes["tokenomics.cost.status"] == "unpriced"
    assert sorted(
        key for key in attributes if key.startswith(("tokenomics.cost.", "tokenomics.pricing."))
    ) == ["tokenomics.cost.status"]


# -- roll-ups -----------------------------------------------------------------------------------


def _rollup(attributes: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in attributes.items() if key.startswith("tokenomics.rollup.")}


def test_workflow_span_rolls_up_its_two_calls(run: Run) -> None:
    span = run.flat[TREE.index((WORKFLOW, ROOT))]
    assert span["attributes"]["gen_ai.operation.name"] == "invoke_workflow"
    assert span["attributes"]["gen_ai.workflow.name"] == "triage"
    assert span["attributes"]["tokenomics.workflow.name"] == "triage"
    assert _rollup(span["attributes"]) == {
        "tokenomics.rollup.cost.total": exact(O4_COST + MINI_COST),
        "tokenomics.rollup.cost.status": "complete",
        "tokenomics.rollup.llm_calls": 2,
        "tokenomics.rollup.usage.input_tokens": 2048 + 1200,
        "tokenomics.rollup.usage.output_tokens": 612 + 300,
        "tokenomics.rollup.usage.cache_read.input_tokens": 1536 + 1024,
        "tokenomics.rollup.usage.cache_write.input_tokens": 0,
        "tokenomics.rollup.usage.reasoning.output_tokens": 256,
    }
    # The roll-up is the sum of what its calls' spans say, as Phoenix returns them.
    children = [s for s in run.flat if s["parent_id"] == span["context"]["span_id"]]
    assert (
        sum(Decimal(repr(c["attributes"]["tokenomics.cost.total"])) for c in children) == O4_COST + MINI_COST
    )


def test_parent_span_rolls_up_everything_beneath_it_as_partial(run: Run) -> None:
    # Five calls, one of them unpriced: its tokens count, its cost is unknown, so the sum is partial.
    assert _rollup(run.flat[0]["attributes"]) == {
        "tokenomics.rollup.cost.total": exact(2 * (O4_COST + MINI_COST)),
        "tokenomics.rollup.cost.status": "partial",
        "tokenomics.rollup.llm_calls": 5,
        "tokenomics.rollup.usage.input_tokens": 2 * (2048 + 1200) + 1000,
        "tokenomics.rollup.usage.output_tokens": 2 * (612 + 300) + 200,
        "tokenomics.rollup.usage.cache_read.input_tokens": 2 * (1536 + 1024),
        "tokenomics.rollup.usage.cache_write.input_tokens": 0,
        "tokenomics.rollup.usage.reasoning.output_tokens": 2 * 256,
    }


# -- Phoenix's own reading of our gen_ai.* attributes ----------------------------------------------


def test_phoenix_span_kinds(run: Run) -> None:
    # chat -> LLM; our workflow (invoke_workflow) and a plain parent are not recognised.
    assert [span["span_kind"] for span in run.flat] == [
        "LLM" if i in CALLS else "UNKNOWN" for i in range(len(TREE))
    ]


@pytest.mark.parametrize("number", range(5))
def test_phoenix_llm_attributes(run: Run, number: int) -> None:
    attributes = _call(run, number)
    model = attributes["gen_ai.request.model"]
    input_tokens, output_tokens, cache_read, _ = TOKENS[model]
    derived = {key: value for key, value in attributes.items() if key.startswith("llm.")}
    expected = {
        "llm.provider": "openai",
        "llm.system": "openai",
        # The request model, not the dated response model.
        "llm.model_name": model,
        "llm.finish_reason": "stop",
        "llm.token_count.prompt": input_tokens,
        "llm.token_count.completion": output_tokens,
        "llm.token_count.total": input_tokens + output_tokens,
        "llm.token_count.prompt_details.cache_read": cache_read,
    }
    if attributes.get("gen_ai.request.stream"):
        expected["llm.invocation_parameters"] = '{"stream": true}'
    # Not derived: cache writes (Phoenix 20.26 reads the pre-rename gen_ai.usage.cache_creation.input_tokens,
    # we send gen_ai.usage.cache_write.input_tokens) and reasoning tokens.
    assert derived == expected


def test_phoenix_trace_token_totals(run: Run) -> None:
    (trace,) = run.traces
    input_tokens = sum(TOKENS[m][0] for m in ("o4-mini", "gpt-4o-mini")) * 2 + TOKENS[UNPRICED][0]
    output_tokens = sum(TOKENS[m][1] for m in ("o4-mini", "gpt-4o-mini")) * 2 + TOKENS[UNPRICED][1]
    assert (trace["token_count_prompt"], trace["token_count_completion"], trace["token_count_total"]) == (
        input_tokens,
        output_tokens,
        input_tokens + output_tokens,
    )


SPAN_COST = """
query ($id: ID!) {
  node(id: $id) {
    ... on Span {
      costSummary { prompt { tokens cost } completion { tokens cost } total { tokens cost } }
      costDetailSummaryEntries { tokenType value { tokens cost } }
    }
  }
}
"""


def _phoenix_costs(run: Run, phoenix: Phoenix) -> list[dict[str, Any]]:
    """Phoenix's own cost of each call, once it has worked out all five (it does so after ingestion)."""

    def read() -> list[dict[str, Any]]:
        return [phoenix.graphql(SPAN_COST, id=run.flat[i]["id"])["node"] for i in CALLS]

    return phoenix.wait_for(
        read, lambda nodes: all(node["costSummary"] for node in nodes), f"Phoenix's costs in {run.project!r}"
    )


def test_phoenix_prices_our_calls_as_we_do(run: Run, phoenix: Phoenix) -> None:
    """Phoenix prices the calls itself (its model table, by llm.model_name): a user sees both figures.

    For these two models Phoenix 20.26.1 and our catalog agree to 1e-12, class by class; the
    model we have no price for has none in Phoenix either. A catalog price change for o4-mini or
    gpt-4o-mini shows up here as a disagreement with Phoenix.
    """
    for number, node in enumerate(_phoenix_costs(run, phoenix)):
        ours = _call(run, number)
        input_tokens = ours["gen_ai.usage.input_tokens"]
        output_tokens = ours["gen_ai.usage.output_tokens"]
        cache_read = ours["gen_ai.usage.cache_read.input_tokens"]
        summary = node["costSummary"]
        by_type = {entry["tokenType"]: entry["value"] for entry in node["costDetailSummaryEntries"]}
        assert (summary["prompt"]["tokens"], summary["completion"]["tokens"], summary["total"]["tokens"]) == (
            input_tokens,
            output_tokens,
            input_tokens + output_tokens,
        )
        if ours["tokenomics.cost.status"] == "unpriced":
            assert [summary[part]["cost"] for part in ("prompt", "completion", "total")] == [None] * 3
            assert {entry["cost"] for entry in by_type.values()} == {None}
            continue
        assert summary["total"]["cost"] == exact(Decimal(repr(ours["tokenomics.cost.total"])))
        assert {name: value["tokens"] for name, value in by_type.items()} == {
            "input": input_tokens - cache_read,
            "cache_read": cache_read,
            "output": output_tokens,
        }
        assert {name: value["cost"] for name, value in by_type.items()} == {
            "input": exact(Decimal(repr(ours["tokenomics.cost.input"]))),
            "cache_read": exact(Decimal(repr(ours["tokenomics.cost.cache_read"]))),
            "output": exact(Decimal(repr(ours["tokenomics.cost.output"]))),
        }
