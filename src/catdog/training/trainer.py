"""The fit loop: cache what the frozen part of the backbone computes (once per photo), train the head
on it, fine-tune with one strategy per mode (training.strategies), then fit the pet score, assemble
the deployable model and calibrate it. `Classifier.fit` and `catdog.train` call `Trainer.fit`."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import keras
import numpy as np

from ..classes import class_weights, is_cat_dog
from ..config import TrainConfig
from ..data.data_report import DataReport, label_counts
from ..data.sources import PhotoSource, labelled
from ..data.split import stratified_split
from ..decide import Decision, refusal_points
from ..errors import DataError, ModelError, UsageError
from ..evaluate.calibration import apply_temperature, fit_temperature, mean_logit
from ..evaluate.metrics import expected_calibration_error
from ..model.backbone import resolve_classifier_weights, resolve_weights
from ..model.build import FROZEN_HEAD, Networks, build_head, build_networks, deployable_model, fold_temperature
from ..model.pet_score import PET_SLOPE, PetScorer, fit_pet_scorer, imagenet_classifier
from ..progress import log
from .backbone_engine import BackboneFeatures, converted_backbone, feature_namespace
from .checkpoint import Checkpointer
from .feature_cache import FeatureCache
from .features import FEATURE_BATCH, extract_features, view_function, view_namespace
from .fit import fit_head
from .interrupt import TrainingInterrupt
from .strategies import Part, Tuning, class_part, head_epochs, strategy_for


@dataclass
class Fitted:
    """What a fit produces; Classifier keeps it as its fitted attributes."""

    model: Any  # the deployable keras.Model: raw pixels -> [class output, pet score]
    classes: tuple[str, ...]  # the class names, label order
    history: list[dict]
    data_report: DataReport
    validation: tuple[PhotoSource, np.ndarray]
    temperature: float | None
    calibration: dict[str, Any]
    neither_threshold: float
    pet_slope: float
    pet_scorer: PetScorer
    neither_points: list[list[float]]  # [rate, threshold] operating points (decide.refusal_points)
    # Scores of further photos from the frozen part's cache through the rest of the model (None when
    # the whole model must run: fine-tuning on pixels changes layers the cache does not hold).
    cached_scores: CachedScores | None = None


class Trainer:
    """Trains one classifier. `checkpointer` makes the fit crash-safe and resumable, `ray`
    ({"address", "workers"}) computes the frozen features on Ray, `cache_path` is the feature cache."""

    def __init__(self, config: TrainConfig, *, tta: bool = False, cache_path: str | os.PathLike[str] | None = None,
                 checkpointer: Checkpointer | None = None, ray: dict[str, Any] | None = None):
        self.config = config
        self.tta = tta
        self.cache_path = cache_path
        self.checkpointer = checkpointer
        self.ray = ray
        self.strategy = strategy_for(config)
        self.interrupt = TrainingInterrupt()
        self.class_weight: dict[int, float] | None = None  # per label, from config.class_weight and the training photos

    def fit(self, source: PhotoSource, validation_source: PhotoSource | None = None) -> Fitted:
        with self.interrupt.installed():
            return self._fit(source, validation_source)

    def _fit(self, source: PhotoSource, validation_source: PhotoSource | None) -> Fitted:
        classes, labels = labelled(source, self.config.classes)
        # From here on the settings name the classes: the head's size and config.json follow them.
        config = self.config = replace(self.config, classes=classes)
        keras.utils.set_random_seed(config.seed)
        if validation_source is None:
            train_indices, val_indices = stratified_split(labels, config.val_split, config.seed)
            val_source, val_labels = source, labels
        else:
            if self.ray is not None:
                raise UsageError("Training on Ray computes the frozen features of its own data only; leave "
                                 "validation_data out (or train without Ray).")
            val_source, val_labels = validation_source, labelled(validation_source, classes)[1]
            train_indices, val_indices = np.arange(len(labels)), np.arange(len(val_labels))
        if config.exclude:
            train_indices, val_indices = self._without_excluded(labels, train_indices, val_indices, validation_source is None)
        report = DataReport(source.description, rows=len(labels), counts=label_counts(labels, classes))

        weights = resolve_weights(config.weights)
        networks = build_networks(config, weights)
        cache = ViewCache(self, networks, weights, source, report)
        train = cache.part(source, labels, train_indices, views=2 if config.mirror else 1)
        # The validation photos' mirror images calibrate what test-time augmentation will predict.
        val = cache.part(val_source, val_labels, val_indices, views=2 if self.tta else 1)
        log(f"Training on {len(train.kept)} photos, validating on {len(val.kept)} ({len(report.skipped)} skipped).")
        self.class_weight = class_weights(config.class_weight, classes, train.labels.astype(np.int64))
        if self.class_weight:
            log("Class weights: " + ", ".join(f"{classes[i]} {w:.3g}" for i, w in self.class_weight.items()))

        # Frozen pooled features of every view, before any fine-tuning: the head phase trains on them
        # and the pet score is fitted on them.
        frozen_train = self.strategy.pooled(networks, train.views)
        frozen_val = self.strategy.pooled(networks, val.views)
        checkpoint = self.checkpointer.state() if self.checkpointer else {}
        history = self._head_phase(networks, checkpoint, frozen_train, train.labels, (frozen_val[0], val.labels))
        done = checkpoint.get("epochs_done", 0) if checkpoint.get("phase") == "fine_tune" else 0
        tuning = Tuning(config, self.class_weight, self.fine_tune_callbacks, self.keep_best, self.interrupt.fitting)
        history, val_p = self.strategy.tune(tuning, networks, history, done, train, val, frozen_val)

        frozen_head = None
        if config.frozen_head_average:
            frozen_head, val_p = self._frozen_head(frozen_train, train.labels, frozen_val, val.labels, val_p)
        scorer, threshold, points = self._fit_neither(frozen_train, train.labels, frozen_val)
        model = deployable_model(networks, scorer, weights, self.strategy.frozen_cut(networks), frozen_head)
        temperature, calibration = self._fit_temperature(model, val_p, val.labels.astype(int))
        tail = self.strategy.tail(networks, model)
        return Fitted(model, classes, history, report, (val.source, val.kept), temperature, calibration, threshold, PET_SLOPE, scorer,
                      points, None if tail is None else CachedScores(cache, tail))

    def _without_excluded(self, labels: np.ndarray, train_indices: np.ndarray, val_indices: np.ndarray,
                          same_source: bool) -> tuple[np.ndarray, np.ndarray]:
        """Drop the excluded rows after the split, so the other photos keep the split they had."""
        excluded = np.asarray(self.config.exclude)
        if excluded.max() >= len(labels):
            raise UsageError(f"--exclude lists row {int(excluded.max())}, but the training data has {len(labels)} rows (0 to "
                             f"{len(labels) - 1}); pass the exclude list made for this data.")
        train_indices = train_indices[~np.isin(train_indices, excluded)]
        if same_source:
            val_indices = val_indices[~np.isin(val_indices, excluded)]
        log(f"Leaving out {len(excluded)} row(s) listed by --exclude.")
        return train_indices, val_indices

    # ---------------------------------------------------------------- phases

    def _head_phase(self, networks: Networks, checkpoint: dict, train_views: list[np.ndarray], y_train: np.ndarray,
                    val: tuple[np.ndarray, np.ndarray]) -> list[dict]:
        """The original recipe's phase: the head on pooled features (of every training view)."""
        if checkpoint:  # resuming: the head phase (at least) finished in an earlier, interrupted run
            assert self.checkpointer is not None
            log(f"Resuming from {self.checkpointer.model_path} ({checkpoint['phase']} phase, "
                f"{checkpoint['epochs_done']} fine-tuning epoch(s) done).")
            self.checkpointer.restore_weights(networks.model)
            return checkpoint["history"]
        with self.interrupt.fitting():
            history = fit_head(networks, (np.concatenate(train_views), np.tile(y_train, len(train_views))), val, self.config,
                               [self.interrupt.callback()], self.class_weight)
        if self.checkpointer:
            self.checkpointer.save(networks.model, "head", history, 0, min(row["val_loss"] for row in history), improved=True)
        return history

    def fine_tune_callbacks(self, networks: Networks, history: list[dict]) -> list:
        """Ctrl-C handling and, with a checkpointer, a checkpoint after every fine-tuning epoch."""
        callbacks: list = [self.interrupt.callback()]
        if self.checkpointer:
            state = self.checkpointer.state()
            best = state.get("best_val_loss", min(row["val_loss"] for row in history))
            callbacks.append(self.checkpointer.keras_callback(networks.model, history, head_epochs(history) + 1, best,
                                                              lambda: self.interrupt.requested))
        return callbacks

    def keep_best(self, networks: Networks, history: list[dict]) -> list[dict]:
        """The checkpoint holds the lowest validation loss over both phases (and over interrupted
        runs): that is the model we keep."""
        if not self.checkpointer:
            return history
        self.checkpointer.restore_weights(networks.model)
        return self.checkpointer.state()["history"]

    def _fit_neither(self, train_views: list[np.ndarray], y_train: np.ndarray,
                     val_views: list[np.ndarray]) -> tuple[PetScorer, float, list[list[float]]]:
        """The pet score on frozen pooled features, its "neither" threshold (`neither_rate` of the
        held-out training and validation photos fall under it, docs/TRUST.md) and the other operating
        points a user can pick with --refuse."""
        try:
            imagenet = imagenet_classifier(resolve_classifier_weights(self.config.weights))
        except ModelError as exc:
            log(f"Warning: {exc} Without it, 'neither' rests on similarity and density alone, which refuses more "
                "cats and dogs of breeds the training photos lack.")
            imagenet = None
        # With test-time augmentation the pet score is averaged over the photo and its mirror image:
        # the threshold is chosen on the same average where both views were computed.
        views = 2 if self.tta and len(train_views) > 1 and len(val_views) > 1 else 1
        scorer, threshold, held_out, averages = fit_pet_scorer(train_views[:views], y_train, imagenet, self.config.seed,
                                                               val_views[:views], self.config.neither_rate,
                                                               cat_dog=is_cat_dog(self.config.classes))
        decision = Decision(neither_below=threshold, classes=self.config.classes)
        refused = float(np.mean(decision.refused(held_out)))
        log(f"'{decision.refusal}' threshold {threshold:.3f}: {refused:.2%} of {len(held_out)} held-out training photos under it.")
        return scorer, threshold, refusal_points(averages, self.config.neither_rate, threshold)

    def _frozen_head(self, train_views: list[np.ndarray], y_train: np.ndarray, val_views: list[np.ndarray],
                     y_val: np.ndarray, tuned_val_p: np.ndarray) -> tuple[Any, np.ndarray]:
        """A head trained on the frozen backbone's pooled features (as the head phase trains, on every
        view), and the validation class outputs [n, views(, N)] of the two heads' mean logit."""
        head = build_head(self.config, name=FROZEN_HEAD)
        with self.interrupt.fitting():
            fit_head(Networks(model=None, features=None, head=head, backbone=None),
                     (np.concatenate(train_views), np.tile(y_train, len(train_views))), (val_views[0], y_val), self.config,
                     [self.interrupt.callback()], self.class_weight)
        frozen_p = np.stack([class_part(head.predict(v, batch_size=256, verbose=0)) for v in val_views], axis=1)
        # As model.layers.MeanLogit computes it in the saved model.
        return head, mean_logit([tuned_val_p, frozen_p], self.config.class_count)

    def _fit_temperature(self, model, val_p: np.ndarray, val_labels: np.ndarray) -> tuple[float | None, dict]:
        """Temperature scaling on the validation photos only, folded into the head (so into the
        deployable model and every export). `val_p` is [n, views] ([n, views, N] for more than two
        classes): with test-time augmentation the views are averaged after calibration, as predict does."""
        if not self.config.calibrate:
            return None, {}
        classes = self.config.class_count
        temperature = fit_temperature(val_p, val_labels, classes)
        fold_temperature(model, temperature)
        return temperature, {
            "temperature": temperature,
            "validation_ece_before": expected_calibration_error(val_labels, val_p.mean(axis=1)),
            "validation_ece_after": expected_calibration_error(val_labels, apply_temperature(val_p, temperature, classes).mean(axis=1)),
        }


