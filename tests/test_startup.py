"""What instrument() does at an app's start-up, kept cheap: which modules it loads, the SDK
version check it does without ``packaging``, the catalog read without splitting, and the one
switch state that ``instrument()`` and the ``BaseInstrumentor`` classes share.
"""

from __future__ import annotations

import itertools
import json
import logging
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.version import Version

import otel_tokenomics
from otel_tokenomics import activation, sdk_versions
from otel_tokenomics.instrumentor import AnthropicInstrumentor, OpenAIInstrumentor
from otel_tokenomics.pricing import catalog as catalog_module
from otel_tokenomics.providers.openai import OpenAIAdapter

ROOT = Path(__file__).resolve().parents[1]

# -- modules ----------------------------------------------------------------------------------------

# What instrument() must not import: BaseInstrumentor and what it drags in (packaging,
# every semantic-convention module), the propagators (entry points, compiled patterns),
# the e-mail parser over an SDK's METADATA, and difflib (only for a bad price file).
HEAVY_AT_START = [
    "opentelemetry.instrumentation.instrumentor",
    "opentelemetry.instrumentation.dependencies",
    "opentelemetry.instrumentation._semconv",
    "opentelemetry.instrumentation.utils",
    "opentelemetry.propagate",
    "packaging.specifiers",
    "packaging.requirements",
    "difflib",
]


