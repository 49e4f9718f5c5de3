"""Iteration performance: computed on each call from the stored held-out predictions, at the
thresholds asked for; the held-out images paged and filtered by tag."""

from __future__ import annotations

import pytest

from shared.contracts.evaluation import HeldOutEvaluation, HeldOutImage
from shared.contracts.manifest import ModelManifest
from shared.domain.entities import Image, Tag
from shared.domain.enums import Task
from shared.domain.errors import BadRequest, Code, NotFound
from shared.vision.evaluation import GroundTruthBox, PredictedBox
from tests.unit.services.fakes import Trained, World, red_green_classifier, red_green_project, trained_detector


def _scored(world: World) -> Trained:
    """Red/green, four images held out: red 0 right (0.9), red 1 wrong (green 0.6), green 0 and 1
    right (0.8, 0.7)."""
    started = red_green_project(world)
    red, green = started.tag("red"), started.tag("green")
    r0, r1 = started.images["red"][:2]
    g0, g1 = started.images["green"][:2]

    def held(image: Image, truth: Tag, p_red: float) -> HeldOutImage:
        return HeldOutImage(image.id, 0, (truth.id,), {red.id: p_red, green.id: round(1 - p_red, 6)})

    evaluation = HeldOutEvaluation(
        Task.CLASSIFICATION,
        (red.id, green.id),
        False,
        (held(r0, red, 0.9), held(r1, red, 0.4), held(g0, green, 0.2), held(g1, green, 0.3)),
        multiclass=True,
    )
    manifest = ModelManifest(Task.CLASSIFICATION, (red.id, green.id))
    done = world.finish(started.iteration, red_green_classifier(), manifest, evaluation)
    return Trained(world, started.project, started.tags, done, started.images)


def test_perfect_held_out_predictions_score_one(classifier: Trained) -> None:
    result, tags = classifier.world.performance.performance(classifier.project_id, classifier.iteration.id, None, None)
    assert (result.precision, result.recall, result.average_precision) == (1.0, 1.0, 1.0)
    assert (result.precision_std, result.recall_std) == (0.0, 0.0)
    assert [(tags[t.tag_id].name, t.precision, t.recall) for t in result.per_tag] == [
        ("red", 1.0, 1.0),
        ("green", 1.0, 1.0),
    ]


def test_known_predictions_give_known_numbers_at_each_threshold(world: World) -> None:
    trained = _scored(world)
    pid, iid = trained.project_id, trained.iteration.id
    result, _ = world.performance.performance(pid, iid, None, None)  # threshold 0.5
    assert (result.precision, result.recall) == (0.75, 0.75)
    red, green = result.per_tag
    assert (red.precision, red.recall) == (1.0, 0.5)
    assert green.precision == pytest.approx(2 / 3) and green.recall == 1.0
    assert result.average_precision == 1.0  # the scores still rank every tag's images right

    stricter, _ = world.performance.performance(pid, iid, 0.65, None)  # red 1 is no longer called green
    assert (stricter.precision, stricter.recall) == (1.0, 0.75)
    nothing, _ = world.performance.performance(pid, iid, 0.95, 0.5)
    assert (nothing.precision, nothing.recall) == (0.0, 0.0)


@pytest.mark.parametrize(("threshold", "overlap"), [(1.5, None), (-0.1, None), (None, 1.01), (None, -1.0)])
def test_thresholds_must_be_fractions(classifier: Trained, threshold: float | None, overlap: float | None) -> None:
    with pytest.raises(BadRequest) as err:
        classifier.world.performance.performance(classifier.project_id, classifier.iteration.id, threshold, overlap)
    assert err.value.code is Code.BAD_REQUEST_INVALID


def test_an_iteration_without_an_evaluation_has_no_performance(world: World) -> None:
    started = red_green_project(world)
    with pytest.raises(BadRequest) as err:  # still training
        world.performance.performance(started.project_id, started.iteration.id, None, None)
    assert err.value.code is Code.BAD_REQUEST_ITERATION_IS_NOT_TRAINED
    world.finish(started.iteration)  # completed, but nothing saved
    with pytest.raises(NotFound) as not_found:
        world.performance.performance(started.project_id, started.iteration.id, None, None)
    assert not_found.value.code is Code.NOT_FOUND_ITERATION_PERFORMANCE
    with pytest.raises(NotFound):
        world.performance.image_performance_count(started.project_id, started.iteration.id, [])


