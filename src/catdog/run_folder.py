"""The run folder: one owner for its file names, config.json, status, checkpoints and exports, and for
turning a `--model` argument (a run folder, its model.keras, or a lone .keras file) into paths.

Every other module asks a RunFolder; none spells a file name of the run folder itself. Importing
this module is cheap (no TensorFlow), so the inference path uses it too."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .classes import CAT_DOG
from .decide import Decision, refusal_threshold
from .errors import ModelError, UsageError
from .files import write_json, write_text

MODEL_FILE = "model.keras"
CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.json"
HISTORY_FILE = "history.csv"
DATA_REPORT_FILE = "data_report.json"
README_FILE = "README.md"
CHECKPOINT_MODEL = "checkpoint.keras"
CHECKPOINT_STATE = "checkpoint.json"
EXPORT_DIR = "export"
GLANCE_DIR = "glance"  # the first look: a run folder inside the run folder

TRAINING, COMPLETE = "training", "complete"  # config.json "status"


@dataclass
class RunConfig:
    """config.json, typed: what a run was trained with and how it decides. The one schema every
    module reads a run's settings through (`RunFolder.read_config`). Runs saved before a key existed
    read its default."""

    config: dict[str, Any] = field(default_factory=dict)  # TrainConfig.to_dict() (config.py owns its keys)
    status: str | None = None  # TRAINING while a fit runs (--resume continues it), then COMPLETE
    threshold: float = 0.5  # two classes: p(class 1) at or above which the answer is class 1
    temperature: float | None = None  # fitted on validation photos, folded into the model
    neither_threshold: float | None = None  # score under which the answer is the refusal (the run's own point)
    neither_points: list[list[float]] = field(default_factory=list)  # [rate, threshold] for --refuse
    pet_slope: float = 1.0  # score -> probability that one of the classes is there
    data: str | None = None  # the training data, as given (local paths made absolute)
    test: str | None = None
    ood: str | None = None
    command: str | None = None
    versions: dict[str, str] = field(default_factory=dict)

    @property
    def classes(self) -> tuple[str, ...]:
        """The run's class names in label order (runs from before other classes existed: cat, dog)."""
        return tuple(self.config.get("classes") or CAT_DOG)

    @property
    def image_size(self) -> int:
        return int(self.config.get("image_size", 224))

    @classmethod
    def from_dict(cls, values: dict[str, Any], where: str) -> RunConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ModelError(f"{where} has keys this version does not know ({', '.join(unknown)}); it was written by a newer "
                             "catdog, so upgrade catdog to use the run.")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def decision(self, neither: bool = True, refuse: str | float | None = None) -> Decision:
        """The run's answer rule; `refuse` picks another operating point of the refusal among those
        the run saved (decide.refusal_threshold)."""
        neither_below = refusal_threshold(self.neither_points or None, refuse, self.neither_threshold)
        return Decision(self.threshold, neither_below, neither, self.pet_slope, self.classes)


def library_versions() -> dict[str, str]:
    """What config.json records a model was trained with (imports TensorFlow: call it where it is loaded)."""
    import platform

    import keras
    import tensorflow as tf

    return {"python": platform.python_version(), "keras": keras.__version__, "tensorflow": tf.__version__}


