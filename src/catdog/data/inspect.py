"""`catdog data inspect`: what a source holds before anything trains on it."""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from ..classes import CAT_DOG
from ..errors import DecodeError
from ..progress import progress_bar
from .decode import decode_image, image_info
from .pipeline import chunked
from .sources import Photo, PhotoSource

_CHECK_SIZE = 64  # a full decode at small scale finds truncation and corruption cheaply


def _examine(photo: Photo) -> tuple[str | None, tuple[int, int] | None, str | None]:
    if photo.data is None:
        return None, None, photo.error or "no image bytes"
    digest = hashlib.sha256(photo.data).hexdigest()
    try:
        info = image_info(photo.data)
        decode_image(photo.data, _CHECK_SIZE)
    except DecodeError as exc:
        return digest, None, str(exc)
    return digest, (info.width, info.height), None


def _spread(values: list[int]) -> dict[str, float]:
    if not values:
        return {}
    array = np.asarray(values)
    return {"min": int(array.min()), "p5": float(np.percentile(array, 5)), "median": float(np.median(array)),
            "p95": float(np.percentile(array, 95)), "max": int(array.max())}


def inspect_source(source: PhotoSource, threads: int = 4) -> dict[str, Any]:
    counts: Counter[str] = Counter()
    skipped: list[dict[str, Any]] = []
    widths: list[int] = []
    heights: list[int] = []
    by_digest: dict[str, list[str]] = defaultdict(list)
    names = getattr(source, "class_names", None) or CAT_DOG
    with progress_bar("Inspecting", len(source)) as bar, ThreadPoolExecutor(threads) as pool:
        for chunk in chunked(source.photos(), 64):
            for photo, (digest, size, error) in zip(chunk, pool.map(_examine, chunk)):
                label = photo.label
                if label is not None and 0 <= label < len(names):
                    counts[names[label]] += 1
                else:
                    counts["unlabelled" if label in (None, -1) else f"invalid label {label}"] += 1
                if digest:
                    by_digest[digest].append(photo.id)
                if error:
                    skipped.append({"id": photo.id, "name": photo.name, "reason": error})
                elif size is not None:
                    widths.append(size[0])
                    heights.append(size[1])
            bar.advance(len(chunk))
    duplicates = [ids for ids in by_digest.values() if len(ids) > 1]
    return {
        "source": source.description,
        "rows": sum(counts.values()),
        "counts": dict(counts),
        "readable": len(widths),
        "skipped": skipped,
        "width": _spread(widths),
        "height": _spread(heights),
        "duplicate_groups": duplicates,
    }
