"""Measure "neither" methods (is there a cat or dog in this photo at all?), to choose one and report it.

  python benchmarks/neither_methods.py [--size 224|288] [--json OUT]

Every method scores the frozen MobileNetV2's pooled features of the shared files. Protocol, so that
the reported figures were not used to choose:

- Training photos: split as `catdog train` splits them (stratified 80/20, seed 42). Methods that
  learn from the training photos (nearest photo, Mahalanobis) are fitted on the 80 %; every method's
  threshold is its `rate` quantile of held-out training scores (out-of-fold over the 80 %, plus the
  20 %), as the product chooses it.
- shift.parquet is split by breed, lookalikes.parquet by kind of animal (lookalikes.classes.csv),
  ood.parquet by photo and ood_diverse.parquet by ImageNet class, each into a "choose" half and a
  "report" half (seeded). Combination weights (a logistic regression
  on standardised scores, pets against the choose halves) and the rate were chosen on the choose
  halves; tables report the report halves and test.parquet, which nothing was chosen on.
- "camera/crop" rows: the 600 shift photos and 300 test photos under changes a phone photo of a pet
  plausibly has (centre crop, greyscale, 90-degree rotation, 80-px source, JPEG quality 15, dark,
  padded panorama, saved 64 px on the longer side, saved at JPEG quality 10); "cat + dog": 100 test
  cats pasted beside 100 test dogs. All are still pets: a refusal is a wrong answer.
- Every method but the plain ImageNet signals is also given with the product's lookalike gate: the
  smaller of the method's score and the gate's term, which crosses the threshold where
  log P(pet) - log P(lookalike) is at its pet_score.GATE_RATE quantile over held-out training photos.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import re
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CATDOG_PROGRESS", "0")

import numpy as np
import pyarrow.parquet as pq
from PIL import Image, ImageEnhance
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from catdog.config import TrainConfig
from catdog.data.data_report import DataReport
from catdog.data.sources import open_source
from catdog.data.split import stratified_split
from catdog.model import pet_score as ps
from catdog.model.backbone import resolve_classifier_weights, resolve_weights
from catdog.model.build import build_networks
from catdog.training.backbone_engine import BackboneFeatures, feature_namespace
from catdog.training.feature_cache import FeatureCache
from catdog.training.features import extract_features

SHARED = Path(os.environ.get("SHARED", Path(__file__).resolve().parents[2] / "shared"))
FILES = ("train", "test", "shift", "lookalikes", "ood", "ood_diverse")
NON_PETS = ("lookalikes", "ood", "ood_diverse")
SPLITS = 10  # choose/report splits; tables give the mean over them


class Features:
    """Frozen pooled features (photo and mirror) of every shared file, through the product's own
    LiteRT backbone and feature cache (what `catdog train` computed is reused)."""

    def __init__(self, size: int):
        weights = resolve_weights("imagenet")
        self.size = size
        config = TrainConfig(image_size=size)
        self.networks = build_networks(config, weights)
        self.namespace = feature_namespace(config, weights)
        self.compute = BackboneFeatures(config, weights, FeatureCache.directory(), self.networks.features)

    def of_file(self, name: str, mirror: bool = False) -> tuple[np.ndarray, np.ndarray, list[str]]:
        source = open_source(SHARED / "data" / f"{name}.parquet", require_labels=False)
        cache = FeatureCache(namespace=self.namespace + ("-mirror" if mirror else ""))
        compute = (lambda px: self.compute(np.ascontiguousarray(px[:, :, ::-1]))) if mirror else self.compute
        try:
            found = extract_features(source, None, compute, cache, DataReport(source.description), self.size, 32, 2)
        finally:
            cache.close()
        order = sorted(found)
        names = [p.name for p in source.photos()]
        return np.stack([found[i] for i in order]), source.labels()[order], [names[i] for i in order]

    def of_pixels(self, pixels: np.ndarray) -> np.ndarray:
        return np.concatenate([self.compute(pixels[i:i + 32]) for i in range(0, len(pixels), 32)])


def _crop(image, fraction=0.6):
    w, h = image.size
    cw, ch = int(w * fraction), int(h * fraction)
    return image.crop(((w - cw) // 2, (h - ch) // 2, (w - cw) // 2 + cw, (h - ch) // 2 + ch))


def _jpeg(image, quality=15):
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def _saved(image, longer_side=None, quality=90):
    """The photo as a thumbnail or an old phone would save it: scaled down, then JPEG-encoded."""
    if longer_side:
        scale = longer_side / max(image.size)
        image = image.resize((max(1, round(image.size[0] * scale)), max(1, round(image.size[1] * scale))), Image.LANCZOS)
    return _jpeg(image, quality)


def _panorama(image):
    canvas = Image.new("RGB", (image.size[0] * 2, image.size[1]), (120, 120, 120))
    canvas.paste(image, (image.size[0] // 2, 0))
    return canvas


CAMERA_CHANGES = {
    "centre crop 60 %": _crop, "greyscale": lambda im: im.convert("L").convert("RGB"),
    "rotated 90°": lambda im: im.rotate(90, expand=True), "80-px source": lambda im: im.resize((80, 80), Image.BILINEAR),
    "JPEG quality 15": _jpeg, "dark (40 %)": lambda im: ImageEnhance.Brightness(im).enhance(0.4),
    "padded panorama": _panorama, "saved 64 px": lambda im: _saved(im, 64), "JPEG quality 10": lambda im: _saved(im, None, 10),
}


def _images(name: str, count: int) -> tuple[list[Image.Image], list[int]]:
    table = pq.read_table(SHARED / "data" / f"{name}.parquet").slice(0, count)
    images = [Image.open(io.BytesIO(r["bytes"])).convert("RGB") for r in table.column("image").to_pylist()]
    return images, table.column("labels").to_pylist()


def hard_pets(features: Features) -> dict[str, np.ndarray]:
    """Features of pets under camera and crop changes, and of a cat beside a dog (cached in .cache)."""
    cache = Path(os.environ.get("CATDOG_CACHE", ".cache/catdog")) / "benchmarks" / f"hard_pets_{features.size}_v2.npz"
    if cache.is_file():
        return dict(np.load(cache))
    size = features.size
    shift, _ = _images("shift", 600)
    test, test_labels = _images("test", 1000)
    out = {}
    for name, change in CAMERA_CHANGES.items():
        pixels = np.stack([np.asarray(change(im).resize((size, size), Image.BILINEAR)) for im in shift + test[:300]])
        out[name] = features.of_pixels(pixels)
    cats = [im for im, label in zip(test, test_labels) if label == 0][:100]
    dogs = [im for im, label in zip(test, test_labels) if label == 1][:100]
    pairs = []
    for cat, dog in zip(cats, dogs):
        canvas = Image.new("RGB", (2 * size, size))
        canvas.paste(cat.resize((size, size)), (0, 0))
        canvas.paste(dog.resize((size, size)), (size, 0))
        pairs.append(np.asarray(canvas.resize((size, size), Image.BILINEAR)))
    out["cat beside a dog"] = features.of_pixels(np.stack(pairs))
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, **out)
    return out


def halves(names: list[str], key, seed: int) -> np.ndarray:
    """A seeded choose/report split by group (`key` of each name): True = choose half."""
    groups = np.array([key(n) for n in names])
    unique = np.unique(groups)
    chosen = set(np.random.default_rng(seed).permutation(unique)[: len(unique) // 2])
    return np.array([g in chosen for g in groups])


def standardised(components: dict[str, np.ndarray], held: np.ndarray) -> dict[str, np.ndarray]:
    mean, scale = held.mean(axis=0), np.where(held.std(axis=0) > 1e-9, held.std(axis=0), 1.0)
    return {k: (v - mean) / scale for k, v in components.items()}


def imagenet_signals(features: np.ndarray, kernel: np.ndarray, bias: np.ndarray) -> dict[str, np.ndarray]:
    z = features @ kernel + bias
    log_softmax = z - ps._logsumexp(z)[:, None]
    pets = np.zeros(z.shape[1], dtype=bool)
    pets[list(ps.PET_CLASSES)] = True
    return {
        "ImageNet pet log-odds (dogs + domestic cats)": ps._logsumexp(z[:, pets]) - ps._logsumexp(z[:, ~pets]),
        "ImageNet max probability over pet classes": np.exp(log_softmax[:, pets].max(axis=1)),
        "energy (logsumexp of all ImageNet logits)": ps._logsumexp(z),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--rate", type=float, default=None, help="default: the recipe's neither_rate at this size")
    parser.add_argument("--tta", action="store_true", help="average each photo's scores with its mirror image's (as --recipe best predicts)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    started = time.perf_counter()
    rate = args.rate or (TrainConfig().neither_rate if args.size == 224 else 0.004)
    features = Features(args.size)
    kernel, bias = ps.imagenet_classifier(resolve_classifier_weights())
    data = {name: features.of_file(name) for name in FILES}
    mirrors = {name: features.of_file(name, mirror=True)[0] for name in FILES} if args.tta else {}
    F, y, _ = data["train"]
    train_idx, val_idx = stratified_split(y, 0.2, 42)
    hard = hard_pets(features)

    # The product's three components, with held-out training scores (out-of-fold, then validation).
    unfitted = ps._unstandardised(F[train_idx], y[train_idx], (kernel, bias), 42)
    folds = np.array_split(np.random.default_rng(42).permutation(len(train_idx)), ps.FOLDS)
    views = [F] + ([mirrors["train"]] if args.tta else [])
    held = np.zeros((len(train_idx), 3))
    for fold in folds:
        keep = np.setdiff1d(np.arange(len(train_idx)), fold)
        scorer = ps._unstandardised(F[train_idx][keep], y[train_idx][keep], (kernel, bias), 42)
        held[fold] = np.mean([scorer.components(v[train_idx][fold]) for v in views], axis=0)
    held = np.concatenate([held, np.mean([unfitted.components(v[val_idx]) for v in views], axis=0)])
    sets = {name: data[name][0] for name in ("test", "shift", *NON_PETS)}
    sets.update({f"hard: {k}": v for k, v in hard.items()})
    components = {k: unfitted.components(v) for k, v in sets.items()}
    gate = {k: unfitted.lookalike_log_odds(v) for k, v in sets.items()}
    for name in mirrors:  # test-time augmentation: the photo and its mirror image, averaged
        if name in components:
            components[name] = (components[name] + unfitted.components(mirrors[name])) / 2
            gate[name] = (gate[name] + unfitted.lookalike_log_odds(mirrors[name])) / 2
    gate["held"] = np.mean([unfitted.lookalike_log_odds(v[np.r_[train_idx, val_idx]]) for v in views], axis=0)
    gate_level = float(np.quantile(gate["held"], ps.GATE_RATE))
    z = standardised({**components, "held": held}, held)
    unit = lambda f: f / np.linalg.norm(f, axis=1, keepdims=True)
    held_features = np.concatenate([F[train_idx], F[val_idx]])  # for the methods with nothing fitted
    kinds = [row["kind"] for row in csv.DictReader((SHARED / "data" / "lookalikes.classes.csv").open())]
    assert len(kinds) == len(sets["lookalikes"]), "every lookalike photo decodes"

    rows: dict[str, list[dict]] = {}
    sweeps = []
    for split in range(SPLITS):
        # Choose/report halves of the development files: shift by breed, lookalikes by kind of animal,
        # ood by photo, ood_diverse by ImageNet class.
        choose = {"shift": halves(data["shift"][2], lambda n: re.sub(r"_\d+\.\w+$", "", n), split),
                  "lookalikes": halves(kinds, lambda n: n, split),
                  "ood": halves(data["ood"][2], lambda n: n, split),
                  "ood_diverse": halves(data["ood_diverse"][2], lambda n: n.split("_")[0], split)}
        def negatives(source: dict, transform=lambda x: x, choose=choose) -> list[np.ndarray]:
            return [transform(source[k][choose[k]]) for k in NON_PETS]

        # Outlier exposure, as a measured alternative: a linear pet-vs-not classifier on unit features,
        # pets = training photos + shift choose half, not = the non-pet files' choose halves.
        oe_x = np.concatenate([unit(F[train_idx]), unit(sets["shift"][choose["shift"]]), *negatives(sets, unit)]) * 10
        oe_y = np.r_[np.ones(len(train_idx) + choose["shift"].sum()), np.zeros(sum(choose[k].sum() for k in NON_PETS))]
        outlier_exposure = LogisticRegression(C=0.01, class_weight="balanced", max_iter=3000).fit(oe_x, oe_y)
        # Weights of the combination, fitted on the choose halves only.
        fit_x = np.concatenate([z["held"], z["shift"][choose["shift"]], *negatives(z)])
        fit_y = np.r_[np.ones(len(z["held"]) + choose["shift"].sum()), np.zeros(sum(choose[k].sum() for k in NON_PETS))]
        coef = LogisticRegression(C=1.0, class_weight="balanced").fit(fit_x, fit_y).coef_[0]
        fitted = coef / coef.sum()

        methods: dict[str, tuple] = {}
        for name in imagenet_signals(F[:1], kernel, bias):
            methods[name] = (lambda s, name=name: imagenet_signals(s, kernel, bias)[name], None)
        methods["nearest training photo, cosine (k = 1; the earlier method)"] = ("component", 1)
        methods["Mahalanobis, class-conditional, low rank + isotropic"] = ("component", 2)
        methods["ImageNet log-odds + nearest photo (equal weights)"] = ("weights", np.array([0.5, 0.5, 0.0]))
        methods["ImageNet log-odds + Mahalanobis (equal weights)"] = ("weights", np.array([0.5, 0.0, 0.5]))
        methods["all three, weights fitted on each split's choose halves"] = ("weights", fitted)
        methods[f"all three, weights {list(ps.WEIGHTS)} (the last release)"] = ("weights", np.array(ps.WEIGHTS))
        methods["outlier exposure (linear, 1280-d, choose halves as negatives)"] = (
            lambda s, model=outlier_exposure: model.decision_function(unit(s) * 10), None)

        for name, (how, arg) in methods.items():
            if how == "component":
                score = {k: z[k][:, arg] for k in z}
            elif how == "weights":
                score = {k: z[k] @ arg for k in z}
            else:
                score = {k: how(sets[k]) for k in sets}
                score["held"] = how(held_features)
            threshold = np.quantile(score["held"], rate)
            variants = {name: score}
            if not name.startswith(("ImageNet max", "ImageNet pet", "energy")):
                # The gate's term in this method's units: crosses the threshold at the gate level.
                scale = np.std(score["held"]) / np.std(z["held"] @ np.array(ps.WEIGHTS))
                variants[name + " + lookalike gate" + (" (chosen)" if "last release" in name else "")] = {
                    k: np.minimum(v, threshold + ps.GATE_SLOPE * scale * (gate[k] - gate_level)) for k, v in score.items()}
            for label, values in variants.items():
                report = {"test": values["test"], **{k: values[k][~choose[k]] for k in ("shift", *NON_PETS)}}
                pets, others = np.r_[report["test"], report["shift"]], np.concatenate([report[k] for k in NON_PETS])
                rows.setdefault(label, []).append({
                    "auroc": float(roc_auc_score(np.r_[np.ones(len(pets)), np.zeros(len(others))], np.r_[pets, others])),
                    "refused": {k: float(np.mean(v < threshold)) for k, v in report.items()},
                    "hard": {k[6:]: float(np.mean(values[k] < threshold)) for k in values if k.startswith("hard: ")},
                    "weights": arg.tolist() if how == "weights" else None})

        # The rate trade-off for the chosen method, on the choose halves (how the rate was picked).
        shipped = {k: z[k] @ np.array(ps.WEIGHTS) for k in z}
        for r in (0.003, 0.004, 0.005, 0.0075, 0.01, 0.015):
            t = np.quantile(shipped["held"], r)
            gated = {k: np.minimum(v, t + ps.GATE_SLOPE * (gate[k] - gate_level)) for k, v in shipped.items()}
            sweeps.append({"rate": r, **{k: float(np.mean(gated[k][choose[k]] < t)) for k in ("shift", *NON_PETS)},
                           "camera_crop": float(np.mean([np.mean(gated[k] < t) for k in gated
                                                         if k.startswith("hard: ") and "beside" not in k]))})

    def mean(runs: list[dict], *keys) -> float:
        values = []
        for run in runs:
            value = run
            for key in keys:
                value = value[key]
            values.append(value)
        return float(np.mean(values))

    views = ", photo + mirror averaged" if args.tta else ""
    print(f"## Size {args.size} px{views}, rate {rate} (threshold = that quantile of held-out training scores); "
          f"mean over {SPLITS} choose/report splits\n")
    print("| method | AUROC (test + shift vs lookalikes + ood + ood_diverse) | refused: test | shift | lookalikes | ood | ood_diverse |")
    print("|---|---|---|---|---|---|---|")
    for name, runs in rows.items():
        cells = " | ".join(f"{mean(runs, 'refused', k):.1%}" for k in ("test", "shift", *NON_PETS))
        print(f"| {name} | {mean(runs, 'auroc'):.4f} | {cells} |")
    fitted_weights = np.mean([run["weights"] for run in rows["all three, weights fitted on each split's choose halves"]], axis=0)
    print(f"\n(fitted weights, mean over splits: {np.round(fitted_weights, 2).tolist()})")
    print("\nPets under camera and crop changes, and a cat beside a dog (refused = wrong):\n")
    hard_names = list(next(iter(rows.values()))[0]["hard"])
    print("| method | " + " | ".join(hard_names) + " |")
    print("|---|" + "---|" * len(hard_names))
    for name, runs in rows.items():
        print(f"| {name} | " + " | ".join(f"{mean(runs, 'hard', h):.1%}" for h in hard_names) + " |")
    print("\nRate sweep for the chosen method (with the gate), on the choose halves (mean over splits):\n")
    print("| rate | shift refused | lookalikes refused | ood refused | ood_diverse refused | camera/crop pets refused (mean) |")
    print("|---|---|---|---|---|---|")
    for r in sorted({s["rate"] for s in sweeps}):
        chosen = [s for s in sweeps if s["rate"] == r]
        print(f"| {r} | " + " | ".join(f"{np.mean([s[k] for s in chosen]):.1%}" for k in ("shift", *NON_PETS, "camera_crop")) + " |")
    print(f"\n({time.perf_counter() - started:.0f} s)")
    if args.json:
        args.json.write_text(json.dumps({"size": args.size, "rate": rate, "splits": SPLITS, "methods": rows, "sweep": sweeps}, indent=2))


if __name__ == "__main__":
    main()
