"""A project's labelled images as a dataset zip in COCO, Pascal VOC, YOLO or CSV, and back.

The formats and their layouts are :mod:`shared.formats.datasets` (the drop folder reads with the
same parsers). Export writes every image's original bytes and the project's tags, boxes or
labels; import creates the tags the dataset names and the project lacks, and uploads the images
through :class:`~shared.services.image_uploads.ImageUploads` in batches of ``MAX_BATCH_IMAGES``,
so validation, limits and duplicate detection are the image API's own.

Custom Vision keeps no file names: an imported image's file name goes into its metadata
(``fileName``), and export names each image by it (else by the image id), so that a dataset
imported and exported again keeps its names.
"""

from __future__ import annotations

import io
import posixpath
import re
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import IO

from shared.domain.catalogue import domain_task
from shared.domain.entities import Image, Project, Tag
from shared.domain.enums import ImageCreateStatus, Task
from shared.domain.errors import BadRequest, Code
from shared.domain.labelling import RegionInput
from shared.domain.limits import MAX_BATCH_IMAGES, MAX_IMAGE_BYTES_TRAINING, MAX_METADATA_VALUE_LENGTH, MAX_TAKE
from shared.formats import datasets
from shared.formats.boxes import AnnotationError, Box, base_name, stem
from shared.services.image_labels import ImageLabels
from shared.services.image_query import ImageQuery
from shared.services.image_uploads import ImageUploads, NewImage
from shared.services.images import ImageService
from shared.services.projects import ProjectService
from shared.services.renditions import ORIGINAL
from shared.services.tags import TagService

__all__ = ["FILE_NAME_METADATA", "DatasetImport", "DatasetService", "ImportedImage"]

# The metadata key an imported image's file name is kept under (Custom Vision keeps no names).
FILE_NAME_METADATA = "fileName"
_EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "BMP": "bmp", "GIF": "gif"}
_SAFE_NAME = re.compile(r"^[^/\\\x00-\x1f]+$")
# Annotation text compresses well, images do not: a zip may hold this many times its own size.
_UNPACKED_PER_PACKED = 4


@dataclass(frozen=True)
class ImportedImage:
    """One image file of an imported dataset: its path in the zip, its upload status and image id."""

    path: str
    status: ImageCreateStatus
    image_id: str | None


@dataclass(frozen=True)
class DatasetImport:
    images: list[ImportedImage]
    created_tags: list[str]

    @property
    def is_batch_successful(self) -> bool:
        return all(i.status.stored for i in self.images)


def _format(fmt: str) -> str:
    if fmt not in datasets.FORMATS:
        raise BadRequest(
            f"Unknown dataset format '{fmt}': use one of {', '.join(datasets.FORMATS)}.", Code.BAD_REQUEST_INVALID
        )
    return fmt


