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
