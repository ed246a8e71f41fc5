"""The offline demo end to end, and the fake OpenAI server it runs against."""

from __future__ import annotations

import importlib.util
import json
import os
import pathlib
import re
import subprocess
import sys
import urllib.error
import urllib.request
from decimal import Decimal
from typing import Any

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"

# What the fake server reports for the demo's fixed prompts (see the docstring of
# examples/fake_openai_server.py for the arithmetic):
# row -> (response model, input, cached, output, reasoning)
EXPECTED_TOKENS = {
    "1": ("gpt-4o-mini", "1472", "1408", "29", "0"),  # chat, 5783-char system prompt
    "2": ("gpt-4o-mini", "1471", "1408", "26", "0"),  # the same prefix, streamed
    "3": ("gpt-5-nano", "21", "0", "93", "64"),  # Responses API, reasoning effort low
    "4": ("text-embedding-3-small", "28", "-", "-", "-"),
    "5": ("my-finetune-v1", "23", "0", "26", "0"),  # a model no catalog prices
    "6": ("fail-429", "-", "-", "-", "-"),
}
FIRST_CHUNK_DELAY_MS = 60  # the fake server's default wait before the first chunk

# The published prices of the demo's models, USD per million tokens (input / cached
# input / output): gpt-4o-mini 0.15 / 0.075 / 0.60, gpt-5-nano 0.05 / 0.005 / 0.40
# (reasoning is output), text-embedding-3-small 0.02 (input only). Uncached input is
# input - cached. Computed by hand, not by the code under test:
# row -> (cost status, priced as, input, cache read, output, cache savings); the total is
# the sum of the three classes.
EXPECTED_COSTS = {
    # (1472 - 1408) x 0.15, 1408 x 0.075, 29 x 0.60; savings 1408 x (0.15 - 0.075)
    "1": ("priced", "gpt-4o-mini", "0.00000960", "0.00010560", "0.00001740", "0.00010560"),
    # (1471 - 1408) x 0.15, 1408 x 0.075, 26 x 0.60
    "2": ("priced", "gpt-4o-mini", "0.00000945", "0.00010560", "0.00001560", "0.00010560"),
    # 21 x 0.05, nothing cached, 93 x 0.40
    "3": ("priced", "gpt-5-nano", "0.00000105", "0.00000000", "0.00003720", "0.00000000"),
    # 28 x 0.02
    "4": ("priced", "text-embedding-3-small", "0.00000056", "0.00000000", "0.00000000", "0.00000000"),
    "5": ("unpriced", "-", "-", "-", "-", "-"),  # no cost attribute at all, never 0
    "6": ("no_usage", "-", "-", "-", "-", "-"),  # the 429 reported no usage
}
EXPECTED_TOTALS = {"1": "0.00013260", "2": "0.00013065", "3": "0.00003825", "4": "0.00000056"}


