"""Photo sources behind one interface: parquet (file, folder of shards, glob), class folders, image
files, and Hugging Face hub datasets. Sources stream: only one small batch of encoded bytes is held
at a time, whatever the dataset's size."""

from __future__ import annotations

import glob as globlib
import json
import os
import socket
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import pyarrow.parquet as pq
import pyarrow.types as pat

from ..classes import CAT_DOG, FOLDER_SYNONYMS, MIN_PHOTOS_PER_CLASS, run_classes
from ..errors import DataError
from ..limits import MAX_PHOTO_BYTES

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp", ".tif", ".tiff", ".jfif", ".ppm", ".pgm"}
LABEL_COLUMNS = ("labels", "label")
IMAGE_COLUMNS = ("image", "img")
LOCAL_ALTERNATIVES = (
    "a local parquet file, folder of shards or glob in the Bingsu/Cat_and_Dog schema "
    "(for example ../shared/data/train.parquet), or class folders ROOT/CLASS/* (ROOT/cat/*, ROOT/dog/*)"
)
_READ_BATCH_ROWS = 64


@dataclass(frozen=True)
class Photo:
    """One item of a source. `data` is None when the source itself could not read the bytes."""

    index: int
    id: str
    label: int | None
    data: bytes | None
    name: str = ""
    error: str | None = None


class PhotoSource(Protocol):
    description: str
    # Label i's name, from the data itself (a ClassLabel, class folders); None when it has none.
    class_names: tuple[str, ...] | None

    def __len__(self) -> int: ...

    def labels(self) -> np.ndarray:
        """Label of every item in source order (-1 where unknown), read without decoding photos."""
        ...

    def photos(self, indices: Iterable[int] | None = None) -> Iterator[Photo]:
        """Items in source order; only those in `indices` when given."""
        ...


def _wanted(indices: Iterable[int] | None) -> set[int] | None:
    return None if indices is None else set(int(i) for i in indices)


# ---------------------------------------------------------------- parquet


class ParquetSource:
    def __init__(self, files: Sequence[Path], description: str, require_labels: bool):
        if not files:
            raise DataError(f"No parquet files found at {description}; give a .parquet file, a folder of them or a glob.")
        self.files = [Path(f) for f in files]
        self.description = description
        self._row_counts: list[int] = []
        self._image_column: list[str] = []
        self._label_column: list[str | None] = []
        self.class_names: tuple[str, ...] | None = None
        for path in self.files:
            try:
                meta = pq.ParquetFile(path)
            except Exception as exc:
                raise DataError(f"{path} is not a readable parquet file ({exc}); check the path or re-export it.") from exc
            schema = meta.schema_arrow
            self._image_column.append(image_column(schema, path))
            label = next((c for c in LABEL_COLUMNS if c in schema.names), None)
            if label is None and require_labels:
                raise DataError(
                    f"{path} has no 'labels' column (0 = cat, 1 = dog, or the classes' numbers); add one, or use `catdog predict` "
                    "for unlabelled photos."
                )
            if label is not None and not _is_integer(schema.field(label).type):
                raise DataError(
                    f"{path}: column '{label}' has type {schema.field(label).type}, but labels must be integers (0 = cat, 1 = dog, "
                    "or the classes' numbers)."
                )
            self._label_column.append(label)
            names = label_names(schema, label) if label else None
            if names is not None:
                if self.class_names is not None and names != self.class_names:
                    raise DataError(f"{path} names its classes {', '.join(names)}, but {self.files[0]} names them "
                                    f"{', '.join(self.class_names)}; give shards of one dataset.")
                self.class_names = names
            self._row_counts.append(meta.metadata.num_rows)

    def __len__(self) -> int:
        return sum(self._row_counts)

    @property
    def row_counts(self) -> list[int]:
        """Rows per file, in file order (what maps a file's row to a source index)."""
        return list(self._row_counts)

    def labels(self) -> np.ndarray:
        parts = []
        for path, column, rows in zip(self.files, self._label_column, self._row_counts):
            if column is None:
                parts.append(np.full(rows, -1, dtype=np.int64))
                continue
            values = pq.read_table(path, columns=[column]).column(column)
            parts.append(np.asarray(values.fill_null(-2).to_numpy(zero_copy_only=False), dtype=np.int64))
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)

    def photos(self, indices: Iterable[int] | None = None) -> Iterator[Photo]:
        wanted = _wanted(indices)
        offset = 0
        for path, image_col, label_col, rows in zip(self.files, self._image_column, self._label_column, self._row_counts):
            if wanted is not None and not any(offset <= i < offset + rows for i in wanted):
                offset += rows
                continue
            columns = [image_col] + ([label_col] if label_col else [])
            row = 0
            for batch in pq.ParquetFile(path).iter_batches(batch_size=_READ_BATCH_ROWS, columns=columns):
                images = batch.column(image_col)
                labels = batch.column(label_col).to_pylist() if label_col else [None] * batch.num_rows
                blobs, names = image_bytes(images)
                for data, name, label in zip(blobs, names, labels):
                    index = offset + row
                    row += 1
                    if wanted is not None and index not in wanted:
                        continue
                    error = None if data is not None else "no image bytes in this row (null)"
                    yield Photo(index, f"{path.name}#{row - 1}", label, data, name or "", error)
            offset += rows


