"""Decoding untrusted image files into RGB uint8 arrays, with typed errors for every bad input."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from vigil.errors import ImageTooLargeError, UnreadableImageError

SUPPORTED_FORMATS = ("JPEG", "PNG", "BMP", "TIFF", "WEBP", "PPM")
DEFAULT_MAX_PIXELS = 50_000_000


def _to_rgb8(img: Image.Image) -> np.ndarray:
    if img.mode.startswith("I;16"):  # 16-bit grey: the high byte, without a float copy of the image
        gray = (np.asarray(img).astype(np.uint16, copy=False) >> 8).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if img.mode in ("I", "F"):  # 32-bit grey: scaled by its maximum, in float32 and in place
        array = np.asarray(img, dtype=np.float32).copy()
        array *= 255.0 / max(float(array.max()), 1.0)
        np.clip(array, 0, 255, out=array)
        gray = array.astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba)
    rgb = np.asarray(img.convert("RGB"), dtype=np.uint8)
    return np.ascontiguousarray(rgb)


def decode_image(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS, name: str = "image") -> np.ndarray:
    """Decode bytes into an (H, W, 3) uint8 RGB array, applying EXIF orientation.

    Grayscale, palette, RGBA (composited on white) and 16-bit images are converted. Raises
    :class:`UnreadableImageError` for empty, corrupt, truncated or non-image data and
    :class:`ImageTooLargeError` when the image has more than ``max_pixels`` pixels.
    """
    if not data:
        raise UnreadableImageError(f"{name}: the file is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                width, height = img.size
                if width * height > max_pixels:
                    raise ImageTooLargeError(
                        f"{name}: {width}x{height} = {width * height:,} pixels exceeds the limit of {max_pixels:,}"
                    )
                if img.format not in SUPPORTED_FORMATS:
                    raise UnreadableImageError(
                        f"{name}: format {img.format} is not supported (supported: {', '.join(SUPPORTED_FORMATS)})"
                    )
                ImageFile.LOAD_TRUNCATED_IMAGES = False  # a library may have turned it on process-wide
                img.load()
                oriented = ImageOps.exif_transpose(img)
                rgb = _to_rgb8(oriented if oriented is not None else img)
    except (ImageTooLargeError, UnreadableImageError):
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooLargeError(f"{name}: refused as a possible decompression bomb ({exc})") from exc
    except UnidentifiedImageError as exc:
        raise UnreadableImageError(f"{name}: not a recognised image file") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise UnreadableImageError(f"{name}: corrupt or truncated image ({exc})") from exc
    if rgb.shape[0] < 1 or rgb.shape[1] < 1:
        raise UnreadableImageError(f"{name}: image has no pixels")
    return rgb


def load_image(path: str | Path, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Read and decode an image file; see :func:`decode_image`."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except IsADirectoryError as exc:
        raise UnreadableImageError(f"{path.name}: is a directory, not an image file") from exc
    except OSError as exc:
        raise UnreadableImageError(f"{path.name}: cannot be read ({exc.strerror})") from exc
    return decode_image(data, max_pixels=max_pixels, name=path.name)


def image_format(data: bytes) -> str:
    """The container format of already-validated image bytes (one of SUPPORTED_FORMATS)."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            fmt = str(img.format)
    except (UnidentifiedImageError, OSError) as exc:
        raise UnreadableImageError("not a recognised image file") from exc
    if fmt not in SUPPORTED_FORMATS:
        raise UnreadableImageError(f"format {fmt} is not supported")
    return fmt
