"""An image's labels: its tags and regions as the wire shows them, the batches that add them, and
metadata updates."""

from __future__ import annotations

from collections.abc import Mapping

from shared.api.wire.base import Wire
from shared.domain.entities import Region, Tag
from shared.domain.labelling import RegionInput
from shared.services.image_labels import RegionCreateSummary, TagCreateSummary

__all__ = [
    "ImageMetadataUpdateEntryOut",
    "ImageMetadataUpdateSummaryOut",
    "ImageRegionCreateBatchIn",
    "ImageRegionCreateEntryIn",
    "ImageRegionCreateResultOut",
    "ImageRegionCreateSummaryOut",
    "ImageRegionOut",
    "ImageTagCreateBatchIn",
    "ImageTagCreateEntry",
    "ImageTagCreateSummaryOut",
    "ImageTagOut",
    "RegionIn",
    "image_region_summary_out",
    "image_tag_summary_out",
    "region_out",
]


class ImageTagOut(Wire):
    tag_id: str
    tag_name: str
    created: str


class RegionIn(Wire):
    tag_id: str
    left: float
    top: float
    width: float
    height: float


class ImageRegionOut(RegionIn):
    region_id: str
    tag_name: str
    created: str


def region_out(region: Region, tags: Mapping[str, Tag]) -> ImageRegionOut:
    return ImageRegionOut(
        region_id=region.id,
        tag_id=region.tag_id,
        tag_name=tags[region.tag_id].name if region.tag_id in tags else "",
        created=region.created,
        left=region.left,
        top=region.top,
        width=region.width,
        height=region.height,
    )


class ImageTagCreateEntry(Wire):
    image_id: str
    tag_id: str


class ImageTagCreateBatchIn(Wire):
    tags: list[ImageTagCreateEntry] | None = None


class ImageTagCreateSummaryOut(Wire):
    created: list[ImageTagCreateEntry]
    duplicated: list[ImageTagCreateEntry]
    exceeded: list[ImageTagCreateEntry]


def image_tag_summary_out(summary: TagCreateSummary) -> ImageTagCreateSummaryOut:
    def entries(pairs: list[tuple[str, str]]) -> list[ImageTagCreateEntry]:
        return [ImageTagCreateEntry(image_id=i, tag_id=t) for i, t in pairs]

    return ImageTagCreateSummaryOut(
        created=entries(summary.created),
        duplicated=entries(summary.duplicated),
        exceeded=entries(summary.exceeded),
    )


class ImageRegionCreateEntryIn(RegionIn):
    image_id: str


class ImageRegionCreateBatchIn(Wire):
    regions: list[ImageRegionCreateEntryIn] | None = None


class ImageRegionCreateResultOut(ImageRegionOut):
    image_id: str


class ImageRegionCreateSummaryOut(Wire):
    created: list[ImageRegionCreateResultOut]
    duplicated: list[ImageRegionCreateEntryIn]
    exceeded: list[ImageRegionCreateEntryIn]


def image_region_summary_out(summary: RegionCreateSummary, tags: Mapping[str, Tag]) -> ImageRegionCreateSummaryOut:
    def entries(pairs: list[tuple[str, RegionInput]]) -> list[ImageRegionCreateEntryIn]:
        return [
            ImageRegionCreateEntryIn(
                image_id=i,
                tag_id=r.tag_id,
                left=r.left,
                top=r.top,
                width=r.width,
                height=r.height,
            )
            for i, r in pairs
        ]

    return ImageRegionCreateSummaryOut(
        created=[
            ImageRegionCreateResultOut(image_id=i, **region_out(r, tags).model_dump()) for i, r in summary.created
        ],
        duplicated=entries(summary.duplicated),
        exceeded=entries(summary.exceeded),
    )


class ImageMetadataUpdateEntryOut(Wire):
    image_id: str
    status: str
    metadata: dict[str, str] | None


class ImageMetadataUpdateSummaryOut(Wire):
    is_batch_successful: bool
    images: list[ImageMetadataUpdateEntryOut]
