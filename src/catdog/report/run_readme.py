"""The run folder's README.md: a Hugging Face model card that the hub takes as it is — YAML front matter
(license, library, tags, datasets when known, base model, `model-index` with the validation and test
results) and a body for a person (intended use, recipe, data, results, measured limits, exports,
plots). Built from the run folder's own files (config.json, metrics.json, data_report.json,
export/manifest.json), so it never disagrees with them; `catdog export` writes it again, with the
exports, and puts a copy next to them (RUN/export/README.md, RUN/export/web/README.md).

A card speaks the run's classes (config.json's): a cat/dog run's card is the seed's, word for word
("cat, dog or neither", p(dog)); any other run's names its classes, its per-class results and its
"none of these"."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..classes import is_cat_dog, refusal_name
from ..files import write_text
from ..run_folder import DATA_REPORT_FILE, METRICS_FILE, README_FILE, RunFolder

LICENSE = "apache-2.0"  # pyproject.toml's; MobileNetV2's ImageNet weights are Apache-2.0 too
# Keras' MobileNetV2 ImageNet weights (alpha 1.0, 224 px) are Google's mobilenet_v2_1.0_224 checkpoint.
BASE_MODEL = "google/mobilenet_v2_1.0_224"
TAGS = ["image-classification", "keras", "mobilenetv2", "transfer-learning", "cats-vs-dogs", "out-of-distribution-detection"]
EXPORT_TAGS = {"onnx": "onnx", "onnx-int8": "onnx", "tflite": "tflite", "tflite-fp16": "tflite", "tflite-int8": "tflite", "web": "mediapipe"}
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
# The same for a run of other classes ({refusal}: "none of these"), and per class ({name}).
CLASS_RESULTS = {
    "answer_accuracy": ("answer_accuracy", "Answer accuracy (a class or '{refusal}'; '{refusal}' on a photo of one of the classes counts wrong)"),
    "refused": ("refusal_rate", "Photos of the classes answered '{refusal}'"),
    "accuracy": ("accuracy", "Accuracy of the likeliest class"),
    "macro_precision": ("precision", "Macro precision (each class counting the same)"),
    "macro_recall": ("recall", "Macro recall (each class counting the same)"),
    "macro_f1": ("f1", "Macro F1 (each class counting the same)"),
    "roc_auc": ("roc_auc", "ROC AUC of the class probabilities (each class against the rest, macro)"),
    "log_loss": ("log_loss", "Log loss of the class probabilities"),
    "ece": ("expected_calibration_error", "Expected calibration error of the likeliest class's probability"),
}
PER_CLASS_RESULTS = {"recall": ("recall", "Recall ({name})"), "f1": ("f1", "F1 ({name})")}
CLASS_OOD_RESULTS = {
    "refused_ood": ("refusal_rate", "Photos of none of the classes answered '{refusal}'"),
    "auroc": ("roc_auc", "Score AUROC, photos of the classes against photos of none of them"),
}


@dataclass(frozen=True)
class Words:
    """How a card names a run's classes, answers and refusal: a cat/dog run in the seed's words."""

    classes: tuple[str, ...]

    @property
    def cat_dog(self) -> bool:
        return is_cat_dog(self.classes)

    @property
    def refusal(self) -> str:
        return refusal_name(self.classes)

    @property
    def answers(self) -> str:
        """'cat, dog or neither'; 'buildings, forest, …, street or none of these'."""
        return f"{', '.join(self.classes)} or {self.refusal}"

    @property
    def outside(self) -> str:
        """What a photo of none of the classes is called in a dataset's name."""
        return "no cat or dog" if self.cat_dog else "none of the classes"

    @property
    def outputs(self) -> str:
        """The model's outputs: [p(class 1), score] for two classes, [p_1, ..., p_N, score] for more."""
        if self.cat_dog:
            return "[p(dog), pet score]"
        shown = [self.classes[1]] if len(self.classes) == 2 else self.classes
        return "[" + ", ".join(f"p({name})" for name in shown) + ", score]"


def results(words: Words) -> list[tuple[tuple[str, ...], str, str]]:
    """The model-index's results of a split: (key path into metrics.json's split, metric type, name)."""
    if words.cat_dog:
        return [((key,), metric_type, name) for key, (metric_type, name) in RESULTS.items()]
    found = [((key,), metric_type, name.format(refusal=words.refusal))
             for key, (metric_type, name) in CLASS_RESULTS.items()]
    return found + [(("per_class", cls, key), metric_type, name.format(name=cls))
                    for cls in words.classes for key, (metric_type, name) in PER_CLASS_RESULTS.items()]


