"""The ``otel-tokenomics doctor`` subcommand: its arguments and what it runs."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TextIO

from otel_tokenomics.doctor.diagnosis import diagnose
from otel_tokenomics.doctor.text import render_text
from otel_tokenomics.doctor.tokenizer import TOKENIZER_TIMEOUT, load_encodings


def _under_launcher() -> bool:
    """Whether opentelemetry-instrument started this process (its sitecustomize ran)."""
    return any(name.startswith("opentelemetry.instrumentation.auto_instrumentation") for name in sys.modules)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--timeout",
        type=float,
        default=TOKENIZER_TIMEOUT,
        metavar="SECONDS",
        help=f"how long to wait for the tiktoken encodings to load (default {TOKENIZER_TIMEOUT:g})",
    )


def main(args: argparse.Namespace, out: TextIO) -> int:
    """``otel-tokenomics doctor``: exit 0 when no problem was found, 1 otherwise."""
    launched = _under_launcher()
    result = diagnose(
        in_process=launched,
        load=load_encodings,
        prices=getattr(args, "prices", None) or None,
        timeout=max(0.0, args.timeout),
    )
    if args.json:
        out.write(json.dumps(result.as_dict(), indent=2) + "\n")
    else:
        out.write(render_text(result))
    return result.exit_code
