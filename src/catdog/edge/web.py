"""The static web export: RUN/export/web/ holds a page, a verified TFLite file of the run (the int8
one: export.WEB_MODEL_FORMAT) and the pinned MediaPipe Tasks Web runtime. Any static file
server can serve it; the page classifies chosen or dropped photos and camera frames in the browser,
and no request leaves its origin (its Content-Security-Policy says so to the browser)."""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path
from typing import Any

from ..decide import Decision
from ..files import atomic_path, write_json
from . import web_runtime

PAGE_FILES = ("index.html", "app.js")
MODEL_FILE = "model.tflite"


def write_web_export(target: Path, tflite_model: Path, decision: Decision, runtime_tarball: Path | None = None) -> dict[str, Any]:
    """Fill the folder `target` (made here, replaced if present); returns what the manifest records."""
    runtime = web_runtime.runtime_files(runtime_tarball)
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    page = resources.files("catdog.edge") / "web_page"
    for name in PAGE_FILES:
        (target / name).write_bytes((page / name).read_bytes())
    shutil.copyfile(tflite_model, target / MODEL_FILE)
    for name, data in runtime.items():
        # .mjs as .js: every static server sends .js as JavaScript, which a module script requires.
        path = target / "runtime" / name.replace(".mjs", ".js")
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            tmp.write_bytes(data)
    # model_bytes: the page says how much it is loading ("Loading the model (5.9 MB)…") whatever the server sends
    write_json(target / "config.json", {"model": MODEL_FILE, "model_bytes": (target / MODEL_FILE).stat().st_size, "threshold": decision.threshold})
    return {"runtime": {"package": web_runtime.PACKAGE, "version": web_runtime.VERSION, "integrity": web_runtime.INTEGRITY},
            "model_file": MODEL_FILE, "page_bytes": sum(p.stat().st_size for p in target.rglob("*") if p.is_file())}
