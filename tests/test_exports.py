"""Exports and the fast engines, on the model trained by the shared `trained` fixture."""

import json
import os
import shutil

import numpy as np
import pytest

from catdog import Classifier
from catdog.errors import ModelError
from catdog.run_folder import RunFolder
from catdog.runtime.manifest import usable_exports
from conftest import EXPORTED, NOT_SERVE, SCENE_CLASSES, TEST, catdog, read_rows

INT8 = ("onnx-int8", "tflite-int8")


def test_every_format_exports_through_the_cli_and_is_recorded(exported_run):
    """`catdog export --format all` (the fixture) wrote and verified every format."""
    manifest = json.loads((exported_run / "export" / "manifest.json").read_text())
    assert set(manifest["exports"]) == set(EXPORTED) and "failed" not in manifest
    for fmt, record in manifest["exports"].items():
        assert record["verified"] and (exported_run / "export" / record["file"]).exists()
        if fmt == "web":
            continue
        # 64 real photos and 8 pictures with no cat or dog, so "neither" is checked too
        assert record["photos_checked"] == 72
        assert record["max_abs_diff"] <= (0.25 if fmt in INT8 else 0.05 if fmt == "tflite-fp16" else 1e-3)
        assert record["answer_agreement"] >= 0.97 and record["images_per_second"] > 0
    assert not list((exported_run / "export").glob(".partial-*"))


def test_savedmodel_export_serves_the_same_outputs(exported_run, small_test):
    import tensorflow as tf

    from catdog.data.decode import decode_image

    pixels = np.stack([decode_image(r["bytes"]) for r in read_rows(small_test, count=8)]).astype(np.float32)
    signature = tf.saved_model.load(str(exported_run / "export" / "saved_model")).signatures["serving_default"]
    (output,) = signature(image=tf.constant(pixels)).values()  # as TF Serving calls it
    keras_outputs = Classifier.load(exported_run, engine="keras").engine.run(pixels)
    assert np.allclose(np.asarray(output), keras_outputs, atol=1e-4)


@pytest.mark.parametrize("engine", ["onnx", "tflite"])
def test_fast_engines_agree_with_keras(exported_run, small_test, engine):
    keras_p = Classifier.load(exported_run, engine="keras").predict_proba(small_test)[:, 1]
    fast = Classifier.load(exported_run, engine=engine)
    assert fast.engine.name == engine
    fast_p = fast.predict_proba(small_test)[:, 1]
    assert ((fast_p >= 0.5) == (keras_p >= 0.5)).mean() >= 0.97
    assert np.abs(fast_p - keras_p).mean() < 0.02


@pytest.mark.parametrize("engine", ["keras", "onnx", "onnx-int8", "tflite", "tflite-fp16", "tflite-int8"])
def test_a_wolf_is_neither_and_a_shiba_inu_and_a_keeshond_are_dogs_through_every_engine(exported_run, engine):
    """The lookalike gate travels with the model: wolves (lookalikes.parquet rows 6 and 20) are "neither"
    and the two dog breeds most like a fox and a wolf (shift.parquet) are dogs, whatever runs the model."""
    from conftest import DATA

    wolves = [r["bytes"] for i, r in enumerate(read_rows(DATA / "lookalikes.parquet")) if i in (6, 20)]
    dogs = [r["bytes"] for r in read_rows(DATA / "shift.parquet") if r["path"] in ("shiba_inu_200.jpg", "keeshond_27.jpg")]
    assert len(wolves) == 2 and len(dogs) == 2
    assert Classifier.load(exported_run, engine=engine).predict(wolves + dogs) == ["neither", "neither", "dog", "dog"]


@pytest.mark.parametrize("engine", ["onnx", "onnx-int8", "tflite", "tflite-int8"])
def test_every_engine_gives_the_same_answers_neither_included(exported_run, small_test, engine):
    """Cats, dogs and flowers: the exports answer cat, dog or neither as the Keras model does."""
    from catdog.export import non_pet_pictures
    from conftest import DATA

    photos = [r["bytes"] for r in read_rows(small_test, count=40)] + [r["bytes"] for r in read_rows(DATA / "ood.parquet", count=30)]
    photos += list(non_pet_pictures(8, 224, seed=3))
    keras_answers = Classifier.load(exported_run, engine="keras").predict(photos)
    fast = Classifier.load(exported_run, engine=engine)
    answers = fast.predict(photos)
    assert keras_answers.count("neither") >= 10  # the check covers "neither", not only cat and dog
    agreement = np.mean([a == b for a, b in zip(answers, keras_answers)])
    # float exports agree exactly; int8 rounding may move a photo that sits on a threshold
    assert agreement >= (0.95 if fast.engine.artifact in INT8 else 1.0), list(zip(answers, keras_answers))


