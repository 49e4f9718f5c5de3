"""Seeing a large image through model-sized windows (numpy + Pillow; used with and without torch).

A detector trained on native-resolution tiles (tree crowns in an aerial photo) predicts the same
way: ``tile``-pixel windows with ``overlap`` pixels of overlap slide over the image, each is
resized to the model input, and each window keeps only the boxes whose centre falls in the part
of the image it owns (overlaps are cut in the middle), so no object is found twice. Windows
reaching beyond the image are filled with grey ``FILL`` (which the network maps to about 0).
Everything here is in image pixels.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

from shared.vision.preprocess import RESAMPLE

__all__ = ["FILL", "render_window", "windows"]

FILL = 127


def windows(length: int, tile: int, overlap: int) -> list[tuple[int, float, float]]:
    """Window starts along one axis with the part each owns: ``(start, own_from, own_to)``."""
    if length <= tile:
        return [(0, -math.inf, math.inf)]
    n = max(2, math.ceil((length - overlap) / (tile - overlap)))
    starts = [round(k * (length - tile) / (n - 1)) for k in range(n)]
    bounds = [(starts[k + 1] + starts[k] + tile) / 2 for k in range(n - 1)]
    return list(zip(starts, [-math.inf, *bounds], [*bounds, math.inf], strict=True))


def _placement(
    window: tuple[float, float, float, float], image_w: int, image_h: int, size: int
) -> tuple[tuple[float, float, float, float], tuple[int, int, int, int]] | None:
    """The part of the window inside the image, and where it lands in the output (integer px)."""
    x0, y0, x1, y1 = window
    ix0, iy0, ix1, iy1 = max(x0, 0.0), max(y0, 0.0), min(x1, float(image_w)), min(y1, float(image_h))
    if ix1 <= ix0 or iy1 <= iy0:
        return None
    sx, sy = size / (x1 - x0), size / (y1 - y0)
    ox0, oy0 = round((ix0 - x0) * sx), round((iy0 - y0) * sy)
    ox1, oy1 = round((ix1 - x0) * sx), round((iy1 - y0) * sy)
    if ox1 <= ox0 or oy1 <= oy0:
        return None
    return (ix0, iy0, ix1, iy1), (ox0, oy0, ox1, oy1)


def render_window(image: Image.Image, window: tuple[float, float, float, float], size: int) -> np.ndarray:
    """``size x size`` uint8 RGB pixels of ``window`` (``preprocess.RESAMPLE``, antialiased)."""
    place = _placement(window, image.width, image.height, size)
    if place is None:
        return np.full((size, size, 3), FILL, dtype=np.uint8)
    src, (ox0, oy0, ox1, oy1) = place
    part = image.resize((ox1 - ox0, oy1 - oy0), RESAMPLE, box=src)
    if (ox0, oy0, ox1, oy1) == (0, 0, size, size):
        return np.asarray(part, dtype=np.uint8)
    canvas = Image.new("RGB", (size, size), (FILL, FILL, FILL))
    canvas.paste(part, (ox0, oy0))
    return np.asarray(canvas, dtype=np.uint8)
