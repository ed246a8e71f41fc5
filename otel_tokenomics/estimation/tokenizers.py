"""Counting tokens of text: the model's own tiktoken encoding when it is loaded, else a heuristic.

Loading an encoding takes about half a second and 30 to 90 MB (o200k_base is the
larger), and tiktoken fetches it over the network when its cache does not have
it. None of that may happen on the call path, so:

* encodings load in a background thread, never in the caller's;
* a count asked for while its encoding is not loaded is a heuristic one (and says
  so), and starts the load in the background for the calls that follow;
* an encoding that cannot be loaded (offline, no cache) is not tried again, and
  the heuristic stands in for it for the life of the process.

Modes (``OTEL_TOKENOMICS_TOKENIZER``): ``lazy`` (default: load on first need),
``preload`` (load o200k_base and cl100k_base when ``instrument()`` runs) and
``off`` (never import tiktoken; every estimate is heuristic).
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Iterable
from typing import Any

from otel_tokenomics.usage import SOURCE_ESTIMATED, SOURCE_HEURISTIC

logger = logging.getLogger("otel_tokenomics")

O200K = "o200k_base"
CL100K = "cl100k_base"
ENCODINGS = (O200K, CL100K)
# What the heuristic reports as its tokenizer (tokenomics.usage.tokenizer).
HEURISTIC = "heuristic"

MODE_LAZY = "lazy"
MODE_PRELOAD = "preload"
MODE_OFF = "off"
MODES = (MODE_LAZY, MODE_PRELOAD, MODE_OFF)
ENV_TOKENIZER = "OTEL_TOKENOMICS_TOKENIZER"

# OpenAI model ids by prefix, longest first where prefixes overlap (gpt-4o before gpt-4).
# Models of other vendors have no public tokenizer: they get the heuristic.
_MODEL_PREFIXES: tuple[tuple[str, str], ...] = (
    ("gpt-4o", O200K),
    ("gpt-4.1", O200K),
    ("gpt-4.5", O200K),
    ("gpt-5", O200K),
    ("gpt-oss", O200K),
    ("chatgpt-", O200K),
    ("o1", O200K),
    ("o3", O200K),
    ("o4", O200K),
    ("codex-", O200K),
    ("computer-use-", O200K),
    ("gpt-realtime", O200K),
    ("gpt-audio", O200K),
    ("gpt-4", CL100K),
    ("gpt-3.5", CL100K),
    ("gpt-35", CL100K),  # Azure's deployment spelling
    ("text-embedding-", CL100K),
    ("davinci-002", CL100K),
    ("babbage-002", CL100K),
)


def encoding_for_model(model: str | None) -> str | None:
    """The tiktoken encoding of an OpenAI model id (``openai/gpt-4o``, ``gpt-4o-2024-08-06``), or None."""
    if not model:
        return None
    name = model.rsplit("/", 1)[-1].lower()
    if name.startswith("ft:"):  # fine-tuned: ft:gpt-4o-mini-2024-07-18:org::id
        name = name[3:]
    for prefix, encoding in _MODEL_PREFIXES:
        if name.startswith(prefix):
            return encoding
    return None


# -- the heuristic -----------------------------------------------------------------------

# Byte-pair encodings give a common word one token, a long word one more per few
# letters, a run of punctuation about a token per two characters, and a CJK
# character most of a token. Measured against o200k_base (docs/estimation.md):
# within 15 % on English prose, Markdown, Python, JSON, German, Chinese and
# Japanese; Russian 28 % under.
_PATTERNS = (
    r"\w+",  # words
    r"\w{7,}",  # long words
    r"[^\w\s]+",  # punctuation runs
    r"[\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]",  # CJK characters
)
# Compiled on first use: compiling them takes 3 ms, which instrument() should not pay.
_compiled: list[re.Pattern[str]] = []
_LETTERS_PER_EXTRA_TOKEN = 5
_TOKENS_PER_CJK_CHARACTER = 0.7


def heuristic_count(text: str) -> int:
    """Tokens of ``text`` without a tokenizer; never 0 for a non-empty text.

    Regular expressions only, and no lists of matches: ``subn`` gives a pattern's
    count, and the length it removed is the total length of its matches.
    """
    if not text:
        return 0
    if not _compiled:
        _compiled.extend(re.compile(pattern) for pattern in _PATTERNS)
    words, long_word, punctuation_run, cjk_character = _compiled
    tokens = 0.0
    if not text.isascii():
        text, cjk = cjk_character.subn(" ", text)
        tokens += cjk * _TOKENS_PER_CJK_CHARACTER
    length = len(text)
    rest, long_words = long_word.subn("", text)
    long_letters = length - len(rest)
    stripped, punctuation = punctuation_run.subn("", text)
    punctuation_chars = length - len(stripped)
    tokens += words.subn("", text)[1]
    tokens += (long_letters - 6 * long_words) / _LETTERS_PER_EXTRA_TOKEN
    tokens += (punctuation_chars + punctuation) / 2
    return max(1, round(tokens))


# -- counters ------------------------------------------------------------------------------


class Counter:
    """Counts tokens of texts one way; ``source`` and ``tokenizer`` say which way."""

    __slots__ = ("_cache", "_cached_chars", "_encode", "source", "tokenizer")

    def __init__(self, tokenizer: str, source: str, encode: Any = None) -> None:
        self.tokenizer = tokenizer
        self.source = source
        self._encode = encode
        # Conversations resend their history with every call: a text counted once
        # is not tokenized again. Bounded by the characters it holds.
        self._cache: dict[str, int] = {}
        self._cached_chars = 0

    def count(self, text: str) -> int:
        if not text:
            return 0
        encode = self._encode
        if len(text) < _CACHE_MIN_CHARS:
            return heuristic_count(text) if encode is None else len(encode(text))
        cache = self._cache
        found = cache.get(text)
        if found is None:
            found = cache[text] = heuristic_count(text) if encode is None else len(encode(text))
            self._cached_chars += len(text)
            if self._cached_chars > _CACHE_MAX_CHARS:
                cache.clear()
                self._cached_chars = 0
        return found

    def count_all(self, texts: Iterable[str]) -> int:
        count = self.count
        return sum(count(text) for text in texts if text)


_CACHE_MIN_CHARS = 256
_CACHE_MAX_CHARS = 4_000_000

HEURISTIC_COUNTER = Counter(HEURISTIC, SOURCE_HEURISTIC)


class _Loader:
    """The encodings of this process: loaded, loading, or failed."""

    def __init__(self) -> None:
        self.mode = _mode_from_env()
        self._lock = threading.Lock()
        self._counters: dict[str, Counter] = {}
        self._events: dict[str, threading.Event] = {}
        self._failed: set[str] = set()

    def counter(self, encoding: str, wait: float = 0.0) -> Counter | None:
        """The encoding's counter if it is loaded (waiting up to ``wait`` seconds), else None."""
        if self.mode == MODE_OFF:
            return None
        found = self._counters.get(encoding)
        if found is not None or encoding in self._failed:
            return found
        event = self.load(encoding)
        if wait > 0 and event is not None:
            event.wait(wait)
        return self._counters.get(encoding)

    def load(self, encoding: str) -> threading.Event | None:
        """Start loading ``encoding`` in the background (once); the event is set when it is done."""
        if self.mode == MODE_OFF or encoding in self._failed:
            return None
        with self._lock:
            event = self._events.get(encoding)
            if event is None:
                event = self._events[encoding] = threading.Event()
                thread = threading.Thread(
                    target=self._load, args=(encoding, event), name=f"otel-tokenomics-{encoding}", daemon=True
                )
                thread.start()
        return event

    def _load(self, encoding: str, event: threading.Event) -> None:
        try:
            import tiktoken

            loaded = tiktoken.get_encoding(encoding)
            self._counters[encoding] = Counter(encoding, SOURCE_ESTIMATED, loaded.encode_ordinary)
        except BaseException:  # a network error, a missing cache, tiktoken not installed
            self._failed.add(encoding)
            logger.info(
                "otel-tokenomics could not load the %s encoding; token estimates stay heuristic",
                encoding,
                exc_info=True,
            )
        finally:
            event.set()

    def loaded(self, encoding: str) -> bool:
        return encoding in self._counters

    def failed(self, encoding: str) -> bool:
        return encoding in self._failed

    def after_fork(self) -> None:
        # A thread loading in the parent does not exist in the child: forget the loads
        # still running so that they start again on demand. Loaded encodings survive.
        self._lock = threading.Lock()
        self._events = {name: event for name, event in self._events.items() if event.is_set()}


