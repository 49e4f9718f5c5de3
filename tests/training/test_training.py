"""Training through the official SDK: refusals, the Hemlock / Japanese Cherry project to Completed,
per-tag metrics, iteration snapshots, renames and deletes, and ONNX export that runs."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import httpx
import numpy as np
import onnxruntime as ort
import pytest
from azure.cognitiveservices.vision.customvision.training import CustomVisionTrainingClient
from azure.cognitiveservices.vision.customvision.training.models import (
    ImageFileCreateBatch,
    ImageFileCreateEntry,
    Region,
)
from PIL import Image

from shared.vision.preprocess import preprocess
from tests.sdk.helpers import GENERAL_COMPACT_CLASSIFICATION, GENERAL_DETECTION, cv_error, png_bytes, unique
from tests.training.conftest import Trained, finished_export, train_trees, upload, wait_for


@pytest.fixture(scope="module")
def trained(client: CustomVisionTrainingClient, hemlock_images: list[Path], cherry_images: list[Path]) -> Trained:
    """A project of this module's own: these tests change its images and iterations."""
    return train_trees(client, hemlock_images, cherry_images, "treesForTrainingTests")


def test_a_trained_iteration_reports_what_custom_vision_reports(
    client: CustomVisionTrainingClient, trained: Trained
) -> None:
    iteration = trained.first
    assert iteration.trained_at is not None and iteration.training_error_details is None
    assert iteration.exportable and "ONNX" in iteration.exportable_to
    assert iteration.domain_id == GENERAL_COMPACT_CLASSIFICATION
    assert iteration.classification_type == "Multiclass" and iteration.training_type == "Regular"
    assert [i.id for i in client.get_iterations(trained.project_id)][-1] == iteration.id


def test_per_tag_metrics_come_from_held_out_images(client: CustomVisionTrainingClient, trained: Trained) -> None:
    performance = client.get_iteration_performance(trained.project_id, trained.first.id)
    assert {t.name for t in performance.per_tag_performance} == {"Hemlock", "Japanese Cherry"}
    for value in (performance.precision, performance.recall, performance.average_precision):
        assert 0.0 <= value <= 1.0
    # Random scores reach a mean AP of 0.95 over these 10 + 10 held-out images with probability
    # 1.0e-4 (exact, over all C(20, 10) rankings; 0.8 would be 1.5e-2). The model scores 1.0.
    assert performance.average_precision >= 0.95
    everything = client.get_iteration_performance(trained.project_id, trained.first.id, threshold=0.0)
    assert everything.recall == 1.0
    # Small tags are evaluated by k-fold: every image has a held-out prediction.
    assert client.get_image_performance_count(trained.project_id, trained.first.id) == 20
    images = client.get_image_performances(trained.project_id, trained.first.id, take=5)
    assert len(images) == 5
    assert all(len(i.predictions) == 2 and i.predictions[0].probability >= i.predictions[1].probability for i in images)
    held_out = client.get_image_performances(trained.project_id, trained.first.id, take=256)
    right = sum(i.predictions[0].tag_id == i.tags[0].tag_id for i in held_out)
    # Guessing one of two tags gets 18 or more of 20 right with probability 211 / 2**20 = 2.0e-4.
    # The model gets all 20, each at 0.97+.
    assert right >= 18, f"the held-out prediction names the right tree for only {right} of {len(held_out)} images"
    hemlock_only = client.get_image_performance_count(
        trained.project_id, trained.first.id, tag_ids=[trained.hemlock_id]
    )
    assert hemlock_only == 10
    with cv_error("BadRequestInvalid", 400):
        client.get_iteration_performance(trained.project_id, trained.first.id, threshold=1.5)


def test_training_refuses_what_would_not_change_and_runs_one_at_a_time(
    client: CustomVisionTrainingClient, trained: Trained
) -> None:
    with cv_error("BadRequestTrainingNotNeeded", 400):
        client.train_project(trained.project_id)
    second = client.train_project(trained.project_id, force_train=True)
    assert second.name == "Iteration 2"
    with cv_error("BadRequestTrainingAlreadyInProgress", 400):
        client.train_project(trained.project_id, force_train=True)
    with cv_error("BadRequestTrainingAlreadyInProgress", 400):
        client.delete_iteration(trained.project_id, second.id)
    with cv_error("BadRequestExportWhileTraining", 400):
        client.export_iteration(trained.project_id, second.id, "ONNX")
    assert wait_for(client, trained.project_id, second.id).status == "Completed"
    assert [i.name for i in client.get_iterations(trained.project_id)][:2] == ["Iteration 2", "Iteration 1"]
    client.update_iteration(trained.project_id, second.id, name="Second try")
    assert client.get_iteration(trained.project_id, second.id).name == "Second try"
    client.delete_iteration(trained.project_id, second.id)
    with cv_error("NotFoundIteration", 404):
        client.get_iteration(trained.project_id, second.id)


