"""The one decision: (p(dog), pet score, settings) -> cat / dog / neither.

Every place that answers a user (predict, evaluate, serve, batch scoring, explain, robustness, the
export checks) goes through `Decision`; no other module compares a probability or a score with a
threshold. "neither" means no cat or dog in the photo: its pet score is under `neither_below`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import UsageError

CAT, DOG, NEITHER = "cat", "dog", "neither"
ANSWERS = (CAT, DOG, NEITHER)  # answer codes 0, 1, 2: a cat/dog code equals its label
NEITHER_CODE = 2


@dataclass(frozen=True)
class Decision:
    """How a run turns its two outputs into an answer.

    threshold: p(dog) at or above which a pet is a dog.
    neither_below: pet score under which the answer is "neither" (None: the model has no pet score).
    neither: False for users who know every photo holds a cat or a dog: never answer "neither".
    pet_slope: how steeply the pet score turns into the probability that a pet is there (for display
    and for exports that give three scores); the threshold is where that probability is one half.
    """

    threshold: float = 0.5
    neither_below: float | None = None
    neither: bool = True
    pet_slope: float = 1.0

    @property
    def refuses(self) -> bool:
        """Whether this decision can answer "neither" at all."""
        return self.neither and self.neither_below is not None

    def is_dog(self, p_dog: np.ndarray) -> np.ndarray:
        """The cat-vs-dog side of the decision alone (what `accuracy` counts)."""
        return np.asarray(p_dog, dtype=np.float64) >= self.threshold

    def codes(self, p_dog: np.ndarray, pet_score: np.ndarray | None = None) -> np.ndarray:
        """Answer codes (0 cat, 1 dog, 2 neither) for arrays of p(dog) and pet scores."""
        codes = self.is_dog(p_dog).astype(np.int64)
        if self.neither and self.neither_below is not None and pet_score is not None:
            codes[np.asarray(pet_score, dtype=np.float64) < self.neither_below] = NEITHER_CODE
        return codes

    def near_threshold(self, p_dog: np.ndarray, pet_score: np.ndarray | None, dog_margin: float,
                       pet_margin: float) -> np.ndarray:
        """Which answers sit close to a threshold: logit p(dog) within `dog_margin` of the threshold's
        logit, or (when this decision can answer "neither") the pet score within `pet_margin` of
        `neither_below`. Only these answers can change with a second look at the photo."""
        p = np.clip(np.asarray(p_dog, dtype=np.float64), 1e-12, 1 - 1e-12)
        t = min(max(self.threshold, 1e-12), 1 - 1e-12)
        near = np.abs(np.log(p / (1 - p)) - np.log(t / (1 - t))) < dog_margin
        if self.neither and self.neither_below is not None and pet_score is not None:
            pet = np.asarray(pet_score, dtype=np.float64) - self.neither_below
            # A photo far under the "neither" threshold is answered "neither" whatever its p(dog).
            near = (near & (pet >= -pet_margin)) | (np.abs(pet) < pet_margin)
        return near

    def within_error(self, p_dog: np.ndarray, pet_score: np.ndarray | None, dog_error: float, pet_error: float) -> np.ndarray:
        """Which answers an error of at most `dog_error` in p(dog) or `pet_error` in the pet score could
        change: those that close to a threshold (what an export's rounding may flip)."""
        close = np.abs(np.asarray(p_dog, dtype=np.float64) - self.threshold) <= dog_error
        if self.neither and self.neither_below is not None and pet_score is not None:
            close |= np.abs(np.asarray(pet_score, dtype=np.float64) - self.neither_below) <= pet_error
        return close

    def answer(self, p_dog: float, pet_score: float | None = None) -> str:
        return ANSWERS[int(self.codes(np.array([p_dog]), None if pet_score is None else np.array([pet_score]))[0])]

    def pet_probability(self, pet_score: np.ndarray) -> np.ndarray:
        """A probability that a cat or dog is in the photo, 0.5 exactly at the "neither" threshold."""
        if self.neither_below is None:
            return np.ones_like(np.asarray(pet_score, dtype=np.float64))
        z = self.pet_slope * (np.asarray(pet_score, dtype=np.float64) - self.neither_below)
        return _sigmoid(z)

    def confidence(self, p_dog: float, pet_score: float | None = None) -> float:
        """How sure the answer is: p of the chosen class, or 1 - p(pet) for "neither"."""
        code = self.codes(np.array([p_dog]), None if pet_score is None else np.array([pet_score]))[0]
        if code == NEITHER_CODE:
            return float(1.0 - self.pet_probability(np.array([pet_score]))[0])
        return float(p_dog if code == 1 else 1.0 - p_dog)

    def scores(self, p_dog: np.ndarray, pet_score: np.ndarray) -> np.ndarray:
        """Three scores per photo, [cat, dog, neither], that sum to one and whose largest is the
        answer: what a MediaPipe ImageClassifier reports as its top category. With d = p(dog) moved
        so that the threshold sits at one half and q = pet_probability:
        [(1 - d) q, d q, (1 - q) max(d, 1 - d)], normalised. q >= 1/2 exactly when the pet score is
        at or above `neither_below`, so "neither" wins exactly when `codes` says so."""
        d = self._dog_share(np.asarray(p_dog, dtype=np.float64))
        if self.neither and self.neither_below is not None:
            z = self.pet_slope * (np.asarray(pet_score, dtype=np.float64) - self.neither_below)
            q, not_q = _sigmoid(z), _sigmoid(-z)  # 1 - q computed on its own: no cancellation
        else:
            q, not_q = np.ones_like(d), np.zeros_like(d)
        raw = np.stack([(1 - d) * q, d * q, not_q * np.maximum(d, 1 - d)], axis=-1)
        return raw / raw.sum(axis=-1, keepdims=True)

    def from_scores(self, scores: np.ndarray) -> np.ndarray:
        """[p(dog), pet score] back from `scores` (what the engines return for a three-score file)."""
        s = np.asarray(scores, dtype=np.float64)
        pets = s[:, 0] + s[:, 1]
        d = np.divide(s[:, 1], pets, out=np.full(len(s), 0.5), where=pets > 0)
        p_dog = d * self.threshold / (d * self.threshold + (1 - d) * (1 - self.threshold))
        if not (self.neither and self.neither_below is not None):
            return np.stack([p_dog, np.full(len(s), np.inf)], axis=-1)
        tiny = np.finfo(np.float64).tiny
        logit_q = np.log(np.maximum(np.maximum(s[:, 0], s[:, 1]), tiny)) - np.log(np.maximum(s[:, 2], tiny))
        return np.stack([p_dog, self.neither_below + logit_q / self.pet_slope], axis=-1)

    def _dog_share(self, p_dog: np.ndarray) -> np.ndarray:
        """p(dog) mapped so that the dog threshold sits at 0.5 (the identity when it is 0.5)."""
        t = self.threshold
        return p_dog * (1 - t) / (p_dog * (1 - t) + (1 - p_dog) * t)

    def without_neither(self) -> Decision:
        return Decision(self.threshold, self.neither_below, False, self.pet_slope)


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
