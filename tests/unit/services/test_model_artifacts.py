"""What training leaves behind (model, manifest, held-out evaluation): saved once, read back by any
instance, and a missing evaluation is Custom Vision's ``NotFoundIterationPerformance``."""

from __future__ import annotations

import pytest

from shared.contracts.evaluation import HeldOutEvaluation, HeldOutImage
from shared.contracts.manifest import ModelManifest
from shared.domain.enums import Task
from shared.domain.errors import Code, NotFound
from shared.services.model_artifacts import ModelArtifacts
from shared.vision.evaluation import GroundTruthBox, PredictedBox
from tests.unit.services.fakes import World, fixed_detector, red_green_classifier

PROJECT = "6f9a1c58-3d5b-4c57-a0c1-4bd3f1e1e001"
FIRST = "6f9a1c58-3d5b-4c57-a0c1-4bd3f1e1e002"
SECOND = "6f9a1c58-3d5b-4c57-a0c1-4bd3f1e1e003"


def _classification() -> tuple[ModelManifest, HeldOutEvaluation]:
    manifest = ModelManifest(Task.CLASSIFICATION, ("a", "b"), multilabel=True, negative_tag_id="n")
    image = HeldOutImage("i1", fold=2, true_tag_ids=("a",), scores={"a": 0.75, "b": 0.25})
    return manifest, HeldOutEvaluation(Task.CLASSIFICATION, ("a", "b"), True, (image,))


def test_saved_artifacts_are_read_back_by_another_instance(world: World) -> None:
    model = red_green_classifier()
    manifest, evaluation = _classification()
    world.artifacts.save(PROJECT, FIRST, model, manifest, evaluation)
    other = ModelArtifacts(world.blobs)
    assert other.model(PROJECT, FIRST) == model
    assert other.manifest(PROJECT, FIRST) == manifest
    assert other.evaluation(PROJECT, FIRST) == evaluation
    assert other.evaluation(PROJECT, FIRST).images[0].predictions[0].tag_id == "a"


def test_a_detection_evaluation_keeps_its_boxes(world: World) -> None:
    truth = (GroundTruthBox("a", 0.1, 0.2, 0.3, 0.4),)
    predicted = (PredictedBox("a", 0.8, 0.1, 0.2, 0.3, 0.35),)
    evaluation = HeldOutEvaluation(
        Task.DETECTION, ("a",), False, (HeldOutImage("i", 0, true_boxes=truth, predicted_boxes=predicted),)
    )
    manifest = ModelManifest(Task.DETECTION, ("a",))
    world.artifacts.save(PROJECT, FIRST, fixed_detector([(0, 0, 1, 1)], [0], [0.5]), manifest, evaluation)
    (image,) = ModelArtifacts(world.blobs).evaluation(PROJECT, FIRST).images
    assert (image.true_boxes, image.predicted_boxes) == (truth, predicted)
    ((best),) = image.predictions
    assert (best.probability, best.box) == (0.8, (0.1, 0.2, 0.3, 0.35))


def test_iterations_have_their_own_artifacts(world: World) -> None:
    manifest, evaluation = _classification()
    world.artifacts.save(PROJECT, FIRST, b"first", manifest, evaluation)
    other = ModelManifest(Task.CLASSIFICATION, ("b", "a"))
    world.artifacts.save(PROJECT, SECOND, b"second", other, evaluation)
    assert (world.artifacts.model(PROJECT, FIRST), world.artifacts.model(PROJECT, SECOND)) == (b"first", b"second")
    assert world.artifacts.manifest(PROJECT, SECOND).tag_ids == ("b", "a")
    assert world.artifacts.manifest(PROJECT, FIRST).tag_ids == ("a", "b")


def test_missing_artifacts_are_not_found_and_a_missing_evaluation_says_so(world: World) -> None:
    with pytest.raises(NotFound) as err:
        world.artifacts.evaluation(PROJECT, FIRST)
    assert err.value.code is Code.NOT_FOUND_ITERATION_PERFORMANCE
    with pytest.raises(NotFound):
        world.artifacts.model(PROJECT, FIRST)
    with pytest.raises(NotFound):
        world.artifacts.manifest(PROJECT, FIRST)
    manifest, evaluation = _classification()
    world.artifacts.save(PROJECT, FIRST, b"model", manifest, evaluation)  # a missing one is not remembered
    assert world.artifacts.evaluation(PROJECT, FIRST) == evaluation
