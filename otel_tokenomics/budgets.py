"""Budgets: ``otel_tokenomics.budget(usd=..., on_exceed="warn"|"raise", name=...)``.

A budget counts the cost of every call made beneath it (streams included, whether or
not their spans are sampled) and tells when the spend goes over its limit:

* ``warn``: calls go on. The call that takes the spend over the limit gets a
  ``tokenomics.budget.exceeded`` span event and adds 1 to the
  ``tokenomics.budget.exceeded`` counter (``outcome=exceeded``); once per budget.
* ``raise``: before each call, the call's worst case (its prompt counted for the
  model, plus the request's maximum output tokens at the output price) is compared
  with what is left; a call that does not fit raises :class:`BudgetExceeded`
  instead of being sent (``outcome=refused``). The worst case is *reserved* until
  the call ends, so calls running at once cannot overspend together. A call whose
  worst case cannot be priced (an unknown model) is refused only once nothing is
  left. A call can still take the spend over the limit when it costs more than its
  pre-flight estimate (a request with no output cap, a heuristic count): it is then
  reported like a ``warn`` budget's, and every later call is refused.

``BudgetExceeded`` is the only exception the library raises on purpose, and only
inside a ``raise`` budget. Budgets nest: a call is charged to every budget around it
and must fit all ``raise`` ones. Each inference span records the innermost budget's
``tokenomics.budget.name``, ``.limit`` and ``.spent`` (this call included).
"""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, TypeVar

from opentelemetry import trace

from otel_tokenomics import semconv as sc
from otel_tokenomics.accounts import Account, Accounts, close_scope, open_scope, refuse_generators
from otel_tokenomics.estimation.preflight import worst_case_of_request
from otel_tokenomics.spend import ZERO

if TYPE_CHECKING:
    from otel_tokenomics.call import InferenceCall, Route
    from otel_tokenomics.metrics import Metrics

WARN = "warn"
RAISE = "raise"
OUTCOME_EXCEEDED = "exceeded"
OUTCOME_REFUSED = "refused"
DEFAULT_NAME = "budget"

F = TypeVar("F", bound=Callable[..., Any])


class BudgetExceeded(Exception):
    """A call was refused before it was sent: its worst case does not fit the budget.

    ``budget`` (the name), ``limit``, ``spent`` and ``worst_case`` (None when the call
    could not be priced and the budget was already spent) are in US dollars, as
    ``Decimal``.
    """

    def __init__(self, budget: str, limit: Decimal, spent: Decimal, worst_case: Decimal | None) -> None:
        self.budget = budget
        self.limit = limit
        self.spent = spent
        self.worst_case = worst_case
        needs = f"may cost up to ${_usd(worst_case)}" if worst_case is not None else "cannot be priced"
        left = _usd(max(limit - spent, ZERO))
        super().__init__(f"budget {budget!r} (${_usd(limit)}) has ${left} left; the call {needs}")


def _usd(amount: Decimal) -> str:
    """An amount without trailing zeros or an exponent: 0.00015 rather than 0.000150900 or 1.5E-4."""
    return f"{amount.normalize():f}"


def _dollars(usd: Any) -> Decimal:
    if isinstance(usd, bool):
        raise TypeError("usd must be an amount in US dollars, not a bool")
    try:
        amount = usd if isinstance(usd, Decimal) else Decimal(str(usd))
    except (InvalidOperation, ValueError) as error:
        raise ValueError(f"usd must be an amount in US dollars, not {usd!r}") from error
    if not amount.is_finite() or amount < 0:
        raise ValueError(f"usd must be a finite amount >= 0, not {usd!r}")
    return amount


