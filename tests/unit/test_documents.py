"""The typed document layer every service uses: reads with the entity's NotFound, guarded
updates with one retry policy, paging, and the claims behind unique names and the training lock."""

from __future__ import annotations

import threading
import uuid
from dataclasses import replace
from typing import Any

import pytest

from shared.domain.entities import Tag
from shared.domain.enums import TagType
from shared.domain.errors import BadRequest, Code, Conflict, NotFound
from shared.stores import claims
from shared.stores.cache import LruCache
from shared.stores.claims import NameClaims, RenameGuard, TrainingLock
from shared.stores.documents import ETAG_ATTEMPTS, Documents
from shared.stores.memory import MemoryMetadataStore
from shared.stores.ports import Eq


def _tag(n: int, kind: TagType = TagType.REGULAR, project: str = "p") -> Tag:
    return Tag(str(uuid.UUID(int=n)), project, f"tag {n}", "", kind, f"2026-01-01T00:00:{n:02d}.000000Z")


@pytest.fixture
def store() -> MemoryMetadataStore:
    return MemoryMetadataStore()


@pytest.fixture
def tags(store: MemoryMetadataStore) -> Documents[Tag]:
    return Documents(store, Tag)


def test_a_missing_or_malformed_id_is_the_entitys_not_found(tags: Documents[Tag]) -> None:
    for ref in (str(uuid.UUID(int=7)), "not-a-guid"):
        with pytest.raises(NotFound) as err:
            tags.get("p", ref)
        assert err.value.code is Code.NOT_FOUND_TAG
        assert ref in err.value.message
    assert tags.find("p", "not-a-guid") is None


def test_ids_are_matched_in_any_casing_and_created_entities_carry_their_etag(tags: Documents[Tag]) -> None:
    created = tags.create(_tag(10))
    assert created.etag
    assert tags.get("p", created.id.upper()) == created
    with pytest.raises(Conflict):
        tags.create(_tag(10))


def test_update_retries_when_another_writer_wins_and_loses_nothing(store: MemoryMetadataStore) -> None:
    tags: Documents[Tag] = Documents(store, Tag)
    tag = tags.create(_tag(1))
    calls = 0

    def rename(current: Tag) -> Tag:
        nonlocal calls
        calls += 1
        if calls == 1:  # a concurrent writer changes the description between our read and write
            tags.update("p", tag.id, lambda t: replace(t, description="theirs"))
        return replace(current, name="ours")

    updated = tags.update("p", tag.id, rename)
    assert calls == 2
    assert (updated.name, updated.description) == ("ours", "theirs")
    assert tags.get("p", tag.id) == updated


def test_update_gives_up_with_a_conflict_after_the_retry_policy(store: MemoryMetadataStore) -> None:
    tags: Documents[Tag] = Documents(store, Tag)
    tag = tags.create(_tag(1))
    calls = 0

    def always_raced(current: Tag) -> Tag:
        nonlocal calls
        calls += 1
        store.replace(Tag.KIND, "p", current.to_doc())  # someone else writes every time
        return replace(current, name=f"try {calls}")

    with pytest.raises(Conflict) as err:
        tags.update("p", tag.id, always_raced)
    assert err.value.status == 409
    assert calls == ETAG_ATTEMPTS


def test_update_with_nothing_to_change_writes_nothing(tags: Documents[Tag]) -> None:
    tag = tags.create(_tag(1))
    assert tags.update("p", tag.id, lambda t: None).etag == tag.etag


def test_iterate_pages_through_every_match_in_order(tags: Documents[Tag]) -> None:
    for n in range(1, 12):
        tags.create(_tag(n, TagType.NEGATIVE if n % 3 == 0 else TagType.REGULAR))
    everything = [t.id for t in tags.iterate("p", page_size=4)]
    assert everything == [str(uuid.UUID(int=n)) for n in range(1, 12)]
    newest = [t.id for t in tags.iterate("p", [Eq(Tag.TYPE, "Negative")], descending=True, page_size=2)]
    assert newest == [str(uuid.UUID(int=n)) for n in (9, 6, 3)]
    assert tags.count("p", [Eq(Tag.TYPE, "Negative")]) == 3
    assert tags.count(None) == 11


def test_a_filtered_page_is_filled_across_store_pages_and_continues(tags: Documents[Tag]) -> None:
    for n in range(1, 21):
        tags.create(_tag(n))
    odd = lambda t: int(uuid.UUID(t.id)) % 2 == 1  # noqa: E731
    seen: list[int] = []
    token = None
    while True:
        page = tags.page("p", limit=3, continuation=token, keep=odd)
        assert len(page.items) == 3 or page.continuation is None
        seen += [int(uuid.UUID(t.id)) for t in page.items]
        token = page.continuation
        if token is None:
            break
    assert seen == list(range(1, 21, 2))


