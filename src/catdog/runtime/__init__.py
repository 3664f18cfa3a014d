"""Inference engines behind one small interface: uint8 pixels in, p(dog) out."""

from __future__ import annotations

from typing import Protocol

import numpy as np


class Engine(Protocol):
    name: str
    image_size: int

    def predict(self, pixels: np.ndarray) -> np.ndarray:
        """uint8 [n, s, s, 3] RGB -> float [n] probability of dog."""
        ...
