"""The drop folder's blob trigger, driven as the Functions host drives it, on Azurite and the Cosmos server.

Each drop writes the blob into the drop container and then invokes the registered function with a
``func.blob.InputStream`` named ``<container>/<name>``, as the host does (Event Grid source). What a
user sees is checked: the ``<file>.result.json`` beside each file, the ``_rejected/`` folder, and
the project's images, tags and regions. Nothing is mocked.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest
from azure.storage.blob import ContainerClient

from functions import drop_folder
from functions.runtime import services as services_of_app
from shared.bootstrap import Services
from shared.domain.entities import Image
from shared.services.image_query import ImageQuery
from tests.azure_stack import AzureStack
from tests.conftest import SAMPLES
from tests.servers import PREDICTION_KEY, TRAINING_KEY

DETECTION_DOMAIN = "da2e3a8a-40a5-4171-82f4-58522f70fbc1"  # General (object detection)
DETECTION_IMAGES = SAMPLES / "ObjectDetection" / "Images"


@dataclass
class DropHost:
    """The drop container and the function as the host would invoke it, on one Azure stack."""

    container: ContainerClient
    services: Services
    function: Callable[[func.InputStream], None]

    def put(self, name: str, data: bytes) -> None:
        """A file dropped into the container, delivered once to the function."""
        self.container.upload_blob(name, data, overwrite=True)
        self.deliver(name, data)

    def deliver(self, name: str, data: bytes) -> None:
        blob = func.blob.InputStream(
            data=data, name=f"{self.container.container_name}/{name}", length=len(data), uri=f"http://azurite/{name}"
        )
        self.function(blob)

    def result(self, name: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.container.download_blob(f"{name}.result.json").readall())
        return data

    def exists(self, name: str) -> bool:
        return bool(self.container.get_blob_client(name).exists())

    def images(self, project_id: str) -> list[Image]:
        return self.services.images.list_images(project_id, ImageQuery(take=256))

    def tag_names(self, project_id: str) -> dict[str, str]:
        return {t.id: t.name for t in self.services.tags.all(project_id)}


@pytest.fixture(scope="module")
def host(azure_stack: AzureStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DropHost]:
    container_name = f"drop-{uuid.uuid4().hex[:12]}"
    env = {
        **azure_stack.settings_env(f"cvstudio-{uuid.uuid4().hex[:12]}"),
        "CVSTUDIO_DROP_CONTAINER": container_name,
        "CVSTUDIO_TRAINING_KEY": TRAINING_KEY,
        "CVSTUDIO_PREDICTION_KEY": PREDICTION_KEY,
        "CVSTUDIO_DATA_DIR": str(tmp_path_factory.mktemp("drop-functions") / "data"),
    }
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        services_of_app.cache_clear()
        drop_folder._drops.cache_clear()
        try:
            built = services_of_app()
            container = ContainerClient.from_connection_string(azure_stack.storage_connection_string, container_name)
            container.create_container()  # as the deployment does (the function creates it when missing, too)
            yield DropHost(container, built, drop_folder.drop_folder.build().get_user_function())
        finally:
            services_of_app.cache_clear()
            drop_folder._drops.cache_clear()


def jpeg_bytes(path: Path) -> bytes:
    return path.read_bytes()


def new_project(host: DropHost, *, detection: bool = False) -> tuple[str, str]:
    name = f"drop-{uuid.uuid4().hex[:8]}"
    project = host.services.projects.create(name, domain_id=DETECTION_DOMAIN if detection else None)
    return project.id, name


# --- registration -----------------------------------------------------------------------------


def test_the_function_is_an_event_grid_blob_trigger_on_the_drop_container() -> None:
    function = drop_folder.drop_folder.build()
    assert function.get_function_name() == "drop_folder"  # the Event Grid subscription's Host.Functions.drop_folder
    [binding] = json.loads(function.get_function_json())["bindings"]
    assert binding["type"] == "blobTrigger"
    assert binding["path"] == "%CVSTUDIO_DROP_CONTAINER%/{name}"
    assert binding["connection"] == "CVSTUDIO_STORAGE"
    assert binding["source"] == "EventGrid"


# --- images -----------------------------------------------------------------------------------


def test_a_classification_folder_with_a_new_tag_and_duplicate_deliveries(
    host: DropHost, hemlock_images: list[Path]
) -> None:
    project_id, project_name = new_project(host)
    data = jpeg_bytes(hemlock_images[0])
    host.put(f"{project_name}/Hemlock/one.jpg", data)

    result = host.result(f"{project_name}/Hemlock/one.jpg")
    assert result["status"] == "ok", result
    assert result["projectId"] == project_id
    [image] = host.images(project_id)
    assert image.id == result["imageId"]
    assert [host.tag_names(project_id)[t] for t in image.tag_ids] == ["Hemlock"]  # the tag was created

    # The host delivers the same blob again: nothing changes, nothing raises.
    host.deliver(f"{project_name}/Hemlock/one.jpg", data)
    assert host.result(f"{project_name}/Hemlock/one.jpg") == result
    # The same bytes under another name (by the project's id, untagged): the same image.
    host.put(f"{project_id}/copy.jpg", data)
    copy = host.result(f"{project_id}/copy.jpg")
    assert (copy["status"], copy["imageId"]) == ("duplicate", image.id)
    assert len(host.images(project_id)) == 1
    assert list(host.tag_names(project_id).values()) == ["Hemlock"]


def test_a_corrupt_image_is_set_aside_with_its_reason(host: DropHost, hemlock_images: list[Path]) -> None:
    project_id, project_name = new_project(host)
    broken = jpeg_bytes(hemlock_images[1])[:2000]  # a truncated JPEG
    name = f"{project_name}/Hemlock/broken.jpg"
    host.put(name, broken)  # no exception: a retry would not mend it

    result = host.result(name)
    assert result["status"] == "rejected"
    assert result["code"] == "BadRequestImageFormat"
    assert result["message"]
    assert result["setAsideAs"] == f"_rejected/{name}"
    assert not host.exists(name)
    assert host.container.download_blob(f"_rejected/{name}").readall() == broken
    assert json.loads(host.container.download_blob(f"_rejected/{name}.result.json").readall()) == result
    assert host.images(project_id) == []
    assert host.tag_names(project_id) == {}  # no tag made for an image that was refused
    # A late second delivery of the moved blob changes nothing.
    host.deliver(name, broken)
    assert host.result(name) == result


def test_an_unknown_project_and_a_file_outside_any_project(host: DropHost, hemlock_images: list[Path]) -> None:
    data = jpeg_bytes(hemlock_images[2])
    host.put("no-such-project/tag/x.jpg", data)
    result = host.result("no-such-project/tag/x.jpg")
    assert (result["status"], result["code"]) == ("rejected", "NotFoundProject")
    assert "no-such-project" in result["message"]
    assert host.exists("_rejected/no-such-project/tag/x.jpg")

    host.put("loose.jpg", data)
    assert host.result("loose.jpg")["status"] == "rejected"
    assert host.exists("_rejected/loose.jpg")


def test_the_files_it_writes_are_not_ingested(host: DropHost, hemlock_images: list[Path]) -> None:
    project_id, project_name = new_project(host)
    host.put(f"{project_name}/a.jpg", jpeg_bytes(hemlock_images[3]))
    result_name = f"{project_name}/a.jpg.result.json"
    # The trigger fires for the result blob the function wrote: it must not answer it.
    host.deliver(result_name, host.container.download_blob(result_name).readall())
    assert not host.exists(f"{result_name}.result.json")
    assert not host.exists(f"_rejected/{result_name}")
    assert len(host.images(project_id)) == 1


# --- annotations (object detection) ---------------------------------------------------------------


def regions_of(host: DropHost, project_id: str, image_id: str) -> list[tuple[str, float, float, float, float]]:
    tags = host.tag_names(project_id)
    image = host.services.images.get_image(project_id, image_id)
    return sorted((tags[r.tag_id], r.left, r.top, r.width, r.height) for r in image.regions)


def size_of(path: Path) -> tuple[int, int]:
    from PIL import Image as PilImage

    with PilImage.open(path) as img:
        return img.size


FORK = DETECTION_IMAGES / "fork" / "fork_1.jpg"
SCISSORS = DETECTION_IMAGES / "scissors" / "scissors_1.jpg"


def test_coco_before_its_images(host: DropHost) -> None:
    project_id, project_name = new_project(host, detection=True)
    (fw, fh), (sw, sh) = size_of(FORK), size_of(SCISSORS)
    coco = {
        "images": [
            {"id": 1, "file_name": "train/fork_1.jpg", "width": fw, "height": fh},
            {"id": 2, "file_name": "scissors_1.jpg", "width": sw, "height": sh},
        ],
        "categories": [{"id": 7, "name": "fork"}, {"id": 8, "name": "scissors"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 7, "bbox": [fw * 0.25, fh * 0.5, fw * 0.5, fh * 0.25]},
            {"id": 2, "image_id": 2, "category_id": 8, "bbox": [0, 0, sw * 0.5, sh * 0.5]},
        ],
    }
    host.put(f"{project_name}/labels.json", json.dumps(coco).encode())
    waiting = host.result(f"{project_name}/labels.json")
    assert waiting["status"] == "waiting"
    assert sorted(waiting["waitingFor"]) == ["fork_1.jpg", "scissors_1.jpg"]

    host.put(f"{project_name}/fork_1.jpg", FORK.read_bytes())
    fork = host.result(f"{project_name}/fork_1.jpg")
    assert fork["status"] == "ok"
    assert regions_of(host, project_id, fork["imageId"]) == [("fork", 0.25, 0.5, 0.5, 0.25)]
    assert host.result(f"{project_name}/labels.json")["waitingFor"] == ["scissors_1.jpg"]

    host.put(f"{project_name}/scissors_1.jpg", SCISSORS.read_bytes())
    scissors = host.result(f"{project_name}/scissors_1.jpg")
    assert regions_of(host, project_id, scissors["imageId"]) == [("scissors", 0.0, 0.0, 0.5, 0.5)]
    done = host.result(f"{project_name}/labels.json")
    assert done["status"] == "ok"
    assert done["appliedTo"] == {
        f"{project_name}/fork_1.jpg": fork["imageId"],
        f"{project_name}/scissors_1.jpg": scissors["imageId"],
    }


def voc_xml(file_name: str, size: tuple[int, int], tag: str, box: tuple[float, float, float, float]) -> bytes:
    x1, y1, x2, y2 = box
    return (
        f"<annotation><filename>{file_name}</filename><size><width>{size[0]}</width><height>{size[1]}</height>"
        f"<depth>3</depth></size><object><name>{tag}</name><bndbox><xmin>{x1}</xmin><ymin>{y1}</ymin>"
        f"<xmax>{x2}</xmax><ymax>{y2}</ymax></bndbox></object></annotation>"
    ).encode()


def test_pascal_voc_before_and_after_its_image(host: DropHost) -> None:
    project_id, project_name = new_project(host, detection=True)
    w, h = size_of(FORK)
    host.put(f"{project_name}/fork_1.xml", voc_xml("fork_1.jpg", (w, h), "fork", (0, 0, w / 2, h / 4)))
    assert host.result(f"{project_name}/fork_1.xml")["status"] == "waiting"
    host.put(f"{project_name}/utensils/fork_1.jpg", FORK.read_bytes())  # in a tag folder too
    fork = host.result(f"{project_name}/utensils/fork_1.jpg")
    assert regions_of(host, project_id, fork["imageId"]) == [("fork", 0.0, 0.0, 0.5, 0.25)]
    assert host.result(f"{project_name}/fork_1.xml")["status"] == "ok"

    # The other order: the image first, then its VOC file (boxes past the edge are clipped).
    sw, sh = size_of(SCISSORS)
    host.put(f"{project_name}/scissors_1.jpg", SCISSORS.read_bytes())
    host.put(f"{project_name}/scissors_1.xml", voc_xml("x.jpg", (sw, sh), "scissors", (sw / 2, sh / 2, sw * 2, sh)))
    scissors = host.result(f"{project_name}/scissors_1.jpg")
    assert regions_of(host, project_id, scissors["imageId"]) == [("scissors", 0.5, 0.5, 0.5, 0.5)]
    assert host.result(f"{project_name}/scissors_1.xml")["appliedTo"] == {
        f"{project_name}/scissors_1.jpg": scissors["imageId"]
    }


def test_yolo_labels_before_the_class_names_and_the_image(host: DropHost) -> None:
    project_id, project_name = new_project(host, detection=True)
    host.put(f"{project_name}/fork_1.txt", b"1 0.5 0.5 0.5 0.5\n0 0.25 0.25 0.5 0.5\n")
    label = host.result(f"{project_name}/fork_1.txt")
    assert label["status"] == "waiting"
    assert "classes.txt" in label["message"]
    host.put(f"{project_name}/data.yaml", b"nc: 2\nnames: ['knife', 'fork']\n")
    assert host.result(f"{project_name}/data.yaml")["status"] == "ok"
    assert host.result(f"{project_name}/fork_1.txt")["waitingFor"] == ["fork_1"]

    host.put(f"{project_name}/fork_1.jpg", FORK.read_bytes())
    fork = host.result(f"{project_name}/fork_1.jpg")
    assert regions_of(host, project_id, fork["imageId"]) == [
        ("fork", 0.25, 0.25, 0.5, 0.5),
        ("knife", 0.0, 0.0, 0.5, 0.5),
    ]
    assert host.result(f"{project_name}/fork_1.txt")["status"] == "ok"


def test_a_malformed_annotation_is_set_aside(host: DropHost) -> None:
    _, project_name = new_project(host, detection=True)
    host.put(f"{project_name}/broken.json", b'{"images": [}')
    result = host.result(f"{project_name}/broken.json")
    assert result["status"] == "rejected"
    assert "not valid JSON" in result["message"]
    assert host.exists(f"_rejected/{project_name}/broken.json")


def test_an_annotation_file_in_a_classification_project_is_set_aside(host: DropHost) -> None:
    _, project_name = new_project(host)
    host.put(f"{project_name}/boxes.xml", voc_xml("a.jpg", (10, 10), "a", (0, 0, 5, 5)))
    result = host.result(f"{project_name}/boxes.xml")
    assert result["status"] == "rejected"
    assert "object detection" in result["message"]
