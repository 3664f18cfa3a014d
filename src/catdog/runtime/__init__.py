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
        """uint8 [n, s, s, 3] RGB -> float [n] probability of dog."""
        ...

    def scores(self, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """(p(dog), pet score or None)."""
        ...


def default_threads() -> int:
    return int(os.environ.get("CATDOG_THREADS") or os.cpu_count() or 1)


class EngineBase:
    name = "base"
    image_size = 224
    artifact = "model.keras"  # which file runs: the Keras model or an export format

    def run(self, pixels: np.ndarray) -> np.ndarray:  # pragma: no cover - implemented by engines
        raise NotImplementedError

    def scores(self, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """(p(dog) [n], pet score [n] or None for models saved without one)."""
        if len(pixels) == 0:
            return np.zeros(0, dtype=np.float32), None
        output = np.asarray(self.run(pixels), dtype=np.float32).reshape(len(pixels), -1)
        return output[:, 0], (output[:, 1] if output.shape[1] > 1 else None)

    def predict(self, pixels: np.ndarray) -> np.ndarray:
        return self.scores(pixels)[0]
