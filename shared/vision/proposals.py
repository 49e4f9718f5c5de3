"""Class-agnostic region proposals, for a project that has no detector yet (numpy + Pillow).

The Smart Labeler's first boxes: on a small copy of the image (``_GRID`` pixels a side), pixels
whose colour stands out from the image border (the likely background) or that sit on strong
edges form a foreground mask; its connected blobs, and the box around all of them, become
proposals. Confidence grows with how much of the box the blob fills and how far it stands out.
Boxes are normalised (left, top, width, height), best first.
"""

from __future__ import annotations

from collections import deque

import numpy as np
from PIL import Image

__all__ = ["propose_regions"]

_GRID = 96  # pixels a side of the working copy
_MIN_AREA = 0.004  # of the image: smaller blobs are noise


def _foreground(image: Image.Image) -> np.ndarray:
    small = np.asarray(image.convert("RGB").resize((_GRID, _GRID), Image.Resampling.BILINEAR), dtype=np.float32)
    border = np.concatenate([small[0], small[-1], small[:, 0], small[:, -1]])
    background = np.median(border, axis=0)
    distance = np.linalg.norm(small - background, axis=2)
    grey = small.mean(axis=2)
    edges = np.zeros_like(grey)
    edges[1:-1, 1:-1] = np.hypot(grey[1:-1, 2:] - grey[1:-1, :-2], grey[2:, 1:-1] - grey[:-2, 1:-1])
    spread = float(np.median(np.linalg.norm(border - background, axis=1))) + 1.0
    colour_mask = distance > max(30.0, 3.0 * spread)
    edge_mask = edges > max(40.0, float(np.percentile(edges, 90)))
    mask: np.ndarray = colour_mask | edge_mask
    return mask


def _blobs(mask: np.ndarray) -> list[tuple[int, int, int, int, int]]:
    """Connected components (4-neighbour): (x0, y0, x1, y1, pixel count), inclusive pixel bounds."""
    seen = np.zeros_like(mask, dtype=bool)
    height, width = mask.shape
    found: list[tuple[int, int, int, int, int]] = []
    for y, x in zip(*np.nonzero(mask), strict=True):
        if seen[y, x]:
            continue
        seen[y, x] = True
        queue = deque([(int(y), int(x))])
        x0 = x1 = int(x)
        y0 = y1 = int(y)
        count = 0
        while queue:
            cy, cx = queue.popleft()
            count += 1
            x0, x1, y0, y1 = min(x0, cx), max(x1, cx), min(y0, cy), max(y1, cy)
            for ny, nx in ((cy - 1, cx), (cy + 1, cx), (cy, cx - 1), (cy, cx + 1)):
                if 0 <= ny < height and 0 <= nx < width and mask[ny, nx] and not seen[ny, nx]:
                    seen[ny, nx] = True
                    queue.append((ny, nx))
        found.append((x0, y0, x1, y1, count))
    return found


def propose_regions(image: Image.Image, limit: int = 10) -> list[tuple[float, tuple[float, float, float, float]]]:
    """Up to ``limit`` ``(confidence 0..1, (left, top, width, height))`` proposals, best first."""
    mask = _foreground(image)
    total = float(mask.size)
    proposals: list[tuple[float, tuple[float, float, float, float]]] = []
    blobs = [b for b in _blobs(mask) if b[4] / total >= _MIN_AREA]
    for x0, y0, x1, y1, count in blobs:
        area = (x1 - x0 + 1) * (y1 - y0 + 1)
        fill = count / area
        size = area / total
        confidence = float(min(1.0, 0.35 + 0.4 * fill + 0.25 * min(1.0, size * 4)))
        proposals.append((confidence, (x0 / _GRID, y0 / _GRID, (x1 - x0 + 1) / _GRID, (y1 - y0 + 1) / _GRID)))
    if len(blobs) > 1:  # the box around everything that stands out, often the whole object
        x0, y0 = min(b[0] for b in blobs), min(b[1] for b in blobs)
        x1, y1 = max(b[2] for b in blobs), max(b[3] for b in blobs)
        proposals.append((0.5, (x0 / _GRID, y0 / _GRID, (x1 - x0 + 1) / _GRID, (y1 - y0 + 1) / _GRID)))
    proposals.sort(key=lambda p: p[0], reverse=True)
    return proposals[:limit]
