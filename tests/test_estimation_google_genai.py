"""google-genai calls that end without (all of) their usage: estimated from the request and the text seen.

Gemini has no public tokenizer: every estimate is heuristic, ``heuristic_count``
per text plus Gemini's framing in ``counting``: 1 to open the reply, nothing per
message (system instruction included) nor per tool call. A stream whose chunks
counted the prompt but not yet the candidates keeps the prompt count and estimates
the output. A stream that failed before its first chunk is not estimated.

gemini-2.5-flash per million tokens: input $0.30, output $2.50.
"""

from __future__ import annotations

import asyncio
import struct
import zlib

import httpx2
import pytest
from google.genai import types
from google_fakes import Server, candidate, function_call, response, text, usage_metadata
from opentelemetry.trace import StatusCode

from otel_tokenomics.estimation.tokenizers import heuristic_count
from otel_tokenomics.providers.gemini_prompt import embed_prompt, generate_prompt, response_output_text

MODEL = "gemini-2.5-flash"
IN, OUT = 0.3e-6, 2.5e-6
PER_REPLY, PER_MESSAGE = 1, 0
SYSTEM = "You answer like a sailor."
QUESTION = "What is a knot?"
PIECES = ("A knot is ", "one nautical mile ", "per hour of speed.")
ANSWER = "".join(PIECES)
CONFIG = {"system_instruction": SYSTEM, "automatic_continuation": False}
# Gemini's rule: reply opener, the system instruction's text, then the question with its framing (0).
PROMPT_TOKENS = PER_REPLY + heuristic_count(SYSTEM) + (PER_MESSAGE + heuristic_count(QUESTION))
ANSWER_TOKENS = heuristic_count(ANSWER)


def _exact(value: float):
    return pytest.approx(value, rel=1e-12, abs=0)


def test_the_rule_in_numbers() -> None:
    """Literal counts: a change of the heuristic or of the framing shows here first."""
    assert (heuristic_count(SYSTEM), heuristic_count(QUESTION)) == (6, 5)
    assert PROMPT_TOKENS == 12  # 1 + 6 + (0 + 5)
    assert ANSWER_TOKENS == 11


def _chunks(with_usage: bool) -> list[dict]:
    chunks = []
    for position, piece in enumerate(PIECES):
        last = position == len(PIECES) - 1
        usage = usage_metadata(40, 3 * (position + 1)) if with_usage else None
        chunks.append(response(candidate(text(piece), finish_reason="STOP" if last else None), usage=usage))
    return chunks


def _stream(server: Server, chunks: list[dict], fail_after: int | None = None):
    server.stream(":streamGenerateContent", chunks, fail_after=fail_after)
    return server.gemini().models.generate_content_stream(model=MODEL, contents=QUESTION, config=CONFIG)


def _assert_estimated(attributes, input_tokens: int, output_tokens: int) -> None:
    assert attributes["tokenomics.usage.source"] == "heuristic"
    assert attributes["tokenomics.usage.tokenizer"] == "heuristic"
    assert attributes["tokenomics.cost.status"] == "estimated"
    assert attributes["gen_ai.usage.input_tokens"] == input_tokens
    assert attributes["gen_ai.usage.output_tokens"] == output_tokens
    assert attributes["tokenomics.cost.total"] == _exact(input_tokens * IN + output_tokens * OUT)


# -- streams ---------------------------------------------------------------------------------------


def test_stream_without_usage_is_estimated(instrument, telemetry) -> None:
    instrument()
    assert "".join(chunk.text for chunk in _stream(Server(), _chunks(False))) == ANSWER
    attributes = telemetry.span().attributes
    assert attributes["tokenomics.stream.outcome"] == "completed"
    _assert_estimated(attributes, PROMPT_TOKENS, ANSWER_TOKENS)
    assert (attributes["gen_ai.usage.input_tokens"], attributes["gen_ai.usage.output_tokens"]) == (12, 11)


def test_stream_left_early_without_usage(instrument, telemetry) -> None:
    instrument()
    for _chunk in _stream(Server(), _chunks(False)):
        break
    attributes = telemetry.span().attributes
    assert attributes["tokenomics.stream.outcome"] == "closed_early"
    _assert_estimated(attributes, PROMPT_TOKENS, heuristic_count(PIECES[0]))


def test_stream_closed_without_usage(instrument, telemetry) -> None:
    instrument()
    stream = _stream(Server(), _chunks(False))
    next(stream)
    next(stream)
    stream.close()
    _assert_estimated(telemetry.span().attributes, PROMPT_TOKENS, heuristic_count("".join(PIECES[:2])))


