"""Temperature scaling (Guo et al., 2017): one scalar T fitted on validation photos so that
sigmoid(logit / T) says 90 % when the model is right 90 % of the time.

For a sigmoid output layer, dividing the logit by T equals dividing that layer's kernel and bias by
T, so calibration is folded into the saved model's weights and every export carries it."""

from __future__ import annotations

import numpy as np

from ..decide import Decision

# When every validation photo is right, log loss keeps falling as T -> 0 and the search would make
# the model certain of everything. Label smoothing 0.1 caps a confident sigmoid near 0.95 (logit ~3);
# T = 0.25 still lets that reach 0.99999, so sharper temperatures only ever overfit a lucky split.
MIN_TEMPERATURE = 0.25


def logits(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-7, 1 - 1e-7)
    return np.log(p / (1 - p))


def _nll(z: np.ndarray, y: np.ndarray, temperature: float) -> float:
    scaled = z / temperature
    if scaled.ndim == 2:  # views averaged after scaling, as test-time augmentation averages them
        p = np.clip(np.mean(1.0 / (1.0 + np.exp(-scaled)), axis=1), 1e-12, 1 - 1e-12)
        return float(-np.mean(np.where(y == 1, np.log(p), np.log(1 - p))))
    # log(1 + exp(-s)) for y=1 and log(1 + exp(s)) for y=0, computed stably
    return float(np.mean(np.logaddexp(0.0, np.where(y == 1, -scaled, scaled))))


def fit_temperature(p_dog: np.ndarray, labels: np.ndarray) -> float:
    """The T in [MIN_TEMPERATURE, 20] that minimises validation log loss (a 1-D search, golden section
    on log T). `p_dog` is [n], or [n, views] when predictions average views (test-time augmentation)."""
    z, y = logits(p_dog), np.asarray(labels, dtype=int)
    low, high = np.log(MIN_TEMPERATURE), np.log(20.0)
    ratio = (np.sqrt(5) - 1) / 2
    for _ in range(80):
        a, b = high - ratio * (high - low), low + ratio * (high - low)
        if _nll(z, y, np.exp(a)) < _nll(z, y, np.exp(b)):
            high = b
        else:
            low = a
    return float(np.exp((low + high) / 2))


def apply_temperature(p_dog: np.ndarray, temperature: float) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-logits(p_dog) / temperature))


def reliability_bins(labels: np.ndarray, p_dog: np.ndarray, bins: int = 10) -> list[dict]:
    """Per confidence bin: mean confidence, accuracy, count (for the reliability diagram)."""
    predicted = Decision().is_dog(p_dog).astype(int)
    confidence = np.where(predicted == 1, p_dog, 1 - p_dog)
    correct = predicted == labels
    edges = np.linspace(0.5, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    return [
        {"low": float(edges[b]), "high": float(edges[b + 1]), "count": int((which == b).sum()),
         "confidence": float(confidence[which == b].mean()) if (which == b).any() else None,
         "accuracy": float(correct[which == b].mean()) if (which == b).any() else None}
        for b in range(bins)
    ]
