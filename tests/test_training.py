"""Real training on a real subset of ../shared/data through the Python API."""

import json

import numpy as np
import pytest
from PIL import Image

from catdog import Classifier
from catdog.data.decode import decode_image
from conftest import RUN_FILES, TEST, read_rows, write_parquet


def test_training_learns_far_above_chance_and_writes_a_complete_run_folder(trained):
    run = trained.run_dir
    assert RUN_FILES <= {p.name for p in run.iterdir()}
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test"]["n"] == 120 and metrics["test"]["skipped"] == 0
    assert metrics["test"]["accuracy"] >= 0.9, metrics["test"]
    assert metrics["validation"]["n"] == 40
    history = (run / "history.csv").read_text().splitlines()
    assert history[0] == "phase,epoch,loss,accuracy,val_loss,val_accuracy" and len(history) >= 2
    config = json.loads((run / "config.json").read_text())
    assert config["config"]["dense_units"] == 64 and config["versions"]["keras"].startswith("3.")
    assert "accuracy" in (run / "README.md").read_text()


def test_saved_model_takes_raw_pixels_and_has_preprocessing_inside(trained):
    model = trained.classifier.engine.model
    assert model.get_layer("scale_to_unit_range").get_config()["offset"] == -1.0
    photo = read_rows(TEST, count=1)[0]["bytes"]
    raw = decode_image(photo, 224)[None].astype(np.float32)
    # The model scales inside: raw pixels give what the Keras backbone gives for pixels scaled by hand to [-1, 1].
    import keras

    from catdog.model.build import backbone_of

    backbone = backbone_of(model)
    by_hand = keras.Model(backbone.input, backbone.output if not isinstance(backbone.output, list) else backbone.output[0])
    inside = keras.Model(model.inputs, model.get_layer("pool").input)
    assert np.allclose(np.asarray(inside.predict_on_batch(raw)), np.asarray(by_hand.predict_on_batch(raw / 127.5 - 1.0)), atol=1e-4)


def test_load_round_trip_gives_identical_probabilities(trained, small_test):
    loaded = Classifier.load(trained.run_dir, glance=False)
    assert np.allclose(loaded.predict_proba(small_test), trained.classifier.predict_proba(small_test), atol=1e-6)
    assert loaded.config == trained.classifier.config


def test_predict_accepts_paths_bytes_arrays_and_pil_images(trained, tmp_path):
    rows = read_rows(TEST, count=3)
    path = tmp_path / "photo.jpg"
    path.write_bytes(rows[0]["bytes"])
    clf = trained.classifier
    by_path = clf.predict_proba(path)[0, 1]
    array = np.asarray(Image.open(path).convert("RGB"))
    assert clf.predict_proba(rows[0]["bytes"])[0, 1] == pytest.approx(by_path, abs=1e-6)
    # Arrays and PIL images go through the same decoder; only JPEG vs PNG re-encoding differs.
    assert clf.predict_proba(array)[0, 1] == pytest.approx(by_path, abs=0.05)
    assert clf.predict_proba(Image.open(path))[0, 1] == pytest.approx(by_path, abs=0.05)
    labels = clf.predict([r["bytes"] for r in rows] + [b"broken"])
    assert labels[:3] == [("dog" if r["label"] else "cat") for r in rows] and labels[3] is None
    assert np.isnan(clf.predict_proba([b"broken"])).all()


def test_evaluate_reports_every_metric_and_counts_skips(trained, tmp_path):
    rows = read_rows(TEST, per_class=10, seed=5) + [{"bytes": b"", "path": "empty.jpg", "label": 1}]
    metrics = trained.classifier.evaluate(write_parquet(tmp_path / "eval.parquet", rows))
    assert set(metrics) == {"accuracy", "precision", "recall", "f1", "roc_auc", "log_loss", "ece",
                            "confusion_matrix", "n", "skipped", "refused", "answer_accuracy", "answers",
                            "per_class", "macro_precision", "macro_recall", "macro_f1"}
    assert metrics["n"] == 20 and metrics["skipped"] == 1
    assert sum(map(sum, metrics["confusion_matrix"])) == 20 and sum(map(sum, metrics["answers"])) == 20


@pytest.mark.slow
def test_fine_tune_with_augmentation_moves_only_the_top_layers(tmp_path, train_rows):
    data = write_parquet(tmp_path / "tiny.parquet", train_rows[:40])
    clf = Classifier(fine_tune=8, fine_tune_epochs=1, max_epochs=2, augment=True, batch_size=16, glance_size=0)
    from catdog.model.backbone import build_backbone, resolve_weights

    original = build_backbone(resolve_weights("imagenet"), 224)
    clf.fit(data)
    phases = [row["phase"] for row in clf.history_]
    assert phases.count("fine_tune") == 1 and phases[0] == "head"
    from catdog.model.build import backbone_of

    tuned = backbone_of(clf.engine.model)
    changed = [layer.name for layer, o in zip(tuned.layers, original.layers)
               if layer.weights and not all(np.array_equal(a, b) for a, b in zip(layer.get_weights(), o.get_weights()))]
    top = {layer.name for layer in tuned.layers[-8:]}
    assert changed and set(changed) <= top, changed
    assert not any("bn" in name.lower() or "batchnorm" in name.lower() for name in changed)
    path = clf.save(tmp_path / "tuned.keras")
    assert Classifier.load(path).predict([train_rows[0]["bytes"]])[0] in ("cat", "dog")