def _is_integer(arrow_type) -> bool:
    return pat.is_integer(arrow_type)


def label_names(schema, column: str) -> tuple[str, ...] | None:
    """The names of a label column's ClassLabel in the file's `huggingface` metadata (what
    `datasets` writes), or None when it declares none."""
    raw = (schema.metadata or {}).get(b"huggingface")
    if not raw:
        return None
    try:
        feature = json.loads(raw).get("info", {}).get("features", {}).get(column, {})
    except (ValueError, AttributeError):
        return None
    names = feature.get("names") if isinstance(feature, dict) and feature.get("_type") == "ClassLabel" else None
    return tuple(str(name) for name in names) if names else None


def image_column(schema, path: Path) -> str:
    column = next((c for c in IMAGE_COLUMNS if c in schema.names), None)
    if column is None:
        raise DataError(
            f"{path} has no 'image' column; expected the Bingsu/Cat_and_Dog schema: image {{bytes, path}} and integer labels."
        )
    kind = schema.field(column).type
    if pat.is_struct(kind) and kind.get_field_index("bytes") >= 0:
        return column
    if pat.is_binary(kind) or pat.is_large_binary(kind):
        return column
    raise DataError(
        f"{path}: column '{column}' has type {kind}; it must be a struct {{bytes, path}} or binary holding the encoded photo."
    )


def image_bytes(images) -> tuple[list[bytes | None], list[str | None]]:
    if pat.is_struct(images.type):
        blobs = images.field("bytes").to_pylist()
        has_path = images.type.get_field_index("path") >= 0
        names = images.field("path").to_pylist() if has_path else [None] * len(blobs)
        # A null struct hides its children's values.
        valid = images.is_valid().to_pylist()
        blobs = [b if ok else None for b, ok in zip(blobs, valid)]
        return blobs, names
    return images.to_pylist(), [None] * len(images)


# ---------------------------------------------------------------- files and folders


class FileSource:
    """Image files on disk, each with a label or None."""

    def __init__(self, items: Sequence[tuple[Path, int | None]], description: str, class_names: tuple[str, ...] | None = None):
        self.items = list(items)
        self.description = description
        self.class_names = class_names

    def __len__(self) -> int:
        return len(self.items)

    def labels(self) -> np.ndarray:
        return np.array([-1 if label is None else label for _, label in self.items], dtype=np.int64)

    def photos(self, indices: Iterable[int] | None = None) -> Iterator[Photo]:
        wanted = _wanted(indices)
        for index, (path, label) in enumerate(self.items):
            if wanted is not None and index not in wanted:
                continue
            data, error = _read_file(path)
            yield Photo(index, str(path), label, data, path.name, error)


