"""The rules of labelling an image, shared by uploads, label edits and moved predictions."""

from __future__ import annotations

from collections.abc import Mapping, Set
from dataclasses import dataclass

from shared.domain.entities import Region, Tag
from shared.domain.enums import TagType

__all__ = ["SAME_BOX_TOLERANCE", "RegionInput", "mixes_negative", "same_box"]

# Two boxes of one tag closer than this (normalised) on every side are the same box.
SAME_BOX_TOLERANCE = 1e-6


@dataclass(frozen=True)
class RegionInput:
    """A box someone asks to draw: a tag and normalised left, top, width, height."""

    tag_id: str
    left: float
    top: float
    width: float
    height: float


def mixes_negative(tag_ids: Set[str], tags: Mapping[str, Tag]) -> bool:
    """The Negative tag stands alone: it means "none of the other tags"."""
    types = {tags[t].type for t in tag_ids if t in tags}
    return TagType.NEGATIVE in types and len(tag_ids) > 1


def same_box(a: RegionInput | Region, b: Region) -> bool:
    return a.tag_id == b.tag_id and all(
        abs(x - y) < SAME_BOX_TOLERANCE
        for x, y in ((a.left, b.left), (a.top, b.top), (a.width, b.width), (a.height, b.height))
    )
