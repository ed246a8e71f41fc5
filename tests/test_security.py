"""Secrets never reach telemetry; content is opt-in and bounded by the SDK's length limits.

Every provider SDK is called with a distinct secret in each place a credential can
travel: the API key (or AWS keys, or a Google token), ``Authorization: Bearer``,
custom auth headers (``X-Api-Key``, ``Helicone-Auth``), per-request headers and
``user:password@`` in the base URL. Each SDK makes a plain call, a streamed one and a
call that fails with an error body quoting the secrets back. Everything that leaves
the process is then serialized to one text: spans (attributes, events, links,
status, resource), metric points (attributes, exemplars), OpenTelemetry log records
(the content events) and every Python log record (tracebacks included) except the
provider SDKs' own. No 6-character piece of any secret may appear in it, with content
capture off (the default) or in any capture mode.

Secrets are drawn from consonants that are not hex digits, so no trace id, span id,
model name or JSON keyword can hold a piece of one by chance.
"""

from __future__ import annotations

import base64
import json
import logging
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor

import otel_tokenomics
from otel_tokenomics.config import ENV_CAPTURE_CONTENT

_ALPHABET = "GHJKMNPQRSTVWXYZ"
_ROLES = (
    "api_key",
    "bearer",
    "x_api_key",
    "helicone",
    "per_request",
    "url_user",
    "url_password",
    "aws_access_key_id",
    "aws_secret",
    "aws_session_token",
    "google_token",
)
_rng = random.Random(20261127)
SECRETS: dict[str, str] = {role: "".join(_rng.choices(_ALPHABET, k=24)) for role in _ROLES}
S = SECRETS
# What an HTTP client sends for user:password@ in a URL: Basic auth.
SECRETS["basic_auth"] = base64.b64encode(f"{S['url_user']}:{S['url_password']}".encode()).decode()
CREDENTIALS = f"{S['url_user']}:{S['url_password']}@"
# The error body every fake sends on its failing call: the provider quoting the credentials back.
LEAKY_MESSAGE = (
    f"Incorrect API key provided: {S['api_key']}; Authorization: Bearer {S['bearer']}; "
    f"X-Api-Key: {S['x_api_key']}; token {S['aws_session_token']}"
)

PROMPT = "Tell me about quokkas."
MESSAGES = [{"role": "user", "content": PROMPT}]
CONTENT_KEYS = (
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.system_instructions",
    "gen_ai.tool.definitions",
)
# The provider SDKs' and HTTP stacks' own loggers: what they log at DEBUG (the request
# options, headers included) is theirs, not ours.
THIRD_PARTY_LOGGERS = (
    "openai",
    "anthropic",
    "httpx",
    "httpx2",
    "httpcore",
    "httpcore2",
    "botocore",
    "boto3",
    "urllib3",
    "google_genai",
    "google",
    "cohere",
    "mistralai",
    "groq",
    "ollama",
    "LiteLLM",
    "litellm",
    "asyncio",
    "hpack",
)


def _third_party(name: str) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for prefix in THIRD_PARTY_LOGGERS)


def header_value(value: str) -> str:
    return f"Bearer {value}"


AUTH_HEADERS = {"X-Api-Key": S["x_api_key"], "Helicone-Auth": header_value(S["helicone"])}
PER_REQUEST_HEADERS = {"Authorization": header_value(S["bearer"]), "X-Request-Token": S["per_request"]}


# -- what leaves the process ------------------------------------------------------------------


@dataclass
class Capture:
    """Every signal of one test, serialized to text."""

    telemetry: Any
    logs: InMemoryLogRecordExporter
    caplog: pytest.LogCaptureFixture
    mode: str | None
    sent: list[str] = field(default_factory=list)

    def spans(self) -> list[Any]:
        return self.telemetry.spans()

    def log_records(self) -> list[Any]:
        return list(self.logs.get_finished_logs())

    def text(self) -> str:
        parts = [span.to_json() for span in self.spans()]
        data = self.telemetry.reader.get_metrics_data()
        if data is not None:
            parts.append(data.to_json())
        parts += [record.to_json() for record in self.log_records()]
        formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
        parts += [
            formatter.format(record) + repr(record.args)
            for record in self.caplog.get_records("setup") + self.caplog.records
            if not _third_party(record.name)
        ]
        return "\n".join(parts)


