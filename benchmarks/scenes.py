"""Six scene classes (scenes.parquet): the held-apart accuracy of each recipe, what "none of these"
does on photos of none of them, and class weights on imbalanced data.

  python benchmarks/scenes.py folds [--recipes original,best] [--folds 5] [--best-folds 5] [--check-evaluate]
      Stratified, seeded k-fold over ../shared/data/scenes.parquet (300 photos of each of buildings,
      forest, glacier, mountain, sea, street at 150 px). Each fold trains exactly as `catdog train
      --data FOLD --recipe R` does (its own stratified 20 % validation split inside the four fifths,
      for early stopping, calibration and the "none of these" threshold) and is scored on the fifth
      it never saw. Per fold: validation and held-apart accuracy (the class answer alone), answer
      accuracy (a refusal counts wrong), refused, macro F1; the share answered "none of these" on
      the shared files of other photos (test and train cats and dogs, lookalikes, ood flowers,
      ood_diverse and its photos outside the scene-like ImageNet classes, SCENE_LIKE below); and a
      logistic regression on the frozen pooled features of the same folds (scikit-learn's default
      C = 1), the reference for what the frozen features alone give.
      Writes benchmarks/results/scenes.json and scenes.md (quoted in docs/CLASSES.md).

  python benchmarks/scenes.py class-weights [--seeds 42,1,2]
      The default recipe on two imbalanced copies of shared files, with class_weight "none" and
      "balanced": train.parquet with its 1,000 dogs and 100 of its cats (seeded), scored on
      test.parquet (500 of each); and each fold's training part of scenes.parquet with glacier (the
      class most confused, with mountain) cut to 10 %, scored on the balanced held-apart fifth.
      Writes benchmarks/results/class_weights.json and class_weights.md.

Nothing here reads a file to choose a setting: the folds are what settings were chosen on
(docs/CLASSES.md), and no figure comes from test.parquet's labels but the class-weight rows, which
choose nothing. Frozen features are cached per photo, so a rerun costs the training only.
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
import pyarrow as pa
import pyarrow.parquet as pq

SHARED = Path(os.environ.get("SHARED", Path(__file__).resolve().parents[2] / "shared"))
DATA = SHARED / "data"
RESULTS = Path(__file__).resolve().parent / "results"
SCENES = DATA / "scenes.parquet"
FOLD_SEED = 123  # as benchmarks/accuracy.py's folds
# Files of photos that hold none of the scene classes. The cat/dog files' labels are 0/1; they are
# scored as photos of none of the classes (as copies with labels -1 would be evaluated).
NON_SCENES = {
    "test.parquet (cats and dogs)": DATA / "test.parquet",
    "train.parquet (cats and dogs)": DATA / "train.parquet",
    "lookalikes.parquet": DATA / "lookalikes.parquet",
    "ood.parquet (flowers)": DATA / "ood.parquet",
    "ood_diverse.parquet": DATA / "ood_diverse.parquet",
}
OOD_DIVERSE = "ood_diverse.parquet"
OUTSIDE = "ood_diverse.parquet outside scene-like classes"
# ood_diverse.parquet holds one photo of each of 426 ImageNet classes, named WNID_CLASS.JPEG. Photos of
# these classes are usually a landscape, a building or built place, a street or open water: what a
# person could call one of the six scenes. Listed by hand from the file's names (docs/CLASSES.md).
SCENE_LIKE = {
    "landscape (ImageNet's geological formations)": (
        "n09193705", "n09246464", "n09288635", "n09399592", "n09428293", "n09472597"),  # alp, cliff, geyser, promontory, seashore, volcano
    "building or built place": (
        "n02791270", "n02825657", "n02871525", "n02894605", "n03032252", "n03042490", "n03216828", "n03220513",
        "n03388043", "n03457902", "n03461385", "n03661043", "n03697007", "n03776460", "n03788195", "n03837869",
        "n03877845", "n03899768", "n03933933", "n04081281", "n04200800", "n04346328", "n04435653", "n04443257",
        "n04523525", "n04532670", "n04562935"),
    # barbershop, bell cote, bookshop, breakwater, cinema, cliff dwelling, dock, dome, fountain, greenhouse,
    # grocery store, library, lumbermill, mobile home, mosque, obelisk, palace, patio, pier, restaurant, shoe
    # shop, stupa, tile roof, tobacco shop, vault, viaduct, water tower
    # traffic light, cab, minibus, police van, trolleybus, jinrikisha
    "street (traffic and street vehicles)": ("n06874185", "n02930766", "n03769881", "n03977966", "n04487081", "n03599486"),
    "open water (ships and boats)": (
        "n03095699", "n03673027", "n03344393", "n04147183", "n04273569", "n02981792", "n04612504", "n03447447",
        "n02951358", "n03240683"),
    # container ship, liner, fireboat, schooner, speedboat, catamaran, yawl, gondola, canoe, drilling platform
}
# Cut to 10 % of its photos in the imbalanced scenes copy.
CUT_CLASS, CUT_SHARE = "glacier", 0.1
CATS_KEPT = 100
STRICT = "strict"  # --refuse strict (decide.NAMED_POINTS)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def machine() -> dict:
    from catdog.machine import cpu_info, describe

    return {**cpu_info(), "described": describe(), "load_average": list(os.getloadavg()), "date": time.strftime("%Y-%m-%d")}


# --------------------------------------------------------------------------- data


def stratified_folds(labels: np.ndarray, folds: int, seed: int = FOLD_SEED) -> np.ndarray:
    """The fold of each row: every class dealt evenly over the folds, in a seeded order."""
    rng = np.random.default_rng(seed)
    fold_of = np.empty(len(labels), dtype=int)
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        fold_of[members] = np.arange(len(members)) % folds
    return fold_of


def write_rows(table: pa.Table, rows: np.ndarray, path: Path) -> Path:
    """The rows of a shared file as a file of their own, keeping its schema's metadata (the ClassLabel names)."""
    pq.write_table(table.take(np.sort(rows)), path)
    return path


