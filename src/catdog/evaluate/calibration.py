"""Temperature scaling (Guo et al., 2017): one scalar T fitted on validation photos so that
sigmoid(logit / T) (softmax(logits / T) for more than two classes) says 90 % when the model is right
90 % of the time.

For a sigmoid or softmax output layer, dividing the logits by T equals dividing that layer's kernel
and bias by T, so calibration is folded into the saved model's weights and every export carries it.

Class outputs are p(class 1) for two classes and the N probabilities (last axis) for more: `classes`
says which, since [n, views] and [n, N] have the same shape."""

from __future__ import annotations

import numpy as np

from ..decide import Decision

# When every validation photo is right, log loss keeps falling as T -> 0 and the search would make
# the model certain of everything. Label smoothing 0.1 caps a confident sigmoid near 0.95 (logit ~3);
# T = 0.25 still lets that reach 0.99999, so sharper temperatures only ever overfit a lucky split.
MIN_TEMPERATURE = 0.25


def logits(p: np.ndarray, classes: int = 2) -> np.ndarray:
    """The logit of p(class 1) for two classes; for more, log p (a softmax's logits up to a constant
    per photo, which the softmax ignores)."""
    if classes != 2:
        return np.log(np.clip(np.asarray(p, dtype=np.float64), 1e-12, 1.0))
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-7, 1 - 1e-7)
    return np.log(p / (1 - p))


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _nll(z: np.ndarray, y: np.ndarray, temperature: float, classes: int = 2) -> float:
    scaled = z / temperature
    if classes != 2:  # [n, N] or [n, views, N]; views averaged after scaling
        p = _softmax(scaled)
        p = p.mean(axis=1) if p.ndim == 3 else p
        return float(-np.mean(np.log(np.clip(p[np.arange(len(y)), y], 1e-12, 1.0))))
    if scaled.ndim == 2:  # views averaged after scaling, as test-time augmentation averages them
        p = np.clip(np.mean(1.0 / (1.0 + np.exp(-scaled)), axis=1), 1e-12, 1 - 1e-12)
        return float(-np.mean(np.where(y == 1, np.log(p), np.log(1 - p))))
    # log(1 + exp(-s)) for y=1 and log(1 + exp(s)) for y=0, computed stably
    return float(np.mean(np.logaddexp(0.0, np.where(y == 1, -scaled, scaled))))


def fit_temperature(p: np.ndarray, labels: np.ndarray, classes: int = 2) -> float:
    """The T in [MIN_TEMPERATURE, 20] that minimises validation log loss (a 1-D search, golden section
    on log T). `p` is [n] ([n, N] for more classes), or [n, views] ([n, views, N]) when predictions
    average views (test-time augmentation)."""
    z, y = logits(p, classes), np.asarray(labels, dtype=int)
    low, high = np.log(MIN_TEMPERATURE), np.log(20.0)
    ratio = (np.sqrt(5) - 1) / 2
    for _ in range(80):
        a, b = high - ratio * (high - low), low + ratio * (high - low)
        if _nll(z, y, np.exp(a), classes) < _nll(z, y, np.exp(b), classes):
            high = b
        else:
            low = a
    return float(np.exp((low + high) / 2))


def apply_temperature(p: np.ndarray, temperature: float, classes: int = 2) -> np.ndarray:
    if classes != 2:
        return _softmax(logits(p, classes) / temperature)
    return 1.0 / (1.0 + np.exp(-logits(p) / temperature))


def mean_logit(outputs: list[np.ndarray], classes: int = 2) -> np.ndarray:
    """The class output of several heads' mean logit (model.layers.MeanLogit's NumPy twin)."""
    mean = np.mean([logits(p, classes) for p in outputs], axis=0)
    return _softmax(mean) if classes != 2 else 1.0 / (1.0 + np.exp(-mean))


def top_label(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(answered class, its probability) per photo, for p(class 1) [n] or probabilities [n, N]."""
    decision = Decision()
    predicted = decision.top(p)
    return predicted, decision.probabilities(p)[np.arange(len(predicted)), predicted]


def reliability_bins(labels: np.ndarray, p: np.ndarray, bins: int = 10) -> list[dict]:
    """Per confidence bin: mean confidence, accuracy, count (for the reliability diagram)."""
    predicted, confidence = top_label(p)
    correct = predicted == labels
    edges = np.linspace(1.0 / (2 if np.ndim(p) == 1 else np.shape(p)[1]), 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    return [
        {"low": float(edges[b]), "high": float(edges[b + 1]), "count": int((which == b).sum()),
         "confidence": float(confidence[which == b].mean()) if (which == b).any() else None,
         "accuracy": float(correct[which == b].mean()) if (which == b).any() else None}
        for b in range(bins)
    ]
