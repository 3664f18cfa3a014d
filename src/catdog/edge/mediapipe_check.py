"""Answers from MediaPipe Tasks' ImageClassifier, the way an Android, iOS or web app runs our TFLite
files: used by `catdog export` to record that MediaPipe's top category is the answer `catdog
predict` gives. MediaPipe is optional at run time: without it the check is skipped and recorded as
such, never faked."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..quiet import native_output_silenced


def mediapipe_available() -> bool:
    try:
        import mediapipe  # noqa: F401
    except ImportError:
        return False
    return True


def _classifier(model: Path, max_results: int):
    from mediapipe.tasks.python.core.base_options import BaseOptions
    from mediapipe.tasks.python.vision import ImageClassifier, ImageClassifierOptions

    options = ImageClassifierOptions(base_options=BaseOptions(model_asset_buffer=model.read_bytes()), max_results=max_results)
    with native_output_silenced():  # MediaPipe announces its XNNPACK delegate from C++
        return ImageClassifier.create_from_options(options)


def _categories(classifier, image: np.ndarray):
    import mediapipe as mp

    pixels = np.ascontiguousarray(image, dtype=np.uint8)
    return classifier.classify(mp.Image(image_format=mp.ImageFormat.SRGB, data=pixels)).classifications[0].categories


def mediapipe_answers(model: Path, images: list[np.ndarray]) -> list[str]:
    """MediaPipe's top category for each RGB uint8 image (any size: MediaPipe resizes it itself)."""
    with _classifier(model, max_results=1) as classifier:
        return [_categories(classifier, image)[0].category_name for image in images]


def mediapipe_labels(model: Path) -> list[str]:
    """Every category MediaPipe's ImageClassifier reports for the file, in the order of its scores
    (category index 0 first): the names an app is answered with, as MediaPipe read them."""
    with _classifier(model, max_results=-1) as classifier:
        categories = _categories(classifier, np.zeros((64, 64, 3), dtype=np.uint8))
    return [c.category_name for c in sorted(categories, key=lambda c: c.index)]
