"""Named training recipes: starting points that explicit settings override.

"original" is the seed project's recipe (TrainConfig's defaults). "best" adds what measurably helped
on validation folds of the training photos (docs/ACCURACY.md has the ablation and its commands)."""

from __future__ import annotations

from typing import Any

from .config import TrainConfig
from .errors import UsageError

RECIPES: dict[str, dict[str, Any]] = {
    "original": {},
    "best": {
        # MobileNetV2 is fully convolutional: at 288 px its last blocks see 9x9 instead of 7x7 cells,
        # enough detail to separate the photos 224 px gets wrong (cross-validated, docs/ACCURACY.md).
        "image_size": 288,
        "mirror": True,
        "fine_tune_blocks": 3,
        "fine_tune_epochs": 8,
        "fine_tune_learning_rate": 1e-4,
        "schedule": "cosine",
        "label_smoothing": 0.1,
        "weight_decay": 1e-4,
        "tta": True,
        # The tuned blocks' answer averaged with a head on the frozen features: on other breeds
        # (shift.parquet) 98.8 % alone, 99.2 % averaged (docs/ACCURACY.md).
        "frozen_head_average": True,
        # At 288 px with the mirror averaged in, the pet score separates better: a lower rate still
        # refuses about 95 % of the development photos with no cat or dog (docs/TRUST.md).
        "neither_rate": 0.004,
    },
}


def recipe_config(name: str = "original", **overrides: Any) -> TrainConfig:
    """The recipe's settings with `overrides` (those not None) on top."""
    if name not in RECIPES:
        raise UsageError(f"Unknown recipe {name!r}; choose one of: {', '.join(RECIPES)}.")
    chosen = {key: value for key, value in overrides.items() if value is not None}
    return TrainConfig.from_dict({**RECIPES[name], **chosen, "recipe": name})
