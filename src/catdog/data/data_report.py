"""What a run did with its data: counts per class and every photo it skipped, with the reason."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..classes import CAT_DOG
from .sources import Photo


@dataclass
class DataReport:
    source: str
    rows: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    _seen: set[str] = field(default_factory=set, repr=False)

    def skip(self, photo: Photo, reason: str) -> None:
        if photo.id in self._seen:  # the same row can fail in several passes; list it once
            return
        self._seen.add(photo.id)
        self.skipped.append({"index": photo.index, "id": photo.id, "name": photo.name, "reason": reason})

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "rows": self.rows,
            "counts": self.counts,
            "used": self.rows - len(self.skipped),
            "skipped_count": len(self.skipped),
            "skipped": self.skipped,
        }


def label_counts(labels, classes: Sequence[str] = CAT_DOG) -> dict[str, int]:
    return {name: int((labels == i).sum()) for i, name in enumerate(classes)}
