"""The detector's training data: decoded images, how to see them, and augmented batches.

Two ways to see an image, chosen once per training set (:func:`plan_views`)

    whole     the normal case. The whole image is resized to ``S x S`` (aspect ignored), exactly
              :func:`shared.vision.preprocess.preprocess`. Training perturbs it with random
              crops/zooms and aspect jitter, horizontal flips and colour jitter.
    tiled     when resizing the whole image would shrink the objects below ~28 px (e.g. tree
              crowns in aerial photos), training uses random windows of about ``tile`` image
              pixels, which enlarge them to ~60 px (resized to ``S``; scale jitter ±25 %), with
              flips in both axes and quarter turns, and prediction slides ``tile`` windows with
              ``overlap`` pixels of overlap over the image (:mod:`.inference`).

Boxes here are in pixels: the image's in :class:`ImageStore`, the rendered sample's in
:class:`Sample`. Randomness comes from the ``numpy.random.Generator`` passed in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from shared.vision.tiling import render_window
from shared.vision.training.dataset import Progress, TrainImage
from shared.vision.training.detection.augment import flip_rotate, sample_window, window_boxes
from shared.vision.training.detection.recipes import Recipe

__all__ = ["Batcher", "ImageStore", "Plan", "Sample", "plan_views"]

# Objects (20th size percentile) smaller than this after resizing -> tiles, which enlarge them
# towards _TILE_TARGET_PX, by at most _MAX_UPSCALE (more leaves windows holding too little around
# the larger objects; the measurements: benchmarks/NOTES-training.md).
_SMALL_OBJECT_PX = 28.0
_TILE_TARGET_PX = 60.0
_MAX_UPSCALE = 2.5
_CACHE_PIXELS = 400_000_000  # decoded training images kept in memory (~1.2 GB of RGB)


@dataclass(frozen=True)
class Plan:
    """How images are seen: whole (tile is None) or as ``tile``-pixel windows with ``overlap``."""

    tile: int | None = None
    overlap: int = 0

    def units(self, sizes: Sequence[tuple[int, int]]) -> float:
        """What one pass over images of these ``(width, height)`` holds: the images (whole), or
        the tile-sized windows that cover them (tiled)."""
        if self.tile is None:
            return float(len(sizes))
        return sum(max(1.0, w * h / self.tile**2) for w, h in sizes)


class ImageStore:
    """The training images, decoded once and kept (within ``_CACHE_PIXELS``), boxes in pixels."""

    def __init__(self, images: Sequence[TrainImage], num_classes: int, progress: Progress) -> None:
        self.items = list(images)
        self.sizes: list[tuple[int, int]] = []
        self.boxes: list[np.ndarray] = []
        self.labels: list[np.ndarray] = []
        self._cache: dict[int, Image.Image] = {}
        self._max_side: int | None = None
        cached = 0
        for i, item in enumerate(self.items):
            img = self._load(item)
            w, h = img.size
            self.sizes.append((w, h))
            if cached + w * h <= _CACHE_PIXELS:
                self._cache[i] = img
                cached += w * h
            rows = np.array([b[1:] for b in item.boxes], dtype=np.float64).reshape(-1, 4)
            labels = np.array([b[0] for b in item.boxes], dtype=np.int64)
            if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
                raise ValueError(f"image {item.key}: box labels must lie in 0..{num_classes - 1}")
            px = np.stack(
                [rows[:, 0] * w, rows[:, 1] * h, (rows[:, 0] + rows[:, 2]) * w, (rows[:, 1] + rows[:, 3]) * h],
                1,
            )
            self.boxes.append(px.astype(np.float32))
            self.labels.append(labels)
            progress("load", (i + 1) / len(self.items))

    @staticmethod
    def _load(item: TrainImage) -> Image.Image:
        img = item.load()
        return img if img.mode == "RGB" else img.convert("RGB")

    def limit_side(self, max_side: int) -> None:
        """Whole-image training never needs more pixels than ``max_side``: shrink the cache."""
        self._max_side = max_side
        for i, img in self._cache.items():
            self._cache[i] = self._shrink(img)

    def _shrink(self, img: Image.Image) -> Image.Image:
        if self._max_side is None or max(img.size) <= self._max_side:
            return img
        f = self._max_side / max(img.size)
        return img.resize((max(1, round(img.width * f)), max(1, round(img.height * f))), Image.Resampling.BICUBIC)

    def image(self, i: int) -> Image.Image:
        """Image ``i``, possibly shrunk: callers scale by ``image.width / sizes[i][0]``."""
        img = self._cache.get(i)
        return img if img is not None else self._shrink(self._load(self.items[i]))


def plan_views(store: ImageStore, size: int) -> Plan:
    """Whole images unless that would make the objects tiny (see the module docstring)."""
    resized, native, sides = [], [], []
    for (w, h), boxes in zip(store.sizes, store.boxes, strict=True):
        sides.append(max(w, h))
        if boxes.shape[0] == 0:
            continue
        bw, bh = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
        native.append(np.sqrt(np.maximum(bw * bh, 1e-6)))
        resized.append(np.sqrt(np.maximum(bw * bh * (size / w) * (size / h), 1e-6)))
    if not native:
        return Plan()
    small_resized = float(np.percentile(np.concatenate(resized), 20))
    small_native = float(np.percentile(np.concatenate(native), 20))
    whole_scale = size / float(np.median(sides))
    scale = min(_MAX_UPSCALE, _TILE_TARGET_PX / small_native)
    if small_resized >= _SMALL_OBJECT_PX or scale < 1.5 * whole_scale:
        return Plan()
    tile = max(64, round(size / scale))
    all_native = np.concatenate([np.maximum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]) for b in store.boxes])
    overlap = int(np.clip(np.percentile(all_native, 98) * 1.2, tile / 8, tile / 2))
    return Plan(tile=tile, overlap=overlap)


@dataclass(frozen=True)
class Sample:
    """One augmented training sample as the network sees it."""

    pixels: np.ndarray  # uint8 [S, S, 3]
    boxes: np.ndarray  # float32 [G, 4] input px
    labels: np.ndarray  # int64 [G]
    ignore: np.ndarray  # float32 [I, 4] input px: objects cut hard by the window (no loss either way)


class Batcher:
    """Draws augmented training samples: whole images in shuffled epochs, or random windows."""

    def __init__(self, store: ImageStore, plan: Plan, size: int, recipe: Recipe, rng: np.random.Generator) -> None:
        self.store, self.plan, self.size, self.rng = store, plan, size, rng
        self.batch_size = recipe.batch_size
        self.policy = recipe.whole if plan.tile is None else recipe.tiled
        self._order: list[int] = []
        areas = np.array([w * h for w, h in store.sizes], dtype=np.float64)
        self._weights = areas / areas.sum()

    def _next_index(self) -> int:
        # Windows are drawn in proportion to image area, so that every pixel is seen as often.
        if self.plan.tile is not None:
            return int(self.rng.choice(len(self.store.sizes), p=self._weights))
        if not self._order:
            self._order = [int(i) for i in self.rng.permutation(len(self.store.sizes))]
        return self._order.pop()

    def sample(self, i: int) -> Sample:
        w, h = self.store.sizes[i]
        img = self.store.image(i)
        base = (float(w), float(h)) if self.plan.tile is None else (float(self.plan.tile),) * 2
        window = sample_window(base[0], base[1], w, h, self.policy, self.rng)
        f = img.width / w  # the cached image may be smaller than the original
        pixels = render_window(img, tuple(v * f for v in window), self.size)  # type: ignore[arg-type]
        boxes, labels, ignore = window_boxes(
            self.store.boxes[i], self.store.labels[i], window, w, h, self.size, self.policy.min_visible
        )
        pixels, (boxes, ignore) = flip_rotate(pixels, [boxes, ignore], self.policy, self.rng)
        return Sample(pixels, boxes, labels, ignore)

    def next(self) -> list[Sample]:
        return [self.sample(self._next_index()) for _ in range(self.batch_size)]
