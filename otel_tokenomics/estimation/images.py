"""Input tokens of an image, by the rule its model's provider documents; image sizes read from headers.

Rules (each provider's own documentation, as of 2026):

* OpenAI, tile models (platform.openai.com/docs/guides/images-vision, "Calculating
  costs"): ``detail: low`` costs the base tokens alone; ``high`` (and ``auto``,
  counted as ``high``) scales the image to fit 2048x2048, then its shortest side
  down to 768 px, and adds the tile tokens per 512 px tile. Base / tile: 85 / 170
  (gpt-4o, gpt-4.1, gpt-4.5, gpt-4-turbo), 2833 / 5667 (gpt-4o-mini), 75 / 150
  (o1, o3), 70 / 140 (gpt-5), 65 / 129 (computer-use-preview). Examples from the
  guide: 1024x1024 high = 765, 2048x4096 high = 1105, 4096x8192 low = 85.
* OpenAI, patch models (same guide): tokens are the 32x32 px patches covering the
  image, scaled down to at most 1536 patches, times a per-model multiplier:
  gpt-4.1-mini 1.62, gpt-4.1-nano 2.46, o4-mini 1.72. ``detail`` changes nothing
  for them (community.openai.com/t/1262691 measured low = high). gpt-5-mini and
  gpt-5-nano bill 1.2 and 1.5, the multipliers of OpenAI's pricing calculator
  and of API measurements (community.openai.com/t/1344040); the guide's table
  says 1.62 and 2.46. Examples: 1024x1024 = 1024 patches, 1800x2400 = 1452.
* Anthropic (docs.anthropic.com/en/docs/build-with-claude/vision): an image whose
  long edge exceeds 1568 px or that would cost more than about 1600 tokens is
  first scaled down (1092x1092 for a square); tokens = width * height / 750.
* Gemini (ai.google.dev/gemini-api/docs/tokens, "Multimodal"): 258 tokens when
  both sides are <= 384 px, else 258 per 768x768 tile.
* Any other model: OpenAI's 85 / 170 tile rule, the convention most
  OpenAI-compatible servers copy.

An image of unknown size (a URL, a file id) is counted as 1024x1024: a typical
photo or screenshot after the providers' own downscaling, 765 tokens for gpt-4o.
"""

from __future__ import annotations

import base64
import binascii
import math

from otel_tokenomics.estimation.prompt import Image

# What an image of unknown size is counted as (see the module docstring).
DEFAULT_SIZE = (1024, 1024)

# -- OpenAI --------------------------------------------------------------------------------

_TILE_85 = (85, 170)
# (model prefix, (base, tile)); longest prefixes first where they overlap.
_OPENAI_TILES: tuple[tuple[str, tuple[int, int]], ...] = (
    ("gpt-4o-mini", (2833, 5667)),
    ("computer-use-preview", (65, 129)),
    ("gpt-5", (70, 140)),
    ("o1", (75, 150)),
    ("o3", (75, 150)),
)
# (model prefix, multiplier) of the 32 px patch models.
_OPENAI_PATCHES: tuple[tuple[str, float], ...] = (
    ("gpt-4.1-mini", 1.62),
    ("gpt-4.1-nano", 2.46),
    ("o4-mini", 1.72),
    ("codex-mini", 1.72),  # o4-mini tuned for Codex, billed as o4-mini
    ("gpt-5-nano", 1.5),
    ("gpt-5-mini", 1.2),
)
_FIT_SIDE = 2048
_SHORT_SIDE = 768
_TILE_SIDE = 512
_PATCH_SIDE = 32
_MAX_PATCHES = 1536

# Prefixes of OpenAI's own model ids, for telling them from other vendors' models.
_OPENAI_PREFIXES = ("gpt-", "chatgpt-", "o1", "o3", "o4", "codex-", "computer-use-")

# -- Anthropic and Gemini ------------------------------------------------------------------

_ANTHROPIC_MAX_EDGE = 1568
# The square the vision guide lists as the largest that is not downscaled.
_ANTHROPIC_MAX_PIXELS = 1092 * 1092
_ANTHROPIC_PIXELS_PER_TOKEN = 750

_GEMINI_TOKENS = 258
_GEMINI_SMALL_SIDE = 384
_GEMINI_TILE_SIDE = 768


