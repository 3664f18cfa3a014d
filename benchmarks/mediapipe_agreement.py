"""MediaPipe Tasks' ImageClassifier on a run's TFLite files against `catdog predict` (the Keras model),
on held-out photos of other kinds than the training photos: whole photos, which MediaPipe resizes
itself, as an app hands them over. Per file and per kind: the share of photos with the same answer.
Needs `catdog export --format all` (or the three TFLite formats) on RUN. Prints one JSON object.
A run of other classes than cat and dog: --data PARQUET adds its own held-out photos as the kind
"data" (the shared kinds are then photos of none of its classes, mostly).

    .venv/bin/python benchmarks/mediapipe_agreement.py --model runs/orig
    .venv/bin/python benchmarks/mediapipe_agreement.py --model runs/scenes --data ../shared/data/scenes.parquet
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from catdog import Classifier
from catdog.data.decode import decode_image
from catdog.edge.mediapipe_check import mediapipe_answers
from catdog.machine import describe
from catdog.runtime.manifest import FORMATS

DATA = Path(os.environ.get("SHARED", Path(__file__).resolve().parents[1].parent / "shared")) / "data"
# (file, photos per label or None for the first `count`, count): the kinds docs/BENCHMARKS.md quotes
# (200 shift cats and dogs, 100 ood_diverse, 50 ood) and 100 lookalike animals.
KINDS = {"shift": ("shift.parquet", 100, None), "ood_diverse": ("ood_diverse.parquet", None, 100), "ood": ("ood.parquet", None, 50),
         "lookalikes": ("lookalikes.parquet", None, 100)}


def photos_of(spec: tuple) -> list[bytes]:
    """(file, photos per label or None, count): `count` photos, or that many of each label the file has."""
    table = pq.read_table(DATA / spec[0])
    images = [row["bytes"] for row in table.column("image").to_pylist()]
    if spec[1] is None:
        return images[: spec[2]]
    labels = table.column("labels").to_pylist()
    values = sorted({label for label in labels if label is not None and label >= 0})
    return [image for value in values for image in [i for i, label in zip(images, labels) if label == value][: spec[1]]]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True, type=Path)
    parser.add_argument("--data", type=Path, help="held-out photos of the run's own classes (parquet): 50 of each label")
    args = parser.parse_args()
    keras = Classifier.load(args.model, engine="keras")
    result: dict = {"machine": describe(), "model": str(args.model), "kinds": {}}
    answers: dict[str, dict[str, list[bool]]] = {fmt: {} for fmt in ("tflite", "tflite-fp16", "tflite-int8")}
    kinds = {**KINDS, **({"data": (args.data.resolve(), 50, None)} if args.data else {})}
    for kind, spec in kinds.items():
        photos = photos_of(spec)
        expected = keras.predict(photos)
        images = [decode_image(photo, None) for photo in photos]
        result["kinds"][kind] = {"photos": len(photos), "answers": {a: expected.count(a) for a in keras.decision.answers}}
        for fmt in answers:
            got = mediapipe_answers(args.model / "export" / FORMATS[fmt][0], images)
            answers[fmt][kind] = [a == e for a, e in zip(got, expected)]
    quoted = ("shift", "ood_diverse", "ood")
    result["agreement"] = {
        fmt: {**{kind: float(np.mean(same)) for kind, same in kinds.items()},
              "shift+ood_diverse+ood": float(np.mean(sum((kinds[k] for k in quoted), []))),
              "all": float(np.mean(sum(kinds.values(), [])))}
        for fmt, kinds in answers.items()}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
