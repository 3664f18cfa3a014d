"""Does the first look answer as the full look does? Every photo of every shared file, with the
run's first look (RUN/glance/) and without it (--no-glance: every photo at full size, the full-cost
answers), through the engine a user gets (--engine auto by default).

  python benchmarks/glance.py --model RUN [--engine auto] [--label default] [--sweep]

For each file: photos, the share given the full look, answers the same as the full look's, and answer
accuracy both ways (labelled files; a refusal of a cat or dog counts wrong, a refusal is right for
the files of photos with neither). The validation split is the run's own (training_rows). test.parquet
is reported, never used to choose: GLANCE_MARGINS were chosen with --sweep on the other files.
--sweep adds agreement and the share looked at in full for a grid of margins (cat/dog runs).
Writes benchmarks/results/glance_<label>.{json,md}.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("CATDOG_PROGRESS", "0")
sys.path.insert(0, str(Path(__file__).resolve().parent))
from catdog import Classifier  # noqa: E402
from catdog.classes import is_cat_dog  # noqa: E402
from catdog.data.inputs import as_source  # noqa: E402
from catdog.decide import GLANCE_MARGINS  # noqa: E402
from catdog.files import write_json, write_text  # noqa: E402
from catdog.machine import describe  # noqa: E402
from catdog.training.prefetch import training_rows  # noqa: E402
from run import ROOT, SHARED  # noqa: E402

CHOOSE = ("validation", "shift", "lookalikes", "ood", "ood_diverse")  # what the margins were chosen on
REPORT = ("test", "train")  # reported only (train: the photos benchmarks/processes.py labels)
SWEEP = {"class": (3.0, 3.5, 4.0, 5.0, 6.0, 7.0, 8.0), "above": (1.0, 1.25, 1.5, 1.75, 2.0, 2.5), "below": (3.0, 5.0)}


def file_of(name: str) -> Path:
    return SHARED / "data" / f"{'train' if name == 'validation' else name}.parquet"


def labels_of(path: Path, rows: list[int]) -> np.ndarray:
    import pyarrow.parquet as pq

    labels = np.asarray(pq.read_table(path, columns=["labels"]).column("labels").to_pylist())
    return labels[rows]


def answers(classifier: Classifier, path: Path, rows: list[int] | None) -> tuple[list, dict]:
    before = dict(classifier.looks_)
    source = as_source(str(path))
    predictions = classifier.predict_photos([p.data for p in source.photos(rows)] if rows is not None else str(path))
    return predictions, {k: classifier.looks_[k] - before[k] for k in before}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--engine", default="auto")
    parser.add_argument("--label", default="default")
    parser.add_argument("--sweep", action="store_true")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()

    looked = Classifier.load(args.model, engine=args.engine)
    full = Classifier.load(args.model, engine=args.engine, glance=False)
    if looked.glance_ is None:
        sys.exit(f"{args.model} has no first look this engine can run (RUN/glance/ with its exports: catdog export).")
    decision, refusal = full.decision, full.decision.refusal
    result: dict = {"model": str(args.model), "engine": f"{full.engine.artifact} (first look {looked.glance_.engine.artifact})",
                    "machine": describe(), "date": time.strftime("%Y-%m-%d"), "margins": list(GLANCE_MARGINS), "files": {}}
    raw: dict[str, dict[str, np.ndarray]] = {}
    for name in CHOOSE + REPORT:
        path = file_of(name)
        rows = training_rows(full.config, as_source(str(path)))[1].tolist() if name == "validation" else None
        first, looks = answers(looked, path, rows)
        every, _ = answers(full, path, rows)
        glance_alone, _ = answers(looked.glance_, path, rows)
        kept = [i for i, (a, b) in enumerate(zip(first, every)) if a.label is not None and b.label is not None]
        same = sum(first[i].label == every[i].label for i in kept)
        row = {"photos": len(kept), "full_look_share": looks["full"] / max(1, sum(looks.values())), "same_answer": same,
               "agreement": same / max(1, len(kept)), "chosen_on": name in CHOOSE}
        truth = labels_of(path, rows if rows is not None else list(range(len(first))))
        names = [refusal if t < 0 else decision.classes[t] for t in truth]
        row["answer_accuracy_full"] = float(np.mean([every[i].label == names[i] for i in kept]))
        row["answer_accuracy_first_look"] = float(np.mean([first[i].label == names[i] for i in kept]))
        row["answer_accuracy_delta_points"] = 100 * (row["answer_accuracy_first_look"] - row["answer_accuracy_full"])
        result["files"][name] = row
        print(name, row, flush=True)
        if is_cat_dog(decision.classes):
            raw[name] = {"p": np.array([glance_alone[i].p_dog for i in kept]), "pet": np.array([glance_alone[i].pet_score for i in kept]),
                         "full": np.array([decision.answers.index(every[i].label) for i in kept])}
    if args.sweep and raw:
        glance_decision = looked.glance_.decision
        sweep = []
        for margin in SWEEP["class"]:
            for above in SWEEP["above"]:
                for below in SWEEP["below"]:
                    entry: dict = {"margins": [margin, above, below], "files": {}}
                    for name in CHOOSE:
                        r = raw[name]
                        unclear = glance_decision.near_threshold(r["p"], r["pet"], margin, above, below)
                        answered = np.where(unclear, r["full"], glance_decision.codes(r["p"], r["pet"]))
                        entry["files"][name] = {"different": int((answered != r["full"]).sum()), "full_look_share": float(unclear.mean())}
                    sweep.append(entry)
        result["sweep"] = sweep
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / f"glance_{args.label}.json", result)
    write_text(args.out / f"glance_{args.label}.md", render(result))
    print(render(result))


def render(result: dict) -> str:
    lines = [f"Machine: {result['machine']}; {result['date']}. `{result['model']}`, engine {result['engine']}; margins "
             f"{result['margins']} (class log-odds, pet score above, below).", "",
             "| file | photos | given the full look | same answer as the full look | answer accuracy full → first look (points) |",
             "|---|---|---|---|---|"]
    for name, r in result["files"].items():
        mark = "" if r["chosen_on"] else " (report only)"
        lines.append(f"| {name}{mark} | {r['photos']} | {r['full_look_share']:.1%} | {r['same_answer']}/{r['photos']} ({r['agreement']:.2%}) | "
                     f"{r['answer_accuracy_full']:.4f} → {r['answer_accuracy_first_look']:.4f} ({r['answer_accuracy_delta_points']:+.2f}) |")
    if "sweep" in result:
        lines += ["", "Margins swept on the files they were chosen on (different answers / share given the full look):", "",
                  "| margins | " + " | ".join(CHOOSE) + " |", "|---" * (len(CHOOSE) + 1) + "|"]
        for entry in result["sweep"]:
            cells = [f"{entry['files'][n]['different']} / {entry['files'][n]['full_look_share']:.0%}" for n in CHOOSE]
            lines.append(f"| {entry['margins']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
