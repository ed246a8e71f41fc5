"""The backend examples work as written: Jaeger and Honeycomb env files, the collector config.

Each env file is loaded the way its README says (``set -a; . file``), the gRPC
variant is the README's own ``export`` line, and only the endpoint is changed to
point at a loopback OTLP receiver. ``examples/auto_instrumented_app.py`` then runs
under ``opentelemetry-instrument`` and the test reads what arrived.
"""

from __future__ import annotations

import os
import pathlib
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import yaml
from otlp_receiver import (
    GRPC_METHODS,
    Export,
    FlatSpan,
    GrpcReceiver,
    HttpReceiver,
    flat_metrics,
    flat_spans,
)

from otel_tokenomics import semconv

ROOT = pathlib.Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
APP = EXAMPLES / "auto_instrumented_app.py"
HONEYCOMB_KEY = "hcaik_fake0123456789ingestkeyfortests"
# The key the app hands to the openai client (see auto_instrumented_app.py).
OPENAI_KEY = "sk-fake-auto-instrumented-app"
SERVICE = "tokenomics-demo"
METRICS_DATASET = "tokenomics-metrics"
RUN_TIMEOUT = 90.0

# The fake server's usage for the app's question, "What does a token cost?" (23
# characters): ceil(23 / 4) = 6 text tokens + 4 for the message + 3 for the reply = 13.
INPUT_TOKENS = 13
# gpt-4o-mini in the bundled catalog: $0.15 / $0.60 per million input / output tokens.
INPUT_PRICE = Decimal("0.15")
OUTPUT_PRICE = Decimal("0.60")

BACKENDS = ("jaeger", "honeycomb")
ENV_FILES = {backend: EXAMPLES / backend / f"{backend}.env" for backend in BACKENDS}
READMES = {backend: EXAMPLES / backend / "README.md" for backend in BACKENDS}
GRPC_LINE = re.compile(r"^export OTEL_EXPORTER_OTLP_PROTOCOL=grpc .*$", re.MULTILINE)


# -- loading the examples' environment ---------------------------------------------------------


def _grpc_line(backend: str) -> str:
    """The README's one-line switch to gRPC, exactly as a reader would paste it."""
    lines = GRPC_LINE.findall(READMES[backend].read_text())
    assert len(lines) == 1, f"{READMES[backend]} should give one gRPC export line, found {lines}"
    return lines[0]


def load_env(backend: str, protocol: str) -> dict[str, str]:
    """The OTEL_* variables a shell has after following the README."""
    script = 'set -a; . "$1"; ' + (_grpc_line(backend) + "; " if protocol == "grpc" else "") + "env -0"
    result = subprocess.run(
        ["bash", "-c", script, "bash", str(ENV_FILES[backend])],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HONEYCOMB_API_KEY": HONEYCOMB_KEY},
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    )
    pairs = (item.split("=", 1) for item in result.stdout.split("\0") if "=" in item)
    return {key: value for key, value in pairs if key.startswith("OTEL_")}


def point_at(endpoint: str, receiver_endpoint: str) -> str:
    """``endpoint`` with its host and port replaced by the receiver's.

    The scheme becomes the receiver's ``http``: the receiver speaks plaintext, and the
    Python gRPC exporter always uses TLS for an ``https://`` endpoint, whatever
    ``OTEL_EXPORTER_OTLP_INSECURE`` says.
    """
    original, receiver = urlsplit(endpoint), urlsplit(receiver_endpoint)
    assert original.scheme in ("http", "https") and original.netloc, endpoint
    return urlunsplit((receiver.scheme, receiver.netloc, original.path, original.query, original.fragment))


def _launcher() -> str:
    launcher = shutil.which("opentelemetry-instrument", path=str(pathlib.Path(sys.executable).parent))
    if launcher is None:
        if os.environ.get("CI"):
            pytest.fail("opentelemetry-distro must be installed for this test in CI")
        pytest.skip("opentelemetry-instrument is not installed next to this Python")
    return launcher


@dataclass
class Run:
    backend: str
    protocol: str
    env: dict[str, str]
    exports: list[Export]
    stdout: str
    stderr: str

    def paths(self) -> set[str]:
        return {export.path for export in self.exports}

    def of(self, signal: str) -> list[Export]:
        return [export for export in self.exports if export.signal == signal]

    def explain(self) -> str:
        return f"stdout:\n{self.stdout}\nstderr:\n{self.stderr}\nexports: {sorted(self.paths())}"


