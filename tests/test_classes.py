"""A run's classes as a user meets them: class folders of any names, a parquet's ClassLabel names,
the class order (--classes), class weights and test data of other classes, each refused with a
one-sentence error and its exit code before anything trains. One tiny real run (slow) checks what
needs a model: evaluation data in another class order gives the same metrics.

Each runs `catdog` as a subprocess, as a user would; a run that passes every data check stops at the
missing --weights file (exit 4), which is how these tests see data accepted without training."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from catdog.classes import CAT_DOG, MIN_PHOTOS_PER_CLASS, class_weights, run_classes
from catdog.data.sources import labelled, open_source
from catdog.errors import DataError
from conftest import SCENE_CLASSES, SCENES, TEST, TRAIN, read_rows, write_parquet
from conftest import catdog as run_catdog

PER_CLASS = 6


@pytest.fixture(scope="module")
def photos() -> dict[str, list[dict]]:
    """Real photos by class name: cats and dogs of the training file, and the six scene classes."""
    pets = read_rows(TRAIN, per_class=2 * PER_CLASS, seed=5)
    scenes = read_rows(SCENES, per_class=2 * PER_CLASS, seed=5)
    by_name = {name: [r for r in pets if r["label"] == i] for i, name in enumerate(CAT_DOG)}
    by_name.update({name: [r for r in scenes if r["label"] == i] for i, name in enumerate(SCENE_CLASSES)})
    return by_name


def folders(root: Path, photos: dict[str, list[dict]], counts: dict[str, int], skip: int = 0,
            kinds: dict[str, str] | None = None) -> Path:
    """ROOT/NAME/*.jpg with counts[NAME] real photos (from the `skip`-th on) of the class NAME, or of
    the class kinds[NAME] for a folder named otherwise."""
    for name, count in counts.items():
        (root / name).mkdir(parents=True)
        for i, row in enumerate(photos[(kinds or {}).get(name, name)][skip:skip + count]):
            (root / name / f"{i}.jpg").write_bytes(row["bytes"])
    return root


def parquet(path: Path, photos: dict[str, list[dict]], names: tuple[str, ...] | None, counts: dict[str, int],
            order: tuple[str, ...] | None = None, skip: int = 0) -> Path:
    """A parquet file of counts[NAME] photos of each class, labelled by position in `order` (default:
    `names`), with `names` as its ClassLabel (none when None)."""
    order = order or names
    assert order is not None
    rows = [{**row, "label": order.index(name)} for name, count in counts.items() for row in photos[name][skip:skip + count]]
    return write_parquet(path, rows, names)


def rounded(metrics: dict) -> dict:
    """Metrics with floats to 9 places: the same photos scored in another order may sum in another order."""
    return json.loads(json.dumps(metrics), parse_float=lambda text: round(float(text), 9))


def one_sentence(result, code: int, message: str) -> None:
    assert result.returncode == code, (result.returncode, result.stderr)
    text = " ".join(result.stderr.split())
    assert message in text, text
    assert "Traceback" not in result.stderr and "Backbone features" not in result.stderr


def train(tmp_path: Path, data, *options, code: int = 4, message: str = "does not exist; pass --weights") -> None:
    """`catdog train --data DATA OPTIONS` ends with exit `code` and `message` before training, leaving
    no run folder; the defaults: every data check passed and the missing weights file stopped it."""
    result = run_catdog("train", "--data", data, *options, "--out", tmp_path / "runs", "--weights", tmp_path / "missing.h5")
    one_sentence(result, code, message)
    assert not (tmp_path / "runs").exists()


def test_class_folders_of_any_names_are_the_classes_in_name_order(tmp_path, photos):
    root = folders(tmp_path / "photos", photos, {"forest": PER_CLASS, "cat": PER_CLASS, "dog": 3})
    names, labels = labelled(open_source(root))
    assert names == ("cat", "dog", "forest")
    assert np.bincount(labels).tolist() == [PER_CLASS, 3, PER_CLASS]
    inspected = run_catdog("data", "inspect", root, "--json")
    assert inspected.returncode == 0, inspected.stderr
    assert json.loads(inspected.stdout)["counts"] == {"cat": PER_CLASS, "dog": 3, "forest": PER_CLASS}
    train(tmp_path, root)


def test_classes_orders_the_folders_classes_and_must_name_each_of_them(tmp_path, photos):
    root = folders(tmp_path / "photos", photos, {"cat": PER_CLASS, "dog": PER_CLASS, "forest": 4})
    names, labels = labelled(open_source(root), ("forest", "cat", "dog"))
    assert names == ("forest", "cat", "dog") and np.bincount(labels).tolist() == [4, PER_CLASS, PER_CLASS]
    train(tmp_path, root, "--classes", "forest, cat,dog")
    train(tmp_path, root, "--classes", "cat,dog,horse", code=3,
          message=f"--classes names cat, dog, horse, but {root} has the classes cat, dog, forest; give exactly the data's classes")
    train(tmp_path, root, "--classes", "cat,dog", code=3, message=f"--classes names cat, dog, but {root} has the classes cat, dog, forest")
    train(tmp_path, root, "--classes", "cat,cat,forest", code=2, message="classes must not repeat a name")


def test_a_parquets_classlabel_names_its_classes_and_unnamed_labels_need_classes(tmp_path, photos):
    counts = dict.fromkeys(SCENE_CLASSES, 3)
    named = parquet(tmp_path / "named.parquet", photos, SCENE_CLASSES, counts)
    inspected = run_catdog("data", "inspect", named, "--json")
    assert inspected.returncode == 0 and json.loads(inspected.stdout)["counts"] == counts
    train(tmp_path, named)

    unnamed = parquet(tmp_path / "unnamed.parquet", photos, None, counts, order=SCENE_CLASSES)
    one_sentence(run_catdog("train", "--data", unnamed, "--out", tmp_path / "runs"), 3,
                 "has labels up to 5 but no class names; give them in order with --classes a,b,c")
    assert labelled(open_source(unnamed), SCENE_CLASSES)[0] == SCENE_CLASSES
    train(tmp_path, unnamed, "--classes", ",".join(SCENE_CLASSES))


def test_the_bingsu_schema_keeps_cat_0_and_dog_1(tmp_path, photos):
    counts = {"cat": 4, "dog": 3}
    plain = parquet(tmp_path / "plain.parquet", photos, None, counts, order=CAT_DOG)  # no ClassLabel: the schema's own meaning
    for data in (plain, TRAIN):
        names, labels = labelled(open_source(data))
        assert names == CAT_DOG and np.array_equal(labels, open_source(data).labels())
    inspected = run_catdog("data", "inspect", plain, "--json")
    assert inspected.returncode == 0 and json.loads(inspected.stdout)["counts"] == counts
    # A folder of cats alone is the cat class of a cat/dog run (its label 0), for evaluating on.
    cats = folders(tmp_path / "cats_only", photos, {"Cats": 3}, kinds={"Cats": "cat"})
    source = open_source(cats)
    assert source.class_names == ("cat",)
    assert run_classes(source.class_names, source.labels(), CAT_DOG, "cats_only", of_run=True)[1].tolist() == [0, 0, 0]
    dogs = open_source(folders(tmp_path / "dogs_only", photos, {"dog": 2}))
    assert run_classes(dogs.class_names, dogs.labels(), CAT_DOG, "dogs_only", of_run=True)[1].tolist() == [1, 1]


@pytest.mark.parametrize("layout, message", [
    ({"forest": PER_CLASS}, "has 1 class(es) (forest); training needs two or more, so add photos of another class"),
    ({"cat": PER_CLASS, "dog": PER_CLASS, "forest": MIN_PHOTOS_PER_CLASS - 1},
     f"too few photos of forest ({MIN_PHOTOS_PER_CLASS - 1}) to split off validation photos; give each class at least "
     f"{MIN_PHOTOS_PER_CLASS}"),
    ({"cat": PER_CLASS, "dog": PER_CLASS, "forest": 0}, "has no photos of forest (its classes: cat, dog, forest)"),
    ({"cat": PER_CLASS, "none of these": PER_CLASS}, "has a class called 'neither' or 'none of these'"),
])
def test_class_folders_that_cannot_train_are_refused_before_training(tmp_path, photos, layout, message):
    root = folders(tmp_path / "photos", photos, layout, kinds={"none of these": "sea"})
    one_sentence(run_catdog("train", "--data", root, "--out", tmp_path / "runs"), 3, message)
    assert not (tmp_path / "runs").exists()


def test_labels_that_cannot_train_are_refused_before_training(tmp_path, photos):
    names = ("cat", "dog", "forest")
    single = parquet(tmp_path / "single.parquet", photos, SCENE_CLASSES, {"glacier": PER_CLASS})
    one_sentence(run_catdog("train", "--data", single), 3, "has only one class (glacier); training needs photos of two or more")
    rows = [{**row, "label": names.index(name)} for name in names for row in photos[name][:3]]
    rows[1]["label"], rows[4]["label"] = 4, -1
    outside = write_parquet(tmp_path / "outside.parquet", rows, names)
    one_sentence(run_catdog("train", "--data", outside), 3,
                 "has 2 row(s) with label -1, 4; labels must be one of 0 = cat, 1 = dog, 2 = forest, so fix or drop those rows")


def test_test_data_of_other_classes_is_refused_before_training(tmp_path, photos):
    scenes = parquet(tmp_path / "scenes.parquet", photos, SCENE_CLASSES, dict.fromkeys(SCENE_CLASSES, 3))
    pets = write_parquet(tmp_path / "pets.parquet", read_rows(TEST, per_class=3), CAT_DOG)
    one_sentence(run_catdog("train", "--data", scenes, "--test", pets, "--out", tmp_path / "runs"), 3,
                 f"pets.parquet has the classes cat, dog, but the run's are {', '.join(SCENE_CLASSES)}; evaluate on photos of "
                 "the run's classes")
    assert not (tmp_path / "runs").exists()
    # The same classes in another order, or some of them, are test data of this run.
    shuffled = parquet(tmp_path / "shuffled.parquet", photos, SCENE_CLASSES[::-1], {"sea": 2, "forest": 2}, skip=3)
    train(tmp_path, scenes, "--test", shuffled)


@pytest.mark.parametrize("spec, message", [
    ("horse=2", "--class-weight names 'horse', which is not one of the classes cat, dog, forest; use NAME=WEIGHT"),
    ("forest=0", "--class-weight 'forest=0' needs a positive, finite weight after '=', for example forest=2"),
    ("forest=-1", "needs a positive, finite weight"),
    ("forest=heavy", "needs a positive, finite weight"),
    ("forest=inf", "needs a positive, finite weight"),
    ("forest", "class_weight must be none, balanced or NAME=WEIGHT"),
])
def test_a_class_weight_naming_no_class_or_no_weight_is_refused(tmp_path, photos, spec, message):
    root = folders(tmp_path / "photos", photos, {"cat": PER_CLASS, "dog": PER_CLASS, "forest": 3})
    train(tmp_path, root, "--class-weight", spec, code=2, message=message)


def test_class_weights_balance_as_scikit_learn_and_name_classes(tmp_path, photos):
    from sklearn.utils.class_weight import compute_class_weight

    labels = np.array([0] * 9 + [1] * 3 + [2] * 6)
    balanced = class_weights("balanced", ("cat", "dog", "forest"), labels)
    assert balanced is not None
    expected = compute_class_weight("balanced", classes=np.arange(3), y=labels)
    assert [balanced[i] for i in range(3)] == pytest.approx(expected.tolist())
    assert class_weights("dog=2.5", ("cat", "dog", "forest"), labels) == {0: 1.0, 1: 2.5, 2: 1.0}
    assert class_weights("none", ("cat", "dog", "forest"), labels) is None
    root = folders(tmp_path / "photos", photos, {"cat": PER_CLASS, "dog": PER_CLASS, "forest": 3})
    train(tmp_path, root, "--class-weight", "balanced")
    train(tmp_path, root, "--class-weight", "forest=3,cat=0.5")


@pytest.mark.slow  # a real, tiny run: three classes of six photos
def test_evaluation_data_in_another_class_order_gives_the_same_metrics(tmp_path, photos):
    from catdog import Classifier

    order = ("forest", "cat", "dog")
    root = folders(tmp_path / "train", photos, dict.fromkeys(order, PER_CLASS))
    trained = run_catdog("train", "--data", root, "--out", tmp_path / "runs", "--name", "three", "--classes", ",".join(order),
                         "--epochs", "3", "--glance-size", "0")  # (the class order is the point: no first look to fit)
    assert trained.returncode == 0, trained.stderr
    run = Path(trained.stdout.strip().splitlines()[-1])
    assert tuple(json.loads((run / "config.json").read_text())["config"]["classes"]) == order
    assert json.loads((run / "data_report.json").read_text())["counts"] == dict.fromkeys(order, PER_CLASS)

    held = dict.fromkeys(order, 4)
    as_folders = folders(tmp_path / "held", photos, held, skip=PER_CLASS)  # folders sort as cat, dog, forest
    in_run_order = parquet(tmp_path / "held.parquet", photos, order, held, skip=PER_CLASS)
    evaluated = []
    for data in (as_folders, in_run_order):
        out = run_catdog("evaluate", "--model", run, "--data", data, "--json")
        assert out.returncode == 0, out.stderr
        evaluated.append(json.loads(out.stdout))
    by_folders, by_parquet = evaluated
    assert list(by_folders["per_class"]) == list(order) and by_folders["n"] == 12
    assert rounded(by_folders) == rounded(by_parquet)  # every metric, per class, answers matrix and confusion matrix

    classifier = Classifier.load(run)
    cats = classifier.evaluate(folders(tmp_path / "cats", photos, {"cats": 3}, skip=PER_CLASS, kinds={"cats": "cat"}))  # some of the classes only
    assert cats["per_class"]["cat"]["n"] == 3 and cats["n"] == 3
    scenes = parquet(tmp_path / "scenes.parquet", photos, SCENE_CLASSES, {"forest": 2, "sea": 2})
    with pytest.raises(DataError, match="has the classes buildings, forest, .*, but the run's are forest, cat, dog"):
        classifier.evaluate(scenes)
    wrong = run_catdog("evaluate", "--model", run, "--data", scenes, "--json")
    one_sentence(wrong, 3, "but the run's are forest, cat, dog; evaluate on photos of the run's classes")
