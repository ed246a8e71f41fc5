"""The Anthropic Messages wire format, whichever client carried it.

The same ``Message`` / ``usage`` shapes and stream events arrive through the
``anthropic`` SDK (first-party, ``AnthropicBedrock``, ``AnthropicVertex``) and in
the bodies of Bedrock ``InvokeModel`` calls for Claude models, so they are read
here once. Everything takes SDK models and plain dicts alike.

Token model (https://docs.anthropic.com/en/api/messages, "usage"):

* ``input_tokens`` EXCLUDES cache reads (``cache_read_input_tokens``) and cache
  writes (``cache_creation_input_tokens``): semconv input = the three summed;
* cache writes are split by time to live in ``cache_creation``
  (``ephemeral_5m_input_tokens`` / ``ephemeral_1h_input_tokens``), priced apart;
  without the split every write is a 5-minute write;
* ``output_tokens`` INCLUDES thinking (``output_tokens_details.thinking_tokens``);
* ``server_tool_use`` counts billed-per-request server tools (web search, fetch);
* beta ``iterations`` entries of type ``compaction`` are billed but NOT in the
  top-level fields, so they are added to the totals.
"""

from __future__ import annotations

from typing import Any

from otel_tokenomics.usage import Usage, as_fields, count


def message_usage(usage: Any) -> Usage:
    """A ``Usage`` / ``BetaUsage`` / ``MessageDeltaUsage`` (or its dict) in semconv arithmetic."""
    usage = as_fields(usage)
    uncached = count(getattr(usage, "input_tokens", None))
    read = count(getattr(usage, "cache_read_input_tokens", None))
    write = count(getattr(usage, "cache_creation_input_tokens", None))
    output = count(getattr(usage, "output_tokens", None))
    five_minutes, one_hour = _ttl_split(getattr(usage, "cache_creation", None))
    iterations = getattr(usage, "iterations", None)
    if iterations:
        for iteration in iterations:
            iteration = as_fields(iteration)
            if getattr(iteration, "type", None) != "compaction":
                continue
            uncached += count(getattr(iteration, "input_tokens", None))
            read += count(getattr(iteration, "cache_read_input_tokens", None))
            iteration_write = count(getattr(iteration, "cache_creation_input_tokens", None))
            write += iteration_write
            output += count(getattr(iteration, "output_tokens", None))
            extra_5m, extra_1h = _ttl_split(getattr(iteration, "cache_creation", None))
            if extra_5m is None and iteration_write:
                extra_5m, extra_1h = iteration_write, 0
            if extra_5m is not None:
                five_minutes = (five_minutes or 0) + extra_5m
                one_hour = (one_hour or 0) + (extra_1h or 0)
    result = Usage(uncached + read + write, output)
    result.cache_read_tokens = read
    result.cache_write_tokens = write
    if write and (five_minutes or one_hour):
        result.cache_write_by_ttl = {"5m": five_minutes or 0, "1h": one_hour or 0}
    details = as_fields(getattr(usage, "output_tokens_details", None))
    if details is not None:
        result.reasoning_tokens = min(count(getattr(details, "thinking_tokens", None)), output)
    server = as_fields(getattr(usage, "server_tool_use", None))
    if server is not None:
        result.web_search_requests = count(getattr(server, "web_search_requests", None))
        result.web_fetch_requests = count(getattr(server, "web_fetch_requests", None))
    return result


def _ttl_split(cache_creation: Any) -> tuple[int | None, int | None]:
    creation = as_fields(cache_creation)
    if creation is None:
        return None, None
    return (
        count(getattr(creation, "ephemeral_5m_input_tokens", None)),
        count(getattr(creation, "ephemeral_1h_input_tokens", None)),
    )


def merge_stream_usage(start: Usage | None, delta: Any) -> Usage:
    """The usage of a stream after a ``message_delta``: the delta's fields are
    cumulative totals and win where present; fields it omits keep ``message_start``'s.

    ``message_start`` has the final input and cache counts (and the only TTL split)
    with a placeholder ``output_tokens``; never add the two.
    """
    delta = as_fields(delta)
    merged = message_usage(delta)
    if start is None:
        return merged
    if getattr(delta, "input_tokens", None) is None:
        uncached = start.input_tokens - start.cache_read_tokens - start.cache_write_tokens
        merged.input_tokens = max(uncached, 0) + merged.cache_read_tokens + merged.cache_write_tokens
    if getattr(delta, "cache_read_input_tokens", None) is None:
        merged.input_tokens += start.cache_read_tokens
        merged.cache_read_tokens = start.cache_read_tokens
    if getattr(delta, "cache_creation_input_tokens", None) is None:
        merged.input_tokens += start.cache_write_tokens
        merged.cache_write_tokens = start.cache_write_tokens
    if merged.cache_write_by_ttl is None and merged.cache_write_tokens == start.cache_write_tokens:
        merged.cache_write_by_ttl = start.cache_write_by_ttl
    if getattr(delta, "output_tokens_details", None) is None:
        merged.reasoning_tokens = min(start.reasoning_tokens, merged.output_tokens)
    if getattr(delta, "server_tool_use", None) is None:
        merged.web_search_requests = start.web_search_requests
        merged.web_fetch_requests = start.web_fetch_requests
    return merged