def assert_no_secret(text: str) -> None:
    """Not a secret, nor any 6-character piece of one, in any case."""
    folded = text.lower()
    for role, secret in SECRETS.items():
        for start in range(len(secret) - 5):
            piece = secret[start : start + 6].lower()
            at = folded.find(piece)
            assert at < 0, (
                f"a piece of the {role} secret ({piece!r}) leaked: ...{text[max(at - 80, 0) : at + 80]}..."
            )


def assert_sent(capture: Capture, *roles: str) -> None:
    """The SDK really sent these secrets: the test is not vacuous."""
    wire = "\n".join(capture.sent)
    missing = [role for role in roles if S[role] not in wire]
    assert not missing, f"never sent: {missing}"


@pytest.fixture
def capture(instrument: Any, telemetry: Any, caplog: pytest.LogCaptureFixture, request: Any) -> Capture:
    caplog.set_level(0)
    exporter = InMemoryLogRecordExporter()
    logger_provider = LoggerProvider()
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    mode = request.param
    if mode is None:
        instrument(logger_provider=logger_provider)
    else:
        instrument(logger_provider=logger_provider, capture_content=mode)
    return Capture(telemetry, exporter, caplog, mode)


# -- the calls, per SDK --------------------------------------------------------------------------
# Each scenario makes its calls (the last one failing with LEAKY_MESSAGE), keeps what
# went over the wire in capture.sent, checks that the secrets really went out, and
# returns how many calls it made.


def _headers_text(headers: Any) -> str:
    return "\n".join(f"{name}: {value}" for name, value in dict(headers).items())


def _expect_leaky(error: pytest.ExceptionInfo[BaseException]) -> None:
    # The SDK's exception keeps the provider's message, secrets and all: it reaches
    # the caller unchanged. Only the telemetry must not carry it.
    assert S["api_key"] in str(error.value) or S["bearer"] in str(error.value), str(error.value)


def openai_scenario(capture: Capture) -> int:
    import openai
    from openai_fakes import CHAT_USAGE, Server, chat_chunks, chat_completion, sse

    server = Server()

    def make(credentials: str) -> openai.OpenAI:
        return openai.OpenAI(
            api_key=S["api_key"],
            base_url=f"https://{credentials}gateway.example.com:8443/v1",
            default_headers=AUTH_HEADERS,
            http_client=server.http_client(),
            max_retries=0,
        )

    client = make("")
    server.json("/chat/completions", chat_completion())
    make(CREDENTIALS).chat.completions.create(model="gpt-4o", messages=MESSAGES)
    server.stream("/chat/completions", sse(chat_chunks(usage=CHAT_USAGE)))
    stream = client.chat.completions.create(
        model="gpt-4o", messages=MESSAGES, stream=True, extra_headers=PER_REQUEST_HEADERS
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "Hello there."
    server.json("/chat/completions", {"error": {"message": LEAKY_MESSAGE, "code": "invalid_api_key"}}, 401)
    with pytest.raises(openai.AuthenticationError) as raised:
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    _expect_leaky(raised)
    capture.sent += [_headers_text(r.headers) for r in server.requests]
    assert_sent(capture, "api_key", "bearer", "x_api_key", "helicone", "per_request", "basic_auth")
    return 3


def azure_openai_scenario(capture: Capture) -> int:
    import openai
    from openai_fakes import CHAT_USAGE, Server, chat_chunks, chat_completion, sse

    server = Server()

    def make(credentials: str) -> openai.AzureOpenAI:
        return openai.AzureOpenAI(
            azure_endpoint=f"https://{credentials}contoso.openai.azure.com",
            api_key=S["api_key"],
            api_version="2024-10-21",
            default_headers=AUTH_HEADERS,
            http_client=server.http_client(),
            max_retries=0,
        )

    client = make("")
    path = "/deployments/prod-gpt4o/chat/completions"
    server.json(path, chat_completion(model="gpt-4o-2024-08-06"))
    make(CREDENTIALS).chat.completions.create(model="prod-gpt4o", messages=MESSAGES)
    server.stream(path, sse(chat_chunks(usage=CHAT_USAGE)))
    stream = client.chat.completions.create(
        model="prod-gpt4o", messages=MESSAGES, stream=True, extra_headers=PER_REQUEST_HEADERS
    )
    list(stream)
    server.json(path, {"error": {"message": LEAKY_MESSAGE, "code": "401"}}, 401)
    with pytest.raises(openai.AuthenticationError) as raised:
        client.chat.completions.create(model="prod-gpt4o", messages=MESSAGES)
    _expect_leaky(raised)
    capture.sent += [_headers_text(r.headers) for r in server.requests]
    assert_sent(capture, "api_key", "bearer", "x_api_key", "helicone", "per_request", "basic_auth")
    return 3


def _anthropic_error_body() -> dict[str, Any]:
    return {"type": "error", "error": {"type": "authentication_error", "message": LEAKY_MESSAGE}}


def anthropic_scenario(capture: Capture) -> int:
    import anthropic
    from anthropic_fakes import MODEL, Server, events, message, requires, sse

    server = Server()
    options: dict[str, Any] = {}
    sdk_tracing = not requires("sdk_tracing").mark.args[0]  # the skip mark's condition: missing
    if sdk_tracing:
        # The SDK's own tracing on, into the test's pipeline: whatever it would record
        # is in the capture too.
        options["open_telemetry"] = {"tracer_provider": capture.telemetry.tracer_provider}

    def make(credentials: str) -> anthropic.Anthropic:
        return anthropic.Anthropic(
            api_key=S["api_key"],
            base_url=f"https://{credentials}gateway.example.com:8443",
            default_headers=AUTH_HEADERS,
            http_client=server.http_client(),
            max_retries=0,
            **options,
        )

    client = make("")
    server.json("/v1/messages", message())
    make(CREDENTIALS).messages.create(model=MODEL, max_tokens=64, messages=MESSAGES)
    server.stream("/v1/messages", sse(events()))
    stream = client.messages.create(
        model=MODEL, max_tokens=64, messages=MESSAGES, stream=True, extra_headers=PER_REQUEST_HEADERS
    )
    list(stream)
    server.json("/v1/messages", _anthropic_error_body(), 401)
    with pytest.raises(anthropic.AuthenticationError) as raised:
        client.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES)
    _expect_leaky(raised)
    capture.sent += [_headers_text(r.headers) for r in server.requests]
    assert_sent(capture, "api_key", "bearer", "x_api_key", "helicone", "per_request", "basic_auth")
    return 3


