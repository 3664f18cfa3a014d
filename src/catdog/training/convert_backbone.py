"""The child process that converts a run's frozen part to LiteRT (backbone_engine.converted_backbone):

  python -c "...; from catdog.training.convert_backbone import main; main([WEIGHTS, OUT])" < config.json

It builds the networks from the weights file and the settings (as training does) and writes OUT
atomically, so a crash or a second process converting at once never leaves half a file.

The steps are those of Keras' `model.export(format="litert")` (an ExportArchive written as a
SavedModel, then TFLiteConverter with Keras' settings), giving the same file byte for byte, with one
difference: the Keras model is let go before the converter runs, which lowers this process's peak
from ~980 to ~940 MB (TensorFlow alone is ~690)."""

from __future__ import annotations

import functools
import gc
import json
import sys
import tempfile
from pathlib import Path

from ..config import TrainConfig
from ..files import atomic_path
from ..memory import release_freed_memory, tune_allocator


def main(argv: list[str]) -> None:
    weights, out = Path(argv[0]), Path(argv[1])
    config = TrainConfig.from_dict(json.load(sys.stdin))
    tune_allocator()
    import keras  # TensorFlow: this process exists to hold it
    import tensorflow as tf

    from ..model.build import build_networks
    from .strategies import strategy_for

    frozen = strategy_for(config).cached_model(build_networks(config, weights))
    with tempfile.TemporaryDirectory(prefix="catdog-backbone-") as saved_model:
        write_saved_model(frozen, saved_model)
        del frozen
        keras.backend.clear_session()
        gc.collect()
        release_freed_memory()
        converter = tf.lite.TFLiteConverter.from_saved_model(saved_model)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS, tf.lite.OpsSet.SELECT_TF_OPS]
        converter.experimental_enable_resource_variables = True
        converted = converter.convert()
    with atomic_path(out) as tmp:
        tmp.write_bytes(converted)
    print(json.dumps({"peak_rss_mb": own_peak_rss_mb()}))  # for the parent's log


def own_peak_rss_mb() -> int | None:
    """This process's peak RSS since it started (VmHWM). Not ru_maxrss: from a fork it starts at the
    parent's peak, which is not this process's memory."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return None  # not Linux
    line = next((line for line in status.splitlines() if line.startswith("VmHWM:")), None)
    return int(line.split()[1]) // 1024 if line else None


def write_saved_model(model, folder: str) -> None:
    """`model`'s inference call as a SavedModel, as Keras' LiteRT export writes it."""
    import keras
    from keras.src.export.export_utils import get_input_signature  # what model.export infers

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serve", functools.partial(model.__call__, training=False), input_signature=[get_input_signature(model)])
    archive.write_out(folder, verbose=False)
