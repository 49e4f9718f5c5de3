"""``import_project`` on the importing instance: a token -> a new project, filled in the background.

The request checks the token (``ImportToken``: malformed or expired), reads the package it names
from the source over the SSRF-guarded fetcher (unreachable, refused or unreadable: the token is
refused too, ``BadRequestInvalidImportToken``), creates the project with the source's settings and
answers it at once with ``status: Importing``, as Custom Vision does. A background thread then
creates the tags and copies the images (bytes through the bounded download pool, stored by
``ImageUploads``: the same checks, and an image's id derived from its content), recording its
progress in an ``ImportRecord`` beside the project; the project ends ``Succeeded`` or ``Failed``
(the record says why).

A crash stops nothing for good: the worker's start-up pass (:meth:`ProjectImports.resume_unfinished`)
picks every unfinished import up again, reads the package anew and copies only the images whose
content the project does not hold yet (and a copy stored twice would be one image anyway), so a
resumed import never duplicates an image.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

from shared.contracts.project_package import ImportRecord, ImportToken, PackageImage, PackageTag, ProjectPackage
from shared.domain.clock import utc_now
from shared.domain.entities import Image, Project
from shared.domain.enums import ImageCreateStatus
from shared.domain.errors import BadRequest, Code, InvalidImage, NotFound
from shared.domain.labelling import RegionInput
from shared.domain.limits import IMPORT_PACKAGE_TIMEOUT_SECONDS, MAX_BATCH_IMAGES, MAX_PROJECT_PACKAGE_BYTES
from shared.domain.versioning import ContractError
from shared.net.url_fetch import FetchPolicy, fetch_url
from shared.services.image_uploads import ImageUploads, NewImage
from shared.services.ingestion import ImageDownloads
from shared.services.projects import ProjectService
from shared.services.tags import TagService
from shared.stores.documents import Documents
from shared.stores.ports import MetadataStore

__all__ = ["IMPORTING", "ProjectImports"]

log = logging.getLogger(__name__)

# The project's status while it fills, and how it ends (Custom Vision's ProjectStatus values).
IMPORTING = "Importing"
_SUCCEEDED = "Succeeded"
_FAILED = "Failed"
# Images fetched at once and then stored, between two progress records.
_CHUNK = 16
# A download that failed is tried this often in all before the import gives the image up.
_DOWNLOAD_TRIES = 3


@dataclass(frozen=True)
class _Copied:
    stored: int
    failed: list[str]  # why each image that could not be copied was not


class ProjectImports:
    def __init__(
        self,
        meta: MetadataStore,
        projects: ProjectService,
        tags: TagService,
        uploads: ImageUploads,
        downloads: ImageDownloads,
        *,
        allow_private: bool = False,
        workers: int = 2,
    ) -> None:
        self._records = Documents(meta, ImportRecord)
        self._project_docs = Documents(meta, Project)
        self._images = Documents(meta, Image)
        self._projects = projects
        self._tags = tags
        self._uploads = uploads
        self._downloads = downloads
        self._policy = FetchPolicy(
            allow_private=allow_private,
            timeout_seconds=IMPORT_PACKAGE_TIMEOUT_SECONDS,
            max_bytes=MAX_PROJECT_PACKAGE_BYTES,
        )
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="imports")
        self._active: set[str] = set()  # imports running in this process (one run per project)
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    # -- the request ---------------------------------------------------------------------------

    def start(self, token: str | None, name: str | None) -> Project:
        """Check the token and read its package, create the project (``Importing``) and fill it in
        the background. Downloads: call on the downloads' threads (``ImageDownloads.run``)."""
        found = ImportToken.decode(token)
        package = self._read_package(found.package_url, refuse=True)
        source = package.project
        project = self._projects.create(
            name if name is not None and name.strip() else source.name,
            source.description,
            source.domain_id,
            source.classification_type,
            source.target_export_platforms,
        )
        now = utc_now()
        self._records.create(
            ImportRecord(project.id, found.package_url, ImportRecord.IMPORTING, now, now, len(package.images))
        )
        project = self._project_docs.update(
            project.id,
            project.id,
            lambda p: replace(p, status=IMPORTING, augmentation_methods=dict(source.augmentation_methods)),
        )
        self._submit(project.id, package)
        return project

    def _read_package(self, url: str, *, refuse: bool) -> ProjectPackage:
        """The package behind ``url``; a failure is the token's (``refuse``) or the import's."""
        try:
            return ProjectPackage.from_json(fetch_url(url, self._policy))
        except InvalidImage as exc:
            reason = _unreadable(exc.message)
        except ContractError as exc:
            reason = f"its source answered something other than a project package ({exc.message})."
        if refuse:
            raise BadRequest(f"The import token is not valid: {reason}", Code.BAD_REQUEST_INVALID_IMPORT_TOKEN)
        raise _ImportFailed(f"The import could not go on: {reason}")

    # -- the background copy ---------------------------------------------------------------------

    def resume_unfinished(self, quiet_for: float | None = None) -> int:
        """Start again every import left unfinished (a crash, a stop), in the background; on stores
        that other servers share (``quiet_for`` set), only those whose progress has stood that long.
        How many were started."""
        return sum(1 for project_id in self.unfinished(quiet_for) if self._submit(project_id, None))

    def unfinished(self, quiet_for: float | None = None) -> list[str]:
        """The projects whose import is unfinished (and whose progress has stood ``quiet_for`` seconds)."""
        now = dt.datetime.now(dt.UTC)
        return [
            record.project_id
            for record in self._records.iterate(None)
            if record.state == ImportRecord.IMPORTING
            and (quiet_for is None or _age(record.progress_at, now) >= quiet_for)
        ]

    def resume(self, project_id: str) -> None:
        """Go on with one unfinished import here and now (Azure's ``ResumeImport``); a no-op when it
        runs in this process already or has ended."""
        if self._claim(project_id):
            self._run(project_id, None)

    def stop(self) -> None:
        """Stop the imports in flight after their current chunk (the server is stopping): they stay
        unfinished, and the next start resumes them."""
        self._stopping.set()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _claim(self, project_id: str) -> bool:
        with self._lock:
            if project_id in self._active:
                return False
            self._active.add(project_id)
        return True

    def _submit(self, project_id: str, package: ProjectPackage | None) -> bool:
        if not self._claim(project_id):
            return False
        self._pool.submit(self._run, project_id, package)
        return True

    def _run(self, project_id: str, package: ProjectPackage | None) -> None:
        try:
            record = self._records.get(project_id, project_id)
            if record.state != ImportRecord.IMPORTING:
                return
            self._progress(project_id, record.images_done)  # this server has it now (see resume_unfinished)
            if package is None:
                package = self._read_package(record.package_url, refuse=False)
            tag_ids = self._ensure_tags(project_id, package.tags)
            copied = self._copy_images(project_id, package.images, tag_ids)
            if copied is None:
                return  # stopping: the next start resumes it
            if copied.failed:
                self._end(
                    project_id,
                    f"{len(copied.failed)} of {len(package.images)} images could not be copied; the first: "
                    f"{copied.failed[0]}",
                )
            else:
                self._end(project_id, None)
        except NotFound:
            log.info("import into %s stopped: the project was deleted", project_id)
        except _ImportFailed as exc:
            self._end(project_id, str(exc))
        except Exception as exc:
            log.exception("import into %s failed", project_id)
            self._end(project_id, f"The import failed: {type(exc).__name__}.")
        finally:
            with self._lock:
                self._active.discard(project_id)

    def _ensure_tags(self, project_id: str, tags: Sequence[PackageTag]) -> dict[str, str]:
        """The source's tag ids -> this project's (created where missing, matched by name: a resumed
        import finds the tags it made before)."""
        have = {t.name.casefold(): t.id for t in self._tags.all(project_id)}
        out: dict[str, str] = {}
        for tag in tags:
            key = tag.name.casefold()
            if key not in have:
                try:
                    have[key] = self._tags.create(project_id, tag.name, tag.description, tag.type).tag.id
                except BadRequest as exc:  # another server resuming the same import made it a moment ago
                    if exc.code is not Code.BAD_REQUEST_TAG_NAME_NOT_UNIQUE:
                        raise
                    have = {t.name.casefold(): t.id for t in self._tags.all(project_id)}
            out[tag.id] = have[key]
        return out

    def _copy_images(
        self, project_id: str, images: Sequence[PackageImage], tag_ids: Mapping[str, str]
    ) -> _Copied | None:
        held = {image.content_hash for image in self._images.iterate(project_id)}
        todo = [i for i in images if i.sha256 not in held]
        done = len(images) - len(todo)
        failed: list[str] = []
        self._progress(project_id, done)
        for chunk in _chunks(todo, _CHUNK):
            if self._stopping.is_set():
                return None
            fetched = self._download(chunk)
            target = self._uploads.target(project_id)
            for metadata, group in _by_metadata(chunk).items():
                items = []
                for image in group:
                    got = fetched[image.id]
                    if isinstance(got, str):
                        failed.append(got)
                        continue
                    items.append(_new_image(image, got, tag_ids))
                if not items:
                    continue
                summary = self._uploads.create_images(target, items, metadata=dict(metadata))
                for result in summary.images:
                    if not result.status.stored:
                        failed.append(f"image {result.source_url}: {result.status.value}")
            done += len(chunk)
            self._progress(project_id, done)
        return _Copied(done, failed)

    def _download(self, chunk: Sequence[PackageImage]) -> dict[str, bytes | str]:
        """Each image's bytes (checked against the package's sha256), or why they could not be had."""
        out: dict[str, bytes | str] = {}
        pending = list(chunk)
        for _ in range(_DOWNLOAD_TRIES):
            if not pending:
                break
            results = self._downloads.for_training([i.url for i in pending])
            retry = []
            for image, got in zip(pending, results, strict=True):
                if isinstance(got, bytes) and hashlib.sha256(got).hexdigest() == image.sha256:
                    out[image.id] = got
                    continue
                why = got.message if isinstance(got, InvalidImage) else "its bytes are not those the source listed"
                out[image.id] = f"image {image.id}: {why}"
                if not isinstance(got, InvalidImage) or got.create_status is not ImageCreateStatus.ERROR_IMAGE_SIZE:
                    retry.append(image)
            pending = retry
        return out

    def _progress(self, project_id: str, done: int) -> None:
        now = utc_now()
        self._records.update(project_id, project_id, lambda r: r.with_changes(images_done=done, progress_at=now))

    def _end(self, project_id: str, error: str | None) -> None:
        """Record how the import ended, on its record and as the project's status."""
        now = utc_now()
        state = ImportRecord.FAILED if error else ImportRecord.SUCCEEDED
        try:
            self._records.update(
                project_id, project_id, lambda r: r.with_changes(state=state, error=error, progress_at=now)
            )
            status = _FAILED if error else _SUCCEEDED
            self._project_docs.update(project_id, project_id, lambda p: replace(p, status=status))
        except NotFound:
            return  # deleted meanwhile
        if error:
            log.warning("import into %s failed: %s", project_id, error)


