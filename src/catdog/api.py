"""`catdog.train`: one call that trains, evaluates and writes a complete run folder."""

from __future__ import annotations

import gc
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .classes import class_weights, is_cat_dog
from .classifier import Classifier, Scores
from .config import TrainConfig
from .data.inputs import as_labelled_source, as_unlabelled_source
from .data.pipeline import decode_batches
from .data.sources import labelled
from .decide import Decision
from .errors import UsageError
from .evaluate.calibration import apply_temperature
from .evaluate.metrics import answer_metrics, classification_metrics, expected_calibration_error
from .first_look import fit_in_child
from .model.backbone import resolve_weights
from .progress import log
from .recipes import recipe_config
from .report import plots
from .report.run_readme import write_model_card
from .run_folder import COMPLETE, DATA_REPORT_FILE, METRICS_FILE, TRAINING, RunConfig, RunFolder, library_versions
from .training.prefetch import prefetch_features

GRID_PHOTOS = 12
# Validation photos of the classes (cats and dogs) answered the refusal ("neither") above this share get a warning.
REFUSED_WARNING = 0.01


@dataclass
class TrainResult:
    run_dir: Path
    classifier: Classifier
    metrics: dict[str, Any]


def _portable(spec: str | None) -> str | None:
    """Local paths made absolute so later commands (export, robustness) find the data from any folder."""
    return spec if spec is None or spec.startswith("hf://") else os.path.abspath(spec)


