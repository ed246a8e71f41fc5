"""What one run of an agent costs: workflows, roll-ups, attribution and a budget.

A small support agent triages tickets. Each ticket is one *run* of the workflow
``triage_ticket``: the agent plans, looks things up with a tool (one LLM call per
lookup to read the result), and streams a reply. The run is wrapped in

* ``otel_tokenomics.workflow("triage_ticket", ticket=...)``: a span with the
  ``tokenomics.rollup.*`` sums of its calls, and one point per run in the
  ``tokenomics.workflow.cost`` / ``tokenomics.workflow.llm_calls`` histograms;
* ``otel_tokenomics.attribute_to(tenant=..., feature=...)``: baggage copied onto
  every inference span, and (allowed by ``metric_baggage``) onto the metrics;
* ``otel_tokenomics.budget(usd=..., on_exceed="raise")``: a run that would go over
  its budget stops before the call that would not fit is sent.

Offline by default: the calls go to ``fake_openai_server.py`` on 127.0.0.1, so every
number is reproducible. With ``--base-url`` (and ``OPENAI_API_KEY``) they go to a
real OpenAI-compatible endpoint::

    python examples/agent_workflow.py
    python examples/agent_workflow.py --budget 0.01   # a budget every run fits in
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import openai
from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import otel_tokenomics

MODEL = "gpt-4o-mini"
SYSTEM = (
    "You are the triage agent of a software company's support desk. Read the ticket, decide "
    "which knowledge-base articles to look up, then answer the customer in three sentences. "
    "Never promise refunds; escalate outages to the on-call engineer. "
) * 16  # a long, stable prefix: the provider serves most of it from its cache

# (ticket id, tenant, the customer's message, knowledge-base lookups the plan needs)
TICKETS = (
    ("T-1001", "acme", "Our exports to S3 fail since this morning with a 403.", ("s3-permissions",)),
    ("T-1002", "globex", "How do I rotate the API key of a service account?", ("api-keys",)),
    (
        "T-1003",
        "acme",
        "Dashboards are slow, alerts fire late and the audit log misses entries since the upgrade.",
        ("dashboards", "alerting", "audit-log", "upgrade-notes"),
    ),
)

KNOWLEDGE_BASE = {
    "s3-permissions": "Exports assume the role tokenomics-export; a 403 means its trust policy changed.",
    "api-keys": "Service-account keys rotate from Settings > Keys; the old key works for 24 hours.",
    "dashboards": "Slow dashboards after an upgrade usually need the query cache rebuilt.",
    "alerting": "Alert delays above a minute point at a stalled evaluator; restart it from Admin.",
    "audit-log": "Audit entries are batched every 30 s; gaps longer than that are a bug to escalate.",
    "upgrade-notes": "Version 7 moved the query cache to a new volume; rebuild it once after upgrading.",
}

tracer = trace.get_tracer("support-agent")


def ask(client: openai.OpenAI, messages: list[dict[str, str]], max_tokens: int = 200) -> str:
    answer = client.chat.completions.create(model=MODEL, messages=messages, max_tokens=max_tokens)
    return answer.choices[0].message.content or ""


def triage(client: openai.OpenAI, ticket: str, message: str, lookups: tuple[str, ...]) -> str:
    """One run of the agent: plan, one tool call and one LLM call per lookup, a streamed reply."""
    history = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": message}]
    with tracer.start_as_current_span("plan"):
        history.append({"role": "assistant", "content": ask(client, history)})
    for topic in lookups:
        with tracer.start_as_current_span(f"execute_tool search_kb {topic}"):
            found = KNOWLEDGE_BASE[topic]  # the tool: no LLM, no cost
        history.append({"role": "user", "content": f"Knowledge base, {topic}: {found}"})
        history.append({"role": "assistant", "content": ask(client, history, max_tokens=120)})
    with tracer.start_as_current_span("reply"):
        stream = client.chat.completions.create(
            model=MODEL,
            messages=history,
            max_tokens=300,
            stream=True,
            # The endpoint reports the stream's usage only when asked (OpenAI's own API is
            # asked by otel-tokenomics itself; a gateway or a local server is not).
            stream_options={"include_usage": True},
        )
        return "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)


@contextlib.contextmanager
def _endpoint(base_url: str | None) -> Iterator[str]:
    if base_url:
        yield base_url
        return
    # A script's own folder is on sys.path: the fake server sits beside this file.
    from fake_openai_server import start_server

    with start_server(first_chunk_delay=0.0, chunk_delay=0.0) as (_, url):
        yield url


def run(budget_usd: Decimal, base_url: str | None = None) -> dict[str, Any]:
    """Triage every ticket; return the finished spans and the metric points."""
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    trace.set_tracer_provider(tracer_provider)
    reader = InMemoryMetricReader()
    # The tenant labels the spend metrics; at most 50 tenants get a series of their own.
    otel_tokenomics.instrument(
        tracer_provider=tracer_provider,
        meter_provider=MeterProvider(metric_readers=[reader]),
        metric_baggage="tokenomics.tenant:50",
    )
    stopped: dict[str, str] = {}
    with _endpoint(base_url) as url:
        # The local fake takes any key; a real endpoint gets yours.
        api_key = (os.environ.get("OPENAI_API_KEY") if base_url else None) or "sk-fake"
        client = openai.OpenAI(base_url=url, api_key=api_key, max_retries=0)
        for ticket, tenant, message, lookups in TICKETS:
            try:
                with (
                    otel_tokenomics.attribute_to(tenant=tenant, feature="ticket_triage"),
                    otel_tokenomics.workflow("triage_ticket", ticket=ticket),
                    otel_tokenomics.budget(usd=budget_usd, on_exceed="raise", name="triage_run"),
                ):
                    triage(client, ticket, message, lookups)
            except otel_tokenomics.BudgetExceeded as refused:
                stopped[ticket] = str(refused)
    otel_tokenomics.uninstrument()
    return {"spans": list(spans.get_finished_spans()), "metrics": _points(reader), "stopped": stopped}


def _points(reader: InMemoryMetricReader) -> dict[str, list[Any]]:
    points: dict[str, list[Any]] = {}
    data = reader.get_metrics_data()
    for resource_metrics in data.resource_metrics if data else ():
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                points.setdefault(metric.name, []).extend(metric.data.data_points)
    return points


def report(result: dict[str, Any]) -> str:
    spans: list[ReadableSpan] = result["spans"]
    lines = ["run     tenant  calls  input  cached  output  cost (USD)   status    ended"]
    for span in spans:
        a = span.attributes or {}
        if a.get("tokenomics.workflow.name") != "triage_ticket":
            continue
        lines.append(
            f"{a['ticket']:<7} {a.get('tokenomics.tenant', '-'):<7} {a['tokenomics.rollup.llm_calls']:>5} "
            f"{a['tokenomics.rollup.usage.input_tokens']:>6} "
            f"{a['tokenomics.rollup.usage.cache_read.input_tokens']:>7} "
            f"{a['tokenomics.rollup.usage.output_tokens']:>7}  {a['tokenomics.rollup.cost.total']:.8f}  "
            f"{a['tokenomics.rollup.cost.status']:<9} {a.get('error.type', 'ok')}"
        )
    for ticket, reason in result["stopped"].items():
        lines.append(f"  {ticket} stopped by its budget: {reason}")
    lines.append("")
    lines.append("cost per run (tokenomics.workflow.cost), by workflow and tenant:")
    for point in result["metrics"].get("tokenomics.workflow.cost", []):
        assert isinstance(point, HistogramDataPoint)
        a = point.attributes
        lines.append(
            f"  {a['tokenomics.workflow.name']} tenant={a.get('tokenomics.tenant')} "
            f"status={a['tokenomics.rollup.cost.status']} error={a.get('error.type', '-')}: "
            f"{point.count} run(s), {point.sum:.8f} USD, mean {point.sum / point.count:.8f} USD"
        )
    spent: dict[str, float] = {}
    for point in result["metrics"].get("tokenomics.cost", []):
        tenant = point.attributes.get("tokenomics.tenant", "-")
        spent[tenant] = spent.get(tenant, 0.0) + point.value
    lines.append(
        "spend by tenant (tokenomics.cost): " + ", ".join(f"{t} {v:.8f} USD" for t, v in spent.items())
    )
    return "\n".join(lines)


def summary(result: dict[str, Any]) -> dict[str, Any]:
    """The numbers of the report, as JSON: each run's roll-up and its calls' own costs."""
    spans: list[ReadableSpan] = result["spans"]
    runs = {}
    for span in spans:
        a = dict(span.attributes or {})
        if a.get("tokenomics.workflow.name") != "triage_ticket":
            continue
        trace_id = span.context.trace_id
        calls = [
            dict(s.attributes or {})
            for s in spans
            if s.context.trace_id == trace_id and "tokenomics.cost.status" in (s.attributes or {})
        ]
        runs[a["ticket"]] = {
            "rollup": {k: v for k, v in a.items() if k.startswith("tokenomics.rollup.")},
            "error": a.get("error.type"),
            "tenant": a.get("tokenomics.tenant"),
            "call_costs": [c.get("tokenomics.cost.total") for c in calls],
            "call_tenants": sorted({str(c.get("tokenomics.tenant")) for c in calls}),
            "call_budget_spent": [c.get("tokenomics.budget.spent") for c in calls],
        }
    histogram = [
        {"attributes": dict(p.attributes), "count": p.count, "sum": p.sum}
        for p in result["metrics"].get("tokenomics.workflow.cost", [])
    ]
    return {"runs": runs, "workflow_cost": histogram, "stopped": result["stopped"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--budget", type=Decimal, default=Decimal("0.0007"), help="USD per run (default 0.0007)"
    )
    parser.add_argument("--base-url", help="an OpenAI-compatible endpoint (default: a local fake)")
    parser.add_argument("--json", action="store_true", help="print the numbers as JSON")
    args = parser.parse_args(argv)
    result = run(args.budget, args.base_url)
    print(json.dumps(summary(result), indent=2) if args.json else report(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
