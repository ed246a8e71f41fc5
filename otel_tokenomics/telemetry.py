"""The tracer, meter and options of one instrumentation, and how a call starts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry import trace
from opentelemetry.metrics import get_meter
from opentelemetry.trace import SpanKind

from otel_tokenomics import semconv as sc
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
        self._logger_provider = logger_provider
        self._event_logger: Any = None

    def start_call(
        self,
        route: Route,
        provider: str,
        request_model: str | None,
        server_address: str | None,
        server_port: int | None,
        stream: bool,
        body: Mapping[str, Any],
    ) -> InferenceCall:
        operation = route.operation
        attributes = operation_attributes(operation, provider, request_model, server_address, server_port)
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
        except Exception:
            report_internal_error("reading a request")
        # A framework's own span for this very call (pydantic-ai's "chat") takes our
        # attributes instead of getting a second inference span as a child.
        span: Any = borrow(operation)
        if span is None:
            span = self.tracer.start_span(
                f"{operation} {request_model}" if request_model else operation,
                kind=SpanKind.CLIENT,
                attributes=attributes,
            )
        else:
            span.set_attributes(attributes)
        call = InferenceCall(self, route, span, provider, request_model, server_address, server_port, stream)
        # Kept by reference (no copy on the call path): read again only if the call ends
        # without usage, to estimate it.
        call.request_body = body
        read_input_content = route.read_input_content
        if read_input_content is not None and self.options.capture_any_content:
            self._capture_input(call, span, read_input_content, body)
        return call

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
