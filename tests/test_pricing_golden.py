"""Golden costs: what a call really costs at each provider's published list price.

Every row states the per-million-token prices that apply to its request, taken
from the providers' own price pages (not from our catalog), and the exact
total they give. ``test_golden_rows_add_up`` recomputes each total from the
stated prices with the textbook formula, so a slip in the hand arithmetic
cannot pass for a pricing bug, and ``test_golden_cost`` asks the engine.

The formula, in USD per million tokens (input counts cache reads and writes):

    (input - cache_read - cache_write) x input price
    + cache_read x cache-read price
    + cache_write x 5-minute write price (the 1-hour part at the 1-hour price)
    + output x output price

Prices are those of the fixed date ``AT`` (2026-11-01, 12:00 UTC) unless the
row says otherwise. A long-context row states the tier price its request pays
(the tier is a cliff: all tokens of the request pay it).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, NamedTuple

import pytest

from otel_tokenomics.pricing import Pricer
from otel_tokenomics.pricing.overrides import Overrides
from otel_tokenomics.usage import Usage

MILLION = Decimal(1_000_000)


def _ns(year: int, month: int, day: int, hour: int = 12, minute: int = 0) -> int:
    return (
        int(dt.datetime(year, month, day, hour, minute, tzinfo=dt.timezone.utc).timestamp()) * 1_000_000_000
    )


AT = _ns(2026, 11, 1)

# Usage shapes (input includes the cached parts).
PLAIN = {"input_tokens": 100_000, "output_tokens": 5_000}
CACHED = {"input_tokens": 100_000, "cache_read_tokens": 40_000, "output_tokens": 5_000}
# The Sonnet 4.5 reference request: 10k input of which 6k read and 2k written, 500 out.
REFERENCE = {
    "input_tokens": 10_000,
    "cache_read_tokens": 6_000,
    "cache_write_tokens": 2_000,
    "output_tokens": 500,
}
WRITES = {
    "input_tokens": 100_000,
    "cache_read_tokens": 50_000,
    "cache_write_tokens": 10_000,
    "output_tokens": 1_000,
}
TTL_SPLIT = {
    "input_tokens": 100_000,
    "cache_read_tokens": 20_000,
    "cache_write_tokens": 30_000,
    "cache_write_by_ttl": {"5m": 10_000, "1h": 20_000},
    "output_tokens": 2_000,
}
ONE_HOUR_ONLY = {
    "input_tokens": 60_000,
    "cache_write_tokens": 40_000,
    "cache_write_by_ttl": {"1h": 40_000},
    "output_tokens": 1_000,
}
LONG = {"input_tokens": 250_000, "cache_read_tokens": 50_000, "output_tokens": 10_000}
AT_THRESHOLD = {"input_tokens": 200_000, "output_tokens": 1_000}
OVER_128K = {"input_tokens": 150_000, "output_tokens": 1_000}


class Prices(NamedTuple):
    """USD per million tokens that apply to the row's request; None: not published."""

    input: str
    output: str
    cache_read: str | None = None
    cache_write: str | None = None
    cache_write_1h: str | None = None


class Row(NamedTuple):
    provider: str
    model: str
    usage: Mapping[str, Any]
    prices: Prices
    total: str
    at: int = AT
    context: Mapping[str, str] | None = None


BATCH = {"processing": "batch"}

