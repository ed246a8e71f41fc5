"""Check 2: tiktoken, its cache folder and whether the encodings load."""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from otel_tokenomics.doctor.findings import PROBLEM, WARNING, Finding
from otel_tokenomics.doctor.installed import Installed

TOKENIZER_TIMEOUT = 10.0


# tiktoken caches a download under the SHA-1 of its URL.
ENCODING_URLS = {
    "o200k_base": "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
    "cl100k_base": "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
}


@dataclass(frozen=True)
class EncodingStatus:
    name: str
    cached: bool | None
    status: str  # loaded / failed / timed out / not loaded / off / not installed


@dataclass(frozen=True)
class TokenizerStatus:
    tiktoken_version: str | None
    mode: str
    mode_valid: bool
    cache_dir: str | None  # None: caching switched off (TIKTOKEN_CACHE_DIR="")
    cache_source: str
    encodings: list[EncodingStatus]


Loader = Callable[[Sequence[str], float], Mapping[str, str]]


def tiktoken_cache(environ: Mapping[str, str]) -> tuple[str | None, str]:
    """tiktoken's cache folder and the variable that chose it (None: the cache is off)."""
    for name in ("TIKTOKEN_CACHE_DIR", "DATA_GYM_CACHE_DIR"):
        if name in environ:
            return (environ[name] or None), name
    return os.path.join(tempfile.gettempdir(), "data-gym-cache"), "default"


def encoding_cache_file(cache_dir: str, encoding: str) -> str:
    return os.path.join(cache_dir, hashlib.sha1(ENCODING_URLS[encoding].encode()).hexdigest())


def load_encodings(encodings: Sequence[str], timeout: float) -> dict[str, str]:
    """Load through the same background loader the instrumentation uses, waiting at most ``timeout`` s.

    A download without network cannot hang doctor: the load runs in the loader's
    daemon thread and an unfinished one is reported as ``timed out``.
    """
    from otel_tokenomics.estimation import tokenizers

    deadline = time.monotonic() + timeout
    for encoding in encodings:
        tokenizers.counter(encoding, max(0.0, deadline - time.monotonic()))
    return current_encodings()


def current_encodings() -> dict[str, str]:
    """What this process has loaded, without starting a load."""
    from otel_tokenomics.estimation import tokenizers

    names = {"loaded": "loaded", "failed": "failed", "loading": "timed out", "not loaded": "not loaded"}
    return {name: names.get(state, state) for name, state in tokenizers.status().items()}


def check_tiktoken(
    environ: Mapping[str, str],
    installed: Installed,
    load: Loader | None = None,
    timeout: float = TOKENIZER_TIMEOUT,
    exists: Callable[[str], bool] = os.path.isfile,
) -> tuple[TokenizerStatus, list[Finding]]:
    """tiktoken's state; ``load`` (None: report only) loads the encodings within ``timeout``."""
    from otel_tokenomics.estimation.tokenizers import ENCODINGS, ENV_TOKENIZER, MODE_LAZY, MODE_OFF, MODES

    findings: list[Finding] = []
    version = installed.version("tiktoken")
    raw_mode = environ.get(ENV_TOKENIZER, "").strip().lower()
    mode = raw_mode if raw_mode in MODES else MODE_LAZY
    mode_valid = not raw_mode or raw_mode in MODES
    cache_dir, source = tiktoken_cache(environ)
    heuristic = "token estimates are heuristic counts (tokenomics.usage.source=heuristic)"
    if not mode_valid:
        findings.append(
            Finding(
                PROBLEM,
                f"{ENV_TOKENIZER}={environ.get(ENV_TOKENIZER)!r} is not one of {', '.join(MODES)}; "
                "lazy is used",
                f"set {ENV_TOKENIZER} to lazy, preload or off",
            )
        )
    statuses: dict[str, str] = {}
    if mode == MODE_OFF:
        statuses = dict.fromkeys(ENCODINGS, "off")
    elif version is None:
        statuses = dict.fromkeys(ENCODINGS, "not installed")
        findings.append(
            Finding(
                WARNING,
                f"tiktoken is not installed: {heuristic}",
                "pip install tiktoken",
            )
        )
    elif load is not None:
        statuses = dict(load(ENCODINGS, timeout))
    encodings = []
    for name in ENCODINGS:
        cached = exists(encoding_cache_file(cache_dir, name)) if cache_dir is not None else None
        state = statuses.get(name, "not loaded")
        encodings.append(EncodingStatus(name, cached, state))
        if state in ("failed", "timed out"):
            where = (
                f"it is not in the cache ({cache_dir}) and " if cache_dir is not None and not cached else ""
            )
            findings.append(
                Finding(
                    WARNING,
                    f"tiktoken encoding {name} "
                    f"{'did not load' if state == 'failed' else 'did not load in time'}: {where}"
                    f"tiktoken downloads it on first use; until it loads, {heuristic}",
                    "give the app network access to openaipublic.blob.core.windows.net once, or copy the "
                    "cache files and point TIKTOKEN_CACHE_DIR at them",
                )
            )
    return TokenizerStatus(version, mode, mode_valid, cache_dir, source, encodings), findings
