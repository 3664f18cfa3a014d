"""Batch scoring throughput on this machine: single process, a local Ray instance with 1 and 2
workers, and a two-node Ray cluster (two 1-CPU nodes on loopback, token authentication on) joined
with --address; then the cost model of docs/SCALING.md fitted on the one-node runs and checked
against the two-node run.

  python benchmarks/scaling.py --model RUN [--copies 4] [--engine auto] [--out benchmarks/results]

Scores ../shared/data/test.parquet repeated --copies times (1,000 photos and 4 row groups = 4 shards
each) into fresh output folders, each path a fresh `catdog predict` process, fastest of --rounds interleaved rounds, and writes scaling.json
and scaling.md into --out."""

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
sys.path.insert(0, str(ROOT / "tests"))
from catdog.machine import cpu_info, describe  # noqa: E402
from ray_cluster import loopback_cluster  # noqa: E402


def score(catdog: Path, model: str, data: Path, out: Path, engine: str, extra: list[str], env: dict | None = None) -> dict:
    started, clock = time.perf_counter(), time.time()
    process = subprocess.Popen([str(catdog), "predict", "--model", model, "--data", str(data), "--out", str(out),
                                "--engine", engine, "--json", *extra], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               text=True, env={**os.environ, "CATDOG_PROGRESS": "0", **(env or {})})
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"catdog predict {' '.join(extra)} failed (status {status})")
    summary = json.loads(process.stdout.read().strip().splitlines()[-1])  # type: ignore[union-attr]
    return {"photos": summary["rows"], "wall_seconds": wall, "scoring_seconds": summary["seconds"],
            "photos_per_second_scoring": summary["rows"] / summary["seconds"], "photos_per_second_wall": summary["rows"] / wall,
            "driver_peak_rss_mb": usage.ru_maxrss / 1024, **steady_rate(out, clock)}


def steady_rate(out: Path, clock: float) -> dict:
    """From the times the parts appeared: photos/s once work flows (the slope of photos done against
    time) and the seconds before it does (start: process, Ray, actors and model loading)."""
    import numpy as np
    import pyarrow.parquet as pq

    parts = sorted(out.glob("part-*.parquet"), key=lambda p: p.stat().st_mtime)
    seconds = np.array([p.stat().st_mtime - clock for p in parts])
    done = np.cumsum([pq.read_metadata(p).num_rows for p in parts])
    slope, start = np.polyfit(done, seconds, 1)
    return {"steady_photos_per_second": float(1 / slope), "start_seconds": float(start)}


def cost_model(rows: dict[str, dict], cores: int) -> dict:
    """A job of P photos on N nodes of c cores takes start + P / (N * c * per_core) seconds: per_core is
    the steady rate of one 1-CPU actor, measured on this machine's one-node 2-worker run (what Ray's own
    processes leave to the actors), start that run's time to steady work. Checked against the two-node run."""
    local, two = rows["Ray, 2 workers"], rows["Ray cluster, 2 nodes x 1 CPU"]
    per_core = local["steady_photos_per_second"] / cores
    predicted_rate = 2 * 1 * per_core
    return {"start_seconds": local["start_seconds"], "per_core_photos_per_second": per_core,
            "two_nodes": {"predicted_photos_per_second": predicted_rate, "measured_photos_per_second": two["steady_photos_per_second"],
                          "predicted_wall_seconds": local["start_seconds"] + two["photos"] / predicted_rate,
                          "measured_wall_seconds": two["wall_seconds"], "measured_start_seconds": two["start_seconds"]}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--copies", type=int, default=4)
    parser.add_argument("--engine", default="auto")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds; each path's fastest is kept")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="catdog-scaling-"))
    data = work / "photos"
    data.mkdir()
    for i in range(args.copies):
        shutil.copy(SHARED / "data" / "test.parquet", data / f"copy-{i}.parquet")
    catdog = Path(sys.executable).with_name("catdog")
    load_before = os.getloadavg()
    rounds: dict[str, list[dict]] = {}
    for round_number in range(args.rounds):
        for number, (name, extra) in enumerate((("single process", []), ("Ray, 1 worker", ["--ray", "--workers", "1"]),
                                                ("Ray, 2 workers", ["--ray", "--workers", "2"]))):
            rounds.setdefault(name, []).append(score(catdog, args.model, data, work / f"out-{round_number}-{number}",
                                                     args.engine, extra))
        with loopback_cluster((1, 1)) as cluster:
            rounds.setdefault("Ray cluster, 2 nodes x 1 CPU", []).append(
                score(catdog, args.model, data, work / f"out-{round_number}-cluster", args.engine,
                      ["--ray", "--address", cluster.address, "--workers", "2"], cluster.env))
    rows = {name: min(runs, key=lambda r: r["wall_seconds"]) for name, runs in rounds.items()}
    shutil.rmtree(work, ignore_errors=True)
    cores = os.cpu_count() or 1
    model = cost_model(rows, cores)
    sizes = {p.name: round(p.stat().st_size / 1e6, 1) for p in sorted((Path(args.model) / "export").glob("*.tflite"))}
    results = {"machine": {**cpu_info(), "described": describe(), "date": time.strftime("%Y-%m-%d"),
                           "load_average_before": load_before, "load_average_after": os.getloadavg()},
               "photos": args.copies * 1000, "shards": args.copies * 4, "engine": args.engine, "tflite_mb": sizes,
               "rounds": args.rounds, "paths": rows, "all_walls": {n: [r["wall_seconds"] for r in runs] for n, runs in rounds.items()},
               "cost_model": model}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "scaling.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.out / "scaling.md").write_text(markdown(results))
    print(markdown(results))


def markdown(results: dict) -> str:
    m, c = results["machine"], results["cost_model"]
    lines = [f"Machine: {m['described']}; {m['platform']}; {m['date']}; load average {m['load_average_before'][0]:.1f} before, "
             f"{m['load_average_after'][0]:.1f} after (the machine is shared). Fastest of {results['rounds']} interleaved "
             "rounds; all walls (s): " + "; ".join(f"{n} {', '.join(f'{w:.1f}' for w in ws)}" for n, ws in results["all_walls"].items())
             + f". {results['photos']} photos ({results['shards']} shards), engine "
             f"{results['engine']}; TFLite files (MB): {results['tflite_mb']}.", "",
             "| path | photos | wall s | scoring s | photos/s (scoring) | photos/s (whole command) | steady photos/s | "
             "start s | driver peak RSS MB |", "|---|---|---|---|---|---|---|---|---|"]
    for name, r in results["paths"].items():
        lines.append(f"| {name} | {r['photos']} | {r['wall_seconds']:.1f} | {r['scoring_seconds']:.1f} | "
                     f"{r['photos_per_second_scoring']:.0f} | {r['photos_per_second_wall']:.0f} | {r['steady_photos_per_second']:.0f} | "
                     f"{r['start_seconds']:.1f} | {r['driver_peak_rss_mb']:.0f} |")
    two = c["two_nodes"]
    lines += ["", f"Cost model (from the one-node 2-worker run): wall = {c['start_seconds']:.1f} s + photos / (nodes x cores x "
              f"{c['per_core_photos_per_second']:.0f} photos/s). Two nodes x 1 CPU, {results['photos']} photos: predicted "
              f"{two['predicted_photos_per_second']:.0f} photos/s steady and {two['predicted_wall_seconds']:.1f} s; measured "
              f"{two['measured_photos_per_second']:.0f} photos/s steady, start {two['measured_start_seconds']:.1f} s, "
              f"{two['measured_wall_seconds']:.1f} s.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
