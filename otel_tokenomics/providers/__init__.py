"""One module per SDK. ``INSTRUMENTORS`` lists them for ``otel_tokenomics.instrument()``.

Keep this list and the ``opentelemetry_instrumentor`` entry points in
``pyproject.toml`` in step (a test checks it).
"""

from __future__ import annotations

# entry-point name -> (SDK import name, "module:Class")
INSTRUMENTORS: dict[str, tuple[str, str]] = {
    "tokenomics_openai": ("openai", "otel_tokenomics.providers.openai:OpenAIInstrumentor"),
    "tokenomics_anthropic": ("anthropic", "otel_tokenomics.providers.anthropic:AnthropicInstrumentor"),
    "tokenomics_google_genai": (
        "google.genai",
        "otel_tokenomics.providers.google_genai:GoogleGenAIInstrumentor",
    ),
    "tokenomics_bedrock": ("botocore", "otel_tokenomics.providers.bedrock:BedrockInstrumentor"),
    "tokenomics_cohere": ("cohere", "otel_tokenomics.providers.cohere:CohereInstrumentor"),
    "tokenomics_mistral": ("mistralai", "otel_tokenomics.providers.mistral:MistralInstrumentor"),
    "tokenomics_groq": ("groq", "otel_tokenomics.providers.groq:GroqInstrumentor"),
    "tokenomics_ollama": ("ollama", "otel_tokenomics.providers.ollama:OllamaInstrumentor"),
    "tokenomics_litellm": ("litellm", "otel_tokenomics.providers.litellm:LiteLLMInstrumentor"),
}
