"""Where a run's exports live and how the manifest describes them. No TensorFlow here."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..files import file_digest

EXPORT_DIR = "export"
MANIFEST_FILE = "manifest.json"

# format -> (file or folder name inside RUN/export, engine that runs it or None)
FORMATS: dict[str, tuple[str, str | None]] = {
    "onnx": ("model.onnx", "onnx"),
    "tflite": ("model.tflite", "tflite"),
    "tflite-fp16": ("model_fp16.tflite", "tflite"),
    "tflite-int8": ("model_int8.tflite", "tflite"),
    "savedmodel": ("saved_model", None),
}


def read_manifest(run_dir: Path) -> dict[str, Any]:
    path = run_dir / EXPORT_DIR / MANIFEST_FILE
    if not path.is_file():
        return {"exports": {}}
    try:
        manifest = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {"exports": {}}
    manifest.setdefault("exports", {})
    return manifest


def usable_exports(run_dir: Path, model_path: Path | None = None) -> dict[str, dict[str, Any]]:
    """Verified exports whose files exist and that were made from the current model.keras."""
    manifest = read_manifest(run_dir)
    current = file_digest(model_path) if model_path and model_path.is_file() else None
    usable = {}
    for fmt, record in manifest["exports"].items():
        if fmt not in FORMATS or not record.get("verified"):
            continue
        if current is not None and record.get("model_sha256") != current:
            continue  # exported from an earlier model: stale
        if (run_dir / EXPORT_DIR / FORMATS[fmt][0]).exists():
            usable[fmt] = record
    return usable
