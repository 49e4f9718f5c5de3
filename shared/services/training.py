"""Train requests: validate, snapshot, take the project's training lock, create the iteration, enqueue.

A train call only enqueues: it writes the snapshot, then the iteration record (``Training``),
then a :class:`~shared.contracts.jobs.TrainIteration` message. Whatever reads the queue (the
local worker, or the queue-triggered function in Azure) runs the trainer, which moves the record
to ``Completed`` or ``Failed``. One training at a time per project is enforced with a claim, so
two concurrent train calls (on two instances, even) cannot both start.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from shared.contracts.jobs import TrainIteration, encode
from shared.contracts.snapshot import Snapshot
from shared.domain.catalogue import domain_task
from shared.domain.clock import utc_now
from shared.domain.entities import Image, Iteration, Project, Tag, TrainingProgress, new_id
from shared.domain.enums import ClassificationType, IterationStatus, TagType, Task, TrainingType, parse_member
from shared.domain.errors import BadRequest, Code, NotFound
from shared.domain.limits import (
    MAX_ITERATIONS_PER_PROJECT,
    MIN_IMAGES_PER_TAG_CLASSIFICATION,
    MIN_IMAGES_PER_TAG_DETECTION,
)
from shared.domain.validation import parse_guids
from shared.services.iterations import IterationService
from shared.services.projects import ProjectService
from shared.services.snapshots import SnapshotStore
from shared.services.tags import TagService
from shared.stores.claims import OwnerAlive, TrainingLock
from shared.stores.documents import Documents
from shared.stores.ports import MetadataStore
from shared.stores.queue import WorkQueue

__all__ = ["TrainRequest", "TrainingService"]

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class TrainRequest:
    training_type: str | None = None
    reserved_budget_in_hours: int = 0
    force_train: bool = False
    notification_email_address: str | None = None
    selected_tags: Sequence[str] | None = None


def _training_type(value: str | None) -> TrainingType:
    found = parse_member(TrainingType, value, TrainingType.REGULAR)
    if found is None:
        raise BadRequest(f"trainingType must be Regular or Advanced, not '{value}'.", Code.BAD_REQUEST_INVALID)
    return found


class TrainingService:
    def __init__(
        self,
        meta: MetadataStore,
        projects: ProjectService,
        tags: TagService,
        iterations: IterationService,
        snapshots: SnapshotStore,
        queue: WorkQueue,
    ) -> None:
        self._iterations_docs = Documents(meta, Iteration)
        self._images = Documents(meta, Image)
        self._projects = projects
        self._tags = tags
        self._iterations = iterations
        self._snapshots = snapshots
        self._queue = queue
        self._lock = TrainingLock(meta)

    def train(self, project_id: str, request: TrainRequest) -> Iteration:
        project = self._projects.get(project_id)
        training_type = self._checked_request(request)
        existing = self._iterations.newest_first(project.id)
        if any(i.status == IterationStatus.TRAINING for i in existing):
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
            "classificationType": project.classification_type.value,
            "trainingType": training_type.value,
            "budget": request.reserved_budget_in_hours,
        }
        fingerprint = snapshot.fingerprint(settings)
        latest = next((i for i in existing if i.status != IterationStatus.FAILED), None)
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
            status=IterationStatus.TRAINING,
            created=now,
            last_modified=now,
            domain_id=project.domain_id,
            classification_type=project.classification_type,
            training_type=training_type,
            reserved_budget_in_hours=request.reserved_budget_in_hours,
            fingerprint=fingerprint,
            selected_tags=tuple(t.id for t in snapshot.regular_tags),
            progress=TrainingProgress("queued", 0),
            progress_at=now,
        )
        self._lock.acquire(project.id, iteration.id, self._still_training(project.id))
        try:
            self._snapshots.save(project.id, iteration.id, snapshot)
            created = self._iterations_docs.create(iteration)
        except BaseException:
            self._lock.release(project.id, iteration.id)
            raise
        self.enqueue(created)
        return created

    def enqueue(self, iteration: Iteration) -> None:
        """Ask for the iteration to be trained (again, when a stopped server resumes it)."""
        self._queue.put(encode(TrainIteration(iteration.project_id, iteration.id)))

    def resume_unfinished(self, quiet_for: float | None = None) -> int:
        """Enqueue again the iterations still marked Training: every one (``quiet_for`` None: one
        server, whose stop interrupted them), or those quiet for ``quiet_for`` seconds (a queue that
        several servers share: the others' trainings are alive and keep their clocks moving)."""
        resumed = 0
        found = (
            self._iterations.training_iterations() if quiet_for is None else self._iterations.quiet_training(quiet_for)
        )
        for iteration in found:
            self.enqueue(iteration)
            resumed += 1
        return resumed

    @staticmethod
    def _checked_request(request: TrainRequest) -> TrainingType:
        training_type = _training_type(request.training_type)
        if request.reserved_budget_in_hours < 0:
            raise BadRequest("reservedBudgetInHours must not be negative.", Code.BAD_REQUEST_INVALID)
        if training_type == TrainingType.ADVANCED and request.reserved_budget_in_hours < 1:
            raise BadRequest(
                "Advanced training needs a reserved budget: set reservedBudgetInHours to at least 1.",
                Code.BAD_REQUEST_RESERVED_BUDGET_NOT_ENOUGH,
            )
        email = request.notification_email_address
        if email and not _EMAIL.match(email):
            raise BadRequest(f"'{email}' is not an e-mail address.", Code.BAD_REQUEST_INVALID_EMAIL_ADDRESS)
        return training_type

    def _still_training(self, project_id: str) -> OwnerAlive:
        def training(iteration_id: str) -> bool:
            found = self._iterations_docs.find(project_id, iteration_id)
            return found is not None and found.status == IterationStatus.TRAINING

        return training

    def _validated_snapshot(self, project: Project, selected: Sequence[str] | None) -> Snapshot:
        detection = domain_task(project.domain_id) is Task.DETECTION
        tags = self._tags.all(project.id)
        if detection and any(t.type == TagType.NEGATIVE for t in tags):
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
            tags = [t for t in tags if t.id in wanted or t.type == TagType.NEGATIVE]
        snapshot = Snapshot.take(tags, self._images.iterate(project.id, descending=True), detection=detection)
        _check_enough(project, snapshot, tags, detection)
        return Snapshot.take(
            [t for t in tags if t.type == TagType.NEGATIVE or _labelled(snapshot, t, detection) > 0],
            snapshot.images,
            detection=detection,
        )


def _labelled(snapshot: Snapshot, tag: Tag, detection: bool) -> int:
    """How many of the snapshot's images carry the tag (as a box, for detection)."""
    if detection:
        return sum(1 for i in snapshot.images if any(r.tag_id == tag.id for r in i.regions))
    return sum(1 for i in snapshot.images if any(t.tag_id == tag.id for t in i.tags))


def _check_enough(project: Project, snapshot: Snapshot, tags: list[Tag], detection: bool) -> None:
    minimum = MIN_IMAGES_PER_TAG_DETECTION if detection else MIN_IMAGES_PER_TAG_CLASSIFICATION
    multiclass = project.classification_type == ClassificationType.MULTICLASS
    code = (
        Code.BAD_REQUEST_DETECTION_TRAINING_VALIDATION_FAILED
        if detection
        else Code.BAD_REQUEST_MULTICLASS_TRAINING_VALIDATION_FAILED
        if multiclass
        else Code.BAD_REQUEST_MULTILABEL_TRAINING_VALIDATION_FAILED
    )
    counts = {t.name: _labelled(snapshot, t, detection) for t in tags if t.type != TagType.NEGATIVE}
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
