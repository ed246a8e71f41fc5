"""The cost of a call before it is made: ``otel_tokenomics.estimate(provider, model, messages=...)``.

The prompt is counted the way an unreported call's usage is estimated (the model's
own tokenizer and chat framing for OpenAI models, the heuristic for the others)
and priced by the same catalog and overrides as the spans. Nothing is sent to
the provider.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from otel_tokenomics.cost import STATUS_ESTIMATED, STATUS_UNPRICED, get_pricer
from otel_tokenomics.estimation.call_usage import count_input
from otel_tokenomics.estimation.counting import count_prompt
from otel_tokenomics.estimation.prompt import Prompt
from otel_tokenomics.spend import CURRENCY
from otel_tokenomics.usage import Usage

if TYPE_CHECKING:
    from otel_tokenomics.call import Route
    from otel_tokenomics.pricing.compute import Cost

# How long estimate() waits for a tokenizer that is still loading: the caller asked
# for a number, not for a call to go out fast; a load that fails gives the heuristic.
DEFAULT_TIMEOUT = 10.0


class CostBreakdown:
    """Amounts in ``currency`` by token class, for a given number of output tokens."""

    __slots__ = ("cache_read", "cache_write", "currency", "input", "output", "output_tokens", "total")

    def __init__(
        self,
        input: float,
        cache_read: float,
        cache_write: float,
        output: float,
        total: float,
        currency: str,
        output_tokens: int,
    ) -> None:
        self.input = input
        self.cache_read = cache_read
        self.cache_write = cache_write
        self.output = output
        self.total = total
        self.currency = currency
        self.output_tokens = output_tokens

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}

    def __repr__(self) -> str:
        return f"CostBreakdown(total={self.total!r} {self.currency}, output_tokens={self.output_tokens})"


class Estimate:
    """What a call would cost: its input tokens, the expected cost and the worst case.

    * ``input_tokens``: the prompt, counted (``source``: ``estimated`` with the model's
      tokenizer, ``heuristic`` without one; ``tokenizer`` names it);
    * ``expected``: the cost with ``expected_output_tokens`` of output (0 unless given);
    * ``worst_case``: the cost with ``max_tokens`` of output, the most the call can cost
      (None without ``max_tokens``);
    * ``status``: ``estimated``, or ``unpriced`` (then both costs are None) for a model
      without a price.
    """

    __slots__ = (
        "expected",
        "input_tokens",
        "max_tokens",
        "model",
        "pricing_model",
        "pricing_version",
        "provider",
        "source",
        "status",
        "tokenizer",
        "worst_case",
    )

    def __init__(self, provider: str, model: str, input_tokens: int, source: str, tokenizer: str) -> None:
        self.provider = provider
        self.model = model
        self.input_tokens = input_tokens
        self.source = source
        self.tokenizer = tokenizer
        self.max_tokens: int | None = None
        self.status = STATUS_UNPRICED
        self.expected: CostBreakdown | None = None
        self.worst_case: CostBreakdown | None = None
        self.pricing_model: str | None = None
        self.pricing_version: str | None = None

    def as_dict(self) -> dict[str, Any]:
        result = {name: getattr(self, name) for name in self.__slots__}
        for name in ("expected", "worst_case"):
            if result[name] is not None:
                result[name] = result[name].as_dict()
        return result

    def __repr__(self) -> str:
        worst = self.worst_case.total if self.worst_case is not None else None
        return (
            f"Estimate({self.provider}/{self.model}: {self.input_tokens} input tokens ({self.source}), "
            f"status={self.status}, worst_case={worst})"
        )


def _anthropic_body(messages: list[Any], system: str | None, tools: list[Any] | None) -> Prompt:
    from otel_tokenomics.providers.anthropic_prompt import messages_prompt

    body: dict[str, Any] = {"messages": messages}
    if system:
        body["system"] = system
    if tools:
        body["tools"] = tools
    return messages_prompt(body)


def _gemini_body(messages: list[Any], system: str | None, tools: list[Any] | None) -> Prompt:
    from otel_tokenomics.providers.gemini_prompt import generate_prompt

    config: dict[str, Any] = {}
    if system:
        config["system_instruction"] = system
    if tools:
        config["tools"] = tools
    return generate_prompt({"contents": messages, "config": config})


def _openai_body(messages: list[Any], system: str | None, tools: list[Any] | None) -> Prompt:
    from otel_tokenomics.providers.openai_prompt import chat_prompt

    if system:
        messages = [{"role": "system", "content": system}, *messages]
    body: dict[str, Any] = {"messages": messages}
    if tools:
        body["tools"] = tools
    return chat_prompt(body)


def read_prompt(
    provider: str,
    messages: Sequence[Any] | str | None,
    system: str | None = None,
    tools: Sequence[Any] | None = None,
) -> Prompt:
    """``messages`` in the format of the provider's SDK, read as that SDK's adapter reads them.

    Anthropic (also on Bedrock and Vertex AI: ``*.anthropic``) takes content blocks and
    a separate ``system``; Google takes ``contents`` and a system instruction; every
    other provider is read in OpenAI's chat format, which plain ``{"role", "content"}``
    dicts also are.
    """
    if isinstance(messages, str):
        messages = [{"role": "user", "content": messages}]
    listed = list(messages or ())
    tool_list = list(tools) if tools else None
    if provider == "anthropic" or provider.endswith(".anthropic"):
        return _anthropic_body(listed, system, tool_list)
    if provider.startswith("gcp."):
        return _gemini_body(listed, system, tool_list)
    return _openai_body(listed, system, tool_list)


def estimate(
    provider: str,
    model: str,
    messages: Sequence[Any] | str | None = None,
    *,
    system: str | None = None,
    tools: Sequence[Any] | None = None,
    max_tokens: int | None = None,
    expected_output_tokens: int | None = None,
    cached_input_tokens: int = 0,
    timeout: float = DEFAULT_TIMEOUT,
) -> Estimate:
    """Count ``messages`` for ``model`` and price the call, without calling the provider.

    ``messages`` is a list in the format of the provider's SDK (OpenAI chat format for
    OpenAI-compatible providers; Anthropic's content blocks; Gemini's contents) or a
    plain string (one user message). ``cached_input_tokens`` of the input are priced
    as cache reads. Raises only ``TypeError``/``ValueError`` for arguments that make
    no sense; an unknown model is ``status="unpriced"``, not an error.
    """
    if not isinstance(provider, str) or not provider:
        raise ValueError("provider must be a gen_ai.provider.name such as 'openai' or 'anthropic'")
    if not isinstance(model, str) or not model:
        raise ValueError("model must be a model id")
    for name, value in (("max_tokens", max_tokens), ("expected_output_tokens", expected_output_tokens)):
        if value is not None and (not isinstance(value, int) or value < 0):
            raise ValueError(f"{name} must be a non-negative int")
    prompt = read_prompt(provider, messages, system, tools)
    counted = count_prompt(prompt, model, provider, wait=timeout)
    result = Estimate(provider, model, counted.tokens, counted.source, counted.tokenizer)
    result.max_tokens = max_tokens
    cached = min(max(cached_input_tokens, 0), counted.tokens)
    now = time.time_ns()
    expected = _price(
        provider, model, counted.tokens, cached, expected_output_tokens or 0, counted.source, now
    )
    if expected is None:
        return result
    result.status = STATUS_ESTIMATED
    result.expected, result.pricing_model, result.pricing_version = expected
    if max_tokens is not None:
        worst = _price(provider, model, counted.tokens, cached, max_tokens, counted.source, now)
        if worst is not None:
            result.worst_case = worst[0]
    return result


def worst_case_of_request(
    route: Route, provider: str, model: str | None, body: Mapping[str, Any], max_tokens: Any
) -> Decimal | None:
    """The most a call about to be sent can cost, in US dollars: what a ``raise`` budget reserves.

    The request is read by its route as an unreported call's is, counted with whatever
    tokenizer is loaded now (never waiting for one), with ``max_tokens`` of output (0 if
    unset). None when the request cannot be read or the model has no price in USD.
    """
    if route.read_prompt is None or not model:
        return None
    counted = count_input(route.read_prompt(body), route.operation, model, provider)
    output = max_tokens if type(max_tokens) is int and max_tokens > 0 else 0
    cost = _cost(provider, model, counted.tokens, 0, output, counted.source, time.time_ns())
    return cost.total if cost is not None and cost.currency == CURRENCY else None


def _cost(
    provider: str, model: str, input_tokens: int, cached: int, output_tokens: int, source: str, now: int
) -> Cost | None:
    usage = Usage(input_tokens, output_tokens, cache_read_tokens=cached, source=source)
    return get_pricer().cost(provider, (model,), usage, now, None)


def _price(
    provider: str, model: str, input_tokens: int, cached: int, output_tokens: int, source: str, now: int
) -> tuple[CostBreakdown, str | None, str | None] | None:
    cost = _cost(provider, model, input_tokens, cached, output_tokens, source, now)
    if cost is None:
        return None
    breakdown = CostBreakdown(
        _money(cost.input),
        _money(cost.cache_read),
        _money(cost.cache_write),
        _money(cost.output),
        _money(cost.total),
        cost.currency,
        output_tokens,
    )
    return breakdown, cost.model, cost.version


def _money(value: Decimal | None) -> float:
    return float(value) if value else 0.0
