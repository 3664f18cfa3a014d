"""The two fit loops: the head on cached features, then optional fine-tuning of the upper backbone."""

from __future__ import annotations

import numpy as np

from ..config import TrainConfig
from ..model.build import Networks
from .callbacks import rich_progress
from .pixel_store import PixelStore, keras_batches


def history_rows(history, phase: str, first_epoch: int) -> list[dict]:
    metrics = history.history
    count = len(next(iter(metrics.values()), []))
    return [
        {"phase": phase, "epoch": first_epoch + i, **{k: float(v[i]) for k, v in metrics.items()}}
        for i in range(count)
    ]


def early_stopping(config: TrainConfig):
    import keras

    return keras.callbacks.EarlyStopping(monitor="val_loss", patience=config.patience, restore_best_weights=True)


def loss_function(config: TrainConfig):
    """The seed's binary cross-entropy for two classes; categorical cross-entropy on integer labels for
    more (one-hot inside, so that label smoothing works and labels stay one number per photo everywhere)."""
    import keras
    from keras import ops

    if config.class_count == 2:
        return keras.losses.BinaryCrossentropy(label_smoothing=config.label_smoothing)
    classes, smoothing = config.class_count, config.label_smoothing

    def categorical_crossentropy(y_true, y_pred):
        onehot = ops.one_hot(ops.cast(ops.reshape(y_true, (-1,)), "int32"), classes)
        return keras.losses.categorical_crossentropy(onehot, y_pred, label_smoothing=smoothing)

    return categorical_crossentropy


def optimizer(config: TrainConfig, learning_rate):
    """Adam, as the original used; AdamW (decoupled weight decay) when the recipe asks for decay."""
    import keras

    if config.weight_decay:
        return keras.optimizers.AdamW(learning_rate, weight_decay=config.weight_decay)
    return keras.optimizers.Adam(learning_rate)


def fine_tune_optimizer(config: TrainConfig, steps_per_epoch: int, initial_epoch: int = 0):
    """The fine-tuning optimizer; with the cosine schedule, one warm-up epoch from 0 to the learning
    rate (the head's fresh gradients must not wreck the pretrained blocks), then cosine decay to 0.
    A resumed run starts its schedule where the interrupted one stopped."""
    import keras

    rate = config.fine_tune_learning_rate
    if config.schedule == "cosine":
        total = config.fine_tune_epochs * steps_per_epoch
        warmup = min(steps_per_epoch, total - 1)
        rate = keras.optimizers.schedules.CosineDecay(0.0, total - warmup, warmup_target=rate, warmup_steps=warmup)
    chosen = optimizer(config, rate)
    if initial_epoch:
        chosen.iterations.assign(initial_epoch * steps_per_epoch)
    return chosen


def fit_head(networks: Networks, train: tuple[np.ndarray, np.ndarray], val: tuple[np.ndarray, np.ndarray],
             config: TrainConfig, extra_callbacks: list | None = None, class_weight: dict[int, float] | None = None) -> list[dict]:
    """Train the head on cached backbone features: the original recipe, without rerunning the backbone.
    `class_weight` weighs each class's photos in the loss (classes.class_weights)."""
    head = networks.head
    head.compile(optimizer=optimizer(config, config.learning_rate), loss=loss_function(config), metrics=["accuracy"])
    history = head.fit(
        train[0], train[1], batch_size=config.batch_size, epochs=config.max_epochs, validation_data=val,
        shuffle=True, verbose=0, class_weight=class_weight,
        callbacks=[early_stopping(config), *(extra_callbacks or []), rich_progress("Training head", config.max_epochs)],
    )
    return history_rows(history, "head", 1)


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
              initial_epoch: int = 0, extra_callbacks: list | None = None, class_weight: dict[int, float] | None = None) -> list[dict]:
    """Fine-tune the top `config.fine_tune` backbone layers; `initial_epoch` > 0 continues a run that
    was stopped after that many epochs."""
    import keras

    unfreeze_top(networks.backbone, config.fine_tune)
    model = networks.model
    if config.augment:
        inputs = keras.Input(model.input_shape[1:], name="image")
        model = keras.Model(inputs, networks.model(augmentation_layers()(inputs)), name="fine_tune")
    train_batches = keras_batches(train, config.batch_size, shuffle=True, seed=config.seed)
    model.compile(optimizer=fine_tune_optimizer(config, len(train_batches), initial_epoch), loss=loss_function(config),
                  metrics=["accuracy"])
    val_batches = keras_batches(val, config.batch_size, shuffle=False, seed=config.seed)
    try:
        history = model.fit(
            train_batches, validation_data=val_batches, epochs=config.fine_tune_epochs, initial_epoch=initial_epoch,
            verbose=0, class_weight=class_weight, callbacks=[early_stopping(config), *(extra_callbacks or []),
                                  rich_progress("Fine-tuning", config.fine_tune_epochs, len(train_batches))],
        )
    finally:
        networks.backbone.trainable = False  # the saved model is an inference model
    return history_rows(history, "fine_tune", first_epoch + initial_epoch)