def _load_fake_server() -> Any:
    spec = importlib.util.spec_from_file_location("fake_openai_server", EXAMPLES / "fake_openai_server.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("fake_openai_server", module)
    spec.loader.exec_module(module)
    return module


fake = _load_fake_server()


def _section(output: str, title: str) -> list[str]:
    """The lines of one summary section, up to the next blank line."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(title))
    section = []
    for line in lines[start + 1 :]:
        if not line.strip():
            break
        section.append(line)
    return section


def _rows(section: list[str]) -> dict[str, list[str]]:
    return {cells[0]: cells for cells in (line.split() for line in section) if cells[0].isdigit()}


@pytest.fixture(scope="module")
def demo_output() -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "OTEL_"))}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "demo.py"), "--offline"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result.stdout


def test_demo_token_numbers(demo_output: str) -> None:
    rows = _rows(_section(demo_output, "Tokens and timing"))
    assert set(rows) == set(EXPECTED_TOKENS), demo_output
    for number, expected in EXPECTED_TOKENS.items():
        assert tuple(rows[number][1:6]) == expected, (number, demo_output)


def test_demo_stream_time_to_first_chunk(demo_output: str) -> None:
    rows = _rows(_section(demo_output, "Tokens and timing"))
    duration_ms, ttfc = rows["2"][6], rows["2"][7]
    assert ttfc != "-", demo_output
    assert FIRST_CHUNK_DELAY_MS <= float(ttfc) < float(duration_ms)
    # Only the streamed call has a time to first chunk.
    assert [rows[n][7] for n in ("1", "3", "4", "5", "6")] == ["-"] * 5


def test_demo_spans_and_error(demo_output: str) -> None:
    rows = _rows(_section(demo_output, "Spans"))
    assert [" ".join(rows[n][1:3]) for n in sorted(rows)] == [
        "chat gpt-4o-mini",
        "chat gpt-4o-mini",
        "chat gpt-5-nano",
        "embeddings text-embedding-3-small",
        "chat my-finetune-v1",
        "chat fail-429",
    ]
    assert {cells[3] for cells in rows.values()} == {"openai"}
    assert [rows[n][-3] for n in sorted(rows)] == ["no", "yes", "no", "no", "no", "no"]  # stream
    assert [rows[n][-2] for n in sorted(rows)] == ["ok", "ok", "ok", "ok", "ok", "RateLimitError"]
    assert "RateLimitError (HTTP 429)" in demo_output


def test_demo_cost_per_span(demo_output: str) -> None:
    spans = _rows(_section(demo_output, "Spans"))
    assert {n: spans[n][-1] for n in spans} == {**EXPECTED_TOTALS, "5": "unpriced", "6": "no_usage"}
    rows = _rows(_section(demo_output, "Cost in USD by token class"))
    assert set(rows) == set(EXPECTED_COSTS), demo_output
    for number, expected in EXPECTED_COSTS.items():
        assert tuple(rows[number][1:]) == expected, (number, demo_output)
    for number, total in EXPECTED_TOTALS.items():
        classes = sum(Decimal(amount) for amount in EXPECTED_COSTS[number][2:5])
        assert classes == Decimal(total), number
    version_line = r"^  prices: catalog \d{4}\.\d{2}\.\d{2}(\.\d+)?  \("
    assert re.search(version_line, demo_output, re.MULTILINE), demo_output


def _warnings(output: str) -> dict[int, str]:
    """The library's log lines the demo printed, unwrapped, by the line they start on."""
    lines = output.splitlines()
    found = {}
    for number, line in enumerate(lines):
        if line.startswith("    !! "):
            text = [line[7:]]
            for follower in lines[number + 1 :]:
                if not follower.startswith("       "):  # the wrapped rest of the message
                    break
                text.append(follower.strip())
            found[number] = " ".join(text)
    return found


def test_demo_unpriced_model_warns_once(demo_output: str) -> None:
    warnings = _warnings(demo_output)
    assert len(warnings) == 1, demo_output
    (line, text), *_ = warnings.items()
    assert text.startswith("WARNING: ") and "'my-finetune-v1'" in text and "unpriced" in text, text
    # Printed under the call that caused it, before that call's answer.
    assert demo_output.splitlines()[line - 1].startswith("[5] "), demo_output


def test_demo_metrics(demo_output: str) -> None:
    metrics = "\n".join(_section(demo_output, "Metrics"))
    assert re.search(r"gen_ai\.client\.token\.usage\s+input 3015\s+output 174\b", metrics), metrics
    assert re.search(r"gen_ai\.client\.operation\.duration\s+count 6 \(1 with error\.type\)", metrics), (
        metrics
    )
    assert re.search(r"gen_ai\.client\.operation\.time_to_first_chunk\s+count 1,", metrics), metrics


def test_demo_cost_metrics(demo_output: str) -> None:
    lines = _section(demo_output, "Metrics")
    start = next(i for i, line in enumerate(lines) if line.split()[0] == "tokenomics.cost")
    # The counter's total, then its split by tokenomics.token.class: the column sums of
    # the priced rows (no call wrote to the cache, so there is no cache_write series).
    # In millionths of a dollar: input 9.60 + 9.45 + 1.05 + 0.56, cache_read 105.60 x 2,
    # output 17.40 + 15.60 + 37.20.
    assert [line.split() for line in lines[start : start + 4]] == [
        ["tokenomics.cost", "total", "0.00030206", "USD"],
        ["tokenomics.token.class=input", "0.00002066", "USD"],
        ["tokenomics.token.class=cache_read", "0.00021120", "USD"],
        ["tokenomics.token.class=output", "0.00007020", "USD"],
    ], "\n".join(lines)
    expected_total = sum(Decimal(total) for total in EXPECTED_TOTALS.values())
    assert expected_total == Decimal("0.00030206")
    start = next(i for i, line in enumerate(lines) if line.split()[0] == "tokenomics.unpriced.calls")
    assert [line.split() for line in lines[start : start + 2]] == [
        ["tokenomics.unpriced.calls", "total", "1", "{call}"],
        ["gen_ai.request.model=my-finetune-v1", "1", "{call}"],
    ], "\n".join(lines)


# -- the fake server ---------------------------------------------------------------------------


def _post(base_url: str, path: str, body: dict[str, Any]) -> tuple[int, str]:
    request = urllib.request.Request(
        base_url + path, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def _events(text: str) -> list[Any]:
    data = [line[len("data: ") :] for line in text.splitlines() if line.startswith("data: ")]
    assert data[-1] == "[DONE]"
    return [json.loads(item) for item in data[:-1]]


CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "How many tokens is this?"}]}


