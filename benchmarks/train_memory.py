"""Peak memory of whole `catdog train` processes, in the three states a user's caches can be in.

  python benchmarks/train_memory.py --label after [--recipes original,best] [--ood FILE] [--cap-mb 1000]
                                    [--out benchmarks/results]

For each recipe, three fresh `catdog train --data train.parquet --test test.parquet [--ood FILE]`
processes on one empty CATDOG_CACHE folder, one after the other (with --ood ood_diverse.parquet,
the README's own training command):
- first_run: nothing cached, no converted backbone (the one-time LiteRT conversion happens);
- new_photos: the backbone converted, no photo's features cached (features.sqlite deleted), so
  every training and test photo is decoded and run through the backbone;
- warm: everything cached.

Peak RSS is wait4's ru_maxrss of the `catdog train` process: on Linux the larger of its own peak and
that of every child it waited for (the conversion's child process included), the memory a machine
must have for the command. The conversion child's own peak, when catdog logs it, is kept beside it,
and so is the largest anonymous memory of any of its processes (memory_limit.AnonymousPeak: RSS
without the shared libraries' pages, which the page cache's state changes). With --cap-mb each
command runs inside a memory cgroup of that many MiB after the installed libraries were dropped
from the page cache (memory_limit.MemoryCap): it completes only if the machine needs no more.
Wall seconds are single runs on a shared machine: noisy; RSS is not.

Writes train_memory.json (this --label's figures; other labels kept, so "before" and "after" can be
measured on two checkouts) and train_memory.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from catdog.machine import describe  # noqa: E402
from memory_limit import AnonymousPeak, MemoryCap, evict_installed_libraries  # noqa: E402
from run import BIN, ROOT, TEST, TRAIN, run_process, use_shared_weights  # noqa: E402

SCENARIOS = ("first_run", "new_photos", "warm")
LABELS = {"first_run": "first run (empty cache, no converted backbone)",
          "new_photos": "new photos (backbone converted, no photo cached)", "warm": "warm caches"}
BUDGET_MB = 1000  # "1 GB" read the strict way: 1,000 MB as ru_maxrss counts them (MiB)
CONVERTER_LOG = re.compile(r"child process .*peak RSS (\d+) MB")


def train_once(recipe: str, cache: Path, runs: Path, name: str, ood: Path | None, cap_mb: int | None) -> dict:
    # The checkout's own code, whichever catdog the console script was installed from.
    env = {"CATDOG_CACHE": str(cache), "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")]))}
    command = [BIN / "catdog", "train", "--data", TRAIN, "--test", TEST, *(["--ood", ood] if ood else []), "--recipe", recipe,
               "--out", runs, "--name", name]
    anonymous = AnonymousPeak()
    cap = MemoryCap(cap_mb, f"catdog-train-memory-{os.getpid()}-{name}") if cap_mb else None
    try:
        if cap is not None:
            evict_installed_libraries()
        finished = run_process(command, env=env, preexec_fn=cap.enter if cap else None, watch=anonymous.watch)
        capped = cap.result() if cap else None
    finally:
        if cap is not None:
            cap.close()
    metrics = json.loads(next(runs.glob(f"{name}*/metrics.json")).read_text())
    converter = CONVERTER_LOG.search(finished.stderr)
    return {"peak_rss_mb": round(finished.rss_mb, 1), "wall_seconds": round(finished.seconds, 1),
            "train_seconds": round(metrics["train_seconds"], 1),
            "converter_peak_rss_mb": int(converter.group(1)) if converter else None,
            "peak_anonymous_mb": round(anonymous.mb, 1), **({"memory_cap": capped} if capped else {}),
            # The answers, to see that a change of memory changed none of them.
            "test": {key: metrics["test"][key] for key in ("accuracy", "answer_accuracy", "refused", "log_loss")}}


def measure(recipe: str, work: Path, ood: Path | None, cap_mb: int | None) -> dict:
    cache, runs = work / f"cache-{recipe}", work / "runs"
    results: dict = {"command": "catdog train --data train.parquet --test test.parquet"
                     + (f" --ood {ood.name}" if ood else "") + f" --recipe {recipe}"}
    for scenario in SCENARIOS:
        if scenario == "new_photos":
            for file in cache.glob("features.sqlite*"):  # keep backbones/, forget every photo
                file.unlink()
        print(f"{recipe}: {LABELS[scenario]}", file=sys.stderr)
        # (a command the cap kills raises, with its log: a figure is never written for a run that failed)
        results[scenario] = train_once(recipe, cache, runs, f"{recipe}-{scenario}", ood, cap_mb)
        print(f"  {results[scenario]['peak_rss_mb']:.0f} MB, {results[scenario]['wall_seconds']:.0f} s", file=sys.stderr)
    return results


def render(r: dict) -> str:
    labels = list(r["runs"])
    lines = [f"Machine: {r['machine']}. Peak RSS of the whole `catdog train` process (wait4: its own peak or a "
             f"child's, whichever is larger); wall seconds are single runs on a shared machine.", ""]
    for recipe in sorted({recipe for by_recipe in r["runs"].values() for recipe in by_recipe}):
        lines += [f"### Training memory: recipe {recipe}", "",
                  "| scenario | " + " | ".join(f"{label} MB" for label in labels) + " | "
                  + " | ".join(f"{label} wall s" for label in labels) + " |",
                  "|---" * (1 + 2 * len(labels)) + "|"]
        for scenario in SCENARIOS:
            rows = [r["runs"][label].get(recipe, {}).get(scenario) for label in labels]
            lines.append(f"| {LABELS[scenario]} | " + " | ".join(f"{row['peak_rss_mb']:.0f}" if row else "—" for row in rows)
                         + " | " + " | ".join(f"{row['wall_seconds']:.1f}" if row else "—" for row in rows) + " |")
        lines.append("")
        lines += _beyond_rss(r, recipe)
    return "\n".join(lines)


def _beyond_rss(r: dict, recipe: str) -> list[str]:
    """The labels that measured the anonymous peak (and ran under a cap): a table of their own."""
    labels = [label for label, by_recipe in r["runs"].items()
              if "peak_anonymous_mb" in by_recipe.get(recipe, {}).get("warm", {})]
    if not labels:
        return []
    lines = [f"### Memory without the libraries' pages: recipe {recipe}", "",
             "| scenario | " + " | ".join(f"{label} anonymous MB | {label} under a cap" for label in labels) + " |",
             "|---" * (1 + 2 * len(labels)) + "|"]
    for scenario in SCENARIOS:
        cells = []
        for label in labels:
            row = r["runs"][label][recipe][scenario]
            cap = row.get("memory_cap")
            cells += [f"{row['peak_anonymous_mb']:.0f}",
                      f"completed in {cap['cap_mb']:,} MiB (cgroup peak {cap['cgroup_peak_mb']:.0f})" if cap else "—"]
        lines.append(f"| {LABELS[scenario]} | " + " | ".join(cells) + " |")
    return lines + [""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--label", required=True, help="what these figures are of, e.g. before or after")
    parser.add_argument("--recipes", default="original", help="comma-separated recipes (original, best)")
    parser.add_argument("--ood", type=Path, help="photos with no cat or dog, as the README's command trains with "
                        "(../shared/data/ood_diverse.parquet)")
    parser.add_argument("--cap-mb", type=int, help="run each command in a memory cgroup of this many MiB (root, Linux)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="catdog-train-memory-"))
    use_shared_weights(work)
    saved = args.out / "train_memory.json"
    results = json.loads(saved.read_text()) if saved.is_file() else {"runs": {}}
    results["machine"] = describe()
    measured = results["runs"].setdefault(args.label, {})
    try:
        for recipe in args.recipes.split(","):
            measured[recipe] = {**measure(recipe, work, args.ood, args.cap_mb), "date": time.strftime("%Y-%m-%d")}
            args.out.mkdir(parents=True, exist_ok=True)
            saved.write_text(json.dumps(results, indent=2) + "\n")
            (args.out / "train_memory.md").write_text(render(results) + "\n")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(render(results))
    over = [f"{label} {recipe} {scenario}" for label, by_recipe in results["runs"].items() for recipe, rows in by_recipe.items()
            for scenario, row in rows.items() if isinstance(row, dict) and "peak_rss_mb" in row and row["peak_rss_mb"] > BUDGET_MB]
    if over:
        print(f"Over {BUDGET_MB} MB: {', '.join(over)}", file=sys.stderr)


if __name__ == "__main__":
    main()
