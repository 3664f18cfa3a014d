"""The HTTP service through a real server on loopback, a real browser, and schemathesis."""

import io
import math
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from conftest import DATA, TEST, png_with_declared_size, read_rows, served

CATDOG = str(Path(sys.executable).with_name("catdog"))
CHROMIUM = os.environ.get("CATDOG_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(scope="module")
def server(exported_run, tmp_path_factory):
    log = tmp_path_factory.mktemp("server") / "server.log"
    with served([CATDOG, "serve", "--model", str(exported_run), "--engine", "tflite"], log) as url:
        yield url


@pytest.fixture(scope="module")
def photos():
    rows = read_rows(TEST, count=20)
    cat = next(r for r in rows if r["label"] == 0)
    dog = next(r for r in rows if r["label"] == 1)
    return cat["bytes"], dog["bytes"]


def test_health_ready_and_docs(server):
    assert httpx.get(server + "/healthz").json() == {"status": "ok"}
    ready = httpx.get(server + "/readyz").json()
    assert ready["ready"] is True and ready["model"]["engine"].startswith("tflite")
    model = httpx.get(server + "/v1/model").json()  # a cat/dog run lists its classes and its refusal
    assert model["classes"] == ["cat", "dog"] and model["refusal"] == "neither" and model["engine"] == ready["model"]["engine"]
    assert httpx.get(server + "/docs").status_code == 200
    assert "/v1/predict" in httpx.get(server + "/openapi.json").json()["paths"]


def test_predict_raw_body_matches_the_python_api(server, photos, exported_run):
    from catdog import Classifier

    expected = Classifier.load(exported_run, engine="tflite", glance=False).predict_photos(list(photos))
    for data, want in zip(photos, expected):
        response = httpx.post(server + "/v1/predict", content=data, headers={"content-type": "image/jpeg"})
        assert response.status_code == 200, response.text
        body = response.json()
        [photo] = body["predictions"]
        assert photo["label"] == want.label and photo["p_dog"] == pytest.approx(want.p_dog, abs=1e-5)
        assert photo["probabilities"] == pytest.approx({"cat": 1 - photo["p_dog"], "dog": photo["p_dog"]})
        assert photo["latency_ms"] > 0 and body["model"]["name"] == exported_run.name


def test_a_photo_with_no_pet_gets_the_answer_predict_gives(server, exported_run):
    """"neither" through the service is the same decision as through the Python API and the CLI."""
    from catdog import Classifier

    flowers = [r["bytes"] for r in read_rows(DATA / "ood.parquet", count=12)]
    expected = Classifier.load(exported_run, engine="tflite", glance=False).predict_photos(flowers)
    assert any(p.label == "neither" for p in expected)
    files = [("files", (f"flower{i}.jpg", data, "image/jpeg")) for i, data in enumerate(flowers)]
    body = httpx.post(server + "/v1/predict", files=files, timeout=60).json()
    assert [p["label"] for p in body["predictions"]] == [p.label for p in expected]


def test_predict_several_files_and_a_bad_one_among_them(server, photos):
    files = [("files", ("cat.jpg", photos[0], "image/jpeg")), ("files", ("dog.jpg", photos[1], "image/jpeg")),
             ("files", ("broken.jpg", photos[0][:300], "image/jpeg"))]
    response = httpx.post(server + "/v1/predict", files=files)
    assert response.status_code == 200, response.text
    predictions = response.json()["predictions"]
    assert [p["filename"] for p in predictions] == ["cat.jpg", "dog.jpg", "broken.jpg"]
    assert predictions[2]["label"] is None and "truncated" in predictions[2]["error"]


@pytest.mark.parametrize("make_request, status, message", [
    (lambda url, photos: httpx.post(url, content=b"hello", headers={"content-type": "text/plain"}), 415, "Unsupported content type"),
    (lambda url, photos: httpx.post(url, content=b"not a photo at all", headers={"content-type": "image/jpeg"}), 422, "not an image"),
    (lambda url, photos: httpx.post(url, content=b"", headers={"content-type": "image/png"}), 422, "empty"),
    (lambda url, photos: httpx.post(url, content=png_with_declared_size(40000, 40000), headers={"content-type": "image/png"}),
     422, "decompression bomb"),
    (lambda url, photos: httpx.post(url, content=os.urandom(11 * 1024 * 1024), headers={"content-type": "image/jpeg"}), 413, "limit"),
    (lambda url, photos: httpx.post(url, files=[("files", (f"{i}.jpg", photos[0], "image/jpeg")) for i in range(33)]), 413, "Too many files"),
    (lambda url, photos: httpx.post(url, files={"note": (None, "just text")}), 422, "No photo"),
])
def test_bad_requests_get_a_json_4xx(server, photos, make_request, status, message):
    response = make_request(server + "/v1/predict", photos)
    assert response.status_code == status, response.text
    assert message in response.json()["error"]


def test_chunked_upload_over_the_limit_is_refused(server):
    def chunks():
        for _ in range(12):
            yield os.urandom(1024 * 1024)

    response = httpx.post(server + "/v1/predict", content=chunks(), headers={"content-type": "image/jpeg"})
    assert response.status_code == 413


def test_concurrent_requests_are_micro_batched(server, photos):
    def one(_):
        return httpx.post(server + "/v1/predict", content=photos[1], headers={"content-type": "image/jpeg"}, timeout=60)

    with ThreadPoolExecutor(16) as pool:
        responses = list(pool.map(one, range(64)))
    assert all(r.status_code == 200 for r in responses)
    assert {r.json()["predictions"][0]["label"] for r in responses} == {"dog"}
    metrics = httpx.get(server + "/metrics").text
    count = float(next(line.split()[-1] for line in metrics.splitlines() if line.startswith("catdog_batch_size_count")))
    total = float(next(line.split()[-1] for line in metrics.splitlines() if line.startswith("catdog_batch_size_sum")))
    assert total / count > 1.0, (total, count)  # some model calls served several requests
    assert 'catdog_requests_total{path="/v1/predict",status="200"}' in metrics
    assert "catdog_request_latency_seconds_bucket" in metrics


def test_explain_returns_a_png_overlay(server, photos):
    response = httpx.post(server + "/v1/explain", content=photos[0], headers={"content-type": "image/jpeg"}, timeout=120)
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    from PIL import Image

    assert Image.open(io.BytesIO(response.content)).size == (224, 224)


def test_web_page_in_a_real_browser(server, photos, exported_run, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    from catdog import Classifier

    for name, data in zip(("cat.jpg", "dog.jpg"), photos):
        (tmp_path / name).write_bytes(data)
    (tmp_path / "notes.txt").write_text("not a photo")
    flowers = [r["bytes"] for r in read_rows(DATA / "ood.parquet", count=12)]
    answers = Classifier.load(exported_run, engine="tflite", glance=False).predict_photos(flowers)
    flower = next((data, p) for data, p in zip(flowers, answers) if p.label == "neither")
    (tmp_path / "flower.jpg").write_bytes(flower[0])
    screenshot = Path(os.environ.get("CATDOG_ARTIFACTS", tmp_path)) / "serve_page.png"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        page = browser.new_page()
        page.goto(server + "/")
        page.get_by_label("Drop photos here").set_input_files([tmp_path / "cat.jpg", tmp_path / "dog.jpg", tmp_path / "notes.txt"])
        page.wait_for_function("document.querySelectorAll('.card[data-label]').length === 3", timeout=60000)
        page.get_by_label("Drop photos here").set_input_files([tmp_path / "flower.jpg"])  # a second choice goes after the first
        expect(page.locator(".card[data-label]")).to_have_count(4, timeout=60000)
        expect(page.locator("#status")).to_have_text("Done: 4 files.")
        cards = page.query_selector_all(".card")
        labels = {card.get_attribute("data-filename"): card.get_attribute("data-label") for card in cards}
        assert labels == {"cat.jpg": "cat", "dog.jpg": "dog", "notes.txt": "error", "flower.jpg": "neither"}
        # the order the user chose them in, as on the web export's page
        assert [card.get_attribute("data-filename") for card in cards] == ["cat.jpg", "dog.jpg", "notes.txt", "flower.jpg"]
        # A rejected file: its name and a plain sentence, no image, no empty bar, no HTTP terms.
        assert page.inner_text(".card[data-filename='notes.txt'] .error") == "notes.txt is not a photo."
        assert page.query_selector_all(".card[data-filename='notes.txt'] img, .card[data-filename='notes.txt'] .bar") == []
        # "neither" shows what it rests on, how sure it is that no cat or dog is there, and no cat-dog bar
        neither = page.locator(".card[data-filename='flower.jpg']")
        sure = float(neither.get_attribute("data-sure"))
        assert sure == pytest.approx(1 - flower[1].pet_probability, abs=1e-4) and sure >= 0.5
        expect(neither.locator(".sure")).to_have_text(f"No cat or dog · {min(99, math.floor(sure * 100 + 0.5))} % sure")
        expect(neither.locator(".bar")).to_be_hidden()
        expect(neither.locator(".bar-legend")).to_be_hidden()
        assert "p(dog)" not in neither.inner_text()
        # a cat or a dog shows its bar at its p(dog), and no "no cat or dog" line
        for name, want in zip(("cat.jpg", "dog.jpg"), Classifier.load(exported_run, engine="tflite", glance=False).predict_photos(list(photos))):
            card = page.locator(f".card[data-filename='{name}']")
            expect(card.locator(".bar")).to_be_visible()
            assert float(card.locator(".bar").get_attribute("aria-valuenow")) == pytest.approx(100 * want.p_dog, abs=0.06)
            expect(card.locator(".pdog")).to_contain_text("p(dog) ")
            expect(card.locator(".sure")).to_be_hidden()
        page.click(".card[data-filename='cat.jpg'] button.cam")
        pressed = "document.querySelector(\".card[data-filename='cat.jpg'] button.cam\").getAttribute('aria-pressed') === 'true'"
        page.wait_for_function(pressed, timeout=120000)
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(screenshot), full_page=True)
        browser.close()
    assert screenshot.stat().st_size > 10_000


def test_schemathesis_finds_nothing_with_every_check(server):
    # Every check but positive_data_acceptance: a schema cannot say "must be a photo", so schema-valid
    # bytes that are not a photo are rightly refused with 422.
    result = subprocess.run([str(Path(sys.executable).with_name("schemathesis")), "run", server + "/openapi.json",
                             "--checks", "all", "--exclude-checks", "positive_data_acceptance",
                             "--max-examples", "25", "--generation-deterministic", "--request-timeout", "120"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-4000:]
