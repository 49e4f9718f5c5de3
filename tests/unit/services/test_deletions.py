"""Deletes that finish: tombstones, purge passes that resume, and writers racing a delete."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from shared.contracts.evaluation import HeldOutEvaluation
from shared.contracts.jobs import FinishDeletion, SweepImageBytes, decode, encode
from shared.contracts.manifest import ModelManifest
from shared.domain.entities import Image, Iteration, Project, Tag, Tombstone
from shared.domain.enums import TaggingStatus, Task
from shared.domain.errors import Code, NotFound
from shared.domain.labelling import RegionInput
from shared.domain.records import StoredPrediction, SuggestionRecord
from shared.jobs.dispatch import Handlers, dispatch
from shared.jobs.worker import LocalWorker
from shared.services import tombstones
from shared.services.artifact_keys import image_prefix
from shared.services.image_query import ImageQuery
from shared.services.image_uploads import ImageCreateStatus, NewImage
from shared.stores.memory import MemoryBlobStore
from shared.stores.ports import ArrayContainsAny
from shared.training import trainer
from tests.unit.services.fakes import (
    RacingStore,
    World,
    jpeg,
    red_green_classifier,
    red_green_project,
    reddish,
    trained_classifier,
)

_ORPHAN = "00000000-0000-0000-0000-000000000001"


class Crash(Exception):
    """The process died here."""


class CrashingBlobs(MemoryBlobStore):
    """Dies on the next ``delete_prefix`` of a project once armed (the bytes step of a purge)."""

    def __init__(self) -> None:
        super().__init__()
        self.armed = False

    def delete_prefix(self, prefix: str) -> None:
        if self.armed:
            self.armed = False
            raise Crash(prefix)
        super().delete_prefix(prefix)


def _tombstones(world: World) -> list[Tombstone]:
    return [Tombstone.from_doc(s.doc) for s in world.meta.query(Tombstone.KIND, Tombstone.PARTITION).items]


def _no_grace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tombstones, "PURGE_GRACE_SECONDS", 0.0)


def test_a_project_delete_cut_short_is_gone_at_once_and_finished_by_the_next_pass(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    blobs = CrashingBlobs()
    world = World(blobs=blobs)
    project = world.projects.create("Doomed")
    tag = world.tags.create(project.id, "t").tag
    images = [
        r.image
        for r in world.upload(project.id, [NewImage(str(n), jpeg(n), tag_ids=[tag.id]) for n in range(3)]).images
    ]
    blobs.armed = True
    with pytest.raises(Crash):
        world.projects.delete(project.id)
    # gone for the client at once, and its name is free at once
    with pytest.raises(NotFound) as err:
        world.projects.get(project.id)
    assert err.value.code is Code.NOT_FOUND_PROJECT
    assert project.id not in [p.id for p in world.projects.list()]
    again = world.projects.create("Doomed")
    # the bytes are still there: the next pass (the worker's) removes them
    assert all(i is not None and blobs.exists(i.blob_key) for i in images)
    [stone] = _tombstones(world)
    assert (stone.what, stone.target_id, stone.purged_at) == (Tombstone.PROJECT, project.id, None)
    assert world.services.deletions.finish_due() == 1
    assert not any(i is not None and blobs.exists(i.blob_key) for i in images)
    assert world.meta.count(Image.KIND, project.id) == 0
    assert world.meta.count(Tag.KIND, project.id) == 0
    # the last pass, after the grace, removes the tombstone and leaves the new project alone
    assert world.services.deletions.finish_due() == 0
    _no_grace(monkeypatch)
    assert world.services.deletions.finish_due() == 1
    assert _tombstones(world) == []
    assert world.projects.get(again.id).name == "Doomed"
    with pytest.raises(Exception, match="already exists"):
        world.projects.create("doomed")


def test_a_finish_deletion_message_is_dispatched_to_the_purge(monkeypatch: pytest.MonkeyPatch) -> None:
    blobs = CrashingBlobs()
    world = World(blobs=blobs)
    project = world.projects.create("Queued")
    [result] = world.upload(project.id, [NewImage("x", jpeg(1))]).images
    blobs.armed = True
    with pytest.raises(Crash):
        world.projects.delete(project.id)
    # the timer's request, then the queue trigger's dispatch
    assert world.services.deletions.request_due() == 1
    message = world.queue.get(timeout=1)
    assert message is not None and decode(message) == FinishDeletion(f"project:{project.id}")
    dispatch(message, Handlers(training=None, deletions=world.services.deletions))  # type: ignore[arg-type]
    assert result.image is not None and not blobs.exists(result.image.blob_key)
    # a message for a tombstone already gone is a no-op
    _no_grace(monkeypatch)
    dispatch(message, Handlers(training=None, deletions=world.services.deletions))  # type: ignore[arg-type]
    assert _tombstones(world) == []
    dispatch(encode(FinishDeletion("project:gone")), Handlers(training=None, deletions=world.services.deletions))  # type: ignore[arg-type]


def test_an_upload_racing_its_projects_delete_leaves_nothing_and_answers_not_found() -> None:
    store = RacingStore()
    world = World(store)
    project = world.projects.create("Racing")
    # the delete runs after the upload read its project, just before its record is written
    store.before_next("create", Image.KIND, lambda: world.projects.delete(project.id))
    with pytest.raises(NotFound) as err:
        world.upload(project.id, [NewImage("x", jpeg(2))])
    assert err.value.code is Code.NOT_FOUND_PROJECT
    assert world.meta.count(Image.KIND, project.id) == 0
    assert world.blobs.keys(f"projects/{project.id}/") == []


def test_an_upload_racing_a_tag_delete_keeps_the_image_without_the_tag() -> None:
    store = RacingStore()
    world = World(store)
    project = world.projects.create("Racing tags")
    doomed = world.tags.create(project.id, "doomed").tag
    kept = world.tags.create(project.id, "kept").tag
    store.before_next("create", Image.KIND, lambda: world.tags.delete(project.id, doomed.id))
    [result] = world.upload(project.id, [NewImage("x", jpeg(3))], tag_ids=[doomed.id, kept.id]).images
    assert result.status is ImageCreateStatus.OK
    assert result.image is not None and result.image.tag_ids == (kept.id,)
    [stored] = world.images.list_images(project.id, ImageQuery())
    assert stored.tag_ids == (kept.id,)
    assert [(t.tag.name, t.image_count) for t in world.tags.list(project.id)] == [("kept", 1)]


def test_an_image_tagged_as_its_tag_is_deleted_keeps_no_reference() -> None:
    store = RacingStore()
    world = World(store)
    project = world.projects.create("Labels racing")
    doomed = world.tags.create(project.id, "doomed").tag
    [result] = world.upload(project.id, [NewImage("x", jpeg(4))]).images
    assert result.image is not None
    image_id = result.image.id
    store.before_next("replace", Image.KIND, lambda: world.tags.delete(project.id, doomed.id))
    world.labels.add_tags(project.id, [(image_id, doomed.id)])
    assert world.images.get_image(project.id, image_id).tag_ids == ()
    box = world.tags.create(project.id, "box").tag
    store.before_next("replace", Image.KIND, lambda: world.tags.delete(project.id, box.id))
    world.labels.add_regions(project.id, [(image_id, RegionInput(box.id, 0.1, 0.1, 0.5, 0.5))])
    assert world.images.get_image(project.id, image_id).regions == ()
    assert world.images.count_images(project.id, ImageQuery(tagging=TaggingStatus.UNTAGGED)) == 1


def test_a_tag_delete_cut_short_is_finished_by_the_next_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    class CrashingImages(RacingStore):
        crash = False

        def replace(self, kind: str, partition: str, doc: dict[str, Any], *, if_match: str | None = None) -> str:
            if self.crash and kind == Image.KIND:
                self.crash = False
                raise Crash(doc["id"])
            return super().replace(kind, partition, doc, if_match=if_match)

    store = CrashingImages()
    world = World(store)
    project = world.projects.create("Tag crash")
    doomed = world.tags.create(project.id, "doomed").tag
    world.upload(project.id, [NewImage(str(n), jpeg(10 + n), tag_ids=[doomed.id]) for n in range(3)])
    store.crash = True
    with pytest.raises(Crash):
        world.tags.delete(project.id, doomed.id)
    with pytest.raises(NotFound):
        world.tags.get(project.id, doomed.id)
    assert world.tags.create(project.id, "doomed").tag.name == "doomed"  # the name is free at once
    # before the next pass, the images still carry the tag, and are counted and listed as untagged
    assert world.meta.count(Image.KIND, project.id, [ArrayContainsAny(Image.TAG_IDS, (doomed.id,))]) == 3
    for status, expected in ((TaggingStatus.TAGGED, 0), (TaggingStatus.UNTAGGED, 3)):
        assert world.images.count_images(project.id, ImageQuery(tagging=status)) == expected
        assert len(world.images.list_images(project.id, ImageQuery(tagging=status))) == expected
    assert world.images.count_images(project.id, ImageQuery(tag_ids=(doomed.id,))) == 0
    assert world.images.list_images(project.id, ImageQuery(tag_ids=(doomed.id,))) == []
    assert world.services.deletions.finish_due() == 1
    assert world.images.count_images(project.id, ImageQuery(tag_ids=(doomed.id,))) == 0
    _no_grace(monkeypatch)
    world.services.deletions.finish_due()
    assert _tombstones(world) == []


def test_an_image_uploaded_again_while_it_is_deleted_is_stored_whole() -> None:
    store = RacingStore()
    world = World(store)
    project = world.projects.create("Same image")
    data = jpeg(20)
    [first] = world.upload(project.id, [NewImage("x", data)]).images
    assert first.image is not None
    image_id = first.image.id
    # the delete runs while the second upload merges its labels into the stored image
    tag = world.tags.create(project.id, "t").tag
    store.before_next("replace", Image.KIND, lambda: world.images.delete_images(project.id, [image_id]))
    [again] = world.upload(project.id, [NewImage("x", data, tag_ids=[tag.id])]).images
    assert again.status is ImageCreateStatus.OK
    stored = world.images.get_image(project.id, image_id)
    assert world.blobs.get(stored.blob_key) == data
    assert stored.tag_ids == (tag.id,)


def test_the_worker_start_drops_bytes_of_an_upload_stopped_before_its_record() -> None:
    world = World()
    project = world.projects.create("Orphans")
    [kept] = world.upload(project.id, [NewImage("x", jpeg(30))]).images
    assert kept.image is not None
    world.blobs.put(f"projects/{project.id}/images/00000000-0000-0000-0000-000000000001/original", b"half")
    assert world.services.deletions.sweep_image_bytes() == 0  # younger than the grace: maybe in flight
    assert world.services.deletions.sweep_image_bytes(in_flight=False) == 1
    assert world.blobs.keys(f"projects/{project.id}/") == [kept.image.blob_key]
    assert world.meta.count(Project.KIND, None) == 1


class RewrittenBlobs(MemoryBlobStore):
    """An upload of the same bytes writes them again between the sweep's listing and its delete."""

    def delete_unless_written_since(self, key: str, since: datetime) -> bool:
        self.put(key, self.get(key))
        return super().delete_unless_written_since(key, since)