def ood_results(words: Words) -> dict[str, tuple[str, str]]:
    """The model-index's results on photos of none of the classes (metrics.json "ood")."""
    if words.cat_dog:
        return OOD_RESULTS
    return {key: (metric_type, name.format(refusal=words.refusal)) for key, (metric_type, name) in CLASS_OOD_RESULTS.items()}


def _lookup(values: Any, path: tuple[str, ...]) -> Any:
    """metrics.json's value at `path` (a split's "per_class" → class → "recall"), None where it has none."""
    for key in path:
        values = values.get(key) if isinstance(values, dict) else None
    return values


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


def figures(run: RunFolder, metrics: dict[str, Any], words: Words) -> dict[str, str]:
    """The plots the card shows, by title, for those the run folder holds."""
    shown = "test" if "test" in metrics else "validation"
    tradeoff = ("'neither' operating points (--refuse): pets refused against non-pets let through" if words.cat_dog else
                f"'{words.refusal}' operating points (--refuse): photos of the classes refused against other photos let through")
    titles = {"fit_result.png": "Training curves", "confusion_matrix.png": f"Answers ({shown})",
              "roc_curve.png": f"ROC curve ({shown})",
              "module_test.png": f"Predictions ({shown}; the wrong answers are picked first)",
              "reliability.png": f"Reliability before/after calibration ({shown})",
              "neither_tradeoff.png": tradeoff,
              "robustness.png": "Robustness to corruptions"}
    return {title: name for name, title in titles.items() if run.file(name).is_file()}


def _card_data(run: RunFolder, saved: dict[str, Any], metrics: dict[str, Any], exports: dict[str, Any], words: Words):
    from huggingface_hub import EvalResult, ModelCardData

    config = saved.get("config", {})
    data, test = saved.get("data"), saved.get("test")
    sources = {"validation": data, "test": test}
    names = {"validation": f"{_short(data)}, validation split ({config.get('val_split', 0.2):.0%}, seed {config.get('seed', 42)})",
             "test": _short(test)}
    task = words.answers[0].upper() + words.answers[1:]  # "Cat, dog or neither"
    found = []
    for split in SPLITS:
        for path, metric_type, metric_name in results(words):
            value = _lookup(metrics.get(split, {}), path)
            if value is not None:
                found.append(EvalResult(task_type="image-classification", task_name=task,
                                        dataset_type=_dataset_type(sources[split]), dataset_name=names[split], dataset_split=split,
                                        metric_type=metric_type, metric_name=metric_name, metric_value=value))
    ood = metrics.get("ood")
    if ood:
        for key, (metric_type, metric_name) in ood_results(words).items():
            found.append(EvalResult(task_type="image-classification", task_name=task,
                                    dataset_type=_dataset_type(ood.get("source")), dataset_name=f"{_short(ood.get('source'))} ({words.outside})",
                                    dataset_config=words.outside.replace(" ", "-"),  # a result of its own, not merged with the test file's
                                    dataset_split="test", metric_type=metric_type, metric_name=metric_name, metric_value=ood[key]))
    datasets = sorted({d for d in (_hub_dataset(data), _hub_dataset(test)) if d})
    tags = [tag for tag in TAGS if words.cat_dog or tag != "cats-vs-dogs"]
    tags += sorted({EXPORT_TAGS[fmt] for fmt in exports if fmt in EXPORT_TAGS})
    return ModelCardData(
        license=LICENSE, library_name="keras", pipeline_tag="image-classification", tags=tags,
        datasets=datasets or None, base_model=BASE_MODEL if config.get("weights", "imagenet") == "imagenet" else None,
        metrics=["accuracy", "f1", "roc_auc"], model_name=run.path.name, eval_results=found or None,
    )


def _number(value: Any) -> str:
    return "—" if value is None else (f"{value:.4f}" if isinstance(value, float) else str(value))


def _metrics_table(metrics: dict[str, Any], words: Words) -> str:
    middle = ["precision", "recall", "f1"] if words.cat_dog else ["macro_precision", "macro_recall", "macro_f1"]
    names = ["answer_accuracy", "refused", "accuracy", *middle, "roc_auc", "log_loss", "ece", "n", "skipped"]
    splits = [s for s in SPLITS if s in metrics]
    lines = ["| metric | " + " | ".join(splits) + " |", "|---|" + "---|" * len(splits)]
    lines += [f"| {name} | " + " | ".join(_number(metrics[s].get(name)) for s in splits) + " |" for name in names]
    return "\n".join(lines)