# Sources: the provider's pricing page for each model (openai.com/api/pricing,
# anthropic.com/pricing and its prompt-caching docs, ai.google.dev/gemini-api/docs/pricing,
# aws.amazon.com/bedrock/pricing, mistral.ai/pricing, cohere.com/pricing,
# groq.com/pricing, api-docs.deepseek.com/quick_start/pricing, docs.x.ai models,
# together.ai/pricing, openrouter.ai model pages, Azure OpenAI pricing).
ROWS: dict[str, Row] = {
    # --- OpenAI -------------------------------------------------------------------
    "openai gpt-4o": Row("openai", "gpt-4o", CACHED, Prices("2.50", "10", "1.25"), "0.25"),
    "openai gpt-4o dated snapshot": Row(
        "openai", "gpt-4o-2024-08-06", CACHED, Prices("2.50", "10", "1.25"), "0.25"
    ),
    "openai gpt-4o-2024-05-13": Row("openai", "gpt-4o-2024-05-13", PLAIN, Prices("5", "15"), "0.575"),
    "openai gpt-4o-mini": Row("openai", "gpt-4o-mini", CACHED, Prices("0.15", "0.60", "0.075"), "0.015"),
    "openai gpt-4.1": Row("openai", "gpt-4.1", CACHED, Prices("2", "8", "0.50"), "0.18"),
    "openai gpt-4.1-mini": Row("openai", "gpt-4.1-mini", CACHED, Prices("0.40", "1.60", "0.10"), "0.036"),
    "openai gpt-4.1-nano": Row("openai", "gpt-4.1-nano", CACHED, Prices("0.10", "0.40", "0.025"), "0.009"),
    "openai gpt-5": Row("openai", "gpt-5", CACHED, Prices("1.25", "10", "0.125"), "0.13"),
    "openai gpt-5-mini": Row("openai", "gpt-5-mini", CACHED, Prices("0.25", "2", "0.025"), "0.026"),
    "openai gpt-5-nano": Row("openai", "gpt-5-nano", CACHED, Prices("0.05", "0.40", "0.005"), "0.0052"),
    # Fine-tunes: cached input is half the fine-tune's input price (a correction).
    "openai ft:gpt-4o-mini": Row(
        "openai", "ft:gpt-4o-mini-2024-07-18:acme::abc", CACHED, Prices("0.30", "1.20", "0.15"), "0.03"
    ),
    "openai ft:gpt-4o": Row(
        "openai", "ft:gpt-4o-2024-08-06:acme::abc", CACHED, Prices("3.75", "15", "1.875"), "0.375"
    ),
    # Claude Sonnet 4 above 200k input (1M context): $6/$22.50, read $0.60 (a correction).
    "anthropic claude-sonnet-4 above 200k": Row(
        "anthropic", "claude-sonnet-4-20250514", LONG, Prices("6", "22.50", "0.60"), "1.455"
    ),
    "bedrock in-region claude-sonnet-4-5 above 200k": Row(
        "aws.bedrock",
        "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        LONG,
        Prices("6.6", "24.75", "0.66"),
        "1.6005",
    ),
    "openai o4-mini": Row("openai", "o4-mini", CACHED, Prices("1.10", "4.40", "0.275"), "0.099"),
    "openai o1": Row("openai", "o1", CACHED, Prices("15", "60", "7.50"), "1.5"),
    "openai gpt-3.5-turbo": Row("openai", "gpt-3.5-turbo", PLAIN, Prices("0.50", "1.50"), "0.0575"),
    # o3 launched at $10/$40 (cached $2.50) and was cut to $2/$8 (cached $0.50) on 2025-06-10 UTC.
    "openai o3 before the cut": Row(
        "openai", "o3", CACHED, Prices("10", "40", "2.50"), "0.9", at=_ns(2025, 5, 1)
    ),
    "openai o3 the minute before the cut": Row(
        "openai", "o3", CACHED, Prices("10", "40", "2.50"), "0.9", at=_ns(2025, 6, 9, 23, 59)
    ),
    "openai o3 from the cut": Row(
        "openai", "o3", CACHED, Prices("2", "8", "0.50"), "0.18", at=_ns(2025, 6, 10, 0, 0)
    ),
    "openai o3 now": Row("openai", "o3", CACHED, Prices("2", "8", "0.50"), "0.18"),
    # Service tiers and batch (OpenAI's Flex, Priority and Batch rows).
    "openai o3 flex": Row(
        "openai", "o3", CACHED, Prices("1", "4", "0.25"), "0.09", context={"service_tier": "flex"}
    ),
    "openai o3 priority": Row(
        "openai", "o3", CACHED, Prices("3.50", "14", "0.875"), "0.315", context={"service_tier": "priority"}
    ),
    "openai gpt-5 flex": Row(
        "openai", "gpt-5", CACHED, Prices("0.625", "5", "0.0625"), "0.065", context={"service_tier": "flex"}
    ),
    "openai gpt-5 priority": Row(
        "openai", "gpt-5", CACHED, Prices("2.50", "20", "0.25"), "0.26", context={"service_tier": "priority"}
    ),
    "openai gpt-4o priority": Row(
        "openai",
        "gpt-4o",
        CACHED,
        Prices("4.25", "17", "2.125"),
        "0.425",
        context={"service_tier": "priority"},
    ),
    "openai gpt-5 batch": Row(
        "openai", "gpt-5", CACHED, Prices("0.625", "5", "0.0625"), "0.065", context=BATCH
    ),
    "openai gpt-4.1 batch": Row("openai", "gpt-4.1", PLAIN, Prices("1", "4"), "0.12", context=BATCH),
    # Batch is 50% off at any date, also where the source lists no batch row yet.
    "openai gpt-4o batch in 2025": Row(
        "openai", "gpt-4o", PLAIN, Prices("1.25", "5"), "0.15", at=_ns(2025, 6, 1), context=BATCH
    ),
    # --- Anthropic: 5m write = 1.25x input, 1h write = 2x, read = 0.1x ---------------
    "anthropic sonnet 4.5 reference": Row(
        "anthropic", "claude-sonnet-4-5", REFERENCE, Prices("3", "15", "0.30", "3.75", "6"), "0.0228"
    ),
    "anthropic sonnet 4.5 5m and 1h writes": Row(
        "anthropic", "claude-sonnet-4-5-20250929", TTL_SPLIT, Prices("3", "15", "0.30", "3.75", "6"), "0.3435"
    ),
    "anthropic haiku 4.5 1h writes": Row(
        "anthropic", "claude-haiku-4-5", ONE_HOUR_ONLY, Prices("1", "5", "0.10", "1.25", "2"), "0.105"
    ),
    "anthropic opus 4.1": Row(
        "anthropic", "claude-opus-4-1-20250805", WRITES, Prices("15", "75", "1.50", "18.75", "30"), "0.9375"
    ),
    "anthropic opus 4.5": Row(
        "anthropic", "claude-opus-4-5", CACHED, Prices("5", "25", "0.50", "6.25", "10"), "0.445"
    ),
    "anthropic haiku 3.5": Row(
        "anthropic", "claude-3-5-haiku-20241022", CACHED, Prices("0.80", "4", "0.08", "1", "1.6"), "0.0712"
    ),
    "anthropic haiku 3": Row(
        "anthropic", "claude-3-haiku-20240307", PLAIN, Prices("0.25", "1.25"), "0.03125"
    ),
    "anthropic sonnet 3.7": Row(
        "anthropic", "claude-3-7-sonnet-20250219", CACHED, Prices("3", "15", "0.30", "3.75", "6"), "0.267"
    ),
    # Sonnet 4.5 above 200k input: $6/$22.50, cache read $0.60, for the whole request.
    "anthropic sonnet 4.5 long context": Row(
        "anthropic", "claude-sonnet-4-5", LONG, Prices("6", "22.50", "0.60", "7.50", "12"), "1.455"
    ),
    "anthropic sonnet 4.5 at 200k exactly": Row(
        "anthropic", "claude-sonnet-4-5", AT_THRESHOLD, Prices("3", "15", "0.30", "3.75", "6"), "0.615"
    ),
    "anthropic opus 4.1 batch": Row(
        "anthropic",
        "claude-opus-4-1",
        WRITES,
        Prices("7.50", "37.50", "0.75", "9.375", "15"),
        "0.46875",
        context=BATCH,
    ),
    "anthropic sonnet 4.5 batch": Row(
        "anthropic",
        "claude-sonnet-4-5",
        REFERENCE,
        Prices("1.50", "7.50", "0.15", "1.875", "3"),
        "0.0114",
        context=BATCH,
    ),
    # --- Google: Gemini API and Vertex AI -------------------------------------------
    # gemini-2.5-pro: $1.25/$10 (cached $0.125) up to 200k input, $2.50/$15 (cached $0.25) above.
    "gemini 2.5 pro below 200k": Row(
        "gcp.gen_ai",
        "gemini-2.5-pro",
        {"input_tokens": 150_000, "cache_read_tokens": 50_000, "output_tokens": 10_000},
        Prices("1.25", "10", "0.125"),
        "0.23125",
    ),
    "gemini 2.5 pro above 200k": Row(
        "gcp.gen_ai", "gemini-2.5-pro", LONG, Prices("2.50", "15", "0.25"), "0.6625"
    ),
    "gemini 2.5 pro models/ at 200k exactly": Row(
        "gcp.gen_ai", "models/gemini-2.5-pro", AT_THRESHOLD, Prices("1.25", "10"), "0.26"
    ),
    "gemini 2.5 pro batch": Row(
        "gcp.gen_ai",
        "gemini-2.5-pro",
        {"input_tokens": 100_000, "output_tokens": 10_000},
        Prices("0.625", "5"),
        "0.1125",
        context=BATCH,
    ),
    "gemini 2.5 flash": Row("gcp.gen_ai", "gemini-2.5-flash", PLAIN, Prices("0.30", "2.50"), "0.0425"),
    "vertex gemini 2.5 flash publisher path": Row(
        "gcp.vertex_ai", "publishers/google/models/gemini-2.5-flash", PLAIN, Prices("0.30", "2.50"), "0.0425"
    ),
    "vertex gemini 2.5 pro resource name": Row(
        "gcp.vertex_ai",
        "projects/acme/locations/us-central1/publishers/google/models/gemini-2.5-pro",
        LONG,
        Prices("2.50", "15", "0.25"),
        "0.6625",
    ),
    "gemini 2.5 flash-lite": Row(
        "gcp.gen_ai", "gemini-2.5-flash-lite", PLAIN, Prices("0.10", "0.40"), "0.012"
    ),
    "gemini 2.0 flash": Row(
        "gcp.gen_ai", "gemini-2.0-flash", CACHED, Prices("0.10", "0.40", "0.025"), "0.009"
    ),
    "vertex gemini 2.0 flash 001": Row(
        "gcp.vertex_ai", "gemini-2.0-flash-001", CACHED, Prices("0.10", "0.40", "0.025"), "0.009"
    ),
    # gemini-1.5-flash above 128k input: $0.15/$0.60 (instead of $0.075/$0.30).
    "gemini 1.5 flash above 128k": Row(
        "gcp.gen_ai", "gemini-1.5-flash", OVER_128K, Prices("0.15", "0.60"), "0.0231"
    ),
    "vertex claude sonnet 4.5 @version": Row(
        "gcp.vertex_ai",
        "claude-sonnet-4-5@20250929",
        REFERENCE,
        Prices("3", "15", "0.30", "3.75", "6"),
        "0.0228",
    ),
    # --- AWS Bedrock: in-region and geo Claude 4.5 ids cost 1.1x the global. id -------
    "bedrock global sonnet 4.5": Row(
        "aws.bedrock",
        "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
        REFERENCE,
        Prices("3", "15", "0.30", "3.75", "6"),
        "0.0228",
    ),
    "bedrock us. sonnet 4.5": Row(
        "aws.bedrock",
        "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        REFERENCE,
        Prices("3.30", "16.50", "0.33", "4.125", "6.60"),
        "0.02508",
    ),
    "bedrock bare anthropic. sonnet 4.5": Row(
        "aws.bedrock",
        "anthropic.claude-sonnet-4-5-20250929-v1:0",
        REFERENCE,
        Prices("3.30", "16.50", "0.33", "4.125", "6.60"),
        "0.02508",
    ),
    "bedrock inference profile ARN": Row(
        "aws.bedrock",
        "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        REFERENCE,
        Prices("3.30", "16.50", "0.33", "4.125", "6.60"),
        "0.02508",
    ),
    "bedrock global inference profile ARN": Row(
        "aws.bedrock",
        "arn:aws:bedrock:us-east-1:123456789012:inference-profile/global.anthropic.claude-sonnet-4-5-20250929-v1:0",
        REFERENCE,
        Prices("3", "15", "0.30", "3.75", "6"),
        "0.0228",
    ),
    "bedrock foundation model ARN": Row(
        "aws.bedrock",
        "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0",
        PLAIN,
        Prices("0.25", "1.25"),
        "0.03125",
    ),
    # Claude Sonnet 4 kept one price in and out of region.
    "bedrock us. sonnet 4": Row(
        "aws.bedrock",
        "us.anthropic.claude-sonnet-4-20250514-v1:0",
        CACHED,
        Prices("3", "15", "0.30"),
        "0.267",
    ),
    "bedrock nova pro": Row("aws.bedrock", "amazon.nova-pro-v1:0", PLAIN, Prices("0.80", "3.20"), "0.096"),
    "bedrock nova micro": Row(
        "aws.bedrock", "amazon.nova-micro-v1:0", PLAIN, Prices("0.035", "0.14"), "0.0042"
    ),
    "bedrock llama 3.1 70b": Row(
        "aws.bedrock", "meta.llama3-1-70b-instruct-v1:0", PLAIN, Prices("0.72", "0.72"), "0.0756"
    ),
    # --- Azure OpenAI (global deployments: OpenAI's prices) ------------------------------
    "azure gpt-4o": Row("azure.ai.openai", "gpt-4o", CACHED, Prices("2.50", "10", "1.25"), "0.25"),
    "azure gpt-4o-mini": Row(
        "azure.ai.openai", "gpt-4o-mini", CACHED, Prices("0.15", "0.60", "0.075"), "0.015"
    ),
    "azure o3-mini": Row("azure.ai.openai", "o3-mini", CACHED, Prices("1.10", "4.40", "0.55"), "0.11"),
    "azure phi-4": Row("azure.ai.openai", "phi-4", PLAIN, Prices("0.125", "0.50"), "0.015"),
    # --- Mistral ---------------------------------------------------------------------
    # Corrections: -latest serves Mistral Large 3 ($0.5/$1.5, cached $0.05) and Codestral 2508 (cached $0.03).
    "mistral large latest": Row(
        "mistral_ai", "mistral-large-latest", CACHED, Prices("0.50", "1.50", "0.05"), "0.0395"
    ),
    "mistral codestral latest": Row(
        "mistral_ai", "codestral-latest", CACHED, Prices("0.30", "0.90", "0.03"), "0.0237"
    ),
    "mistral large 2411": Row("mistral_ai", "mistral-large-2411", PLAIN, Prices("2", "6"), "0.23"),
    "mistral small latest in 2025": Row(
        "mistral_ai", "mistral-small-latest", PLAIN, Prices("0.10", "0.30"), "0.0115", at=_ns(2025, 6, 1)
    ),
    "mistral medium latest in 2025": Row(
        "mistral_ai", "mistral-medium-latest", PLAIN, Prices("0.40", "2"), "0.05", at=_ns(2025, 6, 1)
    ),
    "mistral nemo": Row("mistral_ai", "open-mistral-nemo", PLAIN, Prices("0.15", "0.15"), "0.01575"),
    "mistral magistral medium": Row(
        "mistral_ai", "magistral-medium-latest", PLAIN, Prices("2", "5"), "0.225"
    ),
    # --- Cohere ------------------------------------------------------------------------
    "cohere command-r-plus 08-2024": Row(
        "cohere", "command-r-plus-08-2024", PLAIN, Prices("2.50", "10"), "0.3"
    ),
    "cohere command-r 08-2024": Row("cohere", "command-r-08-2024", PLAIN, Prices("0.15", "0.60"), "0.018"),
    "cohere command-a": Row("cohere", "command-a-03-2025", PLAIN, Prices("2.50", "10"), "0.3"),
    "cohere command-r7b": Row("cohere", "command-r7b-12-2024", PLAIN, Prices("0.0375", "0.15"), "0.0045"),
    # --- Groq --------------------------------------------------------------------------
    "groq llama 3.3 70b": Row("groq", "llama-3.3-70b-versatile", PLAIN, Prices("0.59", "0.79"), "0.06295"),
    "groq llama 3.1 8b": Row("groq", "llama-3.1-8b-instant", PLAIN, Prices("0.05", "0.08"), "0.0054"),
    "groq gemma2 9b": Row("groq", "gemma2-9b-it", PLAIN, Prices("0.20", "0.20"), "0.021"),
    "groq llama 4 scout": Row(
        "groq", "meta-llama/llama-4-scout-17b-16e-instruct", PLAIN, Prices("0.11", "0.34"), "0.0127"
    ),
    "groq gpt-oss-120b": Row("groq", "openai/gpt-oss-120b", PLAIN, Prices("0.15", "0.60"), "0.018"),
    # --- DeepSeek ------------------------------------------------------------------------
    # V3: $0.27 miss / $0.07 hit / $1.10 out, 50% off 16:30-00:30 UTC; R1: $0.55/$0.14/$2.19, 75% off.
    # From 2025-09-05 (V3.2, correction) both: $0.28 miss / $0.028 hit / $0.42 out, no off-peak.
    "deepseek chat V3 daytime": Row(
        "deepseek", "deepseek-chat", CACHED, Prices("0.27", "1.10", "0.07"), "0.0245", at=_ns(2025, 6, 1, 12)
    ),
    "deepseek chat V3 off-peak": Row(
        "deepseek",
        "deepseek-chat",
        CACHED,
        Prices("0.135", "0.55", "0.035"),
        "0.01225",
        at=_ns(2025, 6, 1, 20),
    ),
    "deepseek chat the day before V3.2": Row(
        "deepseek", "deepseek-chat", CACHED, Prices("0.27", "1.10", "0.07"), "0.0245", at=_ns(2025, 9, 4, 12)
    ),
    "deepseek chat V3.2": Row(
        "deepseek",
        "deepseek-chat",
        CACHED,
        Prices("0.28", "0.42", "0.028"),
        "0.02002",
        at=_ns(2025, 9, 5, 12),
    ),
    "deepseek chat V3.2 at night": Row(
        "deepseek",
        "deepseek-chat",
        CACHED,
        Prices("0.28", "0.42", "0.028"),
        "0.02002",
        at=_ns(2026, 11, 1, 20),
    ),
    "deepseek reasoner R1 daytime": Row(
        "deepseek",
        "deepseek-reasoner",
        CACHED,
        Prices("0.55", "2.19", "0.14"),
        "0.04955",
        at=_ns(2025, 6, 1, 12),
    ),
    "deepseek reasoner V3.2": Row(
        "deepseek", "deepseek-reasoner", CACHED, Prices("0.28", "0.42", "0.028"), "0.02002"
    ),
    # --- xAI -----------------------------------------------------------------------------
    "xai grok-4": Row("x_ai", "grok-4", CACHED, Prices("3", "15", "0.75"), "0.285"),
    # Above 128k input Grok 4 doubles input and output (a correction: the source has no tier).
    "xai grok-4 above 128k": Row("x_ai", "grok-4-0709", OVER_128K, Prices("6", "30"), "0.93"),
    "xai grok-3": Row("x_ai", "grok-3", CACHED, Prices("3", "15", "0.75"), "0.285"),
    "xai grok-3-mini": Row("x_ai", "grok-3-mini", CACHED, Prices("0.30", "0.50", "0.075"), "0.0235"),
    "xai grok-code-fast-1": Row("x_ai", "grok-code-fast-1", CACHED, Prices("0.20", "1.50", "0.02"), "0.0203"),
    "xai grok-4-fast-reasoning": Row(
        "x_ai", "grok-4-fast-reasoning", CACHED, Prices("0.20", "0.50", "0.05"), "0.0165"
    ),
    # --- Together ------------------------------------------------------------------------
    "together llama 3.3 70b turbo": Row(
        "together_ai", "meta-llama/Llama-3.3-70B-Instruct-Turbo", PLAIN, Prices("0.88", "0.88"), "0.0924"
    ),
    "together llama 3.1 8b turbo": Row(
        "together_ai", "meta-llama/Meta-Llama-3.1-8B-Instruct-Turbo", PLAIN, Prices("0.18", "0.18"), "0.0189"
    ),
    "together llama 3.1 405b turbo": Row(
        "together_ai",
        "meta-llama/Meta-Llama-3.1-405B-Instruct-Turbo",
        PLAIN,
        Prices("3.50", "3.50"),
        "0.3675",
    ),
    "together llama 4 maverick": Row(
        "together_ai",
        "meta-llama/Llama-4-Maverick-17B-128E-Instruct-FP8",
        PLAIN,
        Prices("0.27", "0.85"),
        "0.03125",
    ),
    "together gpt-oss-120b": Row(
        "together_ai", "openai/gpt-oss-120b", PLAIN, Prices("0.15", "0.60"), "0.018"
    ),
    # --- OpenRouter (passes the makers' prices through) -------------------------------------
    "openrouter gpt-4o": Row("openrouter", "openai/gpt-4o", CACHED, Prices("2.50", "10", "1.25"), "0.25"),
    "openrouter gpt-4o-mini": Row(
        "openrouter", "openai/gpt-4o-mini", CACHED, Prices("0.15", "0.60", "0.075"), "0.015"
    ),
    "openrouter claude sonnet 4.5": Row(
        "openrouter", "anthropic/claude-sonnet-4.5", REFERENCE, Prices("3", "15", "0.30", "3.75"), "0.0228"
    ),
    "openrouter claude 3.5 sonnet": Row(
        "openrouter", "anthropic/claude-3.5-sonnet", PLAIN, Prices("3", "15"), "0.375"
    ),
    "openrouter gemini 2.5 flash": Row(
        "openrouter", "google/gemini-2.5-flash", PLAIN, Prices("0.30", "2.50"), "0.0425"
    ),
    "openrouter grok-3": Row("openrouter", "x-ai/grok-3", CACHED, Prices("3", "15", "0.75"), "0.285"),
}

