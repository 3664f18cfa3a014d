"""`catdog train`'s setting options are made from TrainConfig's fields: one flag each, with the field's help,
its default and the best recipe's value; what is given reaches TrainConfig, what is not leaves the recipe's.
In process through Typer's CliRunner, training nothing: well under a second."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
import typer.main
from typer.testing import CliRunner

from catdog import api
from catdog.cli import SETTINGS_PANEL, app
from catdog.config import TrainConfig, setting_options
from catdog.errors import UsageError
from catdog.recipes import recipe_config

ROOT = Path(__file__).resolve().parents[1]
OPTIONS = setting_options()
WIDE = {"COLUMNS": "200", "TERMINAL_WIDTH": "200"}  # so only a hard line break wraps a row


class _Captured(Exception):
    """Raised by the stand-in for api.train once it has the arguments: training is not the subject here."""


@pytest.fixture
def train_calls(monkeypatch):
    calls: list[dict] = []

    def capture(data, **kwargs):
        calls.append({"data": data, **kwargs})
        raise _Captured

    monkeypatch.setattr(api, "train", capture)
    return calls


def _invoke(*args: str):
    return CliRunner().invoke(app, ["train", *args], env=WIDE)


def _settings(call: dict) -> dict:
    """What api.train got beyond the command's own arguments: the settings given."""
    own = {"data", "test", "ood", "out", "name", "cache_path", "command", "resume", "ray", "recipe"}
    return {key: value for key, value in call.items() if key not in own}


def _flat(text: str) -> str:
    """Rich help or error text with the box drawing gone and every run of whitespace one space."""
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", text).split())


def _train_command():
    return typer.main.get_command(app).commands["train"]


def test_every_field_is_marked_an_option_or_not():
    unmarked = [f.name for f in dataclasses.fields(TrainConfig) if "option" not in f.metadata]
    assert unmarked == []
    not_options = {f.name for f in dataclasses.fields(TrainConfig) if f.metadata["option"] is None}
    assert not_options == {"recipe", "exclude", "extra"}  # --recipe and --exclude FILE set the first two
    assert {"classes", "class_weight", "max_epochs", "fine_tune_learning_rate"} <= {o.name for o in OPTIONS}


def test_each_setting_has_one_flag_in_help_with_its_help_text_and_defaults():
    result = _invoke("--help")
    assert result.exit_code == 0, result.output
    rows = [line.strip("│ ") for line in result.output.splitlines()]
    for option in OPTIONS:
        (row,) = [row for row in rows if row.split(" ", 1)[0] == option.flag]
        if option.value_type is bool:  # a switch: --x --no-x, and no value after them
            assert row.split()[1] == "--no-" + option.flag[2:] and not row.split()[2].startswith("<"), row
    settings = _flat(result.output.split("╭─ " + SETTINGS_PANEL, 1)[1])
    for option in OPTIONS:
        assert option.help in settings, option.flag
    # The default from TrainConfig, the best recipe's value from recipes.py, where it differs.
    for shown in ("Photos per training step. [default: 32]", "[default: 224; best: 288]", "[default: 1e-5; best: 1e-4]",
                  "(photo + mirror). [default: off; best: on]", "[default: none]", "[default: on]"):
        assert shown in settings, shown
    # The flags kept from before the options were generated.
    assert {"--epochs", "--fine-tune-lr", "--tta", "--no-tta", "--mirror", "--no-mirror"} <= {
        name for param in _train_command().params for name in (*param.opts, *param.secondary_opts)}


def test_no_flag_is_declared_twice():
    names = [name for param in _train_command().params for name in (*param.opts, *param.secondary_opts)]
    assert len(names) == len(set(names))


def test_given_settings_reach_train_config_and_the_rest_stay_the_recipes(train_calls):
    result = _invoke("--data", "photos.parquet", "--recipe", "best", "--batch-size", "8", "--classes", "a,b,c",
                     "--class-weight", "balanced", "--no-mirror", "--epochs", "3", "--fine-tune-lr", "3e-5", "--no-calibrate")
    assert isinstance(result.exception, _Captured), result.output
    (call,) = train_calls
    assert call["data"] == "photos.parquet" and call["recipe"] == "best"
    given = _settings(call)
    assert given == {"batch_size": 8, "classes": ("a", "b", "c"), "class_weight": "balanced", "mirror": False,
                     "max_epochs": 3, "fine_tune_learning_rate": 3e-5, "calibrate": False}
    config = recipe_config(call["recipe"], **given)
    assert (config.batch_size, config.classes, config.class_weight, config.mirror) == (8, ("a", "b", "c"), "balanced", False)
    assert (config.image_size, config.tta, config.fine_tune_blocks) == (288, True, 3)  # the best recipe's, not given


def test_no_setting_given_passes_none(train_calls):
    result = _invoke("--data", "photos.parquet")
    assert isinstance(result.exception, _Captured), result.output
    assert _settings(train_calls[0]) == {}


@pytest.mark.parametrize("args, message", [
    (["--batch-size", "eight"], "Invalid value for '--batch-size': 'eight' is not a valid int"),
    (["--val-split", "a fifth"], "Invalid value for '--val-split'"),
    (["--classes", "cat,,dog"], "Invalid value for '--classes': 'cat,,dog' is not a list of names"),
    (["--mirror", "yes"], "Got unexpected extra argument(s) (yes)"),  # a switch takes no value
])
def test_a_value_of_the_wrong_form_is_a_usage_error(train_calls, args, message):
    result = _invoke("--data", "photos.parquet", *args)
    assert result.exit_code == 2, result.output
    assert message in _flat(result.output)
    assert train_calls == []


@pytest.mark.parametrize("args, message", [
    (["--batch-size", "0"], "Invalid setting: batch_size must be at least 1."),
    (["--class-weight", "heavy"], "Invalid setting: class_weight must be none, balanced or NAME=WEIGHT,NAME=WEIGHT (for example rabbit=3)."),
    (["--classes", "cat"], "Invalid setting: classes names two or more classes, for example cat,dog,rabbit."),
])
def test_a_value_out_of_range_is_one_sentence_with_the_usage_exit_code(tmp_path, args, message):
    """Checked by TrainConfig before any data is read; catdog.cli.main turns the UsageError into exit code 2
    (tests/test_cli.py runs that through the real entry point)."""
    result = _invoke("--data", str(tmp_path / "not-read.parquet"), "--out", str(tmp_path / "runs"), *args)
    assert isinstance(result.exception, UsageError), result.output
    assert str(result.exception) == message and result.exception.exit_code == 2
    assert not (tmp_path / "runs").exists()


def test_readme_names_only_flags_train_has():
    text = (ROOT / "README.md").read_text()
    block = text.split("## Commands", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    lines, inside = [], False
    for line in block.splitlines():  # a `catdog train` line and the indented lines that continue it
        inside = line.startswith("catdog train") or (inside and line.startswith(" "))
        if inside:
            lines.append(line.split("#", 1)[0])
    named = set(re.findall(r"--[a-z][a-z-]*", " ".join(lines)))
    flags = {name for param in _train_command().params for name in (*param.opts, *param.secondary_opts)}
    assert named and named <= flags, sorted(named - flags)
