"""Training settings. The defaults are the original project's recipe.

Each setting's field says whether `catdog train` offers it as an option (`option(help)`, with the help
text `catdog train --help` shows) or not (`not_an_option(why)`); the command's options are made from them."""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Any

from .errors import UsageError

# Blocks 1-16 of MobileNetV2; fine-tuning more than this many leaves the cached activations too large
# (block 10's output is 14x14x64) for the speed that makes cached fine-tuning worth having.
MAX_FINE_TUNE_BLOCKS = 6
# The first look's size: at 160 px MobileNetV2 costs half of 224 px and the photo decodes at a smaller
# JPEG scale; 128 px answered too many photos differently to leave enough for it (docs/BENCHMARKS.md,
# "Less work per photo"). Its margins are decide.GLANCE_MARGINS.
GLANCE_SIZE = 160
# The value types a setting's option can take; a tuple is given as a comma-separated list.
OPTION_TYPES = (int, float, str, bool, tuple)


def option(help: str, *, flag: str | None = None, metavar: str | None = None) -> dict[str, Any]:
    """Field metadata of a setting `catdog train` offers: its help text, and its flag where that is not --field-name."""
    return {"option": {"help": help, "flag": flag, "metavar": metavar}}


def not_an_option(why: str) -> dict[str, Any]:
    """Field metadata of a setting `catdog train` has no option for, and why."""
    return {"option": None, "why": why}