def test_tags_are_named_as_trained_even_after_they_were_deleted(classifier: Trained) -> None:
    world, pid = classifier.world, classifier.project_id
    world.tags.delete(pid, classifier.tag("green").id)
    result, tags = world.performance.performance(pid, classifier.iteration.id, None, None)
    assert [tags[t.tag_id].name for t in result.per_tag] == ["red", "green"]


def test_held_out_images_page_newest_first_with_their_predictions_best_first(world: World) -> None:
    trained = _scored(world)
    pid, iid = trained.project_id, trained.iteration.id
    assert world.performance.image_performance_count(pid, iid, []) == 4
    pages = [
        world.performance.image_performances(pid, iid, [], newest_first=True, take=3, skip=skip)[0] for skip in (0, 3)
    ]
    assert [len(p) for p in pages] == [3, 1]
    r0, r1 = trained.images["red"][:2]
    g0, g1 = trained.images["green"][:2]
    assert [p.image.id for page in pages for p in page] == [g1.id, g0.id, r1.id, r0.id]
    oldest, tags = world.performance.image_performances(pid, iid, [], newest_first=False, take=1, skip=0)
    (first,) = oldest
    assert first.image.id == r0.id
    assert [(tags[p.tag_id].name, p.probability) for p in first.predictions] == [("red", 0.9), ("green", 0.1)]
    (wrong,) = world.performance.image_performances(pid, iid, [], newest_first=False, take=1, skip=1)[0]
    assert [tags[p.tag_id].name for p in wrong.predictions] == ["green", "red"]


def test_held_out_images_filtered_by_tag(world: World) -> None:
    trained = _scored(world)
    pid, iid = trained.project_id, trained.iteration.id
    red = trained.tag("red")
    found, _ = world.performance.image_performances(pid, iid, [red.id.upper()], newest_first=False, take=50, skip=0)
    assert [p.image.id for p in found] == [i.id for i in trained.images["red"][:2]]
    assert world.performance.image_performance_count(pid, iid, [red.id]) == 2
    assert world.performance.image_performance_count(pid, iid, [red.id, trained.tag("green").id]) == 4


def test_detection_performance_counts_a_box_at_the_overlap_asked_for(world: World) -> None:
    def evaluate(tags: dict[str, Tag], images: list[Image]) -> HeldOutEvaluation:
        fork, knife = tags["fork"].id, tags["knife"].id
        truth = (GroundTruthBox(fork, 0.1, 0.1, 0.4, 0.4),)
        predicted = (PredictedBox(fork, 0.9, 0.1, 0.1, 0.4, 0.2),)  # half the true box: IoU 0.5
        held = HeldOutImage(images[0].id, 0, true_boxes=truth, predicted_boxes=predicted)
        return HeldOutEvaluation(Task.DETECTION, (fork, knife), False, (held,))

    trained = trained_detector(world, evaluate=evaluate)
    pid, iid = trained.project_id, trained.iteration.id
    loose, tags = world.performance.performance(pid, iid, None, 0.3)
    assert (loose.precision, loose.recall, loose.average_precision) == (1.0, 1.0, 1.0)
    assert [(tags[t.tag_id].name, t.precision) for t in loose.per_tag] == [("fork", 1.0), ("knife", 0.0)]
    strict, _ = world.performance.performance(pid, iid, None, 0.7)
    assert (strict.precision, strict.recall, strict.average_precision) == (0.0, 0.0, 0.0)
    unsure, _ = world.performance.performance(pid, iid, 0.95, 0.3)  # the box's 0.9 is below the threshold
    assert (unsure.precision, unsure.recall) == (0.0, 0.0)
    (image,) = world.performance.image_performances(pid, iid, [], newest_first=True, take=10, skip=0)[0]
    assert [(p.probability, p.box) for p in image.predictions] == [(0.9, (0.1, 0.1, 0.4, 0.2))]
