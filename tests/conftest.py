"""Shared fixtures: the real photos from ../shared/data, a temporary Keras cache seeded from
../shared/weights (never the internet), and small parquet subsets written by the tests."""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from catdog.errors import OPTIONAL_LIBRARIES

ROOT = Path(__file__).resolve().parents[1]
CATDOG = str(Path(sys.executable).with_name("catdog"))
# Every run folder holds at least these.
RUN_FILES = {"model.keras", "config.json", "history.csv", "metrics.json", "data_report.json", "fit_result.png",
             "confusion_matrix.png", "roc_curve.png", "module_test.png", "README.md"}
# Fixtures that train a real model: a test that uses one is slow (`pytest -m "not slow"` leaves it out).
TRAINING_FIXTURES = {"trained", "exported_run", "cli_run", "server", "in_process", "app_client", "trained_scenes", "exported_scenes"}
SHARED = Path(os.environ.get("SHARED", ROOT.parent / "shared")).resolve()
DATA = SHARED / "data"
TRAIN = DATA / "train.parquet"
TEST = DATA / "test.parquet"
SHIFT = DATA / "shift.parquet"
# Every optional library that the [serve] extra does not install (test_serve_install.py installs [serve] alone).
NOT_SERVE = sorted(module for module, (_, extra) in OPTIONAL_LIBRARIES.items() if extra != "serve")


@pytest.fixture(scope="session", autouse=True)
def offline_environment(tmp_path_factory):
    """Every test, and every `catdog` subprocess a test starts, uses a temporary Keras cache holding
    the shared weights and a temporary feature cache."""
    home = tmp_path_factory.mktemp("keras_home")
    (home / "models").mkdir()
    for weights in (SHARED / "weights").glob("*.h5"):
        shutil.copy(weights, home / "models" / weights.name)
    saved = dict(os.environ)
    os.environ.update({
        "KERAS_HOME": str(home),
        "CATDOG_CACHE": str(tmp_path_factory.mktemp("feature_cache")),
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "HF_HUB_OFFLINE": "1",
    })
    os.environ.pop("CATDOG_WEIGHTS", None)
    yield home
    os.environ.clear()
    os.environ.update(saved)


def pytest_collection_modifyitems(items):
    for item in items:
        if TRAINING_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


