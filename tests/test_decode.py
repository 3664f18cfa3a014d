import io

import numpy as np
import pytest
from PIL import Image

from catdog.data.decode import decode_image, image_info
from catdog.errors import DecodeError
from catdog.limits import MAX_PHOTO_PIXELS
from conftest import TRAIN, jpeg_bytes, png_with_declared_size, read_rows


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def test_real_photo_decodes_to_square_uint8():
    row = read_rows(TRAIN, count=1)[0]
    pixels = decode_image(row["bytes"], 224)
    assert pixels.shape == (224, 224, 3) and pixels.dtype == np.uint8
    assert 20 < pixels.mean() < 235  # a real photo, not a blank frame


def test_draft_decoding_matches_full_decoding_closely():
    row = read_rows(TRAIN, count=1)[0]
    full = Image.open(io.BytesIO(row["bytes"])).convert("RGB").resize((64, 64), Image.Resampling.BILINEAR)
    fast = decode_image(row["bytes"], 64)
    assert np.abs(fast.astype(int) - np.asarray(full, dtype=int)).mean() < 6


def test_exif_orientation_is_applied():
    left_red_right_blue = np.zeros((40, 60, 3), dtype=np.uint8)
    left_red_right_blue[:, :30] = (255, 0, 0)
    left_red_right_blue[:, 30:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: a viewer rotates 90° clockwise, so the left half ends on top
    data = jpeg_bytes(left_red_right_blue, exif=exif.tobytes(), quality=95)
    pixels = decode_image(data, 32).astype(int)
    top, bottom = pixels[:12].mean(axis=(0, 1)), pixels[-12:].mean(axis=(0, 1))
    assert top[0] > 200 and top[2] < 60, top
    assert bottom[2] > 200 and bottom[0] < 60, bottom


@pytest.mark.parametrize("make, expected", [
    (lambda: Image.new("L", (50, 40), 128), (128, 128, 128)),
    (lambda: Image.new("CMYK", (50, 40), (0, 255, 255, 0)), (255, 0, 0)),
    (lambda: Image.new("RGBA", (50, 40), (0, 0, 0, 0)), (255, 255, 255)),
    (lambda: Image.new("RGB", (50, 40), (0, 200, 0)).convert("P"), (0, 200, 0)),
    (lambda: Image.fromarray(np.full((40, 50), 32768, dtype=np.uint16)), (128, 128, 128)),
])
@pytest.mark.parametrize("fmt", ["PNG", "TIFF"])
def test_colour_modes_become_rgb(make, expected, fmt):
    image = make()
    if fmt == "PNG" and image.mode == "CMYK":
        fmt = "JPEG"  # PNG has no CMYK
    pixels = decode_image(encode(image, fmt), 16).astype(int)
    assert np.abs(pixels.mean(axis=(0, 1)) - expected).max() <= 3, (image.mode, fmt, pixels.mean(axis=(0, 1)))


@pytest.mark.parametrize("fmt", ["GIF", "WEBP", "BMP"])
def test_other_formats_decode(fmt):
    image = Image.new("RGB", (30, 20), (10, 120, 240))
    pixels = decode_image(encode(image, fmt), 16)
    assert pixels.shape == (16, 16, 3)
    assert abs(int(pixels[..., 2].mean()) - 240) < 12


def test_header_info_without_decoding():
    info = image_info(jpeg_bytes(np.zeros((30, 70, 3), dtype=np.uint8)))
    assert (info.format, info.width, info.height) == ("JPEG", 70, 30)


@pytest.mark.parametrize("data, reason", [
    (b"", "empty"),
    (b"just some text, not a photo", "not an image"),
    (png_with_declared_size(30000, 30000), "decompression bomb"),
])
def test_unusable_bytes_raise_decode_error_with_reason(data, reason):
    with pytest.raises(DecodeError, match=reason):
        decode_image(data)


def test_truncated_and_corrupt_jpegs_raise_decode_error():
    good = read_rows(TRAIN, count=1)[0]["bytes"]
    with pytest.raises(DecodeError, match="truncated"):
        decode_image(good[: len(good) // 3])
    corrupt = good[:300] + bytes(range(256)) * 4
    with pytest.raises(DecodeError):
        decode_image(corrupt)


def test_bomb_limit_is_the_configured_pixel_count():
    side = int(MAX_PHOTO_PIXELS ** 0.5) + 10
    with pytest.raises(DecodeError, match="megapixel limit"):
        decode_image(png_with_declared_size(side, side))
