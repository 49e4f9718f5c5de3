"""Iterations: reads, renames, deletion (refused while published or training; image bytes kept while
another iteration or the workspace needs them), and the status changes the trainer reports."""

from __future__ import annotations

import pytest

from shared.domain.entities import TrainingProgress
from shared.domain.enums import IterationStatus
from shared.domain.errors import BadRequest, Code, NotFound
from shared.services.image_query import ImageQuery
from shared.services.training import TrainRequest
from tests.unit.services.fakes import Trained, World, red_green_project, reddish, trained_classifier

UNKNOWN = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"


def test_an_unknown_iteration_is_not_found(world: World) -> None:
    trained = trained_classifier(world)
    other = world.projects.create("Other")
    for project_id, iteration_id in [(trained.project_id, UNKNOWN), (other.id, trained.iteration.id)]:
        with pytest.raises(NotFound) as err:
            world.iterations.get(project_id, iteration_id)
        assert err.value.code is Code.NOT_FOUND_ITERATION
    assert world.iterations.find(trained.project_id, "not-a-guid") is None
    assert world.iterations.get(trained.project_id, trained.iteration.id.upper()).id == trained.iteration.id


def test_iterations_list_newest_first(classifier: Trained) -> None:
    world, pid = classifier.world, classifier.project_id
    second = world.finish(world.train(pid, TrainRequest(force_train=True)))
    assert [(i.number, i.name) for i in world.iterations.newest_first(pid)] == [
        (2, "Iteration 2"),
        (1, "Iteration 1"),
    ]
    assert second.status is IterationStatus.COMPLETED and second.training_seconds == 12.5


def test_renaming_keeps_names_unique_in_any_casing(classifier: Trained) -> None:
    world, pid, first = classifier.world, classifier.project_id, classifier.iteration
    second = world.finish(world.train(pid, TrainRequest(force_train=True)))
    assert world.iterations.rename(pid, first.id, "  Baseline ").name == "Baseline"
    assert world.iterations.get(pid, first.id).name == "Baseline"
    with pytest.raises(BadRequest) as err:
        world.iterations.rename(pid, second.id, "BASELINE")
    assert err.value.code is Code.BAD_REQUEST_ITERATION_NAME_NOT_UNIQUE
    assert world.iterations.rename(pid, first.id.upper(), "baseline").name == "baseline"  # its own name
    with pytest.raises(BadRequest) as err:
        world.iterations.rename(pid, second.id, " ")
    assert err.value.code is Code.BAD_REQUEST_ITERATION_NAME
    assert world.iterations.get(pid, second.id).name == "Iteration 2"


def test_a_published_iteration_cannot_be_deleted(classifier: Trained) -> None:
    world, pid, iteration = classifier.world, classifier.project_id, classifier.iteration
    world.publishing.publish(pid, iteration.id, "prod", None)
    with pytest.raises(BadRequest) as err:
        world.iterations.delete(pid, iteration.id)
    assert err.value.code is Code.BAD_REQUEST_ITERATION_IS_PUBLISHED
    world.publishing.unpublish(pid, iteration.id)
    world.iterations.delete(pid, iteration.id)
    assert world.iterations.newest_first(pid) == []


def test_a_training_iteration_cannot_be_deleted(world: World) -> None:
    started = red_green_project(world)
    with pytest.raises(BadRequest) as err:
        world.iterations.delete(started.project_id, started.iteration.id)
    assert err.value.code is Code.BAD_REQUEST_TRAINING_ALREADY_IN_PROGRESS
    assert world.iterations.get(started.project_id, started.iteration.id).status is IterationStatus.TRAINING


