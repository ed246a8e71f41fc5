"""Image tokens by each provider's documented rule, and image sizes read from real files' headers.

The images are built byte by byte here (no imaging library): complete, decodable
PNG, GIF, JPEG and lossless WebP files, plus a lossy WebP header.
"""

from __future__ import annotations

import base64
import struct
import zlib

import pytest

from otel_tokenomics.estimation import images
from otel_tokenomics.estimation.images import data_url_size, image_size, image_tokens
from otel_tokenomics.estimation.prompt import Image

# -- OpenAI -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("width", "height", "detail", "expected"),
    [
        # The guide's own examples ("Calculating costs", GPT-4o and similar models).
        (1024, 1024, "high", 765),  # scaled to 768x768: 4 tiles
        (2048, 4096, "high", 1105),  # to 1024x2048, then 768x1536: 6 tiles
        (4096, 8192, "low", 85),
        # A small image is never scaled up: one tile.
        (128, 64, "high", 255),
        # auto is counted as high; no detail at all too.
        (1024, 1024, "auto", 765),
        (1024, 1024, None, 765),
    ],
)
def test_openai_tile_rule(width: int, height: int, detail: str | None, expected: int) -> None:
    assert image_tokens(Image(width, height, detail), "openai", "gpt-4o") == expected


@pytest.mark.parametrize(
    ("model", "low", "high"),
    [
        # (base, base + 4 tiles) for a 1024x1024 image, per the guide's table.
        ("gpt-4o-mini", 2833, 2833 + 4 * 5667),
        ("gpt-4o-mini-2024-07-18", 2833, 2833 + 4 * 5667),
        ("gpt-4.1", 85, 765),
        ("gpt-4.5-preview", 85, 765),
        ("o1", 75, 75 + 4 * 150),
        ("o3-2025-04-16", 75, 75 + 4 * 150),
        ("gpt-5", 70, 70 + 4 * 140),
        ("gpt-5-chat-latest", 70, 70 + 4 * 140),
        ("computer-use-preview", 65, 65 + 4 * 129),
        # Model ids as routers and fine-tunes spell them.
        ("openai/gpt-4o-mini", 2833, 2833 + 4 * 5667),
        ("ft:gpt-4o-mini-2024-07-18:org::abc123", 2833, 2833 + 4 * 5667),
    ],
)
def test_openai_tile_numbers_per_model(model: str, low: int, high: int) -> None:
    assert image_tokens(Image(1024, 1024, "low"), "openai", model) == low
    assert image_tokens(Image(1024, 1024, "high"), "openai", model) == high


@pytest.mark.parametrize(
    ("model", "width", "height", "expected"),
    [
        # The guide's patch examples: 1024x1024 is 32x32 = 1024 patches; 1800x2400 is
        # scaled down to 1056x1408, 33x44 = 1452 patches. Times 1.62 for gpt-4.1-mini.
        ("gpt-4.1-mini", 1024, 1024, 1659),  # 1658.88
        ("gpt-4.1-mini", 1800, 2400, 2353),  # 2352.24
        ("gpt-4.1-nano", 1024, 1024, 2520),  # 1024 x 2.46 = 2519.04
        ("o4-mini", 1024, 1024, 1762),  # 1024 x 1.72 = 1761.28
        ("o4-mini-2025-04-16", 128, 64, 14),  # 4 x 2 patches x 1.72 = 13.76
        # gpt-5-mini as measured against the API (community.openai.com/t/1344040):
        ("gpt-5-mini", 256, 256, 77),
        ("gpt-5-mini", 512, 512, 308),
        ("gpt-5-mini", 768, 1024, 922),
        ("gpt-5-mini", 1280, 720, 1104),
        ("gpt-5-mini", 1024, 1024, 1229),
        ("gpt-5-mini", 2048, 768, 1844),  # exactly the 1536-patch cap
        ("gpt-5-nano", 2048, 768, 2304),  # 1536 x 1.5
    ],
)
def test_openai_patch_rule(model: str, width: int, height: int, expected: int) -> None:
    assert image_tokens(Image(width, height, "high"), "openai", model) == expected
    # detail does not apply to patch models (measured: low and high bill the same)
    assert image_tokens(Image(width, height, "low"), "openai", model) == expected