def anthropic_cloud_scenario(capture: Capture) -> int:
    """Anthropic's Bedrock client (AWS keys, SigV4) and Vertex client (a Google token)."""
    import anthropic
    from anthropic_fakes import MODEL, Server, message

    server = Server()
    bedrock_model = "anthropic.claude-sonnet-4-5-20250929-v1:0"
    bedrock = anthropic.AnthropicBedrock(
        aws_access_key=S["aws_access_key_id"],
        aws_secret_key=S["aws_secret"],
        aws_session_token=S["aws_session_token"],
        aws_region="us-east-1",
        default_headers=AUTH_HEADERS,
        http_client=server.http_client(),
        max_retries=0,
    )
    server.json(f"/model/{bedrock_model}/invoke", message())
    bedrock.messages.create(model=bedrock_model, max_tokens=64, messages=MESSAGES)
    vertex = anthropic.AnthropicVertex(
        region="us-east5",
        project_id="proj",
        access_token=S["google_token"],
        http_client=server.http_client(),
        max_retries=0,
    )
    vertex_path = f"/v1/projects/proj/locations/us-east5/publishers/anthropic/models/{MODEL}:rawPredict"
    server.json(vertex_path, message())
    vertex.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES, extra_headers=PER_REQUEST_HEADERS)
    server.json(vertex_path, _anthropic_error_body(), 401)
    with pytest.raises(anthropic.AuthenticationError) as raised:
        vertex.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES)
    _expect_leaky(raised)
    capture.sent += [_headers_text(r.headers) for r in server.requests]
    assert_sent(capture, "aws_access_key_id", "aws_session_token", "google_token", "x_api_key", "per_request")
    return 3


