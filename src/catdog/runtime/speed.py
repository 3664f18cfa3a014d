"""How fast each verified export runs on *this* machine: measured the first time `--engine auto`
meets a run here, remembered per CPU, thread count and file, so later commands choose at once.

The speed an export recorded when it was made belongs to the machine that made it: int8 is three
times faster than float32 with VNNI and barely faster without it, so a run folder copied to another
machine must not trust it."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..files import cache_dir, write_json
from ..machine import cpu_info

SPEED_FILE = "engine-speed.json"
BATCH = 16  # photos per timed call: what predict and the feature pass hand an engine at a time
ROUNDS = 3  # interleaved, best of: the other exports' rounds sit between each export's


def speed_key(record: dict[str, Any], fmt: str, threads: int) -> str:
    info = cpu_info()
    return json.dumps([info["model"], info["flags"], threads, fmt, record.get("model_sha256"), record.get("bytes"),
                       record.get("created")])


def _remembered(path: Path) -> dict[str, float]:
    try:
        return {str(k): float(v) for k, v in json.loads(path.read_text()).items()}
    except (OSError, ValueError, AttributeError):
        return {}


def measured_speeds(exports: dict[str, dict[str, Any]], threads: int, open_engine: Callable[[str], Any],
                    image_size: int) -> dict[str, float]:
    """images/s of each export in `exports` on this machine, from the cache file or measured now."""
    path = cache_dir() / SPEED_FILE
    remembered = _remembered(path)
    keys = {fmt: speed_key(record, fmt, threads) for fmt, record in exports.items()}
    missing = [fmt for fmt in exports if keys[fmt] not in remembered]
    if missing:
        engines = {fmt: open_engine(fmt) for fmt in missing}
        pixels = np.random.default_rng(0).integers(0, 256, (BATCH, image_size, image_size, 3), dtype=np.uint8)
        best = {fmt: 0.0 for fmt in missing}
        for engine in engines.values():
            engine.run(pixels)  # warm-up: the first call allocates and packs weights
        for _ in range(ROUNDS):
            for fmt, engine in engines.items():
                started = time.perf_counter()
                engine.run(pixels)
                best[fmt] = max(best[fmt], BATCH / (time.perf_counter() - started))
        remembered.update({keys[fmt]: best[fmt] for fmt in missing})
        try:
            write_json(path, remembered)
        except OSError:
            pass  # a read-only cache only costs measuring again next time
    return {fmt: remembered[keys[fmt]] for fmt in exports}
