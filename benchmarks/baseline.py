"""A faithful re-implementation of the original one-script pipeline, for side-by-side benchmarks.

What the original did, and so what this does:
- decode every photo into one in-memory float32 array scaled to [0, 1] (PIL, resized to 224x224);
- frozen ImageNet MobileNetV2 + GlobalAveragePooling -> Dropout 0.5 -> Dense 64 relu -> Dropout 0.5
  -> Dense 1 sigmoid; binary cross-entropy, Adam; model.fit(validation_split=0.2, batch 32) with
  EarlyStopping(val_loss, patience=4) (best weights restored), so the frozen backbone reruns on every
  photo in every epoch;
- model.predict on float arrays for inference.

Usage:
  python benchmarks/baseline.py train --data TRAIN --test TEST --out DIR [--max-epochs N] [--limit N]
  python benchmarks/baseline.py infer --model DIR/model.keras --data TEST
  python benchmarks/baseline.py predict --model DIR/model.keras --data PHOTOS
infer and train print one JSON object on stdout; predict prints each photo's label, as the original's
prediction step did, and is timed as a whole process (TensorFlow start-up included).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pyarrow.parquet as pq
from PIL import Image

SIZE = 224


def load_arrays(paths: list[str], limit: int | None = None):
    images, labels = [], []
    for path in paths:
        table = pq.read_table(path)
        for item, label in zip(table.column("image").to_pylist(), table.column("labels").to_pylist()):
            image = Image.open(io.BytesIO(item["bytes"])).convert("RGB").resize((SIZE, SIZE))
            images.append(np.asarray(image, dtype=np.float32) / 255.0)
            labels.append(label)
            if limit and len(images) >= limit:
                break
    return np.stack(images), np.array(labels, dtype=np.float32)


def build_model():
    import keras
    from keras import layers

    base = keras.applications.MobileNetV2(input_shape=(SIZE, SIZE, 3), include_top=False, weights="imagenet")
    base.trainable = False
    model = keras.Sequential([
        base, layers.GlobalAveragePooling2D(), layers.Dropout(0.5),
        layers.Dense(64, activation="relu"), layers.Dropout(0.5), layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    return model


def train(args) -> dict:
    import keras

    keras.utils.set_random_seed(42)
    started = time.perf_counter()
    x, y = load_arrays(args.data, args.limit)
    decoded = time.perf_counter()
    model = build_model()
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=4, restore_best_weights=True)
    history = model.fit(x, y, batch_size=32, epochs=args.max_epochs, validation_split=0.2, callbacks=[stop], verbose=0)
    train_seconds = time.perf_counter() - started
    os.makedirs(args.out, exist_ok=True)
    model.save(os.path.join(args.out, "model.keras"))
    result = {"photos": int(len(x)), "epochs": len(history.history["loss"]), "decode_seconds": decoded - started,
              "train_seconds": train_seconds, "val_accuracy": float(max(history.history["val_accuracy"]))}
    if args.test:
        del x
        x_test, y_test = load_arrays([args.test])
        p = model.predict(x_test, batch_size=32, verbose=0).reshape(-1)
        result["test_accuracy"] = float(((p >= 0.5) == (y_test == 1)).mean())
    return result


def infer(args) -> dict:
    import keras

    model = keras.saving.load_model(args.model)
    table = pq.read_table(args.data[0])
    blobs = [item["bytes"] for item in table.column("image").to_pylist()]
    labels = np.array(table.column("labels").to_pylist())
    model.predict(np.zeros((1, SIZE, SIZE, 3), np.float32), verbose=0)  # warm-up, as for ours

    def to_array(blob: bytes) -> np.ndarray:
        return np.asarray(Image.open(io.BytesIO(blob)).convert("RGB").resize((SIZE, SIZE)), dtype=np.float32) / 255.0

    started = time.perf_counter()
    x = np.stack([to_array(b) for b in blobs])
    p = model.predict(x, batch_size=32, verbose=0).reshape(-1)
    seconds = time.perf_counter() - started
    latencies = []
    for blob in blobs[: args.latency_photos]:
        t = time.perf_counter()
        model.predict(to_array(blob)[None], verbose=0)
        latencies.append((time.perf_counter() - t) * 1000)
    return {"engine": "baseline (Keras model.predict)", "photos": len(blobs), "seconds": seconds,
            "images_per_second": len(blobs) / seconds, "accuracy": float(((p >= 0.5) == (labels == 1)).mean()),
            "latency_ms_p50": float(np.percentile(latencies, 50)), "latency_ms_p99": float(np.percentile(latencies, 99))}


def predict(args) -> list:
    """The original's way to label photos: load the model, decode every photo into a float array,
    model.predict, threshold at 0.5."""
    import keras

    model = keras.saving.load_model(args.model)
    x, _ = load_arrays(args.data)
    p = model.predict(x, batch_size=32, verbose=0).reshape(-1)
    return ["dog" if value >= 0.5 else "cat" for value in p]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["train", "infer", "predict"])
    parser.add_argument("--data", nargs="+", required=True)
    parser.add_argument("--test")
    parser.add_argument("--out")
    parser.add_argument("--model")
    parser.add_argument("--max-epochs", type=int, default=50)
    parser.add_argument("--limit", type=int)
    parser.add_argument("--latency-photos", type=int, default=100)
    args = parser.parse_args()
    print(json.dumps({"train": train, "infer": infer, "predict": predict}[args.command](args)))


if __name__ == "__main__":
    main()
