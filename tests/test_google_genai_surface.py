"""google-genai: errors, robustness, opt-in content, and leaving the SDK as it was."""

from __future__ import annotations

import json

import pytest
from google.genai import errors, models, types
from google_fakes import Server, candidate, function_call, response, text, usage_metadata
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.trace import StatusCode

from otel_tokenomics.providers import google_genai

M = 1_000_000
EXACT = {"rel": 1e-12, "abs": 0}
PATCHED = [
    (models.Models, "_generate_content"),
    (models.Models, "_generate_content_stream"),
    (models.AsyncModels, "_generate_content"),
    (models.AsyncModels, "_generate_content_stream"),
    (models.Models, "embed_content"),
    (models.AsyncModels, "embed_content"),
]


@pytest.mark.parametrize(
    ("status", "reason", "error"),
    [(429, "RESOURCE_EXHAUSTED", errors.ClientError), (503, "UNAVAILABLE", errors.ServerError)],
)
def test_http_errors(instrument, telemetry, status, reason, error) -> None:
    instrument()
    server = Server()
    server.error(":generateContent", status, reason, message="key AIza-secret is over quota")
    with pytest.raises(error) as raised:
        server.gemini().models.generate_content(model="gemini-2.5-flash", contents="x")
    assert raised.value.code == status
    span = telemetry.span()
    assert span.status.status_code is StatusCode.ERROR
    # The API status says more than the class (every 4xx is a ClientError).
    assert span.attributes["error.type"] == reason
    assert span.status.description == f"{reason} (HTTP {status})"
    assert "secret" not in (span.status.description or "")
    assert span.attributes["tokenomics.usage.source"] == "unavailable"
    assert span.attributes["tokenomics.cost.status"] == "no_usage"


