"""Tags: create, list with image counts (of the workspace or of an iteration), read, update, delete."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from shared.api.deps import ServicesDep
from shared.api.wire.tags import TagIn, TagOut, tag_out
from shared.services.tags import TagChanges

router = APIRouter(tags=["tags"])
IterationId = Annotated[str | None, Query(alias="iterationId")]


@router.get("/projects/{projectId}/tags", operation_id="GetTags", response_model=list[TagOut])
def get_tags(services: ServicesDep, projectId: str, iteration_id: IterationId = None) -> list[TagOut]:  # noqa: N803
    if iteration_id:
        return [tag_out(t) for t in services.snapshot_queries.tags(projectId, iteration_id)]
    return [tag_out(t) for t in services.tags.list(projectId)]


@router.post("/projects/{projectId}/tags", operation_id="CreateTag", response_model=TagOut)
def create_tag(
    services: ServicesDep,
    projectId: str,  # noqa: N803
    name: Annotated[str | None, Query()] = None,
    description: Annotated[str | None, Query()] = None,
    type: Annotated[str | None, Query()] = None,
) -> TagOut:
    return tag_out(services.tags.create(projectId, name, description, type))


@router.get("/projects/{projectId}/tags/{tagId}", operation_id="GetTag", response_model=TagOut)
def get_tag(
    services: ServicesDep,
    projectId: str,  # noqa: N803
    tagId: str,  # noqa: N803
    iteration_id: IterationId = None,
) -> TagOut:
    if iteration_id:
        return tag_out(services.snapshot_queries.tag(projectId, iteration_id, tagId))
    return tag_out(services.tags.get(projectId, tagId))


@router.patch("/projects/{projectId}/tags/{tagId}", operation_id="UpdateTag", response_model=TagOut)
def update_tag(services: ServicesDep, projectId: str, tagId: str, body: TagIn) -> TagOut:  # noqa: N803
    return tag_out(services.tags.update(projectId, tagId, TagChanges(body.name, body.description, body.type)))


@router.delete("/projects/{projectId}/tags/{tagId}", operation_id="DeleteTag", status_code=204)
def delete_tag(services: ServicesDep, projectId: str, tagId: str) -> Response:  # noqa: N803
    services.tags.delete(projectId, tagId)
    return Response(status_code=204)
