"""Exports for phones, edge devices and TensorFlow-free serving: ONNX, TFLite (float32, float16,
int8) and SavedModel. Each export is checked against the Keras model on real photos right after it
is written; one that fails the check is deleted, never left behind as if it were good."""

from __future__ import annotations

import json
import shutil
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .classifier import MODEL_FILE, CONFIG_FILE
from .data.pipeline import decode_batches
from .data.sources import open_source
from .errors import ModelError, UsageError
from .progress import log
from .files import file_digest, write_json
from .runtime.exports import EXPORT_DIR, FORMATS, MANIFEST_FILE, read_manifest

VERIFY_PHOTOS = 64
CALIBRATION_PHOTOS = 128
# Largest allowed |p_exported - p_keras| and smallest label agreement with Keras, per format.
TOLERANCES = {
    "onnx": (1e-3, 1.0), "tflite": (1e-3, 1.0), "savedmodel": (1e-4, 1.0),
    "tflite-fp16": (0.02, 1.0), "tflite-int8": (0.25, 0.97),
}


def _sample_pixels(data: str, count: int, image_size: int) -> np.ndarray:
    source = open_source(data, require_labels=False)
    pixels = []
    for _, batch in decode_batches(source.photos(), image_size, 32, 4):
        pixels.extend(batch)
        if len(pixels) >= count:
            break
    if not pixels:
        raise ModelError(f"No readable photos in {data} to verify the export with; pass --data PATH.")
    return np.stack(pixels[:count])


def _litert_kwargs(fmt: str, calibration: np.ndarray) -> dict[str, Any]:
    import tensorflow as tf

    if fmt == "tflite-fp16":
        return {"optimizations": [tf.lite.Optimize.DEFAULT], "target_spec": {"supported_types": [tf.float16]}}
    if fmt == "tflite-int8":
        def representative():
            for image in calibration:
                yield [image[None].astype(np.float32)]

        # int8 weights and activations inside; float input and output so every engine takes the same pixels.
        return {"optimizations": [tf.lite.Optimize.DEFAULT], "representative_dataset": representative}
    return {}


def _write(model, fmt: str, target: Path, calibration: np.ndarray) -> None:
    if fmt == "onnx":
        model.export(str(target), format="onnx", verbose=False)
    elif fmt.startswith("tflite"):
        model.export(str(target), format="litert", verbose=False, **_litert_kwargs(fmt, calibration))
    elif fmt == "savedmodel":
        model.export(str(target), format="tf_saved_model", verbose=False)
    else:
        raise UsageError(f"Unknown export format '{fmt}'; choose one of {', '.join(FORMATS)}.")


def _runner(fmt: str, path: Path) -> Callable[[np.ndarray], np.ndarray]:
    if fmt == "savedmodel":
        import tensorflow as tf

        loaded = tf.saved_model.load(str(path))
        return lambda pixels: np.asarray(loaded.serve(tf.constant(pixels, dtype=tf.float32))).reshape(len(pixels), -1)
    if FORMATS[fmt][1] == "onnx":
        from .runtime.onnx_engine import OnnxEngine

        engine = OnnxEngine(path)
    else:
        from .runtime.tflite_engine import TfliteEngine

        engine = TfliteEngine(path)
    return lambda pixels: np.asarray(engine.run(pixels)).reshape(len(pixels), -1)


def _images_per_second(predict: Callable[[np.ndarray], np.ndarray], pixels: np.ndarray, seconds: float = 2.0) -> float:
    batch = pixels[:32]
    predict(batch)
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        predict(batch)
        done += len(batch)
    return done / (time.perf_counter() - started)


def export_run(run_dir: Path, fmt: str, data: str | None = None) -> dict[str, Any]:
    """Write RUN/export/<file> for `fmt`, verify it against the Keras model, record it in the manifest."""
    import keras

    if fmt not in FORMATS:
        raise UsageError(f"Unknown export format '{fmt}'; choose one of {', '.join(FORMATS)}.")
    model_path = run_dir / MODEL_FILE
    if not model_path.is_file():
        raise ModelError(f"No model at {model_path}; pass a run folder made by `catdog train`.")
    config = json.loads((run_dir / CONFIG_FILE).read_text()) if (run_dir / CONFIG_FILE).is_file() else {}
    data = data or config.get("data")
    if not data:
        raise UsageError("Pass --data PATH with a few photos to verify the export against the Keras model.")
    model = keras.saving.load_model(model_path, compile=False)
    size = int(model.input_shape[1])
    samples = _sample_pixels(data, max(VERIFY_PHOTOS, CALIBRATION_PHOTOS if fmt == "tflite-int8" else 0), size)
    verify, calibration = samples[:VERIFY_PHOTOS], samples
    reference = np.asarray(model.predict_on_batch(verify.astype(np.float32))).reshape(len(verify), -1)

    export_dir = run_dir / EXPORT_DIR
    export_dir.mkdir(exist_ok=True)
    final = export_dir / FORMATS[fmt][0]
    staging = export_dir / f".partial-{FORMATS[fmt][0]}"  # keeps the suffix the exporters expect
    _remove(staging)
    started = time.perf_counter()
    log(f"Exporting {fmt} …")
    try:
        _write(model, fmt, staging, calibration)
        predict = _runner(fmt, staging)
        exported = predict(verify)
        # Every output column counts (p(dog) and, when present, the pet score); labels from p(dog).
        max_diff = float(np.abs(exported - reference).max())
        agreement = float(((exported[:, 0] >= 0.5) == (reference[:, 0] >= 0.5)).mean())
        speed = _images_per_second(predict, verify)
    except Exception:
        _remove(staging)
        raise
    max_allowed, min_agreement = TOLERANCES[fmt]
    record = {
        "format": fmt, "file": FORMATS[fmt][0], "engine": FORMATS[fmt][1], "verified": max_diff <= max_allowed and agreement >= min_agreement,
        "max_abs_diff": max_diff, "label_agreement": agreement, "photos_checked": int(len(verify)),
        "tolerance": {"max_abs_diff": max_allowed, "label_agreement": min_agreement},
        "images_per_second": speed, "bytes": _size(staging), "export_seconds": time.perf_counter() - started,
        "model_sha256": file_digest(model_path), "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    manifest = read_manifest(run_dir)
    if record["verified"]:
        _remove(final)
        staging.rename(final)
        manifest["exports"][fmt] = record
    else:
        _remove(staging)  # an earlier verified export of this format, if any, stays as it was
        manifest.setdefault("failed", {})[fmt] = record
    write_json(export_dir / MANIFEST_FILE, manifest)
    if not record["verified"]:
        raise ModelError(
            f"The {fmt} export differs from the Keras model beyond tolerance (largest difference {max_diff:.4f}, "
            f"label agreement {agreement:.1%}); it was deleted. Details are in {export_dir / MANIFEST_FILE}."
        )
    return record


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*")) if path.is_dir() else path.stat().st_size


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()
