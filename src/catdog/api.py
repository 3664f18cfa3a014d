"""`catdog.train`: one call that trains, evaluates and writes a complete run folder."""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .classifier import CONFIG_FILE, Classifier, Scores, as_labelled_source
from .data.sources import check_labels
from .errors import UsageError
from .training.checkpoint import Checkpointer
from .config import TrainConfig
from .recipes import recipe_config
from .data.pipeline import decode_batches
from .evaluate.calibration import apply_temperature
from .evaluate.metrics import answer_metrics, classification_metrics, expected_calibration_error
from .files import write_json
from .progress import log
from .report import plots
from .report.run_folder import new_run_dir, write_history_csv, write_run_readme

GRID_PHOTOS = 12


@dataclass
class TrainResult:
    run_dir: Path
    classifier: Classifier
    metrics: dict[str, Any]


def _versions() -> dict[str, str]:
    import keras
    import tensorflow as tf

    return {"python": platform.python_version(), "keras": keras.__version__, "tensorflow": tf.__version__}


def _portable(spec: str | None) -> str | None:
    """Local paths made absolute so later commands (export, robustness) find the data from any folder."""
    return spec if spec is None or spec.startswith("hf://") else os.path.abspath(spec)


# Validation photos of cats and dogs answered "neither" above this share get a warning.
REFUSED_WARNING = 0.01


