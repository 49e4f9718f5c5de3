"""Image classification (multiclass or multilabel) on a pretrained EfficientNet-Lite0.

Recipes
-------
*Regular* (the default; seconds for tens of images):

1. Each training image is seen in a few fixed views (``REGULAR.views``: the image and its mirror),
   each resized to ``INPUT_SIZE`` exactly as :func:`shared.vision.preprocess.preprocess` does.
2. The frozen backbone turns every view into one descriptor (``_Descriptor``): global average
   pools of three depths (``c4``, ``c5``, ``head``) and 3x3 grid pools of ``c4`` and ``c5``, which
   keep the layout of the object that a global pool throws away; each block L2-normalised, 5600
   numbers in all (the measurements behind this choice: benchmarks/NOTES-training.md).
   Descriptors are cached per ``(TrainImage.key, input size, view)``, so refitting on overlapping
   images (cross-validation folds, then the final model) costs no backbone work.
3. A linear head is fitted to the descriptors by full-batch L-BFGS in float64: softmax cross
   entropy (classes balanced) or, multilabel, per-class sigmoid cross entropy, with an L2 penalty.

*Advanced* (uses ``budget_seconds``, ``ADVANCED_DEFAULT_BUDGET`` when not given): the same at a
larger input (``ADVANCED.input_size``) with six crop views besides the image and its mirror (each
crop view is added for all images only while it is expected to end within 40% of the budget);
then the last backbone blocks (from ``ADVANCED.fine_tune_from_block``) and the head are fine-tuned
end to end on fresh random crops, flips and brightness/contrast jitter, batch norm frozen, with a
cosine learning rate, for ``max_epochs`` or until the budget is nearly spent, whichever comes
first. The budget is wall clock from the start of :meth:`Classifier.fit`, model loading and
descriptors included; only the image and its mirror are mandatory, so a budget too small for them
is overrun by that much. When the budget binds, the number of fine-tuning steps depends on the
machine's speed, so Advanced is reproducible only when it ends on ``max_epochs``.

The fitted model is one ``nn.Module`` (backbone, descriptor, linear head, softmax or sigmoid) on
raw 0..255 RGB; :meth:`Classifier.predict` runs it in torch and :meth:`Classifier.export_onnx`
writes it as it is, so both give the same probabilities for the same image.

Labels: multiclass images carry one class index; an image with several spreads its target over
them, and one with none (a negative image) is trained towards the uniform distribution.
Multilabel images carry any number; none means "none of these" (every target 0).
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from shared.vision.preprocess import INPUT_SIZE, RESAMPLE, preprocess
from shared.vision.training.backbone import LEVEL_CHANNELS, LEVEL_STRIDES, EfficientNetLite0
from shared.vision.training.budget import TimeBudget
from shared.vision.training.dataset import Progress, TrainImage
from shared.vision.training.onnx_export import export_onnx

__all__ = ["ADVANCED_DEFAULT_BUDGET", "Classifier", "ClassifierConfig"]

log = logging.getLogger(__name__)

ADVANCED_DEFAULT_BUDGET = 600.0  # seconds, when an Advanced config gives no budget_seconds

# A view of a training image: (mirrored, side as a fraction of the image's, centre x, centre y).
View = tuple[bool, float, float, float]

_FULL: View = (False, 1.0, 0.5, 0.5)
_MIRROR: View = (True, 1.0, 0.5, 0.5)


@dataclass(frozen=True)
class ClassifierConfig:
    num_classes: int
    multilabel: bool = False  # softmax (multiclass) vs sigmoid (multilabel)
    advanced: bool = False  # Regular: fast. Advanced: spend the budget (see module docstring)
    budget_seconds: float | None = None  # Advanced stops within it (wall clock, whole fit)
    seed: int = 0
    threads: int | None = None  # torch.set_num_threads when given


@dataclass(frozen=True)
class _Recipe:
    input_size: int  # pixels, square
    views: tuple[View, ...]  # fixed views whose descriptors train the linear head
    weight_decay: float  # L2 penalty on the head's weights (loss is a mean over views)
    fine_tune_from_block: int | None = None  # None: frozen backbone
    batch_size: int = 16
    lr_backbone: float = 1e-4
    lr_head: float = 1e-3
    max_epochs: int = 40  # fine-tuning stops after this many passes even within budget


# Every recipe's views start with these two (made from one resize of the image as loaded).
REGULAR = _Recipe(input_size=INPUT_SIZE, views=(_FULL, _MIRROR), weight_decay=1e-3)
ADVANCED = _Recipe(
    input_size=288,
    views=(
        _FULL,
        _MIRROR,
        (False, 0.8, 0.5, 0.5),
        (True, 0.8, 0.5, 0.5),
        (False, 0.85, 0.4, 0.4),
        (False, 0.85, 0.6, 0.4),
        (False, 0.85, 0.4, 0.6),
        (False, 0.85, 0.6, 0.6),
    ),
    weight_decay=1e-3,
    fine_tune_from_block=11,
)

# The descriptor: global average pools of these levels, and grid pools (cells a side) of these.
_POOLED = ("c4", "c5", "head")
_GRIDS = {"c4": 3, "c5": 3}
_HEAD_L2_BIAS = 1e-4  # the bias is barely penalised (only so that an absent class stays finite)
_LBFGS_ITERATIONS = 200
_EXTRACT_BATCH = 16
_CACHE_SIDE = 1.5  # Advanced keeps each image at most this times its input size for random crops
_FEATURE_SHARE = 0.4  # Advanced: crop views only while they end within this share of the budget
_CROP_PASS_SAFETY = 1.2  # a pass of crop views is expected to take this much longer than measured
_FINE_TUNE_MARGIN = 0.5  # seconds kept after the last fine-tuning step for wrapping up
_LABEL_SMOOTHING = 0.1  # fine-tuning trains towards targets smoothed by this much


class _Descriptor(nn.Module):
    """Backbone feature maps -> ``[N, dim]``: each block pooled, then L2-normalised.

    The grid cells are fixed from ``input_size`` (level ``l`` is ``ceil(size / stride)`` pixels a
    side), so the exported graph holds plain slices and no shape arithmetic."""

    def __init__(self, input_size: int) -> None:
        super().__init__()
        self.dim = sum(LEVEL_CHANNELS[level] for level in _POOLED) + sum(
            cells * cells * LEVEL_CHANNELS[level] for level, cells in _GRIDS.items()
        )
        self.cells = {level: _cells(-(-input_size // LEVEL_STRIDES[level]), count) for level, count in _GRIDS.items()}

    def forward(self, maps: tuple[torch.Tensor, ...]) -> torch.Tensor:
        by_level = dict(zip(_POOLED, maps, strict=True))
        blocks = [by_level[level].mean((2, 3)) for level in _POOLED]
        for level, cells in self.cells.items():
            x = by_level[level]
            parts = [x[:, :, top:bottom, left:right].mean((2, 3)) for top, bottom in cells for left, right in cells]
            blocks.append(torch.stack(parts, dim=2).flatten(1))
        return torch.cat([F.normalize(block, dim=1, eps=1e-6) for block in blocks], dim=1)


def _cells(side: int, count: int) -> list[tuple[int, int]]:
    """``count`` spans covering ``0..side``, as adaptive average pooling cuts them (neighbours share
    a pixel when ``count`` does not divide ``side``). ONNX has no adaptive pooling for that case."""
    return [((i * side) // count, -(-(i + 1) * side // count)) for i in range(count)]


class _Network(nn.Module):
    """Raw 0..255 RGB ``[N, 3, S, S]`` -> ``[N, num_classes]`` probabilities (softmax or sigmoid)."""

    def __init__(self, backbone: EfficientNetLite0, head: nn.Linear, multilabel: bool, input_size: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.descriptor = _Descriptor(input_size)
        self.head = head
        self.multilabel = multilabel

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.head(self.descriptor(self.backbone(x)))
        return logits

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.logits(x)
        return torch.sigmoid(logits) if self.multilabel else torch.softmax(logits, dim=1)


class Classifier:
    """Fit on labelled images, predict probabilities, export to ONNX (see the module docstring).

    ``backbone_forwards`` counts the views :meth:`fit` has run through the backbone to make
    descriptors (cached ones are not run again).
    """

    def __init__(self, config: ClassifierConfig) -> None:
        if config.num_classes < 1:
            raise ValueError(f"num_classes must be at least 1, not {config.num_classes}")
        if config.budget_seconds is not None and config.budget_seconds <= 0:
            raise ValueError(f"budget_seconds must be positive, not {config.budget_seconds}")
        self.config = config
        self.recipe = ADVANCED if config.advanced else REGULAR
        self.backbone_forwards = 0
        self._extractor: EfficientNetLite0 | None = None  # frozen, pristine: makes descriptors
        self._descriptor = _Descriptor(self.recipe.input_size)
        self._cache: dict[tuple[str, int, int], np.ndarray] = {}
        self._pixels: dict[str, Image.Image] = {}  # Advanced: downsized images for random crops
        self._network: _Network | None = None
        self._seconds_per_view = 0.0  # last measured backbone cost of one view (no gradient)
        self._pending: list[tuple[tuple[str, int, int], np.ndarray]] = []  # views awaiting the backbone
        self._report: Progress | None = None
        self._progress_done, self._progress_total = 0, 1

    # -----------------------------------------------------------------------------------------
    # Public API

    def fit(
        self, images: Sequence[TrainImage], progress: Progress | None = None, budget_seconds: float | None = None
    ) -> None:
        """Train on ``images`` (replacing any earlier fit; descriptors are reused) within
        ``budget_seconds`` when given, else the config's."""
        started = time.perf_counter()
        config, recipe = self.config, self.recipe
        budget = self._budget(budget_seconds)
        # Advanced: crops only while they leave most of the budget to fine-tuning.
        crops = budget.share(_FEATURE_SHARE)
        report = progress or _no_progress
        self._set_threads()
        targets, weights = self._targets(images)
        torch.manual_seed(config.seed)

        extractor = self._get_extractor()
        self._report = report
        try:
            descriptors = self._descriptors(images, report, crops)
        finally:
            self._report, self._pending = None, []
        feature_seconds = time.perf_counter() - started
        views = descriptors.shape[1]

        x = torch.from_numpy(descriptors).reshape(len(images) * views, -1).double()
        y = torch.from_numpy(targets).double().repeat_interleave(views, dim=0)
        w = torch.from_numpy(weights).double().repeat_interleave(views, dim=0)
        head = self._fit_head(x, y, w)
        report("head", 1.0)
        network = _Network(extractor, head, config.multilabel, recipe.input_size).eval()
        with torch.no_grad():
            train_acc = _agreement(network.head(x.float()), y, config.multilabel)
        log.info(
            "linear head: %d images x %d views, %.1f s for descriptors (%d backbone passes so far), "
            "%.1f s in all, training agreement %.3f",
            len(images),
            views,
            feature_seconds,
            self.backbone_forwards,
            time.perf_counter() - started,
            train_acc,
        )
        if recipe.fine_tune_from_block is not None and budget.limited:
            network = self._fine_tune(network, images, targets, weights, budget, report)
        self._network = network.eval()

    def predict(self, images: Sequence[Image.Image]) -> np.ndarray:
        """``[N, num_classes]`` float32 probabilities for RGB images (softmax rows sum to 1;
        multilabel ones are independent sigmoids)."""
        network = self._fitted()
        self._set_threads()
        size = self.recipe.input_size
        out = np.zeros((len(images), self.config.num_classes), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(images), _EXTRACT_BATCH):
                batch = [preprocess(image, size) for image in images[start : start + _EXTRACT_BATCH]]
                out[start : start + len(batch)] = network(torch.from_numpy(np.stack(batch))).numpy()
        return out

    def export_onnx(self, path: Path, labels: Sequence[str]) -> None:
        """Write the fitted model as ONNX: input ``data`` ``[batch, 3, S, S]`` float32 raw 0..255
        RGB, output ``model_output`` ``[batch, num_classes]`` probabilities; the label order and
        preprocessing conventions go into the metadata (see EXPORT.md)."""
        network = self._fitted()
        if len(labels) != self.config.num_classes:
            raise ValueError(f"{len(labels)} labels for {self.config.num_classes} classes")
        self._set_threads()
        size = self.recipe.input_size
        path = Path(path)
        export_onnx(
            network,
            path,
            input_size=size,
            task="classification",
            labels=labels,
            output_names=["model_output"],
            dynamic_batch=True,
            extra_metadata={"CustomVision.Multilabel": "true" if self.config.multilabel else "false"},
        )
        log.info("exported %s (%d classes, input %dx%d)", path, len(labels), size, size)

    # -----------------------------------------------------------------------------------------
    # Fitting

    def _budget(self, seconds: float | None) -> TimeBudget:
        """The fit's budget from now: ``seconds``, else the config's (Advanced only; Regular is
        unlimited)."""
        config = self.config
        if seconds is None:
            seconds = config.budget_seconds
        if config.advanced and seconds is None:
            seconds = ADVANCED_DEFAULT_BUDGET
        return TimeBudget.from_now(seconds if config.advanced else None, clock=time.perf_counter)

    def _targets(self, images: Sequence[TrainImage]) -> tuple[np.ndarray, np.ndarray]:
        """Per-image target rows ``[N, C]`` and sample weights ``[N]`` (multiclass: classes
        balanced, each class weighing as much in total; multilabel: 1)."""
        if not images:
            raise ValueError("no images to train on")
        count = self.config.num_classes
        targets = np.zeros((len(images), count), dtype=np.float64)
        for row, image in enumerate(images):
            bad = [label for label in image.labels if not 0 <= label < count]
            if bad:
                raise ValueError(f"image {image.key!r} has labels {bad} outside 0..{count - 1}")
            labels = sorted(set(image.labels))
            if self.config.multilabel:
                targets[row, labels] = 1.0
            elif labels:
                targets[row, labels] = 1.0 / len(labels)
            else:
                targets[row] = 1.0 / count
        if self.config.multilabel:
            return targets, np.ones(len(images))
        mass = targets.sum(0)  # images per class (fractional for shared ones)
        per_class = np.where(mass > 0, 1.0 / np.maximum(mass, 1e-12), 0.0)
        weights = targets @ per_class
        return targets, weights * len(images) / weights.sum()

    def _descriptors(self, images: Sequence[TrainImage], report: Progress, crops: TimeBudget) -> np.ndarray:
        """``[N, V, dim]`` float32 descriptors of the first ``V`` recipe views of every image,
        computing only those not cached.

        The first two views (the image and its mirror) always come from the image as loaded, in
        one pass; further views (Advanced's crops) come from a downsized copy, one view at a time
        for all images, and only while the pass is expected to end within ``crops``.
        """
        size, views = self.recipe.input_size, self.recipe.views
        base = (0, 1)  # every recipe starts with the full image and its mirror
        todo = [image for image in images if any((image.key, size, index) not in self._cache for index in base)]
        total = len(todo) * len(base) + sum(
            1
            for index in range(len(base), len(views))
            for image in images
            if (image.key, size, index) not in self._cache
        )
        self._progress_done, self._progress_total = 0, max(1, total)
        for image in todo:
            picture = _rgb(image.load())
            if self.recipe.fine_tune_from_block is not None:
                self._pixels[image.key] = _downsized(picture, int(size * _CACHE_SIDE))
            full = preprocess(picture, size)
            for index in base:
                mirrored = views[index][0]
                self._queue((image.key, size, index), np.ascontiguousarray(full[:, :, ::-1]) if mirrored else full)
        self._flush()
        used = len(base)
        for index in range(len(base), len(views)):
            missing = [image for image in images if (image.key, size, index) not in self._cache]
            if missing and not crops.affords(len(missing) * self._view_seconds() * _CROP_PASS_SAFETY):
                log.info("the budget affords %d of %d views per image", used, len(views))
                break
            for image in missing:
                self._queue((image.key, size, index), _render(self._small(image), views[index], size))
            self._flush()
            used = index + 1
        report("features", 1.0)
        return np.stack(
            [np.stack([self._cache[(image.key, size, index)] for index in range(used)]) for image in images]
        )

    def _queue(self, key: tuple[str, int, int], pixels: np.ndarray) -> None:
        self._pending.append((key, pixels))
        if len(self._pending) >= _EXTRACT_BATCH:
            self._flush()

    def _flush(self) -> None:
        """Run the queued views through the backbone and cache their descriptors."""
        pending, self._pending = self._pending, []
        if pending:
            batch = torch.from_numpy(np.stack([pixels for _, pixels in pending]))
            began = time.perf_counter()
            with torch.inference_mode():
                found = self._descriptor(self._get_extractor()(batch)).numpy()
            self._seconds_per_view = (time.perf_counter() - began) / len(pending)
            self.backbone_forwards += len(pending)
            for (key, _), row in zip(pending, found, strict=True):
                self._cache[key] = row.copy()
            self._progress_done += len(pending)
            if self._report is not None:
                self._report("features", min(1.0, self._progress_done / self._progress_total))

    def _fit_head(self, x: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> nn.Linear:
        """L2-penalised linear head on descriptors ``x`` ``[M, D]`` (float64), by L-BFGS."""
        count, dim = y.shape[1], x.shape[1]
        weight = torch.zeros(count, dim, dtype=torch.float64, requires_grad=True)
        bias = torch.zeros(count, dtype=torch.float64, requires_grad=True)
        decay, multilabel = self.recipe.weight_decay, self.config.multilabel
        optimiser = torch.optim.LBFGS(
            [weight, bias],
            lr=1.0,
            max_iter=_LBFGS_ITERATIONS,
            history_size=20,
            tolerance_grad=1e-9,
            tolerance_change=1e-12,
            line_search_fn="strong_wolfe",
        )

        def closure() -> torch.Tensor:
            optimiser.zero_grad()
            loss = _loss(x @ weight.T + bias, y, w, multilabel)
            loss = loss + decay * (weight * weight).sum() + decay * _HEAD_L2_BIAS * (bias * bias).sum()
            loss.backward()  # type: ignore[no-untyped-call]
            return loss

        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # tiny matrices: extra threads only spin, badly so on a busy CPU
        try:
            optimiser.step(closure)  # type: ignore[no-untyped-call]
        finally:
            torch.set_num_threads(threads)
        head = nn.Linear(dim, count)
        with torch.no_grad():
            head.weight.copy_(weight.detach().float())
            head.bias.copy_(bias.detach().float())
        return head

    def _fine_tune(
        self,
        network: _Network,
        images: Sequence[TrainImage],
        targets: np.ndarray,
        weights: np.ndarray,
        budget: TimeBudget,
        report: Progress,
    ) -> _Network:
        """Advanced: train the last blocks and the head on random augmentations until the
        budget is spent (or ``max_epochs``); the pristine extractor is left alone for later fits."""
        recipe, config = self.recipe, self.config
        assert recipe.fine_tune_from_block is not None
        tuned = copy.deepcopy(network)
        tuned.backbone.freeze(trainable_from_block=recipe.fine_tune_from_block)
        tuned.train()
        optimiser = _fine_tune_optimiser(tuned, recipe)
        base_lrs = [group["lr"] for group in optimiser.param_groups]
        rng = np.random.default_rng(config.seed)
        size, batch_size = recipe.input_size, min(recipe.batch_size, len(images))
        max_steps = max(1, recipe.max_epochs * math.ceil(len(images) / batch_size))
        y_all = torch.from_numpy(targets).float()
        w_all = torch.from_numpy(weights).float()
        # Until a step has been timed, guess (pessimistically): 4 forward passes a view.
        planned, step, step_seconds = max_steps, 0, 4.0 * self._view_seconds() * batch_size
        order = rng.permutation(len(images))
        cursor = 0
        while step < planned and budget.affords(step_seconds, _FINE_TUNE_MARGIN):
            if cursor + batch_size > len(order):
                order, cursor = rng.permutation(len(images)), 0
            began = budget.clock()
            rows = order[cursor : cursor + batch_size]
            cursor += batch_size
            pixels = np.stack([_augment(self._small(images[row]), size, rng) for row in rows])
            scale = 0.5 * (1 + math.cos(math.pi * step / planned))  # cosine decay over the plan
            for group, base in zip(optimiser.param_groups, base_lrs, strict=True):
                group["lr"] = base * scale
            logits = tuned.logits(torch.from_numpy(pixels))
            loss = _loss(logits, y_all[rows], w_all[rows], config.multilabel, smoothing=_LABEL_SMOOTHING)
            optimiser.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            optimiser.step()
            took = budget.clock() - began
            # Smoothed, but never below the latest step: a pessimistic estimate keeps within budget.
            step_seconds = took if step == 0 else max(took, 0.7 * step_seconds + 0.3 * took)
            step += 1
            if step == 2:  # re-plan once the cost of a step is known
                planned = budget.affordable_steps(
                    step, step_seconds, at_least=step, at_most=max_steps, margin=_FINE_TUNE_MARGIN
                )
            report("fine-tune", min(1.0, step / planned))
        report("fine-tune", 1.0)
        log.info(
            "fine-tuned %d steps of %d images (planned %d), %.2f s a step", step, batch_size, planned, step_seconds
        )
        return tuned.eval()

    # -----------------------------------------------------------------------------------------
    # Helpers

    def _small(self, image: TrainImage) -> Image.Image:
        """The downsized copy of ``image`` that crops and augmentations are cut from."""
        small = self._pixels.get(image.key)
        if small is None:
            small = _downsized(_rgb(image.load()), int(self.recipe.input_size * _CACHE_SIDE))
            self._pixels[image.key] = small
        return small

    def _view_seconds(self) -> float:
        """Backbone seconds for one view without gradient: as last measured, else a guess."""
        return self._seconds_per_view or 0.05 * (self.recipe.input_size / INPUT_SIZE) ** 2

    def _get_extractor(self) -> EfficientNetLite0:
        if self._extractor is None:
            extractor = EfficientNetLite0(self.recipe.input_size, levels=_POOLED)
            extractor.freeze()
            self._extractor = extractor.eval()
        return self._extractor

    def _fitted(self) -> _Network:
        if self._network is None:
            raise RuntimeError("the classifier has not been fitted")
        return self._network

    def _set_threads(self) -> None:
        if self.config.threads is not None:
            torch.set_num_threads(self.config.threads)


def _no_progress(stage: str, fraction: float) -> None:
    return None


def _fine_tune_optimiser(network: _Network, recipe: _Recipe) -> torch.optim.AdamW:
    """AdamW over the blocks left trainable and the head (no weight decay on the head)."""
    backbone_params = [p for p in network.backbone.parameters() if p.requires_grad]
    return torch.optim.AdamW(
        [
            {"params": backbone_params, "lr": recipe.lr_backbone, "weight_decay": 1e-4},
            {"params": list(network.head.parameters()), "lr": recipe.lr_head, "weight_decay": 0.0},
        ]
    )


def _loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    weights: torch.Tensor,
    multilabel: bool,
    smoothing: float = 0.0,
) -> torch.Tensor:
    """Weighted mean over rows of the softmax cross entropy against target distributions, or of
    the per-class sigmoid cross entropies summed over classes (multilabel)."""
    if multilabel:
        if smoothing:
            targets = targets * (1 - smoothing) + 0.5 * smoothing
        per_row = F.binary_cross_entropy_with_logits(logits, targets, reduction="none").sum(1)
    else:
        if smoothing:
            targets = targets * (1 - smoothing) + smoothing / targets.shape[1]
        per_row = -(targets * F.log_softmax(logits, dim=1)).sum(1)
    return (weights * per_row).sum() / weights.sum()


