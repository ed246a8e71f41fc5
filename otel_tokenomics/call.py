"""The life of one LLM call's span: start, chunks, end exactly once.

Provider adapters only describe an endpoint (a :class:`Route`: how to read its
request, response and stream chunks); everything that touches the span, the
metrics, the cost and the timing lives here, once for every provider.

Every method that runs inside the user's call is guarded: a failure of ours is
logged once per kind and the user's call goes on untouched.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from opentelemetry.trace import Status, StatusCode

from otel_tokenomics import semconv as sc
from otel_tokenomics.accounts import charge_call
from otel_tokenomics.budgets import innermost
from otel_tokenomics.cost import STATUS_NO_USAGE, STATUS_UNPRICED, price_call, put_cost_attributes
from otel_tokenomics.errors import own_error_alone
from otel_tokenomics.estimation.call_usage import estimate_call_usage
from otel_tokenomics.usage import SOURCE_UNAVAILABLE, Usage

if TYPE_CHECKING:
    from decimal import Decimal

    from otel_tokenomics.accounts import Accounts
    from otel_tokenomics.attribution import MetricValues
    from otel_tokenomics.estimation.prompt import Prompt
    from otel_tokenomics.pricing.compute import Cost
    from otel_tokenomics.telemetry import Telemetry

logger = logging.getLogger("otel_tokenomics")
_perf_counter = time.perf_counter

# Set while one of our inference spans is open around the SDK call, so that a
# second layer of ours (a framework over an SDK, a helper over a method) never
# opens a second inference span for the same call.
IN_CALL: ContextVar[bool] = ContextVar("otel_tokenomics_in_call", default=False)

OUTCOME_COMPLETED = "completed"
OUTCOME_CLOSED_EARLY = "closed_early"
OUTCOME_ABANDONED = "abandoned"
OUTCOME_FAILED = "failed"

# What a chunk reader returns for a chunk the user must not see: the usage-only chunk
# that exists only because we asked for it (stream_options.include_usage we injected).
HIDE = 2

_reported: set[str] = set()


def report_internal_error(where: str) -> None:
    """Log a failure of our own code once per place; never raise."""
    own_error_alone()
    if where in _reported:
        logger.debug("otel-tokenomics internal error in %s", where, exc_info=True)
        return
    _reported.add(where)
    logger.warning(
        "otel-tokenomics could not record telemetry (%s); the call itself is unaffected", where, exc_info=True
    )


class Route:
    """How one provider endpoint is read. Adapters build these once, at import."""

    __slots__ = (
        "attributes",
        "describe_error",
        "is_own_chunk",
        "operation",
        "read_chunk",
        "read_input_content",
        "read_output_text",
        "read_prompt",
        "read_request",
        "read_response",
    )

    def __init__(
        self,
        operation: str,
        read_request: Callable[[Mapping[str, Any], dict[str, Any]], None],
        read_response: Callable[[InferenceCall, Any], None],
        read_chunk: Callable[[InferenceCall, Any], bool] | None = None,
        attributes: Mapping[str, Any] | None = None,
        read_input_content: Callable[[Mapping[str, Any]], dict[str, Any] | None] | None = None,
        describe_error: Callable[[BaseException], tuple[str | None, int | None]] | None = None,
        read_prompt: Callable[[Mapping[str, Any]], Prompt] | None = None,
        read_output_text: Callable[[Any], list[str]] | None = None,
        is_own_chunk: Callable[[InferenceCall, Any], bool] | None = None,
    ) -> None:
        self.operation = operation
        # Whether a chunk exists only because we asked for it (OpenAI's include_usage):
        # asked also when read_chunk failed on it, so it still never reaches the user.
        self.is_own_chunk = is_own_chunk
        # Fills span attributes from the request body; only runs for recorded spans.
        self.read_request = read_request
        self.read_response = read_response
        # Reads one stream chunk and says whether it carried output (for time to
        # first chunk and time per output chunk). Event streams (Responses,
        # Anthropic, ConverseStream) open with bookkeeping events sent before any
        # output exists; one call per chunk answers both, as chunks are many.
        self.read_chunk = read_chunk
        self.attributes = dict(attributes or {})
        # Opt-in only: the request's messages as semconv content attributes.
        self.read_input_content = read_input_content
        # The SDK's error as (error.type, HTTP status) where its class name says
        # less than the provider's error code (botocore raises one class for every
        # error inside an event stream); None parts fall back to the defaults.
        self.describe_error = describe_error
        # For calls that end without usage: the request read into a countable Prompt,
        # and the text of a non-streamed response (a stream's text is gathered by
        # read_chunk into InferenceCall.output_text). Both run only when estimating.
        self.read_prompt = read_prompt
        self.read_output_text = read_output_text


class InferenceCall:
    """One call in flight. Adapters write the response fields; the engine ends it."""

    # What every call starts with; __init__ sets only what differs per call, and
    # adapters overwrite the response fields as they read them.
    ended = False
    # Set once our _record has ended the span, so a failure after that never ends it again.
    span_ended = False
    response_id: str | None = None
    response_model: str | None = None
    # choice index -> finish reason; a dict because stream chunks name the index.
    finish_reasons: dict[int, str] | None = None
    usage: Usage | None = None
    # What the price depends on besides model and date, as sorted (key, value)
    # pairs: (("service_tier", "flex"),); adapters set it from the response.
    price_context: tuple[tuple[str, str], ...] | None = None
    # Price by the requested id before the response's: Bedrock's request id names
    # the region scope (global., us.) that sets the price, its answer's model does not.
    price_request_model_first = False
    first_chunk_at: float | None = None
    last_chunk_at: float | None = None
    # Chunks that carried output, and the others (event streams' bookkeeping events).
    output_chunk_count = 0
    quiet_chunk_count = 0
    # Opt-in message content: the adapter's input messages, and an output accumulator.
    input_content: dict[str, Any] | None = None
    content: Any = None
    # The request body as the SDK sent it; read again only to estimate a missing usage.
    request_body: Mapping[str, Any] | None = None
    # The text the model produced, as deltas, for counting output the provider did not
    # report; a stream's chunk reader appends to it, a non-stream fills it when needed.
    output_text: list[str] | None = None
    # True while call.usage holds only what a stream's opening event reported (Anthropic's
    # message_start): the input is final, the output is not.
    partial_usage = False
    # The provider accepted the request: a stream object came back (HTTP 200).
    response_started = False
    # We added stream_options.include_usage: the usage-only chunk is ours to hide.
    usage_injected = False
    # False when the answer exists but was never read (a with_streaming_response closed
    # unparsed): its output is unknown, not 0, so nothing is estimated.
    estimable = True
    # The allowed baggage entries, as metric attributes (folded to their caps).
    attribution: MetricValues | None = None
    # The workflow runs and budgets open where the call started, charged when it ends,
    # and what the call's worst case holds in the "raise" budgets until then.
    accounts: Accounts | None = None
    budget_reserved: Decimal | None = None

    def __init__(
        self,
        telemetry: Telemetry,
        route: Route,
        span: Any,
        provider: str,
        request_model: str | None,
        server_address: str | None,
        server_port: int | None,
        stream: bool,
    ) -> None:
        self.telemetry = telemetry
        self.route = route
        self.span = span
        self.operation = route.operation
        self.provider = provider
        self.request_model = request_model
        self.server_address = server_address
        self.server_port = server_port
        self.stream = stream
        self.capture = telemetry.options.capture_any_content
        # Attributes set when the span ends; adapters add provider-specific ones here.
        self.end_attributes: dict[str, Any] = {}
        if stream:
            self.output_text = []
        self.started_at = _perf_counter()

    # -- what adapters call -------------------------------------------------------

    def set_finish_reason(self, index: int, reason: str) -> None:
        if self.finish_reasons is None:
            self.finish_reasons = {}
        self.finish_reasons[index] = reason

    def set_attribute(self, key: str, value: Any) -> None:
        if value is not None:
            self.end_attributes[key] = value

    @property
    def chunk_count(self) -> int:
        """Chunks read so far (the usage chunk we asked for and hid is not one)."""
        return self.output_chunk_count + self.quiet_chunk_count

    # -- timing ---------------------------------------------------------------------

    @property
    def time_to_first_chunk(self) -> float | None:
        if self.first_chunk_at is None:
            return None
        return self.first_chunk_at - self.started_at

    @property
    def time_per_output_chunk(self) -> float | None:
        """Mean time between chunks after the first: one value per stream, not per chunk.

        Recording a histogram point per chunk would cost more than the rest of
        our per-chunk work together; the per-stream mean keeps the signal.
        """
        if self.output_chunk_count < 2 or self.first_chunk_at is None or self.last_chunk_at is None:
            return None
        return (self.last_chunk_at - self.first_chunk_at) / (self.output_chunk_count - 1)

    # -- lifecycle --------------------------------------------------------------------

    def on_chunk(self, chunk: Any) -> bool:
        """Read one chunk; False when the chunk is ours alone and must not reach the user.

        Runs for every chunk of every stream: few attribute reads and writes.
        """
        try:
            read_chunk = self.route.read_chunk
            output = True if read_chunk is None else read_chunk(self, chunk)
        except Exception:
            output = self.chunk_not_read(chunk)
        if output:
            if output is HIDE:
                return False
            now = _perf_counter()
            count = self.output_chunk_count
            if not count:
                self.first_chunk_at = now
            self.output_chunk_count = count + 1
            self.last_chunk_at = now
        else:
            self.quiet_chunk_count += 1
        return True

    def chunk_not_read(self, chunk: Any) -> Any:
        """What becomes of a chunk our reader failed on: the user's, unless the route says
        it is ours alone (the usage chunk we asked for, whose missing ``choices[0]`` would
        raise in the user's code)."""
        report_internal_error("reading a stream chunk")
        is_own_chunk = self.route.is_own_chunk
        try:
            return HIDE if is_own_chunk is not None and is_own_chunk(self, chunk) else False
        except Exception:
            report_internal_error("reading a stream chunk")
            return False

    def finish(self, response: Any) -> None:
        """A non-streamed response arrived: read it and end."""
        if self.ended:
            return
        try:
            self.route.read_response(self, response)
            if self.usage is None and self.route.read_output_text is not None:
                # An endpoint that reports no usage: keep the answer's text to count it.
                self.output_text = self.route.read_output_text(response)
        except Exception:
            report_internal_error("reading a response")
        self.end()

    def fail(self, error: BaseException) -> None:
        if self.ended:
            return
        self.end(error=error, outcome=OUTCOME_FAILED if self.stream else None)

    def may_be_abandoned(self) -> None:
        """From now on the user decides when this call ends: end it when collected."""
        self.__class__ = AbandonableCall

    def end_stream(self, outcome: str) -> None:
        if not self.ended:
            self.end(outcome=outcome)

    def end(self, error: BaseException | None = None, outcome: str | None = None) -> None:
        """End the span and record the metrics, exactly once."""
        if self.ended:
            return
        self.ended = True
        try:
            self._record(error, outcome)
        except Exception:
            report_internal_error("ending a span")
            if not self.span_ended:
                try:
                    self.span.end()
                except Exception:
                    report_internal_error("ending a span")

    def _record(self, error: BaseException | None, outcome: str | None) -> None:
        duration = _perf_counter() - self.started_at
        error_type = http_status = None
        if error is not None:
            error_type, http_status = self._describe(error)
        span = self.span
        recording = span.is_recording()
        metrics = self.telemetry.metrics
        status, cost = STATUS_NO_USAGE, None
        accounts = self.accounts
        # Priced even when the span is not sampled: spend counters and budgets must not
        # shrink with the sampling ratio. Skipped only when nothing would see the result.
        seen = recording or accounts is not None or metrics.active()
        if (self.usage is None or self.partial_usage) and seen:
            self._estimate_usage(error)
        if self.usage is not None and seen:
            try:
                models = (
                    (self.request_model, self.response_model)
                    if self.price_request_model_first
                    else (self.response_model, self.request_model)
                )
                status, cost = price_call(self.provider, models, self.usage, self.price_context)
            except Exception:
                report_internal_error("pricing a call")
                status = STATUS_UNPRICED
        if accounts is not None:
            self._charge(accounts, status, cost, error is not None)
        if recording:
            span.set_attributes(self._end_attributes(outcome, error_type, status, cost))
            if error is not None:
                span.set_status(Status(StatusCode.ERROR, _error_description(error_type, http_status)))
        span.end()
        self.span_ended = True
        if self.telemetry.options.content_in_event:
            self.telemetry.emit_content_event(self, span)
        try:
            metrics.record(self, duration, error_type, status, cost)
        except Exception:
            report_internal_error("recording metrics")

    def _charge(self, accounts: Accounts, status: str, cost: Cost | None, failed: bool) -> None:
        """Charge the workflow runs and budgets the call was made under; note the budget's state."""
        try:
            charge_call(self, accounts, status, cost, failed)
            budget = innermost(accounts)
            if budget is not None:
                self.end_attributes.update(budget.state())
        except Exception:
            report_internal_error("charging a budget")

    def _estimate_usage(self, error: BaseException | None) -> None:
        """Fill in the usage the provider did not report, marked as an estimate."""
        if not (self.estimable and self.telemetry.options.estimate_usage) or self.route.read_prompt is None:
            return
        # Only a request the provider took: a call that failed before anything of the
        # answer arrived was not billed (an HTTP error, an in-band throttling event);
        # a stream that delivered a chunk, or came back and was closed unread, was.
        if self.chunk_count == 0 and (error is not None or (self.stream and not self.response_started)):
            return
        try:
            estimate_call_usage(self)
        except Exception:
            report_internal_error("estimating usage")

    def _describe(self, error: BaseException) -> tuple[str, int | None]:
        error_type: str | None = None
        status: int | None = None
        describe = self.route.describe_error
        if describe is not None:
            try:
                error_type, status = describe(error)
            except Exception:
                report_internal_error("describing an error")
        if status is None:
            code = getattr(error, "status_code", None)
            # Only an HTTP status: ollama's error sent inside a stream says -1.
            status = code if type(code) is int and 100 <= code <= 599 else None
        return error_type or type(error).__qualname__, status

    def _end_attributes(
        self, outcome: str | None, error_type: str | None, status: str, cost: Cost | None
    ) -> dict[str, Any]:
        attributes = self.end_attributes
        if self.response_id:
            attributes[sc.GEN_AI_RESPONSE_ID] = self.response_id
        if self.response_model:
            attributes[sc.GEN_AI_RESPONSE_MODEL] = self.response_model
        finish_reasons = self.finish_reasons
        if finish_reasons:
            attributes[sc.GEN_AI_RESPONSE_FINISH_REASONS] = (
                list(finish_reasons.values())
                if len(finish_reasons) == 1
                else [finish_reasons[i] for i in sorted(finish_reasons)]
            )
        usage = self.usage
        if usage is not None:
            attributes[sc.GEN_AI_USAGE_INPUT_TOKENS] = usage.input_tokens
            if self.operation != "embeddings":
                attributes[sc.GEN_AI_USAGE_OUTPUT_TOKENS] = usage.output_tokens
                attributes[sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] = usage.cache_read_tokens
                attributes[sc.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS] = usage.cache_write_tokens
                attributes[sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] = usage.reasoning_tokens
                if usage.has_modalities:
                    _modality_attributes(attributes, usage)
                if usage.cache_write_by_ttl is not None:
                    _ttl_attributes(attributes, usage.cache_write_by_ttl)
                if usage.web_search_requests:
                    attributes[sc.TOKENOMICS_USAGE_WEB_SEARCH_REQUESTS] = usage.web_search_requests
                if usage.web_fetch_requests:
                    attributes[sc.TOKENOMICS_USAGE_WEB_FETCH_REQUESTS] = usage.web_fetch_requests
            attributes[sc.TOKENOMICS_USAGE_SOURCE] = usage.source
        else:
            attributes[sc.TOKENOMICS_USAGE_SOURCE] = SOURCE_UNAVAILABLE
        put_cost_attributes(attributes, status, cost)
        if self.stream:
            ttfc = self.time_to_first_chunk
            if ttfc is not None:
                attributes[sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] = ttfc
                if usage is not None and usage.output_tokens and self.last_chunk_at is not None:
                    window = _perf_counter() - self.first_chunk_at  # type: ignore[operator]
                    if window > 0:
                        attributes[sc.TOKENOMICS_THROUGHPUT_OUTPUT_TOKENS_PER_SECOND] = (
                            usage.output_tokens / window
                        )
            tpoc = self.time_per_output_chunk
            if tpoc is not None:
                attributes[sc.TOKENOMICS_STREAM_TIME_PER_OUTPUT_CHUNK] = tpoc
            attributes[sc.TOKENOMICS_STREAM_CHUNK_COUNT] = self.chunk_count
            if self.usage_injected:
                attributes[sc.TOKENOMICS_STREAM_USAGE_REQUESTED] = True
            if outcome is not None:
                attributes[sc.TOKENOMICS_STREAM_OUTCOME] = outcome
        if error_type is not None:
            attributes[sc.ERROR_TYPE] = error_type
        if self.telemetry.options.content_on_span:
            # Content is opt-in debugging: a failure there must not cost the usage and cost.
            try:
                attributes.update(self.output_content_attributes())
            except Exception:
                report_internal_error("capturing output content")
        return attributes

    def input_content_attributes(self) -> dict[str, str]:
        """The opt-in request content as attributes: JSON strings (spans take no structures)."""
        content = self.input_content
        return {key: _json(value) for key, value in content.items()} if content else {}

    def output_content_attributes(self) -> dict[str, str]:
        output = self.output_messages()
        return {sc.GEN_AI_OUTPUT_MESSAGES: _json(output)} if output is not None else {}

    def output_messages(self) -> list[dict[str, Any]] | None:
        """The opt-in output content, as the adapter accumulated it (semconv message shape)."""
        content = self.content
        if content is None:
            return None
        if callable(getattr(content, "messages", None)):
            return content.messages(self.finish_reasons)  # type: ignore[no-any-return]
        return content  # type: ignore[no-any-return]


class AbandonableCall(InferenceCall):
    """A call whose end is in the user's hands (a stream, an unread response).

    Only these need a finalizer: the class of a call is switched to this one when
    its stream or deferred response is handed to the user, so ordinary calls pay
    nothing for it.
    """

    def __del__(self) -> None:
        # A stream dropped without being closed or exhausted: end it when collected.
        if not self.ended:
            try:
                self.end(outcome=OUTCOME_ABANDONED)
            except Exception:
                pass


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def _error_description(error_type: str | None, http_status: int | None) -> str:
    """The error's type and HTTP status, never its message.

    Provider error messages quote the request back, API keys included (OpenAI's
    401 says "Incorrect API key provided: sk-...abcd"); a span must not carry that.
    """
    return f"{error_type} (HTTP {http_status})" if http_status is not None else str(error_type)


def _modality_attributes(attributes: dict[str, Any], usage: Usage) -> None:
    for key, value in (
        (sc.GEN_AI_USAGE_TEXT_INPUT_TOKENS, usage.text_input_tokens),
        (sc.GEN_AI_USAGE_IMAGE_INPUT_TOKENS, usage.image_input_tokens),
        (sc.GEN_AI_USAGE_AUDIO_INPUT_TOKENS, usage.audio_input_tokens),
        (sc.GEN_AI_USAGE_TEXT_OUTPUT_TOKENS, usage.text_output_tokens),
        (sc.GEN_AI_USAGE_IMAGE_OUTPUT_TOKENS, usage.image_output_tokens),
        (sc.GEN_AI_USAGE_AUDIO_OUTPUT_TOKENS, usage.audio_output_tokens),
    ):
        # Only what the provider actually broke down: a 0 reported for an absent
        # modality says nothing and costs an attribute on every span.
        if value:
            attributes[key] = value


_TTL_ATTRIBUTES = (
    ("5m", sc.TOKENOMICS_USAGE_CACHE_WRITE_TTL_5M_INPUT_TOKENS),
    ("1h", sc.TOKENOMICS_USAGE_CACHE_WRITE_TTL_1H_INPUT_TOKENS),
)


def _ttl_attributes(attributes: dict[str, Any], by_ttl: Mapping[str, int]) -> None:
    # Only the split that prices differ by and the registry names; a provider that
    # reported no split at all sets no attribute.
    if any(by_ttl.values()):
        for ttl, key in _TTL_ATTRIBUTES:
            if ttl in by_ttl:
                attributes[key] = by_ttl[ttl]
