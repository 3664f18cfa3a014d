"""Crash-safe training: the best model so far and the progress, written atomically into the run folder
after the head phase and after every fine-tuning epoch, so a killed run resumes where it stopped."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..files import atomic_path, write_json

CHECKPOINT_MODEL = "checkpoint.keras"
CHECKPOINT_STATE = "checkpoint.json"


class Checkpointer:
    def __init__(self, run_dir: Path):
        self.run_dir = Path(run_dir)
        self.model_path = self.run_dir / CHECKPOINT_MODEL
        self.state_path = self.run_dir / CHECKPOINT_STATE

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
        import keras

        model.set_weights(keras.saving.load_model(self.model_path, compile=False).get_weights())

    def clear(self) -> None:
        self.model_path.unlink(missing_ok=True)
        self.state_path.unlink(missing_ok=True)

    def keras_callback(self, model, history_before: list[dict], first_epoch: int, best_val_loss: float):
        """A Keras callback that checkpoints `model` after every fine-tuning epoch."""
        import keras

        checkpointer = self

        class EpochCheckpoint(keras.callbacks.Callback):
            def __init__(self):
                super().__init__()
                self.rows = list(history_before)
                self.best = best_val_loss

            def on_epoch_end(self, epoch, logs=None):
                logs = {k: float(v) for k, v in (logs or {}).items()}
                self.rows.append({"phase": "fine_tune", "epoch": first_epoch + epoch, **logs})
                improved = logs.get("val_loss", float("inf")) < self.best
                self.best = min(self.best, logs.get("val_loss", float("inf")))
                checkpointer.save(model, "fine_tune", self.rows, epoch + 1, self.best, improved)

        return EpochCheckpoint()