def _mode_from_env() -> str:
    value = os.environ.get(ENV_TOKENIZER, "").strip().lower()
    if value in MODES:
        return value
    if value:
        logger.warning("%s=%r is not one of %s; using %s", ENV_TOKENIZER, value, MODES, MODE_LAZY)
    return MODE_LAZY


_loader = _Loader()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=lambda: _loader.after_fork())


def configure(mode: str | None = None) -> None:
    """Set the mode (None: from the environment); ``preload`` starts both loads now."""
    if mode is None:
        mode = _mode_from_env()
    elif mode not in MODES:
        logger.warning("tokenizer=%r is not one of %s; using %s", mode, MODES, MODE_LAZY)
        mode = MODE_LAZY
    _loader.mode = mode
    if mode == MODE_PRELOAD:
        for encoding in ENCODINGS:
            _loader.load(encoding)


def mode() -> str:
    return _loader.mode


def counter_for_model(model: str | None, wait: float = 0.0) -> Counter:
    """How to count tokens for ``model``: its own encoding if loaded, else the heuristic.

    Never blocks unless ``wait`` says so (the pre-flight API waits; the call path does not).
    """
    encoding = encoding_for_model(model)
    if encoding is None:
        return HEURISTIC_COUNTER
    return _loader.counter(encoding, wait) or HEURISTIC_COUNTER


def counter(encoding: str, wait: float = 0.0) -> Counter | None:
    """The counter of a named encoding, if it is (or, within ``wait``, gets) loaded."""
    return _loader.counter(encoding, wait)


def wait_for(encodings: Iterable[str] = ENCODINGS, timeout: float = 30.0) -> bool:
    """Load ``encodings`` and wait for them; True if all loaded (tests, the CLI, doctor)."""
    ok = True
    for encoding in encodings:
        ok = _loader.counter(encoding, timeout) is not None and ok
    return ok


def status() -> dict[str, str]:
    """``{encoding: loaded | failed | loading | not loaded}`` (for doctor and tests)."""
    result = {}
    for encoding in ENCODINGS:
        if _loader.loaded(encoding):
            result[encoding] = "loaded"
        elif _loader.failed(encoding):
            result[encoding] = "failed"
        elif encoding in _loader._events:
            result[encoding] = "loading"
        else:
            result[encoding] = "not loaded"
    return result


def reset_for_tests(mode: str | None = None) -> None:
    """Forget failures (and the mode) so a test can load again; loaded encodings stay."""
    _loader._failed.clear()
    _loader._events = {name: event for name, event in _loader._events.items() if name in _loader._counters}
    _loader.mode = mode or _mode_from_env()


def forget_for_tests(encoding: str) -> None:
    """Unload one encoding, as if it never loaded (the no-encoding tests)."""
    _loader._counters.pop(encoding, None)
    _loader._events.pop(encoding, None)
