"""Decode photos in a thread pool, in batches, overlapped with whatever consumes the batches."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import islice
from typing import TypeVar

import numpy as np

from ..errors import DecodeError
from .decode import decode_image
from .sources import Photo

T = TypeVar("T")
SkipHandler = Callable[[Photo, str], None]


def chunked(items: Iterable[T], size: int) -> Iterator[list[T]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def decoded_or_reason(photo: Photo, size: int) -> np.ndarray | str:
    """The photo as a uint8 array [size, size, 3], or the reason it cannot be read."""
    if photo.data is None:
        return photo.error or "no image bytes"
    try:
        return decode_image(photo.data, size)
    except DecodeError as exc:
        return str(exc)


def decode_batches(
    photos: Iterable[Photo],
    size: int,
    batch_size: int,
    threads: int = 4,
    on_skip: SkipHandler | None = None,
    prefetch: int = 2,
) -> Iterator[tuple[list[Photo], np.ndarray]]:
    """Yield (photos, uint8 array [n, size, size, 3]) batches of the photos that decode.

    Photos that do not decode go to `on_skip(photo, reason)` and never stop the stream. Up to
    `prefetch` batches decode in the background while the caller works on the current one; Pillow
    releases the GIL while decoding, so threads give real parallelism.
    """
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="decode") as pool:
        pending: deque[tuple[list[Photo], list[Future]]] = deque()
        for chunk in chunked(photos, batch_size):
            pending.append((chunk, [pool.submit(decoded_or_reason, p, size) for p in chunk]))
            if len(pending) > prefetch:
                batch = _collect(*pending.popleft(), size, on_skip)
                if batch[0]:
                    yield batch
        while pending:
            batch = _collect(*pending.popleft(), size, on_skip)
            if batch[0]:
                yield batch


def _collect(chunk: list[Photo], futures: list[Future], size: int, on_skip: SkipHandler | None):
    kept, arrays = [], []
    for photo, future in zip(chunk, futures):
        result = future.result()
        if isinstance(result, str):
            if on_skip is not None:
                on_skip(photo, result)
        else:
            kept.append(photo)
            arrays.append(result)
    pixels = np.stack(arrays) if arrays else np.zeros((0, size, size, 3), dtype=np.uint8)
    return kept, pixels
