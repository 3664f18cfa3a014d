"""The run folder's plots. Each writes one PNG atomically and closes its figure."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..decide import Decision
from ..files import atomic_path


def _figure(*args, **kwargs):
    import matplotlib

    matplotlib.use("Agg")  # no display on servers and CI
    import matplotlib.pyplot as plt

    return plt, *plt.subplots(*args, **kwargs)


def _save(plt, fig, path: Path) -> Path:
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return path


def plot_history(history: Sequence[dict], path: Path) -> Path:
    """Training/validation accuracy and loss per epoch (the original's fit_result.png)."""
    plt, fig, (acc_ax, loss_ax) = _figure(1, 2, figsize=(11, 4))
    epochs = [row["epoch"] for row in history]
    for ax, key, title in ((acc_ax, "accuracy", "Accuracy"), (loss_ax, "loss", "Loss")):
        ax.plot(epochs, [row.get(key) for row in history], "o-", label=f"training {key}")
        ax.plot(epochs, [row.get(f"val_{key}") for row in history], "o-", label=f"validation {key}")
        for row_a, row_b in zip(history, history[1:]):
            if row_a["phase"] != row_b["phase"]:
                ax.axvline(row_b["epoch"] - 0.5, color="grey", linestyle="--", linewidth=1)
        ax.set_xlabel("epoch")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend()
    return _save(plt, fig, path)


def plot_confusion(matrix: Sequence[Sequence[int]], path: Path, title: str, decision: Decision = Decision()) -> Path:
    """True class against the answer (the classes and, with one more column, the refusal); the title
    gives the answer accuracy and the share refused, counted as users see them."""
    values = np.asarray(matrix)
    classes = len(decision.classes)
    side = 0.75 * classes + 2.9
    plt, fig, ax = _figure(figsize=(side + (0.8 if values.shape[1] > classes else 0), side - 0.4))
    ax.imshow(values, cmap="Blues")
    for (row, col), count in np.ndenumerate(values):
        ax.text(col, row, str(count), ha="center", va="center",
                color="white" if count > values.max() / 2 else "black", fontsize=14 if classes <= 3 else 10)
    answers = decision.answers[: values.shape[1]]
    ax.set_xticks(range(len(answers)), answers, rotation=0 if classes <= 3 else 45, ha="center" if classes <= 3 else "right")
    ax.set_yticks(range(classes), decision.classes)
    ax.set_xlabel("answered")
    ax.set_ylabel("true")
    right, total = np.trace(values[:, :classes]), max(values.sum(), 1)
    refused = values[:, classes:].sum() / total
    ax.set_title(f"{title}\nanswer accuracy {right / total:.1%}, refused {refused:.1%}", fontsize=10)
    return _save(plt, fig, path)


def plot_roc(labels: np.ndarray, p: np.ndarray, path: Path, title: str, decision: Decision = Decision()) -> Path:
    """The ROC curve of p(class 1) for two classes; one curve per class (one against the rest) for more."""
    from sklearn.metrics import roc_auc_score, roc_curve

    plt, fig, ax = _figure(figsize=(4.6, 4.4))
    probabilities, classes = decision.probabilities(p), decision.classes
    curves = [(1, None)] if len(classes) == 2 else [(c, classes[c]) for c in range(len(classes))]
    for column, name in curves:
        truth = np.asarray(labels) == column
        if 0 < truth.sum() < len(truth):
            fpr, tpr, _ = roc_curve(truth, probabilities[:, column])
            auc = roc_auc_score(truth, probabilities[:, column])
            ax.plot(fpr, tpr, label=f"AUC {auc:.4f}" if name is None else f"{name} (AUC {auc:.4f})")
    if ax.get_lines():
        ax.legend(loc="lower right", fontsize=10 if len(curves) == 1 else 8)
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1)
    first, second = classes[0], classes[1]
    ax.set_xlabel(f"false positive rate ({first}s called {second})" if len(classes) == 2 else "false positive rate (others called the class)")
    ax.set_ylabel(f"true positive rate ({second}s called {second})" if len(classes) == 2 else "true positive rate (the class called it)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    return _save(plt, fig, path)


def plot_prediction_grid(pixels: np.ndarray, labels: Sequence[int | None], p: Sequence,
                         answers: Sequence[int], path: Path, columns: int = 4, title: str | None = None,
                         decision: Decision = Decision()) -> Path:
    """Photo, answer and its probability (p(dog) for cat/dog, as the original's module_test.png); green
    when right, red when wrong (a refusal of a photo of a class is wrong), under `title` (what was
    picked). `p` is each photo's class output, `answers` are `decision`'s codes."""
    probabilities = decision.probabilities(np.asarray(p, dtype=np.float64))
    count = len(pixels)
    rows = max(1, int(np.ceil(count / columns)))
    plt, fig, axes = _figure(rows, columns, figsize=(3 * columns, 3.2 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    cat_dog = decision.refusal == "neither"
    for ax, image, label, row, answer in zip(axes.flat, pixels, labels, probabilities, answers):
        colour = "black" if label is None or label < 0 else ("green" if label == answer else "red")
        ax.imshow(image)
        shown = (f"p(dog) {row[1]:.1%}" if cat_dog else f"p {row[answer]:.1%}" if answer < len(row)
                 else f"likeliest {decision.classes[int(np.argmax(row))]}")
        ax.set_title(f"{decision.answers[answer]} ({shown})", color=colour, fontsize=11)
    if title:
        fig.suptitle(title, fontsize=12)
    return _save(plt, fig, path)


def plot_reliability(labels: np.ndarray, before: np.ndarray, after: np.ndarray, path: Path, split: str) -> Path:
    """Accuracy against confidence per bin, before and after temperature scaling; the diagonal is perfect."""
    from ..evaluate.calibration import reliability_bins
    from ..evaluate.metrics import expected_calibration_error

    plt, fig, ax = _figure(figsize=(5, 4.6))
    chance = 1.0 / (2 if np.ndim(before) == 1 else np.shape(before)[1])
    ax.plot([chance, 1], [chance, 1], color="grey", linestyle="--", linewidth=1, label="perfect")
    for name, p in (("before", before), ("after", after)):
        bins = [b for b in reliability_bins(labels, p) if b["count"]]
        ax.plot([b["confidence"] for b in bins], [b["accuracy"] for b in bins], "o-",
                label=f"{name} (ECE {expected_calibration_error(labels, p):.4f})")
    ax.set_xlabel("confidence")
    ax.set_ylabel("accuracy")
    ax.set_title(f"Reliability ({split})")
    ax.legend(loc="lower right")
    ax.grid(alpha=0.3)
    return _save(plt, fig, path)


def plot_neither_tradeoff(rows: Sequence[dict], path: Path, title: str, decision: Decision = Decision()) -> Path:
    """Pets refused against photos with no cat or dog let through, one point per operating point of
    --refuse (the named ones labelled): what a stricter or a more lenient "neither" costs."""
    plt, fig, ax = _figure(figsize=(5.6, 4.4))
    accepted = [100 * row["non_pets_accepted"] for row in rows]
    refused = [100 * row["pets_refused"] for row in rows]
    ax.plot(accepted, refused, "o-", color="tab:blue")
    for row, x, y in zip(rows, accepted, refused):
        label = f"{row['point']} ({row['rate']:g})" if row.get("point") else f"{row['rate']:g}"
        ax.annotate(label, (x, y), textcoords="offset points", xytext=(6, 4), fontsize=8,
                    fontweight="bold" if row.get("point") else "normal")
    if decision.refusal == "neither":
        ax.set_xlabel("photos with no cat or dog answered cat or dog (%)")
        ax.set_ylabel("cats and dogs answered 'neither' (%)")
    else:
        ax.set_xlabel("photos of none of the classes answered a class (%)")
        ax.set_ylabel(f"photos of the classes answered '{decision.refusal}' (%)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    return _save(plt, fig, path)


def plot_explanation_grid(explanations, path: Path, columns: int = 4) -> Path:
    """Grad-CAM overlays titled with the answer and its probability (p(dog) for a cat/dog run, as
    ever); a refusal names the likeliest class, whose evidence the heat shows."""
    from ..explain.gradcam import overlay

    rows = max(1, int(np.ceil(len(explanations) / columns)))
    plt, fig, axes = _figure(rows, columns, figsize=(3 * columns, 3.2 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, item in zip(axes.flat, explanations):
        ax.imshow(overlay(item.pixels, item.heatmap))
        if item.p_dog is not None:
            title = f"{item.label} (p(dog) {item.p_dog:.1%})"
        elif item.label == item.explained:
            title = f"{item.label} (p {item.probability:.1%})"
        else:  # on two lines: one is too long for the photo's width
            title = f"{item.label}\n(heat of {item.explained}, p {item.probabilities[item.explained]:.1%})"
        ax.set_title(title, fontsize=11)
    return _save(plt, fig, path)


def plot_robustness(table: dict, path: Path, title: str) -> Path:
    plt, fig, ax = _figure(figsize=(7, 4.6))
    for name, accuracies in table["accuracy"].items():
        ax.plot([0, 1, 2, 3], [table["clean_accuracy"], *accuracies], "o-", label=name.replace("_", " "))
    ax.set_xticks([0, 1, 2, 3], ["clean", "1", "2", "3"])
    ax.set_xlabel("severity")
    ax.set_ylabel("accuracy")
    ax.set_title(f"{title}: mean corruption accuracy {table['mean_corruption_accuracy']:.3f}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    return _save(plt, fig, path)
