"""Publishing: an iteration made callable under a name that is unique in its project; unpublishing
frees the name; the Prediction API resolves names on every call."""

from __future__ import annotations

import pytest

from shared.domain.entities import Iteration
from shared.domain.errors import BadRequest, Code, NotFound
from shared.services.training import TrainRequest
from tests.unit.services.fakes import RacingStore, Trained, World, red_green_project, refused, trained_classifier

RESOURCE = "/subscriptions/s/resourceGroups/g/providers/Microsoft.CognitiveServices/accounts/p"


def _second(trained: Trained) -> Iteration:
    world = trained.world
    return world.finish(world.train(trained.project_id, TrainRequest(force_train=True)))


def test_a_published_iteration_is_found_by_its_name(classifier: Trained) -> None:
    world, pid, iteration = classifier.world, classifier.project_id, classifier.iteration
    world.publishing.publish(pid, iteration.id, "  prod  ", RESOURCE)
    published = world.publishing.published_iteration(pid, "prod")
    assert (published.id, published.publish_name, published.original_publish_resource_id) == (
        iteration.id,
        "prod",
        RESOURCE,
    )


@pytest.mark.parametrize("name", [None, "", "   ", "-prod", "_prod", "prod/2", "x" * 257, "naïve"])
def test_publish_names_follow_the_rules(classifier: Trained, name: str | None) -> None:
    world, pid, iteration = classifier.world, classifier.project_id, classifier.iteration
    with pytest.raises(BadRequest) as err:
        world.publishing.publish(pid, iteration.id, name, None)
    assert err.value.code is Code.BAD_REQUEST_INVALID_PUBLISH_NAME
    assert world.iterations.get(pid, iteration.id).publish_name == ""


@pytest.mark.parametrize("name", ["p", "Prod 2.1_final-b", "x" * 256, "0day"])
def test_names_that_follow_the_rules_are_taken(classifier: Trained, name: str) -> None:
    world, pid = classifier.world, classifier.project_id
    world.publishing.publish(pid, classifier.iteration.id, name, None)
    assert world.publishing.published_iteration(pid, name).id == classifier.iteration.id


def test_publishing_again_under_the_same_name_changes_nothing(classifier: Trained) -> None:
    world, pid, iteration = classifier.world, classifier.project_id, classifier.iteration
    world.publishing.publish(pid, iteration.id, "prod", RESOURCE)
    before = world.iterations.get(pid, iteration.id)
    world.publishing.publish(pid, iteration.id, "prod", "another resource")
    assert world.iterations.get(pid, iteration.id) == before


def test_a_name_held_by_another_iteration_is_refused_unless_overwritten(classifier: Trained) -> None:
    world, pid, first = classifier.world, classifier.project_id, classifier.iteration
    second = _second(classifier)
    world.publishing.publish(pid, first.id, "prod", None)
    with pytest.raises(BadRequest) as err:
        world.publishing.publish(pid, second.id, "prod", None)
    assert err.value.code is Code.BAD_REQUEST_INVALID_PUBLISH_NAME
    assert world.publishing.published_iteration(pid, "prod").id == first.id
    world.publishing.publish(pid, second.id, "prod", None, overwrite=True)
    assert world.publishing.published_iteration(pid, "prod").id == second.id
    assert world.iterations.get(pid, first.id).publish_name == ""
    world.iterations.delete(pid, first.id)  # no longer published


def test_unpublishing_frees_the_name(classifier: Trained) -> None:
    world, pid, first = classifier.world, classifier.project_id, classifier.iteration
    second = _second(classifier)
    world.publishing.publish(pid, first.id, "prod", RESOURCE)
    world.publishing.unpublish(pid, first.id)
    unpublished = world.iterations.get(pid, first.id)
    assert (unpublished.publish_name, unpublished.original_publish_resource_id) == ("", "")
    with pytest.raises(NotFound):
        world.publishing.published_iteration(pid, "prod")
    world.publishing.publish(pid, second.id, "prod", None)
    assert world.publishing.published_iteration(pid, "prod").id == second.id
    with pytest.raises(BadRequest) as err:
        world.publishing.unpublish(pid, first.id)
    assert err.value.code is Code.BAD_REQUEST_ITERATION_NOT_PUBLISHED


def test_publishing_under_a_new_name_frees_the_old_one(classifier: Trained) -> None:
    world, pid, first = classifier.world, classifier.project_id, classifier.iteration
    second = _second(classifier)
    world.publishing.publish(pid, first.id, "old", None)
    world.publishing.publish(pid, first.id, "new", None)
    assert world.publishing.published_iteration(pid, "new").id == first.id
    with pytest.raises(NotFound):
        world.publishing.published_iteration(pid, "old")
    world.publishing.publish(pid, second.id, "old", None)
    assert world.publishing.published_iteration(pid, "old").id == second.id


def test_an_unknown_publish_name_is_custom_vision_s_invalid_iteration(classifier: Trained) -> None:
    with pytest.raises(NotFound) as err:
        classifier.world.publishing.published_iteration(classifier.project_id, "nothing")
    assert (err.value.code, err.value.message) == (Code.NOT_FOUND_ITERATION, "Invalid iteration")


def test_publish_names_are_per_project(world: World) -> None:
    one = trained_classifier(world, "One")
    two = trained_classifier(world, "Two")
    world.publishing.publish(one.project_id, one.iteration.id, "prod", None)
    world.publishing.publish(two.project_id, two.iteration.id, "prod", None)
    assert world.publishing.published_iteration(two.project_id, "prod").id == two.iteration.id
    with pytest.raises(NotFound):
        world.publishing.publish(one.project_id, two.iteration.id, "other", None)


def test_only_a_completed_iteration_can_be_published(world: World) -> None:
    started = red_green_project(world)
    with pytest.raises(BadRequest) as err:
        world.publishing.publish(started.project_id, started.iteration.id, "prod", None)
    assert err.value.code is Code.BAD_REQUEST_ITERATION_IS_NOT_TRAINED
    with pytest.raises(NotFound):
        world.publishing.published_iteration(started.project_id, "prod")


def test_two_concurrent_publishes_of_one_name_cannot_both_take_it() -> None:
    store = RacingStore()
    world = World(store)
    trained = trained_classifier(world)
    pid, first = trained.project_id, trained.iteration
    second = _second(trained)
    # The other request publishes just after this one checked that the name was free.
    store.before_next("create", "publishname", lambda: world.publishing.publish(pid, second.id, "prod", None))
    with pytest.raises(BadRequest) as err:
        world.publishing.publish(pid, first.id, "prod", None)
    assert err.value.code is Code.BAD_REQUEST_INVALID_PUBLISH_NAME
    assert world.publishing.published_iteration(pid, "prod").id == second.id
    assert world.iterations.get(pid, first.id).publish_name == ""


def test_two_concurrent_publishes_of_one_name_cannot_both_take_it_whenever_the_second_arrives() -> None:
    store = RacingStore()
    world = World(store)
    trained = trained_classifier(world)
    pid, first = trained.project_id, trained.iteration
    second = _second(trained)
    codes: list[Code] = []
    # The other request arrives after this one claimed the name, before it wrote its iteration.
    store.before_next(
        "replace", Iteration.KIND, refused(lambda: world.publishing.publish(pid, second.id, "prod", None), codes)
    )
    world.publishing.publish(pid, first.id, "prod", None)
    assert codes == [Code.BAD_REQUEST_INVALID_PUBLISH_NAME]
    published = [i.id for i in world.iterations.newest_first(pid) if i.publish_name == "prod"]
    assert published == [first.id]
