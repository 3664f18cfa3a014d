"""The classifier: raw 0–255 RGB in, MobileNetV2 scaling inside, frozen backbone, the original head
(Dense 1, sigmoid: p(class 1) for two classes; Dense N, softmax for more)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import TrainConfig
from ..errors import ModelError
from .backbone import FEATURE_DIM, build_backbone
from .pet_score import PetScorer

MODEL_NAME = "catdog_mobilenetv2"


@dataclass
class Networks:
    model: Any  # image -> class output (keras.Model; the deployable model adds the "none of these" score)
    features: Any  # image -> pooled backbone features (shares layers with `model`)
    head: Any  # features -> class output (shares layers with `model`)
    backbone: Any


def build_head(config: TrainConfig, name: str = "head"):
    """The seed's head: dropout, Dense(64, relu), dropout, then one sigmoid unit for two classes (the
    seed's, kept so that every cat/dog figure stays as it was) or N softmax units for more."""
    import keras
    from keras import layers

    classes = config.class_count
    # Layers are made in this order on purpose: each one draws its initial weights' seed as it is made,
    # so the order fixes what a seeded run trains (and keeps every cat/dog run as it was).
    return keras.Sequential(
        [
            keras.Input((FEATURE_DIM,), name="features"),
            layers.Dropout(config.dropout),
            layers.Dense(config.dense_units, activation="relu"),
            layers.Dropout(config.dropout),
            layers.Dense(1, activation="sigmoid", dtype="float32") if classes == 2
            else layers.Dense(classes, activation="softmax", dtype="float32"),
        ],
        name=name,
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
    """The MobileNetV2 sub-model inside a built or loaded classifier (with a fine-tuned top, it gives
    the activations at the cut as a second output)."""
    for layer in model.layers:
        if layer.name.startswith("mobilenetv2"):
            if hasattr(layer, "layers"):
                return layer
    raise ModelError("This model has no MobileNetV2 backbone; pass a model trained with `catdog train`.")


def feature_model_of(model):
    import keras

    return keras.Model(model.inputs, model.get_layer("pool").output, name="features")


OUTPUT_NAME = "p_dog_and_pet_score"
PET_SCORE_LAYER = "pet_score"
FROZEN_POOL = "frozen_pool"
FROZEN_HEAD = "frozen_head"
MEAN_LOGIT = "mean_logit"


def fold_temperature(model, temperature: float) -> None:
    """Calibrate in place: sigmoid(z / T) (softmax(z / T) for more classes) == the head's last Dense
    with kernel and bias divided by T (in both heads when the answer averages their logits: the mean of
    z / T is the mean of z over T)."""
    for name in ("head", FROZEN_HEAD):
        if name == "head" or any(layer.name == name for layer in model.layers):
            last = model.get_layer(name).layers[-1]
            kernel, bias = last.get_weights()
            last.set_weights([kernel / temperature, bias / temperature])


def deployable_model(networks: Networks, scorer: PetScorer, weights_path: Path, cut: str | None = None, frozen_head=None):
    """The model that is saved and exported: raw pixels -> [class output, "none of these" score] per
    photo ([p(class 1), score] for two classes, [p_1..p_N, score] for more).

    The class output comes from the classifier as trained. The pet score always comes from the *frozen*
    ImageNet backbone's pooled features, because its ImageNet classifier and its statistics were fitted
    on those: with a frozen backbone that is the classifier's own pool; when the top of the backbone
    was fine-tuned, a frozen copy of the layers above `cut` (built again from `weights_path`) runs
    beside the tuned ones on the same activations, so the layers below the cut run once. With
    `frozen_head` (a head trained on those frozen features), the class output averages the two heads' logits."""
    import keras
    from keras import layers

    from .layers import PetScore

    pet_layer = PetScore.from_scorer(scorer, name=PET_SCORE_LAYER)
    if cut is None:
        pooled = networks.model.get_layer("pool").output
        outputs = layers.Concatenate(name=OUTPUT_NAME)([networks.head(pooled), pet_layer(pooled)])
        return keras.Model(networks.model.inputs, outputs, name=MODEL_NAME)
    size = int(networks.model.input_shape[1])
    tuned = networks.backbone
    # One backbone call gives both its feature map and the activations at the cut.
    backbone = keras.Model(tuned.input, [tuned.output, tuned.get_layer(cut).output], name=tuned.name + "_with_cut")
    frozen = build_backbone(weights_path, size)
    frozen_top = keras.Model(frozen.get_layer(cut).output, frozen.output, name="frozen_top")
    inputs = keras.Input((size, size, 3), name="image")
    feature_map, activations = backbone(networks.model.get_layer("scale_to_unit_range")(inputs), training=False)
    p_dog = networks.head(networks.model.get_layer("pool")(feature_map))
    frozen_pooled = layers.GlobalAveragePooling2D(name=FROZEN_POOL)(frozen_top(activations, training=False))
    if frozen_head is not None:
        from .layers import MeanLogit

        p_dog = MeanLogit(name=MEAN_LOGIT)([p_dog, frozen_head(frozen_pooled)])
    outputs = layers.Concatenate(name=OUTPUT_NAME)([p_dog, pet_layer(frozen_pooled)])
    return keras.Model(inputs, outputs, name=MODEL_NAME)


def feature_tail(model):
    """pooled features -> the model's output, sharing the model's own layers: when the backbone is
    frozen, cached features give exactly what the whole model gives, without rerunning it."""
    import keras
    from keras import layers

    features = keras.Input((FEATURE_DIM,), name="features")
    outputs = layers.Concatenate()([model.get_layer("head")(features), model.get_layer(PET_SCORE_LAYER)(features)])
    return keras.Model(features, outputs, name="feature_tail")