def _read_file(path: Path) -> tuple[bytes | None, str | None]:
    try:
        size = path.stat().st_size
        if size > MAX_PHOTO_BYTES:
            return None, f"file is {size / 2**20:.0f} MB, over the {MAX_PHOTO_BYTES // 2**20} MB limit"
        return path.read_bytes(), None
    except OSError as exc:
        return None, f"cannot read file ({exc.strerror or exc})"


def visible_files(root: Path) -> list[Path]:
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        found.extend(Path(dirpath) / f for f in sorted(filenames) if not f.startswith("."))
    return found


def class_folders(root: Path) -> list[Path]:
    return [d for d in sorted(root.iterdir(), key=lambda d: d.name) if d.is_dir() and not d.name.startswith(".")]


def class_folder_source(root: Path) -> FileSource:
    """ROOT/NAME/* for each class NAME, labels in the folders' name order (--classes reorders them).
    cat(s)/ and dog(s)/ in any case are the cat and dog classes."""
    folders = class_folders(root)
    if not folders:
        raise DataError(f"{root} has no class subfolders; put each class's photos in a folder of its own, ROOT/cat/ and ROOT/dog/ "
                        "for example.")
    named = {d: FOLDER_SYNONYMS.get(d.name.lower(), d.name) for d in folders}
    if set(named.values()) <= set(CAT_DOG):  # the pair, or one of them (a folder of cats to evaluate a cat/dog run on)
        folders = sorted(folders, key=lambda d: CAT_DOG.index(named[d]))
    else:
        named = {d: d.name for d in folders}  # synonyms only make cat and dog, never a "cat" among others
    names = tuple(dict.fromkeys(named[d] for d in folders))
    if len(names) != len(folders):
        raise DataError(f"{root} has two folders for one class ({', '.join(d.name for d in folders)}); merge them.")
    items = [(path, names.index(named[d])) for d in folders for path in visible_files(d)]
    return FileSource(items, str(root), names)


class ChainSource:
    """Several sources read one after another, with one running index."""

    def __init__(self, sources: Sequence[PhotoSource], description: str):
        self.sources = list(sources)
        self.description = description
        names = {getattr(s, "class_names", None) for s in self.sources}
        self.class_names = names.pop() if len(names) == 1 else None

    def __len__(self) -> int:
        return sum(len(s) for s in self.sources)

    def labels(self) -> np.ndarray:
        parts = [s.labels() for s in self.sources]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)

    def photos(self, indices: Iterable[int] | None = None) -> Iterator[Photo]:
        wanted = _wanted(indices)
        offset = 0
        for source in self.sources:
            size = len(source)
            local = None if wanted is None else [i - offset for i in wanted if offset <= i < offset + size]
            if local is None or local:
                for photo in source.photos(local):
                    yield Photo(photo.index + offset, photo.id, photo.label, photo.data, photo.name, photo.error)
            offset += size


# ---------------------------------------------------------------- Hugging Face hub


class HubSource:
    """A hub dataset with an image and a label column, streamed through the `datasets` library."""

    def __init__(self, spec: str, require_labels: bool):
        name, _, split = spec[len("hf://") :].partition(":")
        self.name, self.split = name.strip("/"), split or "train"
        self.description = spec
        try:
            import datasets
        except ImportError as exc:
            raise DataError(
                f"Reading {spec} needs the Hugging Face libraries: pip install 'mobilenetv2-catdog[hub]'; or use {LOCAL_ALTERNATIVES}."
            ) from exc
        if os.environ.get("HF_HUB_OFFLINE") == "1" or not _hub_reachable():
            raise DataError(f"Cannot reach the Hugging Face hub for {spec} (offline); use {LOCAL_ALTERNATIVES}.")
        stream = datasets.load_dataset(self.name, split=self.split, streaming=True)
        features = stream.features or {}
        self.image_column = next((c for c, f in features.items() if isinstance(f, datasets.Image)), None)
        self.label_column = next((c for c in LABEL_COLUMNS if c in features), None)
        if self.image_column is None or (require_labels and self.label_column is None):
            raise DataError(f"{spec} needs an image column and a 'label' or 'labels' column; it has {', '.join(features)}.")
        label_feature = features.get(self.label_column) if self.label_column else None
        self.class_names = tuple(label_feature.names) if isinstance(label_feature, datasets.ClassLabel) else None
        self._stream = stream.cast_column(self.image_column, datasets.Image(decode=False))
        self._length = stream.info.splits[self.split].num_examples if stream.info.splits else None

    def __len__(self) -> int:
        return self._length or 0

    def labels(self) -> np.ndarray:
        if self.label_column is None:
            return np.full(len(self), -1, dtype=np.int64)
        column = self._stream.select_columns([self.label_column])
        return np.array([-2 if r[self.label_column] is None else r[self.label_column] for r in column], dtype=np.int64)

    def photos(self, indices: Iterable[int] | None = None) -> Iterator[Photo]:
        wanted = _wanted(indices)
        for index, row in enumerate(self._stream):
            if wanted is not None and index not in wanted:
                continue
            image = row[self.image_column] or {}
            label = row.get(self.label_column) if self.label_column else None
            data = image.get("bytes")
            yield Photo(index, f"{self.description}#{index}", label, data, image.get("path") or "",
                        None if data else "no image bytes in this row")


