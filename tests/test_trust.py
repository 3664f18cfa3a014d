"""Grad-CAM, "neither", calibration, robustness and TTA on the model trained by the `trained` fixture."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from catdog import Classifier
from catdog.data.decode import decode_image
from catdog.decide import TTA_MARGINS
from catdog.evaluate.calibration import apply_temperature, fit_temperature
from catdog.evaluate.robustness import CORRUPTIONS, SEVERITIES, corrupt_batch
from conftest import DATA, TEST, catdog, read_rows

OOD = DATA / "ood.parquet"


def test_gradcam_heat_lies_on_the_cat_not_on_the_grey_half(trained, tmp_path):
    classifier = trained.classifier
    cats = [r for r in read_rows(TEST, count=40) if r["label"] == 0]
    # The photo the model is surest is a cat, squeezed into the left half of a grey picture.
    best = max(cats, key=lambda r: classifier.predict_proba(r["bytes"])[0, 0])  # columns: p(cat), p(dog)
    cat = decode_image(best["bytes"], 224)
    picture = np.full((224, 224, 3), 127, dtype=np.uint8)
    picture[:, :112] = np.asarray(Image.fromarray(cat).resize((112, 224)))
    from catdog.explain.run import write_explanations

    [explanation] = classifier.explain([picture])
    [answer] = classifier.predict_photos([picture])
    # The heat is the cat's; the answer and p(dog) are what predict says, as the grid's title shows them.
    assert explanation.explained == "cat" and explanation.label == answer.label and explanation.p_dog == pytest.approx(answer.p_dog)
    heat = explanation.heatmap
    assert heat.shape == (224, 224) and 0 <= heat.min() and heat.max() == pytest.approx(1.0)
    assert heat[:, :112].sum() > 0.7 * heat.sum(), heat[:, :112].sum() / heat.sum()
    written = write_explanations([explanation], tmp_path / "cams")
    assert [p.name for p in written] == ["000_photo 0_gradcam.png", "grid.png"]


def test_neither_separates_flowers_from_cats_and_dogs(trained, small_test):
    classifier = trained.classifier
    assert classifier.neither_threshold_ is not None
    metrics = classifier.evaluate(small_test, ood=OOD)
    ood = metrics["ood"]
    # A small model (160 training photos) separates far better than chance, where refusing about 1 % of
    # cats and dogs would refuse about 1 % of flowers; full-data figures are in docs/TRUST.md.
    assert ood["n_ood"] == 100 and ood["auroc"] >= 0.95, ood
    assert ood["refused_ood"] >= 0.6 and ood["refused_in"] <= 0.05, ood
    assert metrics["refused"] == ood["refused_in"]
    flowers = classifier.predict_photos(OOD)
    assert sum(p.label == "neither" for p in flowers) == round(ood["refused_ood"] * 100)
    # The answer is "neither" exactly when the pet score is under the run's threshold.
    assert all((p.label == "neither") == (p.pet_score < classifier.neither_threshold_) for p in flowers)


def test_the_saved_model_computes_the_fitted_pet_score(trained):
    """The pet-score layer inside model.keras gives what the NumPy scorer fitted in training gives."""
    from catdog.model.build import feature_model_of

    classifier = trained.classifier
    model = classifier.engine.model
    pixels = np.stack([decode_image(r["bytes"]) for r in read_rows(TEST, count=6) + read_rows(OOD, count=4)])
    features = np.asarray(feature_model_of(model).predict_on_batch(pixels.astype(np.float32)))
    from_layer = np.asarray(model.predict_on_batch(pixels.astype(np.float32)))[:, 1]
    assert np.allclose(from_layer, classifier.pet_scorer_(features), atol=2e-3), (from_layer, classifier.pet_scorer_(features))
    components = classifier.pet_scorer_.components(features)
    assert components.shape == (10, 3) and np.isfinite(components).all()


def test_the_pet_score_layer_stores_its_large_constants_as_int8_and_computes_what_the_scorer_does(tmp_path):
    """Fitted on made-up features: the layer holds the ImageNet classifier once, the reference photos
    and the density's directions as int8, and gives the NumPy scorer's score, saved and loaded again."""
    import keras

    from catdog.model import pet_score as ps
    from catdog.model.layers import PetScore

    rng = np.random.default_rng(3)
    dim = 24
    kernel, bias = (rng.normal(size=(dim, 1000)) * 0.2).astype(np.float32), rng.normal(size=1000).astype(np.float32)
    features, labels = np.abs(rng.normal(size=(300, dim))), np.arange(300) % 2
    scorer, _, _, _ = ps.fit_pet_scorer([features], labels, (kernel, bias), seed=0)
    inputs = keras.Input((dim,))
    keras.Model(inputs, PetScore.from_scorer(scorer)(inputs)).save(tmp_path / "m.keras")
    model = keras.saving.load_model(tmp_path / "m.keras")
    stored = {v.path.split("/")[-1]: v for v in model.get_layer("pet_score").weights}
    assert {name: stored[name].dtype for name in ("imagenet_kernel", "reference", "directions")} == dict.fromkeys(
        ("imagenet_kernel", "reference", "directions"), "int8")
    assert tuple(stored["imagenet_kernel"].shape) == (dim, 1000) and not {"pet_kernel", "other_kernel", "lookalike_kernel"} & set(stored)
    photos = np.abs(rng.normal(size=(40, dim))).astype(np.float32)
    photos[:5] *= 4  # far from the training photos
    assert np.allclose(np.asarray(model.predict_on_batch(photos))[:, 0], scorer(photos), atol=1e-4)


def test_int8_storage_keeps_the_imagenet_classifier_exact_and_the_rest_within_half_a_step():
    """MobileNetV2's ImageNet classifier has 8-bit weights (at most 255 values per column, evenly
    spaced): one int8 per weight and a scale per column store it exactly."""
    from catdog.model.pet_score import dequantized, imagenet_classifier, quantized
    from conftest import SHARED

    kernel, _ = imagenet_classifier(SHARED / "weights" / "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5")
    stored, scale = quantized(kernel, 0)
    assert stored.dtype == np.int8 and scale.shape == (1000,)
    assert np.abs(dequantized(stored, scale, 0) - kernel).max() <= 1e-6 * np.abs(kernel).max()
    rows = np.random.default_rng(0).normal(size=(50, 1280))
    stored, scale = quantized(rows, 1)
    assert scale.shape == (50,) and np.all(np.abs(dequantized(stored, scale, 1) - rows) <= scale[:, None] / 2 + 1e-12)


def test_a_model_saved_before_int8_storage_loads_and_scores_as_it_did():
    """tests/data/legacy_pet_score.keras was saved by the layer of commit 24d96d9 (float32 kernels per
    class set, float32 reference photos and directions, the lookalike gate) with the scores it gave."""
    import keras

    import catdog.model.layers  # noqa: F401  registers PetScore

    data = Path(__file__).parent / "data"
    model = keras.saving.load_model(data / "legacy_pet_score.keras")
    saved = np.load(data / "legacy_pet_score.npz")
    assert np.allclose(np.asarray(model.predict_on_batch(saved["features"])), saved["scores"], atol=1e-6)


SHIFT = DATA / "shift.parquet"


def test_dogs_and_cats_of_other_breeds_are_not_refused(trained):
    """Oxford-IIIT Pet photos (breeds, cameras and framing unlike the training photos): the pet score
    of the ImageNet classifier's dog breeds and cats keeps them from being answered "neither"."""
    rows = [r for r in read_rows(SHIFT) if r["path"].split("_")[0].lower() in ("chihuahua", "samoyed", "pug", "Sphynx".lower())][:12]
    answers = trained.classifier.predict([r["bytes"] for r in rows])
    assert len(rows) == 12 and answers.count("neither") == 0, list(zip([r["path"] for r in rows], answers))


