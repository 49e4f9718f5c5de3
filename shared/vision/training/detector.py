"""Object detection: EfficientNet-Lite0 + a light PAN + a GFL head, trained on CPU in minutes.

Design (why: few images, 2 CPU cores, minutes of budget, onnxruntime at the far end)

    backbone  EfficientNet-Lite0, ImageNet weights (:mod:`.backbone`), strides 8/16/32 taps
              (c3 40 ch, c4 112 ch, c5 320 ch). Stem and blocks 0-2 frozen (they are the costly,
              generic high-resolution layers); batch-norm statistics stay as ImageNet left them.
    neck      PAN (FPN top-down, then bottom-up) at 96 channels; every 3x3/5x5 conv is depthwise
              separable, so the neck and head cost little next to the backbone.
    head      one per level (P3, P4, P5): two depthwise-separable 5x5 conv layers shared by both
              branches, then a 1x1 conv for the C class logits and one for the box as four
              distributions over 0..16 strides (Generalized Focal Loss: GFL, Li et al. 2020).
              Anchor-free, one point per feature-map cell at ``((i + .5) * stride)``.
    losses    Quality Focal Loss: the class score *is* the predicted IoU with the object (so the
              scores rank boxes by localisation quality, which is what AP rewards, and no extra
              centre-ness branch is needed); GIoU loss (weight 2) and Distribution Focal Loss
              (weight 0.25), both weighted by the predicted score, as in GFL.
    assigner  ATSS (Zhang et al. 2020): per object, the 9 nearest points of each level are
              candidates; those whose 5-stride square "anchor" overlaps the object by more than
              the candidates' mean + std IoU, and whose point lies inside the object, are
              positive. Adaptive, so both 8-px tree crowns and half-image forks get points; an
              object left with none gets its nearest point. Objects cut hard by a training crop
              become ignore regions (no loss either way).
    post      sigmoid scores, top ``PRE_NMS_TOP_K`` (point, class) candidates, exact greedy
              class-aware NMS at IoU ``NMS_IOU`` written in plain tensor ops
              (:func:`.detection_ops.nms_keep`), then the best ``max_detections``. No score
              threshold: low scores come back too, as Custom Vision does.

Two ways to see an image, chosen once per training set (:class:`_Plan`)

    whole     the normal case. The whole image is resized to ``S x S`` (aspect ignored), exactly
              :func:`shared.vision.preprocess.preprocess`. Training perturbs it with random
              crops/zooms and aspect jitter, horizontal flips and colour jitter.
    tiled     when resizing the whole image would shrink the objects below ~28 px (e.g. tree
              crowns in aerial photos), training uses random windows of about ``tile`` image
              pixels, which enlarge them to ~60 px (resized to ``S``; scale jitter ±25 %), with
              flips in both axes and quarter turns, and :meth:`Detector.predict` slides ``tile``
              windows with ``overlap`` pixels of overlap over the image. Each window only keeps
              the boxes whose centre falls in the part of the image it owns (the overlaps are cut
              in the middle), so no object is found twice and none is cut by a window edge
              unless it is larger than the overlap. Windows reaching beyond the image are filled
              with grey 127.

Recipes: Regular = 320 px input, batch 8, ~30 passes over the data (at least 100, at most 500
steps), mild crops. Advanced = 448 px, ~150 passes (at least 400, at most 4000 steps), stronger
crops and zoom-out, more colour jitter. With ``budget_seconds`` the step count is cut (after
timing the first steps) so that ``fit`` returns within the budget; without it, the run is fully
determined by the seed.

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
              in Python as described above, while the ONNX graph sees one window at a time.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor, nn

from shared.vision.inference import DETECTION_OUTPUTS
from shared.vision.preprocess import preprocess
from shared.vision.tiling import render_window, windows
from shared.vision.training.backbone import EfficientNetLite0
from shared.vision.training.dataset import Progress, TrainImage
from shared.vision.training.detection_augment import (
    AugmentPolicy,
    colour_jitter,
    flip_rotate,
    sample_window,
    window_boxes,
)
from shared.vision.training.detection_ops import aligned_giou, aligned_iou, box_iou, nms_keep
from shared.vision.training.onnx_export import export_onnx

__all__ = ["Detector", "DetectorConfig"]

log = logging.getLogger(__name__)

STRIDES = (8, 16, 32)
REG_MAX = 16  # box sides are distributions over 0..REG_MAX strides
NECK_WIDTH = 96
PRE_NMS_TOP_K = 1000
NMS_IOU = 0.6
EXPORT_MAX_DETECTIONS = 200
_TRAINABLE_FROM_BLOCK = 3  # stem and blocks 0-2 (strides 2 and 4) stay frozen
_ANCHOR_SCALE = 5.0  # ATSS: a point's square "anchor" is this many strides wide
_ATSS_TOPK = 9
# Objects (20th size percentile) smaller than this after resizing -> tiles, which enlarge them
# towards _TILE_TARGET_PX, by at most _MAX_UPSCALE. Measured on the deepforest crowns (20th
# percentile 24 px; Advanced, 585 s, one fit each, held-out AP50): enlarged 1.5x 0.50-0.53,
# 2x 0.55, 2.5x 0.57, 3x 0.48 (150 px windows hold too little around the larger crowns).
_SMALL_OBJECT_PX = 28.0
_TILE_TARGET_PX = 60.0
_MAX_UPSCALE = 2.5
_CACHE_PIXELS = 400_000_000  # decoded training images kept in memory (~1.2 GB of RGB)
_PRIOR = 0.01


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


@dataclass(frozen=True)
class _Recipe:
    input_size: int
    batch_size: int
    epochs: float  # passes over the images (whole) or over the tile-sized windows (tiled)
    min_steps: int
    max_steps: int
    lr: float  # AdamW, neck and head (new layers)
    backbone_lr: float  # AdamW, the pretrained blocks that train
    whole: AugmentPolicy
    tiled: AugmentPolicy


_REGULAR = _Recipe(
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
_ADVANCED = _Recipe(
    # Tree crowns, tiles enlarging 2.5x, 585 s fits on one split on one day: input 448 px (420
    # steps) AP50 0.53, 320 px (880 steps) 0.50, 512 px (320 steps) 0.47; at 448 px a backbone
    # learning rate of 5e-4 gave 0.53 and 3e-3 0.36 (on a faster day 448 px made 480 steps: 0.57).
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


# ----------------------------------------------------------------------------------------------
# network


def _conv_bn_act(cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


def _separable(cin: int, cout: int, kernel: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(_conv_bn_act(cin, cin, kernel, stride, groups=cin), _conv_bn_act(cin, cout, 1))


class _PAN(nn.Module):
    """Top-down FPN then a bottom-up path: features ``[B, c_i, S/s_i, S/s_i]`` -> ``width`` each."""

    def __init__(self, in_channels: Sequence[int], width: int) -> None:
        super().__init__()
        n = len(in_channels)
        self.lateral = nn.ModuleList(_conv_bn_act(c, width, 1) for c in in_channels)
        self.top_down = nn.ModuleList(_separable(width, width, 5) for _ in range(n - 1))
        self.down = nn.ModuleList(_separable(width, width, 3, stride=2) for _ in range(n - 1))
        self.bottom_up = nn.ModuleList(_separable(width, width, 5) for _ in range(n - 1))

    def forward(self, feats: Sequence[Tensor]) -> list[Tensor]:
        lat = [layer(f) for layer, f in zip(self.lateral, feats, strict=True)]
        td = [lat[-1]]
        for i in range(len(lat) - 2, -1, -1):
            up = F.interpolate(td[0], scale_factor=2.0, mode="nearest")
            td.insert(0, self.top_down[i](lat[i] + up))
        out = [td[0]]
        for i in range(1, len(td)):
            out.append(self.bottom_up[i - 1](td[i] + self.down[i - 1](out[-1])))
        return out


class _Head(nn.Module):
    def __init__(self, width: int, num_classes: int) -> None:
        super().__init__()
        self.tower = nn.Sequential(_separable(width, width, 5), _separable(width, width, 5))
        self.cls = nn.Conv2d(width, num_classes, 1)
        self.reg = nn.Conv2d(width, 4 * (REG_MAX + 1), 1)
        with torch.no_grad():
            for conv in (self.cls, self.reg):
                conv.weight.normal_(0.0, 0.01)
            self.cls.bias.fill_(-math.log((1 - _PRIOR) / _PRIOR))  # type: ignore[union-attr]
            self.reg.bias.zero_()  # type: ignore[union-attr]

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        x = self.tower(x)
        return self.cls(x), self.reg(x)


class _DetNet(nn.Module):
    """Raw ``[B, 3, S, S]`` 0..255 RGB -> class logits ``[B, N, C]``, box logits ``[B, N, 4, R+1]``.

    ``N`` runs over the points of P3, P4, P5 in that order, each level row-major.
    """

    def __init__(self, num_classes: int, size: int) -> None:
        super().__init__()
        self.backbone = EfficientNetLite0(image_size=size, levels=("c3", "c4", "c5"), drop_connect=0.0)
        self.backbone.freeze(trainable_from_block=_TRAINABLE_FROM_BLOCK)
        self.neck = _PAN(self.backbone.channels, NECK_WIDTH)
        self.heads = nn.ModuleList(_Head(NECK_WIDTH, num_classes) for _ in STRIDES)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        feats = self.neck(self.backbone(x))
        cls, reg = [], []
        for head, f in zip(self.heads, feats, strict=True):
            c, r = head(f)
            cls.append(c.flatten(2).transpose(1, 2))
            reg.append(r.flatten(2).transpose(1, 2))
        b = x.shape[0]
        return torch.cat(cls, 1), torch.cat(reg, 1).reshape(b, -1, 4, REG_MAX + 1)


def _points(size: int) -> tuple[Tensor, Tensor, list[tuple[int, int]]]:
    """Point centres ``[N, 2]`` (input px), their strides ``[N]``, and each level's index range."""
    centres, strides, ranges = [], [], []
    start = 0
    for s in STRIDES:
        n = size // s
        c = (torch.arange(n, dtype=torch.float32) + 0.5) * s
        yy, xx = torch.meshgrid(c, c, indexing="ij")
        centres.append(torch.stack([xx.reshape(-1), yy.reshape(-1)], 1))
        strides.append(torch.full((n * n,), float(s)))
        ranges.append((start, start + n * n))
        start += n * n
    return torch.cat(centres), torch.cat(strides), ranges


