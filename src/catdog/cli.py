"""The `catdog` command line: argument parsing and output formatting over the Python API, nothing more."""

from __future__ import annotations

import csv
import inspect
import io
import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, Optional, cast

logging.getLogger("tensorflow").setLevel(logging.ERROR)  # TensorFlow's Python-side retracing notices (C++: catdog.quiet)

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from . import quiet
from .classes import is_cat_dog
from .config import SettingOption, setting_options
from .errors import CatdogError, DataError, UsageError, missing_library
from .progress import console, log
from .recipes import RECIPES
from .run_folder import RunFolder

INTERNAL_ERROR_EXIT = 70

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Cat-vs-dog photo classifier on a pretrained MobileNetV2.")
data_app = typer.Typer(no_args_is_help=True, help="Look at a data source before training on it.")
app.add_typer(data_app, name="data")

_state = {"debug": False}
# Human-readable tables go to stdout (wide when piped, so paths are not cut); progress and logs to stderr.
_out = Console() if sys.stdout.isatty() else Console(width=200)


@app.callback()
def _main(debug: bool = typer.Option(False, "--debug", help="Show full tracebacks, and TensorFlow's own start-up output.")) -> None:
    _state["debug"] = debug
    if not debug:
        quiet.enable()


def _stdout(text: str) -> None:
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    sys.stdout.flush()


TTA_OPTION = typer.Option(None, "--tta/--no-tta", help="Test-time augmentation: average with the mirrored photo where the answer is near a threshold. \\[default: as the run was trained]")
TTA_ALL_OPTION = typer.Option(False, "--tta-all", help="With TTA, look at every photo's mirror image (2x the cost), not only where the answer is near a threshold.")
GLANCE_OPTION = typer.Option(True, "--glance/--no-glance", help="Let the run's first look (RUN/glance/: 160 px, about a third of the cost) answer the photos whose answer is clear from it; --no-glance: every photo at full size.")
NEITHER_OPTION = typer.Option(True, "--neither/--no-neither", help="Answer 'neither' for photos with no cat or dog; --no-neither when every photo holds a cat or a dog.")
REFUSE_OPTION = typer.Option(None, "--refuse", help="Operating point of 'neither': default (the run's), lenient (fewer pets refused, more non-pets let through), strict, or the share of held-out training cats and dogs to refuse, e.g. 0.01 (docs/TRUST.md).")
ENGINE_OPTION = typer.Option("auto", "--engine", help="auto (the verified export fastest on this machine, measured once; else keras), keras, onnx (the float32 file; the int8 one if it is the only ONNX export), tflite (fastest TFLite export), or an export: onnx-int8, tflite-fp16, tflite-int8.")
ADDRESS_HELP = ("With --ray: a running cluster, auto, HOST:PORT or ray://HOST:PORT (its token from RAY_AUTH_TOKEN, "
                "RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token); without it a local Ray instance for the job.")


SETTINGS_PANEL = "Settings (the --recipe's, each overridden when given)"
# A setting's type as the annotation Typer reads; a tuple of names is typed as a comma-separated list.
_OPTION_ANNOTATIONS: dict[type, Any] = {int: Optional[int], float: Optional[float], str: Optional[str], bool: Optional[bool],
                                        tuple: Optional[str]}


