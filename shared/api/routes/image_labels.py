"""Labels on images: image tags, regions (boxes), and metadata."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query, Response

from shared.api.deps import ServicesDep
from shared.api.params import split_list
from shared.api.wire.labels import (
    ImageMetadataUpdateEntryOut,
    ImageMetadataUpdateSummaryOut,
    ImageRegionCreateBatchIn,
    ImageRegionCreateSummaryOut,
    ImageTagCreateBatchIn,
    ImageTagCreateSummaryOut,
    image_region_summary_out,
    image_tag_summary_out,
)
from shared.domain.enums import MetadataUpdateStatus
from shared.domain.labelling import RegionInput
from shared.domain.validation import parse_guid

router = APIRouter(tags=["images"])


@router.post(
    "/projects/{projectId}/images/tags",
    operation_id="CreateImageTags",
    response_model=ImageTagCreateSummaryOut,
)
def create_image_tags(services: ServicesDep, projectId: str, batch: ImageTagCreateBatchIn) -> ImageTagCreateSummaryOut:  # noqa: N803
    pairs = [(parse_guid(t.image_id, "image"), parse_guid(t.tag_id, "tag")) for t in batch.tags or ()]
    return image_tag_summary_out(services.labels.add_tags(projectId, pairs))


@router.delete("/projects/{projectId}/images/tags", operation_id="DeleteImageTags", status_code=204)
def delete_image_tags(
    services: ServicesDep,
    projectId: str,  # noqa: N803
    image_ids: Annotated[str | None, Query(alias="imageIds")] = None,
    tag_ids: Annotated[str | None, Query(alias="tagIds")] = None,
) -> Response:
    services.labels.remove_tags(projectId, split_list(image_ids), split_list(tag_ids))
    return Response(status_code=204)


@router.post(
    "/projects/{projectId}/images/regions",
    operation_id="CreateImageRegions",
    response_model=ImageRegionCreateSummaryOut,
    responses={207: {"model": ImageRegionCreateSummaryOut}},
)
def create_image_regions(
    response: Response,
    services: ServicesDep,
    projectId: str,
    batch: ImageRegionCreateBatchIn,  # noqa: N803
) -> ImageRegionCreateSummaryOut:
    entries = [
        (parse_guid(r.image_id, "image"), RegionInput(parse_guid(r.tag_id, "tag"), r.left, r.top, r.width, r.height))
        for r in batch.regions or ()
    ]
    summary = services.labels.add_regions(projectId, entries)
    if not summary.all_created:
        response.status_code = 207
    return image_region_summary_out(summary, summary.tags)


@router.delete("/projects/{projectId}/images/regions", operation_id="DeleteImageRegions", status_code=204)
def delete_image_regions(
    services: ServicesDep,
    projectId: str,  # noqa: N803
    region_ids: Annotated[str | None, Query(alias="regionIds")] = None,
) -> Response:
    services.labels.remove_regions(projectId, split_list(region_ids))
    return Response(status_code=204)


@router.post(
    "/projects/{projectId}/images/metadata",
    operation_id="UpdateImageMetadata",
    response_model=ImageMetadataUpdateSummaryOut,
    responses={207: {"model": ImageMetadataUpdateSummaryOut}},
)
def update_image_metadata(
    response: Response,
    services: ServicesDep,
    projectId: str,  # noqa: N803
    metadata: Annotated[dict[str, str], Body()],
    image_ids: Annotated[str | None, Query(alias="imageIds")] = None,
) -> ImageMetadataUpdateSummaryOut:
    results = services.labels.update_metadata(projectId, split_list(image_ids), metadata)
    ok = all(r.status == MetadataUpdateStatus.OK for r in results)
    if not ok:
        response.status_code = 207
    return ImageMetadataUpdateSummaryOut(
        is_batch_successful=ok,
        images=[
            ImageMetadataUpdateEntryOut(image_id=r.image_id, status=r.status, metadata=r.metadata) for r in results
        ],
    )