def _google_calls(url_client: Any, client: Any, server: Any, capture: Capture) -> None:
    from google.genai import errors, types
    from google_fakes import candidate, response, text, usage_metadata

    per_request = types.GenerateContentConfig(http_options=types.HttpOptions(headers=PER_REQUEST_HEADERS))
    server.json(":generateContent", response(candidate(text("Hello there.")), usage=usage_metadata(7, 3)))
    url_client.models.generate_content(model="gemini-2.5-flash", contents=PROMPT)
    server.stream(
        ":streamGenerateContent",
        [
            response(candidate(text("Hel"), finish_reason=None)),
            response(candidate(text("lo.")), usage=usage_metadata(7, 3)),
        ],
    )
    list(client.models.generate_content_stream(model="gemini-2.5-flash", contents=PROMPT, config=per_request))
    server.error(":generateContent", 400, "INVALID_ARGUMENT", LEAKY_MESSAGE)
    with pytest.raises(errors.ClientError) as raised:
        client.models.generate_content(model="gemini-2.5-flash", contents=PROMPT)
    _expect_leaky(raised)
    capture.sent += [_headers_text(r.headers) + f"\n{r.url}" for r in server.requests]


def google_genai_scenario(capture: Capture) -> int:
    from google import genai
    from google_fakes import GEMINI_URL, Server

    server = Server()

    def make(credentials: str) -> genai.Client:
        options = server.http_options(GEMINI_URL.replace("https://", f"https://{credentials}"))
        options.api_version = "v1beta"
        options.headers = dict(AUTH_HEADERS)
        return genai.Client(api_key=S["api_key"], http_options=options)

    _google_calls(make(CREDENTIALS), make(""), server, capture)
    assert_sent(capture, "api_key", "bearer", "x_api_key", "helicone", "per_request")
    return 3


def google_vertex_scenario(capture: Capture) -> int:
    from google import genai
    from google_fakes import VERTEX_URL, FakeCredentials, Server

    server = Server()
    credentials = FakeCredentials()
    credentials.token = S["google_token"]

    def make(credentials_in_url: str) -> genai.Client:
        options = server.http_options(VERTEX_URL.replace("https://", f"https://{credentials_in_url}"))
        options.headers = dict(AUTH_HEADERS)
        return genai.Client(
            vertexai=True, project="p", location="us-central1", credentials=credentials, http_options=options
        )

    _google_calls(make(CREDENTIALS), make(""), server, capture)
    # The Vertex client sets Authorization from its credentials over the caller's.
    assert_sent(capture, "google_token", "x_api_key", "helicone", "per_request", "basic_auth")
    return 3


def bedrock_scenario(capture: Capture) -> int:
    import boto3
    import botocore.exceptions
    from bedrock_fakes import converse_frames, converse_response, converse_stream_events, shared_server
    from botocore.config import Config

    server = shared_server()
    client = boto3.client(
        "bedrock-runtime",
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id=S["aws_access_key_id"],
        aws_secret_access_key=S["aws_secret"],
        aws_session_token=S["aws_session_token"],
        config=Config(retries={"total_max_attempts": 1}),
    )

    def add_headers(request: Any, **_: Any) -> None:
        for name, value in {**AUTH_HEADERS, **PER_REQUEST_HEADERS}.items():
            request.headers[name] = value

    client.meta.events.register_first("before-sign.bedrock-runtime.*", add_headers)
    usage = {"inputTokens": 7, "outputTokens": 3, "totalTokens": 10}
    model = "anthropic.claude-sonnet-4-5-20250929-v1:0"
    converse_messages = [{"role": "user", "content": [{"text": PROMPT}]}]
    server.reply_json(converse_response(usage))
    client.converse(modelId=model, messages=converse_messages)
    server.reply_stream(converse_frames(converse_stream_events(usage)))
    list(client.converse_stream(modelId=model, messages=converse_messages)["stream"])
    server.reply_error(403, "UnrecognizedClientException", LEAKY_MESSAGE)
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        client.converse(modelId=model, messages=converse_messages)
    _expect_leaky(raised)
    capture.sent += [_headers_text(r.headers) for r in server.requests]
    # SigV4 signing writes Authorization over the caller's: the bearer secret stays home.
    assert_sent(capture, "aws_access_key_id", "aws_session_token", "per_request", "x_api_key", "helicone")
    return 3