# The providers the golden rows must span (gen_ai.provider.name values).
REQUIRED_PROVIDERS = {
    "openai",
    "anthropic",
    "gcp.gen_ai",
    "gcp.vertex_ai",
    "aws.bedrock",
    "azure.ai.openai",
    "mistral_ai",
    "cohere",
    "groq",
    "deepseek",
    "x_ai",
    "together_ai",
    "openrouter",
}


def _usage(counts: Mapping[str, Any]) -> Usage:
    return Usage(**counts)


def _expected_classes(row: Row) -> dict[str, Decimal]:
    """The textbook formula on the row's stated prices: an oracle independent of the engine."""
    usage, prices = row.usage, row.prices
    input_price = Decimal(prices.input)
    read_price = Decimal(prices.cache_read) if prices.cache_read is not None else input_price
    write_price = Decimal(prices.cache_write) if prices.cache_write is not None else input_price
    hour_price = Decimal(prices.cache_write_1h) if prices.cache_write_1h is not None else write_price
    read = usage.get("cache_read_tokens", 0)
    write = usage.get("cache_write_tokens", 0)
    hour = (usage.get("cache_write_by_ttl") or {}).get("1h", 0)
    uncached = usage["input_tokens"] - read - write
    return {
        "input": uncached * input_price / MILLION,
        "cache_read": read * read_price / MILLION,
        "cache_write": ((write - hour) * write_price + hour * hour_price) / MILLION,
        "output": usage["output_tokens"] * Decimal(prices.output) / MILLION,
    }


