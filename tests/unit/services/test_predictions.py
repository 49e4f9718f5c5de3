"""Predictions: an iteration's ONNX model run on one image (onnxruntime, for real), its outputs named
by the project's tags, and kept when asked to."""

from __future__ import annotations

import pytest

from shared.contracts.manifest import ModelManifest
from shared.domain.enums import Task
from shared.domain.errors import BadRequest, Code, InvalidImage, NotFound
from shared.services.stored_predictions import PredictionQuery
from shared.services.tags import TagChanges
from shared.services.training import TrainRequest
from tests.unit.services.fakes import (
    Trained,
    World,
    colour_classifier,
    greenish,
    jpeg,
    png,
    red_green_project,
    reddish,
)

UNKNOWN = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"


def _names(result_predictions: list[tuple[str, float]]) -> list[str]:
    return [name for name, _ in result_predictions]


def test_a_red_image_is_red_and_a_green_one_green(classifier: Trained) -> None:
    world, iteration = classifier.world, classifier.iteration
    red = world.predictions.predict(iteration, reddish(99), task=Task.CLASSIFICATION)
    assert [p.tag_name for p in red.predictions] == ["red", "green"]
    assert red.predictions[0].probability > 0.99 and red.predictions[0].tag_id == classifier.tag("red").id
    assert red.predictions[0].box is None and red.predictions[0].tag_type == "Regular"
    green = world.predictions.predict(iteration, greenish(99))
    assert [p.tag_name for p in green.predictions] == ["green", "red"]
    grey = world.predictions.predict(iteration, png((128, 128, 128)))
    assert [p.probability for p in grey.predictions] == pytest.approx([0.5, 0.5])
    assert (red.project_id, red.iteration_id, red.stored) == (classifier.project_id, iteration.id, False)
    assert (red.width, red.height) == (64, 48)


def test_a_detector_answers_named_boxes_best_first(detector: Trained) -> None:
    result = detector.world.predictions.predict(detector.iteration, jpeg(1), task=Task.DETECTION)
    found = [(p.tag_name, round(p.probability, 3), tuple(round(v, 3) for v in p.box or ())) for p in result.predictions]
    assert found == [("fork", 0.9, (0.6, 0.6, 0.3, 0.2)), ("knife", 0.6, (0.1, 0.1, 0.4, 0.4))]


def test_classify_and_detect_refuse_the_other_kind_of_model(classifier: Trained, detector: Trained) -> None:
    world = classifier.world
    with pytest.raises(BadRequest) as err:
        world.predictions.predict(detector.iteration, jpeg(1), task=Task.CLASSIFICATION)
    assert err.value.code is Code.BAD_REQUEST_INVALID
    with pytest.raises(BadRequest) as err:
        world.predictions.predict(classifier.iteration, jpeg(1), task=Task.DETECTION)
    assert err.value.code is Code.BAD_REQUEST_INVALID


def test_the_default_iteration_is_the_newest_completed_one(classifier: Trained) -> None:
    world, pid, first = classifier.world, classifier.project_id, classifier.iteration
    assert world.predictions.default_iteration(pid, None).id == first.id
    second = world.train(pid, TrainRequest(force_train=True))
    assert world.predictions.default_iteration(pid, None).id == first.id  # the second is still training
    with pytest.raises(BadRequest) as err:
        world.predictions.default_iteration(pid, second.id)
    assert err.value.code is Code.BAD_REQUEST_ITERATION_IS_NOT_TRAINED
    world.iterations.fail(pid, second.id, "no")
    third = world.finish(world.train(pid, TrainRequest(force_train=True)))
    assert world.predictions.default_iteration(pid, None).id == third.id
    assert world.predictions.default_iteration(pid, first.id.upper()).id == first.id


def test_a_project_without_a_trained_iteration_has_no_default(world: World) -> None:
    started = red_green_project(world)
    with pytest.raises(NotFound) as err:
        world.predictions.default_iteration(started.project_id, None)
    assert err.value.code is Code.NOT_FOUND_ITERATION


def test_each_iteration_answers_with_its_own_model(classifier: Trained) -> None:
    world, pid = classifier.world, classifier.project_id
    red, green = classifier.tag("red"), classifier.tag("green")
    second = world.train(pid, TrainRequest(force_train=True))
    swapped = ModelManifest(Task.CLASSIFICATION, (green.id, red.id))  # a model that got it backwards
    second = world.finish(second, colour_classifier([[0.0, 0.05], [0.05, 0.0], [0.0, 0.0]]), swapped)
    assert world.predictions.predict(second, reddish(99)).predictions[0].tag_name == "red"
    backwards = colour_classifier([[0.05, 0.0], [0.0, 0.05], [0.0, 0.0]])
    third = world.finish(world.train(pid, TrainRequest(force_train=True)), backwards, swapped)
    assert world.predictions.predict(third, reddish(99)).predictions[0].tag_name == "green"
    assert world.predictions.predict(classifier.iteration, reddish(99)).predictions[0].tag_name == "red"


def test_a_stored_prediction_is_found_by_a_query_and_an_unstored_one_is_not(classifier: Trained) -> None:
    world, pid, iteration = classifier.world, classifier.project_id, classifier.iteration
    kept = world.predictions.predict(iteration, reddish(99), store=True, application="quick-test")
    world.predictions.predict(iteration, greenish(99), store=False)
    assert kept.stored
    results, continuation = world.stored_predictions.query(pid, PredictionQuery())
    assert ([r.id for r in results], continuation) == ([kept.id], None)
    (found,) = results
    assert (found.application, found.iteration_id, found.width, found.height) == ("quick-test", iteration.id, 64, 48)
    assert [p.tag_name for p in found.predictions] == ["red", "green"]
    assert world.stored_predictions.read_rendition(pid, kept.id, "original")[0] == reddish(99)


