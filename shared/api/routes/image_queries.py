"""Listing and counting images (all, tagged, untagged, by id), and deleting them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from shared.api.deps import ServicesDep, UriForDep
from shared.api.params import check_paging, metadata_filter, order_newest_first, split_list, tagging_status
from shared.api.wire.images import ImageOut, image_out
from shared.bootstrap import Services
from shared.domain.entities import Tag
from shared.domain.enums import TaggingStatus
from shared.domain.limits import MAX_BATCH_TAGS
from shared.domain.validation import parse_guids
from shared.services.image_query import ImageQuery

router = APIRouter(tags=["images"])

IterationId = Annotated[str | None, Query(alias="iterationId")]
TagIds = Annotated[str | None, Query(alias="tagIds")]
OrderBy = Annotated[str | None, Query(alias="orderBy")]
Take = Annotated[int | None, Query()]
Skip = Annotated[int | None, Query()]
Filter = Annotated[str | None, Query(alias="$filter")]
Tagging = Annotated[str | None, Query(alias="taggingStatus")]


def _query(
    tag_ids: str | None,
    tagging: TaggingStatus,
    filter: str | None = None,
    order_by: str | None = None,
    take: int | None = None,
    skip: int | None = None,
) -> ImageQuery:
    take_, skip_ = check_paging(take, skip)
    return ImageQuery(
        tag_ids=tuple(parse_guids(split_list(tag_ids), "tag", limit=MAX_BATCH_TAGS)),
        tagging=tagging,
        metadata=metadata_filter(filter),
        newest_first=order_newest_first(order_by),
        take=take_,
        skip=skip_,
    )


def _tags(services: Services, project_id: str, iteration_id: str | None) -> dict[str, Tag]:
    if iteration_id:
        return {t.tag.id: t.tag for t in services.snapshot_queries.tags(project_id, iteration_id)}
    return services.tags.by_id(project_id.lower())


def _listed(
    services: Services, project_id: str, iteration_id: str | None, query: ImageQuery, uri_for: UriForDep
) -> list[ImageOut]:
    if iteration_id:
        images = services.snapshot_queries.images(project_id, iteration_id, query)
    else:
        images = services.images.list_images(project_id, query)
    tags = _tags(services, project_id, iteration_id)
    return [image_out(i, tags, uri_for) for i in images]


def _counted(services: Services, project_id: str, iteration_id: str | None, query: ImageQuery) -> int:
    if iteration_id:
        return services.snapshot_queries.count(project_id, iteration_id, query)
    return services.images.count_images(project_id, query)


@router.get("/projects/{projectId}/images", operation_id="GetImages", response_model=list[ImageOut])
def get_images(
    services: ServicesDep,
    uri_for: UriForDep,
    projectId: str,  # noqa: N803
    iteration_id: IterationId = None,
    tag_ids: TagIds = None,
    tagging: Tagging = None,
    filter: Filter = None,
    order_by: OrderBy = None,
    take: Take = None,
    skip: Skip = None,
) -> list[ImageOut]:
    query = _query(tag_ids, tagging_status(tagging), filter, order_by, take, skip)
    return _listed(services, projectId, iteration_id, query, uri_for)


@router.get("/projects/{projectId}/images/count", operation_id="GetImageCount", response_model=int)
def get_image_count(
    services: ServicesDep,
    projectId: str,  # noqa: N803
    iteration_id: IterationId = None,
    tag_ids: TagIds = None,
    tagging: Tagging = None,
    filter: Filter = None,
) -> int:
    return _counted(services, projectId, iteration_id, _query(tag_ids, tagging_status(tagging), filter))


@router.get("/projects/{projectId}/images/tagged", operation_id="GetTaggedImages", response_model=list[ImageOut])
def get_tagged_images(
    services: ServicesDep,
    uri_for: UriForDep,
    projectId: str,  # noqa: N803
    iteration_id: IterationId = None,
    tag_ids: TagIds = None,
    order_by: OrderBy = None,
    take: Take = None,
    skip: Skip = None,
) -> list[ImageOut]:
    return _listed(
        services, projectId, iteration_id, _query(tag_ids, TaggingStatus.TAGGED, None, order_by, take, skip), uri_for
    )


@router.get("/projects/{projectId}/images/tagged/count", operation_id="GetTaggedImageCount", response_model=int)
def get_tagged_image_count(
    services: ServicesDep,
    projectId: str,  # noqa: N803
    iteration_id: IterationId = None,
    tag_ids: TagIds = None,
) -> int:
    return _counted(services, projectId, iteration_id, _query(tag_ids, TaggingStatus.TAGGED))


@router.get("/projects/{projectId}/images/untagged", operation_id="GetUntaggedImages", response_model=list[ImageOut])
def get_untagged_images(
    services: ServicesDep,
    uri_for: UriForDep,
    projectId: str,  # noqa: N803
    iteration_id: IterationId = None,
    order_by: OrderBy = None,
    take: Take = None,
    skip: Skip = None,
) -> list[ImageOut]:
    return _listed(
        services, projectId, iteration_id, _query(None, TaggingStatus.UNTAGGED, None, order_by, take, skip), uri_for
    )


@router.get("/projects/{projectId}/images/untagged/count", operation_id="GetUntaggedImageCount", response_model=int)
def get_untagged_image_count(services: ServicesDep, projectId: str, iteration_id: IterationId = None) -> int:  # noqa: N803
    return _counted(services, projectId, iteration_id, _query(None, TaggingStatus.UNTAGGED))


@router.get("/projects/{projectId}/images/id", operation_id="GetImagesByIds", response_model=list[ImageOut])
def get_images_by_ids(
    services: ServicesDep,
    uri_for: UriForDep,
    projectId: str,  # noqa: N803
    image_ids: Annotated[str | None, Query(alias="imageIds")] = None,
    iteration_id: IterationId = None,
) -> list[ImageOut]:
    if iteration_id:
        images = services.snapshot_queries.by_ids(projectId, iteration_id, split_list(image_ids))
    else:
        images = services.images.images_by_ids(projectId, split_list(image_ids))
    tags = _tags(services, projectId, iteration_id)
    return [image_out(i, tags, uri_for) for i in images]


@router.delete("/projects/{projectId}/images", operation_id="DeleteImages", status_code=204)
def delete_images(
    services: ServicesDep,
    projectId: str,  # noqa: N803
    image_ids: Annotated[str | None, Query(alias="imageIds")] = None,
    all_images: Annotated[bool, Query(alias="allImages")] = False,
    all_iterations: Annotated[bool, Query(alias="allIterations")] = False,
) -> Response:
    services.images.delete_images(
        projectId, split_list(image_ids), all_images=all_images, all_iterations=all_iterations
    )
    return Response(status_code=204)
