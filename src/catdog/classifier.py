"""`Classifier`: the estimator API (fit / predict / predict_proba / evaluate / save / load) that the
CLI, the service and the batch jobs all go through."""

from __future__ import annotations

import io
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .config import TrainConfig
from .decide import Decision
from .data.pipeline import decode_batches
from .data.report import DataReport, label_counts
from .data.sources import CLASS_NAMES, MemorySource, PhotoSource, check_labels, open_inputs, open_source
from .data.split import stratified_split
from .errors import DataError, ModelError, UsageError
from .files import atomic_path, write_json
from .progress import log, progress_bar

MODEL_FILE = "model.keras"
CONFIG_FILE = "config.json"


@dataclass
class Prediction:
    """One photo's answer. `label` is cat, dog, neither (no cat or dog in the photo) or None when the
    photo could not be read; `pet_score` is the evidence that a cat or dog is there at all."""

    id: str
    name: str
    label: str | None
    p_dog: float | None
    confidence: float | None
    error: str | None = None
    pet_score: float | None = None

    @classmethod
    def scored(cls, id: str, name: str, p_dog: float, pet_score: float | None, decision: Decision) -> "Prediction":
        pet = None if pet_score is None else float(pet_score)
        return cls(id, name, decision.answer(p_dog, pet), float(p_dog), decision.confidence(p_dog, pet), None, pet)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Scores:
    """Probabilities for the photos of a labelled source that decoded, and what was skipped."""

    ids: list[str]
    indices: np.ndarray
    labels: np.ndarray
    p_dog: np.ndarray
    report: DataReport
    pet_score: np.ndarray | None = None


def as_source(inputs: Any) -> PhotoSource:
    """Accept what a Python user has at hand: paths/globs/folders/parquet, bytes, arrays, PIL images."""
    if hasattr(inputs, "photos") and hasattr(inputs, "labels"):
        return inputs
    if isinstance(inputs, (str, os.PathLike)):
        return open_inputs([inputs])
    if isinstance(inputs, (bytes, bytearray, np.ndarray)) or _is_pil(inputs):
        inputs = [inputs]
    items = list(inputs)
    if items and all(isinstance(i, (str, os.PathLike)) for i in items):
        return open_inputs(items)
    return MemorySource([_encoded(i) for i in items])


def _is_pil(value: Any) -> bool:
    return type(value).__module__.startswith("PIL.")


def _encoded(item: Any) -> bytes:
    if isinstance(item, (bytes, bytearray)):
        return bytes(item)
    from PIL import Image

    if isinstance(item, np.ndarray):
        if item.ndim != 3 or item.shape[2] not in (1, 3, 4):
            raise UsageError(f"An image array must be HxWx3 RGB (uint8 0-255); got shape {item.shape}.")
        item = Image.fromarray(np.asarray(item, dtype=np.uint8).squeeze() if item.shape[2] == 1 else np.asarray(item, dtype=np.uint8))
    if _is_pil(item):
        buffer = io.BytesIO()
        item.save(buffer, format="PNG")  # lossless, so pixels reach the decoder unchanged
        return buffer.getvalue()
    raise UsageError(f"Cannot read a photo from a {type(item).__name__}; pass paths, bytes, numpy arrays or PIL images.")


