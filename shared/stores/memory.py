"""In-memory stores: honest implementations of the ports for unit tests (no I/O)."""

from __future__ import annotations

import copy
import hashlib
import threading
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from shared.domain.errors import Conflict, NotFound
from shared.stores.conditions import check_field, decode_token, encode_token, matches, sort_key
from shared.stores.ports import BlobEntry, BlobInfo, Condition, Page, Stored

__all__ = ["MemoryBlobStore", "MemoryMetadataStore"]


class MemoryMetadataStore:
    def __init__(self) -> None:
        self._docs: dict[tuple[str, str, str], Stored] = {}
        self._lock = threading.Lock()

    def create(self, kind: str, partition: str, doc: dict[str, Any]) -> str:
        key = (kind, partition, doc["id"])
        with self._lock:
            if key in self._docs:
                raise Conflict(f"A {kind} with id {doc['id']} already exists.")
            etag = uuid.uuid4().hex
            self._docs[key] = Stored(copy.deepcopy(doc), etag)
            return etag

    def read(self, kind: str, partition: str, doc_id: str) -> Stored:
        with self._lock:
            stored = self._docs.get((kind, partition, doc_id))
            if stored is None:
                raise NotFound(f"No {kind} with id {doc_id}.")
            return Stored(copy.deepcopy(stored.doc), stored.etag)

    def replace(self, kind: str, partition: str, doc: dict[str, Any], *, if_match: str | None = None) -> str:
        key = (kind, partition, doc["id"])
        with self._lock:
            current = self._docs.get(key)
            if current is None:
                raise NotFound(f"No {kind} with id {doc['id']}.")
            if if_match is not None and current.etag != if_match:
                raise Conflict(f"The {kind} {doc['id']} was changed by another request.")
            etag = uuid.uuid4().hex
            self._docs[key] = Stored(copy.deepcopy(doc), etag)
            return etag

    def delete(self, kind: str, partition: str, doc_id: str, *, if_match: str | None = None) -> None:
        key = (kind, partition, doc_id)
        with self._lock:
            current = self._docs.get(key)
            if current is None:
                raise NotFound(f"No {kind} with id {doc_id}.")
            if if_match is not None and current.etag != if_match:
                raise Conflict(f"The {kind} {doc_id} was changed by another request.")
            del self._docs[key]

    def _matching(self, kind: str, partition: str | None, where: Sequence[Condition]) -> list[Stored]:
        for cond in where:
            check_field(cond.field)
        with self._lock:
            return [
                Stored(copy.deepcopy(s.doc), s.etag)
                for (k, p, _), s in self._docs.items()
                if k == kind and (partition is None or p == partition) and matches(s.doc, where)
            ]

    def query(
        self,
        kind: str,
        partition: str | None,
        where: Sequence[Condition] = (),
        *,
        order_by: str = "id",
        descending: bool = False,
        limit: int = 100,
        continuation: str | None = None,
    ) -> Page:
        check_field(order_by)
        items = sorted(
            self._matching(kind, partition, where),
            key=lambda s: sort_key(s.doc, order_by),
            reverse=descending,
        )
        if continuation:
            value, last_id = decode_token(continuation)
            position = ("" if value is None else value, last_id)
            items = [
                s
                for s in items
                if (sort_key(s.doc, order_by) < position if descending else sort_key(s.doc, order_by) > position)
            ]
        page = items[:limit]
        token = None
        if len(items) > limit and page:
            last = page[-1].doc
            token = encode_token(last.get(order_by), last["id"])
        return Page(page, token)

    def count(self, kind: str, partition: str | None, where: Sequence[Condition] = ()) -> int:
        return len(self._matching(kind, partition, where))

    def delete_partition(self, partition: str) -> None:
        with self._lock:
            for key in [k for k in self._docs if k[1] == partition]:
                del self._docs[key]


class MemoryBlobStore:
    def __init__(self) -> None:
        self._blobs: dict[str, bytes] = {}
        self._written: dict[str, datetime] = {}
        self._lock = threading.Lock()

    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> BlobInfo:
        with self._lock:
            self._blobs[key] = bytes(data)
            self._written[key] = datetime.now(UTC)
        return BlobInfo(key, len(data), hashlib.sha256(data).hexdigest())

    def get(self, key: str) -> bytes:
        with self._lock:
            if key not in self._blobs:
                raise NotFound("A stored file is missing.")
            return self._blobs[key]

    def exists(self, key: str) -> bool:
        with self._lock:
            return key in self._blobs

    def delete(self, key: str) -> None:
        with self._lock:
            self._blobs.pop(key, None)
            self._written.pop(key, None)

    def delete_prefix(self, prefix: str) -> None:
        folder = prefix.rstrip("/")
        with self._lock:
            for key in [k for k in self._blobs if k == folder or k.startswith(folder + "/")]:
                del self._blobs[key]
                del self._written[key]

    def keys(self, prefix: str) -> list[str]:
        return [e.key for e in self.entries(prefix)]

    def entries(self, prefix: str) -> list[BlobEntry]:
        folder = prefix.rstrip("/") + "/"
        with self._lock:
            return [BlobEntry(k, self._written[k]) for k in sorted(self._blobs) if k.startswith(folder)]

    def delete_unless_written_since(self, key: str, since: datetime) -> bool:
        with self._lock:
            if key not in self._blobs or self._written[key] > since:
                return False
            del self._blobs[key]
            del self._written[key]
            return True
