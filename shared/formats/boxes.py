"""What every annotation format reads into: boxes per image, normalised and clipped.

A :class:`Box` is a tag name and ``left, top, width, height`` as fractions (0..1) of the image's
width and height, the way Custom Vision stores regions. :func:`clipped` is the one rule that turns
a format's box into one: a box must have a positive size, the part outside the image is cut off,
and a box with nothing left inside the image is an error.
"""

from __future__ import annotations

import math
import posixpath
from dataclasses import dataclass

from shared.domain.errors import BadRequest, Code

__all__ = [
    "AnnotationError",
    "Box",
    "ImageBoxes",
    "base_name",
    "clipped",
    "pixel_text",
    "positive_size",
    "stem",
]


class AnnotationError(BadRequest):
    """An annotation file that cannot be read: the message says which file part and why."""

    def __init__(self, message: str) -> None:
        super().__init__(message, Code.BAD_REQUEST_INVALID)


@dataclass(frozen=True)
class Box:
    """One box: a tag name and the box as fractions (0..1) of the image's width and height."""

    tag: str
    left: float
    top: float
    width: float
    height: float


@dataclass(frozen=True)
class ImageBoxes:
    """The boxes an annotation gives one image.

    ``file_name`` is the image's file name as the annotation names it (without folders);
    ``width``/``height`` are the image's size in pixels when the format records it (COCO, VOC, CSV);
    ``labels`` are image-level tags (classification), for the parsers asked to read them.
    """

    file_name: str
    boxes: tuple[Box, ...]
    width: int | None = None
    height: int | None = None
    labels: tuple[str, ...] = ()


def base_name(name: str) -> str:
    """The file name without folders (``/`` or ``\\`` separated)."""
    return posixpath.basename(name.replace("\\", "/"))


def stem(name: str) -> str:
    """The file name without folders and without its last extension: ``a/b.jpg`` -> ``b``."""
    base = base_name(name)
    dot = base.rfind(".")
    return base[:dot] if dot > 0 else base


def clipped(tag: str, left: float, top: float, width: float, height: float, where: str) -> Box:
    """A normalised box cut to the image (``where`` names the box in error messages)."""
    name = tag.strip()
    if not name:
        raise AnnotationError(f"{where}: the box has no tag name.")
    values = (left, top, width, height)
    if not all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in values):
        raise AnnotationError(f"{where}: box coordinates must be finite numbers.")
    if width <= 0 or height <= 0:
        raise AnnotationError(f"{where}: a box needs a positive width and height (got {width} x {height}).")
    right, bottom = min(1.0, float(left + width)), min(1.0, float(top + height))
    left, top = max(0.0, float(left)), max(0.0, float(top))
    if right <= left or bottom <= top:
        raise AnnotationError(f"{where}: the box lies outside the image.")
    return Box(name, left, top, right - left, bottom - top)


def positive_size(width: object, height: object, where: str) -> tuple[int, int]:
    """An image size in pixels, as the formats record it (numbers, or numeric text)."""
    try:
        w, h = int(float(str(width))), int(float(str(height)))
    except ValueError:
        raise AnnotationError(f"{where}: the image size must be numbers (got {width!r} x {height!r}).") from None
    if w <= 0 or h <= 0:
        raise AnnotationError(f"{where}: the image size must be positive (got {w} x {h}).")
    return w, h


def pixel_text(value: float) -> str:
    """A pixel coordinate as the writers put it: three decimals at most, no trailing zeros."""
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text