class Classifier:
    """Cat-vs-dog classifier on a pretrained MobileNetV2.

    >>> clf = Classifier().fit("../shared/data/train.parquet")
    >>> clf.predict(["photo.jpg"])
    ['dog']
    """

    def __init__(self, config: TrainConfig | None = None, *, cache_path: str | os.PathLike[str] | None = None,
                 threshold: float = 0.5, tta: bool | None = None, neither: bool = True, ray: dict[str, Any] | None = None,
                 **settings: Any):
        base = config.to_dict() if config else {}
        self.config = TrainConfig.from_dict({**base, **settings})
        self.cache_path = cache_path
        self.threshold = threshold
        # Average each prediction with that of the mirrored photo; None: as the recipe says (config.tta).
        self.tta = self.config.tta if tta is None else tta
        self.ray = ray  # {"address": ..., "workers": ...}: frozen-backbone features computed on Ray
        self.temperature: float | None = None  # fitted on validation photos, folded into the model
        self.neither_threshold: float | None = None  # pet score below which a photo is "neither"
        self.pet_slope = 1.0  # pet score -> probability that a pet is there (display only)
        self.neither = neither  # False: every photo holds a cat or a dog, never answer "neither"
        self.calibration_: dict[str, Any] = {}
        self.pet_scorer_ = None  # model.pet_score.PetScorer, after fit (the saved model carries it as a layer)
        self.engine = None
        self.model_path: Path | None = None
        self.history_: list[dict] = []
        self.data_report_: DataReport | None = None
        self.validation_: tuple[PhotoSource, np.ndarray] | None = None
        self.checkpointer = None  # a training.checkpoint.Checkpointer makes fit() crash-safe and resumable

    # ------------------------------------------------------------------ training

    def fit(self, data: Any, validation_data: Any = None) -> "Classifier":
        """Train on `data` (a source spec or PhotoSource); validate on a stratified split of it unless
        `validation_data` is given."""
        import keras

        from .files import file_digest
        from .model.backbone import resolve_weights
        from .model.build import build_networks, deployable_model
        from .runtime.keras_engine import KerasEngine
        from .training.cut import cut_layer, image_to_cut, pooled_features
        from .training.feature_cache import DECODER_VERSION

        config = self.config
        keras.utils.set_random_seed(config.seed)
        source = as_labelled_source(data)
        labels = check_labels(source.labels(), source.description)
        if validation_data is None:
            train_indices, val_indices = stratified_split(labels, config.val_split, config.seed)
            val_source, val_all_labels = source, labels
        else:
            val_source = as_labelled_source(validation_data)
            val_all_labels = check_labels(val_source.labels(), val_source.description)
            train_indices, val_indices = np.arange(len(labels)), np.arange(len(val_source))
        report = DataReport(source.description, rows=len(labels), counts=label_counts(labels))
        self.data_report_ = report

        weights = resolve_weights(config.weights)
        networks = build_networks(config, weights)
        namespace = f"mobilenetv2-{config.image_size}-{file_digest(weights)[:16]}-{DECODER_VERSION}"
        blocks = config.fine_tune_blocks
        # What is cached per photo: pooled features of the frozen backbone, or, when the top blocks are
        # fine-tuned, the activations below them.
        cached_model = image_to_cut(networks, blocks) if blocks else networks.features
        if blocks:
            namespace += f"-{cut_layer(blocks)}"
        extract = self._feature_extractor(networks, cached_model, namespace, source, validation_data)

        train_kept, train_x, y_train = extract(source, labels, train_indices)
        # Mirror images are a second cached view of the same photos: for training (mirror) and for
        # calibrating what test-time augmentation will predict (tta).
        train_x = [train_x] + ([extract(source, labels, train_kept, mirror=True)[1]] if config.mirror else [])
        val_kept, val_x, y_val = extract(val_source, val_all_labels, val_indices)
        val_x = [val_x] + ([extract(val_source, val_all_labels, val_kept, mirror=True)[1]] if self.tta else [])
        log(f"Training on {len(train_kept)} photos, validating on {len(val_kept)} ({len(report.skipped)} skipped).")

        # Frozen pooled features of every view, computed before any fine-tuning: the head phase
        # trains on them and the pet score is fitted on them.
        frozen_train = [pooled_features(networks, blocks, v) for v in train_x] if blocks else train_x
        frozen_val = [pooled_features(networks, blocks, v) for v in val_x] if blocks else val_x

        checkpoint = self.checkpointer.state() if self.checkpointer else {}
        history = self._fit_head_phase(networks, checkpoint, frozen_train, y_train, (frozen_val[0], y_val))  # the head validates on the photo view
        done = checkpoint.get("epochs_done", 0) if checkpoint.get("phase") == "fine_tune" else 0
        if config.fine_tune:
            history, val_p, val_labels = self._fine_tune_pixels(networks, history, checkpoint, done, source,
                                                                train_kept, val_source, val_kept)
        else:
            if blocks:
                from .training.cut import fine_tune_blocks

                if done < config.fine_tune_epochs:
                    history += fine_tune_blocks(networks, train_x, y_train, (val_x[0], y_val), config,
                                                _head_epochs(history) + 1, done, self._checkpoint_callbacks(networks, history, checkpoint))
                history = self._keep_best(networks, history)
            tuned_val = [pooled_features(networks, blocks, v) for v in val_x] if blocks else frozen_val
            val_p = np.stack([np.asarray(networks.head.predict(v, batch_size=256, verbose=0))[:, 0] for v in tuned_val], axis=1)
            val_labels = y_val.astype(int)

        self.history_ = history
        self.validation_ = (val_source, val_kept)
        scorer = self._fit_neither(frozen_train, y_train, frozen_val)
        self.engine = KerasEngine(deployable_model(networks, scorer, weights, self._frozen_cut(networks)))
        self._fit_temperature(networks.model, val_p, val_labels)
        return self

    def _frozen_cut(self, networks) -> str | None:
        """Where the fine-tuned layers start (None: nothing was tuned): the pet score's frozen branch
        runs from there."""
        from .training.cut import cut_layer, frozen_cut

        if self.config.fine_tune_blocks:
            return cut_layer(self.config.fine_tune_blocks)
        if self.config.fine_tune:
            return frozen_cut(networks.backbone, self.config.fine_tune)
        return None

    def _fit_neither(self, train_views: list[np.ndarray], y_train: np.ndarray, val_views: list[np.ndarray]):
        """Fit the pet score on frozen pooled features and its "neither" threshold: `neither_rate` of
        the held-out training and validation photos fall under it (docs/TRUST.md)."""
        from .model.backbone import resolve_classifier_weights
        from .model.pet_score import PET_SLOPE, fit_pet_scorer, imagenet_classifier

        try:
            imagenet = imagenet_classifier(resolve_classifier_weights(self.config.weights))
        except ModelError as exc:
            log(f"Warning: {exc} Without it, 'neither' rests on similarity and density alone, which refuses more "
                "cats and dogs of breeds the training photos lack.")
            imagenet = None
        # With test-time augmentation the pet score is averaged over the photo and its mirror image:
        # the threshold is chosen on the same average where both views were computed.
        views = 2 if self.tta and len(train_views) > 1 and len(val_views) > 1 else 1
        scorer, held_out = fit_pet_scorer(train_views[:views], y_train, imagenet, self.config.seed, val_views[:views])
        self.neither_threshold = float(np.quantile(held_out, self.config.neither_rate))
        self.pet_slope = PET_SLOPE
        self.pet_scorer_ = scorer
        refused = float(np.mean(held_out < self.neither_threshold))
        log(f"'neither' threshold {self.neither_threshold:.3f}: {refused:.2%} of {len(held_out)} held-out training photos under it.")
        return scorer

    def _feature_extractor(self, networks, cached_model, namespace: str, source: PhotoSource, validation_data: Any):
        """extract(source, labels, indices, mirror=False) -> (kept indices, cached arrays, labels):
        what the frozen part computes for each photo that decodes (or its mirror image), cached."""
        from .training.backbone_engine import converted_backbone, feature_function
        from .training.feature_cache import FeatureCache
        from .training.features import extract_features

        config = self.config
        report = self.data_report_
        on_ray = None
        if self.ray is not None:
            if validation_data is not None or config.fine_tune_blocks:
                raise UsageError("Training on Ray computes the frozen features of its own data only; leave validation_data "
                                 "and fine_tune_blocks out (or train without Ray).")
            from .scale.features import extract_features_ray

            cache = FeatureCache(self.cache_path, namespace=namespace)
            try:
                backbone_file = converted_backbone(networks.features, cache.path.parent, namespace)
                on_ray = extract_features_ray(source, backbone_file, config.image_size, cache, report, **self.ray)
            finally:
                cache.close()
        cache_dir = FeatureCache.directory(self.cache_path)
        compute = feature_function(cached_model, config.feature_engine, cache_dir, namespace)
        shape = tuple(cached_model.output_shape[1:])

        def extract(part_source: PhotoSource, part_labels: np.ndarray, indices: np.ndarray,
                    mirror: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            if on_ray is not None and not mirror:  # mirror images are computed here, from the photos
                found = on_ray
            else:
                cache = FeatureCache(self.cache_path, namespace=namespace + ("-mirror" if mirror else ""))
                try:
                    found = extract_features(
                        part_source, indices,
                        (lambda pixels: compute(np.ascontiguousarray(pixels[:, :, ::-1]))) if mirror else compute, cache,
                        # The photo view already reported what failed to decode.
                        DataReport(part_source.description) if mirror else report,
                        config.image_size, config.batch_size, config.decode_threads,
                        "Mirror-image features" if mirror else "Backbone features")
                finally:
                    cache.close()
            kept = np.array([i for i in indices if int(i) in found], dtype=np.int64)
            if kept.size == 0:
                raise DataError(f"No photo of {part_source.description} could be decoded; see the skipped list with `catdog data inspect`.")
            arrays = np.stack([found[int(i)].reshape(-1) for i in kept]).reshape(len(kept), *shape)
            return kept, arrays, part_labels[kept].astype(np.float32)

        return extract

    def _fit_head_phase(self, networks, checkpoint: dict, train_views: list[np.ndarray], y_train: np.ndarray,
                        val: tuple[np.ndarray, np.ndarray]) -> list[dict]:
        """The original recipe's phase: the head on pooled features (of every training view)."""
        from .training.fit import fit_head

        if checkpoint:  # resuming: the head phase (at least) finished in an earlier, interrupted run
            log(f"Resuming from {self.checkpointer.model_path} ({checkpoint['phase']} phase, "
                f"{checkpoint['epochs_done']} fine-tuning epoch(s) done).")
            self.checkpointer.restore_weights(networks.model)
            return checkpoint["history"]
        history = fit_head(networks, (np.concatenate(train_views), np.tile(y_train, len(train_views))), val, self.config)
        if self.checkpointer:
            self.checkpointer.save(networks.model, "head", history, 0, min(row["val_loss"] for row in history), improved=True)
        return history

    def _checkpoint_callbacks(self, networks, history: list[dict], checkpoint: dict) -> list:
        if not self.checkpointer:
            return []
        best = checkpoint.get("best_val_loss", min(row["val_loss"] for row in history))
        return [self.checkpointer.keras_callback(networks.model, history, _head_epochs(history) + 1, best)]

    def _keep_best(self, networks, history: list[dict]) -> list[dict]:
        """The checkpoint holds the lowest validation loss over both phases (and over interrupted
        runs): that is the model we keep."""
        if not self.checkpointer:
            return history
        self.checkpointer.restore_weights(networks.model)
        return self.checkpointer.state()["history"]

    def _fine_tune_pixels(self, networks, history, checkpoint, done, source, train_kept, val_source, val_kept):
        """Fine-tune the top layers on decoded pixels (with random augmentation); returns the history and
        p(dog) of the validation photos [n, views] through the tuned model (decoded once, from the store)."""
        from .training.fit import fine_tune
        from .training.pixel_store import PixelStore, store_outputs

        config = self.config
        callbacks = self._checkpoint_callbacks(networks, history, checkpoint)
        with tempfile.TemporaryDirectory(prefix="catdog-") as scratch:
            train_store = PixelStore(source, train_kept, config.image_size, config.decode_threads, Path(scratch),
                                     "Decoding training photos")
            val_store = PixelStore(val_source, val_kept, config.image_size, config.decode_threads, Path(scratch),
                                   "Decoding validation photos")
            try:
                if done < config.fine_tune_epochs:
                    history += fine_tune(networks, train_store, val_store, config, _head_epochs(history) + 1, done, callbacks)
                history = self._keep_best(networks, history)
                val_p = np.concatenate([store_outputs(networks.model, val_store, config.batch_size, mirror)
                                        for mirror in ((False, True) if self.tta else (False,))], axis=1)
                return history, val_p, val_store.labels.astype(int)
            finally:
                train_store.close()
                val_store.close()

    def _fit_temperature(self, model, val_p: np.ndarray, val_labels: np.ndarray) -> None:
        """Fit the temperature on the validation photos only. `val_p` is [n, views]: with test-time
        augmentation the views are averaged after calibration, as predict does."""
        from .evaluate.calibration import apply_temperature, fit_temperature
        from .evaluate.metrics import expected_calibration_error
        from .model.build import fold_temperature

        if self.config.calibrate:
            self.temperature = fit_temperature(val_p, val_labels)
            fold_temperature(model, self.temperature)  # the deployable model shares this head
            self.calibration_ = {
                "temperature": self.temperature,
                "validation_ece_before": expected_calibration_error(val_labels, val_p.mean(axis=1)),
                "validation_ece_after": expected_calibration_error(
                    val_labels, apply_temperature(val_p, self.temperature).mean(axis=1)),
            }

    # ------------------------------------------------------------------ inference

    @property
    def decision(self) -> Decision:
        """The rule that turns (p(dog), pet score) into cat / dog / neither for this classifier."""
        return Decision(self.threshold, self.neither_threshold, self.neither, self.pet_slope)

    def _require_engine(self):
        if self.engine is None:
            raise ModelError("This classifier has no model yet; call fit() or Classifier.load(RUN) first.")
        return self.engine

    def _batches(self, source: PhotoSource, indices, on_skip, description: str):
        engine = self._require_engine()
        with progress_bar(description, len(source) if indices is None else len(indices)) as bar:
            def skip(photo, reason):
                on_skip(photo, reason)
                bar.advance()

            for photos, pixels in decode_batches(source.photos(indices), engine.image_size, self.config.batch_size,
                                                 self.config.decode_threads, skip):
                yield photos, *self.predict_pixels(pixels)
                bar.advance(len(photos))

    def predict_pixels(self, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """(p(dog), pet score or None) for decoded uint8 photos [n, s, s, 3]; with `tta`, averaged
        with the mirrored photos."""
        engine = self._require_engine()
        p_dog, pet = engine.scores(pixels)
        if self.tta:
            p_flip, pet_flip = engine.scores(np.ascontiguousarray(pixels[:, :, ::-1]))
            p_dog = (p_dog + p_flip) / 2
            pet = None if pet is None else (pet + pet_flip) / 2
        return p_dog, pet

    def explain(self, inputs: Any) -> list:
        """Grad-CAM Explanation (id, label, p_dog, heatmap [s, s] in [0, 1], pixels) per readable photo."""
        from .explain.run import explain

        return explain(self, inputs)

    def keras_model(self):
        """The Keras model (for Grad-CAM), loaded from the run when another engine serves predictions."""
        from .runtime.keras_engine import KerasEngine

        if isinstance(self.engine, KerasEngine):
            return self.engine.model
        if self.model_path is None:
            raise ModelError("Explanations need the Keras model; load the classifier from its run folder.")
        return KerasEngine.load(self.model_path).model

    def predict_photos(self, inputs: Any) -> list[Prediction]:
        """One Prediction per input item, in input order; unreadable items carry `error` instead of a label."""
        source = as_source(inputs)
        results: dict[int, Prediction] = {}

        def on_skip(photo, reason):
            results[photo.index] = Prediction(photo.id, photo.name, None, None, None, reason)

        for photos, p_dog, pet in self._batches(source, None, on_skip, "Predicting"):
            for row, photo in enumerate(photos):
                results[photo.index] = Prediction.scored(photo.id, photo.name, float(p_dog[row]),
                                                         None if pet is None else pet[row], self.decision)
        return [results[i] for i in sorted(results)]

    def predict_proba(self, inputs: Any) -> np.ndarray:
        """p(dog) per input item; NaN where the item could not be read."""
        return np.array([np.nan if p.p_dog is None else p.p_dog for p in self.predict_photos(inputs)])

    def predict(self, inputs: Any) -> list[str | None]:
        """'cat', 'dog' or 'neither' per input item; None where the item could not be read."""
        return [p.label for p in self.predict_photos(inputs)]

    def score(self, data: Any, indices=None) -> Scores:
        """Probabilities for every photo of a labelled source (or its `indices`), skipping unreadable ones."""
        source = as_labelled_source(data)
        labels = source.labels()
        chosen = labels if indices is None else labels[np.asarray(indices, dtype=np.int64)]
        bad = chosen[(chosen != 0) & (chosen != 1)]
        if bad.size:
            check_labels(chosen, source.description)  # raises the one-sentence label error
        report = DataReport(source.description, rows=len(chosen), counts=label_counts(chosen))
        ids, kept, p_all, pet_all = [], [], [], []
        for photos, p_dog, pet in self._batches(source, indices, report.skip, "Evaluating"):
            ids += [p.id for p in photos]
            kept += [p.index for p in photos]
            p_all.append(p_dog)
            pet_all.append(pet)
        kept_arr = np.array(kept, dtype=np.int64)
        p = np.concatenate(p_all) if p_all else np.zeros(0, dtype=np.float32)
        pets = np.concatenate(pet_all) if pet_all and all(x is not None for x in pet_all) else None
        return Scores(ids, kept_arr, labels[kept_arr] if kept else np.zeros(0, dtype=np.int64), p, report, pets)

    def evaluate(self, data: Any, ood: Any = None) -> dict[str, Any]:
        """accuracy (cat vs dog), precision, recall, f1, roc_auc, log_loss, ece, confusion_matrix, n, skipped,
        and what users are answered: refused (cats and dogs answered "neither"), answer_accuracy (answer
        = truth, "neither" counted wrong), answers (rows cat, dog; columns cat, dog, neither). With `ood`
        (photos with no cat or dog) also ood = {auroc, refused_ood, refused_in}."""
        from .evaluate.metrics import answer_metrics, classification_metrics, ood_metrics

        scores = self.score(data)
        if len(scores.p_dog) == 0:
            raise DataError(f"No photo of {scores.report.source} could be decoded, so there is nothing to evaluate.")
        metrics = classification_metrics(scores.labels, scores.p_dog, len(scores.report.skipped), self.decision)
        metrics.update(answer_metrics(scores.labels, scores.p_dog, scores.pet_score, self.decision))
        if ood is not None:
            if scores.pet_score is None or self.neither_threshold is None:
                raise ModelError("This model has no 'neither' score (trained before it existed, or without the ImageNet "
                                 "classifier weights); retrain it to evaluate --ood.")
            ood_pets = self.pet_scores(ood)
            metrics["ood"] = ood_metrics(scores.pet_score, ood_pets, self.neither_threshold)
        return metrics

    def pet_scores(self, inputs: Any) -> np.ndarray:
        """The pet score of every readable photo of `inputs` (labels not needed)."""
        source = as_source(inputs) if not isinstance(inputs, (str, os.PathLike)) else open_source(inputs, require_labels=False)
        pets = [pet for _, _, pet in self._batches(source, None, lambda photo, reason: None, "Scoring") if pet is not None]
        return np.concatenate(pets) if pets else np.zeros(0, dtype=np.float32)

    # ------------------------------------------------------------------ persistence

    def save(self, path: str | os.PathLike[str], extra: dict[str, Any] | None = None) -> Path:
        """Save to a run folder (model.keras + config.json, with `extra` facts) or to a single .keras file."""
        engine = self._require_engine()
        path = Path(path)
        model_path = path if path.suffix == ".keras" else path / MODEL_FILE
        with atomic_path(model_path) as tmp:
            engine.model.save(tmp)
        if path.suffix != ".keras":
            write_json(path / CONFIG_FILE, {"config": self.config.to_dict(), "threshold": self.threshold,
                                            "temperature": self.temperature, "neither_threshold": self.neither_threshold,
                                            "pet_slope": self.pet_slope, **(extra or {})})
        return model_path

    @classmethod
    def load(cls, path: str | os.PathLike[str], engine: str = "auto", threads: int | None = None,
             **options: Any) -> "Classifier":
        """Load a run folder or a .keras file. `engine`: keras, onnx, tflite, or auto (the fastest
        verified export in RUN/export/, else Keras)."""
        import json

        from .runtime.select import open_engine

        path = Path(path)
        model_path = path if path.suffix == ".keras" else path / MODEL_FILE
        if not model_path.parent.is_dir() or not (model_path.is_file() or (model_path.parent / "export").is_dir()):
            raise ModelError(f"No model at {model_path}; pass a run folder made by `catdog train` (runs/NAME) or a .keras file.")
        saved: dict[str, Any] = {}
        if (model_path.parent / CONFIG_FILE).is_file():
            saved = json.loads((model_path.parent / CONFIG_FILE).read_text())
        classifier = cls(TrainConfig.from_dict(saved.get("config", {})), threshold=saved.get("threshold", 0.5), **options)
        classifier.temperature = saved.get("temperature")
        classifier.neither_threshold = saved.get("neither_threshold")
        classifier.pet_slope = saved.get("pet_slope", 1.0)
        classifier.engine = open_engine(model_path, engine, threads)
        classifier.model_path = model_path
        return classifier


def _head_epochs(history: list[dict]) -> int:
    return sum(1 for row in history if row["phase"] == "head")


def as_labelled_source(data: Any) -> PhotoSource:
    if hasattr(data, "photos") and hasattr(data, "labels"):
        return data
    if isinstance(data, (str, os.PathLike)):
        return open_source(data, require_labels=True)
    raise UsageError(f"Training data must be a path, glob or hf:// name; got {type(data).__name__}.")