@pytest.fixture(scope="module")
def pricer() -> Pricer:
    return Pricer()


def test_golden_rows_cover_the_brief() -> None:
    assert len({(row.provider, row.model) for row in ROWS.values()}) >= 30
    assert {row.provider for row in ROWS.values()} >= REQUIRED_PROVIDERS


@pytest.mark.parametrize("name", ROWS)
def test_golden_rows_add_up(name: str) -> None:
    row = ROWS[name]
    assert sum(_expected_classes(row).values()) == Decimal(row.total)


@pytest.mark.parametrize("name", ROWS)
def test_golden_cost(pricer: Pricer, name: str) -> None:
    row = ROWS[name]
    cost = pricer.cost(row.provider, (row.model,), _usage(row.usage), row.at, row.context)
    assert cost is not None, f"{row.provider}/{row.model} is not priced"
    assert cost.total == Decimal(row.total), (cost, row.prices)
    classes = _expected_classes(row)
    assert (cost.input, cost.cache_read, cost.cache_write, cost.output) == (
        classes["input"],
        classes["cache_read"],
        classes["cache_write"],
        classes["output"],
    ), cost


def test_reference_case_parts_and_savings(pricer: Pricer) -> None:
    cost = pricer.cost("anthropic", ("claude-sonnet-4-5",), _usage(REFERENCE), AT)
    assert cost is not None
    # 2k uncached x $3 + 6k read x $0.30 + 2k written x $3.75 + 500 out x $15.
    assert cost.total == Decimal("0.0228")
    assert (cost.input, cost.cache_read, cost.cache_write, cost.output) == (
        Decimal("0.006"),
        Decimal("0.0018"),
        Decimal("0.0075"),
        Decimal("0.0075"),
    )
    # The 8k cached tokens would have cost $0.024 uncached; they cost $0.0093.
    assert cost.cache_savings == Decimal("0.0147")
    assert cost.model == "claude-sonnet-4-5"


