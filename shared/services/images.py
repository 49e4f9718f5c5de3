"""Training images: upload (validate, dedupe, store), list and count, tag, box, describe, delete.

Uploads write the bytes before the record that points at them, so an interruption leaves at most
an unreferenced blob, never a record pointing at nothing. An image's id is derived from its
project and content hash, so the same bytes uploaded twice (even by two requests at once) become
one image: the store refuses the second create atomically and the upload reports
``OKDuplicate``.
"""

from __future__ import annotations

import hashlib
import itertools
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from shared.domain.entities import IMAGE, NEGATIVE, Image, ImageTag, Region, Tag, new_id, utc_now
from shared.domain.errors import BadRequest, Code, Conflict, InvalidImage, NotFound
from shared.domain.limits import (
    DEFAULT_TAKE,
    MAX_BATCH_IMAGES,
    MAX_BATCH_TAGS,
    MAX_IMAGE_IDS_QUERY,
    MAX_REGION_BATCH,
    MAX_REGIONS_PER_IMAGE,
    MAX_TAGS_PER_IMAGE,
)
from shared.domain.validation import check_metadata, check_region, parse_guids
from shared.services.artifact_keys import image_key, image_prefix
from shared.services.image_records import iter_images, read_image, update_image
from shared.services.projects import ProjectService
from shared.services.renditions import read_rendition
from shared.services.snapshots import SnapshotStore
from shared.services.tags import TagService
from shared.stores.ports import ArrayContainsAny, ArrayEmpty, BlobStore, Condition, In, MetadataStore
from shared.vision.images import inspect_image

__all__ = [
    "ImageCreateResult",
    "ImageCreateSummary",
    "ImageQuery",
    "ImageService",
    "MetadataUpdateResult",
    "NewImage",
    "RegionInput",
    "RegionCreateSummary",
    "TagCreateSummary",
]

OK = "OK"
OK_DUPLICATE = "OKDuplicate"
_IMAGE_NAMESPACE = uuid.UUID("6f1c2f4e-3b7a-4c1e-9a53-7f0e2d9b8c11")
_SAME_BOX = 1e-6


@dataclass(frozen=True)
class RegionInput:
    tag_id: str
    left: float
    top: float
    width: float
    height: float


@dataclass(frozen=True)
class NewImage:
    """One image of an upload batch: its bytes, or the reason they could not be had."""

    source: str | None
    data: bytes | None = None
    error: InvalidImage | None = None
    tag_ids: Sequence[str] = ()
    regions: Sequence[RegionInput] = ()


@dataclass(frozen=True)
class ImageCreateResult:
    source_url: str | None
    status: str
    image: Image | None = None


@dataclass(frozen=True)
class ImageCreateSummary:
    images: list[ImageCreateResult]

    @property
    def is_batch_successful(self) -> bool:
        return all(r.status in (OK, OK_DUPLICATE) for r in self.images)


@dataclass(frozen=True)
class ImageQuery:
    tag_ids: Sequence[str] = ()
    tagging: str = "All"  # All | Tagged | Untagged
    metadata: Sequence[Condition] = ()
    newest_first: bool = True
    take: int = DEFAULT_TAKE
    skip: int = 0

    def conditions(self) -> list[Condition]:
        where: list[Condition] = list(self.metadata)
        if self.tag_ids:
            where.append(ArrayContainsAny("tagIds", tuple(self.tag_ids)))
        if self.tagging == "Tagged":
            where.append(ArrayEmpty("tagIds", empty=False))
        elif self.tagging == "Untagged":
            where.append(ArrayEmpty("tagIds", empty=True))
        return where


@dataclass(frozen=True)
class TagCreateSummary:
    created: list[tuple[str, str]] = field(default_factory=list)
    duplicated: list[tuple[str, str]] = field(default_factory=list)
    exceeded: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class RegionCreateSummary:
    created: list[tuple[str, Region]] = field(default_factory=list)
    duplicated: list[tuple[str, RegionInput]] = field(default_factory=list)
    exceeded: list[tuple[str, RegionInput]] = field(default_factory=list)

    @property
    def all_created(self) -> bool:
        return not self.duplicated and not self.exceeded


@dataclass(frozen=True)
class MetadataUpdateResult:
    image_id: str
    status: str
    metadata: dict[str, str] | None


