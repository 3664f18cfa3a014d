import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from catdog.data.data_report import DataReport
from catdog.data.sources import check_labels, open_inputs, open_source
from catdog.data.split import stratified_split
from catdog.errors import DataError
from conftest import TRAIN, read_rows, write_parquet


@pytest.fixture(scope="module")
def rows():
    return read_rows(TRAIN, count=12)


def test_parquet_file_streams_every_row_with_labels(tmp_path, rows):
    source = open_source(write_parquet(tmp_path / "a.parquet", rows))
    photos = list(source.photos())
    assert len(source) == len(photos) == 12
    assert [p.label for p in photos] == [r["label"] for r in rows] == source.labels().tolist()
    assert photos[3].data == rows[3]["bytes"] and photos[3].name == rows[3]["path"]
    assert photos[3].id == "a.parquet#3"


def test_folder_of_shards_and_glob_give_the_same_rows(tmp_path, rows):
    write_parquet(tmp_path / "shards" / "part-0.parquet", rows[:5])
    write_parquet(tmp_path / "shards" / "part-1.parquet", rows[5:])
    from_folder = open_source(tmp_path / "shards")
    from_glob = open_source(str(tmp_path / "shards" / "*.parquet"))
    assert [p.data for p in from_folder.photos()] == [p.data for p in from_glob.photos()] == [r["bytes"] for r in rows]
    # Selecting indices crosses shard boundaries correctly.
    picked = list(from_folder.photos([1, 6, 11]))
    assert [p.index for p in picked] == [1, 6, 11]
    assert [p.data for p in picked] == [rows[i]["bytes"] for i in (1, 6, 11)]


def test_class_folders_in_any_case(tmp_path, rows):
    for name, label in (("Cats", 0), ("DOG", 1)):
        folder = tmp_path / "pets" / name
        folder.mkdir(parents=True)
        for i, row in enumerate(r for r in rows if r["label"] == label):
            (folder / f"{i}.jpg").write_bytes(row["bytes"])
    (tmp_path / "pets" / "Cats" / ".DS_Store").write_bytes(b"hidden")
    source = open_source(tmp_path / "pets")
    labels = source.labels()
    assert len(source) == len(rows)
    assert (labels == 0).sum() == sum(r["label"] == 0 for r in rows)
    assert all(p.data for p in source.photos())


@pytest.mark.parametrize("columns, message", [
    ({"picture": pa.array([b"x"]), "labels": pa.array([0])}, "no 'image' column"),
    ({"image": pa.array([1]), "labels": pa.array([0])}, "must be a struct"),
    ({"image": pa.array([b"x"])}, "no 'labels' column"),
    ({"image": pa.array([b"x"]), "labels": pa.array(["cat"])}, "must be integers"),
])
def test_wrong_schema_is_refused_with_a_fix(tmp_path, columns, message):
    path = tmp_path / "bad.parquet"
    pq.write_table(pa.table(columns), path)
    with pytest.raises(DataError, match=message):
        open_source(path)


def test_labels_are_checked_before_training(tmp_path, rows):
    bad = [dict(r) for r in rows]
    bad[2]["label"] = 7
    bad[4]["label"] = None
    source = open_source(write_parquet(tmp_path / "bad_labels.parquet", bad))
    with pytest.raises(DataError, match=r"2 row\(s\) with label 7, null; labels must be one of 0 = cat, 1 = dog"):
        check_labels(source.labels(), source.description)
    with pytest.raises(DataError, match="only one class"):
        check_labels(np.zeros(5, dtype=np.int64), "cats.parquet")
    with pytest.raises(DataError, match="holds no photos"):
        check_labels(np.zeros(0, dtype=np.int64), "empty.parquet")


