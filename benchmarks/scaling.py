"""Batch scoring throughput on this machine: single process, a local Ray instance with 1 and 2
workers, and a two-node Ray cluster (two 1-CPU nodes on loopback, token authentication on) joined
with --address; then the cost model of docs/SCALING.md fitted on the one-node runs and checked
against the two-node run.

  python benchmarks/scaling.py --model RUN [--copies 4] [--engine auto] [--out benchmarks/results]

Scores ../shared/data/test.parquet repeated --copies times (1,000 photos and 4 row groups = 4 shards
each) into fresh output folders, each path a fresh `catdog predict` process, and writes scaling.json
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
    started = time.perf_counter()
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
            "driver_peak_rss_mb": usage.ru_maxrss / 1024}


def cost_model(rows: dict[str, dict], cores: int) -> dict:
    """A job of P photos on N nodes of c cores takes start + P / (N * c * per_core) seconds. start and
    per_core are fitted on this machine's one-node runs at two sizes (2 workers, all cores; per_core
    is what Ray's own processes leave an actor of each core), then checked against the two-node run."""
    small, large = rows["Ray, 2 workers, 1 file"], rows["Ray, 2 workers"]
    rate = (large["photos"] - small["photos"]) / (large["wall_seconds"] - small["wall_seconds"])
    start = small["wall_seconds"] - small["photos"] / rate
    per_core = rate / cores
    two = rows["Ray cluster, 2 nodes x 1 CPU"]
    predicted = start + two["photos"] / (2 * 1 * per_core)
    return {"start_seconds": start, "per_core_photos_per_second": per_core,
            "single_process_per_core_photos_per_second": rows["single process"]["photos_per_second_scoring"] / cores,
            "two_nodes": {"predicted_wall_seconds": predicted, "measured_wall_seconds": two["wall_seconds"],
                          "error": two["wall_seconds"] / predicted - 1}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--copies", type=int, default=4)
    parser.add_argument("--engine", default="auto")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="catdog-scaling-"))
    data = work / "photos"
    data.mkdir()
    for i in range(args.copies):
        shutil.copy(SHARED / "data" / "test.parquet", data / f"copy-{i}.parquet")
    catdog = Path(sys.executable).with_name("catdog")
    load_before = os.getloadavg()
    rows: dict[str, dict] = {}
    for name, extra in (("single process", []), ("Ray, 1 worker", ["--ray", "--workers", "1"]),
                        ("Ray, 2 workers", ["--ray", "--workers", "2"])):
        rows[name] = score(catdog, args.model, data, work / f"out-{len(rows)}", args.engine, extra)
    rows["Ray, 2 workers, 1 file"] = score(catdog, args.model, data / "copy-0.parquet", work / "out-small", args.engine,
                                           ["--ray", "--workers", "2"])
    with loopback_cluster((1, 1)) as cluster:
        rows["Ray cluster, 2 nodes x 1 CPU"] = score(catdog, args.model, data, work / "out-cluster", args.engine,
                                                     ["--ray", "--address", cluster.address, "--workers", "2"], cluster.env)
    shutil.rmtree(work, ignore_errors=True)
    cores = os.cpu_count() or 1
    model = cost_model(rows, cores)
    sizes = {p.name: round(p.stat().st_size / 1e6, 1) for p in sorted((Path(args.model) / "export").glob("*.tflite"))}
    results = {"machine": {**cpu_info(), "described": describe(), "date": time.strftime("%Y-%m-%d"),
                           "load_average_before": load_before, "load_average_after": os.getloadavg()},
               "photos": args.copies * 1000, "shards": args.copies * 4, "engine": args.engine, "tflite_mb": sizes,
               "paths": rows, "cost_model": model}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "scaling.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.out / "scaling.md").write_text(markdown(results))
    print(markdown(results))


def markdown(results: dict) -> str:
    m, c = results["machine"], results["cost_model"]
    lines = [f"Machine: {m['described']}; {m['platform']}; {m['date']}; load average {m['load_average_before'][0]:.1f} before, "
             f"{m['load_average_after'][0]:.1f} after. {results['photos']} photos ({results['shards']} shards), engine "
             f"{results['engine']}; TFLite files (MB): {results['tflite_mb']}.", "",
             "| path | photos | wall s | scoring s | photos/s (scoring) | photos/s (whole command) | driver peak RSS MB |",
             "|---|---|---|---|---|---|---|"]
    for name, r in results["paths"].items():
        lines.append(f"| {name} | {r['photos']} | {r['wall_seconds']:.1f} | {r['scoring_seconds']:.1f} | "
                     f"{r['photos_per_second_scoring']:.0f} | {r['photos_per_second_wall']:.0f} | {r['driver_peak_rss_mb']:.0f} |")
    two = c["two_nodes"]
    lines += ["", f"Cost model (fitted on the two one-node 2-worker runs): start {c['start_seconds']:.1f} s + photos / "
              f"(nodes x cores x {c['per_core_photos_per_second']:.1f} photos/s); a single process gets "
              f"{c['single_process_per_core_photos_per_second']:.1f} photos/s per core. Two nodes x 1 CPU, "
              f"{results['photos']} photos: predicted {two['predicted_wall_seconds']:.1f} s, measured "
              f"{two['measured_wall_seconds']:.1f} s ({two['error']:+.0%}).", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
