"""Keras layers of our own, registered so that a saved model.keras loads with them."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from .pet_score import PetScorer


@keras.saving.register_keras_serializable(package="catdog")
class PetScore(keras.layers.Layer):
    """Pooled backbone features [n, d] -> pet score [n, 1]: model.pet_score.PetScorer inside the
    model, so every engine and export computes it. Its weights are constants fitted at training."""

    def __init__(self, feature_dim: int = 1280, pet_classes: int = 123, other_classes: int = 877,
                 reference_photos: int = 1024, rank: int = 128, lookalike_classes: int = 0, **kwargs):
        kwargs.pop("trainable", None)
        super().__init__(trainable=False, **kwargs)
        self.shapes = {
            "pet_kernel": (feature_dim, pet_classes), "pet_bias": (pet_classes,),
            "other_kernel": (feature_dim, other_classes), "other_bias": (other_classes,),
            "reference": (reference_photos, feature_dim), "class_means": (2, feature_dim),
            "directions": (feature_dim, rank), "inverse_variances": (rank,), "residual_inverse_variance": (1,),
            "mean": (3,), "scale": (3,), "weights": (3,),
        }
        # Models saved before the lookalike gate have no such constants (lookalike_classes = 0): no gate.
        if lookalike_classes:
            self.shapes.update({"lookalike_kernel": (feature_dim, lookalike_classes), "lookalike_bias": (lookalike_classes,),
                                "gate": (3,)})
        self.config_values = {"feature_dim": feature_dim, "pet_classes": pet_classes, "other_classes": other_classes,
                              "reference_photos": reference_photos, "rank": rank, "lookalike_classes": lookalike_classes}
        # In a dict, not as attributes: "weights" is a Layer property.
        self.constants = {name: self.add_weight(name=name, shape=shape, initializer="zeros", trainable=False)
                          for name, shape in self.shapes.items()}

    @classmethod
    def from_scorer(cls, scorer: PetScorer, name: str = "pet_score") -> PetScore:
        arrays = scorer.arrays()
        layer = cls(feature_dim=arrays["pet_kernel"].shape[0], pet_classes=arrays["pet_kernel"].shape[1],
                    other_classes=arrays["other_kernel"].shape[1], reference_photos=arrays["reference"].shape[0],
                    rank=arrays["directions"].shape[1], lookalike_classes=arrays["lookalike_kernel"].shape[1], name=name)
        for key, value in arrays.items():
            layer.constants[key].assign(np.asarray(value, dtype=np.float32).reshape(layer.shapes[key]))
        return layer

    def call(self, features):
        c = self.constants
        features = ops.cast(features, "float32")
        pets = ops.logsumexp(ops.matmul(features, c["pet_kernel"]) + c["pet_bias"], axis=1)
        others = ops.logsumexp(ops.matmul(features, c["other_kernel"]) + c["other_bias"], axis=1)
        norms = ops.sqrt(ops.maximum(ops.sum(features * features, axis=1, keepdims=True), 1e-24))
        similarity = ops.max(ops.matmul(features / norms, ops.transpose(c["reference"])), axis=1)
        # Squared Mahalanobis distance to each class mean, expanded so each matmul runs once per photo.
        projected = ops.matmul(features, c["directions"])  # [n, k]
        means_projected = ops.matmul(c["class_means"], c["directions"])  # [2, k]
        squared = ops.sum(features * features, axis=1, keepdims=True)  # [n, 1]
        distances = []
        for k in range(2):
            x_proj = projected - means_projected[k]
            kept = ops.sum(x_proj * x_proj, axis=1)
            whitened = ops.sum(x_proj * x_proj * c["inverse_variances"], axis=1)
            mean = c["class_means"][k]
            total = squared[:, 0] - 2.0 * ops.matmul(features, mean[:, None])[:, 0] + ops.sum(mean * mean)
            distances.append(whitened + ops.maximum(total - kept, 0.0) * c["residual_inverse_variance"][0])
        nearest = ops.maximum(ops.minimum(distances[0], distances[1]), 1e-12)
        components = ops.stack([pets - others, similarity, -ops.log(nearest)], axis=1)
        average = ops.sum((components - c["mean"]) / c["scale"] * c["weights"], axis=1, keepdims=True)
        if "gate" not in c:
            return average
        lookalikes = ops.logsumexp(ops.matmul(features, c["lookalike_kernel"]) + c["lookalike_bias"], axis=1)
        gate = c["gate"][0] + c["gate"][1] * (pets - lookalikes)
        return ops.minimum(average, gate[:, None])

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 1)

    def get_config(self):
        return {**super().get_config(), **self.config_values}


@keras.saving.register_keras_serializable(package="catdog")
class AnswerScores(keras.layers.Layer):
    """[p(dog), pet score] -> three scores [cat, dog, neither] whose largest is the answer: the
    output of the TFLite files, so that MediaPipe's top category is what `catdog predict` says.
    The same formula as decide.Decision.scores (kept equal by a test), with the run's decision
    settings as constants."""

    def __init__(self, threshold: float = 0.5, neither_below: float | None = None, pet_slope: float = 1.0, **kwargs):
        kwargs.pop("trainable", None)
        super().__init__(trainable=False, **kwargs)
        self.threshold, self.neither_below, self.pet_slope = float(threshold), neither_below, float(pet_slope)

    def call(self, outputs):
        p_dog, pet = outputs[:, 0:1], outputs[:, 1:2]
        t = self.threshold
        dog = p_dog * (1 - t) / (p_dog * (1 - t) + (1 - p_dog) * t)
        if self.neither_below is None:
            q, not_q = ops.ones_like(dog), ops.zeros_like(dog)
        else:
            z = self.pet_slope * (pet - self.neither_below)
            q, not_q = ops.sigmoid(z), ops.sigmoid(-z)
        raw = ops.concatenate([(1 - dog) * q, dog * q, not_q * ops.maximum(dog, 1 - dog)], axis=-1)
        return raw / ops.sum(raw, axis=-1, keepdims=True)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 3)

    def get_config(self):
        return {**super().get_config(), "threshold": self.threshold, "neither_below": self.neither_below, "pet_slope": self.pet_slope}


@keras.saving.register_keras_serializable(package="catdog")
class MeanLogit(keras.layers.Layer):
    """Probabilities [n, 1] of several heads -> sigmoid of their mean logit: the tuned head and the
    head on the frozen backbone's features vote with equal weight (config.frozen_head_average)."""

    def call(self, probabilities):
        eps = 1e-7
        logits = [ops.log(ops.clip(p, eps, 1 - eps)) - ops.log(ops.clip(1 - p, eps, 1 - eps)) for p in probabilities]
        return ops.sigmoid(sum(logits) / len(logits))

    def compute_output_shape(self, input_shape):
        return input_shape[0]
