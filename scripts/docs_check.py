"""Do the figures quoted in README.md and docs/ still say what the benchmark result files say?

  python scripts/docs_check.py [--root DIR] [--quiet]        (or: make docs-check)

FIGURES below is the list: each entry names a document, where the figure is in it (a table cell, by
the heading above the table, the row's first cell and the column's header; or a sentence, by a
regular expression whose one group is the figure), the result file it was copied from, and how the
benchmark that wrote that file prints it. Both are read at run time, so a branch that re-measures
regenerates the result file and the document together and this check tells whether they agree.

Prints every figure checked and exits 1 with one line per disagreement (the document, the figure it
quotes, what the result file gives), per figure that cannot be found, and per result file missing.
A figure without a result file behind it is not here: SCALING.md (benchmarks/scaling.py prints), the
serving and web page tables (load.py, web_page.py print), ACCURACY.md's cross-validation table, and the
figures read off run folders (TRUST.md's full runs, calibration, robustness, TTA). README.md quotes no
result file's figure today. A benchmark that starts writing a file gets its figures added here.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

# (result file's data, row, column) -> the text the document should show. Row and column are the
# cell's (or what a sentence entry names); a row or key the result file lacks raises LookupError.
Expect = Callable[[Any, str, str], str]


@dataclass(frozen=True)
class Cell:
    """Cells of the first table in the section whose heading starts with `heading` (whose header row
    has a cell starting with `table`, when given): the row whose first cell is `row` (every body row
    when None) and the column whose header is `column` (every column whose header the pattern matches
    in full, when it is a compiled pattern; the first column is the row's name, never a figure)."""

    heading: str
    column: str | re.Pattern[str]
    row: str | None = None
    table: str | None = None


@dataclass(frozen=True)
class Sentence:
    """Each match of `pattern` (one group: the figure) in the document's text with line breaks read as
    spaces, within the section under `heading` when given; `row` and `column` are passed to expect."""

    pattern: str
    row: str = ""
    column: str = ""
    heading: str | None = None


@dataclass(frozen=True)
class Figure:
    doc: str
    where: Cell | Sentence
    result: str
    expect: Expect


# --- How each benchmark prints what it wrote (kept in step with its render / print code). -----------

# benchmarks/processes.py


def _walls(d: Any) -> dict[str, list[float]]:
    return d["inference"]["walls"]


def best_wall(d: Any, row: str, _: str) -> str:
    return f"{min(_walls(d)[row]):.1f}"


def all_rounds(d: Any, row: str, _: str) -> str:
    return ", ".join(f"{v:.1f}" for v in _walls(d)[row])


def predict_speedup(d: Any, row: str, _: str) -> str:
    base = min(next(iter(_walls(d).values())))
    return f"{base / min(_walls(d)[row]):.2f}×"


def in_process(side: str) -> Expect:
    return lambda d, row, col: f"{d['in_process'][side]['images_per_second']:.1f}"


def in_process_speedup(d: Any, row: str, _: str) -> str:
    return f"{d['in_process']['ours']['images_per_second'] / d['in_process']['baseline']['images_per_second']:.2f}×"


def best_answer(key: str) -> Expect:
    return lambda d, row, col: f"{d['best_answers'][row][key]:.4f}"


TRAIN_ROWS = {"seed-style (baseline.py train)": "baseline", "catdog train, empty cache": "cold",
              "catdog train, backbone converted, photos new": "new_photos", "catdog train, photos cached": "warm"}


def train_field(key: str, fmt: str) -> Expect:
    return lambda d, row, col: format(d["train"][TRAIN_ROWS[row]][key], fmt)


def train_speedup(key: str, fmt: str) -> Expect:
    def expect(d: Any, row: str, _: str) -> str:
        if TRAIN_ROWS[row] == "baseline":
            return "1.00×"
        return f"{d['train']['baseline'][key] / d['train'][TRAIN_ROWS[row]][key]:{fmt}}×"
    return expect


# benchmarks/neither_methods.py: tables give the mean over the choose/report splits.


def _mean(runs: list[dict], *keys: str) -> float:
    values = []
    for run in runs:
        value: Any = run
        for key in keys:
            value = value[key]
        values.append(value)
    return float(np.mean(values))


def neither_auroc(d: Any, row: str, _: str) -> str:
    return f"{_mean(d['methods'][row], 'auroc'):.4f}"


def neither_refused(d: Any, row: str, column: str) -> str:
    return f"{_mean(d['methods'][row], 'refused', column.removeprefix('refused: ')):.1%}"


def neither_hard(d: Any, row: str, column: str) -> str:
    return f"{_mean(d['methods'][row], 'hard', column):.1%}"


def neither_sweep(d: Any, row: str, column: str) -> str:
    chosen = [s for s in d["sweep"] if str(s["rate"]) == row]
    if not chosen:
        raise KeyError(row)
    key = "camera_crop" if column.startswith("camera/crop") else column.removesuffix(" refused")
    return f"{np.mean([s[key] for s in chosen]):.1%}"


def neither_fitted_weights(digits: str = "") -> Expect:
    """The fitted weights' mean over the splits, as the script prints them ([0.23, 0.5, 0.27]), or each `.2f`."""
    def expect(d: Any, row: str, _: str) -> str:
        runs = d["methods"]["all three, weights fitted on each split's choose halves"]
        mean = np.mean(np.array([run["weights"] for run in runs], dtype=float), axis=0)
        weights = np.round(np.asarray(mean, dtype=float), 2).tolist()  # as the script rounds them
        return "[" + ", ".join(format(w, digits) for w in weights) + "]" if digits else str(weights)
    return expect


# benchmarks/run.py (the earlier machine's results.json)


def _inference(d: Any, engine: str) -> dict:
    for row in d["inference"]:
        if row["engine"] == engine:
            return row
    raise KeyError(engine)


def inference_field(key: str, fmt: str) -> Expect:
    return lambda d, row, col: format(_inference(d, row)[key], fmt)


def inference_speedup(d: Any, row: str, _: str) -> str:
    return f"{_inference(d, row)['images_per_second'] / d['inference'][0]['images_per_second']:.2f}×"


def inference_vs_keras(d: Any, row: str, _: str) -> str:
    keras = next(i["accuracy"] for i in d["inference"] if i["engine"].startswith("keras"))
    return f"{(_inference(d, row)['accuracy'] - keras) * 100:+.1f}"


RUN_TRAIN_ROWS = {"baseline": "baseline_train", "ours (cold cache)": "ours_train"}


def run_train_field(key: str, fmt: str) -> Expect:
    def expect(d: Any, row: str, _: str) -> str:
        value = d[RUN_TRAIN_ROWS[row]].get(key, "—") if key == "epochs" else d[RUN_TRAIN_ROWS[row]][key]
        return format(value, fmt) if isinstance(value, (int, float)) else str(value)
    return expect


def run_train_speedup(key: str) -> Expect:
    return lambda d, row, col: f"{d['baseline_train'][key] / d['ours_train'][key]:.1f}×"


RUN_MEMORY_ROWS = {"baseline": "baseline_mb", "ours": "ours_mb"}


def run_memory(index: int | None) -> Expect:
    def expect(d: Any, row: str, _: str) -> str:
        small, large = d["memory"][RUN_MEMORY_ROWS[row]]
        return f"{large / small:.2f}" if index is None else f"{(small, large)[index]:.0f}"
    return expect


def export_field(key: str, fmt: str, scale: float = 1.0) -> Expect:
    return lambda d, row, col: format(d["exports"][row][key] / scale, fmt)


# benchmarks/train_memory.py: one table per recipe, a column per label ("before MB", "after wall s")

TRAIN_MEMORY_ROWS = {"first run (empty cache, no converted backbone)": "first_run",
                     "new photos (backbone converted, no photo cached)": "new_photos", "warm caches": "warm"}


def glance_cell(d: Any, row: str, column: str) -> str:
    """A row of benchmarks/glance.py's table, as it renders it (the row's file name without its mark)."""
    r = d["files"][row.split(" (")[0]]
    if column == "photos":
        return str(r["photos"])
    if column == "given the full look":
        return f"{r['full_look_share']:.1%}"
    if column.startswith("same answer"):
        return f"{r['same_answer']}/{r['photos']} ({r['agreement']:.2%})"
    return (f"{r['answer_accuracy_full']:.4f} → {r['answer_accuracy_first_look']:.4f} "
            f"({r['answer_accuracy_delta_points']:+.2f})")


def train_memory(recipe: str, key: str, fmt: str, label: str | None = None, scenario: str | None = None) -> Expect:
    """A figure of `recipe`'s runs: the label from the column's first word (or `label`), the scenario
    from the row (or `scenario`)."""
    def expect(d: Any, row: str, column: str) -> str:
        measured = d["runs"][label or column.split()[0]][recipe][scenario or TRAIN_MEMORY_ROWS[row]]
        return format(measured[key], fmt)
    return expect


def train_memory_beyond_rss(recipe: str) -> Expect:
    """A cell of train_memory.py's "without the libraries' pages" table: "LABEL anonymous MB" or
    "LABEL under a cap"."""
    def expect(d: Any, row: str, column: str) -> str:
        label, _, what = column.partition(" ")
        measured = d["runs"][label][recipe][TRAIN_MEMORY_ROWS[row]]
        if what == "anonymous MB":
            return f"{measured['peak_anonymous_mb']:.0f}"
        cap = measured.get("memory_cap")
        return f"completed in {cap['cap_mb']:,} MiB (cgroup peak {cap['cgroup_peak_mb']:.0f})" if cap else "—"
    return expect


# benchmarks/library_pages.py


def library_pages(d: Any, row: str, column: str) -> str:
    return str(d["states"][row.replace(" ", "_")][column.split()[0]])


# benchmarks/accuracy.py (ablation)


def _ablation(d: Any, label: str) -> dict:
    """The row whose printed name (with " — seeds …" when it has several runs) is `label`."""
    for row in d["rows"]:
        seeds = "" if len(row["runs"]) == 1 else f" — seeds {', '.join(str(r['seed']) for r in row['runs'])}"
        if row["row"] + seeds == label:
            return row
    raise KeyError(label)


def ablation_spread(key: str, digits: int, suffix: str = "") -> Expect:
    def expect(d: Any, row: str, _: str) -> str:
        values = [run[key] for run in _ablation(d, row)["runs"]]
        if len(values) == 1:
            return f"{values[0]:.{digits}f}{suffix}"
        return f"{np.mean(values):.{digits}f} (min {min(values):.{digits}f}, max {max(values):.{digits}f}){suffix}"
    return expect


def ablation_command(d: Any, row: str, _: str) -> str:
    return f"`{_ablation(d, row)['command']}`"


def ablation_mean(key: str, digits: int, how: Callable[[list[float]], float] = lambda v: float(np.mean(v)), scale: float = 1.0) -> Expect:
    """One number over a row's runs: their mean (or min, max), times `scale`."""
    return lambda d, row, col: f"{how([run[key] for run in _ablation(d, row)['runs']]) * scale:.{digits}f}"


def ablation_time_range(label: str) -> Expect:
    def expect(d: Any, row: str, _: str) -> str:
        values = [run["train_seconds"] for run in _ablation(d, label)["runs"]]
        return f"{min(values):.0f}–{max(values):.0f} s"
    return expect


# --- The figures. -----------------------------------------------------------------------------------

BENCH, TRUST, ACCURACY = "docs/BENCHMARKS.md", "docs/TRUST.md", "docs/ACCURACY.md"
PROCESSES, RESULTS, ACCURACY_JSON = "benchmarks/results/processes.json", "benchmarks/results/results.json", "benchmarks/results/accuracy.json"
NEITHER_224, NEITHER_288_TTA = "benchmarks/results/neither_224.json", "benchmarks/results/neither_288_tta.json"
LABELLING, TRAINING = "Labelling 2,000 photos", "Training on train.parquet, evaluating on test.parquet"
TRAIN_MEMORY, MEMORY_DEFAULT, MEMORY_BEST = "benchmarks/results/train_memory.json", "Training memory, default recipe", "Training memory, best recipe"
MB_COLUMNS, WALL_COLUMNS = re.compile(r"[\w-]+ MB"), re.compile(r"[\w-]+ wall s")
N224, N288 = "Size 224 px", "Size 288 px, photo + mirror averaged"
EVERY_REFUSED = re.compile(r"(refused: )?\w+")  # refused: test | shift | lookalikes | ood | ood_diverse, not AUROC (…)
EVERY_COLUMN = re.compile(r".+")
ORIGINAL_SEEDS, BEST_SEEDS = "original recipe (frozen backbone, head only) — seeds 42, 1, 2", "+ 288 px input = best recipe — seeds 42, 1, 2"

PROCESSES_FIRST_LOOK = "benchmarks/results/processes_first_look.json"
GLANCE_DEFAULT, GLANCE_BEST = "benchmarks/results/glance_default.json", "benchmarks/results/glance_best.json"
FIRST_LOOK_LABELLING = "The first look labelling 2,000 photos"

FIGURES: list[Figure] = [
    # docs/BENCHMARKS.md, less work per photo: benchmarks/processes.py and benchmarks/glance.py
    Figure(BENCH, Cell(FIRST_LOOK_LABELLING, "best wall s"), PROCESSES_FIRST_LOOK, best_wall),
    Figure(BENCH, Cell(FIRST_LOOK_LABELLING, "all rounds s"), PROCESSES_FIRST_LOOK, all_rounds),
    Figure(BENCH, Cell(FIRST_LOOK_LABELLING, "× seed-style"), PROCESSES_FIRST_LOOK, predict_speedup),
    Figure(BENCH, Sentence(r"With the model loaded beforehand \(benchmarks/infer.py, the default run\): seed-style ([\d.]+) images/s"),
           PROCESSES_FIRST_LOOK, in_process("baseline")),
    Figure(BENCH, Sentence(r"With the model loaded beforehand \(benchmarks/infer.py, the default run\): [^=]*? ([\d.]+) images/s ="),
           PROCESSES_FIRST_LOOK, in_process("ours")),
    Figure(BENCH, Sentence(r"With the model loaded beforehand \(benchmarks/infer.py, the default run\): [^=]*= ([\d.]+×)"),
           PROCESSES_FIRST_LOOK, in_process_speedup),
    Figure(BENCH, Sentence(r"default recipe ≥ 8× the seed-style process — \*\*met: ([\d.]+×)\*\*", "catdog predict, default run"),
           PROCESSES_FIRST_LOOK, predict_speedup),
    Figure(BENCH, Sentence(r"≥ 8× the seed-style process — \*\*met: [\d.]+×\*\* \(([\d.]+×) without the first",
                           "catdog predict, default run --no-glance"),
           PROCESSES_FIRST_LOOK, predict_speedup),
    Figure(BENCH, Sentence(r"Best recipe ≥ 5× — \*\*met: ([\d.]+×)\*\*", "catdog predict, best run"), PROCESSES_FIRST_LOOK, predict_speedup),
    Figure(BENCH, Sentence(r"Best recipe ≥ 5× — \*\*met: [\d.]+×\*\* \(([\d.]+×) without it", "catdog predict, best run --no-glance"),
           PROCESSES_FIRST_LOOK, predict_speedup),
    Figure(BENCH, Cell("The first look's answers, default run", EVERY_COLUMN), GLANCE_DEFAULT, glance_cell),
    Figure(BENCH, Cell("The first look's answers, best run", EVERY_COLUMN), GLANCE_BEST, glance_cell),
    # docs/BENCHMARKS.md, the AVX2-only machine: benchmarks/processes.py
    Figure(BENCH, Cell(LABELLING, "best wall s"), PROCESSES, best_wall),
    Figure(BENCH, Cell(LABELLING, "all rounds s"), PROCESSES, all_rounds),
    Figure(BENCH, Cell(LABELLING, "× seed-style"), PROCESSES, predict_speedup),
    Figure(BENCH, Sentence(r"In-process \(model loaded beforehand\): seed-style ([\d.]+) images/s"), PROCESSES, in_process("baseline")),
    Figure(BENCH, Sentence(r"In-process \(model loaded beforehand\): [^=]*? ([\d.]+) images/s ="), PROCESSES, in_process("ours")),
    Figure(BENCH, Sentence(r"In-process \(model loaded beforehand\): [^=]*= ([\d.]+×)"), PROCESSES, in_process_speedup),
    Figure(BENCH, Sentence(r"default recipe ≥ 5× the seed-style process — \*\*met: ([\d.]+×)\*\*", "catdog predict, default run"),
           PROCESSES, predict_speedup),
    Figure(BENCH, Sentence(r"Best recipe ≥ 3× — \*\*met: ([\d.]+×)\*\*", "catdog predict, best run"), PROCESSES, predict_speedup),
    Figure(BENCH, Sentence(r"Best recipe ≥ 3× — \*\*met: [\d.]+×\*\* \(([\d.]+×) with a mirror", "catdog predict, best run --tta-all"),
           PROCESSES, predict_speedup),
    Figure(BENCH, Cell("The best recipe's answers at that cost", "answer_accuracy"), PROCESSES, best_answer("answer_accuracy")),
    Figure(BENCH, Cell("The best recipe's answers at that cost", "accuracy"), PROCESSES, best_answer("accuracy")),
    Figure(BENCH, Cell("The best recipe's answers at that cost", "refused"), PROCESSES, best_answer("refused")),
    Figure(BENCH, Cell(TRAINING, "wall s"), PROCESSES, train_field("wall_seconds", ".1f")),
    Figure(BENCH, Cell(TRAINING, "× seed-style"), PROCESSES, train_speedup("wall_seconds", ".1f")),
    Figure(BENCH, Cell(TRAINING, "fit s"), PROCESSES, train_field("train_seconds", ".1f")),
    Figure(BENCH, Cell(TRAINING, "test accuracy"), PROCESSES, train_field("test_accuracy", ".3f")),
    Figure(BENCH, Cell(TRAINING, "peak RSS MB"), PROCESSES, train_field("peak_rss_mb", ".0f")),
    Figure(BENCH, Sentence(r"fitting alone \(reading the photos to the calibrated model\): ([\d.]+) s vs", "seed-style (baseline.py train)"),
           PROCESSES, train_field("train_seconds", ".1f")),
    Figure(BENCH, Sentence(r"calibrated model\): [\d.]+ s vs ([\d.]+) s cold", "catdog train, empty cache"),
           PROCESSES, train_field("train_seconds", ".1f")),
    Figure(BENCH, Sentence(r"calibrated model\): [\d.]+ s vs [\d.]+ s cold = ([\d.]+×)", "catdog train, empty cache"),
           PROCESSES, train_speedup("train_seconds", ".1f")),
    Figure(BENCH, Sentence(r"\*\*met: ([\d.]+×) from an empty cache\*\*", "catdog train, empty cache"),
           PROCESSES, train_speedup("wall_seconds", ".1f")),
    Figure(BENCH, Sentence(r"from an empty cache\*\* \(test accuracy ([\d.]+) vs", "catdog train, empty cache"),
           PROCESSES, train_field("test_accuracy", ".3f")),
    Figure(BENCH, Sentence(r"from an empty cache\*\* \(test accuracy [\d.]+ vs ([\d.]+)\)", "seed-style (baseline.py train)"),
           PROCESSES, train_field("test_accuracy", ".3f")),
    Figure(BENCH, Sentence(r"([\d.]+×) once the backbone is converted", "catdog train, backbone converted, photos new"),
           PROCESSES, train_speedup("wall_seconds", ".1f")),
    Figure(BENCH, Sentence(r"once the backbone is converted, ([\d.]+×) with the photos cached", "catdog train, photos cached"),
           PROCESSES, train_speedup("wall_seconds", ".1f")),
    Figure(BENCH, Sentence(r"met with the photos cached \(([\d,]+) MB\)", "catdog train, photos cached"),
           PROCESSES, train_field("peak_rss_mb", ",.0f")),
    Figure(BENCH, Sentence(r"missed on new photos \(([\d,]+) MB\)", "catdog train, backbone converted, photos new"),
           PROCESSES, train_field("peak_rss_mb", ",.0f")),
    Figure(BENCH, Sentence(r"first run on a machine \(([\d,]+) MB\)", "catdog train, empty cache"), PROCESSES, train_field("peak_rss_mb", ",.0f")),
    # docs/BENCHMARKS.md, training memory: benchmarks/train_memory.py
    Figure(BENCH, Cell(MEMORY_DEFAULT, MB_COLUMNS), TRAIN_MEMORY, train_memory("original", "peak_rss_mb", ".0f")),
    Figure(BENCH, Cell(MEMORY_DEFAULT, WALL_COLUMNS), TRAIN_MEMORY, train_memory("original", "wall_seconds", ".1f")),
    Figure(BENCH, Cell(MEMORY_BEST, MB_COLUMNS), TRAIN_MEMORY, train_memory("best", "peak_rss_mb", ".0f")),
    Figure(BENCH, Cell(MEMORY_BEST, WALL_COLUMNS), TRAIN_MEMORY, train_memory("best", "wall_seconds", ".1f")),
    Figure(BENCH, Sentence(r"the conversion's child process peaked at ([\d,]+) MB", heading=MEMORY_DEFAULT), TRAIN_MEMORY,
           train_memory("original", "converter_peak_rss_mb", ",d", "after", "first_run")),
    Figure(BENCH, Sentence(r"the conversion's child process peaked at ([\d,]+) MB", heading=MEMORY_BEST), TRAIN_MEMORY,
           train_memory("best", "converter_peak_rss_mb", ",d", "after", "first_run")),
    *[Figure(BENCH, Sentence(pattern, heading=MEMORY_DEFAULT), TRAIN_MEMORY,
             train_memory("original", "peak_rss_mb", ",.0f", label, scenario))
      for label, patterns in (("readme-command", (r"`--ood` \(([\d,]+), [\d,]+ and [\d,]+ MB", r"`--ood` \([\d,]+, ([\d,]+) and [\d,]+ MB",
                                                    r"`--ood` \([\d,]+, [\d,]+ and ([\d,]+) MB")),
                              ("readme-command-before", (r"before this change ([\d,]+), [\d,]+ and [\d,]+ MB",
                                                           r"before this change [\d,]+, ([\d,]+) and [\d,]+ MB",
                                                           r"before this change [\d,]+, [\d,]+ and ([\d,]+) MB")))
      for pattern, scenario in zip(patterns, ("first_run", "new_photos", "warm"))],
    Figure(BENCH, Cell("Memory without the libraries' pages, default recipe", re.compile(r"[\w-]+ (anonymous MB|under a cap)")),
           TRAIN_MEMORY, train_memory_beyond_rss("original")),
    Figure(BENCH, Cell("The libraries' pages", re.compile(r"\w+ MB")), "benchmarks/results/library_pages.json", library_pages),
    # docs/BENCHMARKS.md, the earlier machine: benchmarks/run.py
    Figure(BENCH, Cell("Inference end to end", "images/s"), RESULTS, inference_field("images_per_second", ".1f")),
    Figure(BENCH, Cell("Inference end to end", "× baseline"), RESULTS, inference_speedup),
    Figure(BENCH, Cell("Inference end to end", "latency p50 ms (batch 1)"), RESULTS, inference_field("latency_ms_p50", ".1f")),
    Figure(BENCH, Cell("Inference end to end", "p99 ms"), RESULTS, inference_field("latency_ms_p99", ".1f")),
    Figure(BENCH, Cell("Inference end to end", "accuracy"), RESULTS, inference_field("accuracy", ".3f")),
    Figure(BENCH, Cell("Inference end to end", "Δ vs Keras (points)"), RESULTS, inference_vs_keras),
    Figure(BENCH, Cell("Training on the training file", "wall s (whole command)"), RESULTS, run_train_field("wall_seconds", ".1f")),
    Figure(BENCH, Cell("Training on the training file", "training s"), RESULTS, run_train_field("train_seconds", ".1f")),
    Figure(BENCH, Cell("Training on the training file", "epochs"), RESULTS, run_train_field("epochs", "d")),
    Figure(BENCH, Cell("Training on the training file", "test accuracy"), RESULTS, run_train_field("test_accuracy", ".3f")),
    Figure(BENCH, Cell("Training on the training file", "peak RSS MB"), RESULTS, run_train_field("peak_rss_mb", ".0f")),
    Figure(BENCH, Sentence(r"Training speed-up: ([\d.]+×) \(training\)"), RESULTS, run_train_speedup("train_seconds")),
    Figure(BENCH, Sentence(r"\(training\), ([\d.]+×) \(whole command"), RESULTS, run_train_speedup("wall_seconds")),
    Figure(BENCH, Cell("Peak training memory", "×1 MB"), RESULTS, run_memory(0)),
    Figure(BENCH, Cell("Peak training memory", "×4 MB"), RESULTS, run_memory(1)),
    Figure(BENCH, Cell("Peak training memory", "×4 / ×1"), RESULTS, run_memory(None)),
    Figure(BENCH, Cell("Exports (verified against Keras", "max abs Δp"), RESULTS, export_field("max_abs_diff", ".1e")),
    Figure(BENCH, Cell("Exports (verified against Keras", "label agreement"), RESULTS, export_field("label_agreement", ".1%")),
    Figure(BENCH, Cell("Exports (verified against Keras", "images/s"), RESULTS, export_field("images_per_second", ".0f")),
    Figure(BENCH, Cell("Exports (verified against Keras", "MB"), RESULTS, export_field("bytes", ".1f", 2**20)),
    Figure(BENCH, Sentence(r"Baseline test accuracy ([\d.]+); exports took", "baseline (Keras model.predict)"),
           RESULTS, inference_field("accuracy", ".3f")),
    Figure(BENCH, Sentence(r"TFLite int8: ([\d.]+×) in the final run", "tflite-int8 (tflite: tflite-int8)"), RESULTS, inference_speedup),
    Figure(BENCH, Sentence(r"\(the `auto` row, same file, ([\d.]+×)\)", "auto (tflite: tflite-int8)"), RESULTS, inference_speedup),
    Figure(BENCH, Sentence(r"\| ([\d.]+×) \([\d.]+ s vs [\d.]+ s; [\d.]+ % vs [\d.]+ %\)"), RESULTS, run_train_speedup("train_seconds")),
    # docs/TRUST.md: benchmarks/neither_methods.py --size 224 --json, and --size 288 --tta --json
    Figure(TRUST, Cell(N224, re.compile(r"AUROC.*"), table="AUROC"), NEITHER_224, neither_auroc),
    Figure(TRUST, Cell(N224, EVERY_REFUSED, table="AUROC"), NEITHER_224, neither_refused),
    Figure(TRUST, Cell(N224, EVERY_COLUMN, table="centre crop"), NEITHER_224, neither_hard),
    Figure(TRUST, Cell(N224, EVERY_COLUMN, table="rate"), NEITHER_224, neither_sweep),
    Figure(TRUST, Sentence(r"\(fitted weights, mean over splits: (\[[^\]]*\])\)", heading=N224), NEITHER_224, neither_fitted_weights()),
    Figure(TRUST, Sentence(r"it puts no weight on\s+density,\s+(\[[^\]]*\])"), NEITHER_224, neither_fitted_weights(".2f")),
    Figure(TRUST, Cell(N288, re.compile(r"AUROC.*"), table="AUROC"), NEITHER_288_TTA, neither_auroc),
    Figure(TRUST, Cell(N288, EVERY_REFUSED, table="AUROC"), NEITHER_288_TTA, neither_refused),
    Figure(TRUST, Cell(N288, EVERY_COLUMN, table="centre crop"), NEITHER_288_TTA, neither_hard),
    Figure(TRUST, Cell(N288, EVERY_COLUMN, table="rate"), NEITHER_288_TTA, neither_sweep),
    Figure(TRUST, Sentence(r"\(fitted weights, mean over splits: (\[[^\]]*\])\)", heading=N288), NEITHER_288_TTA, neither_fitted_weights()),
    # docs/ACCURACY.md: benchmarks/accuracy.py ablation
    Figure(ACCURACY, Cell("Ablation on the test file", "test accuracy"), ACCURACY_JSON, ablation_spread("accuracy", 4)),
    Figure(ACCURACY, Cell("Ablation on the test file", "errors / 1000"), ACCURACY_JSON, ablation_spread("errors", 1)),
    Figure(ACCURACY, Cell("Ablation on the test file", "log loss"), ACCURACY_JSON, ablation_spread("log_loss", 4)),
    Figure(ACCURACY, Cell("Ablation on the test file", "ECE"), ACCURACY_JSON, ablation_spread("ece", 4)),
    Figure(ACCURACY, Cell("Ablation on the test file", "training time"), ACCURACY_JSON, ablation_spread("train_seconds", 0, " s")),
    Figure(ACCURACY, Cell("Ablation on the test file", "command"), ACCURACY_JSON, ablation_command),
    Figure(ACCURACY, Sentence(r"\*\*([\d.]+) % mean \(", BEST_SEEDS), ACCURACY_JSON, ablation_mean("accuracy", 2, scale=100)),
    Figure(ACCURACY, Sentence(r"% mean \(([\d.]+)–[\d.]+ %\)\*\*", BEST_SEEDS), ACCURACY_JSON, ablation_mean("accuracy", 2, min, 100)),
    Figure(ACCURACY, Sentence(r"% mean \([\d.]+–([\d.]+) %\)\*\*", BEST_SEEDS), ACCURACY_JSON, ablation_mean("accuracy", 2, max, 100)),
    Figure(ACCURACY, Sentence(r"log loss halved \(([\d.]+) →", ORIGINAL_SEEDS), ACCURACY_JSON, ablation_mean("log_loss", 4)),
    Figure(ACCURACY, Sentence(r"log loss halved \([\d.]+ → ([\d.]+)\)", BEST_SEEDS), ACCURACY_JSON, ablation_mean("log_loss", 4)),
    Figure(ACCURACY, Cell("Cost and other kinds of photo", "original", "training, cache warm (the table above)"),
           ACCURACY_JSON, ablation_time_range(ORIGINAL_SEEDS)),
    Figure(ACCURACY, Cell("Cost and other kinds of photo", "best", "training, cache warm (the table above)"),
           ACCURACY_JSON, ablation_time_range(BEST_SEEDS)),
]


# --- Reading documents. -----------------------------------------------------------------------------


@dataclass
class Section:
    heading: str
    lines: list[str]


def sections(text: str) -> list[Section]:
    """Each heading (outside code fences) with the lines under it, up to the next heading of its level or above."""
    lines = text.splitlines()
    heads: list[tuple[int, int, str]] = []  # (line index, level, text)
    fenced = False
    for i, line in enumerate(lines):
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced and (m := re.match(r"(#{1,6})\s+(.*?)\s*#*\s*$", line)):
            heads.append((i, len(m.group(1)), m.group(2)))
    out = []
    for n, (start, level, title) in enumerate(heads):
        end = next((i for i, lv, _ in heads[n + 1:] if lv <= level), len(lines))
        out.append(Section(title, lines[start + 1:end]))
    return out


def cells(line: str) -> list[str]:
    return [c.strip().replace("**", "") for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]


def tables(lines: list[str]) -> list[tuple[list[str], list[list[str]]]]:
    """Markdown tables in these lines: (header cells, body rows' cells)."""
    found, block = [], []
    for line in [*lines, ""]:
        if line.lstrip().startswith("|"):
            block.append(line)
            continue
        if len(block) >= 2 and re.fullmatch(r"[\s|:-]+", block[1]):
            found.append((cells(block[0]), [cells(row) for row in block[2:]]))
        block = []
    return found


class NotFound(Exception):
    pass


def find_section(text: str, heading: str) -> Section:
    matches = [s for s in sections(text) if s.heading.replace("**", "").startswith(heading)]
    if len(matches) != 1:
        raise NotFound(f"{'no' if not matches else len(matches)} headings start with {heading!r}")
    return matches[0]


@dataclass
class Checked:
    doc: str
    where: str
    quoted: str
    expected: str | None  # None: the result file has no such row or key
    result: str

    @property
    def ok(self) -> bool:
        return self.quoted == self.expected

    def __str__(self) -> str:
        if self.expected is None:
            return f"{self.doc}: {self.where}: the doc says {self.quoted!r}; {self.result} has no such entry"
        if self.ok:
            return f"ok  {self.doc}: {self.where} = {self.quoted}  ({self.result})"
        return f"{self.doc}: {self.where}: the doc says {self.quoted!r}, {self.result} gives {self.expected!r}"


def _expected(figure: Figure, data: Any, row: str, column: str) -> str | None:
    try:
        return figure.expect(data, row, column)
    except (LookupError, StopIteration):
        return None


def locate(figure: Figure, text: str, data: Any) -> list[Checked]:
    where = figure.where
    if isinstance(where, Sentence):
        body = "\n".join(find_section(text, where.heading).lines) if where.heading else text
        flat = " ".join(body.split())
        found = [m.group(1) for m in re.finditer(where.pattern, flat)]
        if not found:
            raise NotFound(f"no sentence matches {where.pattern!r}" + (f" under {where.heading!r}" if where.heading else ""))
        label = f"{where.heading + ': ' if where.heading else ''}/{where.pattern}/" + (f" ({where.row})" if where.row else "")
        return [Checked(figure.doc, label, quoted, _expected(figure, data, where.row, where.column), figure.result) for quoted in found]
    section = find_section(text, where.heading)
    candidates = [(h, rows) for h, rows in tables(section.lines) if where.table is None or any(c.startswith(where.table) for c in h)]
    if not candidates:
        raise NotFound(f"no table under {where.heading!r}" + (f" with a column starting {where.table!r}" if where.table else ""))
    header, rows = candidates[0]
    if isinstance(where.column, str):
        columns = [i for i, h in enumerate(header) if h == where.column and i > 0]
    else:
        columns = [i for i, h in enumerate(header) if where.column.fullmatch(h) and i > 0]
    if not columns:
        column_name = where.column if isinstance(where.column, str) else where.column.pattern
        raise NotFound(f"the table under {where.heading!r} has no column {column_name!r}")
    chosen = [r for r in rows if where.row is None or r[0] == where.row]
    if not chosen:
        raise NotFound(f"the table under {where.heading!r} has no row {where.row!r}")
    out = []
    for r in chosen:
        for i in columns:
            quoted = r[i] if i < len(r) else ""
            out.append(Checked(figure.doc, f"{where.heading} | {r[0]} | {header[i]}", quoted,
                               _expected(figure, data, r[0], header[i]), figure.result))
    return out


def check(root: Path = ROOT, figures: list[Figure] = FIGURES) -> tuple[list[Checked], list[str]]:
    """Every figure's cells as checked, and one line per problem (mismatch, figure not found, file missing)."""
    checked: list[Checked] = []
    problems: list[str] = []
    loaded: dict[str, Any] = {}
    for figure in figures:
        doc_path, result_path = root / figure.doc, root / figure.result
        if not doc_path.is_file():
            problems.append(f"{figure.doc}: missing (a figure from {figure.result} is expected in it)")
            continue
        if figure.result not in loaded:
            try:
                loaded[figure.result] = json.loads(result_path.read_text())
            except FileNotFoundError:
                loaded[figure.result] = FileNotFoundError
            except ValueError as error:
                loaded[figure.result] = ValueError(str(error))
        data = loaded[figure.result]
        if data is FileNotFoundError:
            problems.append(f"{figure.doc}: {describe(figure)}: its result file {figure.result} is missing")
            continue
        if isinstance(data, ValueError):
            problems.append(f"{figure.doc}: {describe(figure)}: its result file {figure.result} is not JSON ({data})")
            continue
        try:
            found = locate(figure, doc_path.read_text(), data)
        except NotFound as error:
            problems.append(f"{figure.doc}: {describe(figure)}: not found ({error})")
            continue
        checked += found
        problems += [str(c) for c in found if not c.ok]
    return checked, problems


def describe(figure: Figure) -> str:
    where = figure.where
    if isinstance(where, Sentence):
        return f"{where.heading + ': ' if where.heading else ''}the sentence /{where.pattern}/"
    column = where.column if isinstance(where.column, str) else where.column.pattern
    return f"{where.heading} | {where.row or 'every row'} | {column}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="the repository (default: this one)")
    parser.add_argument("--quiet", action="store_true", help="print only the disagreements and the count")
    args = parser.parse_args(argv)
    checked, problems = check(args.root)
    if not args.quiet:
        for c in checked:
            if c.ok:
                print(c)
    for line in problems:
        print(line)
    docs = len({c.doc for c in checked})
    print(f"{len(checked)} figures in {docs} documents checked against benchmarks/results: "
          + (f"{len(problems)} problems" if problems else "all agree"), file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
