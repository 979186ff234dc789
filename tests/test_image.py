"""Bad input gets a clear typed error, never a crash; odd but valid images are converted."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vigil.errors import ImageTooLargeError, UnreadableImageError
from vigil.vision.image import decode_image, load_image


def _encode(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def _png_header_bomb(width: int, height: int) -> bytes:
    """A tiny PNG file that claims to be enormous."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )


RGB = Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 60, 3), dtype=np.uint8))


@pytest.mark.parametrize(
    ("data", "error", "message"),
    [
        (b"", UnreadableImageError, "empty"),
        (b"this is a text file, not a photo\n" * 10, UnreadableImageError, "not a recognised image"),
        (b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4, UnreadableImageError, "corrupt|not a recognised"),
        (_encode(RGB, "JPEG")[:200], UnreadableImageError, "truncated"),
        (_encode(RGB, "GIF"), UnreadableImageError, "not supported"),
        (_png_header_bomb(9_000, 9_000), ImageTooLargeError, "exceeds the limit of 50,000,000"),
        (_png_header_bomb(100_000, 100_000), ImageTooLargeError, "decompression bomb"),
    ],
    ids=["empty", "text", "corrupt-jpeg", "truncated-jpeg", "unsupported-gif", "too-many-pixels", "decompression-bomb"],
)
def test_bad_images_raise_typed_errors(data: bytes, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        decode_image(data)


def test_pixel_limit_is_configurable() -> None:
    with pytest.raises(ImageTooLargeError):
        decode_image(_encode(RGB, "PNG"), max_pixels=1000)


@pytest.mark.parametrize(
    "image",
    [
        Image.fromarray(np.full((20, 30), 77, np.uint8), mode="L"),
        Image.fromarray(np.full((20, 30, 4), 200, np.uint8), mode="RGBA"),
        Image.fromarray(np.full((20, 30), 40000, np.uint16)),
        RGB.convert("P"),
        RGB.convert("CMYK"),
    ],
    ids=["grayscale", "rgba", "16-bit", "palette", "cmyk"],
)
def test_odd_formats_become_rgb8(image: Image.Image) -> None:
    fmt = "TIFF" if image.mode in ("I;16", "CMYK") else "PNG"
    pixels = decode_image(_encode(image, fmt))
    assert pixels.shape == (20, 30, 3) if image.size == (30, 20) else pixels.shape[2] == 3
    assert pixels.dtype == np.uint8


def test_sixteen_bit_values_are_scaled() -> None:
    pixels = decode_image(_encode(Image.fromarray(np.full((4, 4), 65535, np.uint16)), "PNG"))
    assert pixels.max() == 255


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(UnreadableImageError, match="cannot be read"):
        load_image(tmp_path / "absent.jpg")
    with pytest.raises(UnreadableImageError, match="directory"):
        load_image(tmp_path)


def test_sixteen_bit_conversion_keeps_the_levels_without_a_float64_copy() -> None:
    """Issue 14, item 13: a big 16-bit PNG was converted through float64 copies (8 bytes a pixel)."""
    import tracemalloc

    levels = np.array([[0, 256, 32768, 65535]], np.uint16).repeat(4, axis=0)
    pixels = decode_image(_encode(Image.fromarray(levels), "PNG"))
    assert pixels[0, :, 0].tolist() == [0, 1, 128, 255]
    big = _encode(Image.fromarray(np.full((1500, 1500), 40000, np.uint16)), "PNG")  # 2.25 Mpx
    tracemalloc.start()
    decode_image(big)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 1500 * 1500 * 8, peak  # less than one float64 copy of the image at its peak


def test_a_truncated_photo_is_refused_even_after_a_library_relaxed_pillow(monkeypatch: pytest.MonkeyPatch) -> None:
    """WeasyPrint (the evidence packs' PDFs) turns on Pillow's LOAD_TRUNCATED_IMAGES for the whole process
    when imported; a truncated enrollment photo must still be refused after that."""
    from PIL import ImageFile

    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    with pytest.raises(UnreadableImageError, match="truncated"):
        decode_image(_encode(RGB, "JPEG")[:200], name="photo.jpg")