def test_missing_paths_and_unlabelled_training_data_are_refused(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        open_source(tmp_path / "nope.parquet")
    with pytest.raises(DataError, match="matches no files"):
        open_source(str(tmp_path / "*.parquet"))
    (tmp_path / "loose").mkdir()
    (tmp_path / "loose" / "a.jpg").write_bytes(b"x")
    with pytest.raises(DataError, match="neither parquet files nor class subfolders"):
        open_source(tmp_path / "loose")


def test_hub_source_offline_fails_at_once_naming_local_alternatives():
    with pytest.raises(DataError, match="local parquet file"):
        open_source("hf://Bingsu/Cat_and_Dog")


def test_prediction_inputs_mix_files_folders_globs_and_parquet(tmp_path, rows):
    (tmp_path / "photos").mkdir()
    for i in range(3):
        (tmp_path / "photos" / f"{i}.jpg").write_bytes(rows[i]["bytes"])
    parquet = write_parquet(tmp_path / "few.parquet", rows[:2])
    source = open_inputs([str(tmp_path / "photos" / "0.jpg"), tmp_path / "photos", str(tmp_path / "photos" / "*.jpg"),
                          parquet, tmp_path / "missing.jpg"])
    photos = list(source.photos())
    assert len(photos) == 1 + 3 + 3 + 2 + 1
    assert [p.index for p in photos] == list(range(len(photos)))
    assert photos[-1].data is None and "cannot read" in photos[-1].error


def test_stratified_split_is_seeded_and_keeps_proportions():
    labels = np.array([0] * 60 + [1] * 40)
    train, val = stratified_split(labels, 0.2, seed=3)
    again_train, again_val = stratified_split(labels, 0.2, seed=3)
    assert np.array_equal(val, again_val) and np.array_equal(train, again_train)
    assert (labels[val] == 0).sum() == 12 and (labels[val] == 1).sum() == 8
    assert set(train).isdisjoint(val) and len(train) + len(val) == 100
    assert not np.array_equal(val, stratified_split(labels, 0.2, seed=4)[1])


def test_data_report_lists_each_skip_once():
    from catdog.data.sources import Photo

    report = DataReport("x", rows=3)
    photo = Photo(1, "x#1", 0, b"", "a.jpg")
    report.skip(photo, "empty file (0 bytes)")
    report.skip(photo, "empty file (0 bytes)")
    assert report.to_dict()["skipped"] == [{"index": 1, "id": "x#1", "name": "a.jpg", "reason": "empty file (0 bytes)"}]


def _folder(root, name, rows):
    (root / name).mkdir(parents=True)
    for i, row in enumerate(rows):
        (root / name / f"{i}.jpg").write_bytes(row["bytes"])


def test_class_folders_of_any_names_and_cat_dog_synonyms_only_for_cats_and_dogs(tmp_path, rows):
    _folder(tmp_path / "mixed", "rabbit", rows[:2])
    _folder(tmp_path / "mixed", "Cats", rows[2:5])
    mixed = open_source(tmp_path / "mixed")
    assert mixed.class_names == ("Cats", "rabbit") and mixed.labels().tolist() == [0, 0, 0, 1, 1]  # no "cat" among others
    _folder(tmp_path / "dogs", "DOGS", rows[:2])
    assert open_source(tmp_path / "dogs").class_names == ("dog",)  # one of the pair: a folder of dogs to evaluate on
    _folder(tmp_path / "twice", "cat", rows[:1])
    _folder(tmp_path / "twice", "cats", rows[1:2])
    _folder(tmp_path / "twice", "dog", rows[2:3])
    with pytest.raises(DataError, match="has two folders for one class"):
        open_source(tmp_path / "twice")


def test_a_classlabel_in_the_huggingface_metadata_names_the_classes(tmp_path, rows):
    from catdog.data.sources import label_names

    names = ("cat", "dog", "rabbit")
    source = open_source(write_parquet(tmp_path / "named.parquet", rows, names))
    assert source.class_names == names
    assert open_source(TRAIN).class_names == ("cat", "dog")  # the shared files declare the Bingsu names
    assert open_source(write_parquet(tmp_path / "plain.parquet", rows)).class_names is None
    broken = pa.schema([("labels", pa.int64())], metadata={b"huggingface": b"{not json"})
    assert label_names(broken, "labels") is None
    write_parquet(tmp_path / "shards" / "a.parquet", rows[:5], names)
    write_parquet(tmp_path / "shards" / "b.parquet", rows[5:], ("cat", "dog"))
    with pytest.raises(DataError, match=r"b.parquet names its classes cat, dog, but .*a.parquet names them cat, dog, rabbit"):
        open_source(tmp_path / "shards")


def test_each_class_needs_photos_to_split_and_labels_within_its_names():
    from catdog.classes import MIN_PHOTOS_PER_CLASS, relabelled

    classes = ("cat", "dog", "rabbit")
    with pytest.raises(DataError, match=r"has no photos of rabbit \(its classes: cat, dog, rabbit\)"):
        check_labels(np.array([0, 0, 1, 1]), "pets/", classes)
    few = np.array([0, 0, 1, 1] + [2] * (MIN_PHOTOS_PER_CLASS - 1))
    with pytest.raises(DataError, match=rf"too few photos of rabbit \({MIN_PHOTOS_PER_CLASS - 1}\)"):
        check_labels(few, "pets/", classes)
    assert check_labels(few, "pets/", classes, allow_single_class=True) is few  # evaluation data need not split
    assert relabelled(np.array([0, 1, -1]), ("dog", "cat"), classes, "x").tolist() == [1, 0, -1]
    with pytest.raises(DataError, match=r"has 1 row\(s\) with label 2, but names only 2 class\(es\) \(0 = dog, 1 = cat\)"):
        relabelled(np.array([0, 2]), ("dog", "cat"), classes, "x")
