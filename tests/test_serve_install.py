"""The TensorFlow-free install, for real: a fresh venv with `pip install -c constraints.txt ".[serve]"`
alone predicts (ONNX, TFLite) and serves an exported run with the full install's answers, and names
the library that is missing when a command needs more."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from conftest import DATA, NOT_SERVE, ROOT, TEST, catdog, read_rows, served

pytestmark = pytest.mark.slow  # builds a venv (pip's cache makes it ~20 s; the first time downloads ~150 MB)

# The inference path, which must import with [serve] alone.
INFERENCE_MODULES = ("catdog", "catdog.cli", "catdog.classifier", "catdog.serve.app", "catdog.runtime.select",
                     "catdog.scale.batch", "catdog.evaluate.metrics", "catdog.runtime.manifest")


def _isolated_env() -> dict[str, str]:
    """The environment for the fresh venv: nothing of the full install's leaks in through PYTHONPATH."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    return {**env, "PYTHONNOUSERSITE": "1", "CATDOG_PROGRESS": "0"}


@pytest.fixture(scope="session")
def serve_venv(tmp_path_factory) -> Path:
    """A fresh venv holding `.[serve]` only, installed from a copy of the project's files (not the
    working tree's build/ folder, whose stale files setuptools would ship)."""
    base = tmp_path_factory.mktemp("serve_install")
    project = base / "project"
    project.mkdir()
    for name in ("pyproject.toml", "README.md", "constraints.txt"):
        shutil.copy(ROOT / name, project / name)
    shutil.copytree(ROOT / "src", project / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    install = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                              "-c", "constraints.txt", ".[serve]"], cwd=project, capture_output=True, text=True,
                             timeout=900, env=_isolated_env())
    assert install.returncode == 0, install.stdout[-3000:] + install.stderr[-3000:]
    return venv


