"""Open the engine a user asked for on a run folder: keras, onnx, tflite, or the fastest export present."""

from __future__ import annotations

from ..errors import ModelError, UsageError
from ..run_folder import RunFolder
from . import ENGINE_NAMES, Engine, default_threads
from .keras_engine import KerasEngine
from .manifest import FORMATS, baked_decision, export_path, usable_exports
from .onnx_engine import OnnxEngine
from .speed import measured_speeds
from .tflite_engine import TfliteEngine

# Export formats asked for by their own name (`--engine tflite-int8`) rather than by an engine's.
EXACT_FORMATS = tuple(fmt for fmt, (_, runs) in FORMATS.items() if runs and fmt not in ENGINE_NAMES)


def open_engine(run: RunFolder, engine: str = "auto", threads: int | None = None) -> Engine:
    exact_format = engine if engine in EXACT_FORMATS else None
    if engine not in ENGINE_NAMES and not exact_format:
        raise UsageError(f"Unknown engine '{engine}'; choose one of {', '.join((*ENGINE_NAMES, *EXACT_FORMATS[:-1]))} "
                         f"or {EXACT_FORMATS[-1]}.")
    if engine != "keras":
        exports = {fmt: rec for fmt, rec in usable_exports(run).items() if FORMATS[fmt][1]}
        if exact_format:
            exports = {fmt: rec for fmt, rec in exports.items() if fmt == exact_format}
            if not exports:
                raise ModelError(f"{run.path} has no verified {exact_format} export; "
                                 f"run `catdog export --model {run.path} --format {exact_format}` first.")
        elif engine != "auto":
            exports = {fmt: rec for fmt, rec in exports.items() if FORMATS[fmt][1] == engine}
            if not exports:
                choices = " or ".join(f for f, (_, e) in FORMATS.items() if e == engine)
                raise ModelError(f"{run.path} has no verified {engine} export; run `catdog export --model {run.path} --format {choices}` first.")
            if engine == "onnx" and "onnx" in exports:
                # `--engine onnx` is the float file, which answers exactly as the Keras model does; the
                # int8 one only by its own name, through auto, or when it is the run's only ONNX file.
                exports = {"onnx": exports["onnx"]}
        if len(exports) == 1:
            return open_export(run, next(iter(exports)), threads)
        if exports:
            # Several candidates: the fastest as measured on this machine (once; remembered).
            opened: dict[str, Engine] = {}

            def candidate(fmt: str) -> Engine:
                opened[fmt] = open_export(run, fmt, threads)
                return opened[fmt]

            size = run.read_config().image_size
            speeds = measured_speeds(exports, threads or default_threads(), candidate, size)
            fastest = max(speeds, key=lambda fmt: speeds[fmt])
            return opened.get(fastest) or open_export(run, fastest, threads)
    if not run.model_path.is_file():
        raise ModelError(f"No model at {run.model_path}; pass a run folder made by `catdog train` or a .keras file.")
    return KerasEngine.load(run.model_path)


def open_export(run: RunFolder, fmt: str, threads: int | None) -> Engine:
    """The engine for one export file of `run`, whatever else the run has (benchmarks/engines.py)."""
    path = export_path(run, fmt)
    opened: Engine
    if FORMATS[fmt][1] == "onnx":
        opened = OnnxEngine(path, threads)
    else:
        opened = TfliteEngine(path, threads, decision=baked_decision(run, fmt))
    opened.artifact = fmt
    return opened
