"""`catdog explain`: Grad-CAM heatmaps for photos, one PNG each plus a grid."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..classifier import Prediction
from ..data.inputs import as_source
from ..data.pipeline import decode_batches
from ..files import atomic_path
from ..report.plots import plot_explanation_grid
from .gradcam import Explanation, gradcam, overlay


def explain(classifier, inputs: Any, batch_size: int = 8) -> list[Explanation]:
    """Grad-CAM for every readable photo of `inputs` (unreadable ones are left out), labelled with the
    answer `catdog predict` gives (the refusal included); the heat shows the evidence for the
    likeliest class."""
    model = classifier.keras_model()
    size = int(model.input_shape[1])
    explanations = []
    for photos, pixels in decode_batches(as_source(inputs).photos(), size, batch_size, classifier.config.decode_threads):
        explanations += explain_pixels(classifier, model, pixels, [photo.id for photo in photos])
    return explanations


def explain_pixels(classifier, model, pixels: np.ndarray, ids: Sequence[str],
                   scores: tuple[np.ndarray, np.ndarray | None] | None = None) -> list[Explanation]:
    """Explanations of decoded photos [n, s, s, 3] by `model` (classifier.keras_model()): the answer
    as `predict` gives it, and the heat of the class it chose (the likeliest one when it refuses).
    `scores`: the classifier's (class output, pet score) for these photos when the caller has them
    already (the server's batcher, which owns its engine); else the classifier computes them."""
    p, pet = classifier.predict_pixels(pixels) if scores is None else scores
    decision = classifier.decision
    heatmaps = gradcam(model, pixels, decision.top(p))
    explanations = []
    for row, (id, image, heat, chosen) in enumerate(zip(ids, pixels, heatmaps, decision.top(p))):
        answer = Prediction.scored(id, id, p[row], None if pet is None else pet[row], decision)
        assert answer.label is not None and answer.confidence is not None and answer.probabilities is not None
        explanations.append(Explanation(id, answer.label, decision.classes[int(chosen)], answer.confidence, answer.probabilities,
                                        heat, image))
    return explanations


def write_explanations(explanations: list[Explanation], out: Path) -> list[Path]:
    """One overlay PNG per photo and grid.png with all of them, titled with label and probability."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for number, item in enumerate(explanations):
        stem = Path(item.id.split("#")[0]).stem + (f"_{item.id.split('#')[1]}" if "#" in item.id else "")
        target = out / f"{number:03d}_{stem}_gradcam.png"
        with atomic_path(target) as tmp:
            Image.fromarray(np.concatenate([item.pixels, overlay(item.pixels, item.heatmap)], axis=1)).save(tmp, format="PNG")
        written.append(target)
    if explanations:
        written.append(plot_explanation_grid(explanations, out / "grid.png"))
    return written
