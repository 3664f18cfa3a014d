"""Grad-CAM (Selvaraju et al., 2017) over MobileNetV2's last convolutional block (`out_relu`, the
backbone's output): where in the photo the evidence for a class lies."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..classes import is_cat_dog


@dataclass
class Explanation:
    """One photo's heatmap. `label` is the answer `catdog predict` gives (a class or the refusal);
    the heat is the evidence for `explained`, the likeliest class (the label itself unless refused);
    `probability` is how sure the answer is (decide.Decision.confidence: the label's probability, or
    for the refusal that none of the classes is there); `probabilities` gives each class's by name."""

    id: str
    label: str
    explained: str
    probability: float
    probabilities: dict[str, float]
    heatmap: np.ndarray  # [s, s] float in [0, 1], 1 = strongest evidence for `explained`
    pixels: np.ndarray  # [s, s, 3] uint8, the photo as the model saw it

    @property
    def p_dog(self) -> float | None:
        """p(dog) of a cat/dog run (None for other classes)."""
        return self.probabilities["dog"] if is_cat_dog(tuple(self.probabilities)) else None


def gradcam(model, pixels: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Heatmaps [n, s, s] in [0, 1] of the evidence for class `targets[i]` (a class code) in photo i.

    The gradient is of the class's logit, before the head's activation (Grad-CAM's y^c): for the
    softmax head that class's logit; for the sigmoid head the logit of p(class 1), negated for class 0
    (it is logit p(class 1) - logit p(class 0), so either class gets its own evidence). The logit,
    not the probability: a probability at 0 or 1 in float32 has no gradient left."""
    import tensorflow as tf

    from ..model.build import backbone_of  # the model package needs the training libraries

    scale = model.get_layer("scale_to_unit_range")
    backbone = backbone_of(model)
    pool, head = model.get_layer("pool"), model.get_layer("head")
    images = tf.constant(np.asarray(pixels, dtype=np.float32))
    targets = np.asarray(targets, dtype=np.int64)
    with tf.GradientTape() as tape:
        feature_map = backbone(scale(images), training=False)
        if isinstance(feature_map, (list, tuple)):  # a fine-tuned top also gives the activations at its cut
            feature_map = feature_map[0]
        tape.watch(feature_map)
        logits = _head_logits(head, pool(feature_map))
        if logits.shape[-1] == 1:
            target = tf.where(tf.constant(targets == 1), logits[:, 0], -logits[:, 0])
        else:
            target = tf.gather(logits, tf.constant(targets), axis=1, batch_dims=1)
    gradients = tape.gradient(target, feature_map)
    weights = tf.reduce_mean(gradients, axis=(1, 2), keepdims=True)
    cam = tf.nn.relu(tf.reduce_sum(weights * feature_map, axis=-1))[..., None]
    size = images.shape[1]
    cam = tf.image.resize(cam, (size, size), method="bilinear")[..., 0].numpy()
    peak = cam.reshape(len(cam), -1).max(axis=1).reshape(-1, 1, 1)
    return np.where(peak > 0, cam / np.maximum(peak, 1e-12), 0.0)


def _head_logits(head, pooled):
    """The head's output before its last activation: [n, 1] (sigmoid head) or [n, N] (softmax head)."""
    import tensorflow as tf

    hidden = pooled
    for layer in head.layers[:-1]:
        hidden = layer(hidden, training=False)
    last = head.layers[-1]
    return tf.matmul(tf.cast(hidden, last.kernel.dtype), last.kernel) + last.bias


def overlay(pixels: np.ndarray, heatmap: np.ndarray, strength: float = 0.45) -> np.ndarray:
    """The photo with the heatmap blended over it in the 'jet' colour map, as uint8 RGB."""
    from matplotlib import colormaps

    colours = colormaps["jet"](heatmap)[..., :3] * 255.0
    return np.clip(pixels * (1 - strength) + colours * strength, 0, 255).astype(np.uint8)