def test_patch_rule_without_multiplier_is_the_patch_count() -> None:
    assert images.patch_tokens(1024, 1024) == 1024
    assert images.patch_tokens(1800, 2400) == 1452
    assert images.patch_tokens(4000, 4000) == 1521  # scaled to 39x39 patches, under the cap
    assert images.patch_tokens(33, 1) == 2


def test_openai_models_keep_their_rule_behind_any_provider() -> None:
    image = Image(1024, 1024, "high")
    assert image_tokens(image, "azure.ai.openai", "gpt-4o-mini") == 2833 + 4 * 5667
    assert image_tokens(image, "openrouter", "openai/gpt-4o") == 765


# -- Anthropic and Gemini -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("width", "height", "expected"),
    [
        # docs.anthropic.com vision guide, "Calculate image costs": ~54, ~1334, ~1590.
        (200, 200, 54),
        (1000, 1000, 1334),
        (1092, 1092, 1590),
        # Larger images are scaled down first: 4000x3000 to 1260x945 (the area cap).
        (4000, 3000, 1588),
        # A long strip is limited by its long edge: 3136x200 to 1568x100.
        (3136, 200, 210),
    ],
)
def test_anthropic_rule(width: int, height: int, expected: int) -> None:
    assert image_tokens(Image(width, height), "anthropic", "claude-sonnet-4-5") == expected
    # Claude keeps Anthropic's rule on Bedrock and Vertex AI.
    assert (
        image_tokens(Image(width, height), "aws.bedrock", "us.anthropic.claude-sonnet-4-5-v1:0") == expected
    )
    assert image_tokens(Image(width, height), "gcp.vertex_ai", "claude-sonnet-4-5@20250929") == expected


@pytest.mark.parametrize(
    ("width", "height", "expected"),
    [
        # ai.google.dev "Understand and count tokens": 258 up to 384x384, else 258 per 768x768 tile.
        (384, 384, 258),
        (100, 50, 258),
        (385, 100, 258),
        (1024, 1024, 4 * 258),
        (1536, 768, 2 * 258),
        (1537, 768, 3 * 258),
    ],
)
def test_gemini_rule(width: int, height: int, expected: int) -> None:
    assert image_tokens(Image(width, height), "gcp.gemini", "gemini-2.5-flash") == expected
    assert image_tokens(Image(width, height), "gcp.vertex_ai", "gemini-2.0-flash-001") == expected


def test_other_models_get_the_common_tile_rule() -> None:
    assert image_tokens(Image(1024, 1024), "mistral_ai", "pixtral-large-latest") == 765
    assert image_tokens(Image(1024, 1024, "low"), "groq", "llama-4-scout") == 85
    assert image_tokens(Image(1024, 1024), "anthropic", None) == 1399
    assert image_tokens(Image(1024, 1024), "gcp.gemini", "") == 4 * 258


def test_unknown_size_counts_as_a_1024_square() -> None:
    unknown = Image(detail="high")
    assert image_tokens(unknown, "openai", "gpt-4o") == 765
    assert image_tokens(unknown, "openai", "gpt-4.1-mini") == 1659
    assert image_tokens(Image(), "anthropic", "claude-opus-4-1") == 1399  # 1048576 / 750
    assert image_tokens(Image(), "gcp.gemini", "gemini-2.5-pro") == 4 * 258
    # A size that makes no sense is unknown too.
    assert image_tokens(Image(0, 500, "high"), "openai", "gpt-4o") == 765


# -- image files, built here ------------------------------------------------------------------


