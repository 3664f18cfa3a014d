"""The Keras model as an engine."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ModelError


class KerasEngine:
    name = "keras"

    def __init__(self, model):
        self.model = model
        self.image_size = int(model.input_shape[1])
        self._call = None

    @classmethod
    def load(cls, path: Path) -> "KerasEngine":
        import keras

        try:
            return cls(keras.saving.load_model(path, compile=False))
        except Exception as exc:
            raise ModelError(f"Could not load the model {path} ({type(exc).__name__}: {exc}); is it a catdog run folder?") from None

    def predict(self, pixels: np.ndarray) -> np.ndarray:
        if len(pixels) == 0:
            return np.zeros(0, dtype=np.float32)
        output = self.model.predict_on_batch(np.asarray(pixels, dtype=np.float32))
        return np.asarray(output, dtype=np.float32).reshape(-1)