class ViewCache:
    """What the frozen part computes for each photo that decodes (or its mirror image), cached on
    disk by photo content and backbone; computed on Ray first when the trainer has a Ray cluster."""

    def __init__(self, trainer: Trainer, networks: Networks, weights: Path, source: PhotoSource, report: DataReport):
        config = trainer.config
        self.trainer, self.report = trainer, report
        self.cached_model = trainer.strategy.cached_model(networks)
        self.namespace = feature_namespace(config, weights)
        directory = FeatureCache.directory(trainer.cache_path)
        # LiteRT opens on the first photo missing from the cache: after training.prefetch, often never.
        self.compute = BackboneFeatures(config, weights, directory, self.cached_model)
        self.weights = weights
        self.on_ray: dict[int, np.ndarray] | None = None  # the features of `source`'s photos, from Ray
        self.ray_source = source
        if trainer.ray is not None:
            self.on_ray = self._on_ray(source, directory)

    def _on_ray(self, source: PhotoSource, directory: Path) -> dict[int, np.ndarray]:
        from .ray_features import extract_features_ray  # Ray is an optional extra

        if self.trainer.config.fine_tune_blocks:
            raise UsageError("Training on Ray caches pooled features; --fine-tune-blocks needs activations below the "
                             "blocks, so train without --ray.")
        cache = FeatureCache(self.trainer.cache_path, namespace=self.namespace)
        try:
            backbone_file = converted_backbone(self.trainer.config, self.weights, directory)
            assert self.trainer.ray is not None
            return extract_features_ray(source, backbone_file, self.trainer.config.image_size, cache, self.report, **self.trainer.ray)
        finally:
            cache.close()

    def part(self, source: PhotoSource, labels: np.ndarray, indices: np.ndarray, views: int) -> Part:
        kept, photos = self.view(source, indices)
        arrays = [photos] + [self.view(source, kept, "mirror")[1] for _ in range(views - 1)]
        return Part(source, kept, labels[kept].astype(np.float32), arrays)

    def view(self, source: PhotoSource, indices: np.ndarray, transform: str | None = None,
             report: DataReport | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The rows of `indices` that decode, and what the frozen part computes for each photo, or for
        each photo after one of features.PIXEL_TRANSFORMS (cached apart). Photos that do not decode go to
        `report` (the training data's report by default)."""
        config = self.trainer.config
        if self.on_ray is not None and transform is None and source is self.ray_source:
            # (transformed views, and other sources such as a test file, are computed here)
            found = self.on_ray
        else:
            compute = view_function(self.compute, transform)
            cache = FeatureCache(self.trainer.cache_path, namespace=view_namespace(self.namespace, transform))
            try:
                # The photo view reports what failed to decode; another view would only repeat it.
                skipped = DataReport(source.description) if transform else (report or self.report)
                found = extract_features(source, indices, compute, cache, skipped, config.image_size, FEATURE_BATCH,
                                         config.decode_threads, f"Features ({transform})" if transform else "Backbone features")
            finally:
                cache.close()
        kept = np.array([i for i in indices if int(i) in found], dtype=np.int64)
        if kept.size == 0:
            raise DataError(f"No photo of {source.description} could be decoded; see the skipped list with `catdog data inspect`.")
        shape = tuple(self.cached_model.output_shape[1:])
        return kept, np.stack([found[int(i)].reshape(-1) for i in kept]).reshape(len(kept), *shape)


class CachedScores:
    """[p(dog), pet score] of photos from what the frozen part computes for them (cached, run with
    LiteRT) through the rest of the trained model: what the whole model gives, a few times faster
    than running it in Keras and without Keras' memory for it. Evaluating right after training reads
    the validation photos from the cache and computes each test photo once."""

    def __init__(self, views: ViewCache, tail):
        self.views, self.tail = views, tail

    def __call__(self, source: PhotoSource, indices: np.ndarray | None, report: DataReport,
                 second_look: Callable[[np.ndarray], np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(rows that decode, outputs [n, 2]); `second_look(outputs)` names the rows to average with
        their mirror image's, as Classifier.predict_pixels does."""
        rows = np.arange(len(source)) if indices is None else np.asarray(indices, dtype=np.int64)
        kept, arrays = self.views.view(source, rows, report=report)
        outputs = self._outputs(arrays)
        again = second_look(outputs) if second_look is not None else np.zeros(0, dtype=np.int64)
        if again.size:
            outputs[again] = (outputs[again] + self._outputs(self.views.view(source, kept[again], "mirror")[1])) / 2
        return kept, outputs

    def _outputs(self, arrays: np.ndarray) -> np.ndarray:
        return np.asarray(self.tail.predict(arrays, batch_size=256, verbose=0), dtype=np.float32).reshape(len(arrays), -1)


def frozen_features(source: PhotoSource, config: TrainConfig | None = None, *, transforms: tuple[str | None, ...] = (None,),
                    cache_path: str | os.PathLike[str] | None = None, report: DataReport | None = None) -> tuple[np.ndarray, list[np.ndarray]]:
    """Pooled features of the frozen ImageNet backbone for every photo of `source` that decodes, one
    array [n, 1280] per view in `transforms` (None: the photo itself): (rows kept, arrays). They come
    from and go into the cache training uses, so a photo trained on once is not decoded again.
    Photos that do not decode go to `report`."""
    config = config or TrainConfig()
    trainer = Trainer(config, cache_path=cache_path)
    weights = resolve_weights(config.weights)
    views = ViewCache(trainer, build_networks(config, weights), weights, source, report or DataReport(source.description))
    kept, first = views.view(source, np.arange(len(source)), transforms[0])
    return kept, [first] + [views.view(source, kept, transform)[1] for transform in transforms[1:]]
