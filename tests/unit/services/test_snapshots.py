"""Iteration snapshots in the blob store: written once by a train request, read back (by another
instance too), and the images they keep alive."""

from __future__ import annotations

from dataclasses import replace

import pytest

from shared.contracts.snapshot import Snapshot
from shared.domain.errors import NotFound
from shared.services.image_query import ImageQuery
from shared.services.snapshots import SnapshotStore
from shared.services.training import TrainRequest
from tests.unit.services.fakes import Trained, World, red_green_project, reddish

UNKNOWN = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"


def _store(world: World) -> SnapshotStore:
    """A fresh instance on the same stores: it sees only what was written, nothing cached."""
    return SnapshotStore(world.meta, world.blobs)


def test_the_snapshot_a_train_request_saved_is_read_back_by_another_instance(world: World) -> None:
    started = red_green_project(world)
    snapshot = _store(world).load(started.iteration)
    assert [t.name for t in snapshot.tags] == ["red", "green"]
    assert {i.id for i in snapshot.images} == {i.id for group in started.images.values() for i in group}
    assert all(i.etag is None for i in snapshot.images)


def test_a_missing_snapshot_is_not_found(world: World) -> None:
    project = world.projects.create("None")
    started = red_green_project(world)
    with pytest.raises(NotFound):
        _store(world).load(replace(started.iteration, project_id=project.id, id=UNKNOWN))


def test_a_saved_snapshot_round_trips(world: World) -> None:
    started = red_green_project(world)
    original = _store(world).load(started.iteration)
    smaller = Snapshot(original.tags, original.images[:3])
    _store(world).save(started.project_id, UNKNOWN, smaller, version=2)
    assert _store(world).load(replace(started.iteration, id=UNKNOWN, snapshot_version=2)) == smaller


def test_referenced_images_are_those_of_every_iteration_of_the_project(classifier: Trained) -> None:
    world, pid = classifier.world, classifier.project_id
    (newer,) = world.add(pid, [reddish(30)], [classifier.tag("red").id])
    world.train(pid, TrainRequest())
    first_ids = {i.id for group in classifier.images.values() for i in group}
    assert _store(world).referenced_images(pid) == first_ids | {newer.id}
    world.iterations.delete(pid, classifier.iteration.id)
    assert _store(world).referenced_images(pid) == first_ids | {newer.id}  # the second has them all
    assert _store(world).referenced_images(world.projects.create("Empty").id) == set()


def test_dropping_images_removes_them_from_every_snapshot(classifier: Trained) -> None:
    world, pid = classifier.world, classifier.project_id
    second = world.finish(world.train(pid, TrainRequest(force_train=True)))
    gone = {classifier.images["red"][0].id, classifier.images["green"][4].id}
    assert world.snapshot_queries.count(pid, second.id, ImageQuery()) == 10
    _store(world).drop_images(pid, gone)
    for iteration_id in (classifier.iteration.id, second.id):
        iteration = world.iterations.get(pid, iteration_id)
        assert iteration.snapshot_version == 1  # a new blob: a snapshot never changes once written
        kept = _store(world).load(iteration).images
        assert len(kept) == 8 and {i.id for i in kept}.isdisjoint(gone)
    assert _store(world).referenced_images(pid).isdisjoint(gone)


def test_images_removed_from_the_iterations_leave_this_instance_s_queries_at_once(classifier: Trained) -> None:
    world, pid, iteration = classifier.world, classifier.project_id, classifier.iteration
    assert world.snapshot_queries.count(pid, iteration.id, ImageQuery()) == 10
    world.images.delete_images(pid, [classifier.images["red"][0].id], all_iterations=True)
    assert world.snapshot_queries.count(pid, iteration.id, ImageQuery()) == 9


def test_images_removed_from_the_iterations_leave_every_instance_s_queries(classifier: Trained) -> None:
    world, pid, iteration = classifier.world, classifier.project_id, classifier.iteration
    other = world.another_instance()
    assert other.snapshot_queries.count(pid, iteration.id, ImageQuery()) == 10  # loaded (and cached) there
    world.images.delete_images(pid, [classifier.images["red"][0].id], all_iterations=True)
    assert other.snapshot_queries.count(pid, iteration.id, ImageQuery()) == 9
