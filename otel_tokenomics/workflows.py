"""Workflows: ``otel_tokenomics.workflow(name, **attributes)``, the cost of one unit of work.

A workflow run is a span (``invoke_workflow <name>``, kind INTERNAL, with
``gen_ai.operation.name=invoke_workflow``, ``gen_ai.workflow.name`` and
``tokenomics.workflow.name``) and an account every call beneath is charged to. When
the run ends, its span gets the ``tokenomics.rollup.*`` sums of those calls, and two
histograms get one measurement each, by workflow name: ``tokenomics.workflow.cost``
(US dollars) and ``tokenomics.workflow.llm_calls``. The histograms count every run,
sampled or not.

The keyword attributes go onto the span as given; they are not metric attributes
(an id per run would make a series per run). Baggage entries are copied onto the
span like onto inference spans, and the allowed ones label the histograms.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from opentelemetry import baggage, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from otel_tokenomics import semconv as sc
from otel_tokenomics.accounts import Account, close_scope, open_scope, refuse_generators
from otel_tokenomics.attribution import MetricValues
from otel_tokenomics.call import report_internal_error

OPERATION = "invoke_workflow"

F = TypeVar("F", bound=Callable[..., Any])


class Workflow(Account):
    """One run of a workflow: a context manager (``with`` / ``async with``) and a decorator.

    As a decorator, each call of the decorated function is a run of its own. The object
    is one run: entering it again while it runs (another task) or after it ended starts
    another run, which ``with ... as run`` gives.
    """

    def __init__(self, name: str, attributes: dict[str, Any]) -> None:
        super().__init__()
        if not isinstance(name, str) or not name:
            raise ValueError("a workflow needs a name (a short, fixed string such as 'summarize_ticket')")
        self.name = name
        self.attributes = attributes
        self.span: Any = trace.INVALID_SPAN
        self._started = False
        self._attribution: MetricValues | None = None
        self._telemetry: Any = None

    @property
    def cost(self) -> Any:
        """What the calls of this run have cost so far, in US dollars (``Decimal``)."""
        return self.tally.cost

    @property
    def llm_calls(self) -> int:
        return self.tally.llm_calls

    def __repr__(self) -> str:
        return f"Workflow({self.name!r}, cost=${self.tally.cost}, llm_calls={self.tally.llm_calls})"

    def __enter__(self) -> Workflow:
        run = self
        if self._started:
            run = Workflow(self.name, self.attributes)
        run._started = True
        run._open(self)
        return run

    def __exit__(self, exc_type: Any, error: BaseException | None, traceback: Any) -> None:
        run = close_scope(self)
        if isinstance(run, Workflow):
            run._close(error)

    async def __aenter__(self) -> Workflow:
        return self.__enter__()

    async def __aexit__(self, exc_type: Any, error: BaseException | None, traceback: Any) -> None:
        self.__exit__(exc_type, error, traceback)

    def __call__(self, function: F) -> F:
        """As a decorator: every call of ``function`` is a run of its own."""
        refuse_generators(function, "workflow")
        name, attributes = self.name, self.attributes
        if inspect.iscoroutinefunction(function):

            @functools.wraps(function)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                async with Workflow(name, attributes):
                    return await function(*args, **kwargs)

            return run_async  # type: ignore[return-value]

        @functools.wraps(function)
        def run(*args: Any, **kwargs: Any) -> Any:
            with Workflow(name, attributes):
                return function(*args, **kwargs)

        return run  # type: ignore[return-value]

    def _open(self, owner: Workflow) -> None:
        context = None
        try:
            from otel_tokenomics.manual import shared_telemetry

            self._telemetry = telemetry_ = shared_telemetry()
            attributes: dict[str, Any] = {
                sc.GEN_AI_OPERATION_NAME: OPERATION,
                sc.GEN_AI_WORKFLOW_NAME: self.name,
                sc.TOKENOMICS_WORKFLOW_NAME: self.name,
            }
            self._attribution = telemetry_.attribution.read(baggage.get_all(), attributes)
            attributes.update(self.attributes)
            self.span = telemetry_.tracer.start_span(
                f"{OPERATION} {self.name}", kind=SpanKind.INTERNAL, attributes=attributes
            )
            if telemetry_.rollup_pending and self.span.is_recording():
                telemetry_.install_rollup()
            context = trace.set_span_in_context(self.span)
        except Exception:
            report_internal_error("starting a workflow span")
        # The account is opened even without a span: the run's calls are still charged.
        open_scope(owner, self, context)

    def _close(self, error: BaseException | None) -> None:
        try:
            tally = self.tally
            span = self.span
            error_type = type(error).__qualname__ if error is not None else None
            if span.is_recording():
                attributes = tally.rollup_attributes()
                if error_type is not None:
                    attributes[sc.ERROR_TYPE] = error_type
                    span.set_status(Status(StatusCode.ERROR, error_type))
                span.set_attributes(attributes)
            span.end()
            if self._telemetry is not None:
                self._telemetry.metrics.record_workflow(
                    self.name, tally, error_type, self._attribution, trace.set_span_in_context(span)
                )
        except Exception:
            report_internal_error("ending a workflow span")


def workflow(name: str, **attributes: Any) -> Workflow:
    """A run of the workflow ``name``; see :mod:`otel_tokenomics.workflows`."""
    return Workflow(name, attributes)
