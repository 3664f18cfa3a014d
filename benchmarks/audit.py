"""`catdog data audit`, measured: a copy of a labelled file with a known share of labels flipped and
known near-duplicate copies added (crop to 80-95 %, resize to 50-90 %, JPEG quality 50-85), then
precision and recall of each check, the audit's time with a warm feature cache, and test accuracy
trained with and without `--exclude` of what the audit flagged. Prints one JSON object.

    .venv/bin/python benchmarks/audit.py --data ../shared/data/train.parquet --test ../shared/data/test.parquet
"""

from __future__ import annotations

import argparse
import io
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CATDOG_PROGRESS", "0")

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

import catdog
from catdog.audit.exclude_list import exclusions
from catdog.audit.run import audit


def near_copy(data: bytes, rng: np.random.Generator) -> bytes:
    image = Image.open(io.BytesIO(data)).convert("RGB")
    width, height = image.size
    share = rng.uniform(0.8, 0.95)
    cw, ch = int(width * share), int(height * share)
    x, y = int(rng.integers(0, width - cw + 1)), int(rng.integers(0, height - ch + 1))
    image = image.crop((x, y, x + cw, y + ch))
    scale = rng.uniform(0.5, 0.9)
    image = image.resize((max(32, int(cw * scale)), max(32, int(ch * scale))))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=int(rng.integers(50, 86)))
    return buffer.getvalue()


def planted(data: str, out: Path, flip_share: float, copies: int, seed: int) -> tuple[Path, set[int], dict[int, int]]:
    """The file with flips and copies; (path, flipped rows, copy row -> original row)."""
    table = pq.read_table(data)
    images, labels = table.column("image").to_pylist(), table.column("labels").to_pylist()
    rng = np.random.default_rng(seed)
    flipped = set(int(i) for i in rng.choice(len(labels), int(flip_share * len(labels)), replace=False))
    labels = [1 - label if row in flipped else label for row, label in enumerate(labels)]
    originals = [int(i) for i in rng.choice(sorted(set(range(len(images))) - flipped), copies, replace=False)]
    pairs = {}
    for original in originals:
        pairs[len(images)] = original
        images.append({"bytes": near_copy(images[original]["bytes"], rng), "path": f"copy-of-{original}.jpg"})
        labels.append(labels[original])
    pq.write_table(pa.table({"image": images, "labels": labels}), out)
    return out, flipped, pairs


def scores(result: dict, flipped: set[int], pairs: dict[int, int]) -> dict[str, float]:
    found = {issue["row"] for issue in result["label_issues"]}
    group_of = {row: k for k, group in enumerate(result["near_duplicates"]) for row in group["rows"]}
    grouped = sum(1 for copy, original in pairs.items() if copy in group_of and group_of.get(original) == group_of[copy])
    planted_rows = set(pairs) | set(pairs.values())
    false_groups = sum(1 for group in result["near_duplicates"] if not set(group["rows"]) & planted_rows)
    return {
        "flipped": len(flipped), "flagged": len(found),
        "label_recall": len(found & flipped) / len(flipped), "label_precision": len(found & flipped) / max(1, len(found)),
        "copies": len(pairs), "copies_grouped_with_original": grouped / len(pairs),
        "groups_without_a_planted_copy": false_groups, "near_duplicate_groups": len(result["near_duplicates"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--test", required=True)
    parser.add_argument("--held-out", default=None, help="Another labelled file for the label check alone (photos of other kinds).")
    parser.add_argument("--flip", type=float, default=0.05)
    parser.add_argument("--copies", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="catdog-audit-bench-"))
    noisy, flipped, pairs = planted(args.data, work / "noisy.parquet", args.flip, args.copies, args.seed)
    audit(str(noisy))  # fills the feature cache for the copies
    started = time.perf_counter()
    result = audit(str(noisy))
    report = {"file": args.data, "warm_seconds": time.perf_counter() - started, **scores(result, flipped, pairs)}
    if args.held_out:
        other, other_flipped, _ = planted(args.held_out, work / "held_out.parquet", args.flip, 0, args.seed)
        held = scores(audit(str(other)), other_flipped, {1: 1})
        report["held_out"] = {"file": args.held_out, **{k: held[k] for k in ("flipped", "flagged", "label_recall", "label_precision")}}
    excluded = [e["row"] for e in exclusions(result)]
    for name, exclude in (("noisy", None), ("noisy_with_exclude", excluded)):
        run = catdog.train(str(noisy), test=args.test, out=work / "runs", name=name, exclude=exclude)
        report[f"test_accuracy_{name}"] = run.metrics["test"]["accuracy"]
    report["excluded_rows"] = len(excluded)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
