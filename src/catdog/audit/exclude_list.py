"""The exclude list: which rows `catdog data audit` suggests leaving out (exclude.csv), and reading
one back for `catdog train --exclude`. No heavy imports: training reads it before TensorFlow loads."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from ..errors import UsageError


def exclusions(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows `catdog train --exclude` should drop: likely wrong labels, every copy but the first of
    each near-duplicate group, and leaks into the other file. Photos with no pet and odd photos are
    listed in the report but not excluded: most are real pets in hard conditions (cages, frames,
    small photos) that a model should keep learning from; add them by hand where they are not."""
    reasons: dict[int, tuple[str, str]] = {}
    for issue in result["label_issues"]:
        reasons.setdefault(issue["row"], (issue["name"], f"label {issue['given']}, likely {issue['suggested']}"))
    for group in result["near_duplicates"]:
        for row, name in zip(group["rows"][1:], group["names"][1:]):
            reasons.setdefault(row, (name, f"near-duplicate of row {group['rows'][0]}"))
    for leak in result["leaks"]:
        reasons.setdefault(leak["row"], (leak["name"], f"also in {result['against']} (row {leak['other_row']})"))
    return [{"row": row, "name": name, "reason": reason} for row, (name, reason) in sorted(reasons.items())]


def read_exclusions(path: str | Path) -> tuple[int, ...]:
    """The rows of an exclude list: a CSV with a `row` column (exclude.csv), or JSON (a list of rows,
    or an object with `exclude` or `label_issues` entries that have a `row`)."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"{path} does not exist; pass the exclude.csv that `catdog data audit --out DIR` wrote.")
    try:
        if path.suffix.lower() == ".json":
            value = json.loads(path.read_text(encoding="utf-8"))
            entries = value if isinstance(value, list) else value.get("exclude", value.get("label_issues", []))
            return tuple(int(e["row"]) if isinstance(e, dict) else int(e) for e in entries)
        with open(path, newline="", encoding="utf-8") as handle:
            return tuple(int(record["row"]) for record in csv.DictReader(handle))
    except (KeyError, TypeError, ValueError, AttributeError, json.JSONDecodeError) as exc:
        raise UsageError(f"{path} is not an exclude list ({exc}); give a CSV with a 'row' column or a JSON list of rows.") from exc