def catdog(*args, env=None, timeout=600):
    """The real `catdog` entry point in a subprocess; progress bars off so stderr holds messages only."""
    return subprocess.run([CATDOG, *map(str, args)], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "CATDOG_PROGRESS": "0", **(env or {})})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def served(command: list[str], log_path: Path, env: dict[str, str] | None = None, timeout: float = 180):
    """`catdog serve ...` (command, without --port) as a real server on loopback: its URL once /readyz
    answers 200; stopped on exit. The server's output goes to log_path."""
    port = free_port()
    with open(log_path, "w") as log:
        process = subprocess.Popen([*command, "--port", str(port)], stdout=log, stderr=subprocess.STDOUT,
                                   env={**os.environ, "CATDOG_PROGRESS": "0"} if env is None else env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, log_path.read_text()
            time.sleep(0.5)
        else:
            pytest.fail("server did not become ready: " + log_path.read_text())
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def png_with_declared_size(width: int, height: int) -> bytes:
    """A PNG whose header claims a huge size but whose data is tiny: a decompression bomb's shape."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


def read_rows(path: Path, count: int | None = None, per_class: int | None = None, seed: int = 0) -> list[dict]:
    """Rows {bytes, path, label} of a shared parquet file: the first `count`, or `per_class` of each
    class (of every class the file has)."""
    table = pq.read_table(path)
    images = table.column("image").to_pylist()
    labels = table.column("labels").to_pylist()
    rows = [{"bytes": i["bytes"], "path": i["path"], "label": label} for i, label in zip(images, labels)]
    if per_class is not None:
        rng = np.random.default_rng(seed)
        chosen = []
        for value in sorted({r["label"] for r in rows if r["label"] is not None and r["label"] >= 0}):
            members = [r for r in rows if r["label"] == value]
            chosen += [members[i] for i in rng.permutation(len(members))[:per_class]]
        order = rng.permutation(len(chosen))
        return [chosen[i] for i in order]
    return rows[:count] if count is not None else rows


def write_parquet(path: Path, rows: list[dict], class_names: Sequence[str] | None = None) -> Path:
    """A parquet file in the Bingsu/Cat_and_Dog schema; with `class_names`, its labels' ClassLabel
    in the file's huggingface metadata, as `datasets` writes it."""
    table = pa.table({
        "image": pa.array([{"bytes": r["bytes"], "path": r["path"]} for r in rows],
                          type=pa.struct([("bytes", pa.binary()), ("path", pa.string())])),
        "labels": pa.array([r["label"] for r in rows], type=pa.int64()),
    })
    if class_names is not None:
        features = {"image": {"_type": "Image"}, "labels": {"names": list(class_names), "_type": "ClassLabel"}}
        table = table.replace_schema_metadata({"huggingface": json.dumps({"info": {"features": features}})})
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    return path


def broken_rows(good_jpeg: bytes) -> list[dict]:
    """Real broken inputs: cut short, corrupted, empty, and not an image at all."""
    corrupt = bytearray(good_jpeg)
    corrupt[200:] = np.random.default_rng(1).integers(0, 256, len(corrupt) - 200, dtype=np.uint8).tobytes()
    return [
        {"bytes": good_jpeg[: len(good_jpeg) // 3], "path": "truncated.jpg", "label": 0},
        {"bytes": bytes(corrupt[:200]) + b"\x00" * 64, "path": "corrupt.jpg", "label": 1},
        {"bytes": b"", "path": "empty.jpg", "label": 0},
        {"bytes": b"name,age\nfelix,3\n", "path": "notes.csv", "label": 1},
    ]


def jpeg_bytes(array: np.ndarray, **save_options) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="JPEG", **save_options)
    return buffer.getvalue()


@pytest.fixture(scope="session")
def train_rows():
    return read_rows(TRAIN, per_class=100, seed=0)


@pytest.fixture(scope="session")
def small_train(tmp_path_factory, train_rows) -> Path:
    return write_parquet(tmp_path_factory.mktemp("data") / "train_small.parquet", train_rows)


@pytest.fixture(scope="session")
def small_test(tmp_path_factory) -> Path:
    return write_parquet(tmp_path_factory.mktemp("data") / "test_small.parquet", read_rows(TEST, per_class=60, seed=1))


@pytest.fixture(scope="session")
def small_ood(tmp_path_factory) -> Path:
    """Photos with no cat or dog (flowers)."""
    return write_parquet(tmp_path_factory.mktemp("data") / "ood_small.parquet", read_rows(DATA / "ood.parquet", count=20))


@pytest.fixture(scope="session")
def trained(tmp_path_factory, small_train, small_test, small_ood):
    """One real training run through the Python API, shared by the tests that only read it."""
    import catdog

    return catdog.train(small_train, test=small_test, ood=small_ood, out=tmp_path_factory.mktemp("runs"), name="api")


SCENES = DATA / "scenes.parquet"
SCENE_CLASSES = ("buildings", "forest", "glacier", "mountain", "sea", "street")


@pytest.fixture(scope="session")
def small_scenes(tmp_path_factory) -> Path:
    """40 photos of each of the six scene classes, with their ClassLabel names."""
    return write_parquet(tmp_path_factory.mktemp("data") / "scenes_small.parquet", read_rows(SCENES, per_class=40, seed=0),
                         SCENE_CLASSES)


@pytest.fixture(scope="session")
def small_scenes_test(tmp_path_factory) -> Path:
    """Other scene photos (20 per class) than small_scenes'."""
    rows = read_rows(SCENES, per_class=60, seed=0)
    train_paths = {r["path"] for r in read_rows(SCENES, per_class=40, seed=0)}
    held = [r for r in rows if r["path"] not in train_paths]
    return write_parquet(tmp_path_factory.mktemp("data") / "scenes_test.parquet", held, SCENE_CLASSES)


@pytest.fixture(scope="session")
def trained_scenes(tmp_path_factory, small_scenes, small_scenes_test, small_train):
    """One real six-class run (the scene classes) through the Python API, shared by the tests that
    only read it; cats and dogs are its photos of none of the classes."""
    import catdog

    # (no first look: the class names are the point; test_glance fits a six-class first look of its own)
    return catdog.train(small_scenes, test=small_scenes_test, ood=small_train, out=tmp_path_factory.mktemp("runs"), name="scenes",
                        glance_size=0)


EXPORTED = ("onnx", "onnx-int8", "tflite", "tflite-fp16", "tflite-int8", "savedmodel", "web")
# The web runtime tarball `make web-runtime` puts in the project's cache: tests never download it.
WEB_RUNTIME = Path(os.environ.get("CATDOG_CACHE", ROOT / ".cache" / "catdog")) / "web-runtime" / "tasks-vision-1.1.0.tgz"


@pytest.fixture(scope="session")
def web_runtime_tarball() -> Path:
    assert WEB_RUNTIME.is_file(), f"{WEB_RUNTIME} is missing: run `make web-runtime` first"
    return WEB_RUNTIME


@pytest.fixture(scope="session")
def exported_run(trained, tmp_path_factory, small_train, web_runtime_tarball):
    """A copy of the trained run with every export (`--format all`: the two ONNX files, the three
    TFLite files, SavedModel and the web page), made by the CLI as a user would."""
    run = tmp_path_factory.mktemp("exported") / "run"
    shutil.copytree(trained.run_dir, run)
    args = [CATDOG, "export", "--model", str(run), "--data", str(small_train), "--format", "all", "--runtime", str(web_runtime_tarball)]
    result = subprocess.run(args, capture_output=True, text=True, env={**os.environ, "CATDOG_PROGRESS": "0"})
    assert result.returncode == 0, result.stderr
    return run


@pytest.fixture(scope="session")
def exported_scenes(trained_scenes, tmp_path_factory, small_scenes, web_runtime_tarball):
    """A copy of the six-class run with every export (`--format all`), made by the CLI as a user would."""
    run = tmp_path_factory.mktemp("exported") / "scenes"
    shutil.copytree(trained_scenes.run_dir, run)
    args = [CATDOG, "export", "--model", str(run), "--data", str(small_scenes), "--format", "all", "--runtime", str(web_runtime_tarball)]
    result = subprocess.run(args, capture_output=True, text=True, env={**os.environ, "CATDOG_PROGRESS": "0"})
    assert result.returncode == 0, result.stderr
    return run