def test_delete_says_whether_there_was_something(tags: Documents[Tag]) -> None:
    tag = tags.create(_tag(1))
    assert tags.delete("p", tag.id)
    assert not tags.delete("p", tag.id)
    assert not tags.delete("p", "not-a-guid")


def test_a_name_is_claimed_once_and_a_vanished_owners_old_claim_is_taken_over(
    store: MemoryMetadataStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = NameClaims(store, "tagname", Code.BAD_REQUEST_TAG_NAME_NOT_UNIQUE, "tag")
    alive = {"a"}
    names.claim("p", "Apple", "a", lambda owner: owner in alive)
    names.claim("p", "apple", "a", lambda owner: owner in alive)  # the holder again: fine
    with pytest.raises(BadRequest) as err:
        names.claim("p", "APPLE", "b", lambda owner: owner in alive)
    assert err.value.code is Code.BAD_REQUEST_TAG_NAME_NOT_UNIQUE
    names.claim("q", "apple", "b", lambda owner: owner in alive)  # another scope
    alive.clear()  # "a" crashed between its steps
    with pytest.raises(BadRequest):  # ... or is still on its way to writing itself: too soon to tell
        names.claim("p", "apple", "b", lambda owner: owner in alive)
    monkeypatch.setattr(claims, "CLAIM_GRACE_SECONDS", 0.0)  # the claim is old now
    names.claim("p", "apple", "b", lambda owner: owner in alive)
    names.release("p", "apple", "a")  # not the holder any more: nothing happens
    with pytest.raises(BadRequest):
        names.claim("p", "apple", "c", lambda owner: True)


def test_only_one_of_many_concurrent_claims_wins(store: MemoryMetadataStore) -> None:
    names = NameClaims(store, "projectname", Code.BAD_REQUEST_PROJECT_NAME_NOT_UNIQUE, "project")
    winners: list[str] = []
    barrier = threading.Barrier(8)

    def claim(owner: str) -> None:
        barrier.wait()
        try:
            names.claim("all", "Fruit", owner, lambda _: True)
            winners.append(owner)
        except BadRequest:
            pass

    threads = [threading.Thread(target=claim, args=(f"o{n}",)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1


def test_a_rename_claims_the_new_name_frees_the_old_and_a_lost_write_frees_the_new(
    store: MemoryMetadataStore,
) -> None:
    tags: Documents[Tag] = Documents(store, Tag)
    names = NameClaims(store, "tagname", Code.BAD_REQUEST_TAG_NAME_NOT_UNIQUE, "tag")
    alive = lambda owner: tags.exists("p", owner)  # noqa: E731
    guard = RenameGuard[Tag](names, "p", lambda t: t.name, lambda t: t.id, alive)
    tag = tags.create(_tag(1))
    names.claim("p", tag.name, tag.id, alive)
    raced = False

    def rename(current: Tag, name: str) -> Tag:
        nonlocal raced
        if not raced:  # the first write loses to a concurrent one: its claim must not leak
            raced = True
            tags.update("p", tag.id, lambda t: replace(t, description="x"))
        return replace(current, name=name)

    tags.update("p", tag.id, lambda t: rename(t, "Pear"), guard=guard)
    other = tags.create(_tag(2))
    names.claim("p", "tag 1", other.id, alive)  # the old name is free again
    with pytest.raises(BadRequest):
        names.claim("p", "pear", other.id, alive)


def test_the_training_lock_admits_one_training_per_project(store: MemoryMetadataStore) -> None:
    lock = TrainingLock(store)
    training = {"i1"}
    lock.acquire("p", "i1", lambda i: i in training)
    with pytest.raises(BadRequest) as err:
        lock.acquire("p", "i2", lambda i: i in training)
    assert err.value.code is Code.BAD_REQUEST_TRAINING_ALREADY_IN_PROGRESS
    lock.acquire("q", "i3", lambda i: True)
    lock.release("p", "i1")
    lock.acquire("p", "i2", lambda i: i in training)


def test_the_cache_is_bounded_and_loads_a_key_once_for_concurrent_callers() -> None:
    cache: LruCache[str, int] = LruCache(2)
    loads: list[str] = []
    gate = threading.Event()

    def slow(key: str) -> Any:
        def load() -> int:
            loads.append(key)
            gate.wait(5)
            return len(key)

        return load

    threads = [threading.Thread(target=cache.get, args=("abc", slow("abc"))) for _ in range(4)]
    for t in threads:
        t.start()
    gate.set()
    for t in threads:
        t.join()
    assert loads == ["abc"]
    cache.get("d", lambda: 1)
    cache.get("abc", lambda: 99)  # still cached: most recently used moves to the end
    cache.get("ef", lambda: 2)  # evicts "d"
    assert cache.get("d", lambda: 7) == 7
    assert cache.get("abc", lambda: 99) == 99  # evicted by "d" in turn
