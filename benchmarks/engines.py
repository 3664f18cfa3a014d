"""The model alone through each export's engine, as `--engine auto` runs it: images/s at a batch of
random uint8 pixels, every engine timed in turn for a few seconds per round, best of the rounds.
Prints one JSON object.

  python benchmarks/engines.py --model RUN [--formats onnx-int8,tflite-int8] [--threads 2] [--batch 16] [--rounds 3]"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CATDOG_PROGRESS", "0")

import numpy as np

from catdog.machine import cpu_info
from catdog.run_folder import RunFolder
from catdog.runtime.manifest import FORMATS, usable_exports
from catdog.runtime.select import open_export


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--formats", help="comma-separated export formats; default: every verified one an engine runs")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=2.0, help="per engine per round")
    args = parser.parse_args()

    run = RunFolder.resolve(args.model)
    made = [fmt for fmt in usable_exports(run) if FORMATS[fmt][1]]
    formats = args.formats.split(",") if args.formats else made
    missing = sorted(set(formats) - set(made))
    if missing:
        raise SystemExit(f"{run.path} has no verified {', '.join(missing)} export; run catdog export first.")
    engines = {fmt: open_export(run, fmt, args.threads) for fmt in formats}
    size = run.read_config().image_size
    pixels = np.random.default_rng(0).integers(0, 256, (args.batch, size, size, 3), dtype=np.uint8)
    for engine in engines.values():
        engine.run(pixels)  # warm-up: the first call allocates and packs weights
    best = {fmt: 0.0 for fmt in engines}
    for _ in range(args.rounds):
        for fmt, engine in engines.items():
            done, started = 0, time.perf_counter()
            while time.perf_counter() - started < args.seconds:
                engine.run(pixels)
                done += args.batch
            best[fmt] = max(best[fmt], done / (time.perf_counter() - started))
    info = cpu_info()
    print(json.dumps({"cpu": info["model"], "flags": info["flags"], "threads": args.threads, "batch": args.batch,
                      "rounds": args.rounds, "images_per_second": {fmt: round(v, 1) for fmt, v in best.items()}}))


if __name__ == "__main__":
    main()
