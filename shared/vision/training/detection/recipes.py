"""The detector's two training recipes: Regular (fast) and Advanced (a bigger budget).

Regular = 320 px input, batch 8, ~30 passes over the data (at least 100, at most 500 steps), mild
crops. Advanced = 448 px, ~150 passes (at least 400, at most 4000 steps), stronger crops and
zoom-out, more colour jitter. A budget may cut the step count (:mod:`.fitting`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from shared.vision.training.detection.augment import AugmentPolicy

__all__ = ["ADVANCED", "REGULAR", "Recipe"]


@dataclass(frozen=True)
class Recipe:
    input_size: int
    batch_size: int
    epochs: float  # passes over the images (whole) or over the tile-sized windows (tiled)
    min_steps: int
    max_steps: int
    lr: float  # AdamW, neck and head (new layers)
    backbone_lr: float  # AdamW, the pretrained blocks that train
    whole: AugmentPolicy
    tiled: AugmentPolicy

    def steps(self, units: float) -> int:
        """Optimiser steps for ``epochs`` passes over ``units`` (images, or tile-sized windows)."""
        return int(np.clip(math.ceil(self.epochs * units / self.batch_size), self.min_steps, self.max_steps))


REGULAR = Recipe(
    input_size=320,
    batch_size=8,
    epochs=30.0,
    min_steps=100,
    max_steps=500,
    lr=1e-2,
    backbone_lr=1e-3,
    whole=AugmentPolicy(scale_range=(0.6, 1.0), aspect_range=(0.8, 1.25)),
    tiled=AugmentPolicy(scale_range=(0.8, 1.25), aspect_range=(0.9, 1.1), vflip=True, rot90=True),
)
# 448 px balances pixels per object against the steps a budget buys (the measurements behind the
# input size and the learning rates: benchmarks/NOTES-training.md).
ADVANCED = Recipe(
    input_size=448,
    batch_size=8,
    epochs=150.0,
    min_steps=400,
    max_steps=4000,
    lr=1e-2,
    backbone_lr=1e-3,
    whole=AugmentPolicy(
        scale_range=(0.5, 1.3),
        aspect_range=(0.75, 1.33),
        brightness=0.35,
        contrast=0.35,
        saturation=0.4,
    ),
    tiled=AugmentPolicy(
        scale_range=(0.75, 1.33),
        aspect_range=(0.85, 1.18),
        vflip=True,
        rot90=True,
        brightness=0.3,
        contrast=0.3,
        saturation=0.35,
    ),
)
