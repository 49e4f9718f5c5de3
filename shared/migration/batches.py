"""A page of source images -> upload batches, as Custom Vision's ``images/files`` takes them.

A batch carries one metadata for all its images (``ImageFileCreateBatch.metadata``), so images are grouped by
their metadata first; each group is cut at ``batch_size`` images (at most ``MAX_BATCH_IMAGES``) and, once the
bytes are in, at ``MAX_UPLOAD_BYTES`` of image bytes (so one request stays well under any body limit).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from shared.domain.limits import MAX_BATCH_IMAGES
from shared.migration.source import ImageInfo

__all__ = ["MAX_UPLOAD_BYTES", "Batch", "plan_batches", "split_by_size"]

# Image bytes in one upload request (base64 adds a third): 64 typical photos, a handful of 6 MB ones.
MAX_UPLOAD_BYTES = 32 * 1024 * 1024

_T = TypeVar("_T")


@dataclass(frozen=True)
class Batch:
    images: tuple[ImageInfo, ...]
    metadata: Mapping[str, str]


def plan_batches(images: Sequence[ImageInfo], batch_size: int = MAX_BATCH_IMAGES) -> Iterator[Batch]:
    size = max(1, min(batch_size, MAX_BATCH_IMAGES))
    groups: dict[tuple[tuple[str, str], ...], list[ImageInfo]] = {}
    for image in images:
        groups.setdefault(image.metadata_key(), []).append(image)
    for key, members in groups.items():
        for start in range(0, len(members), size):
            yield Batch(tuple(members[start : start + size]), dict(key))


def split_by_size(
    items: Sequence[_T], size_of: Callable[[_T], int], limit: int = MAX_UPLOAD_BYTES
) -> Iterator[list[_T]]:
    """Consecutive runs of ``items`` whose sizes add up to at most ``limit`` (an item over it goes alone)."""
    run: list[_T] = []
    total = 0
    for item in items:
        size = size_of(item)
        if run and total + size > limit:
            yield run
            run, total = [], 0
        run.append(item)
        total += size
    if run:
        yield run
