"""The pet score: evidence that a cat or dog is in a photo at all, from the frozen backbone's pooled
features. Below a threshold the answer is "neither".

Three measured signals, each answering the question from a different side (docs/TRUST.md has the
measurements and how the weights were chosen), and one gate:

1. ImageNet pet log-odds: log P(pet) - log P(not pet) under MobileNetV2's own 1000-class ImageNet
   classifier, pet = its 118 dog breeds and 5 domestic cats. Trained on 1.2 million photos, it knows
   breeds, cameras and scenes our training photos never show; alone it misses blurry close-ups of
   fluffy things (flowers), which it takes for small dogs.
2. Similarity to the nearest training photo (cosine): catches what is unlike every training photo,
   but alone it refuses ordinary pets of breeds the training photos lack.
3. Class-conditional density (Mahalanobis distance to the nearest class mean under a shared,
   shrunk, low-rank-plus-isotropic covariance): how far the photo is from the cat and dog clusters.

4. The lookalike gate: log P(pet) - log P(lookalike) under the same ImageNet classifier, lookalike =
   its classes of animals that look like cats or dogs and are neither (wolves, coyotes, wild dogs,
   hyenas, foxes, wild cats, bears, mustelids, meerkats, pandas, sea lions). In an average it is washed
   out (a wolf is close to the training dogs and dense where they are); as a gate it is decisive: the
   photo is "neither" when its log-odds are under those of all but GATE_RATE of the held-out training
   photos (-1.8 at 224 px: lookalikes six times as likely as pets), whatever the other signals say.

Each signal is standardised on held-out scores of the training photos (out-of-fold, so a photo is
never scored against itself) and the three are summed with fixed weights; the score is the smaller
of that sum and the gate's term, which crosses the "neither" threshold exactly at the gate's level.
Everything here is NumPy; model.layers.PetScore computes the same inside the saved model, so every
engine and export carries it.

The large constants are stored as int8 with one float32 scale per column (per row for the reference
photos), and computed from those numbers here as in the model, so that the web page's model stays
small: MobileNetV2's ImageNet classifier is stored once (1280 x 1000; its weights are 8-bit already, so
this is exact) and the pet, other and lookalike classes are index sets into its logits; the reference
photos and the density's directions lose under 0.013 pet-score units to rounding (docs/BENCHMARKS.md).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

# Keras ImageNet class indices (line i + 1 of imagenet_labels.txt, which starts with "background").
DOG_CLASSES = tuple(range(151, 269))  # Chihuahua ... Mexican hairless
DOMESTIC_CAT_CLASSES = tuple(range(281, 286))  # tabby, tiger cat, Persian, Siamese, Egyptian cat
PET_CLASSES = DOG_CLASSES + DOMESTIC_CAT_CLASSES
# Animals that look like cats or dogs and are neither: sea lion; timber, white and red wolf, coyote;
# dhole, African hunting dog, hyena; red, kit, Arctic and grey fox; cougar, lynx, leopard, snow leopard,
# jaguar, lion, tiger, cheetah; brown, black, polar and sloth bear; mongoose, meerkat; weasel, mink,
# polecat, ferret, otter, skunk, badger; red and giant panda. The dingo (273) is left out: a wild dog
# that is also kept as a dog, not promised either way (docs/TRUST.md).
LOOKALIKE_CLASSES = (150, *range(269, 273), *range(274, 281), *range(286, 300), *range(356, 363), 387, 388)
# The gate: "neither" when log P(pet) - log P(lookalike) is under its GATE_RATE quantile over the
# held-out training photos. A quantile rather than a fixed number of nats because the ImageNet
# classifier's confidence changes with the input size (the quantile is -1.8 nats at 224 px, -0.55 at
# 288). Chosen on shift.parquet and lookalikes.parquet (benchmarks/neither_methods.py, docs/TRUST.md).
GATE_RATE = 0.002
# Pet-score units per nat of the gate's log-odds: a stricter or more lenient "neither" threshold
# (--refuse) moves the gate by the same number of nats.
GATE_SLOPE = 1.0
NO_GATE = 1e9  # the gate's offset when there is no ImageNet classifier
COMPONENTS = ("imagenet_pet_log_odds", "nearest_photo_similarity", "class_density")
# Chosen by logistic regression on held-apart halves of the shared development files, rounded
# (benchmarks/neither_methods.py; docs/TRUST.md).
WEIGHTS = (0.25, 0.5, 0.25)
# The weighted sum's slope in that regression: turns a pet score into a probability for display.
PET_SLOPE = 3.0
DENSITY_RANK = 128  # leading covariance directions kept; the rest share one variance
SHRINKAGE = 0.01  # added to the covariance, relative to its mean variance
REFERENCE_PHOTOS = 1024  # nearest-photo similarity against at most this many training photos
FOLDS = 5
MAX_FIT_PHOTOS = 20_000  # held-out statistics from at most this many photos (a sample beyond it)
# For classes other than cat and dog, the ImageNet part of the score ("none of these") is chosen from
# the training photos: each class contributes the ImageNet classes holding IMAGENET_MASS of its photos'
# mean probability (at most IMAGENET_PER_CLASS of them), and the lookalikes are the LOOKALIKES ImageNet
# classes outside those whose classifier weights lie nearest theirs (cosine). For cat and dog the
# hand-made sets above stay, so that every cat/dog answer is what it was (docs/TRUST.md).
IMAGENET_MASS = 0.8
IMAGENET_PER_CLASS = 40
LOOKALIKES = len(LOOKALIKE_CLASSES)


def imagenet_classifier(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(kernel [1280, 1000], bias [1000]) of MobileNetV2's ImageNet classifier, read straight from
    Keras' with-top weights file (no model is built)."""
    import h5py  # training-side dependency: the inference path reads the fitted constants from the model

    with h5py.File(path, "r") as weights:
        layer = weights["predictions"]
        return np.asarray(layer["predictions/kernel"][()], np.float32), np.asarray(layer["predictions/bias"][()], np.float32)