def _grid_sample(scores: Scores, answers: np.ndarray, count: int, seed: int) -> np.ndarray:
    """A seeded sample of scored photos, with the wrong answers first so they are seen."""
    rng = np.random.default_rng(seed)
    wrong = np.flatnonzero(answers != scores.labels)
    right = np.setdiff1d(np.arange(len(scores.p_dog)), wrong)
    chosen = list(rng.permutation(wrong)[: count // 3]) + list(rng.permutation(right))
    return np.array(sorted(chosen[:count]), dtype=np.int64)


def _prediction_grid(classifier: Classifier, source, scores: Scores, path: Path, seed: int) -> None:
    answers = classifier.decision.codes(scores.p_dog, scores.pet_score)
    picks = _grid_sample(scores, answers, GRID_PHOTOS, seed)
    wanted = scores.indices[picks]
    pixels = []
    for _, batch in decode_batches(source.photos(wanted), classifier.engine.image_size, GRID_PHOTOS, 2):
        pixels.extend(batch)
    plots.plot_prediction_grid(np.stack(pixels), scores.labels[picks].tolist(), scores.p_dog[picks].tolist(),
                               answers[picks].tolist(), path)


def train(data: Any = None, *, test: Any = None, out: str | Path = "runs", name: str = "train",
          cache_path: str | Path | None = None, command: str | None = None, resume: str | Path | None = None,
          ray: dict[str, Any] | None = None, recipe: str = "original", **settings: Any) -> TrainResult:
    """Train on `data`, evaluate on the validation split (and on `test` when given), and write
    runs/NAME[-k]/ with the model, config, history, metrics, data report, plots and a README.
    `recipe` names the starting settings (catdog.recipes: original, best); `settings` override them.

    The run folder is made first and the best model so far is checkpointed in it, so an interrupted
    run continues with `resume=RUN` (same data and settings, read from RUN/config.json)."""
    command = command or " ".join(sys.argv)
    if resume is not None:
        run_dir, config, data, test = _resumable(Path(resume))
    else:
        if data is None:
            raise UsageError("Give the training data (--data PATH), or --resume RUN to continue a run.")
        config = recipe_config(recipe, **settings)
    source = as_labelled_source(data)
    check_labels(source.labels(), source.description)  # before a run folder exists for it
    test_source = as_labelled_source(test) if test is not None else None
    if resume is None:
        run_dir = new_run_dir(out, name)
        write_json(run_dir / CONFIG_FILE, {"config": config.to_dict(), "data": _portable(source.description),
                                           "test": _portable(getattr(test_source, "description", None)),
                                           "status": "training", "command": command})
    started = time.perf_counter()
    classifier = Classifier(config, cache_path=cache_path, ray=ray)
    classifier.checkpointer = Checkpointer(run_dir)
    try:
        classifier.fit(source)
    except KeyboardInterrupt:
        if classifier.checkpointer.model_path.is_file():
            log(f"Interrupted. The best model so far is {classifier.checkpointer.model_path}; "
                f"continue with: catdog train --resume {run_dir}")
        raise
    train_seconds = time.perf_counter() - started
    log(f"Writing run folder {run_dir}")

    metrics: dict[str, Any] = {"train_seconds": train_seconds}
    val_source, val_indices = classifier.validation_
    evaluated = {"validation": (val_source, classifier.score(val_source, val_indices))}
    if test_source is not None:
        evaluated["test"] = (test_source, classifier.score(test_source))
    decision = classifier.decision
    for split, (_, scores) in evaluated.items():
        metrics[split] = classification_metrics(scores.labels, scores.p_dog, len(scores.report.skipped), decision)
        metrics[split].update(answer_metrics(scores.labels, scores.p_dog, scores.pet_score, decision))
    metrics["neither_threshold"] = classifier.neither_threshold
    refused = metrics["validation"]["refused"]
    if refused > REFUSED_WARNING:
        metrics["warnings"] = [f"{refused:.1%} of the validation cats and dogs are answered 'neither' (more than "
                               f"{REFUSED_WARNING:.0%}): they may be unlike the photos 'neither' was made for; look at "
                               "module_test.png, or predict with --no-neither if every photo holds a cat or a dog."]
        log("Warning: " + metrics["warnings"][0])
    shown_split = "test" if "test" in evaluated else "validation"
    shown_source, shown = evaluated[shown_split]
    if classifier.temperature is not None:
        # Temperature scaling is invertible: the uncalibrated probabilities are sigmoid(logit * T)
        # (to within the averaging of views when the run predicts with test-time augmentation).
        uncalibrated = apply_temperature(shown.p_dog, 1.0 / classifier.temperature)
        metrics["calibration"] = {**classifier.calibration_,
                                  f"{shown_split}_ece_before": expected_calibration_error(shown.labels, uncalibrated),
                                  f"{shown_split}_ece_after": metrics[shown_split]["ece"]}
        plots.plot_reliability(shown.labels, uncalibrated, shown.p_dog, run_dir / "reliability.png", shown_split)

    classifier.save(run_dir, extra={"data": _portable(source.description), "test": _portable(getattr(test_source, "description", None)),
                                    "versions": _versions(), "command": command, "status": "complete"})
    report = classifier.data_report_.to_dict()
    if test_source is not None:
        report["test"] = evaluated["test"][1].report.to_dict()
    write_json(run_dir / "data_report.json", report)
    write_history_csv(classifier.history_, run_dir / "history.csv")
    write_json(run_dir / "metrics.json", metrics)

    plots.plot_history(classifier.history_, run_dir / "fit_result.png")
    plots.plot_confusion(metrics[shown_split]["answers"], run_dir / "confusion_matrix.png", f"Answers ({shown_split})")
    plots.plot_roc(shown.labels, shown.p_dog, run_dir / "roc_curve.png", f"ROC curve ({shown_split})")
    _prediction_grid(classifier, shown_source, shown, run_dir / "module_test.png", config.seed)
    figures = {"Training curves": "fit_result.png", f"Confusion matrix ({shown_split})": "confusion_matrix.png",
               f"ROC curve ({shown_split})": "roc_curve.png", f"Predictions ({shown_split})": "module_test.png"}
    if (run_dir / "reliability.png").is_file():
        figures[f"Reliability before/after calibration ({shown_split})"] = "reliability.png"
    write_run_readme(run_dir, config.to_dict(), metrics, report, figures, command)
    classifier.checkpointer.clear()  # model.keras is complete: the checkpoint has done its job
    return TrainResult(run_dir, classifier, metrics)


def _resumable(run_dir: Path) -> tuple[Path, TrainConfig, str, str | None]:
    config_path = run_dir / CONFIG_FILE
    if not config_path.is_file():
        raise UsageError(f"{run_dir} is not a run folder (no {CONFIG_FILE}); pass the folder an interrupted `catdog train` made.")
    saved = json.loads(config_path.read_text())
    if saved.get("status") != "training":
        raise UsageError(f"{run_dir} finished already (or predates resumable runs); start a new run instead of --resume.")
    return run_dir, TrainConfig.from_dict(saved["config"]), saved["data"], saved.get("test")