def test_the_same_model_under_every_spelling_is_one_entry(pricer: Pricer) -> None:
    spellings = [
        ("anthropic", "claude-sonnet-4-5"),
        ("anthropic", "claude-sonnet-4-5-20250929"),
        ("gcp.vertex_ai", "claude-sonnet-4-5@20250929"),
        ("openrouter", "anthropic/claude-sonnet-4.5"),
        ("aws.bedrock", "global.anthropic.claude-sonnet-4-5-20250929-v1:0"),
    ]
    for provider, model in spellings:
        cost = pricer.cost(provider, (model,), _usage(REFERENCE), AT)
        assert cost is not None and cost.total == Decimal("0.0228"), (provider, model, cost)


def test_bedrock_in_region_is_ten_percent_over_global(pricer: Pricer) -> None:
    usage = _usage(TTL_SPLIT)
    glob = pricer.cost("aws.bedrock", ("global.anthropic.claude-sonnet-4-5-20250929-v1:0",), usage, AT)
    for model in (
        "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "eu.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "anthropic.claude-sonnet-4-5-20250929-v1:0",
        "arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.anthropic.claude-sonnet-4-5-20250929-v1:0",
    ):
        regional = pricer.cost("aws.bedrock", (model,), usage, AT)
        assert glob is not None and regional is not None
        assert regional.total == glob.total * Decimal("1.1"), model


