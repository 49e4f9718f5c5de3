"""Iterations: train (which only enqueues), list newest first, read, rename, delete, performance, export."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query, Response

from shared.api.deps import ExportUriDep, ServicesDep, UriForDep
from shared.api.params import check_paging, order_newest_first, split_list
from shared.api.wire.exports import ExportOut, export_out
from shared.api.wire.iterations import IterationIn, IterationOut, TrainingParametersIn, iteration_out
from shared.api.wire.performance import (
    ImagePerformanceOut,
    IterationPerformanceOut,
    image_performance_out,
    performance_out,
)
from shared.domain.limits import MAX_INT32
from shared.services.training import TrainRequest

router = APIRouter(tags=["iterations"])


@router.post("/projects/{projectId}/train", operation_id="TrainProject", response_model=IterationOut)
def train_project(
    services: ServicesDep,
    projectId: str,  # noqa: N803
    training_type: Annotated[str | None, Query(alias="trainingType")] = None,
    reserved_budget_in_hours: Annotated[int, Query(alias="reservedBudgetInHours", le=MAX_INT32)] = 0,
    force_train: Annotated[bool, Query(alias="forceTrain")] = False,
    notification_email_address: Annotated[str | None, Query(alias="notificationEmailAddress")] = None,
    parameters: Annotated[TrainingParametersIn | None, Body()] = None,
) -> IterationOut:
    request = TrainRequest(
        training_type=training_type,
        reserved_budget_in_hours=reserved_budget_in_hours,
        force_train=force_train,
        notification_email_address=notification_email_address,
        selected_tags=parameters.selected_tags if parameters else None,
    )
    return iteration_out(services.training.train(projectId, request))


@router.get("/projects/{projectId}/iterations", operation_id="GetIterations", response_model=list[IterationOut])
def get_iterations(services: ServicesDep, projectId: str) -> list[IterationOut]:  # noqa: N803
    return [iteration_out(i) for i in services.iterations.newest_first(projectId)]


@router.get("/projects/{projectId}/iterations/{iterationId}", operation_id="GetIteration", response_model=IterationOut)
def get_iteration(services: ServicesDep, projectId: str, iterationId: str) -> IterationOut:  # noqa: N803
    return iteration_out(services.iterations.get(projectId, iterationId))


@router.patch(
    "/projects/{projectId}/iterations/{iterationId}", operation_id="UpdateIteration", response_model=IterationOut
)
def update_iteration(
    services: ServicesDep,
    projectId: str,  # noqa: N803
    iterationId: str,  # noqa: N803
    body: IterationIn,
) -> IterationOut:
    return iteration_out(services.iterations.rename(projectId, iterationId, body.name))


@router.delete("/projects/{projectId}/iterations/{iterationId}", operation_id="DeleteIteration", status_code=204)
def delete_iteration(services: ServicesDep, projectId: str, iterationId: str) -> Response:  # noqa: N803
    services.iterations.delete(projectId, iterationId)
    return Response(status_code=204)


@router.get(
    "/projects/{projectId}/iterations/{iterationId}/performance",
    operation_id="GetIterationPerformance",
    response_model=IterationPerformanceOut,
)
def get_iteration_performance(
    services: ServicesDep,
    projectId: str,  # noqa: N803
    iterationId: str,  # noqa: N803
    threshold: Annotated[float | None, Query()] = None,
    overlap_threshold: Annotated[float | None, Query(alias="overlapThreshold")] = None,
) -> IterationPerformanceOut:
    result, tags = services.performance.performance(projectId, iterationId, threshold, overlap_threshold)
    return performance_out(result, tags)


@router.get(
    "/projects/{projectId}/iterations/{iterationId}/performance/images",
    operation_id="GetImagePerformances",
    response_model=list[ImagePerformanceOut],
)
def get_image_performances(
    services: ServicesDep,
    uri_for: UriForDep,
    projectId: str,  # noqa: N803
    iterationId: str,  # noqa: N803
    tag_ids: Annotated[str | None, Query(alias="tagIds")] = None,
    order_by: Annotated[str | None, Query(alias="orderBy")] = None,
    take: Annotated[int | None, Query()] = None,
    skip: Annotated[int | None, Query()] = None,
) -> list[ImagePerformanceOut]:
    take_, skip_ = check_paging(take, skip)
    found, tags = services.performance.image_performances(
        projectId, iterationId, split_list(tag_ids), newest_first=order_newest_first(order_by), take=take_, skip=skip_
    )
    return [image_performance_out(item, tags, uri_for) for item in found]


@router.get(
    "/projects/{projectId}/iterations/{iterationId}/performance/images/count",
    operation_id="GetImagePerformanceCount",
    response_model=int,
)
def get_image_performance_count(
    services: ServicesDep,
    projectId: str,  # noqa: N803
    iterationId: str,  # noqa: N803
    tag_ids: Annotated[str | None, Query(alias="tagIds")] = None,
) -> int:
    return services.performance.image_performance_count(projectId, iterationId, split_list(tag_ids))


@router.post(
    "/projects/{projectId}/iterations/{iterationId}/export", operation_id="ExportIteration", response_model=ExportOut
)
def export_iteration(
    services: ServicesDep,
    export_uri: ExportUriDep,
    projectId: str,  # noqa: N803
    iterationId: str,  # noqa: N803
    platform: Annotated[str | None, Query()] = None,
    flavor: Annotated[str | None, Query()] = None,
) -> ExportOut:
    record = services.exports.export(projectId, iterationId, platform, flavor)
    return export_out(record, export_uri(record))


@router.get(
    "/projects/{projectId}/iterations/{iterationId}/export", operation_id="GetExports", response_model=list[ExportOut]
)
def get_exports(
    services: ServicesDep,
    export_uri: ExportUriDep,
    projectId: str,  # noqa: N803
    iterationId: str,  # noqa: N803
) -> list[ExportOut]:
    return [export_out(r, export_uri(r)) for r in services.exports.list(projectId, iterationId)]


@router.post(
    "/projects/{projectId}/iterations/{iterationId}/publish", operation_id="PublishIteration", response_model=bool
)
def publish_iteration(
    services: ServicesDep,
    projectId: str,  # noqa: N803
    iterationId: str,  # noqa: N803
    publish_name: Annotated[str | None, Query(alias="publishName")] = None,
    prediction_id: Annotated[str | None, Query(alias="predictionId")] = None,
    overwrite: Annotated[bool, Query()] = False,
) -> bool:
    services.publishing.publish(projectId, iterationId, publish_name, prediction_id, overwrite)
    return True


@router.delete(
    "/projects/{projectId}/iterations/{iterationId}/publish", operation_id="UnpublishIteration", status_code=204
)
def unpublish_iteration(services: ServicesDep, projectId: str, iterationId: str) -> Response:  # noqa: N803
    services.publishing.unpublish(projectId, iterationId)
    return Response(status_code=204)
