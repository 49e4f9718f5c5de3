"""The two official Python quickstarts (Azure-Samples/cognitive-services-quickstart-code,
python/CustomVision/{ImageClassification,ObjectDetection}/CustomVisionQuickstart.py), step by step
as they call the SDK, against our server: only the endpoint and keys differ."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.cognitiveservices.vision.customvision.prediction import CustomVisionPredictionClient
from azure.cognitiveservices.vision.customvision.training import CustomVisionTrainingClient
from azure.cognitiveservices.vision.customvision.training.models import (
    ImageFileCreateBatch,
    ImageFileCreateEntry,
    Region,
)
from msrest.authentication import ApiKeyCredentials

from tests.conftest import STORES, server_on
from tests.servers import PREDICTION_KEY, TRAINING_KEY, RunningServer

SAMPLES = Path(__file__).parents[1] / "fixtures" / "custom-vision-samples"
PREDICTION_RESOURCE_ID = "/subscriptions/0000/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/pred"
QUICKSTART_LIMIT_SECONDS = 600  # the quickstarts poll forever; a test must not


def _clients(endpoint: str) -> tuple[CustomVisionTrainingClient, CustomVisionPredictionClient]:
    trainer = CustomVisionTrainingClient(endpoint, ApiKeyCredentials(in_headers={"Training-key": TRAINING_KEY}))
    predictor = CustomVisionPredictionClient(endpoint, ApiKeyCredentials(in_headers={"Prediction-key": PREDICTION_KEY}))
    return trainer, predictor


def _train(trainer: CustomVisionTrainingClient, project_id: str):  # type: ignore[no-untyped-def]
    iteration = trainer.train_project(project_id)
    deadline = time.monotonic() + QUICKSTART_LIMIT_SECONDS
    while iteration.status != "Completed":
        assert iteration.status == "Training", iteration.training_error_details
        assert time.monotonic() < deadline
        iteration = trainer.get_iteration(project_id, iteration.id)
        time.sleep(1)
    return iteration


@pytest.fixture(scope="module", params=STORES)
def quickstart_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    """The quickstarts run on the embedded default (the package's trained server) and on Azure (a
    server on the local Azure stack, whose trainer reads and writes Cosmos DB and Blob Storage)."""
    if request.param == "embedded":
        yield request.getfixturevalue("trained_server")
        return
    running = server_on(request.param, request, tmp_path_factory.mktemp("quickstart") / "data")
    yield running
    running.stop()


def test_the_classification_quickstart(quickstart_server: RunningServer) -> None:
    trainer, predictor = _clients(quickstart_server.endpoint)
    publish_iteration_name = "classifyModel"
    project = trainer.create_project("My New Project")
    hemlock_tag = trainer.create_tag(project.id, "Hemlock")
    cherry_tag = trainer.create_tag(project.id, "Japanese Cherry")
    image_list = []
    images = SAMPLES / "ImageClassification" / "Images"
    for image_num in range(1, 11):
        file_name = f"hemlock_{image_num}.jpg"
        with open(images / "Hemlock" / file_name, "rb") as image_contents:
            image_list.append(
                ImageFileCreateEntry(name=file_name, contents=image_contents.read(), tag_ids=[hemlock_tag.id])
            )
    for image_num in range(1, 11):
        file_name = f"japanese_cherry_{image_num}.jpg"
        with open(images / "Japanese_Cherry" / file_name, "rb") as image_contents:
            image_list.append(
                ImageFileCreateEntry(name=file_name, contents=image_contents.read(), tag_ids=[cherry_tag.id])
            )
    upload_result = trainer.create_images_from_files(project.id, ImageFileCreateBatch(images=image_list))
    assert upload_result.is_batch_successful
    iteration = _train(trainer, project.id)
    trainer.publish_iteration(project.id, iteration.id, publish_iteration_name, PREDICTION_RESOURCE_ID)
    # The quickstart publishes twice, with the same iteration and name.
    trainer.publish_iteration(project.id, iteration.id, publish_iteration_name, PREDICTION_RESOURCE_ID)
    with open(images / "Test" / "test_image.jpg", "rb") as image_contents:
        results = predictor.classify_image(project.id, publish_iteration_name, image_contents.read())
    lines = [f"\t{p.tag_name}: {p.probability * 100:.2f}%" for p in results.predictions]
    assert len(lines) == 2
    # The test image is a hemlock branch. One image (chance 1/2): the quickstart's own output, not an
    # accuracy bar (those: test_training's held-out predictions, test_prediction's 21 photos).
    assert results.predictions[0].tag_name == "Hemlock"
    trainer.close()
    predictor.close()


# On the embedded default only: on Azure the trainer reads its snapshot and writes its model
# through the same contracts as the classification quickstart's (run on both stores above), and
# a detector's Regular training costs 6.5 minutes of the suite's time on 2 cores.
@pytest.mark.parametrize("quickstart_server", ["embedded"], indirect=True)
def test_the_detection_quickstart(
    quickstart_server: RunningServer, detection_regions: dict[str, dict[str, float | str]]
) -> None:
    trainer, predictor = _clients(quickstart_server.endpoint)
    publish_iteration_name = "detectModel"
    obj_detection_domain = next(
        domain for domain in trainer.get_domains() if domain.type == "ObjectDetection" and domain.name == "General"
    )
    project = trainer.create_project("My Detection Project", domain_id=obj_detection_domain.id)
    fork_tag = trainer.create_tag(project.id, "fork")
    scissors_tag = trainer.create_tag(project.id, "scissors")
    tagged_images_with_regions = []
    for name, tag in (("fork", fork_tag), ("scissors", scissors_tag)):
        for number in range(1, 21):
            file_name = f"{name}_{number}"
            box = detection_regions[f"{name}/{file_name}.jpg"]
            x, y, w, h = (float(box[k]) for k in ("left", "top", "width", "height"))
            regions = [Region(tag_id=tag.id, left=x, top=y, width=w, height=h)]
            with open(SAMPLES / "ObjectDetection" / "Images" / name / f"{file_name}.jpg", mode="rb") as image_contents:
                tagged_images_with_regions.append(
                    ImageFileCreateEntry(name=file_name, contents=image_contents.read(), regions=regions)
                )
    upload_result = trainer.create_images_from_files(
        project.id, ImageFileCreateBatch(images=tagged_images_with_regions)
    )
    assert upload_result.is_batch_successful
    iteration = _train(trainer, project.id)
    trainer.publish_iteration(project.id, iteration.id, publish_iteration_name, PREDICTION_RESOURCE_ID)
    with open(SAMPLES / "ObjectDetection" / "Images" / "test" / "test_image.jpg", mode="rb") as test_data:
        results = predictor.detect_image(project.id, publish_iteration_name, test_data)
    for prediction in results.predictions:
        box = prediction.bounding_box
        assert 0 <= box.left <= 1 and 0 <= box.top <= 1 and box.width > 0 and box.height > 0
    # Done when the test image (a fork) yields a fork or scissors box above 50%: the quickstart's own
    # check, not an accuracy bar (that: test_prediction's held-out detection test).
    assert any(p.tag_name in ("fork", "scissors") and p.probability > 0.5 for p in results.predictions)
    trainer.close()
    predictor.close()
