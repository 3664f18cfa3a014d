"""The static web export: RUN/export/web/ holds a page, a verified TFLite file of the run (the int8
one: export.WEB_MODEL_FORMAT) and the pinned MediaPipe Tasks Web runtime. Any static file
server can serve it; the page classifies chosen or dropped photos and camera frames in the browser,
and no request leaves its origin (its Content-Security-Policy says so to the browser)."""

from __future__ import annotations

import html
import shutil
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

from ..classes import is_cat_dog
from ..decide import Decision
from ..files import atomic_path, write_json
from . import web_runtime

PAGE_FILES = ("index.html", "app.js")
MODEL_FILE = "model.tflite"


def page_texts(decision: Decision) -> dict[str, str]:
    """The page's title, heading and lead for the run's classes (HTML-escaped): what a user reads
    before the model has loaded, so they are in the page itself, not filled in by its script."""
    if is_cat_dog(decision.classes):  # the page as it always was
        return {"title": "catdog — cat, dog or neither, in your browser", "heading": "Cat, dog or neither?",
                "lead": "Runs entirely in this browser: photos never leave your computer. Photos with no cat or dog are "
                        "answered “neither”."}
    *first, last = decision.classes
    names = f"{', '.join(first)} or {last}"
    texts = {"title": f"catdog — {', '.join(decision.classes)} or {decision.refusal}, in your browser",
             "heading": names[:1].upper() + names[1:] + "?",
             "lead": f"Runs entirely in this browser: photos never leave your computer. Photos of none of these "
                     f"{len(decision.classes)} classes are answered “{decision.refusal}”."}
    return {key: html.escape(text) for key, text in texts.items()}


def page_config(decision: Decision, model_bytes: int) -> dict[str, Any]:
    """config.json: the model file and how the page reads its scores. The labels come with the
    file's categories (its labels.txt); `classes` and `refusal` say which of them is which."""
    # model_bytes: the page says how much it is loading ("Loading the model (5.9 MB)…") whatever the server sends
    return {"model": MODEL_FILE, "model_bytes": model_bytes, "threshold": decision.threshold,
            "classes": list(decision.classes), "refusal": decision.refusal}


def write_web_export(target: Path, tflite_model: Path, decision: Decision, runtime_tarball: Path | None = None) -> dict[str, Any]:
    """Fill the folder `target` (made here, replaced if present); returns what the manifest records."""
    runtime = web_runtime.runtime_files(runtime_tarball)
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    page = resources.files("catdog.edge") / "web_page"
    for name in PAGE_FILES:
        text = (page / name).read_text(encoding="utf-8")
        if name == "index.html":  # a template: $title, $heading, $lead
            text = Template(text).substitute(page_texts(decision))
        (target / name).write_text(text, encoding="utf-8")
    shutil.copyfile(tflite_model, target / MODEL_FILE)
    for name, data in runtime.items():
        # .mjs as .js: every static server sends .js as JavaScript, which a module script requires.
        path = target / "runtime" / name.replace(".mjs", ".js")
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            tmp.write_bytes(data)
    write_json(target / "config.json", page_config(decision, (target / MODEL_FILE).stat().st_size))
    return {"runtime": {"package": web_runtime.PACKAGE, "version": web_runtime.VERSION, "integrity": web_runtime.INTEGRITY},
            "model_file": MODEL_FILE, "page_bytes": sum(p.stat().st_size for p in target.rglob("*") if p.is_file())}
