"""Frozen-backbone features for every photo of a source, computed once and cached."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
from PIL import Image

from ..data.data_report import DataReport
from ..data.pipeline import chunked, decode_batches
from ..data.sources import Photo, PhotoSource
from ..memory import release_freed_memory
from ..progress import progress_bar
from .feature_cache import FeatureCache

FeatureFunction = Callable[[np.ndarray], np.ndarray]  # uint8 [n, s, s, 3] -> float32 [n, d]

# LiteRT runs the frozen part on this many photos at a time: on 2 cores, small batches keep its
# activations in cache (faster than 32) and its tensor arena small (~70 MB instead of ~300 MB at 224 px).
FEATURE_BATCH = 8


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
    features: dict[int, np.ndarray] = {}
    cache_features(source, indices, compute, cache, report, image_size, batch_size, threads, label, features.__setitem__)
    return features


def cache_features(
    source: PhotoSource,
    indices: Iterable[int] | None,
    compute: FeatureFunction,
    cache: FeatureCache,
    report: DataReport,
    image_size: int,
    batch_size: int,
    threads: int,
    label: str,
    found: Callable[[int, np.ndarray], None],
) -> None:
    """Make sure `cache` holds the features of every photo of `indices` (all when None) that decodes,
    computing the missing ones; `found(index, vector)` is called for each such photo, cached or not.
    Photos that do not decode go to `report` (and into the cache, as their reason)."""
    wanted = None if indices is None else sorted(int(i) for i in indices)
    total = len(source) if wanted is None else len(wanted)
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
                        found(photo.index, hit)
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
                found(photo.index, vector)
            bar.advance(len(photos))
        if failures:
            cache.put_many({}, failures)
    release_freed_memory()  # decoded batches and parquet row groups


def _centre(pixels: np.ndarray, share: float = 0.85) -> np.ndarray:
    """The central `share` of each photo, resized back to full size (a crop of it, as a copy would be)."""
    size = pixels.shape[1]
    kept = int(round(size * share))
    start = (size - kept) // 2
    return np.stack([np.asarray(Image.fromarray(p[start:start + kept, start:start + kept]).resize((size, size), Image.Resampling.BILINEAR))
                     for p in pixels])


# Views of a photo whose features can be cached beside the photo's own: the mirror image (training
# with --mirror, TTA) and the centre crop (near-duplicate search in `catdog data audit`).
PIXEL_TRANSFORMS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "mirror": lambda pixels: np.ascontiguousarray(pixels[:, :, ::-1]),
    "centre": _centre,
}


def view_namespace(namespace: str, transform: str | None) -> str:
    """The cache namespace of one view: a transformed view's features are cached apart from the photo's."""
    return namespace + (f"-{transform}" if transform else "")


def view_function(compute: FeatureFunction, transform: str | None) -> FeatureFunction:
    """`compute` on the photos after the view's transform (the photos themselves for None)."""
    if transform is None:
        return compute
    change = PIXEL_TRANSFORMS[transform]
    return lambda pixels: compute(change(pixels))
