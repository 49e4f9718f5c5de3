"""Reading and changing stored image records, with etag-guarded retries.

Shared by the image and tag services: both change images (tags, regions, metadata) and must not
lose a concurrent writer's change.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace

from shared.domain.entities import IMAGE, Image
from shared.domain.errors import Code, Conflict, NotFound
from shared.domain.validation import is_guid
from shared.stores.ports import Condition, MetadataStore

__all__ = ["iter_images", "read_image", "update_image"]

_ETAG_RETRIES = 8


def read_image(meta: MetadataStore, project_id: str, image_id: str) -> Image:
    key = image_id.lower()
    if not is_guid(key):
        raise NotFound(f"Image '{image_id}' was not found.", Code.NOT_FOUND_IMAGE)
    try:
        stored = meta.read(IMAGE, project_id, key)
    except NotFound:
        raise NotFound(f"Image '{image_id}' was not found.", Code.NOT_FOUND_IMAGE) from None
    return Image.from_doc(stored.doc, stored.etag)


def update_image(meta: MetadataStore, project_id: str, image_id: str, change: Callable[[Image], Image | None]) -> Image:
    """Apply ``change`` to the current record and save it; retry if another writer got there first.

    ``change`` returns the new image, or None when there is nothing to write.
    """
    for _ in range(_ETAG_RETRIES):
        current = read_image(meta, project_id, image_id)
        updated = change(current)
        if updated is None:
            return current
        try:
            etag = meta.replace(IMAGE, project_id, updated.to_doc(), if_match=current.etag)
        except Conflict:
            continue
        return replace(updated, etag=etag)
    raise Conflict(f"Image '{image_id}' is being changed by other requests; try again.")


def iter_images(
    meta: MetadataStore,
    project_id: str,
    where: Sequence[Condition] = (),
    *,
    newest_first: bool = True,
    page_size: int = 256,
) -> Iterator[Image]:
    """Every matching image, page by page, newest (or oldest) first. Memory stays one page."""
    token = None
    while True:
        page = meta.query(
            IMAGE,
            project_id,
            where,
            order_by="created",
            descending=newest_first,
            limit=page_size,
            continuation=token,
        )
        yield from (Image.from_doc(s.doc, s.etag) for s in page.items)
        token = page.continuation
        if token is None:
            return
