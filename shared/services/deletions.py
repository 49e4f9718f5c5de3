"""Finishing deletes: every tombstone (``shared.services.tombstones``) is passed over until it is gone.

The delete request runs the first pass itself; what a crash interrupted, and the last pass after
the grace, are run here: by the local worker at start and on its sweep, and in Azure by the queue
trigger, for the ``FinishDeletion`` messages that the timer enqueues (:meth:`Deletions.request_due`):
a queue message is delivered again if its function dies, where a timer's work would wait for the
next tick.
"""

from __future__ import annotations

import logging

from shared.contracts.jobs import FinishDeletion, encode
from shared.domain.entities import Tombstone
from shared.services.images import ImageService
from shared.services.projects import ProjectService
from shared.services.tags import TagService
from shared.services.tombstones import Tombstones
from shared.stores.ports import MetadataStore
from shared.stores.queue import WorkQueue

__all__ = ["Deletions"]

log = logging.getLogger(__name__)


class Deletions:
    def __init__(
        self, meta: MetadataStore, projects: ProjectService, tags: TagService, images: ImageService, queue: WorkQueue
    ) -> None:
        self._tombstones = Tombstones(meta)
        self._projects = projects
        self._tags = tags
        self._images = images
        self._queue = queue

    def finish(self, tombstone_id: str) -> None:
        """One pass over the tombstone's remains (a message for one already gone is a no-op)."""
        tombstone = self._tombstones.find(tombstone_id)
        if tombstone is not None:
            self._pass(tombstone)

    def finish_due(self) -> int:
        """Pass over every tombstone that is due (see ``Tombstones.due``); how many there were."""
        due = self._tombstones.due()
        for tombstone in due:
            try:
                self._pass(tombstone)
            except Exception:  # the next sweep tries again; the others go on
                log.exception("deleting %s did not finish this time", tombstone.id)
        return len(due)

    def drop_unreferenced_bytes(self) -> int:
        """Bytes of uploads stopped before their record, in every project (see
        ``ImageService.drop_unreferenced_bytes``: only where no upload is in flight)."""
        return sum(self._images.drop_unreferenced_bytes(p.id) for p in self._projects.list())

    def request_due(self) -> int:
        """Enqueue a ``FinishDeletion`` for every tombstone that is due; how many."""
        due = self._tombstones.due()
        for tombstone in due:
            self._queue.put(encode(FinishDeletion(tombstone.id)))
        return len(due)

    def _pass(self, tombstone: Tombstone) -> None:
        if tombstone.what == Tombstone.PROJECT:
            self._projects.purge(tombstone)
        else:
            self._tags.purge(tombstone)
