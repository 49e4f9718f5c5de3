"""What a model trains on: images with class labels or boxes, loaded lazily.

Boxes are normalised to the image (0..1), origin top-left, as ``(label, left, top, width,
height)``; pixels appear only inside the models' preprocessing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image

__all__ = ["Box", "Progress", "TrainImage"]

# (label index, left, top, width, height), normalised 0..1
Box = tuple[int, float, float, float, float]

# progress(stage, fraction 0..1): called now and then during fitting; cheap, never raises
Progress = Callable[[str, float], None]


@dataclass(frozen=True)
class TrainImage:
    key: str  # a stable id (the image id); models may cache per-image work under it
    load: Callable[[], Image.Image]  # RGB, EXIF-oriented; called as often as needed
    labels: tuple[int, ...] = ()  # classification: class indices; empty = a negative image
    boxes: tuple[Box, ...] = ()  # detection
