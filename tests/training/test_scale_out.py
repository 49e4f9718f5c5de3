"""Many instances, one service: two ``cvstudio serve`` processes on the same Azure stores (the local
Azure stack) answer as one, as scaled-out Function Apps must: names stay unique, an image uploaded
to both is one image, a project trains once, and a model published through one instance is served
by the other (each loads it from Blob Storage into its own cache)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from azure.cognitiveservices.vision.customvision.prediction import CustomVisionPredictionClient
from azure.cognitiveservices.vision.customvision.prediction.models import (
    CustomVisionErrorException as PredictionError,
)
from azure.cognitiveservices.vision.customvision.training import CustomVisionTrainingClient
from azure.cognitiveservices.vision.customvision.training.models import CustomVisionErrorException
from msrest.authentication import ApiKeyCredentials

from tests.azure_stack import AzureStack
from tests.sdk.helpers import GENERAL_COMPACT_CLASSIFICATION, training_client, unique
from tests.servers import PREDICTION_KEY, RunningServer, start_server
from tests.training.conftest import upload, wait_for

T = TypeVar("T")


@pytest.fixture(scope="module")
def two_instances(azure_stack: AzureStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[RunningServer]]:
    env = azure_stack.settings_env(f"cvstudio-{uuid.uuid4().hex[:12]}")
    folder = tmp_path_factory.mktemp("scale-out")
    servers = [start_server(folder / name / "data", extra_env=env) for name in ("a", "b")]
    yield servers
    for server in servers:
        server.stop()


@pytest.fixture(scope="module")
def trainers(two_instances: list[RunningServer]) -> Iterator[list[CustomVisionTrainingClient]]:
    clients = [training_client(s.endpoint) for s in two_instances]
    yield clients
    for client in clients:
        client.close()


def _predictor(server: RunningServer) -> CustomVisionPredictionClient:
    return CustomVisionPredictionClient(
        server.endpoint, ApiKeyCredentials(in_headers={"Prediction-key": PREDICTION_KEY})
    )


def _at_once(calls: list[Callable[[], T]]) -> list[T | CustomVisionErrorException | None]:
    """Run the calls on threads released together; each result, or the SDK error it raised."""
    barrier = threading.Barrier(len(calls))
    results: list[T | CustomVisionErrorException | None] = [None] * len(calls)

    def run(n: int) -> None:
        barrier.wait()
        try:
            results[n] = calls[n]()
        except CustomVisionErrorException as exc:
            results[n] = exc

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def _error_code(result: object) -> str | None:
    return result.error.code if isinstance(result, CustomVisionErrorException) and result.error else None


def test_a_name_created_on_both_instances_at_once_is_one_project(trainers: list[CustomVisionTrainingClient]) -> None:
    name = unique("Same")
    results = _at_once([lambda t=t: t.create_project(name) for t in trainers])  # type: ignore[misc]
    codes = sorted(str(_error_code(r)) for r in results)
    assert codes == ["BadRequestProjectNameNotUnique", "None"], results
    for trainer in trainers:
        assert [p.name for p in trainer.get_projects()].count(name) == 1


def test_the_same_image_uploaded_to_both_instances_is_one_image(
    trainers: list[CustomVisionTrainingClient], hemlock_images: list[Path]
) -> None:
    project = trainers[0].create_project(unique("One image"))
    data = hemlock_images[0].read_bytes()
    results = _at_once([lambda t=t: t.create_images_from_data(project.id, data) for t in trainers])  # type: ignore[misc]
    summaries = [r for r in results if r is not None and not isinstance(r, CustomVisionErrorException)]
    assert sorted(s.images[0].status for s in summaries) == ["OK", "OKDuplicate"]
    assert len({s.images[0].image.id for s in summaries}) == 1
    for trainer in trainers:
        assert trainer.get_image_count(project.id) == 1


def test_a_project_trains_once_and_a_model_published_on_one_instance_is_served_by_the_other(
    two_instances: list[RunningServer],
    trainers: list[CustomVisionTrainingClient],
    hemlock_images: list[Path],
    cherry_images: list[Path],
) -> None:
    a, b = trainers
    project = a.create_project(unique("Trees"), domain_id=GENERAL_COMPACT_CLASSIFICATION)
    hemlock, cherry = a.create_tag(project.id, "Hemlock"), b.create_tag(project.id, "Japanese Cherry")
    upload(a, project.id, hemlock.id, hemlock_images)
    upload(b, project.id, cherry.id, cherry_images)

    started = _at_once([lambda t=t: t.train_project(project.id) for t in trainers])  # type: ignore[misc]
    codes = sorted(str(_error_code(r)) for r in started)
    assert codes == ["BadRequestTrainingAlreadyInProgress", "None"], started
    (iteration,) = [r for r in started if r is not None and not isinstance(r, CustomVisionErrorException)]
    assert [i.id for i in b.get_iterations(project.id)] == [iteration.id]
    done = wait_for(b, project.id, iteration.id)  # whichever instance's worker took the job
    assert done.status == "Completed", done.training_error_details

    a.publish_iteration(project.id, iteration.id, "trees", "resource")
    test_image = hemlock_images[1].read_bytes()
    predictors = [_predictor(server) for server in two_instances]
    try:
        for predictor in predictors:  # each instance loads the model from Blob Storage into its own cache
            top = predictor.classify_image_with_no_store(project.id, "trees", test_image).predictions[0]
            assert top.tag_name == "Hemlock"
        b.unpublish_iteration(project.id, iteration.id)
        with pytest.raises(PredictionError) as gone:  # unpublished through the other instance: gone at once
            predictors[0].classify_image_with_no_store(project.id, "trees", test_image)
        assert gone.value.error is not None and gone.value.error.code == "NotFoundIteration"
    finally:
        for predictor in predictors:
            predictor.close()
