"""Failures: the SDK's own exception reaches the caller unchanged; ours never does."""

from __future__ import annotations

import asyncio
import logging

import openai
import pytest
from openai_fakes import HTTP, Server, chat_completion
from opentelemetry.trace import StatusCode

MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize(
    ("status", "error_class"),
    [(429, openai.RateLimitError), (500, openai.InternalServerError), (400, openai.BadRequestError)],
)
def test_http_errors(instrument, telemetry, status, error_class) -> None:
    instrument()
    server = Server()
    server.json("/chat/completions", {"error": {"message": "nope", "type": "x", "code": "c"}}, status=status)
    with pytest.raises(error_class) as raised:
        server.client().chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert type(raised.value) is error_class
    span = telemetry.span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == error_class.__name__
    assert span.attributes["tokenomics.usage.source"] == "unavailable"
    (duration,) = telemetry.metrics()["gen_ai.client.operation.duration"]
    assert duration.attributes["error.type"] == error_class.__name__
    assert "gen_ai.client.token.usage" not in telemetry.metrics()


def test_same_exception_object_passes_through(instrument, telemetry) -> None:
    instrument()
    boom = HTTP.ConnectError("refused")
    server = Server()

    def refuse(request):
        raise boom

    server.routes["/chat/completions"] = refuse
    with pytest.raises(openai.APIConnectionError) as raised:
        server.client().chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert raised.value.__cause__ is boom
    assert telemetry.span().attributes["error.type"] == "APIConnectionError"


def test_retries_are_one_span(instrument, telemetry, monkeypatch) -> None:
    instrument()
    answers = iter([HTTP.Response(503, json={"error": {"message": "busy"}}), None])
    server = Server()

    def flaky(request):
        answer = next(answers)
        return answer if answer is not None else HTTP.Response(200, json=chat_completion())

    server.routes["/chat/completions"] = flaky
    monkeypatch.setattr(openai.OpenAI, "_calculate_retry_timeout", lambda *a, **k: 0.0)
    server.client(max_retries=2).chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert len(server.requests) == 2
    span = telemetry.span()
    assert span.status.status_code is StatusCode.UNSET
    assert span.attributes["gen_ai.usage.input_tokens"] == 2048


def test_async_error(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.json("/chat/completions", {"error": {"message": "slow down"}}, status=429)

    async def main() -> None:
        await server.async_client().chat.completions.create(model="gpt-4o", messages=MESSAGES)

    with pytest.raises(openai.RateLimitError):
        asyncio.run(main())
    assert telemetry.span().attributes["error.type"] == "RateLimitError"


def test_cancelled_async_call_ends_the_span(instrument, telemetry) -> None:
    instrument()
    server = Server()

    async def slow(request):
        await asyncio.sleep(10)

    server.async_handler = slow  # type: ignore[method-assign]

    async def main() -> None:
        task = asyncio.ensure_future(
            server.async_client().chat.completions.create(model="gpt-4o", messages=MESSAGES)
        )
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    span = telemetry.span()
    assert span.attributes["error.type"] == "CancelledError"


def test_our_own_bug_never_reaches_the_caller(instrument, telemetry, monkeypatch, caplog) -> None:
    from otel_tokenomics import call as call_module
    from otel_tokenomics.providers import openai as adapter

    instrument()
    monkeypatch.setattr(call_module, "_reported", set())

    def broken(call, response):
        raise RuntimeError("simulated bug in our reader")

    monkeypatch.setattr(adapter.ROUTES["/chat/completions"], "read_response", broken)
    server = Server()
    server.json("/chat/completions", chat_completion())
    with caplog.at_level(logging.WARNING, logger="otel_tokenomics"):
        result = server.client().chat.completions.create(model="gpt-4o", messages=MESSAGES)
        server.client().chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert result.choices[0].message.content == "Hello there."
    assert len(telemetry.spans()) == 2  # still ended, once each
    warnings = [r for r in caplog.records if "could not record telemetry" in r.getMessage()]
    assert len(warnings) == 1
    assert "reading a response" in warnings[0].getMessage()


def test_broken_span_start_still_calls_the_sdk(instrument, telemetry, monkeypatch) -> None:
    from otel_tokenomics.telemetry import Telemetry

    instrument()

    def broken(*args, **kwargs):
        raise RuntimeError("simulated")

    monkeypatch.setattr(Telemetry, "start_call", broken)
    server = Server()
    server.json("/chat/completions", chat_completion())
    result = server.client().chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert result.usage.prompt_tokens == 2048
    assert telemetry.spans() == []
