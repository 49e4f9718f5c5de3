"""The one image-to-tensor step shared by training, ONNX export and prediction (numpy + Pillow only).

A model sees an image as ``[3, S, S]`` float32 raw RGB in 0..255 (channels first), where ``S`` is
the model's fixed input size (``INPUT_SIZE`` for the Regular recipe; an exported model states its
own in its input shape and in ``CustomVision.InputSize``). Any normalisation happens inside the
model.

Resizing is a plain resize of the whole (EXIF-oriented, RGB) image to ``S x S`` with Pillow's
bicubic filter (``RESAMPLE``), ignoring the aspect ratio. Nothing is cropped, so an object near an
edge is never cut off, and it is exactly what Custom Vision's own export samples do
(``Image.resize(input_shape)``, bicubic by default), so our exported models behave the same there.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

__all__ = ["INPUT_SIZE", "RESAMPLE", "preprocess"]

INPUT_SIZE = 224  # pixels, square
RESAMPLE = Image.Resampling.BICUBIC


def preprocess(
    image: Image.Image,
    size: int = INPUT_SIZE,
    *,
    box: tuple[float, float, float, float] | None = None,
) -> np.ndarray:
    """``image`` resized to ``size`` x ``size``: an array ``[3, size, size]`` float32, RGB 0..255.

    ``box`` (left, upper, right, lower in the image's pixels) resizes only that region, as
    training augmentation does; prediction never passes it. Non-RGB images are converted.
    """
    if image.mode != "RGB":
        image = image.convert("RGB")
    resized = image.resize((size, size), RESAMPLE, box=box)
    return np.asarray(resized, dtype=np.float32).transpose(2, 0, 1).copy()
