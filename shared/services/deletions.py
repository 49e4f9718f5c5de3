"""Finishing deletes: every tombstone (``shared.services.tombstones``) is passed over until it is gone.

The delete request runs the first pass itself; what a crash interrupted, and the last pass after
the grace, are run here: by the local worker at start and on its sweep, and in Azure by the queue
trigger, for the ``FinishDeletion`` messages that the timer enqueues (:meth:`Deletions.request_due`):
a queue message is delivered again if its function dies, where a timer's work would wait for the
next tick.

Image bytes and records are paired again here too (bytes of an upload killed between its bytes
and its record, once older than ``CVSTUDIO_UNRECORDED_BYTES_GRACE_SECONDS``; a record whose image
delete was killed after removing its bytes): by the worker at start (on stores of its own, all
such bytes) and on its sweep, and in Azure per project (``SweepImageBytes``, enqueued by an
hourly timer).
"""

from __future__ import annotations

import logging

from shared.contracts.jobs import FinishDeletion, SweepImageBytes, encode
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
        self,
        meta: MetadataStore,
        projects: ProjectService,
        tags: TagService,
        images: ImageService,
        queue: WorkQueue,
        *,
        unrecorded_grace: float = 3600.0,
    ) -> None:
        self._tombstones = Tombstones(meta)
        self.unrecorded_grace = unrecorded_grace  # seconds (settings: unrecorded_bytes_grace_seconds)
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

    def sweep_image_bytes(self, *, in_flight: bool = True) -> int:
        """Image bytes and records paired again in every project (``ImageService.drop_unpaired``):
        bytes without a record once older than the grace, or, where no upload can be in flight
        (``in_flight=False``: the local worker's start on stores of its own), all of them."""
        return sum(self._sweep(p.id, in_flight) for p in self._projects.list())

    def sweep_image_bytes_of(self, project_id: str) -> int:
        """The ``SweepImageBytes`` message's work: one project's, bytes older than the grace."""
        return self._sweep(project_id, True)

    def request_byte_sweeps(self) -> int:
        """Enqueue a ``SweepImageBytes`` for every project (the Azure timer's); how many."""
        count = 0
        for project in self._projects.list():
            self._queue.put(encode(SweepImageBytes(project.id)))
            count += 1
        return count

    def _sweep(self, project_id: str, in_flight: bool) -> int:
        put_right = self._images.drop_unpaired(project_id, self.unrecorded_grace if in_flight else 0.0)
        if put_right:
            log.info("put right the bytes or record of %d image(s) in project %s", put_right, project_id)
        return put_right

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
