"""Uploading training images: from bytes, base64 files or URLs, validated, deduplicated, stored.

Uploads write the bytes before the record that points at them, so an interruption leaves at most
an unreferenced blob (removed by the sweep of ``shared.services.deletions`` once older than the
grace), never a record pointing at nothing. An image's id is derived from its
project and content hash, so the same bytes uploaded twice (even by two requests at once) become
one image: the store refuses the second create atomically and the upload reports
``OKDuplicate`` (with the new labels merged in).

A batch re-reads its project and tags after its writes (:meth:`ImageUploads._settle`): a project
deleted meanwhile has this batch's images removed again and answers NotFound; a tag deleted
meanwhile is taken off the images. What was written before that re-read is found by the delete's
own purge, and a crash between the two by the purge's last pass (``shared.services.tombstones``).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

from shared.domain.clock import utc_now
from shared.domain.entities import Image, ImageTag, Project, Region, Tag, new_id
from shared.domain.enums import ImageCreateStatus, TagType
from shared.domain.errors import BadRequest, Code, Conflict, InvalidImage, NotFound
from shared.domain.labelling import RegionInput, mixes_negative, same_box
from shared.domain.limits import (
    MAX_BATCH_IMAGES,
    MAX_BATCH_TAGS,
    MAX_IMAGE_BYTES_TRAINING,
    MAX_REGIONS_PER_IMAGE,
    MAX_TAGS_PER_IMAGE,
)
from shared.domain.validation import check_metadata, check_region, parse_guids
from shared.services.artifact_keys import image_key, image_prefix
from shared.services.ingestion import ImageDownloads
from shared.services.projects import ProjectService
from shared.services.tags import TagService
from shared.stores.documents import Documents
from shared.stores.ports import BlobStore, MetadataStore
from shared.vision.images import inspect_image

__all__ = [
    "ImageCreateResult",
    "ImageCreateSummary",
    "ImageUploads",
    "NewImage",
    "UploadTarget",
    "UrlImage",
]

_IMAGE_NAMESPACE = uuid.UUID("6f1c2f4e-3b7a-4c1e-9a53-7f0e2d9b8c11")
_MEGABYTE = 1024 * 1024


@dataclass(frozen=True)
class NewImage:
    """One image of an upload batch: its bytes, or the reason they could not be had."""

    source: str | None
    data: bytes | None = None
    error: InvalidImage | None = None
    tag_ids: Sequence[str] = ()
    regions: Sequence[RegionInput] = ()

    @classmethod
    def oversized(cls, source: str | None) -> NewImage:
        """An image whose bytes were refused unread: above the training size limit."""
        limit = MAX_IMAGE_BYTES_TRAINING // _MEGABYTE
        error = InvalidImage(
            f"The image is larger than {limit} MB.",
            Code.BAD_REQUEST_IMAGE_SIZE_BYTES,
            ImageCreateStatus.ERROR_IMAGE_SIZE,
        )
        return cls(source, error=error)

    @classmethod
    def unreadable(cls, source: str | None, message: str) -> NewImage:
        """An entry whose contents are not image bytes at all (bad base64, say)."""
        error = InvalidImage(message, Code.BAD_REQUEST_IMAGE_FORMAT, ImageCreateStatus.ERROR_IMAGE_FORMAT)
        return cls(source, error=error)


@dataclass(frozen=True)
class UrlImage:
    """One entry of a URL upload: where the image is, and its labels."""

    url: str
    tag_ids: Sequence[str] = ()
    regions: Sequence[RegionInput] = ()


@dataclass(frozen=True)
class UploadTarget:
    """The project an upload goes to and its tags, read once per upload."""

    project: Project
    tags: Mapping[str, Tag]


@dataclass(frozen=True)
class ImageCreateResult:
    source_url: str | None
    status: ImageCreateStatus
    image: Image | None = None


@dataclass(frozen=True)
class ImageCreateSummary:
    images: list[ImageCreateResult]
    tags: Mapping[str, Tag]  # the project's tags, as the upload saw them (to name the images' tags)

    @property
    def is_batch_successful(self) -> bool:
        return all(r.status.stored for r in self.images)


class ImageUploads:
    def __init__(
        self,
        meta: MetadataStore,
        blobs: BlobStore,
        projects: ProjectService,
        tags: TagService,
        downloads: ImageDownloads,
        *,
        parallel: int = 1,
    ) -> None:
        self._images = Documents(meta, Image)
        # Images of a batch are stored ``parallel`` at a time, by one pool for every request: a
        # store a network away (Cosmos DB, Blob Storage) answers each call in milliseconds, which
        # one-by-one would add up over a 64-image batch.
        self._pool = ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="uploads") if parallel > 1 else None
        self._blobs = blobs
        self._projects = projects
        self._tags = tags
        self._downloads = downloads

    def target(self, project_id: str) -> UploadTarget:
        """The project and its tags (NotFound before any bytes are read)."""
        project = self._projects.get(project_id)
        return UploadTarget(project, self._tags.by_id(project.id))

    def create_images_from_files(
        self,
        project_id: str,
        items: Sequence[NewImage],
        tag_ids: Sequence[str] = (),
        metadata: Mapping[str, str] | None = None,
    ) -> ImageCreateSummary:
        """A batch whose images arrived in the request (base64 files)."""
        _check_batch_size(len(items))
        return self.create_images(self.target(project_id), items, tag_ids, metadata)

    def create_images_from_urls(
        self,
        project_id: str,
        entries: Sequence[UrlImage],
        tag_ids: Sequence[str] = (),
        metadata: Mapping[str, str] | None = None,
    ) -> ImageCreateSummary:
        """Fetch every URL (in parallel, safely), then store the images as :meth:`create_images`."""
        _check_batch_size(len(entries))
        target = self.target(project_id)
        fetched = self._downloads.for_training([e.url for e in entries])
        items = [
            NewImage(entry.url, got, None, entry.tag_ids, entry.regions)
            if isinstance(got, bytes)
            else NewImage(entry.url, error=got)
            for entry, got in zip(entries, fetched, strict=True)
        ]
        return self.create_images(target, items, tag_ids, metadata)

    def create_images(
        self,
        target: UploadTarget,
        items: Sequence[NewImage],
        tag_ids: Sequence[str] = (),
        metadata: Mapping[str, str] | None = None,
    ) -> ImageCreateSummary:
        """Store a batch: each image gets its own status, so the good images of a mixed batch stay."""
        _check_batch_size(len(items))
        batch_tags = parse_guids(tag_ids, "tag", limit=MAX_BATCH_TAGS, blanks=False)
        for tag_id in batch_tags:
            if tag_id not in target.tags:
                raise NotFound(f"Tag '{tag_id}' was not found in this project.", Code.NOT_FOUND_TAG)
        pairs = check_metadata(metadata)
        for n, item in enumerate(items, 1):  # Refuse malformed boxes before storing anything.
            for r in item.regions:
                try:
                    check_region(r.left, r.top, r.width, r.height)
                except BadRequest as exc:
                    raise BadRequest(f"Image {n} ({item.source or 'unnamed'}): {exc.message}", exc.code) from None

        def create(n: int) -> ImageCreateResult:
            return self._create_one(target, items[n], batch_tags, pairs)

        # The first copy of some bytes in a batch is the one stored (OK), a later copy its duplicate:
        # later copies wait until every first copy is stored.
        firsts: list[int] = []
        repeats: list[int] = []
        seen: set[bytes] = set()
        for n, item in enumerate(items):
            (repeats if item.data is not None and item.data in seen else firsts).append(n)
            if item.data is not None:
                seen.add(item.data)
        results: dict[int, ImageCreateResult] = {}
        for group in (firsts, repeats):
            stored = self._pool.map(create, group) if self._pool and len(group) > 1 else map(create, group)
            results.update(zip(group, stored, strict=True))
        return ImageCreateSummary(self._settle(target, [results[n] for n in range(len(items))]), target.tags)

    def _settle(self, target: UploadTarget, results: list[ImageCreateResult]) -> list[ImageCreateResult]:
        """After the writes: undo them if the project was deleted meanwhile (NotFound), and take
        tags deleted meanwhile off the images."""
        project_id = target.project.id
        stored = [r.image for r in results if r.image is not None]
        if not stored:
            return results
        if self._projects.find(project_id) is None:
            for r in results:
                if r.status is ImageCreateStatus.OK and r.image is not None:
                    self._images.delete(project_id, r.image.id)
                    self._blobs.delete_prefix(image_prefix(project_id, r.image.id))
            self._projects.get(project_id)  # raises the project's NotFound
        now = self._tags.strip_deleted(project_id, stored)
        # An image deleted since it was stored keeps its answer: the upload came first.
        return [r if r.image is None else replace(r, image=now.get(r.image.id) or r.image) for r in results]

    def _create_one(
        self, target: UploadTarget, item: NewImage, batch_tags: list[str], metadata: dict[str, str]
    ) -> ImageCreateResult:
        if item.error is not None or item.data is None:
            status = item.error.create_status if item.error else ImageCreateStatus.ERROR_SOURCE
            return ImageCreateResult(item.source, status)
        if len(item.tag_ids) > MAX_TAGS_PER_IMAGE:
            return ImageCreateResult(item.source, ImageCreateStatus.ERROR_TAG_LIMIT_EXCEED)
        try:
            entry_tags = parse_guids(item.tag_ids, "tag", limit=MAX_TAGS_PER_IMAGE, blanks=False)
        except BadRequest:
            return ImageCreateResult(item.source, ImageCreateStatus.ERROR_INVALID_TAG)
        now = utc_now()
        image_tags = [ImageTag(t, now) for t in dict.fromkeys([*batch_tags, *entry_tags])]
        regions = [
            Region(new_id(), r.tag_id.lower(), *check_region(r.left, r.top, r.width, r.height), now)
            for r in item.regions
        ]
        refused = _label_problem(image_tags, regions, target.tags)
        if refused is not None:
            return ImageCreateResult(item.source, refused)
        try:
            info = inspect_image(item.data)
        except InvalidImage as exc:
            return ImageCreateResult(item.source, exc.create_status)

        project_id = target.project.id
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
        # Twice at most: an image deleted between "it is there" and merging the labels is stored anew.
        for _ in range(2):
            if not self._images.exists(project_id, image_id):
                self._blobs.put(image.blob_key, item.data, info.content_type)
                try:
                    created = self._images.create(image)
                except Conflict:
                    pass  # Another request stored the same bytes a moment ago.
                else:
                    # A delete of the same image that began before the create may have removed
                    # the bytes just written: put them back, so the record never points at nothing.
                    if not self._blobs.exists(image.blob_key):
                        self._blobs.put(image.blob_key, item.data, info.content_type)
                    return ImageCreateResult(item.source, ImageCreateStatus.OK, created)
            merged = self._merge_labels(project_id, image_id, image_tags, regions, target.tags)
            if merged is not None:
                return ImageCreateResult(item.source, ImageCreateStatus.OK_DUPLICATE, merged)
        raise Conflict("The image is being deleted by another request; try again.")

    def _merge_labels(
        self,
        project_id: str,
        image_id: str,
        image_tags: list[ImageTag],
        regions: list[Region],
        tags: Mapping[str, Tag],
    ) -> Image | None:
        """A duplicate upload still carries the user's labels: add them to the stored image."""

        def merge(current: Image) -> Image | None:
            have = {t.tag_id for t in current.tags}
            new_tags = [t for t in image_tags if t.tag_id not in have]
            new_regions = [r for r in regions if not any(same_box(r, o) for o in current.regions)]
            if not new_tags and not new_regions:
                return None  # the current image is returned
            candidate = current.with_changes(
                tags=current.tags + tuple(new_tags), regions=current.regions + tuple(new_regions)
            )
            if mixes_negative(set(candidate.tag_ids), tags) or len(candidate.regions) > MAX_REGIONS_PER_IMAGE:
                return None
            return candidate

        try:
            return self._images.update(project_id, image_id, merge)
        except NotFound:
            return None


