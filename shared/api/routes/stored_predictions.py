"""Quick Test, stored predictions (query, delete), and moving predictions into the training set."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from shared.api.deps import PredictionUriForDep, ServicesDep, UriForDep
from shared.api.params import split_list
from shared.api.single_image import image_from_body
from shared.api.wire.images import ImageCreateSummaryOut, ImageIdCreateBatchIn, image_create_summary_out
from shared.api.wire.predictions import (
    ImagePredictionOut,
    ImageUrlIn,
    PredictionQueryResultOut,
    PredictionQueryTokenIn,
    PredictionQueryTokenOut,
    image_prediction_out,
    stored_prediction_out,
)
from shared.domain.clock import iso_utc
from shared.domain.errors import BadRequest, Code
from shared.domain.labelling import RegionInput
from shared.domain.validation import parse_guid
from shared.services.stored_predictions import PredictionQuery, TagThreshold

router = APIRouter(tags=["predictions"])
IterationId = Annotated[str | None, Query(alias="iterationId")]
Store = Annotated[bool, Query()]


@router.post("/projects/{projectId}/quicktest/image", operation_id="QuickTestImage", response_model=ImagePredictionOut)
async def quick_test_image(
    request: Request,
    services: ServicesDep,
    projectId: str,  # noqa: N803
    iteration_id: IterationId = None,
    store: Store = True,
) -> ImagePredictionOut:
    iteration = await run_in_threadpool(services.predictions.default_iteration, projectId, iteration_id)
    data = await image_from_body(request)
    result = await run_in_threadpool(lambda: services.predictions.predict(iteration, data, store=store))
    return image_prediction_out(result)


@router.post("/projects/{projectId}/quicktest/url", operation_id="QuickTestImageUrl", response_model=ImagePredictionOut)
async def quick_test_image_url(
    services: ServicesDep,
    projectId: str,  # noqa: N803
    body: ImageUrlIn,
    iteration_id: IterationId = None,
    store: Store = True,
) -> ImagePredictionOut:
    def run() -> ImagePredictionOut:
        iteration = services.predictions.default_iteration(projectId, iteration_id)
        return image_prediction_out(services.predictions.predict_url(iteration, body.url, store=store))

    return await services.downloads.run(run)  # on the downloads' threads: a slow URL holds none of ours


def _time(value: datetime | None) -> str | None:
    """Client times in the stored format, so that they compare as text."""
    return iso_utc(value) if value is not None else None


@router.post(
    "/projects/{projectId}/predictions/query", operation_id="QueryPredictions", response_model=PredictionQueryResultOut
)
def query_predictions(
    services: ServicesDep,
    uri_for: PredictionUriForDep,
    projectId: str,
    token: PredictionQueryTokenIn,  # noqa: N803
) -> PredictionQueryResultOut:
    order = (token.order_by or "Newest").lower()
    if order not in ("newest", "oldest"):
        raise BadRequest("orderBy must be Newest or Oldest.", Code.BAD_REQUEST_PREDICTION_INVALID_QUERY)
    query = PredictionQuery(
        session=token.session,
        continuation=token.continuation or None,
        max_count=token.max_count or 50,
        newest_first=order == "newest",
        tags=tuple(TagThreshold(parse_guid(t.id, "tag"), t.min_threshold, t.max_threshold) for t in token.tags or ()),
        iteration_id=token.iteration_id,
        start_time=_time(token.start_time),
        end_time=_time(token.end_time),
        application=token.application,
    )
    results, continuation = services.stored_predictions.query(projectId, query)
    echoed = PredictionQueryTokenOut(
        **{**token.model_dump(exclude={"start_time", "end_time"}), "continuation": continuation},
        start_time=query.start_time,
        end_time=query.end_time,
    )
    return PredictionQueryResultOut(token=echoed, results=[stored_prediction_out(r, uri_for) for r in results])


@router.delete("/projects/{projectId}/predictions", operation_id="DeletePrediction", status_code=204)
def delete_prediction(
    services: ServicesDep,
    projectId: str,  # noqa: N803
    ids: Annotated[str | None, Query()] = None,
) -> Response:
    services.stored_predictions.delete(projectId, split_list(ids))
    return Response(status_code=204)


@router.post(
    "/projects/{projectId}/images/predictions",
    operation_id="CreateImagesFromPredictions",
    response_model=ImageCreateSummaryOut,
    responses={207: {"model": ImageCreateSummaryOut}},
)
def create_images_from_predictions(
    response: Response,
    services: ServicesDep,
    uri_for: UriForDep,
    projectId: str,
    batch: ImageIdCreateBatchIn,  # noqa: N803
) -> ImageCreateSummaryOut:
    entries = [
        (
            parse_guid(e.id, "prediction"),
            e.tag_ids or (),
            [RegionInput(r.tag_id, r.left, r.top, r.width, r.height) for r in e.regions or ()],
        )
        for e in batch.images or ()
    ]
    summary = services.stored_predictions.move_to_training(projectId, entries, batch.tag_ids or (), batch.metadata)
    if not summary.is_batch_successful:
        response.status_code = 207
    return image_create_summary_out(summary, summary.tags, uri_for)
