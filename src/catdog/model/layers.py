"""Keras layers of our own, registered so that a saved model.keras loads with them."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from .pet_score import PetScorer

# The float32 scales of the int8 constants (PetScorer's storage).
INT8_SCALES = {"imagenet_kernel": "imagenet_scale", "reference": "reference_scale", "directions": "directions_scale"}


@keras.saving.register_keras_serializable(package="catdog")
class PetScore(keras.layers.Layer):
    """Pooled backbone features [n, d] -> pet score [n, 1]: model.pet_score.PetScorer inside the
    model, so every engine and export computes it. Its weights are constants fitted at training.

    The large constants are int8 with float32 scales (PetScorer's storage), cast to float32 here, in
    the graph: the TFLite converter keeps them int8 (a cast of a float16 constant it folds into a
    float32 one, hence int8), so the web page's model stays small. Models saved before that (config
    keys pet_classes / other_classes: float32 kernels per class set) load and compute as they did."""

    def __init__(self, feature_dim: int = 1280, pet_classes: int = 123, other_classes: int = 877,
                 reference_photos: int = 1024, rank: int = 128, lookalike_classes: int = 0,
                 imagenet_pets: list[int] | None = None, imagenet_lookalikes: list[int] | None = None,
                 imagenet_classes: int = 1000, density_classes: int = 2, **kwargs):
        kwargs.pop("trainable", None)
        super().__init__(trainable=False, **kwargs)
        self.int8 = imagenet_pets is not None
        self.density_classes = density_classes  # one class mean per class of the run (cat and dog: 2)
        shapes: dict[str, tuple[tuple[int, ...], str]]
        if self.int8:
            assert imagenet_pets is not None and imagenet_lookalikes is not None
            self.pet_indices = [int(i) for i in imagenet_pets]
            self.lookalike_indices = [int(i) for i in imagenet_lookalikes]
            # Added to the logits, one row per class set (pets, others, lookalikes): 0 inside, -1e4 outside
            # (exp gives exactly 0 in float32, and float16 files hold it). Masks rather than a gather:
            # the int8 converter quantized the logits going into a gather.
            inside = np.zeros((3, imagenet_classes), dtype=bool)
            inside[0, self.pet_indices] = inside[2, self.lookalike_indices] = True
            inside[1] = ~inside[0]
            self.class_masks = np.where(inside, 0.0, -1e4).astype(np.float32)
            shapes = {
                "imagenet_kernel": ((feature_dim, imagenet_classes), "int8"), "imagenet_scale": ((imagenet_classes,), "float32"),
                "imagenet_bias": ((imagenet_classes,), "float32"),
                "reference": ((reference_photos, feature_dim), "int8"), "reference_scale": ((reference_photos,), "float32"),
                "class_means": ((density_classes, feature_dim), "float32"),
                "directions": ((feature_dim, rank), "int8"), "directions_scale": ((rank,), "float32"),
                **{name: (shape, "float32") for name, shape in (("inverse_variances", (rank,)), ("residual_inverse_variance", (1,)),
                                                                 ("mean", (3,)), ("scale", (3,)), ("weights", (3,)), ("gate", (3,)))},
            }
            self.config_values: dict = {"feature_dim": feature_dim, "reference_photos": reference_photos, "rank": rank,
                                        "imagenet_classes": imagenet_classes, "imagenet_pets": self.pet_indices,
                                        "imagenet_lookalikes": self.lookalike_indices}
            if density_classes != 2:  # models of cat and dog keep the config they always had
                self.config_values["density_classes"] = density_classes
        else:  # saved before int8 storage: the same variables, in the same order, as then
            legacy = {
                "pet_kernel": (feature_dim, pet_classes), "pet_bias": (pet_classes,),
                "other_kernel": (feature_dim, other_classes), "other_bias": (other_classes,),
                "reference": (reference_photos, feature_dim), "class_means": (2, feature_dim),
                "directions": (feature_dim, rank), "inverse_variances": (rank,), "residual_inverse_variance": (1,),
                "mean": (3,), "scale": (3,), "weights": (3,),
            }
            # Models saved before the lookalike gate have no such constants (lookalike_classes = 0): no gate.
            if lookalike_classes:
                legacy.update({"lookalike_kernel": (feature_dim, lookalike_classes), "lookalike_bias": (lookalike_classes,), "gate": (2,)})
            shapes = {name: (shape, "float32") for name, shape in legacy.items()}
            self.config_values = {"feature_dim": feature_dim, "pet_classes": pet_classes, "other_classes": other_classes,
                                  "reference_photos": reference_photos, "rank": rank, "lookalike_classes": lookalike_classes}
        self.shapes = {name: shape for name, (shape, _) in shapes.items()}
        # In a dict, not as attributes: "weights" is a Layer property.
        self.constants = {name: self.add_weight(name=name, shape=shape, dtype=dtype, initializer="zeros", trainable=False)
                          for name, (shape, dtype) in shapes.items()}

    @classmethod
    def from_scorer(cls, scorer: PetScorer, name: str = "pet_score") -> PetScore:
        arrays = scorer.arrays()
        layer = cls(feature_dim=arrays["imagenet_kernel"].shape[0], imagenet_classes=arrays["imagenet_kernel"].shape[1],
                    reference_photos=arrays["reference"].shape[0], rank=arrays["directions"].shape[1],
                    density_classes=arrays["class_means"].shape[0],
                    imagenet_pets=arrays.pop("pet_classes").tolist(), imagenet_lookalikes=arrays.pop("lookalike_classes").tolist(), name=name)
        for key, value in arrays.items():
            variable = layer.constants[key]
            variable.assign(np.asarray(value, dtype=variable.dtype).reshape(layer.shapes[key]))
        return layer

    def _times(self, x, name: str, transposed: bool = False):
        """x @ the constant `name` (transposed: @ its transpose); an int8 one times its scales (one per
        output column: the int8 matrix's column, or its row when transposed)."""
        c = self.constants
        if c[name].dtype == "float32":
            return ops.matmul(x, ops.transpose(c[name]) if transposed else c[name])
        matrix = ops.cast(c[name], "float32")
        return ops.matmul(x, ops.transpose(matrix) if transposed else matrix) * c[INT8_SCALES[name]]

    def _imagenet(self, features):
        """(log mass on pets, on the other classes, on lookalikes or None when there is no gate) [n]."""
        c = self.constants
        if self.int8:
            logits = self._times(features, "imagenet_kernel") + c["imagenet_bias"]
            masses = ops.logsumexp(logits[:, None, :] + self.class_masks, axis=2)  # [n, 3]
            return masses[:, 0], masses[:, 1], masses[:, 2]
        masses = [ops.logsumexp(ops.matmul(features, c[f"{kind}_kernel"]) + c[f"{kind}_bias"], axis=1)
                  for kind in ("pet", "other", "lookalike") if f"{kind}_kernel" in c]
        return masses[0], masses[1], masses[2] if len(masses) > 2 else None

    def call(self, features):
        c = self.constants
        features = ops.cast(features, "float32")
        pets, others, lookalikes = self._imagenet(features)
        norms = ops.sqrt(ops.maximum(ops.sum(features * features, axis=1, keepdims=True), 1e-24))
        similarity = ops.max(self._times(features / norms, "reference", transposed=True), axis=1)
        # Squared Mahalanobis distance to each class mean, expanded so each matmul runs once per photo.
        projected = self._times(features, "directions")  # [n, k]
        means_projected = self._times(c["class_means"], "directions")  # [classes, k]
        squared = ops.sum(features * features, axis=1, keepdims=True)  # [n, 1]
        distances = []
        for k in range(self.density_classes):
            x_proj = projected - means_projected[k]
            kept = ops.sum(x_proj * x_proj, axis=1)
            whitened = ops.sum(x_proj * x_proj * c["inverse_variances"], axis=1)
            mean = c["class_means"][k]
            total = squared[:, 0] - 2.0 * ops.matmul(features, mean[:, None])[:, 0] + ops.sum(mean * mean)
            distances.append(whitened + ops.maximum(total - kept, 0.0) * c["residual_inverse_variance"][0])
        nearest = distances[0]
        for distance in distances[1:]:  # a chain of minimums: the same graph as ever for cat and dog
            nearest = ops.minimum(nearest, distance)
        nearest = ops.maximum(nearest, 1e-12)
        components = ops.stack([pets - others, similarity, -ops.log(nearest)], axis=1)
        average = ops.sum((components - c["mean"]) / c["scale"] * c["weights"], axis=1, keepdims=True)
        if lookalikes is None:
            return average
        gate = c["gate"][0] + c["gate"][1] * (pets - lookalikes)
        return ops.minimum(average, gate[:, None])

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 1)

    def get_config(self):
        return {**super().get_config(), **self.config_values}


