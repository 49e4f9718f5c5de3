"""The Prediction API: classify or detect, from image bytes or a URL, stored or ``nostore``.

``/customvision/{v3.0|v3.1}/prediction/{projectId}/{classify|detect}/iterations/{publishedName}/
{image|url}[/nostore]``, with the ``Prediction-Key``. Unknown or unpublished names answer 404
``NotFoundIteration`` "Invalid iteration", as Custom Vision does.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from shared.api.deps import ServicesDep
from shared.api.single_image import image_from_body, image_from_url
from shared.api.wire import ImagePredictionOut, ImageUrlIn, image_prediction_out
from shared.bootstrap import Services
from shared.domain.errors import BadRequest, Code
from shared.services.predictions import CLASSIFY, DETECT

router = APIRouter(tags=["prediction"])
Application = Annotated[str | None, Query()]
_MAX_APPLICATION = 64


async def _predict(
    services: Services, project_id: str, published: str, data: bytes, task: str, store: bool, application: str | None
) -> ImagePredictionOut:
    if application is not None and len(application) > _MAX_APPLICATION:
        raise BadRequest(
            f"application may be at most {_MAX_APPLICATION} characters.",
            Code.BAD_REQUEST_PREDICTION_INVALID_APPLICATION,
        )

    def run() -> ImagePredictionOut:
        iteration = services.predictions.published_iteration(project_id, published)
        result = services.predictions.predict(iteration, data, task=task, store=store, application=application)
        return image_prediction_out(result)

    return await run_in_threadpool(run)


def _from_body(task: str, store: bool) -> Callable[..., Awaitable[ImagePredictionOut]]:
    async def endpoint(
        request: Request,
        services: ServicesDep,
        projectId: str,  # noqa: N803
        publishedName: str,  # noqa: N803
        application: Application = None,
    ) -> ImagePredictionOut:
        # An unknown name is refused before the body is read.
        await run_in_threadpool(services.predictions.published_iteration, projectId, publishedName)
        data = await image_from_body(request)
        return await _predict(services, projectId, publishedName, data, task, store, application)

    return endpoint


def _from_url(task: str, store: bool) -> Callable[..., Awaitable[ImagePredictionOut]]:
    async def endpoint(
        services: ServicesDep,
        projectId: str,  # noqa: N803
        publishedName: str,  # noqa: N803
        body: ImageUrlIn,
        application: Application = None,
    ) -> ImagePredictionOut:
        await run_in_threadpool(services.predictions.published_iteration, projectId, publishedName)
        data = await image_from_url(body.url, services.fetch_policy)
        return await _predict(services, projectId, publishedName, data, task, store, application)

    return endpoint


for _task, _operation in ((CLASSIFY, "Classify"), (DETECT, "Detect")):
    for _store, _suffix in ((True, ""), (False, "/nostore")):
        _base = "/{projectId}/" + _task + "/iterations/{publishedName}"
        _tail = "" if _store else "WithNoStore"
        router.add_api_route(
            _base + "/image" + _suffix, _from_body(_task, _store), methods=["POST"],
            operation_id=f"{_operation}Image{_tail}", response_model=ImagePredictionOut,
        )  # fmt: skip
        router.add_api_route(
            _base + "/url" + _suffix, _from_url(_task, _store), methods=["POST"],
            operation_id=f"{_operation}ImageUrl{_tail}", response_model=ImagePredictionOut,
        )  # fmt: skip
