"""The run folder's README.md: a Hugging Face model card that the hub takes as it is — YAML front matter
(license, library, tags, datasets when known, base model, `model-index` with the validation and test
results) and a body for a person (intended use, recipe, data, results, measured limits, exports,
plots). Built from the run folder's own files (config.json, metrics.json, data_report.json,
export/manifest.json), so it never disagrees with them; `catdog export` writes it again, with the
exports, and puts a copy next to them (RUN/export/README.md, RUN/export/web/README.md)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..files import write_text
from ..run_folder import DATA_REPORT_FILE, METRICS_FILE, README_FILE, RunFolder

LICENSE = "apache-2.0"  # pyproject.toml's; MobileNetV2's ImageNet weights are Apache-2.0 too
# Keras' MobileNetV2 ImageNet weights (alpha 1.0, 224 px) are Google's mobilenet_v2_1.0_224 checkpoint.
BASE_MODEL = "google/mobilenet_v2_1.0_224"
TAGS = ["image-classification", "keras", "mobilenetv2", "transfer-learning", "cats-vs-dogs", "out-of-distribution-detection"]
EXPORT_TAGS = {"onnx": "onnx", "tflite": "tflite", "tflite-fp16": "tflite", "tflite-int8": "tflite", "web": "mediapipe"}
SPLITS = ("validation", "test")
# metrics.json key -> (model-index metric type, its name on the hub)
RESULTS = {
    "answer_accuracy": ("answer_accuracy", "Answer accuracy (cat, dog or neither; 'neither' on a pet counts wrong)"),
    "refused": ("refusal_rate", "Cats and dogs answered 'neither'"),
    "accuracy": ("accuracy", "Cat-vs-dog accuracy of p(dog)"),
    "precision": ("precision", "Precision (dog)"),
    "recall": ("recall", "Recall (dog)"),
    "f1": ("f1", "F1 (dog)"),
    "roc_auc": ("roc_auc", "ROC AUC of p(dog)"),
    "log_loss": ("log_loss", "Log loss of p(dog)"),
    "ece": ("expected_calibration_error", "Expected calibration error of p(dog)"),
}
OOD_RESULTS = {
    "refused_ood": ("refusal_rate", "Photos with no cat or dog answered 'neither'"),
    "auroc": ("roc_auc", "Pet score AUROC, cats and dogs against photos with neither"),
}


def _read_json(run: RunFolder, name: str) -> dict[str, Any]:
    path = run.file(name)
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _hub_dataset(spec: str | None) -> str | None:
    """The hub id of a data source read from the hub (hf://NAME[:split]), else None: a local file's origin is unknown."""
    return spec[len("hf://"):].partition(":")[0].strip("/") if spec and spec.startswith("hf://") else None


def _dataset_type(spec: str | None) -> str:
    """model-index's dataset type: the hub id when known, else the datasets loader that reads the source."""
    return _hub_dataset(spec) or ("parquet" if spec and ".parquet" in spec else "imagefolder")


def _short(spec: str | None) -> str:
    return "unknown" if not spec else spec if spec.startswith("hf://") else Path(spec.rstrip("/")).name


def figures(run: RunFolder, metrics: dict[str, Any]) -> dict[str, str]:
    """The plots the card shows, by title, for those the run folder holds."""
    shown = "test" if "test" in metrics else "validation"
    titles = {"fit_result.png": "Training curves", "confusion_matrix.png": f"Answers ({shown})",
              "roc_curve.png": f"ROC curve ({shown})",
              "module_test.png": f"Predictions ({shown}; the wrong answers are picked first)",
              "reliability.png": f"Reliability before/after calibration ({shown})",
              "neither_tradeoff.png": "'neither' operating points (--refuse): pets refused against non-pets let through",
              "robustness.png": "Robustness to corruptions"}
    return {title: name for name, title in titles.items() if run.file(name).is_file()}


def _card_data(run: RunFolder, saved: dict[str, Any], metrics: dict[str, Any], exports: dict[str, Any]):
    from huggingface_hub import EvalResult, ModelCardData

    config = saved.get("config", {})
    data, test = saved.get("data"), saved.get("test")
    sources = {"validation": data, "test": test}
    names = {"validation": f"{_short(data)}, validation split ({config.get('val_split', 0.2):.0%}, seed {config.get('seed', 42)})",
             "test": _short(test)}
    results = []
    for split in SPLITS:
        for key, (metric_type, metric_name) in RESULTS.items():
            if split in metrics and metrics[split].get(key) is not None:
                results.append(EvalResult(task_type="image-classification", task_name="Cat, dog or neither",
                                          dataset_type=_dataset_type(sources[split]), dataset_name=names[split], dataset_split=split,
                                          metric_type=metric_type, metric_name=metric_name, metric_value=metrics[split][key]))
    ood = metrics.get("ood")
    if ood:
        for key, (metric_type, metric_name) in OOD_RESULTS.items():
            results.append(EvalResult(task_type="image-classification", task_name="Cat, dog or neither",
                                      dataset_type=_dataset_type(ood.get("source")), dataset_name=f"{_short(ood.get('source'))} (no cat or dog)",
                                      dataset_config="no-cat-or-dog",  # a result of its own, not merged with the test file's
                                      dataset_split="test", metric_type=metric_type, metric_name=metric_name, metric_value=ood[key]))
    datasets = sorted({d for d in (_hub_dataset(data), _hub_dataset(test)) if d})
    tags = TAGS + sorted({EXPORT_TAGS[fmt] for fmt in exports if fmt in EXPORT_TAGS})
    return ModelCardData(
        license=LICENSE, library_name="keras", pipeline_tag="image-classification", tags=tags,
        datasets=datasets or None, base_model=BASE_MODEL if config.get("weights", "imagenet") == "imagenet" else None,
        metrics=["accuracy", "f1", "roc_auc"], model_name=run.path.name, eval_results=results or None,
    )


def _number(value: Any) -> str:
    return "—" if value is None else (f"{value:.4f}" if isinstance(value, float) else str(value))


def _metrics_table(metrics: dict[str, Any]) -> str:
    names = ["answer_accuracy", "refused", "accuracy", "precision", "recall", "f1", "roc_auc", "log_loss", "ece", "n", "skipped"]
    splits = [s for s in SPLITS if s in metrics]
    lines = ["| metric | " + " | ".join(splits) + " |", "|---|" + "---|" * len(splits)]
    lines += [f"| {name} | " + " | ".join(_number(metrics[s].get(name)) for s in splits) + " |" for name in names]
    return "\n".join(lines)


def _recipe(config: dict[str, Any], saved: dict[str, Any], metrics: dict[str, Any]) -> str:
    if config.get("fine_tune_blocks"):
        backbone = f"the top {config['fine_tune_blocks']} of its 16 blocks fine-tuned on cached activations"
    elif config.get("fine_tune"):
        backbone = f"its top {config['fine_tune']} layers fine-tuned on pixels" + (" with augmentation" if config.get("augment") else "")
    else:
        backbone = "frozen"
    fine_tuned = config.get("fine_tune_blocks") or config.get("fine_tune")
    lines = [
        f"- Recipe: `{config.get('recipe', 'original')}` (`catdog train --recipe`; docs/ACCURACY.md in the project)",
        f"- Backbone: MobileNetV2 (alpha 1.0, 224 px input), ImageNet weights, {backbone}; its [-1, 1] scaling is inside the model",
        f"- Head: GlobalAveragePooling → Dropout {config.get('dropout')} → Dense {config.get('dense_units')} relu → "
        f"Dropout {config.get('dropout')} → Dense 1 sigmoid (p(dog))",
        f"- Fit: binary cross-entropy, Adam at {config.get('learning_rate')}, at most {config.get('max_epochs')} epochs, "
        f"EarlyStopping on val_loss (patience {config.get('patience')}, best weights restored), batch {config.get('batch_size')}",
    ]
    if fine_tuned:
        lines.append(f"- Fine-tuning: {config.get('fine_tune_epochs')} epochs from {config.get('fine_tune_learning_rate')}, "
                     f"{config.get('schedule')} schedule, weight decay {config.get('weight_decay')}, label smoothing {config.get('label_smoothing')}")
    if config.get("mirror"):
        lines.append("- Every training photo's mirror image is trained on too")
    lines += [
        f"- Test-time augmentation: {'on (the mirror image is looked at where an answer is near a threshold)' if config.get('tta') else 'off'}",
        f"- Calibration: temperature {_number(saved.get('temperature'))}, fitted on the validation photos",
        f"- \"Neither\": a pet score (MobileNetV2's ImageNet odds of a cat or dog breed, similarity to the nearest training "
        f"photo, class density) under {_number(saved.get('neither_threshold'))}; the threshold is set to refuse "
        f"{config.get('neither_rate', 0):.2%} of held-out training photos",
        f"- Training time: {metrics.get('train_seconds', 0):.1f} s; versions: "
        + ", ".join(f"{k} {v}" for k, v in saved.get("versions", {}).items()),
        f"- Command: `{saved.get('command', '')}`",
        "- All settings: " + ", ".join(f"{k}={v}" for k, v in config.items() if k != "extra"),
    ]
    return "\n".join(lines)


def _data(report: dict[str, Any], config: dict[str, Any]) -> str:
    def described(part: dict[str, Any]) -> str:
        counts = ", ".join(f"{k}: {v}" for k, v in part.get("counts", {}).items())
        return f"`{part.get('source')}`: {part.get('rows')} rows ({counts}), {part.get('skipped_count', 0)} skipped as unreadable"

    lines = [f"- Training: {described(report)}; {config.get('val_split', 0.2):.0%} of them held out for validation "
             f"(stratified, seed {config.get('seed', 42)})"]
    if "test" in report:
        lines.append(f"- Test: {described(report['test'])}")
    skipped = [*report.get("skipped", []), *report.get("test", {}).get("skipped", [])]
    lines += [f"  - skipped `{s['id']}` {s['name']}: {s['reason']}" for s in skipped[:20]]
    if len(skipped) > 20:
        lines.append(f"  - … and {len(skipped) - 20} more in data_report.json")
    return "\n".join(lines)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _limits(metrics: dict[str, Any], saved: dict[str, Any]) -> str:
    lines = []
    for split in SPLITS:
        if split in metrics:
            m = metrics[split]
            (cat_cat, cat_dog, cat_neither), (dog_cat, dog_dog, dog_neither) = m.get("answers", [[0, 0, 0], [0, 0, 0]])
            lines.append(f"- {split.capitalize()} ({m.get('n')} cats and dogs): {m.get('refused', 0):.1%} answered \"neither\" "
                         f"({_count(cat_neither, 'cat')}, {_count(dog_neither, 'dog')}); {_count(cat_dog, 'cat')} answered dog "
                         f"and {_count(dog_cat, 'dog')} answered cat.")
    ood = metrics.get("ood")
    if ood:
        lines.append(f"- Photos with no cat or dog (`{ood.get('source')}`, {ood.get('n_ood')} photos): {ood['refused_ood']:.1%} "
                     f"answered \"neither\" (pet score AUROC {ood['auroc']:.4f}); the rest were answered cat or dog.")
    else:
        lines.append("- Photos with no cat or dog: **not measured for this run**. Measure with `catdog evaluate --model RUN "
                     "--data TEST --ood NON_PETS --json` (`ood.refused_ood`), or train with `--ood NON_PETS`.")
    lines += [f"- Warning: {warning}" for warning in metrics.get("warnings", [])]
    sources = ", ".join(f"`{_short(s)}`" for s in (saved.get("data"), saved.get("test")) if s)
    lines.append(
        f"- Not tested on: photos unlike {sources} — other breeds, cameras, lighting and settings, drawings, toys and "
        "statues, animals that look like cats or dogs (wolves, foxes, wild cats) unless measured above, photos with both a "
        "cat and a dog or many animals (the answer is one label), video frames, and deliberately altered (adversarial) photos. "
        "Photos over 64 megapixels or with sides over 100:1 are refused as unreadable, not answered.")
    return "\n".join(lines)


def _exports(exports: dict[str, Any], link: str) -> str:
    if not exports:
        return ("None yet: `catdog export --model RUN --format all` writes ONNX, TFLite (float32, float16, int8; "
                "MediaPipe-ready), SavedModel and a web page, each checked against this model.")
    lines = ["| format | file | MB | same answer as the Keras model | MediaPipe agrees |", "|---|---|---|---|---|"]
    for fmt, record in exports.items():
        mediapipe = record.get("mediapipe", {})
        agrees = f"{mediapipe['answer_agreement']:.1%}" if mediapipe.get("checked") else "—"
        checked = (f"{record['answer_agreement']:.1%} on {record.get('photos_checked')} photos" if "photos_checked" in record
                   else f"as {record['model_from']}" if "model_from" in record else "—")
        lines.append(f"| {fmt} | [{record.get('file')}]({link}export/{record.get('file')}) | {record.get('bytes', 0) / 1e6:.1f} | "
                     f"{checked} | {agrees} |")
    return "\n".join(lines)


def model_card(run: RunFolder, folder: Path | None = None) -> str:
    """The card's text; its links are relative to `folder` (default: the run folder)."""
    from huggingface_hub import ModelCard

    from ..runtime.manifest import usable_exports

    saved, metrics, report = run.read_config().to_dict(), _read_json(run, METRICS_FILE), _read_json(run, DATA_REPORT_FILE)
    config = saved.get("config", {})
    exports = usable_exports(run)
    relative = os.path.relpath(run.path, folder) if folder is not None else "."
    link = "" if relative == "." else relative.replace(os.sep, "/") + "/"
    images = "\n".join(f"![{title}]({link}{name})" for title, name in figures(run, metrics).items())
    body = f"""
# {run.path.name}: cat, dog or neither (MobileNetV2)

A photo classifier made with mobilenetv2-catdog (the `catdog` command) by transfer learning on MobileNetV2:
it answers **cat**, **dog** or **neither** (no cat or dog in the photo), with p(dog) and a pet score.
`model.keras` takes raw 0–255 RGB pixels at 224×224 and gives [p(dog), pet score].

## Intended use

Telling cats from dogs in ordinary photos (sorting photo collections, pet apps, demos, teaching transfer
learning), and saying "neither" rather than guessing when a photo holds no cat or dog. Not for identifying
breeds or individual animals, counting animals, health, safety or legal decisions, or anything about
people. Check the measured limits below on photos like yours before relying on it.

```bash
catdog predict --model {run.path.name} photo.jpg          # cat, dog or neither, p(dog), pet score
catdog serve --model {run.path.name}                      # HTTP API and a web page
```

```python
from catdog import Classifier
Classifier.load("{run.path.name}").predict(["photo.jpg"])   # ['cat']
```

## Training recipe

{_recipe(config, saved, metrics)}

## Data

{_data(report, config)}

## Results

`answer_accuracy` counts what users are answered ("neither" on a cat or dog is wrong); `refused` is the
share of cats and dogs answered "neither"; `accuracy` and the rest are cat-vs-dog metrics of p(dog).

{_metrics_table(metrics)}

## Measured limits

{_limits(metrics, saved)}

## Exports

{_exports(exports, link)}

## Plots

{images}

## Files

`model.keras`, `config.json` (settings, data, versions, command), `history.csv`, `metrics.json`,
`data_report.json` (every skipped photo and why), the plots above, and `export/` with `manifest.json`.
"""
    return str(ModelCard(f"---\n{_card_data(run, saved, metrics, exports).to_yaml()}\n---\n{body}"))


def write_model_card(run: RunFolder) -> list[Path]:
    """RUN/README.md, and a copy next to the exports (RUN/export/ and RUN/export/web/ when present), each
    written atomically with links that work from where it lies."""
    run.write_readme(model_card(run))
    written = [run.file(README_FILE)]
    for folder in (run.export_dir, run.export_dir / "web"):
        if folder.is_dir():
            write_text(folder / README_FILE, model_card(run, folder))
            written.append(folder / README_FILE)
    return written
