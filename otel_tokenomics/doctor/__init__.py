"""``otel-tokenomics doctor``: why no LLM spans, metrics or costs show up.

Every check is a plain function over an environment mapping and an
:class:`Installed` snapshot (distribution versions and entry points read from
package metadata), so tests feed made-up environments and nothing here imports
an LLM SDK. :func:`diagnose` runs them all; :func:`report` is the same from
inside a running app, where it also says which SDKs are patched right now.

Secrets: of an OTLP header only the name is ever read into a report; header
values, user-info and query strings of endpoints never reach any output.

One module per check (``sdks``, ``tokenizer``, ``otlp`` and ``export``,
``options``, ``pricing``), ``diagnosis`` to run them all, ``text`` to print the
result and ``command`` for the CLI; this package re-exports what callers use.
"""

from __future__ import annotations

from otel_tokenomics.doctor.command import add_arguments, main
from otel_tokenomics.doctor.diagnosis import Report, diagnose, report
from otel_tokenomics.doctor.export import SIGNALS, ExportConfig, check_export
from otel_tokenomics.doctor.findings import PROBLEM, WARNING, Finding
from otel_tokenomics.doctor.installed import Installed
from otel_tokenomics.doctor.options import check_options
from otel_tokenomics.doctor.otlp import EXPORTER_DISTRIBUTIONS, SignalExport
from otel_tokenomics.doctor.pricing import PricingStatus, catalog_date, catalog_header, check_pricing
from otel_tokenomics.doctor.sdks import (
    NOT_INSTRUMENTED,
    PATCHED,
    SDK_DISTRIBUTIONS,
    WAITING,
    OtherInstrumentation,
    SdkStatus,
    check_sdks,
    instrumented_now,
)
from otel_tokenomics.doctor.text import render_text
from otel_tokenomics.doctor.tokenizer import (
    ENCODING_URLS,
    EncodingStatus,
    TokenizerStatus,
    check_tiktoken,
    encoding_cache_file,
    load_encodings,
    tiktoken_cache,
)

__all__ = [
    "ENCODING_URLS",
    "EXPORTER_DISTRIBUTIONS",
    "NOT_INSTRUMENTED",
    "PATCHED",
    "PROBLEM",
    "SDK_DISTRIBUTIONS",
    "SIGNALS",
    "WAITING",
    "WARNING",
    "EncodingStatus",
    "ExportConfig",
    "Finding",
    "Installed",
    "OtherInstrumentation",
    "PricingStatus",
    "Report",
    "SdkStatus",
    "SignalExport",
    "TokenizerStatus",
    "add_arguments",
    "catalog_date",
    "catalog_header",
    "check_export",
    "check_options",
    "check_pricing",
    "check_sdks",
    "check_tiktoken",
    "diagnose",
    "encoding_cache_file",
    "instrumented_now",
    "load_encodings",
    "main",
    "render_text",
    "report",
    "tiktoken_cache",
]