def _expected_distances(reg_logits: Tensor) -> Tensor:
    """``[..., 4, R+1]`` logits -> ``[..., 4]`` expected (left, top, right, bottom) in strides."""
    bins = torch.arange(REG_MAX + 1, dtype=reg_logits.dtype, device=reg_logits.device)
    return (reg_logits.softmax(-1) * bins).sum(-1)


def _boxes(points: Tensor, strides: Tensor, dist: Tensor) -> Tensor:
    """Points ``[N, 2]`` and side distances ``[..., N, 4]`` (strides) -> corners ``[..., N, 4]`` px."""
    d = dist * strides[:, None]
    return torch.cat([points - d[..., :2], points + d[..., 2:]], -1)


def _select(
    cls_logits: Tensor, boxes: Tensor, max_detections: int, pre_nms_top_k: int = PRE_NMS_TOP_K
) -> tuple[Tensor, Tensor, Tensor]:
    """One image's ``[N, C]`` logits and ``[N, 4]`` normalised boxes -> (boxes, classes, scores).

    Top ``pre_nms_top_k`` (point, class) pairs by score, greedy class-aware NMS, then the first
    ``max_detections`` survivors, still sorted by descending score.
    """
    num_classes = cls_logits.shape[1]
    scores = cls_logits.sigmoid().reshape(-1)
    k = min(pre_nms_top_k, scores.shape[0])
    top, idx = scores.topk(k)
    point = torch.div(idx, num_classes, rounding_mode="floor")
    label = idx - point * num_classes
    cand = boxes[point]
    keep = nms_keep(cand, label, NMS_IOU)
    sel = keep.nonzero()[:, 0][:max_detections]
    return cand[sel], label[sel], top[sel]


