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


# ImageNet classes that are a pet cat or dog (Keras indices; see ../shared/weights/imagenet_labels.txt,
# where Keras class i is line i + 1): 151-268 are dog breeds, 281-285 domestic cats. The choice was
# made by measurement (docs/TRUST.md).
PET_CLASSES = tuple(range(151, 269)) + tuple(range(281, 286))
OUTPUT_NAME = "p_dog_and_pet_score"


def fold_temperature(model, temperature: float) -> None:
    """Calibrate in place: sigmoid(z / T) == the head's last Dense with kernel and bias divided by T."""
    last = model.get_layer("head").layers[-1]
    kernel, bias = last.get_weights()
    last.set_weights([kernel / temperature, bias / temperature])


def with_pet_score(model, imagenet_kernel: np.ndarray, imagenet_bias: np.ndarray):
    """The deployable model: [p(dog), pet score] per photo, where the pet score is the ImageNet
    classifier's probability mass on cat and dog classes, computed from the same pooled features."""
    import keras
    from keras import layers

    pooled = model.get_layer("pool").output
    p_dog = model.get_layer("head")(pooled)
    imagenet = layers.Dense(1000, activation="softmax", name="imagenet_classifier", trainable=False)
    probabilities = imagenet(pooled)
    imagenet.set_weights([imagenet_kernel, imagenet_bias])
    mass = layers.Dense(1, use_bias=False, name="pet_mass", trainable=False)
    pet = mass(probabilities)
    mask = np.zeros((1000, 1), dtype=np.float32)
    mask[list(PET_CLASSES)] = 1.0
    mass.set_weights([mask])
    outputs = layers.Concatenate(name=OUTPUT_NAME)([p_dog, pet])
    return keras.Model(model.inputs, outputs, name=MODEL_NAME)


def imagenet_top_weights(with_top_path) -> tuple[np.ndarray, np.ndarray]:
    """Kernel and bias of MobileNetV2's 1000-class ImageNet layer, read from the with-top weights file
    (straight from its HDF5 layout; building the whole with-top network only to read one layer is slow)."""
    try:
        import h5py

        with h5py.File(with_top_path, "r") as weights:
            group = weights["predictions"]
            names = [n.decode() if isinstance(n, bytes) else n for n in group.attrs["weight_names"]]
            kernel, bias = (np.asarray(group[name]) for name in names)
        if kernel.shape == (FEATURE_DIM, 1000) and bias.shape == (1000,):
            return kernel, bias
    except (KeyError, OSError, ValueError):
        pass
    import keras

    full = keras.applications.MobileNetV2(include_top=True, weights=str(with_top_path))
    kernel, bias = full.get_layer("predictions").get_weights()
    return kernel, bias


def feature_tail(model):
    """pooled features -> the model's output, sharing the model's own layers: when the backbone is
    frozen, cached features give exactly what the whole model gives, without rerunning it."""
    import keras
    from keras import layers

    features = keras.Input((FEATURE_DIM,), name="features")
    outputs = model.get_layer("head")(features)
    if any(layer.name == OUTPUT_NAME for layer in model.layers):
        pet = model.get_layer("pet_mass")(model.get_layer("imagenet_classifier")(features))
        outputs = layers.Concatenate()([outputs, pet])
    return keras.Model(features, outputs, name="feature_tail")
