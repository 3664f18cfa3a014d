import json
import os

import numpy as np
import pytest

from catdog.config import TrainConfig
from catdog.data.sources import MemorySource, Photo
from catdog.errors import ModelError, UsageError
from catdog.evaluate.metrics import classification_metrics, expected_calibration_error
from catdog.files import atomic_path, write_json
from catdog.run_folder import RunConfig, RunFolder
from catdog.training.feature_cache import FeatureCache
from catdog.training.pixel_store import PixelStore
from conftest import TRAIN, read_rows


def test_metrics_against_hand_computed_values():
    y = np.array([0, 0, 0, 1, 1, 1, 1, 1])
    p = np.array([0.1, 0.4, 0.7, 0.9, 0.8, 0.6, 0.3, 0.95])
    m = classification_metrics(y, p)
    assert set(m) == {"accuracy", "precision", "recall", "f1", "roc_auc", "log_loss", "ece", "confusion_matrix", "n", "skipped",
                      "per_class", "macro_precision", "macro_recall", "macro_f1"}
    assert m["confusion_matrix"] == [[2, 1], [1, 4]]
    assert m["accuracy"] == pytest.approx(6 / 8)
    assert m["precision"] == pytest.approx(4 / 5) and m["recall"] == pytest.approx(4 / 5)
    # 15 cat/dog pairs, 12 ranked with the dog above the cat
    assert m["roc_auc"] == pytest.approx(12 / 15)
    expected_loss = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    assert m["log_loss"] == pytest.approx(expected_loss)
    assert m["n"] == 8 and m["skipped"] == 0


def test_metrics_equal_scikit_learns_with_ties_and_both_kinds_of_error():
    """The metrics are NumPy (the [serve] install has no scikit-learn); scikit-learn is the reference."""
    from sklearn import metrics

    rng = np.random.default_rng(3)
    for trial in range(60):
        y = rng.integers(0, 2, int(rng.integers(2, 200)))
        p = np.round(rng.random(len(y)), 1) if trial % 2 else rng.random(len(y))  # rounded: many ties
        got = classification_metrics(y, p)
        clipped = np.clip(p, 1e-7, 1 - 1e-7)
        predicted = (clipped >= 0.5).astype(int)
        precision, recall, f1, _ = metrics.precision_recall_fscore_support(y, predicted, average="binary", zero_division=0)
        assert got["confusion_matrix"] == metrics.confusion_matrix(y, predicted, labels=[0, 1]).tolist()
        assert got["accuracy"] == pytest.approx(metrics.accuracy_score(y, predicted), abs=1e-12)
        assert (got["precision"], got["recall"], got["f1"]) == pytest.approx((precision, recall, f1), abs=1e-12)
        assert got["log_loss"] == pytest.approx(metrics.log_loss(y, clipped, labels=[0, 1]), abs=1e-12)
        if len(set(y)) == 2:
            assert got["roc_auc"] == pytest.approx(metrics.roc_auc_score(y, clipped), abs=1e-12)


def test_ece_is_zero_when_calibrated_and_large_when_overconfident():
    y = np.array([1] * 9 + [0])
    assert expected_calibration_error(y, np.full(10, 0.9)) == pytest.approx(0.0, abs=1e-9)
    assert expected_calibration_error(np.array([1, 0] * 5), np.full(10, 0.99)) == pytest.approx(0.49)


def test_single_class_metrics_report_auc_as_null():
    assert classification_metrics(np.ones(4), np.array([0.9, 0.8, 0.2, 0.7]))["roc_auc"] is None


def test_config_defaults_are_the_original_recipe_and_bad_values_are_refused():
    config = TrainConfig()
    assert (config.image_size, config.batch_size, config.val_split, config.patience, config.dropout, config.dense_units) == (
        224, 32, 0.2, 4, 0.5, 64)
    with pytest.raises(UsageError, match="val_split"):
        TrainConfig(val_split=1.5)
    with pytest.raises(UsageError, match="Unknown training setting"):
        TrainConfig.from_dict({"epochz": 3})


def test_run_folders_are_numbered_never_reused(tmp_path):
    first, second, third = (RunFolder.create(tmp_path, "train") for _ in range(3))
    assert [run.path.name for run in (first, second, third)] == ["train", "train-2", "train-3"]


