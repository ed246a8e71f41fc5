"""One module per SDK, each declaring its adapter. ``INSTRUMENTORS`` lists them.

``otel_tokenomics.instrument()`` switches the adapters on directly; the entry points
of ``pyproject.toml`` (group ``opentelemetry_instrumentor``) name the
``BaseInstrumentor`` classes of ``otel_tokenomics.instrumentor``, one per key here.
Keep the three in step (a test checks it).
"""

from __future__ import annotations

# entry-point name -> (SDK import name, "module:AdapterClass")
INSTRUMENTORS: dict[str, tuple[str, str]] = {
    "tokenomics_openai": ("openai", "otel_tokenomics.providers.openai:OpenAIAdapter"),
    "tokenomics_anthropic": ("anthropic", "otel_tokenomics.providers.anthropic:AnthropicAdapter"),
    "tokenomics_google_genai": (
        "google.genai",
        "otel_tokenomics.providers.google_genai:GoogleGenAIAdapter",
    ),
    "tokenomics_bedrock": ("botocore", "otel_tokenomics.providers.bedrock:BedrockAdapter"),
    "tokenomics_cohere": ("cohere", "otel_tokenomics.providers.cohere:CohereAdapter"),
    "tokenomics_mistral": ("mistralai", "otel_tokenomics.providers.mistral:MistralAdapter"),
    "tokenomics_groq": ("groq", "otel_tokenomics.providers.groq:GroqAdapter"),
    "tokenomics_ollama": ("ollama", "otel_tokenomics.providers.ollama:OllamaAdapter"),
    "tokenomics_litellm": ("litellm", "otel_tokenomics.providers.litellm:LiteLLMAdapter"),
}