def as_non_scenes(path: Path, directory: Path) -> Path:
    """A copy of a file with every label -1 (photos of none of the classes), as `catdog evaluate` takes them."""
    table = pq.read_table(path)
    table = table.set_column(table.schema.get_field_index("labels"), "labels", pa.array([-1] * table.num_rows, pa.int64()))
    out = directory / f"none-{path.name}"
    pq.write_table(table, out)
    return out


def scene_like(name: str) -> str | None:
    """The SCENE_LIKE group of an ood_diverse photo (by the WordNet id its name starts with), or None."""
    wnid = name.split("_", 1)[0]
    return next((group for group, ids in SCENE_LIKE.items() if wnid in ids), None)


# --------------------------------------------------------------------------- scoring


def summary(labels: np.ndarray, p: np.ndarray, pet: np.ndarray | None, decision) -> dict:
    """What the run folder's metrics.json says of labelled photos, the figures we compare."""
    from catdog.evaluate.metrics import answer_metrics, classification_metrics

    metrics = classification_metrics(labels, p, 0, decision)
    metrics.update(answer_metrics(labels, p, pet, decision))
    return {key: metrics[key] for key in ("accuracy", "answer_accuracy", "refused", "macro_f1", "n", "answers")}


def answers_on(classifier, path: Path) -> tuple[list[str], np.ndarray]:
    """(photo names, answer codes) for every photo of a file that decodes, its labels ignored: the
    model's output from the cached frozen part through the rest of the trained model, with the
    mirror image's second look where the run's Decision asks for it, as Classifier.scores gives it
    for labelled photos (`--check-evaluate` compares with `Classifier.evaluate` on a copy labelled -1)."""
    from catdog.data.data_report import DataReport
    from catdog.data.sources import open_source
    from catdog.runtime import split_output

    source = open_source(str(path), require_labels=False)
    second_look = (lambda out: classifier.second_look(*split_output(out))) if classifier.tta else None
    kept, outputs = classifier.cached_scores_(source, None, DataReport(source.description), second_look)
    p, pet = split_output(outputs)
    names = [photo.name for photo in source.photos(kept)]
    return names, classifier.decision.codes(p, pet)


