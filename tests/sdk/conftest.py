"""The official Custom Vision training client, pointed at this module's real ``cvstudio serve``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from azure.cognitiveservices.vision.customvision.training import CustomVisionTrainingClient

from tests.sdk.helpers import training_client
from tests.servers import RunningServer


@pytest.fixture(scope="module")
def client(server: RunningServer) -> Iterator[CustomVisionTrainingClient]:
    trainer = training_client(server.endpoint)
    yield trainer
    trainer.close()
