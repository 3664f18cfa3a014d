"""Backbone features cached on disk, keyed by photo content and backbone, so the frozen backbone
runs once per photo across epochs, runs and datasets that share photos.

SQLite gives atomic, crash-safe writes and safe concurrent readers without a server.
Photos that failed to decode are cached too (as their reason), so reruns report them without
decoding them again."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path

import numpy as np

from ..data.sources import Photo
from ..files import cache_dir

DECODER_VERSION = "decode-v1"  # bump when decode_image changes its pixels


def content_key(namespace: str, data: bytes | None) -> str:
    """Cache key of a photo: its bytes and the backbone that computes its features."""
    return hashlib.sha256(namespace.encode() + b"\0" + (data or b"")).hexdigest()


def default_cache_path() -> Path:
    return cache_dir() / "features.sqlite"


class FeatureCache:
    def __init__(self, path: str | os.PathLike[str] | None = None, *, namespace: str):
        """`namespace` identifies the backbone (weights digest, input size, decoder version)."""
        self.path = Path(path) if path else default_cache_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.namespace = namespace
        self._db = sqlite3.connect(self.path, timeout=60, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS features (key TEXT PRIMARY KEY, vector BLOB, error TEXT, checksum TEXT)"
        )
        self._db.commit()

    @staticmethod
    def directory(path: str | os.PathLike[str] | None = None) -> Path:
        """The folder a cache at `path` (None: the default) lives in, where converted backbones go too."""
        return (Path(path) if path else default_cache_path()).parent

    def key(self, photo: Photo) -> str:
        return content_key(self.namespace, photo.data)

    def get_many(self, keys: list[str]) -> dict[str, np.ndarray | str]:
        """Cached vectors (or failure reasons) for the keys that are present and intact."""
        found: dict[str, np.ndarray | str] = {}
        for start in range(0, len(keys), 500):
            part = keys[start : start + 500]
            marks = ",".join("?" * len(part))
            rows = self._db.execute(f"SELECT key, vector, error, checksum FROM features WHERE key IN ({marks})", part)
            for key, vector, error, checksum in rows:
                if error is not None:
                    found[key] = error
                elif vector is not None and hashlib.sha256(vector).hexdigest() == checksum:
                    found[key] = np.frombuffer(vector, dtype=np.float32)
                # A row that fails its checksum is ignored and recomputed (then overwritten).
        return found

    def put_many(self, vectors: dict[str, np.ndarray], errors: dict[str, str] | None = None) -> None:
        rows: list[tuple[str, bytes | None, str | None, str | None]] = []
        for key, vector in vectors.items():
            blob = np.ascontiguousarray(vector, dtype=np.float32).tobytes()
            rows.append((key, blob, None, hashlib.sha256(blob).hexdigest()))
        rows.extend((key, None, reason, None) for key, reason in (errors or {}).items())
        with self._db:
            self._db.executemany("INSERT OR REPLACE INTO features VALUES (?, ?, ?, ?)", rows)

    def __len__(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM features").fetchone()[0]

    def close(self) -> None:
        self._db.close()
