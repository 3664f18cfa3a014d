"""Measure candidate "neither" scores, to choose one (docs/TRUST.md quotes the output).

Thresholds are fitted on the validation split of the training file (at most 1 % of its cats and
dogs refused); AUROC and refusal rates are reported on the test file (in) and the OOD file.

  python benchmarks/neither_methods.py
"""

from __future__ import annotations

import json
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CATDOG_PROGRESS", "0")

import numpy as np
from sklearn.metrics import roc_auc_score

from catdog.config import TrainConfig
from catdog.data.pipeline import decode_batches
from catdog.data.sources import open_source
from catdog.data.split import stratified_split
from catdog.model.backbone import resolve_classifier_weights, resolve_weights
from catdog.model.build import build_networks

SHARED = Path(os.environ.get("SHARED", Path(__file__).resolve().parents[2] / "shared"))


def imagenet_top_weights(with_top_path):
    """MobileNetV2's 1000-class ImageNet layer, read from the with-top weights file."""
    import h5py

    with h5py.File(with_top_path, "r") as weights:
        return weights["predictions"]["predictions/kernel"][()], weights["predictions"]["predictions/bias"][()]


def features(model, spec, indices=None):
    source = open_source(spec, require_labels=False)
    out = [model.predict_on_batch(px.astype(np.float32)) for _, px in decode_batches(source.photos(indices), 224, 32, 4)]
    return np.concatenate(out)


def main() -> None:
    networks = build_networks(TrainConfig(), resolve_weights("imagenet"))
    kernel, bias = imagenet_top_weights(resolve_classifier_weights())
    train_spec = SHARED / "data" / "train.parquet"
    labels = open_source(train_spec).labels()
    train_idx, val_idx = stratified_split(labels, 0.2, 42)
    f_train, f_val = features(networks.features, train_spec, train_idx), features(networks.features, train_spec, val_idx)
    f_test, f_ood = features(networks.features, SHARED / "data" / "test.parquet"), features(networks.features, SHARED / "data" / "ood.parquet")

    def softmax(f):
        z = f @ kernel + bias
        z = np.exp(z - z.max(axis=1, keepdims=True))
        return z / z.sum(axis=1, keepdims=True)

    unit = lambda f: f / np.linalg.norm(f, axis=1, keepdims=True)
    bank = unit(f_train)
    # Keras ImageNet indices (line i + 1 of imagenet_labels.txt): 151-268 dog breeds, 281-285 domestic cats.
    pets = list(range(151, 269)) + list(range(281, 286))
    wide = list(range(151, 294))
    methods = {
        "ImageNet mass, dogs 151-268 + domestic cats 281-285": lambda f: softmax(f)[:, pets].sum(axis=1),
        "ImageNet mass, 151-293 (with wolves, foxes, wild cats)": lambda f: softmax(f)[:, wide].sum(axis=1),
        "ImageNet max probability over pet classes": lambda f: softmax(f)[:, pets].max(axis=1),
        "energy (logsumexp of ImageNet logits)": lambda f: np.log(np.exp(f @ kernel + bias).sum(axis=1)),
        "cosine similarity to nearest training photo (k=1)": lambda f: (unit(f) @ bank.T).max(axis=1),
        "mean cosine similarity to 5 nearest training photos": lambda f: np.sort(unit(f) @ bank.T, axis=1)[:, -5:].mean(axis=1),
        "k=1 similarity + 0.01 log(ImageNet pet mass)": lambda f: (unit(f) @ bank.T).max(axis=1)
        + 0.01 * np.log(softmax(f)[:, pets].sum(axis=1) + 1e-6),
    }
    rows = []
    for name, score in methods.items():
        val, test, ood = score(f_val), score(f_test), score(f_ood)
        threshold = np.quantile(val, 0.01)
        auroc = roc_auc_score(np.r_[np.ones(len(test)), np.zeros(len(ood))], np.r_[test, ood])
        rows.append({"method": name, "auroc": auroc, "refused_ood": float((ood < threshold).mean()),
                     "refused_in_test": float((test < threshold).mean())})
    print("| method | AUROC (test vs OOD) | OOD refused | test cats/dogs refused |\n|---|---|---|---|")
    for r in rows:
        print(f"| {r['method']} | {r['auroc']:.4f} | {r['refused_ood']:.1%} | {r['refused_in_test']:.1%} |")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
