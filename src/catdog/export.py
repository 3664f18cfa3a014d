"""Exports for phones, edge devices and TensorFlow-free serving: ONNX (float32, int8), TFLite
(float32, float16, int8) and SavedModel. Each export is checked against the Keras model on real
photos right after it is written; one that fails the check is deleted, never left behind as if it
were good."""

from __future__ import annotations

import functools
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from .classes import is_cat_dog
from .data.decode import decode_image
from .data.pipeline import decode_batches
from .data.sources import Photo, open_source
from .decide import TTA_MARGINS, Decision, parse_refuse
from .edge.mediapipe_check import mediapipe_answers, mediapipe_available
from .edge.metadata import ClassifierMetadata, add_classifier_metadata
from .edge.web import write_web_export
from .errors import ModelError, UsageError
from .files import file_digest
from .onnx_int8 import quantize_onnx
from .progress import log
from .quiet import native_output_silenced
from .report.run_readme import write_model_card
from .run_folder import RunFolder
from .runtime import Engine, split_output
from .runtime.keras_engine import KerasEngine
from .runtime.manifest import FORMATS, MANIFEST_FILE, baked_decision, export_path, read_manifest, usable_exports, write_manifest
from .runtime.onnx_engine import OnnxEngine
from .runtime.tflite_engine import TfliteEngine

VERIFY_PHOTOS = 64
# Pictures with no cat or dog (noise, stripes, gradients, flat colour) join the check, so that an
# export is seen to refuse ("neither", "none of these") where the Keras model does, not only to
# name classes.
NON_PET_PICTURES = 8
CALIBRATION_PHOTOS = 128
MEDIAPIPE_AGREEMENT = 0.99  # below this share of same answers, export warns
# The web page runs the int8 file: in Chromium on 2 cores it classifies a photo in 40.6 ms against
# 54.2 ms for float16 (docs/BENCHMARKS.md), for 3.9 MB more to load.
WEB_MODEL_FORMAT = "tflite-int8"
# Per format: largest allowed |p exported - p Keras| (p(dog) for cat and dog; each class's probability
# for a run of more classes), the same for the pet score (in its own units: standardised evidence, the
# "neither" threshold near -2), and the smallest share of photos not within those of a threshold
# that get the same answer (a class or the refusal) from the export as from the Keras model. The best
# recipe's answer averages two heads' logits, each fed by its own copy of the top blocks: float16
# weights move its p(dog) by up to 0.067, the int8 backbone by up to 0.28 (on photos near p(dog) = 0.5;
# every clear answer the same), hence 0.1 and 0.3. A six-class run's class probabilities (the tests'
# scenes run) moved by up to 0.024 and 0.092 where the answer is a class, every answer the same.
# The int8 ONNX file keeps the head's sigmoid and softmax float, so where the answer is a class its
# class output moved less: 0.019 (default recipe), 0.0013 (best recipe), 0.049 and 0.098 (the tests'
# cat/dog and scenes runs); its pet score by 0.57, 0.82, 0.36 and 0.29, every clear answer the same.
# Hence 0.2, twice the most seen, and int8 TFLite's 1.5 and 0.97 (the default recipe's whole model
# quantised, pet score included, moved its pet score by 3.8 and changed 6 % of the clear answers).
TOLERANCES = {
    "onnx": (1e-3, 1e-2, 1.0), "tflite": (1e-3, 1e-2, 1.0), "savedmodel": (1e-4, 1e-3, 1.0),
    "tflite-fp16": (0.1, 0.25, 1.0), "tflite-int8": (0.3, 1.5, 0.97), "onnx-int8": (0.2, 1.5, 0.97),
}
INT8_FORMATS = ("tflite-int8", "onnx-int8")  # calibrated on CALIBRATION_PHOTOS real photos


