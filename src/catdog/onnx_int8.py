"""The ONNX Runtime int8 file: the float ONNX export with its backbone statically quantised (QDQ:
QuantizeLinear / DequantizeLinear pairs around each op, which ONNX Runtime fuses into integer
kernels), uint8 activations and per-channel int8 weights, ranges calibrated on real photos (the
int8 TFLite file's 128).

As in the int8 TFLite file (export.FLOAT_NODE_NAMES says why), the head, the pet score and the
output stay float: their nodes are excluded from quantisation by the Keras layers they come from."""

from __future__ import annotations

import contextlib
import io
import logging
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from .errors import ModelError

# Keras layers whose ops stay float (model.build's names; the layers of the best recipe's frozen head
# and logit average too). tf2onnx names a node by the TensorFlow scopes it came from,
# `catdog_mobilenetv2_1/pet_score_1/mul_1`: a scope is the layer's name, with Keras' `_<k>` suffix.
FLOAT_LAYERS = ("pet_score", "head", "frozen_head", "mean_logit", "frozen_pool", "p_dog_and_pet_score")
CALIBRATION_BATCH = 16
# Each activation's range: the 99.999th percentile of its values over the calibration photos (both
# sides), not their extremes, which a few photos' outliers set and which then spread each of the 256
# steps over values other photos barely reach. Against the default recipe's Keras model, on photos it
# was not calibrated on (200 of train.parquet's, 200 of shift's, 142 of ood_diverse's, 94 lookalikes,
# the 100 of ood.parquet), min/max ranges changed the answer of 1 % of the training photos, 0.7 % of
# ood_diverse's, 1.7 % of the lookalikes and 4 % of ood's (there moving p(dog) by up to 0.43 and the
# pet score by 0.68); percentile ranges only 2 % of ood's (0.27, 0.40); every clear answer the same
# either way.
CALIBRATION_PERCENTILE = 99.999


def _layer_of(scope: str) -> str:
    return re.sub(r"_\d+$", "", scope)


def float_nodes(model, layers: Iterable[str] = FLOAT_LAYERS) -> list[str]:
    """Names of the nodes of ONNX `model` that belong to `layers`: by their scope, and the nodes
    tf2onnx added without one (`Unsqueeze__389`) that read only those nodes' outputs and constants."""
    wanted = set(layers)
    constants = {init.name for init in model.graph.initializer}
    made_by_float: set[str] = set()
    names: list[str] = []
    for node in model.graph.node:  # in topological order, as ONNX requires
        scoped = "/" in node.name
        if scoped:
            is_float = any(_layer_of(scope) in wanted for scope in node.name.split("/")[:-1])
        else:
            inputs = [name for name in node.input if name and name not in constants]
            is_float = bool(inputs) and all(name in made_by_float for name in inputs)
        if is_float:
            names.append(node.name)
            made_by_float.update(node.output)
    return names


class _Photos:
    """ONNX Runtime's CalibrationDataReader: the calibration photos, a batch at a time, from the
    batches `set_range` chose (all of them until it is called)."""

    def __init__(self, input_name: str, pixels: np.ndarray):
        self._batches = [{input_name: pixels[i:i + CALIBRATION_BATCH].astype(np.float32)}
                         for i in range(0, len(pixels), CALIBRATION_BATCH)]
        self._next = iter(self._batches)

    def __len__(self) -> int:
        return len(self._batches)

    def set_range(self, start_index: int, end_index: int) -> None:
        self._next = iter(self._batches[start_index:end_index])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._next, None)


def quantize_onnx(float_model: Path, target: Path, calibration: np.ndarray) -> None:
    """Write `target`: `float_model` (an ONNX file taking float 0-255 pixels) with every node but the
    FLOAT_LAYERS' quantised, activation ranges from `calibration` (uint8 [n, s, s, 3])."""
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    quiet = logging.getLogger()  # the quantiser logs its advice ("consider pre-processing") at INFO / WARNING
    level = quiet.level
    said = io.StringIO()  # and prints its calibration settings to stdout, where `--json` answers go
    with tempfile.TemporaryDirectory(prefix="catdog-onnx-int8-") as folder:
        prepared = Path(folder) / "prepared.onnx"
        # Constant folding, BatchNorm fused into Conv, shapes inferred: what the quantiser expects. The
        # symbolic shape pass is for transformer-style dynamic shapes; ONNX's own is enough here.
        quant_pre_process(str(float_model), str(prepared), skip_symbolic_shape=True)
        model = onnx.load(str(prepared))
        excluded = float_nodes(model)
        if not excluded:
            raise ModelError(f"No node of {float_model} belongs to {', '.join(FLOAT_LAYERS)}: not a catdog model's ONNX file.")
        try:
            quiet.setLevel(logging.ERROR)
            with contextlib.redirect_stdout(said):
                quantize_static(
                    str(prepared), str(target), _Photos(model.graph.input[0].name, calibration),
                    quant_format=QuantFormat.QDQ, per_channel=True, activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8, nodes_to_exclude=excluded, calibrate_method=CalibrationMethod.Percentile,
                    # A batch's every activation is taken into the histograms before the next batch runs
                    # (the option's name notwithstanding, it works so for every method): all 128 photos'
                    # at once held 8 GB for the default recipe.
                    extra_options={"CalibPercentile": CALIBRATION_PERCENTILE, "CalibStridedMinMax": 1})
        finally:
            quiet.setLevel(level)
