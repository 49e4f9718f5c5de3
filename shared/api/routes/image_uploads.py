"""Image uploads: raw bytes (multipart or octet-stream), base64 file batches, and URLs.

Every upload answers 200 when each image was stored (or already there) and 207 with a status per
image when some were not: the good images of a mixed batch are kept.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from shared.api.deps import ServicesDep, UriForDep
from shared.api.multipart import read_image_parts
from shared.api.params import split_list
from shared.api.wire.images import (
    ImageCreateSummaryOut,
    ImageFileCreateBatchIn,
    ImageUrlCreateBatchIn,
    image_create_summary_out,
)
from shared.api.wire.labels import RegionIn
from shared.domain.labelling import RegionInput
from shared.services.image_uploads import ImageCreateSummary, NewImage, UrlImage

router = APIRouter(tags=["images"])


def _source(file_name: str | None) -> str | None:
    """An uploaded file's name as Custom Vision reports it (``sourceUrl``: quoted)."""
    return f'"{file_name}"' if file_name else None


def _regions(regions: list[RegionIn] | None) -> list[RegionInput]:
    return [RegionInput(r.tag_id, r.left, r.top, r.width, r.height) for r in regions or ()]


def _reply(summary: ImageCreateSummary, uri_for: UriForDep, response: Response) -> ImageCreateSummaryOut:
    if not summary.is_batch_successful:
        response.status_code = 207
    return image_create_summary_out(summary, summary.tags, uri_for)


@router.post(
    "/projects/{projectId}/images",
    operation_id="CreateImagesFromData",
    response_model=ImageCreateSummaryOut,
    responses={207: {"model": ImageCreateSummaryOut}},
)
async def create_images_from_data(
    request: Request,
    response: Response,
    services: ServicesDep,
    uri_for: UriForDep,
    projectId: str,  # noqa: N803
    tag_ids: Annotated[str | None, Query(alias="tagIds")] = None,
) -> ImageCreateSummaryOut:
    target = await run_in_threadpool(services.uploads.target, projectId)  # 404 before reading a large body
    parts = await read_image_parts(request.headers.get("content-type"), request.stream())
    items = [
        NewImage.oversized(_source(p.filename)) if p.too_large else NewImage(_source(p.filename), p.data) for p in parts
    ]
    summary = await run_in_threadpool(services.uploads.create_images, target, items, split_list(tag_ids))
    return _reply(summary, uri_for, response)


def _decoded(name: str | None, contents: str | None) -> bytes | NewImage:
    try:
        return base64.b64decode(contents or "", validate=True)
    except (binascii.Error, ValueError):
        return NewImage.unreadable(_source(name), "The contents are not valid base64.")


@router.post(
    "/projects/{projectId}/images/files",
    operation_id="CreateImagesFromFiles",
    response_model=ImageCreateSummaryOut,
    responses={207: {"model": ImageCreateSummaryOut}},
)
def create_images_from_files(
    response: Response,
    services: ServicesDep,
    uri_for: UriForDep,
    projectId: str,  # noqa: N803
    batch: ImageFileCreateBatchIn,
) -> ImageCreateSummaryOut:
    items: list[NewImage] = []
    for entry in batch.images or ():
        decoded = _decoded(entry.name, entry.contents)
        if isinstance(decoded, NewImage):
            items.append(decoded)
            continue
        items.append(NewImage(_source(entry.name), decoded, None, entry.tag_ids or (), _regions(entry.regions)))
    summary = services.uploads.create_images_from_files(projectId, items, batch.tag_ids or (), batch.metadata)
    return _reply(summary, uri_for, response)


@router.post(
    "/projects/{projectId}/images/urls",
    operation_id="CreateImagesFromUrls",
    response_model=ImageCreateSummaryOut,
    responses={207: {"model": ImageCreateSummaryOut}},
)
async def create_images_from_urls(
    response: Response,
    services: ServicesDep,
    uri_for: UriForDep,
    projectId: str,  # noqa: N803
    batch: ImageUrlCreateBatchIn,
) -> ImageCreateSummaryOut:
    entries = [UrlImage(e.url, e.tag_ids or (), _regions(e.regions)) for e in batch.images or ()]
    summary = await services.downloads.run(  # on the downloads' threads: a slow URL holds none of ours
        lambda: services.uploads.create_images_from_urls(projectId, entries, batch.tag_ids or (), batch.metadata)
    )
    return _reply(summary, uri_for, response)
