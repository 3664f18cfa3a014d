"""The web export in Chromium: page weight (bytes on disk and gzip-compressed, as a static server
that compresses would send them), time to a ready page, and in-browser time per photo, for the int8
(the export's) and float16 TFLite files, interleaved in one run. Needs a run with `catdog export
--format web --format tflite-fp16` and Debian's Chromium. `--baseline RUN` adds that run's web page
(another model, an older export) to the same interleaved rounds. Prints one JSON object, with the
machine (catdog.machine.describe()) and each page's model file size.

    .venv/bin/python benchmarks/web_page.py --model runs/orig --data ../shared/data/test.parquet
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq
from playwright.sync_api import expect, sync_playwright

from catdog.machine import describe

CHROMIUM = os.environ.get("CATDOG_CHROMIUM", "/usr/bin/chromium")


def page_weight(folder: Path) -> dict[str, int]:
    files = [p for p in folder.rglob("*") if p.is_file()]
    return {"bytes": sum(p.stat().st_size for p in files),
            "gzip_bytes": sum(len(gzip.compress(p.read_bytes(), 6)) for p in files),
            "model_bytes": (folder / "model.tflite").stat().st_size,
            "model_gzip_bytes": len(gzip.compress((folder / "model.tflite").read_bytes(), 6))}


def measure(browser, base: str, photos: list[Path]) -> dict[str, float]:
    page = browser.new_page()
    started = time.perf_counter()
    page.goto(base + "/")
    page.wait_for_selector("body[data-ready='true']", timeout=120000)
    ready = time.perf_counter() - started
    page.locator("#file-input").set_input_files(photos)
    expect(page.locator(".card[data-label]")).to_have_count(len(photos), timeout=600000)
    ms = [float(card.get_attribute("data-ms")) for card in page.query_selector_all(".card")][1:]  # first: warm-up
    page.close()
    return {"ready_seconds": ready, "median_ms": statistics.median(ms), "p90_ms": sorted(ms)[int(0.9 * len(ms))]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True, type=Path)
    parser.add_argument("--data", required=True)
    parser.add_argument("--photos", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--baseline", type=Path, help="another run folder whose web export joins the rounds")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="catdog-web-bench-"))
    web = args.model / "export" / "web"
    variants = {"tflite-int8": work / "int8", "tflite-fp16": work / "fp16"}
    shutil.copytree(web, variants["tflite-int8"])
    shutil.copytree(web, variants["tflite-fp16"])
    shutil.copyfile(args.model / "export" / "model_fp16.tflite", variants["tflite-fp16"] / "model.tflite")
    if args.baseline:
        variants["baseline tflite-int8"] = work / "baseline"
        shutil.copytree(args.baseline / "export" / "web", variants["baseline tflite-int8"])
    photos = []
    for number, row in enumerate(pq.read_table(args.data).column("image").to_pylist()[: args.photos]):
        photos.append(work / f"photo{number:03d}.jpg")
        photos[-1].write_bytes(row["bytes"])

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(work)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1)
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in variants}
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"])
            for _ in range(args.rounds):  # interleaved, so drift on a shared machine hits both alike
                for name, folder in variants.items():
                    runs[name].append(measure(browser, f"http://127.0.0.1:{port}/{folder.name}", photos))
            version = browser.version
            browser.close()
    finally:
        server.terminate()
    result = {
        "machine": describe(), "cpu": platform.processor() or platform.machine(), "chromium": version, "photos": len(photos),
        "model": str(args.model), "baseline": str(args.baseline) if args.baseline else None,
        **{name: {**page_weight(folder), "median_ms": statistics.median(r["median_ms"] for r in runs[name]),
                  "p90_ms": statistics.median(r["p90_ms"] for r in runs[name]),
                  "ready_seconds": statistics.median(r["ready_seconds"] for r in runs[name])}
           for name, folder in variants.items()},
    }
    shutil.rmtree(work)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
