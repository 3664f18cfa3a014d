"""Batch scoring throughput: single process against Ray with 1 and 2 workers, on this machine.

  python benchmarks/scaling.py --model RUN [--copies 4]

Scores ../shared/data/test.parquet repeated --copies times (1,000 photos each, 4 row groups = 4
shards each) into fresh output folders, and prints a table and JSON."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SHARED", ROOT.parent / "shared")).resolve()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--copies", type=int, default=4)
    parser.add_argument("--engine", default="auto")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds; each path's fastest is kept")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="catdog-scaling-"))
    data = work / "photos"
    data.mkdir()
    for i in range(args.copies):
        shutil.copy(SHARED / "data" / "test.parquet", data / f"copy-{i}.parquet")
    catdog = Path(sys.executable).with_name("catdog")
    rows = []
    for name, extra in (("single process", []), ("Ray, 1 worker", ["--ray", "--workers", "1"]), ("Ray, 2 workers", ["--ray", "--workers", "2"])):
        out = work / f"out-{len(rows)}"
        started = time.perf_counter()
        process = subprocess.Popen([str(catdog), "predict", "--model", args.model, "--data", str(data), "--out", str(out),
                                    "--engine", args.engine, "--json", *extra], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                   text=True, env={**os.environ, "CATDOG_PROGRESS": "0"})
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        summary = json.loads(process.stdout.read().strip().splitlines()[-1])
        rows.append({"path": name, "photos": summary["rows"], "wall_seconds": wall, "scoring_seconds": summary["seconds"],
                     "photos_per_second_scoring": summary["rows"] / summary["seconds"], "photos_per_second_wall": summary["rows"] / wall,
                     "driver_peak_rss_mb": usage.ru_maxrss / 1024})
    shutil.rmtree(work, ignore_errors=True)
    print(f"{os.cpu_count()} CPUs, {args.copies * 1000} photos, engine {args.engine}\n")
    print("| path | photos | wall s | scoring s | photos/s (scoring) | photos/s (whole command) | driver peak RSS MB |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['path']} | {r['photos']} | {r['wall_seconds']:.1f} | {r['scoring_seconds']:.1f} | {r['photos_per_second_scoring']:.0f} | "
              f"{r['photos_per_second_wall']:.0f} | {r['driver_peak_rss_mb']:.0f} |")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
