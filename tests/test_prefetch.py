"""`catdog.train` computes its frozen features before TensorFlow is imported, and converts the
backbone in a child process on a first run (training.prefetch, training.backbone_engine).

Each run is a fresh process (what was imported is the point) training on real photos; a hook on
BackboneFeatures records, for every batch of photos run through the backbone, whether TensorFlow
was imported in that process yet and which converted backbones existed, and one on
Classifier._batches every batch the trained model was run on photo by photo (none: scoring after
training reads the cache)."""

import json
import subprocess
import sys

import pytest

from conftest import DATA, TEST, TRAIN, read_rows, write_parquet

pytestmark = pytest.mark.slow  # each case trains a real model in a fresh process

RECORDING_RUN = """
import json, sys
from pathlib import Path

import catdog
from catdog.classifier import Classifier
from catdog.training import backbone_engine

data, test, ood, cache, out, settings, record = sys.argv[1:]
calls, looked = [], []
compute, batches = backbone_engine.BackboneFeatures.__call__, Classifier._batches

def recorded(self, pixels):
    calls.append({"photos": len(pixels), "tensorflow": "tensorflow" in sys.modules,
                  "backbones": sorted(p.name for p in (Path(cache) / "backbones").glob("*.tflite"))})
    return compute(self, pixels)

def looked_at(self, source, *args):
    looked.append(source.description)
    return batches(self, source, *args)

backbone_engine.BackboneFeatures.__call__ = recorded
Classifier._batches = looked_at
result = catdog.train(data, test=test or None, ood=ood or None, out=out, cache_path=Path(cache) / "features.sqlite",
                      **json.loads(settings))
assert "tensorflow" in sys.modules  # it did train
assert not looked, looked  # validation, test and --ood photos were all scored from the cache
assert ("ood" in result.metrics) == bool(ood)
Path(record).write_text(json.dumps(calls))
"""


@pytest.fixture(scope="module")
def photo_sets(tmp_path_factory):
    """Three sets of 40 training photos (20 per class) with no photo in two of them, 20 test photos and
    15 photos with no cat or dog."""
    folder = tmp_path_factory.mktemp("prefetch_data")
    rows = read_rows(TRAIN, per_class=60, seed=7)
    cats, dogs = [r for r in rows if r["label"] == 0], [r for r in rows if r["label"] == 1]
    sets = [write_parquet(folder / f"train_{k}.parquet", cats[20 * k:20 * (k + 1)] + dogs[20 * k:20 * (k + 1)]) for k in range(3)]
    return sets, write_parquet(folder / "test.parquet", read_rows(TEST, per_class=10, seed=3)), \
        write_parquet(folder / "ood.parquet", read_rows(DATA / "ood_diverse.parquet", count=15))


def recorded_training(tmp_path, cache, data, test=None, ood=None, **settings) -> tuple[list[dict], str]:
    record = tmp_path / f"calls-{data.stem}.json"
    result = subprocess.run([sys.executable, "-c", RECORDING_RUN, str(data), str(test or ""), str(ood or ""), str(cache),
                             str(tmp_path / "runs"),
                             json.dumps({"max_epochs": 2, **settings}), str(record)], capture_output=True, text=True, timeout=1200)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(record.read_text()), result.stderr


def test_first_run_converts_in_a_child_and_computes_every_feature_before_tensorflow(tmp_path, photo_sets):
    (first, second, third), test, ood = photo_sets
    cache = tmp_path / "cache"

    # A first run: nothing cached, no converted backbone; with photos with no cat or dog (--ood).
    calls, log = recorded_training(tmp_path, cache, first, test, ood)
    assert "in a child process" in log, log
    assert calls and not any(call["tensorflow"] for call in calls), calls
    # When this process ran its first photos through LiteRT the backbone file existed, and this
    # process had not imported TensorFlow: another process (the converter) made it.
    assert calls[0]["backbones"], calls[0]
    # Each training, test and --ood photo once, and each training photo once more at the first look's 160 px.
    assert sum(call["photos"] for call in calls) == 40 + 20 + 15 + 40

    # New photos, the backbone converted: no conversion; the photos and the mirror images (--mirror
    # for the training photos, test-time augmentation for the validation photos) all before TensorFlow.
    calls, log = recorded_training(tmp_path, cache, second, mirror=True, tta=True)
    assert "Converting" not in log
    assert calls and not any(call["tensorflow"] for call in calls), calls
    assert sum(call["photos"] for call in calls) == 2 * 40 + 40  # and the first look's (no mirror images)

    # The same photos again: every feature comes from the cache, LiteRT is never run.
    calls, _ = recorded_training(tmp_path, cache, second, mirror=True, tta=True)
    assert calls == []

    # Keras features (--feature-engine keras) are computed by the trainer, with TensorFlow, as before.
    calls, log = recorded_training(tmp_path, cache, third, feature_engine="keras", glance_size=0)
    assert "before loading TensorFlow" not in log and "Converting" not in log
    assert calls and all(call["tensorflow"] for call in calls), calls
    assert sum(call["photos"] for call in calls) == 40
