"""Iterations: train requests (validate, snapshot, enqueue), reads, renames, deletes, and the
status changes the trainer reports.

A train call only enqueues: it writes the snapshot, then the iteration record (``Training``),
then a queue message. The worker runs the trainer, which moves the record to ``Completed`` or
``Failed``. One training at a time per project is enforced with a claim document, so two
concurrent train calls cannot both start.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from shared.domain.catalogue import OBJECT_DETECTION, find_domain
from shared.domain.entities import (
    ADVANCED_TRAINING,
    COMPLETED,
    FAILED,
    ITERATION,
    MULTICLASS,
    NEGATIVE,
    TRAINING,
    TRAINING_TYPES,
    Image,
    Iteration,
    Project,
    Tag,
    new_id,
    utc_now,
)
from shared.domain.errors import BadRequest, Code, Conflict, NotFound
from shared.domain.limits import (
    MAX_IMAGE_IDS_QUERY,
    MAX_ITERATIONS_PER_PROJECT,
    MIN_IMAGES_PER_TAG_CLASSIFICATION,
    MIN_IMAGES_PER_TAG_DETECTION,
)
from shared.domain.validation import check_name, is_guid, parse_guids
from shared.services.artifact_keys import image_prefix, iteration_prefix
from shared.services.image_records import iter_images
from shared.services.images import ImageQuery
from shared.services.names import NameClaims
from shared.services.projects import ProjectService
from shared.services.snapshots import Snapshot, SnapshotStore
from shared.services.tags import TagService, TagWithCount
from shared.stores.conditions import matches
from shared.stores.ports import BlobStore, Eq, MetadataStore
from shared.stores.queue import WorkQueue

__all__ = ["IterationQueries", "IterationService", "TrainRequest"]

log = logging.getLogger(__name__)

_ETAG_RETRIES = 8
_TRAINING_LOCK = "training"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class TrainRequest:
    training_type: str | None = None
    reserved_budget_in_hours: int = 0
    force_train: bool = False
    notification_email_address: str | None = None
    selected_tags: Sequence[str] | None = None


def _training_type(value: str | None) -> str:
    for known in TRAINING_TYPES:
        if (value or TRAINING_TYPES[0]).lower() == known.lower():
            return known
    raise BadRequest(f"trainingType must be Regular or Advanced, not '{value}'.", Code.BAD_REQUEST_INVALID)


class IterationService:
    def __init__(
        self,
        meta: MetadataStore,
        blobs: BlobStore,
        projects: ProjectService,
        tags: TagService,
        snapshots: SnapshotStore,
        queue: WorkQueue,
    ) -> None:
        self._meta = meta
        self._blobs = blobs
        self._projects = projects
        self._tags = tags
        self._snapshots = snapshots
        self._queue = queue
        self._lock = NameClaims(meta, "lock", Code.BAD_REQUEST_TRAINING_ALREADY_IN_PROGRESS, "training")

    # -- reads ------------------------------------------------------------------------------------

    def _read(self, project_id: str, iteration_id: str) -> Iteration:
        key = iteration_id.lower()
        if not is_guid(key):
            raise NotFound(f"Iteration '{iteration_id}' was not found.", Code.NOT_FOUND_ITERATION)
        try:
            stored = self._meta.read(ITERATION, project_id, key)
        except NotFound:
            raise NotFound(f"Iteration '{iteration_id}' was not found.", Code.NOT_FOUND_ITERATION) from None
        return Iteration.from_doc(stored.doc, stored.etag)

    def get(self, project_id: str, iteration_id: str) -> Iteration:
        project = self._projects.get(project_id)
        return self._read(project.id, iteration_id)

    def newest_first(self, project_id: str) -> list[Iteration]:
        """Newest first."""
        project = self._projects.get(project_id)
        page = self._meta.query(
            ITERATION, project.id, order_by="number", descending=True, limit=MAX_ITERATIONS_PER_PROJECT * 2
        )
        return [Iteration.from_doc(s.doc, s.etag) for s in page.items]

    def snapshot(self, project_id: str, iteration_id: str) -> tuple[Iteration, Snapshot]:
        iteration = self.get(project_id, iteration_id)
        return iteration, self._snapshots.load(iteration.project_id, iteration.id)

    def training_iterations(self) -> Iterator[Iteration]:
        """Every iteration of every project still marked Training (for the worker's recovery)."""
        token = None
        while True:
            page = self._meta.query(ITERATION, None, [Eq("status", TRAINING)], continuation=token, limit=100)
            yield from (Iteration.from_doc(s.doc, s.etag) for s in page.items)
            token = page.continuation
            if token is None:
                return

    # -- training requests ------------------------------------------------------------------------

    def train(self, project_id: str, request: TrainRequest) -> Iteration:
        project = self._projects.get(project_id)
        training_type = _training_type(request.training_type)
        if request.reserved_budget_in_hours < 0:
            raise BadRequest("reservedBudgetInHours must not be negative.", Code.BAD_REQUEST_INVALID)
        if training_type == ADVANCED_TRAINING and request.reserved_budget_in_hours < 1:
            raise BadRequest(
                "Advanced training needs a reserved budget: set reservedBudgetInHours to at least 1.",
                Code.BAD_REQUEST_RESERVED_BUDGET_NOT_ENOUGH,
            )
        email = request.notification_email_address
        if email and not _EMAIL.match(email):
            raise BadRequest(f"'{email}' is not an e-mail address.", Code.BAD_REQUEST_INVALID_EMAIL_ADDRESS)
        existing = self.newest_first(project.id)
        if any(i.status == TRAINING for i in existing):
            raise BadRequest(
                "This project is already training; wait for it to finish.",
                Code.BAD_REQUEST_TRAINING_ALREADY_IN_PROGRESS,
            )
        if len(existing) >= MAX_ITERATIONS_PER_PROJECT:
            raise BadRequest(
                f"A project can keep at most {MAX_ITERATIONS_PER_PROJECT} iterations; delete an old one first.",
                Code.BAD_REQUEST_EXCEED_ITERATION_PER_PROJECT_LIMIT,
            )
        snapshot = self._validated_snapshot(project, request.selected_tags)
        settings = {
            "domainId": project.domain_id,
            "classificationType": project.classification_type,
            "trainingType": training_type,
            "budget": request.reserved_budget_in_hours,
        }
        fingerprint = snapshot.fingerprint(settings)
        latest = next((i for i in existing if i.status != FAILED), None)
        if latest is not None and latest.fingerprint == fingerprint and not request.force_train:
            raise BadRequest(
                "Nothing changed since the last iteration (images, tags, boxes and settings are the same); "
                "pass forceTrain=true to train again anyway.",
                Code.BAD_REQUEST_TRAINING_NOT_NEEDED,
            )
        number = max((i.number for i in existing), default=0) + 1
        now = utc_now()
        iteration = Iteration(
            id=new_id(),
            project_id=project.id,
            number=number,
            name=f"Iteration {number}",
            status=TRAINING,
            created=now,
            last_modified=now,
            domain_id=project.domain_id,
            classification_type=project.classification_type,
            training_type=training_type,
            reserved_budget_in_hours=request.reserved_budget_in_hours,
            fingerprint=fingerprint,
            selected_tags=tuple(t.id for t in snapshot.regular_tags),
            progress={"stage": "queued", "percent": 0},
        )
        try:
            self._lock.claim(project.id, _TRAINING_LOCK, iteration.id, self._is_training(project.id))
        except BadRequest:  # another train request won the race
            raise BadRequest(
                "This project is already training; wait for it to finish.",
                Code.BAD_REQUEST_TRAINING_ALREADY_IN_PROGRESS,
            ) from None
        try:
            self._snapshots.save(project.id, iteration.id, snapshot)
            etag = self._meta.create(ITERATION, project.id, iteration.to_doc())
        except BaseException:
            self._lock.release(project.id, _TRAINING_LOCK, iteration.id)
            raise
        self._queue.put({"type": "train", "projectId": project.id, "iterationId": iteration.id})
        return iteration.with_changes(etag=etag)

    def _is_training(self, project_id: str) -> Callable[[str], bool]:
        def training(iteration_id: str) -> bool:
            try:
                return self._read(project_id, iteration_id).status == TRAINING
            except NotFound:
                return False

        return training

    def _validated_snapshot(self, project: Project, selected: Sequence[str] | None) -> Snapshot:
        domain = find_domain(project.domain_id)
        detection = domain is not None and domain.type == OBJECT_DETECTION
        tags = self._tags.all(project.id)
        if detection and any(t.type == NEGATIVE for t in tags):
            raise BadRequest(
                "Object detection projects cannot train with a Negative tag: every area outside the boxes "
                "already counts as negative. Delete the Negative tag, then train.",
                Code.BAD_REQUEST_DETECTION_TRAINING_NOT_ALLOW_NEGATIVE_TAG,
            )
        if selected:
            wanted = set(parse_guids(selected, "tag", limit=len(tags) + 1))
            unknown = wanted - {t.id for t in tags}
            if unknown:
                raise NotFound(f"Tag '{sorted(unknown)[0]}' was not found in this project.", Code.NOT_FOUND_TAG)
            tags = [t for t in tags if t.id in wanted or t.type == NEGATIVE]
        snapshot = Snapshot.take(tags, iter_images(self._meta, project.id), detection=detection)
        self._check_enough(project, snapshot, tags, detection)
        return Snapshot.take(
            [t for t in tags if t.type == NEGATIVE or self._count(snapshot, t, detection) > 0],
            snapshot.images,
            detection=detection,
        )

    @staticmethod
    def _count(snapshot: Snapshot, tag: Tag, detection: bool) -> int:
        if detection:
            return sum(1 for i in snapshot.images if any(r.tag_id == tag.id for r in i.regions))
        return sum(1 for i in snapshot.images if any(t.tag_id == tag.id for t in i.tags))

    def _check_enough(self, project: Project, snapshot: Snapshot, tags: list[Tag], detection: bool) -> None:
        minimum = MIN_IMAGES_PER_TAG_DETECTION if detection else MIN_IMAGES_PER_TAG_CLASSIFICATION
        multiclass = project.classification_type == MULTICLASS
        code = (
            Code.BAD_REQUEST_DETECTION_TRAINING_VALIDATION_FAILED
            if detection
            else Code.BAD_REQUEST_MULTICLASS_TRAINING_VALIDATION_FAILED
            if multiclass
            else Code.BAD_REQUEST_MULTILABEL_TRAINING_VALIDATION_FAILED
        )
        counts = {t.name: self._count(snapshot, t, detection) for t in tags if t.type != NEGATIVE}
        used = {name: n for name, n in counts.items() if n > 0}
        what = "images with boxes" if detection else "images"
        needed_tags = 2 if (multiclass and not detection) else 1
        if len(used) < needed_tags:
            raise BadRequest(
                f"Your project can't be trained just yet: it needs at least {needed_tags} tag"
                f"{'s' if needed_tags > 1 else ''} with {what} "
                f"({'a multiclass classifier chooses between tags' if needed_tags > 1 else 'tag some images first'}).",
                code,
            )
        short = sorted((name, n) for name, n in used.items() if n < minimum)
        if short:
            listed = ", ".join(f"'{name}' has {n}" for name, n in short[:5])
            raise BadRequest(
                f"Your project can't be trained just yet: every tag needs at least {minimum} {what} ({listed}).",
                code,
            )

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
        iteration = self._read(project.id, iteration_id)
        if iteration.publish_name:
            raise BadRequest(
                f"{iteration.name} is published as '{iteration.publish_name}'; unpublish it before deleting it.",
                Code.BAD_REQUEST_ITERATION_IS_PUBLISHED,
            )
        if iteration.status == TRAINING:
            raise BadRequest(
                f"{iteration.name} is still training; delete it once it has finished.",
                Code.BAD_REQUEST_TRAINING_ALREADY_IN_PROGRESS,
            )
        trained_on = {i.id for i in self._snapshots.load(project.id, iteration.id).images}
        self._meta.delete(ITERATION, project.id, iteration.id)
        still_needed = self._snapshots.referenced_images(project.id) | {
            i.id for i in iter_images(self._meta, project.id)
        }
        for image_id in trained_on - still_needed:
            self._blobs.delete_prefix(image_prefix(project.id, image_id))
        self._blobs.delete_prefix(iteration_prefix(project.id, iteration.id))
        self._snapshots.forget(iteration.id)

    # -- changes by the trainer -------------------------------------------------------------------

    def update(self, project_id: str, iteration_id: str, change: Callable[[Iteration], Iteration]) -> Iteration:
        for _ in range(_ETAG_RETRIES):
            current = self._read(project_id, iteration_id)
            updated = change(current).with_changes(last_modified=utc_now())
            try:
                etag = self._meta.replace(ITERATION, project_id, updated.to_doc(), if_match=current.etag)
            except Conflict:
                continue
            return updated.with_changes(etag=etag)
        raise Conflict(f"Iteration '{iteration_id}' is being changed by other requests; try again.")

    def report_progress(self, project_id: str, iteration_id: str, stage: str, percent: int) -> None:
        self.update(
            project_id,
            iteration_id,
            lambda i: (
                i.with_changes(progress={"stage": stage, "percent": max(0, min(100, percent))})
                if i.status == TRAINING
                else i
            ),
        )

    def complete(self, project_id: str, iteration_id: str, seconds: float) -> Iteration:
        done = self.update(
            project_id,
            iteration_id,
            lambda i: i.with_changes(status=COMPLETED, trained_at=utc_now(), training_seconds=seconds, progress=None),
        )
        self._lock.release(project_id, _TRAINING_LOCK, iteration_id)
        return done

    def fail(self, project_id: str, iteration_id: str, reason: str) -> Iteration:
        log.warning("iteration %s failed: %s", iteration_id, reason)
        failed = self.update(
            project_id,
            iteration_id,
            lambda i: (
                i.with_changes(status=FAILED, training_error_details=reason, progress=None)
                if i.status == TRAINING
                else i
            ),
        )
        self._lock.release(project_id, _TRAINING_LOCK, iteration_id)
        return failed

    def begin_attempt(self, project_id: str, iteration_id: str) -> Iteration:
        return self.update(project_id, iteration_id, lambda i: i.with_changes(attempts=i.attempts + 1))

    def requeue(self, iteration: Iteration) -> None:
        self._queue.put({"type": "train", "projectId": iteration.project_id, "iterationId": iteration.id})

    def completed(self, project_id: str, iteration_id: str) -> Iteration:
        """A completed iteration, or a clear error (for performance, export and publishing)."""
        iteration = self.get(project_id, iteration_id)
        if iteration.status != COMPLETED:
            raise BadRequest(
                f"{iteration.name} is not trained (its status is {iteration.status}).",
                Code.BAD_REQUEST_ITERATION_IS_NOT_TRAINED,
            )
        return iteration


def _query_snapshot(snapshot: Snapshot, query: ImageQuery) -> list[Image]:
    """The same filters as a workspace query, answered from the snapshot in memory."""
    where = query.conditions()
    found = [i for i in snapshot.images if matches(i.to_doc(), where)]
    found.sort(key=lambda i: (i.created, i.id), reverse=query.newest_first)
    return found


class IterationQueries:
    """``iterationId`` on image and tag queries: answers from the iteration's snapshot."""

    def __init__(self, iterations: IterationService) -> None:
        self._iterations = iterations

    def images(self, project_id: str, iteration_id: str, query: ImageQuery) -> list[Image]:
        _, snapshot = self._iterations.snapshot(project_id, iteration_id)
        return _query_snapshot(snapshot, query)[query.skip : query.skip + query.take]

    def count(self, project_id: str, iteration_id: str, query: ImageQuery) -> int:
        _, snapshot = self._iterations.snapshot(project_id, iteration_id)
        return len(_query_snapshot(snapshot, query))

    def by_ids(self, project_id: str, iteration_id: str, image_ids: Sequence[str]) -> list[Image]:
        _, snapshot = self._iterations.snapshot(project_id, iteration_id)
        wanted = parse_guids(image_ids, "image", limit=MAX_IMAGE_IDS_QUERY)
        by_id = {i.id: i for i in snapshot.images}
        return [by_id[i] for i in wanted if i in by_id]

    def tags(self, project_id: str, iteration_id: str) -> list[TagWithCount]:
        _, snapshot = self._iterations.snapshot(project_id, iteration_id)
        return [TagWithCount(t, sum(1 for i in snapshot.images if t.id in i.tag_ids)) for t in snapshot.tags]

    def tag(self, project_id: str, iteration_id: str, tag_id: str) -> TagWithCount:
        for item in self.tags(project_id, iteration_id):
            if item.tag.id == tag_id.lower():
                return item
        raise NotFound(f"Tag '{tag_id}' was not part of this iteration.", Code.NOT_FOUND_TAG)
