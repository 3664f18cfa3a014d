"""A run of other classes (the six scene classes of the shared `trained_scenes` run) end to end: every
answer a user reads speaks class names: predict's JSON, CSV and table, evaluate, a real server on
loopback and its page in a real browser, batch scoring into parquet shards (in this process and on
Ray), Grad-CAM, robustness and data inspect."""

import csv
import io
import json
import math
import os
import sys
from pathlib import Path

import httpx
import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from catdog import Classifier
from conftest import SCENE_CLASSES, TEST, catdog, read_rows, served, write_parquet

CATDOG = str(Path(sys.executable).with_name("catdog"))
CHROMIUM = os.environ.get("CATDOG_CHROMIUM", "/usr/bin/chromium")
REFUSAL = "none of these"


@pytest.fixture(scope="module")
def scene_rows(small_scenes_test):
    """One held-out photo of each scene class (label = its index in SCENE_CLASSES)."""
    rows = read_rows(small_scenes_test)
    return [next(r for r in rows if r["label"] == c) for c in range(len(SCENE_CLASSES))]


@pytest.fixture(scope="module")
def photo_folder(tmp_path_factory, scene_rows):
    """Three scene photos, a cat (a photo of none of the classes) and a broken file."""
    folder = tmp_path_factory.mktemp("photos")
    for row in scene_rows[:3]:
        (folder / f"{SCENE_CLASSES[row['label']]}.jpg").write_bytes(row["bytes"])
    cat = next(r for r in read_rows(TEST, count=20) if r["label"] == 0)
    (folder / "cat.jpg").write_bytes(cat["bytes"])
    (folder / "broken.jpg").write_bytes(cat["bytes"][:300])
    return folder


def test_predict_json_csv_and_table_speak_the_class_names(trained_scenes, photo_folder):
    run = trained_scenes.run_dir
    expected = {Path(p.id).name: p for p in Classifier.load(run, engine="keras").predict_photos(photo_folder)}
    result = catdog("predict", "--model", run, photo_folder, "--json")
    assert result.returncode == 0, result.stderr
    rows = {Path(row["path"]).name: row for row in json.loads(result.stdout)}
    assert set(rows) == {"buildings.jpg", "forest.jpg", "glacier.jpg", "cat.jpg", "broken.jpg"}
    broken = rows.pop("broken.jpg")
    assert broken["label"] is None and broken["probabilities"] is None and "truncated" in broken["error"]
    assert rows["cat.jpg"]["label"] == REFUSAL  # cats are none of the six scenes
    for name, row in rows.items():
        assert row["label"] == expected[name].label and row["label"] in (*SCENE_CLASSES, REFUSAL)
        assert list(row["probabilities"]) == list(SCENE_CLASSES) and sum(row["probabilities"].values()) == pytest.approx(1, abs=1e-5)
        assert row["p_dog"] is None and row["error"] is None  # p_dog belongs to cat/dog runs
        if row["label"] != REFUSAL:
            assert row["confidence"] == pytest.approx(row["probabilities"][row["label"]])
            assert row["label"] == max(row["probabilities"], key=row["probabilities"].get)
        else:
            assert row["confidence"] == pytest.approx(1 - row["pet_probability"]) and row["pet_probability"] < 0.5

    as_csv = catdog("predict", "--model", run, photo_folder, "--csv")
    assert as_csv.returncode == 0, as_csv.stderr
    reader = csv.DictReader(io.StringIO(as_csv.stdout))
    assert reader.fieldnames == ["path", "name", "label", "confidence", *(f"p_{c}" for c in SCENE_CLASSES),
                                 "pet_probability", "pet_score", "error"]
    table = {Path(row["path"]).name: row for row in reader}
    assert table["broken.jpg"]["label"] == "" and table["broken.jpg"]["p_forest"] == "" and table["broken.jpg"]["error"]
    for name, row in rows.items():
        assert table[name]["label"] == row["label"]
        assert [float(table[name][f"p_{c}"]) for c in SCENE_CLASSES] == pytest.approx(list(row["probabilities"].values()))

    human = catdog("predict", "--model", run, photo_folder)
    assert human.returncode == 0, human.stderr
    assert "likeliest class" in human.stdout and "p(dog)" not in human.stdout
    for name, row in rows.items():
        line = next(line for line in human.stdout.splitlines() if name in line)
        assert row["label"] in line and f"{row['confidence']:.1%}" in line


