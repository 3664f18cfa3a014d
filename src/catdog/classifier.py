"""`Classifier`: the estimator (fit / predict / predict_proba / score / evaluate / save / load) that the
CLI, the service and the batch jobs all go through.

A thin facade, as Ultralytics' Model is over its trainers and exporters: training is
training.trainer.Trainer, the run folder is run_folder.RunFolder, inputs become sources in
data.inputs, and the answer is decide.Decision. Importing it does not import TensorFlow."""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from queue import SimpleQueue
from typing import Any

import numpy as np

from .classes import CAT_DOG, is_cat_dog, run_classes
from .config import TrainConfig
from .data.data_report import DataReport, label_counts
from .data.inputs import as_labelled_source, as_source, as_unlabelled_source
from .data.pipeline import chunked, decoded_or_reason
from .data.sources import NO_PET_LABEL, Photo, PhotoSource, check_labels
from .decide import GLANCE_MARGINS, TTA_MARGINS, Decision, parse_refuse, refusal_threshold
from .errors import DataError, ModelError, UsageError
from .evaluate.metrics import answer_metrics, classification_metrics, neither_tradeoff, non_pet_metrics, ood_metrics
from .files import atomic_path
from .progress import log, progress_bar
from .run_folder import RunConfig, RunFolder
from .runtime import Engine, split_output
from .runtime.keras_engine import KerasEngine
from .runtime.manifest import FORMATS, usable_exports
from .runtime.select import open_engine


