"""TFLite/MediaPipe model metadata: what MediaPipe Tasks' ImageClassifier needs to load a file on
Android, iOS, the web or Python: input normalisation (or a uint8 input), the output's labels in an
embedded labels.txt, name, version and license.

MediaPipe's own Python writer does not import from its wheel (a compiled helper is missing) and
tflite-support has no wheels after Python 3.11, so the metadata is built here with the flatbuffer
classes generated from the schema that ships in the `mediapipe` wheel, and packed the way those
writers pack it: a "TFLITE_METADATA" buffer in the model, and the associated files in a zip archive
appended to the model file (LiteRT ignores bytes after the flatbuffer)."""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass

import flatbuffers
import numpy as np

from ..errors import ModelError

METADATA_NAME = "TFLITE_METADATA"
LABELS_FILE = "labels.txt"
# Only fields of the first metadata schema are used: any MediaPipe or TFLite Support parser reads them.
MIN_PARSER_VERSION = "1.0.0"
METADATA_IDENTIFIER = b"M001"  # file_identifier of metadata_schema.fbs
MODEL_IDENTIFIER = b"TFL3"


@dataclass(frozen=True)
class ClassifierMetadata:
    name: str
    description: str
    version: str
    license: str
    author: str
    labels: tuple[str, ...]
    # The model scales pixels itself; MediaPipe divides (pixel - mean) by std before it feeds a float
    # input, so a float file that takes 0..255 pixels declares mean 0 and std 1.
    mean: float = 0.0
    std: float = 1.0


def _schemas():
    try:
        from mediapipe.tasks.metadata import metadata_schema_py_generated as metadata_fb
        from mediapipe.tasks.metadata import schema_py_generated as model_fb
    except ImportError as exc:
        raise ModelError("Writing TFLite metadata needs MediaPipe: pip install 'mobilenetv2-catdog[train]'.") from exc
    return metadata_fb, model_fb


def _metadata_buffer(info: ClassifierMetadata, float_input: bool) -> bytes:
    fb, _ = _schemas()
    image = fb.TensorMetadataT()
    image.name, image.description = "image", "RGB photo, 224x224 (MediaPipe resizes to this), pixel values 0..255."
    image.content = fb.ContentT()
    image.content.contentPropertiesType = fb.ContentProperties.ImageProperties
    image.content.contentProperties = fb.ImagePropertiesT()
    image.content.contentProperties.colorSpace = fb.ColorSpaceType.RGB
    if float_input:  # a uint8 input takes pixels as they are and needs no normalisation
        normalisation = fb.ProcessUnitT()
        normalisation.optionsType = fb.ProcessUnitOptions.NormalizationOptions
        normalisation.options = fb.NormalizationOptionsT()
        normalisation.options.mean, normalisation.options.std = [info.mean], [info.std]
        image.processUnits = [normalisation]
    image.stats = fb.StatsT()
    image.stats.max, image.stats.min = [255.0], [0.0]

    scores = fb.TensorMetadataT()
    scores.name = "scores"
    scores.description = "Scores of " + ", ".join(info.labels) + " (sum to one); the largest is the answer."
    scores.content = fb.ContentT()
    scores.content.contentPropertiesType = fb.ContentProperties.FeatureProperties
    scores.content.contentProperties = fb.FeaturePropertiesT()
    scores.stats = fb.StatsT()
    scores.stats.max, scores.stats.min = [1.0], [0.0]
    labels = fb.AssociatedFileT()
    labels.name, labels.description = LABELS_FILE, "The answer each score stands for."
    labels.type = fb.AssociatedFileType.TENSOR_AXIS_LABELS
    scores.associatedFiles = [labels]

    subgraph = fb.SubGraphMetadataT()
    subgraph.inputTensorMetadata, subgraph.outputTensorMetadata = [image], [scores]
    model = fb.ModelMetadataT()
    model.name, model.description, model.version = info.name, info.description, info.version
    model.author, model.license = info.author, info.license
    model.subgraphMetadata = [subgraph]
    model.minParserVersion = MIN_PARSER_VERSION
    builder = flatbuffers.Builder(0)
    builder.Finish(model.Pack(builder), METADATA_IDENTIFIER)
    return bytes(builder.Output())


def add_classifier_metadata(model_bytes: bytes, info: ClassifierMetadata) -> bytes:
    """The TFLite model `model_bytes` with `info` as its metadata and labels.txt embedded."""
    if any(not label.strip() or "\n" in label or "\r" in label for label in info.labels):
        raise ModelError(f"A label of {list(info.labels)!r} is empty or spans lines, which labels.txt (one label a line) cannot "
                         "hold; rename that class.")
    _, model_fb = _schemas()
    model = model_fb.ModelT.InitFromObj(model_fb.Model.GetRootAs(model_bytes, 0))
    subgraph = model.subgraphs[0]
    float_input = subgraph.tensors[subgraph.inputs[0]].type == model_fb.TensorType.FLOAT32
    buffer = model_fb.BufferT()
    buffer.data = np.frombuffer(_metadata_buffer(info, float_input), dtype=np.uint8)
    model.buffers.append(buffer)
    entry = model_fb.MetadataT()
    entry.name, entry.buffer = METADATA_NAME, len(model.buffers) - 1
    model.metadata = [m for m in (model.metadata or []) if m.name not in (METADATA_NAME, METADATA_NAME.encode())] + [entry]
    builder = flatbuffers.Builder(0)
    builder.Finish(model.Pack(builder), MODEL_IDENTIFIER)
    packed = io.BytesIO(bytes(builder.Output()))
    packed.seek(0, io.SEEK_END)
    # Stored, not deflated: MediaPipe reads associated files in place from the model buffer.
    with zipfile.ZipFile(packed, "a", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr(LABELS_FILE, "\n".join(info.labels) + "\n")
    return packed.getvalue()


def read_labels(model_bytes: bytes) -> list[str]:
    """The labels embedded in a TFLite file by `add_classifier_metadata` ([] when it has none), one a
    line as MediaPipe reads them: a label may hold spaces ("none of these")."""
    try:
        with zipfile.ZipFile(io.BytesIO(model_bytes)) as archive:
            return archive.read(LABELS_FILE).decode().splitlines()
    except (zipfile.BadZipFile, KeyError):
        return []
