"""``python -m otel_tokenomics``: the same as the ``otel-tokenomics`` command."""

from __future__ import annotations

from otel_tokenomics.cli import main

raise SystemExit(main())
