"""The metric instruments, and how one finished call is recorded into them.

Two generations of GenAI metric names exist (see the README): the names today's
dashboards use (``gen_ai.client.operation.duration``, ``gen_ai.client.token.usage``)
and the newer ``gen_ai.client.inference.*`` ones. ``Options.metric_names`` picks
one or both; a quantity is recorded once per generation, never twice in one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from opentelemetry.context import Context
from opentelemetry.metrics import Meter
from opentelemetry.trace import set_span_in_context

from otel_tokenomics import semconv as sc
from otel_tokenomics.config import Options
from otel_tokenomics.cost import STATUS_UNPRICED
from otel_tokenomics.usage import Usage

if TYPE_CHECKING:
    from otel_tokenomics.attribution import MetricValues
    from otel_tokenomics.call import InferenceCall
    from otel_tokenomics.pricing.compute import Cost
    from otel_tokenomics.spend import Tally

# Bucket boundaries, from the registry (semconv/): the GenAI conventions' own for
# durations and tokens; a tenth of a cent to a hundred dollars for the cost of a run.
DURATION_BUCKETS = sc.METRIC_BUCKETS[sc.METRIC_GEN_AI_CLIENT_OPERATION_DURATION]
TOKEN_BUCKETS = sc.METRIC_BUCKETS[sc.METRIC_GEN_AI_CLIENT_TOKEN_USAGE]
WORKFLOW_COST_BUCKETS = sc.METRIC_BUCKETS[sc.METRIC_TOKENOMICS_WORKFLOW_COST]
WORKFLOW_CALL_BUCKETS = sc.METRIC_BUCKETS[sc.METRIC_TOKENOMICS_WORKFLOW_LLM_CALLS]

EMBEDDINGS = "embeddings"
_MODALITIES = ("text", "image", "audio")


def _histogram(meter: Meter, name: str) -> Any:
    _, unit, brief = sc.METRIC_SPECS[name]
    buckets = sc.METRIC_BUCKETS[name]
    try:
        return meter.create_histogram(
            name, unit=unit, description=brief, explicit_bucket_boundaries_advisory=list(buckets)
        )
    except TypeError:  # opentelemetry-api older than 1.23 has no advisory parameter
        return meter.create_histogram(name, unit=unit, description=brief)


def _counter(meter: Meter, name: str) -> Any:
    _, unit, brief = sc.METRIC_SPECS[name]
    return meter.create_counter(name, unit=unit, description=brief)


class Metrics:
    """Instruments of one instrumentation, created once at ``instrument()``."""

    def __init__(self, meter: Meter, options: Options) -> None:
        self.legacy = options.legacy_metrics
        self.latest = options.latest_metrics
        self._cache: dict[tuple[Any, ...], _Series] = {}
        self._probe: Any = None
        # Spend counters exist in every naming generation: they are ours.
        self.cost = _counter(meter, sc.METRIC_TOKENOMICS_COST)
        self.unpriced = _counter(meter, sc.METRIC_TOKENOMICS_UNPRICED_CALLS)
        self.workflow_cost = _histogram(meter, sc.METRIC_TOKENOMICS_WORKFLOW_COST)
        self.workflow_llm_calls = _histogram(meter, sc.METRIC_TOKENOMICS_WORKFLOW_LLM_CALLS)
        self.budget_exceeded_counter = _counter(meter, sc.METRIC_TOKENOMICS_BUDGET_EXCEEDED)
        if self.legacy:
            self.operation_duration = _histogram(meter, sc.METRIC_GEN_AI_CLIENT_OPERATION_DURATION)
            self.token_usage = _histogram(meter, sc.METRIC_GEN_AI_CLIENT_TOKEN_USAGE)
            self.ttfc = _histogram(meter, sc.METRIC_GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK)
            self.tpoc = _histogram(meter, sc.METRIC_GEN_AI_CLIENT_OPERATION_TIME_PER_OUTPUT_CHUNK)
        if self.legacy:
            self._probe = self.operation_duration
        if self.latest:
            self.inference_duration = _histogram(meter, sc.METRIC_GEN_AI_CLIENT_INFERENCE_DURATION)
            self.inference_ttfc = _histogram(meter, sc.METRIC_GEN_AI_CLIENT_INFERENCE_TIME_TO_FIRST_CHUNK)
            self.inference_tpoc = _histogram(meter, sc.METRIC_GEN_AI_CLIENT_INFERENCE_TIME_PER_OUTPUT_CHUNK)
            self.usage_input = _counter(meter, sc.METRIC_GEN_AI_CLIENT_INFERENCE_USAGE_INPUT_TOKENS)
            self.usage_output = _counter(meter, sc.METRIC_GEN_AI_CLIENT_INFERENCE_USAGE_OUTPUT_TOKENS)
            self.usage_cache_read = _counter(
                meter, sc.METRIC_GEN_AI_CLIENT_INFERENCE_USAGE_CACHE_READ_INPUT_TOKENS
            )
            self.usage_cache_write = _counter(
                meter, sc.METRIC_GEN_AI_CLIENT_INFERENCE_USAGE_CACHE_WRITE_INPUT_TOKENS
            )
            self.usage_reasoning = _counter(
                meter, sc.METRIC_GEN_AI_CLIENT_INFERENCE_USAGE_REASONING_OUTPUT_TOKENS
            )
            self.operation_input = _histogram(meter, sc.METRIC_GEN_AI_CLIENT_INFERENCE_OPERATION_INPUT_TOKENS)
            self.operation_output = _histogram(
                meter, sc.METRIC_GEN_AI_CLIENT_INFERENCE_OPERATION_OUTPUT_TOKENS
            )
            self.embeddings_duration = _histogram(meter, sc.METRIC_GEN_AI_CLIENT_EMBEDDINGS_DURATION)
            self.embeddings_input = _histogram(
                meter, sc.METRIC_GEN_AI_CLIENT_EMBEDDINGS_OPERATION_INPUT_TOKENS
            )
            if self._probe is None:
                self._probe = self.inference_duration

    def active(self) -> bool:
        """Whether a measurement recorded now would reach a MeterProvider."""
        return not self._inert()

    def record(
        self,
        call: InferenceCall,
        duration: float,
        error_type: str | None,
        cost_status: str | None = None,
        cost: Cost | None = None,
    ) -> None:
        if self._inert():
            return
        series = self._series(call, error_type)
        # Measured in the call's own context, whatever context ends the call (a stream
        # ends in its reader's): the SDK takes exemplars from it, linking each point to
        # the call's trace and span.
        context = set_span_in_context(call.span)
        if cost is not None:
            self._record_cost(cost, cost_status, series, context)
        elif cost_status == STATUS_UNPRICED:
            self.unpriced.add(1, series.unpriced, context)
        attributes = series.attributes
        timed = series.timed
        usage = call.usage
        ttfc = call.time_to_first_chunk
        tpoc = call.time_per_output_chunk
        if self.legacy:
            self.operation_duration.record(duration, timed, context)
            if usage is not None:
                self.token_usage.record(usage.input_tokens, series.with_token_type("input"), context)
                if call.operation != EMBEDDINGS:
                    self.token_usage.record(usage.output_tokens, series.with_token_type("output"), context)
            if ttfc is not None:
                self.ttfc.record(ttfc, attributes, context)
            if tpoc is not None:
                self.tpoc.record(tpoc, attributes, context)
        if self.latest:
            if call.operation == EMBEDDINGS:
                self.embeddings_duration.record(duration, timed, context)
                if usage is not None:
                    self.embeddings_input.record(usage.input_tokens, attributes, context)
                return
            self.inference_duration.record(duration, timed, context)
            if ttfc is not None:
                self.inference_ttfc.record(ttfc, attributes, context)
            if tpoc is not None:
                self.inference_tpoc.record(tpoc, attributes, context)
            self._record_usage_counters(usage, series, context)
            if usage is not None:
                self.operation_input.record(usage.input_tokens, timed, context)
                self.operation_output.record(usage.output_tokens, timed, context)

    def record_workflow(
        self,
        name: str,
        tally: Tally,
        error_type: str | None,
        attribution: MetricValues | None,
        context: Context | None = None,
    ) -> None:
        """One run of a workflow: its cost and its number of LLM calls (``context``: the run's span)."""
        if self._inert():
            return
        attributes: dict[str, Any] = {
            sc.TOKENOMICS_WORKFLOW_NAME: name,
            sc.TOKENOMICS_ROLLUP_COST_STATUS: tally.status,
        }
        if error_type is not None:
            attributes[sc.ERROR_TYPE] = error_type
        if attribution:
            attributes.update(attribution)
        self.workflow_cost.record(float(tally.cost), attributes, context)
        self.workflow_llm_calls.record(tally.llm_calls, attributes, context)

    def budget_exceeded(self, attributes: dict[str, Any], context: Context | None = None) -> None:
        if not self._inert():
            self.budget_exceeded_counter.add(1, attributes, context)

    def _record_cost(self, cost: Cost, status: str | None, series: _Series, context: Context) -> None:
        add = self.cost.add
        if not cost.split:
            add(float(cost.total), series.cost_attributes("unattributed", status), context)
            return
        _total, input, cache_read, cache_write, output, _savings = cost.floats()
        for token_class, amount in (
            ("input", input),
            ("cache_read", cache_read),
            ("cache_write", cache_write),
            ("output", output),
        ):
            if amount:
                add(amount, series.cost_attributes(token_class, status), context)

    def _inert(self) -> bool:
        """True while nothing would receive the measurements.

        With no MeterProvider configured, the API hands out proxy instruments that
        drop everything until a real provider is set (possibly later, so this is
        asked per call). Recognising that state saves building and passing the
        attribute sets; if the API ever stops exposing it, we simply record.
        """
        probe = self._probe
        return getattr(probe, "_real_instrument", probe) is None

    def _series(self, call: InferenceCall, error_type: str | None) -> _Series:
        """The attribute sets of the call's series, built once per combination.

        Calls repeat the same few combinations; building (and letting the SDK
        hash) fresh dicts for each would be most of the cost of recording.
        """
        key = (
            call.operation,
            call.provider,
            call.request_model,
            call.response_model,
            call.server_address,
            call.server_port,
            error_type,
            call.attribution,
        )
        series = self._cache.get(key)
        if series is None:
            if len(self._cache) >= _MAX_CACHED_SERIES:
                self._cache.clear()
            series = self._cache[key] = _Series(*key)
        return series

    def _record_usage_counters(self, usage: Usage | None, series: _Series, context: Context) -> None:
        if usage is None:
            # The conventions ask for a 0 of unknown modality so that failed and
            # usage-less calls still show up in the counters' series.
            unknown = series.with_modality("unknown")
            self.usage_input.add(0, unknown, context)
            self.usage_output.add(0, unknown, context)
            return
        for modality, tokens in _split_by_modality(
            usage.input_tokens, usage.text_input_tokens, usage.image_input_tokens, usage.audio_input_tokens
        ):
            self.usage_input.add(tokens, series.with_modality(modality), context)
        for modality, tokens in _split_by_modality(
            usage.output_tokens,
            usage.text_output_tokens,
            usage.image_output_tokens,
            usage.audio_output_tokens,
        ):
            self.usage_output.add(tokens, series.with_modality(modality), context)
        text = series.with_modality("text")
        if usage.cache_read_tokens:
            self.usage_cache_read.add(usage.cache_read_tokens, text, context)
        if usage.cache_write_tokens:
            self.usage_cache_write.add(usage.cache_write_tokens, text, context)
        if usage.reasoning_tokens:
            self.usage_reasoning.add(usage.reasoning_tokens, text, context)


# More distinct (model, endpoint, error) combinations than this means something
# unusual (a model id per request?); start over rather than grow without bound.
_MAX_CACHED_SERIES = 1024


class _Series:
    """Metric attribute dicts of one combination; never mutated once built."""

    __slots__ = (
        "_by_class",
        "_by_modality",
        "_by_token_type",
        "attributes",
        "cost_base",
        "timed",
        "unpriced",
    )

    def __init__(
        self,
        operation: str,
        provider: str,
        request_model: str | None,
        response_model: str | None,
        server_address: str | None,
        server_port: int | None,
        error_type: str | None,
        attribution: MetricValues | None,
    ) -> None:
        attributes = operation_attributes(operation, provider, request_model, server_address, server_port)
        if response_model:
            attributes[sc.GEN_AI_RESPONSE_MODEL] = response_model
        if attribution:
            # Who spent it labels every metric of the call (each key capped; see attribution.py).
            attributes.update(attribution)
        self.attributes = attributes
        # Token metrics carry no error.type; the duration ones do.
        self.timed = attributes if error_type is None else {**attributes, sc.ERROR_TYPE: error_type}
        self._by_token_type: dict[str, dict[str, Any]] = {}
        self._by_modality: dict[str, dict[str, Any]] = {}
        self._by_class: dict[tuple[str, str | None], dict[str, Any]] = {}
        # Spend is summed over many models and servers: keep its series few.
        self.cost_base = {
            key: value
            for key, value in attributes.items()
            if key in (sc.GEN_AI_OPERATION_NAME, sc.GEN_AI_PROVIDER_NAME, sc.GEN_AI_REQUEST_MODEL)
        }
        if attribution:
            self.cost_base.update(attribution)
        self.unpriced = dict(self.cost_base)
        if response_model:
            self.unpriced[sc.GEN_AI_RESPONSE_MODEL] = response_model

    def with_token_type(self, token_type: str) -> dict[str, Any]:
        found = self._by_token_type.get(token_type)
        if found is None:
            found = self._by_token_type[token_type] = {**self.attributes, sc.GEN_AI_TOKEN_TYPE: token_type}
        return found

    def cost_attributes(self, token_class: str, status: str | None) -> dict[str, Any]:
        key = (token_class, status)
        found = self._by_class.get(key)
        if found is None:
            found = {**self.cost_base, sc.TOKENOMICS_TOKEN_CLASS: token_class}
            if status:
                found[sc.TOKENOMICS_COST_STATUS] = status
            self._by_class[key] = found
        return found

    def with_modality(self, modality: str) -> dict[str, Any]:
        found = self._by_modality.get(modality)
        if found is None:
            found = self._by_modality[modality] = {**self.attributes, sc.GEN_AI_TOKEN_MODALITY: modality}
        return found


def operation_attributes(
    operation: str,
    provider: str,
    request_model: str | None,
    server_address: str | None,
    server_port: int | None,
) -> dict[str, Any]:
    """What identifies an operation, on its span (from the start) and on its metrics alike."""
    attributes: dict[str, Any] = {sc.GEN_AI_OPERATION_NAME: operation, sc.GEN_AI_PROVIDER_NAME: provider}
    if request_model:
        attributes[sc.GEN_AI_REQUEST_MODEL] = request_model
    if server_address:
        attributes[sc.SERVER_ADDRESS] = server_address
        if server_port is not None:
            attributes[sc.SERVER_PORT] = server_port
    return attributes


def _split_by_modality(
    total: int, text: int | None, image: int | None, audio: int | None
) -> list[tuple[str, int]]:
    """Per-modality parts of a total; what no modality claims is text.

    Providers break counts down only for multimodal calls; a plain chat reports
    one total, and that total is text.
    """
    image = image or 0
    audio = audio or 0
    if not image and not audio:
        return [("text", total)]
    parts: list[tuple[str, int]] = []
    remainder = max(total - image - audio, 0)
    if text is None:
        text = remainder
    if text:
        parts.append(("text", text))
    if image:
        parts.append(("image", image))
    if audio:
        parts.append(("audio", audio))
    return parts
