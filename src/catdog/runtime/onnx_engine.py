"""ONNX Runtime engine."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ModelError
from . import Engine, EngineBase, default_threads, worker_threads


class OnnxEngine(EngineBase):
    name = "onnx"

    def __init__(self, path: Path, threads: int | None = None):
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise ModelError("The onnx engine needs ONNX Runtime: pip install 'mobilenetv2-catdog[serve]'.") from exc
        self.path, self.threads = path, threads or default_threads()
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Its threads sleep between runs instead of spinning: the photo decoders need those cores, and a
        # run's first look and full look are two sessions taking turns.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise ModelError(f"Could not load {path} with ONNX Runtime ({exc}); export it again with catdog export.") from exc
        model_input = self.session.get_inputs()[0]
        self.input_name = model_input.name
        self.image_size = int(model_input.shape[1])

    def workers(self) -> list[Engine]:
        if self.threads == 1:
            return [self]
        # One session runs several batches at once (a session's run is thread-safe): one per thread count.
        counts = worker_threads(self.threads)
        sessions: dict[int, Engine] = {threads: OnnxEngine(self.path, threads) for threads in set(counts)}
        for session in sessions.values():
            session.artifact = self.artifact
        return [sessions[threads] for threads in counts]

    def run(self, pixels: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: np.asarray(pixels, dtype=np.float32)})[0]
