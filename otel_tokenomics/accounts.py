"""The workflow runs and budgets open where a call starts, and how its cost reaches them.

``otel_tokenomics.workflow()`` and ``otel_tokenomics.budget()`` put an *account* in the
OpenTelemetry context; a call made beneath (in this task, in an asyncio task created
beneath, in a thread the context was handed to) is charged to every account of the
context it started in, innermost last, when it ends. They live in the OpenTelemetry
context rather than in a context variable of ours so that whatever carries the
OpenTelemetry context into a thread or a callback carries them too.

Charging does not depend on sampling: a budget counts the calls whose spans are
dropped, and a workflow's cost histogram does too.
"""

from __future__ import annotations

import inspect
from contextvars import ContextVar
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context

from otel_tokenomics.spend import CURRENCY, Tally, counts_as_complete

if TYPE_CHECKING:
    from otel_tokenomics.call import InferenceCall
    from otel_tokenomics.pricing.compute import Cost

ACCOUNTS_KEY = otel_context.create_key("otel_tokenomics.accounts")

Accounts = tuple["Account", ...]


class Account:
    """Something calls are charged to: a workflow run or a budget."""

    #: True for a budget that refuses calls before they are sent (on_exceed="raise").
    refuses_calls = False

    def __init__(self) -> None:
        self.tally = Tally()

    def charge(self, call: InferenceCall, cost: Decimal | None, complete: bool) -> None:
        usage = call.usage
        if usage is None:
            self.tally.add(cost, complete)
            return
        embeddings = call.operation == "embeddings"
        self.tally.add(
            cost,
            complete,
            usage.input_tokens,
            0 if embeddings else usage.output_tokens,
            0 if embeddings else usage.cache_read_tokens,
            0 if embeddings else usage.cache_write_tokens,
            0 if embeddings else usage.reasoning_tokens,
        )


def current(context: Any = None) -> Accounts | None:
    """The accounts open in ``context`` (the current one by default), innermost last."""
    accounts = otel_context.get_value(ACCOUNTS_KEY, context)
    return accounts or None  # type: ignore[return-value]


def with_account(account: Account, context: Any = None) -> Any:
    """``context`` with ``account`` opened innermost (once: a budget entered again is not charged twice)."""
    accounts = current(context) or ()
    if account in accounts:
        return otel_context.set_value(ACCOUNTS_KEY, accounts, context)
    return otel_context.set_value(ACCOUNTS_KEY, (*accounts, account), context)


# The scopes open in this task or thread, innermost last: (owner, what it opened, its
# context token). In a context variable, not on the owner, so that one budget entered by
# several asyncio tasks or threads at once closes each entry in the task that opened it.
_SCOPES: ContextVar[tuple[tuple[Any, Any, Any], ...]] = ContextVar("otel_tokenomics_scopes", default=())


def open_scope(owner: Any, account: Account, context: Any = None) -> None:
    """Make ``account`` current (in ``context``, or the current context) until :func:`close_scope`."""
    token = otel_context.attach(with_account(account, context))
    _SCOPES.set((*_SCOPES.get(), (owner, account, token)))


def close_scope(owner: Any) -> Account | None:
    """Close the innermost scope ``owner`` opened in this task or thread; what it opened, if any."""
    scopes = _SCOPES.get()
    for index in range(len(scopes) - 1, -1, -1):
        if scopes[index][0] is owner:
            _SCOPES.set(scopes[:index] + scopes[index + 1 :])
            otel_context.detach(scopes[index][2])
            return scopes[index][1]  # type: ignore[no-any-return]
    return None


def charge_call(
    call: InferenceCall, accounts: Accounts, status: str, cost: Cost | None, failed: bool
) -> None:
    """Charge one ended call to the accounts it was made under."""
    currency = cost.currency if cost is not None else None
    amount = cost.total if cost is not None and currency == CURRENCY else None
    complete = counts_as_complete(status, failed, currency)
    for account in accounts:
        account.charge(call, amount, complete)


def refuse_generators(function: Any, what: str) -> None:
    """A decorator's check, at definition time: a generator would end the scope before its first item.

    A context opened around a generator's ``yield`` would also leak into the code that
    iterates it; the ``with`` block belongs inside the generator.
    """
    if inspect.isgeneratorfunction(function) or inspect.isasyncgenfunction(function):
        raise TypeError(
            f"@{what}(...) decorates functions and coroutine functions; in the generator "
            f"{getattr(function, '__qualname__', function)!r}, open `with {what}(...)` inside it"
        )