@pytest.mark.parametrize("engine", ["onnx-int8", "tflite-int8"])
def test_batches_looked_at_side_by_side_answer_as_one_engine_on_one_batch_at_a_time(exported_run, small_test, tmp_path, engine):
    """`predict` runs batches side by side, each on a single-threaded copy of the engine (and of the first
    look's): the answers are those of the engine itself, batch by batch, in input order, a broken photo
    in the middle reported where it was."""
    from catdog.data.decode import decode_image
    from catdog.decide import GLANCE_MARGINS
    from conftest import jpeg_bytes

    classifier = Classifier.load(exported_run, engine=engine, threads=2)
    workers = classifier._workers()
    assert len(workers) == 2 and all(first.artifact == full.artifact == engine for first, full in workers)
    assert all(full is not classifier.engine and first is not classifier.glance_.engine for first, full in workers)
    rows = read_rows(small_test, count=75)
    photos = [r["bytes"] for r in rows]
    photos[40] = jpeg_bytes(np.zeros((64, 64, 3), dtype=np.uint8))[:200]  # a truncated JPEG
    classifier.config.batch_size = 8  # ten batches in flight over two workers
    predicted = classifier.predict_photos(photos)
    assert len(predicted) == 75
    assert predicted[40].label is None and predicted[40].error
    # The same photos, one batch at a time through the engines the classifier loaded (two threads each).
    glance, decision = classifier.glance_, classifier.decision
    kept = [i for i in range(75) if i != 40]
    p, pet = glance.predict_pixels(np.stack([decode_image(photos[i], 160) for i in kept]))
    unclear = glance.decision.near_threshold(p, pet, *GLANCE_MARGINS)
    pet = pet + np.float32(decision.neither_below - glance.decision.neither_below)
    full_p, full_pet = classifier.predict_pixels(np.stack([decode_image(photos[i], 224) for i in kept]))
    p, pet = np.where(unclear, full_p, p), np.where(unclear, full_pet, pet)
    expected = [decision.answer(p[k], pet[k]) for k in range(len(kept))]
    assert [predicted[i].label for i in kept] == expected
    assert np.allclose([predicted[i].p_dog for i in kept], p, atol=1e-6)
    assert classifier.looks_ == {"first": int((~unclear).sum()), "full": int(unclear.sum())}
    # Given another engine, the classifier makes its workers again.
    from catdog.runtime.select import open_export

    classifier.engine = open_export(RunFolder.at(exported_run), "onnx", 2)
    assert [full.artifact for _, full in classifier._workers()] == ["onnx", "onnx"]


def test_auto_takes_the_export_that_runs_fastest_on_this_machine(exported_run, tmp_path, monkeypatch):
    from catdog.machine import cpu_info
    from catdog.runtime.speed import SPEED_FILE

    monkeypatch.setenv("CATDOG_CACHE", str(tmp_path))
    exports = {fmt: record for fmt, record in usable_exports(RunFolder.at(exported_run)).items() if record["engine"]}
    assert len(exports) == 5 and {"onnx-int8", "tflite-int8"} <= set(exports)
    # (the full look alone: with its first look, auto measures that look's exports too)
    engine = Classifier.load(exported_run, glance=False).engine
    # Each candidate was timed here, once, and remembered under this CPU, thread count and file.
    speeds = json.loads((tmp_path / SPEED_FILE).read_text())
    assert len(speeds) == 5 and all(speed > 0 for speed in speeds.values())
    keys = {fmt: next(k for k in speeds if f'"{fmt}"' in k) for fmt in exports}
    assert all(json.loads(key)[0] == cpu_info()["model"] for key in keys.values())
    assert engine.artifact == max(exports, key=lambda fmt: speeds[keys[fmt]])

    # What is remembered decides, without timing again: make the slowest one the fastest.
    slowest = min(exports, key=lambda fmt: speeds[keys[fmt]])
    speeds[keys[slowest]] = 1e9
    (tmp_path / SPEED_FILE).write_text(json.dumps(speeds))
    assert Classifier.load(exported_run, glance=False).engine.artifact == slowest
    assert json.loads((tmp_path / SPEED_FILE).read_text())[keys[slowest]] == 1e9


