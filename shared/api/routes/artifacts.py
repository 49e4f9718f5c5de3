"""Bytes behind signed URLs: training images and stored predictions (``originalImageUri``,
``resizedImageUri``, ``thumbnailUri``) and exported models (``downloadUri``).

No key header: the URL's signature is the permission, so ``<img src>`` works in a browser.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from shared.api.deps import ServicesDep
from shared.api.uris import ARTIFACT_PREFIX, UriSigner
from shared.domain.errors import Forbidden

router = APIRouter(tags=["artifacts"])
Expires = Annotated[str, Query()]
Signature = Annotated[str, Query()]
_IMAGE_CACHE = {"Cache-Control": "private, max-age=86400"}


def _check(request: Request, path: str, expires: str, sig: str) -> None:
    if not _signer(request).verify(path, expires, sig):
        raise Forbidden("This link is invalid or has expired; list the item again for a fresh link.")


def _signer(request: Request) -> UriSigner:
    signer: UriSigner = request.app.state.uri_signer
    return signer


@router.get(ARTIFACT_PREFIX + "/{projectId}/images/{imageId}/{rendition}", include_in_schema=False)
async def image_bytes(
    request: Request,
    services: ServicesDep,
    projectId: str,  # noqa: N803
    imageId: str,  # noqa: N803
    rendition: str,
    expires: Expires = "",
    sig: Signature = "",
) -> Response:
    _check(request, _signer(request).image_path(projectId, imageId, rendition), expires, sig)
    data, content_type = await run_in_threadpool(services.images.read_rendition, projectId, imageId, rendition)
    return Response(data, media_type=content_type, headers=_IMAGE_CACHE)


@router.get(ARTIFACT_PREFIX + "/{projectId}/predictions/{predictionId}/{rendition}", include_in_schema=False)
async def prediction_bytes(
    request: Request,
    services: ServicesDep,
    projectId: str,  # noqa: N803
    predictionId: str,  # noqa: N803
    rendition: str,
    expires: Expires = "",
    sig: Signature = "",
) -> Response:
    _check(request, _signer(request).prediction_path(projectId, predictionId, rendition), expires, sig)
    data, content_type = await run_in_threadpool(
        services.stored_predictions.read_rendition, projectId, predictionId, rendition
    )
    return Response(data, media_type=content_type, headers=_IMAGE_CACHE)


@router.get(ARTIFACT_PREFIX + "/{projectId}/iterations/{iterationId}/exports/{fileName}", include_in_schema=False)
async def export_bytes(
    request: Request,
    services: ServicesDep,
    projectId: str,  # noqa: N803
    iterationId: str,  # noqa: N803
    fileName: str,  # noqa: N803
    expires: Expires = "",
    sig: Signature = "",
) -> Response:
    _check(request, _signer(request).export_path(projectId, iterationId, fileName), expires, sig)
    data = await run_in_threadpool(services.exports.read, projectId, iterationId, fileName)
    return Response(
        data, media_type="application/zip", headers={"Content-Disposition": f'attachment; filename="{fileName}"'}
    )
