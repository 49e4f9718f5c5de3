"""``export_project`` on one cvstudio, ``import_project`` on another, through the official SDK.

Two real servers: the source holds the detection quickstart (forks and scissors, with their boxes),
a Negative-tagged image, tag descriptions and image metadata; the importer gets all of it (bytes
compared by hash), answers ``Importing`` at once and ``Succeeded`` when done; a bad token is
Custom Vision's ``BadRequestInvalidImportToken``; and an importer killed with ``kill -9`` in the
middle of an import finishes it after a restart, with no image twice.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from azure.cognitiveservices.vision.customvision.training import CustomVisionTrainingClient
from azure.cognitiveservices.vision.customvision.training.models import (
    ImageFileCreateBatch,
    ImageFileCreateEntry,
    Project,
    Region,
)

from shared.contracts.project_package import ImportToken, ProjectPackage
from shared.domain.errors import BadRequest
from shared.domain.versioning import ContractVersionError
from tests.sdk.helpers import cv_error, training_client, unique
from tests.servers import RunningServer, start_server

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "custom-vision-samples" / "ObjectDetection"
INVALID_TOKEN = "BadRequestInvalidImportToken"
PER_TAG = 12  # images of each tag: a few dozen in all keeps the copies quick
COMPACT_DETECTION = "a27d5ca5-bb19-49d8-a70a-fec086c47f5b"  # General (compact): settings worth copying


@dataclass
class Source:
    server: RunningServer
    client: CustomVisionTrainingClient
    project: Project
    image_count: int
    region_count: int
    contents: dict[str, object]  # what the importers must end up with (see _snapshot)


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Source]:
    server = start_server(tmp_path_factory.mktemp("transfer-source") / "data")
    client = training_client(server.endpoint)
    try:
        project = client.create_project(
            unique("Cutlery"),
            description="forks and scissors",
            domain_id=COMPACT_DETECTION,
            classification_type="Multilabel",
            target_export_platforms=["ONNX"],
        )
        tags = {name: client.create_tag(project.id, name, description=f"a {name}") for name in ("fork", "scissors")}
        negative = client.create_tag(project.id, "nothing", description="no cutlery", type="Negative")
        every = json.loads((SAMPLES / "regions.json").read_text())
        regions = {name: box for name, box in every.items() if int(name.rsplit("_", 1)[1].split(".")[0]) <= PER_TAG}
        assert len(regions) == 2 * PER_TAG
        entries = [
            ImageFileCreateEntry(
                name=name,
                contents=(SAMPLES / "Images" / name).read_bytes(),
                regions=[
                    Region(
                        tag_id=tags[box["tag"]].id,
                        left=box["left"],
                        top=box["top"],
                        width=box["width"],
                        height=box["height"],
                    )
                ],
            )  # fmt: skip
            for name, box in regions.items()
        ]
        for start in range(0, len(entries), 64):
            batch = client.create_images_from_files(
                project.id, ImageFileCreateBatch(images=entries[start : start + 64])
            )
            assert batch.is_batch_successful
        empty = (SAMPLES / "Images" / "test" / "test_image.jpg").read_bytes()
        assert client.create_images_from_data(project.id, empty, tag_ids=[negative.id]).is_batch_successful
        images = client.get_images(project.id, take=256)
        client.update_image_metadata(
            project.id,
            [i.id for i in images[:5]],
            {"source": "quickstart", "shelf": "top"},
        )
        contents = _snapshot(client, project.id)
        labelled = contents["images"].values()  # type: ignore[attr-defined]
        assert sum(1 for _, _, metadata in labelled if metadata) == 5  # the metadata is there to be copied
        yield Source(server, client, project, len(regions) + 1, len(regions), contents)
    finally:
        client.close()
        server.stop()


@dataclass
class Importer:
    server: RunningServer  # replaced when a test restarts it

    @property
    def endpoint(self) -> str:
        return self.server.endpoint


# One image at a time, so that a kill lands in the middle of an import.
SLOW = {"CVSTUDIO_URL_DOWNLOAD_THREADS": "1"}


@pytest.fixture(scope="module")
def importer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Importer]:
    held = Importer(start_server(tmp_path_factory.mktemp("transfer-target") / "data", extra_env=SLOW))
    yield held
    held.server.stop()


def _wait_imported(client: CustomVisionTrainingClient, project_id: str, timeout: float = 60) -> Project:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        project = client.get_project(project_id)
        if project.status != "Importing":
            return project
        time.sleep(0.2)
    raise AssertionError(f"the import of {project_id} did not finish in {timeout} s")


def _snapshot(client: CustomVisionTrainingClient, project_id: str) -> dict[str, object]:
    """What a user would compare: tags, and each image's bytes (by hash) with its labels and metadata."""
    tags = {t.id: t for t in client.get_tags(project_id)}
    images = {}
    with httpx.Client(timeout=10) as http:
        originals = {i.id: (i, http.get(i.original_image_uri).content) for i in client.get_images(project_id, take=256)}
    for image, data in originals.values():
        regions = sorted(
            (tags[r.tag_id].name, round(r.left, 6), round(r.top, 6), round(r.width, 6), round(r.height, 6))
            for r in image.regions or ()
        )
        image_tags = sorted(tags[t.tag_id].name for t in image.tags or ())
        images[hashlib.sha256(data).hexdigest()] = (regions, image_tags, dict(image.metadata or {}))
    return {
        "tags": sorted((t.name, t.description, t.type, t.image_count) for t in tags.values()),
        "images": images,
    }


