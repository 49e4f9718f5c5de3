"""`cvstudio export` and `cvstudio import`: a project's dataset between a folder and a server.

Both go through the server's dataset route (``.../projects/{id}/dataset?format=``, a cvstudio
extension), so the server's parser and writer are the one source of truth. ``export`` unpacks the
zip it answers into a folder. ``import`` first reads the folder with the same parsers (a malformed
file is named before anything is sent), then sends it in parts that fit the server's body limit
for a batch of images (``MAX_BATCH_IMAGES`` images, at most the default body limit), each part
written again in the same format by the format's writer.
"""

from __future__ import annotations

import io
import posixpath
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.client.http import ApiClient
from shared.domain.limits import DEFAULT_MAX_FILE_BATCH_BODY_BYTES, MAX_BATCH_IMAGES
from shared.formats import datasets, yolo
from shared.formats.boxes import AnnotationError

__all__ = ["DatasetTransferError", "ImportReport", "export_dataset", "find_project", "import_dataset"]

# Room in each part for the annotations and the zip's own headers.
_PART_BYTES = DEFAULT_MAX_FILE_BATCH_BODY_BYTES - 1024 * 1024
_TASK_TYPES = {"classification": "Classification", "detection": "ObjectDetection"}


class DatasetTransferError(Exception):
    """Something the user can act on (a project not found, a folder that is not a dataset)."""


@dataclass
class ImportReport:
    project_name: str
    created_project: bool
    images: int = 0
    stored: int = 0
    duplicates: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)  # (path, status)
    created_tags: list[str] = field(default_factory=list)


def find_project(client: ApiClient, ref: str) -> dict[str, Any] | None:
    """The project with this id, or else this name (case-insensitive), or None."""
    projects: list[dict[str, Any]] = client.json("GET", "projects")
    for project in projects:
        if str(project.get("id", "")).casefold() == ref.casefold():
            return project
    for project in projects:
        if str(project.get("name", "")).casefold() == ref.casefold():
            return project
    return None


def export_dataset(client: ApiClient, project_ref: str, fmt: str, out: Path) -> tuple[str, int]:
    """Unpack the project's dataset in ``fmt`` into ``out``; returns the project's name and the image count."""
    project = find_project(client, project_ref)
    if project is None:
        raise DatasetTransferError(f"There is no project named '{project_ref}' (or with that id) on the server.")
    response = client.request("GET", f"projects/{project['id']}/dataset", params={"format": fmt})
    images = 0
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        root = out.resolve()
        for info in archive.infolist():
            relative = posixpath.normpath(info.filename)
            target = (root / relative).resolve()
            if info.is_dir() or relative.startswith(("../", "/")) or not target.is_relative_to(root):
                continue  # never written outside the folder
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(archive.read(info))
            images += datasets.is_image_file(relative)
    return str(project["name"]), images


class _Folder(Mapping[str, bytes]):
    """A folder's files by '/'-separated relative path, read when asked for (hidden files left out)."""

    def __init__(self, root: Path) -> None:
        self._root = root
        self._paths = sorted(
            p.relative_to(root).as_posix()
            for p in root.rglob("*")
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
        )
        self._known = set(self._paths)

    def __getitem__(self, path: str) -> bytes:
        if path not in self._known:
            raise KeyError(path)
        return (self._root / path).read_bytes()

    def __iter__(self) -> Iterator[str]:
        return iter(self._paths)

    def __len__(self) -> int:
        return len(self._paths)

    def size(self, path: str) -> int:
        return (self._root / path).stat().st_size


def _task_of(fmt: str, files: Mapping[str, bytes]) -> str:
    """Whether a dataset holds boxes (detection) or image labels (classification), for a new project."""
    if fmt == "yolo":
        names = [posixpath.basename(p).casefold() for p in files]
        return "detection" if any(n.endswith(".txt") or n in yolo.CLASS_FILES for n in names) else "classification"
    try:
        datasets.read(fmt, files, classification=False)
        return "detection"
    except AnnotationError as first:
        try:
            datasets.read(fmt, files, classification=True)
        except AnnotationError:
            raise first from None
        return "classification"


def _create_project(client: ApiClient, name: str, task: str, domain: str | None) -> dict[str, Any]:
    if domain is None:
        wanted = _TASK_TYPES[task]
        domains: list[dict[str, Any]] = client.json("GET", "domains")
        typed = [d for d in domains if d.get("type") == wanted]
        general = [d for d in typed if d.get("name") == "General"] or typed
        if not general:
            raise DatasetTransferError(f"The server offers no {wanted} domain.")
        domain = str(general[0]["id"])
    project: dict[str, Any] = client.json("POST", "projects", params={"name": name, "domainId": domain})
    return project


def _parts(
    images: Sequence[datasets.DatasetImage], size: Callable[[str], int]
) -> Iterator[list[datasets.DatasetImage]]:
    part: list[datasets.DatasetImage] = []
    total = 0
    for image in images:
        bytes_ = size(image.path)
        if part and (len(part) >= MAX_BATCH_IMAGES or total + bytes_ > _PART_BYTES):
            yield part
            part, total = [], 0
        part.append(image)
        total += bytes_
    if part:
        yield part


def _zip(layout: Mapping[str, str | bytes], files: Mapping[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path, content in layout.items():
            if isinstance(content, bytes):
                archive.writestr(path, content, zipfile.ZIP_DEFLATED)
            else:
                archive.writestr(path, files[content], zipfile.ZIP_STORED)
    return buffer.getvalue()


def import_dataset(
    client: ApiClient,
    folder: Path,
    fmt: str,
    project_ref: str,
    *,
    domain: str | None = None,
    progress: Callable[[int, int], None] = lambda done, total: None,
) -> ImportReport:
    """Import the dataset in ``folder`` (in ``fmt``) into the project (created when there is none)."""
    if fmt not in datasets.FORMATS:
        raise DatasetTransferError(f"Unknown format '{fmt}': use one of {', '.join(datasets.FORMATS)}.")
    if not folder.is_dir():
        raise DatasetTransferError(f"{folder} is not a folder.")
    files = _Folder(folder)
    project = find_project(client, project_ref)
    created = project is None
    if project is None:
        project = _create_project(client, project_ref, _task_of(fmt, files), domain)
    domains: list[dict[str, Any]] = client.json("GET", "domains")
    kind = next((d.get("type") for d in domains if d.get("id") == project.get("settings", {}).get("domainId")), None)
    classification = kind != "ObjectDetection"
    images = datasets.read(fmt, files, classification=classification)
    if not images:
        raise DatasetTransferError(f"{folder} holds no image (.jpg, .jpeg, .png, .bmp, .gif).")
    tags = list(dict.fromkeys(t for i in images for t in (*i.labels, *(b.tag for b in i.boxes))))
    report = ImportReport(str(project["name"]), created, images=len(images))
    done = 0
    for part in _parts(images, files.size):
        layout = datasets.write(fmt, part, tags, classification=classification)
        answer: dict[str, Any] = client.json(
            "POST",
            f"projects/{project['id']}/dataset",
            params={"format": fmt},
            content=_zip(layout, files),
            headers={"Content-Type": "application/zip"},
        )
        for result in answer.get("images", []):
            status = str(result.get("status"))
            if status == "OK":
                report.stored += 1
            elif status == "OKDuplicate":
                report.duplicates += 1
            else:
                report.failures.append((str(result.get("sourceUrl")), status))
        report.created_tags += [t for t in answer.get("createdTags", []) if t not in report.created_tags]
        done += len(part)
        progress(done, len(images))
    return report
