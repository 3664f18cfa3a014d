"""Accuracy: choose recipe settings on folds of the training file, then report the ablation on the test file.

  python benchmarks/accuracy.py cv --recipe best --set fine_tune_learning_rate=3e-5 [--folds 5]
      Nested cross-validation on ../shared/data/train.parquet only: each fold trains exactly as
      `catdog train` does (its own validation split inside the training folds, for early stopping,
      calibration and the "neither" threshold) and is scored on the held-out fold. Settings are
      chosen with this; the test file is never read.

  python benchmarks/accuracy.py ablation
      Trains every row of ROWS once (the best recipe with 3 seeds) on train.parquet and reports
      ../shared/data/test.parquet once per row: accuracy, log loss, ECE, training time.
      Writes benchmarks/results/accuracy.json and accuracy.md (quoted in docs/ACCURACY.md).

Each row is what its `catdog train ...` command does; the command is printed beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CATDOG_PROGRESS", "0")

import numpy as np
import pyarrow.parquet as pq

SHARED = Path(os.environ.get("SHARED", Path(__file__).resolve().parents[2] / "shared"))
RESULTS = Path(__file__).resolve().parent / "results"
TRAIN = SHARED / "data" / "train.parquet"
TEST = SHARED / "data" / "test.parquet"

# (row, recipe, settings, the equivalent command's options). Each row adds one thing to the one above.
ROWS = [
    ("original recipe (frozen backbone, head only)", "original", {}, ""),
    ("+ test-time augmentation (photo + mirror)", "original", {"tta": True}, "--tta"),
    ("+ mirror images in training", "original", {"tta": True, "mirror": True}, "--tta --mirror"),
    ("+ fine-tune top 3 blocks (cached activations, cosine LR)", "original",
     {"tta": True, "mirror": True, "fine_tune_blocks": 3, "fine_tune_epochs": 8, "fine_tune_learning_rate": 1e-4,
      "schedule": "cosine"},
     "--tta --mirror --fine-tune-blocks 3 --fine-tune-epochs 8 --fine-tune-lr 1e-4 --schedule cosine"),
    ("+ label smoothing 0.1 + weight decay 1e-4", "best", {"image_size": 224}, "--recipe best --image-size 224"),
    ("+ 288 px input = best recipe", "best", {}, "--recipe best"),
]
# The first and the last row are trained with every seed; the rows between once (seed 42).
BEST_SEEDS = (42, 1, 2)


def settings_from(pairs: list[str]) -> dict:
    """--set key=value pairs, values parsed as JSON where they can be (numbers, true/false)."""
    settings = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        try:
            settings[key] = json.loads(value)
        except json.JSONDecodeError:
            settings[key] = value
    return settings


def fold_files(folds: int, seed: int, directory: Path) -> list[tuple[Path, Path]]:
    """Stratified folds of train.parquet written as (train part, held-out part) parquet files."""
    table = pq.read_table(TRAIN)
    labels = table.column("labels").to_numpy()
    rng = np.random.default_rng(seed)
    fold_of = np.empty(len(labels), dtype=int)
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        fold_of[members] = np.arange(len(members)) % folds
    parts = []
    for fold in range(folds):
        train_path, held_path = directory / f"train-{fold}.parquet", directory / f"held-{fold}.parquet"
        pq.write_table(table.take(np.flatnonzero(fold_of != fold)), train_path)
        pq.write_table(table.take(np.flatnonzero(fold_of == fold)), held_path)
        parts.append((train_path, held_path))
    return parts


def cross_validate(recipe: str, settings: dict, folds: int) -> dict:
    from catdog.classifier import Classifier
    from catdog.evaluate.metrics import classification_metrics
    from catdog.recipes import recipe_config

    labels, p_dog, seconds = [], [], []
    with tempfile.TemporaryDirectory(prefix="catdog-cv-") as scratch:
        for fold, (train_part, held_part) in enumerate(fold_files(folds, 123, Path(scratch))):
            started = time.perf_counter()
            classifier = Classifier(recipe_config(recipe, **settings)).fit(str(train_part))
            seconds.append(time.perf_counter() - started)
            scores = classifier.score(str(held_part))
            labels.append(scores.labels)
            p_dog.append(scores.p)
            print(f"fold {fold}: accuracy {np.mean((scores.p >= 0.5) == scores.labels):.4f} "
                  f"({seconds[-1]:.0f} s)", file=sys.stderr, flush=True)
    metrics = classification_metrics(np.concatenate(labels), np.concatenate(p_dog), 0, 0.5)
    return {"recipe": recipe, "settings": settings, "folds": folds, "accuracy": metrics["accuracy"],
            "log_loss": metrics["log_loss"], "ece": metrics["ece"], "errors": int(round((1 - metrics["accuracy"]) * metrics["n"])),
            "train_seconds_per_fold": float(np.mean(seconds))}


def train_and_test(recipe: str, settings: dict, seed: int, out: Path) -> dict:
    import catdog

    result = catdog.train(str(TRAIN), test=str(TEST), out=out, name="ablation", recipe=recipe, seed=seed, **settings)
    test = result.metrics["test"]
    return {"run": str(result.run_dir), "seed": seed, "accuracy": test["accuracy"], "log_loss": test["log_loss"],
            "ece": test["ece"], "errors": int(test["confusion_matrix"][0][1] + test["confusion_matrix"][1][0]),
            "train_seconds": result.metrics["train_seconds"],
            "validation_accuracy": result.metrics["validation"]["accuracy"]}


def ablation(out: Path) -> dict:
    rows = []
    for position, (name, recipe, settings, options) in enumerate(ROWS):
        seeds = BEST_SEEDS if position in (0, len(ROWS) - 1) else BEST_SEEDS[:1]
        runs = [train_and_test(recipe, settings, seed, out) for seed in seeds]
        command = f"catdog train --data ../shared/data/train.parquet --test ../shared/data/test.parquet {options}".strip()
        rows.append({"row": name, "command": command, "runs": runs})
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    return {"rows": rows}


def markdown(results: dict) -> str:
    lines = ["| recipe | test accuracy | errors / 1000 | log loss | ECE | training time | command |",
             "|---|---|---|---|---|---|---|"]
    for row in results["rows"]:
        runs = row["runs"]

        def spread(key: str, digits: int, runs: list = runs) -> str:
            values = [run[key] for run in runs]
            if len(values) == 1:
                return f"{values[0]:.{digits}f}"
            return f"{np.mean(values):.{digits}f} (min {min(values):.{digits}f}, max {max(values):.{digits}f})"

        seeds = "" if len(runs) == 1 else f" — seeds {', '.join(str(r['seed']) for r in runs)}"
        lines.append(f"| {row['row']}{seeds} | {spread('accuracy', 4)} | {spread('errors', 1)} | {spread('log_loss', 4)} | "
                     f"{spread('ece', 4)} | {spread('train_seconds', 0)} s | `{row['command']}` |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="mode", required=True)
    cv = sub.add_parser("cv")
    cv.add_argument("--recipe", default="original")
    cv.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    cv.add_argument("--folds", type=int, default=5)
    sub.add_parser("ablation").add_argument("--out", type=Path, default=Path("runs/ablation"))
    args = parser.parse_args()
    if args.mode == "cv":
        print(json.dumps(cross_validate(args.recipe, settings_from(args.set), args.folds)))
        return
    results = ablation(args.out)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "accuracy.json").write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS / "accuracy.md").write_text(markdown(results))
    print(markdown(results))


if __name__ == "__main__":
    main()