# ------------------------------------------------------------------ the ONNX Runtime int8 file

def test_the_onnx_int8_file_is_verified_and_only_its_backbone_is_int8(exported_run):
    """`--format all` wrote model_int8.onnx, checked against the Keras model within its own tolerance;
    every convolution in it reads uint8 activations and int8 weights, and the head, the pet score and
    the output (export.py says why) hold no quantised tensor."""
    import onnx

    from catdog.export import TOLERANCES
    from catdog.onnx_int8 import float_nodes

    record = json.loads((exported_run / "export" / "manifest.json").read_text())["exports"]["onnx-int8"]
    max_diff, max_pet, min_agreement = TOLERANCES["onnx-int8"]
    assert record["verified"] and (record["file"], record["engine"]) == ("model_int8.onnx", "onnx")
    assert record["tolerance"] == {"max_abs_diff": max_diff, "max_pet_score_diff": max_pet, "answer_agreement": min_agreement}
    assert record["max_abs_diff"] <= max_diff and record["max_pet_score_diff"] <= max_pet
    assert record["clear_answer_agreement"] >= min_agreement and record["answer_agreement"] >= 0.95
    assert record["outputs"] == ["p(dog)", "pet_score"] and record["images_per_second"] > 0

    model = onnx.load(exported_run / "export" / "model_int8.onnx")
    made_by = {output: node for node in model.graph.node for output in node.output}
    constants = {tensor.name: tensor.data_type for tensor in model.graph.initializer}
    convs = [node for node in model.graph.node if node.op_type == "Conv"]
    assert len(convs) >= 50
    for conv in convs:
        pixels, weights = made_by[conv.input[0]], made_by[conv.input[1]]
        assert pixels.op_type == weights.op_type == "DequantizeLinear", conv.name
        assert constants[pixels.input[2]] == onnx.TensorProto.UINT8 and constants[weights.input[0]] == onnx.TensorProto.INT8

    kept_float = set(float_nodes(model))
    scoring = {node.name for node in model.graph.node if "/pet_score_1/" in node.name or "/head_1/" in node.name}
    assert len(scoring) >= 50 and scoring <= kept_float
    for node in model.graph.node:
        if node.name not in kept_float:
            continue
        # a quantised tensor in the head or the pet score would be a Q/DQ node inside them (named by
        # their tensors, so among kept_float) or an integer constant they read
        assert node.op_type not in ("QuantizeLinear", "DequantizeLinear"), node.name
        assert all(constants.get(name) not in (onnx.TensorProto.INT8, onnx.TensorProto.UINT8) for name in node.input), node.name
        # what they read from the backbone is its pooled features, dequantised once
        assert all(made_by[name].name in kept_float or made_by[name].op_type == "DequantizeLinear"
                   for name in node.input if name in made_by), node.name


def test_predict_with_onnx_int8_answers_as_keras_but_on_a_threshold(exported_run, small_test, small_ood):
    """`catdog predict --engine onnx-int8 --json` on 120 cats and dogs and 20 photos with neither: the
    Keras model's answer for every photo not within the format's tolerance of a threshold."""
    from catdog.export import TOLERANCES

    args = ("predict", "--model", exported_run, "--json", "--no-tta", small_test, small_ood)
    keras, int8 = catdog(*args, "--engine", "keras"), catdog(*args, "--engine", "onnx-int8")
    assert keras.returncode == 0 and int8.returncode == 0, keras.stderr + int8.stderr
    expected, got = json.loads(keras.stdout), json.loads(int8.stdout)
    assert [row["name"] for row in got] == [row["name"] for row in expected] and len(got) == 140
    assert {row["label"] for row in expected} == {"cat", "dog", "neither"}
    p_dog, pet = (np.array([row[key] for row in expected]) for key in ("p_dog", "pet_score"))
    on_threshold = RunFolder.at(exported_run).decision().within_error(p_dog, pet, *TOLERANCES["onnx-int8"][:2])
    # most photos, cats and dogs among them, are held to the same answer (the tests' small model puts
    # many photos within 1.5 of its pet score threshold)
    assert (~on_threshold).sum() >= 80 and {row["label"] for row, near in zip(expected, on_threshold) if not near} >= {"cat", "dog"}
    differ = [(e["name"], e["label"], g["label"], bool(near)) for e, g, near in zip(expected, got, on_threshold)
              if e["label"] != g["label"]]
    assert not [row for row in differ if not row[-1]], differ
    assert len(differ) <= 0.05 * len(got), differ  # and few of the others move
    assert np.abs(np.array([row["p_dog"] for row in got]) - p_dog)[~on_threshold].max() <= TOLERANCES["onnx-int8"][0]


