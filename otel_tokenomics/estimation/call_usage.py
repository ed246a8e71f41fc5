"""The usage of a finished call whose provider did not report it (all of it, or its output).

Runs once, when the call ends, never per chunk: the request is read into a prompt
and counted, the output text gathered during the stream is joined and tokenized
once. Whatever the provider did report is kept; only the missing part is
estimated, and the usage is then marked ``estimated`` (the model's own tokenizer)
or ``heuristic`` (no tokenizer for the model, or its encoding not loaded).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from otel_tokenomics import semconv as sc
from otel_tokenomics.estimation.counting import Count, count_output, count_prompt, count_texts
from otel_tokenomics.usage import SOURCE_ESTIMATED, SOURCE_HEURISTIC, Usage

if TYPE_CHECKING:
    from otel_tokenomics.call import InferenceCall
    from otel_tokenomics.estimation.prompt import Prompt

EMBEDDINGS = "embeddings"


def count_input(prompt: Prompt, operation: str, model: str | None, provider: str) -> Count:
    """Input tokens of a request read into ``prompt``, without waiting for a tokenizer."""
    if prompt.raw or operation == EMBEDDINGS:
        # Embedding inputs and completion prompts are billed as they are: no chat framing.
        return count_texts([text for message in prompt.messages for text in message.texts], model)
    return count_prompt(prompt, model, provider)


def estimate_call_usage(call: InferenceCall) -> None:
    """Complete ``call.usage`` from the request and the output seen; sets the provenance attributes."""
    model = call.response_model or call.request_model
    usage = call.usage
    counts: list[Count] = []
    if usage is None:
        read_prompt = call.route.read_prompt
        if read_prompt is None:
            return
        prompt = read_prompt(call.request_body or {})
        if not prompt.messages and not call.output_text:
            # Nothing to count (a manual call given neither messages nor text): no guess.
            return
        input_count = count_input(prompt, call.operation, model, call.provider)
        counts.append(input_count)
        usage = Usage(input_count.tokens, 0)
    if call.operation != EMBEDDINGS:
        output_count = count_output(call.output_text or (), model)
        counts.append(output_count)
        # A provider's own running count (Anthropic's message_start placeholder) is
        # kept when it says more than the text we saw.
        usage.output_tokens = max(usage.output_tokens, output_count.tokens)
        if usage.reasoning_tokens > usage.output_tokens:
            usage.reasoning_tokens = usage.output_tokens
    heuristic = any(count.source == SOURCE_HEURISTIC for count in counts)
    usage.source = SOURCE_HEURISTIC if heuristic else SOURCE_ESTIMATED
    call.usage = usage
    call.partial_usage = False
    tokenizers = sorted({count.tokenizer for count in counts})
    call.end_attributes[sc.TOKENOMICS_USAGE_TOKENIZER] = (
        tokenizers[0] if len(tokenizers) == 1 else ",".join(tokenizers)
    )
