"""Turn encoded photo bytes into a square uint8 RGB array, surviving what real photos contain."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import DecodeError
from ..limits import MAX_ASPECT_RATIO, MAX_PHOTO_BYTES, MAX_PHOTO_PIXELS

# Our own pixel limit is checked against the header before any pixel is decoded; Pillow's own
# bomb check stays as a second line of defence at a higher bound.
Image.MAX_IMAGE_PIXELS = MAX_PHOTO_PIXELS * 2


@dataclass(frozen=True)
class ImageInfo:
    format: str
    width: int
    height: int
    mode: str


def _open(data: bytes) -> Image.Image:
    if data is None or len(data) == 0:
        raise DecodeError("empty file (0 bytes)")
    if len(data) > MAX_PHOTO_BYTES:
        raise DecodeError(f"file is {len(data) / 2**20:.0f} MB, over the {MAX_PHOTO_BYTES // 2**20} MB limit")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError as exc:
        raise DecodeError("not an image (unrecognised format)") from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise DecodeError("decompression bomb: declared pixel count is over the limit") from exc
    except Exception as exc:  # Pillow raises many types for hostile headers
        raise DecodeError(_reason(exc, "corrupt image header")) from exc
    width, height = image.size
    if width <= 0 or height <= 0:
        raise DecodeError(f"invalid image size {width}x{height}")
    if max(width, height) > MAX_ASPECT_RATIO * min(width, height):
        raise DecodeError(f"{width}x{height} is not a photo's shape (sides over {MAX_ASPECT_RATIO}:1)")
    if width * height > MAX_PHOTO_PIXELS:
        raise DecodeError(
            f"decompression bomb: {width}x{height} is over the {MAX_PHOTO_PIXELS / 1e6:.0f} megapixel limit"
        )
    return image


def _reason(exc: Exception, kind: str) -> str:
    detail = str(exc) or type(exc).__name__
    return f"truncated file ({detail})" if "truncated" in detail.lower() else f"{kind} ({type(exc).__name__}: {detail})"


def image_info(data: bytes) -> ImageInfo:
    """Format and size from the header only, without decoding pixels."""
    image = _open(data)
    return ImageInfo(image.format or "unknown", image.size[0], image.size[1], image.mode)


def _to_rgb(image: Image.Image) -> Image.Image:
    mode = image.mode
    if mode == "RGB":
        return image
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        # High bit depth grey: scale to 8 bits instead of letting Pillow clip everything to white.
        array = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if mode.startswith("I;16") or array.max(initial=0) > 255 else 255.0
        scaled = np.clip(array / peak * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(scaled, mode="L").convert("RGB")
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
        mode = image.mode
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        # Transparent areas become white, as a viewer shows them, rather than arbitrary hidden colours.
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")  # L, 1, CMYK, YCbCr, LAB, HSV


def decode_image(data: bytes, size: int | None = 224) -> np.ndarray:
    """Decode `data` into a (size, size, 3) uint8 RGB array (size None: at its own size, as an app
    hands a photo to MediaPipe).

    EXIF orientation is applied, any colour mode becomes RGB, JPEGs are decoded at reduced scale
    when that is still at least `size` (draft mode: several times faster on large photos).
    Raises DecodeError with a short reason for anything that is not a usable photo.
    """
    image = _open(data)
    try:
        if size is not None and image.format == "JPEG":
            image.draft("RGB", (size, size))
        image = ImageOps.exif_transpose(image)
        image = _to_rgb(image)
        if size is not None:
            image = image.resize((size, size), Image.Resampling.BILINEAR)
        array = np.asarray(image, dtype=np.uint8)
    except DecodeError:
        raise
    except Exception as exc:
        raise DecodeError(_reason(exc, "corrupt image data")) from exc
    if array.ndim != 3 or array.shape[2] != 3 or (size is not None and array.shape[:2] != (size, size)):
        raise DecodeError(f"decoded to unexpected shape {array.shape}")
    return array
