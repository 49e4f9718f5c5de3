"""Stored predictions: kept with their image for 30 days, queried, deleted, moved into training.

A prediction made with ``store`` on (the Prediction API's default, and Quick Test's) keeps its
image bytes and results, so that ``query_predictions`` can page through them (filtered by tag
thresholds, iteration, application and time) and ``create_images_from_predictions`` can turn them
into labelled training images.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from shared.domain.clock import utc_ago
from shared.domain.errors import BadRequest, Code, NotFound
from shared.domain.labelling import RegionInput
from shared.domain.limits import MAX_BATCH_IMAGES, MAX_TAKE, RESULT_RETENTION
from shared.domain.records import StoredPrediction
from shared.domain.validation import parse_guids
from shared.services.artifact_keys import prediction_key, prediction_prefix
from shared.services.image_uploads import ImageCreateSummary, ImageUploads, NewImage
from shared.services.prediction_results import PredictionResult
from shared.services.projects import ProjectService
from shared.services.renditions import read_rendition
from shared.services.tags import TagService
from shared.stores.documents import Documents
from shared.stores.ports import BlobStore, Condition, Eq, MetadataStore, Range

__all__ = ["PredictionQuery", "StoredPredictions", "TagThreshold"]

_MAX_QUERY_TAGS = 2


@dataclass(frozen=True)
class TagThreshold:
    tag_id: str
    min_threshold: float = 0.0
    max_threshold: float = 1.0


@dataclass(frozen=True)
class PredictionQuery:
    session: str | None = None
    continuation: str | None = None
    max_count: int = 50
    newest_first: bool = True
    tags: Sequence[TagThreshold] = field(default_factory=tuple)
    iteration_id: str | None = None
    start_time: str | None = None
    end_time: str | None = None
    application: str | None = None

    def conditions(self) -> list[Condition]:
        """What the store filters on (tag thresholds are checked on each result: :meth:`passes`)."""
        oldest = utc_ago(RESULT_RETENTION)
        where: list[Condition] = [Range(StoredPrediction.CREATED, max(oldest, self.start_time or ""), self.end_time)]
        if self.iteration_id:
            where.append(Eq(StoredPrediction.ITERATION_ID, self.iteration_id.lower()))
        if self.application:
            where.append(Eq(StoredPrediction.APPLICATION, self.application))
        return where

    def passes(self, record: StoredPrediction) -> bool:
        """Every tag threshold is met by some prediction of the record."""
        return all(
            any(
                p.tag_id == wanted.tag_id.lower() and wanted.min_threshold <= p.probability <= wanted.max_threshold
                for p in record.predictions
            )
            for wanted in self.tags
        )


@dataclass(frozen=True)
class _MoveEntry:
    prediction_id: str
    tag_ids: Sequence[str]
    regions: Sequence[RegionInput]


class StoredPredictions:
    def __init__(
        self,
        meta: MetadataStore,
        blobs: BlobStore,
        projects: ProjectService,
        tags: TagService,
        uploads: ImageUploads,
    ) -> None:
        self._docs = Documents(meta, StoredPrediction)
        self._blobs = blobs
        self._projects = projects
        self._tags = tags
        self._uploads = uploads

    def keep(self, record: StoredPrediction, data: bytes) -> None:
        """Store a prediction's image (first) and its record; a project deleted meanwhile has them
        removed again (NotFound)."""
        self._blobs.put(prediction_key(record.project_id, record.id), data)
        self._docs.create(record)
        self._projects.still_there(record.project_id)

    def query(self, project_id: str, query: PredictionQuery) -> tuple[list[PredictionResult], str | None]:
        project = self._projects.get(project_id)
        if not 1 <= query.max_count <= MAX_TAKE:
            raise BadRequest(f"maxCount must be between 1 and {MAX_TAKE}.", Code.BAD_REQUEST_PREDICTION_INVALID_QUERY)
        if len(query.tags) > _MAX_QUERY_TAGS:
            raise BadRequest(
                f"A prediction query may combine at most {_MAX_QUERY_TAGS} tags.",
                Code.BAD_REQUEST_PREDICTION_TAGS_EXCEEDED,
            )
        page = self._docs.page(
            project.id,
            query.conditions(),
            order_by=StoredPrediction.CREATED,
            descending=query.newest_first,
            limit=query.max_count,
            continuation=query.continuation,
            keep=query.passes,
        )
        tags = self._tags.by_id(project.id)
        return [PredictionResult.of_record(r, tags) for r in page.items], page.continuation

    def delete(self, project_id: str, prediction_ids: Sequence[str]) -> None:
        project = self._projects.get(project_id)
        ids = parse_guids(prediction_ids, "prediction", limit=MAX_BATCH_IMAGES)
        if not ids:
            raise BadRequest("Give the ids of the predictions to delete.", Code.BAD_REQUEST_PREDICTION_IDS_MISSING)
        for prediction_id in ids:
            if self._docs.delete(project.id, prediction_id):
                self._blobs.delete_prefix(prediction_prefix(project.id, prediction_id))

    def move_to_training(
        self,
        project_id: str,
        entries: Sequence[tuple[str, Sequence[str], Sequence[RegionInput]]],
        tag_ids: Sequence[str],
        metadata: Mapping[str, str] | None,
    ) -> ImageCreateSummary:
        """Stored prediction images (with tags or boxes) become training images and leave Predictions."""
        target = self._uploads.target(project_id)
        moves = [_MoveEntry(*entry) for entry in entries]
        items = [
            NewImage(m.prediction_id, self.image_of(target.project.id, m.prediction_id), None, m.tag_ids, m.regions)
            for m in moves
        ]
        summary = self._uploads.create_images(target, items, tag_ids, metadata)
        moved = [m.prediction_id for m, r in zip(moves, summary.images, strict=True) if r.status.stored]
        if moved:
            self.delete(target.project.id, moved)
        return summary

    def image_of(self, project_id: str, prediction_id: str) -> bytes | None:
        """The stored image of a (live) prediction, or None."""
        record = self._docs.find(project_id, prediction_id)
        if record is None or record.created < utc_ago(RESULT_RETENTION):
            return None
        try:
            return self._blobs.get(prediction_key(project_id, record.id))
        except NotFound:
            return None

    def read_rendition(self, project_id: str, prediction_id: str, rendition: str) -> tuple[bytes, str]:
        return read_rendition(self._blobs, prediction_prefix(project_id, prediction_id.lower()), rendition)

    def purge_expired(self, project_id: str) -> int:
        expired = self._docs.page(
            project_id, [Range(StoredPrediction.CREATED, None, utc_ago(RESULT_RETENTION))], limit=MAX_TAKE
        )
        for record in expired.items:
            self.delete(project_id, [record.id])
        return len(expired.items)