def test_a_project_exported_from_one_server_imports_into_another(source: Source, importer: Importer) -> None:
    exported = source.client.export_project(source.project.id)
    assert (exported.image_count, exported.tag_count, exported.region_count) == (
        source.image_count,
        3,
        source.region_count,
    )
    assert exported.iteration_count == 0  # iterations are retrained, as in Custom Vision
    assert exported.estimated_import_time_in_ms > 0
    assert exported.token

    client = training_client(importer.endpoint)
    imported = client.import_project(exported.token, name="Cutlery, imported")
    assert imported.name == "Cutlery, imported"
    assert imported.status == "Importing"  # answered at once, filled in the background
    assert imported.description == "forks and scissors"
    settings = imported.settings
    assert (settings.domain_id, settings.classification_type, settings.target_export_platforms) == (
        COMPACT_DETECTION,
        "Multilabel",
        ["ONNX"],
    )
    done = _wait_imported(client, imported.id)
    assert done.status == "Succeeded"

    got = _snapshot(client, imported.id)
    assert got == source.contents
    assert len(got["images"]) == source.image_count  # type: ignore[arg-type]
    assert client.get_iterations(imported.id) == []
    client.close()


def _tampered(token: str) -> str:
    """The same token naming the package with a forged signature (the source must refuse it)."""
    prefix, body = token.split(".", 1)
    raw = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    url: str = raw["package"]
    sig = url.rsplit("sig=", 1)[1]
    raw["package"] = url.replace(sig, ("0" if sig[0] != "0" else "1") + sig[1:])
    return prefix + "." + base64.urlsafe_b64encode(json.dumps(raw).encode()).decode().rstrip("=")


def test_a_bad_token_is_refused_in_custom_visions_words(source: Source, importer: Importer) -> None:
    token = source.client.export_project(source.project.id).token
    client = training_client(importer.endpoint)
    before = len(client.get_projects())
    for bad in ("not-a-token", token[:-7], _tampered(token)):
        with cv_error(INVALID_TOKEN, 400) as info:
            client.import_project(bad)
        assert "token" in info.value.error.message
    # A source that is gone: a valid token whose server no longer answers.
    raw = json.loads(base64.urlsafe_b64decode(token.split(".", 1)[1] + "=="))
    unreachable = raw["package"].replace(source.server.endpoint, "http://127.0.0.1:9")
    gone = "cvs1." + base64.urlsafe_b64encode(json.dumps({"package": unreachable}).encode()).decode().rstrip("=")
    with cv_error(INVALID_TOKEN, 400):
        client.import_project(gone)
    assert len(client.get_projects()) == before  # nothing was created for a refused token
    client.close()


def test_an_expired_token_and_a_newer_package_are_refused_plainly(source: Source) -> None:
    token = source.client.export_project(source.project.id).token
    found = ImportToken.decode(token)
    with pytest.raises(BadRequest) as info:
        ImportToken.decode(token, now=found.expires + 1)
    assert info.value.code == INVALID_TOKEN and "expired" in info.value.message
    package = httpx.get(found.package_url, timeout=10)
    newer = json.loads(package.content) | {"version": ProjectPackage.VERSION + 1}
    with pytest.raises(ContractVersionError, match="newer cvstudio"):
        ProjectPackage.from_json(json.dumps(newer))
    # The package link is the permission: without its signature it is refused.
    assert httpx.get(found.package_url.split("?")[0], timeout=10).status_code == 403


def test_an_import_killed_midway_finishes_after_a_restart_without_duplicates(
    source: Source, importer: Importer
) -> None:
    token = source.client.export_project(source.project.id).token
    client = training_client(importer.endpoint)
    project = client.import_project(token)
    assert project.name == source.project.name  # the source's name when none is given
    deadline = time.monotonic() + 20
    count = 0
    while time.monotonic() < deadline and count == 0:
        count = client.get_image_count(project.id)
        time.sleep(0.02)
    importer.server.stop(hard=True)  # kill -9
    assert 0 < count < source.image_count, f"the kill came at {count} images of {source.image_count}"

    port = int(importer.endpoint.rsplit(":", 1)[1])
    importer.server = start_server(importer.server.data_dir, extra_env=SLOW, port=port)
    done = _wait_imported(client, project.id)
    assert done.status == "Succeeded"
    assert _snapshot(client, project.id) == source.contents
    assert client.get_image_count(project.id) == source.image_count  # nothing twice
    client.close()