def _averaged(p_dog: np.ndarray, pet: np.ndarray | None, rows: np.ndarray, p_flip: np.ndarray,
              pet_flip: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    """Class output and pet score with `rows` averaged with their second view's."""
    p_dog = np.array(p_dog)
    p_dog[rows] = (p_dog[rows] + p_flip) / 2
    if pet is None or pet_flip is None:
        return p_dog, None
    pet = np.array(pet)
    pet[rows] = (pet[rows] + pet_flip) / 2
    return p_dog, pet


@dataclass
class Prediction:
    """One photo's answer. `label` is a class name, the refusal ("neither" for a cat/dog run: no cat or
    dog in the photo; "none of these" for other classes) or None when the photo could not be read.
    `probabilities` gives each class's probability by name; they say which class it is and mean
    nothing for a refusal. `pet_probability` is the chance that one of the classes is there at all
    (under one half: the refusal); `pet_score` is the raw evidence behind it (standardised units,
    refused under the run's threshold), for scripts. `p_dog` is p(dog) of a cat/dog run (None for
    other classes)."""

    id: str
    name: str
    label: str | None
    p_dog: float | None
    confidence: float | None
    error: str | None = None
    pet_score: float | None = None
    pet_probability: float | None = None
    probabilities: dict[str, float] | None = None

    @classmethod
    def scored(cls, id: str, name: str, p: float | np.ndarray, pet_score: float | None, decision: Decision) -> Prediction:
        """`p`: the model's class output for the photo (p(class 1) for two classes, [N] for more)."""
        pet = None if pet_score is None else float(pet_score)
        chance = None if pet is None or not decision.refuses else float(decision.pet_probability(np.array([pet]))[0])
        by_class = decision.probabilities(np.asarray(p, dtype=np.float64).reshape(1, -1) if np.ndim(p) else np.array([float(p)]))[0]
        probabilities = {name: float(value) for name, value in zip(decision.classes, by_class)}
        p_dog = probabilities["dog"] if is_cat_dog(decision.classes) else None
        return cls(id, name, decision.answer(p, pet), p_dog, decision.confidence(p, pet), None, pet, chance, probabilities)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Scores:
    """Outputs for the photos of a labelled source that decoded, and what was skipped. `p` is the
    class output: p(class 1) [n] (p(dog)) for two classes, the probabilities [n, N] for more."""

    ids: list[str]
    indices: np.ndarray
    labels: np.ndarray
    p: np.ndarray
    report: DataReport
    pet_score: np.ndarray | None = None


class Classifier:
    """Photo classifier on a pretrained MobileNetV2: cat or dog by default, or the classes of the
    training data; it answers a class, or "neither" / "none of these" for photos of none of them.

    >>> clf = Classifier().fit("../shared/data/train.parquet")
    >>> clf.predict(["photo.jpg"])
    ['dog']

    Settings are TrainConfig's (the original recipe by default). Fitted attributes end in `_`.
    """

    @property
    def classes_(self) -> tuple[str, ...]:
        """The class names, label order: the columns of predict_proba."""
        return self.config.classes or CAT_DOG

    def __init__(self, config: TrainConfig | None = None, *, cache_path: str | os.PathLike[str] | None = None,
                 threshold: float = 0.5, tta: bool | None = None, tta_all: bool = False, neither: bool = True,
                 refuse: str | float | None = None, ray: dict[str, Any] | None = None, glance: bool = True,
                 **settings: Any):
        base = config.to_dict() if config else {}
        self.config = TrainConfig.from_dict({**base, **settings})
        self.cache_path = cache_path
        self.threshold = threshold  # p(dog) at or above which a pet is a dog
        # Average each prediction with that of the mirrored photo; None: as the recipe says (config.tta).
        self.tta = self.config.tta if tta is None else tta
        # With tta, the mirror image is looked at only where the answer is near a threshold (TTA_MARGINS),
        # unless tta_all: every photo, at twice the cost, for answers within 0.1 point (docs/BENCHMARKS.md).
        self.tta_all = tta_all
        self.neither = neither  # False: every photo holds a cat or a dog, never answer "neither"
        # The operating point of "neither": None/"default" (the run's), "lenient", "strict" or a share of
        # held-out training cats and dogs to refuse (decide.refusal_threshold).
        self.refuse = parse_refuse(refuse)
        self.ray = ray  # {"address": ..., "workers": ...}: frozen-backbone features computed on Ray
        # Whether the first look (glance_) answers the photos whose answer is clear from it; False: every
        # photo gets the full look, at full cost (the answers the first look is measured against).
        self.glance = glance
        self.glance_: Classifier | None = None  # the first look: the original recipe at config.glance_size px
        self.looks_ = {"first": 0, "full": 0}  # photos answered by the first look and by the full one
        # _workers: ((engine, first look's engine), their workers), made once
        self._engine_workers: tuple[tuple[Engine, Engine | None], list[tuple[Engine | None, Engine]]] | None = None
        self.engine: Engine | None = None  # what runs the model: Keras, or an export
        self.model_path: Path | None = None
        self.history_: list[dict] = []
        self.data_report_: DataReport | None = None
        self.validation_: tuple[PhotoSource, np.ndarray] | None = None
        self.temperature_: float | None = None  # fitted on validation photos, folded into the model
        self.calibration_: dict[str, Any] = {}
        self.neither_threshold_: float | None = None  # pet score below which a photo is "neither" (the run's own point)
        self.neither_points_: list[list[float]] = []  # [rate, threshold] operating points for --refuse
        self.pet_slope_ = 1.0  # pet score -> probability that a pet is there (display only)
        self.pet_scorer_: Any = None  # model.pet_score.PetScorer (the saved model carries it as a layer)
        # After fit: labelled photos are scored from the frozen part's feature cache (training.trainer.CachedScores).
        self.cached_scores_: Any = None

    # ------------------------------------------------------------------ training

    def fit(self, data: Any, validation_data: Any = None, *, checkpointer=None, first_look: bool = True) -> Classifier:
        """Train on `data` (a source spec or PhotoSource); validate on a stratified split of it unless
        `validation_data` is given. `checkpointer` (training.checkpoint.Checkpointer) makes the fit
        crash-safe and resumable. `first_look`: also fit the first look (glance_, when the settings
        ask for one); False when it is fitted elsewhere (catdog train fits it in a child process)."""
        from .training.trainer import Trainer  # TensorFlow: loaded when training, not on import

        glance_config = self.config.glance_config() if first_look else None
        if glance_config is not None:
            # First, so that the full model's fit starts from what it leaves; the full model comes out the
            # same either way (its seed is set).
            log(f"Fitting the first look at {glance_config.image_size} px …")
            self.glance_ = Classifier(glance_config, cache_path=self.cache_path, ray=self.ray, neither=self.neither,
                                      refuse=self.refuse).fit(data, validation_data)
            self.glance_.cached_scores_ = None  # never evaluated from the cache: its frozen Keras part can go
        trainer = Trainer(self.config, tta=self.tta, cache_path=self.cache_path, checkpointer=checkpointer, ray=self.ray)
        fitted = trainer.fit(as_labelled_source(data), None if validation_data is None else as_labelled_source(validation_data))
        self.config = trainer.config  # names the classes the data has
        self.engine = KerasEngine(fitted.model)
        self.history_, self.data_report_, self.validation_ = fitted.history, fitted.data_report, fitted.validation
        self.temperature_, self.calibration_ = fitted.temperature, fitted.calibration
        self.neither_threshold_, self.pet_slope_, self.pet_scorer_ = fitted.neither_threshold, fitted.pet_slope, fitted.pet_scorer
        self.neither_points_ = fitted.neither_points
        self.cached_scores_ = fitted.cached_scores
        return self

    # ------------------------------------------------------------------ inference

    @property
    def decision(self) -> Decision:
        """The rule that turns (class output, pet score) into a class or the refusal for this classifier."""
        return Decision(self.threshold, refusal_threshold(self.neither_points_, self.refuse, self.neither_threshold_), self.neither,
                        self.pet_slope_, self.classes_)

    def _require_engine(self) -> Engine:
        if self.engine is None:
            raise ModelError("This classifier has no model yet; call fit() or Classifier.load(RUN) first.")
        return self.engine

    def _batches(self, source: PhotoSource, indices, on_skip: Callable[[Photo, str], None],
                 description: str) -> Iterator[tuple[list[Photo], np.ndarray, np.ndarray | None]]:
        """(photos, class output, pet score) per batch of the photos that decode, in source order.

        Batches are decoded and looked at side by side, each on one pair of engines (`_workers`) while
        another batch decodes: with a first look, a batch gets the first look and the photos it leaves
        unclear the full one, decoded again at full size."""
        workers = self._workers()
        first, full = workers[0]
        size = (first or full).image_size
        free: SimpleQueue[tuple[Engine | None, Engine]] = SimpleQueue()
        for pair in workers:
            free.put(pair)

        def look(photos: list[Photo]) -> tuple[list[tuple[Photo, str]], list[Photo], np.ndarray, np.ndarray | None, int]:
            decoded = [(photo, decoded_or_reason(photo, size)) for photo in photos]
            skipped = [(photo, result) for photo, result in decoded if isinstance(result, str)]
            kept = [(photo, result) for photo, result in decoded if not isinstance(result, str)]
            if not kept:
                return skipped, [], np.zeros(0, dtype=np.float32), None, 0
            pair = free.get()  # decoding needs no engine: a batch decodes while the others' models run
            try:
                return (skipped, *self._look(*pair, [photo for photo, _ in kept], np.stack([array for _, array in kept])))
            finally:
                free.put(pair)

        threads = len(workers) + 1
        with progress_bar(description, len(source) if indices is None else len(indices)) as bar, \
                ThreadPoolExecutor(max_workers=threads, thread_name_prefix="look") as pool:
            def answered(looking: Future) -> tuple[list[Photo], np.ndarray, np.ndarray | None]:
                skipped, photos, p, pet, in_full = looking.result()
                for photo, reason in skipped:
                    on_skip(photo, reason)
                if first is not None:
                    self.looks_["first"] += len(photos) - in_full
                    self.looks_["full"] += in_full
                bar.advance(len(skipped) + len(photos))
                return photos, p, pet

            looking: deque[Future] = deque()
            for batch in chunked(source.photos(indices), self.config.batch_size):
                looking.append(pool.submit(look, batch))
                if len(looking) > threads:
                    photos, p, pet = answered(looking.popleft())
                    if photos:
                        yield photos, p, pet
            while looking:
                photos, p, pet = answered(looking.popleft())
                if photos:
                    yield photos, p, pet

    def _workers(self) -> list[tuple[Engine | None, Engine]]:
        """(first look's engine or None, full look's engine) for each batch looked at side by side:
        the engines' workers (EngineBase.workers), made once, when this classifier first predicts."""
        engine = self._require_engine()
        glance = self.glance_._require_engine() if self.glance and self.glance_ is not None else None
        made = self._engine_workers
        # (by identity: a classifier given another engine makes its workers again)
        if made is None or made[0][0] is not engine or made[0][1] is not glance:
            full = engine.workers()
            first = glance.workers() if glance is not None else [None] * len(full)
            made = self._engine_workers = ((engine, glance), list(zip(first, full)))
        return made[1]

    def _look(self, first: Engine | None, full: Engine, photos: list[Photo],
              pixels: np.ndarray) -> tuple[list[Photo], np.ndarray, np.ndarray | None, int]:
        """(photos, class output, pet score, photos given the full look) for one decoded batch.

        Without a first look, the full look of every photo. With one, the first look's outputs of
        the photos decoded at its size, and the full look's for those whose answer is not clear from
        it (GLANCE_MARGINS), decoded again at full size. The first look's pet scores are moved onto
        the full look's scale (the two thresholds made one), so one decision answers both looks."""
        if first is None or self.glance_ is None:
            p, pet = self._scores_with(full, pixels)
            return photos, p, pet, len(photos)
        glance = self.glance_
        p, pet = glance._scores_with(first, pixels)
        unclear = np.flatnonzero(glance.decision.near_threshold(p, pet, *GLANCE_MARGINS))
        full_below, glance_below = self.decision.neither_below, glance.decision.neither_below
        pet = None if pet is None or full_below is None or glance_below is None else pet + np.float32(full_below - glance_below)
        p = np.array(p)
        decoded = [(int(row), decoded_or_reason(photos[row], full.image_size)) for row in unclear]
        decoded = [(row, array) for row, array in decoded if not isinstance(array, str)]
        rows = [row for row, _ in decoded]  # (a photo that decodes only small keeps its answer)
        if rows:
            p_full, pet_full = self._scores_with(full, np.stack([array for _, array in decoded]))
            p[rows] = p_full
            if pet is not None and pet_full is not None:
                pet[rows] = pet_full
        return photos, p, pet, len(rows)

    def predict_pixels(self, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """(class output, pet score or None) for decoded uint8 photos [n, s, s, 3]; with `tta`, averaged
        with the mirrored photos' where `second_look` asks for it."""
        return self._scores_with(self._require_engine(), pixels)

    def _scores_with(self, engine: Engine, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """predict_pixels on `engine`: this classifier's engine or one of its workers."""
        p_dog, pet = engine.scores(pixels)
        if not self.tta:
            return p_dog, pet
        rows = self.second_look(p_dog, pet)
        if rows.size:
            p_flip, pet_flip = engine.scores(np.ascontiguousarray(pixels[rows, :, ::-1]))
            p_dog, pet = _averaged(p_dog, pet, rows, p_flip, pet_flip)
        return p_dog, pet

    def second_look(self, p_dog: np.ndarray, pet: np.ndarray | None) -> np.ndarray:
        """Rows that test-time augmentation averages with the mirror image: all with `tta_all`, else
        those whose answer is near a threshold (the rest keep their answer with or without it)."""
        if self.tta_all:
            return np.arange(len(p_dog))
        return np.flatnonzero(self.decision.near_threshold(p_dog, pet, *TTA_MARGINS))

    def explain(self, inputs: Any) -> list:
        """Grad-CAM Explanation (id, label, probabilities, heatmap [s, s] in [0, 1], pixels) per readable photo."""
        from .explain.run import explain  # Grad-CAM needs TensorFlow: never on the inference path

        return explain(self, inputs)

    def keras_model(self):
        """The Keras model (for Grad-CAM), loaded from the run when another engine serves predictions."""
        if isinstance(self.engine, KerasEngine):
            return self.engine.model
        if self.model_path is None:
            raise ModelError("Explanations need the Keras model; load the classifier from its run folder.")
        return KerasEngine.load(self.model_path).model

    def predict_photos(self, inputs: Any) -> list[Prediction]:
        """One Prediction per input item, in input order; unreadable items carry `error` instead of a label."""
        source = as_source(inputs)
        results: dict[int, Prediction] = {}

        def on_skip(photo: Photo, reason: str) -> None:
            results[photo.index] = Prediction(photo.id, photo.name, None, None, None, reason)

        decision = self.decision
        for photos, p_dog, pet in self._batches(source, None, on_skip, "Predicting"):
            for row, photo in enumerate(photos):
                results[photo.index] = Prediction.scored(photo.id, photo.name, p_dog[row], None if pet is None else pet[row], decision)
        return [results[i] for i in sorted(results)]

    def predict_proba(self, inputs: Any) -> np.ndarray:
        """[n, N]: each class's probability per input item (columns in `classes_` order; p(cat), p(dog)
        by default); NaN where the item could not be read. Whether one of the classes is there at all
        is `predict`'s refusal, not another column."""
        classes = self.classes_
        rows = [[np.nan] * len(classes) if p.probabilities is None else [p.probabilities[c] for c in classes]
                for p in self.predict_photos(inputs)]
        return np.array(rows, dtype=np.float64).reshape(len(rows), len(classes))

    def predict(self, inputs: Any) -> list[str | None]:
        """A class name ('cat', 'dog') or the refusal ('neither') per input item; None where the item
        could not be read."""
        return [p.label for p in self.predict_photos(inputs)]

    def scores(self, data: Any, indices=None) -> Scores:
        """Outputs for every photo of a labelled source (or its `indices`), skipping unreadable ones."""
        source = as_labelled_source(data)
        # The data's own class names must be the run's, or some of them (in any order: its labels are put in the run's).
        _, labels = run_classes(getattr(source, "class_names", None), source.labels(), self.classes_, source.description,
                                of_run=True)
        chosen = labels if indices is None else labels[np.asarray(indices, dtype=np.int64)]
        check_labels(chosen, source.description, self.classes_, allow_single_class=True)
        report = DataReport(source.description, rows=len(chosen), counts=label_counts(chosen, self.classes_))
        if self.cached_scores_ is not None:
            kept_rows, p, pet = self._cached_outputs(source, indices, report)
            return Scores([photo.id for photo in source.photos(kept_rows)], kept_rows, labels[kept_rows], p, report, pet)
        ids: list[str] = []
        kept: list[int] = []
        p_all: list[np.ndarray] = []
        pet_all: list[np.ndarray | None] = []
        for photos, p_dog, pet in self._batches(source, indices, report.skip, "Evaluating"):
            ids += [p.id for p in photos]
            kept += [p.index for p in photos]
            p_all.append(p_dog)
            pet_all.append(pet)
        kept_arr = np.array(kept, dtype=np.int64)
        p = np.concatenate(p_all) if p_all else np.zeros((0,) if len(self.classes_) == 2 else (0, len(self.classes_)), dtype=np.float32)
        pets = np.concatenate([x for x in pet_all if x is not None]) if pet_all and all(x is not None for x in pet_all) else None
        return Scores(ids, kept_arr, labels[kept_arr] if kept else np.zeros(0, dtype=np.int64), p, report, pets)

    def score(self, data: Any) -> float:
        """Mean answer accuracy on labelled photos (scikit-learn's `score`): the share answered right,
        a refusal of a photo of one of the classes counted wrong."""
        scores = self.scores(data)
        if len(scores.p) == 0:
            raise DataError(f"No photo of {scores.report.source} could be decoded, so there is nothing to score.")
        return float(np.mean(self.decision.codes(scores.p, scores.pet_score) == scores.labels))

    def evaluate(self, data: Any, ood: Any = None) -> dict[str, Any]:
        """accuracy (cat vs dog), precision, recall, f1, roc_auc, log_loss, ece, confusion_matrix, n, skipped,
        and what users are answered: refused (cats and dogs answered "neither"), answer_accuracy (answer
        = truth, "neither" counted wrong), answers (rows cat, dog; columns cat, dog, neither). With `ood`
        (photos with no cat or dog) also ood = {auroc, refused_ood, refused_in, tradeoff}: the tradeoff
        lists, for each operating point of --refuse, the pets refused and the non-pets let through."""
        source = as_labelled_source(data)
        labels = source.labels()
        if labels.size and (labels == NO_PET_LABEL).all():
            if ood is not None:
                raise UsageError(f"{source.description} holds photos of none of the classes (every label is -1); evaluate it alone, "
                                 "or pass it as --ood beside a file of labelled photos.")
            return self._evaluate_non_pets(source)
        scores = self.scores(source)
        if len(scores.p) == 0:
            raise DataError(f"No photo of {scores.report.source} could be decoded, so there is nothing to evaluate.")
        metrics = classification_metrics(scores.labels, scores.p, len(scores.report.skipped), self.decision)
        metrics.update(answer_metrics(scores.labels, scores.p, scores.pet_score, self.decision))
        if ood is not None:
            if scores.pet_score is None or self.neither_threshold_ is None:
                raise ModelError("This model has no 'neither' score (trained before it existed); retrain it to evaluate --ood.")
            metrics["ood"] = self.ood_metrics(scores.pet_score, self.pet_scores(ood))
        return metrics

    def _evaluate_non_pets(self, source: PhotoSource) -> dict[str, Any]:
        """A file of photos of none of the classes: every right answer is the refusal."""
        decision = self.decision
        if not decision.refuses:
            raise UsageError(f"{source.description} holds photos of none of the classes, and this classifier never answers "
                             f"'{decision.refusal}' (--no-neither, or a model without that score); evaluate it with it on.")
        predictions = self.predict_photos(source)
        read = [p for p in predictions if p.label is not None]
        if not read:
            raise DataError(f"No photo of {source.description} could be decoded, so there is nothing to evaluate.")
        codes = np.array([decision.answers.index(p.label) for p in read if p.label is not None])
        return non_pet_metrics(codes, [p.id for p in read], len(predictions) - len(read), decision)

    def ood_metrics(self, in_scores: np.ndarray, ood_scores: np.ndarray) -> dict[str, Any]:
        """How the pet scores of cats and dogs and of photos with neither separate, at this classifier's
        operating point and along all of them."""
        threshold = self.decision.neither_below
        assert threshold is not None
        return {**ood_metrics(in_scores, ood_scores, threshold),
                "tradeoff": neither_tradeoff(in_scores, ood_scores, self.neither_points_, self.config.neither_rate)}

    def pet_scores(self, inputs: Any) -> np.ndarray:
        """The pet score of every readable photo of `inputs` (labels not needed)."""
        source = as_unlabelled_source(inputs)
        if self.cached_scores_ is not None:
            # Right after fit: `catdog train --ood` put these photos' features in the cache before
            # TensorFlow was imported, so scoring them here takes no decoding beside TensorFlow.
            try:
                pet: np.ndarray | None = self._cached_outputs(source, None, DataReport(source.description))[2]
            except DataError:  # not one photo decodes
                pet = None
            return pet if pet is not None else np.zeros(0, dtype=np.float32)
        pets = [pet for _, _, pet in self._batches(source, None, lambda photo, reason: None, "Scoring") if pet is not None]
        return np.concatenate(pets) if pets else np.zeros(0, dtype=np.float32)

    def _cached_outputs(self, source: PhotoSource, indices, report: DataReport) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """(rows that decode, class output, pet score) from the feature cache (cached_scores_), with the
        second look at the mirror image where this classifier takes one."""
        second_look = (lambda out: self.second_look(*split_output(out))) if self.tta else None
        kept_rows, outputs = self.cached_scores_(source, indices, report, second_look)
        p, pet = split_output(outputs)
        return kept_rows, p, pet

    # ------------------------------------------------------------------ persistence

    def save(self, path: str | os.PathLike[str], extra: dict[str, Any] | None = None) -> Path:
        """Save to a run folder (model.keras + config.json, with `extra` facts) or to a single .keras file."""
        engine = self._require_engine()
        model = getattr(engine, "model", None)
        if model is None:
            raise ModelError("Only a Keras model can be saved; load the classifier with engine='keras'.")
        path = Path(path)
        run = RunFolder(path.parent, path) if path.suffix == ".keras" else RunFolder.at(path)
        with atomic_path(run.model_path) as tmp:
            model.save(tmp)
        if path.suffix != ".keras" and self.glance_ is not None:
            self.glance_.save(run.glance_dir, extra)
        if path.suffix != ".keras":
            run.write_config(RunConfig(config=self.config.to_dict(), threshold=self.threshold, temperature=self.temperature_,
                                       neither_threshold=self.neither_threshold_, neither_points=self.neither_points_,
                                       pet_slope=self.pet_slope_, **(extra or {})))
        return run.model_path

    @classmethod
    def load(cls, path: str | os.PathLike[str], engine: str = "auto", threads: int | None = None,
             **options: Any) -> Classifier:
        """Load a run folder or a .keras file. `engine`: keras, onnx, tflite, an export by its
        format (onnx-int8, tflite-fp16, tflite-int8), or auto (the fastest verified export in RUN/export/,
        else Keras)."""
        run = RunFolder.resolve(path)
        saved = run.read_config()
        decision = saved.decision()
        classifier = cls(TrainConfig.from_dict(saved.config), threshold=decision.threshold, **options)
        classifier.temperature_ = saved.temperature
        classifier.neither_threshold_, classifier.pet_slope_ = decision.neither_below, decision.pet_slope
        classifier.neither_points_ = saved.neither_points
        classifier.engine = open_engine(run, engine, threads)
        classifier.model_path = run.model_path
        classifier.glance_ = _open_glance(run, engine, threads, classifier)
        return classifier


def _open_glance(run: RunFolder, engine: str, threads: int | None, full: Classifier) -> Classifier | None:
    """The run's first look, on the same kind of engine as the full look: an export when the full look
    runs one (the first look without a verified export would be slower than no first look: then there
    is none, until `catdog export` makes it), Keras when it runs Keras."""
    glance = run.glance
    if glance is None or not full.glance:
        return None
    if full._require_engine().artifact != "model.keras" and not any(FORMATS[fmt][1] for fmt in usable_exports(glance)):
        return None
    try:
        return Classifier.load(glance.path, engine, threads, neither=full.neither, refuse=full.refuse, glance=False)
    except ModelError:
        return None  # no export of the kind asked for: every photo gets the full look
