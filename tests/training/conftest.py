"""One server for the tests that need trained models, and the models themselves, trained once:
the classification quickstart's trees and the detection quickstart's forks and scissors."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from azure.cognitiveservices.vision.customvision.prediction import CustomVisionPredictionClient
from azure.cognitiveservices.vision.customvision.training import CustomVisionTrainingClient
from azure.cognitiveservices.vision.customvision.training.models import (
    Export,
    ImageFileCreateBatch,
    ImageFileCreateEntry,
    Iteration,
    Region,
)
from msrest.authentication import ApiKeyCredentials

from tests.sdk.helpers import GENERAL_COMPACT_CLASSIFICATION, training_client, unique
from tests.servers import PREDICTION_KEY, RunningServer, start_server

TRAINING_TIMEOUT = 600.0
GENERAL_COMPACT_DETECTION = "a27d5ca5-bb19-49d8-a70a-fec086c47f5b"
HELD_OUT_PER_TAG = 5  # detection images kept out of training, to predict on


def wait_for(client: CustomVisionTrainingClient, project_id: str, iteration_id: str) -> Iteration:
    deadline = time.monotonic() + TRAINING_TIMEOUT
    while time.monotonic() < deadline:
        iteration = client.get_iteration(project_id, iteration_id)
        if iteration.status != "Training":
            return iteration
        time.sleep(0.5)
    raise AssertionError(f"iteration {iteration_id} still training after {TRAINING_TIMEOUT} s")


def upload(client: CustomVisionTrainingClient, project_id: str, tag_id: str, paths: list[Path]) -> list[str]:
    entries = [ImageFileCreateEntry(name=p.name, contents=p.read_bytes(), tag_ids=[tag_id]) for p in paths]
    result = client.create_images_from_files(project_id, ImageFileCreateBatch(images=entries))
    assert result.is_batch_successful
    return [r.image.id for r in result.images]


@dataclass
class Trained:
    project_id: str
    tag_ids: dict[str, str]  # name -> id
    image_ids: list[str]
    first: Iteration
    publish_name: str

    @property
    def hemlock_id(self) -> str:
        return self.tag_ids["Hemlock"]


@pytest.fixture(scope="package")
def trained_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("trained") / "data")
    yield running
    running.stop()


@pytest.fixture(scope="package")
def client(trained_server: RunningServer) -> Iterator[CustomVisionTrainingClient]:
    trainer = training_client(trained_server.endpoint)
    yield trainer
    trainer.close()


@pytest.fixture(scope="package")
def predictor(trained_server: RunningServer) -> Iterator[CustomVisionPredictionClient]:
    client = CustomVisionPredictionClient(
        trained_server.endpoint, ApiKeyCredentials(in_headers={"Prediction-key": PREDICTION_KEY})
    )
    yield client
    client.close()


def train_trees(
    client: CustomVisionTrainingClient, hemlock_images: list[Path], cherry_images: list[Path], publish_name: str
) -> Trained:
    """The classification quickstart, on an exportable domain: trained and published."""
    project = client.create_project(unique("Trees"), domain_id=GENERAL_COMPACT_CLASSIFICATION)
    hemlock = client.create_tag(project.id, "Hemlock")
    cherry = client.create_tag(project.id, "Japanese Cherry")
    ids = upload(client, project.id, hemlock.id, hemlock_images) + upload(client, project.id, cherry.id, cherry_images)
    started = client.train_project(project.id)
    assert (started.status, started.name) == ("Training", "Iteration 1")
    done = wait_for(client, project.id, started.id)
    assert done.status == "Completed", done.training_error_details
    client.publish_iteration(project.id, done.id, publish_name, "/subscriptions/x/resourceGroups/y")
    return Trained(project.id, {"Hemlock": hemlock.id, "Japanese Cherry": cherry.id}, ids, done, publish_name)


@pytest.fixture(scope="package")
def trained(client: CustomVisionTrainingClient, hemlock_images: list[Path], cherry_images: list[Path]) -> Trained:
    """Trees, shared by the prediction and Smart Labeler tests (which add images and predictions)."""
    return train_trees(client, hemlock_images, cherry_images, "classifyModel")


@pytest.fixture(scope="package")
def detector(
    client: CustomVisionTrainingClient, detection_images_dir: Path, detection_regions: dict[str, dict[str, float | str]]
) -> Trained:
    """Forks and scissors with their boxes, the last images of each tag held out; trained once and published."""
    project = client.create_project(unique("Cutlery"), domain_id=GENERAL_COMPACT_DETECTION)
    tags = {name: client.create_tag(project.id, name).id for name in ("fork", "scissors")}
    entries = []
    for name in tags:
        files = sorted(detection_images_dir.glob(f"{name}/*.jpg"), key=lambda p: int(p.stem.split("_")[1]))
        for path in files[:-HELD_OUT_PER_TAG]:
            box = detection_regions[f"{name}/{path.name}"]
            region = Region(
                tag_id=tags[name], left=box["left"], top=box["top"], width=box["width"], height=box["height"]
            )
            entries.append(ImageFileCreateEntry(name=path.name, contents=path.read_bytes(), regions=[region]))
    result = client.create_images_from_files(project.id, ImageFileCreateBatch(images=entries))
    assert result.is_batch_successful
    started = client.train_project(project.id)
    done = wait_for(client, project.id, started.id)
    assert done.status == "Completed", done.training_error_details
    client.publish_iteration(project.id, done.id, "detectModel", "/subscriptions/x/resourceGroups/y")
    return Trained(project.id, tags, [r.image.id for r in result.images], done, "detectModel")


def finished_export(
    client: CustomVisionTrainingClient, model: Trained, platform: str, flavor: str | None = None, timeout: float = 300.0
) -> Export:
    """The export of ``model``'s first iteration to (platform, flavor), once it has left ``Exporting``."""
    deadline = time.monotonic() + timeout
    while True:
        (export,) = [
            e
            for e in client.get_exports(model.project_id, model.first.id)
            if (e.platform, e.flavor) == (platform, flavor)
        ]
        if export.status != "Exporting" or time.monotonic() > deadline:
            return export
        time.sleep(0.2)


def held_out_detection_images(detection_images_dir: Path, name: str) -> list[Path]:
    files = sorted(detection_images_dir.glob(f"{name}/*.jpg"), key=lambda p: int(p.stem.split("_")[1]))
    return files[-HELD_OUT_PER_TAG:]


def regions_of(detection_regions: dict[str, dict[str, float | str]], name: str, path: Path) -> dict[str, float]:
    box = detection_regions[f"{name}/{path.name}"]
    return {k: float(v) for k, v in box.items() if k != "tag"}
