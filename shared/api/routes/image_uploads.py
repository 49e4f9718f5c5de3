"""Image uploads: raw bytes (multipart or octet-stream), base64 file batches, and URLs.

Every upload answers 200 when each image was stored (or already there) and 207 with a status per
image when some were not: the good images of a mixed batch are kept.
"""

from __future__ import annotations

import base64
import binascii
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from shared.api.deps import ServicesDep, UriForDep
from shared.api.multipart import read_image_parts
from shared.api.params import split_list
from shared.api.wire import (
    ImageCreateSummaryOut,
    ImageFileCreateBatchIn,
    ImageUrlCreateBatchIn,
    RegionIn,
    image_create_summary_out,
)
from shared.bootstrap import Services
from shared.domain.errors import BadRequest, Code, InvalidImage
from shared.domain.limits import MAX_BATCH_IMAGES
from shared.net.url_fetch import fetch_url
from shared.services.images import ImageCreateSummary, NewImage, RegionInput

router = APIRouter(tags=["images"])
_URL_FETCH_WORKERS = 8


def _regions(regions: list[RegionIn] | None) -> list[RegionInput]:
    return [RegionInput(r.tag_id, r.left, r.top, r.width, r.height) for r in regions or ()]


def _reply(
    services: Services, project_id: str, summary: ImageCreateSummary, uri_for: UriForDep, response: Response
) -> ImageCreateSummaryOut:
    if not summary.is_batch_successful:
        response.status_code = 207
    return image_create_summary_out(summary, services.tags.by_id(project_id.lower()), uri_for)


def _check_batch(count: int) -> None:
    if count == 0:
        raise BadRequest("The batch contains no images.", Code.BAD_REQUEST_IMAGE_BATCH)
    if count > MAX_BATCH_IMAGES:
        raise BadRequest(
            f"A batch may hold at most {MAX_BATCH_IMAGES} images; this one has {count}.",
            Code.BAD_REQUEST_EXCEEDED_BATCH_SIZE,
        )


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
    await run_in_threadpool(services.projects.get, projectId)  # 404 before reading a large body
    parts = await read_image_parts(request.headers.get("content-type"), request.stream())
    items = [
        NewImage(
            source=f'"{p.filename}"' if p.filename else None,
            data=None if p.too_large else p.data,
            error=InvalidImage("The image is larger than 6 MB.", Code.BAD_REQUEST_IMAGE_SIZE_BYTES, "ErrorImageSize")
            if p.too_large
            else None,
        )
        for p in parts
    ]
    summary = await run_in_threadpool(services.images.create_images, projectId, items, split_list(tag_ids))
    return _reply(services, projectId, summary, uri_for, response)


def _decode(contents: str | None) -> NewImage | bytes:
    try:
        return base64.b64decode(contents or "", validate=True)
    except (binascii.Error, ValueError):
        return NewImage(
            source=None,
            error=InvalidImage("The contents are not valid base64.", Code.BAD_REQUEST_IMAGE_FORMAT, "ErrorImageFormat"),
        )


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
    entries = batch.images or []
    _check_batch(len(entries))
    items: list[NewImage] = []
    for entry in entries:
        source = f'"{entry.name}"' if entry.name else None
        decoded = _decode(entry.contents)
        if isinstance(decoded, NewImage):
            items.append(NewImage(source=source, error=decoded.error))
            continue
        items.append(NewImage(source, decoded, None, entry.tag_ids or (), _regions(entry.regions)))
    summary = services.images.create_images(projectId, items, batch.tag_ids or (), batch.metadata)
    return _reply(services, projectId, summary, uri_for, response)


@router.post(
    "/projects/{projectId}/images/urls",
    operation_id="CreateImagesFromUrls",
    response_model=ImageCreateSummaryOut,
    responses={207: {"model": ImageCreateSummaryOut}},
)
def create_images_from_urls(
    response: Response,
    services: ServicesDep,
    uri_for: UriForDep,
    projectId: str,  # noqa: N803
    batch: ImageUrlCreateBatchIn,
) -> ImageCreateSummaryOut:
    entries = batch.images or []
    _check_batch(len(entries))
    services.projects.get(projectId)

    def download(url: str) -> NewImage:
        try:
            return NewImage(url, fetch_url(url, services.fetch_policy))
        except InvalidImage as exc:
            return NewImage(url, error=exc)

    with ThreadPoolExecutor(max_workers=min(_URL_FETCH_WORKERS, len(entries))) as pool:
        fetched = list(pool.map(download, [e.url for e in entries]))
    items = [
        NewImage(got.source, got.data, got.error, entry.tag_ids or (), _regions(entry.regions))
        for got, entry in zip(fetched, entries, strict=True)
    ]
    summary = services.images.create_images(projectId, items, batch.tag_ids or (), batch.metadata)
    return _reply(services, projectId, summary, uri_for, response)
