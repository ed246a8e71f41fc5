"""Which provider stands behind an OpenAI-compatible ``base_url``.

The same SDK talks to OpenAI, Azure, DeepSeek, xAI, Groq, a local vLLM and many
more; ``gen_ai.provider.name`` (and with it the price) depends on the host. The
table below is documented in the README; users extend or override it with the
``provider_map`` option or ``OTEL_TOKENOMICS_PROVIDER_MAP``.
"""

from __future__ import annotations

from collections.abc import Mapping

# (host suffix, provider). A suffix matches the host itself or any subdomain of it.
HOST_PROVIDERS: tuple[tuple[str, str], ...] = (
    ("api.openai.com", "openai"),
    ("openai.azure.com", "azure.ai.openai"),
    ("cognitiveservices.azure.com", "azure.ai.openai"),
    ("services.ai.azure.com", "azure.ai.inference"),
    ("models.inference.ai.azure.com", "azure.ai.inference"),
    ("models.github.ai", "azure.ai.inference"),
    ("api.deepseek.com", "deepseek"),
    ("api.x.ai", "x_ai"),
    ("api.groq.com", "groq"),
    ("api.mistral.ai", "mistral_ai"),
    ("openrouter.ai", "openrouter"),
    ("api.together.xyz", "together_ai"),
    ("api.together.ai", "together_ai"),
    ("api.fireworks.ai", "fireworks_ai"),
    ("api.perplexity.ai", "perplexity"),
    ("api.moonshot.ai", "moonshot_ai"),
    ("api.moonshot.cn", "moonshot_ai"),
    ("api.cerebras.ai", "cerebras"),
    ("api.deepinfra.com", "deepinfra"),
    ("generativelanguage.googleapis.com", "gcp.gemini"),
    ("aiplatform.googleapis.com", "gcp.vertex_ai"),
    # Regional Vertex endpoints are "<region>-aiplatform.googleapis.com": a leading
    # "-" marks a suffix matched as written, not at a dot.
    ("-aiplatform.googleapis.com", "gcp.vertex_ai"),
    ("api.cohere.ai", "cohere"),
    ("api.cohere.com", "cohere"),
    ("api.anthropic.com", "anthropic"),
    ("dashscope.aliyuncs.com", "alibaba_cloud"),
    ("dashscope-intl.aliyuncs.com", "alibaba_cloud"),
)

# Well-known local servers, recognised by their default port on a loopback host.
LOCAL_PORT_PROVIDERS: Mapping[int, str] = {
    11434: "ollama",
    1234: "lm_studio",
}
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "0.0.0.0", "host.docker.internal"})

# What an unrecognised host is called: the wire protocol it speaks.
DEFAULT_PROVIDER = "openai"


def provider_for_host(
    host: str, port: int | None, overrides: Mapping[str, str], default: str = DEFAULT_PROVIDER
) -> str:
    """The ``gen_ai.provider.name`` for a request sent to ``host:port``; ``default`` when unknown."""
    host = host.lower()
    if overrides:
        named = provider_from_map(host, port, overrides)
        if named:
            return named
    for suffix, provider in HOST_PROVIDERS:
        if host == suffix or host.endswith(suffix if suffix[0] == "-" else "." + suffix):
            return provider
    if host in LOOPBACK_HOSTS and port in LOCAL_PORT_PROVIDERS:
        return LOCAL_PORT_PROVIDERS[port]
    return default


def provider_from_map(host: str, port: int | None, overrides: Mapping[str, str]) -> str | None:
    """The provider the user's map names for ``host:port`` (then the host, then a parent domain)."""
    if not overrides:
        return None
    host = host.lower()
    if port is not None:
        named = overrides.get(f"{host}:{port}")
        if named:
            return named
    named = overrides.get(host)
    if named:
        return named
    for suffix, provider in overrides.items():
        if ":" not in suffix and host.endswith("." + suffix):
            return provider
    return None


def default_port(scheme: str) -> int:
    return 80 if scheme == "http" else 443