def test_engine_onnx_is_the_float_file_unless_only_the_int8_one_exists(exported_run, trained, small_train, tmp_path):
    from catdog.export import export_run

    assert Classifier.load(exported_run, engine="onnx").engine.artifact == "onnx"
    assert Classifier.load(exported_run, engine="onnx-int8").engine.artifact == "onnx-int8"
    # A run with no ONNX export: the int8 file is quantised from a float one made aside, which is not kept.
    run = tmp_path / "run"
    shutil.copytree(trained.run_dir, run, ignore=shutil.ignore_patterns("export", "glance"))  # (the full look's files are the point)
    record = export_run(RunFolder.at(run), "onnx-int8", str(small_train))
    assert record["verified"] and sorted(p.name for p in (run / "export").iterdir()) == ["README.md", "manifest.json", "model_int8.onnx"]
    assert set(usable_exports(RunFolder.at(run))) == {"onnx-int8"}
    assert Classifier.load(run, engine="onnx").engine.artifact == "onnx-int8"
    assert Classifier.load(run, engine="auto").engine.artifact == "onnx-int8"


def test_a_missing_or_unknown_onnx_int8_names_the_command_that_fixes_it(trained, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained.run_dir, run, ignore=shutil.ignore_patterns("export"))
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(read_rows(TEST, count=1)[0]["bytes"])
    missing = catdog("predict", "--model", run, "--engine", "onnx-int8", photo)
    assert missing.returncode == 4
    assert f"has no verified onnx-int8 export; run `catdog export --model {run} --format onnx-int8` first." in missing.stderr
    unknown = catdog("predict", "--model", run, "--engine", "onnx-int4", photo)
    assert unknown.returncode == 2 and "Unknown engine 'onnx-int4'" in unknown.stderr and "onnx-int8" in unknown.stderr
    wrong_format = catdog("export", "--model", run, "--format", "onnx-int4")
    assert wrong_format.returncode == 2 and "onnx-int8" in wrong_format.stderr, wrong_format.stderr


