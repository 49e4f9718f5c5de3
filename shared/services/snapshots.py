"""Iteration snapshots in the blob store: saved when a training starts, read by the trainer and by
queries of an iteration; kept while any iteration needs them (their images' bytes too).

A snapshot blob never changes once written: removing images from every iteration
(``delete_images`` with ``allIterations``) writes the smaller snapshot as a new blob, a version
up, and moves the iteration to it. So a cached snapshot is never stale, on this instance or any
other: every reader finds the version in the iteration it just read.
"""

from __future__ import annotations

from collections.abc import Iterator

from shared.contracts.snapshot import Snapshot
from shared.domain.entities import Iteration
from shared.domain.errors import NotFound
from shared.domain.limits import MAX_ITERATIONS_PER_PROJECT
from shared.services.artifact_keys import snapshot_key
from shared.stores.cache import LruCache
from shared.stores.documents import Documents
from shared.stores.ports import BlobStore, MetadataStore

__all__ = ["SnapshotStore"]


class SnapshotStore:
    """Snapshots in the blob store, with a small cache of parsed ones."""

    _CACHE_SIZE = 8

    def __init__(self, meta: MetadataStore, blobs: BlobStore) -> None:
        self._iterations = Documents(meta, Iteration)
        self._blobs = blobs
        self._cache: LruCache[tuple[str, int], Snapshot] = LruCache(self._CACHE_SIZE)

    def save(self, project_id: str, iteration_id: str, snapshot: Snapshot, version: int = 0) -> None:
        self._blobs.put(snapshot_key(project_id, iteration_id, version), snapshot.to_json(), "application/json")
        self._cache.put((iteration_id, version), snapshot)

    def load(self, iteration: Iteration) -> Snapshot:
        """What ``iteration`` trained on; NotFound when its snapshot is gone."""
        key = snapshot_key(iteration.project_id, iteration.id, iteration.snapshot_version)
        return self._cache.get(
            (iteration.id, iteration.snapshot_version), lambda: Snapshot.from_json(self._blobs.get(key))
        )

    def _snapshots(self, project_id: str) -> Iterator[tuple[Iteration, Snapshot]]:
        """Every stored snapshot of the project's iterations."""
        for iteration in self._iterations.iterate(project_id, page_size=MAX_ITERATIONS_PER_PROJECT * 2):
            try:
                yield iteration, self.load(iteration)
            except NotFound:
                continue

    def referenced_images(self, project_id: str) -> set[str]:
        """Ids of the images some iteration of the project was trained on (their bytes must stay)."""
        return {image.id for _, snapshot in self._snapshots(project_id) for image in snapshot.images}

    def drop_images(self, project_id: str, image_ids: set[str]) -> None:
        """Remove images from every snapshot (``delete_images`` with ``allIterations``)."""
        for iteration, snapshot in list(self._snapshots(project_id)):
            if any(i.id in image_ids for i in snapshot.images):
                self._iterations.update(project_id, iteration.id, lambda current: self._without(current, image_ids))

    def _without(self, iteration: Iteration, image_ids: set[str]) -> Iteration | None:
        """``iteration`` moved to a new snapshot version without ``image_ids`` (None: none to remove).
        Run under the iteration's etag, so two removals at once each build on the other's version."""
        snapshot = self.load(iteration)
        if not any(i.id in image_ids for i in snapshot.images):
            return None
        version = iteration.snapshot_version + 1
        self.save(iteration.project_id, iteration.id, snapshot.without_images(image_ids), version)
        return iteration.with_changes(snapshot_version=version)
