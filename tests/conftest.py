"""Fixtures shared by the whole suite: the quickstart images, the local Azure stack, and a real
server per test module, on each store the product runs on (the embedded default and Azure)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.azure_stack import AzureStack, start_azure_stack
from tests.servers import RunningServer, start_server

SAMPLES = Path(__file__).parent / "fixtures" / "custom-vision-samples"


STORES = ("embedded", "azure")


@pytest.fixture(scope="session")
def azure_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AzureStack]:
    """Azurite and the Cosmos DB server on loopback, started once for the whole run (on first use)."""
    stack = start_azure_stack(tmp_path_factory.mktemp("azure-stack"))
    yield stack
    stack.stop()


def server_on(stores: str, request: pytest.FixtureRequest, data_dir: Path) -> RunningServer:
    """A ``cvstudio serve`` process on ``stores``: the embedded default in ``data_dir``, or Azure
    (the local stack, with a Cosmos database of its own)."""
    if stores == "embedded":
        return start_server(data_dir)
    stack: AzureStack = request.getfixturevalue("azure_stack")
    return start_server(data_dir, extra_env=stack.settings_env(f"cvstudio-{uuid.uuid4().hex[:12]}"))


@pytest.fixture(scope="module", params=STORES)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A ``cvstudio serve`` process of this test module's own, on a free port and fresh stores:
    every test that uses it runs on the embedded default and on Azure."""
    running = server_on(request.param, request, tmp_path_factory.mktemp("server") / "data")
    yield running
    running.stop()


@pytest.fixture(scope="session")
def hemlock_images() -> list[Path]:
    return sorted((SAMPLES / "ImageClassification" / "Images" / "Hemlock").glob("*.jpg"))


@pytest.fixture(scope="session")
def cherry_images() -> list[Path]:
    return sorted((SAMPLES / "ImageClassification" / "Images" / "Japanese_Cherry").glob("*.jpg"))


@pytest.fixture(scope="session")
def detection_regions() -> dict[str, dict[str, float | str]]:
    data: dict[str, dict[str, float | str]] = json.loads((SAMPLES / "ObjectDetection" / "regions.json").read_text())
    return data


@pytest.fixture(scope="session")
def detection_images_dir() -> Path:
    return SAMPLES / "ObjectDetection" / "Images"
