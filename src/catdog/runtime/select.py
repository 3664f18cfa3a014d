"""Open the engine a user asked for on a run folder: keras, onnx, tflite, or the fastest export present."""

from __future__ import annotations

from pathlib import Path

from ..errors import ModelError, UsageError
from . import ENGINE_NAMES, Engine
from .exports import EXPORT_DIR, FORMATS, usable_exports


def open_engine(model_path: Path, engine: str = "auto", threads: int | None = None) -> Engine:
    if engine not in ENGINE_NAMES:
        raise UsageError(f"Unknown engine '{engine}'; choose one of {', '.join(ENGINE_NAMES)}.")
    run_dir = model_path.parent
    if engine != "keras":
        exports = {fmt: rec for fmt, rec in usable_exports(run_dir, model_path).items() if FORMATS[fmt][1]}
        if engine != "auto":
            exports = {fmt: rec for fmt, rec in exports.items() if FORMATS[fmt][1] == engine}
            if not exports:
                choices = " or ".join(f for f, (_, e) in FORMATS.items() if e == engine)
                raise ModelError(f"{run_dir} has no verified {engine} export; run `catdog export --model {run_dir} --format {choices}` first.")
        if exports:
            fastest = max(exports, key=lambda fmt: exports[fmt].get("images_per_second") or 0.0)
            path = run_dir / EXPORT_DIR / FORMATS[fastest][0]
            if FORMATS[fastest][1] == "onnx":
                from .onnx_engine import OnnxEngine

                return OnnxEngine(path, threads)
            from .tflite_engine import TfliteEngine

            return TfliteEngine(path, threads)
    from .keras_engine import KerasEngine

    if not model_path.is_file():
        raise ModelError(f"No model at {model_path}; pass a run folder made by `catdog train` or a .keras file.")
    return KerasEngine.load(model_path)
