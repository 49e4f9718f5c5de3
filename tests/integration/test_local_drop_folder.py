"""The local drop folder: a real ``cvstudio serve`` on the embedded default watches ``<data dir>/drop``.

Files are copied into the folder as a user would, and what they became is read back through the
Training API (raw HTTP) and from the ``<file>.result.json`` files the server writes beside them.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import SAMPLES
from tests.servers import TRAINING_KEY, RunningServer, start_server

API = "/customvision/v3.4-preview/training"
DETECTION_DOMAIN = "da2e3a8a-40a5-4171-82f4-58522f70fbc1"  # General (object detection)
FORK = SAMPLES / "ObjectDetection" / "Images" / "fork" / "fork_1.jpg"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("drop-server") / "data")
    yield running
    running.stop()


@pytest.fixture(scope="module")
def client(server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.endpoint, headers={"Training-Key": TRAINING_KEY}, timeout=30) as http:
        yield http


def create_project(client: httpx.Client, **params: str) -> dict[str, Any]:
    reply = client.post(f"{API}/projects", params={"name": f"drop-{uuid.uuid4().hex[:8]}", **params})
    assert reply.status_code == 200, reply.text
    project: dict[str, Any] = reply.json()
    return project


def drop(server: RunningServer, name: str, data: bytes) -> Path:
    """Write a file into the drop folder the way a copy does: a new file, then its bytes."""
    path = server.data_dir / "drop" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def result_of(server: RunningServer, name: str, *, status: str | None = None, timeout: float = 20) -> dict[str, Any]:
    """The file's result once the server has written it (with ``status``, when given)."""
    path = server.data_dir / "drop" / f"{name}.result.json"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            result: dict[str, Any] = json.loads(path.read_text())
            if status is None or result["status"] == status:
                return result
        time.sleep(0.2)
    raise AssertionError(f"no result for {name} in {timeout} s:\n{server.log()}")


def test_the_server_makes_the_drop_folder(server: RunningServer) -> None:
    assert (server.data_dir / "drop").is_dir()


def test_images_in_tag_folders_become_tagged_images(
    server: RunningServer, client: httpx.Client, hemlock_images: list[Path]
) -> None:
    project = create_project(client)
    name = project["name"]
    data = hemlock_images[0].read_bytes()
    drop(server, f"{name}/Hemlock/one.jpg", data)
    drop(server, f"{name}/Hemlock/broken.jpg", data[:3000])  # a truncated JPEG
    drop(server, f"{project['id']}/same-bytes.jpg", data)  # the folder may name the project by id
    drop(server, f"{name}/.DS_Store", b"\x00\x01")  # desktop clutter is left alone

    one = result_of(server, f"{name}/Hemlock/one.jpg")
    same = result_of(server, f"{project['id']}/same-bytes.jpg")
    assert sorted([one["status"], same["status"]]) == ["duplicate", "ok"]  # whichever was read first is "ok"
    assert same["imageId"] == one["imageId"]
    broken = result_of(server, f"{name}/Hemlock/broken.jpg")
    assert (broken["status"], broken["code"]) == ("rejected", "BadRequestImageFormat")
    assert not (server.data_dir / "drop" / name / "Hemlock" / "broken.jpg").exists()
    assert (server.data_dir / "drop" / "_rejected" / name / "Hemlock" / "broken.jpg").read_bytes() == data[:3000]

    [image] = client.get(f"{API}/projects/{project['id']}/images").json()
    assert image["id"] == one["imageId"]
    [tag] = client.get(f"{API}/projects/{project['id']}/tags").json()
    assert (tag["name"], tag["imageCount"]) == ("Hemlock", 1)
    assert [t["tagId"] for t in image["tags"]] == [tag["id"]]

    # The same bytes written again: answered once more with the same result, then left alone.
    one_path = server.data_dir / "drop" / name / "Hemlock" / "one.jpg"
    result_path = one_path.with_name("one.jpg.result.json")
    one_path.write_bytes(data)
    deadline = time.monotonic() + 20
    while result_path.stat().st_mtime_ns < one_path.stat().st_mtime_ns and time.monotonic() < deadline:
        time.sleep(0.2)
    answered = result_path.stat().st_mtime_ns
    assert answered >= one_path.stat().st_mtime_ns
    assert json.loads(result_path.read_text()) == one
    time.sleep(2.5)  # two more looks: nothing is read again, the clutter is never answered
    assert result_path.stat().st_mtime_ns == answered
    assert len(client.get(f"{API}/projects/{project['id']}/images").json()) == 1
    assert not (server.data_dir / "drop" / name / ".DS_Store.result.json").exists()


def test_yolo_labels_before_their_image(server: RunningServer, client: httpx.Client) -> None:
    project = create_project(client, domainId=DETECTION_DOMAIN)
    name = project["name"]
    drop(server, f"{name}/fork_1.txt", b"0 0.5 0.5 0.5 0.5\n")
    assert result_of(server, f"{name}/fork_1.txt")["status"] == "waiting"
    drop(server, f"{name}/classes.txt", b"fork\n")
    drop(server, f"{name}/fork_1.jpg", FORK.read_bytes())

    image_id = result_of(server, f"{name}/fork_1.jpg")["imageId"]
    assert result_of(server, f"{name}/fork_1.txt", status="ok")["appliedTo"] == {f"{name}/fork_1.jpg": image_id}
    [image] = client.get(f"{API}/projects/{project['id']}/images").json()
    [region] = image["regions"]
    assert region["tagName"] == "fork"
    assert [region[k] for k in ("left", "top", "width", "height")] == pytest.approx([0.25, 0.25, 0.5, 0.5])