def test_no_neither_answers_every_photo_cat_or_dog(trained, small_test):
    plain = Classifier.load(trained.run_dir, engine="keras", neither=False)
    assert set(plain.predict(OOD)) <= {"cat", "dog"}
    metrics = plain.evaluate(small_test)
    assert metrics["refused"] == 0 and metrics["answer_accuracy"] == metrics["accuracy"]


def test_evaluate_cli_adds_the_ood_object_and_what_users_are_answered(trained, small_test):
    result = catdog("evaluate", "--model", trained.run_dir, "--data", small_test, "--ood", OOD, "--json")
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout)
    assert set(metrics["ood"]) >= {"auroc", "refused_ood", "refused_in"}
    answers = np.array(metrics["answers"])
    assert answers.shape == (2, 3) and answers.sum() == metrics["n"]
    assert metrics["refused"] == pytest.approx(answers[:, 2].sum() / metrics["n"])
    assert metrics["answer_accuracy"] == pytest.approx(np.trace(answers[:, :2]) / metrics["n"])
    no_neither = json.loads(catdog("evaluate", "--model", trained.run_dir, "--data", small_test, "--json", "--no-neither").stdout)
    assert no_neither["refused"] == 0 and no_neither["accuracy"] == metrics["accuracy"]


def test_refuse_moves_the_neither_threshold_as_documented(exported_run, small_test):
    """--refuse strict refuses at least what the default does, lenient at most; each point is the one
    the run saved; a rate outside (0, 0.5) is a usage error that says what to pass. (Through the run's
    float ONNX export and its full look only: the points are the run's, whichever engine scores.)"""
    config = json.loads((exported_run / "config.json").read_text())
    saved = dict((rate, threshold) for rate, threshold in config["neither_points"])
    assert saved[config["config"]["neither_rate"]] == config["neither_threshold"]
    refused = {}
    for point in ("lenient", "default", "strict", "0.05"):
        if point in ("default", "0.05"):  # a name and a share on the command line; the other names through the API
            result = catdog("evaluate", "--model", exported_run, "--engine", "onnx", "--no-glance", "--data", small_test, "--ood",
                            OOD, "--json", "--refuse", point)
            assert result.returncode == 0, result.stderr
            metrics = json.loads(result.stdout)
        else:
            metrics = Classifier.load(exported_run, engine="onnx", glance=False, refuse=point).evaluate(small_test, ood=OOD)
        expected = {"lenient": saved[0.003], "strict": saved[0.015], "0.05": saved[0.05]}.get(point, config["neither_threshold"])
        assert metrics["ood"]["threshold"] == pytest.approx(expected)
        refused[point] = (metrics["refused"], metrics["ood"]["refused_ood"])
        tradeoff = {row["point"]: row for row in metrics["ood"]["tradeoff"] if row["point"]}
        assert set(tradeoff) == {"lenient", "default", "strict"}
    rates = [rate for rate, _ in config["neither_points"]]
    assert rates == sorted(rates) and [t for _, t in config["neither_points"]] == sorted(t for _, t in config["neither_points"])
    assert saved[0.003] < config["neither_threshold"] < saved[0.015] < saved[0.05]
    for looser, stricter in (("lenient", "default"), ("default", "strict"), ("strict", "0.05")):
        assert refused[looser][0] <= refused[stricter][0] and refused[looser][1] <= refused[stricter][1]
    assert refused["0.05"][1] > refused["lenient"][1]  # photos with no pet: 5 % of held-out pets buys more of them
    bad = catdog("predict", "--model", exported_run, OOD, "--refuse", "0.7")
    assert bad.returncode == 2 and "--refuse takes default, lenient, strict or a share" in bad.stderr