@pytest.mark.slow
def test_best_recipe_tunes_only_the_top_blocks_from_cached_activations_and_predicts_with_tta(tmp_path, train_rows):
    from catdog.model.backbone import build_backbone, resolve_weights
    from catdog.model.build import backbone_of
    from catdog.recipes import recipe_config
    from catdog.training.cut import cut_layer
    from catdog.training.feature_cache import FeatureCache

    data = write_parquet(tmp_path / "tiny.parquet", train_rows[:60])
    cache = tmp_path / "cache" / "features.sqlite"
    # (no first look: the cache is counted below; tests/test_glance.py has it)
    clf = Classifier(recipe_config("best", fine_tune_epochs=2, max_epochs=3, glance_size=0), cache_path=cache).fit(data)
    phases = [row["phase"] for row in clf.history_]
    assert phases[0] == "head" and phases.count("fine_tune") >= 1, phases

    original = build_backbone(resolve_weights("imagenet"), 224)
    tuned = backbone_of(clf.engine.model)
    names = [layer.name for layer in tuned.layers]
    first_tuned = names.index(cut_layer(3)) + 1
    changed = {layer.name for layer, o in zip(tuned.layers, original.layers)
               if layer.weights and not all(np.array_equal(a, b) for a, b in zip(layer.get_weights(), o.get_weights()))}
    assert changed and changed <= set(names[first_tuned:]), sorted(changed)
    assert "block_16_project" in changed and "Conv_1" in changed
    assert not any(name.endswith("_BN") or name.endswith("_bn") for name in changed)
    # p(dog) averages the tuned head's logit with a head's on the frozen features (frozen_head_average).
    assert {"frozen_head", "mean_logit"} <= {layer.name for layer in clf.engine.model.layers}

    # Both views of every photo are cached below the cut: a rerun computes nothing new.
    entries = len(FeatureCache(cache, namespace="any"))
    assert entries == 2 * 60
    Classifier(recipe_config("best", fine_tune_epochs=1, max_epochs=1, glance_size=0), cache_path=cache).fit(data)
    assert len(FeatureCache(cache, namespace="any")) == entries

    # The saved run predicts with test-time augmentation unless told otherwise; tta=False is one pass.
    run = tmp_path / "run"
    run.mkdir()
    clf.save(run)
    with_tta, without = Classifier.load(run, tta_all=True, glance=False), Classifier.load(run, tta=False, glance=False)
    assert with_tta.config.recipe == "best" and with_tta.tta and not without.tta
    photo = train_rows[70]["bytes"]
    pixels = decode_image(photo, without.engine.image_size)[None]  # 288 px in the best recipe
    expected = (without.predict_pixels(pixels)[0] + without.predict_pixels(pixels[:, :, ::-1].copy())[0]) / 2
    assert with_tta.predict_proba([photo])[0, 1] == pytest.approx(float(expected[0]), abs=1e-5)

    # Scores right after fitting come from the activations cached below the cut, through the tuned
    # blocks and the frozen copy that gives the pet score: the same as the whole model.
    cached = clf.scores(data)
    clf.cached_scores_ = None
    whole = clf.scores(data)
    assert np.allclose(cached.p, whole.p, atol=1e-4) and np.allclose(cached.pet_score, whole.pet_score, rtol=1e-3, atol=1e-3)


@pytest.mark.slow
@pytest.mark.parametrize("mode", [
    {"recipe": "best", "fine_tune_epochs": 1, "max_epochs": 2},  # blocks on cached activations, mirror, TTA, frozen head
    {"recipe": "original", "fine_tune": 20, "fine_tune_epochs": 1, "augment": True, "max_epochs": 2},  # layers on pixels
], ids=["best-recipe", "fine-tune-on-pixels"])
def test_every_fine_tuning_mode_trains_a_three_class_softmax_and_answers_by_name(tmp_path, mode):
    """Three scene classes (ClassLabel names in the file) through each fine-tuning mode: the softmax
    head, the calibration, the "none of these" score, the save / load round trip."""
    from catdog.recipes import recipe_config
    from conftest import SCENE_CLASSES, SCENES

    rows = [r for r in read_rows(SCENES, per_class=12, seed=4) if r["label"] in (0, 1, 4)]
    for r in rows:
        r["label"] = {0: 0, 1: 1, 4: 2}[r["label"]]
    data = write_parquet(tmp_path / "three.parquet", rows, ("buildings", "forest", "sea"))
    settings = dict(mode)
    # The session's feature cache (conftest's offline environment): its converted backbones are shared.
    clf = Classifier(recipe_config(settings.pop("recipe"), **settings, glance_size=0)).fit(data)
    assert clf.classes_ == ("buildings", "forest", "sea") and clf.config.classes == clf.classes_
    assert clf.engine.model.output_shape[-1] == 4  # three probabilities and the score
    assert [row["phase"] for row in clf.history_].count("fine_tune") >= 1
    others = [r["bytes"] for r in read_rows(SCENES, per_class=20, seed=9) if r["label"] in (0, 1, 4)][:6]
    proba = clf.predict_proba(others)
    assert proba.shape == (6, 3) and np.allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    assert set(clf.predict(others)) <= {"buildings", "forest", "sea", "none of these"}
    run = tmp_path / "run"
    run.mkdir()
    clf.save(run)
    loaded = Classifier.load(run, engine="keras")
    assert loaded.classes_ == clf.classes_ and np.allclose(loaded.predict_proba(others), proba, atol=1e-5)
    assert SCENE_CLASSES[:2] == ("buildings", "forest")
