"""instrument() / uninstrument() cycles leave every installed SDK exactly as it was.

Rather than list what each patcher touches, every attribute of every module of every
installed SDK is snapshotted: module and class ``__dict__`` entries by identity, and the
closure cells of module-level functions (litellm's decorator keeps the function we
replace in one). Five cycles with calls in between, then the snapshot again: identical.
``test_loading.py`` checks the single patch point of each SDK; this checks everything else.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import json
import pathlib
import subprocess
import sys
from typing import Any

import anthropic_fakes
import groq_fakes
import openai_fakes
import pytest

import otel_tokenomics

ROOT = pathlib.Path(__file__).resolve().parents[1]
CYCLES = 5
MESSAGES = [{"role": "user", "content": "Say hello."}]

# SDK import name -> the modules its patcher touches, imported before the first snapshot.
SDKS = {
    "openai": ["openai", "openai._base_client", "openai._response", "openai.lib.streaming.chat._completions"],
    "anthropic": ["anthropic", "anthropic._base_client", "anthropic._response"],
    "groq": ["groq", "groq._base_client"],
    "google.genai": ["google.genai", "google.genai.models"],
    "botocore": ["botocore", "botocore.client"],
    "mistralai": ["mistralai", "mistralai.client.chat"],
    "ollama": ["ollama", "ollama._client"],
    "cohere": ["cohere", "cohere.v2.raw_client"],
    "litellm": ["litellm", "litellm.main"],
}

# Shared by this process and the subprocesses below (which must not import pytest or the fakes,
# so that an SDK can be imported after instrument()).
SNAPSHOT_SOURCE = '''
import sys, types

def _describe(value):
    """A value as comparable across processes: what it is, and whose code it runs.

    Only plain functions, descriptors and classes are looked into: other objects (the SDKs'
    lazy proxies) answer any attribute lookup, and are described by their type alone.
    """
    kind = type(value).__name__
    if isinstance(value, (staticmethod, classmethod)):
        value = value.__func__
    elif isinstance(value, property):
        value = value.fget
    if isinstance(value, types.FunctionType):
        whose = "ours" if "otel_tokenomics" in value.__code__.co_filename else "sdk"
        return "%s:%s.%s:%s" % (kind, value.__module__, value.__qualname__, whose)
    if isinstance(value, type):
        return "%s:%s.%s" % (kind, value.__module__, value.__qualname__)
    return kind

def snapshot(prefixes):
    """(owner, name) -> value for every module, class and closure cell under ``prefixes``."""
    found = {}
    seen = set()
    for module_name, module in sorted(list(sys.modules.items()), key=lambda item: item[0]):
        if module is None or not any(module_name == p or module_name.startswith(p + ".") for p in prefixes):
            continue
        for name, value in list(vars(module).items()):
            found[(module_name, name)] = value
            if isinstance(value, type) and value.__module__ == module_name and id(value) not in seen:
                seen.add(id(value))
                for key, item in list(value.__dict__.items()):
                    found[(module_name + ":" + value.__qualname__, key)] = item
            elif isinstance(value, types.FunctionType) and value.__closure__:
                for index, cell in enumerate(value.__closure__):
                    try:
                        found[(module_name + "." + name + ":closure", str(index))] = cell.cell_contents
                    except ValueError:  # an empty cell
                        pass
    return found

def signature(prefixes):
    return {"%s|%s" % key: _describe(value) for key, value in snapshot(prefixes).items()}
'''
_namespace: dict[str, Any] = {}
exec(SNAPSHOT_SOURCE, _namespace)
snapshot = _namespace["snapshot"]


def _installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ImportError:  # google.genai without the google namespace package
        return False


INSTALLED = {sdk: modules for sdk, modules in SDKS.items() if _installed(sdk)}


def _import_all() -> None:
    for modules in INSTALLED.values():
        for module in modules:
            try:
                importlib.import_module(module)
            except ImportError:  # a helper module an older release does not have
                pass


def _differences(before: dict[Any, Any], after: dict[Any, Any]) -> list[str]:
    changed = [
        f"{k}: {before[k]!r} -> {after[k]!r}"
        for k in before.keys() & after.keys()
        if before[k] is not after[k]
    ]
    added = [f"added {k}" for k in after.keys() - before.keys()]
    removed = [f"removed {k}" for k in before.keys() - after.keys()]
    return sorted(changed + added + removed)


class Calls:
    """A few real calls through each SDK with a fake at hand: plain, streamed, async, and a helper."""

    def __init__(self) -> None:
        self.openai = openai_fakes.Server()
        self.openai.chat(lambda body: ("gpt-4o-mini-2024-07-18", openai_fakes.CHAT_USAGE))
        self.anthropic = anthropic_fakes.Server()
        self.anthropic.json("/v1/messages", anthropic_fakes.message())
        self.groq = groq_fakes.Server()
        self.groq.json("/openai/v1/chat/completions", groq_fakes.chat_completion())

    def run(self) -> int:
        """Make the calls; how many there were."""
        client = self.openai.client()
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        for _chunk in client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True):
            pass
        with client.chat.completions.stream(model="gpt-4o-mini", messages=MESSAGES) as stream:
            for _event in stream:
                pass

        async def in_async() -> None:
            await self.openai.async_client().chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

        asyncio.run(in_async())
        self.anthropic.client().messages.create(model="claude-sonnet-4-5", max_tokens=64, messages=MESSAGES)
        self.groq.client().chat.completions.create(model="llama-3.3-70b-versatile", messages=MESSAGES)
        return 6


def test_every_instrumented_sdk_is_snapshotted() -> None:
    from otel_tokenomics.providers import INSTRUMENTORS

    assert {package for package, _target in INSTRUMENTORS.values()} == set(SDKS)


@pytest.mark.filterwarnings("ignore:The model:DeprecationWarning")
def test_cycles_with_calls_leave_every_sdk_attribute_identical(telemetry) -> None:
    _import_all()
    calls = Calls()
    # Uninstrumented, twice: whatever the SDKs set up lazily on first use (the calls) or on
    # first look (openai's module-level proxies resolve under isinstance()) is then in place.
    calls.run()
    snapshot(list(INSTALLED))
    calls.run()
    before = snapshot(list(INSTALLED))
    assert len(before) > 1000  # the snapshot really covers the SDKs
    made = 0
    for cycle in range(CYCLES):
        active = otel_tokenomics.instrument(
            tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider
        )
        assert len(active) == len(INSTALLED), active  # every installed SDK (see the test below)
        if cycle % 2:
            # A second instrument() changes nothing.
            otel_tokenomics.instrument(tracer_provider=telemetry.tracer_provider)
        made += calls.run()
        assert len(telemetry.spans()) == made  # instrumented, every cycle: a span per call
        otel_tokenomics.uninstrument()
        if cycle % 2 == 0:
            otel_tokenomics.uninstrument()  # and a second uninstrument() neither
        if cycle in (0, CYCLES - 1):  # a snapshot takes seconds: after the first and the last
            assert _differences(before, snapshot(list(INSTALLED))) == [], f"after cycle {cycle + 1}"
    assert otel_tokenomics.instrumented() == []
    calls.run()
    assert len(telemetry.spans()) == made  # uninstrumented: no span at all


_PROBE = (
    SNAPSHOT_SOURCE
    + """
