"""LiteRT (TensorFlow Lite) engine, from the ai-edge-litert package.

Our TFLite files are made for MediaPipe: they give N + 1 scores, [cat, dog, neither] for a cat/dog run
(decide.Decision.scores), and the int8 file takes uint8 pixels. The engine turns the scores back into
the [class output, pet score] every engine returns, with the run's decision settings."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from ..decide import Decision
from ..errors import ModelError
from ..quiet import native_output_silenced
from . import Engine, EngineBase, default_threads, worker_threads


class TfliteEngine(EngineBase):
    name = "tflite"

    def __init__(self, path: Path, threads: int | None = None, decision: Decision | None = None):
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError as exc:
            raise ModelError("The tflite engine needs LiteRT: pip install 'mobilenetv2-catdog[serve]'.") from exc
        try:
            with native_output_silenced():  # LiteRT announces its XNNPACK delegate on stderr
                self.interpreter = Interpreter(model_path=str(path), num_threads=threads or default_threads())
        except Exception as exc:
            raise ModelError(f"Could not load {path} with LiteRT ({exc}); export it again with catdog export.") from exc
        self._input = self.interpreter.get_input_details()[0]
        self._output = self.interpreter.get_output_details()[0]
        self.image_size = int(self._input["shape"][1])
        self._input_dtype = np.dtype(self._input["dtype"])
        width = int(self._output["shape"][-1])
        # A file of answer scores has one per answer; files from before those existed give [p(dog), pet score].
        self._scores = width == 3 if decision is None else width == len(decision.answers)
        if self._scores and decision is None:
            raise ModelError(f"{path} gives answer scores; open it through its run folder (catdog predict --model RUN).")
        self.decision = decision
        self.path, self.threads = path, threads or default_threads()
        self._batch: int | None = None
        # One interpreter holds one set of tensors: calls from several threads must take turns.
        self._lock = threading.Lock()

    def workers(self) -> list[Engine]:
        if self.threads == 1:
            return [self]
        # An interpreter holds one batch's tensors: one each.
        copies: list[Engine] = [TfliteEngine(self.path, threads, self.decision) for threads in worker_threads(self.threads)]
        for copy in copies:
            copy.artifact = self.artifact
        return copies

    def run(self, pixels: np.ndarray) -> np.ndarray:
        batch = np.asarray(pixels)
        if self._input_dtype == np.uint8:
            batch = np.clip(np.rint(batch), 0, 255).astype(np.uint8) if batch.dtype != np.uint8 else batch
        else:
            batch = batch.astype(np.float32)
        with self._lock:
            if self._batch != len(batch):
                self.interpreter.resize_tensor_input(self._input["index"], [len(batch), *batch.shape[1:]])
                with native_output_silenced():
                    self.interpreter.allocate_tensors()
                self._batch = len(batch)
            self.interpreter.set_tensor(self._input["index"], batch)
            self.interpreter.invoke()
            output = self.interpreter.get_tensor(self._output["index"]).copy()
        if self._scores and self.decision is not None:
            return self.decision.from_scores(output).astype(np.float32)
        return output
