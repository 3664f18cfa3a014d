"""Frozen-backbone features for every photo of a source, computed once and cached."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from ..data.data_report import DataReport
from ..data.pipeline import chunked, decode_batches
from ..data.sources import Photo, PhotoSource
from ..memory import release_freed_memory
from ..progress import progress_bar
from .feature_cache import FeatureCache

FeatureFunction = Callable[[np.ndarray], np.ndarray]  # uint8 [n, s, s, 3] -> float32 [n, d]


def extract_features(
    source: PhotoSource,
    indices: Iterable[int] | None,
    compute: FeatureFunction,
    cache: FeatureCache,
    report: DataReport,
    image_size: int,
    batch_size: int = 32,
    threads: int = 4,
    label: str = "Backbone features",
) -> dict[int, np.ndarray]:
    """Map source index -> feature vector for every photo that decodes; the rest go to `report`."""
    wanted = None if indices is None else sorted(int(i) for i in indices)
    total = len(source) if wanted is None else len(wanted)
    features: dict[int, np.ndarray] = {}
    keys: dict[int, str] = {}

    with progress_bar(label, total) as bar:

        def cache_misses() -> Iterable[Photo]:
            # Lookups go in chunks so that cached photos are never decoded.
            for chunk in chunked(source.photos(wanted), 256):
                chunk_keys = [cache.key(p) for p in chunk]
                hits = cache.get_many(chunk_keys)
                for photo, key in zip(chunk, chunk_keys):
                    keys[photo.index] = key
                    hit = hits.get(key)
                    if hit is None or photo.data is None:
                        yield photo
                    elif isinstance(hit, str):
                        report.skip(photo, hit)
                        bar.advance()
                    else:
                        features[photo.index] = hit
                        bar.advance()

        failures: dict[str, str] = {}

        def on_skip(photo: Photo, reason: str) -> None:
            report.skip(photo, reason)
            if photo.data is not None:  # cache decode failures, not rows the source itself could not read
                failures[keys[photo.index]] = reason
            bar.advance()

        for photos, pixels in decode_batches(cache_misses(), image_size, batch_size, threads, on_skip):
            vectors = np.asarray(compute(pixels), dtype=np.float32)
            cache.put_many({keys[p.index]: v for p, v in zip(photos, vectors)}, failures)
            failures.clear()
            for photo, vector in zip(photos, vectors):
                features[photo.index] = vector
            bar.advance(len(photos))
        if failures:
            cache.put_many({}, failures)
    release_freed_memory()  # decoded batches and parquet row groups
    return features