def _check_batch_size(count: int) -> None:
    if count == 0:
        raise BadRequest("The batch contains no images.", Code.BAD_REQUEST_IMAGE_BATCH)
    if count > MAX_BATCH_IMAGES:
        raise BadRequest(
            f"A batch may hold at most {MAX_BATCH_IMAGES} images; this one has {count}.",
            Code.BAD_REQUEST_EXCEEDED_BATCH_SIZE,
        )


def _label_problem(
    image_tags: list[ImageTag], regions: list[Region], tags: Mapping[str, Tag]
) -> ImageCreateStatus | None:
    """Why an image's labels cannot be stored, or None when they can."""
    all_tags = {t.tag_id for t in image_tags} | {r.tag_id for r in regions}
    if any(t not in tags for t in all_tags) or any(tags[r.tag_id].type == TagType.NEGATIVE for r in regions):
        return ImageCreateStatus.ERROR_INVALID_TAG
    if len(all_tags) > MAX_TAGS_PER_IMAGE:
        return ImageCreateStatus.ERROR_TAG_LIMIT_EXCEED
    if len(regions) > MAX_REGIONS_PER_IMAGE:
        return ImageCreateStatus.ERROR_REGION_LIMIT_EXCEED
    if mixes_negative(all_tags, tags):
        return ImageCreateStatus.ERROR_NEGATIVE_AND_REGULAR_TAG_ON_SAME_IMAGE
    return None