def test_stream_fails_mid_way_without_usage(instrument, telemetry) -> None:
    instrument()
    with pytest.raises(httpx2.ReadError):
        for _chunk in _stream(Server(), _chunks(False), fail_after=2):
            pass
    span = telemetry.span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["tokenomics.stream.outcome"] == "failed"
    _assert_estimated(span.attributes, PROMPT_TOKENS, heuristic_count("".join(PIECES[:2])))


def test_stream_with_running_usage_keeps_it_when_left_early(instrument, telemetry) -> None:
    """Each chunk's usage is the running total: what the last one said is the provider's count."""
    instrument()
    for _chunk in _stream(Server(), _chunks(True)):
        break
    attributes = telemetry.span().attributes
    assert attributes["tokenomics.usage.source"] == "provider"
    assert (attributes["gen_ai.usage.input_tokens"], attributes["gen_ai.usage.output_tokens"]) == (40, 3)


def test_stream_counting_only_the_prompt_so_far(instrument, telemetry) -> None:
    """Chunks whose usage counts the prompt but no candidates yet: the output is estimated."""
    instrument()
    chunks = _chunks(False)
    for chunk in chunks:
        chunk["usageMetadata"] = {"promptTokenCount": 40, "totalTokenCount": 40}
    stream = _stream(Server(), chunks)
    next(stream)
    next(stream)
    stream.close()
    attributes = telemetry.span().attributes
    assert attributes["tokenomics.usage.source"] == "heuristic"
    assert attributes["gen_ai.usage.input_tokens"] == 40
    output = heuristic_count("".join(PIECES[:2]))
    assert attributes["gen_ai.usage.output_tokens"] == output
    assert attributes["tokenomics.cost.total"] == _exact(40 * IN + output * OUT)


def test_stream_completed_keeps_provider_counts(instrument, telemetry) -> None:
    instrument()
    list(_stream(Server(), _chunks(True)))
    attributes = telemetry.span().attributes
    assert attributes["tokenomics.usage.source"] == "provider"
    assert "tokenomics.usage.tokenizer" not in attributes
    assert attributes["tokenomics.cost.status"] == "priced"
    assert (attributes["gen_ai.usage.input_tokens"], attributes["gen_ai.usage.output_tokens"]) == (40, 9)


