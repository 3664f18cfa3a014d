"""Keras callbacks: Rich progress bars for epochs and steps."""

from __future__ import annotations

from ..progress import console


def rich_progress(description: str, epochs: int, steps: int | None = None):
    import keras
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    class RichProgress(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self._progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                      TimeElapsedColumn(), TextColumn("{task.fields[metrics]}"), console=console)
            self._progress.start()
            self._epochs = self._progress.add_task(description, total=epochs, metrics="")
            self._steps = self._progress.add_task("  steps", total=steps, metrics="") if steps else None

        def on_epoch_begin(self, epoch, logs=None):
            if self._steps is not None:
                self._progress.reset(self._steps, total=steps, metrics="")

        def on_train_batch_end(self, batch, logs=None):
            if self._steps is not None:
                self._progress.update(self._steps, completed=batch + 1,
                                      metrics=f"loss {float((logs or {}).get('loss', float('nan'))):.4f}")

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            shown = "  ".join(f"{k} {float(v):.4f}" for k, v in logs.items() if k in ("loss", "accuracy", "val_loss", "val_accuracy"))
            self._progress.update(self._epochs, completed=epoch + 1, metrics=shown)

        def on_train_end(self, logs=None):
            self._progress.update(self._epochs, total=self._progress.tasks[self._epochs].completed)
            self._progress.stop()

    return RichProgress()
