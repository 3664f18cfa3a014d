"""Crash-safe training: SIGKILL midway then --resume; Ctrl-C leaves a usable best model."""

import csv
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from catdog import Classifier
from conftest import CATDOG, RUN_FILES, catdog, write_parquet

pytestmark = pytest.mark.slow  # every test here trains a real model in a subprocess


def start_training(data: Path, out: Path, epochs: int = 4):
    return subprocess.Popen([CATDOG, "train", "--data", str(data), "--out", str(out), "--name", "crash",
                             "--fine-tune", "8", "--fine-tune-epochs", str(epochs), "--batch-size", "16", "--epochs", "5"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "CATDOG_PROGRESS": "0"})


def wait_for_checkpoint(state: Path, process, phase: str, epochs_done: int, timeout: float = 600) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        assert process.poll() is None, process.stderr.read()
        if state.is_file():
            saved = json.loads(state.read_text())
            if saved["phase"] == phase and saved["epochs_done"] >= epochs_done:
                return saved
        time.sleep(0.2)
    pytest.fail(f"no {phase} checkpoint with {epochs_done} epoch(s) within {timeout} s")


def test_killed_run_resumes_to_a_complete_run_folder(tmp_path, train_rows):
    data = write_parquet(tmp_path / "data.parquet", train_rows[:100])
    run = tmp_path / "runs" / "crash"
    process = start_training(data, tmp_path / "runs")
    before = wait_for_checkpoint(run / "checkpoint.json", process, "fine_tune", 1)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (run / "model.keras").exists() and (run / "checkpoint.keras").is_file()
    assert json.loads((run / "config.json").read_text())["status"] == "training"

    first_look = (run / "glance" / "model.keras").read_bytes()  # fitted before the full model, so before the kill
    result = catdog("train", "--resume", run)
    assert result.returncode == 0, result.stderr
    assert "Resuming from" in result.stderr and result.stdout.strip().splitlines()[-1] == str(run)
    assert "Keeping the first look" in result.stderr and "Fitting the first look" not in result.stderr
    assert (run / "glance" / "model.keras").read_bytes() == first_look
    assert RUN_FILES <= {p.name for p in run.iterdir()}
    assert not (run / "checkpoint.keras").exists() and not (run / "checkpoint.json").exists()
    assert json.loads((run / "config.json").read_text())["status"] == "complete"
    rows = list(csv.DictReader((run / "history.csv").open()))
    tuned = [int(r["epoch"]) for r in rows if r["phase"] == "fine_tune"]
    assert len(tuned) == 4 and tuned == sorted(set(tuned)), tuned  # no epoch lost or repeated
    head_before = [r for r in before["history"] if r["phase"] == "head"]
    assert [int(r["epoch"]) for r in rows if r["phase"] == "head"] == [r["epoch"] for r in head_before]  # not retrained
    assert Classifier.load(run, engine="keras").predict([train_rows[0]["bytes"]])[0] in ("cat", "dog", "neither")

    again = catdog("train", "--resume", run)
    assert again.returncode == 2 and "finished already" in again.stderr


def test_ctrl_c_leaves_a_usable_best_model_and_says_where(tmp_path, train_rows):
    data = write_parquet(tmp_path / "data.parquet", train_rows[:100])
    run = tmp_path / "runs" / "crash"
    process = start_training(data, tmp_path / "runs", epochs=20)
    wait_for_checkpoint(run / "checkpoint.json", process, "head", 0)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 130, stderr
    message = " ".join(stderr.split())
    assert f"The best model so far is {run / 'checkpoint.keras'}" in message and f"--resume {run}" in message
    assert Classifier.load(run / "checkpoint.keras", engine="keras").predict([train_rows[0]["bytes"]])[0] in ("cat", "dog")