def _sample_photos(data: str, count: int, image_size: int) -> tuple[list[Photo], np.ndarray]:
    """The first `count` readable photos of `data` and their pixels at the model's size."""
    source = open_source(data, require_labels=False)
    photos: list[Photo] = []
    pixels: list[np.ndarray] = []
    for kept, batch in decode_batches(source.photos(), image_size, 32, 4):
        photos.extend(kept)
        pixels.extend(batch)
        if len(pixels) >= count:
            break
    if not pixels:
        raise ModelError(f"No readable photos in {data} to verify the export with; pass --data PATH.")
    return photos[:count], np.stack(pixels[:count])


def non_pet_pictures(count: int, size: int, seed: int = 0) -> np.ndarray:
    """Seeded synthetic pictures that hold no cat or dog: uint8 [count, size, size, 3]."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 255, size, dtype=np.float32)
    kinds = [
        lambda: rng.integers(0, 256, (size, size, 3)),
        lambda: np.broadcast_to(rng.integers(0, 256, 3), (size, size, 3)),
        lambda: np.stack([np.broadcast_to(ramp, (size, size)), np.broadcast_to(ramp[:, None], (size, size)),
                          np.full((size, size), rng.integers(0, 256))], axis=-1),
        lambda: np.broadcast_to(((np.arange(size) // rng.integers(4, 32)) % 2 * 255)[:, None, None], (size, size, 3)),
    ]
    return np.stack([kinds[i % len(kinds)]() for i in range(count)]).astype(np.uint8)


# In the int8 file only the backbone is quantized: the head, the pet score and the answer scores stay
# float. The pet score compares features with fitted statistics (distances, log-odds over 1000
# classes); int8 rounding there, with ranges calibrated on pets, clipped the scores of photos with no
# pet and changed one answer in ten. Matched by name in the converter's graph; ops the backbone never
# uses are kept float by type too.
# (the model's own layer names: model.build; the best recipe's frozen head and its logit average too,
# whose int8 sigmoid outputs, 1/256 apart, turned into logits moved p(dog) by 0.29; a run of more
# classes' softmax head is "/head" too, and SOFTMAX is kept float by type as well). The converter still
# rounds the output of every sigmoid and softmax, float or not, through one QUANTIZE/DEQUANTIZE pair
# (its fixed range, steps of 1/256): the head's probabilities in the int8 file are that coarse, well
# inside its tolerance (the int8 backbone moves them by up to 0.28).
FLOAT_NODE_NAMES = ("pet_score", "/head", "frozen_head", "mean_logit", "frozen_pool", "p_dog_and_pet_score", "answer_scores")
FLOAT_OP_TYPES = ["SUM", "EXP", "LOG", "RSQRT", "SQRT", "REDUCE_MAX", "MAXIMUM", "MINIMUM", "CONCATENATION", "LOGISTIC", "SOFTMAX", "DIV"]
TFLITE_FORMATS = ("tflite", "tflite-fp16", "tflite-int8")


def answer_model(model, decision: Decision):
    """The model TFLite files hold: pixels -> N + 1 answer scores [classes..., refusal] ([cat, dog,
    neither] for a cat/dog run) whose largest is the answer."""
    import keras

    from .model.layers import AnswerScores

    scores = AnswerScores(decision.threshold, decision.neither_below, decision.pet_slope, name="answer_scores")(model.outputs[0])
    return keras.Model(model.inputs, scores, name="catdog_answers")


def _saved_model_for_conversion(model, folder: Path) -> None:
    """The SavedModel the LiteRT converter starts from (what Keras' own litert export builds)."""
    import keras
    import tensorflow as tf

    archive = keras.export.ExportArchive()
    archive.track(model)
    size = int(model.input_shape[1])
    archive.add_endpoint("serve", functools.partial(model.__call__, training=False),
                         input_signature=[tf.TensorSpec((None, size, size, 3), tf.float32)])
    archive.write_out(str(folder), verbose=False)


def _litert(model, fmt: str, calibration: np.ndarray) -> bytes:
    """float32 / float16 weights / int8 LiteRT bytes. int8: the backbone's weights and activations
    calibrated on real photos, the head, pet score and answer scores float, uint8 pixels in (what
    MediaPipe feeds a quantised model), float scores out."""
    import tensorflow as tf
    from tensorflow.lite.python import util  # changes a quantised model's input type

    with tempfile.TemporaryDirectory(prefix="catdog-litert-") as folder:
        _saved_model_for_conversion(model, Path(folder))
        converter = tf.lite.TFLiteConverter.from_saved_model(folder)
        if fmt == "tflite":
            return converter.convert()
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if fmt == "tflite-fp16":
            converter.target_spec.supported_types = [tf.float16]
            return converter.convert()

        def representative():
            for image in calibration:
                yield [image[None].astype(np.float32)]

        converter.representative_dataset = representative
        float_model = tf.lite.TFLiteConverter.from_saved_model(folder).convert()
        names = [t["name"] for t in _tensor_details(float_model) if any(key in t["name"] for key in FLOAT_NODE_NAMES)]
        options = tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=names, denylisted_ops=FLOAT_OP_TYPES)
        with native_output_silenced():  # the quantizer prints its settings from C++
            debugger = tf.lite.experimental.QuantizationDebugger(
                converter=converter, debug_dataset=lambda: ([image[None].astype(np.float32)] for image in calibration[:2]),
                debug_options=options)
            quantized = debugger.get_nondebug_quantized_model()
        # uint8 pixels in, replacing the float input and its QUANTIZE op (what the converter's own
        # inference_input_type does, which the debugger's path does not apply)
        return util.modify_model_io_type(quantized, inference_input_type=tf.uint8, inference_output_type=tf.float32)


