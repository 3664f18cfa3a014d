"""One command for the benchmark suite: ours side by side with the original pipeline, in one run.

  python benchmarks/run.py [--quick] [--out benchmarks/results]

Writes results.json and results.md (the table docs/BENCHMARKS.md quotes) into --out. Every figure
of ours is measured in the same run as the baseline's, on the same machine, and given as a ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from catdog.machine import describe

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SHARED", ROOT.parent / "shared")).resolve()
TRAIN, TEST = SHARED / "data" / "train.parquet", SHARED / "data" / "test.parquet"
BIN = Path(sys.executable).parent


@dataclass
class Finished:
    """A command that ran: what it printed, its wall seconds and its peak RSS in MB."""

    stdout: str
    stderr: str
    seconds: float
    rss_mb: float


def run_process(command: list, env: dict | None = None, preexec_fn: Callable[[], None] | None = None,
                watch: Callable[[int], Callable[[], None]] | None = None) -> Finished:
    """Run a command to its end; raise with its stderr when it fails. `preexec_fn` runs in the child
    before the command (e.g. joining a memory cgroup); `watch(pid)` is started beside it and returns
    the function that stops it."""
    # Output goes to files, not pipes: a command that prints more than a pipe holds would block.
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        process = subprocess.Popen([str(c) for c in command], stdout=out, stderr=err, text=True,
                                   env={**os.environ, "CATDOG_PROGRESS": "0", **(env or {})}, preexec_fn=preexec_fn)
        stop = watch(process.pid) if watch is not None else None
        # wait4 gives this child's own resource usage, so each peak RSS belongs to one command. On Linux
        # its ru_maxrss is the larger of the command's own peak and that of each process it waited for.
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        if stop is not None:
            stop()
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    returncode = os.waitstatus_to_exitcode(status)
    if returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, command))} failed ({returncode}):\n{stderr[-3000:]}")
    return Finished(stdout, stderr, seconds, usage.ru_maxrss / 1024)


def run(command: list, env: dict | None = None) -> tuple[dict | None, float, float]:
    """Run a command; return (its last stdout line as JSON if any, wall seconds, peak RSS in MB)."""
    finished = run_process(command, env)
    last = finished.stdout.strip().splitlines()[-1] if finished.stdout.strip() else ""
    parsed = json.loads(last) if last.startswith("{") else None
    return parsed, finished.seconds, finished.rss_mb


def use_shared_weights(work: Path) -> None:
    """Point this process and the commands it starts at a Keras cache in `work` holding the shared
    weights (offline: Keras' ImageNet download is never reached)."""
    keras_home = work / "keras_home"
    (keras_home / "models").mkdir(parents=True)
    for weights in (SHARED / "weights").glob("*.h5"):
        shutil.copy(weights, keras_home / "models")
    os.environ.update({"KERAS_HOME": str(keras_home), "TF_CPP_MIN_LOG_LEVEL": "2"})


def subset(path: Path, rows: int, target: Path) -> Path:
    import pyarrow.parquet as pq

    pq.write_table(pq.read_table(path).slice(0, rows), target)
    return target


def repeated(path: Path, times: int, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(times):
        shutil.copy(path, folder / f"part-{i}.parquet")
    return folder


def ratio(ours: float, theirs: float) -> float:
    return ours / theirs if theirs else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small subsets: checks the harness, not the figures")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="catdog-bench-"))
    use_shared_weights(work)

    train, test = TRAIN, TEST
    if args.quick:
        train, test = subset(TRAIN, 200, work / "train.parquet"), subset(TEST, 100, work / "test.parquet")
    big = repeated(train, 4, work / "train_x4")
    max_epochs = ["--max-epochs", "3"] if args.quick else []
    results: dict = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                                 "cpu": describe(), "threads": os.environ.get("CATDOG_THREADS") or os.cpu_count()},
                     "quick": args.quick}
    catdog = BIN / "catdog"

    print("1/6 baseline training (in-memory float array, model.fit over the frozen backbone)", file=sys.stderr)
    base_train, base_wall, base_rss = run([sys.executable, ROOT / "benchmarks/baseline.py", "train", "--data", train,
                                           "--test", test, "--out", work / "baseline", *max_epochs])
    results["baseline_train"] = {**base_train, "wall_seconds": base_wall, "peak_rss_mb": base_rss}

    print("2/6 our training (cold feature cache)", file=sys.stderr)
    _, ours_wall, ours_rss = run([catdog, "train", "--data", train, "--test", test, "--out", work / "runs", "--name", "ours",
                                  *(["--epochs", "3"] if args.quick else [])], env={"CATDOG_CACHE": str(work / "cache")})
    ours_metrics = json.loads((work / "runs" / "ours" / "metrics.json").read_text())
    results["ours_train"] = {"wall_seconds": ours_wall, "train_seconds": ours_metrics["train_seconds"],
                             "test_accuracy": ours_metrics["test"]["accuracy"], "peak_rss_mb": ours_rss}

    print("3/6 peak memory: 4x the training data", file=sys.stderr)
    _, _, ours_rss_big = run([catdog, "train", "--data", big, "--out", work / "runs", "--name", "ours_x4",
                              *(["--epochs", "3"] if args.quick else [])], env={"CATDOG_CACHE": str(work / "cache_x4")})
    _, _, base_rss_small = run([sys.executable, ROOT / "benchmarks/baseline.py", "train", "--data", train,
                                "--out", work / "b1", "--max-epochs", "1"])
    _, _, base_rss_big = run([sys.executable, ROOT / "benchmarks/baseline.py", "train", "--data", *[str(p) for p in sorted(big.glob("*.parquet"))],
                              "--out", work / "b4", "--max-epochs", "1"])
    results["memory"] = {"photos_small": "1x", "ours_mb": [ours_rss, ours_rss_big], "baseline_mb": [base_rss_small, base_rss_big]}

    print("4/6 exports", file=sys.stderr)
    formats = ["onnx", "tflite", "tflite-fp16", "tflite-int8"]
    _, export_wall, _ = run([catdog, "export", "--model", work / "runs" / "ours", *sum((["--format", f] for f in formats), [])])
    results["export_seconds"] = export_wall
    results["exports"] = json.loads((work / "runs" / "ours" / "export" / "manifest.json").read_text())["exports"]

    print("5/6 inference end to end: baseline and each engine", file=sys.stderr)
    latency = ["--latency-photos", "20" if args.quick else "100"]
    base_infer, _, _ = run([sys.executable, ROOT / "benchmarks/baseline.py", "infer", "--model", work / "baseline" / "model.keras",
                            "--data", test, *latency])
    results["inference"] = [base_infer]
    for engine in ["keras", "onnx", "tflite", "tflite-fp16", "tflite-int8", "auto"]:
        measured, _, rss = run([sys.executable, ROOT / "benchmarks/infer.py", "--model", work / "runs" / "ours",
                                "--engine", engine, "--data", test, *latency])
        results["inference"].append({**measured, "peak_rss_mb": rss})

    print("6/6 writing results", file=sys.stderr)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.out / "results.md").write_text(render(results) + "\n")
    print(render(results))
    shutil.rmtree(work, ignore_errors=True)


