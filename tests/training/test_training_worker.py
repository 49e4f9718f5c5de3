"""The local training worker: a killed trainer leaves the iteration Failed with the reason, and a
server stopped mid-training resumes the work when it starts again."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import psutil
from azure.cognitiveservices.vision.customvision.training import CustomVisionTrainingClient
from azure.cognitiveservices.vision.customvision.training.models import ImageFileCreateBatch, ImageFileCreateEntry

from tests.leftovers import half_done, stores_of
from tests.sdk.helpers import training_client, unique
from tests.servers import RunningServer, start_server


def _project(client: CustomVisionTrainingClient, hemlock: list[Path], cherry: list[Path]) -> str:
    project = client.create_project(unique("Worker"))
    for name, paths in (("Hemlock", hemlock), ("Japanese Cherry", cherry)):
        tag = client.create_tag(project.id, name)
        entries = [ImageFileCreateEntry(name=p.name, contents=p.read_bytes(), tag_ids=[tag.id]) for p in paths]
        assert client.create_images_from_files(project.id, ImageFileCreateBatch(images=entries)).is_batch_successful
    return str(project.id)


def _trainer_process(server: RunningServer, iteration_id: str, timeout: float = 60) -> psutil.Process:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for child in psutil.Process(server.process.pid).children(recursive=True):
            try:
                if iteration_id in child.cmdline():
                    return child
            except psutil.NoSuchProcess:
                continue
        time.sleep(0.1)
    raise AssertionError("no trainer process appeared")


def _wait(client: CustomVisionTrainingClient, project_id: str, iteration_id: str, timeout: float = 300) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        iteration = client.get_iteration(project_id, iteration_id)
        if iteration.status != "Training":
            return str(iteration.status)
        time.sleep(0.3)
    raise AssertionError("still training")


def test_a_killed_trainer_leaves_the_iteration_failed_with_a_reason(
    tmp_path: Path, hemlock_images: list[Path], cherry_images: list[Path]
) -> None:
    server = start_server(tmp_path / "data")
    client = training_client(server.endpoint)
    try:
        project_id = _project(client, hemlock_images, cherry_images)
        iteration = client.train_project(project_id)
        _trainer_process(server, iteration.id).send_signal(signal.SIGKILL)
        assert _wait(client, project_id, iteration.id) == "Failed"
        details = client.get_iteration(project_id, iteration.id).training_error_details
        assert "killed by signal 9" in details
        # The project is not stuck: it trains again.
        again = client.train_project(project_id)
        assert _wait(client, project_id, again.id) == "Completed"
    finally:
        client.close()
        server.stop()
    with stores_of(tmp_path / "data") as services:
        assert half_done(services) == []


def test_a_server_stopped_mid_training_resumes_it_on_restart(
    tmp_path: Path, hemlock_images: list[Path], cherry_images: list[Path]
) -> None:
    data = tmp_path / "data"
    server = start_server(data)
    client = training_client(server.endpoint)
    try:
        project_id = _project(client, hemlock_images, cherry_images)
        iteration = client.train_project(project_id)
        trainer = _trainer_process(server, iteration.id)
    finally:
        client.close()
        server.stop()
    trainer.wait(timeout=30)  # the worker stops its trainer with the server
    assert not psutil.pid_exists(trainer.pid) or trainer.status() == psutil.STATUS_ZOMBIE
    server = start_server(data)
    client = training_client(server.endpoint)
    try:
        assert client.get_iteration(project_id, iteration.id).status == "Training"
        assert _wait(client, project_id, iteration.id) == "Completed"
    finally:
        client.close()
        server.stop()