def _tensor_details(model_bytes: bytes) -> list[dict]:
    from ai_edge_litert.interpreter import Interpreter

    with native_output_silenced():
        return Interpreter(model_content=model_bytes).get_tensor_details()


def _metadata(run: RunFolder, decision: Decision) -> ClassifierMetadata:
    """The file's name, description and labels: the run's classes, then its refusal (MediaPipe's
    categories, in the order of the answer scores)."""
    if is_cat_dog(decision.classes):
        question = "Is there a cat, a dog or neither in this photo?"
    else:
        question = f"Which of {', '.join(decision.classes)} is in this photo, or {decision.refusal}?"
    return ClassifierMetadata(
        name="mobilenetv2-catdog", version=f"{__version__} ({run.path.name})", license="Apache-2.0", author="mobilenetv2-catdog",
        description=f"{question} MobileNetV2 transfer learning; the top category is the answer `catdog predict` gives.",
        labels=decision.answers)


def _onnx(model, target: Path) -> None:
    with warnings.catch_warnings():  # tf2onnx still probes np.object, which NumPy 2 warns about
        warnings.simplefilter("ignore", FutureWarning)
        model.export(str(target), format="onnx", verbose=False)


def _onnx_int8(model, target: Path, calibration: np.ndarray, run: RunFolder) -> None:
    """Quantised from the run's verified float ONNX file, or from one made for it here when the run
    has none (left nowhere: `--format onnx` is the user's to ask for)."""
    if "onnx" in usable_exports(run):
        quantize_onnx(export_path(run, "onnx"), target, calibration)
        return
    with tempfile.TemporaryDirectory(prefix="catdog-onnx-") as folder:
        float_model = Path(folder) / "model.onnx"
        _onnx(model, float_model)
        quantize_onnx(float_model, target, calibration)


def _write(model, fmt: str, target: Path, calibration: np.ndarray, run: RunFolder, decision: Decision) -> None:
    if fmt == "onnx":
        _onnx(model, target)
    elif fmt == "onnx-int8":
        _onnx_int8(model, target, calibration, run)
    elif fmt in TFLITE_FORMATS:
        litert = _litert(answer_model(model, decision), fmt, calibration)
        target.write_bytes(add_classifier_metadata(litert, _metadata(run, decision)))
    elif fmt == "savedmodel":
        model.export(str(target), format="tf_saved_model", verbose=False)
    else:
        raise UsageError(f"Unknown export format '{fmt}'; choose one of {', '.join(FORMATS)}.")


