"""The Smart Labeler: suggested tags and boxes for untagged images, and region proposals.

``suggest`` runs an iteration's model over chosen untagged images and keeps the results (30
days, one document per iteration and image); ``query`` pages through them, filtered by tag and
threshold and sorted by uncertainty (entropy), so a person labels the images the model is least
sure of first. ``region_proposals`` offers boxes on an image: from the project's newest detector,
or from a class-agnostic method when there is none yet.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from shared.domain.catalogue import domain_task
from shared.domain.clock import utc_ago, utc_now
from shared.domain.entities import Image
from shared.domain.enums import ClassificationType, IterationStatus, Task
from shared.domain.errors import BadRequest, Code
from shared.domain.limits import MAX_BATCH_IMAGES, MAX_IMAGE_BYTES_TRAINING, MAX_TAKE, RESULT_RETENTION
from shared.domain.records import Box, ScoredTag, SuggestionRecord
from shared.domain.validation import parse_guids
from shared.services.iterations import IterationService
from shared.services.prediction_results import PredictedTag, named
from shared.services.predictions import PredictionService
from shared.services.projects import ProjectService
from shared.services.tags import TagService
from shared.stores.documents import Documents
from shared.stores.ports import BlobStore, Eq, MetadataStore, Range
from shared.vision.images import model_image
from shared.vision.proposals import propose_regions

__all__ = ["Proposal", "Suggestion", "SuggestionQuery", "SuggestionService", "uncertainty"]

_PROPOSAL_FLOOR = 0.05  # detector boxes below this confidence are not proposed
_MAX_PROPOSALS = 20


@dataclass(frozen=True)
class Suggestion:
    image: Image
    iteration_id: str
    created: str
    predictions: list[PredictedTag]
    uncertainty: float


@dataclass(frozen=True)
class SuggestionQuery:
    tag_ids: Sequence[str] = ()
    threshold: float = 0.0
    session: str | None = None
    continuation: str | None = None
    max_count: int = 50
    uncertainty_ascending: bool = False


@dataclass(frozen=True)
class Proposal:
    confidence: float
    box: Box


def uncertainty(probabilities: Sequence[float], *, distribution: bool) -> float:
    """Entropy in 0..1: of the whole distribution (multiclass), else the most uncertain score."""
    ps = [min(1.0, max(0.0, p)) for p in probabilities]
    if not ps:
        return 0.0
    if distribution:
        total = sum(ps) or 1.0
        entropy = -sum((p / total) * math.log(p / total) for p in ps if p > 0)
        return entropy / math.log(len(ps)) if len(ps) > 1 else 0.0
    return max((-(p * math.log2(p)) - ((1 - p) * math.log2(1 - p)) if 0 < p < 1 else 0.0) for p in ps)


class SuggestionService:
    def __init__(
        self,
        meta: MetadataStore,
        blobs: BlobStore,
        projects: ProjectService,
        tags: TagService,
        iterations: IterationService,
        predictions: PredictionService,
    ) -> None:
        self._docs = Documents(meta, SuggestionRecord, guid_ids=False)
        self._images = Documents(meta, Image)
        self._blobs = blobs
        self._projects = projects
        self._tags = tags
        self._iterations = iterations
        self._predictions = predictions

    def suggest(self, project_id: str, iteration_id: str | None, image_ids: Sequence[str]) -> list[Suggestion]:
        if not iteration_id:
            raise BadRequest(
                "Give the iterationId whose model makes the suggestions.", Code.BAD_REQUEST_REQUIRED_PARAM_IS_NULL
            )
        iteration = self._iterations.completed(project_id, iteration_id)
        ids = parse_guids(image_ids, "image", limit=MAX_BATCH_IMAGES)
        if not ids:
            raise BadRequest("Give the imageIds to suggest tags for.", Code.BAD_REQUEST_REQUIRED_PARAM_IS_NULL)
        images = [self._images.get(iteration.project_id, i) for i in ids]  # 404 before any work
        multiclass = iteration.classification_type == ClassificationType.MULTICLASS
        detection = domain_task(iteration.domain_id) is Task.DETECTION
        found: list[Suggestion] = []
        try:
            for image in images:
                data = self._blobs.get(image.blob_key)
                result = self._predictions.predict(iteration, data, store=False, max_bytes=MAX_IMAGE_BYTES_TRAINING)
                predictions = [p for p in result.predictions if not detection or p.probability >= _PROPOSAL_FLOOR]
                score = uncertainty(
                    [p.probability for p in result.predictions][: (None if not detection else 10)],
                    distribution=multiclass and not detection,
                )
                suggestion = Suggestion(image, iteration.id, utc_now(), predictions, score)
                self._docs.put(  # already suggested by this iteration: the newer result wins
                    SuggestionRecord(
                        project_id=image.project_id,
                        iteration_id=iteration.id,
                        image_id=image.id,
                        created=suggestion.created,
                        uncertainty=score,
                        predictions=tuple(ScoredTag(p.tag_id, p.probability, p.box) for p in predictions),
                    )
                )
                found.append(suggestion)
        finally:  # a project deleted meanwhile: what was kept goes again (and its NotFound is the answer)
            self._projects.still_there(iteration.project_id)
        return found

    def _matching(
        self, project_id: str, iteration_id: str, tag_ids: Sequence[str], threshold: float
    ) -> list[Suggestion]:
        if not 0.0 <= threshold <= 1.0:
            raise BadRequest("threshold must be between 0 and 1.", Code.BAD_REQUEST_INVALID)
        iteration = self._iterations.completed(project_id, iteration_id)
        wanted = set(parse_guids(tag_ids, "tag", limit=MAX_TAKE))
        records = self._docs.iterate(
            iteration.project_id,
            [
                Eq(SuggestionRecord.ITERATION_ID, iteration.id),
                Range(SuggestionRecord.CREATED, utc_ago(RESULT_RETENTION)),
            ],
        )
        tags = self._tags.by_id(iteration.project_id)
        found: list[Suggestion] = []
        for record in records:
            image = self._images.find(iteration.project_id, record.image_id)
            if image is None or image.tag_ids:  # deleted, or labelled since: no longer a suggestion
                continue
            predictions = named(record.predictions, tags)
            if wanted and not any(p.tag_id in wanted and p.probability >= threshold for p in predictions):
                continue
            found.append(Suggestion(image, iteration.id, record.created, predictions, record.uncertainty))
        return found

    def query(
        self, project_id: str, iteration_id: str | None, query: SuggestionQuery
    ) -> tuple[list[Suggestion], str | None]:
        if not iteration_id:
            raise BadRequest("Give the iterationId of the suggestions.", Code.BAD_REQUEST_REQUIRED_PARAM_IS_NULL)
        if not 1 <= query.max_count <= MAX_TAKE:
            raise BadRequest(f"maxCount must be between 1 and {MAX_TAKE}.", Code.BAD_REQUEST_INVALID)
        found = self._matching(project_id, iteration_id, query.tag_ids, query.threshold)
        found.sort(key=lambda s: (s.uncertainty, s.image.id), reverse=not query.uncertainty_ascending)
        try:
            start = int(query.continuation or 0)
        except ValueError:
            raise BadRequest("The continuation token is not valid.", Code.BAD_REQUEST_INVALID) from None
        end = start + query.max_count
        return found[start:end], (str(end) if end < len(found) else None)

    def count(
        self, project_id: str, iteration_id: str | None, tag_ids: Sequence[str], threshold: float
    ) -> dict[str, int]:
        if not iteration_id:
            raise BadRequest("Give the iterationId of the suggestions.", Code.BAD_REQUEST_REQUIRED_PARAM_IS_NULL)
        found = self._matching(project_id, iteration_id, (), threshold)
        wanted = parse_guids(tag_ids, "tag", limit=MAX_TAKE)
        return {
            tag_id: sum(
                1 for s in found if any(p.tag_id == tag_id and p.probability >= threshold for p in s.predictions)
            )
            for tag_id in wanted
        }

    def region_proposals(self, project_id: str, image_id: str) -> list[Proposal]:
        project = self._projects.get(project_id)
        image = self._images.get(project.id, image_id)
        data = self._blobs.get(image.blob_key)
        detector = next(
            (i for i in self._iterations.newest_first(project.id)
             if i.status == IterationStatus.COMPLETED and domain_task(i.domain_id) is Task.DETECTION),
            None,
        )  # fmt: skip
        if detector is not None:
            result = self._predictions.predict(detector, data, store=False, max_bytes=MAX_IMAGE_BYTES_TRAINING)
            return [
                Proposal(p.probability, p.box)
                for p in result.predictions[:_MAX_PROPOSALS]
                if p.box is not None and p.probability >= _PROPOSAL_FLOOR
            ]
        # Proposals look at a 96-pixel grid: decode no more than a few times that (bounded memory).
        with model_image(data, min_side=96, max_bytes=MAX_IMAGE_BYTES_TRAINING) as decoded:
            return [Proposal(c, box) for c, box in propose_regions(decoded.image)]
