"""instrument()/uninstrument(), entry points, suppression, and a cheap import."""

from __future__ import annotations

import importlib
import importlib.util
import json
import pathlib
import subprocess
import sys
from typing import Any

import tomllib
from openai_fakes import Server, chat_completion, embeddings_response
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]
from opentelemetry.instrumentation.utils import suppress_instrumentation

from otel_tokenomics.activation import load_adapter

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


# SDK import name -> (entry point, "module:attribute path" of the function we replace)
PATCH_POINTS = {
    "openai": ("tokenomics_openai", "openai._base_client:SyncAPIClient.request"),
    "anthropic": ("tokenomics_anthropic", "anthropic._base_client:SyncAPIClient.request"),
    "google.genai": ("tokenomics_google_genai", "google.genai.models:Models._generate_content"),
    "botocore": ("tokenomics_bedrock", "botocore.client:BaseClient._make_api_call"),
    "groq": ("tokenomics_groq", "groq._base_client:SyncAPIClient.request"),
    "mistralai": ("tokenomics_mistral", "mistralai.client.chat:Chat.complete"),
    "ollama": ("tokenomics_ollama", "ollama._client:Client._request"),
    "cohere": ("tokenomics_cohere", "cohere.v2.raw_client:RawV2Client.chat"),
    # litellm's @client decorator keeps the function it wraps in a closure: that one is patched.
    "litellm": ("tokenomics_litellm", "litellm.main:completion"),
}
_PATCH_PROBE = """
import importlib, json, sys
import otel_tokenomics

points = json.loads(sys.argv[1])
uninstrument_first = sys.argv[2] == "1"

def owner(target):
    module, _, path = target.partition(":")
    value = importlib.import_module(module)
    for name in path.split("."):
        value = getattr(value, name)
    code = value.__code__
    if "original_function" in code.co_freevars:
        value = value.__closure__[code.co_freevars.index("original_function")].cell_contents
    # Whose code runs there: ours (otel_tokenomics/...) or the SDK's.
    return "otel_tokenomics" if "otel_tokenomics" in value.__code__.co_filename else "sdk"

active = otel_tokenomics.instrument()
imported = [sdk for sdk in points if sdk in sys.modules]
if uninstrument_first:
    otel_tokenomics.uninstrument()
patched = {sdk: owner(target) for sdk, (_name, target) in points.items()}
otel_tokenomics.uninstrument()
restored = {sdk: owner(target) for sdk, (_name, target) in points.items()}
print(json.dumps({"active": sorted(active), "imported": imported, "patched": patched, "restored": restored}))
"""


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:  # google.genai without the google namespace package
        return False


def _probe(uninstrument_first: bool) -> dict[str, Any]:
    installed = {
        sdk: point for sdk, point in PATCH_POINTS.items() if importlib.util.find_spec(sdk.split(".")[0])
    }
    if "google.genai" in installed and importlib.util.find_spec("google.genai") is None:
        del installed["google.genai"]
    out = subprocess.run(
        [sys.executable, "-c", _PATCH_PROBE, json.dumps(installed), "1" if uninstrument_first else "0"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    assert "could not instrument" not in out.stderr
    result: dict[str, Any] = json.loads(out.stdout)
    result["installed"] = installed
    return result


def test_instrument_imports_no_sdk_and_patches_each_when_the_app_imports_it() -> None:
    """instrument() must not import SDKs the app may never use; each is patched on its import."""
    result = _probe(uninstrument_first=False)
    installed = result["installed"]
    assert result["active"] == sorted(name for name, _target in installed.values())
    assert result["imported"] == []
    for sdk in installed:
        assert result["patched"][sdk] == "otel_tokenomics", sdk
        assert result["restored"][sdk] == "sdk", sdk


def test_uninstrument_before_the_sdk_is_imported_leaves_it_unpatched() -> None:
    result = _probe(uninstrument_first=True)
    for sdk in result["installed"]:
        assert result["patched"][sdk] == "sdk", sdk


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
    assert list(entry_points) == list(INSTRUMENTORS)
    for name, target in entry_points.items():
        assert name.startswith("tokenomics_")
        module_name, _, class_name = target.partition(":")
        instrumentor = getattr(importlib.import_module(module_name), class_name)
        # Each entry point is a BaseInstrumentor of its own adapter, and that adapter's SDK.
        assert issubclass(instrumentor, BaseInstrumentor)
        assert instrumentor.entry_point == name
        package, adapter_target = INSTRUMENTORS[name]
        assert instrumentor().adapter is load_adapter(adapter_target)
        assert instrumentor().adapter.package == package
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