def test_response_model_is_tried_before_request_model(pricer: Pricer) -> None:
    # The response's dated snapshot first; the request's alias only when it is unknown.
    usage = _usage(PLAIN)
    cost = pricer.cost("openai", ("gpt-4o-2024-05-13", "gpt-4o"), usage, AT)
    assert cost is not None and cost.total == Decimal("0.575")
    cost = pricer.cost("openai", ("no-such-snapshot-2031-01-01", "gpt-4o"), usage, AT)
    assert cost is not None and cost.total == Decimal("0.3")


def test_unknown_model_is_not_priced(pricer: Pricer) -> None:
    assert pricer.cost("openai", ("no-such-model-anywhere",), _usage(PLAIN), AT) is None
    assert pricer.cost("no-such-provider", ("gpt-4o",), _usage(PLAIN), AT) is None
    assert pricer.cost("openai", (None,), _usage(PLAIN), AT) is None


# --- the user's own prices -------------------------------------------------------------

FINE_TUNE = "ft:gpt-4o-mini-2024-07-18:acme::abc"


def _overridden() -> Pricer:
    overrides = Overrides.from_mapping(
        {
            "models": [
                # OpenAI's fine-tuned gpt-4o-mini: $0.30 in, $0.15 cached, $1.20 out.
                {
                    "provider": "openai",
                    "id": FINE_TUNE,
                    "input": "0.30",
                    "cache_read": "0.15",
                    "output": "1.20",
                },
                # Other fine-tunes of the org: the base model's prices with input and output replaced.
                {
                    "provider": "openai",
                    "id": "ft:gpt-4o-mini-2024-07-18:acme::*",
                    "base": "gpt-4o-mini",
                    "input": "0.30",
                    "output": "1.20",
                },
            ],
            # A negotiated 20% discount on everything Anthropic.
            "multipliers": [{"provider": "anthropic", "factor": "0.8"}],
        }
    )
    pricer = Pricer(overrides=overrides)
    overrides.check(pricer)
    return pricer


