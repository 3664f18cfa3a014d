"""The static web export in a real browser (Debian's Chromium through Playwright): served by a plain
static file server on loopback, it classifies real photos and a live (fake) camera with the answers
`catdog predict` gives, rejects a text file in plain words, and asks nothing of any other origin."""

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from catdog import Classifier
from conftest import DATA, TEST, read_rows

CHROMIUM = os.environ.get("CATDOG_CHROMIUM", "/usr/bin/chromium")
BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def web_server(exported_run):
    """`python -m http.server` on the export folder: any static server must do."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    folder = exported_run / "export" / "web"
    process = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(folder)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    yield base
    process.terminate()
    process.wait(timeout=10)


def y4m_video(frames: list[np.ndarray], path: Path, repeat: int = 10) -> Path:
    """A YUV4MPEG2 4:2:0 file (what Chromium's fake camera plays, in a loop) showing each frame `repeat` times."""
    height, width = frames[0].shape[:2]
    with open(path, "wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode())
        for frame in frames:
            y, cb, cr = np.asarray(Image.fromarray(frame).convert("YCbCr"), dtype=np.float32).transpose(2, 0, 1)
            # chroma at half resolution in both directions: the mean of each 2x2 block
            half = [c.reshape(height // 2, 2, width // 2, 2).mean(axis=(1, 3)) for c in (cb, cr)]
            planes = b"".join(np.clip(np.rint(p), 0, 255).astype(np.uint8).tobytes() for p in (y, *half))
            for _ in range(repeat):
                out.write(b"FRAME\n" + planes)
    return path


def launch(playwright, extra=()):
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=BROWSER_ARGS + list(extra))


def test_the_page_classifies_photos_as_catdog_predict_does_offline(exported_run, web_server, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    rows = read_rows(TEST, per_class=30, seed=11) + read_rows(DATA / "shift.parquet", per_class=15, seed=11)
    rows += read_rows(DATA / "ood_diverse.parquet", count=20, seed=11)
    files = []
    for number, row in enumerate(rows):
        files.append(tmp_path / f"photo{number:03d}.jpg")
        files[-1].write_bytes(row["bytes"])
    (tmp_path / "notes.txt").write_text("not a photo")
    expected = dict(zip((f.name for f in files), Classifier.load(exported_run, engine="keras").predict([r["bytes"] for r in rows])))

    requests: list[str] = []
    with sync_playwright() as playwright:
        browser = launch(playwright)
        page = browser.new_page()
        page.on("request", lambda request: requests.append(request.url))
        started = time.perf_counter()
        page.goto(web_server + "/")
        page.wait_for_selector("body[data-ready='true']", timeout=120000)
        load_seconds = time.perf_counter() - started
        page.locator("#file-input").set_input_files(files + [tmp_path / "notes.txt"])
        # locators, not wait_for_function: the page's Content-Security-Policy forbids eval, Playwright's included
        expect(page.locator(".card[data-label]")).to_have_count(len(files) + 1, timeout=300000)
        cards = {card.get_attribute("data-name"): card for card in page.query_selector_all(".card")}
        labels = {name: card.get_attribute("data-label") for name, card in cards.items()}
        milliseconds = [float(card.get_attribute("data-ms")) for name, card in cards.items() if name != "notes.txt"]
        # A rejected file: its name and a plain sentence, no picture
        assert labels.pop("notes.txt") == "error"
        assert page.inner_text(".card[data-name='notes.txt'] .error") == "notes.txt is not a photo."
        assert page.query_selector_all(".card[data-name='notes.txt'] img") == []
        browser.close()
    agreement = np.mean([labels[name] == answer for name, answer in expected.items()])
    print(json.dumps({"photos": len(expected), "agreement": agreement, "median_ms": float(np.median(milliseconds)),
                      "load_seconds": load_seconds}))
    assert {"cat", "dog", "neither"} <= set(expected.values())
    assert agreement >= 0.975, [(n, labels[n], a) for n, a in expected.items() if labels[n] != a]
    outside = [url for url in requests if not url.startswith((web_server, "blob:", "data:"))]
    assert outside == [] and any(url.endswith("model.tflite") for url in requests)


def test_the_page_classifies_a_live_camera(exported_run, web_server, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    from catdog.data.decode import decode_image

    row = read_rows(TEST, per_class=1, seed=2)[1]
    expected = Classifier.load(exported_run, engine="keras").predict([row["bytes"]])[0]
    video = y4m_video([decode_image(row["bytes"], 320)], tmp_path / "camera.y4m")
    screenshot = Path(os.environ.get("CATDOG_ARTIFACTS", tmp_path)) / "web_export_page.png"
    with sync_playwright() as playwright:
        browser = launch(playwright, ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                                      f"--use-file-for-fake-video-capture={video}"])
        context = browser.new_context(permissions=["camera"])
        page = context.new_page()
        page.goto(web_server + "/")
        page.wait_for_selector("body[data-ready='true']", timeout=120000)
        page.click("#camera-button")
        expect(page.locator("#camera-result")).to_have_attribute("data-frames", re.compile(r"^([3-9]|\d\d+)$"), timeout=120000)
        label = page.get_attribute("#camera-result", "data-label")
        photo = tmp_path / "photo.jpg"
        photo.write_bytes(row["bytes"])
        page.locator("#file-input").set_input_files([photo])
        page.wait_for_selector(".card[data-label]", timeout=60000)
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(screenshot), full_page=True)
        browser.close()
    assert label == expected
    assert screenshot.stat().st_size > 10_000