def _shown(value: Any) -> str | None:
    """A setting's value as it is typed on the command line (None for an empty list)."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float) and value and abs(value) < 1e-3:  # 1e-5, not 1e-05
        mantissa, exponent = f"{value:e}".split("e")
        return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple):
        return ",".join(value) or None
    return str(value)


def _setting_help(option: SettingOption) -> str:
    """The field's help, then its default and each recipe's value where that differs: [default: 224; best: 288]."""
    values = [] if (default := _shown(option.default)) is None else [f"default: {default}"]
    values += [f"{recipe}: {_shown(settings[option.name])}" for recipe, settings in RECIPES.items()
               if option.name in settings and settings[option.name] != option.default]
    return escape(option.help + (f" [{'; '.join(values)}]" if values else ""))  # Rich would take [...] for markup


def _comma_list(value: Optional[str]) -> Optional[tuple[str, ...]]:
    """`--classes cat,dog,rabbit` as ("cat", "dog", "rabbit")."""
    if value is None:
        return None
    names = tuple(name.strip() for name in value.split(","))
    if not all(names):
        raise typer.BadParameter(f"{value!r} is not a list of names with a comma between each two, for example cat,dog,rabbit.")
    return names


def _setting_parameter(option: SettingOption) -> inspect.Parameter:
    """One TrainConfig setting as a keyword of the command: None unless given, so the recipe's value stands."""
    is_flag, is_list = option.value_type is bool, option.value_type is tuple
    declaration = f"{option.flag}/--no-{option.flag.removeprefix('--')}" if is_flag else option.flag
    default = typer.Option(None, declaration, help=_setting_help(option), show_default=False, metavar=option.metavar,
                           callback=_comma_list if is_list else None, rich_help_panel=SETTINGS_PANEL)
    return inspect.Parameter(option.name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=_OPTION_ANNOTATIONS[option.value_type])


