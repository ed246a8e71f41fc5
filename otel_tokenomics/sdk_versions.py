"""Is the installed SDK recent enough? Answered without ``packaging`` and without parsing METADATA.

``instrument()`` runs at an app's start-up, and the usual check (``packaging``'s
specifiers plus ``importlib.metadata.version``) costs more than everything else it
does: ``packaging`` compiles dozens of regular expressions on import, and
``version()`` runs the e-mail parser over a METADATA file that embeds the SDK's whole
README. Our requirements are all of one shape, ``name >= X``, so this module reads
the ``Version:`` header alone and orders versions as PEP 440 does.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any

_PRE_SPELLINGS = {
    "a": 0,
    "alpha": 0,
    "b": 1,
    "beta": 1,
    "c": 2,
    "rc": 2,
    "pre": 2,
    "preview": 2,
}
_POST_SPELLINGS = ("post", "rev", "r")
_SEPARATORS = "-_."
# Sort keys for the phases of one release: dev < a < b < rc < final (< post, kept apart).
_DEV_ONLY = (-1, 0)
_FINAL = (3, 0)

VersionKey = tuple[int, tuple[int, ...], tuple[int, int], int, int]


class _Reader:
    """A cursor over a lower-cased version string (no regular expression: compiling one costs more)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.at = 0

    def number(self) -> int | None:
        start = self.at
        while self.at < len(self.text) and self.text[self.at].isdigit():
            self.at += 1
        return int(self.text[start : self.at]) if self.at > start else None

    def separator(self) -> None:
        if self.at < len(self.text) and self.text[self.at] in _SEPARATORS:
            self.at += 1

    def word(self, words: Any) -> str | None:
        for word in sorted(words, key=len, reverse=True):  # "rc" before "r", "preview" before "pre"
            if self.text.startswith(word, self.at):
                self.at += len(word)
                return word
        return None

    def done(self) -> bool:
        return self.at >= len(self.text)


def _split_local(local: str) -> list[str]:
    for separator in "-_":
        local = local.replace(separator, ".")
    return local.split(".")


def version_key(version: str) -> VersionKey | None:
    """A key that orders versions as PEP 440 does (local labels ignored); None if not one."""
    text, plus, local = version.strip().lower().partition("+")
    if plus and not all(part.isalnum() and part.isascii() for part in _split_local(local)):
        return None
    if text.startswith("v"):
        text = text[1:]
    epoch = 0
    if "!" in text:
        epoch_text, _, text = text.partition("!")
        if not epoch_text.isdigit():
            return None
        epoch = int(epoch_text)
    reader = _Reader(text)
    numbers: list[int] = []
    while True:
        number = reader.number()
        if number is None:
            return None
        numbers.append(number)
        if not text.startswith(".", reader.at) or not text[reader.at + 1 : reader.at + 2].isdigit():
            break
        reader.at += 1
    while len(numbers) > 1 and numbers[-1] == 0:  # 1.0 == 1.0.0
        numbers.pop()
    phase = _FINAL
    mark = reader.at
    reader.separator()
    pre = reader.word(_PRE_SPELLINGS)
    if pre is None:
        reader.at = mark
    else:
        reader.separator()
        phase = (_PRE_SPELLINGS[pre], reader.number() or 0)
    post = -1
    mark = reader.at
    if text.startswith("-", reader.at) and text[reader.at + 1 : reader.at + 2].isdigit():
        reader.at += 1
        post = reader.number() or 0
    else:
        reader.separator()
        if reader.word(_POST_SPELLINGS) is not None:
            reader.separator()
            post = reader.number() or 0
        else:
            reader.at = mark
    dev = None
    mark = reader.at
    reader.separator()
    if reader.word(("dev",)) is not None:
        reader.separator()
        dev = reader.number() or 0
    else:
        reader.at = mark
    if not reader.done():
        return None
    if dev is not None and pre is None and post < 0:
        phase = _DEV_ONLY  # 1.0.dev1 comes before 1.0a1
    # A dev release comes before the release it leads to; "no dev part" sorts last.
    dev_rank = dev if dev is not None else 2**63
    return (epoch, tuple(numbers), phase, post, dev_rank)


def installed_version(distribution: str) -> str | None:
    """The ``Version`` header of an installed distribution, or None when it is not installed."""
    try:
        dist = metadata.distribution(distribution)
    except metadata.PackageNotFoundError:
        return None
    text = dist.read_text("METADATA") or dist.read_text("PKG-INFO") or ""
    for line in text.splitlines():
        if not line:  # the headers end at the first blank line; the README follows
            break
        name, _, value = line.partition(":")
        if name.strip().lower() == "version":
            return value.strip()
    return None


def requirement_conflict(requirement: str) -> str | None:
    """Why ``"name >= X"`` is not met here ("name not installed", "name 0.3.1"), or None when it is.

    Pre-releases count by their place in the order (``2.0.0rc1`` meets ``>= 1.0``), as
    ``otel-tokenomics doctor`` judges them. A version this module cannot read is let
    through: the adapter reads responses defensively, and refusing an SDK for a version
    string we failed to parse would be a silent loss of all its telemetry.
    """
    name, operator, minimum = (part.strip() for part in requirement.partition(">="))
    if not operator:
        raise ValueError(f"requirement {requirement!r} is not of the form 'name >= version'")
    found = installed_version(name)
    if found is None:
        return f"{name} not installed"
    have, need = version_key(found), version_key(minimum)
    if need is None:
        raise ValueError(f"requirement {requirement!r} has an invalid version")
    if have is not None and have < need:
        return f"{name} {found}"
    return None
