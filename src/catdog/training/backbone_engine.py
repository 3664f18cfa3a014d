"""The frozen backbone as the fastest engine available, for feature extraction.

On 2 CPU cores LiteRT (XNNPACK) runs MobileNetV2 about 2.5x faster than Keras' predict_on_batch,
so the frozen backbone is converted once per set of weights (a few seconds, cached beside the
feature cache) and features are computed with LiteRT. Keras stays the fallback."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..files import atomic_path
from ..memory import release_freed_memory
from ..progress import log
from ..runtime.tflite_engine import TfliteEngine

FEATURE_ENGINES = ("auto", "tflite", "keras")


def converted_backbone(feature_model, cache_dir: Path, namespace: str) -> Path:
    """The frozen backbone (image -> pooled features) as a LiteRT file, converted once per backbone."""
    path = cache_dir / "backbones" / f"{namespace}.tflite"
    if not path.is_file():
        log("Converting the frozen backbone to LiteRT once for fast feature extraction …")
        with atomic_path(path) as tmp:  # tmp keeps the .tflite suffix the exporter wants
            feature_model.export(str(tmp), format="litert", verbose=False)
        release_freed_memory()  # the converter's ~250 MB of working memory
    return path


def feature_function(feature_model, engine: str, cache_dir: Path, namespace: str) -> Callable[[np.ndarray], np.ndarray]:
    """uint8 pixels -> pooled backbone features, by `engine` (auto: LiteRT when installed)."""
    if engine in ("auto", "tflite"):
        try:
            return TfliteEngine(converted_backbone(feature_model, cache_dir, namespace)).run
        except Exception as exc:
            if engine == "tflite":
                raise
            log(f"LiteRT feature extraction unavailable ({type(exc).__name__}); using Keras.")
    return lambda pixels: feature_model.predict_on_batch(pixels.astype(np.float32))