@dataclass
class TrainConfig:
    image_size: int = field(default=224, metadata=option(
        "Photos are resized to N x N pixels; more sees finer detail and costs more (MobileNetV2 is fully convolutional)."))
    glance_size: int = field(default=GLANCE_SIZE, metadata=option(
        "Also fit a first look at N x N pixels that answers the clear photos at a third of the cost, the rest "
        "getting the full look (0 = every photo at --image-size; used only when under it).", metavar="N"))
    batch_size: int = field(default=32, metadata=option("Photos per training step."))
    val_split: float = field(default=0.2, metadata=option("Stratified validation fraction."))
    seed: int = field(default=42, metadata=option("Seed of the validation split, the weights' initialisation and the shuffling."))
    # The original trained until EarlyStopping(val_loss, patience=4) fired; max_epochs only bounds it.
    max_epochs: int = field(default=50, metadata=option("Most head epochs; EarlyStopping usually ends sooner.", flag="--epochs"))
    patience: int = field(default=4, metadata=option("EarlyStopping patience on val_loss."))
    # Adam's default, as the original used.
    learning_rate: float = field(default=1e-3, metadata=option("Learning rate of the head (Adam)."))
    dropout: float = field(default=0.5, metadata=option("Dropout rate before and after the head's hidden layer."))
    dense_units: int = field(default=64, metadata=option("Units of the head's hidden (relu) layer."))
    weights: str = field(default="imagenet", metadata=option(
        "'imagenet' (Keras cache/download, or CATDOG_WEIGHTS) or a path to the no-top .h5."))
    # Optional second phase: unfreeze the top N backbone layers at a low learning rate.
    fine_tune: int = field(default=0, metadata=option("Unfreeze the top N backbone layers and fine-tune on pixels (0 = off)."))
    fine_tune_epochs: int = field(default=5, metadata=option("Epochs of the fine-tuning phase."))
    fine_tune_learning_rate: float = field(default=1e-5, metadata=option("Learning rate of the fine-tuning phase.", flag="--fine-tune-lr"))
    augment: bool = field(default=False, metadata=option("Flips, small rotation/zoom/contrast in the --fine-tune phase."))
    # Fine-tune the top N of MobileNetV2's 16 inverted-residual blocks (and its last 1x1 conv) on
    # activations cached at the cut point below them: only the thawed blocks run each step.
    fine_tune_blocks: int = field(default=0, metadata=option(
        f"Fine-tune the top N of the 16 MobileNetV2 blocks on cached activations (0 = off, at most {MAX_FINE_TUNE_BLOCKS})."))
    # Train on each photo and its mirror image (both cached); predict with --tta to average the two.
    mirror: bool = field(default=False, metadata=option("Also train on every photo's mirror image (cached)."))
    label_smoothing: float = field(default=0.0, metadata=option("Label smoothing of the loss, in [0, 0.5)."))
    # Decoupled (AdamW) in both phases when > 0.
    weight_decay: float = field(default=0.0, metadata=option("Decoupled weight decay (AdamW) when > 0."))
    schedule: str = field(default="constant", metadata=option(
        "Fine-tuning learning rate: constant, or cosine (warm-up epoch + cosine decay)."))
    tta: bool = field(default=False, metadata=option("The run predicts with test-time augmentation by default (photo + mirror)."))
    # With fine-tuning: p(dog) averages the tuned model's logit with that of a head trained on the frozen
    # backbone's features, so tuning cannot lose what ImageNet's features know of breeds the training
    # photos lack (docs/ACCURACY.md).
    frozen_head_average: bool = field(default=False, metadata=option(
        "With fine-tuning: p(dog) averages the tuned model's logit with a frozen-backbone head's (docs/ACCURACY.md)."))
    recipe: str = field(default="original", metadata=not_an_option(
        "the named recipe these settings started from (catdog.recipes): catdog train --recipe"))
    calibrate: bool = field(default=True, metadata=option("Temperature scaling fitted on the validation photos, folded into the model."))
    # Share of held-out training photos (cats and dogs) under the "neither" threshold: the smallest that
    # still refuses about 95 % of the development files' photos with no cat or dog (docs/TRUST.md).
    neither_rate: float = field(default=0.0075, metadata=option(
        "Share of held-out training cats and dogs under the 'neither' threshold (docs/TRUST.md)."))
    decode_threads: int = field(default=4, metadata=option("Threads decoding photos."))
    feature_engine: str = field(default="auto", metadata=option(
        "Engine for frozen-backbone features: auto (LiteRT when installed), tflite or keras."))
    # Rows (0-based) of the training data left out of training and validation, e.g. what `catdog data
    # audit` flagged; kept in config.json so --resume leaves them out too.
    exclude: tuple[int, ...] = field(default=(), metadata=not_an_option("rows read from a file: catdog train --exclude FILE"))
    # Class names in label order (label i is classes[i]); empty: from the data (its ClassLabel names,
    # or its class folders sorted by name). Two classes keep the seed's sigmoid head, more get softmax.
    classes: tuple[str, ...] = field(default=(), metadata=option(
        "Comma-separated class names in label order (label i is the i-th); default: the data's. Two classes: sigmoid head, more: softmax.",
        metavar="<names>"))
    # Loss weight per class for imbalanced data: "none", "balanced" (n / (classes x count), as
    # scikit-learn's), or per class "NAME=WEIGHT,NAME=WEIGHT" (unnamed classes weigh 1).
    class_weight: str = field(default="none", metadata=option(
        "Loss weight per class: none, balanced (n / (classes x count)) or NAME=WEIGHT,NAME=WEIGHT (unnamed classes weigh 1)."))
    extra: dict[str, Any] = field(default_factory=dict, metadata=not_an_option("free-form values for the Python API"))

    def __post_init__(self) -> None:
        self.exclude = tuple(sorted({int(row) for row in self.exclude}))
        self.classes = tuple(str(name) for name in self.classes)
        self.validate()

    def validate(self) -> None:
        checks = [
            (self.image_size >= 32, "image_size must be at least 32 pixels"),
            (self.glance_size == 0 or self.glance_size >= 32, "glance_size must be 0 (off) or at least 32 pixels"),
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

    def glance_config(self) -> TrainConfig | None:
        """The first look's settings: the original recipe at glance_size on the same photos, split, seed,
        classes and class weights (None when there is no first look: glance_size 0 or not under image_size)."""
        if not 0 < self.glance_size < self.image_size:
            return None
        same = ("batch_size", "val_split", "seed", "weights", "calibrate", "decode_threads", "feature_engine", "exclude",
                "classes", "class_weight")
        return TrainConfig.from_dict({**{name: getattr(self, name) for name in same}, "image_size": self.glance_size,
                                      "glance_size": 0})

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


@dataclass(frozen=True)
class SettingOption:
    """A TrainConfig setting as `catdog train` offers it."""

    name: str  # the field
    flag: str  # --field-name unless the field says otherwise
    value_type: type  # one of OPTION_TYPES
    help: str
    default: Any
    metavar: str | None = None


def setting_options() -> list[SettingOption]:
    """The options of TrainConfig's settings, in field order; a field marked neither way is a mistake said at once."""
    hints = typing.get_type_hints(TrainConfig)
    options = []
    for setting in dataclasses.fields(TrainConfig):
        if "option" not in setting.metadata:
            raise TypeError(f"TrainConfig.{setting.name}: mark it option(help) or not_an_option(why) in its field's metadata.")
        spec = setting.metadata["option"]
        if spec is None:
            continue
        value_type = typing.get_origin(hints[setting.name]) or hints[setting.name]
        if value_type not in OPTION_TYPES or (value_type is tuple and typing.get_args(hints[setting.name]) != (str, ...)):
            raise TypeError(f"TrainConfig.{setting.name}: an option takes {', '.join(t.__name__ for t in OPTION_TYPES)} "
                            f"(tuple[str, ...]), not {hints[setting.name]}.")
        options.append(SettingOption(setting.name, spec["flag"] or "--" + setting.name.replace("_", "-"), value_type,
                                     spec["help"], setting.default, spec["metavar"]))
    return options