def test_override_prices_a_fine_tune_explicitly() -> None:
    cost = _overridden().cost("openai", (FINE_TUNE,), _usage(CACHED), AT)
    assert cost is not None
    # 60k x $0.30 + 40k x $0.15 + 5k x $1.20
    assert cost.total == Decimal("0.03")
    assert (cost.source, cost.model) == ("override", FINE_TUNE)


def test_override_prices_a_fine_tune_from_its_base() -> None:
    cost = _overridden().cost("openai", ("ft:gpt-4o-mini-2024-07-18:acme::other",), _usage(CACHED), AT)
    assert cost is not None
    # 60k x $0.30 + 40k x $0.075 (gpt-4o-mini's cached price, inherited) + 5k x $1.20
    assert cost.total == Decimal("0.027")
    assert cost.source == "override"


def test_override_multiplier_discounts_a_provider() -> None:
    pricer = _overridden()
    cost = pricer.cost("anthropic", ("claude-sonnet-4-5",), _usage(REFERENCE), AT)
    assert cost is not None
    assert cost.total == Decimal("0.0228") * Decimal("0.8") == Decimal("0.01824")
    # The discount applies on top of the batch price: 0.0228 x 0.5 x 0.8.
    batch = pricer.cost("anthropic", ("claude-sonnet-4-5",), _usage(REFERENCE), AT, BATCH)
    assert batch is not None and batch.total == Decimal("0.00912")
    # Other providers are untouched.
    other = pricer.cost("openai", ("gpt-4o",), _usage(CACHED), AT)
    assert other is not None and other.total == Decimal("0.25")


