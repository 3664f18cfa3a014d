"""Input coercion, one owner: what a Python user has at hand (paths, globs, folders, parquet files,
encoded bytes, numpy arrays, PIL images, or a source) becomes a PhotoSource."""

from __future__ import annotations

import io
import os
from typing import Any

import numpy as np
from PIL import Image

from ..errors import UsageError
from .sources import MemorySource, PhotoSource, open_inputs, open_source


def is_source(value: Any) -> bool:
    return hasattr(value, "photos") and hasattr(value, "labels")


def as_source(inputs: Any) -> PhotoSource:
    """Photos to predict, labels optional: paths/globs/folders/parquet, bytes, arrays, PIL images."""
    if is_source(inputs):
        return inputs
    if isinstance(inputs, (str, os.PathLike)):
        return open_inputs([inputs])
    if isinstance(inputs, (bytes, bytearray, np.ndarray)) or _is_pil(inputs):
        inputs = [inputs]
    try:
        items = list(inputs)
    except TypeError as exc:
        raise UsageError(f"Cannot read photos from a {type(inputs).__name__}; pass paths, bytes, numpy arrays or PIL images.") from exc
    if items and all(isinstance(i, (str, os.PathLike)) for i in items):
        return open_inputs(items)
    return MemorySource([_encoded(i) for i in items])


def as_labelled_source(data: Any) -> PhotoSource:
    """Labelled photos (to train or evaluate on): a source, or a path, glob or hf:// name."""
    if is_source(data):
        return data
    if isinstance(data, (str, os.PathLike)):
        return open_source(data, require_labels=True)
    raise UsageError(f"Labelled data must be a path, glob or hf:// name; got {type(data).__name__}.")


def as_unlabelled_source(data: Any) -> PhotoSource:
    """Photos whose labels do not matter (photos with no cat or dog, for --ood)."""
    if isinstance(data, (str, os.PathLike)):
        return open_source(data, require_labels=False)
    return as_source(data)


def _is_pil(value: Any) -> bool:
    return type(value).__module__.startswith("PIL.")


def _encoded(item: Any) -> bytes:
    if isinstance(item, (bytes, bytearray)):
        return bytes(item)
    if isinstance(item, np.ndarray):
        if item.ndim != 3 or item.shape[2] not in (1, 3, 4):
            raise UsageError(f"An image array must be HxWx3 RGB (uint8 0-255); got shape {item.shape}.")
        pixels = np.asarray(item, dtype=np.uint8)
        item = Image.fromarray(pixels.squeeze(axis=2) if pixels.shape[2] == 1 else pixels)
    if _is_pil(item):
        buffer = io.BytesIO()
        item.save(buffer, format="PNG")  # lossless, so pixels reach the decoder unchanged
        return buffer.getvalue()
    raise UsageError(f"Cannot read a photo from a {type(item).__name__}; pass paths, bytes, numpy arrays or PIL images.")
