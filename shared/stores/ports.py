"""The ports the services talk to: a document store and a blob store.

Both are shaped so that Cosmos DB and Blob Storage fit them as well as the embedded SQLite and
files default:

* :class:`MetadataStore` keeps JSON documents of a ``kind`` in partitions keyed by project id.
  Every write returns a new etag; ``replace``/``delete`` take an ``if_match`` etag and raise
  :class:`~shared.domain.errors.Conflict` when someone else wrote first. Listing is by opaque
  continuation tokens (never OFFSET), ordered by one field with the id as tie-break. Filters are a
  small closed set of conditions that every backend can translate.
* :class:`BlobStore` keeps bytes by key, reports their sha256, and writes atomically.

Missing documents or blobs raise :class:`~shared.domain.errors.NotFound`; an id that already
exists raises :class:`~shared.domain.errors.Conflict`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

__all__ = [
    "ArrayContainsAny",
    "ArrayEmpty",
    "BlobEntry",
    "BlobInfo",
    "BlobStore",
    "Condition",
    "Eq",
    "In",
    "MetadataStore",
    "Page",
    "Range",
    "Stored",
]


@dataclass(frozen=True)
class Eq:
    """``doc[field] == value`` (top-level field)."""

    field: str
    value: Any


@dataclass(frozen=True)
class In:
    """``doc[field]`` is one of ``values``."""

    field: str
    values: tuple[Any, ...]


@dataclass(frozen=True)
class Range:
    """``low <= doc[field] < high`` (either bound may be None); for times and other text or numbers."""

    field: str
    low: Any = None
    high: Any = None


@dataclass(frozen=True)
class ArrayContainsAny:
    """The array ``doc[field]`` holds at least one of ``values``."""

    field: str
    values: tuple[Any, ...]


@dataclass(frozen=True)
class ArrayEmpty:
    """The array ``doc[field]`` is empty (``empty=True``) or not (``empty=False``), its elements
    among ``ignoring`` not counted (tags being deleted: an image left with only those is untagged)."""

    field: str
    empty: bool = True
    ignoring: tuple[Any, ...] = ()


Condition = Eq | In | Range | ArrayContainsAny | ArrayEmpty


@dataclass(frozen=True)
class Stored:
    """A document as read back, with the etag of that version."""

    doc: dict[str, Any]
    etag: str


@dataclass(frozen=True)
class Page:
    items: list[Stored]
    continuation: str | None


class MetadataStore(Protocol):
    def create(self, kind: str, partition: str, doc: dict[str, Any]) -> str:
        """Insert ``doc`` (its ``id`` must be new in the partition); returns the etag."""
        ...

    def read(self, kind: str, partition: str, doc_id: str) -> Stored: ...

    def replace(self, kind: str, partition: str, doc: dict[str, Any], *, if_match: str | None = None) -> str:
        """Overwrite the document with ``doc["id"]``; returns the new etag."""
        ...

    def delete(self, kind: str, partition: str, doc_id: str, *, if_match: str | None = None) -> None: ...

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
        """One page of matching documents; ``partition=None`` crosses partitions."""
        ...

    def count(self, kind: str, partition: str | None, where: Sequence[Condition] = ()) -> int: ...

    def delete_partition(self, partition: str) -> None:
        """Remove every document of every kind in a partition (deleting a project)."""
        ...


@dataclass(frozen=True)
class BlobInfo:
    key: str
    size: int
    sha256: str


@dataclass(frozen=True)
class BlobEntry:
    """A blob as listed: its key and when it was last written (UTC)."""

    key: str
    modified: datetime


class BlobStore(Protocol):
    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> BlobInfo:
        """Write atomically: a reader sees the old bytes or the new, never a torn file."""
        ...

    def get(self, key: str) -> bytes: ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None:
        """Remove the blob; removing a missing blob is not an error."""
        ...

    def delete_prefix(self, prefix: str) -> None: ...

    def keys(self, prefix: str) -> list[str]:
        """Every key under a folder-like prefix (``projects/<id>/images/``), sorted: for sweeps that
        find bytes no document points at."""
        ...

    def entries(self, prefix: str) -> list[BlobEntry]:
        """What :meth:`keys` lists, each with when it was last written: a sweep leaves young bytes
        alone (an upload may be about to write their record)."""
        ...

    def delete_unless_written_since(self, key: str, since: datetime) -> bool:
        """Remove the blob only if it was not written after ``since`` (a conditional delete, given
        the time it was listed with: bytes written again meanwhile, by an upload of the same image,
        stay); whether it went. A missing blob did not go."""
        ...