class _Inference(nn.Module):
    """The network plus decoding and NMS for one ``S x S`` input: what is exported to ONNX."""

    def __init__(self, net: _DetNet, size: int, max_detections: int) -> None:
        super().__init__()
        self.net = net
        self.size = size
        self.max_detections = max_detections
        points, strides, _ = _points(size)
        self.points: Tensor
        self.strides: Tensor
        self.register_buffer("points", points, persistent=False)
        self.register_buffer("strides", strides, persistent=False)

    def decode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``[B, 3, S, S]`` -> logits ``[B, N, C]``, normalised corners ``[B, N, 4]`` in 0..1."""
        cls, reg = self.net(x)
        boxes = _boxes(self.points, self.strides, _expected_distances(reg)) / self.size
        return cls, boxes.clamp(0.0, 1.0)

    def forward(self, data: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        cls, boxes = self.decode(data)
        b, c, s = _select(cls[0], boxes[0], self.max_detections)
        return b.unsqueeze(0), c.unsqueeze(0), s.unsqueeze(0)


# ----------------------------------------------------------------------------------------------
# assignment and losses


def _atss_assign(points: Tensor, strides: Tensor, ranges: Sequence[tuple[int, int]], gt: Tensor) -> Tensor:
    """ATSS for one image: ``gt [G, 4]`` px -> ``[N]`` index of the assigned object, -1 = none."""
    n = points.shape[0]
    if gt.shape[0] == 0:
        return torch.full((n,), -1, dtype=torch.long)
    half = strides[:, None] * (_ANCHOR_SCALE / 2)
    anchors = torch.cat([points - half, points + half], 1)
    iou = box_iou(anchors, gt)  # [N, G]
    centres = (gt[:, :2] + gt[:, 2:]) / 2
    dist = torch.cdist(points, centres)  # [N, G]
    cands = []
    for start, end in ranges:
        k = min(_ATSS_TOPK, end - start)
        cands.append(dist[start:end].topk(k, dim=0, largest=False).indices + start)
    cand = torch.cat(cands)  # [K, G]
    cand_iou = iou.gather(0, cand)
    thr = cand_iou.mean(0) + cand_iou.std(0)
    p = points[cand]  # [K, G, 2]
    inside = (
        torch.stack([p[..., 0] - gt[:, 0], p[..., 1] - gt[:, 1], gt[:, 2] - p[..., 0], gt[:, 3] - p[..., 1]], -1)
        .min(-1)
        .values
        > 0.01
    )
    ok = (cand_iou >= thr) & inside
    pos = torch.zeros(n, gt.shape[0], dtype=torch.bool).scatter(0, cand, ok)
    lonely = ~pos.any(0)  # objects without a point: take the nearest one
    if bool(lonely.any()):
        nearest = dist.argmin(0)
        g = torch.nonzero(lonely)[:, 0]
        pos[nearest[g], g] = True
    score = torch.where(pos, iou, torch.full_like(iou, -1.0))
    best, arg = score.max(1)
    return torch.where(best >= 0, arg, torch.full_like(arg, -1))


@dataclass(frozen=True)
class _Sample:
    pixels: np.ndarray  # uint8 [S, S, 3]
    boxes: np.ndarray  # float32 [G, 4] input px
    labels: np.ndarray  # int64 [G]
    ignore: np.ndarray  # float32 [I, 4] input px


def _losses(
    cls: Tensor,
    reg: Tensor,
    points: Tensor,
    strides: Tensor,
    ranges: Sequence[tuple[int, int]],
    samples: Sequence[_Sample],
) -> tuple[Tensor, dict[str, float]]:
    """QFL + 2 GIoU + 0.25 DFL for a batch; ``cls [B, N, C]``, ``reg [B, N, 4, R+1]``."""
    b, n, c = cls.shape
    dist = _expected_distances(reg)
    pred = _boxes(points, strides, dist)  # [B, N, 4] px
    target = torch.zeros_like(cls)
    valid = torch.ones(b, n, 1)
    pos_b, pos_n, pos_gt = [], [], []
    for i, s in enumerate(samples):
        gt = torch.from_numpy(s.boxes)
        assigned = _atss_assign(points, strides, ranges, gt)
        pos = torch.nonzero(assigned >= 0)[:, 0]
        if s.ignore.shape[0]:
            ig = torch.from_numpy(s.ignore)
            px, py = points[:, 0:1], points[:, 1:2]
            inside = ((px > ig[:, 0]) & (px < ig[:, 2]) & (py > ig[:, 1]) & (py < ig[:, 3])).any(1)
            valid[i, inside & (assigned < 0), 0] = 0.0
        if pos.numel() == 0:
            continue
        g = assigned[pos]
        boxes = gt[g]
        with torch.no_grad():
            quality = aligned_iou(pred[i, pos].detach(), boxes).clamp(min=0.0)
        target[i, pos, torch.from_numpy(s.labels)[g]] = quality
        pos_b.append(torch.full_like(pos, i))
        pos_n.append(pos)
        pos_gt.append(boxes)
    num_pos = sum(int(p.numel()) for p in pos_n)
    prob = cls.sigmoid()
    qfl = F.binary_cross_entropy_with_logits(cls, target, reduction="none") * (prob - target).abs().pow(2)
    loss_cls = (qfl * valid).sum() / max(num_pos, 1)
    if num_pos == 0:
        zero = (reg.sum() + pred.sum()) * 0.0
        return loss_cls + zero, {"qfl": float(loss_cls.detach()), "giou": 0.0, "dfl": 0.0}
    bi, ni, gt_boxes = torch.cat(pos_b), torch.cat(pos_n), torch.cat(pos_gt)
    weight = prob[bi, ni].detach().max(-1).values
    wsum = weight.sum().clamp(min=1e-6)
    loss_giou = ((1.0 - aligned_giou(pred[bi, ni], gt_boxes)) * weight).sum() / wsum
    st = strides[ni][:, None]
    pts = points[ni]
    sides = torch.cat([pts - gt_boxes[:, :2], gt_boxes[:, 2:] - pts], 1) / st
    sides = sides.clamp(0.0, REG_MAX - 0.01)
    left = sides.floor().long()
    w_right = sides - left.float()
    logits = reg[bi, ni].reshape(-1, REG_MAX + 1)
    ce_l = F.cross_entropy(logits, left.reshape(-1), reduction="none")
    ce_r = F.cross_entropy(logits, (left + 1).reshape(-1), reduction="none")
    dfl = (ce_l * (1 - w_right.reshape(-1)) + ce_r * w_right.reshape(-1)).reshape(-1, 4).mean(1)
    loss_dfl = (dfl * weight).sum() / wsum
    total = loss_cls + 2.0 * loss_giou + 0.25 * loss_dfl
    return total, {"qfl": float(loss_cls.detach()), "giou": float(loss_giou.detach()), "dfl": float(loss_dfl.detach())}


# ----------------------------------------------------------------------------------------------
# data


@dataclass(frozen=True)
class _Plan:
    """How images are seen: whole (tile is None) or as ``tile``-pixel windows with ``overlap``."""

    tile: int | None = None
    overlap: int = 0


class _ImageStore:
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


def _plan(store: _ImageStore, size: int) -> _Plan:
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
        return _Plan()
    small_resized = float(np.percentile(np.concatenate(resized), 20))
    small_native = float(np.percentile(np.concatenate(native), 20))
    whole_scale = size / float(np.median(sides))
    scale = min(_MAX_UPSCALE, _TILE_TARGET_PX / small_native)
    if small_resized >= _SMALL_OBJECT_PX or scale < 1.5 * whole_scale:
        return _Plan()
    tile = max(64, round(size / scale))
    all_native = np.concatenate([np.maximum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]) for b in store.boxes])
    overlap = int(np.clip(np.percentile(all_native, 98) * 1.2, tile / 8, tile / 2))
    return _Plan(tile=tile, overlap=overlap)


# ----------------------------------------------------------------------------------------------
# training helpers


class _EMA:
    """Exponential moving average of the weights (and BN buffers), warming up from 0."""

    def __init__(self, model: _DetNet, decay: float) -> None:
        self.model: _DetNet = copy.deepcopy(model).eval()
        self.decay = decay
        self.updates = 0
        for p in self.model.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.updates += 1
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        src = model.state_dict()
        for name, value in self.model.state_dict().items():
            if value.dtype.is_floating_point:
                value.mul_(d).add_(src[name].detach(), alpha=1 - d)
            else:
                value.copy_(src[name])


@contextmanager
def _threads(n: int | None) -> Iterator[None]:
    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _lr_factor(step: int, total: int, warmup: int) -> float:
    if step < warmup:
        return 0.1 + 0.9 * step / warmup
    t = min(1.0, (step - warmup) / max(1, total - warmup))
    return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * t))


def _ema_decay(total_steps: int) -> float:
    """An average over roughly the last 5 % of the steps (at most the last 500)."""
    return min(0.998, 1.0 - 20.0 / max(total_steps, 40))


def _quiet(_stage: str, _fraction: float) -> None:
    return None


# ----------------------------------------------------------------------------------------------
# the detector


class Detector:
    """Train with :meth:`fit`, then :meth:`predict` or :meth:`export_onnx` (see the module doc)."""

    def __init__(self, config: DetectorConfig) -> None:
        if config.num_classes < 1:
            raise ValueError("num_classes must be at least 1")
        self.config = config
        self.recipe = _ADVANCED if config.advanced else _REGULAR
        size = config.input_size or self.recipe.input_size
        if size % 32 or size < 64:
            raise ValueError("input_size must be a multiple of 32, at least 64")
        self.input_size = size
        self.plan = _Plan()
        self._model: _Inference | None = None

    # -- training ------------------------------------------------------------------------------

    def fit(self, images: Sequence[TrainImage], progress: Progress | None = None) -> None:
        """Train on ``images`` (boxes normalised, labels ``0..num_classes-1``); replaces any model."""
        if not images:
            raise ValueError("no training images")
        started = time.monotonic()
        report = progress or _quiet
        cfg, recipe, size = self.config, self.recipe, self.input_size
        with _threads(cfg.threads), torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            rng = np.random.default_rng(cfg.seed)
            store = _ImageStore(images, cfg.num_classes, report)
            plan = _plan(store, size)
            if plan.tile is None:
                store.limit_side(2 * size)
                units = float(len(images))
            else:
                units = sum(max(1.0, w * h / plan.tile**2) for w, h in store.sizes)
            log.info(
                "detector fit: %d images, %s, input %d, %s",
                len(images),
                "advanced" if cfg.advanced else "regular",
                size,
                "whole images" if plan.tile is None else f"tiles of {plan.tile} px, overlap {plan.overlap}",
            )
            net = _DetNet(cfg.num_classes, size).to(memory_format=torch.channels_last)  # type: ignore[call-overload]
            total = cfg.steps or int(
                np.clip(math.ceil(recipe.epochs * units / recipe.batch_size), recipe.min_steps, recipe.max_steps)
            )
            self._train(net, store, plan, total, rng, report, started)
            self.plan = plan
        report("train", 1.0)

    def _train(
        self,
        net: _DetNet,
        store: _ImageStore,
        plan: _Plan,
        total: int,
        rng: np.random.Generator,
        report: Progress,
        started: float,
    ) -> None:
        cfg, recipe, size = self.config, self.recipe, self.input_size
        points, strides, ranges = _points(size)
        groups: dict[tuple[bool, bool], list[nn.Parameter]] = {}
        for name, p in net.named_parameters():
            if p.requires_grad:
                groups.setdefault((name.startswith("backbone."), p.ndim > 1), []).append(p)
        optimizer = torch.optim.AdamW(
            [
                {
                    "params": params,
                    "base_lr": recipe.backbone_lr if in_backbone else recipe.lr,
                    "weight_decay": 0.05 if is_weight else 0.0,
                }
                for (in_backbone, is_weight), params in sorted(groups.items())
            ],
            lr=recipe.lr,
        )
        ema = _EMA(net, _ema_decay(total))
        deadline = None if cfg.budget_seconds is None else started + cfg.budget_seconds
        reserve = 0.0 if deadline is None else 1.0 + 0.02 * float(cfg.budget_seconds or 0.0)
        batch = _Batcher(store, plan, size, recipe, rng)
        net.train()
        step_times: list[float] = []
        step = 0
        wanted = total
        while step < total:
            t0 = time.monotonic()
            if deadline is not None and step_times:
                per_step = float(np.median(step_times[-20:]))
                # Re-plan as the step time settles (the first steps are slow, and a busy machine
                # may calm down): down, or back up towards the recipe's count, in the first three
                # quarters only, so that the learning rate's tail stays smooth.
                if step in (5, 25) or (step % 50 == 0 and step < 3 * total // 4):
                    affordable = min(wanted, max(step + 1, step + int((deadline - reserve - t0) / per_step)))
                    if affordable != total:
                        log.info("detector fit: budget allows %d of %d steps", affordable, wanted)
                        total = affordable
                        ema.decay = _ema_decay(total)
                if t0 + per_step > deadline - reserve:
                    log.info("detector fit: stopping at step %d of %d (budget)", step, total)
                    break
            warmup = min(50, max(1, total // 10))
            for group in optimizer.param_groups:
                group["lr"] = group["base_lr"] * _lr_factor(step, total, warmup)
            samples = batch.next()
            x = torch.from_numpy(np.stack([s.pixels for s in samples])).permute(0, 3, 1, 2).float()
            x = x.contiguous(memory_format=torch.channels_last)
            x = colour_jitter(x, batch.policy, rng)
            cls, reg = net(x)
            loss, parts = _losses(cls, reg, points, strides, ranges, samples)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            torch.nn.utils.clip_grad_norm_([p for g in optimizer.param_groups for p in g["params"]], 10.0)
            optimizer.step()
            ema.update(net)
            step += 1
            step_times.append(time.monotonic() - t0)
            if step % 25 == 0 or step == total:
                log.info(
                    "detector step %d/%d loss %.3f (qfl %.3f giou %.3f dfl %.3f) %.2fs/step",
                    step,
                    total,
                    float(loss.detach()),
                    parts["qfl"],
                    parts["giou"],
                    parts["dfl"],
                    step_times[-1],
                )
            report("train", min(1.0, step / total))
        model = ema.model
        model.eval()
        self._model = _Inference(model, size, EXPORT_MAX_DETECTIONS)
        log.info("detector fit: %d steps in %.1fs", step, time.monotonic() - started)

    # -- prediction ----------------------------------------------------------------------------

    def _require(self) -> _Inference:
        if self._model is None:
            raise RuntimeError("the detector has not been trained: call fit() first")
        return self._model

    def predict(self, images: Sequence[Image.Image], max_detections: int = 200) -> list[np.ndarray]:
        """Per image a float32 array ``[K, 6]``: (label, score, left, top, width, height), normalised,
        sorted by descending score, after NMS, not thresholded, ``K <= max_detections``."""
        model = self._require()
        out: list[np.ndarray] = []
        with _threads(self.config.threads), torch.inference_mode():
            if self.plan.tile is None:
                for start in range(0, len(images), 8):
                    chunk = images[start : start + 8]
                    x = torch.from_numpy(np.stack([preprocess(img, self.input_size) for img in chunk]))
                    cls, boxes = model.decode(x.contiguous(memory_format=torch.channels_last))
                    for i in range(len(chunk)):
                        b, c, s = _select(cls[i], boxes[i], max_detections)
                        out.append(_rows(b, c, s))
            else:
                out = [self._predict_tiled(model, img, max_detections) for img in images]
        return out

    def _predict_tiled(self, model: _Inference, image: Image.Image, max_detections: int) -> np.ndarray:
        tile, overlap, size = self.plan.tile, self.plan.overlap, self.input_size
        assert tile is not None
        if image.mode != "RGB":
            image = image.convert("RGB")
        w, h = image.size
        wins = [(x, y) for y in windows(h, tile, overlap) for x in windows(w, tile, overlap)]
        found: list[np.ndarray] = []
        for start in range(0, len(wins), 8):
            chunk = wins[start : start + 8]
            x = torch.from_numpy(
                np.stack(
                    [
                        render_window(image, (wx[0], wy[0], wx[0] + tile, wy[0] + tile), size)
                        .transpose(2, 0, 1)
                        .astype(np.float32)
                        for wx, wy in chunk
                    ]
                )
            )
            cls, boxes = model.decode(x.contiguous(memory_format=torch.channels_last))
            for i, (wx, wy) in enumerate(chunk):
                b, c, s = _select(cls[i], boxes[i], max_detections)
                px = b.numpy().astype(np.float64) * tile
                px[:, [0, 2]] += wx[0]
                px[:, [1, 3]] += wy[0]
                cx, cy = (px[:, 0] + px[:, 2]) / 2, (px[:, 1] + px[:, 3]) / 2
                own = (cx >= wx[1]) & (cx < wx[2]) & (cy >= wy[1]) & (cy < wy[2])
                px[:, [0, 2]] = px[:, [0, 2]].clip(0, w) / w
                px[:, [1, 3]] = px[:, [1, 3]].clip(0, h) / h
                found.append(np.concatenate([c.numpy()[:, None].astype(np.float64), s.numpy()[:, None], px], 1)[own])
        det = np.concatenate(found) if found else np.zeros((0, 6))
        det = det[np.argsort(-det[:, 1], kind="stable")][:max_detections]
        det[:, 4:6] -= det[:, 2:4]
        return det.astype(np.float32)

    # -- export --------------------------------------------------------------------------------

    def export_onnx(self, path: Path, labels: Sequence[str]) -> None:
        """Write the S1-style ONNX model (see the module docstring for the contract)."""
        model = copy.deepcopy(self._require()).to(memory_format=torch.contiguous_format)  # type: ignore[call-overload]
        if len(labels) != self.config.num_classes:
            raise ValueError(f"expected {self.config.num_classes} labels, got {len(labels)}")
        tiling = {}
        if self.plan.tile is not None:
            tiling = {"Detector.TilePixels": str(self.plan.tile), "Detector.TileOverlapPixels": str(self.plan.overlap)}
        export_onnx(
            model,
            Path(path),
            input_size=self.input_size,
            task="detection",
            labels=labels,
            output_names=DETECTION_OUTPUTS,
            dynamic_batch=False,
            extra_metadata=tiling,
        )


def _rows(boxes: Tensor, classes: Tensor, scores: Tensor) -> np.ndarray:
    b = boxes.numpy().astype(np.float32)
    out = np.zeros((b.shape[0], 6), dtype=np.float32)
    out[:, 0] = classes.numpy()
    out[:, 1] = scores.numpy()
    out[:, 2:4] = b[:, :2]
    out[:, 4:6] = b[:, 2:] - b[:, :2]
    return out


class _Batcher:
    """Draws augmented training samples: whole images in shuffled epochs, or random windows."""

    def __init__(self, store: _ImageStore, plan: _Plan, size: int, recipe: _Recipe, rng: np.random.Generator) -> None:
        self.store, self.plan, self.size, self.rng = store, plan, size, rng
        self.batch_size = recipe.batch_size
        self.policy = recipe.whole if plan.tile is None else recipe.tiled
        self._order: list[int] = []
        areas = np.array([w * h for w, h in store.sizes], dtype=np.float64)
        self._weights = areas / areas.sum()

    def _next_index(self) -> int:
        if self.plan.tile is not None:
            return int(self.rng.choice(len(self.store.sizes), p=self._weights))
        if not self._order:
            self._order = [int(i) for i in self.rng.permutation(len(self.store.sizes))]
        return self._order.pop()

    def sample(self, i: int) -> _Sample:
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
        return _Sample(pixels, boxes, labels, ignore)

    def next(self) -> list[_Sample]:
        return [self.sample(self._next_index()) for _ in range(self.batch_size)]
