"""MobileNetV2 ImageNet weights: found in Keras' cache, downloaded when online, or given as a file."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import ModelError, missing_library

# The file names and URL Keras' own MobileNetV2(weights="imagenet") uses, so a file in the cache is shared.
WEIGHTS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/"
NO_TOP_FILE = "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5"
WITH_TOP_FILE = "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5"
FEATURE_DIM = 1280


def keras_models_dir() -> Path:
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "models"


def _fetch(file_name: str) -> Path:
    cached = keras_models_dir() / file_name
    if cached.is_file():
        return cached
    try:
        import keras
    except ImportError as exc:
        if (error := missing_library(exc, "Getting the MobileNetV2 ImageNet weights", ModelError)) is None:
            raise
        raise error from exc
    try:
        return Path(keras.utils.get_file(file_name, WEIGHTS_URL + file_name, cache_subdir="models"))
    except Exception as exc:
        raise ModelError(
            f"Could not download the MobileNetV2 ImageNet weights ({type(exc).__name__}); offline, pass --weights PATH "
            f"or set CATDOG_WEIGHTS to a copy of {file_name}, or put it in {keras_models_dir()}/."
        ) from exc


def resolve_weights(weights: str | os.PathLike[str] | None) -> Path:
    """The no-top weights file to build the backbone from.

    "imagenet" means Keras' cache (downloaded there when online); CATDOG_WEIGHTS overrides it for
    offline machines; anything else is a path to the .h5 file.
    """
    choice = str(weights) if weights else "imagenet"
    if choice == "imagenet" and os.environ.get("CATDOG_WEIGHTS"):
        choice = os.environ["CATDOG_WEIGHTS"]
    if choice == "imagenet":
        return _fetch(NO_TOP_FILE)
    path = Path(choice).expanduser()
    if not path.is_file():
        raise ModelError(f"Weights file {path} does not exist; pass --weights with the path to {NO_TOP_FILE}.")
    return path


def resolve_classifier_weights(weights: str | os.PathLike[str] | None = None) -> Path:
    """The with-top (1000 ImageNet classes) weights, from the same places as the no-top file: beside
    a --weights file or CATDOG_WEIGHTS, else Keras' cache (downloaded there when online)."""
    for given in (weights if weights and str(weights) != "imagenet" else None, os.environ.get("CATDOG_WEIGHTS")):
        if given and Path(given).expanduser().with_name(WITH_TOP_FILE).is_file():
            return Path(given).expanduser().with_name(WITH_TOP_FILE)
    return _fetch(WITH_TOP_FILE)


def build_backbone(weights_path: Path, image_size: int):
    import keras

    try:
        backbone = keras.applications.MobileNetV2(
            input_shape=(image_size, image_size, 3), include_top=False, weights=str(weights_path)
        )
    except Exception as exc:
        raise ModelError(f"Could not load weights from {weights_path} ({exc}); it must be {NO_TOP_FILE}.") from exc
    backbone.trainable = False
    return backbone
