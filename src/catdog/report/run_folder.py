"""Numbered run folders and the files in them that are not plots."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Any, Sequence

from ..files import write_text


def new_run_dir(root: str | os.PathLike[str], name: str) -> Path:
    """Claim runs/NAME, or runs/NAME-2, NAME-3... Never reuses a folder, even between concurrent runs."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    number = 1
    while True:
        candidate = root / (name if number == 1 else f"{name}-{number}")
        try:
            candidate.mkdir()  # atomic: exactly one process wins a name
            return candidate
        except FileExistsError:
            number += 1


def write_history_csv(history: Sequence[dict], path: Path) -> None:
    columns = ["phase", "epoch", "loss", "accuracy", "val_loss", "val_accuracy"]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(history)
    write_text(path, buffer.getvalue())


def _metrics_rows(metrics: dict[str, Any]) -> str:
    names = ["answer_accuracy", "refused", "accuracy", "precision", "recall", "f1", "roc_auc", "log_loss", "ece", "n", "skipped"]
    splits = [s for s in ("validation", "test") if s in metrics]
    lines = ["| metric | " + " | ".join(splits) + " |", "|---|" + "---|" * len(splits)]
    for name in names:
        cells = []
        for split in splits:
            value = metrics[split].get(name)
            cells.append("—" if value is None else (f"{value:.4f}" if isinstance(value, float) else str(value)))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _warnings(metrics: dict[str, Any]) -> str:
    return "".join(f"\n> **Warning:** {warning}\n" for warning in metrics.get("warnings", []))


def write_run_readme(run_dir: Path, config: dict, metrics: dict, data_report: dict, plots: dict[str, str],
                     command: str) -> None:
    skipped = data_report.get("skipped", [])
    skipped_lines = "\n".join(f"- `{s['id']}` {s['name']}: {s['reason']}" for s in skipped[:50]) or "- none"
    if len(skipped) > 50:
        skipped_lines += f"\n- … and {len(skipped) - 50} more in data_report.json"
    settings = ", ".join(f"{k}={v}" for k, v in config.items() if k != "extra")
    images = "\n".join(f"![{title}]({file})" for title, file in plots.items())
    text = f"""# Run {run_dir.name}

Cat-vs-dog classifier, MobileNetV2 (ImageNet) backbone with the original head.

- Trained with: `{command}`
- Data: {data_report.get('source')} — {data_report.get('rows')} rows ({', '.join(f"{k}: {v}" for k, v in data_report.get('counts', {}).items())}), {len(skipped)} skipped
- Training time: {metrics.get('train_seconds', 0):.1f} s
- Settings: {settings}

## Metrics

`answer_accuracy` counts what users are answered ("neither" on a cat or dog is wrong); `refused` is the
share of cats and dogs answered "neither"; `accuracy` and the rest are cat-vs-dog metrics of p(dog).
{_warnings(metrics)}
{_metrics_rows(metrics)}

## Skipped photos

{skipped_lines}

## Files

`model.keras` (raw 0–255 RGB in, p(dog) out), `config.json`, `history.csv`, `metrics.json`, `data_report.json`, and the plots below.

Evaluate again with `catdog evaluate --model {run_dir} --data PATH --json`;
predict with `catdog predict --model {run_dir} PHOTOS...`.

{images}
"""
    write_text(run_dir / "README.md", text)