@keras.saving.register_keras_serializable(package="catdog")
class AnswerScores(keras.layers.Layer):
    """[p(dog), pet score] -> three scores [cat, dog, neither] whose largest is the answer (for N
    classes, [p_1..p_N, score] -> N + 1 scores [classes..., none of these]): the output of the TFLite
    files, so that MediaPipe's top category is what `catdog predict` says. The same formula as
    decide.Decision.scores (kept equal by a test), with the run's decision settings as constants."""

    def __init__(self, threshold: float = 0.5, neither_below: float | None = None, pet_slope: float = 1.0, **kwargs):
        kwargs.pop("trainable", None)
        super().__init__(trainable=False, **kwargs)
        self.threshold, self.neither_below, self.pet_slope = float(threshold), neither_below, float(pet_slope)

    def call(self, outputs):
        width = outputs.shape[-1]
        pet = outputs[:, width - 1:width]
        if self.neither_below is None:
            q, not_q = ops.ones_like(pet), ops.zeros_like(pet)
        else:
            z = self.pet_slope * (pet - self.neither_below)
            q, not_q = ops.sigmoid(z), ops.sigmoid(-z)
        if width == 2:  # two classes: p(class 1), moved so that the threshold sits at one half
            p_dog = outputs[:, 0:1]
            t = self.threshold
            dog = p_dog * (1 - t) / (p_dog * (1 - t) + (1 - p_dog) * t)
            raw = ops.concatenate([(1 - dog) * q, dog * q, not_q * ops.maximum(dog, 1 - dog)], axis=-1)
        else:
            probabilities = outputs[:, : width - 1]
            raw = ops.concatenate([probabilities * q, not_q * ops.max(probabilities, axis=-1, keepdims=True)], axis=-1)
        return raw / ops.sum(raw, axis=-1, keepdims=True)

    def compute_output_shape(self, input_shape):
        width = input_shape[-1]
        return (input_shape[0], 3 if width == 2 else width)

    def get_config(self):
        return {**super().get_config(), "threshold": self.threshold, "neither_below": self.neither_below, "pet_slope": self.pet_slope}


@keras.saving.register_keras_serializable(package="catdog")
class MeanLogit(keras.layers.Layer):
    """Probabilities of several heads -> those of their mean logit: the tuned head and the head on the
    frozen backbone's features vote with equal weight (config.frozen_head_average). [n, 1] sigmoid
    outputs: sigmoid of the mean logit; [n, N] softmax outputs: softmax of the mean log probability
    (the softmax's logits up to a constant per photo, which it ignores)."""

    def call(self, probabilities):
        eps = 1e-7
        if probabilities[0].shape[-1] == 1:
            logits = [ops.log(ops.clip(p, eps, 1 - eps)) - ops.log(ops.clip(1 - p, eps, 1 - eps)) for p in probabilities]
            return ops.sigmoid(sum(logits) / len(logits))
        logs = [ops.log(ops.clip(p, eps, 1.0)) for p in probabilities]
        return ops.softmax(sum(logs) / len(logs), axis=-1)

    def compute_output_shape(self, input_shape):
        return input_shape[0]