def _runner(fmt: str, path: Path, decision: Decision) -> Callable[[np.ndarray], np.ndarray]:
    if fmt == "savedmodel":
        import tensorflow as tf

        # As TF Serving and other SavedModel users call it: the serving_default signature, by input name.
        signature = tf.saved_model.load(str(path)).signatures["serving_default"]
        (input_name,) = signature.structured_input_signature[1]

        def serve(pixels: np.ndarray) -> np.ndarray:
            (output,) = signature(**{input_name: tf.constant(pixels, dtype=tf.float32)}).values()
            return np.asarray(output).reshape(len(pixels), -1)

        return serve
    if FORMATS[fmt][1] == "onnx":
        engine: Engine = OnnxEngine(path)
    else:
        engine = TfliteEngine(path, decision=decision)
    return lambda pixels: np.asarray(engine.run(pixels)).reshape(len(pixels), -1)


# The export table's figure, for the user's eye: `--engine auto` measures the exports itself on the machine
# that runs them (runtime.speed), so a second of batches of 32 is enough here.
def _images_per_second(predict: Callable[[np.ndarray], np.ndarray], pixels: np.ndarray, seconds: float = 1.0) -> float:
    batch = pixels[:32]
    predict(batch)
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        predict(batch)
        done += len(batch)
    return done / (time.perf_counter() - started)


def export_run(run: RunFolder, fmt: str, data: str | None = None, runtime: Path | None = None,
               refuse: str | float | None = None) -> dict[str, Any]:
    """Write RUN/export/<file> for `fmt`, verify it against the Keras model, record it in the manifest.
    `runtime`: the web runtime's npm tarball, for `web` on a machine without internet."""
    if fmt not in FORMATS:
        raise UsageError(f"Unknown export format '{fmt}'; choose one of {', '.join(FORMATS)}.")
    refuse = None if parse_refuse(refuse) == "default" else parse_refuse(refuse)
    model_path = run.model_path
    if not model_path.is_file():
        raise ModelError(f"No model at {model_path}; pass a run folder made by `catdog train`.")
    if fmt == "web":
        return _export_web(run, data, runtime, refuse)
    data = data or run.read_config().data
    if not data:
        raise UsageError("Pass --data PATH with a few photos to verify the export against the Keras model.")
    record = _export_verified(run, fmt, data, refuse, mediapipe=True)
    glance = run.glance
    if glance is not None and FORMATS[fmt][1] is not None:
        # The first look runs beside the full model wherever the full model runs from an export.
        record["glance"] = _export_verified(glance, fmt, data, refuse, mediapipe=False)
        if not record["glance"]["verified"]:
            log(f"Warning: the first look's {fmt} export differs from its Keras model beyond tolerance and was deleted "
                f"(details in {glance.export_dir / MANIFEST_FILE}); with this export every photo gets the full look.")
    write_model_card(run)  # the card lists the exports, and a copy lies next to them
    if not record["verified"]:
        raise ModelError(
            f"The {fmt} export differs from the Keras model beyond tolerance (largest {_probability_name(run.decision())} difference "
            f"{record['max_abs_diff']:.4f} where the answer is a class, pet score {record['max_pet_score_diff']:.3f}, same answer on "
            f"{record['clear_answer_agreement']:.1%} of the photos not within that tolerance of a threshold); it was deleted. "
            f"Details are in {run.export_dir / MANIFEST_FILE}."
        )
    return record