def _agreement(logits: torch.Tensor, targets: torch.Tensor, multilabel: bool) -> float:
    """Fraction of training rows the head gets right (argmax, or every sigmoid on its side)."""
    if multilabel:
        return float(((logits > 0) == (targets > 0.5)).all(1).double().mean())
    labelled = targets.max(1).values > 1.0 / targets.shape[1]
    if not bool(labelled.any()):
        return 1.0
    hits = targets.gather(1, logits.argmax(1, keepdim=True)).squeeze(1) == targets.max(1).values
    return float(hits[labelled].double().mean())


def _rgb(image: Image.Image) -> Image.Image:
    return image if image.mode == "RGB" else image.convert("RGB")


def _render(image: Image.Image, view: View, size: int) -> np.ndarray:
    """One fixed view as the model sees it: the region resized to ``size`` (as ``preprocess``
    does the whole image), mirrored if asked. The full view is exactly ``preprocess(image)``."""
    mirrored, side, centre_x, centre_y = view
    box = None
    if side < 1.0:
        width, height = image.size
        box_w, box_h = width * side, height * side
        left = min(max(centre_x * width - box_w / 2, 0.0), width - box_w)
        top = min(max(centre_y * height - box_h / 2, 0.0), height - box_h)
        box = (left, top, left + box_w, top + box_h)
    pixels = preprocess(image, size, box=box)
    return np.ascontiguousarray(pixels[:, :, ::-1]) if mirrored else pixels


