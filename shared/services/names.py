"""Unique names, made safe under concurrency.

Checking "is this name free?" and then writing races with a second request. Instead, a name is
claimed by creating a small claim document whose id is derived from the name: the store refuses
a second create with the same id, atomically, in SQLite and Cosmos DB alike. A claim remembers
its owner, so a claim left behind by a crash (its owner gone) can be taken over.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from shared.domain.errors import BadRequest, Code, Conflict, NotFound
from shared.stores.ports import MetadataStore

__all__ = ["NameClaims"]


def _claim_id(name: str) -> str:
    return hashlib.sha256(name.casefold().encode()).hexdigest()


class NameClaims:
    """Claims of one kind of name (``kind``) within a scope (the claim documents' partition)."""

    def __init__(self, meta: MetadataStore, kind: str, taken_code: Code, what: str) -> None:
        self._meta = meta
        self._kind = kind
        self._taken_code = taken_code
        self._what = what

    def claim(self, scope: str, name: str, owner: str, owner_exists: Callable[[str], bool]) -> None:
        doc = {"id": _claim_id(name), "owner": owner, "name": name}
        try:
            self._meta.create(self._kind, scope, doc)
            return
        except Conflict:
            pass
        current = self._meta.read(self._kind, scope, doc["id"])
        holder = current.doc["owner"]
        if holder == owner:
            return
        if owner_exists(holder):
            raise BadRequest(f"A {self._what} named '{name}' already exists.", self._taken_code)
        try:  # The holder is gone (a crash between its steps): take the name over.
            self._meta.replace(self._kind, scope, doc, if_match=current.etag)
        except (Conflict, NotFound) as exc:
            raise BadRequest(f"A {self._what} named '{name}' already exists.", self._taken_code) from exc

    def release(self, scope: str, name: str, owner: str) -> None:
        try:
            current = self._meta.read(self._kind, scope, _claim_id(name))
            if current.doc["owner"] == owner:
                self._meta.delete(self._kind, scope, current.doc["id"], if_match=current.etag)
        except (NotFound, Conflict):
            pass
