"""The MetadataStore contract, written once and run against every adapter.

Each adapter supplies only a ``store`` fixture; the behaviour is the mixin's.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shared.domain.errors import BadRequest, Conflict, NotFound
from shared.stores.embedded.sqlite_metadata import SqliteMetadataStore
from shared.stores.memory import MemoryMetadataStore
from shared.stores.ports import ArrayContainsAny, ArrayEmpty, Eq, In, MetadataStore, Range


def _doc(i: int, **extra: Any) -> dict[str, Any]:
    return {"id": f"id-{i:03d}", "created": f"2026-01-01T00:00:{i % 60:02d}.000000Z", "n": i, **extra}


def _all_pages(store: MetadataStore, **kwargs: Any) -> list[str]:
    ids: list[str] = []
    token = None
    while True:
        page = store.query(continuation=token, **kwargs)
        ids += [s.doc["id"] for s in page.items]
        token = page.continuation
        if token is None:
            return ids


class MetadataStoreContract:
    def test_create_then_read_returns_the_document_and_its_etag(self, store: MetadataStore) -> None:
        etag = store.create("thing", "p1", _doc(1, name="a"))
        got = store.read("thing", "p1", "id-001")
        assert got.doc["name"] == "a"
        assert got.etag == etag

    def test_an_existing_id_cannot_be_created_twice(self, store: MetadataStore) -> None:
        store.create("thing", "p1", _doc(1))
        with pytest.raises(Conflict):
            store.create("thing", "p1", _doc(1))

    def test_partitions_and_kinds_are_separate(self, store: MetadataStore) -> None:
        store.create("thing", "p1", _doc(1))
        store.create("thing", "p2", _doc(1))
        store.create("other", "p1", _doc(1))
        with pytest.raises(NotFound):
            store.read("thing", "p3", "id-001")
        assert store.count("thing", None) == 2

    def test_missing_documents_raise_not_found(self, store: MetadataStore) -> None:
        with pytest.raises(NotFound):
            store.read("thing", "p1", "nope")
        with pytest.raises(NotFound):
            store.replace("thing", "p1", {"id": "nope"})
        with pytest.raises(NotFound):
            store.delete("thing", "p1", "nope")

    def test_replace_with_a_stale_etag_is_refused_and_changes_nothing(self, store: MetadataStore) -> None:
        first = store.create("thing", "p1", _doc(1, v=1))
        second = store.replace("thing", "p1", _doc(1, v=2), if_match=first)
        assert second != first
        with pytest.raises(Conflict):
            store.replace("thing", "p1", _doc(1, v=3), if_match=first)
        assert store.read("thing", "p1", "id-001").doc["v"] == 2

    def test_delete_with_a_stale_etag_is_refused(self, store: MetadataStore) -> None:
        first = store.create("thing", "p1", _doc(1))
        store.replace("thing", "p1", _doc(1, v=2))
        with pytest.raises(Conflict):
            store.delete("thing", "p1", "id-001", if_match=first)
        store.delete("thing", "p1", "id-001")
        with pytest.raises(NotFound):
            store.read("thing", "p1", "id-001")

    def test_pages_cover_every_match_once_in_order(self, store: MetadataStore) -> None:
        for i in range(25):
            store.create("thing", "p1", _doc(i))
        ids = _all_pages(store, kind="thing", partition="p1", order_by="n", limit=7)
        assert ids == [f"id-{i:03d}" for i in range(25)]
        ids = _all_pages(store, kind="thing", partition="p1", order_by="n", descending=True, limit=10)
        assert ids == [f"id-{i:03d}" for i in reversed(range(25))]

    def test_equal_sort_values_are_broken_by_id(self, store: MetadataStore) -> None:
        for i in range(9):
            store.create("thing", "p1", _doc(i, group="same"))
        ids = _all_pages(store, kind="thing", partition="p1", order_by="group", limit=2)
        assert ids == sorted(ids) and len(ids) == 9

    def test_a_page_that_ends_exactly_has_no_continuation(self, store: MetadataStore) -> None:
        for i in range(4):
            store.create("thing", "p1", _doc(i))
        page = store.query("thing", "p1", limit=4)
        assert len(page.items) == 4 and page.continuation is None

    def test_a_garbage_continuation_token_is_a_bad_request(self, store: MetadataStore) -> None:
        with pytest.raises(BadRequest):
            store.query("thing", "p1", continuation="%%%not-a-token")

    def test_conditions_filter_like_their_names_say(self, store: MetadataStore) -> None:
        store.create("img", "p1", _doc(1, tagIds=["a", "b"], color="red"))
        store.create("img", "p1", _doc(2, tagIds=["c"], color="blue"))
        store.create("img", "p1", _doc(3, tagIds=[], color="red"))

        def ids(*where: Any) -> list[str]:
            return [s.doc["id"] for s in store.query("img", "p1", where, limit=50).items]

        assert ids(Eq("color", "red")) == ["id-001", "id-003"]
        assert ids(In("id", ("id-002", "id-003", "zzz"))) == ["id-002", "id-003"]
        assert ids(In("id", ())) == []
        assert ids(ArrayContainsAny("tagIds", ("b", "c"))) == ["id-001", "id-002"]
        assert ids(ArrayEmpty("tagIds")) == ["id-003"]
        assert ids(ArrayEmpty("tagIds", empty=False)) == ["id-001", "id-002"]
        assert ids(Eq("color", "red"), ArrayEmpty("tagIds", empty=False)) == ["id-001"]
        assert store.count("img", "p1", [ArrayContainsAny("tagIds", ("a",))]) == 1
        assert ids(Range("n", 2, 3)) == ["id-002"]
        assert ids(Range("n", low=2)) == ["id-002", "id-003"]
        assert ids(Range("created", high="2026-01-01T00:00:02")) == ["id-001"]
        assert ids(Range("missing", low=0)) == []

    def test_field_names_cannot_smuggle_query_text(self, store: MetadataStore) -> None:
        with pytest.raises(ValueError):
            store.query("img", "p1", [Eq("x') OR 1=1 --", 1)])

    def test_delete_partition_removes_only_that_partition(self, store: MetadataStore) -> None:
        store.create("thing", "p1", _doc(1))
        store.create("other", "p1", _doc(2))
        store.create("thing", "p2", _doc(3))
        store.delete_partition("p1")
        assert store.count("thing", None) == 1
        assert store.count("other", None) == 0


class TestMemoryMetadataStore(MetadataStoreContract):
    @pytest.fixture
    def store(self) -> MemoryMetadataStore:
        return MemoryMetadataStore()


class TestSqliteMetadataStore(MetadataStoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[SqliteMetadataStore]:
        store = SqliteMetadataStore(tmp_path / "meta.sqlite3")
        yield store
        store.close()

    def test_documents_survive_reopening_the_database(self, tmp_path: Path) -> None:
        path = tmp_path / "meta.sqlite3"
        first = SqliteMetadataStore(path)
        etag = first.create("thing", "p1", _doc(1, name="kept"))
        first.close()
        second = SqliteMetadataStore(path)
        try:
            got = second.read("thing", "p1", "id-001")
            assert got.doc["name"] == "kept" and got.etag == etag
        finally:
            second.close()