def _hub_reachable(timeout: float = 3.0) -> bool:
    try:
        with socket.create_connection(("huggingface.co", 443), timeout=timeout):
            return True
    except OSError:
        return False


# ---------------------------------------------------------------- opening


def _has_glob(spec: str) -> bool:
    return any(ch in spec for ch in "*?[")


def open_source(spec: str | os.PathLike[str], require_labels: bool = True) -> PhotoSource:
    """Open a training/evaluation source: parquet file/folder/glob, class folders, or hf://."""
    text = str(spec)
    if text.startswith("hf://"):
        return HubSource(text, require_labels)
    if _has_glob(text):
        matches = sorted(Path(p) for p in globlib.glob(text, recursive=True))
        parquet = [p for p in matches if p.suffix == ".parquet"]
        if parquet and len(parquet) == len(matches):
            return ParquetSource(parquet, text, require_labels)
        if not matches:
            raise DataError(f"The pattern {text} matches no files; check the path and quote the glob so the shell keeps it.")
        if require_labels:
            raise DataError(f"The pattern {text} matches image files without labels; use class folders ROOT/CLASS/ or parquet.")
        return FileSource([(p, None) for p in matches if p.is_file()], text)
    path = Path(text).expanduser()
    if not path.exists():
        raise DataError(f"{path} does not exist; give a parquet file, a folder of parquet shards, a class folder or hf://NAME.")
    if path.is_file():
        if path.suffix == ".parquet":
            return ParquetSource([path], text, require_labels)
        if require_labels:
            raise DataError(f"{path} is a single file without a label; give a parquet file or class folders ROOT/CLASS/.")
        return FileSource([(path, None)], text)
    shards = sorted(path.glob("*.parquet"))
    if shards:
        return ParquetSource(shards, text, require_labels)
    if require_labels and class_folders(path):
        return class_folder_source(path)
    if not require_labels and any(d.name.lower() in FOLDER_SYNONYMS for d in class_folders(path)):
        return class_folder_source(path)  # photos to predict, sorted into cat/ and dog/ already
    if require_labels:
        raise DataError(f"{path} holds neither parquet files nor class subfolders; put each class's photos in a folder of its own "
                        f"({path}/cat and {path}/dog, for example).")
    return FileSource([(p, None) for p in visible_files(path)], text)


def open_inputs(specs: Sequence[str | os.PathLike[str]]) -> PhotoSource:
    """Open what `predict` is given: any mix of files, folders, globs and parquet, labels optional."""
    if not specs:
        raise DataError("No photos given; pass files, folders, globs or parquet files.")
    sources: list[PhotoSource] = []
    for spec in specs:
        text = str(spec)
        if not text.startswith("hf://") and not _has_glob(text) and Path(text).is_file() and Path(text).suffix != ".parquet":
            # A named file is always an item, even when it is not a photo, so it gets its own error row.
            sources.append(FileSource([(Path(text), None)], text))
        elif not text.startswith("hf://") and not _has_glob(text) and not Path(text).exists():
            sources.append(FileSource([(Path(text), None)], text))  # reported as unreadable, not fatal
        else:
            sources.append(open_source(text, require_labels=False))
    return sources[0] if len(sources) == 1 else ChainSource(sources, ", ".join(map(str, specs)))


