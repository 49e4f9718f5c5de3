"""Publishing and every call of the official ``CustomVisionPredictionClient``, against a real server."""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from azure.cognitiveservices.vision.customvision.prediction import CustomVisionPredictionClient
from azure.cognitiveservices.vision.customvision.prediction.models import CustomVisionErrorException
from azure.cognitiveservices.vision.customvision.training import CustomVisionTrainingClient
from azure.cognitiveservices.vision.customvision.training.models import (
    ImageIdCreateBatch,
    ImageIdCreateEntry,
    PredictionQueryTag,
    PredictionQueryToken,
)
from msrest.authentication import ApiKeyCredentials
from PIL import Image

from shared.vision.evaluation import GroundTruthBox, box_iou
from tests.sdk.helpers import cv_error, png_bytes
from tests.servers import PREDICTION_KEY, TRAINING_KEY, RunningServer
from tests.training.conftest import Trained, held_out_detection_images, regions_of

SAMPLES = Path(__file__).parents[1] / "fixtures" / "custom-vision-samples"


@pytest.fixture(scope="module")
def image_server() -> Iterator[str]:
    """Serves the sample images over HTTP on loopback (the test server allows private URLs)."""
    handler = partial(SimpleHTTPRequestHandler, directory=str(SAMPLES))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


def test_classification_returns_every_tag_sorted(
    predictor: CustomVisionPredictionClient, trained: Trained, hemlock_images: list[Path]
) -> None:
    result = predictor.classify_image(trained.project_id, trained.publish_name, hemlock_images[0].read_bytes())
    assert [p.tag_name for p in result.predictions][0] == "Hemlock"  # one photo; accuracy: see below
    assert {p.tag_name for p in result.predictions} == {"Hemlock", "Japanese Cherry"}
    probabilities = [p.probability for p in result.predictions]
    assert probabilities == sorted(probabilities, reverse=True) and abs(sum(probabilities) - 1) < 1e-4
    assert all(p.bounding_box is None and p.tag_type == "Regular" for p in result.predictions)
    assert (result.project, result.iteration) == (trained.project_id, trained.first.id)


def test_the_four_classify_calls(
    predictor: CustomVisionPredictionClient, trained: Trained, cherry_images: list[Path], image_server: str
) -> None:
    data = cherry_images[0].read_bytes()
    url = f"{image_server}/ImageClassification/Images/Japanese_Cherry/{cherry_images[0].name}"
    calls = [
        predictor.classify_image(trained.project_id, trained.publish_name, io.BytesIO(data), application="app-a"),
        predictor.classify_image_with_no_store(trained.project_id, trained.publish_name, data),
        predictor.classify_image_url(trained.project_id, trained.publish_name, url=url),
        predictor.classify_image_url_with_no_store(trained.project_id, trained.publish_name, url=url),
    ]
    for result in calls:
        assert result.predictions[0].tag_name == "Japanese Cherry"  # one photo; accuracy: see below
    same = {round(r.predictions[0].probability, 5) for r in calls}
    assert len(same) == 1  # bytes or URL, stored or not: the same answer


def test_the_published_classifier_names_every_quickstart_photo(
    predictor: CustomVisionPredictionClient, trained: Trained, hemlock_images: list[Path], cherry_images: list[Path]
) -> None:
    """The served model and its tag names end to end, on all 21 quickstart photos: the 20 it was
    trained on and the quickstart's test image (a hemlock). What it does on images it never saw is
    measured on held-out predictions (``test_training``: 18 of 20 or more, AP 0.95 or more)."""
    test_image = SAMPLES / "ImageClassification" / "Images" / "Test" / "test_image.jpg"
    photos = [(p, "Hemlock") for p in [*hemlock_images, test_image]] + [(p, "Japanese Cherry") for p in cherry_images]
    named = [
        predictor.classify_image_with_no_store(trained.project_id, trained.publish_name, path.read_bytes())
        .predictions[0]
        .tag_name
        for path, _ in photos
    ]
    right = sum(tag == truth for tag, (_, truth) in zip(named, photos, strict=True))
    # Guessing one of two tags names 20 or more of 21 right with probability 22 / 2**21 = 1.0e-5.
    # The model names all 21 (the test image at 0.88, the others at 0.99).
    assert right >= 20, f"the published classifier names only {right} of {len(photos)} photos right"


