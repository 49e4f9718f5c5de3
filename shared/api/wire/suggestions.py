"""Smart Labeler: suggested tags and regions for untagged images, their query token, and region
proposals."""

from __future__ import annotations

from shared.api.wire.base import BoundingBoxOut, UriFor, Wire
from shared.api.wire.predictions import ImagePredictionOut, predictions_out
from shared.services.suggestions import Suggestion

__all__ = [
    "ImageRegionProposalOut",
    "RegionProposalOut",
    "StoredSuggestedTagAndRegionOut",
    "SuggestedTagAndRegionOut",
    "SuggestedTagAndRegionQueryOut",
    "SuggestedTagAndRegionQueryTokenIn",
    "TagFilterIn",
    "stored_suggestion_out",
    "suggestion_out",
]


class SuggestedTagAndRegionOut(ImagePredictionOut):
    prediction_uncertainty: float


class StoredSuggestedTagAndRegionOut(SuggestedTagAndRegionOut):
    width: int
    height: int
    resized_image_uri: str
    thumbnail_uri: str
    original_image_uri: str
    domain: str


def suggestion_out(found: Suggestion) -> SuggestedTagAndRegionOut:
    return SuggestedTagAndRegionOut(
        id=found.image.id,
        project=found.image.project_id,
        iteration=found.iteration_id,
        created=found.created,
        predictions=predictions_out(found.predictions),
        prediction_uncertainty=found.uncertainty,
    )


def stored_suggestion_out(found: Suggestion, uri_for: UriFor, domain_id: str) -> StoredSuggestedTagAndRegionOut:
    return StoredSuggestedTagAndRegionOut(
        **suggestion_out(found).model_dump(),
        width=found.image.width,
        height=found.image.height,
        resized_image_uri=uri_for(found.image.project_id, found.image.id, "resized"),
        thumbnail_uri=uri_for(found.image.project_id, found.image.id, "thumbnail"),
        original_image_uri=uri_for(found.image.project_id, found.image.id, "original"),
        domain=domain_id,
    )


class SuggestedTagAndRegionQueryTokenIn(Wire):
    tag_ids: list[str] | None = None
    threshold: float | None = None
    session: str | None = None
    continuation: str | None = None
    max_count: int | None = None
    sort_by: str | None = None


class SuggestedTagAndRegionQueryOut(Wire):
    token: SuggestedTagAndRegionQueryTokenIn
    results: list[StoredSuggestedTagAndRegionOut]


class TagFilterIn(Wire):
    tag_ids: list[str] | None = None
    threshold: float | None = None


class RegionProposalOut(Wire):
    confidence: float
    bounding_box: BoundingBoxOut


class ImageRegionProposalOut(Wire):
    project_id: str
    image_id: str
    proposals: list[RegionProposalOut]