def _run(venv: Path, *args, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([str(venv / "bin" / "catdog"), *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=_isolated_env())


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> list[Path]:
    """Three cats, three dogs, a photo with no pet and a file that is no photo."""
    folder = tmp_path_factory.mktemp("serve_install_photos")
    rows = read_rows(TEST, per_class=3, seed=5) + read_rows(DATA / "ood.parquet", count=1)
    paths = []
    for number, row in enumerate(rows):
        paths.append(folder / f"{number}_{Path(row['path'] or 'photo.jpg').name}")
        paths[-1].write_bytes(row["bytes"])
    paths.append(folder / "notes.txt")
    paths[-1].write_text("name,age\nfelix,3\n")
    return paths


def test_serve_install_holds_no_training_library_and_imports_the_inference_path(serve_venv):
    probe = ("import importlib, importlib.util, json, sys\n"
             f"installed = [m for m in {NOT_SERVE!r} if importlib.util.find_spec(m) is not None]\n"
             f"for module in {INFERENCE_MODULES!r}: importlib.import_module(module)\n"
             "print(json.dumps({'installed': installed, 'catdog': importlib.import_module('catdog').__file__}))\n")
    result = subprocess.run([str(serve_venv / "bin" / "python"), "-c", probe], capture_output=True, text=True,
                            timeout=120, env=_isolated_env())
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert found["installed"] == []  # else this file would test nothing
    assert found["catdog"].startswith(str(serve_venv))  # the installed package, not the working tree


@pytest.mark.parametrize("engine", ["onnx", "onnx-int8", "tflite"])
def test_predict_with_serve_alone_gives_the_full_installs_answers(serve_venv, exported_run, photos, engine):
    full = catdog("predict", "--model", exported_run, "--engine", engine, "--json", *photos)
    assert full.returncode == 0, full.stderr
    alone = _run(serve_venv, "predict", "--model", exported_run, "--engine", engine, "--json", *photos)
    assert alone.returncode == 0, alone.stderr
    expected, got = json.loads(full.stdout), json.loads(alone.stdout)
    assert [(p["name"], p["label"], p["error"]) for p in got] == [(p["name"], p["label"], p["error"]) for p in expected]
    assert {p["label"] for p in got} >= {"cat", "dog"} and got[-1]["error"] == "not an image (unrecognised format)"
    for mine, theirs in zip(got[:-1], expected[:-1]):
        assert mine["p_dog"] == pytest.approx(theirs["p_dog"], abs=1e-6)
        assert mine["pet_score"] == pytest.approx(theirs["pet_score"], abs=1e-6)


def test_evaluate_with_serve_alone_gives_the_full_installs_metrics(serve_venv, exported_run, small_test, small_ood):
    args = ("evaluate", "--model", exported_run, "--engine", "onnx", "--data", small_test, "--ood", small_ood, "--json")
    full, alone = catdog(*args), _run(serve_venv, *args)
    assert full.returncode == 0 and alone.returncode == 0, full.stderr + alone.stderr
    expected, got = json.loads(full.stdout), json.loads(alone.stdout)
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        if isinstance(value, float):
            assert got[key] == pytest.approx(value, abs=1e-9), key
        elif key != "ood":
            assert got[key] == value, key
    tradeoff, expected_tradeoff = got["ood"].pop("tradeoff"), expected["ood"].pop("tradeoff")
    assert got["ood"] == pytest.approx(expected["ood"], abs=1e-9)
    assert [row["point"] for row in tradeoff] == [row["point"] for row in expected_tradeoff]
    for row, want in zip(tradeoff, expected_tradeoff):
        assert {k: v for k, v in row.items() if k != "point"} == pytest.approx({k: v for k, v in want.items() if k != "point"}, abs=1e-9)


def test_serve_alone_serves_the_full_installs_answers(serve_venv, exported_run, photos, tmp_path):
    # The server gives every photo the full look.
    full = catdog("predict", "--model", exported_run, "--engine", "onnx", "--no-glance", "--json", *photos)
    assert full.returncode == 0, full.stderr
    expected = json.loads(full.stdout)
    command = [str(serve_venv / "bin" / "catdog"), "serve", "--model", str(exported_run), "--engine", "onnx"]
    with served(command, tmp_path / "server.log", env=_isolated_env()) as url:
        assert httpx.get(url + "/readyz").json()["model"]["engine"] == "onnx:onnx"
        files = [("files", (path.name, path.read_bytes(), "image/jpeg")) for path in photos]
        response = httpx.post(url + "/v1/predict", files=files, timeout=120)
        assert response.status_code == 200, response.text
        got = response.json()["predictions"]
        assert [(p["filename"], p["label"], p["error"]) for p in got] == [(p["name"], p["label"], p["error"]) for p in expected]
        for mine, theirs in zip(got[:-1], expected[:-1]):
            assert mine["p_dog"] == pytest.approx(theirs["p_dog"], abs=1e-6)
        not_a_photo = httpx.post(url + "/v1/predict", files=[("files", ("notes.txt", photos[-1].read_bytes(), "text/plain"))])
        assert not_a_photo.status_code == 422 and not_a_photo.json()["error"] == "notes.txt: not an image (unrecognised format)"
        explain = httpx.post(url + "/v1/explain", files=files[:1], timeout=60)
        assert explain.status_code == 501 and "needs TensorFlow" in explain.json()["error"]


def test_serve_alone_names_what_is_missing(serve_venv, exported_run, photos, small_train, tmp_path):
    keras = _run(serve_venv, "predict", "--model", exported_run, "--engine", "keras", photos[0])
    assert keras.returncode == 4 and "needs TensorFlow" in keras.stderr, keras.stderr
    train = _run(serve_venv, "train", "--data", small_train, "--out", tmp_path / "runs")
    assert train.returncode == 2, train.stderr
    assert "needs Keras, which is not installed: pip install 'mobilenetv2-catdog[train]'." in train.stderr
    assert "Internal error" not in train.stderr
