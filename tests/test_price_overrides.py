"""User price overrides: files, env var, Python API, precedence, errors, and what reaches the span."""

from __future__ import annotations

import hashlib
import logging
import pathlib
from collections.abc import Iterator
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import pytest
from openai_fakes import Server, chat_completion

import otel_tokenomics
from otel_tokenomics import pricing
from otel_tokenomics.cost import price_call
from otel_tokenomics.pricing import Overrides, PriceOverrideError, Pricer
from otel_tokenomics.pricing.compute import Cost
from otel_tokenomics.usage import Usage

MESSAGES = [{"role": "user", "content": "Say hello."}]
# After the catalog's 2026-10-12 priority rows took effect, so they are in force.
NOW = int(datetime(2026, 11, 2, 12, tzinfo=timezone.utc).timestamp()) * 1_000_000_000
MILLION = 1_000_000


@pytest.fixture(autouse=True)
def clean_pricing(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test starts and ends with no overrides, so the rest of the suite sees the bare catalog."""
    monkeypatch.delenv(pricing.ENV_PRICES, raising=False)
    monkeypatch.delenv(pricing.ENV_FALLBACK, raising=False)
    pricing.reset()
    yield
    otel_tokenomics.uninstrument()
    pricing.reset()


def write(tmp_path: pathlib.Path, name: str, text: str) -> pathlib.Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def version_of(path: pathlib.Path) -> str:
    return "user:" + hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def cost(pricer: Pricer, provider: str, model: str, usage: Usage, context: Any = None) -> Cost:
    found = pricer.cost(provider, (None, model), usage, NOW, context)
    assert found is not None, model
    return found


def amounts(found: Cost) -> dict[str, Decimal]:
    return {**found.amounts(), "cache_savings": found.cache_savings}


def from_mapping(data: dict[str, Any]) -> Pricer:
    overrides = Overrides.from_mapping(data)
    pricer = Pricer(overrides)
    overrides.check(pricer)
    return pricer


# -- files -------------------------------------------------------------------------------

TOML = """
# Negotiated prices, USD per million tokens.
[[models]]
id = "acme-llm"
input = 0.30          # a TOML float is read as the decimal written
output = "1.20"
cache_read = 0.03

[[models]]
id = "acme-long"
provider = "openai"
input = { base = "1.25", tiers = [[200000, "2.5"]] }
output = { base = 10, tiers = [[200000, 15]] }
"""


def test_toml_file_prices_custom_models_exactly(tmp_path: pathlib.Path) -> None:
    path = write(tmp_path, "prices.toml", TOML)
    pricer = pricing.configure(path)

    found = cost(pricer, "openai", "acme-llm", Usage(MILLION, 200_000, cache_read_tokens=400_000))
    assert amounts(found) == {
        "total": Decimal("0.432"),
        "input": Decimal("0.18"),  # 600k uncached x 0.30
        "cache_read": Decimal("0.012"),  # 400k x 0.03
        "cache_write": Decimal(0),
        "output": Decimal("0.24"),  # 200k x 1.20
        "cache_savings": Decimal("0.108"),  # 400k x (0.30 - 0.03)
    }
    assert (found.source, found.version, found.model) == ("override", version_of(path), "acme-llm")

    # A long-context price: the whole request pays the tier rate past 200k input tokens.
    short = cost(pricer, "openai", "acme-long", Usage(200_000, 10_000))
    assert short.total == Decimal("0.35")  # 200k x 1.25 + 10k x 10
    long = cost(pricer, "openai", "acme-long", Usage(200_001, 10_000))
    assert long.total == Decimal("0.6500025")  # 200_001 x 2.5 + 10k x 15
    # provider = "openai" confines the rule to OpenAI.
    assert pricer.cost("anthropic", (None, "acme-long"), Usage(10, 10), NOW) is None


def test_json_file_with_decimal_exact_floats(tmp_path: pathlib.Path) -> None:
    path = write(
        tmp_path,
        "prices.json",
        """{
          "models": [{"id": "acme-llm", "input": 0.1, "output": 0.7, "reasoning": 2.2}],
          "multipliers": [{"provider": "openai", "factor": 0.9}]
        }""",
    )
    pricer = pricing.configure(str(path))

    usage = Usage(3, 3, reasoning_tokens=1)
    found = cost(pricer, "openai", "acme-llm", usage)
    # 0.1, 0.7 and 2.2 are not binary floats: read as Decimal, the cost has no float noise.
    assert found.input == Decimal("0.00000027")  # 3 x 0.1 x 0.9 / 1e6
    assert found.output == Decimal("0.00000324")  # (2 x 0.7 + 1 x 2.2) x 0.9 / 1e6
    assert found.total == Decimal("0.00000351")
    assert (found.source, found.version) == ("override", version_of(path))
    # Another provider: the OpenAI multiplier does not apply.
    assert cost(pricer, "groq", "acme-llm", usage).total == Decimal("0.0000039")


def test_mapping_version_depends_on_the_prices_not_their_spelling() -> None:
    first = Overrides.from_mapping({"models": [{"id": "m", "input": 0.3, "output": 1}]})
    same = Overrides.from_mapping({"models": [{"id": "m", "input": "0.3", "output": Decimal(1)}]})
    other = Overrides.from_mapping({"models": [{"id": "m", "input": "0.31", "output": 1}]})
    assert first.version == same.version
    assert first.version != other.version
    prefix, digest = first.version.split(":")
    assert prefix == "user" and len(digest) == 12 and set(digest) <= set("0123456789abcdef")


# -- the environment variable ------------------------------------------------------------


def test_env_var_through_configure(tmp_path: pathlib.Path) -> None:
    path = write(tmp_path, "prices.toml", TOML)
    pricer = pricing.configure(environ={"OTEL_TOKENOMICS_PRICES": str(path)})

    assert pricing.is_configured()
    assert pricer.overrides is not None and pricer.overrides.version == version_of(path)
    status, found = price_call("openai", ("acme-llm", "acme-llm"), Usage(MILLION, MILLION))
    assert status == "priced"
    assert found is not None and found.total == Decimal("1.5")
    assert (found.source, found.version) == ("override", version_of(path))


def test_env_var_through_instrument(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "prices.toml", TOML)
    monkeypatch.setenv("OTEL_TOKENOMICS_PRICES", str(path))

    assert "tokenomics_openai" in otel_tokenomics.instrument()

    status, found = price_call("openai", (None, "acme-llm"), Usage(MILLION, 0))
    assert (status, found and found.total, found and found.version) == (
        "priced",
        Decimal("0.3"),
        version_of(path),
    )


def test_chat_call_span_and_metrics_carry_the_override(instrument, telemetry, tmp_path: pathlib.Path) -> None:
    path = write(tmp_path, "prices.toml", TOML.replace('id = "acme-llm"', 'id = "acme-llm*"'))
    instrument(prices=path)
    server = Server()
    server.json("/chat/completions", chat_completion(model="acme-llm-0611"))

    server.client().chat.completions.create(model="acme-llm", messages=MESSAGES)

    # CHAT_USAGE: 2048 input (1536 cached), 612 output (256 of them reasoning, at the output rate).
    attributes = telemetry.span().attributes
    assert {key: value for key, value in attributes.items() if key.startswith("tokenomics.")} == {
        "tokenomics.usage.source": "provider",
        "tokenomics.cost.status": "priced",
        "tokenomics.cost.total": 0.00093408,
        "tokenomics.cost.currency": "USD",
        "tokenomics.cost.source": "override",
        "tokenomics.pricing.version": version_of(path),
        "tokenomics.pricing.model": "acme-llm*",
        "tokenomics.cost.input": 0.0001536,  # 512 x 0.30
        "tokenomics.cost.cache_read": 0.00004608,  # 1536 x 0.03
        "tokenomics.cost.cache_write": 0.0,
        "tokenomics.cost.output": 0.0007344,  # 612 x 1.20
        "tokenomics.cost.cache_savings": 0.00041472,  # 1536 x (0.30 - 0.03)
    }
    spend = {
        point.attributes["tokenomics.token.class"]: point.value
        for point in telemetry.metrics()["tokenomics.cost"]
    }
    assert spend == {"input": 0.0001536, "cache_read": 0.00004608, "output": 0.0007344}


# -- bad files -----------------------------------------------------------------------------

GOOD_MODEL = '[[models]]\nid = "fine"\ninput = 1\noutput = 2\n'


def _my_model(body: str) -> str:
    return GOOD_MODEL + '\n[[models]]\nid = "my-model"\n' + body


BAD_FILES = [
    pytest.param("p.toml", None, "", "cannot be read (No such file or directory)", id="missing-file"),
    pytest.param("p.yaml", "models: []", "", "expected a .toml or .json file", id="wrong-suffix"),
    pytest.param("p.toml", '[[models]\nid = "x"\n', "", "not valid TOML: ", id="toml-syntax"),
    pytest.param("p.json", '{"models": [}', "", "not valid JSON: ", id="json-syntax"),
    pytest.param(
        "p.json", "[1, 2]", "", "expected a table/object at the top, got a list", id="top-not-table"
    ),
    pytest.param(
        "p.toml",
        '[[modles]]\nid = "x"\n',
        "",
        "unknown key 'modles' (did you mean 'models'?); allowed: models, multipliers, azure_deployments",
        id="unknown-top-key",
    ),
    pytest.param(
        "p.toml",
        _my_model("inptu = 1\noutput = 2\n"),
        "models[1] (my-model)",
        "unknown key 'inptu' (did you mean 'input'?); allowed: id, provider, base, base_provider, input,",
        id="unknown-model-key",
    ),
    pytest.param(
        "p.toml",
        _my_model("input = -0.5\noutput = 2\n"),
        "models[1] (my-model)",
        "input: a price cannot be negative, got Decimal('-0.5')",
        id="negative-price",
    ),
    pytest.param(
        "p.toml",
        _my_model('input = "cheap"\noutput = 2\n'),
        "models[1] (my-model)",
        "input: expected a number, got 'cheap'",
        id="non-number-price",
    ),
    pytest.param(
        "p.toml",
        _my_model("input = true\noutput = 2\n"),
        "models[1] (my-model)",
        "input: expected a number, got True",
        id="boolean-price",
    ),
    pytest.param(
        "p.json",
        '{"models": [{"id": "fine", "input": 1, "output": 2},'
        ' {"id": "my-model", "input": NaN, "output": 2}]}',
        "models[1] (my-model)",
        "input: expected a finite number, got nan",
        id="nan-price",
    ),
    pytest.param(
        "p.toml",
        _my_model("input = 1\n"),
        "models[1] (my-model)",
        "no 'output' price: give both (USD per million tokens), or a 'base' model",
        id="missing-output",
    ),
    pytest.param(
        "p.toml",
        _my_model("cache_read = 1\n"),
        "models[1] (my-model)",
        "no 'input' and no 'output' price",
        id="missing-input-and-output",
    ),
    pytest.param(
        "p.toml",
        _my_model('base = "gpt-4o-mni"\noutput = 2\n'),
        "models[1] (my-model)",
        "base model 'gpt-4o-mni' is not in the catalog (did you mean 'gpt-4o-mini'",
        id="unknown-base",
    ),
    pytest.param(
        "p.toml",
        _my_model('base = "gpt-4o-mini"\nbase_provider = "anthropic"\n'),
        "models[1] (my-model)",
        "base model 'gpt-4o-mini' is not in the catalog of provider 'anthropic'",
        id="base-under-wrong-provider",
    ),
    pytest.param(
        "p.toml",
        _my_model('base = "gpt-4o-mini"\nbase_provider = 3\n'),
        "models[1] (my-model)",
        "base_provider: expected a gen_ai.provider.name string, got 3",
        id="base-provider-not-a-string",
    ),
    pytest.param(
        "p.toml",
        '[[models]]\nid = "ft:*:acme"\ninput = 1\noutput = 2\n',
        "models[0] (ft:*:acme)",
        "id: '*' may only end the id (a prefix)",
        id="star-inside-id",
    ),
    pytest.param(
        "p.toml",
        _my_model("input = { base = 1, tiers = [[-5, 2]] }\noutput = 2\n"),
        "models[1] (my-model)",
        "input: a tier starts at a whole number of input tokens, got -5",
        id="bad-tier",
    ),
    pytest.param(
        "p.toml",
        GOOD_MODEL + '\n[[models]]\nid = "FINE"\ninput = 3\noutput = 4\n',
        "models[1] (FINE)",
        "the same rule as models[0] (fine): only one of them could ever apply",
        id="duplicate-model",
    ),
    pytest.param(
        "p.toml",
        '[[multipliers]]\nprovider = "openai"\nfactor = 0\n',
        "multipliers[0] (openai)",
        "factor: must be above 0 (0.8 for a 20% discount), got 0",
        id="zero-factor",
    ),
    pytest.param(
        "p.toml",
        '[[multipliers]]\nmodel = "gpt-4o*"\nfactor = -0.8\n',
        "multipliers[0] (gpt-4o*)",
        "factor: must be above 0 (0.8 for a 20% discount), got Decimal('-0.8')",
        id="negative-factor",
    ),
    pytest.param(
        "p.toml",
        '[[multipliers]]\nmodel = "gpt-4o"\n',
        "multipliers[0] (gpt-4o)",
        "'factor' is required (0.8 for a 20% discount)",
        id="missing-factor",
    ),
    pytest.param(
        "p.toml",
        "[azure_deployments]\nprod-chat = 4\n",
        "azure_deployments.prod-chat",
        "expected the id of the model it serves, got 4",
        id="deployment-not-a-string",
    ),
    pytest.param(
        "p.toml",
        'azure_deployments = ["prod-chat"]\n',
        "azure_deployments",
        "expected a table of deployment name = model id, got a list",
        id="deployments-not-a-table",
    ),
    pytest.param(
        "p.toml",
        '[azure_deployments]\nprod-chat = "gpt4o-mini"\n',
        "azure_deployments.prod-chat",
        "model 'gpt4o-mini' is neither in the catalog (Azure, OpenAI) nor in this file's models "
        "(did you mean 'gpt-4o-mini'",
        id="deployment-of-unknown-model",
    ),
]


@pytest.mark.parametrize(("name", "text", "entry", "problem"), BAD_FILES)
def test_bad_file_names_file_entry_and_problem(
    tmp_path: pathlib.Path, name: str, text: str | None, entry: str, problem: str
) -> None:
    path = tmp_path / name
    if text is not None:
        path.write_text(text, encoding="utf-8")
    pricing.configure(False)  # an earlier, good configuration that must survive
    before = otel_tokenomics.cost.get_pricer()

    with pytest.raises(PriceOverrideError) as raised:
        pricing.configure(path)

    error = raised.value
    assert error.origin == str(path)
    assert error.entry == entry
    assert error.problem.startswith(problem), error.problem
    assert str(error) == (f"{path}: {entry}: {error.problem}" if entry else f"{path}: {error.problem}")
    assert otel_tokenomics.cost.get_pricer() is before


def test_bad_mapping_names_the_entry() -> None:
    with pytest.raises(PriceOverrideError, match=r"^prices: models\[0\] \(x\): output: expected a number"):
        otel_tokenomics.set_prices({"models": [{"id": "x", "input": 1, "output": [2]}]})
    with pytest.raises(PriceOverrideError, match=r"^prices: expected a \.toml/\.json file path, a mapping"):
        pricing.configure(42)
    assert otel_tokenomics.PriceOverrideError is PriceOverrideError


def test_instrument_with_a_bad_file_raises_before_patching(tmp_path: pathlib.Path, telemetry) -> None:
    path = write(tmp_path, "prices.toml", _my_model("input = -1\noutput = 2\n"))
    server = Server()
    server.json("/chat/completions", chat_completion())

    with pytest.raises(
        PriceOverrideError, match=r"models\[1\] \(my-model\): input: a price cannot be negative"
    ):
        otel_tokenomics.instrument(tracer_provider=telemetry.tracer_provider, prices=path)

    assert otel_tokenomics.instrumented() == []
    assert not pricing.is_configured()
    server.client().chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert telemetry.spans() == []


def test_instrument_with_a_bad_env_file_raises(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, "prices.json", '{"multipliers": [{"factor": "0"}]}')
    monkeypatch.setenv("OTEL_TOKENOMICS_PRICES", str(path))
    with pytest.raises(PriceOverrideError, match=r"multipliers\[0\] \(all models\): factor: must be above 0"):
        otel_tokenomics.instrument()
    assert otel_tokenomics.instrumented() == []


def test_entry_point_path_logs_and_leaves_every_call_unpriced(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, telemetry
) -> None:
    from otel_tokenomics.instrumentor import OpenAIInstrumentor

    path = write(tmp_path, "team-prices.toml", _my_model('base = "no-such-model"\n'))
    monkeypatch.setenv("OTEL_TOKENOMICS_PRICES", str(path))
    server = Server()
    server.json("/chat/completions", chat_completion(model="gpt-4o-mini-2024-07-18"))

    instrumentor = OpenAIInstrumentor()
    with caplog.at_level(logging.ERROR, logger="otel_tokenomics"):
        instrumentor.instrument(
            tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider
        )
    try:
        assert instrumentor.is_instrumented_by_opentelemetry
        # A catalog model too: the user's prices are wrong, so no price is trusted.
        server.client().chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    finally:
        instrumentor.uninstrument()

    errors = [record for record in caplog.records if record.levelno == logging.ERROR]
    assert len(errors) == 1
    message = errors[0].getMessage()
    assert f"{path}: models[1] (my-model): base model 'no-such-model' is not in the catalog" in message
    assert "team-prices.toml" in message and "unpriced" in message
    attributes = telemetry.span().attributes
    assert attributes["tokenomics.cost.status"] == "unpriced"
    assert "tokenomics.cost.total" not in attributes
    (unpriced,) = telemetry.metrics()["tokenomics.unpriced.calls"]
    assert unpriced.value == 1


# -- precedence and matching -----------------------------------------------------------------


def test_multiplier_precedence_model_over_provider_over_global() -> None:
    pricer = from_mapping(
        {
            # Listed least specific first: the file order does not decide.
            "multipliers": [
                {"factor": "0.9"},
                {"provider": "openai", "factor": "0.8"},
                {"model": "gpt-4o*", "factor": "0.7"},
                {"model": "gpt-4o-mini", "provider": "openai", "factor": "0.5"},
            ]
        }
    )
    usage = Usage(MILLION, MILLION)
    mini = cost(pricer, "openai", "gpt-4o-mini-2024-07-18", usage)  # catalog 0.15 + 0.60
    assert (mini.total, mini.model, mini.source) == (Decimal("0.375"), "gpt-4o-mini", "override")
    assert cost(pricer, "azure.ai.openai", "gpt-4o-mini", usage).total == Decimal("0.525")  # the gpt-4o* rule
    assert cost(pricer, "openai", "gpt-4o", usage).total == Decimal("8.75")  # 2.5 + 10, gpt-4o*
    assert cost(pricer, "openai", "o3-mini", usage).total == Decimal("4.4")  # 1.1 + 4.4, provider-wide
    haiku = cost(pricer, "anthropic", "claude-3-haiku-20240307", usage)  # 0.25 + 1.25, global
    assert (haiku.total, haiku.source, haiku.version) == (
        Decimal("1.35"),
        "override",
        pricer.overrides.version,
    )


def test_catalog_price_without_a_matching_multiplier_stays_catalog() -> None:
    pricer = from_mapping({"multipliers": [{"provider": "anthropic", "factor": "0.8"}]})
    found = cost(pricer, "openai", "gpt-4o-mini", Usage(MILLION, MILLION))
    assert (found.total, found.source) == (Decimal("0.75"), "catalog")
    assert found.version == pricer.catalog.version


def test_prefix_pattern_prices_a_fine_tune_family() -> None:
    pricer = from_mapping(
        {
            "models": [
                {"id": "ft:gpt-4o-mini-2024-07-18:acme:*", "input": "0.25", "output": "1"},
                # Exact beats prefix whatever the order.
                {"id": "ft:gpt-4o-mini-2024-07-18:acme::special", "input": "1", "output": "1"},
            ]
        }
    )
    usage = Usage(MILLION, MILLION)
    acme = cost(pricer, "openai", "ft:gpt-4o-mini-2024-07-18:acme::BcD123", usage)
    assert (acme.total, acme.source, acme.model) == (
        Decimal("1.25"),
        "override",
        "ft:gpt-4o-mini-2024-07-18:acme:*",
    )
    assert cost(pricer, "openai", "ft:gpt-4o-mini-2024-07-18:acme::special", usage).total == Decimal("2")
    # Another organisation's fine-tune keeps the catalog's fine-tune price (0.3 + 1.2).
    other = cost(pricer, "openai", "ft:gpt-4o-mini-2024-07-18:other::x", usage)
    assert (other.total, other.source, other.model) == (Decimal("1.5"), "catalog", "ft:gpt-4o-mini")


def test_fine_tune_from_a_base_model_with_one_price_overridden() -> None:
    pricer = from_mapping(
        {
            "models": [
                {"id": "ft:gpt-4o-mini:acme:*", "provider": "openai", "base": "gpt-4o-mini", "output": "1.20"}
            ]
        }
    )
    usage = Usage(MILLION, 100_000, cache_read_tokens=500_000)

    found = cost(pricer, "openai", "ft:gpt-4o-mini:acme::abc123", usage)
    assert amounts(found) == {
        "total": Decimal("0.2325"),
        "input": Decimal("0.075"),  # 500k x the base's 0.15
        "cache_read": Decimal("0.0375"),  # 500k x the base's 0.075
        "cache_write": Decimal(0),
        "output": Decimal("0.12"),  # 100k x our 1.20
        "cache_savings": Decimal("0.0375"),
    }
    assert (found.source, found.model, found.provider) == ("override", "ft:gpt-4o-mini:acme:*", "openai")

    # The priority tier raises the base's input prices; the output price we set holds in every tier.
    priority = cost(pricer, "openai", "ft:gpt-4o-mini:acme::abc123", usage, {"service_tier": "priority"})
    assert (priority.input, priority.cache_read, priority.output) == (
        Decimal("0.125"),  # 500k x 0.25
        Decimal("0.0625"),  # 500k x 0.125
        Decimal("0.12"),
    )
    # Other providers do not match a provider = "openai" rule.
    assert pricer.cost("together_ai", (None, "ft:gpt-4o-mini:acme::abc123"), usage, NOW) is None


def test_azure_deployment_name_is_priced_as_the_mapped_model() -> None:
    pricer = from_mapping({"azure_deployments": {"Prod-Chat": "gpt-4o-mini-2024-07-18"}})
    usage = Usage(MILLION, MILLION, cache_read_tokens=MILLION // 2)

    # The request names the deployment; the response carries no model.
    found = pricer.cost("azure.ai.openai", ("", "prod-chat"), usage, NOW)
    assert found is not None
    assert (found.total, found.model) == (Decimal("0.7125"), "gpt-4o-mini")  # 0.075 + 0.0375 + 0.6
    # A model in the response wins over the deployment's mapping.
    answered = pricer.cost("azure.ai.openai", ("gpt-4o-2024-08-06", "prod-chat"), usage, NOW)
    assert answered is not None and answered.model == "gpt-4o"
    # The mapping is Azure's only.
    assert pricer.cost("openai", ("", "prod-chat"), usage, NOW) is None


def test_azure_deployment_through_the_sdk(instrument, telemetry) -> None:
    instrument(prices={"azure_deployments": {"prod-chat": "gpt-4o-mini"}})
    server = Server()
    server.json("/deployments/prod-chat/chat/completions", chat_completion(model=""))
    client = server.azure_client()

    client.chat.completions.create(model="prod-chat", messages=MESSAGES)

    attributes = telemetry.span().attributes
    assert attributes["gen_ai.provider.name"] == "azure.ai.openai"
    assert "gen_ai.response.model" not in attributes
    assert attributes["tokenomics.pricing.model"] == "gpt-4o-mini"
    # 512 x 0.15 + 1536 x 0.075 + 612 x 0.60
    assert attributes["tokenomics.cost.total"] == 0.0005592


def test_rule_for_a_catalog_entry_covers_its_dated_snapshots() -> None:
    pricer = from_mapping(
        {
            "models": [{"id": "gpt-4o", "provider": "openai", "input": "2", "output": "8"}],
            "multipliers": [{"model": "gpt-4o", "factor": "0.5"}],
        }
    )
    usage = Usage(MILLION, MILLION)
    # Responses name the snapshot, not the alias the user priced: still the user's price.
    dated = pricer.cost("openai", ("gpt-4o-2024-08-06", "gpt-4o"), usage, NOW)
    assert dated is not None
    assert (dated.total, dated.model, dated.source) == (Decimal("5"), "gpt-4o", "override")  # (2 + 8) x 0.5
    # A sibling entry (gpt-4o-mini) is not covered by either rule.
    mini = cost(pricer, "openai", "gpt-4o-mini-2024-07-18", usage)
    assert (mini.total, mini.model, mini.source) == (Decimal("0.75"), "gpt-4o-mini", "catalog")


# -- the Python API ------------------------------------------------------------------------------


def test_set_prices_replaces_and_none_removes_overrides() -> None:
    usage = Usage(MILLION, MILLION)
    otel_tokenomics.set_prices({"models": [{"id": "acme-llm", "input": 1, "output": 3}]})
    assert price_call("openai", (None, "acme-llm"), usage)[1].total == Decimal(4)  # type: ignore[union-attr]

    with pytest.raises(PriceOverrideError):
        otel_tokenomics.set_prices({"models": [{"id": "acme-llm", "input": 1}]})
    assert price_call("openai", (None, "acme-llm"), usage)[1].total == Decimal(4)  # type: ignore[union-attr]

    otel_tokenomics.set_prices(None)
    assert price_call("openai", (None, "acme-llm"), usage) == ("unpriced", None)
    status, found = price_call("openai", (None, "gpt-4o-mini"), usage)
    assert (status, found.total, found.source) == ("priced", Decimal("0.75"), "catalog")  # type: ignore[union-attr]


def test_overrides_object_is_accepted_as_is() -> None:
    overrides = Overrides.from_mapping({"models": [{"id": "m", "input": 2, "output": 2}]}, origin="inline")
    pricer = pricing.configure(overrides)
    assert pricer.overrides is overrides
    assert cost(pricer, "openai", "m", Usage(MILLION, 0)).total == Decimal(2)
