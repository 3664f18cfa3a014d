"""End-to-end inference with our pipeline and one engine: encoded photo -> label, in images/s,
plus batch-1 latency percentiles and accuracy. Prints one JSON object."""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CATDOG_PROGRESS", "0")

import numpy as np
import pyarrow.parquet as pq

from catdog import Classifier
from catdog.data.sources import open_source


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--engine", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--latency-photos", type=int, default=100)
    args = parser.parse_args()

    classifier = Classifier.load(args.model, engine=args.engine)
    source = open_source(args.data)
    labels = source.labels()
    classifier.predict(next(source.photos()).data)  # warm-up, as for the baseline
    started = time.perf_counter()
    predictions = classifier.predict_photos(source)
    seconds = time.perf_counter() - started
    p = np.array([pr.p_dog for pr in predictions])
    blobs = [item["bytes"] for item in pq.read_table(args.data).column("image").to_pylist()[: args.latency_photos]]
    latencies = []
    for blob in blobs:
        t = time.perf_counter()
        classifier.predict(blob)
        latencies.append((time.perf_counter() - t) * 1000)
    print(json.dumps({
        "engine": f"{args.engine} ({classifier.engine.name}: {classifier.engine.artifact})", "photos": len(p), "seconds": seconds,
        "images_per_second": len(p) / seconds, "accuracy": float(((p >= 0.5) == (labels == 1)).mean()),
        "latency_ms_p50": float(np.percentile(latencies, 50)), "latency_ms_p99": float(np.percentile(latencies, 99)),
    }))


if __name__ == "__main__":
    main()
