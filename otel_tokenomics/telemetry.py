"""The tracer, meter and options of one instrumentation, and how a call starts."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from opentelemetry import trace
from opentelemetry.context import get_current as _get_current
from opentelemetry.metrics import get_meter
from opentelemetry.trace import SpanKind

from otel_tokenomics import semconv as sc
from otel_tokenomics.accounts import ACCOUNTS_KEY, Accounts
from otel_tokenomics.attribution import BAGGAGE_KEY, Attribution
from otel_tokenomics.budgets import BudgetExceeded, admit
from otel_tokenomics.call import InferenceCall, Route, report_internal_error
from otel_tokenomics.config import Options
from otel_tokenomics.frameworks import borrow
from otel_tokenomics.metrics import Metrics, operation_attributes
from otel_tokenomics.version import __version__

SCOPE_NAME = "otel_tokenomics"
SCHEMA_URL = sc.UPSTREAM_SCHEMA_URL


class Telemetry:
    def __init__(
        self,
        options: Options,
        tracer_provider: Any = None,
        meter_provider: Any = None,
        logger_provider: Any = None,
    ) -> None:
        self.options = options
        self.tracer = trace.get_tracer(SCOPE_NAME, __version__, tracer_provider, schema_url=SCHEMA_URL)
        meter = get_meter(SCOPE_NAME, __version__, meter_provider, schema_url=SCHEMA_URL)
        self.metrics = Metrics(meter, options)
        self.attribution = Attribution(options.baggage_keys, options.metric_baggage)
        self._tracer_provider = tracer_provider
        # Until the roll-up processor is on the tracer provider: the global provider may be
        # set after instrument(), so the first recorded span of ours tries again.
        self.rollup_pending = options.rollup
        if options.rollup:
            self.install_rollup()
        self._logger_provider = logger_provider
        self._event_logger: Any = None

    def install_rollup(self) -> None:
        """Add the roll-up span processor to the tracer provider, once it is an SDK one."""
        try:
            provider = self._tracer_provider or trace.get_tracer_provider()
            if isinstance(provider, trace.ProxyTracerProvider):
                return  # no provider yet; the app may set an SDK one later
            self.rollup_pending = False
            # Another implementation (a no-op one) gets none, and does not import the SDK.
            if type(provider).__module__.startswith("opentelemetry.sdk."):
                from otel_tokenomics.rollup import install

                install(provider)
        except Exception:
            self.rollup_pending = False
            report_internal_error("adding the roll-up span processor")

    def start_call(
        self,
        route: Route,
        provider: str,
        request_model: str | None,
        server_address: str | None,
        server_port: int | None,
        stream: bool,
        body: Mapping[str, Any],
        context: Any = None,
    ) -> InferenceCall:
        """Open the call's span; ``context`` is the current context, if the caller has it."""
        operation = route.operation
        attributes = operation_attributes(operation, provider, request_model, server_address, server_port)
        # Who the call is for (baggage) and what it is charged to (workflow runs, budgets):
        # both from the current context, read once.
        if context is None:
            context = _get_current()
        accounts: Accounts | None = context.get(ACCOUNTS_KEY) or None  # type: ignore[assignment]
        attribution = None
        # The request parameters go in with the span's start, so samplers see them
        # too and the span takes one attribute batch instead of two. Reading them
        # is a few dict lookups; the costly parts (content, response, usage, cost)
        # are skipped below and at the end for a span that is not recorded.
        try:
            if route.attributes:
                attributes.update(route.attributes)
            route.read_request(body, attributes)
            if stream:
                attributes[sc.GEN_AI_REQUEST_STREAM] = True
            entries = context.get(BAGGAGE_KEY)
            if entries:
                attribution = self.attribution.read(entries, attributes)
        except Exception:
            report_internal_error("reading a request")
        reserved = None
        if accounts is not None and any(account.refuses_calls for account in accounts):
            reserved = self._admit(accounts, route, provider, request_model, body, attributes)
        # A framework's own span for this very call (pydantic-ai's "chat") takes our
        # attributes instead of getting a second inference span as a child.
        span: Any = borrow(operation, context)
        if span is None:
            span = self.tracer.start_span(
                f"{operation} {request_model}" if request_model else operation,
                kind=SpanKind.CLIENT,
                attributes=attributes,
            )
        else:
            span.set_attributes(attributes)
        if self.rollup_pending and span.is_recording():
            self.install_rollup()  # recording: an SDK provider is in place now
        call = InferenceCall(self, route, span, provider, request_model, server_address, server_port, stream)
        if attribution is not None:
            call.attribution = attribution
        if accounts is not None:
            call.accounts = accounts
            call.budget_reserved = reserved
        # Kept by reference (no copy on the call path): read again only if the call ends
        # without usage, to estimate it.
        call.request_body = body
        read_input_content = route.read_input_content
        if read_input_content is not None and self.options.capture_any_content:
            self._capture_input(call, span, read_input_content, body)
        return call

    def _admit(
        self,
        accounts: Accounts,
        route: Route,
        provider: str,
        request_model: str | None,
        body: Mapping[str, Any],
        attributes: Mapping[str, Any],
    ) -> Decimal | None:
        """Reserve the call's worst case in the "raise" budgets around it; what was reserved.

        Raises BudgetExceeded, the one exception we raise on purpose (asked for with
        budget(on_exceed="raise")), before a span or a request exists.
        """
        try:
            return admit(
                accounts,
                route,
                provider,
                request_model,
                body,
                attributes.get(sc.GEN_AI_REQUEST_MAX_TOKENS),
                attributes.get(sc.GEN_AI_REQUEST_CHOICE_COUNT),
                self.metrics,
            )
        except BudgetExceeded:
            raise
        except Exception:
            report_internal_error("checking a budget")
            return None

    def _capture_input(self, call: InferenceCall, span: Any, read_input_content: Any, body: Any) -> None:
        options = self.options
        try:
            if span.is_recording() or options.content_in_event:
                call.input_content = read_input_content(body)
            if call.input_content and options.content_on_span and span.is_recording():
                span.set_attributes(call.input_content_attributes())
        except Exception:
            report_internal_error("reading request content")

    def emit_content_event(self, call: InferenceCall, span: Any) -> None:
        """The opt-in ``gen_ai.client.inference.operation.details`` event, as a log record."""
        try:
            if self._event_logger is None:
                from opentelemetry._logs import get_logger

                self._event_logger = get_logger(
                    SCOPE_NAME, __version__, self._logger_provider, schema_url=SCHEMA_URL
                )
            attributes: dict[str, Any] = operation_attributes(
                call.operation, call.provider, call.request_model, None, None
            )
            attributes.update(call.input_content_attributes())
            attributes.update(call.output_content_attributes())
            self._event_logger.emit(
                event_name=sc.EVENT_GEN_AI_CLIENT_INFERENCE_OPERATION_DETAILS,
                attributes=attributes,
                context=trace.set_span_in_context(span),
            )
        except Exception:
            report_internal_error("emitting the content event")