def render(r: dict) -> str:
    base_ips = r["inference"][0]["images_per_second"]
    base_acc = r["inference"][0]["accuracy"]
    keras_acc = next(i["accuracy"] for i in r["inference"] if i["engine"].startswith("keras"))
    lines = [
        f"Machine: {r['machine'].get('cpu', str(r['machine']['cpus']) + ' CPUs')}, {r['machine'].get('threads', r['machine']['cpus'])} "
        f"threads, {r['machine']['platform']}, Python {r['machine']['python']}"
        + (" — QUICK MODE (subsets; not the reported figures)" if r["quick"] else ""),
        "",
        "### Inference end to end (encoded photo → label), test file",
        "",
        "| pipeline | images/s | × baseline | latency p50 ms (batch 1) | p99 ms | accuracy | Δ vs Keras (points) |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in r["inference"]:
        lines.append(f"| {row['engine']} | {row['images_per_second']:.1f} | {ratio(row['images_per_second'], base_ips):.2f}× | "
                     f"{row['latency_ms_p50']:.1f} | {row['latency_ms_p99']:.1f} | {row['accuracy']:.3f} | "
                     f"{(row['accuracy'] - keras_acc) * 100:+.1f} |")
    bt, ot = r["baseline_train"], r["ours_train"]
    lines += [
        "",
        "### Training on the training file, then test accuracy",
        "",
        "| pipeline | wall s (whole command) | training s | epochs | test accuracy | peak RSS MB |",
        "|---|---|---|---|---|---|",
        f"| baseline | {bt['wall_seconds']:.1f} | {bt['train_seconds']:.1f} | {bt['epochs']} | "
        f"{bt.get('test_accuracy', float('nan')):.3f} | {bt['peak_rss_mb']:.0f} |",
        f"| ours (cold cache) | {ot['wall_seconds']:.1f} | {ot['train_seconds']:.1f} | — | {ot['test_accuracy']:.3f} | {ot['peak_rss_mb']:.0f} |",
        "",
        f"Training speed-up: {ratio(bt['train_seconds'], ot['train_seconds']):.1f}× (training), "
        f"{ratio(bt['wall_seconds'], ot['wall_seconds']):.1f}× (whole command, incl. start-up and test evaluation).",
        "",
        "### Peak training memory (RSS), training file ×1 and ×4",
        "",
        "| pipeline | ×1 MB | ×4 MB | ×4 / ×1 |",
        "|---|---|---|---|",
    ]
    m = r["memory"]
    for name, key in (("baseline", "baseline_mb"), ("ours", "ours_mb")):
        lines.append(f"| {name} | {m[key][0]:.0f} | {m[key][1]:.0f} | {ratio(m[key][1], m[key][0]):.2f} |")
    lines += ["", "### Exports (verified against Keras on 64 training photos; model-only images/s at batch 32)", "",
              "| format | max abs Δp | label agreement | images/s | MB |", "|---|---|---|---|---|"]
    for fmt, e in r["exports"].items():
        lines.append(f"| {fmt} | {e['max_abs_diff']:.1e} | {e['label_agreement']:.1%} | {e['images_per_second']:.0f} | {e['bytes'] / 2**20:.1f} |")
    lines.append(f"\nBaseline test accuracy {base_acc:.3f}; exports took {r['export_seconds']:.0f} s in all.")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
