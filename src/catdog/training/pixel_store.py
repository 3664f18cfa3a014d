"""Decoded photos spilled to a flat file on disk, read back in shuffled batches.

Fine-tuning needs the pixels every epoch in a fresh random order. Keeping them in memory is what
made the original's memory grow with the dataset; decoding every epoch wastes CPU. One decode into a
file, then positioned reads, keeps memory flat and epochs cheap."""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path

import numpy as np

from ..data.pipeline import decode_batches
from ..data.sources import PhotoSource
from ..progress import progress_bar


class PixelStore:
    def __init__(self, source: PhotoSource, indices, image_size: int, threads: int, directory: Path | None = None,
                 label: str = "Decoding photos"):
        self.size = image_size
        self._item_bytes = image_size * image_size * 3
        handle, name = tempfile.mkstemp(prefix="catdog-pixels-", suffix=".u8", dir=directory)
        self.path = Path(name)
        labels: list[int] = []
        wanted = sorted(int(i) for i in indices)
        with os.fdopen(handle, "wb") as out, progress_bar(label, len(wanted)) as bar:
            for photos, pixels in decode_batches(source.photos(wanted), image_size, 64, threads,
                                                 on_skip=lambda p, r: bar.advance()):
                out.write(np.ascontiguousarray(pixels).tobytes())
                labels.extend(int(p.label if p.label is not None else -1) for p in photos)
                bar.advance(len(photos))
        self.labels = np.array(labels, dtype=np.float32)
        self._fd = os.open(self.path, os.O_RDONLY)

    def __len__(self) -> int:
        return len(self.labels)

    def read(self, positions: np.ndarray) -> np.ndarray:
        batch = np.empty((len(positions), self.size, self.size, 3), dtype=np.uint8)
        for row, position in enumerate(positions):
            raw = os.pread(self._fd, self._item_bytes, int(position) * self._item_bytes)
            batch[row] = np.frombuffer(raw, dtype=np.uint8).reshape(self.size, self.size, 3)
        return batch

    def close(self) -> None:
        os.close(self._fd)
        self.path.unlink(missing_ok=True)


def keras_batches(store: PixelStore, batch_size: int, shuffle: bool, seed: int):
    """A Keras PyDataset over the store: float32 pixels 0-255 and float labels, reshuffled each epoch."""
    import keras

    class StoreBatches(keras.utils.PyDataset):
        def __init__(self):
            super().__init__()
            self._rng = np.random.default_rng(seed)
            self._order = np.arange(len(store))
            self.on_epoch_end()

        def __len__(self) -> int:
            return math.ceil(len(store) / batch_size)

        def __getitem__(self, index: int):
            positions = self._order[index * batch_size : (index + 1) * batch_size]
            return store.read(positions).astype(np.float32), store.labels[positions]

        def on_epoch_end(self) -> None:
            if shuffle:
                self._rng.shuffle(self._order)

    return StoreBatches()


def store_outputs(model, store: PixelStore, batch_size: int, mirror: bool = False) -> np.ndarray:
    """`model`'s output for every photo in the store (or its mirror image), in store order, as [n, outputs]."""
    parts = []
    for start in range(0, len(store), batch_size):
        positions = np.arange(start, min(start + batch_size, len(store)))
        pixels = store.read(positions)
        if mirror:
            pixels = pixels[:, :, ::-1]
        parts.append(np.asarray(model.predict_on_batch(pixels.astype(np.float32))))
    return np.concatenate(parts).reshape(len(store), -1) if parts else np.zeros((0, 1), dtype=np.float32)

