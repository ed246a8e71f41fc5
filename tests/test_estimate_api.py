"""The pre-flight estimate: ``otel_tokenomics.estimate()`` and ``otel-tokenomics estimate``."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import pytest
from openai_cookbook import COOKBOOK_6_MESSAGES

import otel_tokenomics
import otel_tokenomics.pricing
from otel_tokenomics.cli import main

# COOKBOOK_6_MESSAGES: the API reported 124 prompt tokens for gpt-4o and gpt-4o-mini,
# 129 for gpt-4 and gpt-3.5-turbo (see openai_cookbook).
# USD per token.
GPT_4O = {"input": 2.5e-6, "cache_read": 1.25e-6, "output": 10e-6}
SONNET_45 = {"input": 3e-6, "output": 15e-6}


@pytest.fixture(autouse=True)
def _clean_pricing(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("OTEL_TOKENOMICS_PRICES", raising=False)
    yield
    otel_tokenomics.pricing.configure(False)


def test_openai_prompt_is_counted_exactly_and_priced() -> None:
    result = otel_tokenomics.estimate("openai", "gpt-4o", messages=COOKBOOK_6_MESSAGES, max_tokens=1000)
    assert (result.input_tokens, result.source, result.tokenizer) == (124, "estimated", "o200k_base")
    assert result.status == "estimated"
    assert result.expected is not None and result.worst_case is not None
    assert result.expected.output_tokens == 0
    assert result.expected.input == pytest.approx(124 * GPT_4O["input"], rel=1e-12)
    assert result.expected.total == pytest.approx(124 * GPT_4O["input"], rel=1e-12)
    assert result.worst_case.output_tokens == 1000
    assert result.worst_case.output == pytest.approx(1000 * GPT_4O["output"], rel=1e-12)
    assert result.worst_case.total == pytest.approx(
        124 * GPT_4O["input"] + 1000 * GPT_4O["output"], rel=1e-12
    )
    assert result.pricing_model == "gpt-4o"


def test_older_models_use_their_own_encoding() -> None:
    result = otel_tokenomics.estimate("openai", "gpt-4", messages=COOKBOOK_6_MESSAGES)
    assert (result.input_tokens, result.tokenizer) == (129, "cl100k_base")


def test_expected_output_and_cached_input() -> None:
    result = otel_tokenomics.estimate(
        "openai",
        "gpt-4o",
        COOKBOOK_6_MESSAGES,
        expected_output_tokens=200,
        cached_input_tokens=100,
        max_tokens=400,
    )
    assert result.expected is not None and result.worst_case is not None
    assert result.expected.input == pytest.approx(24 * GPT_4O["input"], rel=1e-12)
    assert result.expected.cache_read == pytest.approx(100 * GPT_4O["cache_read"], rel=1e-12)
    assert result.expected.output == pytest.approx(200 * GPT_4O["output"], rel=1e-12)
    assert result.expected.total == pytest.approx(
        24 * GPT_4O["input"] + 100 * GPT_4O["cache_read"] + 200 * GPT_4O["output"], rel=1e-12
    )
    assert result.worst_case.output == pytest.approx(400 * GPT_4O["output"], rel=1e-12)


def test_plain_text_is_one_user_message() -> None:
    # "Say hello." framed as one chat message: 10 tokens.
    assert otel_tokenomics.estimate("openai", "gpt-4o-mini", "Say hello.").input_tokens == 10


def test_model_without_a_tokenizer_is_heuristic_and_priced() -> None:
    result = otel_tokenomics.estimate(
        "anthropic",
        "claude-sonnet-4-5",
        [{"role": "user", "content": "Say hello."}],
        system="You are terse.",
        max_tokens=100,
    )
    assert (result.source, result.tokenizer) == ("heuristic", "heuristic")
    assert result.status == "estimated"
    assert result.worst_case is not None
    assert result.worst_case.total == pytest.approx(
        result.input_tokens * SONNET_45["input"] + 100 * SONNET_45["output"], rel=1e-12
    )


def test_unknown_model_is_unpriced_not_zero() -> None:
    result = otel_tokenomics.estimate("openai", "gpt-4o-imaginary-9000", "Say hello.", max_tokens=10)
    assert result.status == "unpriced"
    assert result.expected is None and result.worst_case is None
    assert result.input_tokens == 10  # counted all the same: gpt-4o-* is o200k_base


@pytest.mark.parametrize(
    "arguments",
    [
        {"provider": "", "model": "gpt-4o"},
        {"provider": "openai", "model": ""},
        {"provider": "openai", "model": "gpt-4o", "max_tokens": -1},
    ],
)
def test_nonsense_arguments_raise(arguments) -> None:
    with pytest.raises(ValueError):
        otel_tokenomics.estimate(**arguments)


# -- the CLI -------------------------------------------------------------------------------


def test_cli_estimates_a_messages_file(tmp_path, capsys) -> None:
    path = tmp_path / "messages.json"
    path.write_text(json.dumps(COOKBOOK_6_MESSAGES))
    assert main(["estimate", "--model", "gpt-4o", str(path), "--max-tokens", "1000", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["input_tokens"] == 124
    assert result["provider"] == "openai"  # inferred from the model
    assert result["source"] == "estimated"
    assert result["worst_case"]["total"] == pytest.approx(124 * GPT_4O["input"] + 1000 * GPT_4O["output"])


def test_cli_reads_a_request_object_with_max_tokens(tmp_path, capsys) -> None:
    path = tmp_path / "request.json"
    path.write_text(json.dumps({"messages": COOKBOOK_6_MESSAGES, "max_tokens": 10}))
    assert main(["estimate", "--model", "gpt-4o", str(path), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["max_tokens"] == 10
    assert result["worst_case"]["output"] == pytest.approx(10 * GPT_4O["output"])


def test_cli_table_from_stdin_text(monkeypatch, capsys) -> None:
    import io

    monkeypatch.setattr(sys, "stdin", io.StringIO("Say hello."))
    assert (
        main(["estimate", "--model", "gpt-4o-mini", "--provider", "openai", "-", "--max-tokens", "100"]) == 0
    )
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "gpt-4o-mini (openai): 10 input tokens (estimated, o200k_base)"
    assert "worst case" in out and "0.0000615" in out  # 10 x $0.15/M + 100 x $0.60/M


def test_cli_unknown_model_exits_2(capsys, tmp_path) -> None:
    path = tmp_path / "prompt.txt"
    path.write_text("Say hello.")
    assert main(["estimate", "--model", "no-such-model-anywhere", "--provider", "openai", str(path)]) == 2
    assert "cost unknown" in capsys.readouterr().out


def test_cli_missing_file_exits_2(capsys) -> None:
    assert main(["estimate", "--model", "gpt-4o", "/nonexistent/prompt.json"]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_installed_command(tmp_path) -> None:
    path = tmp_path / "prompt.txt"
    path.write_text("Say hello.")
    done = subprocess.run(
        [sys.executable, "-m", "otel_tokenomics", "estimate", "--model", "gpt-4o-mini", str(path), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["input_tokens"] == 10


def test_gemini_contents_with_a_system_instruction() -> None:
    # Gemini framing: 1 per request, 0 per message; the heuristic counts "Talk like a
    # pirate!" as 5 and the fox sentence as 10 (Gemini reported 15 for this request).
    result = otel_tokenomics.estimate(
        "gcp.gemini",
        "gemini-2.5-flash",
        [{"role": "user", "parts": [{"text": "The quick brown fox jumps over the lazy dog."}]}],
        system="Talk like a pirate!",
        max_tokens=100,
    )
    assert (result.input_tokens, result.source) == (16, "heuristic")
    assert result.status == "estimated"


def test_anthropic_blocks_are_read_as_anthropic_reads_them() -> None:
    # Claude framing: 3 per request, 4 per message, the system prompt its text alone;
    # Anthropic's token counting guide reports 14 for this request.
    result = otel_tokenomics.estimate(
        "anthropic",
        "claude-sonnet-4-5",
        [{"role": "user", "content": [{"type": "text", "text": "Hello, Claude"}]}],
        system="You are a scientist",
    )
    assert result.input_tokens == 15
