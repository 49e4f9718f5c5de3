"""Iterations: reads, renames and deletes by the user, and the status changes the trainer reports.

An iteration is created ``Training`` by a train request (:mod:`shared.services.training`); the
trainer then reports progress and moves it to ``Completed`` or ``Failed``, which frees the
project's training lock.

When the trainer runs elsewhere (a Container Apps job execution), what starts it claims the start
(:meth:`IterationService.claim_start`: one execution per iteration, however often its message is
delivered), and a training whose progress stands still for too long has lost its trainer:
:meth:`IterationService.fail_stalled` ends it ``Failed`` with the reason.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

from shared.contracts.snapshot import Snapshot
from shared.domain.clock import utc_ago, utc_now
from shared.domain.entities import Image, Iteration, TrainingProgress
from shared.domain.enums import IterationStatus
from shared.domain.errors import BadRequest, Code, NotFound
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

    def _while_training(self, project_id: str, iteration_id: str, **changes: Any) -> Iteration:
        """Apply ``changes`` if the iteration is still Training: a late report never touches an ended one."""
        return self.update(
            project_id,
            iteration_id,
            lambda i: i.with_changes(**changes) if i.status == IterationStatus.TRAINING else i,
        )

    def report_progress(self, project_id: str, iteration_id: str, stage: str, percent: int) -> None:
        progress = TrainingProgress(stage, max(0, min(100, percent)))
        self._while_training(project_id, iteration_id, progress=progress, progress_at=utc_now())

    def heartbeat(self, project_id: str, iteration_id: str) -> None:
        """The trainer is alive (its launcher sees it run): the stall and resume clocks restart."""
        self._while_training(project_id, iteration_id, progress_at=utc_now())

    def quiet_training(self, quiet_seconds: float) -> Iterator[Iteration]:
        """The iterations still Training whose progress (or trainer's heartbeat) has not moved for
        ``quiet_seconds``: their trainer is gone."""
        cutoff = utc_ago(timedelta(seconds=quiet_seconds))
        return (i for i in self.training_iterations() if _progress_time(i) < cutoff)

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
        failed = self._while_training(
            project_id, iteration_id, status=IterationStatus.FAILED, training_error_details=reason, progress=None
        )
        self._lock.release(project_id, iteration_id)
        return failed

    def begin_attempt(self, project_id: str, iteration_id: str) -> Iteration:
        return self.update(project_id, iteration_id, lambda i: i.with_changes(attempts=i.attempts + 1))

    # -- a trainer started elsewhere (a Container Apps job execution) ------------------------------

    def claim_start(self, project_id: str, iteration_id: str) -> bool:
        """Claim the start of the iteration's one job execution: False when it is not Training, or
        its job was started (or is being started) already: a message delivered twice starts nothing."""
        claimed = False

        def claim(current: Iteration) -> Iteration | None:
            nonlocal claimed
            claimed = current.status == IterationStatus.TRAINING and current.attempts == 0
            return current.with_changes(attempts=1, last_modified=utc_now()) if claimed else None

        self._docs.update(project_id, iteration_id, claim)
        return claimed

    def start_failed(self, project_id: str, iteration_id: str, reason: str) -> None:
        """The claimed start did not happen (it will be tried again): free the claim, keep the reason."""
        self.update(project_id, iteration_id, lambda i: i.with_changes(attempts=0, start_error=reason))

    def job_started(self, project_id: str, iteration_id: str, what: str) -> None:
        """The job execution was accepted: the iteration is "starting", and its progress clock restarts."""
        starting = TrainingProgress(f"starting: {what}", 0)
        self._while_training(project_id, iteration_id, progress=starting, progress_at=utc_now())

    def not_started(self, project_id: str, iteration_id: str, attempts: int) -> Iteration | None:
        """The queue gave up on the iteration's message after ``attempts`` deliveries: if its job
        never started, it ends ``Failed`` with the last reason its start failed."""
        if self._projects.find(project_id) is None:
            return None
        iteration = self._docs.find(project_id, iteration_id)
        if iteration is None or iteration.status != IterationStatus.TRAINING or iteration.attempts > 0:
            return None  # gone, ended, or its job started after all
        why = iteration.start_error or "no reason was recorded; see the training Function App's log"
        return self.fail(project_id, iteration_id, f"Training could not be started after {attempts} attempts: {why}")

    def fail_stalled(self, stall_seconds: float) -> list[Iteration]:
        """End ``Failed`` every iteration still Training whose progress has not moved for
        ``stall_seconds`` (its job died, or never started); returns those it ended. The clock is the
        last progress report, else when the job started, else when the iteration was queued."""
        cutoff = utc_ago(timedelta(seconds=stall_seconds))
        ended = []
        for iteration in list(self.training_iterations()):
            if _progress_time(iteration) < cutoff:
                failed = self._fail_if_stalled(iteration, cutoff, stall_seconds)
                if failed is not None:
                    ended.append(failed)
        return ended

    def _fail_if_stalled(self, iteration: Iteration, cutoff: str, stall_seconds: float) -> Iteration | None:
        failed = False

        def fail(current: Iteration) -> Iteration | None:
            nonlocal failed
            failed = current.status == IterationStatus.TRAINING and _progress_time(current) < cutoff
            if not failed:
                return None  # it moved, or ended, since it was listed
            return current.with_changes(
                status=IterationStatus.FAILED,
                training_error_details=_stalled_reason(current, stall_seconds),
                progress=None,
                last_modified=utc_now(),
            )

        try:
            updated = self._docs.update(iteration.project_id, iteration.id, fail)
        except NotFound:
            return None  # deleted with its project meanwhile
        if not failed:
            return None
        log.warning("iteration %s failed: %s", iteration.id, updated.training_error_details)
        self._lock.release(iteration.project_id, iteration.id)
        return updated


def _progress_time(iteration: Iteration) -> str:
    # Documents written before progressAt existed: every progress report also set lastModified.
    return iteration.progress_at or iteration.last_modified


def _minutes(seconds: float) -> str:
    minutes = round(seconds / 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}" if minutes >= 1 else f"{round(seconds)} seconds"


def _stalled_reason(iteration: Iteration, stall_seconds: float) -> str:
    if iteration.attempts == 0:
        why = f" (the last try: {iteration.start_error})" if iteration.start_error else ""
        return f"The training job did not start within {_minutes(stall_seconds)}{why}; train again."
    stage = iteration.progress.stage if iteration.progress else "starting"
    return (
        f"The training job stopped reporting progress: nothing for {_minutes(stall_seconds)} since "
        f"'{stage}' ({_progress_time(iteration)}). It probably died (out of memory, or its time limit "
        "ended it); train again, and see the job execution's log for more."
    )
