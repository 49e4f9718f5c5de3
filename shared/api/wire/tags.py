"""Tags: the Tag shape (with its image count) and the ``update_tag`` body.

A description is ``""`` rather than null, because the SDK refuses to send a null description back
in ``update_tag``.
"""

from __future__ import annotations

from shared.api.wire.base import Wire
from shared.services.tags import TagWithCount

__all__ = ["TagIn", "TagOut", "tag_out"]


class TagOut(Wire):
    id: str
    name: str
    description: str
    type: str
    image_count: int


class TagIn(Wire):
    name: str | None = None
    description: str | None = None
    type: str | None = None


def tag_out(item: TagWithCount) -> TagOut:
    tag = item.tag
    return TagOut(id=tag.id, name=tag.name, description=tag.description, type=tag.type, image_count=item.image_count)
