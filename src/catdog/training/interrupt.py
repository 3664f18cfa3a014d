"""Ctrl-C during training, handled: stop after the current batch, let the best model so far stay in
the checkpoint, then raise KeyboardInterrupt for the caller to report.

Python runs a signal handler only between bytecodes of the main thread; when it raises inside a
Keras fit the exception can surface anywhere (or be swallowed by TensorFlow's own code), which made
Ctrl-C unreliable. Here the handler only sets a flag; a Keras callback reads it after every batch."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import keras


class TrainingInterrupt:
    def __init__(self) -> None:
        self.requested = False
        self._fitting = False

    def _handle(self, signum, frame) -> None:
        if self._fitting and not self.requested:
            self.requested = True  # stop at the end of this batch
            return
        raise KeyboardInterrupt  # outside a fit, or a second Ctrl-C: stop now

    @contextmanager
    def installed(self) -> Iterator[TrainingInterrupt]:
        """Handle SIGINT while the block runs (main thread only; elsewhere the default stays)."""
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = signal.signal(signal.SIGINT, self._handle)
        try:
            yield self
        finally:
            signal.signal(signal.SIGINT, previous)

    @contextmanager
    def fitting(self) -> Iterator[None]:
        """Around one Keras fit: Ctrl-C stops it after the batch; then KeyboardInterrupt is raised."""
        self._fitting = True
        try:
            yield
        finally:
            self._fitting = False
        if self.requested:
            raise KeyboardInterrupt

    def callback(self) -> keras.callbacks.Callback:
        return StopWhenRequested(self)


class StopWhenRequested(keras.callbacks.Callback):
    def __init__(self, interrupt: TrainingInterrupt):
        super().__init__()
        self.interrupt = interrupt

    def on_train_batch_end(self, batch, logs=None):
        if self.interrupt.requested:
            self.model.stop_training = True