def non_scene_shares(classifier) -> dict:
    """Share answered "none of these" on each file of other photos; for ood_diverse also by SCENE_LIKE
    group, and the photos outside those groups that were answered a scene."""
    decision = classifier.decision
    shares: dict = {}
    for label, path in NON_SCENES.items():
        names, codes = answers_on(classifier, path)
        refused = codes == decision.none_code
        shares[label] = {"none_of_these": float(refused.mean()), "n": int(len(codes))}
        if path.name == OOD_DIVERSE:
            groups = np.array([scene_like(name) or "" for name in names])
            outside = groups == ""
            shares[OUTSIDE] = {"none_of_these": float(refused[outside].mean()), "n": int(outside.sum()),
                               "answered_a_scene": [f"{name}: {decision.answers[code]}"
                                                    for name, code, out in zip(names, codes, outside) if out and code != decision.none_code]}
            shares[OOD_DIVERSE]["by_group"] = {group: {"none_of_these": float(refused[groups == group].mean()), "n": int((groups == group).sum())}
                                               for group in SCENE_LIKE}
    return shares


def check_evaluate(classifier, directory: Path, shares: dict) -> dict:
    """Classifier.evaluate (the whole saved model, photo by photo, as `catdog evaluate` runs it) on
    copies of the cat/dog test file and of ood_diverse labelled -1, against answers_on's shares."""
    checked = {}
    for label in ("test.parquet (cats and dogs)", OOD_DIVERSE):
        evaluated = classifier.evaluate(str(as_non_scenes(NON_SCENES[label], directory)))
        checked[label] = {"evaluate": evaluated["answered_neither"], "cached": shares[label]["none_of_these"]}
        log(f"  check {label}: evaluate {evaluated['answered_neither']:.4f}, cached {shares[label]['none_of_these']:.4f}")
    return checked


def logistic_reference(features: np.ndarray, labels: np.ndarray, fold_of: np.ndarray, fold: int) -> float:
    """Held-apart accuracy of a logistic regression on the frozen pooled features of the fold's four fifths."""
    from sklearn.linear_model import LogisticRegression

    train, held = fold_of != fold, fold_of == fold
    model = LogisticRegression(max_iter=5000).fit(features[train], labels[train])
    return float(np.mean(model.predict(features[held]) == labels[held]))


def frozen_scene_features() -> tuple[np.ndarray, np.ndarray]:
    """Frozen pooled features (224 px, the default recipe's) of every scene photo, in file order, and labels."""
    from catdog.data.sources import open_source
    from catdog.training.trainer import frozen_features

    source = open_source(str(SCENES))
    kept, (features,) = frozen_features(source)
    if len(kept) != len(source):
        raise SystemExit(f"{len(source) - len(kept)} scene photos did not decode; the folds assume every one does.")
    return features, source.labels()


# --------------------------------------------------------------------------- folds


def fold_run(recipe: str, train_path: Path, held_path: Path, scratch: Path, check: bool) -> dict:
    from catdog.classifier import Classifier
    from catdog.recipes import recipe_config

    started = time.perf_counter()
    classifier = Classifier(recipe_config(recipe)).fit(str(train_path))
    seconds = time.perf_counter() - started
    val_source, val_indices = classifier.validation_
    val = classifier.scores(val_source, val_indices)
    held = classifier.scores(str(held_path))
    decision = classifier.decision
    row = {"train_seconds": seconds, "train_photos": int(classifier.data_report_.rows - len(val_indices)),
           "validation": summary(val.labels, val.p, val.pet_score, decision),
           "held_apart": summary(held.labels, held.p, held.pet_score, decision),
           "non_scenes": non_scene_shares(classifier)}
    if check:
        row["check_evaluate"] = check_evaluate(classifier, scratch, row["non_scenes"])
    # The stricter operating point a user gets with --refuse strict: what it costs and buys.
    classifier.refuse = STRICT
    held = classifier.scores(str(held_path))
    row[STRICT] = {"held_apart": summary(held.labels, held.p, held.pet_score, classifier.decision),
                   "non_scenes": non_scene_shares(classifier)}
    return row


