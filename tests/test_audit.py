"""`catdog data audit` on real photos with planted problems (flipped labels, cropped and re-compressed
copies, an exact copy, a leak into another file, a broken and a tiny photo), and `train --exclude`."""

import csv
import io
import json

import numpy as np
import pytest
from PIL import Image

from catdog.audit.duplicates import exact_pairs, groups, similar_pairs
from catdog.audit.exclude_list import exclusions, read_exclusions
from catdog.errors import UsageError
from conftest import TEST, TRAIN, broken_rows, catdog, read_rows, write_parquet


def cropped_copy(data: bytes, seed: int) -> bytes:
    """The same picture cut to 88 %, shrunk to 70 % and saved again at JPEG quality 60."""
    rng = np.random.default_rng(seed)
    image = Image.open(io.BytesIO(data)).convert("RGB")
    width, height = image.size
    w, h = int(width * 0.88), int(height * 0.88)
    x, y = int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - h + 1))
    buffer = io.BytesIO()
    image.crop((x, y, x + w, y + h)).resize((int(w * 0.7), int(h * 0.7))).save(buffer, "JPEG", quality=60)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """400 training photos with 20 labels flipped, 6 near copies, 1 exact copy, a broken and a tiny
    photo; and an 'other' file holding one exact and one near copy of training rows."""
    rows = read_rows(TRAIN, per_class=200, seed=3)
    rng = np.random.default_rng(0)
    flipped = sorted(int(i) for i in rng.choice(len(rows), 20, replace=False))
    for row in flipped:
        rows[row] = {**rows[row], "label": 1 - rows[row]["label"]}
    originals = [r for r in range(len(rows)) if r not in flipped][:8]
    copies = {}
    for k, original in enumerate(originals[:6]):
        copies[len(rows)] = original
        rows.append({"bytes": cropped_copy(rows[original]["bytes"], k), "path": f"copy{k}.jpg", "label": rows[original]["label"]})
    copies[len(rows)] = originals[6]
    rows.append(dict(rows[originals[6]], path="exact.jpg"))
    broken = len(rows)
    rows.append(broken_rows(rows[0]["bytes"])[0])
    tiny = len(rows)
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (120, 90, 60)).save(buffer, "PNG")
    rows.append({"bytes": buffer.getvalue(), "path": "tiny.png", "label": 0})
    folder = tmp_path_factory.mktemp("audit")
    other = [dict(rows[originals[7]], path="leak-exact.jpg"),
             {**rows[originals[0]], "bytes": cropped_copy(rows[originals[0]]["bytes"], 9), "path": "leak-near.jpg"}]
    other += read_rows(TEST, count=10)  # distinct photos (the full files share none: the audit of train against test finds 0)
    return {"data": write_parquet(folder / "train.parquet", rows), "other": write_parquet(folder / "other.parquet", other),
            "flipped": set(flipped), "copies": copies, "broken": broken, "tiny": tiny, "leaked": {originals[7], originals[0]}}


@pytest.fixture(scope="module")
def audited(planted, tmp_path_factory):
    out = tmp_path_factory.mktemp("audit_out")
    result = catdog("data", "audit", planted["data"], "--against", planted["other"], "--json", "--out", out)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout), out


@pytest.mark.slow  # frozen features of 410 photos and their centre crops
def test_the_audit_finds_what_was_planted(planted, audited):
    result, _ = audited
    found = {issue["row"] for issue in result["label_issues"]}
    assert len(found & planted["flipped"]) >= 16 and len(found & planted["flipped"]) >= 0.7 * len(found)  # recall 80 %, precision 70 %
    issue = result["label_issues"][0]
    assert set(issue) == {"row", "name", "given", "suggested", "score"} and issue["given"] != issue["suggested"]
    group_of = {row: k for k, group in enumerate(result["near_duplicates"]) for row in group["rows"]}
    together = [copy for copy, original in planted["copies"].items() if copy in group_of and group_of.get(original) == group_of[copy]]
    assert len(together) >= 6  # of 7: the exact copy and at least 5 of the 6 cropped copies
    leaked = {leak["row"] for leak in result["leaks"]}
    # the planted leaks, and nothing else but copies of them (a copy of a leaked photo leaks too)
    assert planted["leaked"] <= leaked and leaked - planted["leaked"] <= {c for c, o in planted["copies"].items() if o in planted["leaked"]}
    assert [u["row"] for u in result["unreadable"]] == [planted["broken"]] and result["unreadable"][0]["reason"]
    assert [o["row"] for o in result["odd"]] == [planted["tiny"]] and "too small" in result["odd"][0]["reason"]
    assert result["counts"] == {key: len(result[key]) for key in result["counts"]}