def test_evaluate_prints_per_class_metrics_and_the_answers_by_name(trained_scenes, small_scenes_test):
    run = trained_scenes.run_dir
    metrics = json.loads(catdog("evaluate", "--model", run, "--data", small_scenes_test, "--json").stdout)
    assert list(metrics["per_class"]) == list(SCENE_CLASSES)
    answers = np.array(metrics["answers"])
    assert answers.shape == (6, 7) and answers.sum() == metrics["n"] == 120

    human = catdog("evaluate", "--model", run, "--data", small_scenes_test)
    assert human.returncode == 0, human.stderr
    lines = human.stdout.splitlines()
    # Rich's tables: a row's cells between │, a header's between ┃.
    rows = [[cell.strip() for cell in line.split("│")[1:-1]] for line in lines if line.startswith("│")]
    headers = [[cell.strip() for cell in line.split("┃")[1:-1]] for line in lines if line.startswith("┃")]
    assert ["class", "precision", "recall", "f1", "n"] in headers and ["true class", *SCENE_CLASSES, REFUSAL] in headers
    for name, answered in zip(SCENE_CLASSES, answers):
        per_class = metrics["per_class"][name]
        assert [name, *(f"{per_class[k]:.4f}" for k in ("precision", "recall", "f1")), str(per_class["n"])] in rows
        assert [name, *map(str, answered)] in rows


@pytest.fixture(scope="module")
def scene_server(trained_scenes, tmp_path_factory):
    log = tmp_path_factory.mktemp("server") / "server.log"
    with served([CATDOG, "serve", "--model", str(trained_scenes.run_dir), "--engine", "keras"], log) as url:
        yield url


def test_a_real_server_answers_a_scene_photo_with_its_name(scene_server, trained_scenes, scene_rows):
    info = httpx.get(scene_server + "/v1/model").json()
    assert info["classes"] == list(SCENE_CLASSES) and info["refusal"] == REFUSAL
    assert httpx.get(scene_server + "/readyz").json()["model"]["classes"] == list(SCENE_CLASSES)
    photos = [row["bytes"] for row in scene_rows]
    expected = Classifier.load(trained_scenes.run_dir, engine="keras", glance=False).predict_photos(photos)
    files = [("files", (f"{SCENE_CLASSES[i]}.jpg", data, "image/jpeg")) for i, data in enumerate(photos)]
    response = httpx.post(scene_server + "/v1/predict", files=files, timeout=120)
    assert response.status_code == 200, response.text
    predictions = response.json()["predictions"]
    assert [p["label"] for p in predictions] == [p.label for p in expected]
    # A real model on 40 photos a class: the forest (its surest class) and at least half the six answered their own class.
    labels = [p["label"] for p in predictions]
    assert labels[1] == "forest" and sum(label == name for label, name in zip(labels, SCENE_CLASSES)) >= 3, labels
    for served_answer, want in zip(predictions, expected):
        assert served_answer["p_dog"] is None and list(served_answer["probabilities"]) == list(SCENE_CLASSES)
        assert served_answer["probabilities"] == pytest.approx(want.probabilities, abs=1e-5)
        assert served_answer["confidence"] == pytest.approx(want.confidence, abs=1e-5)
    bad = httpx.post(scene_server + "/v1/predict", content=b"hello", headers={"content-type": "text/plain"})
    assert bad.status_code == 415 and "Unsupported content type" in bad.json()["error"]
    broken = httpx.post(scene_server + "/v1/predict", content=photos[0][:300], headers={"content-type": "image/jpeg"})
    assert broken.status_code == 422 and "truncated" in broken.json()["error"]
    cam = httpx.post(scene_server + "/v1/explain", content=photos[1], headers={"content-type": "image/jpeg"}, timeout=120)
    assert cam.status_code == 200 and Image.open(io.BytesIO(cam.content)).size == (224, 224)


