"""The stored entities: projects, tags, images (with their tags and regions) and iterations.

Pure data. Each entity converts to and from a plain JSON document (``to_doc``/``from_doc``) so
that any metadata store (SQLite, Cosmos DB) can hold it. Every entity names its document
``KIND``, its ``partition`` (its project's id) and what a missing one is (``NOT_FOUND``: the
Custom Vision code; ``MISSING``: the message, ``{ref}`` standing for the id asked for), and
carries the ``etag`` of the version it was read at. The fields that stores are queried on are
class constants (``Image.TAG_IDS``): the document writer and every query use the same name.

Times are ISO-8601 UTC strings with a ``Z`` (they sort as text). Region coordinates are
normalised to 0..1 of the image's width and height, origin top-left.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from shared.domain.enums import ClassificationType, IterationStatus, TagType, TrainingType
from shared.domain.errors import Code
from shared.domain.versioning import read_version

__all__ = [
    "CREATED",
    "ID",
    "Image",
    "ImageTag",
    "Iteration",
    "Project",
    "Region",
    "Tag",
    "Tombstone",
    "TrainingProgress",
    "metadata_pair",
    "new_id",
]

# Fields every document has: its id and when it was created (the default listing order).
ID = "id"
CREATED = "created"


def metadata_pair(key: str, value: str) -> str:
    """One metadata entry as a single unambiguous string (a JSON pair), for array queries."""
    return json.dumps([key, value], separators=(",", ":"))


def new_id() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True)
class Project:
    KIND: ClassVar[str] = "project"
    NOT_FOUND: ClassVar[Code] = Code.NOT_FOUND_PROJECT
    MISSING: ClassVar[str] = "Project '{ref}' was not found."
    CREATED: ClassVar[str] = CREATED

    id: str
    name: str
    description: str
    domain_id: str
    classification_type: ClassificationType
    created: str
    last_modified: str
    target_export_platforms: tuple[str, ...] = ()
    augmentation_methods: dict[str, bool] = field(default_factory=dict)
    export_model_container_uri: str | None = None
    notification_queue_uri: str | None = None
    status: str = "Succeeded"
    etag: str | None = None

    @property
    def partition(self) -> str:
        return self.id

    def to_doc(self) -> dict[str, Any]:
        return {
            ID: self.id,
            "projectId": self.id,
            "name": self.name,
            "nameKey": self.name.casefold(),
            "description": self.description,
            "domainId": self.domain_id,
            "classificationType": self.classification_type.value,
            "targetExportPlatforms": list(self.target_export_platforms),
            "augmentationMethods": dict(self.augmentation_methods),
            "exportModelContainerUri": self.export_model_container_uri,
            "notificationQueueUri": self.notification_queue_uri,
            "status": self.status,
            CREATED: self.created,
            "lastModified": self.last_modified,
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any], etag: str | None = None) -> Project:
        return cls(
            id=doc[ID],
            name=doc["name"],
            description=doc.get("description") or "",
            domain_id=doc["domainId"],
            classification_type=ClassificationType(doc["classificationType"]),
            created=doc[CREATED],
            last_modified=doc["lastModified"],
            target_export_platforms=tuple(doc.get("targetExportPlatforms") or ()),
            augmentation_methods=dict(doc.get("augmentationMethods") or {}),
            export_model_container_uri=doc.get("exportModelContainerUri"),
            notification_queue_uri=doc.get("notificationQueueUri"),
            status=doc.get("status", "Succeeded"),
            etag=etag,
        )


@dataclass(frozen=True)
class Tag:
    KIND: ClassVar[str] = "tag"
    NOT_FOUND: ClassVar[Code] = Code.NOT_FOUND_TAG
    MISSING: ClassVar[str] = "Tag '{ref}' was not found in this project."
    CREATED: ClassVar[str] = CREATED
    TYPE: ClassVar[str] = "type"

    id: str
    project_id: str
    name: str
    description: str
    type: TagType
    created: str
    etag: str | None = None

    @property
    def partition(self) -> str:
        return self.project_id

    def to_doc(self) -> dict[str, Any]:
        return {
            ID: self.id,
            "projectId": self.project_id,
            "name": self.name,
            "nameKey": self.name.casefold(),
            "description": self.description,
            Tag.TYPE: self.type.value,
            CREATED: self.created,
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any], etag: str | None = None) -> Tag:
        return cls(
            id=doc[ID],
            project_id=doc["projectId"],
            name=doc["name"],
            description=doc.get("description") or "",
            type=TagType(doc[Tag.TYPE]),
            created=doc[CREATED],
            etag=etag,
        )


@dataclass(frozen=True)
class ImageTag:
    tag_id: str
    created: str


@dataclass(frozen=True)
class Region:
    """A box in normalised coordinates: fractions of the image's width and height."""

    id: str
    tag_id: str
    left: float
    top: float
    width: float
    height: float
    created: str


