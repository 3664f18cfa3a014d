"""The classifier: raw 0–255 RGB in, MobileNetV2 scaling inside, frozen backbone, the original head."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import TrainConfig
from .backbone import FEATURE_DIM, build_backbone

MODEL_NAME = "catdog_mobilenetv2"


@dataclass
class Networks:
    model: object  # image -> p(dog); what is saved
    features: object  # image -> pooled backbone features (shares layers with `model`)
    head: object  # features -> p(dog) (shares layers with `model`)
    backbone: object


def build_head(config: TrainConfig):
    import keras
    from keras import layers

    return keras.Sequential(
        [
            keras.Input((FEATURE_DIM,), name="features"),
            layers.Dropout(config.dropout),
            layers.Dense(config.dense_units, activation="relu"),
            layers.Dropout(config.dropout),
            layers.Dense(1, activation="sigmoid", dtype="float32"),
        ],
        name="head",
    )


def build_networks(config: TrainConfig, weights_path: Path) -> Networks:
    import keras
    from keras import layers

    size = config.image_size
    inputs = keras.Input((size, size, 3), name="image")
    # MobileNetV2's ImageNet weights expect [-1, 1]; scaling lives in the model so no caller can get it wrong.
    scaled = layers.Rescaling(1.0 / 127.5, offset=-1.0, name="scale_to_unit_range")(inputs)
    backbone = build_backbone(weights_path, size)
    # training=False keeps BatchNorm in inference mode even when upper layers are unfrozen later.
    feature_map = backbone(scaled, training=False)
    pooled = layers.GlobalAveragePooling2D(name="pool")(feature_map)
    head = build_head(config)
    outputs = head(pooled)
    model = keras.Model(inputs, outputs, name=MODEL_NAME)
    features = keras.Model(inputs, pooled, name="features")
    return Networks(model=model, features=features, head=head, backbone=backbone)


def backbone_of(model):
    """The MobileNetV2 sub-model inside a built or loaded classifier."""
    for layer in model.layers:
        if layer.name.startswith("mobilenetv2"):
            if hasattr(layer, "layers"):
                return layer
    raise ValueError("model has no MobileNetV2 backbone")


def feature_model_of(model):
    import keras

    return keras.Model(model.inputs, model.get_layer("pool").output, name="features")


OUTPUT_NAME = "p_dog_and_pet_score"
# At most this many training photos are kept as the reference set of the pet score: enough to cover
# the variety of cats and dogs (measured in docs/TRUST.md), small enough for phones (2048 x 1280 floats).
MAX_REFERENCE_PHOTOS = 2048


def fold_temperature(model, temperature: float) -> None:
    """Calibrate in place: sigmoid(z / T) == the head's last Dense with kernel and bias divided by T."""
    last = model.get_layer("head").layers[-1]
    kernel, bias = last.get_weights()
    last.set_weights([kernel / temperature, bias / temperature])


def reference_set(features: np.ndarray, seed: int) -> np.ndarray:
    """Unit-length pooled features of up to MAX_REFERENCE_PHOTOS training photos, seeded."""
    if len(features) > MAX_REFERENCE_PHOTOS:
        features = features[np.random.default_rng(seed).choice(len(features), MAX_REFERENCE_PHOTOS, replace=False)]
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    return (features / np.maximum(norms, 1e-12)).astype(np.float32)


def _pet_score_layers(reference: np.ndarray | None, model=None):
    """The layers that turn pooled features into the pet score: cosine similarity to the nearest
    reference (training) photo. Built new from `reference`, or taken from `model` to share them."""
    from keras import layers

    if model is not None:
        names = ("unit_features", "reference_similarity", "similarity_column", "nearest_reference")
        return [model.get_layer(name) for name in names]
    similarity = layers.Dense(len(reference), use_bias=False, trainable=False, name="reference_similarity")
    return [layers.UnitNormalization(name="unit_features"), similarity,
            layers.Reshape((len(reference), 1), name="similarity_column"), layers.GlobalMaxPooling1D(name="nearest_reference")]


def _apply(chain, tensor):
    for layer in chain:
        tensor = layer(tensor)
    return tensor


def with_pet_score(model, reference: np.ndarray):
    """The deployable model: [p(dog), pet score] per photo. The pet score is the cosine similarity of
    the photo's pooled backbone features to the nearest training photo's: photos with no cat or dog
    (flowers, cars, people) land far from every training photo. Chosen by measurement (docs/TRUST.md)."""
    import keras
    from keras import layers

    pooled = model.get_layer("pool").output
    p_dog = model.get_layer("head")(pooled)
    chain = _pet_score_layers(reference)
    pet = _apply(chain, pooled)
    chain[1].set_weights([reference.T])
    outputs = layers.Concatenate(name=OUTPUT_NAME)([p_dog, pet])
    return keras.Model(model.inputs, outputs, name=MODEL_NAME)


def feature_tail(model):
    """pooled features -> the model's output, sharing the model's own layers: when the backbone is
    frozen, cached features give exactly what the whole model gives, without rerunning it."""
    import keras
    from keras import layers

    features = keras.Input((FEATURE_DIM,), name="features")
    outputs = model.get_layer("head")(features)
    if any(layer.name == OUTPUT_NAME for layer in model.layers):
        outputs = layers.Concatenate()([outputs, _apply(_pet_score_layers(None, model), features)])
    return keras.Model(features, outputs, name="feature_tail")
