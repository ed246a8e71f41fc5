"""The ``BaseInstrumentor`` of each SDK, as ``opentelemetry-instrument`` loads them (entry points).

Each class names its entry point; the SDK's adapter module is imported only when the
instrumentor is switched on, so the launcher loads no adapter of an SDK that is not
installed. Switching on and off goes through :mod:`otel_tokenomics.activation`, the
state that ``otel_tokenomics.instrument()`` uses too.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from typing import Any

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]

from otel_tokenomics import activation
from otel_tokenomics.providers import INSTRUMENTORS

logger = logging.getLogger("otel_tokenomics")


class TokenomicsInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Subclasses name their entry point; the adapter it lists does the work.

    ``opentelemetry-instrument`` aborts every instrumentor after one that raises,
    so nothing here raises.
    """

    #: the entry-point name, a key of ``otel_tokenomics.providers.INSTRUMENTORS``
    entry_point: str = ""

    @property
    def adapter(self) -> type[activation.Adapter]:
        return activation.load_adapter(INSTRUMENTORS[self.entry_point][1])

    # BaseInstrumentor keeps this flag per instance; ours is the shared activation state,
    # so otel_tokenomics.instrument() and this class see each other's switches.
    @property  # type: ignore[override]
    def _is_instrumented_by_opentelemetry(self) -> bool:
        try:
            return activation.is_active(self.adapter)
        except Exception:
            return False

    @_is_instrumented_by_opentelemetry.setter
    def _is_instrumented_by_opentelemetry(self, value: bool) -> None:
        """BaseInstrumentor sets the flag after ``_instrument``; the activation state already says."""

    def instrumentation_dependencies(self) -> Collection[str]:
        return (self.adapter.requirement,)

    def instrument(self, **kwargs: Any) -> Any:
        # opentelemetry-instrument checks our distribution's any-of list once and then
        # skips each instrumentor's own check: with anthropic 2.x installed, an openai
        # outside our range would be patched. Check the SDK here, in that path only
        # (instrument() without skip_dep_check has BaseInstrumentor check it).
        if kwargs.get("skip_dep_check"):
            try:
                from otel_tokenomics.sdk_versions import requirement_conflict

                conflict = requirement_conflict(self.adapter.requirement)
            except Exception:
                conflict = None
            if conflict is not None:
                logger.debug("otel-tokenomics does not instrument %s: %s", self.entry_point, conflict)
                return None
        return super().instrument(**kwargs)

    def _instrument(self, **kwargs: Any) -> None:
        try:
            adapter = self.adapter
        except Exception:
            logger.warning("otel-tokenomics has no adapter for %s", self.entry_point, exc_info=True)
            return
        activation.activate(adapter, **kwargs)

    def _uninstrument(self, **kwargs: Any) -> None:
        try:
            activation.deactivate(self.adapter)
        except Exception:
            logger.debug("otel-tokenomics could not switch %s off", self.entry_point, exc_info=True)


class OpenAIInstrumentor(TokenomicsInstrumentor):
    """Traces every call of the official ``openai`` SDK (and OpenAI-compatible endpoints)."""

    entry_point = "tokenomics_openai"


class AnthropicInstrumentor(TokenomicsInstrumentor):
    """Traces the Messages calls of the official ``anthropic`` SDK, Bedrock and Vertex clients included."""

    entry_point = "tokenomics_anthropic"


class GoogleGenAIInstrumentor(TokenomicsInstrumentor):
    """Traces the ``google-genai`` SDK (Gemini API and Vertex AI)."""

    entry_point = "tokenomics_google_genai"


class BedrockInstrumentor(TokenomicsInstrumentor):
    """Traces Bedrock Runtime inference calls of every boto3 / botocore client."""

    entry_point = "tokenomics_bedrock"


class CohereInstrumentor(TokenomicsInstrumentor):
    """Traces the ``cohere`` SDK."""

    entry_point = "tokenomics_cohere"


class MistralInstrumentor(TokenomicsInstrumentor):
    """Traces the ``mistralai`` SDK."""

    entry_point = "tokenomics_mistral"


class GroqInstrumentor(TokenomicsInstrumentor):
    """Traces the chat completions and embeddings of the official ``groq`` SDK."""

    entry_point = "tokenomics_groq"


class OllamaInstrumentor(TokenomicsInstrumentor):
    """Traces the ``ollama`` SDK."""

    entry_point = "tokenomics_ollama"


class LiteLLMInstrumentor(TokenomicsInstrumentor):
    """Traces ``litellm``'s completion and embedding calls."""

    entry_point = "tokenomics_litellm"