def test_the_timer_sweeps_bytes_older_than_the_grace_through_the_queue() -> None:
    world = World()
    project = world.projects.create("Old orphans")
    [kept] = world.upload(project.id, [NewImage("x", jpeg(31))]).images
    assert kept.image is not None
    world.blobs.put(f"projects/{project.id}/images/{_ORPHAN}/original", b"half")
    deletions = world.services.deletions
    deletions.unrecorded_grace = 0.0  # the bytes are older than the grace
    assert deletions.request_byte_sweeps() == 1  # the hourly timer's request
    message = world.queue.get(timeout=1)
    assert message is not None and decode(message) == SweepImageBytes(project.id)
    dispatch(message, Handlers(training=None, deletions=deletions))  # type: ignore[arg-type]
    assert world.blobs.keys(f"projects/{project.id}/") == [kept.image.blob_key]


def test_the_sweep_spares_bytes_uploaded_again_after_it_listed_them() -> None:
    world = World(blobs=RewrittenBlobs())
    project = world.projects.create("Uploaded again")
    orphan = f"projects/{project.id}/images/{_ORPHAN}/original"
    world.blobs.put(orphan, b"half")
    world.services.deletions.unrecorded_grace = 0.0
    assert world.services.deletions.sweep_image_bytes() == 0
    assert world.blobs.get(orphan) == b"half"


