"""The fine-tuning strategies, one per mode, behind one small typed protocol (`Strategy`).

- HeadOnly: the original recipe; the frozen backbone's pooled features are cached.
- TopLayersOnPixels (`fine_tune`): the top N layers train on decoded pixels, with augmentation.
- TopBlocksOnActivations (`fine_tune_blocks`): the top N blocks train on activations cached below them.

A strategy gets what it needs from the fit it is part of as a `Tuning` (settings, class weights,
callbacks, the best checkpoint, Ctrl-C handling) and never calls back into the Trainer."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ..config import TrainConfig
from ..data.sources import PhotoSource
from ..model.build import Networks, feature_tail
from .cut import cut_layer, cut_tail, fine_tune_blocks, frozen_cut, image_to_cut, pooled_features
from .fit import fine_tune
from .pixel_store import PixelStore, store_outputs


@dataclass
class Part:
    """The training or the validation photos: the rows that decoded, their labels, and the cached
    arrays per view (views[0] the photos, views[1] their mirror images when asked for)."""

    source: PhotoSource
    kept: np.ndarray
    labels: np.ndarray
    views: list[np.ndarray]


@dataclass
class Tuning:
    """What fine-tuning needs from the fit it is part of."""

    config: TrainConfig
    class_weight: dict[int, float] | None  # per label (classes.class_weights); None: all weigh the same
    callbacks: Callable[[Networks, list[dict]], list]  # Ctrl-C handling and per-epoch checkpoints, given the history so far
    keep_best: Callable[[Networks, list[dict]], list[dict]]  # restore the best checkpoint's weights; its history
    fitting: Callable[[], AbstractContextManager[Any]]  # around each Keras fit: Ctrl-C stops it cleanly


class Strategy(Protocol):
    namespace_suffix: str  # the feature cache's namespace: what the cached arrays are

    def cached_model(self, networks: Networks) -> Any:
        """What runs once per photo and is cached: pixels -> the arrays this strategy trains on."""
        ...

    def pooled(self, networks: Networks, views: list[np.ndarray]) -> list[np.ndarray]:
        """The frozen backbone's pooled features of cached arrays (before any fine-tuning)."""
        ...

    def tune(self, tuning: Tuning, networks: Networks, history: list[dict], done: int, train: Part, val: Part,
             frozen_val: list[np.ndarray]) -> tuple[list[dict], np.ndarray]:
        """(history, class output of the validation views [n, views(, N)]) after fine-tuning (`done`
        epochs of it finished in an interrupted run)."""
        ...

    def frozen_cut(self, networks: Networks) -> str | None:
        """Where the tuned layers start (None: nothing tuned): the pet score's frozen branch runs from there."""
        ...

    def tail(self, networks: Networks, model: Any) -> Any:
        """The cached arrays -> the deployable model's output, sharing its layers (None: the cached
        arrays do not determine the output)."""
        ...


def head_epochs(history: list[dict]) -> int:
    return sum(1 for row in history if row["phase"] == "head")


def class_part(outputs: np.ndarray) -> np.ndarray:
    """A head's predictions as class outputs: p(class 1) [n] for two classes, [n, N] for more."""
    outputs = np.asarray(outputs)
    outputs = outputs.reshape(len(outputs), -1)
    return outputs[:, 0] if outputs.shape[1] == 1 else outputs


def head_outputs(networks: Networks, views: list[np.ndarray]) -> np.ndarray:
    """The class output of pooled features through the head, [n, views] ([n, views, N] for more classes)."""
    return np.stack([class_part(networks.head.predict(v, batch_size=256, verbose=0)) for v in views], axis=1)


