"""Labels on stored images: image tags, regions (boxes) and metadata, added and removed in batches.

Every change is an etag-guarded read-modify-write of the image record, so concurrent labellers
never lose each other's work. Unknown images and tags are refused before anything is written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial

from shared.domain.clock import utc_now
from shared.domain.entities import Image, ImageTag, Region, Tag, new_id
from shared.domain.enums import MetadataUpdateStatus, TagType
from shared.domain.errors import BadRequest, Code, NotFound
from shared.domain.labelling import RegionInput, mixes_negative, same_box
from shared.domain.limits import (
    MAX_BATCH_IMAGES,
    MAX_BATCH_TAGS,
    MAX_IMAGE_IDS_QUERY,
    MAX_REGION_BATCH,
    MAX_REGIONS_PER_IMAGE,
    MAX_TAGS_PER_IMAGE,
)
from shared.domain.validation import check_metadata, check_region, parse_guids
from shared.services.projects import ProjectService
from shared.services.tags import TagService
from shared.stores.documents import Documents
from shared.stores.ports import ArrayContainsAny, MetadataStore

__all__ = ["ImageLabels", "MetadataUpdateResult", "RegionCreateSummary", "TagCreateSummary"]


@dataclass(frozen=True)
class TagCreateSummary:
    created: list[tuple[str, str]] = field(default_factory=list)  # (image id, tag id)
    duplicated: list[tuple[str, str]] = field(default_factory=list)
    exceeded: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class RegionCreateSummary:
    tags: Mapping[str, Tag] = field(default_factory=dict)  # the project's tags (to name the regions')
    created: list[tuple[str, Region]] = field(default_factory=list)  # (image id, region)
    duplicated: list[tuple[str, RegionInput]] = field(default_factory=list)
    exceeded: list[tuple[str, RegionInput]] = field(default_factory=list)

    @property
    def all_created(self) -> bool:
        return not self.duplicated and not self.exceeded


@dataclass(frozen=True)
class MetadataUpdateResult:
    image_id: str
    status: MetadataUpdateStatus
    metadata: dict[str, str] | None


class ImageLabels:
    def __init__(self, meta: MetadataStore, projects: ProjectService, tags: TagService) -> None:
        self._images = Documents(meta, Image)
        self._projects = projects
        self._tags = tags

    # -- image tags -------------------------------------------------------------------------------

    def add_tags(self, project_id: str, pairs: Sequence[tuple[str, str]]) -> TagCreateSummary:
        project = self._projects.get(project_id)
        if len(pairs) > MAX_BATCH_IMAGES:
            raise BadRequest(
                f"At most {MAX_BATCH_IMAGES} image tags may be created at once.",
                Code.BAD_REQUEST_EXCEEDED_BATCH_SIZE,
            )
        tags = self._tags.by_id(project.id)
        wanted: dict[str, list[str]] = {}
        for image_id, tag_id in pairs:
            (image_ref,) = parse_guids([image_id], "image", limit=1)
            (tag_key,) = parse_guids([tag_id], "tag", limit=1)
            if tag_key not in tags:
                raise NotFound(f"Tag '{tag_id}' was not found in this project.", Code.NOT_FOUND_TAG)
            wanted.setdefault(image_ref, []).append(tag_key)
        images = {i: self._images.get(project.id, i) for i in wanted}  # 404 before any write
        for image_id, tag_ids in wanted.items():
            if mixes_negative(set(images[image_id].tag_ids) | set(tag_ids), tags):
                raise BadRequest(
                    f"Image '{image_id}' cannot carry the Negative tag together with other tags.",
                    Code.BAD_REQUEST_NEGATIVE_AND_REGULAR_TAG_ON_SAME_IMAGE,
                )
        summary = TagCreateSummary()
        written: list[Image] = []
        for image_id, tag_ids in wanted.items():
            outcome: dict[str, str] = {}
            written.append(
                self._images.update(project.id, image_id, partial(_with_tags, tag_ids=tag_ids, outcome=outcome))
            )
            for tag_id, result in outcome.items():
                getattr(summary, result).append((image_id, tag_id))
        self._tags.strip_deleted(project.id, written)  # a tag deleted meanwhile leaves no reference
        return summary

    def remove_tags(self, project_id: str, image_ids: Sequence[str], tag_ids: Sequence[str]) -> None:
        project = self._projects.get(project_id)
        images = parse_guids(image_ids, "image", limit=MAX_BATCH_IMAGES)
        drop = set(parse_guids(tag_ids, "tag", limit=MAX_BATCH_TAGS))
        if not images or not drop:
            raise BadRequest("Give both imageIds and tagIds.", Code.BAD_REQUEST_REQUIRED_PARAM_IS_NULL)

        def untag(current: Image) -> Image | None:
            kept = tuple(t for t in current.tags if t.tag_id not in drop)
            return current.with_changes(tags=kept) if len(kept) != len(current.tags) else None

        for image_id in images:
            try:
                self._images.update(project.id, image_id, untag)
            except NotFound:
                continue

    # -- regions ----------------------------------------------------------------------------------

    def add_regions(self, project_id: str, entries: Sequence[tuple[str, RegionInput]]) -> RegionCreateSummary:
        project = self._projects.get(project_id)
        if len(entries) > MAX_REGION_BATCH:
            raise BadRequest(
                f"At most {MAX_REGION_BATCH} regions may be created at once.",
                Code.BAD_REQUEST_EXCEEDED_BATCH_SIZE,
            )
        tags = self._tags.by_id(project.id)
        wanted = _regions_by_image(entries, tags)
        for image_id in wanted:
            image = self._images.get(project.id, image_id)  # 404 before any write
            if mixes_negative(set(image.tag_ids) | {r.tag_id for r in wanted[image_id]}, tags):
                raise BadRequest(
                    f"Image '{image_id}' carries the Negative tag; remove it before drawing regions.",
                    Code.BAD_REQUEST_NEGATIVE_AND_REGULAR_TAG_ON_SAME_IMAGE,
                )
        summary = RegionCreateSummary(tags)
        written: list[Image] = []
        for image_id, regions in wanted.items():
            outcome = _RegionOutcome()
            written.append(
                self._images.update(project.id, image_id, partial(_with_regions, regions=regions, outcome=outcome))
            )
            summary.created.extend((image_id, r) for r in outcome.created)
            summary.duplicated.extend((image_id, r) for r in outcome.duplicated)
            summary.exceeded.extend((image_id, r) for r in outcome.exceeded)
        self._tags.strip_deleted(project.id, written)  # a tag deleted meanwhile leaves no reference
        return summary

    def remove_regions(self, project_id: str, region_ids: Sequence[str]) -> None:
        project = self._projects.get(project_id)
        drop = set(parse_guids(region_ids, "region", limit=MAX_REGION_BATCH))
        if not drop:
            raise BadRequest("Give regionIds.", Code.BAD_REQUEST_REQUIRED_PARAM_IS_NULL)

        def unbox(current: Image) -> Image | None:
            kept = tuple(r for r in current.regions if r.id not in drop)
            return current.with_changes(regions=kept) if len(kept) != len(current.regions) else None

        for image in self._images.all(project.id, [ArrayContainsAny(Image.REGION_IDS, tuple(drop))]):
            self._images.update(project.id, image.id, unbox)

    # -- metadata ---------------------------------------------------------------------------------

    def update_metadata(
        self, project_id: str, image_ids: Sequence[str], metadata: Mapping[str, str]
    ) -> list[MetadataUpdateResult]:
        project = self._projects.get(project_id)
        ids = parse_guids(image_ids, "image", limit=MAX_IMAGE_IDS_QUERY)
        if not ids:
            raise BadRequest("Give imageIds.", Code.BAD_REQUEST_REQUIRED_PARAM_IS_NULL)
        pairs = check_metadata(metadata)
        results: list[MetadataUpdateResult] = []
        for image_id in ids:
            over_limit: list[bool] = []

            def merge(current: Image, over_limit: list[bool] = over_limit) -> Image | None:
                over_limit.clear()
                merged = {**current.metadata, **pairs}
                try:
                    check_metadata(merged)
                except BadRequest:
                    over_limit.append(True)
                    return None
                return current.with_changes(metadata=merged)

            try:
                image = self._images.update(project.id, image_id, merge)
            except NotFound:
                results.append(MetadataUpdateResult(image_id, MetadataUpdateStatus.ERROR_IMAGE_NOT_FOUND, None))
                continue
            status = MetadataUpdateStatus.ERROR_LIMIT_EXCEED if over_limit else MetadataUpdateStatus.OK
            results.append(MetadataUpdateResult(image_id, status, image.metadata))
        return results


def _with_tags(current: Image, tag_ids: list[str], outcome: dict[str, str]) -> Image | None:
    """``current`` with ``tag_ids`` added; ``outcome`` says per tag: created, duplicated or exceeded."""
    outcome.clear()
    have = {t.tag_id for t in current.tags}
    total = set(current.tag_ids)
    now = utc_now()
    added: list[ImageTag] = []
    for tag_id in dict.fromkeys(tag_ids):
        if tag_id in have:
            outcome[tag_id] = "duplicated"
        elif len(total | {tag_id}) > MAX_TAGS_PER_IMAGE:
            outcome[tag_id] = "exceeded"
        else:
            outcome[tag_id] = "created"
            added.append(ImageTag(tag_id, now))
            total.add(tag_id)
    return current.with_changes(tags=current.tags + tuple(added)) if added else None


def _regions_by_image(
    entries: Sequence[tuple[str, RegionInput]], tags: Mapping[str, Tag]
) -> dict[str, list[RegionInput]]:
    """The requested boxes, checked, grouped by image id."""
    wanted: dict[str, list[RegionInput]] = {}
    for image_id, region in entries:
        (image_ref,) = parse_guids([image_id], "image", limit=1)
        (tag_key,) = parse_guids([region.tag_id], "tag", limit=1)
        tag = tags.get(tag_key)
        if tag is None:
            raise NotFound(f"Tag '{region.tag_id}' was not found in this project.", Code.NOT_FOUND_TAG)
        if tag.type == TagType.NEGATIVE:
            raise BadRequest("The Negative tag cannot label a region.", Code.BAD_REQUEST_IMAGE_REGIONS)
        box = check_region(region.left, region.top, region.width, region.height)
        wanted.setdefault(image_ref, []).append(RegionInput(tag_key, *box))
    return wanted


@dataclass
class _RegionOutcome:
    created: list[Region] = field(default_factory=list)
    duplicated: list[RegionInput] = field(default_factory=list)
    exceeded: list[RegionInput] = field(default_factory=list)


def _with_regions(current: Image, regions: list[RegionInput], outcome: _RegionOutcome) -> Image | None:
    """``current`` with the new boxes; ``outcome`` records which were created, duplicates, or over the limit."""
    outcome.created.clear()
    outcome.duplicated.clear()
    outcome.exceeded.clear()
    boxes = list(current.regions)
    now = utc_now()
    for r in regions:
        if any(same_box(r, o) for o in boxes):
            outcome.duplicated.append(r)
        elif len(boxes) >= MAX_REGIONS_PER_IMAGE:
            outcome.exceeded.append(r)
        else:
            new = Region(new_id(), r.tag_id, r.left, r.top, r.width, r.height, now)
            boxes.append(new)
            outcome.created.append(new)
    return current.with_changes(regions=tuple(boxes)) if outcome.created else None