def _with_setting_options(command: Callable[..., None]) -> Callable[..., None]:
    """`command(..., **settings)` with one option per TrainConfig setting: Typer makes options from the signature."""
    signature = inspect.signature(command, eval_str=True)
    kept = [p for p in signature.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    parameters = kept + [_setting_parameter(option) for option in setting_options()]
    function = cast(Any, command)
    function.__signature__ = signature.replace(parameters=parameters)
    function.__annotations__ = {p.name: p.annotation for p in parameters} | {"return": signature.return_annotation}
    return command


@app.command()
@_with_setting_options
def train(
    data: Optional[str] = typer.Option(None, "--data", help="Training photos: parquet file/folder/glob, ROOT/{cat,dog}/ folders, or hf://NAME."),
    test: Optional[str] = typer.Option(None, "--test", help="Held-out labelled photos to report on after training."),
    ood: Optional[str] = typer.Option(None, "--ood", help="Photos with no cat or dog to report on after training: how many get 'neither' (metrics.json ood, the model card) and neither_tradeoff.png."),
    resume: Optional[Path] = typer.Option(None, "--resume", help="Continue an interrupted run folder (its data and settings)."),
    out: Path = typer.Option(Path("runs"), "--out", help="Folder that holds run folders."),
    name: str = typer.Option("train", "--name", help="Run folder name; numbered (NAME-2, ...) when it exists."),
    recipe: str = typer.Option("original", "--recipe", help="Starting settings: original (the seed project's) or best (docs/ACCURACY.md); the settings below override them."),
    cache: Optional[Path] = typer.Option(None, "--cache", help="Feature cache file (default ~/.cache/catdog/features.sqlite or CATDOG_CACHE)."),
    use_ray: bool = typer.Option(False, "--ray", help="Compute the frozen backbone's features on Ray (parquet data)."),
    address: Optional[str] = typer.Option(None, "--address", help=ADDRESS_HELP),
    workers: int = typer.Option(1, "--workers", help="With --ray: actors computing features in parallel (the cluster's CPUs are shared among them)."),
    exclude: Optional[Path] = typer.Option(None, "--exclude", help="Leave out the rows of this list (the exclude.csv of `catdog data audit --out`)."),
    **settings: Any,  # one option per TrainConfig setting (_with_setting_options), None where not given
) -> None:
    """Train a classifier and write a run folder with the model, metrics and plots."""
    from .api import train as train_run
    from .audit.exclude_list import read_exclusions

    given = {setting: value for setting, value in settings.items() if value is not None}
    if given.get("augment") and not given.get("fine_tune"):
        raise UsageError("--augment acts on the --fine-tune phase; add --fine-tune N (for example --fine-tune 30), or use --mirror.")
    if resume is None and data is None:
        raise UsageError("Missing --data PATH (the training photos), or --resume RUN to continue a run.")
    _address_needs_ray(address, use_ray)
    if exclude is not None:
        given["exclude"] = read_exclusions(exclude)
    result = train_run(
        data, test=test, ood=ood, out=out, name=name, cache_path=cache, command="catdog " + " ".join(sys.argv[1:]), resume=resume,
        ray={"address": address, "workers": workers} if use_ray else None, recipe=recipe, **given,
    )
    metrics = result.metrics
    summary = Table(title=f"Run {result.run_dir}")
    splits = [split for split in ("validation", "test") if split in metrics]
    summary.add_column("metric")
    for split in splits:
        summary.add_column(split, justify="right")
    for key in ("answer_accuracy", "refused", "accuracy", "roc_auc", "log_loss", "ece", "n", "skipped"):
        values = [metrics[split][key] for split in splits]
        summary.add_row(key, *(f"{v:.4f}" if isinstance(v, float) else str(v) for v in values))
    console.print(summary)
    log(f"Trained in {metrics['train_seconds']:.1f} s. Run folder: {result.run_dir}")
    _stdout(str(result.run_dir))


@app.command()
def evaluate(
    model: Path = typer.Option(..., "--model", help="Run folder (runs/NAME) or .keras file."),
    data: str = typer.Option(..., "--data", help="Labelled photos (parquet, class folders or hf://NAME), or a file of photos with no cat or dog (every label -1): then the share answered 'neither' and the photos let through."),
    as_json: bool = typer.Option(False, "--json", help="Print exactly one JSON object to stdout."),
    engine: str = ENGINE_OPTION,
    ood: Optional[str] = typer.Option(None, "--ood", help="Photos with no cat or dog: adds ood {auroc, refused_ood, refused_in, tradeoff} (tradeoff: pets refused and non-pets let through at each --refuse point)."),
    tta: Optional[bool] = TTA_OPTION,
    tta_all: bool = TTA_ALL_OPTION,
    glance: bool = GLANCE_OPTION,
    neither: bool = NEITHER_OPTION,
    refuse: Optional[str] = REFUSE_OPTION,
) -> None:
    """Measure a model on labelled photos: what users are answered, and how well it tells the classes apart.

    Accuracy (cat vs dog by default), precision, recall, F1 (per class and their macro averages), ROC AUC, log loss, ECE and the confusion matrix.

    What users are answered: refused (photos of a class answered 'neither' / 'none of these'), answer_accuracy (a refusal counts wrong) and answers (true class against answer)."""
    from .classifier import Classifier

    classifier = Classifier.load(model, engine=engine, tta=tta, tta_all=tta_all, glance=glance, neither=neither, refuse=refuse)
    metrics = classifier.evaluate(data, ood=ood)
    if as_json:
        _stdout(json.dumps(metrics))
        return
    decision = classifier.decision
    # Photos of the classes and photos of none of them, as the tradeoff rows name them.
    kinds = ("pets", "non-pets") if is_cat_dog(decision.classes) else ("photos of the classes", "others")
    _out.print(f"[bold]{escape(str(model))}[/bold] on [bold]{escape(data)}[/bold]")
    table = Table()
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in metrics.items():
        if key in ("per_class", "confusion_matrix") or (key == "answers" and isinstance(value, list)):
            continue  # tables of their own, below
        if isinstance(value, dict):
            for sub, sub_value in value.items():
                if sub == "tradeoff":
                    for row in sub_value:
                        table.add_row(f"{key}.tradeoff {row['point'] or ''} ({row['rate']:g})",
                                      f"{kinds[0]} refused {row['pets_refused']:.2%}, {kinds[1]} let through {row['non_pets_accepted']:.2%}")
                    continue
                table.add_row(f"{key}.{sub}", f"{sub_value:.4f}" if isinstance(sub_value, float) else str(sub_value))
        elif key == "let_through":  # photos with no cat or dog answered cat or dog: the first few by name
            names = ", ".join(f"{Path(row['path']).name} ({row['answer']})" for row in value[:5])
            table.add_row(key, f"{len(value)}" + (f": {names}" + (", …" if len(value) > 5 else "") if value else ""))
        else:
            table.add_row(key, f"{value:.4f}" if isinstance(value, float) else str(value))
    _out.print(table)
    if "per_class" in metrics:
        _out.print(_per_class_table(metrics["per_class"]))
    if isinstance(metrics.get("answers"), list):
        _out.print(_answers_table(metrics["answers"], decision))


def _per_class_table(per_class: dict) -> Table:
    table = Table(title="Per class")
    table.add_column("class")
    for column in ("precision", "recall", "f1", "n"):
        table.add_column(column, justify="right")
    for name, row in per_class.items():
        table.add_row(escape(name), *(f"{row[k]:.4f}" for k in ("precision", "recall", "f1")), str(row["n"]))
    return table


def _answers_table(answers: list[list[int]], decision) -> Table:
    """The `answers` matrix with names: a row per true class, a column per answer (the classes, then the refusal)."""
    table = Table(title="Answers (rows: the true class; columns: what was answered)")
    table.add_column("true class")
    for name in decision.answers:
        table.add_column(escape(name), justify="right")
    for name, row in zip(decision.classes, answers):
        table.add_row(escape(name), *map(str, row))
    return table


@app.command()
def predict(
    paths: Optional[list[str]] = typer.Argument(None, help="Photos: files, folders, globs or parquet files."),
    model: Path = typer.Option(..., "--model", help="Run folder (runs/NAME) or .keras file."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON list to stdout: per photo path, name, label, confidence, probabilities (by class name), pet_probability, pet_score, error, and p_dog (null unless the classes are cat and dog)."),
    as_csv: bool = typer.Option(False, "--csv", help="Print CSV to stdout: one column per class's probability (p_cat, p_dog; p_NAME for other classes)."),
    engine: str = ENGINE_OPTION,
    tta: Optional[bool] = TTA_OPTION,
    tta_all: bool = TTA_ALL_OPTION,
    glance: bool = GLANCE_OPTION,
    neither: bool = NEITHER_OPTION,
    refuse: Optional[str] = REFUSE_OPTION,
    data: Optional[str] = typer.Option(None, "--data", help="Batch scoring: parquet file/folder/glob or photo folder (with --out)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Batch scoring: folder of parquet shards to write (resumable)."),
    use_ray: bool = typer.Option(False, "--ray", help="Batch scoring on Ray (local instance unless --address)."),
    address: Optional[str] = typer.Option(None, "--address", help=ADDRESS_HELP),
    workers: int = typer.Option(1, "--workers", help="Ray actors scoring in parallel (the cluster's CPUs are shared among them)."),
) -> None:
    """Label photos with the run's classes (cat, dog or neither by default). Unreadable photos get an error row; the rest are still predicted.

    The label is a class name, or the refusal for a photo of none of the classes: 'neither' for cat and dog, 'none of these' for other classes.

    With --data and --out: batch scoring into parquet shards, optionally on Ray (--ray)."""
    from .classifier import Classifier

    _address_needs_ray(address, use_ray)
    if data is not None or out is not None or use_ray:
        if data is None or out is None:
            raise UsageError("Batch scoring needs both --data PATH and --out FOLDER (for example predictions.parquet).")
        from .scale.batch import score_to_parquet

        if workers < 1:
            raise UsageError("--workers must be at least 1.")
        if tta is not None or tta_all:
            raise UsageError("Batch scoring (--data/--out) follows the run's own TTA setting; leave out --tta/--no-tta/--tta-all.")
        summary = score_to_parquet(model, data, out, use_ray=use_ray, address=address, workers=workers, engine=engine,
                                   neither=neither, refuse=refuse, glance=glance)
        log(f"Scored {summary['rows']} photo(s) in {summary['scored_shards']} shard(s) in {summary['seconds']:.1f} s; "
            f"{summary['shards']} shard(s) in {out}.")
        _stdout(json.dumps(summary) if as_json else str(out))
        return
    if not paths:
        raise UsageError("Give photos to predict (files, folders, globs, parquet), or --data and --out for batch scoring.")
    if as_json and as_csv:
        raise UsageError("Choose one of --json and --csv.")
    classifier = Classifier.load(model, engine=engine, tta=tta, tta_all=tta_all, glance=glance, neither=neither, refuse=refuse)
    predictions = classifier.predict_photos(paths)
    decision = classifier.decision
    if as_json:
        _stdout(json.dumps([_json_row(p) for p in predictions]))
    elif as_csv:
        _stdout(_csv_text(predictions, decision.classes))
    elif is_cat_dog(decision.classes):
        _print_cat_dog_predictions(predictions)
    else:
        _print_predictions(predictions, decision)
    failed = sum(1 for p in predictions if p.error)
    if failed:
        log(f"{failed} of {len(predictions)} photo(s) could not be read; see the error column.")
    if failed == len(predictions):
        raise typer.Exit(3)


def _json_row(p) -> dict:
    """A prediction as `--json` gives it: a cat/dog run's keys as they always were, and probabilities by
    class name; p_dog is null for runs of other classes (one set of keys for every run, as the
    Prediction of the Python API and the service's response have)."""
    return {"path": p.id, "name": p.name, "label": p.label, "p_dog": p.p_dog, "confidence": p.confidence,
            "pet_probability": p.pet_probability, "pet_score": p.pet_score, "error": p.error, "probabilities": p.probabilities}


def _csv_text(predictions, classes: tuple[str, ...]) -> str:
    """`--csv`: flat, for a spreadsheet: one p_NAME column per class (a cat/dog run's p_dog among them)."""
    from .scale.batch import probability_column

    columns = ["path", "name", "label", "confidence", *map(probability_column, classes), "pet_probability", "pet_score", "error"]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns)
    writer.writeheader()
    for p in predictions:
        by_class = {probability_column(name): None if p.probabilities is None else p.probabilities[name] for name in classes}
        writer.writerow({"path": p.id, "name": p.name, "label": p.label, "confidence": p.confidence, **by_class,
                         "pet_probability": p.pet_probability, "pet_score": p.pet_score, "error": p.error})
    return buffer.getvalue()


def _percent(value: float | None) -> str:
    return "" if value is None else f"{value:.1%}"


def _print_cat_dog_predictions(predictions) -> None:
    table = Table(caption="p(cat or dog): the chance that a cat or dog is in the photo ('neither' under 50 %); "
                          "p(dog) says which, and is greyed where the answer is 'neither'.")
    for column in ("path", "label", "confidence", "p(cat or dog)", "p(dog)", "error"):
        table.add_column(column)
    for p in predictions:
        p_dog = "" if p.p_dog is None else f"{p.p_dog:.4f}"
        table.add_row(str(p.id), str(p.label or "—"), _percent(p.confidence), _percent(p.pet_probability),
                      f"[dim]{p_dog}[/dim]" if p.label == "neither" else p_dog, str(p.error or ""))
    _out.print(table)


def _print_predictions(predictions, decision) -> None:
    """A run of other classes: the label and its probability, and the likeliest class (which the
    probabilities say; it means nothing, greyed, where the answer is the refusal)."""
    refusal = decision.refusal
    table = Table(caption=f"p(any class): the chance that one of the classes ({', '.join(decision.classes)}) is in the photo "
                          f"('{refusal}' under 50 %); the likeliest class is greyed where the answer is '{refusal}'.")
    for column in ("path", "label", "confidence", "p(any class)", "likeliest class", "error"):
        table.add_column(column)
    for p in predictions:
        likeliest = ""
        if p.probabilities is not None:
            name = max(p.probabilities, key=p.probabilities.__getitem__)
            likeliest = escape(f"{name} {p.probabilities[name]:.1%}")
        table.add_row(escape(str(p.id)), escape(str(p.label or "—")), _percent(p.confidence), _percent(p.pet_probability),
                      f"[dim]{likeliest}[/dim]" if p.label == refusal else likeliest, escape(str(p.error or "")))
    _out.print(table)


@app.command()
def export(
    model: Path = typer.Option(..., "--model", help="Run folder (runs/NAME)."),
    formats: list[str] = typer.Option(..., "--format", help="onnx, onnx-int8, tflite, tflite-fp16, tflite-int8, savedmodel, web or all; repeatable."),
    data: Optional[str] = typer.Option(None, "--data", help="Photos to verify (and calibrate int8) with; default: the run's training data."),
    runtime: Optional[Path] = typer.Option(None, "--runtime", help="For web without internet: the .tgz `npm pack @mediapipe/tasks-vision@1.1.0` writes."),
    refuse: Optional[str] = REFUSE_OPTION,
) -> None:
    """Write RUN/export/ files, each verified against the Keras model on real photos."""
    from .export import export_run
    from .runtime.manifest import FORMATS

    run = RunFolder.resolve(model)
    chosen = list(FORMATS) if "all" in formats else formats
    table = Table(title=f"Exports of {model}")
    for column in ("format", "file", "max |Δp|", "max |Δpet|", "same answer", "images/s", "MB"):
        table.add_column(column, justify="right")
    for fmt in chosen:
        record = export_run(run, fmt, data, runtime, refuse)
        if fmt == "web":
            table.add_row(fmt, f"export/{record['file']}/", f"({record['model_from']})", "", f"{record['answer_agreement']:.1%}", "", f"{record['bytes'] / 2**20:.1f}")
            continue
        for folder, shown in (("", record), ("glance/", record.get("glance"))):  # the first look's export beside it
            if shown is None or not shown["verified"]:
                continue
            mediapipe = shown.get("mediapipe", {})
            same = f"{shown['answer_agreement']:.1%}" + (f" (MediaPipe {mediapipe['answer_agreement']:.1%})" if mediapipe.get("checked") else "")
            table.add_row(fmt, f"{folder}export/{shown['file']}", f"{shown['max_abs_diff']:.2e}", f"{shown['max_pet_score_diff']:.2e}", same,
                          f"{shown['images_per_second']:.0f}", f"{shown['bytes'] / 2**20:.1f}")
    _out.print(table)


@app.command()
def explain(
    photos: list[str] = typer.Argument(..., help="Photos: files, folders, globs or parquet files."),
    model: Path = typer.Option(..., "--model", help="Run folder (runs/NAME) or .keras file."),
    out: Path = typer.Option(..., "--out", help="Folder for one Grad-CAM PNG per photo and grid.png."),
) -> None:
    """Grad-CAM heatmaps: where in each photo the evidence for its label lies."""
    from .classifier import Classifier
    from .explain.run import explain as explain_photos
    from .explain.run import write_explanations

    written = write_explanations(explain_photos(Classifier.load(model, engine="keras", glance=False), photos), out)
    if not written:
        raise DataError(f"None of {', '.join(photos)} could be read as a photo.")
    log(f"Wrote {len(written) - 1} heatmap(s) and {written[-1]}")
    _stdout(str(written[-1]))


@app.command()
def robustness(
    model: Path = typer.Option(..., "--model", help="Run folder (runs/NAME)."),
    data: str = typer.Option(..., "--data", help="Labelled photos."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Use only the first N photos."),
    engine: str = ENGINE_OPTION,
    tta: Optional[bool] = TTA_OPTION,
    neither: bool = NEITHER_OPTION,
    refuse: Optional[str] = REFUSE_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print the result as one JSON object."),
) -> None:
    """Accuracy under 8 common corruptions at 3 severities, with the share answered 'neither' apart; writes robustness.json/.md/.png to the run folder."""
    from .classifier import Classifier
    from .evaluate.robustness import evaluate_robustness, robustness_markdown
    from .files import write_text
    from .report.plots import plot_robustness

    result = evaluate_robustness(Classifier.load(model, engine=engine, tta=tta, neither=neither, refuse=refuse, glance=False), data, limit)
    run = RunFolder.resolve(model)
    run.write_json("robustness.json", result)
    write_text(run.file("robustness.md"), robustness_markdown(result))
    plot_robustness(result, run.file("robustness.png"), run.path.name)
    if as_json:
        _stdout(json.dumps(result))
    else:
        _out.print(robustness_markdown(result))
        log(f"Wrote {run.file('robustness.json')}, robustness.md and robustness.png")


@app.command()
def serve(
    model: Path = typer.Option(..., "--model", help="Run folder (runs/NAME)."),
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(8000, "--port"),
    engine: str = ENGINE_OPTION,
    workers: int = typer.Option(1, "--workers", help="uvicorn worker processes (each loads the model)."),
    max_body_mb: float = typer.Option(10.0, "--max-body-mb", help="Largest request body accepted (413 above)."),
    max_files: int = typer.Option(32, "--max-files", help="Most photos in one multipart request (413 above)."),
    tta: Optional[bool] = TTA_OPTION,
    neither: bool = NEITHER_OPTION,
    refuse: Optional[str] = REFUSE_OPTION,
) -> None:
    """HTTP API and web page: POST /v1/predict, /v1/explain; GET /, /healthz, /readyz, /metrics, /docs."""
    try:
        import uvicorn

        from .serve.app import ServeSettings
    except ImportError as exc:  # name the library that is missing, not the ones that are there
        if (error := missing_library(exc, "Serving")) is None:
            raise
        raise error from exc
    from .runtime.select import open_engine

    if workers < 1 or max_files < 1 or max_body_mb <= 0:
        raise UsageError("--workers and --max-files must be at least 1 and --max-body-mb positive.")
    run = RunFolder.resolve(model)
    open_engine(run, engine)  # fail now, with a clear message, not inside a worker
    run.decision(refuse=refuse)  # and on an operating point the run does not have
    settings = ServeSettings(model=run.path, engine=engine, max_body_bytes=int(max_body_mb * 2**20), max_files=max_files,
                             tta=tta, neither=neither, refuse=refuse)
    os.environ.update(settings.to_environment())
    log(f"Serving {run.path} on http://{host}:{port} (docs at /docs)")
    uvicorn.run("catdog.serve.app:app_from_environment", factory=True, host=host, port=port, workers=workers,
                log_level="warning")


@data_app.command("audit")
def data_audit(
    path: str = typer.Argument(..., help="Labelled photos: parquet file/folder/glob or class folders."),
    against: Optional[str] = typer.Option(None, "--against", help="Another file (e.g. the test file): report photos of PATH also in it."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object to stdout."),
    out: Optional[Path] = typer.Option(None, "--out", help="Folder for index.html (thumbnails per issue), audit.json and exclude.csv."),
    cache: Optional[Path] = typer.Option(None, "--cache", help="Feature cache file (the one training uses by default)."),
) -> None:
    """Likely wrong labels (cleanlab), near-duplicates, leaks into --against, photos with no pet, odd and unreadable photos."""
    from .audit.report import write_audit
    from .audit.run import audit

    result = audit(path, against, cache_path=str(cache) if cache else None)
    if out is not None:
        written = write_audit(result, out)
        log(f"Wrote {', '.join(str(p) for p in written)}")
    if as_json:
        _stdout(json.dumps(result))
        return
    table = Table(title=f"Audit of {path} ({result['photos']} photos, {result['seconds']} s)")
    table.add_column("issue")
    table.add_column("count", justify="right")
    table.add_column("first rows")
    for key, count in result["counts"].items():
        entries = result[key]
        first = [str(e["rows"] if "rows" in e else e.get("row", e.get("name"))) for e in entries[:5]]
        table.add_row(key.replace("_", " "), str(count), ", ".join(first))
    _out.print(table)


@data_app.command("inspect")
def data_inspect(
    path: str = typer.Argument(..., help="Parquet file/folder/glob, class folders or hf://NAME."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object to stdout."),
) -> None:
    """Counts per class, unreadable photos with reasons, image size spread and exact duplicates."""
    from .data.inspect import inspect_source
    from .data.sources import open_source

    summary = inspect_source(open_source(path, require_labels=False))
    if as_json:
        _stdout(json.dumps(summary))
        return
    out = _out
    out.print(f"[bold]{summary['source']}[/bold]: {summary['rows']} rows, {summary['readable']} readable")
    counts = Table(title="Photos per class")
    counts.add_column("class")
    counts.add_column("count", justify="right")
    for label, count in sorted(summary["counts"].items()):
        counts.add_row(label, str(count))
    out.print(counts)
    sizes = Table(title="Image size (pixels)")
    for column in ("", "min", "p5", "median", "p95", "max"):
        sizes.add_column(column, justify="right")
    for axis in ("width", "height"):
        spread = summary[axis]
        sizes.add_row(axis, *(f"{spread[k]:.0f}" for k in ("min", "p5", "median", "p95", "max")) if spread else ["—"] * 5)
    out.print(sizes)
    skipped = Table(title=f"Unreadable photos ({len(summary['skipped'])})")
    skipped.add_column("item")
    skipped.add_column("reason")
    for item in summary["skipped"]:
        skipped.add_row(f"{item['id']} {item['name']}", item["reason"])
    out.print(skipped)
    out.print(f"Exact duplicates: {len(summary['duplicate_groups'])} group(s)")
    for group in summary["duplicate_groups"][:20]:
        out.print("  " + ", ".join(group))


def _address_needs_ray(address: str | None, use_ray: bool) -> None:
    if address is not None and not use_ray:
        raise UsageError(f"--address {address} joins a Ray cluster; add --ray.")


def main() -> None:
    import pyarrow as pa

    from .memory import tune_allocator

    # Photos stream through parquet row groups; the system allocator hands each freed group back to
    # the OS, where Arrow's default pool keeps ~90 MB of them for the life of the process.
    pa.set_memory_pool(pa.system_memory_pool())
    tune_allocator()
    try:
        app()  # click handles --help and its own usage errors (exit 2)
    except CatdogError as exc:
        _exit_with(exc)
    except KeyboardInterrupt:
        console.print("Interrupted.")
        sys.exit(130)
    except Exception as exc:
        if _state["debug"]:
            raise
        # An optional library this command reaches for and the install lacks: name it, and its extra.
        missing = missing_library(exc, "This command") if isinstance(exc, ImportError) else None
        if missing is not None:
            _exit_with(missing)
        console.print(f"[red]Internal error:[/red] {type(exc).__name__}: {escape(_first_sentence(exc))}. "
                      "Rerun with --debug for the traceback and report it.", highlight=False, soft_wrap=True)
        sys.exit(INTERNAL_ERROR_EXIT)


def _exit_with(exc: CatdogError) -> None:
    if _state["debug"]:
        console.print_exception()
    console.print(f"[red]Error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
    sys.exit(exc.exit_code)


def _first_sentence(exc: Exception, limit: int = 160) -> str:
    """An unexpected error's message cut to one line: some (TensorFlow's) hold whole tensors."""
    text = " ".join(str(exc).strip().split("\n", 1)[0].split()) or "no message"
    text = text.split(". ", 1)[0].rstrip(".")
    return text if len(text) <= limit else text[: limit - 1] + "…"


if __name__ == "__main__":
    main()