@dataclass(frozen=True)
class Image:
    KIND: ClassVar[str] = "image"
    NOT_FOUND: ClassVar[Code] = Code.NOT_FOUND_IMAGE
    MISSING: ClassVar[str] = "Image '{ref}' was not found."
    ID: ClassVar[str] = ID
    CREATED: ClassVar[str] = CREATED
    # Denormalised arrays, so that tag, box and metadata filters are one array query each.
    TAG_IDS: ClassVar[str] = "tagIds"
    REGION_IDS: ClassVar[str] = "regionIds"
    METADATA_PAIRS: ClassVar[str] = "metadataPairs"

    id: str
    project_id: str
    created: str
    width: int
    height: int
    format: str
    size_bytes: int
    content_hash: str
    blob_key: str
    tags: tuple[ImageTag, ...] = ()
    regions: tuple[Region, ...] = ()
    metadata: dict[str, str] = field(default_factory=dict)
    etag: str | None = None

    @property
    def partition(self) -> str:
        return self.project_id

    @property
    def tag_ids(self) -> tuple[str, ...]:
        """Tags on the image: its image tags and the tags of its regions, each once, in order."""
        seen: dict[str, None] = {}
        for t in self.tags:
            seen.setdefault(t.tag_id, None)
        for r in self.regions:
            seen.setdefault(r.tag_id, None)
        return tuple(seen)

    @property
    def metadata_pairs(self) -> tuple[str, ...]:
        return tuple(metadata_pair(k, v) for k, v in self.metadata.items())

    def with_changes(self, **changes: Any) -> Image:
        return replace(self, **changes)

    def to_doc(self) -> dict[str, Any]:
        return {
            ID: self.id,
            "projectId": self.project_id,
            CREATED: self.created,
            "width": self.width,
            "height": self.height,
            "format": self.format,
            "sizeBytes": self.size_bytes,
            "contentHash": self.content_hash,
            "blobKey": self.blob_key,
            "tags": [{"tagId": t.tag_id, "created": t.created} for t in self.tags],
            "regions": [
                {
                    "id": r.id,
                    "tagId": r.tag_id,
                    "left": r.left,
                    "top": r.top,
                    "width": r.width,
                    "height": r.height,
                    "created": r.created,
                }
                for r in self.regions
            ],
            Image.TAG_IDS: list(self.tag_ids),
            Image.REGION_IDS: [r.id for r in self.regions],
            "metadata": dict(self.metadata),
            Image.METADATA_PAIRS: list(self.metadata_pairs),
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any], etag: str | None = None) -> Image:
        return cls(
            id=doc[ID],
            project_id=doc["projectId"],
            created=doc[CREATED],
            width=doc["width"],
            height=doc["height"],
            format=doc["format"],
            size_bytes=doc["sizeBytes"],
            content_hash=doc["contentHash"],
            blob_key=doc["blobKey"],
            tags=tuple(ImageTag(t["tagId"], t["created"]) for t in doc.get("tags", ())),
            regions=tuple(
                Region(r["id"], r["tagId"], r["left"], r["top"], r["width"], r["height"], r["created"])
                for r in doc.get("regions", ())
            ),
            metadata=dict(doc.get("metadata") or {}),
            etag=etag,
        )


@dataclass(frozen=True)
class TrainingProgress:
    """How far a training has got: written by the trainer process, read by the API (and the studio).

    ``stage`` is text for a person ("training: fitting"); ``percent`` is 0..100."""

    VERSION: ClassVar[int] = 1

    stage: str
    percent: int

    def to_doc(self) -> dict[str, Any]:
        return {"version": self.VERSION, "stage": self.stage, "percent": self.percent}

    @classmethod
    def from_doc(cls, doc: dict[str, Any] | None) -> TrainingProgress | None:
        if doc is None:
            return None
        read_version("The training progress", doc, cls.VERSION)
        return cls(str(doc["stage"]), int(doc["percent"]))


