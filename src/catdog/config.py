"""Training settings. The defaults are the original project's recipe."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from .errors import UsageError

# Blocks 1-16 of MobileNetV2; fine-tuning more than this many leaves the cached activations too large
# (block 10's output is 14x14x64) for the speed that makes cached fine-tuning worth having.
MAX_FINE_TUNE_BLOCKS = 6


@dataclass
class TrainConfig:
    image_size: int = 224
    batch_size: int = 32
    val_split: float = 0.2
    seed: int = 42
    # The original trained until EarlyStopping(val_loss, patience=4) fired; max_epochs only bounds it.
    max_epochs: int = 50
    patience: int = 4
    learning_rate: float = 1e-3  # Adam's default, as the original used
    dropout: float = 0.5
    dense_units: int = 64
    weights: str = "imagenet"  # "imagenet" (Keras cache / download) or a path to the no-top .h5 file
    # Optional second phase: unfreeze the top N backbone layers at a low learning rate.
    fine_tune: int = 0
    fine_tune_epochs: int = 5
    fine_tune_learning_rate: float = 1e-5
    augment: bool = False
    # Fine-tune the top N of MobileNetV2's 16 inverted-residual blocks (and its last 1x1 conv) on
    # activations cached at the cut point below them: only the thawed blocks run each step.
    fine_tune_blocks: int = 0
    # Train on each photo and its mirror image (both cached); predict with --tta to average the two.
    mirror: bool = False
    label_smoothing: float = 0.0
    weight_decay: float = 0.0  # decoupled (AdamW) in both phases when > 0
    schedule: str = "constant"  # fine-tuning learning rate: constant, or cosine (one warm-up epoch, cosine decay)
    tta: bool = False  # the run predicts with test-time augmentation (photo + mirror) unless told otherwise
    # With fine-tuning: p(dog) averages the tuned model's logit with that of a head trained on the frozen
    # backbone's features, so tuning cannot lose what ImageNet's features know of breeds the training
    # photos lack (docs/ACCURACY.md).
    frozen_head_average: bool = False
    recipe: str = "original"  # the named recipe these settings started from (catdog.recipes)
    # Temperature scaling on the validation photos, folded into the saved model.
    calibrate: bool = True
    # Share of held-out training photos (cats and dogs) under the "neither" threshold: the smallest that
    # still refuses about 95 % of the development files' photos with no cat or dog (docs/TRUST.md).
    neither_rate: float = 0.0075
    decode_threads: int = 4
    feature_engine: str = "auto"  # engine for frozen-backbone features: auto (LiteRT when installed), tflite, keras
    # Rows (0-based) of the training data left out of training and validation, e.g. what `catdog data
    # audit` flagged (catdog train --exclude FILE); kept in config.json so --resume leaves them out too.
    exclude: tuple[int, ...] = ()
    # Class names in label order (label i is classes[i]); empty: from the data (its ClassLabel names,
    # or its class folders sorted by name). Two classes keep the seed's sigmoid head, more get softmax.
    classes: tuple[str, ...] = ()
    # Loss weight per class for imbalanced data: "none", "balanced" (n / (classes x count), as
    # scikit-learn's), or per class "NAME=WEIGHT,NAME=WEIGHT" (unnamed classes weigh 1).
    class_weight: str = "none"
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.exclude = tuple(sorted({int(row) for row in self.exclude}))
        self.classes = tuple(str(name) for name in self.classes)
        self.validate()

    def validate(self) -> None:
        checks = [
            (self.image_size >= 32, "image_size must be at least 32 pixels"),
            (self.batch_size >= 1, "batch_size must be at least 1"),
            (0.0 < self.val_split < 1.0, "val_split must be between 0 and 1, for example 0.2"),
            (self.max_epochs >= 1, "max_epochs must be at least 1"),
            (self.patience >= 0, "patience must be 0 or more"),
            (self.learning_rate > 0, "learning_rate must be positive"),
            (0.0 <= self.dropout < 1.0, "dropout must be in [0, 1)"),
            (self.dense_units >= 1, "dense_units must be at least 1"),
            (self.fine_tune >= 0, "fine_tune is a number of backbone layers and must be 0 or more"),
            (0 <= self.fine_tune_blocks <= MAX_FINE_TUNE_BLOCKS,
             f"fine_tune_blocks is a number of MobileNetV2 blocks from the top, 0 to {MAX_FINE_TUNE_BLOCKS}"),
            (not (self.fine_tune and self.fine_tune_blocks),
             "choose one fine-tuning mode: fine_tune (layers, on pixels) or fine_tune_blocks (blocks, on cached activations)"),
            (0.0 <= self.label_smoothing < 0.5, "label_smoothing must be in [0, 0.5), for example 0.1"),
            (self.weight_decay >= 0.0, "weight_decay must be 0 or more, for example 1e-4"),
            (self.schedule in ("constant", "cosine"), "schedule must be constant or cosine"),
            (self.fine_tune_epochs >= 1, "fine_tune_epochs must be at least 1"),
            (not self.frozen_head_average or bool(self.fine_tune or self.fine_tune_blocks),
             "frozen_head_average averages a tuned model with a frozen one, so it needs fine_tune or fine_tune_blocks"),
            (self.fine_tune_learning_rate > 0, "fine_tune_learning_rate must be positive"),
            (self.decode_threads >= 1, "decode_threads must be at least 1"),
            (0.0 <= self.neither_rate < 0.5, "neither_rate must be in [0, 0.5), for example 0.01"),
            (self.feature_engine in ("auto", "tflite", "keras"), "feature_engine must be auto, tflite or keras"),
            (all(row >= 0 for row in self.exclude), "exclude lists 0-based rows, so none can be negative"),
            (len(self.classes) != 1, "classes names two or more classes, for example cat,dog,rabbit"),
            (len(set(self.classes)) == len(self.classes), "classes must not repeat a name"),
            (self.class_weight in ("none", "balanced") or "=" in self.class_weight,
             "class_weight must be none, balanced or NAME=WEIGHT,NAME=WEIGHT (for example rabbit=3)"),
        ]
        for ok, message in checks:
            if not ok:
                raise UsageError(f"Invalid setting: {message}.")

    @property
    def class_count(self) -> int:
        """Classes the model tells apart (the data's, once training has named them; cat and dog before)."""
        return len(self.classes) or 2

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise UsageError(f"Unknown training setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}.")
        return cls(**values)
