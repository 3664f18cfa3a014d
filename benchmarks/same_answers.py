"""Do two runs (or one run before and after a code change) answer the same? Every photo of every
shared file, through the Keras engine.

  python benchmarks/same_answers.py record --model RUN --out ANSWERS.json   # label, p(dog) / probabilities, pet score per photo
  python benchmarks/same_answers.py compare BEFORE.json AFTER.json [--json OUT]

Made for issue 25 ("Your own classes"): cat/dog runs trained before and after it must answer exactly
as before. Record with the code before the change, check out the change, train again with the same
command, record, compare.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("CATDOG_PROGRESS", "0")

SHARED = Path(os.environ.get("SHARED", Path(__file__).resolve().parents[2] / "shared"))
FILES = ("test", "shift", "lookalikes", "ood", "ood_diverse", "train")


def record(model: str, out: Path) -> None:
    from catdog import Classifier

    classifier = Classifier.load(model, engine="keras")
    answers = {}
    for name in FILES:
        path = SHARED / "data" / f"{name}.parquet"
        if not path.is_file():
            sys.exit(f"{path} does not exist; run from the project root with ../shared beside it, or set SHARED.")
        predictions = classifier.predict_photos(str(path))
        answers[name] = [[p.label, p.p_dog if p.p_dog is not None else p.probabilities, p.pet_score] for p in predictions]
    out.write_text(json.dumps(answers))


def _largest_difference(a, b) -> float:
    if a is None or b is None:
        return 0.0 if a is b else float("inf")
    if isinstance(a, dict):
        return max(abs(a[k] - b[k]) for k in a)
    return abs(a - b)


def compare(before: Path, after: Path) -> dict:
    a, b = json.loads(before.read_text()), json.loads(after.read_text())
    rows = {}
    for name in a:
        x, y = a[name], b[name]
        rows[name] = {"photos": len(x), "same_label": sum(p[0] == q[0] for p, q in zip(x, y)) if len(x) == len(y) else 0,
                      "max_probability_difference": max((_largest_difference(p[1], q[1]) for p, q in zip(x, y)), default=0.0),
                      "max_pet_score_difference": max((_largest_difference(p[2], q[2]) for p, q in zip(x, y)), default=0.0)}
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    rec = commands.add_parser("record")
    rec.add_argument("--model", required=True)
    rec.add_argument("--out", type=Path, required=True)
    cmp = commands.add_parser("compare")
    cmp.add_argument("before", type=Path)
    cmp.add_argument("after", type=Path)
    cmp.add_argument("--json", type=Path)
    args = parser.parse_args()
    if args.command == "record":
        record(args.model, args.out)
        return
    rows = compare(args.before, args.after)
    for name, row in rows.items():
        print(f"{name}: {row['same_label']}/{row['photos']} same labels, largest probability difference "
              f"{row['max_probability_difference']:.2e}, largest pet-score difference {row['max_pet_score_difference']:.2e}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    sys.exit(0 if all(row["same_label"] == row["photos"] for row in rows.values()) else 1)


if __name__ == "__main__":
    main()
