"""Grad-CAM (Selvaraju et al., 2017) over MobileNetV2's last convolutional block (`out_relu`, the
backbone's output): where in the photo the evidence for the predicted class lies."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..decide import Decision


@dataclass
class Explanation:
    id: str
    label: str
    p_dog: float
    heatmap: np.ndarray  # [s, s] float in [0, 1], 1 = strongest evidence for `label`
    pixels: np.ndarray  # [s, s, 3] uint8, the photo as the model saw it


def gradcam(model, pixels: np.ndarray, decision: Decision = Decision()) -> tuple[np.ndarray, np.ndarray]:
    """Heatmaps [n, s, s] in [0, 1] for the side (cat or dog) the model chose for each photo, and p(dog) [n]."""
    import tensorflow as tf

    from ..model.build import backbone_of  # the model package needs the training libraries

    scale = model.get_layer("scale_to_unit_range")
    backbone = backbone_of(model)
    pool, head = model.get_layer("pool"), model.get_layer("head")
    images = tf.constant(np.asarray(pixels, dtype=np.float32))
    with tf.GradientTape() as tape:
        feature_map = backbone(scale(images), training=False)
        if isinstance(feature_map, (list, tuple)):  # a fine-tuned top also gives the activations at its cut
            feature_map = feature_map[0]
        tape.watch(feature_map)
        p_dog = head(pool(feature_map), training=False)[:, 0]
        p = tf.clip_by_value(p_dog, 1e-6, 1 - 1e-6)
        logit = tf.math.log(p / (1 - p))
        # Explain the side the model chose: the dog logit for dogs, its negative for cats.
        target = tf.where(decision.is_dog(p_dog.numpy()), logit, -logit)
    gradients = tape.gradient(target, feature_map)
    weights = tf.reduce_mean(gradients, axis=(1, 2), keepdims=True)
    cam = tf.nn.relu(tf.reduce_sum(weights * feature_map, axis=-1))[..., None]
    size = images.shape[1]
    cam = tf.image.resize(cam, (size, size), method="bilinear")[..., 0].numpy()
    peak = cam.reshape(len(cam), -1).max(axis=1).reshape(-1, 1, 1)
    return np.where(peak > 0, cam / np.maximum(peak, 1e-12), 0.0), p_dog.numpy()


def overlay(pixels: np.ndarray, heatmap: np.ndarray, strength: float = 0.45) -> np.ndarray:
    """The photo with the heatmap blended over it in the 'jet' colour map, as uint8 RGB."""
    from matplotlib import colormaps

    colours = colormaps["jet"](heatmap)[..., :3] * 255.0
    return np.clip(pixels * (1 - strength) + colours * strength, 0, 255).astype(np.uint8)
