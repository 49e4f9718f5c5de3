"""Copying projects from one Custom Vision endpoint to another, one project at a time.

For each project: its settings (domain by id, else by name; classification type; description), its tags (found
on the target by name, else created with their description and type, Negative included), then its images a
page at a time: the ones the state file does not list are downloaded (``threads`` at once), grouped into
upload batches (``batches``) and uploaded (two batches in flight), and each batch's source -> target ids are
recorded. With ``train``, the target project is trained once its images are in and the iteration awaited.

A project that cannot be copied (no matching domain, refused by the target) is reported and the next one
goes on; a refused key (401/403) stops everything, since no further request would fare better.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from shared.client.http import ApiError
from shared.domain.enums import ImageCreateStatus, IterationStatus
from shared.domain.limits import MAX_BATCH_IMAGES, MAX_TAKE
from shared.migration.batches import Batch, plan_batches, split_by_size
from shared.migration.progress import Progress
from shared.migration.source import (
    DomainInfo,
    ImageInfo,
    ProjectInfo,
    ProjectReader,
    RegionInfo,
    is_detection,
)
from shared.migration.state import MigrationState
from shared.migration.target import ProjectWriter, UploadEntry, UploadOutcome

__all__ = ["Copier", "CopyOptions", "ProjectFailed"]

_UPLOADS_IN_FLIGHT = 2
_TRAIN_POLL_S = 2.0
# Two boxes are the same box when every side agrees this closely (what a float round trip can move).
_SAME_BOX = 1e-6
_TRAINING_NOT_NEEDED = "BadRequestTrainingNotNeeded"


class ProjectFailed(Exception):
    """This project cannot be copied; the message says why."""


def fatal(error: ApiError) -> bool:
    """A key refused: stop the whole run rather than fail every request after it."""
    return error.status in (401, 403)


@dataclass(frozen=True)
class CopyOptions:
    threads: int = 8
    batch_size: int = MAX_BATCH_IMAGES
    page_size: int = MAX_TAKE
    train: bool = False


def _same_box(a: RegionInfo, b: RegionInfo) -> bool:
    return a.tag_id == b.tag_id and all(
        abs(x - y) <= _SAME_BOX
        for x, y in zip((a.left, a.top, a.width, a.height), (b.left, b.top, b.width, b.height), strict=True)
    )


class Copier:
    def __init__(
        self,
        source: ProjectReader,
        target: ProjectReader,
        writer: ProjectWriter,
        state: MigrationState,
        progress: Progress,
        options: CopyOptions,
    ) -> None:
        self.source = source
        self.target = target
        self.writer = writer
        self.state = state
        self.progress = progress
        self.options = options

    # -- the run ---------------------------------------------------------------------------------------

    def copy(self, projects: Sequence[ProjectInfo]) -> None:
        source_domains = self.source.domains()
        target_domains = self.target.domains()
        target_projects = self.target.projects()
        for project in projects:
            self.progress.start_project(project.name)
            try:
                self.copy_project(project, source_domains, target_domains, target_projects)
            except ProjectFailed as exc:
                self.progress.fail(f"project {project.name!r}: {exc}", project=True)
            except ApiError as exc:
                if fatal(exc):
                    raise
                self.progress.fail(f"project {project.name!r}: {exc}", project=True)
            except (KeyError, TypeError, ValueError) as exc:
                # An answer not in Custom Vision's shape: this project stops, the others go on.
                problem = f"{type(exc).__name__}: {exc}"
                self.progress.fail(f"project {project.name!r}: an unexpected answer ({problem})", project=True)
            finally:
                self.state.save(force=True)
        self.progress.finish()

    def copy_project(
        self,
        project: ProjectInfo,
        source_domains: Mapping[str, DomainInfo],
        target_domains: Mapping[str, DomainInfo],
        target_projects: list[ProjectInfo],
    ) -> None:
        detection = is_detection(project, source_domains)
        domain_id = self._domain(project, source_domains, target_domains)
        target = self._target_project(project, domain_id, detection, target_domains, target_projects)
        tag_map = self._copy_tags(project.id, target.id)
        self.progress.add(images_total=self.source.image_count(project.id))
        self._copy_images(project.id, target.id, tag_map, detection)
        if self.options.train:
            self._train(project, target)

    # -- settings and tags -----------------------------------------------------------------------------

    def _domain(
        self, project: ProjectInfo, source_domains: Mapping[str, DomainInfo], target_domains: Mapping[str, DomainInfo]
    ) -> str:
        if project.domain_id in target_domains:
            return project.domain_id
        known = source_domains.get(project.domain_id)
        if known is not None:
            for domain in target_domains.values():
                if domain.name.lower() == known.name.lower() and domain.type == known.type:
                    return domain.id
        name = f"{known.name!r} " if known else ""
        raise ProjectFailed(f"the target has no domain {name}({project.domain_id}), by id or by name")

    def _target_project(
        self,
        project: ProjectInfo,
        domain_id: str,
        detection: bool,
        target_domains: Mapping[str, DomainInfo],
        target_projects: list[ProjectInfo],
    ) -> ProjectInfo:
        recorded = self.state.target_project(project.id)
        by_id = {p.id: p for p in target_projects}
        if recorded in by_id:
            self.progress.add(projects_resumed=1)
            return by_id[recorded]
        # No record (a first run, a lost state file, or a stop just after the create): the same name is it.
        same_name = [p for p in target_projects if p.name == project.name]
        if same_name:
            found = same_name[0]
            wanted, has = target_domains.get(domain_id), target_domains.get(found.domain_id)
            if wanted is not None and has is not None and wanted.type != has.type:
                raise ProjectFailed(
                    f"the target's project of that name is a {has.type} project, this one {wanted.type}; "
                    "rename one of them"
                )
            self.progress.note(f"project {project.name!r}: continuing into the target's project of that name")
            self.progress.add(projects_resumed=1)
            target = found
        else:
            # A classification type means nothing to a detection domain (and is not sent for one).
            target = self.writer.create_project(project, domain_id, None if detection else project.classification_type)
            target_projects.append(target)
            self.progress.add(projects_created=1)
        self.state.set_project(project.id, target.id)
        return target

    def _copy_tags(self, source_project: str, target_project: str) -> dict[str, str]:
        present = {t.name.lower(): t for t in self.target.tags(target_project)}
        mapping: dict[str, str] = {}
        for tag in self.source.tags(source_project):
            existing = present.get(tag.name.lower())
            if existing is None:
                existing = self.writer.create_tag(target_project, tag)
                present[tag.name.lower()] = existing
                self.progress.add(tags_created=1)
            else:
                self.progress.add(tags_existing=1)
            mapping[tag.id] = existing.id
        return mapping

    # -- images ----------------------------------------------------------------------------------------

    def _copy_images(
        self, source_project: str, target_project: str, tag_map: Mapping[str, str], detection: bool
    ) -> None:
        copied = self.state.copied(source_project)
        in_flight: deque[Future[None]] = deque()
        with (
            ThreadPoolExecutor(max(1, self.options.threads), thread_name_prefix="migrate-get") as downloads,
            ThreadPoolExecutor(_UPLOADS_IN_FLIGHT, thread_name_prefix="migrate-put") as uploads,
        ):
            try:
                for page in self.source.image_pages(source_project, self.options.page_size):
                    todo = [image for image in page if image.id not in copied]
                    if len(todo) < len(page):
                        self.progress.add(images_present=len(page) - len(todo))
                    for batch in plan_batches(todo, self.options.batch_size):
                        job = uploads.submit(
                            self._copy_batch, downloads, source_project, target_project, batch, tag_map, detection
                        )
                        in_flight.append(job)
                        # Bounded: only so many batches' bytes in memory at once.
                        while len(in_flight) > _UPLOADS_IN_FLIGHT:
                            in_flight.popleft().result()
                while in_flight:
                    in_flight.popleft().result()
            finally:
                for job in in_flight:
                    job.cancel()

    def _download(self, project_id: str, image: ImageInfo) -> bytes | ApiError:
        if not image.original_uri:
            return ApiError(0, "NoOriginalImage", "the source gave no originalImageUri")
        try:
            return self.source.image_bytes(project_id, image)
        except ApiError as exc:
            if fatal(exc) and not image.original_uri.startswith(("http://", "https://")):
                raise
            return exc

    def _entry(self, image: ImageInfo, data: bytes, tag_map: Mapping[str, str], detection: bool) -> UploadEntry:
        regions = tuple(
            RegionInfo(tag_map[r.tag_id], r.left, r.top, r.width, r.height)
            for r in image.regions
            if r.tag_id in tag_map
        )
        # On a detection project an image's tags also name its boxes' tags: those travel as the boxes.
        boxed = {r.tag_id for r in image.regions} if detection else set()
        tag_ids = tuple(tag_map[t] for t in image.tag_ids if t in tag_map and t not in boxed)
        return UploadEntry(image.id, data, tag_ids, regions)

    def _copy_batch(
        self,
        downloads: ThreadPoolExecutor,
        source_project: str,
        target_project: str,
        batch: Batch,
        tag_map: Mapping[str, str],
        detection: bool,
    ) -> None:
        entries: list[UploadEntry] = []
        for image, data in zip(
            batch.images, downloads.map(lambda i: self._download(source_project, i), batch.images), strict=True
        ):
            if isinstance(data, ApiError):
                self.progress.fail(f"image {image.id}: download failed: {data}", images=1)
            else:
                entries.append(self._entry(image, data, tag_map, detection))
        for chunk in split_by_size(entries, lambda e: len(e.data)):
            self._upload(source_project, target_project, chunk, batch.metadata)

    def _upload(
        self, source_project: str, target_project: str, entries: list[UploadEntry], metadata: Mapping[str, str]
    ) -> None:
        try:
            outcomes = self.writer.upload(target_project, entries, metadata)
        except ApiError as exc:
            if fatal(exc) or exc.status == 404:
                raise
            for entry in entries:
                self.progress.fail(f"image {entry.name}: upload refused: {exc}", images=1)
            return
        by_name = {e.name: e for e in entries}
        recorded: dict[str, str] = {}
        answered: set[str] = set()
        for outcome in outcomes:
            if outcome.name not in by_name or outcome.name in answered:
                continue
            entry = by_name[outcome.name]
            answered.add(outcome.name)
            if outcome.status == ImageCreateStatus.OK_DUPLICATE and outcome.image is None:
                # There, but the target did not say as which image: nothing to record or complete.
                self.progress.add(images_present=1)
                continue
            if not outcome.stored or outcome.image is None:
                self.progress.fail(f"image {entry.name}: the target answered {outcome.status}", images=1)
                continue
            if outcome.status == ImageCreateStatus.OK_DUPLICATE:
                self._complete_labels(target_project, entry, outcome, metadata)
                self.progress.add(images_present=1)
            else:
                self.progress.add(images_copied=1)
            recorded[entry.name] = outcome.image.id
        for name in by_name.keys() - answered:
            self.progress.fail(f"image {name}: the target's answer did not mention it", images=1)
        if recorded:
            self.state.record(source_project, recorded)

    def _complete_labels(
        self, target_project: str, entry: UploadEntry, outcome: UploadOutcome, metadata: Mapping[str, str]
    ) -> None:
        """A duplicate's stored image gets whatever of this entry's labels and metadata it lacks."""
        image = outcome.image
        assert image is not None
        missing_tags = [(image.id, t) for t in entry.tag_ids if t not in image.tag_ids]
        missing_regions = [(image.id, r) for r in entry.regions if not any(_same_box(r, o) for o in image.regions)]
        missing_metadata = {k: v for k, v in metadata.items() if image.metadata.get(k) != v}
        if missing_tags:
            self.writer.add_tags(target_project, missing_tags)
        if missing_regions:
            self.writer.add_regions(target_project, missing_regions)
        if missing_metadata:
            self.writer.set_metadata(target_project, [image.id], missing_metadata)

    # -- training --------------------------------------------------------------------------------------

    def _train(self, project: ProjectInfo, target: ProjectInfo) -> None:
        try:
            iteration: dict[str, Any] = self.writer.train(target.id)
        except ApiError as exc:
            if exc.code == _TRAINING_NOT_NEEDED:
                self.progress.note(f"project {project.name!r}: not trained: {exc.message}")
                return
            if fatal(exc):
                raise
            raise ProjectFailed(f"training refused: {exc}") from exc
        self.progress.note(f"project {project.name!r}: training iteration {iteration.get('name')!r} on the target")
        started = time.monotonic()
        while iteration.get("status") not in (IterationStatus.COMPLETED, IterationStatus.FAILED):
            time.sleep(_TRAIN_POLL_S)
            iteration = self.writer.iteration(target.id, str(iteration["id"]))
        status = iteration.get("status")
        text = (
            f"project {project.name!r}: iteration {iteration.get('name')!r} ({iteration.get('id')}) "
            f"{status} in {time.monotonic() - started:.0f} s"
        )
        if status != IterationStatus.COMPLETED:
            details = iteration.get("trainingErrorDetails")
            raise ProjectFailed(text + (f": {details}" if details else ""))
        self.progress.note(text)