def test_a_damaged_catalog_leaves_calls_unpriced_and_is_read_once(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    from otel_tokenomics.pricing import catalog as catalog_module

    broken = tmp_path / "catalog.jsonl"
    broken.write_text('{"format": 2, "version": ')
    monkeypatch.setattr(catalog_module, "CATALOG_FILE", str(broken))
    monkeypatch.setattr(catalog_module, "_catalog", None)
    reads = []
    real_open = open

    def counting_open(path: Any, *args: Any, **kwargs: Any) -> Any:
        if str(path) == str(broken):
            reads.append(path)
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr("builtins.open", counting_open)
    pricer = Pricer()
    for _ in range(3):
        assert pricer.cost("openai", ("gpt-4o",), _usage(PLAIN), AT) is None
    assert len(reads) == 1
    assert pricer.catalog.version == "unavailable"
    assert sum("could not read its price catalog" in r.getMessage() for r in caplog.records) == 1


def test_audio_tokens_pay_the_audio_price(pricer: Pricer) -> None:
    # gpt-4o-audio-preview: text $2.50 / $10, audio $40 in / $80 out (a correction:
    # the source has text prices only). 1,000 input of which 600 audio; 500 output
    # of which 400 audio.
    usage = Usage(input_tokens=1_000, output_tokens=500, audio_input_tokens=600, audio_output_tokens=400)
    cost = pricer.cost("openai", ("gpt-4o-audio-preview-2025-06-03",), usage, AT)
    assert cost is not None
    assert cost.input == Decimal("0.001") + Decimal("0.024")  # 400 text x 2.5 + 600 audio x 40
    assert cost.output == Decimal("0.001") + Decimal("0.032")  # 100 text x 10 + 400 audio x 80
    assert cost.total == Decimal("0.058")
    # The first snapshot billed audio at $100 / $200.
    first = pricer.cost("openai", ("gpt-4o-audio-preview-2024-10-01",), usage, AT)
    assert first is not None and first.total == Decimal("0.001") + Decimal("0.06") + Decimal(
        "0.001"
    ) + Decimal("0.08")


@pytest.mark.parametrize(
    ("provider", "model", "usage", "total"),
    [
        # Bedrock Cohere Command R+ $3 / $15, Command R $0.50 / $1.50, Embed v3 $0.10 (additions).
        ("aws.bedrock", "cohere.command-r-plus-v1:0", PLAIN, "0.375"),
        ("aws.bedrock", "cohere.command-r-v1:0", PLAIN, "0.0575"),
        ("aws.bedrock", "cohere.embed-multilingual-v3", {"input_tokens": 100_000}, "0.01"),
        # Cohere's own Embed v3 at $0.10 per million input tokens (an addition).
        ("cohere", "embed-english-v3.0", {"input_tokens": 100_000}, "0.01"),
    ],
)
def test_models_the_source_lacks(
    pricer: Pricer, provider: str, model: str, usage: Mapping[str, Any], total: str
) -> None:
    cost = pricer.cost(provider, (model,), _usage(usage), AT)
    assert cost is not None and cost.total == Decimal(total)


def test_a_gateway_model_missing_from_its_list_is_priced_at_the_makers_price(pricer: Pricer) -> None:
    # OpenRouter passes the maker's price through; its list has no plain x-ai/grok-4,
    # so xAI's Grok 4 price applies: $3 / $15, cached $0.75.
    cost = pricer.cost("openrouter", ("x-ai/grok-4",), _usage(CACHED), AT)
    assert cost is not None
    assert (cost.model, cost.total) == ("grok-4-0709", Decimal("0.285"))
    # A maker the gateway table does not name stays unpriced rather than guessed.
    assert pricer.cost("openrouter", ("some-lab/some-model",), _usage(CACHED), AT) is None


def test_an_audio_price_added_over_a_base_model_is_applied() -> None:
    # gpt-4o has no audio price in the catalog; an override adds one ($40 per million)
    # on top of the base model's text prices ($2.50 / $10).
    overrides = Overrides.from_mapping(
        {"models": [{"id": "my-voice", "base": "gpt-4o", "input_audio": "40"}]}
    )
    pricer = Pricer(overrides=overrides)
    usage = Usage(input_tokens=1_000, output_tokens=100, audio_input_tokens=600)
    cost = pricer.cost("openai", ("my-voice",), usage, AT)
    assert cost is not None
    assert cost.input == Decimal("0.025")  # 400 text x 2.5 + 600 audio x 40
    assert cost.total == Decimal("0.026")