def run_app(backend: str, protocol: str, **overrides: str) -> Run:
    settings = load_env(backend, protocol)
    settings.update(overrides)
    endpoints = [key for key in settings if key.endswith("_ENDPOINT")]
    # One endpoint to replace; a signal-specific one would escape the receiver.
    assert endpoints == ["OTEL_EXPORTER_OTLP_ENDPOINT"], endpoints
    receiver_cls = GrpcReceiver if protocol == "grpc" else HttpReceiver
    with receiver_cls() as receiver:
        endpoint = settings["OTEL_EXPORTER_OTLP_ENDPOINT"]
        settings["OTEL_EXPORTER_OTLP_ENDPOINT"] = point_at(endpoint, receiver.endpoint)
        environment = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "OPENAI_"))}
        environment.update(settings)
        try:
            result = subprocess.run(
                [_launcher(), sys.executable, str(APP)],
                cwd=ROOT,
                env=environment,
                capture_output=True,
                text=True,
                timeout=RUN_TIMEOUT,
            )
        except subprocess.TimeoutExpired as error:
            pytest.fail(f"the app did not finish within {RUN_TIMEOUT} s:\n{error.stdout}\n{error.stderr}")
        run = Run(backend, protocol, settings, [], result.stdout, result.stderr)
        assert result.returncode == 0, run.explain()
        # Exports happen at shutdown, before the process exits; the wait is a safety margin.
        try:
            receiver.wait_for(lambda r: r.exports("traces"), timeout=5.0)
        except AssertionError as error:
            raise AssertionError(f"{error}\n{run.explain()}") from None
        run.exports = receiver.exports()
        assert not receiver.rejected, receiver.rejected
    return run


Runs = dict[tuple[str, ...], Run | BaseException]
CASES = [(b, p) for b in BACKENDS for p in ("http/protobuf", "grpc")]
# Content capture on, with a value limit small enough for the app's short messages to hit it.
CONTENT_LIMIT = 40
CONTENT_CASE = ("honeycomb", "http/protobuf", "content")
CONTENT_OVERRIDES = {
    "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "SPAN_ONLY",
    "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT": str(CONTENT_LIMIT),
}


@pytest.fixture(scope="module")
def runs() -> Runs:
    """Every case, run side by side: each has its own receiver, ports and subprocess."""
    _launcher()  # skip (or fail in CI) before starting anything
    with ThreadPoolExecutor(max_workers=len(CASES) + 1) as pool:
        futures = {case: pool.submit(run_app, *case) for case in CASES}
        futures[CONTENT_CASE] = pool.submit(run_app, *CONTENT_CASE[:2], **CONTENT_OVERRIDES)
    return {case: future.exception() or future.result() for case, future in futures.items()}


@pytest.fixture(params=CASES, ids=[f"{b}-{p.split('/')[0]}" for b, p in CASES])
def run(request: pytest.FixtureRequest, runs: Runs) -> Run:
    return _result(runs, request.param)


def _result(runs: Runs, case: tuple[str, ...]) -> Run:
    result = runs[case]
    if isinstance(result, BaseException):
        raise result
    return result


# -- what arrived -------------------------------------------------------------------------------


def _expected_paths(run: Run) -> set[str]:
    signals = {"traces"} if run.backend == "jaeger" else {"traces", "metrics"}
    if run.protocol == "grpc":
        return {GRPC_METHODS[signal] for signal in signals}
    return {f"/v1/{signal}" for signal in signals}


def test_env_file_sets_the_protocol_it_documents(run: Run) -> None:
    assert run.env["OTEL_EXPORTER_OTLP_PROTOCOL"] == run.protocol
    assert run.env["OTEL_SERVICE_NAME"] == SERVICE
    assert run.env["OTEL_TRACES_EXPORTER"] == "otlp"
    assert run.env["OTEL_METRICS_EXPORTER"] == ("none" if run.backend == "jaeger" else "otlp")
    assert run.env["OTEL_LOGS_EXPORTER"] == "none"


def test_paths(run: Run) -> None:
    assert run.paths() == _expected_paths(run), run.explain()
    if run.backend == "jaeger":
        assert run.of("metrics") == [], "Jaeger stores traces only: nothing else may be sent"


def test_headers(run: Run) -> None:
    for export in run.exports:
        if run.backend == "jaeger":
            assert not any(key.startswith("x-honeycomb") for key in export.headers), export.headers
            continue
        assert export.headers.get("x-honeycomb-team") == HONEYCOMB_KEY, (export.path, export.headers)
        if export.signal == "metrics":
            assert export.headers.get("x-honeycomb-dataset") == METRICS_DATASET
        else:
            # Environments name the trace dataset after service.name; a dataset header would override it.
            assert "x-honeycomb-dataset" not in export.headers


def test_no_api_key_anywhere(run: Run) -> None:
    for export in run.exports:
        assert OPENAI_KEY not in export.text(), export.path
        # The ingest key travels in headers only, never inside the telemetry itself.
        assert HONEYCOMB_KEY.encode() not in export.body
        assert HONEYCOMB_KEY not in str(export.request)