def test_iteration_queries_answer_from_what_was_trained(
    client: CustomVisionTrainingClient, trained: Trained, detection_images_dir: Path
) -> None:
    project_id, first = trained.project_id, trained.first.id
    extra = client.create_tag(project_id, unique("Later"))
    client.create_images_from_data(project_id, png_bytes(color=(1, 2, 3)), tag_ids=[extra.id])
    gone = trained.image_ids[0]
    client.delete_images(project_id, image_ids=[gone])

    assert client.get_image_count(project_id) == 20  # 19 trees + the new one
    assert client.get_image_count(project_id, iteration_id=first) == 20
    assert client.get_tagged_image_count(project_id, iteration_id=first, tag_ids=[trained.hemlock_id]) == 10
    counts = {t.name: t.image_count for t in client.get_tags(project_id, iteration_id=first)}
    assert counts == {"Hemlock": 10, "Japanese Cherry": 10}
    assert client.get_tag(project_id, trained.hemlock_id, iteration_id=first).image_count == 10
    with cv_error("NotFoundTag", 404):
        client.get_tag(project_id, extra.id, iteration_id=first)
    (kept,) = client.get_images_by_ids(project_id, image_ids=[gone], iteration_id=first)
    assert kept.tags[0].tag_name in ("Hemlock", "Japanese Cherry")
    # The bytes of an image deleted from the workspace stay while an iteration holds it.
    assert httpx.get(kept.original_image_uri).status_code == 200
    assert client.get_untagged_image_count(project_id, iteration_id=first) == 0
    listed = client.get_images(project_id, iteration_id=first, take=256)
    assert len(listed) == 20 and gone in {i.id for i in listed}


def test_export_onnx_that_runs_in_plain_onnxruntime(
    client: CustomVisionTrainingClient, trained: Trained, hemlock_images: list[Path], cherry_images: list[Path]
) -> None:
    started = client.export_iteration(trained.project_id, trained.first.id, "ONNX")
    assert (started.platform, started.flavor) == ("ONNX", None)
    export = finished_export(client, trained, "ONNX")
    assert (export.status, export.flavor) == ("Done", None)
    again = client.export_iteration(trained.project_id, trained.first.id, "ONNX")
    assert again.status == "Done"
    package = zipfile.ZipFile(io.BytesIO(httpx.get(export.download_uri).content))
    assert package.read("labels.txt").decode().splitlines() == ["Hemlock", "Japanese Cherry"]
    session = ort.InferenceSession(package.read("model.onnx"))
    meta = session.get_modelmeta().custom_metadata_map
    assert json.loads(meta["CustomVision.Labels"]) == ["Hemlock", "Japanese Cherry"]
    right = 0
    for label, paths in enumerate((hemlock_images, cherry_images)):  # the labels.txt order
        for path in paths:
            data = preprocess(Image.open(path).convert("RGB"))[None]
            (probabilities,) = session.run(None, {session.get_inputs()[0].name: data})
            assert probabilities.shape == (1, 2) and np.isclose(probabilities.sum(), 1.0, atol=1e-4)
            right += int(np.argmax(probabilities)) == label
    # The 20 photos it was trained on, in plain onnxruntime: guessing gets 19 or more right with
    # probability 21 / 2**20 = 2.0e-5; the model names all 20 (0.99 through the Prediction API).
    assert right >= 19, f"the exported model names only {right} of 20 photos right"
    with cv_error("BadRequestExportValidationFailed", 400):  # Custom Vision's, but no converter installs here
        client.export_iteration(trained.project_id, trained.first.id, "VAIDK")


def test_training_refusals_name_the_problem(
    client: CustomVisionTrainingClient, hemlock_images: list[Path], detection_images_dir: Path
) -> None:
    project = client.create_project(unique("Too few"))
    one = client.create_tag(project.id, "Only")
    upload(client, project.id, one.id, hemlock_images[:5])
    with cv_error("BadRequestMultiClassClassificationTrainingValidationFailed", 400) as error:
        client.train_project(project.id)
    assert "at least 2 tags" in str(error.value)
    two = client.create_tag(project.id, "Second")
    client.create_images_from_data(project.id, png_bytes(color=(9, 9, 9)), tag_ids=[two.id])
    with cv_error("BadRequestMultiClassClassificationTrainingValidationFailed", 400) as error:
        client.train_project(project.id)
    assert "'Second' has 1" in str(error.value)
    with cv_error("BadRequestReservedBudgetInHoursNotEnoughForAdvancedTraining", 400):
        client.train_project(project.id, training_type="Advanced")

    labels = client.create_project(unique("Labels"), classification_type="Multilabel")
    only = client.create_tag(labels.id, "Only")
    upload(client, labels.id, only.id, hemlock_images[:4])
    with cv_error("BadRequestMultiLabelClassificationTrainingValidationFailed", 400) as error:
        client.train_project(labels.id)
    assert "at least 5 images" in str(error.value)

    detector = client.create_project(unique("Boxes"), domain_id=GENERAL_DETECTION)
    fork = client.create_tag(detector.id, "fork")
    entries = [
        ImageFileCreateEntry(
            name=p.name,
            contents=p.read_bytes(),
            regions=[Region(tag_id=fork.id, left=0.1, top=0.1, width=0.5, height=0.5)],
        )
        for p in sorted((detection_images_dir / "fork").glob("*.jpg"))[:14]
    ]
    assert client.create_images_from_files(detector.id, ImageFileCreateBatch(images=entries)).is_batch_successful
    with cv_error("BadRequestDetectionTrainingValidationFailed", 400) as error:
        client.train_project(detector.id)
    assert "at least 15 images with boxes" in str(error.value)
    client.create_tag(detector.id, "nothing", type="Negative")
    with cv_error("BadRequestDetectionTrainingNotAllowNegativeTag", 400):
        client.train_project(detector.id)