def test_a_record_whose_delete_died_after_removing_its_bytes_is_removed_by_the_sweep() -> None:
    """An image delete (record, then bytes, then its re-check) racing an upload of the same bytes:
    the upload stores the record again after the delete removed it, checks its bytes, and then the
    delete removes them and dies before its re-check."""
    world = World()
    project = world.projects.create("Delete racing upload")
    data = jpeg(32)
    [first] = world.upload(project.id, [NewImage("x", data)]).images
    assert first.image is not None
    image = first.image
    world.meta.delete(Image.KIND, project.id, image.id)  # the delete's first step
    real_exists = world.blobs.exists

    def checked_then_removed(key: str) -> bool:  # the upload's check of its bytes, then the delete's second step
        world.blobs.exists = real_exists  # type: ignore[method-assign]
        found = real_exists(key)
        world.blobs.delete_prefix(image_prefix(project.id, image.id))
        return found

    world.blobs.exists = checked_then_removed  # type: ignore[method-assign]
    [again] = world.upload(project.id, [NewImage("x", data)]).images
    assert again.status is ImageCreateStatus.OK
    assert world.meta.count(Image.KIND, project.id) == 1 and not world.blobs.exists(image.blob_key)  # half-done
    assert world.services.deletions.sweep_image_bytes() == 1  # the next sweep finishes the delete
    assert world.meta.count(Image.KIND, project.id) == 0
    assert world.blobs.keys(f"projects/{project.id}/") == []


