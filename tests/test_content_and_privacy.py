"""Message content is opt-in; keys, headers and URL credentials are never recorded."""

from __future__ import annotations

import json

import pytest
from openai_fakes import CHAT_USAGE, Server, chat_chunks, chat_completion, requires, response_object, sse

SECRET = "sk-test-secret-key"
MESSAGES = [
    {"role": "system", "content": "Be brief."},
    {
        "role": "user",
        "name": "ada",
        "content": [
            {"type": "text", "text": "What is this?"},
            {"type": "image_url", "image_url": {"url": "https://x/cat.png"}},
        ],
    },
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": '{"q": "cat"}'}}
        ],
    },
    {"role": "tool", "tool_call_id": "call_1", "content": "a cat"},
]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "lookup",
            "description": "Look up.",
            "parameters": {"type": "object", "properties": {}},
        },
    }
]


def _everything(telemetry) -> str:
    spans = [
        dict(s.attributes)
        | {
            "name": s.name,
            "status": s.status.description,
            "events": [dict(e.attributes or {}) for e in s.events],
        }
        for s in telemetry.spans()
    ]
    return json.dumps(spans, default=str) + repr(telemetry.metrics())


@requires("tools")
def test_content_is_off_by_default(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.json("/chat/completions", chat_completion())
    server.client().chat.completions.create(model="gpt-4o", messages=MESSAGES, tools=TOOLS)
    attributes = telemetry.span().attributes
    for key in (
        "gen_ai.input.messages",
        "gen_ai.output.messages",
        "gen_ai.tool.definitions",
        "gen_ai.system_instructions",
    ):
        assert key not in attributes
    assert "What is this" not in _everything(telemetry)


@requires("tools")
@pytest.mark.parametrize("setting", ["SPAN_ONLY", "span_and_event", "true"])
def test_content_on_span_when_opted_in(instrument, telemetry, monkeypatch, setting) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", setting)
    instrument()
    server = Server()
    server.json("/chat/completions", chat_completion(finish_reason="stop"))
    server.client().chat.completions.create(model="gpt-4o", messages=MESSAGES, tools=TOOLS)
    attributes = telemetry.span().attributes
    assert json.loads(attributes["gen_ai.input.messages"]) == [
        {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},
        {
            "role": "user",
            "name": "ada",
            "parts": [
                {"type": "text", "content": "What is this?"},
                {"type": "uri", "modality": "image", "uri": "https://x/cat.png"},
            ],
        },
        {
            "role": "assistant",
            "parts": [{"type": "tool_call", "id": "call_1", "name": "lookup", "arguments": '{"q": "cat"}'}],
        },
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "call_1", "response": "a cat"}]},
    ]
    assert json.loads(attributes["gen_ai.output.messages"]) == [
        {"role": "assistant", "parts": [{"type": "text", "content": "Hello there."}], "finish_reason": "stop"}
    ]
    assert json.loads(attributes["gen_ai.tool.definitions"]) == [
        {
            "type": "function",
            "name": "lookup",
            "description": "Look up.",
            "parameters": {"type": "object", "properties": {}},
        }
    ]


@requires("stream_close")
def test_streamed_content_is_assembled_once(instrument, telemetry) -> None:
    instrument(capture_content="SPAN_ONLY")
    server = Server()
    server.stream("/chat/completions", sse(chat_chunks(usage=CHAT_USAGE)))
    list(server.client().chat.completions.create(model="gpt-4o", messages=MESSAGES[:2], stream=True))
    output = json.loads(telemetry.span().attributes["gen_ai.output.messages"])
    assert output == [
        {"role": "assistant", "parts": [{"type": "text", "content": "Hello there."}], "finish_reason": "stop"}
    ]


@requires("responses")
def test_responses_content(instrument, telemetry) -> None:
    instrument(capture_content=True)
    server = Server()
    server.json("/responses", response_object())
    server.client().responses.create(model="gpt-5", input="Capital of France?", instructions="Be brief.")
    attributes = telemetry.span().attributes
    assert json.loads(attributes["gen_ai.system_instructions"]) == [{"type": "text", "content": "Be brief."}]
    assert json.loads(attributes["gen_ai.input.messages"]) == [
        {"role": "user", "parts": [{"type": "text", "content": "Capital of France?"}]}
    ]
    assert json.loads(attributes["gen_ai.output.messages"]) == [
        {"role": "assistant", "parts": [{"type": "text", "content": "Paris."}]}
    ]


def test_content_event_only(instrument, telemetry) -> None:
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor

    exporter = InMemoryLogRecordExporter()
    logger_provider = LoggerProvider()
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    instrument(capture_content="EVENT_ONLY", logger_provider=logger_provider)
    server = Server()
    server.json("/chat/completions", chat_completion())
    server.client().chat.completions.create(model="gpt-4o", messages=MESSAGES[:1])
    span = telemetry.span()
    assert "gen_ai.input.messages" not in span.attributes
    (record,) = exporter.get_finished_logs()
    log = record.log_record
    assert log.event_name == "gen_ai.client.inference.operation.details"
    assert json.loads(log.attributes["gen_ai.input.messages"]) == [
        {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]}
    ]
    assert log.span_id == span.context.span_id


def test_invalid_capture_setting_means_off(instrument, telemetry, monkeypatch) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "everything please")
    instrument()
    server = Server()
    server.json("/chat/completions", chat_completion())
    server.client().chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert "gen_ai.input.messages" not in telemetry.span().attributes


def test_keys_headers_and_url_credentials_are_never_recorded(instrument, telemetry) -> None:
    instrument(capture_content="SPAN_AND_EVENT")
    server = Server()
    server.json("/chat/completions", chat_completion())
    client = server.client(base_url="https://alice:hunter2@gateway.example.com:8443/v1")
    client.chat.completions.create(
        model="gpt-4o",
        messages=MESSAGES[:1],
        extra_headers={"Authorization": "Bearer sk-extra-secret", "X-Gateway-Token": "tok-secret"},
    )
    request = server.requests[-1]
    assert request.headers["x-gateway-token"] == "tok-secret"  # the SDK did send them
    everything = _everything(telemetry)
    for secret in (SECRET, "sk-extra-secret", "tok-secret", "hunter2", "alice", "Bearer"):
        assert secret not in everything
    attributes = telemetry.span().attributes
    assert attributes["server.address"] == "gateway.example.com"
    assert attributes["server.port"] == 8443


def test_error_messages_quoting_the_key_are_not_recorded(instrument, telemetry) -> None:
    import openai

    instrument()
    server = Server()
    message = (
        f"Incorrect API key provided: {SECRET[:7]}********{SECRET[-4:]}. Find your key in the dashboard."
    )
    server.json(
        "/chat/completions",
        {"error": {"message": message, "type": "invalid_request_error", "code": "invalid_api_key"}},
        status=401,
    )
    with pytest.raises(openai.AuthenticationError) as raised:
        server.client().chat.completions.create(model="gpt-4o", messages=MESSAGES[:1])
    assert SECRET[-4:] in str(raised.value)  # the SDK's own exception keeps it, unchanged
    span = telemetry.span()
    assert span.status.description == "AuthenticationError (HTTP 401)"
    assert SECRET[:7] not in _everything(telemetry) and "Incorrect API key" not in _everything(telemetry)
