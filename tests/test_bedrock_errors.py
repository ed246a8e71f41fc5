"""Bedrock failures, calls that are not ours, and what instrumenting changes in botocore."""

from __future__ import annotations

import json

import pytest
from bedrock_fakes import SONNET_45_US, BedrockServer, anthropic_message, converse_response, shared_server
from botocore.client import BaseClient
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.trace import StatusCode

MESSAGES = [{"role": "user", "content": [{"text": "Say hello."}]}]
USAGE = {"inputTokens": 3, "outputTokens": 4, "totalTokens": 7}


@pytest.fixture
def server() -> BedrockServer:
    return shared_server()


@pytest.mark.parametrize(("status", "code"), [(429, "ThrottlingException"), (400, "ValidationException")])
def test_http_errors(instrument, telemetry, server, status, code) -> None:
    instrument()
    server.reply_error(status, code)
    client = server.client()
    with pytest.raises(ClientError) as raised:
        client.converse(modelId=SONNET_45_US, messages=MESSAGES)
    assert type(raised.value) is getattr(client.exceptions, code)
    assert raised.value.response["Error"]["Code"] == code
    span = telemetry.span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == code
    assert span.attributes["tokenomics.usage.source"] == "unavailable"
    (duration,) = telemetry.metrics()["gen_ai.client.operation.duration"]
    assert duration.attributes["error.type"] == code


def test_invoke_model_throttled(instrument, telemetry, server) -> None:
    instrument()
    server.reply_error(429, "ThrottlingException")
    with pytest.raises(ClientError):
        server.client().invoke_model(modelId=SONNET_45_US, body=b"{}")
    assert telemetry.span().attributes["error.type"] == "ThrottlingException"


def test_other_services_and_operations_open_no_span(instrument, telemetry, server) -> None:
    instrument()
    s3 = server.client("s3")
    with Stubber(s3) as stub:
        stub.add_response("list_buckets", {"Buckets": []})
        s3.list_buckets()
    server.reply_json({"inputTokens": 12})
    assert (
        server.client().count_tokens(modelId=SONNET_45_US, input={"converse": {"messages": MESSAGES}})[
            "inputTokens"
        ]
        == 12
    )
    assert telemetry.spans() == []


def test_one_span_per_call(instrument, telemetry, server) -> None:
    instrument()
    client = server.client()
    for _ in range(3):
        server.reply_json(converse_response(USAGE))
        client.converse(modelId=SONNET_45_US, messages=MESSAGES)
    assert len(telemetry.spans()) == 3


def test_suppressed_instrumentation_opens_no_span(instrument, telemetry, server) -> None:
    instrument()
    server.reply_json(converse_response(USAGE))
    with suppress_instrumentation():
        server.client().converse(modelId=SONNET_45_US, messages=MESSAGES)
    assert telemetry.spans() == []


def test_our_own_bug_never_reaches_the_caller(instrument, telemetry, server, monkeypatch) -> None:
    from otel_tokenomics.providers import bedrock

    def broken(*args, **kwargs):
        raise RuntimeError("bug of ours")

    monkeypatch.setattr(bedrock, "read_anthropic_response", broken)
    monkeypatch.setattr(bedrock, "converse_usage", broken)
    instrument()
    reply = anthropic_message({"input_tokens": 1, "output_tokens": 1})
    server.reply_json(reply)
    response = server.client().invoke_model(modelId=SONNET_45_US, body=b"{}")
    assert json.loads(response["body"].read()) == reply
    server.reply_json(converse_response(USAGE))
    assert server.client().converse(modelId=SONNET_45_US, messages=MESSAGES)["usage"] == USAGE
    assert len(telemetry.spans()) == 2


def test_a_broken_start_still_calls_botocore(instrument, telemetry, server, monkeypatch) -> None:
    from otel_tokenomics.providers import bedrock

    def broken(*args, **kwargs):
        raise RuntimeError("bug of ours")

    monkeypatch.setattr(bedrock, "request_body", broken)
    instrument()
    server.reply_json(anthropic_message({"input_tokens": 1, "output_tokens": 1}))
    assert server.client().invoke_model(modelId=SONNET_45_US, body=b"{}")["body"].read()
    assert telemetry.spans() == []


def test_uninstrument_restores_botocore(instrument, telemetry, server) -> None:
    import otel_tokenomics

    original = BaseClient.__dict__["_make_api_call"]
    instrument()
    assert BaseClient.__dict__["_make_api_call"] is not original
    otel_tokenomics.uninstrument()
    assert BaseClient.__dict__["_make_api_call"] is original
    server.reply_json(converse_response(USAGE))
    server.client().converse(modelId=SONNET_45_US, messages=MESSAGES)
    assert telemetry.spans() == []
