"""Batch scoring into a folder of parquet shards, on Ray or in this process.

Each shard's predictions are written atomically (temp file + rename) as part-<shard id>.parquet;
a rerun skips the shards already written, so a killed job loses at most the shards in flight and
ends with the same result as an uninterrupted run.

Columns: id, name, label (a class name or the refusal; null for an unreadable photo), confidence,
one probability column per class, p_<class name> in label order (p_cat and p_dog for a cat/dog run,
so its p_dog is the column it always was), pet_score and error."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ..classifier import Classifier
from ..cluster import map_shards
from ..data.shards import Shard, plan_shards, shard_photos
from ..files import atomic_path
from ..progress import log


def probability_column(name: str) -> str:
    """The column of a class's probability, as `catdog predict --csv` names it too."""
    return f"p_{name}"


def part_path(out: Path, shard: Shard) -> Path:
    return out / f"part-{shard.id}.parquet"


def score_shard(classifier, shard: Shard, out: Path) -> int:
    """Predict one shard and write its parquet part atomically; returns the rows written."""
    predictions = classifier.predict_photos(shard_photos(shard))
    probabilities = {probability_column(name): pa.array([None if p.probabilities is None else p.probabilities[name] for p in predictions],
                                                        type=pa.float32()) for name in classifier.classes_}
    table = pa.table({
        "id": pa.array([p.id for p in predictions], type=pa.string()), "name": pa.array([p.name for p in predictions], type=pa.string()),
        "label": pa.array([p.label for p in predictions], type=pa.string()),
        "confidence": pa.array([p.confidence for p in predictions], type=pa.float32()),
        **probabilities,
        "pet_score": pa.array([p.pet_score for p in predictions], type=pa.float32()),
        "error": pa.array([p.error for p in predictions], type=pa.string()),
    })
    with atomic_path(part_path(out, shard)) as tmp:
        pq.write_table(table, tmp)
    return table.num_rows


class ShardScorer:
    """A Ray Data actor: loads the model once, then scores whole shards handed to it."""

    def __init__(self, model: str, engine: str, out: str, threads: int, neither: bool = True, refuse: str | None = None,
                 glance: bool = True):
        os.environ["CATDOG_PROGRESS"] = "0"
        self.classifier = Classifier.load(model, engine=engine, threads=threads, neither=neither, refuse=refuse, glance=glance)
        self.out = Path(out)

    def __call__(self, batch: dict) -> dict:
        rows = [score_shard(self.classifier, Shard.from_dict(spec), self.out) for spec in _specs(batch)]
        return {"shard": [spec["id"] for spec in _specs(batch)], "rows": rows}


def _specs(batch: dict) -> list[dict]:
    return [dict(zip(batch, values)) for values in zip(*batch.values())]


def score_to_parquet(model: Path, data: str, out: Path, *, use_ray: bool = False, address: str | None = None,
                     workers: int = 1, engine: str = "auto", neither: bool = True, refuse: str | None = None,
                     glance: bool = True) -> dict:
    """Score every photo of `data` into `out`/part-*.parquet; returns counts and timing."""
    out.mkdir(parents=True, exist_ok=True)
    shards = plan_shards(data)
    todo = [s for s in shards if not part_path(out, s).is_file()]
    log(f"{len(shards)} shard(s), {len(shards) - len(todo)} already written in {out}, {len(todo)} to score.")
    started = time.perf_counter()
    rows = 0
    if todo and use_ray:
        rows = _score_on_ray(model, todo, out, address, workers, engine, neither, refuse, glance)
    elif todo:
        classifier = Classifier.load(model, engine=engine, neither=neither, refuse=refuse, glance=glance)
        rows = sum(score_shard(classifier, shard, out) for shard in todo)
    return {"shards": len(shards), "scored_shards": len(todo), "rows": rows, "seconds": time.perf_counter() - started}


def _score_on_ray(model: Path, todo: list[Shard], out: Path, address: str | None, workers: int, engine: str,
                  neither: bool, refuse: str | None, glance: bool) -> int:
    results = map_shards(address, workers, ShardScorer, [s.to_dict() for s in todo],
                         {"model": str(model), "engine": engine, "out": str(out), "neither": neither, "refuse": refuse,
                          "glance": glance})
    return sum(int(r["rows"]) for r in results)
