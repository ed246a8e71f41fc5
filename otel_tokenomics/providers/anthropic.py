"""The ``anthropic`` SDK: the Messages API, first-party and through Bedrock and Vertex.

Every Messages call (``create``, ``stream()``, ``parse``, their ``beta`` twins,
``with_raw_response`` / ``with_streaming_response``) posts to ``/v1/messages``
(``/v1/messages?beta=true`` for beta before 2.x) through the Stainless
``request()``; ``AnthropicBedrock`` and ``AnthropicVertex`` rewrite that path and
move ``model`` into it only later, per HTTP attempt (``_prepare_options``), so the
request we see still names the model. ``count_tokens`` and ``messages.batches``
post elsewhere and are not inference calls: no span.

Token model and readers: :mod:`otel_tokenomics.providers.anthropic_messages`.

The SDK's own span (anthropic >= 1.14, on by default when a tracer provider is
set) carries ``gen_ai.usage.*`` too; a backend summing usage over spans would
count every call twice. While one of our calls is open, the SDK's span is folded
into ours: its ``start_api_call_span`` gets a non-recording span holding our
span's context, so it records nothing and its ``traceparent`` names our span.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan

from otel_tokenomics.activation import Adapter
from otel_tokenomics.call import IN_CALL, Route, report_internal_error
from otel_tokenomics.providers.anthropic_messages import (
    BEDROCK,
    input_content,
    read_event,
    read_request,
    read_response,
)
from otel_tokenomics.providers.anthropic_prompt import message_output_text, messages_prompt
from otel_tokenomics.stainless import StainlessInstrumentation
from otel_tokenomics.telemetry import Telemetry

# -- the endpoints ----------------------------------------------------------------------------

_MESSAGES = Route(
    "chat",
    read_request,
    read_response,
    read_event,
    read_input_content=input_content,
    read_prompt=messages_prompt,
    read_output_text=message_output_text,
)
ROUTES: dict[str, Route] = {
    "/v1/messages": _MESSAGES,
    # Beta before 2.x; since, beta posts to /v1/messages with a separate query qualifier.
    "/v1/messages?beta=true": _MESSAGES,
}

# Client classes that name their provider whatever their host (a Bedrock proxy is
# still billed as Bedrock). Newer SDKs say it themselves in _gen_ai_provider_name.
_CLIENT_PROVIDERS = {
    "AnthropicBedrock": BEDROCK,
    "AsyncAnthropicBedrock": BEDROCK,
    "AnthropicBedrockMantle": BEDROCK,
    "AsyncAnthropicBedrockMantle": BEDROCK,
    "AnthropicVertex": "gcp.vertex_ai",
    "AsyncAnthropicVertex": "gcp.vertex_ai",
}


def client_provider(client: Any) -> str | None:
    """The provider a client class implies, or None to let the host decide."""
    cls = type(client)
    named = getattr(cls, "_gen_ai_provider_name", None)
    if isinstance(named, str) and named and named != "anthropic":
        return named
    for base in cls.__mro__:
        provider = _CLIENT_PROVIDERS.get(base.__name__)
        if provider is not None:
            return provider
    return None


# -- the SDK's own span -----------------------------------------------------------------------


def _folding(original: Callable[..., Any]) -> Callable[..., Any]:
    """``start_api_call_span`` that, inside one of our calls, hands the SDK our span's context."""

    def start_api_call_span(*args: Any, **kwargs: Any) -> Any:
        if IN_CALL.get():
            try:
                context = trace.get_current_span().get_span_context()
                if context.is_valid:
                    return NonRecordingSpan(context)
            except Exception:
                report_internal_error("folding the SDK's span")
        return original(*args, **kwargs)

    start_api_call_span.__wrapped__ = original  # type: ignore[attr-defined]
    return start_api_call_span


class AnthropicPatcher:
    """The Stainless patch, and the fold of the SDK's span where the SDK has one."""

    def __init__(self, telemetry: Telemetry) -> None:
        self.stainless = StainlessInstrumentation(
            "anthropic",
            ROUTES,
            telemetry,
            default_provider="anthropic",
            client_provider=client_provider,
        )
        self._folded: tuple[Any, Any, Any] | None = None

    def patch(self) -> None:
        self.stainless.patch()
        base = importlib.import_module("anthropic._base_client")
        original = base.__dict__.get("start_api_call_span")
        if callable(original):  # anthropic < 1.14 has no span of its own
            replacement = _folding(original)
            base.start_api_call_span = replacement
            self._folded = (base, original, replacement)

    def unpatch(self) -> None:
        self.stainless.unpatch()
        folded, self._folded = self._folded, None
        if folded is not None:
            base, original, replacement = folded
            if base.__dict__.get("start_api_call_span") is replacement:
                base.start_api_call_span = original


class AnthropicAdapter(Adapter):
    """Traces the Messages calls of the official ``anthropic`` SDK, Bedrock and Vertex clients included."""

    package = "anthropic"
    requirement = "anthropic >= 1.0.0"
    patch_when_imported = "anthropic"

    @classmethod
    def make_patcher(cls, telemetry: Telemetry) -> AnthropicPatcher:
        return AnthropicPatcher(telemetry)
