"""Inference engines behind one small interface: uint8 pixels in, model output out.

Nothing here imports TensorFlow at module level, so `pip install mobilenetv2-catdog[serve]` can run
exported models with ONNX Runtime or LiteRT alone."""

from __future__ import annotations

import os
from typing import Protocol

import numpy as np

ENGINE_NAMES = ("auto", "keras", "onnx", "tflite")


class Engine(Protocol):
    name: str
    image_size: int
    artifact: str  # which file runs: the Keras model or an export format

    def run(self, pixels: np.ndarray) -> np.ndarray:
        """uint8 or float [n, s, s, 3] RGB 0-255 -> the model's raw output [n, ...]."""
        ...

    def predict(self, pixels: np.ndarray) -> np.ndarray:
        """uint8 [n, s, s, 3] RGB -> the class output: p(class 1) [n] (p(dog)) for two classes, [n, N] for more."""
        ...

    def scores(self, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """(class output, pet score or None)."""
        ...

    def workers(self) -> list[Engine]:
        """Engines to run batches side by side with, one per batch in flight (EngineBase.workers)."""
        ...


def split_output(output: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """A model's raw output [n, outputs] as (class output, pet score or None): the last column is the
    pet score ("none of these" score) when there is more than one; of the rest, one column is
    p(class 1) of a two-class model (returned as [n]), N columns are N classes' probabilities."""
    output = np.asarray(output, dtype=np.float32)
    output = output.reshape(len(output), -1)
    if output.shape[1] == 1:  # models saved before the pet score
        return output[:, 0], None
    classes = output[:, :-1]
    return (classes[:, 0] if classes.shape[1] == 1 else classes), output[:, -1]


def default_threads() -> int:
    return int(os.environ.get("CATDOG_THREADS") or os.cpu_count() or 1)


# Batches run side by side by an engine's workers (EngineBase.workers): each copy of an engine holds a
# batch's tensors, so past a few the memory grows for little more speed.
MAX_WORKERS = 4


def worker_threads(threads: int) -> list[int]:
    """`threads` shared out over the workers: [1, 1] for 2, [4, 4, 4, 4] for 16, [2, 2, 1, 1] for 6."""
    count = max(1, min(threads, MAX_WORKERS))
    return [threads // count + (1 if worker < threads % count else 0) for worker in range(count)]


class EngineBase:
    name = "base"
    image_size = 224
    artifact = "model.keras"  # which file runs: the Keras model or an export format

    def run(self, pixels: np.ndarray) -> np.ndarray:  # pragma: no cover - implemented by engines
        raise NotImplementedError

    def scores(self, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """(class output [n] or [n, N], pet score [n] or None for models saved without one)."""
        if len(pixels) == 0:
            return np.zeros(0, dtype=np.float32), None
        return split_output(np.asarray(self.run(pixels), dtype=np.float32).reshape(len(pixels), -1))

    def predict(self, pixels: np.ndarray) -> np.ndarray:
        return self.scores(pixels)[0]

    def workers(self) -> list[Engine]:
        """Engines that share out this one's threads to run batches side by side: here the engine
        alone (Keras runs one batch on TensorFlow's own threads). LiteRT and ONNX Runtime give one
        engine per worker_threads() entry, a single-threaded one per core on small machines: whole
        batches in parallel keep the cores busy with the model and the decoding around it, where one
        batch split over two threads waits for the slower half whenever a decoder holds the other core
        (docs/BENCHMARKS.md)."""
        return [self]
