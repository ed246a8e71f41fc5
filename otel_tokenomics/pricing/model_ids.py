"""The spellings under which one model id may be found in the catalog.

APIs and SDKs name a model in more ways than a price list does: Gemini answers
``models/gemini-2.5-pro``, Vertex takes ``publishers/google/models/...`` and
``claude-sonnet-4-5@20250929``, Bedrock takes full ARNs, gateways prefix the
vendor (``openai/gpt-4o``), and LiteLLM writes dates without dashes. The id as
given is always tried first, so an exact catalog entry wins over a rewrite.
"""

from __future__ import annotations

import re

_COMPACT_DATE = re.compile(r"-(20\d{2})(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])(?=$|[-:@])")
_DASHED_DATE = re.compile(r"-(20\d{2})-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])(?=$|[-:@])")


def candidates(model: str) -> list[str]:
    """Lower-cased spellings of ``model`` to look up, most literal first."""
    found: list[str] = []

    def add(value: str) -> None:
        if value and value not in found:
            found.append(value)

    name = model.strip().lower()
    add(name)
    if name.startswith("arn:"):
        # arn:aws:bedrock:<region>:<account>:(foundation-model|inference-profile)/<id>
        name = name.rsplit("/", 1)[-1]
        add(name)
    if "/models/" in name:  # projects/p/locations/l/publishers/google/models/gemini-2.5-pro
        name = name.rsplit("/models/", 1)[-1]
        add(name)
    if name.startswith("models/"):
        name = name[len("models/") :]
        add(name)
    for base in list(found):
        if "@" in base:  # Vertex: claude-sonnet-4-5@20250929, gemini-1.5-pro@002
            add(base.replace("@", "-"))
            add(base.split("@", 1)[0])
    for base in list(found):
        if "/" in base:  # a gateway's vendor prefix: openai/gpt-4o, google/gemini-2.5-pro
            add(base.split("/", 1)[1])
            add(base.rsplit("/", 1)[1])
    for base in list(found):
        compact = _COMPACT_DATE.sub(r"-\1-\2-\3", base)
        if compact != base:
            add(compact)
        dashed = _DASHED_DATE.sub(r"-\1\2\3", base)
        if dashed != base:
            add(dashed)
    return found
