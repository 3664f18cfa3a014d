"""Fine-tuning the top MobileNetV2 blocks on activations cached at the cut point below them.

Everything below the cut stays frozen, so its output for a photo never changes: it is computed
once (with LiteRT, like the frozen features) and cached. Each fine-tuning step then runs only the
thawed blocks on a 7x7 map, which makes fine-tuning practical on two CPU cores: the top three
blocks are a few seconds an epoch on 1,600 photos instead of minutes for the whole network."""

from __future__ import annotations

import math

import numpy as np

from ..config import TrainConfig
from ..model.build import Networks
from .callbacks import rich_progress

BLOCKS = 16  # MobileNetV2's inverted-residual blocks after the stem: block_1 ... block_16


def cut_layer(blocks: int) -> str:
    """The layer whose output feeds the top `blocks` blocks: the output of block 16 - blocks."""
    below = BLOCKS - blocks
    if below == 0:
        return "expanded_conv_project_BN"  # the stem's block, which Keras names without a number
    # A block with a residual connection ends at its add; the others (stride 2 or new width) at the projection.
    return f"block_{below}_add" if below in (2, 4, 5, 7, 8, 9, 11, 12, 14, 15) else f"block_{below}_project_BN"


def frozen_cut(backbone, tuned_layers: int) -> str:
    """The highest block output below the top `tuned_layers` layers (the backbone's input when the
    stem itself is tuned): everything under it stayed frozen."""
    names = [layer.name for layer in backbone.layers]
    first_tuned = len(names) - tuned_layers
    for blocks in range(1, BLOCKS + 1):
        if names.index(cut_layer(blocks)) < first_tuned:
            return cut_layer(blocks)
    return names[0]


def split_backbone(backbone, blocks: int):
    """(lower, upper) functional models over the backbone's own layers: image in [-1, 1] -> activations
    at the cut, and activations -> the backbone's feature map. Training `upper` trains the backbone."""
    import keras

    cut = backbone.get_layer(cut_layer(blocks)).output
    return keras.Model(backbone.input, cut, name="below_cut"), keras.Model(cut, backbone.output, name="above_cut")


def image_to_cut(networks: Networks, blocks: int):
    """raw 0-255 image -> activations at the cut (what is cached), through the model's own scaling."""
    import keras

    lower, _ = split_backbone(networks.backbone, blocks)
    inputs = keras.Input(networks.model.input_shape[1:], name="image")
    scaled = networks.model.get_layer("scale_to_unit_range")(inputs)
    return keras.Model(inputs, lower(scaled, training=False), name="image_to_cut")


def cut_to_outputs(networks: Networks, blocks: int):
    """(activations -> pooled features, activations -> p(dog)), sharing the model's layers."""
    import keras

    _, upper = split_backbone(networks.backbone, blocks)
    inputs = keras.Input(upper.input_shape[1:], name="activations")
    pooled = networks.model.get_layer("pool")(upper(inputs, training=False))
    return keras.Model(inputs, pooled, name="cut_to_features"), keras.Model(inputs, networks.head(pooled), name="cut_to_p_dog")


def cut_tail(networks: Networks, blocks: int, model):
    """activations at the cut -> the deployable `model`'s [p(dog), pet score], sharing its layers: the
    tuned blocks and head give p(dog), the frozen copy of the same blocks gives the pet score."""
    import keras
    from keras import layers

    from ..model.build import FROZEN_HEAD, FROZEN_POOL, MEAN_LOGIT, PET_SCORE_LAYER

    _, p_dog = cut_to_outputs(networks, blocks)
    inputs = keras.Input(p_dog.input_shape[1:], name="activations")
    frozen_pooled = model.get_layer(FROZEN_POOL)(model.get_layer("frozen_top")(inputs, training=False))
    pet = model.get_layer(PET_SCORE_LAYER)(frozen_pooled)
    answer = p_dog(inputs)
    if any(layer.name == MEAN_LOGIT for layer in model.layers):
        answer = model.get_layer(MEAN_LOGIT)([answer, model.get_layer(FROZEN_HEAD)(frozen_pooled)])
    return keras.Model(inputs, layers.Concatenate()([answer, pet]), name="cut_tail")


def view_batches(views: list[np.ndarray], labels: np.ndarray, batch_size: int, seed: int):
    """A Keras PyDataset over cached activations of several views (photo, mirror, ...): each epoch a
    fresh order and, for every photo, one of its views at random."""
    import keras

    class ViewBatches(keras.utils.PyDataset):
        def __init__(self):
            super().__init__()
            self._rng = np.random.default_rng(seed)
            self.on_epoch_end()

        def __len__(self) -> int:
            return math.ceil(len(labels) / batch_size)

        def __getitem__(self, index: int):
            rows = self._order[index * batch_size : (index + 1) * batch_size]
            picked = self._view[rows]
            batch = np.empty((len(rows), *views[0].shape[1:]), dtype=np.float32)
            for view, activations in enumerate(views):
                batch[picked == view] = activations[rows[picked == view]]
            return batch, labels[rows]

        def on_epoch_end(self) -> None:
            self._order = self._rng.permutation(len(labels))
            self._view = self._rng.integers(0, len(views), len(labels))

    return ViewBatches()


def fine_tune_blocks(networks: Networks, train_views: list[np.ndarray], train_labels: np.ndarray,
                     val: tuple[np.ndarray, np.ndarray], config: TrainConfig, first_epoch: int,
                     initial_epoch: int = 0, extra_callbacks: list | None = None,
                     class_weight: dict[int, float] | None = None) -> list[dict]:
    """Fine-tune the top `config.fine_tune_blocks` blocks and the head on cached activations; the
    saved model (which shares these layers) changes with them. `initial_epoch` > 0 continues."""
    import keras

    from .fit import early_stopping, fine_tune_optimizer, history_rows, loss_function

    _, upper = split_backbone(networks.backbone, config.fine_tune_blocks)
    _, model = cut_to_outputs(networks, config.fine_tune_blocks)
    upper.trainable = True  # does not reach the layers of a model cut from another one: set each
    for layer in upper.layers:
        # BatchNorm stays in inference mode (and frozen), as Keras' transfer-learning guide advises.
        layer.trainable = not isinstance(layer, keras.layers.BatchNormalization)
    batches = view_batches(train_views, train_labels, config.batch_size, config.seed + initial_epoch)
    optimizer = fine_tune_optimizer(config, len(batches), initial_epoch)
    model.compile(optimizer=optimizer, loss=loss_function(config), metrics=["accuracy"])
    try:
        history = model.fit(
            batches, validation_data=val, batch_size=config.batch_size, epochs=config.fine_tune_epochs,
            initial_epoch=initial_epoch, verbose=0, class_weight=class_weight,
            callbacks=[early_stopping(config), *(extra_callbacks or []),
                       rich_progress("Fine-tuning", config.fine_tune_epochs, len(batches))],
        )
    finally:
        for layer in upper.layers:
            layer.trainable = False  # the saved model is an inference model
    return history_rows(history, "fine_tune", first_epoch + initial_epoch)


def pooled_features(networks: Networks, blocks: int, activations: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Pooled backbone features from cut activations, through the upper blocks as they are now."""
    features, _ = cut_to_outputs(networks, blocks)
    return np.asarray(features.predict(activations, batch_size=batch_size, verbose=0))