@pytest.fixture(scope="module")
def base_url() -> Any:
    with fake.start_server(first_chunk_delay=0, chunk_delay=0) as (_server, url):
        yield url


@pytest.mark.parametrize("stream_options", [None, {"include_usage": False}])
def test_fake_stream_without_include_usage_has_no_usage(base_url: str, stream_options: Any) -> None:
    body = {**CHAT, "stream": True}
    if stream_options is not None:
        body["stream_options"] = stream_options
    status, text = _post(base_url, "/chat/completions", body)
    assert status == 200
    chunks = _events(text)
    assert all("usage" not in chunk for chunk in chunks)
    assert all(chunk["choices"] for chunk in chunks)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_fake_stream_with_include_usage_ends_with_usage_chunk(base_url: str) -> None:
    status, text = _post(
        base_url, "/chat/completions", {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
    )
    assert status == 200
    chunks = _events(text)
    *content, finish, last = chunks
    assert last["choices"] == []
    assert all(chunk["usage"] is None for chunk in [*content, finish])
    assert finish["choices"][0]["finish_reason"] == "stop"
    streamed = "".join(c["choices"][0]["delta"].get("content") or "" for c in content)
    # The same counts as the non-streamed answer to the same request.
    status, plain = _post(base_url, "/chat/completions", CHAT)
    assert status == 200
    completion = json.loads(plain)
    assert streamed == completion["choices"][0]["message"]["content"]
    assert last["usage"] == completion["usage"]
    prompt = fake.count_text_tokens(CHAT["messages"][0]["content"]) + 4 + 3
    assert last["usage"]["prompt_tokens"] == prompt
    assert last["usage"]["completion_tokens"] == fake.count_text_tokens(streamed)


def test_fake_answers_a_model_no_catalog_knows(base_url: str) -> None:
    status, text = _post(base_url, "/chat/completions", {**CHAT, "model": "my-finetune-v1"})
    assert status == 200
    completion = json.loads(text)
    assert completion["model"] == "my-finetune-v1"
    assert (
        completion["usage"]["prompt_tokens"] == fake.count_text_tokens(CHAT["messages"][0]["content"]) + 4 + 3
    )


@pytest.mark.parametrize(
    ("model", "status", "code"), [("fail-429", 429, "rate_limit_exceeded"), ("fail-500", 500, None)]
)
def test_fake_failures(base_url: str, model: str, status: int, code: Any) -> None:
    got, text = _post(base_url, "/chat/completions", {**CHAT, "model": model})
    assert got == status
    error = json.loads(text)["error"]
    assert error["code"] == code and error["message"]
