"""The renditions served behind image URIs: the original bytes, a resized copy and a thumbnail.

Resized copies are rendered on first request and kept beside the original (``<folder>original``,
``<folder>resized``, ``<folder>thumbnail``), for training images and stored predictions alike.
"""

from __future__ import annotations

from shared.domain.errors import Code, NotFound
from shared.stores.ports import BlobStore
from shared.vision.images import content_type, render_rendition

__all__ = ["ORIGINAL", "RENDITIONS", "read_rendition"]

ORIGINAL = "original"
# Longest side of each rendition, in pixels; the original is the uploaded bytes.
RENDITIONS = {ORIGINAL: 0, "resized": 1024, "thumbnail": 256}


def read_rendition(blobs: BlobStore, folder: str, rendition: str) -> tuple[bytes, str]:
    """``(bytes, content type)`` of one rendition of the image stored under ``folder``."""
    if rendition not in RENDITIONS:
        raise NotFound(f"Unknown image rendition '{rendition}'.", Code.NOT_FOUND)
    if rendition != ORIGINAL:
        try:
            return blobs.get(folder + rendition), "image/jpeg"
        except NotFound:
            pass
    original = blobs.get(folder + ORIGINAL)
    if rendition == ORIGINAL:
        return original, content_type(original)
    data = render_rendition(original, max_side=RENDITIONS[rendition])
    blobs.put(folder + rendition, data, "image/jpeg")
    return data, "image/jpeg"