def _export_verified(run: RunFolder, fmt: str, data: str, refuse: str | float | None, *, mediapipe: bool) -> dict[str, Any]:
    """Write RUN/export/<file> for `fmt` from RUN/model.keras, verify it, and record it in the manifest
    (under "failed", the file deleted, when it is not within the format's tolerance)."""
    model = KerasEngine.load(run.model_path).model
    size = int(model.input_shape[1])
    photos, samples = _sample_photos(data, max(VERIFY_PHOTOS, CALIBRATION_PHOTOS if fmt in INT8_FORMATS else 0), size)
    non_pets = non_pet_pictures(NON_PET_PICTURES, size)
    verify = np.concatenate([samples[:VERIFY_PHOTOS], non_pets])
    calibration = samples  # int8 ranges from real photos only
    reference = np.asarray(model.predict_on_batch(verify.astype(np.float32))).reshape(len(verify), -1)
    # What users are answered is what must agree: a class or the refusal, by the run's own decision (at
    # the operating point asked for, which the answer-score files hold as constants).
    decision = run.decision(refuse=refuse)

    run.export_dir.mkdir(exist_ok=True)
    final = export_path(run, fmt)
    staging = final.with_name(f".partial-{final.name}")  # keeps the suffix the exporters expect
    _remove(staging)
    started = time.perf_counter()
    log(f"Exporting {fmt}{'' if mediapipe else ' (the first look)'} …")
    try:
        _write(model, fmt, staging, calibration, run, decision)
        predict = _runner(fmt, staging, decision)
        exported = predict(verify)
        speed = _images_per_second(predict, verify)
    except Exception:
        _remove(staging)
        raise
    # [class output, pet score] of each: p(class 1) [n] for two classes, the N probabilities [n, N] for more
    (reference_p, reference_pet), (exported_p, exported_pet) = split_output(reference), split_output(exported)
    reference_codes = decision.codes(reference_p, reference_pet)
    # The class output is held to the tolerance where it is the answer: a refused photo's class
    # probabilities mean nothing (no answer shows them), and the pictures with no cat or dog, which int8
    # ranges calibrated on real photos fit worst, moved a six-class run's by 0.35 (real photos: 0.09).
    # Whether a photo is refused at all is the pet score's, checked on every photo.
    answered = reference_codes != decision.none_code
    class_diff = np.abs(np.asarray(exported_p, dtype=np.float64) - reference_p).reshape(len(verify), -1).max(axis=1)
    max_diff = float(class_diff[answered].max()) if answered.any() else 0.0
    pet_diff = float(np.abs(exported_pet - reference_pet).max()) if reference_pet is not None and exported_pet is not None else 0.0
    same = decision.codes(exported_p, exported_pet) == reference_codes
    agreement = float(same.mean())
    max_allowed, max_pet, min_agreement = TOLERANCES[fmt]
    # A photo within the format's own tolerance of a threshold may come out either way (fp16 rounding of
    # a pet score 0.05 under the threshold); every other photo must get the same answer.
    on_threshold = decision.within_error(reference_p, reference_pet, max_allowed, max_pet)
    clear_agreement = float(same[~on_threshold].mean()) if (~on_threshold).any() else 1.0
    verified = max_diff <= max_allowed and pet_diff <= max_pet and clear_agreement >= min_agreement
    record = {
        "format": fmt, "file": FORMATS[fmt][0], "engine": FORMATS[fmt][1], "verified": verified,
        "max_abs_diff": max_diff, "max_abs_diff_refused": float(class_diff[~answered].max()) if (~answered).any() else 0.0,
        "max_pet_score_diff": pet_diff, "answer_agreement": agreement,
        "clear_answer_agreement": clear_agreement, "photos_on_a_threshold": int(on_threshold.sum()),
        "photos_checked": int(len(verify)),
        "tolerance": {"max_abs_diff": max_allowed, "max_pet_score_diff": max_pet, "answer_agreement": min_agreement},
        "images_per_second": speed, "bytes": _size(staging), "export_seconds": time.perf_counter() - started,
        "model_sha256": file_digest(run.model_path), "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "neither_below": decision.neither_below, "refuse": refuse,
        "classes": list(decision.classes), "outputs": _outputs(fmt, decision),
    }
    if verified and mediapipe and fmt in TFLITE_FORMATS:
        # As an app runs it: the whole photo handed to MediaPipe, which resizes it itself.
        originals = [decode_image(photo.data or b"", None) for photo in photos[:VERIFY_PHOTOS]] + list(non_pets)
        near = decision.near_threshold(reference_p, reference_pet, *TTA_MARGINS)
        record["mediapipe"] = mediapipe_record(staging, originals, [decision.answers[c] for c in reference_codes], near)
    manifest = read_manifest(run)
    if record["verified"]:
        _remove(final)
        staging.rename(final)
        manifest["exports"][fmt] = record
    else:
        _remove(staging)  # an earlier verified export of this format, if any, stays as it was
        manifest.setdefault("failed", {})[fmt] = record
    write_manifest(run, manifest)
    return record


