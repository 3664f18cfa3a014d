"""The first look (RUN/glance/): a 160-px model trained beside the full one answers the photos whose
answer is clear from it; the rest get the full look. Real runs, real photos, real exports."""

import json
import shutil

import numpy as np
import pytest

from catdog import Classifier
from catdog.config import TrainConfig
from catdog.data.decode import decode_image
from catdog.decide import GLANCE_MARGINS
from catdog.errors import UsageError
from catdog.run_folder import RunFolder
from conftest import SHIFT, catdog, read_rows, write_parquet


def test_a_run_has_a_first_look_trained_at_160_px_on_the_same_photos(trained):
    run = RunFolder.at(trained.run_dir)
    glance = run.glance
    assert glance is not None and glance.model_path.is_file()
    full, first = run.read_config(), glance.read_config()
    assert (first.image_size, full.image_size) == (160, 224)
    same = ("seed", "val_split", "classes", "class_weight", "exclude", "weights")
    assert {k: first.config[k] for k in same} == {k: full.config[k] for k in same}
    assert first.config["glance_size"] == 0 and first.data == full.data
    assert first.neither_threshold is not None  # its own "neither" score, fitted at its size
    loaded = Classifier.load(trained.run_dir, engine="keras")
    assert loaded.glance_ is not None and loaded.glance_.engine.image_size == 160


def test_the_first_look_answers_the_clear_photos_and_the_full_look_every_other(trained, tmp_path):
    photos = write_parquet(tmp_path / "shift.parquet", read_rows(SHIFT, per_class=40, seed=3))
    with_glance = Classifier.load(trained.run_dir, engine="keras")
    full = Classifier.load(trained.run_dir, engine="keras", glance=False)
    assert full.glance_ is None and with_glance.glance_ is not None
    cascade, everything = with_glance.predict_photos(photos), full.predict_photos(photos)
    # Which photos the first look leaves to the full look, computed here from its own outputs.
    glance = with_glance.glance_
    rows = read_rows(SHIFT, per_class=40, seed=3)
    pixels = np.stack([decode_image(r["bytes"], 160) for r in rows])
    p, pet = glance.predict_pixels(pixels)
    unclear = glance.decision.near_threshold(p, pet, *GLANCE_MARGINS)
    assert with_glance.looks_ == {"first": int((~unclear).sum()), "full": int(unclear.sum())}
    assert 0 < unclear.sum() < len(rows)
    glance_labels = glance.predict(photos)
    for row, (looked, seen_in_full) in enumerate(zip(cascade, everything)):
        if unclear[row]:  # the full look's answer, to the last digit
            assert (looked.label, looked.p_dog, looked.pet_score) == (seen_in_full.label, pytest.approx(seen_in_full.p_dog, abs=1e-6),
                                                                      pytest.approx(seen_in_full.pet_score, abs=1e-5))
        else:
            assert looked.label == glance_labels[row]
    agreement = np.mean([a.label == b.label for a, b in zip(cascade, everything)])
    assert agreement >= 0.9, agreement  # a model trained on 160 photos: the real runs agree on 99.7 % (docs/BENCHMARKS.md)


def test_no_glance_on_the_command_line_gives_the_full_look_s_answers(exported_run, small_test):
    # (through an export, as `catdog predict` runs after `catdog export`: no TensorFlow to start in each process)
    def answers(predictions) -> list[tuple]:
        return [(p["label"], round(p["p_dog"], 5)) for p in predictions]

    full = answers(p.to_dict() for p in Classifier.load(exported_run, engine="tflite-int8", glance=False).predict_photos(small_test))
    looked = answers(p.to_dict() for p in Classifier.load(exported_run, engine="tflite-int8").predict_photos(small_test))
    assert full != looked  # the clear photos' p(dog) is the first look's
    for flag, expected in (("--no-glance", full), ("--glance", looked)):
        result = catdog("predict", "--model", str(exported_run), "--engine", "tflite-int8", flag, "--json", str(small_test))
        assert result.returncode == 0, result.stderr
        assert answers(json.loads(result.stdout)) == expected


def test_exports_make_the_first_look_s_files_too_and_engines_run_both(exported_run):
    run = RunFolder.at(exported_run)
    glance = run.glance
    assert glance is not None
    manifest = json.loads((glance.export_dir / "manifest.json").read_text())
    assert {"onnx", "tflite", "tflite-fp16", "tflite-int8"} <= {fmt for fmt, r in manifest["exports"].items() if r["verified"]}
    for fmt in ("onnx", "tflite-int8"):
        classifier = Classifier.load(exported_run, engine=fmt)
        assert classifier.engine.artifact == fmt and classifier.glance_ is not None
        assert classifier.glance_.engine.artifact == fmt and classifier.glance_.engine.image_size == 160


def test_without_the_first_look_s_exports_an_export_engine_looks_at_every_photo_in_full(exported_run, tmp_path):
    # A first look on Keras beside a full look on an export would cost more than no first look.
    run = tmp_path / "run"
    shutil.copytree(exported_run, run)
    shutil.rmtree(run / "glance" / "export")
    assert Classifier.load(run, engine="tflite-int8").glance_ is None
    assert Classifier.load(run, engine="keras").glance_ is not None


def test_glance_size_zero_or_not_under_the_image_size_means_no_first_look():
    assert TrainConfig().glance_config() is not None
    assert TrainConfig(glance_size=0).glance_config() is None
    assert TrainConfig(image_size=160).glance_config() is None
    assert TrainConfig(image_size=288).glance_config().image_size == 160
    with pytest.raises(UsageError, match="glance_size must be 0"):
        TrainConfig(glance_size=16)


@pytest.mark.slow  # fits both looks of a six-class run
def test_a_run_of_other_classes_gets_a_first_look_of_its_own_classes(small_scenes, small_scenes_test):
    """Six scene classes through the Python API (the first look fitted in-process, first): it answers
    by the run's class names, and the photos it leaves unclear get the full look's answer."""
    from conftest import SCENE_CLASSES

    classifier = Classifier().fit(small_scenes)
    glance = classifier.glance_
    assert glance is not None and glance.engine.image_size == 160 and glance.classes_ == classifier.classes_ == SCENE_CLASSES
    cascade = classifier.predict_photos(small_scenes_test)
    classifier.glance = False
    everything = classifier.predict_photos(small_scenes_test)
    rows = read_rows(small_scenes_test)
    p, pet = glance.predict_pixels(np.stack([decode_image(r["bytes"], 160) for r in rows]))
    unclear = glance.decision.near_threshold(p, pet, *GLANCE_MARGINS)
    assert 0 < unclear.sum() < len(rows) and classifier.looks_ == {"first": int((~unclear).sum()), "full": int(unclear.sum())}
    glance_answers = glance.predict(small_scenes_test)
    assert {a for a in glance_answers} <= {*SCENE_CLASSES, "none of these"}
    assert [a.label for a in cascade] == [b.label if near else a for a, b, near in zip(glance_answers, everything, unclear)]
    assert all(set(a.probabilities) == set(SCENE_CLASSES) for a in cascade)