def _grid_sample(scores: Scores, answers: np.ndarray, count: int, seed: int) -> np.ndarray:
    """A seeded sample of scored photos, with the wrong answers first so they are seen."""
    rng = np.random.default_rng(seed)
    wrong = np.flatnonzero(answers != scores.labels)
    right = np.setdiff1d(np.arange(len(scores.labels)), wrong)
    chosen = list(rng.permutation(wrong)[: count // 3]) + list(rng.permutation(right))
    return np.array(sorted(chosen[:count]), dtype=np.int64)


def _grid_title(split: str, photos: int, wrong: np.ndarray, picks: np.ndarray) -> str:
    """What module_test.png shows. It is no random sample (wrong answers are picked first), so it says so."""
    shown_wrong = int(np.isin(picks, wrong).sum())
    if len(wrong) == 0:
        return f"{len(picks)} of the {photos} {split} photos at random; none was answered wrong"
    return (f"{len(picks)} of the {photos} {split} photos, wrong answers first: {shown_wrong} of the {len(wrong)} "
            f"answered wrong (red), {len(picks) - shown_wrong} answered right (green) at random")


def _prediction_grid(classifier: Classifier, source, scores: Scores, path: Path, seed: int, split: str) -> None:
    answers = classifier.decision.codes(scores.p, scores.pet_score)
    picks = _grid_sample(scores, answers, GRID_PHOTOS, seed)
    title = _grid_title(split, len(answers), np.flatnonzero(answers != scores.labels), picks)
    pixels: list[np.ndarray] = []
    for _, batch in decode_batches(source.photos(scores.indices[picks]), classifier.config.image_size, GRID_PHOTOS, 2):
        pixels.extend(batch)
    plots.plot_prediction_grid(np.stack(pixels), scores.labels[picks].tolist(), scores.p[picks].tolist(),
                               answers[picks].tolist(), path, title=title, decision=classifier.decision)


def _refused_warning(refused: float, decision: Decision) -> str:
    cat_dog = is_cat_dog(decision.classes)
    photos = "cats and dogs" if cat_dog else "photos"
    holds = "a cat or a dog" if cat_dog else f"one of the classes ({', '.join(decision.classes)})"
    return (f"{refused:.1%} of the validation {photos} are answered '{decision.refusal}' (more than {REFUSED_WARNING:.0%}): "
            f"they may be unlike the photos '{decision.refusal}' was made for; look at module_test.png, or predict with "
            f"--no-neither if every photo holds {holds}.")


def train(data: Any = None, *, test: Any = None, ood: Any = None, out: str | Path = "runs", name: str = "train",
          cache_path: str | Path | None = None, command: str | None = None, resume: str | Path | None = None,
          ray: dict[str, Any] | None = None, recipe: str = "original", **settings: Any) -> TrainResult:
    """Train on `data`, evaluate on the validation split (and on `test` when given; on `ood`, photos with
    no cat or dog, for what "neither" does, with neither_tradeoff.png), and write runs/NAME[-k]/ with the
    model, config, history, metrics, data report, plots and a model card (README.md).
    `recipe` names the starting settings (catdog.recipes: original, best); `settings` override them.

    The run folder is made first and the best model so far is checkpointed in it, so an interrupted
    run continues with `resume=RUN` (same data and settings, read from RUN/config.json)."""
    command = command or " ".join(sys.argv)
    if resume is not None:
        run = RunFolder.at(resume)
        saved = run.resumable()
        config, data, test, ood = TrainConfig.from_dict(saved.config), saved.data, saved.test, saved.ood
    elif data is None:
        raise UsageError("Give the training data (--data PATH), or --resume RUN to continue a run.")
    else:
        config = recipe_config(recipe, **settings)
    # Everything a user can get wrong is checked before a run folder exists and before TensorFlow loads.
    source = as_labelled_source(data)
    classes, labels = labelled(source, config.classes)
    class_weights(config.class_weight, classes, labels)  # a class weight naming no class is refused now, not after the features
    test_source = as_labelled_source(test) if test is not None else None
    if test_source is not None:
        labelled(test_source, classes, of_run=True)  # test photos of other classes are refused now, not after training
    ood_source = as_unlabelled_source(ood) if ood is not None else None
    resolve_weights(config.weights)
    facts: dict[str, Any] = {"data": _portable(source.description), "test": _portable(getattr(test_source, "description", None)),
             "command": command}
    if ood_source is not None:
        facts["ood"] = _portable(ood_source.description)
    if resume is None:
        run = RunFolder.create(out, name)
        run.write_config(RunConfig(config=config.to_dict(), status=TRAINING, **facts))
    # The frozen features go into the cache before TensorFlow is imported (LiteRT only): the process
    # never holds TensorFlow beside the decoders and LiteRT (training.prefetch).
    started = time.perf_counter()
    prefetch_features(config, source, [other for other in (test_source, ood_source) if other is not None],
                      cache_path=cache_path, ray=ray)
    glance_config = config.glance_config()
    # A resumed run keeps the first look it fitted before it was stopped (the same photos, settings and
    # seed would fit the same model again); RUN/glance/ exists only once the whole look is saved.
    if glance_config is not None and resume is not None and run.glance is not None and run.glance.read_config().status == COMPLETE:
        log(f"Keeping the first look fitted before the interruption ({run.glance_dir}).")
        glance_config = None
    # The first look trains on the same photos at its own size; from a source spec, in a child process
    # that exits before this one loads TensorFlow (first_look.py: ≤ 1 GB); from objects, in this one.
    glance_in_child = glance_config is not None and isinstance(data, (str, os.PathLike))
    if glance_config is not None:
        prefetch_features(glance_config, source, cache_path=cache_path, ray=ray)
    if glance_in_child:
        assert glance_config is not None
        fit_in_child(glance_config, str(data), run.glance_dir, cache_path=cache_path, ray=ray,
                     extra={**facts, "status": COMPLETE})
    prefetch_seconds = time.perf_counter() - started
    from .training.checkpoint import Checkpointer  # TensorFlow: loaded when training

    checkpointer = Checkpointer(run)
    try:
        return _train_and_report(run, config, source, test_source, ood_source, checkpointer, cache_path, ray, facts,
                                 prefetch_seconds, first_look=glance_config is not None and not glance_in_child)
    except KeyboardInterrupt:
        if checkpointer.model_path.is_file():
            log(f"Interrupted. The best model so far is {checkpointer.model_path}; continue with: catdog train --resume {run.path}")
        raise


def _train_and_report(run: RunFolder, config: TrainConfig, source, test_source, ood_source, checkpointer, cache_path, ray,
                      facts: dict[str, Any], prefetch_seconds: float, first_look: bool) -> TrainResult:
    # train_seconds counts the feature pass (and the first look's child) made before TensorFlow
    started = time.perf_counter() - prefetch_seconds
    classifier = Classifier(config, cache_path=cache_path, ray=ray).fit(source, checkpointer=checkpointer, first_look=first_look)
    train_seconds = time.perf_counter() - started
    fitted_look = classifier.glance_  # fitted here: data given as objects, not a spec a child process can read
    if fitted_look is not None:
        # Written now and let go: what follows is the full look's (the reports of a run are its full-cost answers).
        fitted_look.save(run.glance_dir, extra={**facts, "versions": library_versions(), "status": COMPLETE})
        classifier.glance_ = None
        del fitted_look
        gc.collect()
    log(f"Writing run folder {run.path}")

    metrics: dict[str, Any] = {"train_seconds": train_seconds}
    assert classifier.validation_ is not None and classifier.data_report_ is not None
    val_source, val_indices = classifier.validation_
    evaluated = {"validation": (val_source, classifier.scores(val_source, val_indices))}
    if test_source is not None:
        evaluated["test"] = (test_source, classifier.scores(test_source))
    decision = classifier.decision
    for split, (_, scores) in evaluated.items():
        metrics[split] = classification_metrics(scores.labels, scores.p, len(scores.report.skipped), decision)
        metrics[split].update(answer_metrics(scores.labels, scores.p, scores.pet_score, decision))
    metrics["neither_threshold"] = classifier.neither_threshold_
    refused = metrics["validation"]["refused"]
    if refused > REFUSED_WARNING:
        metrics["warnings"] = [_refused_warning(refused, decision)]
        log("Warning: " + metrics["warnings"][0])
    shown_split = "test" if "test" in evaluated else "validation"
    shown_source, shown = evaluated[shown_split]
    if classifier.temperature_ is not None:
        # Temperature scaling is invertible: the uncalibrated probabilities are sigmoid(logit * T)
        # (to within the averaging of views when the run predicts with test-time augmentation).
        uncalibrated = apply_temperature(shown.p, 1.0 / classifier.temperature_, len(decision.classes))
        metrics["calibration"] = {**classifier.calibration_,
                                  f"{shown_split}_ece_before": expected_calibration_error(shown.labels, uncalibrated),
                                  f"{shown_split}_ece_after": metrics[shown_split]["ece"]}
        plots.plot_reliability(shown.labels, uncalibrated, shown.p, run.file("reliability.png"), shown_split)
    if ood_source is not None and shown.pet_score is not None and classifier.neither_threshold_ is not None:
        metrics["ood"] = {**classifier.ood_metrics(shown.pet_score, classifier.pet_scores(ood_source)),
                          "source": facts["ood"], "in_split": shown_split}
        shown_photos = "pets" if decision.refusal == "neither" else "photos"
        plots.plot_neither_tradeoff(metrics["ood"]["tradeoff"], run.file("neither_tradeoff.png"),
                                    f"'{decision.refusal}': {shown_split} {shown_photos} against {Path(ood_source.description).name}",
                                    decision)

    classifier.save(run.path, extra={**facts, "versions": library_versions(), "status": COMPLETE})
    report = classifier.data_report_.to_dict()
    if test_source is not None:
        report["test"] = evaluated["test"][1].report.to_dict()
    run.write_json(DATA_REPORT_FILE, report)
    run.write_history(classifier.history_)
    run.write_json(METRICS_FILE, metrics)

    plots.plot_history(classifier.history_, run.file("fit_result.png"))
    plots.plot_confusion(metrics[shown_split]["answers"], run.file("confusion_matrix.png"), f"Answers ({shown_split})",
                         decision)
    plots.plot_roc(shown.labels, shown.p, run.file("roc_curve.png"), f"ROC curve ({shown_split})", decision)
    _prediction_grid(classifier, shown_source, shown, run.file("module_test.png"), config.seed, shown_split)
    write_model_card(run)
    checkpointer.clear()  # model.keras is complete: the checkpoint has done its job
    return TrainResult(run.path, classifier, metrics)
