"""Typed documents over the :class:`~shared.stores.ports.MetadataStore` port: what every service
uses instead of speaking the store's dialect.

A :class:`Documents` is one entity type's collection: it reads by id or raises ``NotFound`` with
that entity's Custom Vision code, creates and replaces entities, changes one under its etag with
the product's one retry policy (:data:`ETAG_ATTEMPTS`), iterates every match page by page and
fills a page across store pages for continuation-token APIs. Entities are the domain's frozen
dataclasses (``shared.domain.entities``, ``shared.domain.records``): each names its ``KIND``,
its ``partition`` (the project id), its ``etag``, and converts to and from a document.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from shared.domain.errors import Code, Conflict, NotFound
from shared.domain.validation import is_guid
from shared.stores.ports import Condition, MetadataStore

__all__ = ["ETAG_ATTEMPTS", "Documents", "Entity", "Page", "WriteGuard"]

# An etag-guarded change is tried this often before the caller gets a Conflict (409); each retry
# waits a little longer, at random, so that writers racing for one document spread out.
ETAG_ATTEMPTS = 8
_BACKOFF_SECONDS = 0.002
_DEFAULT_PAGE = 256


class Entity(Protocol):
    KIND: ClassVar[str]

    @property
    def id(self) -> str: ...

    @property
    def partition(self) -> str: ...

    @property
    def etag(self) -> str | None: ...

    def to_doc(self) -> dict[str, Any]: ...


E = TypeVar("E", bound=Entity)


class _EntityType(Protocol[E]):  # type: ignore[misc]  # the class itself: its kind and reader
    KIND: str
    NOT_FOUND: Code
    MISSING: str

    def from_doc(self, doc: dict[str, Any], etag: str | None = None) -> E: ...


class WriteGuard(Protocol[E]):  # type: ignore[misc]
    """Side effects tied to one guarded write (claiming a new unique name, say)."""

    def before(self, current: E, updated: E) -> None:
        """Just before the write; may refuse it by raising."""
        ...

    def lost(self, current: E, updated: E) -> None:
        """The write was refused (another writer got there first, or an error): undo ``before``."""
        ...

    def won(self, current: E, updated: E) -> None:
        """The write is stored."""
        ...


@dataclass(frozen=True)
class Page(Generic[E]):
    items: list[E]
    continuation: str | None


class Documents(Generic[E]):
    """One entity type's documents. Ids are GUIDs (matched in any casing) unless ``guid_ids`` is
    False (ids composed of other ids, matched as they are)."""

    def __init__(self, store: MetadataStore, entity: _EntityType[E], *, guid_ids: bool = True) -> None:
        self._store = store
        self._entity = entity
        self._kind = entity.KIND
        self._guid_ids = guid_ids

    def missing(self, ref: str) -> NotFound:
        """The entity's NotFound for the id ``ref``."""
        return NotFound(self._entity.MISSING.format(ref=ref), self._entity.NOT_FOUND)

    def _key(self, ref: str) -> str:
        key = ref.lower() if self._guid_ids else ref
        if self._guid_ids and not is_guid(key):
            raise self.missing(ref)
        return key

    # -- single documents ----------------------------------------------------------------------

    def get(self, partition: str, ref: str) -> E:
        """The entity with id ``ref`` (any casing of a GUID), or NotFound with the entity's code."""
        key = self._key(ref)
        try:
            stored = self._store.read(self._kind, partition, key)
        except NotFound:
            raise self.missing(ref) from None
        return self._entity.from_doc(stored.doc, stored.etag)

    def find(self, partition: str, ref: str) -> E | None:
        try:
            return self.get(partition, ref)
        except NotFound:
            return None

    def exists(self, partition: str, ref: str) -> bool:
        return self.find(partition, ref) is not None

    def create(self, entity: E) -> E:
        """Store a new entity; Conflict when its id exists already (the atomic "first one wins")."""
        etag = self._store.create(self._kind, entity.partition, entity.to_doc())
        return replace(entity, etag=etag)  # type: ignore[type-var]

    def put(self, entity: E) -> E:
        """Store the entity whether or not it exists (last writer wins)."""
        try:
            return self.create(entity)
        except Conflict:
            etag = self._store.replace(self._kind, entity.partition, entity.to_doc())
            return replace(entity, etag=etag)  # type: ignore[type-var]

    def update(
        self,
        partition: str,
        ref: str,
        change: Callable[[E], E | None],
        *,
        guard: WriteGuard[E] | None = None,
    ) -> E:
        """Apply ``change`` to the current entity and store the result under its etag, re-reading
        and re-applying when another writer got there first. ``change`` returns None when there
        is nothing to write (the current entity is returned)."""
        for attempt in range(ETAG_ATTEMPTS):
            if attempt:
                time.sleep(random.uniform(0, _BACKOFF_SECONDS * 2**attempt))
            current = self.get(partition, ref)
            updated = change(current)
            if updated is None:
                return current
            if guard is not None:
                guard.before(current, updated)
            try:
                etag = self._store.replace(self._kind, partition, updated.to_doc(), if_match=current.etag)
            except Conflict:
                if guard is not None:
                    guard.lost(current, updated)
                continue
            except BaseException:
                if guard is not None:
                    guard.lost(current, updated)
                raise
            if guard is not None:
                guard.won(current, updated)
            return replace(updated, etag=etag)  # type: ignore[type-var]
        raise Conflict(f"The {self._kind} '{ref}' is being changed by other requests; try again.")

    def delete(self, partition: str, ref: str, *, if_match: str | None = None) -> bool:
        """Remove the entity (only the version of etag ``if_match``, if given: else Conflict);
        False when there was none."""
        try:
            self._store.delete(self._kind, partition, self._key(ref), if_match=if_match)
        except NotFound:
            return False
        return True

    # -- many documents --------------------------------------------------------------------------

    def iterate(
        self,
        partition: str | None,
        where: Sequence[Condition] = (),
        *,
        order_by: str = "created",
        descending: bool = False,
        page_size: int = _DEFAULT_PAGE,
    ) -> Iterator[E]:
        """Every match, in order, a store page at a time (memory stays one page);
        ``partition=None`` crosses projects."""
        token = None
        while True:
            page = self._store.query(
                self._kind, partition, where, order_by=order_by, descending=descending, limit=page_size,
                continuation=token,
            )  # fmt: skip
            yield from (self._entity.from_doc(s.doc, s.etag) for s in page.items)
            token = page.continuation
            if token is None:
                return

    def all(self, partition: str | None, where: Sequence[Condition] = (), **order: Any) -> list[E]:
        return list(self.iterate(partition, where, **order))

    def first(self, partition: str | None, where: Sequence[Condition] = (), **order: Any) -> E | None:
        return next(self.iterate(partition, where, page_size=1, **order), None)

    def page(
        self,
        partition: str,
        where: Sequence[Condition] = (),
        *,
        order_by: str = "created",
        descending: bool = False,
        limit: int = 50,
        continuation: str | None = None,
        keep: Callable[[E], bool] | None = None,
    ) -> Page[E]:
        """Up to ``limit`` matches from ``continuation`` on, and the token for the rest (None when
        there is no more). ``keep`` filters what the store cannot; the page is filled across
        store pages, so a filtered page is short only at the end."""
        items: list[E] = []
        token = continuation
        while len(items) < limit:
            page = self._store.query(
                self._kind, partition, where, order_by=order_by, descending=descending, limit=limit - len(items),
                continuation=token,
            )  # fmt: skip
            found = (self._entity.from_doc(s.doc, s.etag) for s in page.items)
            items += [e for e in found if keep is None or keep(e)]
            token = page.continuation
            if token is None:
                break
        return Page(items, token)

    def count(self, partition: str | None, where: Sequence[Condition] = ()) -> int:
        return self._store.count(self._kind, partition, where)