def _per_class_table(metrics: dict[str, Any], words: Words) -> str:
    """Each class's precision, recall and F1 and its photos answered the refusal, on the shown split."""
    split = "test" if "test" in metrics else "validation"
    m = metrics.get(split, {})
    per_class, answers = m.get("per_class", {}), m.get("answers", [])
    lines = [f"Per class ({split}):", "", f"| class | precision | recall | F1 | photos | answered \"{words.refusal}\" |",
             "|---|---|---|---|---|---|"]
    for i, name in enumerate(words.classes):
        row = per_class.get(name, {})
        refused = answers[i][-1] if i < len(answers) else None
        lines.append(f"| {name} | {_number(row.get('precision'))} | {_number(row.get('recall'))} | {_number(row.get('f1'))} | "
                     f"{_number(row.get('n'))} | {_number(refused)} |")
    return "\n".join(lines)


def _recipe(config: dict[str, Any], saved: dict[str, Any], metrics: dict[str, Any], words: Words) -> str:
    if config.get("fine_tune_blocks"):
        backbone = f"the top {config['fine_tune_blocks']} of its 16 blocks fine-tuned on cached activations"
    elif config.get("fine_tune"):
        backbone = f"its top {config['fine_tune']} layers fine-tuned on pixels" + (" with augmentation" if config.get("augment") else "")
    else:
        backbone = "frozen"
    fine_tuned = config.get("fine_tune_blocks") or config.get("fine_tune")
    if len(words.classes) == 2:
        output, loss = f"Dense 1 sigmoid (p({words.classes[1]}))", "binary cross-entropy"
    else:
        output, loss = f"Dense {len(words.classes)} softmax (the probability of each class)", "categorical cross-entropy"
    lines = [
        f"- Recipe: `{config.get('recipe', 'original')}` (`catdog train --recipe`; docs/ACCURACY.md in the project)",
        f"- Backbone: MobileNetV2 (alpha 1.0, 224 px input), ImageNet weights, {backbone}; its [-1, 1] scaling is inside the model",
        f"- Head: GlobalAveragePooling → Dropout {config.get('dropout')} → Dense {config.get('dense_units')} relu → "
        f"Dropout {config.get('dropout')} → {output}",
        f"- Fit: {loss}, Adam at {config.get('learning_rate')}, at most {config.get('max_epochs')} epochs, "
        f"EarlyStopping on val_loss (patience {config.get('patience')}, best weights restored), batch {config.get('batch_size')}",
    ]
    if fine_tuned:
        lines.append(f"- Fine-tuning: {config.get('fine_tune_epochs')} epochs from {config.get('fine_tune_learning_rate')}, "
                     f"{config.get('schedule')} schedule, weight decay {config.get('weight_decay')}, label smoothing {config.get('label_smoothing')}")
    if config.get("class_weight", "none") != "none":
        lines.append(f"- Class weights in the loss: {config['class_weight']} (`--class-weight`)")
    if config.get("mirror"):
        lines.append("- Every training photo's mirror image is trained on too")
    if words.cat_dog:
        score = "a pet score (MobileNetV2's ImageNet odds of a cat or dog breed, similarity to the nearest training photo, class density)"
    else:
        score = ("a score (MobileNetV2's ImageNet odds of the ImageNet classes the training photos look like, similarity to the "
                 "nearest training photo, class density)")
    lines += [
        f"- Test-time augmentation: {'on (the mirror image is looked at where an answer is near a threshold)' if config.get('tta') else 'off'}",
        f"- Calibration: temperature {_number(saved.get('temperature'))}, fitted on the validation photos",
        f"- \"{words.refusal[0].upper() + words.refusal[1:]}\": {score} under {_number(saved.get('neither_threshold'))}; "
        f"the threshold is set to refuse {config.get('neither_rate', 0):.2%} of held-out training photos",
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


def _answered(m: dict[str, Any], words: Words) -> str:
    """One split's answers (the N x (N + 1) matrix, rows truth, columns the classes then the refusal)
    as a sentence: how many of each class were refused, and the wrong answers."""
    answers = m.get("answers") or [[0] * (len(words.classes) + 1) for _ in words.classes]
    if words.cat_dog:
        (cat_cat, cat_dog, cat_neither), (dog_cat, dog_dog, dog_neither) = answers
        return (f"- {m.get('split', '').capitalize()} ({m.get('n')} cats and dogs): {m.get('refused', 0):.1%} answered \"neither\" "
                f"({_count(cat_neither, 'cat')}, {_count(dog_neither, 'dog')}); {_count(cat_dog, 'cat')} answered dog "
                f"and {_count(dog_cat, 'dog')} answered cat.")
    refused = ", ".join(f"{name}: {row[-1]}" for name, row in zip(words.classes, answers))
    wrong = sorted(((row[j], name, words.classes[j]) for name, row in zip(words.classes, answers)
                    for j in range(len(words.classes)) if words.classes[j] != name and row[j]), key=lambda w: -w[0])
    shown = [f"{_count(count, truth + ' photo')} answered {answer}" for count, truth, answer in wrong[:6]]
    more = sum(count for count, _, _ in wrong[6:])
    wrongly = ("no photo answered another class" if not wrong else
               "wrong answers: " + ", ".join(shown) + (f" and {_count(more, 'other')}" if more else ""))
    return (f"- {m.get('split', '').capitalize()} ({m.get('n')} photos of the classes): {m.get('refused', 0):.1%} answered "
            f"\"{words.refusal}\" ({refused}); {wrongly}.")


def _limits(metrics: dict[str, Any], saved: dict[str, Any], words: Words) -> str:
    lines = [_answered({**metrics[split], "split": split}, words) for split in SPLITS if split in metrics]
    ood = metrics.get("ood")
    if ood and words.cat_dog:
        lines.append(f"- Photos with no cat or dog (`{ood.get('source')}`, {ood.get('n_ood')} photos): {ood['refused_ood']:.1%} "
                     f"answered \"neither\" (pet score AUROC {ood['auroc']:.4f}); the rest were answered cat or dog.")
    elif ood:
        lines.append(f"- Photos of none of the classes (`{ood.get('source')}`, {ood.get('n_ood')} photos): {ood['refused_ood']:.1%} "
                     f"answered \"{words.refusal}\" (score AUROC {ood['auroc']:.4f}); the rest were answered one of the classes.")
    elif words.cat_dog:
        lines.append("- Photos with no cat or dog: **not measured for this run**. Measure with `catdog evaluate --model RUN "
                     "--data TEST --ood NON_PETS --json` (`ood.refused_ood`), or train with `--ood NON_PETS`.")
    else:
        lines.append("- Photos of none of the classes: **not measured for this run**. Measure with `catdog evaluate --model RUN "
                     "--data TEST --ood OTHER_PHOTOS --json` (`ood.refused_ood`), or train with `--ood OTHER_PHOTOS`.")
    lines += [f"- Warning: {warning}" for warning in metrics.get("warnings", [])]
    sources = ", ".join(f"`{_short(s)}`" for s in (saved.get("data"), saved.get("test")) if s)
    if words.cat_dog:
        unlike = ("other breeds, cameras, lighting and settings, drawings, toys and statues, animals that look like cats or dogs "
                  "(wolves, foxes, wild cats) unless measured above, photos with both a cat and a dog or many animals (the answer "
                  "is one label)")
    else:
        unlike = ("other cameras, lighting and settings, drawings and renderings, things that look like one of the classes and are "
                  "none of them unless measured above, photos that hold several of the classes (the answer is one label)")
    lines.append(
        f"- Not tested on: photos unlike {sources} — {unlike}, video frames, and deliberately altered (adversarial) photos. "
        "Photos over 64 megapixels or with sides over 100:1 are refused as unreadable, not answered.")
    return "\n".join(lines)


def _refusal_section(saved: dict[str, Any], metrics: dict[str, Any], words: Words) -> str:
    """What "none of these" means for a run of other classes (a cat/dog card says it in its recipe and limits)."""
    config = saved.get("config", {})
    ood = metrics.get("ood")
    measured = (f"Of {ood.get('n_ood')} photos of none of the classes (`{_short(ood.get('source'))}`), {ood['refused_ood']:.1%} "
                f"were answered \"{words.refusal}\" (Measured limits)." if ood else
                "How often it is right on photos of none of the classes was not measured for this run (Measured limits).")
    return f"""
## What "{words.refusal}" means

The answer is "{words.refusal}" when a photo looks like none of the {len(words.classes)} classes: its score (the last
output of `model.keras`) is under {_number(saved.get('neither_threshold'))}, a threshold set so that
{config.get('neither_rate', 0):.2%} of held-out training photos are refused. {measured}
`--refuse lenient|strict|RATE` picks another operating point (photos of the classes refused against
other photos let through), and `--no-neither` never refuses, for photos known to hold one of the classes.
"""


def _exports(exports: dict[str, Any], link: str) -> str:
    if not exports:
        return ("None yet: `catdog export --model RUN --format all` writes ONNX (float32, int8), TFLite (float32, float16, int8; "
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


def _introduction(name: str, words: Words, size: int) -> str:
    """What the model answers and gives, what it is for, and how to use it."""
    pixels = f"`model.keras` takes raw 0–255 RGB pixels at {size}×{size} and gives {words.outputs}."
    if words.cat_dog:
        return f"""A photo classifier made with mobilenetv2-catdog (the `catdog` command) by transfer learning on MobileNetV2:
it answers **cat**, **dog** or **neither** (no cat or dog in the photo), with p(dog) and a pet score.
{pixels}

## Intended use

Telling cats from dogs in ordinary photos (sorting photo collections, pet apps, demos, teaching transfer
learning), and saying "neither" rather than guessing when a photo holds no cat or dog. Not for identifying
breeds or individual animals, counting animals, health, safety or legal decisions, or anything about
people. Check the measured limits below on photos like yours before relying on it.

```bash
catdog predict --model {name} photo.jpg          # cat, dog or neither, p(dog), pet score
catdog serve --model {name}                      # HTTP API and a web page
```

```python
from catdog import Classifier
Classifier.load("{name}").predict(["photo.jpg"])   # ['cat']
```"""
    classes = ", ".join(f"**{c}**" for c in words.classes)
    probability = f"p({words.classes[1]})" if len(words.classes) == 2 else "each class's probability"
    return f"""A photo classifier made with mobilenetv2-catdog (the `catdog` command) by transfer learning on MobileNetV2:
it answers one of its {len(words.classes)} classes — {classes} — or **{words.refusal}** (a photo of none of
them), with {probability} and a score of how much the photo looks like one of the classes.
{pixels}

## Intended use

Telling {", ".join(words.classes[:-1])} and {words.classes[-1]} apart in photos like the training photos, and saying
"{words.refusal}" rather than guessing when a photo holds none of them. Not for anything the classes do not
cover, health, safety or legal decisions, or anything about people. Check the measured limits below on
photos like yours before relying on it.

```bash
catdog predict --model {name} photo.jpg          # {words.answers}, {probability}, score
catdog serve --model {name}                      # HTTP API and a web page
```

```python
from catdog import Classifier
Classifier.load("{name}").predict(["photo.jpg"])   # ['{words.classes[0]}']
```"""


def _results_text(metrics: dict[str, Any], words: Words) -> str:
    if words.cat_dog:
        return f"""`answer_accuracy` counts what users are answered ("neither" on a cat or dog is wrong); `refused` is the
share of cats and dogs answered "neither"; `accuracy` and the rest are cat-vs-dog metrics of p(dog).

{_metrics_table(metrics, words)}"""
    return f"""`answer_accuracy` counts what users are answered ("{words.refusal}" on a photo of one of the classes is wrong);
`refused` is the share of photos of the classes answered "{words.refusal}"; `accuracy` (of the likeliest class)
and the rest are metrics of the class probabilities, the refusal left aside; `macro_*` average the classes,
each counting the same.

{_metrics_table(metrics, words)}

{_per_class_table(metrics, words)}"""


def model_card(run: RunFolder, folder: Path | None = None) -> str:
    """The card's text; its links are relative to `folder` (default: the run folder)."""
    from huggingface_hub import ModelCard

    from ..runtime.manifest import usable_exports

    read = run.read_config()
    words = Words(read.classes)
    saved, metrics, report = read.to_dict(), _read_json(run, METRICS_FILE), _read_json(run, DATA_REPORT_FILE)
    config = saved.get("config", {})
    exports = usable_exports(run)
    relative = os.path.relpath(run.path, folder) if folder is not None else "."
    link = "" if relative == "." else relative.replace(os.sep, "/") + "/"
    images = "\n".join(f"![{title}]({link}{name})" for title, name in figures(run, metrics, words).items())
    body = f"""
# {run.path.name}: {words.answers} (MobileNetV2)

{_introduction(run.path.name, words, read.image_size)}

## Training recipe

{_recipe(config, saved, metrics, words)}

## Data

{_data(report, config)}

## Results

{_results_text(metrics, words)}

## Measured limits

{_limits(metrics, saved, words)}
{"" if words.cat_dog else _refusal_section(saved, metrics, words)}
## Exports

{_exports(exports, link)}

## Plots

{images}

## Files

`model.keras`, `config.json` (settings, data, versions, command), `history.csv`, `metrics.json`,
`data_report.json` (every skipped photo and why), the plots above, and `export/` with `manifest.json`.
"""
    return str(ModelCard(f"---\n{_card_data(run, saved, metrics, exports, words).to_yaml()}\n---\n{body}"))


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
