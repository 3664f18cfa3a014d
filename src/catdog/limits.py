"""Input limits, enforced in one place each (see docs/LIMITS in the README)."""

# An encoded photo larger than this is refused before decoding (a phone JPEG is 2–12 MB).
MAX_PHOTO_BYTES = 50 * 1024 * 1024
# Width x height read from the header; anything larger is treated as a decompression bomb.
# 64 megapixels covers every camera in common use (a 108 MP sensor bins to 12 MP by default).
MAX_PHOTO_PIXELS = 64_000_000
# Longer side / shorter side. Panoramas reach about 10:1; a 1 x 50,000,000 PNG is not a photo, and
# decoding one row of it at a time takes seconds (found by tests/test_fuzz.py).
MAX_ASPECT_RATIO = 100
# One HTTP request to `catdog serve`: body size and number of photos.
MAX_UPLOAD_BYTES = 10 * 1024 * 1024
MAX_UPLOAD_FILES = 32
