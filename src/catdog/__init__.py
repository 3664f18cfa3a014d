"""mobilenetv2-catdog: a cat-vs-dog photo classifier on a pretrained MobileNetV2.

Importing the package is cheap and does not import TensorFlow; the training API loads it on use.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["Classifier", "TrainConfig", "train", "__version__"]


def __getattr__(name: str) -> Any:
    if name == "Classifier":
        from .classifier import Classifier

        return Classifier
    if name == "TrainConfig":
        from .config import TrainConfig

        return TrainConfig
    if name == "train":
        from .api import train

        return train
    raise AttributeError(f"module 'catdog' has no attribute {name!r}")