@dataclass(frozen=True)
class RunFolder:
    """runs/NAME/: model, settings, metrics, history, plots, checkpoints and exports of one run.
    `model_path` is the model that runs: RUN/model.keras, or a lone .keras file given instead."""

    path: Path
    model_path: Path

    @classmethod
    def at(cls, path: str | os.PathLike[str]) -> RunFolder:
        path = Path(path)
        return cls(path, path / MODEL_FILE)

    @classmethod
    def create(cls, root: str | os.PathLike[str], name: str) -> RunFolder:
        """Claim ROOT/NAME, or NAME-2, NAME-3... Never reuses a folder, even between concurrent runs."""
        root = Path(root)
        root.mkdir(parents=True, exist_ok=True)
        number = 1
        while True:
            candidate = root / (name if number == 1 else f"{name}-{number}")
            try:
                candidate.mkdir()  # atomic: exactly one process wins a name
                return cls.at(candidate)
            except FileExistsError:
                number += 1

    @classmethod
    def resolve(cls, model: str | os.PathLike[str]) -> RunFolder:
        """A `--model` argument: a run folder, its model.keras, or any .keras file (whose folder then
        stands for the run folder: its config.json and export/ are used when present)."""
        model = Path(model)
        if model.suffix == ".keras":
            run = cls(model.parent, model)
            if not model.is_file():
                raise ModelError(f"No model at {model}; pass a run folder made by `catdog train` (runs/NAME) or a .keras file.")
            return run
        run = cls.at(model)
        if not model.is_dir() or not (run.model_path.is_file() or run.export_dir.is_dir()):
            raise ModelError(f"No model at {run.model_path}; pass a run folder made by `catdog train` (runs/NAME) or a .keras file.")
        return run

    # ---------------------------------------------------------------- paths

    def file(self, name: str) -> Path:
        """A file of the run folder (plots and reports that other modules write)."""
        return self.path / name

    @property
    def config_path(self) -> Path:
        return self.path / CONFIG_FILE

    @property
    def export_dir(self) -> Path:
        return self.path / EXPORT_DIR

    @property
    def glance(self) -> RunFolder | None:
        """The first look (RUN/glance/, a run folder of its own: a cheaper model that answers the clear
        photos), or None for a run without one (a .keras file, --glance-size 0, runs from before it)."""
        folder = RunFolder.at(self.path / GLANCE_DIR)
        return folder if self.model_path == self.path / MODEL_FILE and folder.config_path.is_file() else None

    @property
    def glance_dir(self) -> Path:
        return self.path / GLANCE_DIR

    @property
    def checkpoint_model(self) -> Path:
        return self.path / CHECKPOINT_MODEL

    @property
    def checkpoint_state(self) -> Path:
        return self.path / CHECKPOINT_STATE

    # ---------------------------------------------------------------- config.json

    def read_config(self) -> RunConfig:
        """config.json as saved (the defaults when there is none, as for a lone .keras file)."""
        if not self.config_path.is_file():
            return RunConfig()
        try:
            values = json.loads(self.config_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ModelError(f"{self.config_path} cannot be read ({exc}); restore it or train again.") from exc
        if not isinstance(values, dict):
            raise ModelError(f"{self.config_path} holds no settings object; restore it or train again.")
        return RunConfig.from_dict(values, str(self.config_path))

    def write_config(self, values: RunConfig) -> None:
        write_json(self.config_path, values.to_dict())

    def update_config(self, **values: Any) -> None:
        self.write_config(dataclasses.replace(self.read_config(), **values))

    def decision(self, neither: bool = True, refuse: str | float | None = None) -> Decision:
        """The run's answer rule, from the thresholds saved in config.json (RunConfig.decision)."""
        return self.read_config().decision(neither, refuse)

    @property
    def status(self) -> str | None:
        return self.read_config().status

    def resumable(self) -> RunConfig:
        """The saved config of an interrupted run, or a one-sentence error saying why it cannot resume."""
        if not self.config_path.is_file():
            raise UsageError(f"{self.path} is not a run folder (no {CONFIG_FILE}); pass the folder an interrupted `catdog train` made.")
        saved = self.read_config()
        if saved.status != TRAINING:
            raise UsageError(f"{self.path} finished already (or predates resumable runs); start a new run instead of --resume.")
        return saved

    # ---------------------------------------------------------------- other files

    def write_json(self, name: str, value: Any) -> Path:
        write_json(self.path / name, value)
        return self.path / name

    def write_history(self, history: Sequence[dict]) -> None:
        columns = ["phase", "epoch", "loss", "accuracy", "val_loss", "val_accuracy"]
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(history)
        write_text(self.path / HISTORY_FILE, buffer.getvalue())

    def write_readme(self, text: str) -> None:
        write_text(self.path / README_FILE, text)
