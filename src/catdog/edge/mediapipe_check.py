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


def mediapipe_answers(model: Path, images: list[np.ndarray]) -> list[str]:
    """MediaPipe's top category for each RGB uint8 image (any size: MediaPipe resizes it itself)."""
    import mediapipe as mp
    from mediapipe.tasks.python.core.base_options import BaseOptions
    from mediapipe.tasks.python.vision import ImageClassifier, ImageClassifierOptions

    options = ImageClassifierOptions(base_options=BaseOptions(model_asset_buffer=model.read_bytes()), max_results=1)
    with native_output_silenced():  # MediaPipe announces its XNNPACK delegate from C++
        classifier = ImageClassifier.create_from_options(options)
    with classifier:
        answers = []
        for image in images:
            pixels = np.ascontiguousarray(image, dtype=np.uint8)
            result = classifier.classify(mp.Image(image_format=mp.ImageFormat.SRGB, data=pixels))
            answers.append(result.classifications[0].categories[0].category_name)
    return answers