def _outputs(fmt: str, decision: Decision) -> list[str]:
    """What each column of the file's output is: one score per answer (TFLite, what MediaPipe reports)
    or the model's raw [class output, pet score] (ONNX, SavedModel): [p(dog), pet_score] for cat and
    dog, [p(class 1)..p(class N), pet_score] for more classes."""
    if fmt in TFLITE_FORMATS:
        return list(decision.answers)
    classes = decision.classes[1:] if len(decision.classes) == 2 else decision.classes
    return [f"p({name})" for name in classes] + ["pet_score"]


def _probability_name(decision: Decision) -> str:
    return "p(dog)" if is_cat_dog(decision.classes) else "class probability"


def _export_web(run: RunFolder, data: str | None, runtime: Path | None, refuse: str | float | None) -> dict[str, Any]:
    """The static page around the verified WEB_MODEL_FORMAT TFLite file (exported first when missing)."""
    made = usable_exports(run).get(WEB_MODEL_FORMAT)
    if made is None or made.get("refuse") != refuse:
        export_run(run, WEB_MODEL_FORMAT, data, refuse=refuse)
    model = export_path(run, WEB_MODEL_FORMAT)
    final = export_path(run, "web")
    staging = final.with_name(f".partial-{final.name}")
    _remove(staging)
    started = time.perf_counter()
    log("Exporting web …")
    decision = baked_decision(run, WEB_MODEL_FORMAT)
    try:
        details = write_web_export(staging, model, decision, runtime)
    except Exception:
        _remove(staging)
        raise
    manifest = read_manifest(run)
    record = {
        "format": "web", "file": FORMATS["web"][0], "engine": None, "verified": True,
        "model_from": WEB_MODEL_FORMAT, "model_file_sha256": file_digest(model), "classes": list(decision.classes), **details,
        "answer_agreement": manifest["exports"][WEB_MODEL_FORMAT]["answer_agreement"],
        "bytes": _size(staging), "export_seconds": time.perf_counter() - started,
        "model_sha256": file_digest(run.model_path), "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    _remove(final)
    staging.rename(final)
    manifest["exports"]["web"] = record
    write_manifest(run, manifest)
    write_model_card(run)  # the page links to the copy in its folder
    return record


def mediapipe_record(model: Path, images: list[np.ndarray], expected: list[str], near: np.ndarray) -> dict[str, Any]:
    """How often MediaPipe's ImageClassifier gives the answer `catdog predict` gives (its top category),
    and each photo where it does not, with whether that answer sits near a threshold (`near`, by the
    second-look margins): MediaPipe resizes the whole photo itself, which can move only those."""
    if not mediapipe_available():
        return {"checked": False, "reason": "mediapipe is not installed (pip install 'mobilenetv2-catdog[train]')"}
    answers = mediapipe_answers(model, images)
    agreement = float(np.mean([a == e for a, e in zip(answers, expected)]))
    if agreement < MEDIAPIPE_AGREEMENT:
        log(f"MediaPipe's top category matches catdog predict on only {agreement:.1%} of the check photos.")
    differ = [{"photo": i, "catdog": e, "mediapipe": a, "near_threshold": bool(near[i])}
              for i, (a, e) in enumerate(zip(answers, expected)) if a != e]
    return {"checked": True, "answer_agreement": agreement, "photos_checked": len(answers), "categories": sorted(set(answers)),
            "disagreements": differ}


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*")) if path.is_dir() else path.stat().st_size


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()
