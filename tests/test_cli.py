"""The `catdog` command through its real entry point, on real photos and real broken files."""

import csv
import io
import json
import os
import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from conftest import TEST, broken_rows, catdog, read_rows, write_parquet


@pytest.fixture(scope="module")
def dirty_train(tmp_path_factory, train_rows):
    """The training subset with broken rows mixed in, and one exact duplicate."""
    rows = list(train_rows)
    broken = broken_rows(rows[0]["bytes"])
    for offset, row in enumerate(broken):
        rows.insert(10 + 30 * offset, row)
    rows.append(dict(rows[1]))
    path = write_parquet(tmp_path_factory.mktemp("dirty") / "dirty.parquet", rows)
    return path, {r["path"] for r in broken}


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory, dirty_train):
    out = tmp_path_factory.mktemp("runs")
    result = catdog("train", "--data", dirty_train[0], "--out", out, "--name", "cli")
    assert result.returncode == 0, result.stderr
    return Path(result.stdout.strip().splitlines()[-1]), result


def test_train_skips_and_reports_every_broken_row(cli_run, dirty_train):
    run, result = cli_run
    assert run.name == "cli" and (run / "model.keras").is_file()
    report = json.loads((run / "data_report.json").read_text())
    assert report["rows"] == 205 and report["skipped_count"] == 4
    reasons = {s["name"]: s["reason"] for s in report["skipped"]}
    assert set(reasons) == dirty_train[1]
    assert "truncated" in reasons["truncated.jpg"] and "empty" in reasons["empty.jpg"]
    assert "not an image" in reasons["notes.csv"]
    assert "notes.csv" in (run / "README.md").read_text()


def test_evaluate_json_prints_exactly_one_object(cli_run, small_test):
    result = catdog("evaluate", "--model", cli_run[0], "--data", small_test, "--json")
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout)
    assert set(metrics) == {"accuracy", "precision", "recall", "f1", "roc_auc", "log_loss", "ece",
                            "confusion_matrix", "n", "skipped", "refused", "answer_accuracy", "answers",
                            "per_class", "macro_precision", "macro_recall", "macro_f1"}  # per class: issue 25
    assert set(metrics["per_class"]) == {"cat", "dog"}
    assert metrics["per_class"]["dog"]["recall"] == pytest.approx(metrics["recall"])
    assert metrics["n"] == 120 and metrics["accuracy"] >= 0.9 and metrics["answer_accuracy"] >= 0.85


def test_predict_reports_unreadable_photos_on_their_own_row(cli_run, tmp_path):
    rows = read_rows(TEST, count=3)
    folder = tmp_path / "photos"
    folder.mkdir()
    for i, row in enumerate(rows):
        (folder / f"{i}.jpg").write_bytes(row["bytes"])
    (folder / "broken.jpg").write_bytes(rows[0]["bytes"][:500])
    result = catdog("predict", "--model", cli_run[0], folder, tmp_path / "missing.jpg", "--json")
    assert result.returncode == 0, result.stderr
    predictions = json.loads(result.stdout)
    assert len(predictions) == 5
    by_name = {Path(p["path"]).name: p for p in predictions}
    assert by_name["broken.jpg"]["label"] is None and "truncated" in by_name["broken.jpg"]["error"]
    assert by_name["missing.jpg"]["error"].startswith("cannot read file")
    for i in range(len(rows)):
        p = by_name[f"{i}.jpg"]
        assert p["label"] in ("cat", "dog", "neither") and 0 <= p["confidence"] <= 1
        if p["label"] != "neither":
            assert p["confidence"] == pytest.approx(max(p["p_dog"], 1 - p["p_dog"]))
        assert p["probabilities"] == pytest.approx({"cat": 1 - p["p_dog"], "dog": p["p_dog"]})
    assert by_name["broken.jpg"]["probabilities"] is None and by_name["broken.jpg"]["p_dog"] is None

    as_csv = catdog("predict", "--model", cli_run[0], folder / "0.jpg", "--csv")
    table = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert as_csv.returncode == 0 and table[0]["label"] == by_name["0.jpg"]["label"]
    p_dog = by_name["0.jpg"]["p_dog"]
    # (alone, the photo is a batch of one: the engine's float arithmetic may differ in the last digits)
    assert float(table[0]["p_dog"]) == pytest.approx(p_dog, rel=1e-4) and float(table[0]["p_cat"]) == pytest.approx(1 - p_dog, rel=1e-4)

    nothing = catdog("predict", "--model", cli_run[0], folder / "broken.jpg", "--json")
    assert nothing.returncode != 0 and json.loads(nothing.stdout)[0]["error"]