import importlib, json
sdks = json.loads(sys.argv[1])
mode = sys.argv[2]

def import_all():
    for modules in sdks.values():
        for module in modules:
            try:
                importlib.import_module(module)
            except ImportError:
                pass

if mode == "untouched":
    import_all()
else:
    import otel_tokenomics
    for cycle in range(int(sys.argv[3])):
        otel_tokenomics.instrument()
        if cycle == 0 and mode == "imported-after":
            import_all()  # patched by the import hooks, as the app imports each SDK
        otel_tokenomics.uninstrument()
    import_all()  # "uninstrumented-before": first imported after every cycle ended
print(json.dumps(signature(list(sdks))))
"""
)


# Each subprocess imports the SDKs afresh, seconds each on a busy machine: one per patching
# mechanism (Stainless with its helper-module hooks, a class method, a module's client), not all.
PROBED = {sdk: modules for sdk, modules in INSTALLED.items() if sdk in ("openai", "botocore", "ollama")}


def _probe(mode: str, cycles: int = CYCLES) -> dict[str, str]:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(PROBED), mode, str(cycles)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
        timeout=300,
    )
    assert "could not" not in out.stderr, out.stderr
    result: dict[str, str] = json.loads(out.stdout)
    return result


@pytest.fixture(scope="module")
def untouched() -> dict[str, str]:
    return _probe("untouched")


@pytest.mark.parametrize("mode", ["imported-after", "uninstrumented-before"])
def test_sdks_imported_after_instrument_are_left_as_if_never_instrumented(
    untouched: dict[str, str], mode: str
) -> None:
    if not PROBED:
        pytest.skip("none of the probed SDKs is installed")
    """An SDK patched by the import hook, or whose hook comes after uninstrument(), ends up untouched.

    Compared across processes by what each attribute is and whose code it runs.
    """
    cycled = _probe(mode)
    assert len(untouched) > 1000
    differences = sorted(
        f"{key}: {untouched.get(key)} -> {cycled.get(key)}"
        for key in untouched.keys() | cycled.keys()
        if untouched.get(key) != cycled.get(key)
    )
    assert differences == []
