"""A run's frozen features computed before TensorFlow is imported, so training never holds both.

TensorFlow's import alone is ~690 MB; LiteRT, four decoding threads and parquet row groups beside it
took `catdog train` over 1 GB on photos it had not seen. Here, with LiteRT only, every photo the run
will train, validate and be tested on, and the --ood photos it measures "neither" on, go into the
feature cache (the same features the trainer would compute: same backbone file, engine, batches and
cache); the memory is handed back, and the trainer that follows reads every feature from the cache.
A first run converts the backbone in a child process first (backbone_engine.converted_backbone).

Nothing is computed here when features come from Keras (--feature-engine keras, or LiteRT not
installed); the trainer then computes them as it always has. On Ray the training photos' features
are computed by the cluster (the trainer's job); only the test and --ood photos are computed here."""

from __future__ import annotations

import gc
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..config import TrainConfig
from ..data.data_report import DataReport
from ..data.sources import PhotoSource, labelled
from ..data.split import stratified_split
from ..errors import ModelError
from ..memory import release_freed_memory
from ..model.backbone import resolve_weights
from ..progress import log
from .backbone_engine import BackboneFeatures, converted_backbone, feature_namespace, require_litert
from .feature_cache import FeatureCache
from .features import FEATURE_BATCH, cache_features, view_function, view_namespace


def prefetch_features(config: TrainConfig, source: PhotoSource, others: Sequence[PhotoSource] = (), *,
                      cache_path: str | os.PathLike[str] | None = None, ray: dict[str, Any] | None = None) -> None:
    """Fill the feature cache for training on `source` with `config`, and for scoring every photo of
    `others` (the test photos, and the photos with no cat or dog that --ood measures "neither" on)."""
    if config.feature_engine == "keras":
        return
    weights = resolve_weights(config.weights)
    directory = FeatureCache.directory(cache_path)
    try:
        require_litert()
        # Converted first, while this process is at its smallest: the child and it are both in memory.
        converted_backbone(config, weights, directory)
    except ModelError:
        if config.feature_engine == "tflite":
            raise
        return  # auto: the trainer says so and computes the features with Keras
    compute = BackboneFeatures(config, weights, directory)
    namespace = feature_namespace(config, weights)
    log("Computing the frozen backbone's features before loading TensorFlow …")

    def fill(photos: PhotoSource, rows: np.ndarray | None, transform: str | None = None) -> list[int]:
        """The rows whose photo decodes, after making sure the cache holds their features."""
        kept: list[int] = []
        cache = FeatureCache(cache_path, namespace=view_namespace(namespace, transform))
        try:
            cache_features(photos, rows, view_function(compute, transform), cache, DataReport(photos.description),
                           config.image_size, FEATURE_BATCH, config.decode_threads,
                           f"Features ({transform})" if transform else "Backbone features", lambda index, _: kept.append(index))
        finally:
            cache.close()
        return kept

    try:
        if ray is None:
            train_rows, val_rows = training_rows(config, source)
            kept = set(fill(source, np.concatenate([train_rows, val_rows])))
            # The mirror images the trainer asks for: of the training photos with --mirror, of the
            # validation photos with test-time augmentation (they calibrate it).
            mirrored = [rows for rows, wanted in ((train_rows, config.mirror), (val_rows, config.tta)) if wanted]
            if mirrored:
                fill(source, np.array(sorted(kept.intersection(np.concatenate(mirrored).tolist())), dtype=np.int64), "mirror")
        for other in others:
            fill(other, None)
    finally:
        compute.close()  # LiteRT's tensor arena and the decoded batches go before TensorFlow comes
        gc.collect()
        release_freed_memory()


def training_rows(config: TrainConfig, source: PhotoSource) -> tuple[np.ndarray, np.ndarray]:
    """(training rows, validation rows) as Trainer splits `source`: stratified and seeded, without
    the rows --exclude leaves out."""
    labels = labelled(source, config.classes)[1]
    train_rows, val_rows = stratified_split(labels, config.val_split, config.seed)
    excluded = np.asarray(config.exclude, dtype=np.int64)
    return train_rows[~np.isin(train_rows, excluded)], val_rows[~np.isin(val_rows, excluded)]
