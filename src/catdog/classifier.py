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
from .data.pipeline import decode_batches
from .data.report import DataReport, label_counts
from .data.sources import CLASS_NAMES, MemorySource, PhotoSource, check_labels, open_inputs, open_source
from .data.split import stratified_split
from .errors import DataError, ModelError, UsageError
from .files import atomic_path, write_json
from .progress import log, progress_bar

MODEL_FILE = "model.keras"
CONFIG_FILE = "config.json"


NEITHER = "neither"


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
    def scored(cls, id: str, name: str, p_dog: float, pet_score: float | None = None, threshold: float = 0.5,
               neither_below: float | None = None) -> "Prediction":
        pet = None if pet_score is None else float(pet_score)
        if pet is not None and neither_below is not None and pet < neither_below:
            return cls(id, name, NEITHER, float(p_dog), 1.0 - pet, None, pet)
        is_dog = p_dog >= threshold
        return cls(id, name, CLASS_NAMES[int(is_dog)], float(p_dog), float(p_dog if is_dog else 1.0 - p_dog), None, pet)

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
                 threshold: float = 0.5, tta: bool | None = None, ray: dict[str, Any] | None = None, **settings: Any):
        base = config.to_dict() if config else {}
        self.config = TrainConfig.from_dict({**base, **settings})
        self.cache_path = cache_path
        self.threshold = threshold
        # Average each prediction with that of the mirrored photo; None: as the recipe says (config.tta).
        self.tta = self.config.tta if tta is None else tta
        self.ray = ray  # {"address": ..., "workers": ...}: frozen-backbone features computed on Ray
        self.temperature: float | None = None  # fitted on validation photos, folded into the model
        self.neither_threshold: float | None = None  # pet score below which a photo is "neither"
        self.calibration_: dict[str, Any] = {}
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
        from .model.build import build_networks
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

        def pooled(views: list[np.ndarray]) -> list[np.ndarray]:
            return [pooled_features(networks, blocks, v) for v in views] if blocks else views

        checkpoint = self.checkpointer.state() if self.checkpointer else {}
        history = self._fit_head_phase(networks, checkpoint, pooled(train_x), y_train, (pooled(val_x[:1])[0], y_val))  # the head validates on the photo view
        done = checkpoint.get("epochs_done", 0) if checkpoint.get("phase") == "fine_tune" else 0
        if config.fine_tune:
            history, outputs, val_labels = self._fine_tune_pixels(networks, history, checkpoint, done, source,
                                                                  train_kept, val_source, val_kept)
        else:
            if blocks:
                from .training.cut import fine_tune_blocks

                if done < config.fine_tune_epochs:
                    history += fine_tune_blocks(networks, train_x, y_train, (val_x[0], y_val), config,
                                                _head_epochs(history) + 1, done, self._checkpoint_callbacks(networks, history, checkpoint))
                history = self._keep_best(networks, history)
            outputs, val_labels = self._frozen_outputs(networks, pooled(train_x[:1])[0], pooled(val_x)), y_val.astype(int)

        self.history_ = history
        self.validation_ = (val_source, val_kept)
        self._fit_thresholds(networks.model, outputs[:, :, 0], outputs[:, :, 1].mean(axis=1) if outputs.shape[2] > 1 else None,
                             val_labels)
        return self

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

    def _frozen_outputs(self, networks, train_features: np.ndarray, val_views: list[np.ndarray]) -> np.ndarray:
        """Make the deployable engine, and its [n, views, outputs] for the validation photos from their
        pooled features: the backbone below the pool is what computed them, so no photo is rerun."""
        from .model.build import feature_tail, reference_set, with_pet_score
        from .runtime.keras_engine import KerasEngine

        self.engine = KerasEngine(with_pet_score(networks.model, reference_set(train_features, self.config.seed)))
        tail = feature_tail(self.engine.model)
        return np.stack([np.asarray(tail.predict(v, batch_size=256, verbose=0)) for v in val_views], axis=1)

    def _fine_tune_pixels(self, networks, history, checkpoint, done, source, train_kept, val_source, val_kept):
        """Fine-tune the top layers on decoded pixels (with random augmentation), then make the engine."""
        from .model.build import reference_set, with_pet_score
        from .runtime.keras_engine import KerasEngine
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
                # The backbone changed, so the pet score's reference features come from the tuned one,
                # and validation photos go through the whole model (from the store, decoded once).
                reference_features = store_outputs(networks.features, train_store, config.batch_size)
                self.engine = KerasEngine(with_pet_score(networks.model, reference_set(reference_features, config.seed)))
                outputs = np.stack([store_outputs(self.engine.model, val_store, config.batch_size, mirror)
                                    for mirror in ((False, True) if self.tta else (False,))], axis=1)
                return history, outputs, val_store.labels.astype(int)
            finally:
                train_store.close()
                val_store.close()

    def _fit_thresholds(self, model, val_p: np.ndarray, val_pet: np.ndarray | None, val_labels: np.ndarray) -> None:
        """Fit the temperature and the "neither" threshold on the validation photos only. `val_p` is
        [n, views]: with test-time augmentation the views are averaged after calibration, as predict does."""
        from .evaluate.calibration import apply_temperature, fit_temperature
        from .evaluate.metrics import expected_calibration_error
        from .model.build import fold_temperature

        if val_pet is not None:
            # At most `neither_rate` of the validation cats and dogs fall below the threshold.
            self.neither_threshold = float(np.quantile(val_pet, self.config.neither_rate))
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
                                                         None if pet is None else pet[row], self.threshold,
                                                         self.neither_threshold)
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
        """accuracy, precision, recall, f1, roc_auc, log_loss, ece, confusion_matrix, n, skipped; with
        `ood` (photos with no cat or dog) also ood = {auroc, refused_ood, refused_in}."""
        from .evaluate.metrics import classification_metrics, ood_metrics

        scores = self.score(data)
        if len(scores.p_dog) == 0:
            raise DataError(f"No photo of {scores.report.source} could be decoded, so there is nothing to evaluate.")
        metrics = classification_metrics(scores.labels, scores.p_dog, len(scores.report.skipped), self.threshold)
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
                                            **(extra or {})})
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
