"""Tombstones: the record that a project or tag is being deleted, kept until its remains are gone.

A delete writes its tombstone first, then runs a purge pass (the thing disappears, its name is
freed, its documents, bytes and references go). The pass is idempotent, so whoever finds a
tombstone runs it again: the request itself, then the worker at start and on its sweep, or, in
Azure, the queue trigger (``FinishDeletion``, enqueued by the timer). A tombstone stays for
:data:`PURGE_GRACE_SECONDS` after its first pass and is removed by one last pass: that one also
sweeps away what a request in flight during the delete wrote and could not undo (it crashed
between its write and its re-check).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta

from shared.domain.clock import utc_ago, utc_now
from shared.domain.entities import Tombstone
from shared.domain.errors import NotFound
from shared.stores.documents import Documents
from shared.stores.ports import Eq, MetadataStore

__all__ = ["PURGE_GRACE_SECONDS", "Tombstones"]

# Longer than any request that read the project or tag before it disappeared takes to write
# (an upload's URL downloads included); the last pass waits this long after the first.
PURGE_GRACE_SECONDS = 120.0


class Tombstones:
    def __init__(self, meta: MetadataStore) -> None:
        self._docs = Documents(meta, Tombstone, guid_ids=False)

    def record(self, tombstone: Tombstone) -> Tombstone:
        """Written before anything is deleted (a retried delete rewrites its own)."""
        return self._docs.put(tombstone)

    def find(self, tombstone_id: str) -> Tombstone | None:
        return self._docs.find(Tombstone.PARTITION, tombstone_id)

    def all(self) -> Iterator[Tombstone]:
        return self._docs.iterate(Tombstone.PARTITION, order_by="deletedAt")

    def pending_tags(self, project_id: str) -> frozenset[str]:
        """The project's tags being deleted: until their purge is over, images may still carry
        them (an interrupted pass), so image queries count those references as absent."""
        where = [Eq("what", Tombstone.TAG), Eq("ofProject", project_id)]
        return frozenset(t.target_id for t in self._docs.iterate(Tombstone.PARTITION, where, order_by="deletedAt"))

    def due(self) -> list[Tombstone]:
        """The tombstones that want a pass now: those whose first pass never ended (interrupted,
        or still running in a request: a second pass at once costs work, never correctness), and
        those purged more than the grace ago (the last pass)."""
        grace = utc_ago(timedelta(seconds=PURGE_GRACE_SECONDS))
        return [t for t in self.all() if t.purged_at is None or t.purged_at <= grace]

    def passed(self, tombstone: Tombstone) -> None:
        """A purge pass ended: the first records when; one after the grace removes the tombstone."""
        grace = utc_ago(timedelta(seconds=PURGE_GRACE_SECONDS))
        try:
            if tombstone.purged_at is not None and tombstone.purged_at <= grace:
                self._docs.delete(Tombstone.PARTITION, tombstone.id)
            elif tombstone.purged_at is None:
                self._docs.update(
                    Tombstone.PARTITION, tombstone.id, lambda t: replace(t, purged_at=t.purged_at or utc_now())
                )
        except NotFound:  # finished by another pass meanwhile
            pass