def mean_spread(values: list[float]) -> dict:
    return {"mean": float(np.mean(values)), "min": float(np.min(values)), "max": float(np.max(values))}


def recipe_summary(folds: list[dict]) -> dict:
    out: dict = {"folds": len(folds), "train_seconds": mean_spread([f["train_seconds"] for f in folds])}
    for part in ("validation", "held_apart"):
        out[part] = {key: mean_spread([f[part][key] for f in folds]) for key in ("accuracy", "answer_accuracy", "refused", "macro_f1")}
    out["held_apart"]["answers"] = np.sum([f["held_apart"]["answers"] for f in folds], axis=0).tolist()
    out["non_scenes"] = {label: mean_spread([f["non_scenes"][label]["none_of_these"] for f in folds]) for label in folds[0]["non_scenes"]}
    out[STRICT] = {"held_apart": {key: mean_spread([f[STRICT]["held_apart"][key] for f in folds]) for key in ("answer_accuracy", "refused")},
                   "non_scenes": {label: mean_spread([f[STRICT]["non_scenes"][label]["none_of_these"] for f in folds])
                                  for label in folds[0]["non_scenes"]}}
    return out


def folds_benchmark(recipes: list[str], folds: int, best_folds: int, check: bool) -> dict:
    from catdog.classes import NONE_OF_THESE

    table = pq.read_table(SCENES)
    labels = table.column("labels").to_numpy()
    fold_of = stratified_folds(labels, folds)
    features, feature_labels = frozen_scene_features()
    assert (feature_labels == labels).all()
    results: dict = {"machine": machine(), "data": str(SCENES), "folds": folds, "fold_seed": FOLD_SEED,
                     "classes": json.loads(table.schema.metadata[b"huggingface"])["info"]["features"]["labels"]["names"],
                     "answers_columns": "classes, then " + NONE_OF_THESE,
                     "scene_like_imagenet": {group: list(ids) for group, ids in SCENE_LIKE.items()},
                     "logistic_regression": {"held_apart_accuracy": [logistic_reference(features, labels, fold_of, f) for f in range(folds)]},
                     "recipes": {}}
    results["logistic_regression"]["mean"] = float(np.mean(results["logistic_regression"]["held_apart_accuracy"]))
    log(f"logistic regression on frozen features: {results['logistic_regression']['mean']:.4f}")
    with tempfile.TemporaryDirectory(prefix="catdog-scenes-") as scratch_name:
        scratch = Path(scratch_name)
        parts = [(write_rows(table, np.flatnonzero(fold_of != f), scratch / f"train-{f}.parquet"),
                  write_rows(table, np.flatnonzero(fold_of == f), scratch / f"held-{f}.parquet")) for f in range(folds)]
        for recipe in recipes:
            rows = []
            for f, (train_path, held_path) in enumerate(parts[: best_folds if recipe == "best" else folds]):
                row = {"fold": f, **fold_run(recipe, train_path, held_path, scratch, check and f == 0)}
                rows.append(row)
                held = row["held_apart"]
                log(f"{recipe} fold {f}: validation {row['validation']['accuracy']:.4f}, held apart {held['accuracy']:.4f} "
                    f"(answers {held['answer_accuracy']:.4f}, refused {held['refused']:.2%}), {row['train_seconds']:.0f} s; none of these: "
                    + ", ".join(f"{k.split('.')[0]} {v['none_of_these']:.1%}" for k, v in row["non_scenes"].items()))
            results["recipes"][recipe] = {"folds": rows, "summary": recipe_summary(rows)}
    return results


def pct(value: float) -> str:
    return f"{value:.1%}"


def spread(s: dict, fmt=lambda v: f"{v:.4f}") -> str:
    return f"{fmt(s['mean'])} ({fmt(s['min'])}–{fmt(s['max'])})"


