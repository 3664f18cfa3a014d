"""Metrics for p(dog) against 0/1 labels, and for the answers users get (cat, dog or neither)."""

from __future__ import annotations

import numpy as np

from ..decide import NAMED_POINTS, NEITHER, Decision
from ..errors import DataError
from .calibration import top_label


def expected_calibration_error(y_true: np.ndarray, p: np.ndarray, bins: int = 15) -> float:
    """Confidence-binned ECE over the predicted label's confidence (Guo et al., 2017); `p` is
    p(class 1) [n] for two classes, the probabilities [n, N] for more."""
    predicted, confidence = top_label(p)
    correct = (predicted == y_true).astype(float)
    edges = np.linspace(1.0 / (2 if np.ndim(p) == 1 else np.shape(p)[1]), 1.0, bins + 1)
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


def log_loss(y_true: np.ndarray, p: np.ndarray) -> float:
    """Mean negative log-likelihood of the true class (probabilities clipped to [1e-7, 1 - 1e-7])."""
    if not len(y_true):
        return 0.0
    if np.ndim(p) == 1:
        p = np.clip(np.asarray(p, dtype=np.float64), 1e-7, 1 - 1e-7)
        return float(-np.mean(y_true * np.log(p) + (1 - y_true) * np.log1p(-p)))
    chosen = np.asarray(p, dtype=np.float64)[np.arange(len(y_true)), y_true]
    return float(-np.mean(np.log(np.clip(chosen, 1e-7, 1 - 1e-7))))


def per_class_metrics(confusion: np.ndarray, classes: tuple[str, ...]) -> dict:
    """Precision, recall, F1 and photos of each class from a confusion matrix (rows truth, columns
    answer), and their macro averages (each class counting the same)."""
    confusion = np.asarray(confusion, dtype=np.float64)
    hits, answered, true = np.diag(confusion), confusion.sum(axis=0), confusion.sum(axis=1)
    precision = np.divide(hits, answered, out=np.zeros_like(hits), where=answered > 0)
    recall = np.divide(hits, true, out=np.zeros_like(hits), where=true > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros_like(hits), where=precision + recall > 0)
    present = true > 0  # a class with no photo here has no recall to average
    return {
        "per_class": {name: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]), "n": int(true[i])}
                      for i, name in enumerate(classes)},
        "macro_precision": float(precision[present].mean()) if present.any() else 0.0,
        "macro_recall": float(recall[present].mean()) if present.any() else 0.0,
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
    }


def classification_metrics(y_true, p, skipped: int = 0, decision: Decision = Decision()) -> dict:
    """Metrics of the class output, the refusal left aside (see answer_metrics for what users see).
    For two classes (`p` = p(class 1), [n]) the seed's: accuracy, precision, recall and F1 of class 1,
    ROC AUC, log loss, ECE and the 2 x 2 confusion matrix; for more (`p` [n, N]) accuracy, log loss,
    top-label ECE, the N x N confusion matrix and macro one-vs-rest ROC AUC. Both: per-class
    precision, recall and F1 and their macro averages. NumPy only, so that evaluating an export needs
    no more than the [serve] install."""
    y_true = np.asarray(y_true, dtype=int)
    classes = decision.classes
    probabilities = np.clip(decision.probabilities(p), 1e-7, 1 - 1e-7)
    predicted = decision.top(p)
    confusion = np.zeros((len(classes), len(classes)), dtype=int)
    np.add.at(confusion, (y_true, predicted), 1)
    metrics: dict = {"accuracy": float(np.mean(predicted == y_true)) if len(y_true) else 0.0}
    if len(classes) == 2:
        (_, false_dog), (false_cat, true_dog) = confusion
        precision = true_dog / (true_dog + false_dog) if true_dog + false_dog else 0.0
        recall = true_dog / (true_dog + false_cat) if true_dog + false_cat else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        metrics.update({"precision": float(precision), "recall": float(recall), "f1": float(f1)})
    present = np.unique(y_true)
    # AUC is undefined with a single class; null says so instead of a made-up number.
    if len(classes) == 2:
        metrics["roc_auc"] = roc_auc(y_true, probabilities[:, 1]) if len(present) == 2 else None
    else:
        metrics["roc_auc"] = float(np.mean([roc_auc(y_true == c, probabilities[:, c]) for c in present])) if len(present) > 1 else None
    metrics.update({
        "log_loss": log_loss(y_true, p),
        "ece": expected_calibration_error(y_true, p),
        "confusion_matrix": confusion.tolist(),
        **per_class_metrics(confusion, classes),
        "n": int(len(y_true)),
        "skipped": int(skipped),
    })
    return metrics