def test_evaluating_a_file_of_photos_with_no_cat_or_dog_gives_the_share_answered_neither(trained, tmp_path):
    from conftest import write_parquet

    result = catdog("evaluate", "--model", trained.run_dir, "--data", OOD, "--json")
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout)
    answers = Classifier.load(trained.run_dir).predict_photos(OOD)
    neither = sum(p.label == "neither" for p in answers)
    assert metrics["kind"] == "no cat or dog" and metrics["n"] == len(answers) == 100
    assert metrics["answered_neither"] == pytest.approx(neither / 100)
    assert metrics["answers"]["neither"] == neither and sum(metrics["answers"].values()) == 100
    assert sorted(row["path"] for row in metrics["let_through"]) == sorted(p.id for p in answers if p.label != "neither")
    # A file that mixes pets and photos with no pet says how to pass them.
    mixed = write_parquet(tmp_path / "mixed.parquet", read_rows(TEST, count=4) + read_rows(OOD, count=2))
    refused = catdog("evaluate", "--model", trained.run_dir, "--data", mixed, "--json")
    message = " ".join(refused.stderr.split())
    assert refused.returncode == 3 and "-1 marks a photo of none of the classes" in message and "--ood" in message


def test_temperature_scaling_recovers_a_known_temperature_and_is_folded_into_the_model(trained):
    rng = np.random.default_rng(0)
    z = rng.normal(0, 4, 20000)
    y = (rng.random(20000) < 1 / (1 + np.exp(-z / 2.5))).astype(int)
    assert fit_temperature(1 / (1 + np.exp(-z)), y) == pytest.approx(2.5, rel=0.05)
    metrics = json.loads((trained.run_dir / "metrics.json").read_text())
    calibration = metrics["calibration"]
    assert calibration["temperature"] == trained.classifier.temperature_ > 0
    assert {"validation_ece_before", "validation_ece_after", "test_ece_before", "test_ece_after"} <= set(calibration)
    assert calibration["validation_ece_after"] <= calibration["validation_ece_before"] + 1e-9
    assert (trained.run_dir / "reliability.png").is_file()


def test_folding_the_temperature_equals_scaling_the_logit(trained):
    import keras

    from catdog.model.build import fold_temperature

    model = keras.models.clone_model(trained.classifier.engine.model)
    model.set_weights(trained.classifier.engine.model.get_weights())
    pixels = decode_image(read_rows(TEST, count=1)[0]["bytes"])[None].astype(np.float32)
    before = float(model.predict_on_batch(pixels)[0, 0])
    fold_temperature(model, 3.0)
    assert float(model.predict_on_batch(pixels)[0, 0]) == pytest.approx(apply_temperature(np.array([before]), 3.0)[0], abs=1e-5)


