"""Whole commands, as a user runs them, against the seed-style pipeline: one run, interleaved rounds,
best of each, as ratios, with the CPU they ran on.

  python benchmarks/processes.py --default RUN --best RUN --baseline-model M.keras [--rounds 3] [--no-train]

- Inference: `catdog predict --json PHOTOS` (the default run, --engine auto; the best run with its
  selective test-time augmentation; each with its first look and with --no-glance, every photo at
  full size; the best run with --tta-all too when asked) against `baseline.py predict` (load the Keras
  model, decode every photo into a float array, model.predict), each a fresh process, start-up
  included. In-process images/s (benchmarks/infer.py, baseline.py infer) beside them.
- The best run's answers: `catdog evaluate --json` on the test and shift files, selective against
  --tta-all (the full-cost answers).
- Training: `catdog train` (cold cache; backbone converted but photos new; warm) against
  `baseline.py train`, wall seconds and peak RSS of each process.

Writes processes.json and processes.md into --out.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from catdog.machine import cpu_info, describe  # noqa: E402
from run import BIN, ROOT, SHARED, TEST, TRAIN, run, use_shared_weights  # noqa: E402

SHIFT = SHARED / "data" / "shift.parquet"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--default", type=Path, required=True, help="run folder of the default recipe, exported")
    parser.add_argument("--best", type=Path, required=True, help="run folder of the best recipe, exported")
    parser.add_argument("--baseline-model", type=Path, help="seed-style model.keras (its weights do not change its speed)")
    parser.add_argument("--photos", type=Path, default=TRAIN, help="photos to label (2,000 by default)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tta-all", action="store_true", help="also time the best run with --tta-all (a mirror image of every photo)")
    parser.add_argument("--stages", default="inference,answers,train",
                        help="comma-separated stages to run; the others are kept from --out/processes.json")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="catdog-processes-"))
    use_shared_weights(work)
    threads = os.environ.get("CATDOG_THREADS") or str(os.cpu_count())
    stages = set(args.stages.split(","))
    previous = args.out / "processes.json"
    results: dict = json.loads(previous.read_text()) if stages != {"inference", "answers", "train"} and previous.is_file() else {}
    results.update({"machine": {**cpu_info(), "described": describe(), "threads": threads, "date": time.strftime("%Y-%m-%d")},
                    "rounds": args.rounds})
    catdog, python = BIN / "catdog", sys.executable
    baseline = [python, ROOT / "benchmarks" / "baseline.py"]

    if args.baseline_model is None:
        raise SystemExit("Give --baseline-model: a seed-style model.keras (benchmarks/baseline.py train makes one).")

    commands = {
        "seed-style (baseline.py predict)": [*baseline, "predict", "--model", args.baseline_model, "--data", args.photos],
        # --no-glance: every photo at full size, as before the first look (docs/BENCHMARKS.md, "Less work per photo")
        "catdog predict, default run --no-glance": [catdog, "predict", "--model", args.default, "--no-glance", "--json", args.photos],
        "catdog predict, default run": [catdog, "predict", "--model", args.default, "--json", args.photos],
        "catdog predict, best run --no-glance": [catdog, "predict", "--model", args.best, "--no-glance", "--json", args.photos],
        "catdog predict, best run": [catdog, "predict", "--model", args.best, "--json", args.photos],
    }
    if args.tta_all:
        commands["catdog predict, best run --tta-all"] = [catdog, "predict", "--model", args.best, "--tta-all", "--json", args.photos]
    env = {"CATDOG_CACHE": str(work / "speed_cache")}  # auto measures the exports on this machine once
    run([catdog, "predict", "--model", args.default, "--json", TEST], env=env)
    run([catdog, "predict", "--model", args.best, "--json", TEST], env=env)
    if "inference" in stages:
        walls: dict[str, list[float]] = {name: [] for name in commands}
        for round_ in range(args.rounds):
            print(f"inference round {round_ + 1}/{args.rounds}", file=sys.stderr)
            for name, command in commands.items():
                _, wall, _ = run(command, env=env)
                walls[name].append(wall)
        results["inference"] = {"photos": str(args.photos), "walls": walls}
        print("in-process images/s", file=sys.stderr)
        base_in, _, _ = run([*baseline, "infer", "--model", args.baseline_model, "--data", args.photos, "--latency-photos", "20"])
        ours_in, _, _ = run([python, ROOT / "benchmarks" / "infer.py", "--model", args.default, "--engine", "auto", "--data",
                             args.photos, "--latency-photos", "20"], env=env)
        results["in_process"] = {"baseline": base_in, "ours": ours_in}
        save(results, args.out)
    if "answers" in stages:
        print("the best run's answers: second look where near a threshold, on every photo, and float32 on every photo",
              file=sys.stderr)
        results["best_answers"] = {}
        for data in (TEST, SHIFT):
            for label, options in (("auto", []), ("auto --tta-all", ["--tta-all"]),
                                   ("tflite (float32) --tta-all", ["--engine", "tflite", "--tta-all"])):
                metrics, _, _ = run([catdog, "evaluate", "--model", args.best, "--data", data, "--json", *options], env=env)
                results["best_answers"][f"{data.stem}: {label}"] = metrics
        save(results, args.out)
    if "train" in stages:
        print("training: baseline, ours cold, ours with the backbone converted, ours warm", file=sys.stderr)
        base, wall, rss = run([*baseline, "train", "--data", TRAIN, "--test", TEST, "--out", work / "baseline"])
        results["train"] = {"baseline": {**base, "wall_seconds": wall, "peak_rss_mb": rss}}
        cache = work / "cache"
        for name in ("cold", "new_photos", "warm"):
            if name == "new_photos":
                (cache / "features.sqlite").unlink()  # keep the converted backbone, compute every photo again
            _, wall, rss = run([catdog, "train", "--data", TRAIN, "--test", TEST, "--out", work / "runs", "--name", name],
                               env={"CATDOG_CACHE": str(cache)})
            metrics = json.loads(next((work / "runs").glob(f"{name}*/metrics.json")).read_text())
            results["train"][name] = {"wall_seconds": wall, "peak_rss_mb": rss, "train_seconds": metrics["train_seconds"],
                                      "test_accuracy": metrics["test"]["accuracy"]}
        save(results, args.out)
    save(results, args.out)
    print(render(results))
    shutil.rmtree(work, ignore_errors=True)


def save(results: dict, out: Path) -> None:
    """After each stage, so that a long run interrupted later keeps what it measured."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "processes.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    (out / "processes.md").write_text(render(results) + "\n")


