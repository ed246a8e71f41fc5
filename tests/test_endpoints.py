"""base_url host -> gen_ai.provider.name, with user overrides."""

from __future__ import annotations

import pytest
from openai_fakes import Server, chat_completion

from otel_tokenomics.config import load_options, parse_provider_map
from otel_tokenomics.endpoints import provider_for_host


@pytest.mark.parametrize(
    ("host", "port", "provider"),
    [
        ("api.openai.com", None, "openai"),
        ("myres.openai.azure.com", None, "azure.ai.openai"),
        ("myres.cognitiveservices.azure.com", None, "azure.ai.openai"),
        ("proj.services.ai.azure.com", None, "azure.ai.inference"),
        ("api.deepseek.com", None, "deepseek"),
        ("api.x.ai", None, "x_ai"),
        ("api.groq.com", None, "groq"),
        ("api.mistral.ai", None, "mistral_ai"),
        ("openrouter.ai", None, "openrouter"),
        ("api.together.xyz", None, "together_ai"),
        ("api.fireworks.ai", None, "fireworks_ai"),
        ("api.perplexity.ai", None, "perplexity"),
        ("api.moonshot.ai", None, "moonshot_ai"),
        ("generativelanguage.googleapis.com", None, "gcp.gemini"),
        ("us-central1-aiplatform.googleapis.com", None, "gcp.vertex_ai"),
        ("localhost", 11434, "ollama"),
        ("127.0.0.1", 8000, "openai"),
        ("llm-gateway.internal", None, "openai"),
        ("API.OPENAI.COM", None, "openai"),
        ("evilapi.openai.com.attacker.net", None, "openai"),
        ("notapi.x.ai.example", None, "openai"),
    ],
)
def test_builtin_table(host, port, provider) -> None:
    assert provider_for_host(host, port, {}) == provider


def test_overrides_win_by_host_port_then_host_then_suffix() -> None:
    overrides = parse_provider_map(
        "127.0.0.1:8000=vllm, llm-gateway.internal=openai, corp.example=mistral_ai"
    )
    assert provider_for_host("127.0.0.1", 8000, overrides) == "vllm"
    assert provider_for_host("127.0.0.1", 9000, overrides) == "openai"
    assert provider_for_host("eu.corp.example", None, overrides) == "mistral_ai"
    assert parse_provider_map("broken, =x, y=") == {}


def test_env_and_keyword_overrides(instrument, telemetry, monkeypatch) -> None:
    monkeypatch.setenv("OTEL_TOKENOMICS_PROVIDER_MAP", "gateway.local:8080=vllm")
    assert load_options({"provider_map": {"other.local": "x_ai"}}).provider_map == {
        "gateway.local:8080": "vllm",
        "other.local": "x_ai",
    }
    instrument(provider_map={"api.deepseek.com": "deepseek"})
    server = Server()
    server.json("/chat/completions", chat_completion(model="deepseek-chat"))
    server.client(base_url="http://gateway.local:8080/v1").chat.completions.create(
        model="llama-3.1-8b", messages=[{"role": "user", "content": "x"}]
    )
    server.client(base_url="https://api.deepseek.com/v1").chat.completions.create(
        model="deepseek-chat", messages=[{"role": "user", "content": "x"}]
    )
    first, second = telemetry.spans()
    assert (first.attributes["gen_ai.provider.name"], first.attributes["server.port"]) == ("vllm", 8080)
    assert (second.attributes["gen_ai.provider.name"], second.attributes["server.port"]) == ("deepseek", 443)


def test_changing_base_url_on_a_client_is_seen(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.json("/chat/completions", chat_completion())
    client = server.client()
    client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    client.base_url = "https://api.groq.com/openai/v1"
    client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    # openai 1.0 had a base_url setter that did not reach the requests; follow what was sent.
    expected = "groq" if server.requests[-1].url.host == "api.groq.com" else "openai"
    assert [s.attributes["gen_ai.provider.name"] for s in telemetry.spans()] == ["openai", expected]


def test_a_new_provider_map_applies_to_an_existing_client(telemetry) -> None:
    import otel_tokenomics

    server = Server()
    server.json("/chat/completions", chat_completion())
    client = server.client(base_url="http://127.0.0.1:8000/v1")
    message = [{"role": "user", "content": "x"}]
    otel_tokenomics.instrument(tracer_provider=telemetry.tracer_provider)
    try:
        client.chat.completions.create(model="m", messages=message)
    finally:
        otel_tokenomics.uninstrument()
    otel_tokenomics.instrument(
        tracer_provider=telemetry.tracer_provider, provider_map={"127.0.0.1:8000": "vllm"}
    )
    try:
        client.chat.completions.create(model="m", messages=message)
    finally:
        otel_tokenomics.uninstrument()
    assert [s.attributes["gen_ai.provider.name"] for s in telemetry.spans()] == ["openai", "vllm"]