class _ImportFailed(Exception):
    """The background import cannot go on (its package is gone); the message says why, for the user."""


def _unreadable(message: str) -> str:
    """Why the source did not hand the package over, in words about the token."""
    message = message.rstrip(".")
    if message.endswith("answered 403"):
        return (
            "its source refused it: the token was altered, or the source's training keys changed since the "
            "export. Export the project again for a fresh token."
        )
    if message.endswith("answered 404"):
        return "its source no longer has that project."
    why = message.replace("the image is", "the package is").replace("the whole image", "the package")
    # The fetcher names the link; the link is signed (as good as the token): never shown.
    why = re.sub(r"https?://\S+?(?=:? |$)", "its package link", why)
    return f"the project it names could not be read from its source ({why})."


def _new_image(image: PackageImage, data: bytes, tag_ids: Mapping[str, str]) -> NewImage:
    return NewImage(
        source=image.id,
        data=data,
        tag_ids=[tag_ids[t] for t in image.tag_ids if t in tag_ids],
        regions=[
            RegionInput(tag_ids[r.tag_id], r.left, r.top, r.width, r.height)
            for r in image.regions
            if r.tag_id in tag_ids
        ],
    )


def _by_metadata(images: Sequence[PackageImage]) -> dict[tuple[tuple[str, str], ...], list[PackageImage]]:
    """Images grouped by their metadata (an upload batch carries one set for all its images)."""
    groups: dict[tuple[tuple[str, str], ...], list[PackageImage]] = {}
    for image in images:
        groups.setdefault(tuple(sorted(image.metadata.items())), []).append(image)
    return groups


def _chunks(items: Sequence[PackageImage], size: int) -> Iterator[Sequence[PackageImage]]:
    step = min(size, MAX_BATCH_IMAGES)
    for start in range(0, len(items), step):
        yield items[start : start + step]


def _age(when: str, now: dt.datetime) -> float:
    try:
        then = dt.datetime.fromisoformat(when.replace("Z", "+00:00"))
    except ValueError:
        return float("inf")
    return (now - then).total_seconds()
