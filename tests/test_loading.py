"""instrument()/uninstrument(), entry points, suppression, and a cheap import."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import tomllib
from openai_fakes import Server, chat_completion, embeddings_response
from opentelemetry.instrumentation.utils import suppress_instrumentation

ROOT = pathlib.Path(__file__).resolve().parents[1]
MESSAGES = [{"role": "user", "content": "hi"}]


def test_import_is_cheap() -> None:
    """No SDK, tokenizer, price catalog or pricing code is imported with the package."""
    code = (
        "import sys, otel_tokenomics; "
        "heavy = [m for m in ('openai', 'tiktoken', 'httpx2', 'httpx', 'anthropic', 'google.genai', "
        "'botocore', "
        "'otel_tokenomics.pricing', 'otel_tokenomics.pricing.catalog', 'genai_prices', 'decimal') "
        "if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]"


def test_instrument_imports_no_sdk_and_patches_each_when_the_app_imports_it() -> None:
    """instrument() must not import SDKs the app may never use; each is patched on its import."""
    code = (
        "import sys, otel_tokenomics; active = otel_tokenomics.instrument(); "
        "sdks = ('openai', 'anthropic', 'google.genai', 'botocore'); "
        "print(sorted(active)); print([m for m in sdks if m in sys.modules]); "
        "import openai, anthropic; "
        "from openai import _base_client as o; from anthropic import _base_client as a; "
        "where = lambda f: f.__code__.co_filename.rsplit('/', 2)[-2:]; "
        "print(where(o.SyncAPIClient.request), where(a.SyncAPIClient.request)); "
        "otel_tokenomics.uninstrument(); import boto3; from google import genai; "
        "print(where(o.SyncAPIClient.request))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    active, imported, patched, restored = out.stdout.strip().splitlines()
    assert active == str(
        sorted(["tokenomics_openai", "tokenomics_anthropic", "tokenomics_google_genai", "tokenomics_bedrock"])
    )
    assert imported == "[]"
    assert patched == "['otel_tokenomics', 'stainless.py'] ['otel_tokenomics', 'stainless.py']"
    assert restored == "['openai', '_base_client.py']"
    assert "could not instrument" not in out.stderr


def test_instrument_reads_the_price_catalog_at_start_up_not_in_the_first_call() -> None:
    code = (
        "import otel_tokenomics; otel_tokenomics.instrument(); "
        "from otel_tokenomics.pricing import catalog; "
        "print(catalog._catalog is not None and 'openai' in catalog._catalog.providers)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "True"


def test_uninstrument_restores_the_sdk_exactly(telemetry) -> None:
    from openai import _base_client, _response

    import otel_tokenomics

    originals = {
        "sync": _base_client.SyncAPIClient.__dict__["request"],
        "async": _base_client.AsyncAPIClient.__dict__["request"],
        "parse": _response.APIResponse.__dict__["parse"],
        "response": dict(_response.APIResponse.__dict__),
    }
    for _ in range(3):
        assert "tokenomics_openai" in otel_tokenomics.instrument(tracer_provider=telemetry.tracer_provider)
        assert "tokenomics_openai" in otel_tokenomics.instrument(tracer_provider=telemetry.tracer_provider)
        assert _base_client.SyncAPIClient.__dict__["request"] is not originals["sync"]
        otel_tokenomics.uninstrument()
        otel_tokenomics.uninstrument()
    assert _base_client.SyncAPIClient.__dict__["request"] is originals["sync"]
    assert _base_client.AsyncAPIClient.__dict__["request"] is originals["async"]
    assert _response.APIResponse.__dict__["parse"] is originals["parse"]
    assert dict(_response.APIResponse.__dict__) == originals["response"]
    assert otel_tokenomics.instrumented() == []
    server = Server()
    server.json("/chat/completions", chat_completion())
    server.client().chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert telemetry.spans() == []


def test_suppression_is_honoured(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.json("/chat/completions", chat_completion())
    with suppress_instrumentation():
        server.client().chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert telemetry.spans() == []


def test_nested_call_inside_an_open_call_is_not_traced_twice(instrument, telemetry) -> None:
    """A request issued while one of our spans is open around the SDK (a re-entrant SDK path)."""
    instrument()
    server = Server()
    inner_client = server.client()
    server.json("/embeddings", embeddings_response(1, model="m"))

    def respond(request):
        inner_client.embeddings.create(model="m", input="x")
        from openai_fakes import HTTP

        return HTTP.Response(200, json=chat_completion())

    server.routes["/chat/completions"] = respond
    server.client().chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert [s.name for s in telemetry.spans()] == ["chat gpt-4o"]


def test_entry_points_match_the_registry() -> None:
    from otel_tokenomics.providers import INSTRUMENTORS

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    entry_points = project["entry-points"]["opentelemetry_instrumentor"]
    assert entry_points == {name: target for name, (_pkg, target) in INSTRUMENTORS.items()}
    for name in entry_points:
        assert name.startswith("tokenomics_")
    # Declared under instruments-any so a missing SDK never disables the others.
    assert "instruments" not in project["optional-dependencies"]
    assert project["optional-dependencies"]["instruments-any"]


def test_client_created_before_instrument_is_traced(telemetry) -> None:
    import otel_tokenomics

    server = Server()
    server.json("/chat/completions", chat_completion())
    client = server.client()
    raw = client.chat.completions.with_raw_response  # built before instrumenting
    otel_tokenomics.instrument(tracer_provider=telemetry.tracer_provider)
    try:
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
        raw.create(model="gpt-4o", messages=MESSAGES)
    finally:
        otel_tokenomics.uninstrument()
    assert len(telemetry.spans()) == 2


def test_azure_client(instrument, telemetry) -> None:
    instrument()
    server = Server()
    server.json("/deployments/my-gpt4o/chat/completions", chat_completion(model="gpt-4o-2024-11-20"))

    client = server.azure_client()
    client.chat.completions.create(model="my-gpt4o", messages=MESSAGES)
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.provider.name"] == "azure.ai.openai"
    assert attributes["server.address"] == "contoso.openai.azure.com"
    assert attributes["gen_ai.request.model"] == "my-gpt4o"
    assert attributes["gen_ai.response.model"] == "gpt-4o-2024-11-20"


def test_legacy_plain_suppression_key_is_honoured(instrument, telemetry) -> None:
    from opentelemetry import context

    instrument()
    server = Server()
    server.json("/chat/completions", chat_completion())
    token = context.attach(context.set_value("suppress_instrumentation", True))
    try:
        server.client().chat.completions.create(model="gpt-4o", messages=MESSAGES)
    finally:
        context.detach(token)
    assert telemetry.spans() == []


def test_patched_methods_keep_their_nature_and_coexist_with_later_wrappers(telemetry) -> None:
    import inspect

    from openai import _base_client

    import otel_tokenomics

    original = _base_client.SyncAPIClient.__dict__["request"]
    otel_tokenomics.instrument(tracer_provider=telemetry.tracer_provider)
    ours = _base_client.SyncAPIClient.__dict__["request"]
    assert inspect.iscoroutinefunction(_base_client.AsyncAPIClient.request)
    assert inspect.signature(ours) == inspect.signature(original)

    seen = []

    def another_library(self, *args, **kwargs):  # wraps on top of ours
        seen.append(True)
        return ours(self, *args, **kwargs)

    _base_client.SyncAPIClient.request = another_library
    try:
        otel_tokenomics.uninstrument()
        # Ours cannot be taken out from under the other wrapper, so it passes through.
        assert _base_client.SyncAPIClient.__dict__["request"] is another_library
        server = Server()
        server.json("/chat/completions", chat_completion())
        server.client().chat.completions.create(model="gpt-4o", messages=MESSAGES)
        assert seen == [True]
        assert telemetry.spans() == []
    finally:
        _base_client.SyncAPIClient.request = original