class DatasetService:
    def __init__(
        self,
        projects: ProjectService,
        tags: TagService,
        images: ImageService,
        uploads: ImageUploads,
        labels: ImageLabels,
        *,
        max_archive_bytes: int,
    ) -> None:
        self._projects = projects
        self._tags = tags
        self._images = images
        self._uploads = uploads
        self._labels = labels
        self._max_unpacked = max_archive_bytes * _UNPACKED_PER_PACKED

    # -- export -----------------------------------------------------------------------------------

    def export(self, project_id: str, fmt: str, out: IO[bytes]) -> int:
        """Write the project's dataset in ``fmt`` as a zip into ``out``; returns the number of images."""
        _format(fmt)
        project = self._projects.get(project_id)
        classification = domain_task(project.domain_id) == Task.CLASSIFICATION
        tags = self._tags.by_id(project.id)
        images = list(self._all_images(project.id))
        names = _file_names(images, by_stem=fmt in ("voc", "yolo"))
        entries = [_entry(image, names[image.id], tags, classification) for image in images]
        layout = datasets.write(fmt, entries, [t.name for t in tags.values()], classification=classification)
        by_name = {names[image.id]: image.id for image in images}
        with zipfile.ZipFile(out, "w") as archive:
            for path, content in layout.items():
                if isinstance(content, bytes):
                    archive.writestr(path, content, zipfile.ZIP_DEFLATED)
                else:  # an image, by its file name: its bytes are read as they are written
                    data, _ = self._images.read_rendition(project.id, by_name[content], ORIGINAL)
                    archive.writestr(path, data, zipfile.ZIP_STORED)
        return len(images)

    def _all_images(self, project_id: str) -> Iterable[Image]:
        skip = 0
        while True:
            page = self._images.list_images(project_id, ImageQuery(newest_first=False, take=MAX_TAKE, skip=skip))
            yield from page
            if len(page) < MAX_TAKE:
                return
            skip += len(page)

    # -- import -----------------------------------------------------------------------------------

    def import_archive(self, project_id: str, fmt: str, archive: bytes) -> DatasetImport:
        """Import a dataset zip in ``fmt`` into the project: missing tags are created, images uploaded."""
        _format(fmt)
        project = self._projects.get(project_id)
        files = self._unpack(archive)
        classification = domain_task(project.domain_id) == Task.CLASSIFICATION
        found = datasets.read(fmt, files, classification=classification)
        if not found:
            raise AnnotationError("The dataset has no image (.jpg, .jpeg, .png, .bmp, .gif).")
        names = [t for image in found for t in (*image.labels, *(b.tag for b in image.boxes))]
        tag_ids, created = self._tag_ids(project, names)
        results: list[ImportedImage] = []
        for start in range(0, len(found), MAX_BATCH_IMAGES):
            batch = found[start : start + MAX_BATCH_IMAGES]
            items = [_new_image(image, files[image.path], tag_ids) for image in batch]
            summary = self._uploads.create_images(self._uploads.target(project.id), items)
            for image, outcome in zip(batch, summary.images, strict=True):
                stored = outcome.image if outcome.status.stored else None
                if stored is not None and outcome.status is ImageCreateStatus.OK:
                    self._keep_name(project.id, stored, image.file_name)
                results.append(ImportedImage(image.path, outcome.status, stored.id if stored else None))
        return DatasetImport(results, created)

    def _unpack(self, archive: bytes) -> dict[str, bytes]:
        """The zip's files by '/'-separated path (folders, hidden files and macOS resource forks skipped)."""
        try:
            zipped = zipfile.ZipFile(io.BytesIO(archive))
        except (zipfile.BadZipFile, ValueError):
            raise BadRequest("The body is not a zip archive of the dataset.", Code.BAD_REQUEST_INVALID) from None
        files: dict[str, bytes] = {}
        total = 0
        with zipped:
            for info in zipped.infolist():
                path = posixpath.normpath(info.filename.replace("\\", "/")).lstrip("/")
                parts = path.split("/")
                if info.is_dir() or any(p.startswith(".") or p == "__MACOSX" for p in parts):
                    continue
                limit = MAX_IMAGE_BYTES_TRAINING if datasets.is_image_file(path) else self._max_unpacked
                try:
                    with zipped.open(info) as member:
                        data = member.read(min(limit, self._max_unpacked - total) + 1)
                except (zipfile.BadZipFile, NotImplementedError, RuntimeError, OSError) as exc:
                    raise BadRequest(
                        f"{path}: the zip entry cannot be read ({exc}).", Code.BAD_REQUEST_INVALID
                    ) from None
                total += len(data)
                if total > self._max_unpacked:
                    raise BadRequest(
                        f"The dataset unpacks to more than {self._max_unpacked} bytes; import it in parts.",
                        Code.BAD_REQUEST_INVALID,
                    )
                if len(data) > limit:
                    raise BadRequest(
                        f"{path}: the image is larger than {MAX_IMAGE_BYTES_TRAINING // (1024 * 1024)} MB.",
                        Code.BAD_REQUEST_IMAGE_SIZE_BYTES,
                    )
                if path in files:
                    raise BadRequest(f"{path}: the zip holds this file twice.", Code.BAD_REQUEST_INVALID)
                files[path] = data
        return files

    def _tag_ids(self, project: Project, names: Iterable[str]) -> tuple[dict[str, str], list[str]]:
        """Tag ids by case-folded name for every name given (a missing tag is created), and the created names."""
        by_name = {_key(t.name): t for t in self._tags.all(project.id)}
        created: list[str] = []
        for name in dict.fromkeys(n.strip() for n in names):
            if _key(name) not in by_name:
                try:
                    by_name[_key(name)] = self._tags.create(project.id, name).tag
                except BadRequest as exc:
                    raise BadRequest(f"The tag '{name}' cannot be created: {exc.message}", exc.code) from None
                created.append(name)
        return {key: tag.id for key, tag in by_name.items()}, created

    def _keep_name(self, project_id: str, image: Image, file_name: str) -> None:
        if len(file_name) <= MAX_METADATA_VALUE_LENGTH and image.metadata.get(FILE_NAME_METADATA) != file_name:
            self._labels.update_metadata(project_id, [image.id], {FILE_NAME_METADATA: file_name})


def _new_image(image: datasets.DatasetImage, data: bytes, tag_ids: Mapping[str, str]) -> NewImage:
    return NewImage(
        image.path,
        data,
        tag_ids=[tag_ids[_key(t)] for t in image.labels],
        regions=[RegionInput(tag_ids[_key(b.tag)], b.left, b.top, b.width, b.height) for b in image.boxes],
    )


def _file_names(images: Sequence[Image], *, by_stem: bool) -> dict[str, str]:
    """Each image's file name in the export: its kept ``fileName`` when safe and unique, else its id."""
    names: dict[str, str] = {}
    taken: set[str] = set()
    extension = {image.id: _EXTENSIONS.get(image.format.upper(), "jpg") for image in images}

    def key(name: str) -> str:
        return (stem(name) if by_stem else name).casefold()

    for image in images:
        kept = image.metadata.get(FILE_NAME_METADATA, "")
        if kept and _SAFE_NAME.match(kept) and base_name(kept) == kept and stem(kept) and key(kept) not in taken:
            names[image.id] = kept
            taken.add(key(kept))
    for image in images:
        if image.id not in names:
            name = f"{image.id}.{extension[image.id]}"
            names[image.id] = name
            taken.add(key(name))
    return names


def _entry(image: Image, file_name: str, tags: Mapping[str, Tag], classification: bool) -> datasets.DatasetImage:
    """The image as the writers see it (``path``: its file name in the export): a classification
    project's image labels, a detection project's boxes."""
    return datasets.DatasetImage(
        path=file_name,
        labels=tuple(tags[t.tag_id].name for t in image.tags if t.tag_id in tags) if classification else (),
        boxes=()
        if classification
        else tuple(
            Box(tags[r.tag_id].name, r.left, r.top, r.width, r.height) for r in image.regions if r.tag_id in tags
        ),
        width=image.width,
        height=image.height,
    )


def _key(tag_name: str) -> str:
    """How a dataset's tag name finds the project's tag: trimmed, case-insensitive."""
    return tag_name.strip().casefold()
