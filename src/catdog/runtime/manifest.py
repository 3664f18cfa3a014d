"""The export manifest: which verified exports a run has (RUN/export/manifest.json), read by the
engines that run them and written by catdog.export. No TensorFlow here."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..decide import Decision
from ..files import file_digest, write_json
from ..run_folder import RunFolder

MANIFEST_FILE = "manifest.json"

# format -> (file or folder name inside RUN/export, engine that runs it or None)
FORMATS: dict[str, tuple[str, str | None]] = {
    "onnx": ("model.onnx", "onnx"),
    "onnx-int8": ("model_int8.onnx", "onnx"),  # quantised from model.onnx (catdog.onnx_int8)
    "tflite": ("model.tflite", "tflite"),
    "tflite-fp16": ("model_fp16.tflite", "tflite"),
    "tflite-int8": ("model_int8.tflite", "tflite"),
    "savedmodel": ("saved_model", None),
    "web": ("web", None),  # a static page around the tflite-int8 file (catdog.edge.web, export.WEB_MODEL_FORMAT)
}


def export_path(run: RunFolder, fmt: str) -> Path:
    return run.export_dir / FORMATS[fmt][0]


def read_manifest(run: RunFolder) -> dict[str, Any]:
    path = run.export_dir / MANIFEST_FILE
    if not path.is_file():
        return {"exports": {}}
    try:
        manifest = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {"exports": {}}
    manifest.setdefault("exports", {})
    return manifest


def write_manifest(run: RunFolder, manifest: dict[str, Any]) -> None:
    write_json(run.export_dir / MANIFEST_FILE, manifest)


def usable_exports(run: RunFolder) -> dict[str, dict[str, Any]]:
    """Verified exports whose files exist and that were made from the current model.keras."""
    manifest = read_manifest(run)
    current = file_digest(run.model_path) if run.model_path.is_file() else None
    usable = {}
    for fmt, record in manifest["exports"].items():
        if fmt not in FORMATS or not record.get("verified"):
            continue
        if current is not None and record.get("model_sha256") != current:
            continue  # exported from an earlier model: stale
        if export_path(run, fmt).exists():
            usable[fmt] = record
    return usable


def baked_decision(run: RunFolder, fmt: str) -> Decision:
    """The decision an answer-score export (N + 1 scores: the classes, then the refusal) holds as
    constants: the run's, at the operating point the export was made for (`catdog export --refuse`);
    engines read [class output, pet score] back with it."""
    decision = run.decision()
    baked = read_manifest(run)["exports"].get(fmt, {}).get("neither_below")
    return decision if baked is None else replace(decision, neither_below=baked)