def test_deleting_removes_the_model_and_keeps_image_bytes_another_iteration_or_the_workspace_needs(
    classifier: Trained,
) -> None:
    world, pid, first = classifier.world, classifier.project_id, classifier.iteration
    shared_image, kept_image = classifier.images["red"][0], classifier.images["red"][1]
    (newer,) = world.add(pid, [reddish(30)], [classifier.tag("red").id])
    second = world.finish(world.train(pid))  # trained on everything, the new image too
    world.images.delete_images(pid, [shared_image.id, newer.id])  # both iterations still need these bytes

    world.iterations.delete(pid, first.id)
    with pytest.raises(NotFound):
        world.iterations.get(pid, first.id)
    with pytest.raises(NotFound):
        world.artifacts.model(pid, first.id)
    assert world.blobs.exists(shared_image.blob_key) and world.blobs.exists(newer.blob_key)
    assert world.snapshot_queries.count(pid, second.id, ImageQuery()) == 11

    world.iterations.delete(pid, second.id)
    assert not world.blobs.exists(shared_image.blob_key) and not world.blobs.exists(newer.blob_key)
    assert world.blobs.exists(kept_image.blob_key)  # still in the workspace
    assert world.images.read_rendition(pid, kept_image.id, "original")[0] == world.blobs.get(kept_image.blob_key)


def test_completing_ends_the_training_and_frees_the_project_for_the_next(world: World) -> None:
    started = red_green_project(world)
    pid, iteration = started.project_id, started.iteration
    world.iterations.report_progress(pid, iteration.id, "training: fitting", 140)
    assert world.iterations.get(pid, iteration.id).progress == TrainingProgress("training: fitting", 100)
    world.iterations.report_progress(pid, iteration.id, "training: fitting", -3)
    assert world.iterations.get(pid, iteration.id).progress == TrainingProgress("training: fitting", 0)
    done = world.iterations.complete(pid, iteration.id, 3.0)
    assert (done.status, done.progress, done.training_seconds) == (IterationStatus.COMPLETED, None, 3.0)
    assert done.trained_at is not None
    world.iterations.report_progress(pid, iteration.id, "late", 50)  # a late report changes nothing
    assert world.iterations.get(pid, iteration.id).progress is None
    assert world.train(pid, TrainRequest(force_train=True)).number == 2


def test_a_failed_iteration_says_why_and_training_may_start_again_unchanged(world: World) -> None:
    started = red_green_project(world)
    pid, iteration = started.project_id, started.iteration
    failed = world.iterations.fail(pid, iteration.id, "out of memory")
    assert (failed.status, failed.training_error_details, failed.progress) == (
        IterationStatus.FAILED,
        "out of memory",
        None,
    )
    with pytest.raises(BadRequest) as err:
        world.iterations.completed(pid, iteration.id)
    assert err.value.code is Code.BAD_REQUEST_ITERATION_IS_NOT_TRAINED
    retry = world.train(pid)  # nothing changed, but the only earlier iteration failed
    assert (retry.number, retry.status) == (2, IterationStatus.TRAINING)


def test_a_late_failure_does_not_undo_a_completed_iteration(classifier: Trained) -> None:
    world, pid, iteration = classifier.world, classifier.project_id, classifier.iteration
    assert world.iterations.fail(pid, iteration.id, "worker lost").status is IterationStatus.COMPLETED
    assert world.iterations.completed(pid, iteration.id).training_error_details is None


def test_a_training_iteration_is_not_completed_and_counts_its_attempts(world: World) -> None:
    started = red_green_project(world)
    pid, iteration = started.project_id, started.iteration
    with pytest.raises(BadRequest) as err:
        world.iterations.completed(pid, iteration.id)
    assert err.value.code is Code.BAD_REQUEST_ITERATION_IS_NOT_TRAINED
    world.iterations.begin_attempt(pid, iteration.id)
    assert world.iterations.begin_attempt(pid, iteration.id).attempts == 2


def test_the_iterations_still_training_are_found_across_projects(world: World) -> None:
    first = red_green_project(world, "One")
    second = red_green_project(world, "Two")
    world.finish(second.iteration)
    assert [i.id for i in world.iterations.training_iterations()] == [first.iteration.id]
