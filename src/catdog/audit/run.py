"""The audit of one labelled source (and its leaks into another): one pass over the bytes for names,
hashes and sizes, the frozen features of every photo and its centre crop (cached, as training
caches them), then the checks."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from ..classes import is_cat_dog
from ..config import TrainConfig
from ..data.data_report import DataReport
from ..data.decode import image_info
from ..data.sources import PhotoSource, labelled, open_source
from ..decide import Decision
from ..errors import DecodeError, ModelError
from ..model.backbone import resolve_classifier_weights
from ..model.pet_score import fit_pet_scorer, imagenet_classifier
from ..progress import log
from ..training.trainer import frozen_features
from .duplicates import content_hash, exact_pairs, groups, similar_pairs
from .labels import label_issues

VIEWS = (None, "centre")  # the photo and its centre crop: see duplicates.py
SMALLEST_SIDE = 64  # below this many pixels a side, a photo holds too little to learn from
MOST_STRETCHED = 4.0  # a longer side over four times the shorter squeezes the pet when resized square


def _catalogue(source: PhotoSource) -> tuple[list[str], list[str | None], list[dict[str, Any]]]:
    """Names, content hashes, and the rows too small or too stretched, from the bytes and headers only."""
    names, hashes, odd = [], [], []
    for photo in source.photos():
        names.append(photo.name or photo.id)
        hashes.append(content_hash(photo.data))
        if photo.data is None:
            continue
        try:
            info = image_info(photo.data)
        except DecodeError:
            continue  # reported as unreadable by the feature pass
        short, long = sorted((info.width, info.height))
        if short < SMALLEST_SIDE:
            odd.append({"row": photo.index, "name": names[-1], "reason": f"too small ({info.width}x{info.height})"})
        elif long > MOST_STRETCHED * short:
            odd.append({"row": photo.index, "name": names[-1], "reason": f"too stretched ({info.width}x{info.height})"})
    return names, hashes, odd


def _no_pet(features: np.ndarray, labels: np.ndarray, rows: np.ndarray, names: list[str], config: TrainConfig,
            classes: tuple[str, ...]) -> list[dict[str, Any]]:
    """The photos a model trained on this file would refuse ("neither"): held-out pet scores (each
    photo scored by a pet score fitted without it) under the threshold training would set."""
    try:
        imagenet = imagenet_classifier(resolve_classifier_weights(config.weights))
    except ModelError as exc:
        log(f"Warning: {exc} The no-pet check rests on similarity and density alone.")
        imagenet = None
    _, threshold, held_out, _ = fit_pet_scorer([features], labels, imagenet, config.seed, rate=config.neither_rate,
                                               cat_dog=is_cat_dog(classes))
    if len(held_out) != len(features):  # above MAX_FIT_PHOTOS only a sample is held out
        return []
    refused = Decision(neither_below=threshold, classes=classes).refused(held_out)
    order = np.argsort(held_out)
    return [{"row": int(rows[i]), "name": names[i], "pet_score": round(float(held_out[i]), 3)} for i in order if refused[i]]


def audit(data: str, against: str | None = None, *, config: TrainConfig | None = None,
          cache_path: str | None = None) -> dict[str, Any]:
    """Everything `catdog data audit` reports, as one JSON-ready dict."""
    config = config or TrainConfig()
    started = time.perf_counter()
    source = open_source(data, require_labels=True)
    classes, labels = labelled(source, config.classes)
    names, hashes, odd = _catalogue(source)
    report = DataReport(source.description, rows=len(source))
    rows, views = frozen_features(source, config, transforms=VIEWS, cache_path=cache_path, report=report)
    kept_names = [names[i] for i in rows]
    kept_labels = labels[rows].astype(int)

    issues = label_issues(views[0], kept_labels, rows, kept_names, config.seed, classes)
    position = {int(row): k for k, row in enumerate(rows)}  # source row -> position among decoded photos
    pairs = similar_pairs(views) + [(position[i], position[j], s) for i, j, s in exact_pairs(hashes) if i in position and j in position]
    near = [{"rows": [int(rows[m]) for m in group], "names": [kept_names[m] for m in group]}
            for group in groups(pairs, len(rows))]
    leaks: list[dict[str, Any]] = []
    if against:
        other = open_source(against, require_labels=False)
        other_names, other_hashes, _ = _catalogue(other)
        other_rows, other_views = frozen_features(other, config, transforms=VIEWS, cache_path=cache_path)
        matches = {(int(rows[i]), int(other_rows[j])): s for i, j, s in similar_pairs(views, other_views)}
        matches.update({(i, j): 1.0 for i, j, _ in exact_pairs(hashes, other_hashes)})
        leaks = [{"row": i, "name": names[i], "other_row": j, "other_name": other_names[j], "similarity": round(s, 4)}
                 for (i, j), s in sorted(matches.items())]
    no_pet = _no_pet(views[0], kept_labels, rows, kept_names, config, classes)
    unreadable = [{"row": s["index"], "name": s["name"] or s["id"], "reason": s["reason"]} for s in report.skipped]
    result: dict[str, Any] = {
        "data": str(data), "against": against, "photos": len(source),
        "label_issues": issues, "near_duplicates": near, "leaks": leaks, "no_pet": no_pet, "odd": odd, "unreadable": unreadable,
    }
    result["counts"] = {key: len(result[key]) for key in ("label_issues", "near_duplicates", "leaks", "no_pet", "odd", "unreadable")}
    result["seconds"] = round(time.perf_counter() - started, 1)
    return result

