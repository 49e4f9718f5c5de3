"""Iterations: train (which only enqueues), list newest first, read, rename, delete."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query, Response

from shared.api.deps import ServicesDep
from shared.api.wire import IterationIn, IterationOut, TrainingParametersIn, iteration_out
from shared.services.iterations import TrainRequest

router = APIRouter(tags=["iterations"])


@router.post("/projects/{projectId}/train", operation_id="TrainProject", response_model=IterationOut)
def train_project(
    services: ServicesDep,
    projectId: str,  # noqa: N803
    training_type: Annotated[str | None, Query(alias="trainingType")] = None,
    reserved_budget_in_hours: Annotated[int, Query(alias="reservedBudgetInHours")] = 0,
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
    return iteration_out(services.iterations.train(projectId, request))


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