def _downsized(image: Image.Image, side: int) -> Image.Image:
    """The image shrunk (never enlarged) so that its shorter side is ``side`` pixels."""
    scale = side / min(image.size)
    if scale >= 1.0:
        return image.copy()
    target = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(target, RESAMPLE)


def _augment(image: Image.Image, size: int, rng: np.random.Generator) -> np.ndarray:
    """A random view for fine-tuning: a crop of 35-100% of the area with aspect 3:4..4:3, mirrored
    half the time, brightness and contrast jittered by up to 20%; ``[3, size, size]`` 0..255."""
    width, height = image.size
    area = width * height
    box = (0.0, 0.0, float(width), float(height))
    for _ in range(10):
        target = area * rng.uniform(0.35, 1.0)
        ratio = math.exp(rng.uniform(math.log(3 / 4), math.log(4 / 3)))
        crop_w, crop_h = math.sqrt(target * ratio), math.sqrt(target / ratio)
        if crop_w <= width and crop_h <= height:
            left = rng.uniform(0, width - crop_w)
            top = rng.uniform(0, height - crop_h)
            box = (left, top, left + crop_w, top + crop_h)
            break
    pixels = preprocess(image, size, box=box)
    if rng.random() < 0.5:
        pixels = pixels[:, :, ::-1]
    mean = pixels.mean()
    pixels = (pixels - mean) * rng.uniform(0.8, 1.2) + mean * rng.uniform(0.8, 1.2)
    return np.ascontiguousarray(np.clip(pixels, 0, 255), dtype=np.float32)
