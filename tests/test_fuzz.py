"""Fuzzing the decoder and the parquet source with Hypothesis: every input ends in a decoded photo or
a typed, explained error (DecodeError / DataError) within a time bound — never a crash or a hang.

Regression inputs found while fuzzing are kept in REGRESSIONS and run every time."""

import io
import os
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from catdog.data.decode import decode_image
from catdog.data.sources import check_labels, open_source
from catdog.errors import DataError, DecodeError
from conftest import png_with_declared_size

SECONDS_PER_PHOTO = 2.0
EXAMPLES = int(os.environ.get("CATDOG_FUZZ_EXAMPLES", "500"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _seed_images() -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    seeds = {}
    for fmt in ("JPEG", "PNG", "GIF", "WEBP"):
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format=fmt)
        seeds[fmt] = buffer.getvalue()
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", progressive=True)
    seeds["progressive JPEG"] = buffer.getvalue()
    return seeds


SEEDS = _seed_images()
# Inputs that once misbehaved or sit on an edge: kept as regression cases.
REGRESSIONS = [
    b"\xff\xd8\xff",  # a JPEG start marker and nothing else
    b"\x89PNG\r\n\x1a\n",  # PNG signature only
    b"GIF89a\x00\x00\x00\x00",  # GIF with zero size
    png_with_declared_size(0, 10),
    png_with_declared_size(100000, 1),  # long and thin, under the pixel limit but absurd
    png_with_declared_size(1, 53_514_201),  # took 2.1 s to decode before the aspect-ratio limit
    png_with_declared_size(2**31 - 1, 2**31 - 1),
    b"RIFF\x00\x00\x00\x00WEBPVP8 ",
    b"BM" + b"\x00" * 60,
]


def decodes_or_explains(data: bytes) -> None:
    started = time.perf_counter()
    try:
        pixels = decode_image(data, 32)
        assert pixels.shape == (32, 32, 3) and pixels.dtype == np.uint8
    except DecodeError as exc:
        assert str(exc)  # a reason a person can read
    assert time.perf_counter() - started < SECONDS_PER_PHOTO


@pytest.mark.parametrize("data", REGRESSIONS)
def test_regression_inputs(data):
    decodes_or_explains(data)


@FUZZ
@given(st.binary(max_size=4096))
def test_random_bytes(data):
    decodes_or_explains(data)


@FUZZ
@given(st.sampled_from(sorted(SEEDS)), st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=12),
       st.one_of(st.none(), st.integers(0, 10**6)))
def test_mutated_real_images(fmt, flips, cut):
    data = bytearray(SEEDS[fmt])
    for position, value in flips:
        data[position % len(data)] = value
    if cut is not None:
        data = data[: cut % len(data)]
    decodes_or_explains(bytes(data))


@FUZZ
@given(st.integers(1, 2**31 - 1), st.integers(1, 2**31 - 1))
def test_declared_dimensions(width, height):
    decodes_or_explains(png_with_declared_size(width, height))


COLUMN_VALUES = st.one_of(
    st.lists(st.one_of(st.none(), st.integers(-5, 5)), min_size=1, max_size=6).map(lambda v: pa.array(v, type=pa.int64())),
    st.lists(st.one_of(st.none(), st.text(max_size=5)), min_size=1, max_size=6).map(pa.array),
    st.lists(st.one_of(st.none(), st.binary(max_size=20)), min_size=1, max_size=6).map(pa.array),
    st.lists(st.one_of(st.none(), st.floats(allow_nan=True)), min_size=1, max_size=6).map(lambda v: pa.array(v, type=pa.float64())),
)


@settings(max_examples=max(EXAMPLES // 2, 50), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(["image", "labels", "label", "img", "path", "other"]), COLUMN_VALUES, max_size=4))
def test_parquet_with_any_schema_opens_reads_or_explains(tmp_path, columns):
    size = min((len(c) for c in columns.values()), default=0)
    table = pa.table({name: column.slice(0, size) for name, column in columns.items()}) if columns else pa.table({"x": pa.array([], type=pa.int64())})
    path = tmp_path / "fuzz.parquet"
    pq.write_table(table, path)
    try:
        source = open_source(path)
        labels = check_labels(source.labels(), source.description)
        for photo in source.photos():
            assert photo.label in (0, 1)
            if photo.data is not None:
                decodes_or_explains(photo.data)
        assert len(labels) == size
    except DataError as exc:
        message = str(exc)
        named = message.endswith(".") and str(path.name) in message
        assert named or any(known in message for known in ("labels must be", "holds no photos", "only one class")), message
