"""Object detection: EfficientNet-Lite0 + a light PAN + a GFL head, trained on CPU in minutes.

Design (why: few images, 2 CPU cores, minutes of budget, onnxruntime at the far end)

    network   EfficientNet-Lite0 (ImageNet weights, early blocks frozen), a depthwise-separable
              PAN and an anchor-free GFL head at strides 8/16/32 (:mod:`.network`).
    assigner  ATSS, adaptive, so both 8-px tree crowns and half-image forks get points
              (:mod:`.assignment`); objects cut hard by a training crop become ignore regions.
    losses    Quality Focal Loss (the score is the predicted IoU), GIoU and Distribution Focal
              Loss (:mod:`.losses`).
    data      whole images, or enlarging tiles when resizing would make the objects tiny, chosen
              once per training set; random crops, flips and colour jitter (:mod:`.data`,
              :mod:`.augment`).
    fitting   AdamW, warm-up and cosine decay, a moving average of the weights, a step count cut
              to fit the budget (:mod:`.fitting`).
    post      top-k, exact greedy class-aware NMS in plain tensor ops, no score threshold: low
              scores come back too, as Custom Vision does (:mod:`.inference`).

Recipes (:mod:`.recipes`): Regular = 320 px input, ~30 passes over the data; Advanced = 448 px,
~150 passes, stronger augmentation. With ``budget_seconds`` the step count is cut (after timing the
first steps) so that ``fit`` returns within the budget; without it, the run is fully determined by
the seed.

Preprocessing contract (the exported model and ``predict`` at one scale)

    input     ``data``: float32 ``[1, 3, S, S]``, RGB, raw 0..255 values; ``S`` is the input size
              (320 for Regular, 448 for Advanced; also in ``CustomVision.InputSize``). It is
              ``preprocess(image, S)``: the whole EXIF-oriented RGB image resized to ``S x S``
              with Pillow's bicubic filter, ignoring the aspect ratio, channels first.
              ``(x - 127) / 128`` happens inside the graph.
    outputs   ``detected_boxes [1, N, 4]`` (x1, y1, x2, y2), ``detected_classes [1, N]`` int64,
              ``detected_scores [1, N]`` float32, N <= 200, sorted by descending score, NMS done.
              Coordinates are fractions of the input, hence (the resize being a plain stretch) of
              the original image: ``left = x1``, ``width = x2 - x1``, etc.
    tiling    a model trained in tiled mode says so in its metadata (``Detector.TilePixels``,
              ``Detector.TileOverlapPixels``); :meth:`Detector.predict` then tiles large images
              in Python (:func:`.inference.predict_tiled`), while the ONNX graph sees one window
              at a time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from shared.vision.training.budget import TimeBudget
from shared.vision.training.dataset import Progress, TrainImage
from shared.vision.training.detection.data import Batcher, ImageStore, Plan, plan_views
from shared.vision.training.detection.export import export_detector
from shared.vision.training.detection.fitting import train
from shared.vision.training.detection.inference import (
    EXPORT_MAX_DETECTIONS,
    InferenceModel,
    predict_tiled,
    predict_whole,
)
from shared.vision.training.detection.network import DetectionNet
from shared.vision.training.detection.recipes import ADVANCED, REGULAR

__all__ = ["Detector", "DetectorConfig"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DetectorConfig:
    """How to train. ``input_size`` and ``steps`` override the recipe (tests, experiments)."""

    num_classes: int
    advanced: bool = False  # Regular: fast; Advanced: more steps, stronger augmentation, larger input
    budget_seconds: float | None = None  # wall-clock budget for fit; it returns within it
    seed: int = 0
    threads: int | None = None  # torch intra-op threads during fit/predict (None: leave as is)
    input_size: int | None = None  # a multiple of 32; None: the recipe's
    steps: int | None = None  # optimiser steps; None: the recipe's (from the data size)


@contextmanager
def _threads(n: int | None) -> Iterator[None]:
    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _quiet(_stage: str, _fraction: float) -> None:
    return None


class Detector:
    """Train with :meth:`fit`, then :meth:`predict` or :meth:`export_onnx` (see the module doc)."""

    def __init__(self, config: DetectorConfig) -> None:
        if config.num_classes < 1:
            raise ValueError("num_classes must be at least 1")
        self.config = config
        self.recipe = ADVANCED if config.advanced else REGULAR
        size = config.input_size or self.recipe.input_size
        if size % 32 or size < 64:
            raise ValueError("input_size must be a multiple of 32, at least 64")
        self.input_size = size
        self.plan = Plan()
        self._model: InferenceModel | None = None

    def fit(self, images: Sequence[TrainImage], progress: Progress | None = None) -> None:
        """Train on ``images`` (boxes normalised, labels ``0..num_classes-1``); replaces any model."""
        if not images:
            raise ValueError("no training images")
        started = time.monotonic()
        budget = TimeBudget.from_now(self.config.budget_seconds)
        report = progress or _quiet
        cfg, recipe, size = self.config, self.recipe, self.input_size
        with _threads(cfg.threads), torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            rng = np.random.default_rng(cfg.seed)
            store = ImageStore(images, cfg.num_classes, report)
            plan = plan_views(store, size)
            if plan.tile is None:
                store.limit_side(2 * size)
            log.info(
                "detector fit: %d images, %s, input %d, %s",
                len(images),
                "advanced" if cfg.advanced else "regular",
                size,
                "whole images" if plan.tile is None else f"tiles of {plan.tile} px, overlap {plan.overlap}",
            )
            net = DetectionNet(cfg.num_classes, size).to(memory_format=torch.channels_last)  # type: ignore[call-overload]
            total = cfg.steps or recipe.steps(plan.units(store.sizes))
            batches = Batcher(store, plan, size, recipe, rng)
            averaged, steps = train(net, batches, recipe, total, budget, report)
            self._model = InferenceModel(averaged, size, EXPORT_MAX_DETECTIONS)
            log.info("detector fit: %d steps in %.1fs", steps, time.monotonic() - started)
            self.plan = plan
        report("train", 1.0)

    def _require(self) -> InferenceModel:
        if self._model is None:
            raise RuntimeError("the detector has not been trained: call fit() first")
        return self._model

    def predict(self, images: Sequence[Image.Image], max_detections: int = 200) -> list[np.ndarray]:
        """Per image a float32 array ``[K, 6]``: (label, score, left, top, width, height), normalised,
        sorted by descending score, after NMS, not thresholded, ``K <= max_detections``."""
        model = self._require()
        with _threads(self.config.threads), torch.inference_mode():
            if self.plan.tile is None:
                return predict_whole(model, images, max_detections)
            return [predict_tiled(model, image, self.plan, max_detections) for image in images]

    def export_onnx(self, path: Path, labels: Sequence[str]) -> None:
        """Write the S1-style ONNX model (see the module docstring for the contract)."""
        model = self._require()
        if len(labels) != self.config.num_classes:
            raise ValueError(f"expected {self.config.num_classes} labels, got {len(labels)}")
        export_detector(model, self.plan, path, labels)