def image_tokens(image: Image, provider: str, model: str | None) -> int:
    """Input tokens of ``image`` for ``model`` served by ``provider``."""
    width, height = _size(image)
    name = model_name(model)
    family = model_family(provider, name)
    if family == "anthropic":
        return anthropic_tokens(width, height)
    if family == "gemini":
        return gemini_tokens(width, height)
    for prefix, multiplier in _OPENAI_PATCHES:
        if name.startswith(prefix):
            return patch_tokens(width, height, multiplier)
    base, tile = _openai_tiles(name)
    if image.detail == "low":
        return base
    return tile_tokens(width, height, base, tile)


def tile_tokens(width: int, height: int, base: int = 85, tile: int = 170) -> int:
    """OpenAI's high-detail tile rule."""
    if width > _FIT_SIDE or height > _FIT_SIDE:
        scale = _FIT_SIDE / max(width, height)
        width, height = int(width * scale), int(height * scale)
    shortest = min(width, height)
    if shortest > _SHORT_SIDE:  # only ever scaled down: a small image stays one tile
        scale = _SHORT_SIDE / shortest
        width, height = int(width * scale), int(height * scale)
    tiles = math.ceil(width / _TILE_SIDE) * math.ceil(height / _TILE_SIDE)
    return base + tile * tiles


def patch_tokens(width: int, height: int, multiplier: float = 1.0) -> int:
    """OpenAI's 32 px patch rule, capped at 1536 patches, times the model's multiplier."""
    patches = math.ceil(width / _PATCH_SIDE) * math.ceil(height / _PATCH_SIDE)
    if patches > _MAX_PATCHES:
        # The guide's downscale: to the patch budget by area, then shrunk again so
        # that whole patches cover the side that would overflow.
        scale = math.sqrt(_PATCH_SIDE * _PATCH_SIDE * _MAX_PATCHES / (width * height))
        across, down = width * scale / _PATCH_SIDE, height * scale / _PATCH_SIDE
        shrink = min(math.floor(across) / across, math.floor(down) / down)
        patches = min(_whole(across * shrink) * _whole(down * shrink), _MAX_PATCHES)
    # Measured bills round up: 256 patches at 1.2 are billed 308, not 307.
    return _whole(patches * multiplier)


def _whole(value: float) -> int:
    """``value`` rounded up, but not for float noise (33.000000001 patches are 33)."""
    return math.ceil(round(value, 6))


def anthropic_tokens(width: int, height: int) -> int:
    by_edge = _ANTHROPIC_MAX_EDGE / max(width, height)
    by_area = math.sqrt(_ANTHROPIC_MAX_PIXELS / (width * height))
    scale = min(by_edge, by_area)
    if scale < 1.0:
        width, height = int(width * scale), int(height * scale)
    # The guide's own table rounds up: 200x200 is ~54 tokens, 1000x1000 ~1334.
    return math.ceil(width * height / _ANTHROPIC_PIXELS_PER_TOKEN)


def gemini_tokens(width: int, height: int) -> int:
    if width <= _GEMINI_SMALL_SIDE and height <= _GEMINI_SMALL_SIDE:
        return _GEMINI_TOKENS
    return _GEMINI_TOKENS * math.ceil(width / _GEMINI_TILE_SIDE) * math.ceil(height / _GEMINI_TILE_SIDE)


def _size(image: Image) -> tuple[int, int]:
    width, height = image.width, image.height
    if type(width) is int and type(height) is int and width > 0 and height > 0:
        return width, height
    return DEFAULT_SIZE


def model_name(model: str | None) -> str:
    if not isinstance(model, str):
        return ""
    # "openai/gpt-4o" (routers), "ft:gpt-4o-mini-2024-07-18:org::id" (fine-tunes)
    name = model.rsplit("/", 1)[-1].lower()
    return name[3:] if name.startswith("ft:") else name


def model_family(provider: str, name: str) -> str:
    # The model decides before the provider: Claude runs on Bedrock and Vertex AI
    # too, and OpenAI models behind Azure or a router keep OpenAI's rules.
    if "claude" in name:
        return "anthropic"
    if "gemini" in name or "gemma" in name:
        return "gemini"
    if name.startswith(_OPENAI_PREFIXES):
        return "openai"
    if provider == "anthropic":
        return "anthropic"
    if provider.startswith("gcp."):
        return "gemini"
    return "openai"