def render(r: dict) -> str:
    m = r["machine"]
    lines = [f"Machine: {m['described']}; {m['threads']} threads; {m['platform']}; {m['date']}. "
             f"Best of {r['rounds']} interleaved rounds; every figure is a whole process unless marked in-process.", ""]
    if "inference" not in r:
        return "\n".join(lines)
    walls = r["inference"]["walls"]
    base = min(next(iter(walls.values())))
    lines += [f"### Labelling {r['inference']['photos']} (whole processes)", "",
              "| command | best wall s | all rounds s | × seed-style |", "|---|---|---|---|"]
    for name, values in walls.items():
        lines.append(f"| {name} | {min(values):.1f} | {', '.join(f'{v:.1f}' for v in values)} | {base / min(values):.2f}× |")
    b, o = r["in_process"]["baseline"], r["in_process"]["ours"]
    lines += ["", f"In-process (model loaded beforehand): seed-style {b['images_per_second']:.1f} images/s, "
              f"ours ({o['engine']}) {o['images_per_second']:.1f} images/s = {o['images_per_second'] / b['images_per_second']:.2f}×.", ""]
    lines += ["### The best run's answers: second look where near a threshold vs on every photo", "",
              "| file: engine, TTA | answer_accuracy | accuracy | refused |", "|---|---|---|---|"]
    for name, metrics in r.get("best_answers", {}).items():
        lines.append(f"| {name} | {metrics['answer_accuracy']:.4f} | {metrics['accuracy']:.4f} | {metrics['refused']:.4f} |")
    if "train" in r:
        t = r["train"]
        lines += ["", "### Training on train.parquet, evaluating on test.parquet (whole processes)", "",
                  "| command | wall s | × seed-style | fit s | test accuracy | peak RSS MB |", "|---|---|---|---|---|---|"]
        bt = t["baseline"]
        lines.append(f"| seed-style (baseline.py train) | {bt['wall_seconds']:.1f} | 1.00× | {bt['train_seconds']:.1f} | "
                     f"{bt['test_accuracy']:.3f} | {bt['peak_rss_mb']:.0f} |")
        for name, label in (("cold", "catdog train, empty cache"), ("new_photos", "catdog train, backbone converted, photos new"),
                            ("warm", "catdog train, photos cached")):
            row = t[name]
            lines.append(f"| {label} | {row['wall_seconds']:.1f} | {bt['wall_seconds'] / row['wall_seconds']:.1f}× | "
                         f"{row['train_seconds']:.1f} | {row['test_accuracy']:.3f} | {row['peak_rss_mb']:.0f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