def answer_metrics(y_true, p, pet_score, decision: Decision) -> dict:
    """What users are answered on labelled photos: `refused` (share answered the refusal, "neither"
    for cat/dog), `answer_accuracy` (answer = truth; a refusal is wrong) and `answers`, the
    N x (N + 1) matrix of true class against answered class or refusal (columns `decision.answers`)."""
    y_true = np.asarray(y_true, dtype=int)
    codes = decision.codes(p, pet_score)
    answers = np.zeros((len(decision.classes), len(decision.answers)), dtype=int)
    np.add.at(answers, (y_true, codes), 1)
    return {
        "refused": float(np.mean(codes == decision.none_code)) if len(codes) else 0.0,
        "answer_accuracy": float(np.mean(codes == y_true)) if len(codes) else 0.0,
        "answers": answers.tolist(),
    }


def non_pet_metrics(codes: np.ndarray, ids: list[str], skipped: int, decision: Decision = Decision()) -> dict:
    """What users are answered on photos of none of the classes (a file whose labels are all -1): the
    share refused (`answered_neither`, right) and the photos answered a class."""
    codes = np.asarray(codes, dtype=int)
    names = decision.answers
    counts = np.bincount(codes, minlength=len(names))
    return {
        "kind": "no cat or dog" if decision.refusal == NEITHER else f"none of {', '.join(decision.classes)}",
        "answered_neither": float(np.mean(codes == decision.none_code)) if len(codes) else 0.0,
        "answers": {name: int(counts[i]) for i, name in enumerate(names)},
        "let_through": [{"path": photo, "answer": names[code]} for photo, code in zip(ids, codes) if code != decision.none_code],
        "n": int(len(codes)),
        "skipped": int(skipped),
    }


def ood_metrics(in_scores: np.ndarray, ood_scores: np.ndarray, threshold: float) -> dict:
    """How well the score separates photos of the classes from photos of none of them, and what the
    threshold refuses: AUROC (in = positive), fraction of OOD photos refused, fraction of in refused."""
    if len(in_scores) == 0 or len(ood_scores) == 0:
        raise DataError("No readable photos on one side of the --ood comparison; pass labelled photos of the classes and a "
                        "non-empty --ood file.")
    labels = np.concatenate([np.ones(len(in_scores)), np.zeros(len(ood_scores))])
    decision = Decision(neither_below=threshold)
    return {
        "auroc": roc_auc(labels, np.concatenate([in_scores, ood_scores])),
        "refused_ood": float(np.mean(decision.refused(ood_scores))),
        "refused_in": float(np.mean(decision.refused(in_scores))),
        "threshold": float(threshold),
        "n_ood": int(len(ood_scores)),
    }


def neither_tradeoff(in_scores: np.ndarray, ood_scores: np.ndarray, points: list[list[float]], default_rate: float | None) -> list[dict]:
    """The choice a user makes with --refuse, along the run's operating points: the share of the
    labelled photos of the classes refused (`pets_refused`) against the share of the photos of none
    of them answered a class (`non_pets_accepted`). Rows of the named points say which."""
    names = {rate: name for name, rate in NAMED_POINTS.items()}
    if default_rate is not None:
        names[default_rate] = "default"
    rows = []
    for rate, threshold in points:
        decision = Decision(neither_below=threshold)
        rows.append({"rate": rate, "threshold": threshold, "point": names.get(rate),
                     "pets_refused": float(np.mean(decision.refused(in_scores))) if len(in_scores) else 0.0,
                     "non_pets_accepted": float(np.mean(~decision.refused(ood_scores))) if len(ood_scores) else 0.0})
    return rows
