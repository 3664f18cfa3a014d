"""The web runtime's supply chain (pinned, integrity-checked, offline-friendly) and the metadata reader."""

import io
import tarfile

import pytest

from catdog.edge import web_runtime
from catdog.edge.metadata import read_labels
from catdog.errors import ModelError


def test_the_cached_runtime_is_the_pinned_one_and_has_what_the_page_loads(web_runtime_tarball):
    files = web_runtime.runtime_files(web_runtime_tarball, download=False)
    assert web_runtime.integrity_of(web_runtime_tarball.read_bytes()) == web_runtime.INTEGRITY
    assert set(files) == set(web_runtime.FILES)
    assert files["wasm/vision_wasm_internal.wasm"][:4] == b"\0asm"  # the WebAssembly magic number


def test_a_tarball_that_is_not_the_pinned_release_is_refused(tmp_path):
    fake = tmp_path / "tasks-vision.tgz"
    with tarfile.open(fake, "w:gz") as archive:  # right layout, wrong bytes
        for name in web_runtime.FILES:
            info = tarfile.TarInfo(f"package/{name}")
            info.size = 4
            archive.addfile(info, io.BytesIO(b"evil"))
    with pytest.raises(ModelError, match="sha512 differs.*npm pack @mediapipe/tasks-vision@1.1.0"):
        web_runtime.runtime_files(fake)


def test_without_the_runtime_and_offline_the_error_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("CATDOG_CACHE", str(tmp_path / "empty"))
    with pytest.raises(ModelError, match="not cached; on a machine with internet run `npm pack"):
        web_runtime.runtime_files(download=False)
    with pytest.raises(ModelError, match="No web runtime at"):
        web_runtime.runtime_files(tmp_path / "missing.tgz")


def test_a_model_file_without_metadata_has_no_labels():
    assert read_labels(b"TFL3 not a zip") == []


def tflite_flatbuffer() -> bytes:
    """The smallest TFLite model: one float32 tensor in and out, no ops (enough for its metadata)."""
    import flatbuffers
    from mediapipe.tasks.metadata import schema_py_generated as model_fb

    tensor = model_fb.TensorT()
    tensor.name, tensor.shape, tensor.type, tensor.buffer = "image", [1, 4], model_fb.TensorType.FLOAT32, 0
    subgraph = model_fb.SubGraphT()
    subgraph.tensors, subgraph.inputs, subgraph.outputs, subgraph.operators = [tensor], [0], [0], []
    model = model_fb.ModelT()
    model.version, model.subgraphs, model.buffers, model.operatorCodes = 3, [subgraph], [model_fb.BufferT()], []
    builder = flatbuffers.Builder(0)
    builder.Finish(model.Pack(builder), b"TFL3")
    return bytes(builder.Output())


def test_labels_with_spaces_travel_in_the_metadata_one_a_line():
    """A run of other classes ends with "none of these", and class names may hold spaces."""
    from catdog.edge.metadata import ClassifierMetadata, add_classifier_metadata

    labels = ("golden retriever", "tabby cat", "none of these")
    info = ClassifierMetadata(name="m", description="d", version="1", license="Apache-2.0", author="a", labels=labels)
    assert read_labels(add_classifier_metadata(tflite_flatbuffer(), info)) == list(labels)
    with pytest.raises(ModelError, match="spans lines"):
        add_classifier_metadata(tflite_flatbuffer(), ClassifierMetadata("m", "d", "1", "Apache-2.0", "a", ("two\nlines", "b")))
