"""The Keras model as an engine (needs TensorFlow; the training path)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ModelError
from . import EngineBase


class KerasEngine(EngineBase):
    name = "keras"

    def __init__(self, model):
        self.model = model
        self.image_size = int(model.input_shape[1])

    @classmethod
    def load(cls, path: Path) -> KerasEngine:
        try:
            import keras
        except ImportError as exc:
            raise ModelError(
                f"Running {path} with the Keras engine needs TensorFlow (pip install 'mobilenetv2-catdog[train]'); "
                "or export it (catdog export) and use --engine onnx or tflite."
            ) from exc
        from ..model import layers  # noqa: F401  registers the pet-score layer the saved model holds

        try:
            return cls(keras.saving.load_model(path, compile=False))
        except Exception as exc:
            raise ModelError(f"Could not load the model {path} ({type(exc).__name__}: {exc}); is it a catdog run folder?") from exc

    def run(self, pixels: np.ndarray) -> np.ndarray:
        return np.asarray(self.model.predict_on_batch(np.asarray(pixels, dtype=np.float32)))
