"""Drop-folder ingestion: files dropped into a folder become images of a project, with their labels.

One service for both drop folders: the blob container in Azure (the blob trigger calls
:meth:`DropIngestion.ingest` for each blob written) and ``<data dir>/drop`` on the embedded
default (``cvstudio serve``'s watcher calls it for each :meth:`DropIngestion.pending` file).
The layout, relative to the folder's root:

    <project name or id>/<tag name>/<image>   an image with that tag (a missing tag is created)
    <project name or id>/<image>              an untagged image
    <project name or id>/<name>.json          COCO boxes for the images it names (detection)
    <project name or id>/<stem>.xml           Pascal VOC boxes for the image <stem>.* (detection)
    <project name or id>/<stem>.txt           YOLO boxes for the image <stem>.*, with the class
                                              names of classes.txt or data.yaml beside it
    <project name or id>/<name>.csv           CSV boxes (filename,width,height,class,xmin,...) for
                                              the images it names (detection)

Images go through :class:`~shared.services.image_uploads.ImageUploads`, so the limits,
validation and duplicate detection are the API's own: the same bytes twice, under one name or
two, are one image. Images and annotation files may arrive in either order: an image picks up
the boxes of the annotation files already there that name it, and an annotation file gives its
boxes to the images already stored and waits (status ``waiting``) for the others.

Every file gets a result, ``<file>.result.json`` beside it (:class:`DropResult`). A file that
cannot be ingested (not an image, an unknown project, a malformed annotation, a file outside a
project folder) is moved to ``_rejected/<file>`` with the same result beside it there: never
lost, never retried. Only a store failure (a transient one) raises, so that the trigger is
retried. A delivery of bytes that already have a result is a no-op, and the service's own
files (results, the ``_rejected`` folder), hidden files and the usual desktop clutter
(``Thumbs.db``, ``desktop.ini``) are never ingested: the blob trigger fires for the result
files the service writes too.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable, Sequence
from contextlib import suppress
from dataclasses import replace
from enum import Enum

from shared.contracts.drop_result import DropResult, DropStatus
from shared.domain.catalogue import domain_task
from shared.domain.clock import utc_now
from shared.domain.entities import Project, Tag
from shared.domain.enums import ImageCreateStatus, Task
from shared.domain.errors import BadRequest, Code, Conflict, NotFound, UnsupportedMediaType
from shared.domain.labelling import RegionInput
from shared.domain.limits import MAX_REGION_BATCH
from shared.domain.versioning import ContractError
from shared.formats import coco, voc, yolo
from shared.formats import csv as csv_table
from shared.formats.boxes import AnnotationError, Box, ImageBoxes, base_name, stem
from shared.services.image_labels import ImageLabels
from shared.services.image_uploads import ImageUploads, NewImage
from shared.services.projects import ProjectService
from shared.services.tags import TagService
from shared.stores.drop_folder import DropEntry, DropFolder, check_name
from shared.vision.images import inspect_image

__all__ = ["RESULT_SUFFIX", "SET_ASIDE_FOLDER", "DropIngestion", "is_ignored"]

logger = logging.getLogger(__name__)

RESULT_SUFFIX = ".result.json"
SET_ASIDE_FOLDER = "_rejected"
_CLUTTER = {"thumbs.db", "desktop.ini"}
_GUID = re.compile(r"^[0-9a-fA-F]{8}-?([0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}$")
# What a user gets wrong (the file is answered and set aside); anything else is the stores' and raises.
_INPUT_ERRORS = (BadRequest, NotFound, UnsupportedMediaType)


class _Kind(Enum):
    IMAGE = "image"
    COCO = "COCO"
    CSV = "CSV"
    VOC = "Pascal VOC"
    YOLO = "YOLO"
    YOLO_CLASSES = "YOLO class names"


# Formats whose one file names many images (by file name); the others are one file per image (by stem).
_MANY_IMAGES = (_Kind.COCO, _Kind.CSV)


def is_ignored(name: str) -> bool:
    """Files the ingestion never reads: its own results and set-aside files, hidden files, clutter."""
    parts = name.split("/")
    return (
        name.endswith(RESULT_SUFFIX)
        or parts[0] == SET_ASIDE_FOLDER
        or any(p.startswith(".") for p in parts)
        or parts[-1].casefold() in _CLUTTER
    )


def _kind(name: str) -> _Kind:
    parts = name.split("/")
    if len(parts) != 2:
        return _Kind.IMAGE
    file = parts[1].casefold()
    if file in yolo.CLASS_FILES:
        return _Kind.YOLO_CLASSES
    return {".json": _Kind.COCO, ".csv": _Kind.CSV, ".xml": _Kind.VOC, ".txt": _Kind.YOLO}.get(
        file[file.rfind(".") :], _Kind.IMAGE
    )


def _names_image(kind: _Kind, named: str, image_file: str) -> bool:
    """Whether an annotation's name for an image (a COCO/CSV file name, or a VOC/YOLO file's stem) is ``image_file``."""
    if kind in _MANY_IMAGES:
        return base_name(named).casefold() == base_name(image_file).casefold()
    return stem(named).casefold() == stem(image_file).casefold()


class _Rejection(Exception):
    """A file refused for a reason that has a Custom Vision image status rather than an error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class DropIngestion:
    def __init__(
        self,
        folder: DropFolder,
        projects: ProjectService,
        tags: TagService,
        uploads: ImageUploads,
        labels: ImageLabels,
    ) -> None:
        self._folder = folder
        self._projects = projects
        self._tags = tags
        self._uploads = uploads
        self._labels = labels

    # -- entry points -----------------------------------------------------------------------------

    def pending(self) -> list[DropEntry]:
        """The files that have no result yet, or changed since it was written (the watcher's work)."""
        entries = self._folder.list()
        results = {e.name: e.modified for e in entries if e.name.endswith(RESULT_SUFFIX)}
        return [
            e
            for e in entries
            if not is_ignored(e.name) and results.get(e.name + RESULT_SUFFIX, float("-inf")) < e.modified
        ]

    def ingest(self, name: str, data: bytes | None = None) -> DropResult | None:
        """Ingest the file ``name`` (``data``: its bytes, when the caller has them already).

        Returns its result, or None for a file that is never ingested or is gone. Raises only
        for store failures (the caller retries).
        """
        return self._ingest(name, data, again=False)

    def _ingest(self, name: str, data: bytes | None, *, again: bool) -> DropResult | None:
        if is_ignored(name):
            return None
        try:
            check_name(name)
        except ValueError:
            logger.warning("Drop folder: %r is not a name a file can be answered under; left alone.", name)
            return None
        if data is None:
            try:
                data = self._folder.read(name)
            except NotFound:
                return None
        digest = hashlib.sha256(data).hexdigest()
        previous = self._result(name)
        if again or previous is None or previous.sha256 != digest or self._dropped_again(previous, name):
            return self._handle(name, data, digest)
        # A second delivery of the same bytes (or the same bytes written again): the result stands,
        # written again so that it is newer than the file (the watcher looks for files newer than their result).
        self._write_result(name, previous)
        return previous

    def _handle(self, name: str, data: bytes, digest: str) -> DropResult:
        parts = name.split("/")
        project: Project | None = None
        try:
            if len(parts) == 1:
                raise BadRequest(
                    "Files go into a project's folder: <project name or id>/<tag name>/<image>, or "
                    "<project name or id>/<image> for an untagged image.",
                    Code.BAD_REQUEST_INVALID,
                )
            if len(parts) > 3:
                raise BadRequest(
                    "Folders go two deep at most: <project name or id>/<tag name>/<image>.", Code.BAD_REQUEST_INVALID
                )
            project = self._project(parts[0])
            kind = _kind(name)
            if kind is _Kind.IMAGE:
                return self._image(project, name, data, digest)
            if domain_task(project.domain_id) != Task.DETECTION:
                raise BadRequest(
                    f"{kind.value} files give boxes, which only object detection projects have; project "
                    f"'{project.name}' is a classification project.",
                    Code.BAD_REQUEST_INVALID,
                )
            return self._annotation(project, name, kind, data, digest)
        except _Rejection as exc:
            return self._reject(name, digest, exc.code, exc.message, project)
        except _INPUT_ERRORS as exc:
            return self._reject(name, digest, exc.code.value, exc.message, project)

    # -- images -----------------------------------------------------------------------------------

    def _image(self, project: Project, name: str, data: bytes, digest: str) -> DropResult:
        parts = name.split("/")
        inspect_image(
            data
        )  # a clear reason (size, format, pixels) for a file that is not an image, before any tag is made
        named_by = self._annotations_naming(project, parts[0], parts[-1]) if self._detects(project) else []
        boxes = [box for _, box_list in named_by for box in box_list]
        tag_names = ([parts[1]] if len(parts) == 3 else []) + [b.tag for b in boxes]
        tags = self._tag_ids(project.id, tag_names)
        item = NewImage(
            name,
            data,
            tag_ids=[tags[parts[1].casefold()]] if len(parts) == 3 else [],
            regions=[_region(tags, b) for b in boxes],
        )
        [outcome] = self._uploads.create_images(self._uploads.target(project.id), [item]).images
        if not outcome.status.stored or outcome.image is None:
            raise _Rejection(outcome.status.value, _refusal(outcome.status))
        image_id = outcome.image.id
        status = DropStatus.OK if outcome.status is ImageCreateStatus.OK else DropStatus.DUPLICATE
        if status is DropStatus.DUPLICATE:
            current = self._result(name)  # the same delivery, handled a moment ago by another call
            if current is not None and current.sha256 == digest and current.image_id == image_id:
                return current
        result = DropResult(name, status, digest, utc_now(), project.id, image_id)
        self._write_result(name, result)
        for annotation, _ in named_by:
            self._mark_applied(annotation, name, image_id)
        return result

    def _annotations_naming(self, project: Project, folder: str, image_file: str) -> list[tuple[str, list[Box]]]:
        """The annotation files of the project folder that name ``image_file``, with their boxes for it."""
        found: list[tuple[str, list[Box]]] = []
        classes: tuple[str, ...] | None = None
        for entry in self._folder.list(folder + "/"):
            name = entry.name
            kind = _kind(name)
            if is_ignored(name) or kind in (_Kind.IMAGE, _Kind.YOLO_CLASSES):
                continue
            if kind not in _MANY_IMAGES and not _names_image(kind, name, image_file):
                continue
            try:
                if kind is _Kind.YOLO:
                    classes = classes or self._classes(folder)
                    if classes is None:
                        continue  # the label file waits for the class names, then gives its boxes itself
                    parsed = self._parse(kind, name, self._folder.read(name), classes)
                else:
                    parsed = self._parse(kind, name, self._folder.read(name), ())
            except (AnnotationError, NotFound):
                continue  # its own ingestion rejects it (or it was just set aside)
            boxes = [b for image in parsed if _names_image(kind, image.file_name, image_file) for b in image.boxes]
            if any(_names_image(kind, image.file_name, image_file) for image in parsed):
                found.append((name, boxes))
        return found

    # -- annotations ------------------------------------------------------------------------------

    def _annotation(self, project: Project, name: str, kind: _Kind, data: bytes, digest: str) -> DropResult:
        folder = name.split("/")[0]
        if kind is _Kind.YOLO_CLASSES:
            self._parse_classes(name, data)
            result = DropResult(name, DropStatus.OK, digest, utc_now(), project.id)
            self._write_result(name, result)
            for entry in self._folder.list(folder + "/"):  # the label files that waited for these names
                if _kind(entry.name) is _Kind.YOLO and not is_ignored(entry.name):
                    self._ingest(entry.name, None, again=True)
            return result
        classes: tuple[str, ...] = ()
        if kind is _Kind.YOLO:
            found = self._classes(folder)
            if found is None:
                result = DropResult(
                    name,
                    DropStatus.WAITING,
                    digest,
                    utc_now(),
                    project.id,
                    message="Waiting for the class names: classes.txt or data.yaml in this project folder.",
                )
                self._write_result(name, result)
                return result
            classes = found
        parsed = self._parse(kind, name, data, classes)
        return self._apply(project, name, kind, digest, parsed)

    def _apply(self, project: Project, name: str, kind: _Kind, digest: str, parsed: list[ImageBoxes]) -> DropResult:
        """Give each named image that is stored already its boxes; list the others as awaited."""
        folder = name.split("/")[0]
        images = [
            e.name
            for e in self._folder.list(folder + "/")
            if not is_ignored(e.name) and _kind(e.name) is _Kind.IMAGE and len(e.name.split("/")) in (2, 3)
        ]
        tags = self._tag_ids(project.id, [b.tag for image in parsed for b in image.boxes])
        applied: dict[str, str] = {}
        waiting: list[str] = []
        problems: list[str] = []
        for image in parsed:
            stored = False
            for file in images:
                if not _names_image(kind, image.file_name, file):
                    continue
                result = self._result(file)
                if result is None or not result.stored or result.image_id is None:
                    continue
                stored = True
                try:
                    self._add_regions(project.id, result.image_id, [_region(tags, b) for b in image.boxes])
                    applied[file] = result.image_id
                except (BadRequest, NotFound) as exc:
                    problems.append(f"{file}: {exc.message}")
            if not stored:
                waiting.append(image.file_name)
        status = DropStatus.WAITING if waiting else DropStatus.OK
        message = "; ".join(problems) or None
        if waiting and not message:
            message = f"Waiting for {len(waiting)} image(s) this file names."
        result = DropResult(
            name, status, digest, utc_now(), project.id, message=message, applied_to=applied, waiting_for=tuple(waiting)
        )
        self._write_result(name, result)
        return result

    def _add_regions(self, project_id: str, image_id: str, regions: Sequence[RegionInput]) -> None:
        for start in range(0, len(regions), MAX_REGION_BATCH):
            self._labels.add_regions(project_id, [(image_id, r) for r in regions[start : start + MAX_REGION_BATCH]])

    def _mark_applied(self, annotation: str, image_file: str, image_id: str) -> None:
        """An image that arrived after ``annotation`` got its boxes: no longer awaited there."""
        current = self._result(annotation)
        if current is None or current.status not in (DropStatus.OK, DropStatus.WAITING):
            return
        kind = _kind(annotation)
        waiting = tuple(w for w in current.waiting_for if not _names_image(kind, w, image_file))
        updated = replace(
            current,
            status=DropStatus.WAITING if waiting else DropStatus.OK,
            processed=utc_now(),
            applied_to={**current.applied_to, image_file: image_id},
            waiting_for=waiting,
            message=current.message if waiting else None,
        )
        self._write_result(annotation, updated)

    def _classes(self, folder: str) -> tuple[str, ...] | None:
        """The YOLO class names of a project folder (``classes.txt``, else ``data.yaml``), or None."""
        present = {e.name.split("/")[-1].casefold(): e.name for e in self._folder.list(folder + "/")}
        for file in yolo.CLASS_FILES:
            name = present.get(file)
            if name is None or len(name.split("/")) != 2:
                continue
            try:
                return self._parse_classes(name, self._folder.read(name))
            except (AnnotationError, NotFound):
                continue
        return None

    @staticmethod
    def _parse_classes(name: str, data: bytes) -> tuple[str, ...]:
        if name.split("/")[-1].casefold() == "classes.txt":
            return yolo.parse_classes(data)
        return yolo.parse_data_yaml(data)

    @staticmethod
    def _parse(kind: _Kind, name: str, data: bytes, classes: Sequence[str]) -> list[ImageBoxes]:
        file = name.split("/")[-1]
        if kind is _Kind.COCO:
            return coco.parse(data)
        if kind is _Kind.CSV:
            return csv_table.parse(data)
        if kind is _Kind.VOC:
            return [voc.parse(data, file_name=stem(file))]
        return [yolo.parse(data, classes, stem(file))]

    # -- projects, tags, results ------------------------------------------------------------------

    def _project(self, ref: str) -> Project:
        if _GUID.match(ref):
            project = self._projects.find(ref)
            if project is not None:
                return project
        wanted = ref.casefold()
        for project in self._projects.list():
            if project.name.casefold() == wanted:
                return project
        raise NotFound(
            f"There is no project named '{ref}' (or with that id): a folder's name is its project's name or id.",
            Code.NOT_FOUND_PROJECT,
        )

    @staticmethod
    def _detects(project: Project) -> bool:
        return domain_task(project.domain_id) == Task.DETECTION

    def _tag_ids(self, project_id: str, names: Iterable[str]) -> dict[str, str]:
        """Tag ids by case-folded name, for every name given; a missing tag is created."""
        by_name = {t.name.casefold(): t for t in self._tags.all(project_id)}
        for name in dict.fromkeys(n.strip() for n in names):
            if name.casefold() not in by_name:
                by_name[name.casefold()] = self._create_tag(project_id, name)
        return {key: tag.id for key, tag in by_name.items()}

    def _create_tag(self, project_id: str, name: str) -> Tag:
        try:
            return self._tags.create(project_id, name).tag
        except BadRequest as exc:
            if exc.code != Code.BAD_REQUEST_TAG_NAME_NOT_UNIQUE:
                raise
        # Created a moment ago by another delivery: read it (or try again later, if not written yet).
        for tag in self._tags.all(project_id):
            if tag.name.casefold() == name.casefold():
                return tag
        raise Conflict(f"The tag '{name}' is being created by another request.")

    def _dropped_again(self, previous: DropResult, name: str) -> bool:
        """A rejected file is moved away: one at its name again was dropped again (to be retried)."""
        return previous.status is DropStatus.REJECTED and any(e.name == name for e in self._folder.list(name))

    def _result(self, name: str) -> DropResult | None:
        try:
            return DropResult.from_json(self._folder.read(name + RESULT_SUFFIX))
        except NotFound:
            return None
        except ContractError as exc:  # edited by hand, or half-written by an older process
            logger.warning("Ignoring the unreadable result of %s: %s", name, exc.message)
            return None

    def _write_result(self, name: str, result: DropResult) -> None:
        self._folder.write(name + RESULT_SUFFIX, result.to_json())

    def _reject(self, name: str, digest: str, code: str, message: str, project: Project | None) -> DropResult:
        aside = f"{SET_ASIDE_FOLDER}/{name}"
        result = DropResult(
            name,
            DropStatus.REJECTED,
            digest,
            utc_now(),
            project.id if project else None,
            code=code,
            message=message,
            set_aside_as=aside,
        )
        # The reason first, then the move: an interruption between leaves the file in place with its reason.
        self._write_result(name, result)
        with suppress(NotFound):  # moved by an earlier delivery
            self._folder.move(name, aside)
        self._write_result(aside, result)
        logger.info("Drop folder: %s set aside (%s: %s)", name, code, message)
        return result


def _region(tags: dict[str, str], box: Box) -> RegionInput:
    return RegionInput(tags[box.tag.casefold()], box.left, box.top, box.width, box.height)


_REFUSALS = {
    ImageCreateStatus.ERROR_INVALID_TAG: "A label of the image names a tag the project cannot use here.",
    ImageCreateStatus.ERROR_TAG_LIMIT_EXCEED: "The image would carry more tags than an image may.",
    ImageCreateStatus.ERROR_REGION_LIMIT_EXCEED: "The image would carry more regions than an image may.",
    ImageCreateStatus.ERROR_NEGATIVE_AND_REGULAR_TAG_ON_SAME_IMAGE: (
        "The Negative tag stands alone: it cannot go on an image with other tags or regions."
    ),
}


def _refusal(status: ImageCreateStatus) -> str:
    return _REFUSALS.get(status, f"The image could not be stored ({status.value}).")