def cohere_scenario(capture: Capture) -> int:
    import cohere
    import httpx
    from cohere_fakes import NO_RETRIES, Server, chat_response, stream_events

    server = Server()

    def make(credentials: str) -> cohere.ClientV2:
        return cohere.ClientV2(
            api_key=S["api_key"],
            base_url=f"https://{credentials}api.cohere.com",
            httpx_client=httpx.Client(transport=httpx.MockTransport(server.handle)),
            **NO_RETRIES,
        )

    client = make("")
    headers = {"request_options": {"additional_headers": {**AUTH_HEADERS, **PER_REQUEST_HEADERS}}}
    server.chat(chat_response())
    make(CREDENTIALS).chat(model="command-a-03-2025", messages=MESSAGES)
    server.stream(stream_events())
    list(client.chat_stream(model="command-a-03-2025", messages=MESSAGES, **headers))
    server.error("/v2/chat", 401, LEAKY_MESSAGE)
    with pytest.raises(cohere.core.ApiError) as raised:
        client.chat(model="command-a-03-2025", messages=MESSAGES)
    _expect_leaky(raised)
    capture.sent += [_headers_text(r.headers) for r in server.requests]
    assert_sent(capture, "api_key", "bearer", "x_api_key", "helicone", "per_request")
    return 3


def mistral_scenario(capture: Capture) -> int:
    from mistral_fakes import Server, chunk, completion, http, usage
    from mistralai.client import Mistral

    server = Server()

    def make(credentials: str) -> Mistral:
        return Mistral(
            api_key=S["api_key"],
            server_url=f"https://{credentials}api.mistral.ai",
            client=http.Client(transport=http.MockTransport(server.handle)),
        )

    client = make("")
    headers = {**AUTH_HEADERS, **PER_REQUEST_HEADERS}
    path = "/v1/chat/completions"
    server.json(path, completion("Hello there.", usage=usage(7, 3)))
    make(CREDENTIALS).chat.complete(model="mistral-large-latest", messages=MESSAGES)
    server.stream(
        path, [chunk("Hel", role="assistant"), chunk("lo.", finish_reason="stop", usage=usage(7, 2))]
    )
    list(client.chat.stream(model="mistral-large-latest", messages=MESSAGES, http_headers=headers))
    server.error(path, 401, LEAKY_MESSAGE)
    with pytest.raises(Exception) as raised:
        client.chat.complete(model="mistral-large-latest", messages=MESSAGES)
    _expect_leaky(raised)
    capture.sent += [_headers_text(r.headers) for r in server.requests]
    assert_sent(capture, "api_key", "bearer", "x_api_key", "helicone", "per_request")
    return 3


def groq_scenario(capture: Capture) -> int:
    import groq
    from groq_fakes import CHAT_PATH, Server, chat_chunks, chat_completion, error_body, sse

    server = Server()

    def make(credentials: str) -> groq.Groq:
        return groq.Groq(
            api_key=S["api_key"],
            base_url=f"https://{credentials}api.groq.com",
            default_headers=AUTH_HEADERS,
            http_client=server.http_client(),
            max_retries=0,
        )

    client = make("")
    server.json(CHAT_PATH, chat_completion())
    make(CREDENTIALS).chat.completions.create(model="llama-3.3-70b-versatile", messages=MESSAGES)
    server.stream(CHAT_PATH, sse(chat_chunks()))
    stream = client.chat.completions.create(
        model="llama-3.3-70b-versatile", messages=MESSAGES, stream=True, extra_headers=PER_REQUEST_HEADERS
    )
    list(stream)
    server.json(CHAT_PATH, error_body(LEAKY_MESSAGE, "invalid_request_error", "invalid_api_key"), 401)
    with pytest.raises(groq.AuthenticationError) as raised:
        client.chat.completions.create(model="llama-3.3-70b-versatile", messages=MESSAGES)
    _expect_leaky(raised)
    capture.sent += [_headers_text(r.headers) for r in server.requests]
    assert_sent(capture, "api_key", "bearer", "x_api_key", "helicone", "per_request", "basic_auth")
    return 3


def ollama_scenario(capture: Capture) -> int:
    import httpx
    import ollama
    from ollama_fakes import Server, chat_answer, chat_parts

    server = Server()

    def make(credentials: str) -> ollama.Client:
        return ollama.Client(
            host=f"http://{credentials}127.0.0.1:11434",
            headers={**AUTH_HEADERS, "Authorization": header_value(S["bearer"])},
            transport=httpx.MockTransport(server.handler),
        )

    client = make("")
    server.json("/api/chat", chat_answer())
    make(CREDENTIALS).chat(model="llama3.2", messages=MESSAGES)
    server.stream("/api/chat", chat_parts(["Hel", "lo."]))
    list(client.chat(model="llama3.2", messages=MESSAGES, stream=True))
    server.error("/api/chat", 401, LEAKY_MESSAGE)
    with pytest.raises(ollama.ResponseError) as raised:
        client.chat(model="llama3.2", messages=MESSAGES)
    _expect_leaky(raised)
    capture.sent += [_headers_text(r.headers) + f"\n{r.url}" for r in server.requests]
    assert_sent(capture, "bearer", "x_api_key", "helicone")
    return 3


