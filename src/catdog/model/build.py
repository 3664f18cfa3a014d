"""The classifier: raw 0–255 RGB in, MobileNetV2 scaling inside, frozen backbone, the original head."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

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
