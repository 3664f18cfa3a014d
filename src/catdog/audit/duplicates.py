"""Near-duplicates: the same picture after a crop, a resize or re-compression. Exact copies share a
content hash; near ones are found by the cosine similarity of frozen backbone features, taking the
best match over each photo and its centre crop (a copy cut from a photo looks like its centre)."""

from __future__ import annotations

import hashlib
from collections import defaultdict

import numpy as np

# The most similar pair of views at or above which two photos are one picture. Chosen on copies of
# training photos (crop to 80-95 %, resize to 50-90 %, JPEG quality 50-85) against 2,000 distinct
# training photos (benchmarks/audit.py, docs/DATA.md).
NEAR_DUPLICATE_SIMILARITY = 0.88
_CHUNK = 1024


def _unit(features: np.ndarray) -> np.ndarray:
    features = np.asarray(features, dtype=np.float32)
    return features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)


def similar_pairs(views: list[np.ndarray], other: list[np.ndarray] | None = None,
                  threshold: float = NEAR_DUPLICATE_SIMILARITY) -> list[tuple[int, int, float]]:
    """(i, j, similarity) for photos i of `views` and j of `other` (or of `views` itself, i < j) whose
    best-matching pair of views is at least `threshold` similar. Computed in chunks: memory stays
    flat however many photos there are."""
    left = [_unit(v) for v in views]
    right = left if other is None else [_unit(v) for v in other]
    pairs = []
    for start in range(0, len(left[0]), _CHUNK):
        block = np.max([a[start:start + _CHUNK] @ b.T for a in left for b in right], axis=0)
        if other is None:  # each pair once, never a photo with itself
            block[np.tril_indices(block.shape[0], k=start, m=block.shape[1])] = -1.0
        for i, j in zip(*np.nonzero(block >= threshold)):
            pairs.append((start + int(i), int(j), float(block[i, j])))
    return pairs


def content_hash(data: bytes | None) -> str | None:
    return hashlib.sha256(data).hexdigest() if data is not None else None


def exact_pairs(hashes: list[str | None], other: list[str | None] | None = None) -> list[tuple[int, int, float]]:
    """Pairs of photos with the same bytes (similarity 1.0), in the form of similar_pairs."""
    where: dict[str, list[int]] = defaultdict(list)
    for index, digest in enumerate(other if other is not None else hashes):
        if digest:
            where[digest].append(index)
    pairs = []
    for i, digest in enumerate(hashes):
        for j in where.get(digest or "", []):
            if other is not None or i < j:
                pairs.append((i, j, 1.0))
    return pairs


def groups(pairs: list[tuple[int, int, float]], count: int) -> list[list[int]]:
    """Photos joined by any pair, as groups of two or more (largest first)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    if not pairs:
        return []
    i, j, _ = zip(*pairs)
    graph = coo_matrix((np.ones(len(pairs)), (np.array(i), np.array(j))), shape=(count, count))
    _, component = connected_components(graph, directed=False)
    members: dict[int, list[int]] = defaultdict(list)
    for index in sorted(set(i) | set(j)):
        members[int(component[index])].append(index)
    return sorted((m for m in members.values() if len(m) > 1), key=lambda m: (-len(m), m[0]))
