"""Iterations: reads, renames and deletes by the user, and the status changes the trainer reports.

An iteration is created ``Training`` by a train request (:mod:`shared.services.training`); the
trainer then reports progress and moves it to ``Completed`` or ``Failed``, which frees the
project's training lock.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

from shared.contracts.snapshot import Snapshot
from shared.domain.clock import utc_now
from shared.domain.entities import Image, Iteration, TrainingProgress
from shared.domain.enums import IterationStatus
from shared.domain.errors import BadRequest, Code
from shared.domain.limits import MAX_ITERATIONS_PER_PROJECT
from shared.domain.validation import check_name
from shared.services.artifact_keys import image_prefix, iteration_prefix
from shared.services.projects import ProjectService
from shared.services.snapshots import SnapshotStore
from shared.stores.claims import TrainingLock
from shared.stores.documents import Documents
from shared.stores.ports import BlobStore, Eq, MetadataStore

__all__ = ["IterationService"]

log = logging.getLogger(__name__)


class IterationService:
    def __init__(
        self, meta: MetadataStore, blobs: BlobStore, projects: ProjectService, snapshots: SnapshotStore
    ) -> None:
        self._docs = Documents(meta, Iteration)
        self._images = Documents(meta, Image)
        self._blobs = blobs
        self._projects = projects
        self._snapshots = snapshots
        self._lock = TrainingLock(meta)

    # -- reads ------------------------------------------------------------------------------------

    def get(self, project_id: str, iteration_id: str) -> Iteration:
        project = self._projects.get(project_id)
        return self._docs.get(project.id, iteration_id)

    def find(self, project_id: str, iteration_id: str) -> Iteration | None:
        """The iteration of a known project, or None (no NotFound)."""
        return self._docs.find(project_id, iteration_id)

    def newest_first(self, project_id: str) -> list[Iteration]:
        project = self._projects.get(project_id)
        return self._docs.all(
            project.id, order_by=Iteration.NUMBER, descending=True, page_size=MAX_ITERATIONS_PER_PROJECT * 2
        )

    def published(self, project_id: str, publish_name: str) -> Iteration | None:
        """The iteration of a known project published under ``publish_name``, if any."""
        return self._docs.first(project_id, [Eq(Iteration.PUBLISH_NAME, publish_name)])

    def snapshot(self, project_id: str, iteration_id: str) -> tuple[Iteration, Snapshot]:
        iteration = self.get(project_id, iteration_id)
        return iteration, self._snapshots.load(iteration)

    def training_iterations(self) -> Iterator[Iteration]:
        """Every iteration of every project still marked Training (for the worker's recovery)."""
        return self._docs.iterate(
            None, [Eq(Iteration.STATUS, IterationStatus.TRAINING.value)], order_by="id", page_size=100
        )

    def completed(self, project_id: str, iteration_id: str) -> Iteration:
        """A completed iteration, or a clear error (for performance, export and publishing)."""
        iteration = self.get(project_id, iteration_id)
        if iteration.status != IterationStatus.COMPLETED:
            raise BadRequest(
                f"{iteration.name} is not trained (its status is {iteration.status}).",
                Code.BAD_REQUEST_ITERATION_IS_NOT_TRAINED,
            )
        return iteration

    # -- changes by the user ----------------------------------------------------------------------

    def rename(self, project_id: str, iteration_id: str, name: str | None) -> Iteration:
        project = self._projects.get(project_id)
        clean = check_name(name, "iteration", Code.BAD_REQUEST_ITERATION_NAME)
        others = [i for i in self.newest_first(project.id) if i.id != iteration_id.lower()]
        if any(i.name.casefold() == clean.casefold() for i in others):
            raise BadRequest(
                f"An iteration named '{clean}' already exists.", Code.BAD_REQUEST_ITERATION_NAME_NOT_UNIQUE
            )
        return self.update(project.id, iteration_id, lambda i: i.with_changes(name=clean))

    def delete(self, project_id: str, iteration_id: str) -> None:
        project = self._projects.get(project_id)
        iteration = self._docs.get(project.id, iteration_id)
        if iteration.publish_name:
            raise BadRequest(
                f"{iteration.name} is published as '{iteration.publish_name}'; unpublish it before deleting it.",
                Code.BAD_REQUEST_ITERATION_IS_PUBLISHED,
            )
        if iteration.status == IterationStatus.TRAINING:
            raise BadRequest(
                f"{iteration.name} is still training; delete it once it has finished.",
                Code.BAD_REQUEST_TRAINING_ALREADY_IN_PROGRESS,
            )
        trained_on = {i.id for i in self._snapshots.load(iteration).images}
        self._docs.delete(project.id, iteration.id)
        still_needed = self._snapshots.referenced_images(project.id) | {i.id for i in self._images.iterate(project.id)}
        for image_id in trained_on - still_needed:
            self._blobs.delete_prefix(image_prefix(project.id, image_id))
        self._blobs.delete_prefix(iteration_prefix(project.id, iteration.id))

    # -- changes by the trainer -------------------------------------------------------------------

    def update(self, project_id: str, iteration_id: str, change: Callable[[Iteration], Iteration]) -> Iteration:
        return self._docs.update(project_id, iteration_id, lambda i: change(i).with_changes(last_modified=utc_now()))

    def report_progress(self, project_id: str, iteration_id: str, stage: str, percent: int) -> None:
        progress = TrainingProgress(stage, max(0, min(100, percent)))
        self.update(
            project_id,
            iteration_id,
            lambda i: i.with_changes(progress=progress) if i.status == IterationStatus.TRAINING else i,
        )

    def complete(self, project_id: str, iteration_id: str, seconds: float) -> Iteration:
        done = self.update(
            project_id,
            iteration_id,
            lambda i: i.with_changes(
                status=IterationStatus.COMPLETED, trained_at=utc_now(), training_seconds=seconds, progress=None
            ),
        )
        self._lock.release(project_id, iteration_id)
        return done

    def fail(self, project_id: str, iteration_id: str, reason: str) -> Iteration:
        log.warning("iteration %s failed: %s", iteration_id, reason)
        failed = self.update(
            project_id,
            iteration_id,
            lambda i: (
                i.with_changes(status=IterationStatus.FAILED, training_error_details=reason, progress=None)
                if i.status == IterationStatus.TRAINING
                else i
            ),
        )
        self._lock.release(project_id, iteration_id)
        return failed

    def begin_attempt(self, project_id: str, iteration_id: str) -> Iteration:
        return self.update(project_id, iteration_id, lambda i: i.with_changes(attempts=i.attempts + 1))
