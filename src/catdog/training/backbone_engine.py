"""The frozen backbone as the fastest engine available, for feature extraction.

On 2 CPU cores LiteRT (XNNPACK) runs MobileNetV2 about 2.5x faster than Keras' predict_on_batch,
so the frozen part a run caches is converted once per feature namespace (cached beside the feature
cache as backbones/NAMESPACE.tflite) and features are computed with LiteRT. Keras stays the fallback.

The conversion runs in a child process (training.convert_backbone): TensorFlow and its converter
together hold ~950 MB, more than all of training needs, so the process that trains never holds the
converter, and a process that only computes features (training.prefetch) never loads TensorFlow.
Nothing here imports TensorFlow."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ..config import TrainConfig
from ..errors import ModelError
from ..files import file_digest
from ..progress import log
from ..runtime.tflite_engine import TfliteEngine
from .feature_cache import DECODER_VERSION
from .features import FeatureFunction
from .strategies import strategy_for

FEATURE_ENGINES = ("auto", "tflite", "keras")
_FAILED: dict[Path, ModelError] = {}  # conversions that failed in this process


def feature_namespace(config: TrainConfig, weights: Path) -> str:
    """What the cached arrays are: backbone weights, input size, decoder and the strategy's cut. The
    feature cache and the converted backbone file are keyed by it."""
    return f"mobilenetv2-{config.image_size}-{file_digest(weights)[:16]}-{DECODER_VERSION}" + strategy_for(config).namespace_suffix


def require_litert() -> None:
    """Raise ModelError unless LiteRT is installed (before converting anything for it)."""
    if importlib.util.find_spec("ai_edge_litert") is None:
        raise ModelError("The tflite feature engine needs LiteRT: pip install 'mobilenetv2-catdog[serve]'.")


def converted_backbone(config: TrainConfig, weights: Path, cache_dir: Path) -> Path:
    """The frozen part `config` caches (image -> cached arrays) as a LiteRT file, converted once per
    namespace, in a child process."""
    path = cache_dir / "backbones" / f"{feature_namespace(config, weights)}.tflite"
    if path.is_file():
        return path
    if path in _FAILED:  # it would fail the same way again (and a try costs a TensorFlow start)
        raise _FAILED[path]
    log("Converting the frozen backbone to LiteRT once for fast feature extraction …")
    started = time.perf_counter()
    # The child gets this process's import path, so it runs the same catdog (a source checkout too).
    code = ("import json, sys; sys.path[:] = json.loads(sys.argv[1]); "
            "from catdog.training.convert_backbone import main; main(sys.argv[2:])")
    with tempfile.TemporaryFile("w+") as settings, tempfile.TemporaryFile("w+") as output, \
            tempfile.TemporaryFile("w+") as errors:
        # (free-form extras and the excluded rows do not shape the frozen part, and need not be JSON)
        json.dump(replace(config, extra={}, exclude=()).to_dict(), settings)
        settings.seek(0)
        # Output goes to files: TensorFlow's start-up noise is not the user's business unless it fails.
        # Two malloc arenas instead of one per thread: ~30 MB less for the converter's threads.
        child = subprocess.run([sys.executable, "-c", code, json.dumps(sys.path), str(weights), str(path)],
                               stdin=settings, stdout=output, stderr=errors, text=True,
                               env={**os.environ, "MALLOC_ARENA_MAX": os.environ.get("MALLOC_ARENA_MAX", "2")})
        if child.returncode != 0 or not path.is_file():
            errors.seek(0)
            lines = [line for line in errors.read().splitlines() if line.strip()]
            _FAILED[path] = ModelError("Could not convert the frozen backbone to LiteRT ("
                                       + (lines[-1] if lines else f"exit status {child.returncode}") + "); train with --feature-engine keras.")
            raise _FAILED[path]
        output.seek(0)
        reported = [line for line in output.read().splitlines() if line.startswith("{")]
    peak = json.loads(reported[-1]).get("peak_rss_mb") if reported else None
    log(f"Converted in {time.perf_counter() - started:.1f} s in a child process"
        + (f" (peak RSS {peak} MB)" if peak else "") + f": {path}")
    return path


class BackboneFeatures:
    """uint8 pixels -> what the frozen part computes, by `config.feature_engine` (auto: LiteRT when
    installed, else Keras). The engine opens (and the backbone is converted) on the first photos it
    is given, so a run whose every photo is cached never loads it. `keras_model` is the frozen part
    as a Keras model: the fallback (None: LiteRT or an error)."""

    def __init__(self, config: TrainConfig, weights: Path, cache_dir: Path, keras_model: Any = None):
        self.config, self.weights, self.cache_dir, self.keras_model = config, weights, cache_dir, keras_model
        self._run: FeatureFunction | None = None

    def __call__(self, pixels: np.ndarray) -> np.ndarray:
        if self._run is None:
            self._run = self._open()
        return self._run(pixels)

    def _open(self) -> FeatureFunction:
        engine = self.config.feature_engine
        if engine in ("auto", "tflite"):
            try:
                require_litert()
                return TfliteEngine(converted_backbone(self.config, self.weights, self.cache_dir)).run
            except Exception as exc:
                if engine == "tflite" or self.keras_model is None:
                    raise
                log(f"LiteRT feature extraction unavailable ({type(exc).__name__}: {exc}); using Keras.")
        if self.keras_model is None:
            raise ModelError("Keras feature extraction needs the frozen part as a Keras model.")
        model = self.keras_model
        return lambda pixels: model.predict_on_batch(pixels.astype(np.float32))

    def close(self) -> None:
        """Let go of the engine (its tensor arena); the next photos open it again."""
        self._run = None