class HeadOnly:
    """The original recipe: the frozen backbone's pooled features are cached; only the head trains."""

    namespace_suffix = ""

    def cached_model(self, networks: Networks) -> Any:
        return networks.features

    def pooled(self, networks: Networks, views: list[np.ndarray]) -> list[np.ndarray]:
        return views

    def tune(self, tuning: Tuning, networks: Networks, history: list[dict], done: int, train: Part, val: Part,
             frozen_val: list[np.ndarray]) -> tuple[list[dict], np.ndarray]:
        return history, head_outputs(networks, frozen_val)

    def frozen_cut(self, networks: Networks) -> str | None:
        return None

    def tail(self, networks: Networks, model: Any) -> Any:
        return feature_tail(model)


class TopLayersOnPixels(HeadOnly):
    """Fine-tune the top `fine_tune` layers on decoded pixels, with random augmentation when asked."""

    def __init__(self, layers: int):
        self.layers = layers

    def tune(self, tuning: Tuning, networks: Networks, history: list[dict], done: int, train: Part, val: Part,
             frozen_val: list[np.ndarray]) -> tuple[list[dict], np.ndarray]:
        config = tuning.config
        callbacks = tuning.callbacks(networks, history)
        with tempfile.TemporaryDirectory(prefix="catdog-") as scratch:
            train_store = PixelStore(train.source, train.kept, config.image_size, config.decode_threads, Path(scratch),
                                     "Decoding training photos")
            val_store = PixelStore(val.source, val.kept, config.image_size, config.decode_threads, Path(scratch),
                                   "Decoding validation photos")
            try:
                if done < config.fine_tune_epochs:
                    with tuning.fitting():
                        history = history + fine_tune(networks, train_store, val_store, config, head_epochs(history) + 1,
                                                      done, callbacks, tuning.class_weight)
                history = tuning.keep_best(networks, history)
                # The class output through the tuned model, from the store: the photos are decoded once.
                val_p = np.stack([class_part(store_outputs(networks.model, val_store, config.batch_size, mirror))
                                  for mirror in ((False, True) if len(val.views) > 1 else (False,))], axis=1)
            finally:
                train_store.close()
                val_store.close()
        return history, val_p

    def frozen_cut(self, networks: Networks) -> str | None:
        return frozen_cut(networks.backbone, self.layers)

    def tail(self, networks: Networks, model: Any) -> Any:
        return None  # the tuned layers sit below the cached pooled features


class TopBlocksOnActivations:
    """Fine-tune the top `fine_tune_blocks` MobileNetV2 blocks on activations cached below them: only
    the thawed blocks run each step."""

    def __init__(self, blocks: int):
        self.blocks = blocks
        self.namespace_suffix = f"-{cut_layer(blocks)}"

    def cached_model(self, networks: Networks) -> Any:
        return image_to_cut(networks, self.blocks)

    def pooled(self, networks: Networks, views: list[np.ndarray]) -> list[np.ndarray]:
        return [pooled_features(networks, self.blocks, v) for v in views]

    def tune(self, tuning: Tuning, networks: Networks, history: list[dict], done: int, train: Part, val: Part,
             frozen_val: list[np.ndarray]) -> tuple[list[dict], np.ndarray]:
        config = tuning.config
        if done < config.fine_tune_epochs:
            callbacks = tuning.callbacks(networks, history)
            with tuning.fitting():
                history = history + fine_tune_blocks(networks, train.views, train.labels, (val.views[0], val.labels), config,
                                                     head_epochs(history) + 1, done, callbacks, tuning.class_weight)
        history = tuning.keep_best(networks, history)
        return history, head_outputs(networks, self.pooled(networks, val.views))

    def frozen_cut(self, networks: Networks) -> str | None:
        return cut_layer(self.blocks)

    def tail(self, networks: Networks, model: Any) -> Any:
        return cut_tail(networks, self.blocks, model)


def strategy_for(config: TrainConfig) -> Strategy:
    if config.fine_tune_blocks:
        return TopBlocksOnActivations(config.fine_tune_blocks)
    if config.fine_tune:
        return TopLayersOnPixels(config.fine_tune)
    return HeadOnly()
