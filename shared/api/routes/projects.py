"""Projects: create, list (newest first), read, update, delete; export and import.

``export_project`` hands out a token naming a signed, expiring link to the project's package
(``package_router``: served without a key, the signature is the permission, like image links);
``import_project`` reads the package from there and fills a new project in the background
(``shared/services/project_import.py``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from shared.api.deps import ServicesDep, base_url
from shared.api.params import split_list
from shared.api.uris import ARTIFACT_PREFIX, UriSigner
from shared.api.wire.projects import (
    CreateProjectOptionsIn,
    ProjectExportOut,
    ProjectIn,
    ProjectOut,
    project_export_out,
    project_out,
)
from shared.domain.errors import Forbidden
from shared.services.projects import ProjectChanges
from shared.services.renditions import ORIGINAL

router = APIRouter(tags=["projects"])
# The package a token leads to: no key, a signed link (app.py mounts it beside the artifacts).
package_router = APIRouter(tags=["artifacts"])


def _signer(request: Request) -> UriSigner:
    signer: UriSigner = request.app.state.uri_signer
    return signer


def _package_path(project_id: str) -> str:
    return f"{ARTIFACT_PREFIX}/{project_id}/package"


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


@router.post("/projects/import", operation_id="ImportProject", response_model=ProjectOut)
async def import_project(
    services: ServicesDep,
    token: Annotated[str | None, Query()] = None,
    name: Annotated[str | None, Query()] = None,
) -> ProjectOut:
    # Reading the package is a download: on the downloads' threads, never the shared ones.
    project = await services.downloads.run(lambda: services.project_imports.start(token, name))
    return project_out(project)


@router.get("/projects/{projectId}/export", operation_id="ExportProject", response_model=ProjectExportOut)
def export_project(request: Request, services: ServicesDep, projectId: str) -> ProjectExportOut:  # noqa: N803
    project = services.projects.get(projectId)
    package_url = base_url(request, services) + _signer(request).sign(_package_path(project.id))
    return project_export_out(services.project_exports.export(project.id, package_url))


@package_router.get(ARTIFACT_PREFIX + "/{projectId}/package", include_in_schema=False)
async def project_package(
    request: Request,
    services: ServicesDep,
    projectId: str,  # noqa: N803
    expires: Annotated[str, Query()] = "",
    sig: Annotated[str, Query()] = "",
) -> Response:
    signer = _signer(request)
    if not signer.verify(_package_path(projectId), expires, sig):
        raise Forbidden("This import link is invalid or has expired; export the project again for a fresh token.")
    base = base_url(request, services)

    def original_uri(image_id: str) -> str:
        return base + signer.sign(signer.image_path(projectId, image_id, ORIGINAL))

    def build() -> bytes:
        return services.project_exports.package(projectId, original_uri).to_json()

    return Response(await run_in_threadpool(build), media_type="application/json")


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
