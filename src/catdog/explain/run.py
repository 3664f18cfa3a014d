"""`catdog explain`: Grad-CAM heatmaps for photos, one PNG each plus a grid."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..data.inputs import as_source
from ..data.pipeline import decode_batches
from ..decide import ANSWERS
from ..files import atomic_path
from ..report.plots import plot_explanation_grid
from .gradcam import Explanation, gradcam, overlay


def explain(classifier, inputs: Any, batch_size: int = 8) -> list[Explanation]:
    """Grad-CAM for every readable photo of `inputs` (unreadable ones are left out), labelled with the
    answer `catdog predict` gives ("neither" included); the heat shows the evidence for cat or dog."""
    model = classifier.keras_model()
    size = int(model.input_shape[1])
    explanations = []
    for photos, pixels in decode_batches(as_source(inputs).photos(), size, batch_size, classifier.config.decode_threads):
        heatmaps, _ = gradcam(model, pixels, classifier.decision)
        p_dog, pet = classifier.predict_pixels(pixels)
        answers = classifier.decision.codes(p_dog, pet)
        for photo, image, heat, p, answer in zip(photos, pixels, heatmaps, p_dog, answers):
            explanations.append(Explanation(photo.id, ANSWERS[answer], float(p), heat, image))
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