def test_detection_finds_the_objects_in_held_out_images(
    predictor: CustomVisionPredictionClient,
    detector: Trained,
    detection_images_dir: Path,
    detection_regions: dict[str, dict[str, float | str]],
) -> None:
    """The best box of each held-out image, against chance: a detector blind to the image.

    The objects are large and central, so the average training box alone overlaps every held-out
    object with IoU >= 0.3; at IoU 0.5 no box placed blind (a grid search in steps of 0.02) covers
    more than 8 of the 10. Guessing fork or scissors names all 11 images right (the 10 held out and
    the quickstart's test image, a fork) with probability 2**-11 = 4.9e-4. The model: IoU 0.55-0.92,
    the right object in all 11 at 0.57+ (the runner-up of the other tag at 0.28 or less).
    """
    right_tag, on_object = 0, 0
    held_out = [
        (name, path) for name in ("fork", "scissors") for path in held_out_detection_images(detection_images_dir, name)
    ]
    for name, path in held_out:
        result = predictor.detect_image(detector.project_id, detector.publish_name, path.read_bytes())
        assert 0 < len(result.predictions) <= 200
        scores = [p.probability for p in result.predictions]
        assert scores == sorted(scores, reverse=True)
        for p in result.predictions:
            box = p.bounding_box
            assert box.left >= 0 and box.top >= 0
            assert box.left + box.width <= 1.0001 and box.top + box.height <= 1.0001
        truth = regions_of(detection_regions, name, path)
        best = result.predictions[0]
        box = best.bounding_box
        found = GroundTruthBox(best.tag_id, box.left, box.top, box.width, box.height)
        truth_box = GroundTruthBox(name, *(float(truth[k]) for k in ("left", "top", "width", "height")))
        iou = box_iou(found, truth_box)
        assert iou >= 0.3, (path.name, iou)  # the best box is on the object (a blind box also is, see above)
        on_object += iou >= 0.5
        right_tag += best.tag_name == name
    test_image = SAMPLES / "ObjectDetection" / "Images" / "test" / "test_image.jpg"
    quickstart = predictor.detect_image_with_no_store(
        detector.project_id, detector.publish_name, test_image.read_bytes()
    )
    right_tag += quickstart.predictions[0].tag_name == "fork"
    # No blind box reaches IoU 0.5 on more than 8 of the 10 held-out images; the model on all 10.
    assert on_object >= 9, f"the best box overlaps the object with IoU >= 0.5 in only {on_object} of 10 images"
    # Chance: 2**-11 = 4.9e-4 (one wrong would be 12 / 2**11 = 5.9e-3).
    assert right_tag == 11, f"the best box names the right object in only {right_tag} of 11 images"


def test_the_four_detect_calls_and_the_quickstart_test_image(
    predictor: CustomVisionPredictionClient, detector: Trained, image_server: str
) -> None:
    test_image = SAMPLES / "ObjectDetection" / "Images" / "test" / "test_image.jpg"
    url = f"{image_server}/ObjectDetection/Images/test/test_image.jpg"
    with open(test_image, "rb") as handle:  # the detection quickstart passes an open file
        stored = predictor.detect_image(detector.project_id, detector.publish_name, handle)
    others = [
        predictor.detect_image_with_no_store(detector.project_id, detector.publish_name, test_image.read_bytes()),
        predictor.detect_image_url(detector.project_id, detector.publish_name, url=url),
        predictor.detect_image_url_with_no_store(detector.project_id, detector.publish_name, url=url),
    ]
    for result in [stored, *others]:  # the quickstart's check: a fork or scissors box above 50%
        assert any(p.tag_name in ("fork", "scissors") and p.probability > 0.5 for p in result.predictions)


def test_wrong_names_keys_and_images_get_the_real_errors(
    trained_server: RunningServer, predictor: CustomVisionPredictionClient, trained: Trained, detector: Trained
) -> None:
    data = png_bytes((300, 300))
    for call in (
        lambda: predictor.classify_image(trained.project_id, "noSuchModel", data),
        lambda: predictor.detect_image_url(detector.project_id, "noSuchModel", url="http://127.0.0.1:9/x.jpg"),
    ):
        with pytest.raises(CustomVisionErrorException) as info:
            call()
        assert (info.value.error.code, info.value.response.status_code) == ("NotFoundIteration", 404)
        assert str(info.value) == "Invalid iteration"
    with_training_key = CustomVisionPredictionClient(
        trained_server.endpoint, ApiKeyCredentials(in_headers={"Prediction-key": TRAINING_KEY})
    )
    with pytest.raises(CustomVisionErrorException) as info:
        with_training_key.classify_image(trained.project_id, trained.publish_name, data)
    assert info.value.response.status_code == 401
    reply = httpx.get(
        f"{trained_server.endpoint}/customvision/v3.4-preview/training/projects",
        headers={"Training-Key": PREDICTION_KEY},
    )
    assert reply.status_code == 401  # the prediction key opens nothing on the training API
    big = io.BytesIO()
    Image.frombytes("RGB", (1400, 1400), os.urandom(1400 * 1400 * 3)).save(big, "PNG")
    assert big.tell() > 4 * 1024 * 1024
    with pytest.raises(CustomVisionErrorException) as info:
        predictor.classify_image(trained.project_id, trained.publish_name, big.getvalue())
    assert info.value.error.code == "BadRequestImageSizeBytes"
    with pytest.raises(CustomVisionErrorException) as info:
        predictor.classify_image(trained.project_id, trained.publish_name, b"not an image at all")
    assert info.value.error.code == "BadRequestImageFormat"
    with pytest.raises(CustomVisionErrorException) as info:
        predictor.detect_image(trained.project_id, trained.publish_name, data)
    assert info.value.response.status_code == 400


