"""Iteration snapshots: the images, tags and regions an iteration was trained on.

A snapshot is written (as one JSON blob) before its iteration record exists, and never changes.
Queries with ``iterationId`` answer from it, so later edits to the workspace do not rewrite
history. Its fingerprint tells whether training again would see anything new.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from shared.domain.entities import ITERATION, NEGATIVE, Image, Tag
from shared.domain.errors import NotFound
from shared.domain.limits import MAX_ITERATIONS_PER_PROJECT
from shared.services.artifact_keys import snapshot_key
from shared.stores.ports import BlobStore, MetadataStore

__all__ = ["Snapshot", "SnapshotStore"]


@dataclass(frozen=True)
class Snapshot:
    tags: tuple[Tag, ...]  # the tags trained on, oldest first (regular tags first, then Negative)
    images: tuple[Image, ...]  # newest first, each limited to the snapshot's tags

    @classmethod
    def take(cls, tags: Iterable[Tag], images: Iterable[Image], *, detection: bool) -> Snapshot:
        """Keep the images that carry a label of ``tags`` (boxes, for detection), labels limited to them."""
        kept_tags = tuple(tags)
        ids = {t.id for t in kept_tags}
        kept: list[Image] = []
        for image in images:
            regions = tuple(r for r in image.regions if r.tag_id in ids)
            image_tags = tuple(t for t in image.tags if t.tag_id in ids)
            if detection and not regions:
                continue
            if not detection and not image_tags:
                continue
            kept.append(image.with_changes(tags=image_tags, regions=regions, etag=None))
        return cls(kept_tags, tuple(kept))

    @property
    def regular_tags(self) -> tuple[Tag, ...]:
        return tuple(t for t in self.tags if t.type != NEGATIVE)

    def fingerprint(self, settings: dict[str, Any]) -> str:
        """Changes whenever anything training would see changes: settings, tags, images, labels."""
        content = {
            "settings": settings,
            "tags": sorted(t.id for t in self.tags),
            "images": sorted(
                (
                    i.id,
                    sorted(t.tag_id for t in i.tags),
                    sorted(
                        (r.tag_id, round(r.left, 5), round(r.top, 5), round(r.width, 5), round(r.height, 5))
                        for r in i.regions
                    ),
                )
                for i in self.images
            ),
        }
        return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()

    def to_json(self) -> bytes:
        return json.dumps(
            {"tags": [t.to_doc() for t in self.tags], "images": [i.to_doc() for i in self.images]}
        ).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Snapshot:
        raw = json.loads(data)
        return cls(
            tuple(Tag.from_doc(t) for t in raw["tags"]),
            tuple(Image.from_doc(i) for i in raw["images"]),
        )


class SnapshotStore:
    """Snapshots in the blob store, with a small cache (they never change once written)."""

    _CACHE_SIZE = 8

    def __init__(self, meta: MetadataStore, blobs: BlobStore) -> None:
        self._meta = meta
        self._blobs = blobs
        self._cache: OrderedDict[str, Snapshot] = OrderedDict()
        self._lock = threading.Lock()

    def save(self, project_id: str, iteration_id: str, snapshot: Snapshot) -> None:
        self._blobs.put(snapshot_key(project_id, iteration_id), snapshot.to_json(), "application/json")
        self._remember(iteration_id, snapshot)

    def load(self, project_id: str, iteration_id: str) -> Snapshot:
        with self._lock:
            cached = self._cache.get(iteration_id)
            if cached is not None:
                self._cache.move_to_end(iteration_id)
                return cached
        snapshot = Snapshot.from_json(self._blobs.get(snapshot_key(project_id, iteration_id)))
        self._remember(iteration_id, snapshot)
        return snapshot

    def _remember(self, iteration_id: str, snapshot: Snapshot) -> None:
        with self._lock:
            self._cache[iteration_id] = snapshot
            self._cache.move_to_end(iteration_id)
            while len(self._cache) > self._CACHE_SIZE:
                self._cache.popitem(last=False)

    def forget(self, iteration_id: str) -> None:
        with self._lock:
            self._cache.pop(iteration_id, None)

    def iteration_ids(self, project_id: str) -> list[str]:
        page = self._meta.query(ITERATION, project_id, limit=MAX_ITERATIONS_PER_PROJECT * 2)
        return [s.doc["id"] for s in page.items]

    def referenced_images(self, project_id: str, *, excluding: str | None = None) -> set[str]:
        """Ids of the images some iteration of the project was trained on (their bytes must stay)."""
        ids: set[str] = set()
        for iteration_id in self.iteration_ids(project_id):
            if iteration_id == excluding:
                continue
            try:
                ids.update(i.id for i in self.load(project_id, iteration_id).images)
            except NotFound:
                continue
        return ids

    def drop_images(self, project_id: str, image_ids: set[str]) -> None:
        """Remove images from every snapshot (``delete_images`` with ``allIterations``)."""
        for iteration_id in self.iteration_ids(project_id):
            try:
                snapshot = self.load(project_id, iteration_id)
            except NotFound:
                continue
            if any(i.id in image_ids for i in snapshot.images):
                kept = tuple(i for i in snapshot.images if i.id not in image_ids)
                self.save(project_id, iteration_id, Snapshot(snapshot.tags, kept))
