"""One image per request (Quick Test and the Prediction API): from the body, or from a URL."""

from __future__ import annotations

from dataclasses import replace

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from shared.api.multipart import read_image_parts
from shared.domain.errors import BadRequest, Code, InvalidImage
from shared.domain.limits import MAX_IMAGE_BYTES_PREDICTION
from shared.net.url_fetch import FetchPolicy, fetch_url

__all__ = ["image_from_body", "image_from_url"]

_LIMIT_MB = MAX_IMAGE_BYTES_PREDICTION // (1024 * 1024)


async def image_from_body(request: Request) -> bytes:
    parts = await read_image_parts(
        request.headers.get("content-type"), request.stream(), max_parts=1,
        max_part_bytes=MAX_IMAGE_BYTES_PREDICTION,
    )  # fmt: skip
    if parts[0].too_large:
        raise BadRequest(
            f"The image is larger than {_LIMIT_MB} MB, the limit for predictions.", Code.BAD_REQUEST_IMAGE_SIZE_BYTES
        )
    return parts[0].data


async def image_from_url(url: str | None, policy: FetchPolicy) -> bytes:
    if not url:
        raise BadRequest("Give the image's url.", Code.BAD_REQUEST_IMAGE_URL)
    try:
        return await run_in_threadpool(fetch_url, url, replace(policy, max_bytes=MAX_IMAGE_BYTES_PREDICTION))
    except InvalidImage as exc:
        raise BadRequest(exc.message, exc.code) from None
