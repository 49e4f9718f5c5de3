"""Iteration snapshots in the blob store: saved when a training starts, read by the trainer and by
queries of an iteration; kept while any iteration needs them (their images' bytes too).
"""

from __future__ import annotations

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
    """Snapshots in the blob store, with a small cache (they never change once written)."""

    _CACHE_SIZE = 8

    def __init__(self, meta: MetadataStore, blobs: BlobStore) -> None:
        self._iterations = Documents(meta, Iteration)
        self._blobs = blobs
        self._cache: LruCache[str, Snapshot] = LruCache(self._CACHE_SIZE)

    def save(self, project_id: str, iteration_id: str, snapshot: Snapshot) -> None:
        self._blobs.put(snapshot_key(project_id, iteration_id), snapshot.to_json(), "application/json")
        self._cache.put(iteration_id, snapshot)

    def load(self, project_id: str, iteration_id: str) -> Snapshot:
        """The snapshot of an iteration; NotFound when there is none."""
        return self._cache.get(
            iteration_id, lambda: Snapshot.from_json(self._blobs.get(snapshot_key(project_id, iteration_id)))
        )

    def forget(self, iteration_id: str) -> None:
        self._cache.forget(iteration_id)

    def _snapshots(self, project_id: str) -> list[tuple[str, Snapshot]]:
        """Every stored snapshot of the project's iterations, by iteration id."""
        found: list[tuple[str, Snapshot]] = []
        for iteration in self._iterations.iterate(project_id, page_size=MAX_ITERATIONS_PER_PROJECT * 2):
            try:
                found.append((iteration.id, self.load(project_id, iteration.id)))
            except NotFound:
                continue
        return found

    def referenced_images(self, project_id: str) -> set[str]:
        """Ids of the images some iteration of the project was trained on (their bytes must stay)."""
        return {image.id for _, snapshot in self._snapshots(project_id) for image in snapshot.images}

    def drop_images(self, project_id: str, image_ids: set[str]) -> None:
        """Remove images from every snapshot (``delete_images`` with ``allIterations``)."""
        for iteration_id, snapshot in self._snapshots(project_id):
            if any(i.id in image_ids for i in snapshot.images):
                self.save(project_id, iteration_id, snapshot.without_images(image_ids))
