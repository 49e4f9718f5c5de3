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
from shared.api.single_image import image_from_body
from shared.api.wire.predictions import ImagePredictionOut, ImageUrlIn, image_prediction_out
from shared.domain.enums import Task

router = APIRouter(tags=["prediction"])
Application = Annotated[str | None, Query()]


def _from_body(task: Task, store: bool) -> Callable[..., Awaitable[ImagePredictionOut]]:
    async def endpoint(
        request: Request,
        services: ServicesDep,
        projectId: str,  # noqa: N803
        publishedName: str,  # noqa: N803
        application: Application = None,
    ) -> ImagePredictionOut:
        # An unknown name is refused before the body is read.
        iteration = await run_in_threadpool(services.publishing.published_iteration, projectId, publishedName)
        data = await image_from_body(request)
        result = await run_in_threadpool(
            lambda: services.predictions.predict(iteration, data, task=task, store=store, application=application)
        )
        return image_prediction_out(result)

    return endpoint


def _from_url(task: Task, store: bool) -> Callable[..., Awaitable[ImagePredictionOut]]:
    async def endpoint(
        services: ServicesDep,
        projectId: str,  # noqa: N803
        publishedName: str,  # noqa: N803
        body: ImageUrlIn,
        application: Application = None,
    ) -> ImagePredictionOut:
        def run() -> ImagePredictionOut:
            iteration = services.publishing.published_iteration(projectId, publishedName)
            return image_prediction_out(
                services.predictions.predict_url(iteration, body.url, task=task, store=store, application=application)
            )

        return await services.downloads.run(run)  # on the downloads' threads: a slow URL holds none of ours

    return endpoint


for _task, _segment, _operation in (
    (Task.CLASSIFICATION, "classify", "Classify"),
    (Task.DETECTION, "detect", "Detect"),
):
    for _store, _suffix in ((True, ""), (False, "/nostore")):
        _base = "/{projectId}/" + _segment + "/iterations/{publishedName}"
        _tail = "" if _store else "WithNoStore"
        router.add_api_route(
            _base + "/image" + _suffix, _from_body(_task, _store), methods=["POST"],
            operation_id=f"{_operation}Image{_tail}", response_model=ImagePredictionOut,
        )  # fmt: skip
        router.add_api_route(
            _base + "/url" + _suffix, _from_url(_task, _store), methods=["POST"],
            operation_id=f"{_operation}ImageUrl{_tail}", response_model=ImagePredictionOut,
        )  # fmt: skip