def quantized(values: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 storage of a matrix, one float32 scale shared along `axis` (0: one per column,
    1: one per row): values ~= int8 * scale. An all-zero column or row gets scale 1."""
    values = np.asarray(values, dtype=np.float64)
    peak = np.abs(values).max(axis=axis)
    scale = np.where(peak > 0, peak / 127.0, 1.0).astype(np.float32)
    stored = np.clip(np.rint(values / np.expand_dims(scale, axis)), -127, 127).astype(np.int8)
    return stored, scale


def dequantized(stored: np.ndarray, scale: np.ndarray, axis: int) -> np.ndarray:
    """What the model computes with: int8 * scale (see `quantized`), as float64 for NumPy."""
    return stored.astype(np.float64) * np.expand_dims(np.asarray(scale, np.float64), axis)


def _unit(features: np.ndarray) -> np.ndarray:
    return features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)


def _logsumexp(z: np.ndarray) -> np.ndarray:
    peak = z.max(axis=1, keepdims=True)
    return (peak + np.log(np.exp(z - peak).sum(axis=1, keepdims=True)))[:, 0]


@dataclass
class PetScorer:
    """Fitted parameters of the pet score; `__call__` gives the score of pooled features [n, d]."""

    imagenet_kernel: np.ndarray  # int8 [d, 1000]: MobileNetV2's ImageNet classifier, x imagenet_scale per column
    imagenet_scale: np.ndarray  # [1000]
    imagenet_bias: np.ndarray  # [1000]
    # int [pets]: ImageNet classes that the run's classes are (PET_CLASSES, the cats and dogs, for a cat/dog
    # run; imagenet_sets for others); the rest are "not pet"
    pet_classes: np.ndarray
    lookalike_classes: np.ndarray  # int [lookalikes]: ImageNet classes that look like them and are not (LOOKALIKE_CLASSES)
    reference: np.ndarray  # int8 [r, d]: unit-length features of training photos, x reference_scale per row
    reference_scale: np.ndarray  # [r]
    class_means: np.ndarray  # [classes, d]
    directions: np.ndarray  # int8 [d, k]: leading eigenvectors of the shared covariance, x directions_scale per column
    directions_scale: np.ndarray  # [k]
    inverse_variances: np.ndarray  # [k]
    residual_inverse_variance: np.ndarray  # [1]: the other directions' shared 1 / variance
    mean: np.ndarray  # [3] of the held-out components
    scale: np.ndarray  # [3]
    weights: np.ndarray  # [3]
    # [3]: (offset, slope, level): the gate's term is offset + slope * (pet vs lookalike log-odds); it
    # crosses the "neither" threshold where the log-odds are `level`
    gate: np.ndarray

    def imagenet_log_masses(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """log of the (unnormalised) ImageNet probability mass on pets, on everything else and on
        lookalikes, each [n]."""
        logits = np.asarray(features, dtype=np.float64) @ dequantized(self.imagenet_kernel, self.imagenet_scale, 0) + self.imagenet_bias
        pets = np.zeros(logits.shape[1], dtype=bool)
        pets[self.pet_classes] = True
        return _logsumexp(logits[:, pets]), _logsumexp(logits[:, ~pets]), _logsumexp(logits[:, self.lookalike_classes])

    def components(self, features: np.ndarray) -> np.ndarray:
        """The three raw signals [n, 3] (see the module docstring)."""
        f = np.asarray(features, dtype=np.float64)
        pets, others, _ = self.imagenet_log_masses(f)
        similarity = (_unit(f) @ dequantized(self.reference, self.reference_scale, 1).T).max(axis=1)
        return np.stack([pets - others, similarity, -np.log(self.distances(f).min(axis=1))], axis=1)

    def distances(self, features: np.ndarray) -> np.ndarray:
        """Squared Mahalanobis distance to each class mean [n, classes]: the kept directions with their
        own variances, the rest with one shared variance."""
        out = []
        directions = dequantized(self.directions, self.directions_scale, 0)
        for mean in self.class_means:
            x = features - mean
            projected = x @ directions
            kept = (projected**2).sum(axis=1)
            out.append((projected**2 * self.inverse_variances).sum(axis=1)
                       + np.maximum((x**2).sum(axis=1) - kept, 0.0) * self.residual_inverse_variance[0])
        return np.maximum(np.stack(out, axis=1), 1e-12)

    def lookalike_log_odds(self, features: np.ndarray) -> np.ndarray:
        """log P(pet) - log P(lookalike) under the ImageNet classifier [n]."""
        pets, _, lookalikes = self.imagenet_log_masses(features)
        return pets - lookalikes

    def average(self, features: np.ndarray) -> np.ndarray:
        """The weighted sum of the three standardised signals, before the gate."""
        return ((self.components(features) - self.mean) / self.scale) @ self.weights

    def gated(self, average: np.ndarray, lookalike_log_odds: np.ndarray) -> np.ndarray:
        return np.minimum(average, self.gate[0] + self.gate[1] * lookalike_log_odds)

    def __call__(self, features: np.ndarray) -> np.ndarray:
        return self.gated(self.average(features), self.lookalike_log_odds(features))

    def arrays(self) -> dict[str, np.ndarray]:
        """Every constant as the model stores it: int8 where stored so, int32 class indices, float32 the rest."""
        def stored(value: np.ndarray) -> np.ndarray:
            value = np.asarray(value)
            return value if value.dtype == np.int8 else value.astype(np.int32 if value.dtype.kind in "iu" else np.float32)

        return {f.name: stored(getattr(self, f.name)) for f in fields(self)}


def imagenet_sets(features: np.ndarray, labels: np.ndarray, classes: int,
                  imagenet: tuple[np.ndarray, np.ndarray] | None) -> tuple[np.ndarray, np.ndarray]:
    """(ImageNet classes the run's classes are, ImageNet classes that look like them) for a run of
    classes other than cat and dog (see IMAGENET_MASS): chosen from the training photos' own ImageNet
    probabilities, so no list is made by hand."""
    if imagenet is None:
        return np.array(PET_CLASSES), np.array(LOOKALIKE_CLASSES)  # unused: the signal and the gate are off
    kernel, bias = (np.asarray(a, np.float64) for a in imagenet)
    logits = np.asarray(features, np.float64) @ kernel + bias
    probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    chosen: set[int] = set()
    for c in range(classes):
        mean = probabilities[labels == c].mean(axis=0)
        order = np.argsort(-mean)
        covered = int(np.searchsorted(np.cumsum(mean[order]), IMAGENET_MASS)) + 1
        chosen.update(int(i) for i in order[:min(covered, IMAGENET_PER_CLASS)])
    inside = np.array(sorted(chosen))
    unit = kernel / np.maximum(np.linalg.norm(kernel, axis=0, keepdims=True), 1e-12)
    nearness = (unit.T @ unit[:, inside]).max(axis=1)
    nearness[inside] = -np.inf
    return inside, np.sort(np.argsort(-nearness)[:LOOKALIKES])


def _density(features: np.ndarray, labels: np.ndarray, classes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Class means and the shared covariance's leading directions and inverse variances."""
    import scipy.linalg  # training side only

    # (a class with no photo left in a held-out fold of tiny data takes the mean of all)
    means = np.stack([features[labels == c].mean(axis=0) if (labels == c).any() else features.mean(axis=0) for c in range(classes)])
    centred = features - means[labels.astype(int)]
    covariance = centred.T @ centred / len(features)
    dim = len(covariance)
    shrink = SHRINKAGE * np.trace(covariance) / dim
    rank = min(DENSITY_RANK, dim - 1)
    # Only the leading directions are needed; the rest share the variance that the trace leaves them.
    variances, vectors = scipy.linalg.eigh(covariance, subset_by_index=[dim - rank, dim - 1])
    variances, vectors = variances[::-1] + shrink, vectors[:, ::-1]
    residual = max((np.trace(covariance) + dim * shrink - variances.sum()) / (dim - rank), shrink)
    return means, vectors, 1.0 / variances, np.array([1.0 / residual])


def _unstandardised(features: np.ndarray, labels: np.ndarray, imagenet: tuple[np.ndarray, np.ndarray] | None,
                    seed: int, classes: int, sets: tuple[np.ndarray, np.ndarray]) -> PetScorer:
    dim = features.shape[1]
    if imagenet is None:  # no ImageNet classifier: that signal is a constant with weight 0
        kernel, bias = np.zeros((dim, 1000), np.float32), np.zeros(1000, np.float32)
    else:
        kernel, bias = imagenet
    rng = np.random.default_rng(seed)
    reference = features if len(features) <= REFERENCE_PHOTOS else features[rng.choice(len(features), REFERENCE_PHOTOS, replace=False)]
    means, directions, inverse_variances, residual = _density(features, labels, classes)
    weights = np.array(WEIGHTS if imagenet is not None else (0.0, *WEIGHTS[1:]), dtype=np.float64)
    # Without the ImageNet classifier there is no gate: its term stays far above any threshold (finite,
    # so that every export format carries it as an ordinary constant).
    gate = np.array([NO_GATE, 0.0, -NO_GATE]) if imagenet is None else np.array([0.0, GATE_SLOPE, 0.0])
    return PetScorer(*quantized(kernel, 0), np.asarray(bias, np.float32), *sets,
                     *quantized(_unit(reference), 1), means, *quantized(directions, 0), inverse_variances, residual,
                     np.zeros(3), np.ones(3), weights / weights.sum(), gate)


def fit_pet_scorer(train_views: list[np.ndarray], train_labels: np.ndarray, imagenet: tuple[np.ndarray, np.ndarray] | None,
                   seed: int, validation_views: list[np.ndarray] | None = None,
                   rate: float = 0.0075, cat_dog: bool = True) -> tuple[PetScorer, float, np.ndarray, np.ndarray]:
    """Fit on the training photos' pooled features (views[0] = the photos; further views, such as
    mirror images, are averaged when predictions average them). Returns the scorer, its "neither"
    threshold, and the held-out scores of the training photos (out-of-fold) and of the validation
    photos: gated (what the model gives) and before the gate (the averages, whose quantiles the
    threshold and the other operating points of decide.refusal_points are).

    The threshold is the `rate` quantile of the held-out averages; the gate's term is set to cross it
    at the GATE_RATE quantile of the held-out lookalike log-odds, so a few more held-out photos than
    `rate` fall under it: those ImageNet calls wild. `cat_dog`: the run's classes are cat and dog (the
    hand-made ImageNet sets); otherwise they are chosen from the training photos (imagenet_sets)."""
    features, labels = np.asarray(train_views[0], np.float64), np.asarray(train_labels).astype(int)
    classes = int(labels.max()) + 1
    sets = (np.array(PET_CLASSES), np.array(LOOKALIKE_CLASSES)) if cat_dog else imagenet_sets(features, labels, classes, imagenet)
    rng = np.random.default_rng(seed)
    sample = np.arange(len(features)) if len(features) <= MAX_FIT_PHOTOS else np.sort(rng.choice(len(features), MAX_FIT_PHOTOS, replace=False))
    held_out = np.zeros((len(sample), 3))
    folds = np.array_split(rng.permutation(len(sample)), min(FOLDS, max(2, int(np.bincount(labels, minlength=classes).min()))))
    for fold in folds:
        rows = sample[fold]
        keep = np.ones(len(features), dtype=bool)
        keep[rows] = False
        scorer = _unstandardised(features[keep], labels[keep], imagenet, seed, classes, sets)
        held_out[fold] = np.mean([scorer.components(view[rows]) for view in train_views], axis=0)
    final = _unstandardised(features, labels, imagenet, seed, classes, sets)
    # The gate needs no fitting (ImageNet's classifier is fixed): its held-out value is its value.
    held_gate = np.mean([final.lookalike_log_odds(view[sample]) for view in train_views], axis=0)
    if validation_views:
        held_out = np.concatenate([held_out, np.mean([final.components(v) for v in validation_views], axis=0)])
        held_gate = np.concatenate([held_gate, np.mean([final.lookalike_log_odds(v) for v in validation_views], axis=0)])
    final.mean = held_out.mean(axis=0)
    final.scale = np.where(held_out.std(axis=0) > 1e-9, held_out.std(axis=0), 1.0)
    held_average = ((held_out - final.mean) / final.scale) @ final.weights
    threshold = float(np.quantile(held_average, rate))
    if final.gate[0] != NO_GATE:
        final.gate[2] = float(np.quantile(held_gate, GATE_RATE))
        final.gate[0] = threshold - final.gate[1] * final.gate[2]
    return final, threshold, final.gated(held_average, held_gate), held_average
