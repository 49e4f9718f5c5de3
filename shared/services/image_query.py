"""What an image listing asks for, as a typed query: tags, tagging status, metadata, order, page.

The HTTP layer parses Custom Vision's query string into an :class:`ImageQuery`; the image service
turns it into store conditions (:meth:`ImageQuery.conditions`), and queries of an iteration's
snapshot apply the same meaning to images in memory (:meth:`ImageQuery.matches`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass

from shared.domain.entities import Image, metadata_pair
from shared.domain.enums import TaggingStatus
from shared.domain.limits import DEFAULT_TAKE
from shared.stores.ports import ArrayContainsAny, ArrayEmpty, Condition

__all__ = ["ImageQuery", "MetadataFilter"]


@dataclass(frozen=True)
class MetadataFilter:
    """``$filter`` on image metadata: every group must hold, and a group holds when the image has
    any of its ``(key, value)`` pairs (``(a eq '1' or a eq '2') and b eq '3'``)."""

    groups: tuple[tuple[tuple[str, str], ...], ...] = ()

    def _pairs(self) -> list[tuple[str, ...]]:
        return [tuple(metadata_pair(k, v) for k, v in group) for group in self.groups]

    def conditions(self) -> list[Condition]:
        return [ArrayContainsAny(Image.METADATA_PAIRS, pairs) for pairs in self._pairs()]

    def matches(self, image: Image) -> bool:
        have = set(image.metadata_pairs)
        return all(have.intersection(pairs) for pairs in self._pairs())


@dataclass(frozen=True)
class ImageQuery:
    tag_ids: tuple[str, ...] = ()  # images carrying any of these (none: every image)
    tagging: TaggingStatus = TaggingStatus.ALL
    metadata: MetadataFilter = MetadataFilter()
    newest_first: bool = True
    take: int = DEFAULT_TAKE
    skip: int = 0

    def conditions(self, deleted_tags: Collection[str] = ()) -> list[Condition]:
        """The store conditions; ``deleted_tags`` (tags being deleted, which images may still
        carry until the delete's purge is over) count as not there."""
        gone = tuple(sorted(deleted_tags))
        where = self.metadata.conditions()
        if self.tag_ids:  # only deleted tags asked for: nothing matches
            where.append(ArrayContainsAny(Image.TAG_IDS, tuple(t for t in self.tag_ids if t not in gone)))
        if self.tagging is TaggingStatus.TAGGED:
            where.append(ArrayEmpty(Image.TAG_IDS, empty=False, ignoring=gone))
        elif self.tagging is TaggingStatus.UNTAGGED:
            where.append(ArrayEmpty(Image.TAG_IDS, empty=True, ignoring=gone))
        return where

    def matches(self, image: Image) -> bool:
        tags = image.tag_ids
        if self.tag_ids and not set(tags).intersection(self.tag_ids):
            return False
        if self.tagging is TaggingStatus.TAGGED and not tags:
            return False
        if self.tagging is TaggingStatus.UNTAGGED and tags:
            return False
        return self.metadata.matches(image)

    def select(self, images: Iterable[Image]) -> list[Image]:
        """The matching images in the query's order (created, then id), before paging."""
        found = [i for i in images if self.matches(i)]
        found.sort(key=lambda i: (i.created, i.id), reverse=self.newest_first)
        return found

    def page(self, images: Iterable[Image]) -> list[Image]:
        return self.select(images)[self.skip : self.skip + self.take]