def test_a_model_argument_resolves_to_its_run_folder(tmp_path):
    run = RunFolder.create(tmp_path, "run")
    run.model_path.write_bytes(b"model")
    run.write_config(RunConfig(threshold=0.5, neither_threshold=-2.0, pet_slope=3.0, status="complete"))
    assert RunFolder.resolve(run.path) == run == RunFolder.resolve(run.model_path)
    lone = tmp_path / "elsewhere" / "mine.keras"
    lone.parent.mkdir()
    lone.write_bytes(b"model")
    assert RunFolder.resolve(lone).model_path == lone and RunFolder.resolve(lone).read_config() == RunConfig()
    assert run.decision().neither_below == -2.0 and run.decision(neither=False).refuses is False
    with pytest.raises(ModelError, match="No model at"):
        RunFolder.resolve(tmp_path / "nothing")
    with pytest.raises(UsageError, match="finished already"):
        run.resumable()


def test_atomic_write_leaves_nothing_when_the_writer_fails(tmp_path):
    target = tmp_path / "metrics.json"
    write_json(target, {"a": np.float32(1.5)})
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash")
    assert json.loads(target.read_text()) == {"a": 1.5}
    assert os.listdir(tmp_path) == ["metrics.json"]


def test_feature_cache_round_trip_namespace_and_checksum(tmp_path):
    path = tmp_path / "cache.sqlite"
    cache = FeatureCache(path, namespace="backbone-a")
    photo = Photo(0, "x", 0, b"photo bytes")
    key = cache.key(photo)
    vector = np.arange(8, dtype=np.float32)
    cache.put_many({key: vector}, {"other-key": "truncated file"})
    found = cache.get_many([key, "other-key", "absent"])
    assert np.array_equal(found[key], vector) and found["other-key"] == "truncated file" and "absent" not in found
    assert FeatureCache(path, namespace="backbone-b").key(photo) != key
    # A damaged entry is treated as missing, so it is recomputed instead of trained on.
    cache._db.execute("UPDATE features SET vector = ? WHERE key = ?", (np.zeros(8, dtype=np.float32).tobytes(), key))
    cache._db.commit()
    assert key not in cache.get_many([key])


def test_pixel_store_reads_back_what_it_decoded(tmp_path):
    rows = read_rows(TRAIN, count=5)
    source = MemorySource([r["bytes"] for r in rows[:4]] + [b"broken"], labels=[r["label"] for r in rows])
    store = PixelStore(source, range(5), 32, threads=2, directory=tmp_path)
    try:
        assert len(store) == 4  # the broken one is left out
        from catdog.data.decode import decode_image

        assert np.array_equal(store.read(np.array([2]))[0], decode_image(rows[2]["bytes"], 32))
        assert store.labels.tolist() == [r["label"] for r in rows[:4]]
    finally:
        store.close()
    assert not store.path.exists()


def test_extract_features_never_recomputes_cached_photos_and_reports_broken_ones(tmp_path):
    from catdog.data.data_report import DataReport
    from catdog.training.features import extract_features

    rows = read_rows(TRAIN, count=6)
    source = MemorySource([r["bytes"] for r in rows] + [b"", b"not a photo"], labels=[0] * 8)
    cache = FeatureCache(tmp_path / "c.sqlite", namespace="mean-colour")
    calls = []

    def mean_colour(pixels):
        calls.append(len(pixels))
        return pixels.reshape(len(pixels), -1, 3).mean(axis=1)

    first_report = DataReport("memory")
    first = extract_features(source, None, mean_colour, cache, first_report, 32, batch_size=4, threads=2)
    assert sum(calls) == 6 and sorted(first) == list(range(6))
    assert [s["reason"] for s in first_report.skipped] == ["empty file (0 bytes)", "not an image (unrecognised format)"]

    def must_not_run(pixels):
        raise AssertionError("the backbone ran for a cached photo")

    second_report = DataReport("memory")
    second = extract_features(source, None, must_not_run, cache, second_report, 32, batch_size=4, threads=2)
    assert all(np.array_equal(first[i], second[i]) for i in first)
    assert len(second_report.skipped) == 2  # cached failures are still reported


@pytest.mark.slow  # trains nothing, but runs the whole backbone once per cut: 15 s
def test_backbone_split_at_every_cut_composes_to_the_whole_backbone():
    from catdog.model.backbone import build_backbone, resolve_weights
    from catdog.training.cut import split_backbone

    backbone = build_backbone(resolve_weights("imagenet"), 96)
    images = np.random.default_rng(0).uniform(-1, 1, (2, 96, 96, 3)).astype(np.float32)
    whole = backbone.predict_on_batch(images)
    for blocks in range(1, 7):
        lower, upper = split_backbone(backbone, blocks)
        np.testing.assert_allclose(upper.predict_on_batch(lower.predict_on_batch(images)), whole, atol=1e-4)
        assert not {w.path for w in lower.weights} & {w.path for w in upper.weights}