def _openai_tiles(name: str) -> tuple[int, int]:
    for prefix, numbers in _OPENAI_TILES:
        if name.startswith(prefix):
            return numbers
    return _TILE_85


# -- image sizes from file headers ---------------------------------------------------------

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# JPEG start-of-frame markers (baseline, progressive, lossless, arithmetic); not
# C4 (Huffman tables), C8 (reserved) or CC (arithmetic conditioning).
_JPEG_FRAMES = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# Markers that stand alone, without a length: TEM, RST0-7, SOI, EOI.
_JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD9)})


def image_size(data: bytes) -> tuple[int, int] | None:
    """``(width, height)`` from a PNG, JPEG, GIF or WebP header; None for anything else."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        return None
    data = data if isinstance(data, bytes) else bytes(data)
    try:
        if data.startswith(_PNG_SIGNATURE):
            return _positive(int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big"))
        if data[:6] in (b"GIF87a", b"GIF89a"):
            return _positive(int.from_bytes(data[6:8], "little"), int.from_bytes(data[8:10], "little"))
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            return _webp_size(data)
        if data[:2] == b"\xff\xd8":
            return _jpeg_size(data)
    except (TypeError, ValueError, IndexError):
        pass
    return None


def _positive(width: int, height: int) -> tuple[int, int] | None:
    return (width, height) if width > 0 and height > 0 else None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8 ":  # lossy: a key frame's start code, then 14-bit sizes
        if data[23:26] != b"\x9d\x01\x2a":
            return None
        width = int.from_bytes(data[26:28], "little") & 0x3FFF
        height = int.from_bytes(data[28:30], "little") & 0x3FFF
        return _positive(width, height)
    if chunk == b"VP8L":  # lossless: a signature byte, then 14-bit sizes minus one
        if data[20:21] != b"\x2f" or len(data) < 25:
            return None
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X" and len(data) >= 30:  # extended: the canvas, 24-bit sizes minus one
        return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    position, end = 2, len(data)
    while position + 4 <= end:
        if data[position] != 0xFF:
            return None
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte before a marker
            position += 1
            continue
        if marker in _JPEG_STANDALONE:
            position += 2
            continue
        length = int.from_bytes(data[position + 2 : position + 4], "big")
        if marker in _JPEG_FRAMES:
            if position + 9 > end:
                return None
            height = int.from_bytes(data[position + 5 : position + 7], "big")
            width = int.from_bytes(data[position + 7 : position + 9], "big")
            return _positive(width, height)
        if marker == 0xDA or length < 2:  # image data before any frame header: give up
            return None
        position += 2 + length
    return None


# A header is at the start: most formats need a few dozen bytes, JPEG needs to skip
# its metadata segments (EXIF thumbnails reach 64 KiB), so a longer prefix is
# decoded only when the short one does not say.
_SHORT_PREFIX = 4096
_LONG_PREFIX = 262_144


def data_url_size(url: str) -> tuple[int, int] | None:
    """The size of the image inside a ``data:image/...;base64,`` URL, or None."""
    if not isinstance(url, str) or not url.startswith("data:"):
        return None
    comma = url.find(",", 5, 200)
    if comma < 0 or not url[5:comma].endswith(";base64"):
        return None
    return base64_image_size(url[comma + 1 :])


def base64_image_size(payload: str) -> tuple[int, int] | None:
    """The size of an image sent as base64 text, read from the header at its start, or None."""
    if not isinstance(payload, str):
        return None
    data = _decode(payload[:_SHORT_PREFIX])
    size = image_size(data)
    if size is None and data[:2] == b"\xff\xd8" and len(payload) > _SHORT_PREFIX:
        size = image_size(_decode(payload[:_LONG_PREFIX]))
    return size


def _decode(chunk: str) -> bytes:
    # Line breaks (MIME-style base64) are dropped first: they would leave the quanta uneven.
    chunk = "".join(chunk.split())
    chunk = chunk[: len(chunk) - len(chunk) % 4]  # whole base64 quanta only
    try:
        return base64.b64decode(chunk)
    except (binascii.Error, ValueError):
        return b""