def litellm_scenario(capture: Capture) -> int:
    import litellm
    from anthropic_fakes import MODEL as CLAUDE
    from anthropic_fakes import message as claude_message
    from litellm_fakes import shared_server
    from openai_fakes import CHAT_USAGE, chat_chunks, chat_completion

    server = shared_server()
    base = server.url.replace("http://", f"http://{CREDENTIALS}")
    options = {
        "api_key": S["api_key"],
        "api_base": f"{server.url}/v1",
        "max_retries": 0,
        "extra_headers": {**AUTH_HEADERS, **PER_REQUEST_HEADERS},
    }
    server.reply_json(chat_completion(model="gpt-4o-mini-2024-07-18"))
    litellm.completion(model="openai/gpt-4o-mini", messages=MESSAGES, **{**options, "api_base": f"{base}/v1"})
    server.reply_openai_stream(chat_chunks(usage=CHAT_USAGE))
    list(
        litellm.completion(
            model="openai/gpt-4o-mini",
            messages=MESSAGES,
            stream=True,
            stream_options={"include_usage": True},
            **options,
        )
    )
    server.reply_json(claude_message())
    litellm.completion(
        model=f"anthropic/{CLAUDE}",
        messages=MESSAGES,
        api_key=S["api_key"],
        api_base=base,
        extra_headers={"Helicone-Auth": header_value(S["helicone"])},
    )
    server.reply_json({"error": {"message": LEAKY_MESSAGE, "code": "invalid_api_key"}}, status=401)
    with pytest.raises(litellm.AuthenticationError) as raised:
        litellm.completion(model="openai/gpt-4o-mini", messages=MESSAGES, **options)
    _expect_leaky(raised)
    capture.sent += [_headers_text(r.headers) + f"\n{r.path}" for r in server.requests]
    assert_sent(capture, "api_key", "bearer", "x_api_key", "helicone", "per_request")
    return 4


SCENARIOS: dict[str, Callable[[Capture], int]] = {
    "openai": openai_scenario,
    "azure_openai": azure_openai_scenario,
    "anthropic": anthropic_scenario,
    "anthropic_bedrock_vertex": anthropic_cloud_scenario,
    "google_genai": google_genai_scenario,
    "google_vertex": google_vertex_scenario,
    "bedrock": bedrock_scenario,
    "cohere": cohere_scenario,
    "mistral": mistral_scenario,
    "groq": groq_scenario,
    "ollama": ollama_scenario,
    "litellm": litellm_scenario,
}
# The SDK each scenario needs: a venv with only some SDKs (the compat runs) skips the others.
SDK_OF = {
    "openai": "openai",
    "azure_openai": "openai",
    "anthropic": "anthropic",
    "anthropic_bedrock_vertex": "anthropic",
    "google_genai": "google.genai",
    "google_vertex": "google.genai",
    "bedrock": "boto3",
    "cohere": "cohere",
    "mistral": "mistralai",
    "groq": "groq",
    "ollama": "ollama",
    "litellm": "litellm",
}


def run(scenario: str, capture: Capture) -> int:
    pytest.importorskip(SDK_OF[scenario])
    return SCENARIOS[scenario](capture)


# None: no option and no environment variable, the default.
MODES = (None, "SPAN_ONLY", "EVENT_ONLY", "SPAN_AND_EVENT")


@pytest.fixture(autouse=True)
def _no_capture_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_CAPTURE_CONTENT, raising=False)


def _content_keys(attributes: Any) -> set[str]:
    return {key for key in CONTENT_KEYS if key in (attributes or {})}