def test_the_served_page_names_the_classes_and_answers_by_name(scene_server, trained_scenes, scene_rows, photo_folder, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    scene = scene_rows[1]  # a forest
    (tmp_path / "scene.jpg").write_bytes(scene["bytes"])
    (tmp_path / "notes.txt").write_text("not a photo")
    chosen = [tmp_path / "scene.jpg", photo_folder / "cat.jpg", tmp_path / "notes.txt"]
    served = Classifier.load(trained_scenes.run_dir, engine="keras", glance=False)  # the server gives every photo the full look
    expected = served.predict_photos([tmp_path / "scene.jpg", photo_folder / "cat.jpg"])
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        page = browser.new_page()
        page.goto(scene_server + "/")
        expect(page.locator("h1")).to_have_text("Buildings, forest, glacier, mountain, sea or street?")
        expect(page.locator("p.lead")).to_contain_text("answered “none of these”")
        page.get_by_label("Drop photos here").set_input_files(chosen)
        expect(page.locator(".card[data-label]")).to_have_count(3, timeout=60000)
        cards = {card.get_attribute("data-filename"): card.get_attribute("data-label") for card in page.query_selector_all(".card")}
        assert cards == {"scene.jpg": expected[0].label, "cat.jpg": expected[1].label, "notes.txt": "error"}
        assert expected[0].label in SCENE_CLASSES and expected[1].label == REFUSAL
        # A class answer: its name, and the likeliest classes with their probabilities, the answer first.
        answer = page.locator(".card[data-filename='scene.jpg']")
        expect(answer.locator(".label")).to_have_text(expected[0].label)
        top = answer.locator(".probs li").first
        assert top.get_attribute("data-class") == expected[0].label
        meter = answer.locator(f".bar[aria-label='Probability of {expected[0].label}']")
        assert float(meter.get_attribute("aria-valuenow")) == pytest.approx(100 * expected[0].probabilities[expected[0].label], abs=0.06)
        assert "p(dog)" not in answer.inner_text()
        # The refusal: how sure it is that none of the classes is there, no class bars.
        refused = page.locator(".card[data-filename='cat.jpg']")
        sure = float(refused.get_attribute("data-sure"))
        assert sure == pytest.approx(1 - expected[1].pet_probability, abs=1e-4)
        expect(refused.locator(".sure")).to_have_text(f"None of the 6 classes · {min(99, math.floor(sure * 100 + 0.5))} % sure")
        assert refused.locator(".probs, .bar").count() == 0
        browser.close()


@pytest.fixture(scope="module")
def scene_shards(tmp_path_factory, small_scenes_test):
    """60 held-out scene photos in 2 parquet files of 3 row groups each (with their ClassLabel), one
    row broken: 6 shards."""
    folder = tmp_path_factory.mktemp("scene_shards")
    rows = read_rows(small_scenes_test, count=60)
    rows[4] = {**rows[4], "bytes": rows[4]["bytes"][:200], "path": "truncated.jpg"}
    for part in range(2):
        path = write_parquet(folder / f"scenes-{part}.parquet", rows[part * 30 : (part + 1) * 30], SCENE_CLASSES)
        table = pq.read_table(path)
        pq.write_table(table, path, row_group_size=10)
    return folder


def _scored(folder: Path) -> list[tuple]:
    table = pq.read_table(sorted(folder.glob("part-*.parquet")))
    columns = [f"p_{c}" for c in SCENE_CLASSES]
    assert table.column_names == ["id", "name", "label", "confidence", *columns, "pet_score", "error"]
    probabilities = zip(*(table.column(c).to_pylist() for c in columns))
    return sorted(zip(table.column("id").to_pylist(), table.column("label").to_pylist(),
                      [None if p[0] is None else tuple(round(v, 5) for v in p) for p in probabilities]))


def test_batch_scoring_writes_a_probability_column_per_class_in_process_and_on_ray(trained_scenes, scene_shards, tmp_path):
    run = trained_scenes.run_dir
    out = tmp_path / "local.parquet"
    result = catdog("predict", "--model", run, "--data", scene_shards, "--out", out, "--engine", "keras", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["rows"] == 60 and len(list(out.glob("part-*.parquet"))) == 6
    rows = _scored(out)
    expected = Classifier.load(run, engine="keras").predict_photos(sorted(str(p) for p in scene_shards.glob("*.parquet")))
    assert [(id, label) for id, label, _ in rows] == sorted((p.id, p.label) for p in expected)
    broken = next(row for row in rows if row[0] == "scenes-0.parquet#4")
    assert broken[1] is None and broken[2] is None
    assert all(sum(p) == pytest.approx(1, abs=1e-4) for _, label, p in rows if label is not None)
    assert {label for _, label, _ in rows} - {None} <= {*SCENE_CLASSES, REFUSAL}
    again = catdog("predict", "--model", run, "--data", scene_shards, "--out", out, "--engine", "keras", "--json")
    assert again.returncode == 0 and json.loads(again.stdout)["scored_shards"] == 0  # resumable: nothing left to score

    on_ray = tmp_path / "ray.parquet"
    result = catdog("predict", "--model", run, "--data", scene_shards, "--out", on_ray, "--ray", "--engine", "keras", "--json",
                    timeout=600)
    assert result.returncode == 0, result.stderr
    assert _scored(on_ray) == rows


def test_gradcam_shows_the_predicted_scene_and_the_grid_names_it(trained_scenes, small_scenes_test, tmp_path):
    from catdog.data.decode import decode_image
    from catdog.explain.gradcam import gradcam
    from catdog.explain.run import write_explanations

    classifier = trained_scenes.classifier
    rows = read_rows(small_scenes_test)
    # The photo the model is surest of its own class, squeezed into the left half of a grey picture.
    probabilities = classifier.predict_proba([r["bytes"] for r in rows])
    best = max(range(len(rows)), key=lambda i: probabilities[i, rows[i]["label"]])
    name = SCENE_CLASSES[rows[best]["label"]]
    scene = np.asarray(Image.fromarray(decode_image(rows[best]["bytes"], 224)).resize((112, 224)))
    picture = np.full((224, 224, 3), 127, dtype=np.uint8)
    picture[:, :112] = scene
    [explanation] = classifier.explain([picture])
    [answer] = classifier.predict_photos([picture])
    assert explanation.label == answer.label == explanation.explained == name
    assert explanation.probability == pytest.approx(answer.confidence) and explanation.p_dog is None
    assert explanation.probabilities == pytest.approx(answer.probabilities)
    heat = explanation.heatmap
    assert heat.shape == (224, 224) and heat.max() == pytest.approx(1.0)
    assert heat[:, :112].sum() > 0.7 * heat.sum(), heat[:, :112].sum() / heat.sum()
    # The heat is that class's: another class's evidence lies elsewhere.
    other = gradcam(classifier.keras_model(), picture[None], np.array([(rows[best]["label"] + 1) % len(SCENE_CLASSES)]))[0]
    assert np.abs(other - heat).mean() > 0.05
    written = write_explanations([explanation], tmp_path / "cams")
    assert [p.name for p in written] == ["000_photo 0_gradcam.png", "grid.png"]


def test_robustness_reads_labels_by_class_name_and_names_the_refusal(trained_scenes, small_scenes_test, tmp_path):
    """The same photos with their ClassLabel in another order give the same figures: labels are read
    by name, in the run's order."""
    from catdog.evaluate.robustness import evaluate_robustness, robustness_markdown

    rows = read_rows(small_scenes_test, per_class=2, seed=3)
    mirrored = [{**r, "label": len(SCENE_CLASSES) - 1 - r["label"]} for r in rows]
    same = write_parquet(tmp_path / "same.parquet", rows, SCENE_CLASSES)
    reordered = write_parquet(tmp_path / "reordered.parquet", mirrored, SCENE_CLASSES[::-1])
    result = evaluate_robustness(trained_scenes.classifier, same)
    assert result["n"] == 12 and result["refusal"] == REFUSAL
    answers = trained_scenes.classifier.predict_photos(same)
    assert result["clean_accuracy"] == pytest.approx(np.mean([p.label == SCENE_CLASSES[r["label"]] for p, r in zip(answers, rows)]))
    assert result["clean_refused"] == pytest.approx(np.mean([p.label == REFUSAL for p in answers]))
    again = evaluate_robustness(trained_scenes.classifier, reordered)
    assert {**again, "data": None} == {**result, "data": None}
    assert "answered 'none of these'" in robustness_markdown(result) and "neither" not in robustness_markdown(result)


def test_data_inspect_counts_photos_by_class_name(small_scenes_test):
    result = catdog("data", "inspect", small_scenes_test, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["counts"] == dict.fromkeys(SCENE_CLASSES, 20)
    human = catdog("data", "inspect", small_scenes_test)
    assert all(f"{name}" in human.stdout for name in SCENE_CLASSES)
