"""The stored entities: projects, tags and images (with their tags and regions).

Pure data. Each entity converts to and from a plain JSON document (``to_doc``/``from_doc``) so
that any metadata store (SQLite, Cosmos DB) can hold it; documents are partitioned by project id.
Times are ISO-8601 UTC strings with a ``Z`` (they sort as text). Region coordinates are
normalised to 0..1 of the image's width and height, origin top-left.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = [
    "IMAGE",
    "ITERATION",
    "PROJECT",
    "TAG",
    "Image",
    "Iteration",
    "ImageTag",
    "Project",
    "Region",
    "Tag",
    "metadata_pair",
    "new_id",
    "iso_utc",
    "utc_ago",
    "utc_now",
]

# Document kinds, as stored.
PROJECT = "project"
TAG = "tag"
IMAGE = "image"

NEGATIVE = "Negative"
REGULAR = "Regular"
GENERAL_PRODUCT = "GeneralProduct"
TAG_TYPES = (REGULAR, NEGATIVE, GENERAL_PRODUCT)
MULTICLASS = "Multiclass"
MULTILABEL = "Multilabel"
CLASSIFICATION_TYPES = (MULTICLASS, MULTILABEL)


def metadata_pair(key: str, value: str) -> str:
    """One metadata entry as a single unambiguous string (a JSON pair), for array queries."""
    return json.dumps([key, value], separators=(",", ":"))


def new_id() -> str:
    return str(uuid.uuid4())


def iso_utc(moment: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SS.ffffffZ``: the format msrest parses, and one that sorts as text.

    A naive datetime is taken to be UTC."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def utc_now() -> str:
    return iso_utc(datetime.now(UTC))


def utc_ago(age: timedelta) -> str:
    """The time ``age`` ago, in the stored format (for retention windows)."""
    return iso_utc(datetime.now(UTC) - age)


@dataclass(frozen=True)
class Project:
    id: str
    name: str
    description: str
    domain_id: str
    classification_type: str
    created: str
    last_modified: str
    target_export_platforms: tuple[str, ...] = ()
    augmentation_methods: dict[str, bool] = field(default_factory=dict)
    export_model_container_uri: str | None = None
    notification_queue_uri: str | None = None
    status: str = "Succeeded"
    etag: str | None = None

    def to_doc(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "projectId": self.id,
            "name": self.name,
            "nameKey": self.name.casefold(),
            "description": self.description,
            "domainId": self.domain_id,
            "classificationType": self.classification_type,
            "targetExportPlatforms": list(self.target_export_platforms),
            "augmentationMethods": dict(self.augmentation_methods),
            "exportModelContainerUri": self.export_model_container_uri,
            "notificationQueueUri": self.notification_queue_uri,
            "status": self.status,
            "created": self.created,
            "lastModified": self.last_modified,
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any], etag: str | None = None) -> Project:
        return cls(
            id=doc["id"],
            name=doc["name"],
            description=doc.get("description") or "",
            domain_id=doc["domainId"],
            classification_type=doc["classificationType"],
            created=doc["created"],
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
    id: str
    project_id: str
    name: str
    description: str
    type: str
    created: str
    etag: str | None = None

    def to_doc(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "projectId": self.project_id,
            "name": self.name,
            "nameKey": self.name.casefold(),
            "description": self.description,
            "type": self.type,
            "created": self.created,
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any], etag: str | None = None) -> Tag:
        return cls(
            id=doc["id"],
            project_id=doc["projectId"],
            name=doc["name"],
            description=doc.get("description") or "",
            type=doc["type"],
            created=doc["created"],
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
    def tag_ids(self) -> tuple[str, ...]:
        """Tags on the image: its image tags and the tags of its regions, each once, in order."""
        seen: dict[str, None] = {}
        for t in self.tags:
            seen.setdefault(t.tag_id, None)
        for r in self.regions:
            seen.setdefault(r.tag_id, None)
        return tuple(seen)

    def with_changes(self, **changes: Any) -> Image:
        return replace(self, **changes)

    def to_doc(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "projectId": self.project_id,
            "created": self.created,
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
            # Denormalised for queries: every tag on the image, by image tag or by region.
            "tagIds": list(self.tag_ids),
            "regionIds": [r.id for r in self.regions],
            "metadata": dict(self.metadata),
            # So that a metadata ``$filter`` is an array query.
            "metadataPairs": [metadata_pair(k, v) for k, v in self.metadata.items()],
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any], etag: str | None = None) -> Image:
        return cls(
            id=doc["id"],
            project_id=doc["projectId"],
            created=doc["created"],
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


ITERATION = "iteration"
TRAINING = "Training"
COMPLETED = "Completed"
FAILED = "Failed"
REGULAR_TRAINING = "Regular"
ADVANCED_TRAINING = "Advanced"
TRAINING_TYPES = (REGULAR_TRAINING, ADVANCED_TRAINING)


@dataclass(frozen=True)
class Iteration:
    """One training run of a project and the model it produced.

    ``status`` is exactly ``Training``, then ``Completed`` or ``Failed`` (clients poll with string
    comparisons). ``progress`` is ``{"stage": str, "percent": int}`` while training.
    """

    id: str
    project_id: str
    number: int
    name: str
    status: str
    created: str
    last_modified: str
    domain_id: str
    classification_type: str
    training_type: str
    reserved_budget_in_hours: int
    fingerprint: str
    selected_tags: tuple[str, ...] = ()
    trained_at: str | None = None
    training_seconds: float = 0.0
    training_error_details: str | None = None
    publish_name: str = ""
    original_publish_resource_id: str = ""
    progress: dict[str, Any] | None = None
    attempts: int = 0
    etag: str | None = None

    def with_changes(self, **changes: Any) -> Iteration:
        return replace(self, **changes)

    def to_doc(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "projectId": self.project_id,
            "number": self.number,
            "name": self.name,
            "nameKey": self.name.casefold(),
            "status": self.status,
            "created": self.created,
            "lastModified": self.last_modified,
            "domainId": self.domain_id,
            "classificationType": self.classification_type,
            "trainingType": self.training_type,
            "reservedBudgetInHours": self.reserved_budget_in_hours,
            "fingerprint": self.fingerprint,
            "selectedTags": list(self.selected_tags),
            "trainedAt": self.trained_at,
            "trainingSeconds": self.training_seconds,
            "trainingErrorDetails": self.training_error_details,
            "publishName": self.publish_name,
            "originalPublishResourceId": self.original_publish_resource_id,
            "progress": self.progress,
            "attempts": self.attempts,
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any], etag: str | None = None) -> Iteration:
        return cls(
            id=doc["id"],
            project_id=doc["projectId"],
            number=doc["number"],
            name=doc["name"],
            status=doc["status"],
            created=doc["created"],
            last_modified=doc["lastModified"],
            domain_id=doc["domainId"],
            classification_type=doc["classificationType"],
            training_type=doc["trainingType"],
            reserved_budget_in_hours=doc.get("reservedBudgetInHours", 0),
            fingerprint=doc.get("fingerprint", ""),
            selected_tags=tuple(doc.get("selectedTags") or ()),
            trained_at=doc.get("trainedAt"),
            training_seconds=doc.get("trainingSeconds", 0.0),
            training_error_details=doc.get("trainingErrorDetails"),
            publish_name=doc.get("publishName") or "",
            original_publish_resource_id=doc.get("originalPublishResourceId") or "",
            progress=doc.get("progress"),
            attempts=doc.get("attempts", 0),
            etag=etag,
        )