def png(width: int, height: int) -> bytes:
    """A complete grayscale PNG, all black."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit gray, no interlace
    rows = b"".join(b"\x00" + bytes(width) for _ in range(height))  # filter 0, then the pixels
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def gif(width: int, height: int) -> bytes:
    """A complete GIF89a, every pixel color 0 of a two-color table."""
    screen = struct.pack("<HHBBB", width, height, 0x80, 0, 0)  # global table of 2 colors
    colors = b"\x00\x00\x00\xff\xff\xff"
    descriptor = b"," + struct.pack("<HHHHB", 0, 0, width, height, 0)
    # LZW with 2-bit minimum codes: clear (4) before every second pixel keeps the code
    # width at 3 bits; end of information is 5.
    codes = []
    for index in range(width * height):
        if index % 2 == 0:
            codes.append(4)
        codes.append(0)
    codes.append(5)
    bits = sum(code << (3 * position) for position, code in enumerate(codes))
    data = bits.to_bytes((3 * len(codes) + 7) // 8, "little")
    blocks = b"".join(bytes([len(data[i : i + 255])]) + data[i : i + 255] for i in range(0, len(data), 255))
    return b"GIF89a" + screen + colors + descriptor + b"\x02" + blocks + b"\x00;"


def jpeg(width: int, height: int, *, progressive: bool = False, metadata: int = 0) -> bytes:
    """A complete grayscale JPEG, mid-gray: every 8x8 block is a zero DC and an end of block.

    Progressive, it is a single DC scan (the AC coefficients never sent are zero).

    ``metadata`` bytes of APPn segments come before the frame header, as EXIF and ICC profiles do.
    """

    def segment(marker: int, payload: bytes) -> bytes:
        return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload

    quantization = segment(0xDB, b"\x00" + bytes([1] * 64))
    frame = 0xC2 if progressive else 0xC0
    frame_header = segment(frame, struct.pack(">BHHB", 8, height, width, 1) + b"\x01\x11\x00")
    # One code of one bit ("0") in each table: DC difference category 0, AC end of block.
    dc_table = segment(0xC4, b"\x00" + bytes([1] + [0] * 15) + b"\x00")
    ac_table = segment(0xC4, b"\x10" + bytes([1] + [0] * 15) + b"\x00")
    # One component, tables 0 and 0, spectral selection 0-63 (0-0 for a DC scan).
    scan = segment(0xDA, b"\x01\x01\x00\x00" + (b"\x00" if progressive else b"\x3f") + b"\x00")
    blocks = ((width + 7) // 8) * ((height + 7) // 8)
    bits = ("0" if progressive else "00") * blocks
    bits += "1" * (-len(bits) % 8)  # padded with ones
    entropy = bytes(int(bits[i : i + 8], 2) for i in range(0, len(bits), 8))
    jfif = segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")
    # A segment holds at most 65533 bytes: longer metadata is EXIF, then ICC profile segments.
    exif = b""
    while metadata > 0:
        size = min(metadata, 60_000)
        exif += segment(0xE2 if exif else 0xE1, b"Exif\x00\x00" + bytes(size))
        metadata -= size
    return (
        b"\xff\xd8"
        + jfif
        + exif
        + quantization
        + frame_header
        + dc_table
        + ac_table
        + scan
        + entropy
        + b"\xff\xd9"
    )


def _riff(chunks: bytes) -> bytes:
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WEBP" + chunks


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return kind + struct.pack("<I", len(payload)) + payload + b"\x00" * (len(payload) % 2)


def _lossless_bitstream(width: int, height: int) -> bytes:
    """A VP8L image of one color: a header, no transforms, five one-symbol prefix codes."""
    fields = [(width - 1, 14), (height - 1, 14), (0, 1), (0, 3)]  # sizes, no alpha, version 0
    fields += [(0, 1), (0, 1), (0, 1)]  # no transform, no color cache, no meta prefix codes
    for symbol in (0x80, 0x80, 0x80, 0xFF):  # green, red, blue, alpha: one 8-bit symbol each
        fields += [(1, 1), (0, 1), (1, 1), (symbol, 8)]
    fields += [(1, 1), (0, 1), (0, 1), (0, 1)]  # distance: one 1-bit symbol
    value, position = 0, 0
    for field, size in fields:
        value |= field << position
        position += size
    # Every pixel is the codes' only symbols: zero bits each.
    return b"\x2f" + value.to_bytes((position + 7) // 8, "little")


def webp_lossless(width: int, height: int) -> bytes:
    return _riff(_chunk(b"VP8L", _lossless_bitstream(width, height)))


def webp_extended(width: int, height: int) -> bytes:
    """The extended format: a VP8X canvas, then the same lossless image."""
    canvas = b"\x00\x00\x00\x00" + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    return _riff(_chunk(b"VP8X", canvas) + _chunk(b"VP8L", _lossless_bitstream(width, height)))


def webp_lossy_header(width: int, height: int) -> bytes:
    """A lossy (VP8) key frame's header: frame tag, start code, sizes; the reader needs no more."""
    frame = b"\x30\x01\x00" + b"\x9d\x01\x2a" + struct.pack("<HH", width, height)
    return _riff(_chunk(b"VP8 ", frame + bytes(8)))


