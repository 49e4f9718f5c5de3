"""Advanced training spends its budget and stops within it: the budget is the whole iteration's
(held-out fits, the published fit, the export), not each fit's."""

from __future__ import annotations

import time
from pathlib import Path

from azure.cognitiveservices.vision.customvision.training.models import Iteration

from tests.sdk.helpers import GENERAL_COMPACT_CLASSIFICATION, training_client, unique
from tests.servers import start_server
from tests.training.conftest import upload, wait_for

CAP_S = 45  # the server's cap on Advanced budgets, so that reservedBudgetInHours=1 means 45 s
SLACK_S = 20  # the worker picking the job up, the trainer's process starting, its first imports


def test_advanced_classification_spends_its_budget_and_stops_within_it(
    tmp_path: Path, hemlock_images: list[Path], cherry_images: list[Path]
) -> None:
    server = start_server(tmp_path / "data", extra_env={"CVSTUDIO_ADVANCED_TRAINING_CAP_SECONDS": str(CAP_S)})
    client = training_client(server.endpoint)
    try:
        project = client.create_project(unique("Advanced budget"), domain_id=GENERAL_COMPACT_CLASSIFICATION)
        for name, images in (("Hemlock", hemlock_images), ("Japanese Cherry", cherry_images)):
            upload(client, project.id, client.create_tag(project.id, name).id, images)
        began = time.monotonic()
        started = client.train_project(project.id, training_type="Advanced", reserved_budget_in_hours=1)
        done: Iteration = wait_for(client, project.id, started.id)
        elapsed = time.monotonic() - began
        assert done.status == "Completed", done.training_error_details
        assert done.training_type == "Advanced"
        # 10 images a tag: five held-out fits and the published one share the 45 s.
        assert 0.6 * CAP_S <= elapsed <= CAP_S + SLACK_S, f"{elapsed:.0f} s for a {CAP_S} s budget"
        performance = client.get_iteration_performance(project.id, done.id)
        assert {t.name for t in performance.per_tag_performance} == {"Hemlock", "Japanese Cherry"}
        # Random scores reach a mean AP of 0.95 over these 10 + 10 held-out images with probability
        # 1.0e-4 (exact, over all C(20, 10) rankings; 0.8 would be 1.5e-2). The model scores 1.0.
        assert performance.average_precision >= 0.95
        held_out = client.get_image_performances(project.id, done.id, take=256)
        right = sum(i.predictions[0].tag_id == i.tags[0].tag_id for i in held_out)
        # Guessing one of two tags gets 18 or more of 20 right with probability 211 / 2**20 = 2.0e-4;
        # the model gets all 20.
        assert len(held_out) == 20  # k-fold: every image is held out once
        assert right >= 18, f"the held-out prediction names the right tree for only {right} of 20 images"
    finally:
        client.close()
        server.stop()