def test_stream_rejected_is_not_estimated(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.error(":streamGenerateContent", 429, "RESOURCE_EXHAUSTED")
    from google.genai import errors

    with pytest.raises(errors.ClientError):
        list(server.gemini().models.generate_content_stream(model=MODEL, contents=QUESTION))
    assert telemetry.span().attributes["tokenomics.usage.source"] == "unavailable"


def test_stream_function_call_is_output(instrument, telemetry) -> None:
    instrument()
    chunks = [response(candidate(function_call("get_weather", {"city": "Oslo"})))]
    list(_stream(Server(), chunks))
    output = heuristic_count('get_weather{"city": "Oslo"}')
    _assert_estimated(telemetry.span().attributes, PROMPT_TOKENS, output)


def test_async_stream_left_early_without_usage(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.stream(":streamGenerateContent", _chunks(False))

    async def main() -> None:
        stream = await server.gemini().aio.models.generate_content_stream(
            model=MODEL, contents=QUESTION, config=CONFIG
        )
        async for _chunk in stream:
            break
        await stream.aclose()

    asyncio.run(main())
    _assert_estimated(telemetry.span().attributes, PROMPT_TOKENS, heuristic_count(PIECES[0]))


def test_async_stream_failing_before_its_first_chunk_is_not_estimated(instrument, telemetry) -> None:
    """The coroutine returned a stream (HTTP 200) but no chunk came: the call is not estimated."""
    instrument()
    server = Server()
    server.stream(":streamGenerateContent", _chunks(False), fail_after=0)

    async def main() -> None:
        stream = await server.gemini().aio.models.generate_content_stream(
            model=MODEL, contents=QUESTION, config=CONFIG
        )
        with pytest.raises(httpx2.ReadError):
            async for _chunk in stream:
                pass

    asyncio.run(main())
    span = telemetry.span()
    assert span.status.status_code is StatusCode.ERROR
    attributes = span.attributes
    assert attributes["tokenomics.stream.outcome"] == "failed"
    assert attributes["tokenomics.stream.chunk_count"] == 0
    assert attributes["tokenomics.usage.source"] == "unavailable"
    assert attributes["tokenomics.cost.status"] == "no_usage"
    assert "tokenomics.usage.tokenizer" not in attributes
    assert not any(key.startswith("gen_ai.usage.") for key in attributes)


# -- non-streamed answers and embeddings -------------------------------------------------------------


def test_generate_content_without_usage(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.json(":generateContent", response(candidate(text(ANSWER))))
    server.gemini().models.generate_content(model=MODEL, contents=QUESTION, config=CONFIG)
    _assert_estimated(telemetry.span().attributes, PROMPT_TOKENS, ANSWER_TOKENS)


def test_embed_content_without_usage(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.json(":batchEmbedContents", {"embeddings": [{"values": [0.1]}, {"values": [0.2]}]})
    server.gemini().models.embed_content(model="gemini-embedding-001", contents=[QUESTION, SYSTEM])
    attributes = telemetry.span().attributes
    assert attributes["tokenomics.usage.source"] == "heuristic"
    assert (
        attributes["gen_ai.usage.input_tokens"] == heuristic_count(QUESTION) + heuristic_count(SYSTEM) == 11
    )
    assert attributes["tokenomics.cost.total"] == _exact(11 * 0.15e-6)


# -- the readers ---------------------------------------------------------------------------------------


def _png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))


def add(a: float, b: float) -> float:
    """Returns a + b."""
    return a + b


def test_reader_contents_parts_system_and_tools() -> None:
    body = {
        "contents": [
            types.Content(
                role="user",
                parts=[
                    types.Part(text="Describe"),
                    types.Part.from_bytes(data=_png(300, 200), mime_type="image/png"),
                    types.Part.from_uri(file_uri="gs://b/p.jpg", mime_type="image/jpeg"),
                    types.Part.from_uri(file_uri="gs://b/a.mp3", mime_type="audio/mpeg"),
                ],
            ),
            {"role": "model", "parts": [{"function_call": {"name": "add", "args": {"a": 1, "b": 2}}}]},
            {"role": "user", "parts": [{"function_response": {"name": "add", "response": {"result": 3}}}]},
        ],
        "config": types.GenerateContentConfig(
            system_instruction=types.Content(parts=[types.Part(text="Be exact.")]),
            tools=[
                add,
                types.Tool(
                    function_declarations=[
                        types.FunctionDeclaration(
                            name="mul",
                            description="a * b",
                            parameters_json_schema={
                                "type": "object",
                                "properties": {"a": {"type": "number"}},
                            },
                        )
                    ]
                ),
            ],
        ),
    }
    prompt = generate_prompt(body)
    system, user, model, result = prompt.messages
    assert (system.role, system.texts) == ("system", ["Be exact."])
    assert user.texts == ["Describe"]
    assert [(image.width, image.height) for image in user.images] == [(300, 200), (None, None)]
    assert (model.role, [(c.name, c.arguments) for c in model.tool_calls]) == (
        "assistant",
        [("add", '{"a": 1, "b": 2}')],
    )
    assert result.texts == ['add{"result": 3}']
    assert [(tool.name, tool.description) for tool in prompt.tools] == [
        ("add", "Returns a + b."),
        ("mul", "a * b"),
    ]
    assert prompt.tools[0].parameters == {
        "type": "object",
        "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
        "required": ["a", "b"],
    }


def test_reader_plain_shapes_and_odd_input() -> None:
    assert [m.texts for m in generate_prompt({"contents": "Hi"}).messages] == [["Hi"]]
    assert [m.texts for m in generate_prompt({"contents": ["a", "b"]}).messages] == [["a", "b"]]
    system = generate_prompt({"contents": "x", "config": {"system_instruction": ["one", "two"]}}).messages[0]
    assert system.texts == ["one", "two"]
    assert generate_prompt({}).messages == []
    assert generate_prompt({"contents": [], "config": {"tools": "nope"}}).messages == []
    assert embed_prompt({"contents": ["a", "b"]}).messages[0].texts == ["a", "b"]


def test_output_text_of_a_response() -> None:
    answer = types.GenerateContentResponse.model_validate(
        {
            "candidates": [
                {
                    "content": {
                        "role": "model",
                        "parts": [{"text": "Hi "}, {"function_call": {"name": "f", "args": {}}}],
                    }
                }
            ]
        }
    )
    assert response_output_text(answer) == ["Hi ", "f{}"]
    assert response_output_text(types.GenerateContentResponse()) == []