def test_resource_service_name(run: Run) -> None:
    spans = flat_spans(run.of("traces"))
    assert spans and {span.resource["service.name"] for span in spans} == {SERVICE}
    for points in flat_metrics(run.of("metrics")).values():
        assert {point.resource["service.name"] for point in points} == {SERVICE}


def _answer_tokens(stdout: str) -> int:
    """Output tokens of the fake server's answer, as the app printed it: ceil(len / 4)."""
    answer = re.search(r"^plain    gpt-4o-mini: (.+)$", stdout, re.MULTILINE)
    assert answer, stdout
    return -(-len(answer.group(1)) // 4)


def test_span_attributes(run: Run) -> None:
    spans: dict[str, list[FlatSpan]] = {}
    for span in flat_spans(run.of("traces")):
        spans.setdefault(span.name, []).append(span)
    assert sorted((name, len(found)) for name, found in spans.items()) == [
        ("chat fail-429", 1),
        ("chat gpt-4o-mini", 2),
        ("chat my-finetune-v1", 1),
    ], run.explain()
    output_tokens = _answer_tokens(run.stdout)
    assert output_tokens == 26
    cost = float((INPUT_TOKENS * INPUT_PRICE + output_tokens * OUTPUT_PRICE) / 1_000_000)
    assert cost == 1.755e-05
    for span in spans["chat gpt-4o-mini"]:
        attributes = span.attributes
        assert span.kind == "CLIENT"
        assert attributes[semconv.GEN_AI_REQUEST_MODEL] == "gpt-4o-mini"
        assert attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] == INPUT_TOKENS
        assert attributes[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == output_tokens
        assert attributes[semconv.TOKENOMICS_COST_STATUS] == "priced"
        assert attributes[semconv.TOKENOMICS_COST_TOTAL] == cost
        assert attributes[semconv.TOKENOMICS_COST_CURRENCY] == "USD"
    streamed = [s for s in spans["chat gpt-4o-mini"] if s.attributes.get(semconv.GEN_AI_REQUEST_STREAM)]
    assert len(streamed) == 1
    # The fake server waits 0.06 s before the first chunk (a little slack for timer granularity).
    assert 0.05 < streamed[0].attributes[semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] < RUN_TIMEOUT

    (unpriced,) = spans["chat my-finetune-v1"]
    assert unpriced.attributes[semconv.GEN_AI_REQUEST_MODEL] == "my-finetune-v1"
    assert unpriced.attributes[semconv.TOKENOMICS_COST_STATUS] == "unpriced"
    assert semconv.TOKENOMICS_COST_TOTAL not in unpriced.attributes

    (failed,) = spans["chat fail-429"]
    assert failed.status == "ERROR"
    assert failed.attributes[semconv.ERROR_TYPE] == "RateLimitError"
    assert failed.attributes[semconv.TOKENOMICS_COST_STATUS] == "no_usage"


def test_cost_metrics(run: Run) -> None:
    points = flat_metrics(run.of("metrics"))
    if run.backend == "jaeger":
        assert points == {}, "the Jaeger example must send no metrics"
        return
    spend = points[semconv.METRIC_TOKENOMICS_COST]
    assert {p.attributes[semconv.GEN_AI_REQUEST_MODEL] for p in spend} == {"gpt-4o-mini"}
    assert sum(p.value for p in spend) == pytest.approx(2 * 1.755e-05, rel=1e-12)
    unpriced = points[semconv.METRIC_TOKENOMICS_UNPRICED_CALLS]
    counted = [(p.attributes[semconv.GEN_AI_REQUEST_MODEL], p.value) for p in unpriced]
    assert counted == [("my-finetune-v1", 1)]


def test_attribute_length_limit_cuts_captured_content(runs: Runs) -> None:
    """honeycomb.env's limit works because content attributes go through the SDK's span limits."""
    limit = int(load_env("honeycomb", "http/protobuf")["OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT"])
    assert 0 < limit * 4 <= 64 * 1024  # under Honeycomb's 64 KB per string even at 4 bytes a character
    run = _result(runs, CONTENT_CASE)
    spans = [s for s in flat_spans(run.of("traces")) if s.name == "chat my-finetune-v1"]
    assert len(spans) == 1, run.explain()
    attributes = spans[0].attributes
    for key in (semconv.GEN_AI_INPUT_MESSAGES, semconv.GEN_AI_OUTPUT_MESSAGES):
        assert len(attributes[key]) == CONTENT_LIMIT, (key, attributes[key])
        assert attributes[key].startswith('[{"role": "')
    # The usage and cost attributes are numbers: the limit leaves them alone.
    assert attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] == INPUT_TOKENS