class ImageService:
    def __init__(
        self,
        meta: MetadataStore,
        blobs: BlobStore,
        projects: ProjectService,
        tags: TagService,
        snapshots: SnapshotStore,
    ) -> None:
        self._meta = meta
        self._blobs = blobs
        self._projects = projects
        self._tags = tags
        self._snapshots = snapshots

    # -- upload ---------------------------------------------------------------------------------

    def create_images(
        self,
        project_id: str,
        items: Sequence[NewImage],
        tag_ids: Sequence[str] = (),
        metadata: Mapping[str, str] | None = None,
    ) -> ImageCreateSummary:
        project = self._projects.get(project_id)
        if len(items) > MAX_BATCH_IMAGES:
            raise BadRequest(
                f"A batch may hold at most {MAX_BATCH_IMAGES} images; this one has {len(items)}.",
                Code.BAD_REQUEST_EXCEEDED_BATCH_SIZE,
            )
        if not items:
            raise BadRequest("The batch contains no images.", Code.BAD_REQUEST_IMAGE_BATCH)
        tags = self._tags.by_id(project.id)
        batch_tags = parse_guids(tag_ids, "tag", limit=MAX_BATCH_TAGS)
        for tag_id in batch_tags:
            if tag_id not in tags:
                raise NotFound(f"Tag '{tag_id}' was not found in this project.", Code.NOT_FOUND_TAG)
        pairs = check_metadata(metadata)
        for n, item in enumerate(items, 1):  # Refuse malformed boxes before storing anything.
            for r in item.regions:
                try:
                    check_region(r.left, r.top, r.width, r.height)
                except BadRequest as exc:
                    raise BadRequest(f"Image {n} ({item.source or 'unnamed'}): {exc.message}", exc.code) from None
        results = [self._create_one(project.id, item, batch_tags, pairs, tags) for item in items]
        return ImageCreateSummary(results)

    def _create_one(
        self,
        project_id: str,
        item: NewImage,
        batch_tags: list[str],
        metadata: dict[str, str],
        tags: dict[str, Tag],
    ) -> ImageCreateResult:
        if item.error is not None or item.data is None:
            status = item.error.create_status if item.error else "ErrorSource"
            return ImageCreateResult(item.source, status)
        try:
            entry_tags = parse_guids(item.tag_ids, "tag", limit=MAX_TAGS_PER_IMAGE)
        except BadRequest:
            return ImageCreateResult(item.source, "ErrorInvalidTag")
        now = utc_now()
        image_tags = [ImageTag(t, now) for t in dict.fromkeys([*batch_tags, *entry_tags])]
        regions = [
            Region(new_id(), r.tag_id.lower(), *check_region(r.left, r.top, r.width, r.height), now)
            for r in item.regions
        ]
        all_tags = {t.tag_id for t in image_tags} | {r.tag_id for r in regions}
        if any(t not in tags for t in all_tags) or any(tags[r.tag_id].type == NEGATIVE for r in regions):
            return ImageCreateResult(item.source, "ErrorInvalidTag")
        if len(all_tags) > MAX_TAGS_PER_IMAGE:
            return ImageCreateResult(item.source, "ErrorTagLimitExceed")
        if len(regions) > MAX_REGIONS_PER_IMAGE:
            return ImageCreateResult(item.source, "ErrorRegionLimitExceed")
        if _mixes_negative(all_tags, tags):
            return ImageCreateResult(item.source, "ErrorNegativeAndRegularTagOnSameImage")
        try:
            info = inspect_image(item.data)
        except InvalidImage as exc:
            return ImageCreateResult(item.source, exc.create_status)

        digest = hashlib.sha256(item.data).hexdigest()
        image_id = str(uuid.uuid5(_IMAGE_NAMESPACE, f"{project_id}:{digest}"))
        image = Image(
            id=image_id,
            project_id=project_id,
            created=now,
            width=info.width,
            height=info.height,
            format=info.format,
            size_bytes=len(item.data),
            content_hash=digest,
            blob_key=image_key(project_id, image_id),
            tags=tuple(image_tags),
            regions=tuple(regions),
            metadata=metadata,
        )
        try:
            existing = read_image(self._meta, project_id, image_id)
        except NotFound:
            existing = None
        if existing is None:
            self._blobs.put(image.blob_key, item.data, info.content_type)
            try:
                etag = self._meta.create(IMAGE, project_id, image.to_doc())
                return ImageCreateResult(item.source, OK, image.with_changes(etag=etag))
            except Conflict:
                pass  # Another request stored the same bytes a moment ago.
        merged = self._merge_labels(project_id, image_id, image_tags, regions, tags)
        return ImageCreateResult(item.source, OK_DUPLICATE, merged)

    def _merge_labels(
        self,
        project_id: str,
        image_id: str,
        image_tags: list[ImageTag],
        regions: list[Region],
        tags: dict[str, Tag],
    ) -> Image | None:
        """A duplicate upload still carries the user's labels: add them to the stored image."""

        def merge(current: Image) -> Image | None:
            have = {t.tag_id for t in current.tags}
            new_tags = [t for t in image_tags if t.tag_id not in have]
            new_regions = [r for r in regions if not any(_same_box(r, o) for o in current.regions)]
            if not new_tags and not new_regions:
                return None
            candidate = current.with_changes(
                tags=current.tags + tuple(new_tags), regions=current.regions + tuple(new_regions)
            )
            if _mixes_negative(set(candidate.tag_ids), tags) or len(candidate.regions) > MAX_REGIONS_PER_IMAGE:
                return None
            return candidate

        try:
            return update_image(self._meta, project_id, image_id, merge)
        except NotFound:
            return None

    # -- queries --------------------------------------------------------------------------------

    def list_images(self, project_id: str, query: ImageQuery) -> list[Image]:
        project = self._projects.get(project_id)
        window = query.skip + query.take
        found = iter_images(
            self._meta,
            project.id,
            query.conditions(),
            newest_first=query.newest_first,
            page_size=max(1, min(window, MAX_IMAGE_IDS_QUERY)),
        )
        return list(itertools.islice(found, query.skip, window))

    def count_images(self, project_id: str, query: ImageQuery) -> int:
        project = self._projects.get(project_id)
        return self._meta.count(IMAGE, project.id, query.conditions())

    def images_by_ids(self, project_id: str, image_ids: Sequence[str]) -> list[Image]:
        project = self._projects.get(project_id)
        ids = parse_guids(image_ids, "image", limit=MAX_IMAGE_IDS_QUERY)
        page = self._meta.query(IMAGE, project.id, [In("id", tuple(ids))], limit=MAX_IMAGE_IDS_QUERY)
        by_id = {s.doc["id"]: Image.from_doc(s.doc, s.etag) for s in page.items}
        return [by_id[i] for i in ids if i in by_id]

    def get_image(self, project_id: str, image_id: str) -> Image:
        project = self._projects.get(project_id)
        return read_image(self._meta, project.id, image_id)

    # -- deletion -------------------------------------------------------------------------------

    def delete_images(
        self,
        project_id: str,
        image_ids: Sequence[str],
        all_images: bool = False,
        all_iterations: bool = False,
    ) -> None:
        """Delete from the workspace; the bytes stay while an iteration was trained on the image,
        unless ``all_iterations`` removes the images from the iterations' snapshots too."""
        project = self._projects.get(project_id)
        if all_images:
            ids = [i.id for i in iter_images(self._meta, project.id)]
        else:
            ids = parse_guids(image_ids, "image", limit=MAX_IMAGE_IDS_QUERY)
            if not ids:
                raise BadRequest("Give imageIds, or allImages=true.", Code.BAD_REQUEST_REQUIRED_PARAM_IS_NULL)
        if all_iterations:
            self._snapshots.drop_images(project.id, set(ids))
        kept_for_iterations = self._snapshots.referenced_images(project.id)
        for image_id in ids:
            try:
                self._meta.delete(IMAGE, project.id, image_id)
            except NotFound:
                continue
            if image_id not in kept_for_iterations:
                self._blobs.delete_prefix(image_prefix(project.id, image_id))

    # -- tags and regions on images ---------------------------------------------------------------

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
        images = {i: read_image(self._meta, project.id, i) for i in wanted}  # 404 before any write
        for image_id, tag_ids in wanted.items():
            if _mixes_negative(set(images[image_id].tag_ids) | set(tag_ids), tags):
                raise BadRequest(
                    f"Image '{image_id}' cannot carry the Negative tag together with other tags.",
                    Code.BAD_REQUEST_NEGATIVE_AND_REGULAR_TAG_ON_SAME_IMAGE,
                )
        summary = TagCreateSummary()
        for image_id, tag_ids in wanted.items():
            outcome: dict[str, str] = {}

            def add(current: Image, tag_ids: list[str] = tag_ids, outcome: dict[str, str] = outcome) -> Image | None:
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

            update_image(self._meta, project.id, image_id, add)
            for tag_id, result in outcome.items():
                getattr(summary, result).append((image_id, tag_id))
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
                update_image(self._meta, project.id, image_id, untag)
            except NotFound:
                continue

    def add_regions(self, project_id: str, entries: Sequence[tuple[str, RegionInput]]) -> RegionCreateSummary:
        project = self._projects.get(project_id)
        if len(entries) > MAX_REGION_BATCH:
            raise BadRequest(
                f"At most {MAX_REGION_BATCH} regions may be created at once.",
                Code.BAD_REQUEST_EXCEEDED_BATCH_SIZE,
            )
        tags = self._tags.by_id(project.id)
        wanted: dict[str, list[RegionInput]] = {}
        for image_id, region in entries:
            (image_ref,) = parse_guids([image_id], "image", limit=1)
            (tag_key,) = parse_guids([region.tag_id], "tag", limit=1)
            tag = tags.get(tag_key)
            if tag is None:
                raise NotFound(f"Tag '{region.tag_id}' was not found in this project.", Code.NOT_FOUND_TAG)
            if tag.type == NEGATIVE:
                raise BadRequest("The Negative tag cannot label a region.", Code.BAD_REQUEST_IMAGE_REGIONS)
            box = check_region(region.left, region.top, region.width, region.height)
            wanted.setdefault(image_ref, []).append(RegionInput(tag_key, *box))
        for image_id in wanted:
            image = read_image(self._meta, project.id, image_id)  # 404 before any write
            if _mixes_negative(set(image.tag_ids) | {r.tag_id for r in wanted[image_id]}, tags):
                raise BadRequest(
                    f"Image '{image_id}' carries the Negative tag; remove it before drawing regions.",
                    Code.BAD_REQUEST_NEGATIVE_AND_REGULAR_TAG_ON_SAME_IMAGE,
                )
        summary = RegionCreateSummary()
        for image_id, regions in wanted.items():
            created: list[Region] = []
            duplicated: list[RegionInput] = []
            exceeded: list[RegionInput] = []

            def add(
                current: Image,
                regions: list[RegionInput] = regions,
                created: list[Region] = created,
                duplicated: list[RegionInput] = duplicated,
                exceeded: list[RegionInput] = exceeded,
            ) -> Image | None:
                created.clear()
                duplicated.clear()
                exceeded.clear()
                boxes = list(current.regions)
                now = utc_now()
                for r in regions:
                    if any(_same_box(r, o) for o in boxes):
                        duplicated.append(r)
                    elif len(boxes) >= MAX_REGIONS_PER_IMAGE:
                        exceeded.append(r)
                    else:
                        new = Region(new_id(), r.tag_id, r.left, r.top, r.width, r.height, now)
                        boxes.append(new)
                        created.append(new)
                return current.with_changes(regions=tuple(boxes)) if created else None

            update_image(self._meta, project.id, image_id, add)
            summary.created.extend((image_id, r) for r in created)
            summary.duplicated.extend((image_id, r) for r in duplicated)
            summary.exceeded.extend((image_id, r) for r in exceeded)
        return summary

    def remove_regions(self, project_id: str, region_ids: Sequence[str]) -> None:
        project = self._projects.get(project_id)
        drop = set(parse_guids(region_ids, "region", limit=MAX_REGION_BATCH))
        if not drop:
            raise BadRequest("Give regionIds.", Code.BAD_REQUEST_REQUIRED_PARAM_IS_NULL)

        def unbox(current: Image) -> Image | None:
            kept = tuple(r for r in current.regions if r.id not in drop)
            return current.with_changes(regions=kept) if len(kept) != len(current.regions) else None

        for image in list(iter_images(self._meta, project.id, [ArrayContainsAny("regionIds", tuple(drop))])):
            update_image(self._meta, project.id, image.id, unbox)

    # -- metadata -------------------------------------------------------------------------------

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
            over_limit = False

            def merge(current: Image) -> Image | None:
                nonlocal over_limit
                merged = {**current.metadata, **pairs}
                try:
                    check_metadata(merged)
                except BadRequest:
                    over_limit = True
                    return None
                return current.with_changes(metadata=merged)

            try:
                image = update_image(self._meta, project.id, image_id, merge)
            except NotFound:
                results.append(MetadataUpdateResult(image_id, "ErrorImageNotFound", None))
                continue
            status = "ErrorLimitExceed" if over_limit else OK
            results.append(MetadataUpdateResult(image_id, status, image.metadata))
        return results

    # -- bytes ------------------------------------------------------------------------------------

    def read_variant(self, project_id: str, image_id: str, variant: str) -> tuple[bytes, str]:
        """Served from the bytes alone, so images kept only by an iteration's snapshot work too."""
        return read_rendition(self._blobs, image_prefix(project_id, image_id.lower()), variant)


def _mixes_negative(tag_ids: set[str], tags: Mapping[str, Tag]) -> bool:
    types = {tags[t].type for t in tag_ids if t in tags}
    return NEGATIVE in types and len(tag_ids) > 1


def _same_box(a: RegionInput | Region, b: Region) -> bool:
    return a.tag_id == b.tag_id and all(
        abs(x - y) < _SAME_BOX for x, y in ((a.left, b.left), (a.top, b.top), (a.width, b.width), (a.height, b.height))
    )
