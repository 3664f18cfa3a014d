"""Accuracy under common corruptions (after Hendrycks & Dietterich, 2019), three severities each,
applied to the decoded 224x224 photo the model sees. Seeded, so reruns give the same figures."""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter

from ..data.inputs import as_labelled_source
from ..data.pipeline import decode_batches
from ..data.sources import labelled

Corruption = Callable[[np.ndarray, int, np.random.Generator], np.ndarray]
SEVERITIES = (1, 2, 3)


def _pil(pixels: np.ndarray) -> Image.Image:
    return Image.fromarray(pixels)


def gaussian_noise(pixels, severity, rng):
    sigma = (8, 18, 32)[severity - 1]
    return np.clip(pixels + rng.normal(0, sigma, pixels.shape), 0, 255).astype(np.uint8)


def blur(pixels, severity, rng):
    return np.asarray(_pil(pixels).filter(ImageFilter.GaussianBlur((1.0, 2.0, 3.5)[severity - 1])))


def jpeg(pixels, severity, rng):
    buffer = io.BytesIO()
    _pil(pixels).save(buffer, format="JPEG", quality=(30, 12, 5)[severity - 1])
    return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))


def brightness(pixels, severity, rng):
    factor = (1.5, 0.45, 2.2)[severity - 1]  # brighter, darker, much brighter
    return np.asarray(ImageEnhance.Brightness(_pil(pixels)).enhance(factor))


def contrast(pixels, severity, rng):
    return np.asarray(ImageEnhance.Contrast(_pil(pixels)).enhance((0.6, 0.35, 0.15)[severity - 1]))


def rotation(pixels, severity, rng):
    angle = (15, 30, 45)[severity - 1] * rng.choice((-1, 1))
    return np.asarray(_pil(pixels).rotate(angle, resample=Image.Resampling.BILINEAR, fillcolor=(0, 0, 0)))


def occlusion(pixels, severity, rng):
    side = int(pixels.shape[0] * (0.3, 0.45, 0.6)[severity - 1])  # 9 %, 20 %, 36 % of the area
    out = pixels.copy()
    top, left = rng.integers(0, pixels.shape[0] - side + 1, size=2)
    out[top : top + side, left : left + side] = 127
    return out


def low_resolution(pixels, severity, rng):
    small = (64, 40, 24)[severity - 1]
    size = pixels.shape[0]
    return np.asarray(_pil(pixels).resize((small, small), Image.Resampling.BILINEAR).resize((size, size), Image.Resampling.BILINEAR))


CORRUPTIONS: dict[str, Corruption] = {
    "gaussian_noise": gaussian_noise, "blur": blur, "jpeg": jpeg, "brightness": brightness,
    "contrast": contrast, "rotation": rotation, "occlusion": occlusion, "low_resolution": low_resolution,
}


def corrupt_batch(pixels: np.ndarray, name: str, severity: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack([CORRUPTIONS[name](image, severity, rng) for image in pixels])


def robustness_table(answer: Callable[[np.ndarray], np.ndarray], batches, seed: int = 0, refusal_code: int = 2) -> dict:
    """`answer`: uint8 pixels -> answer codes (decide.Decision's: the class's label, `refusal_code` =
    Decision.none_code for the refusal; 0 cat, 1 dog, 2 neither by default); `batches`: iterable of
    (uint8 pixels, labels). Returns clean accuracy, accuracy per corruption and severity, and the mean
    over all corruptions and severities, counted as users see them (a refusal of a photo of a class is
    wrong); `refused` gives the share refused apart, so that the "none of these" score giving way is
    told from the class side erring (the rest of the wrong answers)."""
    correct: dict[tuple[str, int], int] = {}
    refused: dict[tuple[str, int], int] = {}
    clean, clean_refused, total = 0, 0, 0
    for batch_number, (pixels, labels) in enumerate(batches):
        codes = answer(pixels)
        clean += int((codes == labels).sum())
        clean_refused += int((codes == refusal_code).sum())
        total += len(labels)
        for name in CORRUPTIONS:
            for severity in SEVERITIES:
                corrupted = corrupt_batch(pixels, name, severity, seed + batch_number * 1000 + severity)
                codes = answer(corrupted)
                correct[(name, severity)] = correct.get((name, severity), 0) + int((codes == labels).sum())
                refused[(name, severity)] = refused.get((name, severity), 0) + int((codes == refusal_code).sum())
    table = {name: [correct[(name, s)] / total for s in SEVERITIES] for name in CORRUPTIONS}
    return {
        "n": total,
        "clean_accuracy": clean / total,
        "clean_refused": clean_refused / total,
        "accuracy": table,
        "refused": {name: [refused[(name, s)] / total for s in SEVERITIES] for name in CORRUPTIONS},
        "mean_corruption_accuracy": float(np.mean([v for row in table.values() for v in row])),
    }


def evaluate_robustness(classifier, data, limit: int | None = None, seed: int = 0) -> dict:
    """Answer accuracy of `classifier` (its engine, TTA and refusal settings) on `data` under every corruption."""
    source = as_labelled_source(data)
    decision = classifier.decision
    # The data's labels in the run's class order (its class names may come in another, or name some of them).
    _, labels = labelled(source, classifier.classes_, of_run=True)
    indices = None if limit is None else range(min(limit, len(labels)))
    size = classifier.engine.image_size

    def batches():
        for photos, pixels in decode_batches(source.photos(indices), size, 32, classifier.config.decode_threads):
            yield pixels, labels[[p.index for p in photos]]

    result = robustness_table(lambda px: decision.codes(*classifier.predict_pixels(px)), batches(), seed, decision.none_code)
    result["data"] = source.description
    result["refusal"] = decision.refusal
    return result


def robustness_markdown(result: dict) -> str:
    refusal = result.get("refusal", "neither")  # results written before other classes existed are cat/dog ones
    lines = [f"Clean accuracy {result['clean_accuracy']:.4f} ({result['clean_refused']:.1%} answered '{refusal}') on "
             f"{result['n']} photos of {result['data']}; mean corruption accuracy {result['mean_corruption_accuracy']:.4f}.",
             f"Each cell: answers right (share answered '{refusal}', counted among the wrong ones).", "",
             "| corruption | severity 1 | severity 2 | severity 3 |", "|---|---|---|---|"]
    for name, row in result["accuracy"].items():
        cells = [f"{v:.4f} ({r:.1%})" for v, r in zip(row, result["refused"][name])]
        lines.append(f"| {name.replace('_', ' ')} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
