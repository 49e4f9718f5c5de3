"""Training-time augmentation for the detector: windows, flips, quarter turns and colour.

Everything here works in pixels: an image is a PIL RGB image, boxes are float32 ``[G, 4]`` corners
``(x1, y1, x2, y2)`` in that image's pixels, labels int64 ``[G]``. A *window* is a rectangle
``(x0, y0, x1, y1)`` in image pixels that may reach outside the image;
:func:`shared.vision.tiling.render_window` turns it into ``size x size`` pixels exactly the way
prediction does (the Pillow resize of :mod:`shared.vision.preprocess` applied to the part inside
the image, the rest filled with grey 127, which the network maps to about 0).

Randomness always comes from the ``numpy.random.Generator`` passed in, so a seeded caller gets the
same samples every run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

__all__ = [
    "AugmentPolicy",
    "colour_jitter",
    "flip_rotate",
    "sample_window",
    "window_boxes",
]


@dataclass(frozen=True)
class AugmentPolicy:
    """How strongly to perturb one training sample.

    ``scale_range``: the window side relative to the base window (whole image, or one tile),
    drawn log-uniformly; below 1 zooms in (random crop), above 1 zooms out (grey border).
    ``aspect_range``: the window's width/height relative to the base, drawn log-uniformly.
    ``min_visible``: a box cut by the window is kept when at least this fraction of its area is
    inside; boxes cut harder become *ignore* regions (neither object nor background).
    Colour factors are drawn uniformly from ``1 ± strength``.
    """

    scale_range: tuple[float, float] = (0.6, 1.0)
    aspect_range: tuple[float, float] = (0.8, 1.25)
    hflip: bool = True
    vflip: bool = False
    rot90: bool = False
    brightness: float = 0.25
    contrast: float = 0.25
    saturation: float = 0.3
    min_visible: float = 0.45


def _log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))


def sample_window(
    base_w: float,
    base_h: float,
    image_w: int,
    image_h: int,
    policy: AugmentPolicy,
    rng: np.random.Generator,
) -> tuple[float, float, float, float]:
    """A random window around a base size; placed so that it covers as much image as it can.

    Along each axis a window shorter than the image lies fully inside it, and a longer one holds
    the whole image extent (with grey on one or both sides).
    """
    scale = _log_uniform(rng, *policy.scale_range)
    aspect = _log_uniform(rng, *policy.aspect_range)
    w = base_w * scale * math.sqrt(aspect)
    h = base_h * scale / math.sqrt(aspect)
    x0 = float(rng.uniform(min(0.0, image_w - w), max(0.0, image_w - w)))
    y0 = float(rng.uniform(min(0.0, image_h - h), max(0.0, image_h - h)))
    return x0, y0, x0 + w, y0 + h


def window_boxes(
    boxes: np.ndarray,
    labels: np.ndarray,
    window: tuple[float, float, float, float],
    image_w: int,
    image_h: int,
    size: int,
    min_visible: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Map image-pixel boxes into a rendered window: ``(boxes, labels, ignore)`` in output pixels.

    Boxes are first clipped to the image (nothing exists in the grey border), then to the window.
    A box keeps its label when ``visible area / full area >= min_visible`` and it is at least 2 px
    wide and tall in the output; otherwise, if any of it is visible, it becomes an ignore region.
    """
    x0, y0, x1, y1 = window
    sx, sy = size / (x1 - x0), size / (y1 - y0)
    empty = np.zeros((0, 4), np.float32)
    if boxes.shape[0] == 0:
        return empty, np.zeros((0,), np.int64), empty
    b = boxes.astype(np.float64).copy()
    b[:, [0, 2]] = b[:, [0, 2]].clip(0, image_w)
    b[:, [1, 3]] = b[:, [1, 3]].clip(0, image_h)
    full = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    out = np.stack([(b[:, 0] - x0) * sx, (b[:, 1] - y0) * sy, (b[:, 2] - x0) * sx, (b[:, 3] - y0) * sy], axis=1)
    clipped = out.copy()
    clipped[:, [0, 2]] = clipped[:, [0, 2]].clip(0, size)
    clipped[:, [1, 3]] = clipped[:, [1, 3]].clip(0, size)
    cw = clipped[:, 2] - clipped[:, 0]
    ch = clipped[:, 3] - clipped[:, 1]
    visible = (cw * ch) / np.maximum((out[:, 2] - out[:, 0]) * (out[:, 3] - out[:, 1]), 1e-9)
    seen = (cw > 0) & (ch > 0) & (full > 0)
    keep = seen & (visible >= min_visible) & (cw >= 2) & (ch >= 2)
    ignore = seen & ~keep
    return (
        clipped[keep].astype(np.float32),
        labels[keep].astype(np.int64),
        clipped[ignore].astype(np.float32),
    )


def flip_rotate(
    pixels: np.ndarray,
    boxes: list[np.ndarray],
    policy: AugmentPolicy,
    rng: np.random.Generator,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Random horizontal/vertical flips and quarter turns of a square sample and its box sets."""
    size = pixels.shape[1]
    out = [b.copy() for b in boxes]
    if policy.hflip and rng.random() < 0.5:
        pixels = pixels[:, ::-1]
        out = [np.stack([size - b[:, 2], b[:, 1], size - b[:, 0], b[:, 3]], axis=1) for b in out]
    if policy.vflip and rng.random() < 0.5:
        pixels = pixels[::-1]
        out = [np.stack([b[:, 0], size - b[:, 3], b[:, 2], size - b[:, 1]], axis=1) for b in out]
    if policy.rot90:
        # np.rot90(k=1) (counter-clockwise) moves point (x, y) to (y, size - x).
        for _ in range(int(rng.integers(0, 4))):
            pixels = np.rot90(pixels)
            out = [np.stack([b[:, 1], size - b[:, 2], b[:, 3], size - b[:, 0]], axis=1) for b in out]
    return np.ascontiguousarray(pixels), [b.astype(np.float32).reshape(-1, 4) for b in out]


def colour_jitter(batch: torch.Tensor, policy: AugmentPolicy, rng: np.random.Generator) -> torch.Tensor:
    """Per-sample brightness, contrast and saturation on a ``[B, 3, H, W]`` float batch in 0..255."""
    n = batch.shape[0]

    def factors(strength: float) -> torch.Tensor:
        f = rng.uniform(1.0 - strength, 1.0 + strength, size=n) if strength > 0 else np.ones(n)
        return torch.from_numpy(f.astype(np.float32)).view(n, 1, 1, 1)

    x = batch * factors(policy.brightness)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * factors(policy.contrast) + mean
    grey = (0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]).expand_as(x)
    x = (x - grey) * factors(policy.saturation) + grey
    return x.clamp(0.0, 255.0)
