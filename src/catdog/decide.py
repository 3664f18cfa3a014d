"""The one decision: (class probabilities, "none of these" score, settings) -> a class or a refusal.

Every place that answers a user (predict, evaluate, serve, batch scoring, explain, robustness, the
export checks, the audit) goes through `Decision`; no other module compares a probability or a score
with a threshold. The refusal ("neither" for a cat/dog run, "none of these" for any other classes)
means that the photo holds none of the classes: its score is under `neither_below`. For a cat/dog
run that score is the pet score, and the code keeps that name for it.

A model's class output is p(class 1) [n] for two classes (the seed's sigmoid head: p(dog) for cat
and dog) and the N softmax probabilities [n, N] for more."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .classes import CAT_DOG, refusal_name
from .errors import UsageError

CAT, DOG, NEITHER = "cat", "dog", "neither"
ANSWERS = (CAT, DOG, NEITHER)  # a cat/dog run's answer codes 0, 1, 2: a cat/dog code equals its label
NEITHER_CODE = 2

# Test-time augmentation looks again at photos whose two likeliest classes are within 3.5 in log
# probability (for cat/dog with the threshold at 0.5: logit p(dog) within 3.5 of it, p between 0.03
# and 0.97) or with a pet score within 0.75 of the "neither" threshold. Chosen on the best run's
# validation split, shift, ood_diverse and ood (1,526 photos), scored by its float32 and its int8
# file: 6-7 % get the second look and every answer equals looking at all of them; 2.0 missed one
# shift photo under int8 whose mirror image turns p(dog) from 0.96 to 0.03.
TTA_MARGINS = (3.5, 0.75)
# The first look (config.GLANCE_SIZE px) answers a photo itself unless its two likeliest classes are
# within 5 in log probability, or its pet score is less than 1.5 above or 5 below the "neither"
# threshold: then the photo gets the full look. Lopsided because at 160 px photos with no cat or dog
# scored up to 1.46 above the threshold that the full look refuses, while pets the full look keeps
# were never more than 3.6 under it. Chosen on the default run's validation split, shift, lookalikes,
# ood and ood_diverse (1,901 photos) through its int8 files (benchmarks/glance.py --sweep): every
# answer the full look's, with 20 % of the validation pets given the full look; a class margin of 3.5
# (16 %) changed 2 shift and 2 lookalike answers (docs/BENCHMARKS.md, "Less work per photo").
GLANCE_MARGINS = (5.0, 1.5, 5.0)


@dataclass(frozen=True)
class Decision:
    """How a run turns its two outputs into an answer.

    threshold: for two classes, p(class 1) at or above which the answer is class 1 (a dog); with more
    classes the likeliest class is the answer.
    neither_below: score under which the answer is the refusal (None: the model has no such score).
    neither: False for users who know every photo holds one of the classes: never refuse.
    pet_slope: how steeply the score turns into the probability that one of the classes is there (for
    display and for exports that give N + 1 scores); the threshold is where that is one half.
    classes: the class names, label order.
    """

    threshold: float = 0.5
    neither_below: float | None = None
    neither: bool = True
    pet_slope: float = 1.0
    classes: tuple[str, ...] = CAT_DOG

    @property
    def refuses(self) -> bool:
        """Whether this decision can refuse at all."""
        return self.neither and self.neither_below is not None

    @property
    def answers(self) -> tuple[str, ...]:
        """Answer names by code: the classes, then the refusal."""
        return (*self.classes, refusal_name(self.classes))

    @property
    def refusal(self) -> str:
        return refusal_name(self.classes)

    @property
    def none_code(self) -> int:
        """The refusal's answer code (after the classes' own)."""
        return len(self.classes)

    def probabilities(self, p: np.ndarray) -> np.ndarray:
        """The class output as probabilities per class [n, N] (for two classes: [1 - p, p])."""
        p = np.asarray(p, dtype=np.float64)
        return np.stack([1.0 - p, p], axis=-1) if p.ndim == 1 else p

    def top(self, p: np.ndarray) -> np.ndarray:
        """The class side of the decision alone (what `accuracy` counts): a class code per photo."""
        p = np.asarray(p, dtype=np.float64)
        if p.ndim == 1:
            return (p >= self.threshold).astype(np.int64)
        return np.argmax(p, axis=1).astype(np.int64)

    def is_dog(self, p_dog: np.ndarray) -> np.ndarray:
        """Two classes: whether each photo is answered class 1 (a dog), refusal left aside."""
        return self.top(p_dog) == 1

    def refused(self, pet_score: np.ndarray) -> np.ndarray:
        """Which scores are under the refusal threshold (whatever the class output says)."""
        if not self.refuses or pet_score is None:
            return np.zeros(np.shape(pet_score), dtype=bool)
        assert self.neither_below is not None
        return np.asarray(pet_score, dtype=np.float64) < self.neither_below

    def codes(self, p: np.ndarray, pet_score: np.ndarray | None = None) -> np.ndarray:
        """Answer codes (the class's label, or `none_code` for the refusal) for arrays of class outputs
        and scores."""
        codes = self.top(p)
        if pet_score is not None:
            codes[self.refused(pet_score)] = self.none_code
        return codes

    def _class_margin(self, p: np.ndarray) -> np.ndarray:
        """How far each photo's class answer is from changing: |logit p - logit threshold| for two
        classes, log p(top) - log p(second) for more."""
        p = np.asarray(p, dtype=np.float64)
        if p.ndim == 1:
            p = np.clip(p, 1e-12, 1 - 1e-12)
            t = min(max(self.threshold, 1e-12), 1 - 1e-12)
            return np.abs(np.log(p / (1 - p)) - np.log(t / (1 - t)))
        ranked = np.log(np.clip(np.sort(p, axis=1), 1e-12, 1.0))
        return ranked[:, -1] - ranked[:, -2]

    def near_threshold(self, p: np.ndarray, pet_score: np.ndarray | None, dog_margin: float,
                       pet_margin: float, pet_margin_below: float | None = None) -> np.ndarray:
        """Which answers sit close to a threshold: the class answer within `dog_margin` (in log odds)
        of changing, or (when this decision can refuse) the score less than `pet_margin` above
        `neither_below` or `pet_margin_below` (default: the same) under it. Only these answers can
        change with a second look at the photo."""
        near = self._class_margin(p) < dog_margin
        if self.refuses and pet_score is not None:
            assert self.neither_below is not None
            below = pet_margin if pet_margin_below is None else pet_margin_below
            pet = np.asarray(pet_score, dtype=np.float64) - self.neither_below
            # A photo far under the refusal threshold is refused whatever its class output.
            near = (near & (pet >= -below)) | ((pet > -below) & (pet < pet_margin))
        return near

    def within_error(self, p: np.ndarray, pet_score: np.ndarray | None, dog_error: float, pet_error: float) -> np.ndarray:
        """Which answers an error of at most `dog_error` in each class probability or `pet_error` in the
        score could change: those that close to a threshold (what an export's rounding may flip)."""
        p = np.asarray(p, dtype=np.float64)
        if p.ndim == 1:
            close = np.abs(p - self.threshold) <= dog_error
        else:
            ranked = np.sort(p, axis=1)
            close = ranked[:, -1] - ranked[:, -2] <= 2 * dog_error
        if self.refuses and pet_score is not None:
            assert self.neither_below is not None
            close |= np.abs(np.asarray(pet_score, dtype=np.float64) - self.neither_below) <= pet_error
        return close

    def _one(self, p: float | np.ndarray) -> np.ndarray:
        """One photo's class output as a batch of one."""
        value = np.asarray(p, dtype=np.float64)
        return value.reshape(1) if value.ndim == 0 else value.reshape(1, -1)

    def answer(self, p: float | np.ndarray, pet_score: float | None = None) -> str:
        """One photo's answer name; `p` is p(class 1) for two classes, the N probabilities for more."""
        return self.answers[int(self.codes(self._one(p), None if pet_score is None else np.array([pet_score]))[0])]

    def pet_probability(self, pet_score: np.ndarray) -> np.ndarray:
        """A probability that one of the classes is in the photo, 0.5 exactly at the refusal threshold."""
        if self.neither_below is None:
            return np.ones_like(np.asarray(pet_score, dtype=np.float64))
        z = self.pet_slope * (np.asarray(pet_score, dtype=np.float64) - self.neither_below)
        return _sigmoid(z)

    def confidence(self, p: float | np.ndarray, pet_score: float | None = None) -> float:
        """How sure the answer is: p of the chosen class, or 1 - p(one of the classes) for a refusal."""
        batch = self._one(p)
        code = self.codes(batch, None if pet_score is None else np.array([pet_score]))[0]
        if code == self.none_code:
            return float(1.0 - self.pet_probability(np.array([pet_score]))[0])
        return float(self.probabilities(batch)[0, code])

    def scores(self, p: np.ndarray, pet_score: np.ndarray) -> np.ndarray:
        """N + 1 scores per photo, [classes..., refusal], that sum to one and whose largest is the
        answer: what a MediaPipe ImageClassifier reports as its top category. With d the class
        probabilities (for two classes, p moved so that the threshold sits at one half) and
        q = pet_probability: [d_1 q, ..., d_N q, (1 - q) max(d)], normalised. q >= 1/2 exactly when
        the score is at or above `neither_below`, so the refusal wins exactly when `codes` says so."""
        p = np.asarray(p, dtype=np.float64)
        d = self.probabilities(self._dog_share(p) if p.ndim == 1 else p)
        if self.refuses:
            assert self.neither_below is not None
            z = self.pet_slope * (np.asarray(pet_score, dtype=np.float64) - self.neither_below)
            q, not_q = _sigmoid(z), _sigmoid(-z)  # 1 - q computed on its own: no cancellation
        else:
            q, not_q = np.ones(len(d)), np.zeros(len(d))
        raw = np.concatenate([d * q[:, None], (not_q * d.max(axis=1))[:, None]], axis=1)
        return raw / raw.sum(axis=-1, keepdims=True)

    def from_scores(self, scores: np.ndarray) -> np.ndarray:
        """[class output..., score] back from `scores` (what the engines return for an N + 1 score
        file): [p(class 1), score] for two classes, [p_1..p_N, score] for more."""
        s = np.asarray(scores, dtype=np.float64)
        n_classes = len(self.classes)
        pets = s[:, :n_classes].sum(axis=1)
        d = np.divide(s[:, :n_classes], pets[:, None], out=np.full((len(s), n_classes), 1.0 / n_classes), where=pets[:, None] > 0)
        if n_classes == 2:
            d = (d[:, 1] * self.threshold / (d[:, 1] * self.threshold + (1 - d[:, 1]) * (1 - self.threshold)))[:, None]
        if not self.refuses:
            return np.concatenate([d, np.full((len(s), 1), np.inf)], axis=1)
        tiny = np.finfo(np.float64).tiny
        logit_q = np.log(np.maximum(s[:, :n_classes].max(axis=1), tiny)) - np.log(np.maximum(s[:, n_classes], tiny))
        assert self.neither_below is not None
        return np.concatenate([d, (self.neither_below + logit_q / self.pet_slope)[:, None]], axis=1)

    def _dog_share(self, p_dog: np.ndarray) -> np.ndarray:
        """p(class 1) mapped so that the threshold sits at 0.5 (the identity when it is 0.5)."""
        t = self.threshold
        return p_dog * (1 - t) / (p_dog * (1 - t) + (1 - p_dog) * t)

    def without_neither(self) -> Decision:
        return replace(self, neither=False)


# Operating points of "neither" (--refuse): the share of held-out training cats and dogs that a
# threshold refuses. "default" is the run's own (its recipe's neither_rate); "lenient" refuses fewer
# pets (small, blurred or unusual photos) and lets more non-pets through; "strict" the other way round.
# docs/TRUST.md has what each point refuses on the development files.
NAMED_POINTS = {"lenient": 0.003, "strict": 0.015}
POINT_RATES = (0.001, 0.002, 0.003, 0.004, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.1)


def refusal_points(held_out_scores: np.ndarray, rate: float, threshold: float) -> list[list[float]]:
    """[rate, threshold] pairs: the pet score under which `rate` of the held-out training photos fall;
    the run's own point (`rate`, `threshold`) exactly as the run decides."""
    scores = np.asarray(held_out_scores, dtype=np.float64)
    points = {r: float(np.quantile(scores, r)) for r in POINT_RATES}
    points[rate] = float(threshold)
    return [[r, points[r]] for r in sorted(points)]


def parse_refuse(refuse: str | float | None) -> str | float | None:
    """--refuse as given: None, a named point, or a rate in (0, 0.5)."""
    if refuse is None or isinstance(refuse, float):
        value = refuse
    elif refuse in ("default", *NAMED_POINTS):
        return refuse
    else:
        try:
            value = float(refuse)
        except ValueError:
            value = -1.0
    if value is not None and not 0.0 < value < 0.5:
        raise UsageError(f"--refuse takes default, {', '.join(NAMED_POINTS)} or a share of cats and dogs to refuse between 0 "
                         f"and 0.5 (for example 0.01), not {refuse!r}.")
    return value


def refusal_threshold(points: list[list[float]] | None, refuse: str | float | None, default: float | None) -> float | None:
    """The pet-score threshold of an operating point: the run's own (`default`) for None or "default",
    else the named point's or the given rate's, interpolated between the run's saved points."""
    refuse = parse_refuse(refuse)
    if refuse is None or refuse == "default" or default is None:
        return default
    if not points:
        raise UsageError("This run saved no operating points for 'neither' (trained before --refuse existed); retrain it, or "
                         "leave --refuse out.")
    rate = NAMED_POINTS[refuse] if isinstance(refuse, str) else float(refuse)
    rates, thresholds = zip(*points)
    if not rates[0] <= rate <= rates[-1]:
        raise UsageError(f"--refuse {rate:g} is outside the rates this run saved ({rates[0]:g} to {rates[-1]:g}); pick one in "
                         "that range.")
    return float(np.interp(rate, rates, thresholds))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    """1 / (1 + e^-z) without overflow for any z (and exact in the tails, where scores need it)."""
    return np.exp(-np.logaddexp(0.0, -np.asarray(z, dtype=np.float64)))
