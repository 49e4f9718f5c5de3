"""The Smart Labeler: suggestions for untagged images by an iteration's model, queried most
uncertain first; region proposals from the newest detector or, without one, a class-agnostic method."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

from shared.contracts.evaluation import HeldOutEvaluation
from shared.contracts.manifest import ModelManifest
from shared.domain.entities import Image
from shared.domain.errors import BadRequest, Code, NotFound
from shared.services.suggestions import Suggestion, SuggestionQuery, uncertainty
from shared.services.training import TrainRequest
from tests.unit.services.fakes import (
    DETECTION_COMPACT,
    Trained,
    World,
    png,
    red_green_project,
    square_on_plain,
)

UNKNOWN = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"


def _untagged(trained: Trained) -> dict[str, Image]:
    """Three untagged images: surely red, probably red (0.95), and grey (50/50)."""
    world = trained.world
    sure, probable, grey = world.add(trained.project_id, [png((250, 5, 5)), png((180, 120, 0)), png((128, 128, 128))])
    return {"sure": sure, "probable": probable, "grey": grey}


def _order(found: list[Suggestion], images: dict[str, Image]) -> list[str]:
    names = {image.id: name for name, image in images.items()}
    return [names[s.image.id] for s in found]


def _query(trained: Trained, query: SuggestionQuery | None = None) -> list[Suggestion]:
    found, continuation = trained.world.suggestions.query(
        trained.project_id, trained.iteration.id, query or SuggestionQuery()
    )
    assert continuation is None
    return found


def test_suggestions_are_the_model_s_predictions_queried_most_uncertain_first(classifier: Trained) -> None:
    world, pid, iteration = classifier.world, classifier.project_id, classifier.iteration
    images = _untagged(classifier)
    made = world.suggestions.suggest(pid, iteration.id, [i.id for i in images.values()])
    assert [s.predictions[0].tag_name for s in made] == ["red", "red", "red"]
    assert made[2].uncertainty == pytest.approx(1.0)  # grey: 50/50
    assert made[0].uncertainty < 0.01
    assert _order(_query(classifier), images) == ["grey", "probable", "sure"]
    assert _order(_query(classifier, SuggestionQuery(uncertainty_ascending=True)), images) == [
        "sure",
        "probable",
        "grey",
    ]
    assert all(s.iteration_id == iteration.id for s in _query(classifier))


def test_labelled_or_deleted_images_drop_out_of_the_suggestions(classifier: Trained) -> None:
    world, pid, iteration = classifier.world, classifier.project_id, classifier.iteration
    images = _untagged(classifier)
    world.suggestions.suggest(pid, iteration.id, [i.id for i in images.values()])
    world.labels.add_tags(pid, [(images["grey"].id, classifier.tag("green").id)])
    world.images.delete_images(pid, [images["sure"].id])
    assert _order(_query(classifier), images) == ["probable"]


def test_suggesting_again_replaces_the_earlier_suggestion(classifier: Trained) -> None:
    world, pid, iteration = classifier.world, classifier.project_id, classifier.iteration
    images = _untagged(classifier)
    world.suggestions.suggest(pid, iteration.id, [images["grey"].id])
    world.suggestions.suggest(pid, iteration.id, [images["grey"].id, images["sure"].id])
    assert _order(_query(classifier), images) == ["grey", "sure"]


def test_suggestions_belong_to_the_iteration_that_made_them(classifier: Trained) -> None:
    world, pid = classifier.world, classifier.project_id
    images = _untagged(classifier)
    second = world.finish(world.train(pid, TrainRequest(force_train=True)), *_artifacts_of(classifier))
    world.suggestions.suggest(pid, second.id, [images["grey"].id])
    assert _query(classifier) == []
    found, _ = world.suggestions.query(pid, second.id, SuggestionQuery())
    assert [s.image.id for s in found] == [images["grey"].id]


def _artifacts_of(trained: Trained) -> tuple[bytes, ModelManifest, HeldOutEvaluation]:
    artifacts = trained.world.artifacts
    pid, iid = trained.project_id, trained.iteration.id
    return artifacts.model(pid, iid), artifacts.manifest(pid, iid), artifacts.evaluation(pid, iid)


def test_queries_filter_by_tag_and_threshold_and_count_per_tag(classifier: Trained) -> None:
    world, pid, iteration = classifier.world, classifier.project_id, classifier.iteration
    red, green = classifier.tag("red").id, classifier.tag("green").id
    images = _untagged(classifier)
    world.suggestions.suggest(pid, iteration.id, [i.id for i in images.values()])
    greenish = _query(classifier, SuggestionQuery(tag_ids=[green.upper()], threshold=0.4))
    assert _order(greenish, images) == ["grey"]
    confident = _query(classifier, SuggestionQuery(tag_ids=[red], threshold=0.9))
    assert _order(confident, images) == ["probable", "sure"]
    assert world.suggestions.count(pid, iteration.id, [red, green], 0.4) == {red: 3, green: 1}
    assert world.suggestions.count(pid, iteration.id, [red, green], 0.9) == {red: 2, green: 0}


def test_query_pages_with_a_continuation(classifier: Trained) -> None:
    world, pid, iteration = classifier.world, classifier.project_id, classifier.iteration
    images = _untagged(classifier)
    world.suggestions.suggest(pid, iteration.id, [i.id for i in images.values()])
    first, continuation = world.suggestions.query(pid, iteration.id, SuggestionQuery(max_count=2))
    assert continuation is not None
    rest, end = world.suggestions.query(pid, iteration.id, SuggestionQuery(max_count=2, continuation=continuation))
    assert end is None
    assert _order(first + rest, images) == ["grey", "probable", "sure"]


def test_invalid_requests_are_refused(classifier: Trained) -> None:
    world, pid, iid = classifier.world, classifier.project_id, classifier.iteration.id
    (image,) = world.add(pid, [png((1, 2, 3))])
    required: list[Callable[[], object]] = [
        lambda: world.suggestions.suggest(pid, None, [image.id]),
        lambda: world.suggestions.suggest(pid, iid, []),
        lambda: world.suggestions.query(pid, None, SuggestionQuery()),
        lambda: world.suggestions.count(pid, "", [], 0.5),
    ]
    for call in required:
        with pytest.raises(BadRequest) as err:
            call()
        assert err.value.code is Code.BAD_REQUEST_REQUIRED_PARAM_IS_NULL
    invalid = [
        SuggestionQuery(max_count=0),
        SuggestionQuery(max_count=257),
        SuggestionQuery(threshold=1.5),
        SuggestionQuery(continuation="page two"),
    ]
    for query in invalid:
        with pytest.raises(BadRequest) as err:
            world.suggestions.query(pid, iid, query)
        assert err.value.code is Code.BAD_REQUEST_INVALID, query
    with pytest.raises(NotFound) as not_found:
        world.suggestions.suggest(pid, iid, [image.id, UNKNOWN])
    assert not_found.value.code is Code.NOT_FOUND_IMAGE
    assert _query(classifier) == []  # nothing was suggested for the known image either


def test_an_iteration_still_training_makes_no_suggestions(world: World) -> None:
    started = red_green_project(world)
    (image,) = world.add(started.project_id, [png((1, 2, 3))])
    with pytest.raises(BadRequest) as err:
        world.suggestions.suggest(started.project_id, started.iteration.id, [image.id])
    assert err.value.code is Code.BAD_REQUEST_ITERATION_IS_NOT_TRAINED


def test_a_detector_suggests_boxes(detector: Trained) -> None:
    world, pid, iteration = detector.world, detector.project_id, detector.iteration
    (image,) = world.add(pid, [png((1, 2, 3))])
    (made,) = world.suggestions.suggest(pid, iteration.id, [image.id])
    assert [(p.tag_name, p.box is not None) for p in made.predictions] == [("fork", True), ("knife", True)]
    assert 0.0 < made.uncertainty <= 1.0
    (found,) = _query(detector)
    assert [round(v, 3) for v in found.predictions[0].box or ()] == [0.6, 0.6, 0.3, 0.2]


def test_without_a_detector_regions_are_proposed_around_what_stands_out(world: World) -> None:
    project = world.projects.create("New boxes", domain_id=DETECTION_COMPACT)
    (image,) = world.add(project.id, [square_on_plain(96, (24, 24, 71, 71))])
    proposals = world.suggestions.region_proposals(project.id, image.id)
    assert proposals
    best = proposals[0]
    assert 0.0 < best.confidence <= 1.0
    assert best.box == pytest.approx((0.25, 0.25, 0.5, 0.5), abs=0.03)


def test_the_newest_detector_proposes_its_boxes(detector: Trained) -> None:
    world, pid = detector.world, detector.project_id
    (image,) = world.add(pid, [square_on_plain()])
    proposals = world.suggestions.region_proposals(pid, image.id)
    found = [(round(p.confidence, 3), tuple(round(v, 3) for v in p.box)) for p in proposals]
    assert found == [(0.9, (0.6, 0.6, 0.3, 0.2)), (0.6, (0.1, 0.1, 0.4, 0.4))]
    with pytest.raises(NotFound):
        world.suggestions.region_proposals(pid, UNKNOWN)


def test_uncertainty_is_entropy_between_zero_and_one() -> None:
    assert uncertainty([0.5, 0.5], distribution=True) == pytest.approx(1.0)
    assert uncertainty([1.0, 0.0, 0.0], distribution=True) == 0.0
    assert uncertainty([0.25] * 4, distribution=True) == pytest.approx(1.0)
    assert uncertainty([0.9, 0.1], distribution=True) == pytest.approx(
        -(0.9 * math.log(0.9) + 0.1 * math.log(0.1)) / math.log(2)
    )
    assert uncertainty([0.99, 0.5, 0.01], distribution=False) == pytest.approx(1.0)  # the most uncertain score
    assert uncertainty([0.0, 1.0], distribution=False) == 0.0
    assert uncertainty([], distribution=True) == 0.0