@dataclass(frozen=True)
class Iteration:
    """One training run of a project and the model it produced."""

    KIND: ClassVar[str] = "iteration"
    NOT_FOUND: ClassVar[Code] = Code.NOT_FOUND_ITERATION
    MISSING: ClassVar[str] = "Iteration '{ref}' was not found."
    NUMBER: ClassVar[str] = "number"
    STATUS: ClassVar[str] = "status"
    PUBLISH_NAME: ClassVar[str] = "publishName"

    id: str
    project_id: str
    number: int
    name: str
    status: IterationStatus
    created: str
    last_modified: str
    domain_id: str
    classification_type: ClassificationType
    training_type: TrainingType
    reserved_budget_in_hours: int
    fingerprint: str
    selected_tags: tuple[str, ...] = ()
    trained_at: str | None = None
    training_seconds: float = 0.0
    training_error_details: str | None = None
    publish_name: str = ""
    original_publish_resource_id: str = ""
    progress: TrainingProgress | None = None
    # When the progress last moved (or the iteration was queued, or its job started): a training
    # whose progress stands still too long has lost its trainer (see IterationService.fail_stalled).
    progress_at: str | None = None
    attempts: int = 0
    # Why the training job could not be started yet (the last refused or failed start), kept for
    # the reason the iteration gets if it never starts.
    start_error: str | None = None
    # Which snapshot blob holds what the iteration trained on: it is rewritten (as a new blob, a
    # version up) only when images are removed from every iteration.
    snapshot_version: int = 0
    etag: str | None = None

    @property
    def partition(self) -> str:
        return self.project_id

    def with_changes(self, **changes: Any) -> Iteration:
        return replace(self, **changes)

    def to_doc(self) -> dict[str, Any]:
        return {
            ID: self.id,
            "projectId": self.project_id,
            Iteration.NUMBER: self.number,
            "name": self.name,
            "nameKey": self.name.casefold(),
            Iteration.STATUS: self.status.value,
            CREATED: self.created,
            "lastModified": self.last_modified,
            "domainId": self.domain_id,
            "classificationType": self.classification_type.value,
            "trainingType": self.training_type.value,
            "reservedBudgetInHours": self.reserved_budget_in_hours,
            "fingerprint": self.fingerprint,
            "selectedTags": list(self.selected_tags),
            "trainedAt": self.trained_at,
            "trainingSeconds": self.training_seconds,
            "trainingErrorDetails": self.training_error_details,
            Iteration.PUBLISH_NAME: self.publish_name,
            "originalPublishResourceId": self.original_publish_resource_id,
            "progress": self.progress.to_doc() if self.progress else None,
            "progressAt": self.progress_at,
            "attempts": self.attempts,
            "startError": self.start_error,
            "snapshotVersion": self.snapshot_version,
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any], etag: str | None = None) -> Iteration:
        return cls(
            id=doc[ID],
            project_id=doc["projectId"],
            number=doc[Iteration.NUMBER],
            name=doc["name"],
            status=IterationStatus(doc[Iteration.STATUS]),
            created=doc[CREATED],
            last_modified=doc["lastModified"],
            domain_id=doc["domainId"],
            classification_type=ClassificationType(doc["classificationType"]),
            training_type=TrainingType(doc["trainingType"]),
            reserved_budget_in_hours=doc.get("reservedBudgetInHours", 0),
            fingerprint=doc.get("fingerprint", ""),
            selected_tags=tuple(doc.get("selectedTags") or ()),
            trained_at=doc.get("trainedAt"),
            training_seconds=doc.get("trainingSeconds", 0.0),
            training_error_details=doc.get("trainingErrorDetails"),
            publish_name=doc.get(Iteration.PUBLISH_NAME) or "",
            original_publish_resource_id=doc.get("originalPublishResourceId") or "",
            progress=TrainingProgress.from_doc(doc.get("progress")),
            progress_at=doc.get("progressAt"),
            attempts=doc.get("attempts", 0),
            start_error=doc.get("startError"),
            snapshot_version=doc.get("snapshotVersion", 0),
            etag=etag,
        )


@dataclass(frozen=True)
class Tombstone:
    """A project or tag being deleted: written before the thing disappears, removed once its remains
    (documents, bytes, references) are gone, so that a delete interrupted by a crash is finished by
    whoever finds it (``shared.services.deletions``). All live in one partition of their own."""

    KIND: ClassVar[str] = "tombstone"
    NOT_FOUND: ClassVar[Code] = Code.NOT_FOUND_PROJECT  # never shown: a tombstone is internal
    MISSING: ClassVar[str] = "Deletion '{ref}' was not found."
    PARTITION: ClassVar[str] = "tombstones"
    PROJECT: ClassVar[str] = "project"
    TAG: ClassVar[str] = "tag"

    what: str  # PROJECT or TAG
    project_id: str
    target_id: str  # the project's id, or the tag's
    name: str  # its unique name, freed at the delete (the claim is released only if still its own)
    deleted_at: str
    purged_at: str | None = None  # when the first purge pass ended; a last pass follows after a grace
    etag: str | None = None

    @property
    def id(self) -> str:
        return f"{self.what}:{self.target_id}"

    @property
    def partition(self) -> str:
        return Tombstone.PARTITION

    def to_doc(self) -> dict[str, Any]:
        return {
            ID: self.id,
            "what": self.what,
            "ofProject": self.project_id,  # not "projectId": that is the partition key in Cosmos DB
            "targetId": self.target_id,
            "name": self.name,
            "deletedAt": self.deleted_at,
            "purgedAt": self.purged_at,
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any], etag: str | None = None) -> Tombstone:
        return cls(
            what=doc["what"],
            project_id=doc["ofProject"],
            target_id=doc["targetId"],
            name=doc["name"],
            deleted_at=doc["deletedAt"],
            purged_at=doc.get("purgedAt"),
            etag=etag,
        )