def folds_markdown(results: dict) -> str:
    lines = [f"Machine: {results['machine']['described']}; {results['machine']['date']}. Stratified {results['folds']}-fold "
             f"over {Path(results['data']).name} (seed {results['fold_seed']}); mean (min–max) over folds.", "",
             "| recipe | folds | validation accuracy | held-apart accuracy | answer accuracy | refused | macro F1 | training s / fold |",
             "|---|---|---|---|---|---|---|---|"]
    for recipe, entry in results["recipes"].items():
        s = entry["summary"]
        v, h = s["validation"], s["held_apart"]
        lines.append(f"| {recipe} | {s['folds']} | {spread(v['accuracy'])} | {spread(h['accuracy'])} | {spread(h['answer_accuracy'])} | "
                     f"{spread(h['refused'], pct)} | {spread(h['macro_f1'])} | {s['train_seconds']['mean']:.0f} |")
    lr = results["logistic_regression"]
    lines.append(f"| logistic regression, frozen 224 px features | {len(lr['held_apart_accuracy'])} | — | "
                 f"{spread(mean_spread(lr['held_apart_accuracy']))} | — | — | — | — |")
    labels = list(next(iter(results["recipes"].values()))["summary"]["non_scenes"])
    lines += ["", "Answered \"none of these\" (mean over folds):", "", "| recipe | " + " | ".join(labels) + " |",
              "|---|" + "---|" * len(labels)]
    for recipe, entry in results["recipes"].items():
        lines.append(f"| {recipe} | " + " | ".join(spread(entry["summary"]["non_scenes"][k], pct) for k in labels) + " |")
    for recipe, entry in results["recipes"].items():
        strict = entry["summary"][STRICT]
        lines.append(f"| {recipe}, --refuse {STRICT} | " + " | ".join(spread(strict["non_scenes"][k], pct) for k in labels) + " |")
    lines += ["", f"Held-apart scene photos with --refuse {STRICT}:", "", "| recipe | answer accuracy | refused |", "|---|---|---|"]
    for recipe, entry in results["recipes"].items():
        h = entry["summary"][STRICT]["held_apart"]
        lines.append(f"| {recipe} | {spread(h['answer_accuracy'])} | {spread(h['refused'], pct)} |")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- class weights


def recall_row(labels: np.ndarray, p: np.ndarray, pet: np.ndarray | None, decision, seconds: float) -> dict:
    from catdog.evaluate.metrics import answer_metrics, classification_metrics

    metrics = classification_metrics(labels, p, 0, decision)
    metrics.update(answer_metrics(labels, p, pet, decision))
    return {"accuracy": metrics["accuracy"], "answer_accuracy": metrics["answer_accuracy"], "macro_f1": metrics["macro_f1"],
            "refused": metrics["refused"], "recall": {name: c["recall"] for name, c in metrics["per_class"].items()},
            "train_seconds": seconds}


def weighted_run(train_path: Path, held_path: Path, weight: str, seed: int) -> dict:
    from catdog.classifier import Classifier
    from catdog.recipes import recipe_config

    started = time.perf_counter()
    classifier = Classifier(recipe_config("original", class_weight=weight, seed=seed)).fit(str(train_path))
    seconds = time.perf_counter() - started
    held = classifier.scores(str(held_path))
    return recall_row(held.labels, held.p, held.pet_score, classifier.decision, seconds)


