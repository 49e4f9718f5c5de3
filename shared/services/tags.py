"""Tags: create, read with image counts, update, delete (which untags every image)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from shared.domain.clock import utc_now
from shared.domain.entities import Image, Tag, Tombstone, new_id
from shared.domain.enums import TagType, parse_member
from shared.domain.errors import BadRequest, Code, NotFound
from shared.domain.limits import MAX_TAGS_PER_PROJECT
from shared.domain.validation import check_description, check_name
from shared.services.projects import ProjectService
from shared.services.tombstones import Tombstones
from shared.stores.claims import NameClaims, OwnerAlive, RenameGuard
from shared.stores.documents import Documents
from shared.stores.ports import ArrayContainsAny, Eq, MetadataStore

__all__ = ["TagChanges", "TagService", "TagWithCount"]


@dataclass(frozen=True)
class TagWithCount:
    tag: Tag
    image_count: int


@dataclass(frozen=True)
class TagChanges:
    name: str | None = None
    description: str | None = None
    type: str | None = None


def _tag_type(value: str | None) -> TagType:
    found = parse_member(TagType, value, TagType.REGULAR)
    if found is None:
        raise BadRequest(f"Tag type must be one of {', '.join(TagType)}, not '{value}'.", Code.BAD_REQUEST_TAG_TYPE)
    return found


def untagged(image: Image, tag_id: str) -> Image | None:
    """The image without ``tag_id`` (as image tag and on regions), or None when it had none."""
    tags = tuple(t for t in image.tags if t.tag_id != tag_id)
    regions = tuple(r for r in image.regions if r.tag_id != tag_id)
    if len(tags) == len(image.tags) and len(regions) == len(image.regions):
        return None
    return image.with_changes(tags=tags, regions=regions)


class TagService:
    def __init__(self, meta: MetadataStore, projects: ProjectService) -> None:
        self._projects = projects
        self._docs = Documents(meta, Tag)
        self._images = Documents(meta, Image)
        self._names = NameClaims(meta, "tagname", Code.BAD_REQUEST_TAG_NAME_NOT_UNIQUE, "tag")
        self._tombstones = Tombstones(meta)

    def all(self, project_id: str) -> list[Tag]:
        """Every tag of a (known) project, oldest first."""
        return self._docs.all(project_id, order_by=Tag.CREATED, page_size=MAX_TAGS_PER_PROJECT + 1)

    def by_id(self, project_id: str) -> dict[str, Tag]:
        return {t.id: t for t in self.all(project_id)}

    def _count(self, project_id: str, tag_id: str) -> int:
        return self._images.count(project_id, [ArrayContainsAny(Image.TAG_IDS, (tag_id,))])

    def list(self, project_id: str) -> list[TagWithCount]:
        project = self._projects.get(project_id)
        return [TagWithCount(t, self._count(project.id, t.id)) for t in self.all(project.id)]

    def get(self, project_id: str, tag_id: str) -> TagWithCount:
        project = self._projects.get(project_id)
        tag = self._docs.get(project.id, tag_id)
        return TagWithCount(tag, self._count(project.id, tag.id))

    def _tag_exists(self, project_id: str) -> OwnerAlive:
        return lambda tag_id: self._docs.exists(project_id, tag_id)

    def _check_single_negative(self, project_id: str, tag_type: TagType, tag_id: str | None) -> None:
        if tag_type != TagType.NEGATIVE:
            return
        others = self._docs.count(project_id, [Eq(Tag.TYPE, TagType.NEGATIVE.value)])
        if others and not (tag_id and self._docs.get(project_id, tag_id).type == TagType.NEGATIVE):
            raise BadRequest("A project can have only one Negative tag.", Code.BAD_REQUEST_MULTIPLE_NEGATIVE_TAG)

    def create(
        self, project_id: str, name: str | None, description: str | None = None, type: str | None = None
    ) -> TagWithCount:
        project = self._projects.get(project_id)
        clean = check_name(name, "tag", Code.BAD_REQUEST_TAG_NAME)
        tag_type = _tag_type(type)
        if self._docs.count(project.id) >= MAX_TAGS_PER_PROJECT:
            raise BadRequest(
                f"A project can have at most {MAX_TAGS_PER_PROJECT} tags.",
                Code.BAD_REQUEST_EXCEED_TAG_PER_PROJECT_LIMIT,
            )
        self._check_single_negative(project.id, tag_type, None)
        tag = Tag(
            id=new_id(),
            project_id=project.id,
            name=clean,
            description=check_description(description, "tag", Code.BAD_REQUEST_TAG_DESCRIPTION),
            type=tag_type,
            created=utc_now(),
        )
        self._names.claim(project.id, clean, tag.id, self._tag_exists(project.id))
        return TagWithCount(self._docs.create(tag), 0)

    def update(self, project_id: str, tag_id: str, changes: TagChanges) -> TagWithCount:
        project = self._projects.get(project_id)

        def change(current: Tag) -> Tag:
            tag_type = current.type if changes.type is None else _tag_type(changes.type)
            self._check_single_negative(project.id, tag_type, current.id)
            return replace(
                current,
                name=current.name
                if changes.name is None
                else check_name(changes.name, "tag", Code.BAD_REQUEST_TAG_NAME),
                type=tag_type,
                description=current.description
                if changes.description is None
                else check_description(changes.description, "tag", Code.BAD_REQUEST_TAG_DESCRIPTION),
            )

        guard = RenameGuard[Tag](
            self._names, project.id, lambda t: t.name, lambda t: t.id, self._tag_exists(project.id)
        )
        updated = self._docs.update(project.id, tag_id, change, guard=guard)
        return TagWithCount(updated, self._count(project.id, updated.id))

    def delete(self, project_id: str, tag_id: str) -> None:
        """The tag disappears at once (and its name is free); its images are untagged by the purge,
        which a crash leaves to whoever finds the tombstone (``shared.services.deletions``)."""
        project = self._projects.get(project_id)
        tag = self._docs.get(project.id, tag_id)
        tombstone = Tombstone(Tombstone.TAG, project.id, tag.id, tag.name, utc_now())
        self.purge(self._tombstones.record(tombstone))

    def purge(self, tombstone: Tombstone) -> None:
        """One pass over a deleted tag's references; idempotent, so any pass may be interrupted."""
        project_id, tag_id = tombstone.project_id, tombstone.target_id
        self._docs.delete(project_id, tag_id)  # from here on uploads and labels refuse the tag
        self._names.release(project_id, tombstone.name, tag_id)  # only if still its own
        for image in self._images.all(project_id, [ArrayContainsAny(Image.TAG_IDS, (tag_id,))]):
            try:
                self._images.update(project_id, image.id, lambda i: untagged(i, tag_id))
            except NotFound:  # deleted meanwhile
                continue
        self._tombstones.passed(tombstone)

    def strip_deleted(self, project_id: str, images: Sequence[Image]) -> dict[str, Image | None]:
        """After writing tags onto ``images``: each one's stored version without any tag deleted
        meanwhile (None: the image is gone). A tag deleted after this re-read finds the images
        by its own purge, so no image keeps a reference to a tag that does not exist."""
        live = self.by_id(project_id)

        def without(dead: set[str]) -> Callable[[Image], Image | None]:
            # Only the tags found dead: a tag made since the re-read is live, whoever added it.
            def change(current: Image) -> Image | None:
                if not dead & set(current.tag_ids):
                    return None
                return current.with_changes(
                    tags=tuple(t for t in current.tags if t.tag_id not in dead),
                    regions=tuple(r for r in current.regions if r.tag_id not in dead),
                )

            return change

        out: dict[str, Image | None] = {}
        for image in images:
            dead = set(image.tag_ids) - live.keys()
            if not dead:
                out[image.id] = image
                continue
            try:
                out[image.id] = self._images.update(project_id, image.id, without(dead))
            except NotFound:
                out[image.id] = None
        return out