class Budget(Account):
    """A spending limit in US dollars over the calls made beneath it.

    A context manager (``with`` / ``async with``) and a decorator (each call of the
    decorated function gets a budget of its own). Entering the same ``Budget`` again
    keeps its spend: one object can cap a whole batch of runs.
    """

    def __init__(self, usd: Any, on_exceed: str = WARN, name: str | None = None) -> None:
        super().__init__()
        if on_exceed not in (WARN, RAISE):
            raise ValueError(f"on_exceed must be 'warn' or 'raise', not {on_exceed!r}")
        self.limit = _dollars(usd)
        self.on_exceed = on_exceed
        self.name = str(name) if name else DEFAULT_NAME
        self.refuses_calls = on_exceed == RAISE
        self._reserved = ZERO
        self._lock = threading.Lock()
        self._reported = False

    # -- what users read ----------------------------------------------------------------

    @property
    def spent(self) -> Decimal:
        """What the calls beneath have cost so far (calls still running are not in it)."""
        return self.tally.cost

    @property
    def remaining(self) -> Decimal:
        """What is left; negative once the budget is exceeded."""
        return self.limit - self.tally.cost

    @property
    def exceeded(self) -> bool:
        return self.tally.cost > self.limit

    @property
    def llm_calls(self) -> int:
        return self.tally.llm_calls

    def __repr__(self) -> str:
        return (
            f"Budget({self.name!r}, limit=${self.limit}, spent=${self.spent}, on_exceed={self.on_exceed!r})"
        )

    # -- scope --------------------------------------------------------------------------

    def __enter__(self) -> Budget:
        open_scope(self, self)
        return self

    def __exit__(self, *exc: Any) -> None:
        close_scope(self)

    async def __aenter__(self) -> Budget:
        return self.__enter__()

    async def __aexit__(self, *exc: Any) -> None:
        self.__exit__(*exc)

    def __call__(self, function: F) -> F:
        """As a decorator: every call of ``function`` runs under a budget of its own."""
        refuse_generators(function, "budget")
        limit, on_exceed, name = self.limit, self.on_exceed, self.name
        if inspect.iscoroutinefunction(function):

            @functools.wraps(function)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                with Budget(limit, on_exceed, name):
                    return await function(*args, **kwargs)

            return run_async  # type: ignore[return-value]

        @functools.wraps(function)
        def run(*args: Any, **kwargs: Any) -> Any:
            with Budget(limit, on_exceed, name):
                return function(*args, **kwargs)

        return run  # type: ignore[return-value]

    # -- what calls do ----------------------------------------------------------------------

    def reserve(self, worst_case: Decimal | None) -> bool:
        """Hold ``worst_case`` for a call about to be sent; False when it does not fit."""
        with self._lock:
            left = self.limit - self.tally.cost - self._reserved
            if worst_case is None:
                return left > 0
            if worst_case > left:
                return False
            self._reserved += worst_case
            return True

    def release(self, reserved: Decimal | None) -> None:
        if reserved:
            with self._lock:
                self._reserved -= reserved

    def charge(self, call: InferenceCall, cost: Decimal | None, complete: bool) -> None:
        if self.refuses_calls:
            self.release(call.budget_reserved)
        super().charge(call, cost, complete)
        if not self._reported and self.tally.cost > self.limit:
            with self._lock:
                crossed, self._reported = not self._reported, True
            if crossed:
                _report(self, OUTCOME_EXCEEDED, call.span, call.telemetry.metrics, None)

    def state(self) -> dict[str, Any]:
        return {
            sc.TOKENOMICS_BUDGET_NAME: self.name,
            sc.TOKENOMICS_BUDGET_LIMIT: float(self.limit),
            sc.TOKENOMICS_BUDGET_SPENT: float(self.tally.cost),
        }


def budget(usd: Any, on_exceed: str = WARN, name: str | None = None) -> Budget:
    """A budget of ``usd`` US dollars over the calls made beneath it; see :mod:`otel_tokenomics.budgets`."""
    return Budget(usd, on_exceed, name)


def innermost(accounts: Accounts) -> Budget | None:
    for account in reversed(accounts):
        if isinstance(account, Budget):
            return account
    return None


def admit(
    accounts: Accounts,
    route: Route,
    provider: str,
    model: str | None,
    body: Mapping[str, Any],
    max_tokens: Any,
    choices: Any,
    metrics: Metrics,
) -> Decimal | None:
    """Reserve a call's worst case in every ``raise`` budget around it, or raise :class:`BudgetExceeded`.

    ``max_tokens`` is per choice: a request for ``choices`` answers may produce that many
    times as much. Returns what was reserved (None when the worst case could not be priced).
    """
    refusing = [account for account in accounts if account.refuses_calls]
    if type(max_tokens) is int and type(choices) is int and choices > 1:
        max_tokens *= choices
    try:
        worst = worst_case_of_request(route, provider, model, body, max_tokens)
    except Exception:
        from otel_tokenomics.call import report_internal_error  # call.py imports this module

        report_internal_error("estimating a call's worst case for a budget")
        worst = None
    reserved: list[Budget] = []
    for candidate in refusing:
        assert isinstance(candidate, Budget)
        if candidate.reserve(worst):
            reserved.append(candidate)
            continue
        for held in reserved:
            held.release(worst)
        error = BudgetExceeded(candidate.name, candidate.limit, candidate.spent, worst)
        span = trace.get_current_span()
        _report(candidate, OUTCOME_REFUSED, span, metrics, worst)
        raise error
    return worst


def _report(
    spent_budget: Budget,
    outcome: str,
    span: Any,
    metrics: Metrics,
    worst_case: Decimal | None,
) -> None:
    attributes = {
        sc.TOKENOMICS_BUDGET_NAME: spent_budget.name,
        sc.TOKENOMICS_BUDGET_ON_EXCEED: spent_budget.on_exceed,
        sc.TOKENOMICS_BUDGET_OUTCOME: outcome,
    }
    # The point links to the span that gets the event: the call's, or for a refused call
    # (it has none) the span it was refused under.
    metrics.budget_exceeded(attributes, trace.set_span_in_context(span))
    if span.is_recording():
        event = {
            **attributes,
            sc.TOKENOMICS_BUDGET_LIMIT: float(spent_budget.limit),
            sc.TOKENOMICS_BUDGET_SPENT: float(spent_budget.spent),
        }
        if worst_case is not None:
            event[sc.TOKENOMICS_BUDGET_WORST_CASE_COST] = float(worst_case)
        span.add_event(sc.EVENT_TOKENOMICS_BUDGET_EXCEEDED, event)
