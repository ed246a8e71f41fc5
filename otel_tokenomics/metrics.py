"""The metric instruments, and how one finished call is recorded into them.

Two generations of GenAI metric names exist (see the README): the names today's
dashboards use (``gen_ai.client.operation.duration``, ``gen_ai.client.token.usage``)
and the newer ``gen_ai.client.inference.*`` ones. ``Options.metric_names`` picks
one or both; a quantity is recorded once per generation, never twice in one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from opentelemetry.metrics import Meter

from otel_tokenomics import semconv as sc
from otel_tokenomics.config import Options

if TYPE_CHECKING:
    from otel_tokenomics.call import InferenceCall

# Bucket boundaries the GenAI conventions advise.
DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
TOKEN_BUCKETS = (
    1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
)  # fmt: skip

EMBEDDINGS = "embeddings"
_MODALITIES = ("text", "image", "audio")


def _histogram(meter: Meter, name: str, buckets: tuple[float, ...]) -> Any:
    _, unit, brief = sc.METRIC_SPECS[name]
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
        if self.legacy:
            self.operation_duration = _histogram(
                meter, sc.METRIC_GEN_AI_CLIENT_OPERATION_DURATION, DURATION_BUCKETS
            )
            self.token_usage = _histogram(meter, sc.METRIC_GEN_AI_CLIENT_TOKEN_USAGE, TOKEN_BUCKETS)
            self.ttfc = _histogram(
                meter, sc.METRIC_GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK, DURATION_BUCKETS
            )
            self.tpoc = _histogram(
                meter, sc.METRIC_GEN_AI_CLIENT_OPERATION_TIME_PER_OUTPUT_CHUNK, DURATION_BUCKETS
            )
        if self.latest:
            self.inference_duration = _histogram(
                meter, sc.METRIC_GEN_AI_CLIENT_INFERENCE_DURATION, DURATION_BUCKETS
            )
            self.inference_ttfc = _histogram(
                meter, sc.METRIC_GEN_AI_CLIENT_INFERENCE_TIME_TO_FIRST_CHUNK, DURATION_BUCKETS
            )
            self.inference_tpoc = _histogram(
                meter, sc.METRIC_GEN_AI_CLIENT_INFERENCE_TIME_PER_OUTPUT_CHUNK, DURATION_BUCKETS
            )
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
            self.operation_input = _histogram(
                meter, sc.METRIC_GEN_AI_CLIENT_INFERENCE_OPERATION_INPUT_TOKENS, TOKEN_BUCKETS
            )
            self.operation_output = _histogram(
                meter, sc.METRIC_GEN_AI_CLIENT_INFERENCE_OPERATION_OUTPUT_TOKENS, TOKEN_BUCKETS
            )
            self.embeddings_duration = _histogram(
                meter, sc.METRIC_GEN_AI_CLIENT_EMBEDDINGS_DURATION, DURATION_BUCKETS
            )
            self.embeddings_input = _histogram(
                meter, sc.METRIC_GEN_AI_CLIENT_EMBEDDINGS_OPERATION_INPUT_TOKENS, TOKEN_BUCKETS
            )

    def record(self, call: InferenceCall, duration: float, error_type: str | None) -> None:
        attributes: dict[str, Any] = {
            sc.GEN_AI_OPERATION_NAME: call.operation,
            sc.GEN_AI_PROVIDER_NAME: call.provider,
        }
        if call.request_model:
            attributes[sc.GEN_AI_REQUEST_MODEL] = call.request_model
        if call.response_model:
            attributes[sc.GEN_AI_RESPONSE_MODEL] = call.response_model
        if call.server_address:
            attributes[sc.SERVER_ADDRESS] = call.server_address
            attributes[sc.SERVER_PORT] = call.server_port
        # Token metrics carry no error.type; the duration ones do.
        timed = attributes
        if error_type is not None:
            timed = dict(attributes)
            timed[sc.ERROR_TYPE] = error_type
        usage = call.usage
        ttfc = call.time_to_first_chunk
        tpoc = call.time_per_output_chunk
        if self.legacy:
            self.operation_duration.record(duration, timed)
            if usage is not None:
                self.token_usage.record(usage.input_tokens, {**attributes, sc.GEN_AI_TOKEN_TYPE: "input"})
                if call.operation != EMBEDDINGS:
                    self.token_usage.record(
                        usage.output_tokens, {**attributes, sc.GEN_AI_TOKEN_TYPE: "output"}
                    )
            if ttfc is not None:
                self.ttfc.record(ttfc, attributes)
            if tpoc is not None:
                self.tpoc.record(tpoc, attributes)
        if self.latest:
            if call.operation == EMBEDDINGS:
                self.embeddings_duration.record(duration, timed)
                if usage is not None:
                    self.embeddings_input.record(usage.input_tokens, attributes)
                return
            self.inference_duration.record(duration, timed)
            if ttfc is not None:
                self.inference_ttfc.record(ttfc, attributes)
            if tpoc is not None:
                self.inference_tpoc.record(tpoc, attributes)
            self._record_usage_counters(call, attributes)
            if usage is not None:
                self.operation_input.record(usage.input_tokens, timed)
                self.operation_output.record(usage.output_tokens, timed)

    def _record_usage_counters(self, call: InferenceCall, attributes: dict[str, Any]) -> None:
        usage = call.usage
        if usage is None:
            # The conventions ask for a 0 of unknown modality so that failed and
            # usage-less calls still show up in the counters' series.
            unknown = {**attributes, sc.GEN_AI_TOKEN_MODALITY: "unknown"}
            self.usage_input.add(0, unknown)
            self.usage_output.add(0, unknown)
            return
        for modality, tokens in _split_by_modality(
            usage.input_tokens, usage.text_input_tokens, usage.image_input_tokens, usage.audio_input_tokens
        ):
            self.usage_input.add(tokens, {**attributes, sc.GEN_AI_TOKEN_MODALITY: modality})
        for modality, tokens in _split_by_modality(
            usage.output_tokens,
            usage.text_output_tokens,
            usage.image_output_tokens,
            usage.audio_output_tokens,
        ):
            self.usage_output.add(tokens, {**attributes, sc.GEN_AI_TOKEN_MODALITY: modality})
        text = {**attributes, sc.GEN_AI_TOKEN_MODALITY: "text"}
        if usage.cache_read_tokens:
            self.usage_cache_read.add(usage.cache_read_tokens, text)
        if usage.cache_write_tokens:
            self.usage_cache_write.add(usage.cache_write_tokens, text)
        if usage.reasoning_tokens:
            self.usage_reasoning.add(usage.reasoning_tokens, text)


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
