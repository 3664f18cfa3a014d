"""Metrics for p(dog) against 0/1 labels, and for the answers users get (cat, dog or neither)."""

from __future__ import annotations

import numpy as np

from ..decide import NAMED_POINTS, NEITHER_CODE, Decision
from ..errors import DataError


def expected_calibration_error(y_true: np.ndarray, p_dog: np.ndarray, bins: int = 15) -> float:
    """Confidence-binned ECE over the predicted label's confidence (Guo et al., 2017)."""
    predicted = Decision().is_dog(p_dog).astype(int)
    confidence = np.where(predicted == 1, p_dog, 1.0 - p_dog)
    correct = (predicted == y_true).astype(float)
    edges = np.linspace(0.5, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        members = which == b
        if members.any():
            total += members.mean() * abs(correct[members].mean() - confidence[members].mean())
    return float(total)


def roc_auc(y_true, scores) -> float:
    """Area under the ROC curve (y_true 1 = positive): the chance that a positive outscores a negative,
    ties counting half (the Mann-Whitney statistic, equal to scikit-learn's roc_auc_score)."""
    y_true, scores = np.asarray(y_true) == 1, np.asarray(scores, dtype=np.float64)
    positives, negatives = int(y_true.sum()), int((~y_true).sum())
    if positives == 0 or negatives == 0:
        raise DataError("ROC AUC needs photos of both kinds; pass data with both.")
    values, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    average_rank = np.cumsum(counts) - (counts - 1) / 2.0  # 1-based, ties share their mean rank
    rank_sum = average_rank[inverse.reshape(-1)][y_true].sum()
    return float((rank_sum - positives * (positives + 1) / 2.0) / (positives * negatives))


def classification_metrics(y_true, p_dog, skipped: int = 0, decision: Decision = Decision()) -> dict:
    """Cat-vs-dog metrics of p(dog), "neither" left aside (see answer_metrics for what users see).
    NumPy only, so that evaluating an export needs no more than the [serve] install."""
    y_true = np.asarray(y_true, dtype=int)
    p_dog = np.clip(np.asarray(p_dog, dtype=np.float64), 1e-7, 1 - 1e-7)
    predicted = decision.is_dog(p_dog).astype(int)
    confusion = np.zeros((2, 2), dtype=int)
    np.add.at(confusion, (y_true, predicted), 1)
    (_, false_dog), (false_cat, true_dog) = confusion
    precision = true_dog / (true_dog + false_dog) if true_dog + false_dog else 0.0
    recall = true_dog / (true_dog + false_cat) if true_dog + false_cat else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "accuracy": float(np.mean(predicted == y_true)) if len(y_true) else 0.0,
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
        # AUC is undefined with a single class; null says so instead of a made-up number.
        "roc_auc": roc_auc(y_true, p_dog) if len(np.unique(y_true)) == 2 else None,
        "log_loss": float(-np.mean(y_true * np.log(p_dog) + (1 - y_true) * np.log1p(-p_dog))),
        "ece": expected_calibration_error(y_true, p_dog),
        "confusion_matrix": confusion.tolist(),
        "n": int(len(y_true)),
        "skipped": int(skipped),
    }


def answer_metrics(y_true, p_dog, pet_score, decision: Decision) -> dict:
    """What users are answered on labelled cats and dogs: `refused` (share answered "neither"),
    `answer_accuracy` (answer = truth; "neither" on a pet is wrong) and `answers`, the 2 x 3 matrix
    of true cat/dog against answered cat/dog/neither."""
    y_true = np.asarray(y_true, dtype=int)
    codes = decision.codes(p_dog, pet_score)
    answers = np.zeros((2, 3), dtype=int)
    np.add.at(answers, (y_true, codes), 1)
    return {
        "refused": float(np.mean(codes == NEITHER_CODE)) if len(codes) else 0.0,
        "answer_accuracy": float(np.mean(codes == y_true)) if len(codes) else 0.0,
        "answers": answers.tolist(),
    }


def non_pet_metrics(codes: np.ndarray, ids: list[str], skipped: int) -> dict:
    """What users are answered on photos with no cat or dog (a file whose labels are all -1): the
    share answered "neither" (`answered_neither`, right) and the photos answered cat or dog."""
    codes = np.asarray(codes, dtype=int)
    counts = np.bincount(codes, minlength=3)
    return {
        "kind": "no cat or dog",
        "answered_neither": float(np.mean(codes == NEITHER_CODE)) if len(codes) else 0.0,
        "answers": {"cat": int(counts[0]), "dog": int(counts[1]), "neither": int(counts[NEITHER_CODE])},
        "let_through": [{"path": photo, "answer": "cat" if code == 0 else "dog"} for photo, code in zip(ids, codes) if code != NEITHER_CODE],
        "n": int(len(codes)),
        "skipped": int(skipped),
    }


def ood_metrics(in_scores: np.ndarray, ood_scores: np.ndarray, threshold: float) -> dict:
    """How well the pet score separates cat/dog photos from photos with neither, and what the
    threshold refuses: AUROC (in = positive), fraction of OOD photos refused, fraction of in refused."""
    if len(in_scores) == 0 or len(ood_scores) == 0:
        raise DataError("No readable photos on one side of the --ood comparison; pass labelled cat/dog photos and a non-empty --ood file.")
    labels = np.concatenate([np.ones(len(in_scores)), np.zeros(len(ood_scores))])
    return {
        "auroc": roc_auc(labels, np.concatenate([in_scores, ood_scores])),
        "refused_ood": float(np.mean(ood_scores < threshold)),
        "refused_in": float(np.mean(in_scores < threshold)),
        "threshold": float(threshold),
        "n_ood": int(len(ood_scores)),
    }


def neither_tradeoff(in_scores: np.ndarray, ood_scores: np.ndarray, points: list[list[float]], default_rate: float | None) -> list[dict]:
    """The choice a user makes with --refuse, along the run's operating points: the share of the
    labelled cats and dogs answered "neither" (`pets_refused`) against the share of the photos with
    no cat or dog answered cat or dog (`non_pets_accepted`). Rows of the named points say which."""
    names = {rate: name for name, rate in NAMED_POINTS.items()}
    if default_rate is not None:
        names[default_rate] = "default"
    zeros_in, zeros_ood = np.zeros(len(in_scores)), np.zeros(len(ood_scores))
    rows = []
    for rate, threshold in points:
        decision = Decision(neither_below=threshold)
        rows.append({"rate": rate, "threshold": threshold, "point": names.get(rate),
                     "pets_refused": float(np.mean(decision.codes(zeros_in, in_scores) == NEITHER_CODE)) if len(in_scores) else 0.0,
                     "non_pets_accepted": float(np.mean(decision.codes(zeros_ood, ood_scores) != NEITHER_CODE)) if len(ood_scores) else 0.0})
    return rows
