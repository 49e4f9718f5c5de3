"""Iteration snapshots: the images, tags and regions an iteration was trained on.

A snapshot is written by the training API (as one JSON blob) before its iteration record exists,
and never changes; the trainer reads it, and queries with ``iterationId`` answer from it, so
later edits to the workspace do not rewrite history. Its fingerprint tells whether training again
would see anything new.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

from shared.domain.entities import Image, Tag
from shared.domain.enums import TagType
from shared.domain.versioning import ContractError, parse_document, read_version

__all__ = ["Snapshot"]

_NAME = "The iteration snapshot (snapshot.json)"


@dataclass(frozen=True)
class Snapshot:
    VERSION: ClassVar[int] = 1

    tags: tuple[Tag, ...]  # the tags trained on, oldest first (regular tags first, then Negative)
    images: tuple[Image, ...]  # newest first, each limited to the snapshot's tags

    @classmethod
    def take(cls, tags: Iterable[Tag], images: Iterable[Image], *, detection: bool) -> Snapshot:
        """Keep the images that carry a label of ``tags`` (boxes, for detection), labels limited to them."""
        kept_tags = tuple(tags)
        ids = {t.id for t in kept_tags}
        kept: list[Image] = []
        for image in images:
            regions = tuple(r for r in image.regions if r.tag_id in ids)
            image_tags = tuple(t for t in image.tags if t.tag_id in ids)
            if detection and not regions:
                continue
            if not detection and not image_tags:
                continue
            kept.append(image.with_changes(tags=image_tags, regions=regions, etag=None))
        return cls(kept_tags, tuple(kept))

    @property
    def regular_tags(self) -> tuple[Tag, ...]:
        return tuple(t for t in self.tags if t.type != TagType.NEGATIVE)

    @property
    def negative_tag(self) -> Tag | None:
        return next((t for t in self.tags if t.type == TagType.NEGATIVE), None)

    def without_images(self, image_ids: set[str]) -> Snapshot:
        return Snapshot(self.tags, tuple(i for i in self.images if i.id not in image_ids))

    def fingerprint(self, settings: dict[str, Any]) -> str:
        """Changes whenever anything training would see changes: settings, tags, images, labels."""
        content = {
            "settings": settings,
            "tags": sorted(t.id for t in self.tags),
            "images": sorted(
                (
                    i.id,
                    sorted(t.tag_id for t in i.tags),
                    sorted(
                        (r.tag_id, round(r.left, 5), round(r.top, 5), round(r.width, 5), round(r.height, 5))
                        for r in i.regions
                    ),
                )
                for i in self.images
            ),
        }
        return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "version": self.VERSION,
                "tags": [t.to_doc() for t in self.tags],
                "images": [i.to_doc() for i in self.images],
            }
        ).encode()

    @classmethod
    def from_json(cls, data: bytes | str) -> Snapshot:
        raw = parse_document(_NAME, data)
        read_version(_NAME, raw, cls.VERSION)
        try:
            return cls(
                tuple(Tag.from_doc(t) for t in raw["tags"]),
                tuple(Image.from_doc(i) for i in raw["images"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ContractError(f"{_NAME} is malformed: {exc!r}") from None