def test_publishing_rules(
    client: CustomVisionTrainingClient,
    trained: Trained,
    predictor: CustomVisionPredictionClient,
    hemlock_images: list[Path],
) -> None:
    pid, first = trained.project_id, trained.first.id
    assert client.publish_iteration(pid, first, trained.publish_name, "res") is True  # the same again: fine
    assert client.get_iteration(pid, first).publish_name == trained.publish_name
    with cv_error("BadRequestInvalidPublishName", 400):
        client.publish_iteration(pid, first, "bad/name", "res")
    with cv_error("BadRequestIterationIsPublished", 400):
        client.delete_iteration(pid, first)
    # A second name moves the iteration; the old name stops answering at once.
    client.publish_iteration(pid, first, "renamedModel", "res")
    with pytest.raises(CustomVisionErrorException):
        predictor.classify_image(pid, trained.publish_name, hemlock_images[0].read_bytes())
    assert predictor.classify_image(pid, "renamedModel", hemlock_images[0].read_bytes()).predictions
    client.unpublish_iteration(pid, first)
    with pytest.raises(CustomVisionErrorException):
        predictor.classify_image(pid, "renamedModel", hemlock_images[0].read_bytes())
    with cv_error("BadRequestIterationNotPublished", 400):
        client.unpublish_iteration(pid, first)
    client.publish_iteration(pid, first, trained.publish_name, "res")
    assert client.get_iteration(pid, first).original_publish_resource_id == "res"


def test_quick_test_and_stored_predictions(
    client: CustomVisionTrainingClient,
    predictor: CustomVisionPredictionClient,
    trained: Trained,
    hemlock_images: list[Path],
    cherry_images: list[Path],
) -> None:
    pid = trained.project_id
    quick = client.quick_test_image(pid, hemlock_images[1].read_bytes())  # the newest completed iteration
    assert quick.predictions[0].tag_name == "Hemlock"
    unstored = client.quick_test_image(pid, cherry_images[1].read_bytes(), iteration_id=trained.first.id, store=False)
    assert unstored.predictions[0].tag_name == "Japanese Cherry"
    kept = predictor.classify_image(pid, trained.publish_name, cherry_images[2].read_bytes(), application="phone")
    predictor.classify_image_with_no_store(pid, trained.publish_name, cherry_images[3].read_bytes())

    everything = client.query_predictions(pid, PredictionQueryToken(max_count=256))
    ids = [r.id for r in everything.results]
    assert quick.id in ids and kept.id in ids and unstored.id not in ids
    assert everything.token.continuation is None
    stored = next(r for r in everything.results if r.id == kept.id)
    assert httpx.get(stored.thumbnail_uri).headers["content-type"] == "image/jpeg"
    assert httpx.get(stored.original_image_uri).content == cherry_images[2].read_bytes()

    by_app = client.query_predictions(pid, PredictionQueryToken(application="phone"))
    assert [r.id for r in by_app.results] == [kept.id]
    cherry = trained.tag_ids["Japanese Cherry"]
    confident = client.query_predictions(
        pid, PredictionQueryToken(tags=[PredictionQueryTag(id=cherry, min_threshold=0.5, max_threshold=1.0)])
    )
    assert kept.id in [r.id for r in confident.results] and quick.id not in [r.id for r in confident.results]
    first_page = client.query_predictions(pid, PredictionQueryToken(max_count=1))
    assert len(first_page.results) == 1 and first_page.token.continuation
    second = client.query_predictions(
        pid, PredictionQueryToken(max_count=1, continuation=first_page.token.continuation)
    )
    assert second.results[0].id != first_page.results[0].id
    oldest_first = client.query_predictions(pid, PredictionQueryToken(order_by="Oldest", max_count=256))
    assert [r.id for r in oldest_first.results] == list(reversed(ids))

    moved = client.create_images_from_predictions(
        pid, ImageIdCreateBatch(images=[ImageIdCreateEntry(id=kept.id, tag_ids=[cherry])])
    )
    assert moved.is_batch_successful and moved.images[0].image.tags[0].tag_name == "Japanese Cherry"
    remaining = [r.id for r in client.query_predictions(pid, PredictionQueryToken(max_count=256)).results]
    assert kept.id not in remaining  # it left Predictions for the training set
    client.delete_prediction(pid, [quick.id])
    remaining = [r.id for r in client.query_predictions(pid, PredictionQueryToken(max_count=256)).results]
    assert quick.id not in remaining
