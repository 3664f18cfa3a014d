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