@pytest.mark.parametrize("capture", MODES, indirect=True, ids=lambda mode: mode or "default")
@pytest.mark.parametrize("scenario", list(SCENARIOS), ids=list(SCENARIOS))
def test_secrets_never_recorded_and_content_only_where_the_mode_puts_it(
    capture: Capture, scenario: str
) -> None:
    calls = run(scenario, capture)
    spans = capture.spans()
    inference = [span for span in spans if "gen_ai.operation.name" in (span.attributes or {})]
    assert len(inference) == calls, [span.name for span in spans]
    (failed,) = [span for span in inference if span.status.description]
    assert failed.attributes["error.type"] == failed.status.description.split(" ")[0]
    text = capture.text()
    assert_no_secret(text)

    on_spans = set().union(*(_content_keys(span.attributes) for span in spans))
    in_logs = set().union(*(_content_keys(r.log_record.attributes) for r in capture.log_records()))
    mode = capture.mode
    if mode is None:
        # Off by default: no content attribute, no content event, not a word of the prompt.
        assert not on_spans and not in_logs and not capture.log_records()
        assert "quokka" not in text
        return
    assert ("gen_ai.input.messages" in on_spans) is (mode in ("SPAN_ONLY", "SPAN_AND_EVENT"))
    assert ("gen_ai.input.messages" in in_logs) is (mode in ("EVENT_ONLY", "SPAN_AND_EVENT"))
    assert "quokka" in text


@pytest.mark.parametrize("capture", ["SPAN_AND_EVENT"], indirect=True)
# The last two adapters to capture content; the others' exact content is in their own tests.
@pytest.mark.parametrize("scenario", ["cohere", "mistral"])
def test_content_capture_for_every_sdk(capture: Capture, scenario: str) -> None:
    run(scenario, capture)
    (span, *_) = capture.spans()
    assert json.loads(span.attributes["gen_ai.input.messages"]) == [
        {"role": "user", "parts": [{"type": "text", "content": PROMPT}]}
    ]


# -- the length of captured content ----------------------------------------------------------------
# The library sets content as attributes: JSON strings on the span and on the
# gen_ai.client.inference.operation.details log record. It has no length limit of its
# own; the SDK's attribute limits cut both (OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT, or the
# per-signal OTEL_SPAN_/OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT).

