"""The two fit loops: the head on cached features, then optional fine-tuning of the upper backbone."""

from __future__ import annotations

import numpy as np

from ..config import TrainConfig
from ..model.build import Networks
from .callbacks import rich_progress
from .pixel_store import PixelStore, keras_batches


def _history_rows(history, phase: str, first_epoch: int) -> list[dict]:
    metrics = history.history
    count = len(next(iter(metrics.values()), []))
    return [
        {"phase": phase, "epoch": first_epoch + i, **{k: float(v[i]) for k, v in metrics.items()}}
        for i in range(count)
    ]


def _early_stopping(config: TrainConfig):
    import keras

    return keras.callbacks.EarlyStopping(monitor="val_loss", patience=config.patience, restore_best_weights=True)


def fit_head(networks: Networks, train: tuple[np.ndarray, np.ndarray], val: tuple[np.ndarray, np.ndarray],
             config: TrainConfig) -> list[dict]:
    """Train the head on cached backbone features: the original recipe, without rerunning the backbone."""
    import keras

    head = networks.head
    head.compile(optimizer=keras.optimizers.Adam(config.learning_rate), loss="binary_crossentropy", metrics=["accuracy"])
    history = head.fit(
        train[0], train[1], batch_size=config.batch_size, epochs=config.max_epochs, validation_data=val,
        shuffle=True, verbose=0, callbacks=[_early_stopping(config), rich_progress("Training head", config.max_epochs)],
    )
    return _history_rows(history, "head", 1)


def augmentation_layers():
    import keras
    from keras import layers

    # Small changes a phone photo of a pet plausibly has; value_range matches our raw 0-255 input.
    return keras.Sequential(
        [
            layers.RandomFlip("horizontal"),
            layers.RandomRotation(0.05),
            layers.RandomZoom(0.1),
            layers.RandomContrast(0.1, value_range=(0, 255)),
        ],
        name="augmentation",
    )


def unfreeze_top(backbone, count: int) -> int:
    """Make the top `count` layers trainable, BatchNorm excepted; returns how many weights layers thaw."""
    import keras

    backbone.trainable = True
    thawed = 0
    for position, layer in enumerate(backbone.layers):
        upper = position >= len(backbone.layers) - count
        layer.trainable = upper and not isinstance(layer, keras.layers.BatchNormalization)
        thawed += int(layer.trainable and bool(layer.weights))
    return thawed


def fine_tune(networks: Networks, train: PixelStore, val: PixelStore, config: TrainConfig, first_epoch: int,
              initial_epoch: int = 0, extra_callbacks: list | None = None) -> list[dict]:
    """Fine-tune the top `config.fine_tune` backbone layers; `initial_epoch` > 0 continues a run that
    was stopped after that many epochs."""
    import keras

    unfreeze_top(networks.backbone, config.fine_tune)
    model = networks.model
    if config.augment:
        inputs = keras.Input(model.input_shape[1:], name="image")
        model = keras.Model(inputs, networks.model(augmentation_layers()(inputs)), name="fine_tune")
    model.compile(optimizer=keras.optimizers.Adam(config.fine_tune_learning_rate), loss="binary_crossentropy",
                  metrics=["accuracy"])
    train_batches = keras_batches(train, config.batch_size, shuffle=True, seed=config.seed)
    val_batches = keras_batches(val, config.batch_size, shuffle=False, seed=config.seed)
    try:
        history = model.fit(
            train_batches, validation_data=val_batches, epochs=config.fine_tune_epochs, initial_epoch=initial_epoch,
            verbose=0, callbacks=[_early_stopping(config), *(extra_callbacks or []),
                                  rich_progress("Fine-tuning", config.fine_tune_epochs, len(train_batches))],
        )
    finally:
        networks.backbone.trainable = False  # the saved model is an inference model
    return _history_rows(history, "fine_tune", first_epoch + initial_epoch)
