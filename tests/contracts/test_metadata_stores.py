"""The MetadataStore contract, written once and run against every adapter.

Each adapter supplies only a ``store`` fixture; the behaviour is the mixin's.
"""

from __future__ import annotations

import random
import threading
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest
from azure.cosmos import CosmosClient
from azure.cosmos.exceptions import CosmosResourceNotFoundError
from urllib3.exceptions import InsecureRequestWarning

from shared.domain.errors import BadRequest, Conflict, NotFound
from shared.stores.azure.cosmos_metadata import CosmosMetadataStore
from shared.stores.embedded.sqlite_metadata import SqliteMetadataStore
from shared.stores.memory import MemoryMetadataStore
from shared.stores.ports import ArrayContainsAny, ArrayEmpty, Eq, In, MetadataStore, Range
from tests.azure_stack import AzureStack


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
        # elements among ``ignoring`` do not count (tags being deleted)
        assert ids(ArrayEmpty("tagIds", ignoring=("c",))) == ["id-002", "id-003"]
        assert ids(ArrayEmpty("tagIds", empty=False, ignoring=("a", "c"))) == ["id-001"]
        assert store.count("img", "p1", [ArrayEmpty("tagIds", empty=False, ignoring=("a", "b", "c"))]) == 0
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


@contextmanager
def _cosmos_client(stack: AzureStack) -> Iterator[CosmosClient]:
    """A client of the test's own for the self-signed loopback server (the test is single-threaded, so
    catch_warnings is safe here; the client talks to the server as soon as it is made)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureRequestWarning)
        with CosmosClient(stack.cosmos_endpoint, credential=stack.cosmos_key) as client:
            yield client


def _drop_database(stack: AzureStack, database: str) -> None:
    # A test that never reached the server has no database to drop.
    with _cosmos_client(stack) as client, suppress(CosmosResourceNotFoundError):
        client.delete_database(database)


class TestCosmosMetadataStore(MetadataStoreContract):
    @pytest.fixture
    def database(self, azure_stack: AzureStack) -> Iterator[str]:
        name = f"test-{uuid.uuid4().hex}"
        yield name
        _drop_database(azure_stack, name)

    @pytest.fixture
    def store(self, azure_stack: AzureStack, database: str) -> Iterator[CosmosMetadataStore]:
        store = CosmosMetadataStore(azure_stack.cosmos_endpoint, database, key=azure_stack.cosmos_key)
        yield store
        store.close()

    def test_a_fresh_account_gets_its_database_and_container_on_first_use(
        self, azure_stack: AzureStack, database: str
    ) -> None:
        with _cosmos_client(azure_stack) as client:
            assert database not in [d["id"] for d in client.list_databases()]
        store = CosmosMetadataStore(azure_stack.cosmos_endpoint, database, key=azure_stack.cosmos_key)
        try:
            assert store.count("thing", None) == 0
        finally:
            store.close()
        with _cosmos_client(azure_stack) as client:
            props = client.get_database_client(database).get_container_client("documents").read()
        assert props["partitionKey"]["paths"] == ["/projectId"]

    def test_first_use_from_many_threads_creates_one_container(self, store: CosmosMetadataStore) -> None:
        errors: list[BaseException] = []

        def write(i: int) -> None:
            try:
                store.create("thing", "p1", _doc(i))
            except BaseException as exc:  # reported below, from the main thread
                errors.append(exc)

        threads = [threading.Thread(target=write, args=(i,)) for i in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == [] and store.count("thing", "p1") == 6

    def test_reads_give_back_exactly_the_document_written(self, store: CosmosMetadataStore) -> None:
        doc = {"id": "x", "kind": "not-the-kind", "projectId": "elsewhere", "id_": 1, "value": [1, {"a": None}]}
        etag = store.create("thing", "p1", doc)
        assert store.read("thing", "p1", "x").doc == doc
        assert [s.doc for s in store.query("thing", "p1").items] == [doc]
        assert store.query("thing", "p1", [Eq("value", [1, {"a": None}])]).items[0].etag == etag

    def test_one_id_under_two_kinds_is_two_documents(self, store: CosmosMetadataStore) -> None:
        store.create("thing", "p1", _doc(1, name="thing"))
        store.create("other", "p1", _doc(1, name="other"))
        assert store.read("thing", "p1", "id-001").doc["name"] == "thing"
        store.delete("other", "p1", "id-001")
        assert store.read("thing", "p1", "id-001").doc["name"] == "thing"
        assert store.count("other", "p1") == 0

    def test_a_stale_etag_on_delete_keeps_the_document(self, store: CosmosMetadataStore) -> None:
        first = store.create("thing", "p1", _doc(1, v=1))
        second = store.replace("thing", "p1", _doc(1, v=2))
        with pytest.raises(Conflict):
            store.delete("thing", "p1", "id-001", if_match=first)
        assert store.read("thing", "p1", "id-001").etag == second
        store.delete("thing", "p1", "id-001", if_match=second)
        with pytest.raises(NotFound):
            store.delete("thing", "p1", "id-001", if_match=second)

    def test_ids_cosmos_cannot_hold_are_refused_or_missing(self, store: CosmosMetadataStore) -> None:
        with pytest.raises(BadRequest):
            store.create("thing", "p1", {"id": "a/b"})
        with pytest.raises(NotFound):
            store.read("thing", "p1", "a/b")

    def test_ties_and_blanks_page_like_the_memory_store(self, store: CosmosMetadataStore) -> None:
        # Groups of equal values larger than a page, written in random order, blank values (missing, null
        # and "") among them, and a second partition for the cross-partition case.
        rng = random.Random(7)
        docs = [_doc(i, group=rng.choice(["a", "b", "b", "c"])) for i in range(24)]
        for doc, blank in zip(docs[:6], [None, "", "missing"] * 2, strict=True):
            if blank == "missing":
                del doc["group"]
            else:
                doc["group"] = blank
        rng.shuffle(docs)
        reference = MemoryMetadataStore()
        for i, doc in enumerate(docs):
            for target in (store, reference):
                target.create("thing", "p1" if i % 3 else "p2", doc)
        for partition in ("p1", None):
            for descending in (False, True):
                for limit in (4,):
                    kwargs: dict[str, Any] = {"kind": "thing", "partition": partition, "order_by": "group"}
                    kwargs.update(descending=descending, limit=limit)
                    assert _all_pages(store, **kwargs) == _all_pages(reference, **kwargs), kwargs

    def test_the_loopback_warning_stays_silenced_for_loopback_only(self, store: CosmosMetadataStore) -> None:
        store.count("thing", None)
        with pytest.raises(InsecureRequestWarning):
            warnings.warn(
                InsecureRequestWarning("Unverified HTTPS request is being made to host 'cvs.documents.azure.com'."),
                stacklevel=1,
            )