# The label of a photo with no cat or dog in it (the shared non-pet files), or of one whose label is unknown.
NO_PET_LABEL = -1


def check_labels(labels: np.ndarray, description: str, classes: Sequence[str] = CAT_DOG,
                 allow_single_class: bool = False) -> np.ndarray:
    """Refuse labels outside 0 .. len(classes) - 1 and empty data; for training (not evaluation), a
    class with too few photos to split too."""
    bad = labels[(labels < 0) | (labels >= len(classes))]
    names = ", ".join(f"{i} = {name}" for i, name in enumerate(classes))
    if bad.size:
        shown = ", ".join(sorted({"null" if v == -2 else str(v) for v in bad.tolist()})[:5])
        hint = (" (-1 marks a photo of none of the classes: keep those in a file of their own and pass it to evaluate alone or "
                "as --ood)" if (bad == NO_PET_LABEL).any() else "")
        raise DataError(
            f"{description} has {bad.size} row(s) with label {shown}; labels must be one of {names}, so fix or drop those "
            f"rows{hint}."
        )
    if labels.size == 0:
        raise DataError(f"{description} holds no photos; point --data at a parquet file or a folder with a subfolder per class.")
    counts = np.bincount(labels, minlength=len(classes))
    if not allow_single_class:
        if (counts == 0).sum() == len(classes) - 1:
            raise DataError(f"{description} has only one class ({classes[int(np.argmax(counts))]}); training needs photos of "
                            f"two or more ({', '.join(classes)}).")
        empty = [name for name, count in zip(classes, counts) if count == 0]
        if empty:
            raise DataError(f"{description} has no photos of {', '.join(empty)} (its classes: {', '.join(classes)}); add at least "
                            f"{MIN_PHOTOS_PER_CLASS} photos of each class, or train on data without that class.")
        few = [f"{name} ({count})" for name, count in zip(classes, counts) if count < MIN_PHOTOS_PER_CLASS]
        if few:
            raise DataError(f"{description} has too few photos of {', '.join(few)} to split off validation photos; give each class "
                            f"at least {MIN_PHOTOS_PER_CLASS}.")
    return labels


def labelled(source: PhotoSource, classes: Sequence[str] = (), allow_single_class: bool = False,
             of_run: bool = False) -> tuple[tuple[str, ...], np.ndarray]:
    """(class names, checked labels in their order) of a labelled source: the names `classes` gives
    (--classes, or with `of_run` a trained run's, which evaluation data may hold some of) over the
    data's own (classes.run_classes), the labels checked against them."""
    names, labels = run_classes(getattr(source, "class_names", None), source.labels(), classes, source.description, of_run)
    return names, check_labels(labels, source.description, names, allow_single_class or of_run)


class MemorySource:
    """Encoded photos already in memory (bytes from an API call or an upload), labels optional."""

    def __init__(self, blobs: Sequence[bytes], names: Sequence[str] | None = None, description: str = "memory",
                 labels: Sequence[int] | None = None, class_names: tuple[str, ...] | None = None):
        self.class_names = class_names
        self.blobs = list(blobs)
        self.names = list(names) if names is not None else [f"photo {i}" for i in range(len(self.blobs))]
        self._labels = None if labels is None else [int(v) for v in labels]
        self.description = description

    def __len__(self) -> int:
        return len(self.blobs)

    def labels(self) -> np.ndarray:
        return np.array(self._labels if self._labels is not None else [-1] * len(self.blobs), dtype=np.int64)

    def photos(self, indices: Iterable[int] | None = None) -> Iterator[Photo]:
        wanted = _wanted(indices)
        for index, (data, name) in enumerate(zip(self.blobs, self.names)):
            if wanted is None or index in wanted:
                label = None if self._labels is None else self._labels[index]
                yield Photo(index, name, label, data, name)
