"""google-genai generate_content: one span per HTTP request, exact token model and cost.

Prices used (catalog, USD per million tokens):
gemini-2.5-flash: input 0.30, audio input 1.00, cache read 0.03, output 2.50;
gemini-2.5-pro: input 1.25 / cache read 0.125 / output 10, above 200k input 2.50 / 0.25 / 15.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from google.genai import types
from google_fakes import (
    Server,
    candidate,
    function_call,
    response,
    text,
    usage_metadata,
)

M = 1_000_000
EXACT = {"rel": 1e-12, "abs": 0}


def _cost(attributes) -> dict:
    return {k: v for k, v in attributes.items() if k.startswith("tokenomics.cost.") and isinstance(v, float)}


def _usage(attributes) -> dict:
    return {k: v for k, v in attributes.items() if k.startswith("gen_ai.usage.")}


def _generate(
    reply: dict, *, vertex: bool = False, headers: dict[str, str] | None = None, **request: Any
) -> Server:
    """One ``generate_content`` call, answered with ``reply``."""
    server = Server()
    server.json(":generateContent", reply, headers=headers)
    client = server.vertex() if vertex else server.gemini()
    client.models.generate_content(**request)
    return server


def test_generate_content_gemini(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.json(
        ":generateContent",
        response(candidate(text("Hello!")), usage=usage_metadata(1200, 300), response_id="abc"),
    )
    result = server.gemini().models.generate_content(model="gemini-2.5-flash", contents="Say hello.")
    assert isinstance(result, types.GenerateContentResponse)
    assert result.text == "Hello!"

    span = telemetry.span()
    attributes = span.attributes
    assert span.name == "generate_content gemini-2.5-flash"
    assert attributes["gen_ai.operation.name"] == "generate_content"
    assert attributes["gen_ai.provider.name"] == "gcp.gemini"
    assert attributes["gen_ai.request.model"] == "gemini-2.5-flash"
    assert attributes["server.address"] == "generativelanguage.googleapis.com"
    assert attributes["server.port"] == 443
    assert attributes["gen_ai.response.id"] == "abc"
    assert attributes["gen_ai.response.model"] == "gemini-2.5-flash"
    assert attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert _usage(attributes) == {
        "gen_ai.usage.input_tokens": 1200,
        "gen_ai.usage.output_tokens": 300,
        "gen_ai.usage.cache_read.input_tokens": 0,
        "gen_ai.usage.cache_write.input_tokens": 0,
        "gen_ai.usage.reasoning.output_tokens": 0,
    }
    assert attributes["tokenomics.cost.total"] == pytest.approx((1200 * 0.3 + 300 * 2.5) / M, **EXACT)
    assert "gen_ai.request.stream" not in attributes
    assert not any(key.startswith(("gen_ai.input", "gen_ai.output", "gen_ai.system")) for key in attributes)


def test_thinking_model_output_includes_thoughts(instrument, telemetry) -> None:
    instrument()
    _generate(
        response(
            candidate(text("Let me think", thought=True), text("42")),
            usage=usage_metadata(100, 50, thoughts=400),
            model="gemini-2.5-pro",
        ),
        model="gemini-2.5-pro",
        contents="Answer?",
        config=types.GenerateContentConfig(thinking_config=types.ThinkingConfig(thinking_budget=1024)),
    )
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.usage.input_tokens"] == 100
    assert attributes["gen_ai.usage.output_tokens"] == 450  # candidates + thoughts
    assert attributes["gen_ai.usage.reasoning.output_tokens"] == 400
    assert _cost(attributes) == {
        "tokenomics.cost.total": pytest.approx((100 * 1.25 + 450 * 10) / M, **EXACT),
        "tokenomics.cost.input": pytest.approx(100 * 1.25 / M, **EXACT),
        "tokenomics.cost.cache_read": 0.0,
        "tokenomics.cost.cache_write": 0.0,
        "tokenomics.cost.output": pytest.approx(450 * 10 / M, **EXACT),
        "tokenomics.cost.cache_savings": 0.0,
    }


def test_cached_content_is_inside_the_prompt(instrument, telemetry) -> None:
    instrument()
    _generate(
        response(candidate(text("ok")), usage=usage_metadata(10_000, 200, cached=8_000)),
        model="gemini-2.5-flash",
        contents="Summarise.",
        config={"cached_content": "cachedContents/abc"},
    )
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.usage.input_tokens"] == 10_000
    assert attributes["gen_ai.usage.cache_read.input_tokens"] == 8_000
    assert _cost(attributes) == {
        "tokenomics.cost.total": pytest.approx((2_000 * 0.3 + 8_000 * 0.03 + 200 * 2.5) / M, **EXACT),
        "tokenomics.cost.input": pytest.approx(2_000 * 0.3 / M, **EXACT),
        "tokenomics.cost.cache_read": pytest.approx(8_000 * 0.03 / M, **EXACT),
        "tokenomics.cost.cache_write": 0.0,
        "tokenomics.cost.output": pytest.approx(200 * 2.5 / M, **EXACT),
        "tokenomics.cost.cache_savings": pytest.approx(8_000 * (0.3 - 0.03) / M, **EXACT),
    }


def test_tool_use_prompt_tokens_are_input_outside_the_prompt(instrument, telemetry) -> None:
    instrument()
    _generate(
        response(
            candidate(text("It is sunny.")),
            usage=usage_metadata(
                50,
                20,
                tool_use=700,
                prompt_details=[("TEXT", 50)],
                tool_use_details=[("TEXT", 700)],
                candidates_details=[("TEXT", 20)],
            ),
        ),
        model="gemini-2.5-flash",
        contents="Weather in Paris?",
        config=types.GenerateContentConfig(tools=[types.Tool(google_search=types.GoogleSearch())]),
    )
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.usage.input_tokens"] == 750
    assert attributes["gen_ai.usage.text.input_tokens"] == 750
    assert attributes["gen_ai.usage.output_tokens"] == 20
    assert attributes["tokenomics.cost.total"] == pytest.approx((750 * 0.3 + 20 * 2.5) / M, **EXACT)


def test_audio_input_priced_at_the_audio_rate(instrument, telemetry) -> None:
    instrument()
    _generate(
        response(
            candidate(text("A dog barks.")),
            usage=usage_metadata(
                1_000,
                40,
                thoughts=60,
                prompt_details=[("TEXT", 200), ("AUDIO", 800)],
                candidates_details=[("TEXT", 40)],
            ),
        ),
        model="gemini-2.5-flash",
        contents=[types.Part.from_bytes(data=b"RIFF", mime_type="audio/wav"), "What is this?"],
    )
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.usage.text.input_tokens"] == 200
    assert attributes["gen_ai.usage.audio.input_tokens"] == 800
    assert attributes["gen_ai.usage.text.output_tokens"] == 100  # candidates' text + thoughts
    assert attributes["tokenomics.cost.input"] == pytest.approx((200 * 0.3 + 800 * 1.0) / M, **EXACT)
    assert attributes["tokenomics.cost.output"] == pytest.approx(100 * 2.5 / M, **EXACT)


def test_video_counts_with_image_and_document_with_text(instrument, telemetry) -> None:
    instrument()
    _generate(
        response(
            candidate(text("ok")),
            usage=usage_metadata(
                1_000, 10, prompt_details=[("TEXT", 100), ("DOCUMENT", 258), ("VIDEO", 600), ("IMAGE", 42)]
            ),
        ),
        model="gemini-2.5-flash",
        contents="Describe.",
    )
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.usage.text.input_tokens"] == 358
    assert attributes["gen_ai.usage.image.input_tokens"] == 642
    assert "gen_ai.usage.audio.input_tokens" not in attributes
    assert attributes["tokenomics.cost.input"] == pytest.approx(1_000 * 0.3 / M, **EXACT)


@pytest.mark.parametrize(
    ("prompt", "input_rate", "read_rate", "output_rate"),
    [(200_000, 1.25, 0.125, 10), (200_001, 2.5, 0.25, 15)],
)
def test_long_context_tier(instrument, telemetry, prompt, input_rate, read_rate, output_rate) -> None:
    instrument()
    _generate(
        response(
            candidate(text("ok")),
            usage=usage_metadata(prompt, 1_000, cached=100_000),
            model="gemini-2.5-pro",
        ),
        model="gemini-2.5-pro",
        contents="Long document ...",
    )
    attributes = telemetry.span().attributes
    expected = ((prompt - 100_000) * input_rate + 100_000 * read_rate + 1_000 * output_rate) / M
    assert attributes["tokenomics.cost.total"] == pytest.approx(expected, **EXACT)


@pytest.mark.parametrize("model", ["models/gemini-2.5-flash", "publishers/google/models/gemini-2.5-flash"])
def test_request_model_kept_as_passed_and_priced(instrument, telemetry, model) -> None:
    instrument()
    server = Server()
    body = response(candidate(text("ok")), usage=usage_metadata(10, 10))
    del body["modelVersion"]  # only the request's spelling is left to price from
    server.json(":generateContent", body)
    client = server.vertex() if model.startswith("publishers/") else server.gemini()
    client.models.generate_content(model=model, contents="x")
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.request.model"] == model
    assert attributes["tokenomics.pricing.model"] == "gemini-2.5-flash"
    assert attributes["tokenomics.cost.total"] == pytest.approx((10 * 0.3 + 10 * 2.5) / M, **EXACT)


def test_vertex_provider_and_traffic_type(instrument, telemetry) -> None:
    instrument()
    server = _generate(
        response(candidate(text("ok")), usage=usage_metadata(100, 10, traffic_type="ON_DEMAND")),
        model="gemini-2.5-flash",
        contents="x",
        vertex=True,
    )
    assert "/projects/p/locations/us-central1/" in str(server.requests[0].url)
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.provider.name"] == "gcp.vertex_ai"
    assert attributes["server.address"] == "us-central1-aiplatform.googleapis.com"
    assert attributes["tokenomics.response.service_tier"] == "on_demand"
    assert attributes["tokenomics.cost.total"] == pytest.approx((100 * 0.3 + 10 * 2.5) / M, **EXACT)


def test_served_service_tier_is_recorded(instrument, telemetry) -> None:
    instrument()
    _generate(
        response(candidate(text("ok")), usage=usage_metadata(100, 10)),
        headers={"x-gemini-service-tier": "standard"},
        model="gemini-2.5-flash",
        contents="x",
        config={"service_tier": "priority"},
    )
    attributes = telemetry.span().attributes
    assert attributes["tokenomics.response.service_tier"] == "standard"
    # Downgraded: billed at the standard rate.
    assert attributes["tokenomics.cost.total"] == pytest.approx((100 * 0.3 + 10 * 2.5) / M, **EXACT)


def test_request_attributes_from_config(instrument, telemetry) -> None:
    instrument()
    _generate(
        response(candidate(text("{}")), usage=usage_metadata(5, 5)),
        model="gemini-2.5-flash",
        contents="x",
        config=types.GenerateContentConfig(
            temperature=0.2,
            top_p=0.9,
            top_k=40,
            max_output_tokens=256,
            stop_sequences=["END"],
            candidate_count=2,
            seed=7,
            presence_penalty=0.1,
            frequency_penalty=0.3,
            response_mime_type="application/json",
            thinking_config=types.ThinkingConfig(thinking_level=types.ThinkingLevel.HIGH),
        ),
    )
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.request.temperature"] == 0.2
    assert attributes["gen_ai.request.top_p"] == 0.9
    assert attributes["gen_ai.request.top_k"] == 40.0
    assert attributes["gen_ai.request.max_tokens"] == 256
    assert attributes["gen_ai.request.stop_sequences"] == ("END",)
    assert attributes["gen_ai.request.choice.count"] == 2
    assert attributes["gen_ai.request.seed"] == 7
    assert attributes["gen_ai.request.presence_penalty"] == 0.1
    assert attributes["gen_ai.request.frequency_penalty"] == 0.3
    assert attributes["gen_ai.output.type"] == "json"
    assert attributes["gen_ai.request.reasoning.level"] == "HIGH"


def test_request_attributes_from_a_dict_config(instrument, telemetry) -> None:
    instrument()
    _generate(
        response(candidate(text("x")), usage=usage_metadata(5, 5)),
        model="gemini-2.5-flash",
        contents="x",
        config={"temperature": 1, "max_output_tokens": 64, "response_modalities": ["IMAGE", "TEXT"]},
    )
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.request.temperature"] == 1.0
    assert attributes["gen_ai.request.max_tokens"] == 64
    assert attributes["gen_ai.output.type"] == "image"


def test_several_candidates_have_their_finish_reasons(instrument, telemetry) -> None:
    instrument()
    _generate(
        response(
            candidate(text("a"), index=0),
            candidate(text("b"), finish_reason="MAX_TOKENS", index=1),
            usage=usage_metadata(5, 5),
        ),
        model="gemini-2.5-flash",
        contents="x",
        config={"candidate_count": 2},
    )
    assert telemetry.span().attributes["gen_ai.response.finish_reasons"] == ("stop", "max_tokens")


def test_async_generate_content(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.json(":generateContent", response(candidate(text("hi")), usage=usage_metadata(40, 8, thoughts=2)))

    async def main() -> types.GenerateContentResponse:
        return await server.gemini().aio.models.generate_content(model="gemini-2.5-flash", contents="x")

    result = asyncio.run(main())
    assert isinstance(result, types.GenerateContentResponse)
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.usage.output_tokens"] == 10
    assert attributes["tokenomics.cost.total"] == pytest.approx((40 * 0.3 + 10 * 2.5) / M, **EXACT)


def test_chat_session_goes_through_the_per_request_span(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.json(":generateContent", response(candidate(text("Hi")), usage=usage_metadata(10, 2)))
    server.json(":generateContent", response(candidate(text("Fine")), usage=usage_metadata(20, 3)))
    chat = server.gemini().chats.create(model="gemini-2.5-flash")
    chat.send_message("Hello")
    chat.send_message("How are you?")
    spans = telemetry.spans()
    assert [s.attributes["gen_ai.usage.input_tokens"] for s in spans] == [10, 20]
    assert len(server.bodies()[1]["contents"]) == 3  # the history went out with the second turn


def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


def _afc_server() -> Server:
    server = Server()
    hops = (
        (function_call("get_weather", {"city": "Paris"}), 100, 10),
        (function_call("get_weather", {"city": "Rome"}), 150, 12),
        (text("Sunny in both."), 210, 20),
    )
    for number, (part, prompt, output) in enumerate(hops, 1):
        reply = response(candidate(part), usage=usage_metadata(prompt, output), response_id=f"hop-{number}")
        server.json(":generateContent", reply)
    return server


def _assert_afc_spans(telemetry, server: Server, result: types.GenerateContentResponse) -> None:
    assert result.text == "Sunny in both."
    # The public response carries the last request's usage only: each hop is its own span.
    assert result.usage_metadata.prompt_token_count == 210
    assert len(server.requests) == 3
    spans = telemetry.spans()
    assert [s.attributes["gen_ai.response.id"] for s in spans] == ["hop-1", "hop-2", "hop-3"]
    assert [s.attributes["gen_ai.usage.input_tokens"] for s in spans] == [100, 150, 210]
    assert [s.attributes["gen_ai.usage.output_tokens"] for s in spans] == [10, 12, 20]
    total = sum(s.attributes["tokenomics.cost.total"] for s in spans)
    assert total == pytest.approx(((100 + 150 + 210) * 0.3 + (10 + 12 + 20) * 2.5) / M, rel=1e-9, abs=0)
    points = telemetry.metrics()["gen_ai.client.token.usage"]
    assert {p.attributes["gen_ai.token.type"]: p.sum for p in points} == {"input": 460, "output": 42}


def test_automatic_function_calling_gives_one_span_per_request(instrument, telemetry) -> None:
    instrument()
    server = _afc_server()
    result = server.gemini().models.generate_content(
        model="gemini-2.5-flash", contents="Weather in Paris and Rome?", config={"tools": [get_weather]}
    )
    _assert_afc_spans(telemetry, server, result)
    assert json.loads(server.requests[2].content)["contents"][-1]["parts"][0]["functionResponse"]


def test_async_automatic_function_calling(instrument, telemetry) -> None:
    instrument()
    server = _afc_server()

    async def main() -> types.GenerateContentResponse:
        return await server.gemini().aio.models.generate_content(
            model="gemini-2.5-flash", contents="Weather?", config={"tools": [get_weather]}
        )

    _assert_afc_spans(telemetry, server, asyncio.run(main()))


def test_automatic_continuation_gives_one_span_per_request(instrument, telemetry) -> None:
    instrument()
    server = Server()
    first = candidate(text("Part one "), finish_reason="CONTINUATION")
    first["continuationToken"] = "dG9rZW4="
    server.json(
        ":generateContent", response(first, usage=usage_metadata(300_000, 50_000), model="gemini-2.5-pro")
    )
    server.json(
        ":generateContent",
        response(candidate(text("part two.")), usage=usage_metadata(150_000, 10_000), model="gemini-2.5-pro"),
    )
    result = server.gemini().models.generate_content(model="gemini-2.5-pro", contents="Write a book.")
    assert len(server.requests) == 2
    # The SDK sums the requests' usage into the public response ...
    assert result.usage_metadata.prompt_token_count == 450_000
    spans = telemetry.spans()
    assert [s.attributes["gen_ai.response.finish_reasons"] for s in spans] == [("continuation",), ("stop",)]
    # ... but each request has its own price tier: above 200k, then below.
    assert spans[0].attributes["tokenomics.cost.total"] == pytest.approx(
        (300_000 * 2.5 + 50_000 * 15) / M, **EXACT
    )
    assert spans[1].attributes["tokenomics.cost.total"] == pytest.approx(
        (150_000 * 1.25 + 10_000 * 10) / M, **EXACT
    )


def test_embed_content_gemini_without_usage(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.json(
        ":batchEmbedContents", {"embeddings": [{"values": [0.1, 0.2, 0.3]}, {"values": [0.4, 0.5, 0.6]}]}
    )
    result = server.gemini().models.embed_content(model="gemini-embedding-001", contents=["a", "b"])
    assert isinstance(result, types.EmbedContentResponse)
    span = telemetry.span()
    attributes = span.attributes
    assert span.name == "embeddings gemini-embedding-001"
    assert attributes["gen_ai.operation.name"] == "embeddings"
    assert attributes["gen_ai.provider.name"] == "gcp.gemini"
    assert attributes["gen_ai.embeddings.dimension.count"] == 3
    # The Gemini API reports no usage for embeddings: each input is counted on its own.
    assert attributes["tokenomics.usage.source"] == "heuristic"
    assert attributes["gen_ai.usage.input_tokens"] == 2
    assert attributes["tokenomics.cost.total"] == pytest.approx(2 * 0.15 / M, **EXACT)


def test_embed_content_gemini_with_usage_metadata(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.json(
        ":batchEmbedContents",
        {
            "embeddings": [{"values": [0.1, 0.2]}],
            "usageMetadata": {"promptTokenCount": 12, "totalTokenCount": 12},
        },
    )
    server.gemini().models.embed_content(
        model="gemini-embedding-001", contents="a", config={"output_dimensionality": 2}
    )
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.usage.input_tokens"] == 12
    assert attributes["gen_ai.embeddings.dimension.count"] == 2
    assert attributes["tokenomics.cost.total"] == pytest.approx(12 * 0.15 / M, **EXACT)


def test_embed_content_vertex_predict(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.json(
        ":predict",
        {
            "predictions": [
                {"embeddings": {"values": [0.1, 0.2], "statistics": {"token_count": 7, "truncated": False}}},
                {"embeddings": {"values": [0.3, 0.4], "statistics": {"token_count": 5, "truncated": False}}},
            ],
            "metadata": {"billableCharacterCount": 40},
        },
    )
    server.vertex().models.embed_content(model="text-embedding-005", contents=["a", "b"])
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.provider.name"] == "gcp.vertex_ai"
    assert attributes["gen_ai.usage.input_tokens"] == 12


def test_embed_content_vertex_embed_content_api_async(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.json(
        ":embedContent",
        {"embedding": {"values": [0.1, 0.2, 0.3]}, "usageMetadata": {"promptTokenCount": 9}},
    )

    async def main() -> types.EmbedContentResponse:
        return await server.vertex().aio.models.embed_content(model="gemini-embedding-001", contents="a")

    result = asyncio.run(main())
    assert result.embeddings[0].values == [0.1, 0.2, 0.3]
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.usage.input_tokens"] == 9
    assert attributes["tokenomics.cost.total"] == pytest.approx(9 * 0.15 / M, **EXACT)


def test_vertex_provisioned_throughput_is_recorded(instrument, telemetry) -> None:
    instrument()
    _generate(
        response(candidate(text("ok")), usage=usage_metadata(100, 10, traffic_type="PROVISIONED_THROUGHPUT")),
        model="gemini-2.5-flash",
        contents="x",
        vertex=True,
    )
    attributes = telemetry.span().attributes
    assert attributes["tokenomics.response.service_tier"] == "provisioned_throughput"
    assert attributes["gen_ai.usage.input_tokens"] == 100
    # Prepaid capacity: the call costs nothing per token, and the span says so
    # rather than billing it at the on-demand price.
    assert attributes["tokenomics.cost.status"] == "priced"
    assert attributes["tokenomics.cost.source"] == "provider"
    assert attributes["tokenomics.cost.total"] == 0.0
    assert attributes["tokenomics.cost.input"] == 0.0
    assert attributes["tokenomics.pricing.model"] == "gemini-2.5-flash"


def test_flex_inference_is_billed_at_half_price(instrument, telemetry) -> None:
    instrument()
    _generate(
        response(candidate(text("ok")), usage=usage_metadata(100, 10)),
        headers={"x-gemini-service-tier": "flex"},
        model="gemini-2.5-flash",
        contents="x",
        config={"service_tier": "flex"},
    )
    attributes = telemetry.span().attributes
    assert attributes["tokenomics.response.service_tier"] == "flex"
    assert attributes["tokenomics.cost.total"] == pytest.approx((100 * 0.15 + 10 * 1.25) / M, **EXACT)


def test_vertex_flex_traffic_is_billed_at_half_price(instrument, telemetry) -> None:
    instrument()
    _generate(
        response(candidate(text("ok")), usage=usage_metadata(100, 10, traffic_type="ON_DEMAND_FLEX")),
        model="gemini-2.5-flash",
        contents="x",
        vertex=True,
    )
    attributes = telemetry.span().attributes
    assert attributes["tokenomics.response.service_tier"] == "on_demand_flex"
    assert attributes["tokenomics.cost.total"] == pytest.approx((100 * 0.15 + 10 * 1.25) / M, **EXACT)