class _NoTrainer:
    def run(self, job: object) -> str | None:
        raise AssertionError("nothing trains here")

    def stop(self) -> None:
        pass


def test_the_local_worker_finishes_an_interrupted_delete_before_the_server_listens() -> None:
    blobs = CrashingBlobs()
    world = World(blobs=blobs)
    project = world.projects.create("Restart")
    [result] = world.upload(project.id, [NewImage("x", jpeg(40))]).images
    blobs.armed = True
    with pytest.raises(Crash):
        world.projects.delete(project.id)
    launcher = _NoTrainer()
    handlers = Handlers(training=None, deletions=world.services.deletions)  # type: ignore[arg-type]
    worker = LocalWorker(
        world.queue, handlers, launcher, world.training, deletions=world.services.deletions, alone=True
    )
    worker.start()  # what `cvstudio serve` does before it listens
    try:
        assert result.image is not None and not blobs.exists(result.image.blob_key)
        assert [t.purged_at is not None for t in _tombstones(world)] == [True]
    finally:
        worker.stop()


# --- writers that read their project before its purge ----------------------------------------------


def _purge_whole(world: World, project_id: str, monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    """The project's delete, its last pass included: what a writer slower than the grace finds."""

    def purge() -> None:
        world.projects.delete(project_id)
        _no_grace(monkeypatch)
        world.services.deletions.finish_due()
        assert _tombstones(world) == []

    return purge


def _nothing_left(world: World, project_id: str) -> None:
    assert world.blobs.keys(f"projects/{project_id}/") == []
    for kind in (StoredPrediction.KIND, SuggestionRecord.KIND, Iteration.KIND, Image.KIND):
        assert world.meta.count(kind, project_id) == 0, kind


def test_a_prediction_stored_after_its_projects_purge_is_removed_again(monkeypatch: pytest.MonkeyPatch) -> None:
    store = RacingStore()
    world = World(store)
    trained = trained_classifier(world)
    store.before_next("create", StoredPrediction.KIND, _purge_whole(world, trained.project_id, monkeypatch))
    with pytest.raises(NotFound) as err:
        world.predictions.predict(trained.iteration, reddish(99), store=True)
    assert err.value.code is Code.NOT_FOUND_PROJECT
    _nothing_left(world, trained.project_id)


def test_suggestions_kept_after_their_projects_purge_are_removed_again(monkeypatch: pytest.MonkeyPatch) -> None:
    store = RacingStore()
    world = World(store)
    trained = trained_classifier(world)
    image_ids = [i.id for group in trained.images.values() for i in group]
    store.before_next("create", SuggestionRecord.KIND, _purge_whole(world, trained.project_id, monkeypatch))
    with pytest.raises(NotFound):
        world.suggestions.suggest(trained.project_id, trained.iteration.id, image_ids[:2])
    _nothing_left(world, trained.project_id)


def test_a_model_saved_after_its_projects_purge_is_removed_again(monkeypatch: pytest.MonkeyPatch) -> None:
    world = World()
    started = red_green_project(world)
    pid, iteration = started.project_id, started.iteration
    world.messages()
    manifest = ModelManifest(Task.CLASSIFICATION, (started.tag("red").id, started.tag("green").id))
    purge = _purge_whole(world, pid, monkeypatch)

    def fit_while_purged(context: object) -> None:  # the fit outlasts the delete's last pass
        purge()
        evaluation = HeldOutEvaluation(Task.CLASSIFICATION, manifest.tag_ids, False, ())
        world.artifacts.save(pid, iteration.id, red_green_classifier(), manifest, evaluation)

    monkeypatch.setattr(trainer, "_train", fit_while_purged)
    trainer.train_iteration(world.services, pid, iteration.id)
    _nothing_left(world, pid)
