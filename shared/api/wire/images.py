"""Images: the Image shape, the upload batches (files, URLs, stored predictions) and their create
summaries."""

from __future__ import annotations

from collections.abc import Mapping

from shared.api.wire.base import UriFor, Wire
from shared.api.wire.labels import ImageRegionOut, ImageTagOut, RegionIn, region_out
from shared.domain.entities import Image, Tag
from shared.services.image_uploads import ImageCreateSummary

__all__ = [
    "ImageCreateResultOut",
    "ImageCreateSummaryOut",
    "ImageFileCreateBatchIn",
    "ImageFileCreateEntryIn",
    "ImageIdCreateBatchIn",
    "ImageIdCreateEntryIn",
    "ImageOut",
    "ImageUrlCreateBatchIn",
    "ImageUrlCreateEntryIn",
    "image_create_summary_out",
    "image_out",
]


class ImageOut(Wire):
    id: str
    created: str
    width: int
    height: int
    resized_image_uri: str
    thumbnail_uri: str
    original_image_uri: str
    tags: list[ImageTagOut] | None
    regions: list[ImageRegionOut] | None
    metadata: dict[str, str] | None


def image_out(image: Image, tags: Mapping[str, Tag], uri_for: UriFor) -> ImageOut:
    return ImageOut(
        id=image.id,
        created=image.created,
        width=image.width,
        height=image.height,
        resized_image_uri=uri_for(image.project_id, image.id, "resized"),
        thumbnail_uri=uri_for(image.project_id, image.id, "thumbnail"),
        original_image_uri=uri_for(image.project_id, image.id, "original"),
        tags=[
            ImageTagOut(tag_id=t.tag_id, tag_name=tags[t.tag_id].name, created=t.created)
            for t in image.tags
            if t.tag_id in tags
        ]
        or None,
        regions=[region_out(r, tags) for r in image.regions] or None,
        metadata=image.metadata or None,
    )


class ImageCreateResultOut(Wire):
    source_url: str | None
    status: str
    image: ImageOut | None


class ImageCreateSummaryOut(Wire):
    is_batch_successful: bool
    images: list[ImageCreateResultOut]


def image_create_summary_out(
    summary: ImageCreateSummary, tags: Mapping[str, Tag], uri_for: UriFor
) -> ImageCreateSummaryOut:
    return ImageCreateSummaryOut(
        is_batch_successful=summary.is_batch_successful,
        images=[
            ImageCreateResultOut(
                source_url=r.source_url,
                status=r.status,
                image=image_out(r.image, tags, uri_for) if r.image else None,
            )
            for r in summary.images
        ],
    )


class _LabelsIn(Wire):
    """What an upload entry may say about its image: tags (classification) and boxes (detection)."""

    tag_ids: list[str] | None = None
    regions: list[RegionIn] | None = None


class _BatchIn(Wire):
    """What applies to every image of an upload batch."""

    tag_ids: list[str] | None = None
    metadata: dict[str, str] | None = None


class ImageFileCreateEntryIn(_LabelsIn):
    name: str | None = None
    contents: str | None = None


class ImageFileCreateBatchIn(_BatchIn):
    images: list[ImageFileCreateEntryIn] | None = None


class ImageUrlCreateEntryIn(_LabelsIn):
    url: str


class ImageUrlCreateBatchIn(_BatchIn):
    images: list[ImageUrlCreateEntryIn] | None = None


class ImageIdCreateEntryIn(_LabelsIn):
    id: str


class ImageIdCreateBatchIn(_BatchIn):
    images: list[ImageIdCreateEntryIn] | None = None
