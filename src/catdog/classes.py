"""Class names: the one owner of what a run's labels are called, how names from data and from the
user line up, and how classes are weighted in the loss.

Label i of a run is `classes[i]`. Cat and dog (label 0 cat, 1 dog, the Bingsu/Cat_and_Dog schema)
are the default; any two or more names work. The answer for a photo that holds none of the classes
is "neither" for a cat/dog run (as it always was) and "none of these" for any other. Importing this
module is cheap (NumPy only)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .errors import DataError, UsageError

CAT_DOG = ("cat", "dog")
NEITHER = "neither"  # the refusal of a cat/dog run
NONE_OF_THESE = "none of these"  # the refusal of a run of any other classes
# Folder names that mean cat or dog, so ROOT/cats and ROOT/Dogs train the default classes.
FOLDER_SYNONYMS = {"cat": "cat", "cats": "cat", "dog": "dog", "dogs": "dog"}
# Photos a class needs: one to validate on and one to train on.
MIN_PHOTOS_PER_CLASS = 2


def is_cat_dog(classes: Sequence[str]) -> bool:
    return tuple(classes) == CAT_DOG


def refusal_name(classes: Sequence[str]) -> str:
    """What a user is answered for a photo that holds none of the classes."""
    return NEITHER if is_cat_dog(classes) else NONE_OF_THESE


def checked_names(names: Sequence[str], where: str, least: int = 2) -> tuple[str, ...]:
    """Class names as a run keeps them: `least` or more (two to train on; evaluation data may name
    one), distinct, non-empty, none spelled like a refusal."""
    names = tuple(str(name).strip() for name in names)
    if len(names) < least:
        raise DataError(f"{where} has {len(names)} class(es) ({', '.join(names) or 'none'}); training needs two or more, "
                        "so add photos of another class.")
    if any(not name for name in names):
        raise DataError(f"{where} has an empty class name; name every class (a folder name, or --classes a,b,c).")
    if len(set(names)) != len(names):
        raise DataError(f"{where} names a class twice ({', '.join(names)}); give each class one name.")
    if NEITHER in names or NONE_OF_THESE in names:
        raise DataError(f"{where} has a class called '{NEITHER}' or '{NONE_OF_THESE}', which is the answer for photos of none of "
                        "the classes; rename it.")
    return names


def run_classes(data_names: Sequence[str] | None, labels: np.ndarray, wanted: Sequence[str], where: str,
                of_run: bool = False) -> tuple[tuple[str, ...], np.ndarray]:
    """The run's class names and the labels in their order, from the data's own names (ClassLabel
    metadata or class folders; None when the data has none) and the names the user asked for
    (--classes; empty when not given): the user's order wins, over the same set of names.

    `of_run`: `wanted` are a trained run's classes, and the data (to evaluate on) may hold some of them
    only, as a folder of cats does for a cat/dog run; any name the run does not know is an error."""
    labels = np.asarray(labels, dtype=np.int64)
    wanted = checked_names(wanted, "The run" if of_run else "--classes") if wanted else ()
    if data_names is None:
        if wanted:
            return wanted, labels
        known = labels[labels >= 0]
        if known.size and known.max() > 1:
            raise DataError(f"{where} has labels up to {int(known.max())} but no class names; give them in order with --classes a,b,c "
                            "(or store a ClassLabel in the file's huggingface metadata).")
        return CAT_DOG, labels  # the Bingsu/Cat_and_Dog schema: 0 = cat, 1 = dog
    names = checked_names(data_names, where, least=1 if of_run else 2)
    if not wanted or wanted == names:
        return names, labels
    if of_run and not set(names) <= set(wanted):
        raise DataError(f"{where} has the classes {', '.join(names)}, but the run's are {', '.join(wanted)}; evaluate on photos of "
                        "the run's classes (or train a run on these).")
    if not of_run and set(names) != set(wanted):
        raise DataError(f"--classes names {', '.join(wanted)}, but {where} has the classes {', '.join(names)}; give exactly the "
                        "data's classes, in the order you want them.")
    return wanted, relabelled(labels, names, wanted, where)


def relabelled(labels: np.ndarray, names: Sequence[str], wanted: Sequence[str], where: str) -> np.ndarray:
    """Labels that index `names` turned into indices of `wanted` (the same names or more, in any
    order); negative labels (no class, unknown) stay as they are."""
    missing = [name for name in names if name not in wanted]
    if missing:
        raise DataError(f"{where} has the classes {', '.join(names)}, not {', '.join(wanted)}; use data with the run's classes "
                        "(or train a run on these).")
    labels = np.asarray(labels, dtype=np.int64)
    beyond = labels[labels >= len(names)]
    if beyond.size:
        # Kept as they are they would index another of `wanted`'s classes: a wrong label, not a refused one.
        shown = ", ".join(str(v) for v in sorted(set(beyond.tolist()))[:5])
        raise DataError(f"{where} has {beyond.size} row(s) with label {shown}, but names only {len(names)} class(es) "
                        f"({', '.join(f'{i} = {name}' for i, name in enumerate(names))}); fix or drop those rows.")
    position = np.array([list(wanted).index(name) for name in names], dtype=np.int64)
    out = labels.copy()
    out[labels >= 0] = position[labels[labels >= 0]]
    return out


def class_weights(spec: str, classes: Sequence[str], labels: np.ndarray) -> dict[int, float] | None:
    """Loss weight per label from --class-weight: None for "none"; "balanced" gives each class
    n / (classes x its count), as scikit-learn's compute_class_weight; "NAME=W,NAME=W" sets some
    (the others weigh 1)."""
    if spec == "none":
        return None
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=len(classes))
    if spec == "balanced":
        # A class with no training photo (all of them unreadable) has no loss to weigh: it keeps 1.
        return {i: float(len(labels) / (len(classes) * count)) if count else 1.0 for i, count in enumerate(counts)}
    weights = {i: 1.0 for i in range(len(classes))}
    for part in spec.split(","):
        name, _, value = part.partition("=")
        if name.strip() not in classes:
            raise UsageError(f"--class-weight names '{name.strip()}', which is not one of the classes {', '.join(classes)}; "
                             "use NAME=WEIGHT with the run's class names.")
        try:
            weight = float(value)
        except ValueError:
            weight = -1.0
        if not 0 < weight < math.inf:
            raise UsageError(f"--class-weight {part.strip()!r} needs a positive, finite weight after '=', for example {name.strip()}=2.")
        weights[list(classes).index(name.strip())] = weight
    return weights