def test_view_batches_draw_one_view_per_photo_with_its_label():
    from catdog.training.cut import view_batches

    photo, mirror = np.zeros((50, 2, 2, 1)), np.ones((50, 2, 2, 1))
    labels = np.arange(50, dtype=np.float32)
    batches = view_batches([photo + labels[:, None, None, None], mirror + labels[:, None, None, None]], labels, 16, seed=0)
    seen_views, seen_labels = set(), []
    for index in range(len(batches)):
        x, y = batches[index]
        offsets = x[:, 0, 0, 0] - y  # 0 for the photo view, 1 for the mirror view
        assert set(np.unique(offsets)) <= {0.0, 1.0}
        seen_views |= set(np.unique(offsets))
        seen_labels += list(y)
    assert seen_views == {0.0, 1.0} and sorted(seen_labels) == list(labels)


def test_temperature_fit_averages_views_and_never_goes_below_its_floor():
    from catdog.evaluate.calibration import MIN_TEMPERATURE, fit_temperature

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 4000)
    z = np.where(y == 1, 1.0, -1.0)[:, None] * 2.0 + rng.normal(0, 2.0, (4000, 2))
    true_p = 1 / (1 + np.exp(-z / 2.5))
    labels = (rng.uniform(size=4000) < true_p.mean(axis=1)).astype(int)  # calibrated at T = 2.5, views averaged
    assert fit_temperature(1 / (1 + np.exp(-z)), labels) == pytest.approx(2.5, rel=0.15)
    separable = np.where(y == 1, 0.9, 0.1)[:, None].repeat(2, axis=1)
    assert fit_temperature(separable, y) == pytest.approx(MIN_TEMPERATURE, rel=1e-3)


def test_recipes_start_from_named_settings_that_explicit_values_override():
    from catdog.errors import UsageError
    from catdog.recipes import recipe_config

    assert recipe_config().to_dict() == {**TrainConfig().to_dict(), "recipe": "original"}
    best = recipe_config("best", fine_tune_epochs=3, seed=None)
    assert best.fine_tune_blocks == 3 and best.tta and best.fine_tune_epochs == 3 and best.seed == 42
    with pytest.raises(UsageError, match="Unknown recipe 'fast'; choose one of: original, best"):
        recipe_config("fast")
    with pytest.raises(UsageError, match="choose one fine-tuning mode"):
        TrainConfig(fine_tune=10, fine_tune_blocks=3)


@pytest.mark.parametrize("tta", [None, True, False])
def test_serve_settings_reach_uvicorn_workers_through_the_environment(tta, tmp_path, monkeypatch):
    from catdog.serve.app import ServeSettings

    settings = ServeSettings(model=tmp_path, engine="onnx", max_files=4, tta=tta)
    for key, value in settings.to_environment().items():
        monkeypatch.setenv(key, value)
    assert ServeSettings.from_environment() == settings


def test_an_internal_error_is_reported_in_one_short_line():
    from catdog.cli import _first_sentence

    tensor = "array([[[176., 159., 141.],\n" * 5000  # TensorFlow put whole tensors in such messages
    text = _first_sentence(TypeError(f"Binding inputs to tf.function failed due to `Can not cast <tf.Tensor: numpy=\n{tensor}"))
    assert "\n" not in text and len(text) <= 160 and text.startswith("Binding inputs to tf.function failed")
    assert _first_sentence(RuntimeError("Disk full. Then more words.")) == "Disk full"


def test_a_missing_optional_library_is_named_with_the_extra_that_installs_it():
    from catdog.errors import missing_library

    try:
        import catdog_no_such_library  # noqa: F401  a real failed import, of no optional library
    except ImportError as exc:
        assert missing_library(exc, "Serving") is None  # a bug, not something to install: stays an internal error
    error = missing_library(ModuleNotFoundError("No module named 'h5py'", name="h5py"), "Predicting", ModelError)
    assert isinstance(error, ModelError)
    assert str(error) == "Predicting needs h5py, which is not installed: pip install 'mobilenetv2-catdog[train]'."
    broken = missing_library(ImportError("cannot import name 'Thing' from 'uvicorn.config'", name="uvicorn.config"), "Serving")
    assert isinstance(broken, UsageError) and str(broken).startswith("Serving needs uvicorn, which is installed but does not import (cannot import")
    assert str(broken).endswith("reinstall it: pip install 'mobilenetv2-catdog[serve]' --force-reinstall.")


def test_an_engine_s_threads_are_shared_out_over_at_most_four_workers():
    from catdog.runtime import MAX_WORKERS, worker_threads

    assert worker_threads(1) == [1] and worker_threads(2) == [1, 1]
    assert worker_threads(6) == [2, 2, 1, 1] and worker_threads(16) == [4] * MAX_WORKERS
    assert all(sum(worker_threads(n)) == n for n in range(1, 40))
