"""Datasets in COCO, Pascal VOC, YOLO and CSV through a real server: `cvstudio export` and `cvstudio import`
as a user runs them (subprocesses), and the dataset route (a cvstudio extension) as a client calls it.

A detection project is filled from the ObjectDetection quickstart (regions from its metadata), exported
in each format and imported into a new project: the same image bytes, tags and boxes (within the formats'
rounding) arrive. A classification project goes through YOLO's folders and COCO's image-level labels.
Malformed datasets are answered 400 in Custom Vision's error shape, naming the file, line or field.
The embedded store only: the route adds no store path the image API's tests do not cover on both.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import subprocess
import sys
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.servers import TRAINING_KEY, RunningServer, start_server

API = "/customvision/v3.4-preview/training"
KEY = {"Training-Key": TRAINING_KEY}
FORMATS = ("coco", "voc", "yolo", "csv")
# A box in pixels (three decimals) and back, or YOLO's six normalised decimals: well inside this.
BOX_TOLERANCE = 2e-3


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("datasets") / "data")
    yield running
    running.stop()


@pytest.fixture(scope="module")
def client(server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.endpoint, headers=KEY, timeout=60) as http:
        yield http


def domain_id(http: httpx.Client, kind: str) -> str:
    domains = http.get(f"{API}/domains").json()
    return str(next(d["id"] for d in domains if d["type"] == kind and d["name"] == "General"))


def new_project(http: httpx.Client, kind: str) -> dict[str, Any]:
    name = f"ds-{uuid.uuid4().hex[:8]}"
    reply = http.post(f"{API}/projects", params={"name": name, "domainId": domain_id(http, kind)})
    assert reply.status_code == 200, reply.text
    project: dict[str, Any] = reply.json()
    return project


def new_tags(http: httpx.Client, project_id: str, names: list[str]) -> dict[str, str]:
    tags = {}
    for name in names:
        reply = http.post(f"{API}/projects/{project_id}/tags", params={"name": name})
        assert reply.status_code == 200, reply.text
        tags[name] = reply.json()["id"]
    return tags


def upload(http: httpx.Client, project_id: str, images: list[dict[str, Any]]) -> None:
    reply = http.post(f"{API}/projects/{project_id}/images/files", json={"images": images})
    assert reply.status_code == 200, reply.text


def find_project(http: httpx.Client, name: str) -> dict[str, Any]:
    return next(p for p in http.get(f"{API}/projects").json() if p["name"] == name)


def contents(http: httpx.Client, project_id: str) -> dict[str, tuple[frozenset[str], list[tuple[Any, ...]]]]:
    """Each image by its bytes' digest: its image tags and its boxes (tag, left, top, width, height), sorted."""
    images = http.get(f"{API}/projects/{project_id}/images", params={"take": 256}).json()
    found = {}
    for image in images:
        digest = hashlib.sha256(http.get(image["originalImageUri"]).content).hexdigest()
        tags = frozenset(t["tagName"] for t in image.get("tags") or [])
        boxes = sorted((r["tagName"], r["left"], r["top"], r["width"], r["height"]) for r in image.get("regions") or [])
        found[digest] = (tags if not boxes else frozenset(), boxes)
    return found


def assert_same(got: dict[str, Any], want: dict[str, Any]) -> None:
    assert got.keys() == want.keys()
    for digest, (tags, boxes) in want.items():
        got_tags, got_boxes = got[digest]
        assert got_tags == tags
        assert len(got_boxes) == len(boxes)
        for a, b in zip(got_boxes, boxes, strict=True):
            assert a[0] == b[0]
            assert a[1:] == pytest.approx(b[1:], abs=BOX_TOLERANCE)


