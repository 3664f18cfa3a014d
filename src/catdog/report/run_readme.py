"""The run folder's README.md: a summary of the run for a person."""

from __future__ import annotations

from typing import Any

from ..run_folder import RunFolder


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


def write_run_readme(run: RunFolder, config: dict, metrics: dict, data_report: dict, plots: dict[str, str],
                     command: str) -> None:
    run_dir = run.path
    skipped = data_report.get("skipped", [])
    skipped_lines = "\n".join(f"- `{s['id']}` {s['name']}: {s['reason']}" for s in skipped[:50]) or "- none"
    if len(skipped) > 50:
        skipped_lines += f"\n- … and {len(skipped) - 50} more in data_report.json"
    settings = ", ".join(f"{k}={v}" for k, v in config.items() if k != "extra")
    counts = ", ".join(f"{k}: {v}" for k, v in data_report.get("counts", {}).items())
    images = "\n".join(f"![{title}]({file})" for title, file in plots.items())
    text = f"""# Run {run_dir.name}

Cat-vs-dog classifier, MobileNetV2 (ImageNet) backbone with the original head.

- Trained with: `{command}`
- Data: {data_report.get('source')} — {data_report.get('rows')} rows ({counts}), {len(skipped)} skipped
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
    run.write_readme(text)
