"""The same images and labels train the same way, whatever their order of upload: the held-out
split is dealt in content order, not in the order of the images' random ids."""

from __future__ import annotations

from pathlib import Path

from azure.cognitiveservices.vision.customvision.training import CustomVisionTrainingClient

from tests.sdk.helpers import GENERAL_COMPACT_CLASSIFICATION, unique
from tests.training.conftest import upload, wait_for


def _held_out_scores(
    client: CustomVisionTrainingClient, tag_names: list[str], uploads: list[tuple[str, list[Path]]]
) -> dict[str, dict[str, float]]:
    """Train a project with ``tag_names`` (created in that order) on ``uploads`` (uploaded in that
    order); per image file name, the held-out probability of each tag name."""
    project = client.create_project(unique("Reproducible"), domain_id=GENERAL_COMPACT_CLASSIFICATION)
    tag_ids = {name: client.create_tag(project.id, name).id for name in tag_names}
    names: dict[str, str] = {}  # image id -> file name
    for tag_name, paths in uploads:
        names.update(zip(upload(client, project.id, tag_ids[tag_name], paths), (p.name for p in paths), strict=True))
    iteration = wait_for(client, project.id, client.train_project(project.id).id)
    assert iteration.status == "Completed", iteration.training_error_details
    performances = client.get_image_performances(project.id, iteration.id, take=256)
    assert len(performances) == len(names)
    by_id = {tag_id: name for name, tag_id in tag_ids.items()}
    return {names[i.id]: {by_id[p.tag_id]: p.probability for p in i.predictions} for i in performances}


def test_the_same_images_uploaded_in_another_order_give_the_same_held_out_predictions(
    client: CustomVisionTrainingClient, hemlock_images: list[Path], cherry_images: list[Path]
) -> None:
    tags = ["Hemlock", "Japanese Cherry"]
    first = _held_out_scores(client, tags, [("Hemlock", hemlock_images), ("Japanese Cherry", cherry_images)])
    second = _held_out_scores(
        client, tags, [("Japanese Cherry", cherry_images[::-1]), ("Hemlock", hemlock_images[::-1])]
    )
    assert first.keys() == second.keys()
    for name, scores in first.items():
        for tag, probability in scores.items():
            assert abs(probability - second[name][tag]) < 1e-4, (name, tag, probability, second[name][tag])
