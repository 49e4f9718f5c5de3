"""The Smart Labeler: suggested tags and boxes for untagged images, their queries and counts, and
region proposals (from the project's detector, or class-agnostic before there is one)."""

from __future__ import annotations

from pathlib import Path

from azure.cognitiveservices.vision.customvision.training import CustomVisionTrainingClient
from azure.cognitiveservices.vision.customvision.training.models import (
    ImageTagCreateEntry,
    SuggestedTagAndRegionQueryToken,
)

from tests.sdk.helpers import GENERAL_DETECTION, cv_error, unique
from tests.training.conftest import Trained, held_out_detection_images

SAMPLES = Path(__file__).parents[1] / "fixtures" / "custom-vision-samples"


def test_suggestions_for_untagged_images(client: CustomVisionTrainingClient, trained: Trained) -> None:
    pid, iteration = trained.project_id, trained.first.id
    test_image = SAMPLES / "ImageClassification" / "Images" / "Test" / "test_image.jpg"
    untagged = [client.create_images_from_data(pid, test_image.read_bytes()).images[0].image.id]
    suggested = client.suggest_tags_and_regions(pid, iteration, untagged)
    assert [s.id for s in suggested] == untagged
    assert suggested[0].predictions[0].tag_name == "Hemlock"  # one image: the suggestion path, not accuracy
    assert 0.0 <= suggested[0].prediction_uncertainty <= 1.0

    hemlock = trained.hemlock_id
    query = SuggestedTagAndRegionQueryToken(
        tag_ids=[hemlock], threshold=0.5, max_count=10, sort_by="UncertaintyAscending"
    )
    found = client.query_suggested_images(pid, iteration, query)
    assert [r.id for r in found.results] == untagged
    assert found.results[0].width == 1260 and found.results[0].thumbnail_uri.startswith("http")
    counts = client.query_suggested_image_count(
        pid, iteration, tag_ids=[hemlock, trained.tag_ids["Japanese Cherry"]], threshold=0.5
    )
    assert counts == {hemlock: 1, trained.tag_ids["Japanese Cherry"]: 0}

    # Once labelled, an image is no longer a suggestion.
    client.create_image_tags(pid, [ImageTagCreateEntry(image_id=untagged[0], tag_id=hemlock)])
    assert client.query_suggested_images(pid, iteration, query).results == []
    with cv_error("NotFoundImage", 404):
        client.suggest_tags_and_regions(pid, iteration, ["00000000-0000-0000-0000-000000000000"])


def test_region_proposals_with_and_without_a_detector(
    client: CustomVisionTrainingClient, detector: Trained, detection_images_dir: Path
) -> None:
    fresh = client.create_project(unique("No detector yet"), domain_id=GENERAL_DETECTION)
    fork_image = held_out_detection_images(detection_images_dir, "fork")[0]
    image_id = client.create_images_from_data(fresh.id, fork_image.read_bytes()).images[0].image.id
    agnostic = client.get_image_region_proposals(fresh.id, image_id)
    assert (agnostic.project_id, agnostic.image_id) == (fresh.id, image_id)
    assert agnostic.proposals, "a class-agnostic method still proposes boxes"
    for proposal in agnostic.proposals:
        box = proposal.bounding_box
        assert 0 <= box.left <= 1 and 0 <= box.top <= 1 and 0 < box.width <= 1 and 0 < box.height <= 1
        assert 0 <= proposal.confidence <= 1

    image_id = client.create_images_from_data(detector.project_id, fork_image.read_bytes()).images[0].image.id
    learned = client.get_image_region_proposals(detector.project_id, image_id)
    assert learned.proposals and learned.proposals[0].confidence > 0.3
    suggestion = client.suggest_tags_and_regions(detector.project_id, detector.first.id, [image_id])[0]
    assert suggestion.predictions and suggestion.predictions[0].tag_name in ("fork", "scissors")
    assert suggestion.predictions[0].bounding_box is not None