def test_stale_exports_are_ignored_after_the_model_changes(exported_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(exported_run, run)
    with open(run / "model.keras", "ab") as handle:
        handle.write(b"\0")  # any change to the model makes its exports stale
    assert usable_exports(RunFolder.at(run)) == {}
    with pytest.raises(ModelError, match="no verified onnx export"):
        Classifier.load(run, engine="onnx")


def test_an_export_that_fails_its_check_is_not_left_behind(trained, tmp_path, small_train, monkeypatch):
    from catdog import export

    run = tmp_path / "run"
    shutil.copytree(trained.run_dir, run)
    monkeypatch.setitem(export.TOLERANCES, "onnx", (-1.0, 1.0, 1.0))  # no export can pass this
    with pytest.raises(ModelError, match="deleted"):
        export.export_run(RunFolder.at(run), "onnx", str(small_train))
    manifest = json.loads((run / "export" / "manifest.json").read_text())
    assert "onnx" not in manifest["exports"] and manifest["failed"]["onnx"]["verified"] is False
    assert not (run / "export" / "model.onnx").exists() and not list((run / "export").glob(".partial-*"))


BLOCK_TENSORFLOW = f"""
import sys
class _Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {tuple(NOT_SERVE)!r}:
            raise ModuleNotFoundError(f"{{name}} is not installed in a serve-only environment", name=name)
sys.meta_path.insert(0, _Block())
"""


@pytest.mark.parametrize("engine", ["onnx", "onnx-int8", "tflite"])
def test_predict_with_an_exported_model_never_imports_tensorflow(exported_run, tmp_path, engine):
    (tmp_path / "sitecustomize.py").write_text(BLOCK_TENSORFLOW)
    photo = tmp_path / "photo.jpg"
    from conftest import TEST, read_rows

    photo.write_bytes(read_rows(TEST, count=1)[0]["bytes"])
    env = {"PYTHONPATH": str(tmp_path) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    result = catdog("predict", "--model", exported_run, photo, "--json", "--engine", engine, env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)[0]["label"] in ("cat", "dog")
    blocked = catdog("predict", "--model", exported_run, photo, "--json", "--engine", "keras", env=env)
    assert blocked.returncode == 4 and "needs TensorFlow" in blocked.stderr


TFLITE = ("tflite", "tflite-fp16", "tflite-int8")


@pytest.mark.parametrize("fmt", TFLITE)
def test_tflite_files_carry_mediapipe_metadata_and_the_right_input(exported_run, fmt):
    from ai_edge_litert.interpreter import Interpreter

    from catdog.edge.metadata import read_labels
    from catdog.runtime.manifest import FORMATS

    path = exported_run / "export" / FORMATS[fmt][0]
    assert read_labels(path.read_bytes()) == ["cat", "dog", "neither"]
    details = Interpreter(model_path=str(path)).get_input_details()[0]
    # MediaPipe feeds uint8 to a quantised model and normalised float32 to a float one
    assert details["dtype"] == (np.uint8 if fmt == "tflite-int8" else np.float32)
    record = json.loads((exported_run / "export" / "manifest.json").read_text())["exports"][fmt]["mediapipe"]
    assert record["checked"] and record["photos_checked"] == 72
    assert set(record["categories"]) <= {"cat", "dog", "neither"}
    # MediaPipe resizes the whole photo itself: at most a photo or two whose answer sits on a threshold may
    # come out the other way; none that is clear.
    assert record["answer_agreement"] >= 70 / 72 and len(record["disagreements"]) == round(72 * (1 - record["answer_agreement"]))
    assert all(row["near_threshold"] for row in record["disagreements"]), record["disagreements"]


@pytest.fixture(scope="module")
def held_out_answers(exported_run):
    """Whole photos the model never saw (cats and dogs of other breeds, flowers, everyday things),
    decoded at their own size, and `catdog predict`'s answers for them."""
    from catdog.data.decode import decode_image
    from conftest import DATA

    rows = read_rows(DATA / "shift.parquet", per_class=25, seed=5) + read_rows(DATA / "ood_diverse.parquet", count=25, seed=5)
    rows += read_rows(DATA / "ood.parquet", count=10, seed=5)
    photos = [r["bytes"] for r in rows]
    return [decode_image(p, None) for p in photos], Classifier.load(exported_run, engine="keras").predict(photos)


@pytest.mark.parametrize("fmt", TFLITE)
def test_mediapipe_answers_as_catdog_predict_on_photos_it_never_saw(exported_run, held_out_answers, fmt):
    """Whole photos handed to MediaPipe's ImageClassifier, as an app does; its top category is our answer."""
    from catdog.edge.mediapipe_check import mediapipe_answers
    from catdog.runtime.manifest import FORMATS

    images, expected = held_out_answers
    answers = mediapipe_answers(exported_run / "export" / FORMATS[fmt][0], images)
    assert {"cat", "dog", "neither"} <= set(expected)  # the check covers all three answers
    agreement = np.mean([a == b for a, b in zip(answers, expected)])
    assert agreement >= (0.97 if fmt == "tflite-int8" else 0.99), list(zip(answers, expected))


# ------------------------------------------------------------------ a run of six classes (the scenes)

SCENE_ANSWERS = [*SCENE_CLASSES, "none of these"]
FLOAT32 = ("onnx", "tflite", "savedmodel")


@pytest.mark.slow
def test_a_six_class_run_exports_every_format_with_its_class_names(exported_scenes):
    """`catdog export --format all` on a run of six classes: every format verified by its answers (a class
    or "none of these") on the check photos against the Keras model's; the TFLite files give seven scores
    named by their labels.txt, ONNX and SavedModel the raw [p_1..p_6, pet score]."""
    from catdog.edge.metadata import read_labels

    manifest = json.loads((exported_scenes / "export" / "manifest.json").read_text())
    assert set(manifest["exports"]) == set(EXPORTED) and "failed" not in manifest
    figures = {}
    for fmt, record in manifest["exports"].items():
        assert record["verified"] and record["classes"] == list(SCENE_CLASSES)
        if fmt == "web":
            continue
        assert record["photos_checked"] == 72
        assert record["max_abs_diff"] <= record["tolerance"]["max_abs_diff"]
        assert record["clear_answer_agreement"] >= record["tolerance"]["answer_agreement"]
        # float32 files answer exactly as Keras does; float16 and int8 rounding may move a photo on a threshold
        assert record["answer_agreement"] >= (1.0 if fmt in FLOAT32 else 0.95), record
        if fmt in TFLITE:
            assert record["outputs"] == SCENE_ANSWERS
            assert read_labels((exported_scenes / "export" / record["file"]).read_bytes()) == SCENE_ANSWERS
        else:
            assert record["outputs"] == [f"p({name})" for name in SCENE_CLASSES] + ["pet_score"]
        figures[fmt] = {key: record[key] for key in ("answer_agreement", "clear_answer_agreement", "photos_on_a_threshold", "max_abs_diff")}
    print(json.dumps(figures))


@pytest.mark.slow
def test_onnx_and_savedmodel_of_a_six_class_run_give_its_raw_outputs(exported_scenes, small_scenes_test):
    import tensorflow as tf

    from catdog.data.decode import decode_image
    from catdog.runtime.onnx_engine import OnnxEngine

    pixels = np.stack([decode_image(r["bytes"]) for r in read_rows(small_scenes_test, per_class=1, seed=2)]).astype(np.float32)
    keras_outputs = Classifier.load(exported_scenes, engine="keras").engine.run(pixels)
    assert keras_outputs.shape == (6, 7) and np.allclose(keras_outputs[:, :6].sum(axis=1), 1.0, atol=1e-5)
    signature = tf.saved_model.load(str(exported_scenes / "export" / "saved_model")).signatures["serving_default"]
    (saved,) = signature(image=tf.constant(pixels)).values()
    assert np.allclose(np.asarray(saved), keras_outputs, atol=1e-4)
    assert np.allclose(OnnxEngine(exported_scenes / "export" / "model.onnx").run(pixels), keras_outputs, atol=1e-3)


@pytest.fixture(scope="module")
def scene_answers(exported_scenes, small_scenes_test):
    """Scene photos the run never saw (three of each class) and cats and dogs (none of these), the answers
    `catdog predict` (Keras) gives them, and which of those sit near a threshold (by the second-look
    margins: what resizing the whole photo, or rounding, can move)."""
    from catdog.data.decode import decode_image
    from catdog.decide import TTA_MARGINS

    photos = [r["bytes"] for r in read_rows(small_scenes_test, per_class=3, seed=4) + read_rows(TEST, per_class=2, seed=4)]
    keras = Classifier.load(exported_scenes, engine="keras")
    p, pet = keras.engine.scores(np.stack([decode_image(photo) for photo in photos]))
    near = keras.decision.near_threshold(p, pet, *TTA_MARGINS)
    return photos, keras.predict(photos), near


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["onnx", "onnx-int8", "tflite", "tflite-int8"])
def test_every_engine_gives_a_six_class_run_s_answers(exported_scenes, scene_answers, engine):
    photos, expected, _ = scene_answers
    assert "none of these" in expected and len(set(expected) & set(SCENE_CLASSES)) >= 4
    fast = Classifier.load(exported_scenes, engine=engine)
    answers = fast.predict(photos)
    agreement = np.mean([a == b for a, b in zip(answers, expected)])
    assert agreement >= (0.9 if fast.engine.artifact in INT8 else 1.0), list(zip(answers, expected))


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["tflite", "tflite-int8"])
def test_mediapipe_loads_a_six_class_file_with_seven_labels_and_answers_as_catdog_predict(exported_scenes, scene_answers, fmt):
    """MediaPipe's ImageClassifier reads the six class names and "none of these", in the scores' order,
    and its top category for whole photos (which it resizes itself) is `catdog predict`'s answer, but
    for photos whose answer sits near a threshold."""
    from catdog.data.decode import decode_image
    from catdog.edge.mediapipe_check import mediapipe_answers, mediapipe_labels
    from catdog.runtime.manifest import FORMATS

    path = exported_scenes / "export" / FORMATS[fmt][0]
    assert mediapipe_labels(path) == SCENE_ANSWERS
    record = json.loads((exported_scenes / "export" / "manifest.json").read_text())["exports"][fmt]["mediapipe"]
    assert record["checked"] and record["photos_checked"] == 72 and set(record["categories"]) <= set(SCENE_ANSWERS)
    assert all(row["near_threshold"] for row in record["disagreements"]), record["disagreements"]
    photos, expected, near = scene_answers
    answers = mediapipe_answers(path, [decode_image(photo, None) for photo in photos])
    differ = [(i, answers[i], expected[i]) for i in range(len(photos)) if answers[i] != expected[i]]
    print(json.dumps({"format": fmt, "labels": mediapipe_labels(path), "check_photos_agreement": record["answer_agreement"],
                      "held_out_photos": len(photos), "held_out_agreement": 1 - len(differ) / len(photos)}))
    assert all(near[i] for i, _, _ in differ) and len(differ) <= len(photos) // 10, differ
