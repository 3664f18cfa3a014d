"""Crash-safe training: the best model so far and the progress, written atomically into the run folder
after the head phase and after every fine-tuning epoch, so a killed run resumes where it stopped."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import keras

from ..files import atomic_path, write_json
from ..run_folder import RunFolder


class Checkpointer:
    def __init__(self, run: RunFolder):
        self.run = run
        self.model_path = run.checkpoint_model
        self.state_path = run.checkpoint_state

    def state(self) -> dict[str, Any]:
        """What the last run got through: {phase, epochs_done, history, best_val_loss}, or {}."""
        if not (self.state_path.is_file() and self.model_path.is_file()):
            return {}
        try:
            return json.loads(self.state_path.read_text())
        except (OSError, json.JSONDecodeError):
            return {}

    def save(self, model, phase: str, history: list[dict], epochs_done: int, best_val_loss: float, improved: bool) -> None:
        # Model first, then the state that points at it: a kill between the two loses one epoch, never the model.
        if improved or not self.model_path.is_file():
            with atomic_path(self.model_path) as tmp:
                model.save(tmp)
        write_json(self.state_path, {"phase": phase, "epochs_done": epochs_done, "history": history,
                                     "best_val_loss": best_val_loss})

    def restore_weights(self, model) -> None:
        model.set_weights(keras.saving.load_model(self.model_path, compile=False).get_weights())

    def clear(self) -> None:
        self.model_path.unlink(missing_ok=True)
        self.state_path.unlink(missing_ok=True)

    def keras_callback(self, model, history_before: list[dict], first_epoch: int, best_val_loss: float,
                       interrupted: Callable[[], bool] = lambda: False):
        """A Keras callback that checkpoints `model` after every fine-tuning epoch (not after an epoch
        cut short by Ctrl-C: it did not finish, so a resumed run does it again)."""
        return EpochCheckpoint(self, model, history_before, first_epoch, best_val_loss, interrupted)


class EpochCheckpoint(keras.callbacks.Callback):
    def __init__(self, checkpointer: Checkpointer, model, history_before: list[dict], first_epoch: int, best_val_loss: float,
                 interrupted: Callable[[], bool]):
        super().__init__()
        self.checkpointer, self.checkpointed = checkpointer, model
        self.rows = list(history_before)
        self.first_epoch, self.best = first_epoch, best_val_loss
        self.interrupted = interrupted

    def on_epoch_end(self, epoch, logs=None):
        if self.interrupted():
            return
        logs = {k: float(v) for k, v in (logs or {}).items()}
        self.rows.append({"phase": "fine_tune", "epoch": self.first_epoch + epoch, **logs})
        improved = logs.get("val_loss", float("inf")) < self.best
        self.best = min(self.best, logs.get("val_loss", float("inf")))
        self.checkpointer.save(self.checkpointed, "fine_tune", self.rows, epoch + 1, self.best, improved)