# -- the collector config -----------------------------------------------------------------------

COLLECTOR = EXAMPLES / "collector" / "collector.yaml"
OTTL_KEY = re.compile(r'attributes\["([^"]+)"\]')
OTTL_THRESHOLD = re.compile(r'attributes\["[^"]+"\]\s*(?:>|>=)\s*(\S+)')
SAMPLERS = ("tail_sampling", "probabilistic_sampler")


@pytest.fixture(scope="module")
def collector() -> dict[str, Any]:
    return yaml.safe_load(COLLECTOR.read_text())


def _kind(name: str) -> str:
    return name.split("/", 1)[0]


def test_every_component_a_pipeline_names_is_defined(collector: dict[str, Any]) -> None:
    pipelines = collector["service"]["pipelines"]
    assert {_kind(name) for name in pipelines} == {"traces", "metrics"}
    for name, pipeline in pipelines.items():
        for section in ("receivers", "processors", "exporters"):
            for component in pipeline.get(section, []):
                defined = collector.get(section) or {}
                assert component in defined, f"{name}: {section} {component} is undefined"


def test_otlp_receiver_on_default_ports(collector: dict[str, Any]) -> None:
    protocols = collector["receivers"]["otlp"]["protocols"]
    assert protocols["grpc"]["endpoint"].endswith(":4317")
    assert protocols["http"]["endpoint"].endswith(":4318")
    for pipeline in collector["service"]["pipelines"].values():
        assert pipeline["receivers"] == ["otlp"]


def test_processor_order(collector: dict[str, Any]) -> None:
    for name, pipeline in collector["service"]["pipelines"].items():
        processors = pipeline["processors"]
        assert processors[0] == "memory_limiter", name
        assert "batch" in processors, name
        if _kind(name) == "traces":
            # Batch what is kept, after the decision, not what is about to be dropped.
            assert processors.index("tail_sampling") < processors.index("batch")
        else:
            assert not [p for p in processors if _kind(p) in SAMPLERS], f"{name} must not sample: spend"


def _policies(collector: dict[str, Any]) -> list[dict[str, Any]]:
    return collector["processors"]["tail_sampling"]["policies"]


def test_policies_keep_errors_expensive_traces_and_a_share_of_the_rest(collector: dict[str, Any]) -> None:
    policies = {policy["type"]: policy for policy in _policies(collector)}
    assert policies["status_code"]["status_code"]["status_codes"] == ["ERROR"]
    share = policies["probabilistic"]["probabilistic"]["sampling_percentage"]
    assert isinstance(share, (int, float)) and not isinstance(share, bool) and 0 < share < 100
    # numeric_attribute reads attributes as integers (a double cost reads as 0): OTTL it must be.
    assert "numeric_attribute" not in policies
    conditions = policies["ottl_condition"]["ottl_condition"]["span"]
    keys = {key for condition in conditions for key in OTTL_KEY.findall(condition)}
    assert keys == {semconv.TOKENOMICS_COST_TOTAL, semconv.TOKENOMICS_ROLLUP_COST_TOTAL}
    for condition in conditions:
        (threshold,) = OTTL_THRESHOLD.findall(condition)
        assert float(threshold) > 0, condition  # a bare number: a quoted "0.05" never compares true


def test_policy_attribute_keys_are_ours(collector: dict[str, Any]) -> None:
    emitted = {value for name, value in vars(semconv).items() if name.isupper() and isinstance(value, str)}
    text = yaml.safe_dump(_policies(collector))
    keys = set(OTTL_KEY.findall(text)) | set(re.findall(r"\bkey: (\S+)", text))
    assert keys and keys <= emitted, keys - emitted


# -- the Jaeger compose file --------------------------------------------------------------------

JAEGER_IMAGE = "cr.jaegertracing.io/jaegertracing/jaeger:2.15.0"


def test_jaeger_compose_ports_and_image() -> None:
    compose = yaml.safe_load((EXAMPLES / "jaeger" / "compose.yaml").read_text())
    (service,) = compose["services"].values()
    assert service["image"] == JAEGER_IMAGE
    # "[host address:]host port:container port": the same port on both sides, as the env files assume.
    mappings = {tuple(int(part) for part in str(port).split(":")[-2:]) for port in service["ports"]}
    assert mappings == {(4317, 4317), (4318, 4318), (16686, 16686)}
    assert JAEGER_IMAGE in READMES["jaeger"].read_text()
    assert load_env("jaeger", "http/protobuf")["OTEL_EXPORTER_OTLP_ENDPOINT"].endswith(":4318")
    assert load_env("jaeger", "grpc")["OTEL_EXPORTER_OTLP_ENDPOINT"].endswith(":4317")