def test_tta_averages_the_photo_and_its_mirror_where_the_answer_is_near_a_threshold(trained):
    pixels = np.stack([decode_image(r["bytes"]) for r in read_rows(TEST, count=16)])
    plain = Classifier.load(trained.run_dir, engine="keras", glance=False)
    single, mirrored = plain.predict_pixels(pixels)[0], plain.predict_pixels(pixels[:, :, ::-1])[0]
    every = Classifier.load(trained.run_dir, engine="keras", tta=True, tta_all=True, glance=False)
    assert np.allclose(every.predict_pixels(pixels)[0], (single + mirrored) / 2, atol=1e-6)

    # By default only photos near a threshold get the second look; the rest keep their one pass.
    with_tta = Classifier.load(trained.run_dir, engine="keras", tta=True, glance=False)
    p_dog, pet = plain.predict_pixels(pixels)
    near = with_tta.decision.near_threshold(p_dog, pet, *TTA_MARGINS)
    assert np.array_equal(with_tta.second_look(p_dog, pet), np.flatnonzero(near))
    expected = np.where(near, (single + mirrored) / 2, single)
    assert np.allclose(with_tta.predict_pixels(pixels)[0], expected, atol=1e-6)
    # A photo whose p(dog) is pushed to the threshold is always looked at again.
    assert with_tta.second_look(np.array([0.5, 0.999999]), None).tolist() == [0]


def test_scores_right_after_training_come_from_the_feature_cache_and_equal_the_whole_model(trained, small_test):
    clf = trained.classifier
    assert clf.cached_scores_ is not None
    cached = clf.scores(small_test)
    clf.cached_scores_, saved = None, clf.cached_scores_
    try:
        whole = clf.scores(small_test)  # the Keras model on decoded photos
    finally:
        clf.cached_scores_ = saved
    assert cached.ids == whole.ids and np.array_equal(cached.labels, whole.labels)
    assert np.allclose(cached.p, whole.p, atol=1e-4) and np.allclose(cached.pet_score, whole.pet_score, rtol=1e-3, atol=1e-3)
    assert np.array_equal(clf.decision.codes(cached.p, cached.pet_score), clf.decision.codes(whole.p, whole.pet_score))


@pytest.mark.parametrize("name", sorted(CORRUPTIONS))
def test_corruptions_are_seeded_and_change_the_photo(name):
    pixels = np.stack([decode_image(r["bytes"]) for r in read_rows(TEST, count=2)])
    for severity in SEVERITIES:
        first, again = corrupt_batch(pixels, name, severity, 7), corrupt_batch(pixels, name, severity, 7)
        assert first.shape == pixels.shape and first.dtype == np.uint8
        assert np.array_equal(first, again) and not np.array_equal(first, pixels)


def test_robustness_command_writes_table_and_plot(trained, small_test):
    result = catdog("robustness", "--model", trained.run_dir, "--data", small_test, "--limit", "16", "--json")
    assert result.returncode == 0, result.stderr
    table = json.loads(result.stdout)
    assert table["n"] == 16 and set(table["accuracy"]) == set(CORRUPTIONS)
    assert all(len(row) == len(SEVERITIES) for row in table["accuracy"].values())
    # Right answers are counted in whole photos of 16, and the heaviest low-resolution damage costs some.
    assert all(round(v * 16, 6).is_integer() for row in table["accuracy"].values() for v in row)
    assert table["accuracy"]["low_resolution"][-1] < table["clean_accuracy"] or table["accuracy"]["jpeg"][-1] < table["clean_accuracy"]
    assert {"robustness.json", "robustness.md", "robustness.png"} <= {p.name for p in trained.run_dir.iterdir()}
    # Refusals are reported apart, and are among the wrong answers; --no-neither has none.
    for name, row in table["refused"].items():
        assert all(0 <= r <= 1 - a + 1e-9 for r, a in zip(row, table["accuracy"][name]))
    plain = catdog("robustness", "--model", trained.run_dir, "--data", small_test, "--limit", "16", "--json", "--no-neither")
    assert plain.returncode == 0, plain.stderr
    plain_table = json.loads(plain.stdout)
    assert plain_table["clean_refused"] == 0 and all(r == 0 for row in plain_table["refused"].values() for r in row)
    assert all(p >= a for name in CORRUPTIONS for p, a in zip(plain_table["accuracy"][name], table["accuracy"][name]))