def test_instrument_loads_none_of_the_heavy_modules() -> None:
    code = (
        "import sys, json; import openai; before = set(sys.modules)\n"
        "import otel_tokenomics; active = otel_tokenomics.instrument()\n"
        f"heavy = [m for m in {HEAVY_AT_START!r} if m in sys.modules and m not in before]\n"
        "print(json.dumps({'active': active, 'heavy': heavy}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    result = json.loads(out.stdout)
    assert "tokenomics_openai" in result["active"]
    assert result["heavy"] == []


def test_the_suppression_keys_are_the_ones_opentelemetry_instrumentation_reads() -> None:
    from opentelemetry.instrumentation import utils

    from otel_tokenomics import wrapping

    # wrapping.py reads the plain key itself so as not to import opentelemetry.instrumentation.utils.
    assert utils._SUPPRESS_INSTRUMENTATION_KEY_PLAIN == wrapping.SUPPRESS_KEY_PLAIN
    with utils.suppress_instrumentation():
        assert wrapping.enabled_context() is None
    assert wrapping.enabled_context() is not None


# -- SDK versions -----------------------------------------------------------------------------------

ORDERED = [
    "0.9",
    "1.0.dev0",
    "1.0.dev3",
    "1.0a1.dev1",
    "1.0a1",
    "1.0alpha2",
    "1.0b1",
    "1.0c1",
    "1.0rc2",
    "1.0",
    "1.0.0",
    "1.0.post1.dev1",
    "1.0.post1",
    "1.0-2",
    "1.0.1",
    "1.34.116",
    "2.0.0rc1",
    "3.57.0",
    "1!0.1",
]


@pytest.mark.parametrize(("lower", "higher"), list(itertools.pairwise(ORDERED)))
def test_versions_order_as_pep_440_says(lower: str, higher: str) -> None:
    low, high = sdk_versions.version_key(lower), sdk_versions.version_key(higher)
    assert low is not None and high is not None
    if Version(lower) == Version(higher):
        assert low == high
    else:
        assert Version(lower) < Version(higher)  # the table itself
        assert low < high


def test_a_local_label_does_not_move_a_version_below_its_release() -> None:
    # PEP 440 sorts 1.34.116+local.7 after 1.34.116; for ">= 1.34.116" both are in range.
    assert sdk_versions.version_key("1.34.116+local.7") == sdk_versions.version_key("1.34.116")
    assert sdk_versions.version_key("1.34.116+Ubuntu-1_2") == sdk_versions.version_key("1.34.116")


@pytest.mark.parametrize(
    "spelling", ["", "abc", "1.0.x", "1..0", "1.0-", "1.0+", "1.0+a..b", "1.0+é", "1.0rc1rc2", "v", "x!1.0"]
)
def test_a_version_that_is_not_one_has_no_key(spelling: str) -> None:
    assert sdk_versions.version_key(spelling) is None


_release = st.lists(st.integers(0, 12), min_size=1, max_size=4).map(lambda parts: ".".join(map(str, parts)))
_suffix = st.sampled_from(["", "a", "b", "rc", "alpha", "c", "pre", "preview"])
_version_text = st.builds(
    lambda epoch, release, pre, pre_n, post, dev: (
        (f"{epoch}!" if epoch else "")
        + release
        + (f"{pre}{pre_n}" if pre else "")
        + (f".post{post}" if post is not None else "")
        + (f".dev{dev}" if dev is not None else "")
    ),
    st.sampled_from([0, 0, 0, 1]),
    _release,
    _suffix,
    st.integers(0, 3),
    st.none() | st.integers(0, 3),
    st.none() | st.integers(0, 3),
)


@settings(derandomize=True, max_examples=300, deadline=None)
@given(_version_text, _version_text)
def test_versions_compare_as_packaging_compares_them(left: str, right: str) -> None:
    a, b = sdk_versions.version_key(left), sdk_versions.version_key(right)
    assert a is not None and b is not None
    assert (a < b, a == b, a > b) == (
        Version(left) < Version(right),
        Version(left) == Version(right),
        Version(left) > Version(right),
    )


class _Dist:
    def __init__(self, text: str) -> None:
        self.text = text

    def read_text(self, name: str) -> str | None:
        return self.text if name == "METADATA" else None


def test_the_version_is_read_from_the_headers_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    # The SDK's README follows the headers; a "Version:" line in it is not the version.
    metadata_text = "Metadata-Version: 2.3\nName: openai\nVersion: 3.57.0\n\nVersion: 0.1 in the README\n"
    monkeypatch.setattr(sdk_versions.metadata, "distribution", lambda name: _Dist(metadata_text))
    assert sdk_versions.installed_version("openai") == "3.57.0"
    assert sdk_versions.requirement_conflict("openai >= 1.0.0") is None
    assert sdk_versions.requirement_conflict("openai >= 3.57.1") == "openai 3.57.0"


@pytest.mark.parametrize(
    ("installed", "conflict"),
    [
        ("0.28.1", "openai 0.28.1"),
        ("1.0.0rc1", "openai 1.0.0rc1"),
        ("1.0.0", None),
        ("2.0.0b3", None),  # a pre-release past the minimum is in range, as the doctor judges it
        ("not a version", None),  # unreadable: let through rather than silently drop all its telemetry
        (None, "openai not installed"),
    ],
)
def test_requirement_conflicts(
    monkeypatch: pytest.MonkeyPatch, installed: str | None, conflict: str | None
) -> None:
    monkeypatch.setattr(sdk_versions, "installed_version", lambda name: installed)
    assert sdk_versions.requirement_conflict("openai >= 1.0.0") == conflict


def test_the_real_sdk_versions_are_read_as_importlib_metadata_reads_them() -> None:
    from importlib import metadata

    for adapter_target in [target for _package, target in otel_tokenomics.providers.INSTRUMENTORS.values()]:
        adapter = activation.load_adapter(adapter_target)
        name = adapter.requirement.partition(">=")[0].strip()
        try:
            expected = metadata.version(name)
        except metadata.PackageNotFoundError:
            expected = None
        assert sdk_versions.installed_version(name) == expected


# -- one switch state ---------------------------------------------------------------------------------


@pytest.fixture
def clean_switches() -> Any:
    otel_tokenomics.uninstrument()
    yield
    otel_tokenomics.uninstrument()


def test_instrument_and_the_instrumentor_classes_share_one_state(
    clean_switches: None, telemetry: Any
) -> None:
    providers = {"tracer_provider": telemetry.tracer_provider, "meter_provider": telemetry.meter_provider}
    assert "tokenomics_openai" in otel_tokenomics.instrument(**providers)
    assert OpenAIInstrumentor().is_instrumented_by_opentelemetry
    assert activation.is_active(OpenAIAdapter)

    OpenAIInstrumentor().uninstrument()
    assert not activation.is_active(OpenAIAdapter)
    assert "tokenomics_openai" not in otel_tokenomics.instrumented()

    OpenAIInstrumentor().instrument(**providers)
    assert "tokenomics_openai" in otel_tokenomics.instrumented()
    # instrument() again changes nothing: the SDK is not patched twice.
    patched_before = OpenAIAdapter in activation._active and activation._active[OpenAIAdapter]
    otel_tokenomics.instrument(**providers)
    assert activation._active[OpenAIAdapter] is patched_before
    otel_tokenomics.uninstrument()
    assert not OpenAIInstrumentor().is_instrumented_by_opentelemetry
    assert not AnthropicInstrumentor().is_instrumented_by_opentelemetry


def test_an_sdk_below_its_minimum_is_left_alone_and_said_so(
    clean_switches: None, telemetry: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    real = sdk_versions.installed_version
    monkeypatch.setattr(
        sdk_versions, "installed_version", lambda name: "0.28.1" if name == "openai" else real(name)
    )
    with caplog.at_level(logging.WARNING, logger="otel_tokenomics"):
        active = otel_tokenomics.instrument(tracer_provider=telemetry.tracer_provider)
    assert "tokenomics_openai" not in active
    assert not activation.is_active(OpenAIAdapter)
    assert [r.getMessage() for r in caplog.records if "openai" in r.getMessage()] == [
        "otel-tokenomics does not instrument openai 0.28.1: it needs openai >= 1.0.0"
    ]


# -- the catalog, read without splitting ------------------------------------------------------------


def _grouped_by_hand(body: str) -> dict[str, list[Any]]:
    grouped: dict[str, list[Any]] = {}
    for line in body.split("\n"):
        if line:
            record = json.loads(line)
            grouped.setdefault(record["provider"], []).append(record)
    return grouped


def test_the_shipped_catalog_is_in_provider_order_and_read_by_blocks() -> None:
    text = Path(catalog_module.CATALOG_FILE).read_text(encoding="utf-8")
    header, _, body = text.partition("\n")
    expected = _grouped_by_hand(body)
    catalog = catalog_module.Catalog.from_lines(text.encode("utf-8"))
    # Blocks (a callable per provider), not the line-by-line grouping: the build keeps the order.
    assert all(callable(p._lines) for p in catalog.providers.values())
    assert list(expected) == [p["id"] for p in json.loads(header)["providers"] if p["id"] in expected]
    for provider_id, provider in catalog.providers.items():
        assert provider.raw_models == expected.get(provider_id, []), provider_id
    assert sum(len(p.raw_models) for p in catalog.providers.values()) == len(body.strip().split("\n"))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_catalog_out_of_order_is_grouped_line_by_line(seed: int) -> None:
    text = Path(catalog_module.CATALOG_FILE).read_text(encoding="utf-8")
    header, _, body = text.partition("\n")
    lines = [line for line in body.split("\n") if line]
    if seed == 0:
        lines.append(lines.pop(0))  # one line of the first provider moved to the end
    else:
        random.Random(seed).shuffle(lines)
    catalog = catalog_module.Catalog.from_lines(header + "\n" + "\n".join(lines) + "\n")
    expected = _grouped_by_hand("\n".join(lines))
    assert not any(callable(p._lines) for p in catalog.providers.values())
    for provider_id, provider in catalog.providers.items():
        assert provider.raw_models == expected.get(provider_id, []), provider_id