def test_an_application_name_is_at_most_64_characters(classifier: Trained) -> None:
    world, iteration = classifier.world, classifier.iteration
    with pytest.raises(BadRequest) as err:
        world.predictions.predict(iteration, reddish(99), store=True, application="a" * 65)
    assert err.value.code is Code.BAD_REQUEST_PREDICTION_INVALID_APPLICATION
    assert world.stored_predictions.query(classifier.project_id, PredictionQuery())[0] == []
    assert world.predictions.predict(iteration, reddish(99), store=True, application="a" * 64).stored


def test_predictions_name_tags_as_they_are_now_and_deleted_ones_as_trained(classifier: Trained) -> None:
    world, pid, iteration = classifier.world, classifier.project_id, classifier.iteration
    world.tags.update(pid, classifier.tag("red").id, TagChanges(name="scarlet"))
    world.tags.delete(pid, classifier.tag("green").id)
    result = world.predictions.predict(iteration, greenish(99))
    assert [(p.tag_id, p.tag_name) for p in result.predictions] == [
        (classifier.tag("green").id, "green"),
        (classifier.tag("red").id, "scarlet"),
    ]


def _with_negative(world: World, *, multilabel: bool) -> Trained:
    """Red, green and a Negative "none" tag, 5 images each; blue images are "none"."""
    project = world.projects.create("Neg", classification_type="Multilabel" if multilabel else "Multiclass")
    red = world.tags.create(project.id, "red").tag
    green = world.tags.create(project.id, "green").tag
    none = world.tags.create(project.id, "none", type="Negative").tag
    world.add(project.id, [reddish(n) for n in range(5)], [red.id])
    world.add(project.id, [greenish(n) for n in range(5)], [green.id])
    world.add(project.id, [png((0, 0, 255 - n)) for n in range(5)], [none.id])
    iteration = world.train(project.id)
    if multilabel:  # a sigmoid per tag; the Negative tag is "none of them"
        model = colour_classifier([[0.05, -0.05], [-0.05, 0.05], [-0.02, -0.02]], multilabel=True)
        manifest = ModelManifest(Task.CLASSIFICATION, (red.id, green.id), multilabel=True, negative_tag_id=none.id)
    else:  # the Negative tag is one more class
        model = colour_classifier([[0.05, 0.0, 0.0], [0.0, 0.05, 0.0], [0.0, 0.0, 0.05]])
        manifest = ModelManifest(Task.CLASSIFICATION, (red.id, green.id, none.id))
    done = world.finish(iteration, model, manifest)
    return Trained(world, project, {"red": red, "green": green, "none": none}, done)


def test_a_multilabel_model_reports_the_negative_tag_as_none_of_the_tags(world: World) -> None:
    trained = _with_negative(world, multilabel=True)
    blue = world.predictions.predict(trained.iteration, png((0, 0, 255)))
    top = blue.predictions[0]
    assert (top.tag_name, top.tag_type) == ("none", "Negative") and top.probability > 0.95
    red = world.predictions.predict(trained.iteration, reddish(99))
    assert [p.tag_name for p in red.predictions][0] == "red"
    by_name = {p.tag_name: p.probability for p in red.predictions}
    assert by_name["none"] == pytest.approx((1 - by_name["red"]) * (1 - by_name["green"]))


def test_a_deleted_regular_tag_is_still_named_in_a_model_with_a_negative_tag(world: World) -> None:
    trained = _with_negative(world, multilabel=False)
    world.tags.delete(trained.project_id, trained.tag("green").id)
    result = world.predictions.predict(trained.iteration, greenish(99))
    assert [p.tag_name for p in result.predictions][0] == "green"


def test_a_deleted_negative_tag_is_still_named_as_trained(world: World) -> None:
    trained = _with_negative(world, multilabel=False)
    world.tags.delete(trained.project_id, trained.tag("none").id)
    top = world.predictions.predict(trained.iteration, png((0, 0, 255))).predictions[0]
    assert (top.tag_id, top.tag_name, top.tag_type) == (trained.tag("none").id, "none", "Negative")


def test_bytes_that_are_not_an_acceptable_image_are_refused(classifier: Trained) -> None:
    world, iteration = classifier.world, classifier.iteration
    with pytest.raises(InvalidImage) as err:
        world.predictions.predict(iteration, b"not an image")
    assert err.value.code is Code.BAD_REQUEST_IMAGE_FORMAT
    with pytest.raises(InvalidImage) as err:
        world.predictions.predict(iteration, b"")
    assert err.value.code is Code.BAD_REQUEST_IMAGE_SIZE_BYTES
    with pytest.raises(InvalidImage) as err:
        world.predictions.predict(iteration, reddish(1), max_bytes=100)
    assert err.value.code is Code.BAD_REQUEST_IMAGE_SIZE_BYTES


@pytest.mark.parametrize("url", [None, "", "http://127.0.0.1/red.png", "http://[::1]:8080/x", "file:///etc/passwd"])
def test_a_url_is_refused_when_empty_or_not_a_public_http_address(classifier: Trained, url: str | None) -> None:
    with pytest.raises(BadRequest) as err:
        classifier.world.predictions.predict_url(classifier.iteration, url, store=True)
    assert err.value.code is Code.BAD_REQUEST_IMAGE_URL
    assert classifier.world.stored_predictions.query(classifier.project_id, PredictionQuery())[0] == []
