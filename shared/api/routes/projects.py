"""Projects: create, list (newest first), read, update, delete."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query, Response

from shared.api.deps import ServicesDep
from shared.api.params import split_list
from shared.api.wire.projects import CreateProjectOptionsIn, ProjectIn, ProjectOut, project_out
from shared.services.projects import ProjectChanges

router = APIRouter(tags=["projects"])


@router.get("/projects", operation_id="GetProjects", response_model=list[ProjectOut])
def get_projects(services: ServicesDep) -> list[ProjectOut]:
    return [project_out(p) for p in services.projects.list()]


@router.post("/projects", operation_id="CreateProject", response_model=ProjectOut)
def create_project(
    services: ServicesDep,
    name: Annotated[str | None, Query()] = None,
    description: Annotated[str | None, Query()] = None,
    domain_id: Annotated[str | None, Query(alias="domainId")] = None,
    classification_type: Annotated[str | None, Query(alias="classificationType")] = None,
    target_export_platforms: Annotated[str | None, Query(alias="targetExportPlatforms")] = None,
    options: Annotated[CreateProjectOptionsIn | None, Body()] = None,
) -> ProjectOut:
    project = services.projects.create(
        name,
        description,
        domain_id,
        classification_type,
        split_list(target_export_platforms),
        options.export_model_container_uri if options else None,
        options.notification_queue_uri if options else None,
    )
    return project_out(project)


@router.get("/projects/{projectId}", operation_id="GetProject", response_model=ProjectOut)
def get_project(services: ServicesDep, projectId: str) -> ProjectOut:  # noqa: N803
    return project_out(services.projects.get(projectId))


@router.patch("/projects/{projectId}", operation_id="UpdateProject", response_model=ProjectOut)
def update_project(services: ServicesDep, projectId: str, body: ProjectIn) -> ProjectOut:  # noqa: N803
    settings = body.settings
    processing = settings.image_processing_settings if settings else None
    changes = ProjectChanges(
        name=body.name,
        description=body.description,
        domain_id=settings.domain_id if settings else None,
        classification_type=settings.classification_type if settings else None,
        target_export_platforms=settings.target_export_platforms if settings else None,
        augmentation_methods=processing.augmentation_methods if processing else None,
    )
    return project_out(services.projects.update(projectId, changes))


@router.delete("/projects/{projectId}", operation_id="DeleteProject", status_code=204)
def delete_project(services: ServicesDep, projectId: str) -> Response:  # noqa: N803
    services.projects.delete(projectId)
    return Response(status_code=204)
