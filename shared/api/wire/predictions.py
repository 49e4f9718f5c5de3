"""Predictions: the Prediction API's results, the stored predictions the training API lists, and
their query token."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pydantic import ConfigDict

from shared.api.wire.base import PredictionOut, UriFor, Wire, box_out
from shared.services.prediction_results import PredictedTag, PredictionResult

__all__ = [
    "ImagePredictionOut",
    "ImageUrlIn",
    "PredictionQueryResultOut",
    "PredictionQueryTagIn",
    "PredictionQueryTokenIn",
    "PredictionQueryTokenOut",
    "StoredImagePredictionOut",
    "image_prediction_out",
    "predictions_out",
    "stored_prediction_out",
]


class ImagePredictionOut(Wire):
    id: str
    project: str
    iteration: str
    created: str
    predictions: list[PredictionOut]


class StoredImagePredictionOut(ImagePredictionOut):
    resized_image_uri: str
    thumbnail_uri: str
    original_image_uri: str
    domain: str


def predictions_out(found: Sequence[PredictedTag]) -> list[PredictionOut]:
    return [
        PredictionOut(
            probability=p.probability,
            tag_id=p.tag_id,
            tag_name=p.tag_name,
            tag_type=p.tag_type,
            bounding_box=box_out(p.box),
        )
        for p in found
    ]


def image_prediction_out(result: PredictionResult) -> ImagePredictionOut:
    return ImagePredictionOut(
        id=result.id,
        project=result.project_id,
        iteration=result.iteration_id,
        created=result.created,
        predictions=predictions_out(result.predictions),
    )


def stored_prediction_out(result: PredictionResult, uri_for: UriFor) -> StoredImagePredictionOut:
    return StoredImagePredictionOut(
        **image_prediction_out(result).model_dump(),
        resized_image_uri=uri_for(result.project_id, result.id, "resized"),
        thumbnail_uri=uri_for(result.project_id, result.id, "thumbnail"),
        original_image_uri=uri_for(result.project_id, result.id, "original"),
        domain=result.domain_id,
    )


class ImageUrlIn(Wire):
    url: str


class PredictionQueryTagIn(Wire):
    # NaN or infinity (Python's JSON reader takes them) would be echoed back as invalid JSON: a 400.
    model_config = ConfigDict(allow_inf_nan=False)  # merged with Wire's

    id: str
    min_threshold: float = 0.0
    max_threshold: float = 1.0


class PredictionQueryTokenIn(Wire):
    session: str | None = None
    continuation: str | None = None
    max_count: int | None = None
    order_by: str | None = None
    tags: list[PredictionQueryTagIn] | None = None
    iteration_id: str | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    application: str | None = None


class PredictionQueryTokenOut(Wire):
    session: str | None = None
    continuation: str | None = None
    max_count: int | None = None
    order_by: str | None = None
    tags: list[PredictionQueryTagIn] | None = None
    iteration_id: str | None = None
    start_time: str | None = None
    end_time: str | None = None
    application: str | None = None


class PredictionQueryResultOut(Wire):
    token: PredictionQueryTokenOut
    results: list[StoredImagePredictionOut]