@pytest.mark.slow
def test_the_report_is_a_gallery_and_an_exclude_list_train_accepts(planted, audited, tmp_path):
    result, out = audited
    page = (out / "index.html").read_text()
    for section in ("label_issues", "near_duplicates", "leaks", "no_pet", "odd", "unreadable"):
        assert f'id="{section}"' in page
    assert page.count("<img") >= len(result["label_issues"]) and "data:image/jpeg;base64," in page
    with open(out / "exclude.csv", newline="") as handle:
        listed = [int(r["row"]) for r in csv.DictReader(handle)]
    assert set(listed) == {i["row"] for i in result["label_issues"]} | {leak["row"] for leak in result["leaks"]} | {
        r for g in result["near_duplicates"] for r in g["rows"][1:]}
    trained = catdog("train", "--data", planted["data"], "--exclude", out / "exclude.csv", "--out", tmp_path, "--name", "clean", "--epochs", "3",
                     "--glance-size", "0")  # (the exclusions are the point: no first look to fit)
    assert trained.returncode == 0, trained.stderr
    config = json.loads((tmp_path / "clean" / "config.json").read_text())
    assert config["config"]["exclude"] == sorted(listed) and "Leaving out" in trained.stderr


def test_exclude_lists_are_read_from_csv_or_json_and_refused_when_wrong(tmp_path):
    (tmp_path / "rows.csv").write_text("row,name,reason\n3,a.jpg,x\n1,b.jpg,y\n")
    (tmp_path / "rows.json").write_text(json.dumps({"label_issues": [{"row": 5}, {"row": 2}]}))
    (tmp_path / "bad.csv").write_text("name\na.jpg\n")
    assert read_exclusions(tmp_path / "rows.csv") == (3, 1) and read_exclusions(tmp_path / "rows.json") == (5, 2)
    with pytest.raises(UsageError, match="not an exclude list"):
        read_exclusions(tmp_path / "bad.csv")
    with pytest.raises(UsageError, match="does not exist"):
        read_exclusions(tmp_path / "nope.csv")


def test_similar_and_exact_pairs_and_their_groups():
    rng = np.random.default_rng(0)
    base = rng.normal(size=(6, 32))
    photos = np.concatenate([base, base[:2] + 0.01 * rng.normal(size=(2, 32))])  # rows 6, 7 copy rows 0, 1
    pairs = similar_pairs([photos], threshold=0.95)
    assert sorted((i, j) for i, j, _ in pairs) == [(0, 6), (1, 7)]
    assert similar_pairs([photos[:3]], [photos[6:]], threshold=0.95) == [(0, 0, pytest.approx(1.0, abs=1e-3)), (1, 1, pytest.approx(1.0, abs=1e-3))]
    hashes = ["a", "b", "a", None, "a"]
    assert exact_pairs(hashes) == [(0, 2, 1.0), (0, 4, 1.0), (2, 4, 1.0)]
    assert groups(pairs + [(2, 3, 1.0), (3, 4, 1.0)], 8) == [[2, 3, 4], [0, 6], [1, 7]]
    result = {"label_issues": [{"row": 9, "name": "n", "given": "cat", "suggested": "dog"}],
              "near_duplicates": [{"rows": [0, 6], "names": ["o", "c"]}], "leaks": [], "against": None}
    assert [e["row"] for e in exclusions(result)] == [6, 9]


@pytest.mark.slow  # frozen features of 120 scene photos and their centre crops
def test_the_audit_of_a_six_class_file_names_the_given_and_suggested_classes(tmp_path):
    """cleanlab on six classes: flipped scene labels come back with both labels by class name."""
    from conftest import SCENE_CLASSES, SCENES

    rows = read_rows(SCENES, per_class=20, seed=6)
    # forest and sea photos (the least alike of the six) labelled as each other
    flipped = [i for i, r in enumerate(rows) if r["label"] in (1, 4)][:6]
    for i in flipped:
        rows[i] = {**rows[i], "label": 5 - rows[i]["label"]}
    data = write_parquet(tmp_path / "scenes.parquet", rows, SCENE_CLASSES)
    result = catdog("data", "audit", data, "--json", "--out", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    issues = {issue["row"]: issue for issue in json.loads(result.stdout)["label_issues"]}
    caught = [issues[i] for i in flipped if i in issues]
    assert len(caught) >= 4, issues
    assert all({issue["given"], issue["suggested"]} == {"forest", "sea"} for issue in caught)