def cvstudio(server: RunningServer, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CVSTUDIO_")}
    env.update(CVSTUDIO_ENDPOINT=server.endpoint, CVSTUDIO_TRAINING_KEY=TRAINING_KEY)
    return subprocess.run(
        [sys.executable, "-m", "shared.cli", *args], env=env, capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def detector(
    client: httpx.Client, detection_regions: dict[str, dict[str, Any]], detection_images_dir: Path
) -> dict[str, Any]:
    """A detection project with some of the quickstart's images (five a tag) and their regions (its metadata's)."""
    project = new_project(client, "ObjectDetection")
    tags = new_tags(client, project["id"], sorted({str(r["tag"]) for r in detection_regions.values()}))
    entries = [
        {
            "name": path,
            "contents": base64.b64encode((detection_images_dir / path).read_bytes()).decode(),
            "regions": [{"tagId": tags[str(r["tag"])], **{k: r[k] for k in ("left", "top", "width", "height")}}],
        }
        for path, r in sorted(detection_regions.items())
        if path.split("/")[0] in ("fork", "scissors") and int(path.split("_")[-1].split(".")[0]) <= 5
    ]
    assert len(entries) == 10
    upload(client, project["id"], entries)
    return project


@pytest.mark.parametrize("fmt", FORMATS)
def test_detection_round_trip_through_the_cli(
    fmt: str, server: RunningServer, client: httpx.Client, detector: dict[str, Any], tmp_path: Path
) -> None:
    out = tmp_path / fmt
    exported = cvstudio(server, "export", detector["name"], "--format", fmt, "--out", str(out))
    assert exported.returncode == 0, exported.stderr
    want = contents(client, detector["id"])
    assert f"Exported {len(want)} images" in exported.stdout
    layout = {"coco": "annotations.json", "voc": "Annotations", "yolo": "classes.txt", "csv": "annotations.csv"}
    assert (out / layout[fmt]).exists()
    if fmt == "coco":  # the standard reader loads it
        from pycocotools.coco import COCO

        coco = COCO(str(out / "annotations.json"))
        assert len(coco.getImgIds()) == len(want)
        assert {c["name"] for c in coco.loadCats(coco.getCatIds())} == {"fork", "scissors"}

    name = f"copy-{fmt}-{uuid.uuid4().hex[:6]}"
    imported = cvstudio(server, "import", str(out), "--format", fmt, "--project", name)
    assert imported.returncode == 0, imported.stderr
    assert f"{len(want)} new" in imported.stdout and "(created)" in imported.stdout
    copy = find_project(client, name)
    assert_same(contents(client, copy["id"]), want)


@pytest.fixture(scope="module")
def classifier(client: httpx.Client, hemlock_images: list[Path], cherry_images: list[Path]) -> dict[str, Any]:
    project = new_project(client, "Classification")
    tags = new_tags(client, project["id"], ["Hemlock", "Japanese Cherry"])
    entries = [
        {"name": p.name, "contents": base64.b64encode(p.read_bytes()).decode(), "tagIds": [tags[tag]]}
        for tag, images in (("Hemlock", hemlock_images[:3]), ("Japanese Cherry", cherry_images[:3]))
        for p in images
    ]
    entries.append({"name": "untagged.jpg", "contents": base64.b64encode(cherry_images[3].read_bytes()).decode()})
    upload(client, project["id"], entries)
    return project


def test_classification_round_trip_through_yolo_folders(
    server: RunningServer, client: httpx.Client, classifier: dict[str, Any], tmp_path: Path
) -> None:
    out = tmp_path / "yolo"
    assert cvstudio(server, "export", classifier["name"], "--format", "yolo", "--out", str(out)).returncode == 0
    assert len(list((out / "train" / "Hemlock").iterdir())) == 3  # a folder per class
    name = f"cls-{uuid.uuid4().hex[:6]}"
    imported = cvstudio(server, "import", str(out), "--format", "yolo", "--project", name)
    assert imported.returncode == 0, imported.stderr
    copy = find_project(client, name)
    assert copy["settings"]["domainId"] == classifier["settings"]["domainId"]  # a classification project
    assert_same(contents(client, copy["id"]), contents(client, classifier["id"]))


def test_classification_round_trip_through_the_route_in_coco(client: httpx.Client, classifier: dict[str, Any]) -> None:
    reply = client.get(f"{API}/projects/{classifier['id']}/dataset", params={"format": "coco"})
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(reply.content)) as archive:
        document = json.loads(archive.read("annotations.json"))
    assert all("bbox" not in a for a in document["annotations"])  # image-level labels
    copy = new_project(client, "Classification")
    imported = client.post(f"{API}/projects/{copy['id']}/dataset", params={"format": "coco"}, content=reply.content)
    assert imported.status_code == 200, imported.text
    summary = imported.json()
    assert summary["isBatchSuccessful"] and len(summary["images"]) == 7
    assert sorted(summary["createdTags"]) == ["Hemlock", "Japanese Cherry"]
    assert {i["status"] for i in summary["images"]} == {"OK"}
    assert_same(contents(client, copy["id"]), contents(client, classifier["id"]))


def zipped(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("fmt", "files", "named"),
    [
        ("coco", None, "not a zip"),
        ("bmp", {}, "Unknown dataset format 'bmp'"),
        ("coco", {"images/a.jpg": b"IMAGE"}, "no COCO annotation file"),
        (
            "coco",
            {
                "images/a.jpg": b"IMAGE",
                "annotations.json": json.dumps(
                    {
                        "images": [{"id": 1, "file_name": "a.jpg", "width": 10, "height": 10}],
                        "categories": [{"id": 1, "name": "fork"}],
                        "annotations": [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 4]}],
                    }
                ).encode(),
            },
            "annotations.json: Annotation 1: bbox must be",
        ),
        (
            "csv",
            {
                "images/a.jpg": b"IMAGE",
                "annotations.csv": b"filename,width,height,class,xmin,ymin,xmax,ymax\na.jpg,10,10,fork,1,x,5,5\n",
            },
            "annotations.csv: Line 2, column 'ymin'",
        ),
        ("voc", {"JPEGImages/a.jpg": b"IMAGE", "Annotations/a.xml": b"<annotation><size>"}, "Annotations/a.xml: "),
        ("yolo", {"images/a.jpg": b"IMAGE", "labels/a.txt": b"0 0.5 0.5 0.2 0.2\n"}, "labels/a.txt: the class names"),
        (
            "yolo",
            {"images/a.jpg": b"IMAGE", "classes.txt": b"fork\n", "labels/b.txt": b"0 0.5 0.5 0.2 0.2\n"},
            "names the image 'b'",
        ),
    ],
)
def test_malformed_datasets_are_refused_naming_the_fault(
    client: httpx.Client, detector: dict[str, Any], fmt: str, files: dict[str, bytes] | None, named: str
) -> None:
    project = new_project(client, "ObjectDetection")
    body = b"PK not really a zip" if files is None else zipped(files)
    reply = client.post(f"{API}/projects/{project['id']}/dataset", params={"format": fmt}, content=body)
    assert reply.status_code == 400, reply.text
    assert reply.json()["code"].startswith("BadRequest") and named in reply.json()["message"]
    assert client.get(f"{API}/projects/{project['id']}/images/count").json() == 0


