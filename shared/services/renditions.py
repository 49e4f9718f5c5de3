"""The renditions served behind image URIs: the original bytes, a resized copy and a thumbnail.

Resized copies are rendered on first request and kept beside the original (``<folder>original``,
``<folder>resized``, ``<folder>thumbnail``), for training images and stored predictions alike.
"""

from __future__ import annotations

from shared.domain.errors import Code, NotFound
from shared.stores.ports import BlobStore
from shared.vision.images import content_type, render_variant

__all__ = ["VARIANTS", "read_rendition"]

# Longest side of each rendition, in pixels; "original" is the uploaded bytes.
VARIANTS = {"original": 0, "resized": 1024, "thumbnail": 256}


def read_rendition(blobs: BlobStore, folder: str, variant: str) -> tuple[bytes, str]:
    """``(bytes, content type)`` of one rendition of the image stored under ``folder``."""
    if variant not in VARIANTS:
        raise NotFound(f"Unknown image variant '{variant}'.", Code.NOT_FOUND)
    if variant != "original":
        try:
            return blobs.get(folder + variant), "image/jpeg"
        except NotFound:
            pass
    original = blobs.get(folder + "original")
    if variant == "original":
        return original, content_type(original)
    data = render_variant(original, max_side=VARIANTS[variant])
    blobs.put(folder + variant, data, "image/jpeg")
    return data, "image/jpeg"