def class_weight_benchmark(seeds: list[int]) -> dict:
    results: dict = {"machine": machine(), "recipe": "original", "weights": ["none", "balanced"], "cases": {}}
    with tempfile.TemporaryDirectory(prefix="catdog-weights-") as scratch_name:
        scratch = Path(scratch_name)
        # Cat/dog: all 1,000 dogs and a seeded 100 of the 1,000 cats; test.parquet as it is.
        train = pq.read_table(DATA / "train.parquet")
        labels = train.column("labels").to_numpy()
        rng = np.random.default_rng(0)
        kept = np.concatenate([np.flatnonzero(labels == 1), rng.choice(np.flatnonzero(labels == 0), CATS_KEPT, replace=False)])
        cat_dog = write_rows(train, kept, scratch / "train-100-cats.parquet")
        runs = {weight: [weighted_run(cat_dog, DATA / "test.parquet", weight, seed) for seed in seeds] for weight in results["weights"]}
        results["cases"]["cat/dog: train.parquet with 100 cats, 1,000 dogs; scored on test.parquet"] = {
            "train": {"cat": CATS_KEPT, "dog": int((labels == 1).sum())}, "runs_by": f"seeds {', '.join(map(str, seeds))}", "runs": runs}
        # Scenes: each fold's four fifths with glacier cut to 10 %; the held-apart fifth as it is.
        table = pq.read_table(SCENES)
        labels = table.column("labels").to_numpy()
        names = json.loads(table.schema.metadata[b"huggingface"])["info"]["features"]["labels"]["names"]
        cut = names.index(CUT_CLASS)
        fold_of = stratified_folds(labels, 5)
        runs = {weight: [] for weight in results["weights"]}
        for f in range(5):
            train_rows = np.flatnonzero(fold_of != f)
            cut_rows = train_rows[labels[train_rows] == cut]
            keep = np.concatenate([train_rows[labels[train_rows] != cut],
                                   np.random.default_rng(f).choice(cut_rows, round(CUT_SHARE * len(cut_rows)), replace=False)])
            train_path = write_rows(table, keep, scratch / f"scenes-cut-{f}.parquet")
            held_path = write_rows(table, np.flatnonzero(fold_of == f), scratch / f"scenes-held-{f}.parquet")
            for weight in results["weights"]:
                runs[weight].append(weighted_run(train_path, held_path, weight, 42))
                log(f"scenes fold {f}, {weight}: recall {CUT_CLASS} {runs[weight][-1]['recall'][CUT_CLASS]:.3f}, "
                    f"accuracy {runs[weight][-1]['accuracy']:.4f}")
        results["cases"][f"scenes: each fold's training part with {CUT_CLASS} cut to {CUT_SHARE:.0%}; scored on the held-apart fifth"] = {
            "train": {CUT_CLASS: f"{CUT_SHARE:.0%} of its photos"}, "runs_by": "folds 0-4 (seed 42)", "runs": runs}
    for case in results["cases"].values():
        case["summary"] = {weight: weight_summary(rows) for weight, rows in case["runs"].items()}
    return results


def weight_summary(rows: list[dict]) -> dict:
    out = {key: float(np.mean([r[key] for r in rows])) for key in ("accuracy", "answer_accuracy", "macro_f1", "refused")}
    out["recall"] = {name: float(np.mean([r["recall"][name] for r in rows])) for name in rows[0]["recall"]}
    return out


def class_weight_markdown(results: dict) -> str:
    lines = [f"Machine: {results['machine']['described']}; {results['machine']['date']}. Default recipe; means over the runs named."]
    for case, entry in results["cases"].items():
        classes = list(next(iter(entry["summary"].values()))["recall"])
        lines += ["", f"{case} ({entry['runs_by']}):", "",
                  "| class_weight | " + " | ".join(f"recall {c}" for c in classes) + " | macro F1 | accuracy | answer accuracy |",
                  "|---|" + "---|" * (len(classes) + 3)]
        for weight, s in entry["summary"].items():
            lines.append(f"| {weight} | " + " | ".join(f"{s['recall'][c]:.3f}" for c in classes)
                         + f" | {s['macro_f1']:.4f} | {s['accuracy']:.4f} | {s['answer_accuracy']:.4f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="mode", required=True)
    folds = sub.add_parser("folds")
    folds.add_argument("--recipes", default="original,best")
    folds.add_argument("--folds", type=int, default=5)
    folds.add_argument("--best-folds", type=int, default=5, help="folds the best recipe trains on (the first N)")
    folds.add_argument("--check-evaluate", action="store_true", help="on fold 0, compare with Classifier.evaluate on -1 copies")
    folds.add_argument("--json", type=Path, default=RESULTS / "scenes.json")
    weights = sub.add_parser("class-weights")
    weights.add_argument("--seeds", default="42,1,2")
    weights.add_argument("--json", type=Path, default=RESULTS / "class_weights.json")
    args = parser.parse_args()
    if args.mode == "folds":
        results = folds_benchmark(args.recipes.split(","), args.folds, args.best_folds, args.check_evaluate)
        text = folds_markdown(results)
    else:
        results = class_weight_benchmark([int(s) for s in args.seeds.split(",")])
        text = class_weight_markdown(results)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    args.json.with_suffix(".md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
