"""Work units for batch scoring: one parquet row group, or one chunk of image files. Shard ids are
stable, so a rerun finds the shards an interrupted run already wrote."""

from __future__ import annotations

import glob as globlib
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from ..errors import DataError
from .sources import IMAGE_SUFFIXES, FileSource, Photo, image_bytes, image_column, visible_files

FILES_PER_SHARD = 256


@dataclass(frozen=True)
class Shard:
    id: str
    kind: str  # "parquet" or "files"
    paths: tuple[str, ...]
    row_group: int = -1

    def to_dict(self) -> dict:
        return {**asdict(self), "paths": list(self.paths)}

    @classmethod
    def from_dict(cls, values: dict) -> Shard:
        return cls(values["id"], values["kind"], tuple(values["paths"]), int(values["row_group"]))


def plan_shards(spec: str) -> list[Shard]:
    """Split a parquet file / folder / glob, or an image folder / glob, into shards."""
    path = Path(spec)
    if any(ch in spec for ch in "*?["):
        matches = sorted(Path(p) for p in globlib.glob(spec, recursive=True))
    elif path.is_dir():
        matches = sorted(path.glob("*.parquet")) or visible_files(path)
    elif path.is_file():
        matches = [path]
    else:
        raise DataError(f"{spec} does not exist; give a parquet file, folder or glob, or a folder of photos.")
    parquet = [p for p in matches if p.suffix == ".parquet"]
    images = [p for p in matches if p.suffix.lower() in IMAGE_SUFFIXES]
    shards = []
    for number, file in enumerate(parquet):
        for group in range(pq.ParquetFile(file).num_row_groups):
            shards.append(Shard(f"{number:05d}-{group:05d}", "parquet", (str(file.resolve()),), group))
    for start in range(0, len(images), FILES_PER_SHARD):
        chunk = tuple(str(p.resolve()) for p in images[start : start + FILES_PER_SHARD])
        shards.append(Shard(f"files-{start // FILES_PER_SHARD:05d}", "files", chunk))
    if not shards:
        raise DataError(f"{spec} holds no parquet files or photos to score.")
    return shards


def shard_photos(shard: Shard):
    """The photos of one shard as a MemorySource (ids keep the file and row)."""
    if shard.kind == "files":
        return FileSource([(Path(p), None) for p in shard.paths], shard.id)
    file = Path(shard.paths[0])
    reader = pq.ParquetFile(file)
    column = image_column(reader.schema_arrow, file)
    first_row = sum(reader.metadata.row_group(g).num_rows for g in range(shard.row_group))
    images = reader.read_row_group(shard.row_group, columns=[column]).column(column).combine_chunks()
    blobs, names = image_bytes(images)
    ids = [f"{file.name}#{first_row + i}" for i in range(len(blobs))]
    return _NamedMemory(blobs, ids, [n or "" for n in names], shard.id)


class _NamedMemory:
    """Rows of one parquet row group: ids like train.parquet#1234 and the original file names."""

    def __init__(self, blobs, ids, names, description):
        self.blobs, self.ids, self.names, self.description = blobs, ids, names, description

    def __len__(self):
        return len(self.blobs)

    def labels(self):
        return np.full(len(self.blobs), -1, dtype=np.int64)

    def photos(self, indices=None):
        for index, (data, id_, name) in enumerate(zip(self.blobs, self.ids, self.names)):
            if indices is None or index in indices:
                yield Photo(index, id_, None, data, name, None if data is not None else "no image bytes in this row (null)")