def test_export_refuses_an_unknown_format_and_project(client: httpx.Client, detector: dict[str, Any]) -> None:
    reply = client.get(f"{API}/projects/{detector['id']}/dataset", params={"format": "pascal"})
    assert reply.status_code == 400 and "Unknown dataset format" in reply.json()["message"]
    missing = client.get(f"{API}/projects/{uuid.uuid4()}/dataset", params={"format": "coco"})
    assert missing.status_code == 404 and missing.json()["code"] == "NotFoundProject"


def test_the_cli_names_a_malformed_file_before_sending_anything(
    server: RunningServer, client: httpx.Client, tmp_path: Path, detection_images_dir: Path
) -> None:
    (tmp_path / "JPEGImages").mkdir()
    (tmp_path / "Annotations").mkdir()
    (tmp_path / "JPEGImages" / "fork_1.jpg").write_bytes((detection_images_dir / "fork" / "fork_1.jpg").read_bytes())
    (tmp_path / "Annotations" / "fork_1.xml").write_text(
        "<annotation><size><width>10</width><height>10</height></size>"
        "<object><name>fork</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>one</xmax><ymax>5</ymax></bndbox>"
        "</object></annotation>"
    )
    name = f"bad-{uuid.uuid4().hex[:6]}"
    result = cvstudio(server, "import", str(tmp_path), "--format", "voc", "--project", name)
    assert result.returncode == 1
    assert "Annotations/fork_1.xml: Object 1: <xmax> must be a number" in result.stderr
    assert all(p["name"] != name for p in client.get(f"{API}/projects").json())  # nothing created


def test_the_route_is_documented_as_an_extension(client: httpx.Client) -> None:
    document = client.get("/openapi.json").json()
    operations = document["paths"]["/customvision/v3.4-preview/training/projects/{projectId}/dataset"]
    assert operations["get"]["x-cvstudio-extension"] and operations["post"]["x-cvstudio-extension"]
    assert "application/octet-stream" in operations["post"]["requestBody"]["content"]
    assert operations["get"]["parameters"][-1]["schema"]["enum"] == ["coco", "voc", "yolo", "csv"]
    assert {"400", "404", "413"} <= operations["post"]["responses"].keys()