LIMIT = 4096
HUGE = "quokka " * (1_000_000 // 7)  # about 1 MB, well past any limit


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


HUGE_INPUT = _json([{"role": "user", "parts": [{"type": "text", "content": HUGE}]}])
HUGE_OUTPUT = _json(
    [{"role": "assistant", "parts": [{"type": "text", "content": HUGE}], "finish_reason": "stop"}]
)


@dataclass
class Pipeline:
    telemetry: Any
    logs: InMemoryLogRecordExporter


@pytest.fixture
def limited(monkeypatch: pytest.MonkeyPatch, request: Any) -> Iterator[Callable[..., Pipeline]]:
    """Instrument with providers built after the limit variables are set (the SDK reads them then)."""
    from conftest import Telemetry

    def _pipeline(mode: str, variables: dict[str, str]) -> Pipeline:
        for name, value in variables.items():
            monkeypatch.setenv(name, value)
        telemetry = Telemetry()
        exporter = InMemoryLogRecordExporter()
        logger_provider = LoggerProvider()
        logger_provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
        otel_tokenomics.instrument(
            tracer_provider=telemetry.tracer_provider,
            meter_provider=telemetry.meter_provider,
            logger_provider=logger_provider,
            capture_content=mode,
        )
        return Pipeline(telemetry, exporter)

    yield _pipeline
    otel_tokenomics.uninstrument()


def _huge_calls(pipeline: Pipeline) -> tuple[Any, Any]:
    """A plain and a streamed call, each with a 1 MB prompt and a 1 MB answer."""
    pytest.importorskip("openai")
    from openai_fakes import CHAT_USAGE, Server, chat_chunks, chat_completion, sse

    server = Server()
    client = server.client(api_key=S["api_key"])
    messages = [{"role": "user", "content": HUGE}]
    server.json("/chat/completions", chat_completion(content=HUGE))
    answer = client.chat.completions.create(model="gpt-4o", messages=messages)
    assert answer.choices[0].message.content == HUGE  # the caller's answer is whole
    server.stream("/chat/completions", sse(chat_chunks([HUGE[:500_000], HUGE[500_000:]], usage=CHAT_USAGE)))
    streamed = client.chat.completions.create(model="gpt-4o", messages=messages, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices) == HUGE
    plain, stream = pipeline.telemetry.spans()
    return plain, stream


LIMIT_VARIABLES = {
    "global": {"OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT": str(LIMIT)},
    "per_signal": {
        "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT": str(LIMIT),
        "OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT": str(LIMIT),
    },
}


@pytest.mark.parametrize("variables", list(LIMIT_VARIABLES))
@pytest.mark.parametrize("mode", ["SPAN_ONLY", "EVENT_ONLY", "SPAN_AND_EVENT"])
def test_huge_content_is_cut_to_the_limit_on_spans_and_events(
    limited: Any, mode: str, variables: str
) -> None:
    pipeline = limited(mode, LIMIT_VARIABLES[variables])
    spans = _huge_calls(pipeline)
    records = [record.log_record for record in pipeline.logs.get_finished_logs()]
    cut = {"gen_ai.input.messages": HUGE_INPUT[:LIMIT], "gen_ai.output.messages": HUGE_OUTPUT[:LIMIT]}
    # o4-mini answers the plain call, gpt-4o-mini the stream (the fakes' models); CHAT_USAGE:
    # 512 + 1536 cached in, 612 out = 512 x 1.1 + 1536 x 0.275 + 612 x 4.4 = $3678.4 per
    # million calls, and 512 x 0.15 + 1536 x 0.075 + 612 x 0.6 = $559.2 per million.
    for span, cost in zip(spans, (0.0036784, 0.0005592), strict=True):
        if mode == "EVENT_ONLY":
            assert not _content_keys(span.attributes)
        else:
            assert {key: span.attributes[key] for key in cut} == cut
        # Only content is long: usage and cost are untouched by the limit.
        assert span.attributes["gen_ai.usage.output_tokens"] == 612
        assert span.attributes["tokenomics.cost.total"] == pytest.approx(cost, rel=1e-12, abs=0)
    if mode == "SPAN_ONLY":
        assert records == []
    else:
        assert len(records) == 2
        for record in records:
            assert record.event_name == "gen_ai.client.inference.operation.details"
            assert {key: record.attributes[key] for key in cut} == cut
            assert record.body is None  # content never goes in the (unlimited) body


# -- our own failures and exceptions ----------------------------------------------------------------


@pytest.mark.parametrize("capture", [None], indirect=True, ids=["default"])
def test_budget_refusal_names_no_secret(capture: Capture) -> None:
    openai = pytest.importorskip("openai")
    from openai_fakes import Server, chat_completion

    server = Server()
    server.json("/chat/completions", chat_completion())
    client = openai.OpenAI(
        api_key=S["api_key"],
        base_url=f"https://{CREDENTIALS}api.openai.com/v1",
        default_headers=AUTH_HEADERS,
        http_client=server.http_client(),
        max_retries=0,
    )
    refusing = otel_tokenomics.budget("0.000001", on_exceed="raise", name="tiny")
    with pytest.raises(otel_tokenomics.BudgetExceeded) as raised, refusing:
        client.chat.completions.create(
            model="gpt-4o", messages=MESSAGES, max_tokens=1000, extra_headers=PER_REQUEST_HEADERS
        )
    assert server.requests == []  # refused before anything was sent
    assert str(raised.value).startswith(
        "budget 'tiny' ($0.000001) has $0.000001 left; the call may cost up to $"
    )
    assert_no_secret(str(raised.value) + repr(raised.value.args) + capture.text())


@pytest.mark.parametrize("capture", [None], indirect=True, ids=["default"])
def test_our_failure_while_a_call_fails_logs_no_secret(
    capture: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    openai = pytest.importorskip("openai")
    from openai_fakes import Server

    import otel_tokenomics.call

    def broken(*args: Any) -> str:
        raise RuntimeError("a bug of ours")

    # Any failure of ours while the span of a failed call ends; this one is the simplest to cause.
    monkeypatch.setattr(otel_tokenomics.call, "_error_description", broken)
    server = Server()
    server.json("/chat/completions", {"error": {"message": LEAKY_MESSAGE, "code": "invalid_api_key"}}, 401)
    client = openai.OpenAI(api_key=S["api_key"], http_client=server.http_client(), max_retries=0)
    with pytest.raises(openai.AuthenticationError) as raised:
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    _expect_leaky(raised)
    # A warning the first time in the process, a debug record after: a traceback either way.
    (ours,) = [r for r in capture.caplog.records if r.name == "otel_tokenomics"]
    assert "ending a span" in ours.getMessage() and ours.exc_info is not None
    assert_no_secret(capture.text())
