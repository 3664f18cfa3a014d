"""Frozen-backbone features on Ray: every shard of a parquet source goes through the LiteRT backbone
in an actor pool once; the driver gathers the features (into the feature cache too) and fits the head."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data.data_report import DataReport
from ..data.pipeline import decode_batches
from ..data.shards import Shard, plan_shards, shard_photos
from ..data.sources import ParquetSource, Photo
from ..errors import UsageError
from .feature_cache import FeatureCache, content_key


class ShardFeatures:
    """A Ray Data actor holding the LiteRT backbone; returns features (or the reason a photo failed) per row."""

    def __init__(self, backbone: str, image_size: int, threads: int, namespace: str):
        from ..runtime.tflite_engine import TfliteEngine

        self.engine = TfliteEngine(Path(backbone), threads)
        self.size = image_size
        self.namespace = namespace

    def __call__(self, batch: dict) -> dict:
        out: dict[str, list] = {"file": [], "row": [], "vector": [], "error": [], "key": []}
        for values in zip(*batch.values()):
            shard = Shard.from_dict(dict(zip(batch, values)))
            failures: list[tuple[Photo, str]] = []
            for photos, pixels in decode_batches(shard_photos(shard).photos(), self.size, 32, 2,
                                                 self._failed(failures)):
                for photo, vector in zip(photos, np.asarray(self.engine.run(pixels), dtype=np.float32)):
                    self._row(out, shard, photo, vector.tobytes(), None)
            for photo, reason in failures:
                self._row(out, shard, photo, b"", reason)
        return out

    @staticmethod
    def _failed(failures: list[tuple[Photo, str]]):
        return lambda photo, reason: failures.append((photo, reason))

    def _row(self, out: dict, shard: Shard, photo: Photo, vector: bytes, error: str | None) -> None:
        out["file"].append(shard.paths[0])
        out["row"].append(int(photo.id.rsplit("#", 1)[1]))
        out["vector"].append(vector)
        out["error"].append(error or "")
        out["key"].append(content_key(self.namespace, photo.data))  # the photo's bytes stay on the worker


def extract_features_ray(source, backbone: Path, image_size: int, cache: FeatureCache, report: DataReport,
                         address: str | None = None, workers: int = 1) -> dict[int, np.ndarray]:
    """Map source index -> features for every photo of a parquet source, computed on Ray."""
    from ..cluster import map_shards

    if not isinstance(source, ParquetSource):
        raise UsageError("--ray training reads parquet sources (a file, folder of shards or glob); convert class folders to parquet first.")
    offsets: dict[str, int] = {}
    total = 0
    for file, count in zip(source.files, source.row_counts):
        offsets[str(Path(file).resolve())] = total
        total += count
    shards = [s for spec in dict.fromkeys(str(f) for f in source.files) for s in plan_shards(spec)]
    rows = map_shards(address, workers, ShardFeatures, [s.to_dict() for s in shards],
                      {"backbone": str(backbone), "image_size": image_size, "namespace": cache.namespace})
    features: dict[int, np.ndarray] = {}
    vectors, failures = {}, {}
    for row in rows:
        index = offsets[row["file"]] + int(row["row"])
        photo = Photo(index, f"{Path(row['file']).name}#{row['row']}", None, None)
        key = row["key"]
        if row["error"]:
            report.skip(photo, row["error"])
            failures[key] = row["error"]
        else:
            features[index] = np.frombuffer(row["vector"], dtype=np.float32)
            vectors[key] = features[index]
    cache.put_many(vectors, failures)  # later runs, with or without Ray, start from the cache
    return features
