"""Performance: an iteration's metrics (overall and per tag) and each test image's predictions."""

from __future__ import annotations

from collections.abc import Mapping

from shared.api.wire.base import PredictionOut, UriFor, Wire, box_out
from shared.api.wire.images import image_out
from shared.api.wire.labels import ImageRegionOut, ImageTagOut
from shared.domain.entities import Tag
from shared.services.performance import ImagePerformance
from shared.vision.evaluation import IterationPerformance

__all__ = [
    "ImagePerformanceOut",
    "IterationPerformanceOut",
    "TagPerformanceOut",
    "image_performance_out",
    "performance_out",
    "prediction_out",
]


class TagPerformanceOut(Wire):
    id: str
    name: str
    precision: float
    precision_std_deviation: float
    recall: float
    recall_std_deviation: float
    average_precision: float


class IterationPerformanceOut(Wire):
    per_tag_performance: list[TagPerformanceOut]
    precision: float
    precision_std_deviation: float
    recall: float
    recall_std_deviation: float
    average_precision: float


def performance_out(result: IterationPerformance, tags: Mapping[str, Tag]) -> IterationPerformanceOut:
    return IterationPerformanceOut(
        per_tag_performance=[
            TagPerformanceOut(
                id=t.tag_id,
                name=tags[t.tag_id].name if t.tag_id in tags else "",
                precision=t.precision,
                precision_std_deviation=t.precision_std,
                recall=t.recall,
                recall_std_deviation=t.recall_std,
                average_precision=t.average_precision,
            )
            for t in result.per_tag
        ],
        precision=result.precision,
        precision_std_deviation=result.precision_std,
        recall=result.recall,
        recall_std_deviation=result.recall_std,
        average_precision=result.average_precision,
    )


def prediction_out(
    tag_id: str, probability: float, box: tuple[float, float, float, float] | None, tags: Mapping[str, Tag]
) -> PredictionOut:
    tag = tags.get(tag_id)
    return PredictionOut(
        probability=probability,
        tag_id=tag_id,
        tag_name=tag.name if tag else "",
        bounding_box=box_out(box),
        tag_type=tag.type if tag else "Regular",
    )


class ImagePerformanceOut(Wire):
    predictions: list[PredictionOut]
    id: str
    created: str
    width: int
    height: int
    image_uri: str
    thumbnail_uri: str
    tags: list[ImageTagOut] | None
    regions: list[ImageRegionOut] | None


def image_performance_out(item: ImagePerformance, tags: Mapping[str, Tag], uri_for: UriFor) -> ImagePerformanceOut:
    image = image_out(item.image, tags, uri_for)
    return ImagePerformanceOut(
        predictions=[prediction_out(p.tag_id, p.probability, p.box, tags) for p in item.predictions],
        id=image.id,
        created=image.created,
        width=image.width,
        height=image.height,
        image_uri=image.resized_image_uri,
        thumbnail_uri=image.thumbnail_uri,
        tags=image.tags,
        regions=image.regions,
    )
