"""Tags: create, read with image counts, update, delete (which untags every image)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from shared.domain.entities import IMAGE, NEGATIVE, TAG, TAG_TYPES, Image, Tag, new_id, utc_now
from shared.domain.errors import BadRequest, Code, Conflict, NotFound
from shared.domain.limits import MAX_TAGS_PER_PROJECT
from shared.domain.validation import check_description, check_name, is_guid
from shared.services.image_records import iter_images, update_image
from shared.services.names import NameClaims
from shared.services.projects import ProjectService
from shared.stores.ports import ArrayContainsAny, Eq, MetadataStore

__all__ = ["TagChanges", "TagService", "TagWithCount"]

_ETAG_RETRIES = 5


@dataclass(frozen=True)
class TagWithCount:
    tag: Tag
    image_count: int


@dataclass(frozen=True)
class TagChanges:
    name: str | None = None
    description: str | None = None
    type: str | None = None


def _tag_type(value: str | None) -> str:
    if not value:
        return TAG_TYPES[0]
    for known in TAG_TYPES:
        if value.lower() == known.lower():
            return known
    raise BadRequest(f"Tag type must be one of {', '.join(TAG_TYPES)}, not '{value}'.", Code.BAD_REQUEST_TAG_TYPE)


class TagService:
    def __init__(self, meta: MetadataStore, projects: ProjectService) -> None:
        self._meta = meta
        self._projects = projects
        self._names = NameClaims(meta, "tagname", Code.BAD_REQUEST_TAG_NAME_NOT_UNIQUE, "tag")

    def _find(self, project_id: str, tag_id: str) -> Tag:
        key = tag_id.lower()
        if not is_guid(key):
            raise NotFound(f"Tag '{tag_id}' was not found in this project.", Code.NOT_FOUND_TAG)
        try:
            stored = self._meta.read(TAG, project_id, key)
        except NotFound:
            raise NotFound(f"Tag '{tag_id}' was not found in this project.", Code.NOT_FOUND_TAG) from None
        return Tag.from_doc(stored.doc, stored.etag)

    def all(self, project_id: str) -> list[Tag]:
        """Every tag of a (known) project, oldest first."""
        page = self._meta.query(TAG, project_id, order_by="created", limit=MAX_TAGS_PER_PROJECT + 1)
        return [Tag.from_doc(s.doc, s.etag) for s in page.items]

    def by_id(self, project_id: str) -> dict[str, Tag]:
        return {t.id: t for t in self.all(project_id)}

    def _count(self, project_id: str, tag_id: str) -> int:
        return self._meta.count(IMAGE, project_id, [ArrayContainsAny("tagIds", (tag_id,))])

    def list(self, project_id: str) -> list[TagWithCount]:
        project = self._projects.get(project_id)
        return [TagWithCount(t, self._count(project.id, t.id)) for t in self.all(project.id)]

    def get(self, project_id: str, tag_id: str) -> TagWithCount:
        project = self._projects.get(project_id)
        tag = self._find(project.id, tag_id)
        return TagWithCount(tag, self._count(project.id, tag.id))

    def _tag_exists(self, project_id: str) -> Callable[[str], bool]:
        def exists(tag_id: str) -> bool:
            try:
                self._find(project_id, tag_id)
            except NotFound:
                return False
            return True

        return exists

    def _check_single_negative(self, project_id: str, tag_type: str, tag_id: str | None) -> None:
        if tag_type != NEGATIVE:
            return
        others = self._meta.count(TAG, project_id, [Eq("type", NEGATIVE)])
        if others and not (tag_id and self._find(project_id, tag_id).type == NEGATIVE):
            raise BadRequest("A project can have only one Negative tag.", Code.BAD_REQUEST_MULTIPLE_NEGATIVE_TAG)

    def create(
        self, project_id: str, name: str | None, description: str | None = None, type: str | None = None
    ) -> TagWithCount:
        project = self._projects.get(project_id)
        clean = check_name(name, "tag", Code.BAD_REQUEST_TAG_NAME)
        tag_type = _tag_type(type)
        if self._meta.count(TAG, project.id) >= MAX_TAGS_PER_PROJECT:
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
        etag = self._meta.create(TAG, project.id, tag.to_doc())
        return TagWithCount(replace(tag, etag=etag), 0)

    def update(self, project_id: str, tag_id: str, changes: TagChanges) -> TagWithCount:
        project = self._projects.get(project_id)
        for _ in range(_ETAG_RETRIES):
            current = self._find(project.id, tag_id)
            name = current.name if changes.name is None else check_name(changes.name, "tag", Code.BAD_REQUEST_TAG_NAME)
            tag_type = current.type if changes.type is None else _tag_type(changes.type)
            self._check_single_negative(project.id, tag_type, current.id)
            updated = replace(
                current,
                name=name,
                type=tag_type,
                description=current.description
                if changes.description is None
                else check_description(changes.description, "tag", Code.BAD_REQUEST_TAG_DESCRIPTION),
            )
            renamed = name.casefold() != current.name.casefold()
            if renamed:
                self._names.claim(project.id, name, current.id, self._tag_exists(project.id))
            try:
                etag = self._meta.replace(TAG, project.id, updated.to_doc(), if_match=current.etag)
            except Conflict:
                if renamed:
                    self._names.release(project.id, name, current.id)
                continue
            if renamed:
                self._names.release(project.id, current.name, current.id)
            return TagWithCount(replace(updated, etag=etag), self._count(project.id, current.id))
        raise Conflict("The tag is being changed by other requests; try again.")

    def delete(self, project_id: str, tag_id: str) -> None:
        project = self._projects.get(project_id)
        tag = self._find(project.id, tag_id)

        def untag(image: Image) -> Image:
            return image.with_changes(
                tags=tuple(t for t in image.tags if t.tag_id != tag.id),
                regions=tuple(r for r in image.regions if r.tag_id != tag.id),
            )

        # Untag the images first: if this is interrupted, the tag still exists and no image
        # points at a missing tag.
        for image in list(iter_images(self._meta, project.id, [ArrayContainsAny("tagIds", (tag.id,))])):
            update_image(self._meta, project.id, image.id, untag)
        self._meta.delete(TAG, project.id, tag.id)
        self._names.release(project.id, tag.name, tag.id)