def test_data_inspect_counts_skips_sizes_and_duplicates(dirty_train):
    result = catdog("data", "inspect", dirty_train[0], "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    labels = pq.read_table(dirty_train[0]).column("labels").to_pylist()
    assert summary["rows"] == 205 and summary["counts"] == {"cat": labels.count(0), "dog": labels.count(1)}
    assert {s["name"] for s in summary["skipped"]} == dirty_train[1]
    assert summary["readable"] == 201
    assert 0 < summary["width"]["min"] <= summary["width"]["median"] <= summary["width"]["max"]
    assert len(summary["duplicate_groups"]) == 1 and len(summary["duplicate_groups"][0]) == 2
    human = catdog("data", "inspect", dirty_train[0])
    assert "Photos per class" in human.stdout and "Exact duplicates: 1 group" in human.stdout


@pytest.mark.parametrize("args, code, message", [
    (["train", "--data", "{tmp}/nope.parquet"], 3, "does not exist"),
    (["train", "--data", "{bad_labels}"], 3, "labels up to 5 but no class names"),
    (["train", "--data", "{single_class}"], 3, "only one class"),
    (["train", "--data", "{single_class}", "--augment"], 2, "add --fine-tune N"),
    (["train", "--data", "{single_class}", "--val-split", "2"], 2, "val_split must be between 0 and 1"),
    (["train", "--data", "{balanced}", "--class-weight", "heavy"], 2, "class_weight must be none, balanced or NAME=WEIGHT"),
    (["train", "--data", "{balanced}", "--classes", "cat,,dog"], 2, "Invalid value for '--classes'"),
    (["train", "--data", "{single_class}", "--weights", "{tmp}/missing.h5"], 3, "only one class"),
    (["train", "--data", "{balanced}", "--weights", "{tmp}/missing.h5"], 4, "does not exist; pass --weights"),
    (["evaluate", "--model", "{tmp}", "--data", "{balanced}"], 4, "No model at"),
    (["train", "--no-such-flag"], 2, "No such option"),
    (["train", "--data", "{balanced}", "--recipe", "fast"], 2, "Unknown recipe 'fast'; choose one of: original, best"),
    (["train", "--data", "{balanced}", "--fine-tune", "10", "--fine-tune-blocks", "3"], 2, "choose one fine-tuning mode"),
    (["predict", "--model", "{tmp}", "--data", "{balanced}", "--out", "{tmp}/p", "--no-tta"], 2, "follows the run's own TTA"),
])
def test_expected_errors_are_one_sentence_with_a_distinct_exit_code(tmp_path, args, code, message):
    rows = read_rows(TEST, count=6)
    paths = {
        "tmp": tmp_path,
        "bad_labels": write_parquet(tmp_path / "bad.parquet", [{**r, "label": 5} for r in rows]),
        "single_class": write_parquet(tmp_path / "cats.parquet", [{**r, "label": 0} for r in rows]),
        "balanced": write_parquet(tmp_path / "ok.parquet", rows),
    }
    result = catdog(*(a.format(**paths) for a in args), timeout=120)
    assert result.returncode == code, (result.returncode, result.stderr)
    assert message in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr and "Backbone features" not in result.stderr


@pytest.mark.slow  # trains nothing, but starts TensorFlow in two subprocesses: 13 s
def test_missing_imagenet_weights_offline_say_how_to_provide_them(tmp_path):
    rows = read_rows(TEST, count=6)
    data = write_parquet(tmp_path / "ok.parquet", rows)
    result = catdog("train", "--data", data, env={"KERAS_HOME": str(tmp_path / "empty_keras_home")}, timeout=300)
    assert result.returncode == 4, result.stderr
    text = " ".join(result.stderr.split())
    assert "--weights PATH" in text and "CATDOG_WEIGHTS" in text


@pytest.mark.slow
def test_catdog_weights_environment_variable_works_offline(tmp_path):
    from catdog.model.backbone import NO_TOP_FILE

    weights = Path(os.environ["KERAS_HOME"]) / "models" / NO_TOP_FILE
    rows = read_rows(TEST, per_class=5)
    data = write_parquet(tmp_path / "ok.parquet", rows)
    result = catdog("train", "--data", data, "--out", tmp_path / "runs", "--epochs", "2",
                    env={"KERAS_HOME": str(tmp_path / "empty_keras_home"), "CATDOG_WEIGHTS": str(weights)})
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "runs" / "train" / "model.keras").is_file()


def _help(*command: str) -> str:
    """The real `catdog ... --help` as a terminal 200 columns wide shows it (so only a hard line break wraps)."""
    result = catdog(*command, "--help", env={"COLUMNS": "200", "TERMINAL_WIDTH": "200"}, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _rows(text: str, panel: str) -> list[str]:
    """The rows of one ╭─ panel ─╮ of Rich help, borders stripped."""
    rows, inside = [], False
    for line in text.splitlines():
        if line.startswith("╭─ " + panel):
            inside = True
        elif inside and line.startswith("╰"):
            return rows
        elif inside:
            rows.append(line.strip("│ ").rstrip())
    raise AssertionError(f"no {panel} panel in:\n{text}")


def test_help_shows_no_value_after_a_flag_and_whole_sentences_for_commands():
    import typer.main

    from catdog.cli import app

    root = typer.main.get_command(app)
    shown = {(): _help()}
    shown[("predict",)] = _help("predict")
    shown[("evaluate",)] = _help("evaluate")
    checked = 0
    for command, text in shown.items():
        group = root
        for name in command:
            group = group.commands[name]
        options = "\n".join(_rows(text, "Options"))
        flags = [[*p.opts, *p.secondary_opts] for p in group.params if getattr(p, "is_flag", False)] + [["--help"]]
        for flag in flags:
            names = r"\s+".join(map(re.escape, flag))
            row = re.search(rf"^(\*\s+)?{names}\s+(.*)$", options, re.MULTILINE)
            assert row is not None, (flag.opts, options)
            assert not row.group(2).startswith("<"), f"catdog {' '.join(command)} --help shows {flag[0]} taking a value: {row.group(0)}"
            checked += 1
        assert "<bool>" not in text
    assert checked >= 8
    # Each command's line in `catdog --help` is its whole first paragraph on one row, ending a sentence.
    commands = _rows(shown[()], "Commands")
    assert all(re.match(r"^[a-z]+\s{2,}\S", row) for row in commands), commands  # no continuation rows
    evaluate = next(row for row in commands if row.startswith("evaluate "))
    assert evaluate.split(None, 1)[1].endswith("."), evaluate
    assert "what users are answered" in evaluate
