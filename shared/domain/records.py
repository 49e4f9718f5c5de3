"""What the product keeps about its models' work: stored predictions, Smart Labeler suggestions
and exports. Stored like the entities (``KIND``, ``partition``, ``to_doc``/``from_doc``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from shared.domain.entities import CREATED, ID
from shared.domain.enums import ExportStatus
from shared.domain.errors import Code

__all__ = ["Box", "ExportRecord", "ScoredTag", "StoredPrediction", "SuggestionRecord"]

# left, top, width, height: normalised 0..1 of the image, origin top-left
Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class ScoredTag:
    """One output of a model for one image: a tag, its probability and, for detection, its box."""

    tag_id: str
    probability: float
    box: Box | None = None

    def to_doc(self) -> dict[str, Any]:
        return {"tagId": self.tag_id, "probability": self.probability, "box": list(self.box) if self.box else None}

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> ScoredTag:
        box = doc.get("box")
        return cls(
            doc["tagId"],
            float(doc["probability"]),
            (float(box[0]), float(box[1]), float(box[2]), float(box[3])) if box else None,
        )


@dataclass(frozen=True)
class StoredPrediction:
    """A prediction kept (with its image) for ``query_predictions``, for 30 days."""

    KIND: ClassVar[str] = "prediction"
    NOT_FOUND: ClassVar[Code] = Code.NOT_FOUND
    MISSING: ClassVar[str] = "Prediction '{ref}' was not found."
    CREATED: ClassVar[str] = CREATED
    ITERATION_ID: ClassVar[str] = "iterationId"
    APPLICATION: ClassVar[str] = "application"

    id: str
    project_id: str
    iteration_id: str
    created: str
    application: str | None
    domain_id: str
    width: int
    height: int
    predictions: tuple[ScoredTag, ...]
    etag: str | None = None

    @property
    def partition(self) -> str:
        return self.project_id

    def to_doc(self) -> dict[str, Any]:
        return {
            ID: self.id,
            "projectId": self.project_id,
            StoredPrediction.ITERATION_ID: self.iteration_id,
            CREATED: self.created,
            StoredPrediction.APPLICATION: self.application,
            "domainId": self.domain_id,
            "width": self.width,
            "height": self.height,
            "predictions": [p.to_doc() for p in self.predictions],
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any], etag: str | None = None) -> StoredPrediction:
        return cls(
            id=doc[ID],
            project_id=doc["projectId"],
            iteration_id=doc[StoredPrediction.ITERATION_ID],
            created=doc[CREATED],
            application=doc.get(StoredPrediction.APPLICATION),
            domain_id=doc.get("domainId", ""),
            width=doc["width"],
            height=doc["height"],
            predictions=tuple(ScoredTag.from_doc(p) for p in doc["predictions"]),
            etag=etag,
        )


@dataclass(frozen=True)
class SuggestionRecord:
    """The Smart Labeler's result for one image by one iteration (the newer result replaces it)."""

    KIND: ClassVar[str] = "suggestion"
    NOT_FOUND: ClassVar[Code] = Code.NOT_FOUND
    MISSING: ClassVar[str] = "No suggestion '{ref}'."
    CREATED: ClassVar[str] = CREATED
    ITERATION_ID: ClassVar[str] = "iterationId"

    project_id: str
    iteration_id: str
    image_id: str
    created: str
    uncertainty: float  # 0..1, see shared.services.suggestions.uncertainty
    predictions: tuple[ScoredTag, ...]
    etag: str | None = None

    @property
    def id(self) -> str:
        return f"{self.iteration_id}.{self.image_id}"

    @property
    def partition(self) -> str:
        return self.project_id

    def to_doc(self) -> dict[str, Any]:
        return {
            ID: self.id,
            "projectId": self.project_id,
            SuggestionRecord.ITERATION_ID: self.iteration_id,
            "imageId": self.image_id,
            CREATED: self.created,
            "uncertainty": self.uncertainty,
            "predictions": [p.to_doc() for p in self.predictions],
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any], etag: str | None = None) -> SuggestionRecord:
        return cls(
            project_id=doc["projectId"],
            iteration_id=doc[SuggestionRecord.ITERATION_ID],
            image_id=doc["imageId"],
            created=doc[CREATED],
            uncertainty=float(doc["uncertainty"]),
            predictions=tuple(ScoredTag.from_doc(p) for p in doc["predictions"]),
            etag=etag,
        )


@dataclass(frozen=True)
class ExportRecord:
    """One export of an iteration to a platform (and flavor); its id names the pair."""

    KIND: ClassVar[str] = "export"
    NOT_FOUND: ClassVar[Code] = Code.NOT_FOUND
    MISSING: ClassVar[str] = "No export '{ref}'."
    CREATED: ClassVar[str] = CREATED

    id: str
    project_id: str
    iteration_id: str
    platform: str
    flavor: str | None
    status: ExportStatus
    created: str
    file_name: str
    error: str | None = None
    etag: str | None = None

    @property
    def partition(self) -> str:
        return self.project_id

    def to_doc(self) -> dict[str, Any]:
        return {
            ID: self.id,
            "projectId": self.project_id,
            "iterationId": self.iteration_id,
            "platform": self.platform,
            "flavor": self.flavor,
            "status": self.status.value,
            CREATED: self.created,
            "fileName": self.file_name,
            "error": self.error,
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any], etag: str | None = None) -> ExportRecord:
        return cls(
            id=doc[ID],
            project_id=doc["projectId"],
            iteration_id=doc["iterationId"],
            platform=doc["platform"],
            flavor=doc.get("flavor"),
            status=ExportStatus(doc["status"]),
            created=doc[CREATED],
            file_name=doc["fileName"],
            error=doc.get("error"),
            etag=etag,
        )
