"""The run folder's plots. Each writes one PNG atomically and closes its figure."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..decide import ANSWERS
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


def plot_confusion(matrix: Sequence[Sequence[int]], path: Path, title: str) -> Path:
    """True cat/dog against the answer (cat, dog and, with a third column, neither); the title gives
    the answer accuracy and the share refused, counted as users see them."""
    plt, fig, ax = _figure(figsize=(5.2 if len(matrix[0]) == 3 else 4.4, 4))
    values = np.asarray(matrix)
    ax.imshow(values, cmap="Blues")
    for (row, col), count in np.ndenumerate(values):
        ax.text(col, row, str(count), ha="center", va="center",
                color="white" if count > values.max() / 2 else "black", fontsize=14)
    answers = ANSWERS[: values.shape[1]]
    ax.set_xticks(range(len(answers)), answers)
    ax.set_yticks([0, 1], ["cat", "dog"])
    ax.set_xlabel("answered")
    ax.set_ylabel("true")
    right, total = np.trace(values[:, :2]), max(values.sum(), 1)
    refused = values[:, 2:].sum() / total
    ax.set_title(f"{title}\nanswer accuracy {right / total:.1%}, refused {refused:.1%}", fontsize=10)
    return _save(plt, fig, path)


def plot_roc(labels: np.ndarray, p_dog: np.ndarray, path: Path, title: str) -> Path:
    from sklearn.metrics import roc_auc_score, roc_curve

    plt, fig, ax = _figure(figsize=(4.6, 4.4))
    if len(np.unique(labels)) == 2:
        fpr, tpr, _ = roc_curve(labels, p_dog)
        ax.plot(fpr, tpr, label=f"AUC {roc_auc_score(labels, p_dog):.4f}")
        ax.legend(loc="lower right")
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1)
    ax.set_xlabel("false positive rate (cats called dog)")
    ax.set_ylabel("true positive rate (dogs called dog)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    return _save(plt, fig, path)


def plot_prediction_grid(pixels: np.ndarray, labels: Sequence[int | None], p_dog: Sequence[float],
                         answers: Sequence[int], path: Path, columns: int = 4, title: str | None = None) -> Path:
    """Photo, answer and p(dog); green when right, red when wrong ("neither" on a pet is wrong), as the
    original's module_test.png, under `title` (what was picked). `answers` are decide.Decision codes."""
    count = len(pixels)
    rows = max(1, int(np.ceil(count / columns)))
    plt, fig, axes = _figure(rows, columns, figsize=(3 * columns, 3.2 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, label, p, answer in zip(axes.flat, pixels, labels, p_dog, answers):
        colour = "black" if label is None or label < 0 else ("green" if label == answer else "red")
        ax.imshow(image)
        ax.set_title(f"{ANSWERS[answer]} (p(dog) {p:.1%})", color=colour, fontsize=11)
    if title:
        fig.suptitle(title, fontsize=12)
    return _save(plt, fig, path)


def plot_reliability(labels: np.ndarray, before: np.ndarray, after: np.ndarray, path: Path, split: str) -> Path:
    """Accuracy against confidence per bin, before and after temperature scaling; the diagonal is perfect."""
    from ..evaluate.calibration import reliability_bins
    from ..evaluate.metrics import expected_calibration_error

    plt, fig, ax = _figure(figsize=(5, 4.6))
    ax.plot([0.5, 1], [0.5, 1], color="grey", linestyle="--", linewidth=1, label="perfect")
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


def plot_neither_tradeoff(rows: Sequence[dict], path: Path, title: str) -> Path:
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
    ax.set_xlabel("photos with no cat or dog answered cat or dog (%)")
    ax.set_ylabel("cats and dogs answered 'neither' (%)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    return _save(plt, fig, path)


def plot_explanation_grid(explanations, path: Path, columns: int = 4) -> Path:
    from ..explain.gradcam import overlay

    rows = max(1, int(np.ceil(len(explanations) / columns)))
    plt, fig, axes = _figure(rows, columns, figsize=(3 * columns, 3.2 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, item in zip(axes.flat, explanations):
        ax.imshow(overlay(item.pixels, item.heatmap))
        ax.set_title(f"{item.label} (p(dog) {item.p_dog:.1%})", fontsize=11)
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
