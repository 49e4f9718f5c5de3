"""One image per request body (Quick Test and the Prediction API), at the prediction size limit."""

from __future__ import annotations

from fastapi import Request

from shared.api.multipart import read_image_parts
from shared.domain.errors import BadRequest, Code
from shared.domain.limits import MAX_IMAGE_BYTES_PREDICTION

__all__ = ["image_from_body"]

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