def test_malformed_usage_metadata_never_reaches_the_user(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.json(":generateContent", response(candidate(text("ok")), usage=usage_metadata(10, 5)))
    original = google_genai.generate_usage

    def broken(metadata):
        raise ValueError("bad usage")

    google_genai.generate_usage = broken
    try:
        result = server.gemini().models.generate_content(model="gemini-2.5-flash", contents="x")
    finally:
        google_genai.generate_usage = original
    assert result.text == "ok"
    assert len(telemetry.spans()) == 1


def test_odd_usage_values_are_clamped(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.json(
        ":generateContent",
        response(
            candidate(text("ok")),
            usage={"promptTokenCount": 100, "candidatesTokenCount": -3, "cachedContentTokenCount": 500},
        ),
    )
    server.gemini().models.generate_content(model="gemini-2.5-flash", contents="x")
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.usage.input_tokens"] == 100
    assert attributes["gen_ai.usage.output_tokens"] == 0
    assert attributes["gen_ai.usage.cache_read.input_tokens"] == 100


def test_no_usage_metadata_is_estimated(instrument, telemetry) -> None:
    # Counts and costs of estimates: tests/test_estimation_google_genai.py.
    instrument()
    server = Server()
    server.json(":generateContent", response(candidate(text("ok"))))
    server.gemini().models.generate_content(model="gemini-2.5-flash", contents="x")
    attributes = telemetry.span().attributes
    assert attributes["tokenomics.usage.source"] == "heuristic"
    assert attributes["tokenomics.cost.status"] == "estimated"


def test_span_ends_once_and_metrics_count_once(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.json(":generateContent", response(candidate(text("ok")), usage=usage_metadata(10, 5)))
    server.gemini().models.generate_content(model="gemini-2.5-flash", contents="x")
    assert len(telemetry.spans()) == 1
    durations = telemetry.metrics()["gen_ai.client.operation.duration"]
    assert sum(point.count for point in durations) == 1


def test_suppressed_instrumentation_opens_no_span(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.json(":generateContent", response(candidate(text("ok")), usage=usage_metadata(10, 5)))
    server.stream(":streamGenerateContent", [response(candidate(text("ok")), usage=usage_metadata(10, 5))])
    client = server.gemini()
    with suppress_instrumentation():
        client.models.generate_content(model="gemini-2.5-flash", contents="x")
        list(client.models.generate_content_stream(model="gemini-2.5-flash", contents="x"))
    assert telemetry.spans() == []


def test_uninstrument_restores_the_sdk(instrument, telemetry) -> None:
    originals = {(owner, name): owner.__dict__[name] for owner, name in PATCHED}
    instrument()
    assert all(owner.__dict__[name] is not originals[(owner, name)] for owner, name in PATCHED)
    import otel_tokenomics

    otel_tokenomics.uninstrument()
    assert all(owner.__dict__[name] is originals[(owner, name)] for owner, name in PATCHED)
    server = Server()
    server.json(":generateContent", response(candidate(text("ok")), usage=usage_metadata(10, 5)))
    server.gemini().models.generate_content(model="gemini-2.5-flash", contents="x")
    assert telemetry.spans() == []


def test_public_methods_are_wrapped_when_the_private_ones_are_missing(telemetry, monkeypatch) -> None:
    from otel_tokenomics.config import Options
    from otel_tokenomics.telemetry import Telemetry

    private = models.Models.__dict__["_generate_content"]
    monkeypatch.delattr(models.Models, "_generate_content")
    public = models.Models.__dict__["generate_content"]
    patcher = google_genai.GoogleGenAIPatcher(Telemetry(Options(), tracer_provider=telemetry.tracer_provider))
    patcher.patch()
    try:
        assert models.Models.__dict__["generate_content"] is not public
        assert "_generate_content" not in models.Models.__dict__
    finally:
        patcher.unpatch()
        monkeypatch.setattr(models.Models, "_generate_content", private, raising=False)
    assert models.Models.__dict__["generate_content"] is public


def test_content_is_captured_only_when_asked(instrument, telemetry) -> None:
    instrument(capture_content="SPAN_ONLY")
    server = Server()
    server.json(
        ":generateContent",
        response(
            candidate(text("Thinking...", thought=True), text("Paris."), function_call("log", {"x": 1})),
            usage=usage_metadata(20, 5, thoughts=3),
        ),
    )
    server.gemini().models.generate_content(
        model="gemini-2.5-flash",
        contents=[
            types.Content(role="user", parts=[types.Part.from_text(text="Capital of France?")]),
            types.Content(role="model", parts=[types.Part.from_text(text="Let me see.")]),
        ],
        config=types.GenerateContentConfig(
            system_instruction="Be brief.",
            tools=[
                types.Tool(
                    function_declarations=[
                        types.FunctionDeclaration(
                            name="log", description="Log.", parameters_json_schema={"type": "object"}
                        )
                    ]
                )
            ],
        ),
    )
    attributes = telemetry.span().attributes
    assert json.loads(attributes["gen_ai.system_instructions"]) == [{"type": "text", "content": "Be brief."}]
    assert json.loads(attributes["gen_ai.input.messages"]) == [
        {"role": "user", "parts": [{"type": "text", "content": "Capital of France?"}]},
        {"role": "assistant", "parts": [{"type": "text", "content": "Let me see."}]},
    ]
    assert json.loads(attributes["gen_ai.tool.definitions"]) == [
        {"type": "function", "name": "log", "description": "Log.", "parameters": {"type": "object"}}
    ]
    assert json.loads(attributes["gen_ai.output.messages"]) == [
        {
            "role": "assistant",
            "parts": [
                {"type": "reasoning", "content": "Thinking..."},
                {"type": "text", "content": "Paris."},
                {"type": "tool_call", "id": None, "name": "log", "arguments": {"x": 1}},
            ],
            "finish_reason": "stop",
        }
    ]


def test_streamed_content_is_joined(instrument, telemetry) -> None:
    instrument(capture_content="SPAN_ONLY")
    server = Server()
    server.stream(
        ":streamGenerateContent",
        [
            response(candidate(text("Hmm", thought=True), finish_reason=None)),
            response(candidate(text("Hel"), finish_reason=None)),
            response(candidate(text("lo.")), usage=usage_metadata(5, 2)),
        ],
    )
    list(server.gemini().models.generate_content_stream(model="gemini-2.5-flash", contents="Hi"))
    attributes = telemetry.span().attributes
    assert json.loads(attributes["gen_ai.input.messages"]) == [
        {"role": "user", "parts": [{"type": "text", "content": "Hi"}]}
    ]
    assert json.loads(attributes["gen_ai.output.messages"]) == [
        {
            "role": "assistant",
            "parts": [{"type": "reasoning", "content": "Hmm"}, {"type": "text", "content": "Hello."}],
            "finish_reason": "stop",
        }
    ]


def test_provider_map_names_a_proxy(instrument, telemetry) -> None:
    instrument(provider_map={"llm-gateway.internal": "my_gateway"})
    server = Server()
    server.json(":generateContent", response(candidate(text("ok")), usage=usage_metadata(10, 5)))
    client = server.gemini()
    client.models.generate_content(
        model="gemini-2.5-flash",
        contents="x",
        config={"http_options": {"base_url": "https://llm-gateway.internal:8443"}},
    )
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.provider.name"] == "my_gateway"
    assert attributes["server.address"] == "llm-gateway.internal"
    assert attributes["server.port"] == 8443
