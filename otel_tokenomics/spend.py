"""What a group of LLM calls cost together: the sums behind roll-ups, workflow runs and budgets.

A :class:`Tally` adds up calls as they end. Its amounts are ``Decimal`` so that a
sum of a thousand calls is exact to the last digit the prices carry; its status
says whether every call in it was priced from counts the provider reported
(``complete``) or some amount is missing or estimated (``partial``).
"""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import Any

from otel_tokenomics import semconv as sc
from otel_tokenomics.cost import STATUS_ESTIMATED, STATUS_NO_USAGE, STATUS_UNPRICED

ROLLUP_COMPLETE = "complete"
ROLLUP_PARTIAL = "partial"

# Roll-ups and budgets are in US dollars: the catalog's currency. A call priced in
# another currency (a user's price file) is not added to them, and marks them partial.
CURRENCY = "USD"
ZERO = Decimal(0)


def counts_as_complete(status: str | None, failed: bool, currency: str | None) -> bool:
    """Whether a call's cost is known exactly, so a sum that contains it can be ``complete``.

    Unpriced and estimated calls are not. A call without usage is, if it failed: a
    request the provider refused or never received was not billed. A call that
    succeeded without usage (estimation off) cost something unknown.
    """
    if status in (STATUS_UNPRICED, STATUS_ESTIMATED):
        return False
    if status == STATUS_NO_USAGE:
        return failed
    return currency is None or currency == CURRENCY


class Tally:
    """Running sums of the LLM calls of one span subtree, workflow run or budget.

    ``add`` may be called from any thread: each tally has its own lock, held for a
    few additions.
    """

    __slots__ = (
        "_lock",
        "cache_read_tokens",
        "cache_write_tokens",
        "complete",
        "cost",
        "input_tokens",
        "llm_calls",
        "output_tokens",
        "reasoning_tokens",
    )

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.cost = ZERO
        self.input_tokens = 0
        self.output_tokens = 0
        self.cache_read_tokens = 0
        self.cache_write_tokens = 0
        self.reasoning_tokens = 0
        self.llm_calls = 0
        self.complete = True

    @property
    def status(self) -> str:
        return ROLLUP_COMPLETE if self.complete else ROLLUP_PARTIAL

    def add(
        self,
        cost: Decimal | None,
        complete: bool,
        input_tokens: int = 0,
        output_tokens: int = 0,
        cache_read_tokens: int = 0,
        cache_write_tokens: int = 0,
        reasoning_tokens: int = 0,
        calls: int = 1,
    ) -> None:
        """Add one call (or, with ``calls``, the sums of several); ``cost`` in USD or None."""
        with self._lock:
            if cost is not None:
                self.cost += cost
            self.input_tokens += input_tokens
            self.output_tokens += output_tokens
            self.cache_read_tokens += cache_read_tokens
            self.cache_write_tokens += cache_write_tokens
            self.reasoning_tokens += reasoning_tokens
            self.llm_calls += calls
            if not complete:
                self.complete = False

    def add_tally(self, other: Tally) -> None:
        """Add everything ``other`` holds (a finished subtree into its parent)."""
        if other.llm_calls:
            self.add(
                other.cost,
                other.complete,
                other.input_tokens,
                other.output_tokens,
                other.cache_read_tokens,
                other.cache_write_tokens,
                other.reasoning_tokens,
                calls=other.llm_calls,
            )

    def rollup_attributes(self) -> dict[str, Any]:
        """The ``tokenomics.rollup.*`` span attributes of these sums."""
        return {
            sc.TOKENOMICS_ROLLUP_COST_TOTAL: float(self.cost),
            sc.TOKENOMICS_ROLLUP_COST_STATUS: self.status,
            sc.TOKENOMICS_ROLLUP_LLM_CALLS: self.llm_calls,
            sc.TOKENOMICS_ROLLUP_USAGE_INPUT_TOKENS: self.input_tokens,
            sc.TOKENOMICS_ROLLUP_USAGE_OUTPUT_TOKENS: self.output_tokens,
            sc.TOKENOMICS_ROLLUP_USAGE_CACHE_READ_INPUT_TOKENS: self.cache_read_tokens,
            sc.TOKENOMICS_ROLLUP_USAGE_CACHE_WRITE_INPUT_TOKENS: self.cache_write_tokens,
            sc.TOKENOMICS_ROLLUP_USAGE_REASONING_OUTPUT_TOKENS: self.reasoning_tokens,
        }
