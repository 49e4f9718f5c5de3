"""Fixtures shared by the whole suite: the quickstart images and a real server per test module."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import RunningServer, start_server

SAMPLES = Path(__file__).parent / "fixtures" / "custom-vision-samples"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A ``cvstudio serve`` process of this test module's own, on a free port and a fresh data dir."""
    running = start_server(tmp_path_factory.mktemp("server") / "data")
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
