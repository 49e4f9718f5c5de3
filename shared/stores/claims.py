"""Claims: unique names and one-at-a-time locks, made safe under concurrency and scale-out.

Checking "is this name free?" and then writing races with a second request (or a second
instance). Instead, a key is claimed by creating a small claim document whose id is derived from
the key: the store refuses a second create with the same id, atomically, in SQLite and Cosmos DB
alike. A claim remembers its owner and when it was made, so a claim left behind by a crash (its
owner gone) can be taken over, but only once it is older than :data:`CLAIM_GRACE_SECONDS`: a
younger claim whose owner does not exist yet belongs to a request still on its way to writing
that owner (a project, a tag, an iteration), and taking it over would let two requests both win.

    Claims         the primitive: claim / release a key for an owner
    NameClaims     unique names (projects, tags, publish names): a taken name is a BadRequest
    RenameGuard    the write guard that renames under a NameClaims (claim new, free old)
    TrainingLock   one training at a time per project
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Generic, TypeVar

from shared.domain.errors import BadRequest, Code, Conflict, NotFound
from shared.stores.ports import MetadataStore

__all__ = ["CLAIM_GRACE_SECONDS", "Claims", "NameClaims", "OwnerAlive", "RenameGuard", "TrainingLock"]

# Far longer than an owner takes to be written after its claim (milliseconds; seconds on a busy
# Cosmos DB); short enough that a name or lock left by a crash is free again soon.
CLAIM_GRACE_SECONDS = 30.0

# owner id -> whether that owner still exists (a claim of a vanished owner can be taken over)
OwnerAlive = Callable[[str], bool]


def _claim_id(key: str) -> str:
    return hashlib.sha256(key.casefold().encode()).hexdigest()


class Claims:
    """Claim documents of one ``kind``; a scope (the documents' partition) holds each key once."""

    def __init__(self, store: MetadataStore, kind: str) -> None:
        self._store = store
        self._kind = kind

    def claim(self, scope: str, key: str, owner: str, owner_alive: OwnerAlive) -> bool:
        """Make ``owner`` the holder of ``key``; False when another owner holds it (alive, or
        claimed too recently to tell a crash from a request still in flight)."""
        claim_id = _claim_id(key)
        doc: dict[str, object] = {"id": claim_id, "owner": owner, "name": key, "claimedAt": time.time()}
        try:
            self._store.create(self._kind, scope, doc)
            return True
        except Conflict:
            pass
        try:
            current = self._store.read(self._kind, scope, claim_id)
        except NotFound:  # released a moment ago: try once more
            try:
                self._store.create(self._kind, scope, doc)
                return True
            except Conflict:
                return False
        holder = current.doc["owner"]
        if holder == owner:
            return True
        # A claim written before claims had a time is old by now.
        if time.time() - float(current.doc.get("claimedAt", 0.0)) < CLAIM_GRACE_SECONDS:
            return False
        if owner_alive(holder):
            return False
        try:  # The holder is gone (a crash between its steps): take the key over.
            self._store.replace(self._kind, scope, doc, if_match=current.etag)
        except (Conflict, NotFound):
            return False
        return True

    def release(self, scope: str, key: str, owner: str) -> None:
        """Free ``key`` if ``owner`` holds it; anything else is left alone."""
        try:
            current = self._store.read(self._kind, scope, _claim_id(key))
            if current.doc["owner"] == owner:
                self._store.delete(self._kind, scope, current.doc["id"], if_match=current.etag)
        except (NotFound, Conflict):
            pass


class NameClaims:
    """Unique names of one kind of thing (``what``), refused with ``taken`` when in use."""

    def __init__(self, store: MetadataStore, kind: str, taken: Code, what: str) -> None:
        self._claims = Claims(store, kind)
        self._taken = taken
        self._what = what

    def claim(self, scope: str, name: str, owner: str, owner_alive: OwnerAlive) -> None:
        if not self._claims.claim(scope, name, owner, owner_alive):
            raise BadRequest(f"A {self._what} named '{name}' already exists.", self._taken)

    def release(self, scope: str, name: str, owner: str) -> None:
        self._claims.release(scope, name, owner)


E = TypeVar("E")


class RenameGuard(Generic[E]):
    """A :class:`~shared.stores.documents.WriteGuard` for entities with a unique name: the new
    name is claimed before the write, freed if the write loses, and the old one freed if it wins."""

    def __init__(
        self,
        names: NameClaims,
        scope: str,
        name_of: Callable[[E], str],
        owner_of: Callable[[E], str],
        owner_alive: OwnerAlive,
    ) -> None:
        self._names = names
        self._scope = scope
        self._name_of = name_of
        self._owner_of = owner_of
        self._owner_alive = owner_alive

    def _renamed(self, current: E, updated: E) -> bool:
        return self._name_of(current).casefold() != self._name_of(updated).casefold()

    def before(self, current: E, updated: E) -> None:
        if self._renamed(current, updated):
            self._names.claim(self._scope, self._name_of(updated), self._owner_of(updated), self._owner_alive)

    def lost(self, current: E, updated: E) -> None:
        if self._renamed(current, updated):
            self._names.release(self._scope, self._name_of(updated), self._owner_of(updated))

    def won(self, current: E, updated: E) -> None:
        if self._renamed(current, updated):
            self._names.release(self._scope, self._name_of(current), self._owner_of(current))


class TrainingLock:
    """At most one training per project: held by the training iteration's id until it ends."""

    _KEY = "training"

    def __init__(self, store: MetadataStore) -> None:
        self._claims = Claims(store, "lock")

    def acquire(self, project_id: str, iteration_id: str, still_training: OwnerAlive) -> None:
        if not self._claims.claim(project_id, self._KEY, iteration_id, still_training):
            raise BadRequest(
                "This project is already training; wait for it to finish.",
                Code.BAD_REQUEST_TRAINING_ALREADY_IN_PROGRESS,
            )

    def release(self, project_id: str, iteration_id: str) -> None:
        self._claims.release(project_id, self._KEY, iteration_id)