@pytest.mark.parametrize(
    ("data", "size"),
    [
        (png(3, 2), (3, 2)),
        (png(1, 300), (1, 300)),
        (gif(3, 2), (3, 2)),
        (gif(1, 1), (1, 1)),
        (jpeg(16, 8), (16, 8)),
        (jpeg(9, 17, progressive=True), (9, 17)),
        (jpeg(8, 8, metadata=200_000), (8, 8)),  # behind 200 KB of metadata
        (webp_lossless(1, 1), (1, 1)),
        (webp_lossless(300, 7), (300, 7)),
        (webp_extended(640, 480), (640, 480)),
        (webp_lossy_header(1024, 768), (1024, 768)),
    ],
)
def test_image_size_reads_headers(data: bytes, size: tuple[int, int]) -> None:
    assert image_size(data) == size


def test_jpeg_fill_bytes_and_standalone_markers_are_skipped() -> None:
    data = jpeg(24, 16)
    # A fill byte before the first segment's marker, and a restart marker.
    patched = data[:2] + b"\xff\xff\xd0" + data[2:]
    assert image_size(patched) == (24, 16)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not an image",
        b"\x89PNG\r\n\x1a\n",  # a signature alone
        png(3, 2)[:20],  # cut inside the header
        b"GIF89a\x00\x00\x00\x00",  # zero sizes
        b"\xff\xd8\xff\xda\x00\x08",  # image data before any frame header
        b"\xff\xd8\x00\x00",  # not a marker
        jpeg(8, 8)[:30],  # cut before the frame header
        b"RIFF\x00\x00\x00\x00WEBPVP8 \x00\x00\x00\x00\x00\x00\x00\x00\x00\x00",  # no start code
        b"RIFF\x00\x00\x00\x00WEBPVP8L\x00\x00\x00\x00\x00",  # no signature byte
        b"RIFF\x00\x00\x00\x00WEBPALPH",  # an unknown first chunk
    ],
)
def test_image_size_of_anything_else_is_none(data: bytes) -> None:
    assert image_size(data) is None


def test_image_size_never_raises_on_wrong_types() -> None:
    assert image_size(None) is None  # type: ignore[arg-type]
    assert image_size("\x89PNG") is None  # type: ignore[arg-type]


def data_url(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode()


def test_data_url_size() -> None:
    assert data_url_size(data_url(png(640, 480))) == (640, 480)
    assert data_url_size(data_url(gif(3, 2), "image/gif")) == (3, 2)
    assert data_url_size(data_url(webp_extended(64, 32), "image/webp")) == (64, 32)
    # A JPEG's frame header behind long metadata is found in a longer prefix.
    assert data_url_size(data_url(jpeg(800, 600, metadata=60_000), "image/jpeg")) == (800, 600)
    # Anything else is unknown, never an error.
    assert data_url_size("https://example.com/cat.png") is None
    assert data_url_size("data:image/png,rawbytes") is None
    assert data_url_size("data:image/png;base64,@@@@") is None
    assert data_url_size("data:image/png;base64," + "A" * 10_000) is None
    assert data_url_size(None) is None  # type: ignore[arg-type]
