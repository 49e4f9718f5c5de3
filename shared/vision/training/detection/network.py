"""The detection network: EfficientNet-Lite0 + a light PAN + a GFL head, and its output geometry.

    backbone  EfficientNet-Lite0, ImageNet weights (:mod:`..backbone`), strides 8/16/32 taps
              (c3 40 ch, c4 112 ch, c5 320 ch). Stem and blocks 0-2 frozen (they are the costly,
              generic high-resolution layers); batch-norm statistics stay as ImageNet left them.
    neck      PAN (FPN top-down, then bottom-up) at 96 channels; every 3x3/5x5 conv is depthwise
              separable, so the neck and head cost little next to the backbone.
    head      one per level (P3, P4, P5): two depthwise-separable 5x5 conv layers shared by both
              branches, then a 1x1 conv for the C class logits and one for the box as four
              distributions over 0..16 strides (Generalized Focal Loss: GFL, Li et al. 2020).
              Anchor-free, one point per feature-map cell at ``((i + .5) * stride)``.

Input ``[B, 3, S, S]`` raw 0..255 RGB (``S`` a multiple of 32); the points ``N`` run over P3, P4,
P5 in that order, each level row-major. Distances and boxes are in input pixels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from shared.vision.training.backbone import EfficientNetLite0

__all__ = ["NECK_WIDTH", "REG_MAX", "STRIDES", "DetectionNet", "Points", "decode_boxes", "expected_distances", "points"]

STRIDES = (8, 16, 32)
REG_MAX = 16  # box sides are distributions over 0..REG_MAX strides
NECK_WIDTH = 96
_TRAINABLE_FROM_BLOCK = 3  # stem and blocks 0-2 (strides 2 and 4) stay frozen
_PRIOR = 0.01  # the class logits start at this probability (focal-loss style initialisation)

# Point centres [N, 2] (input px), their strides [N], and each level's index range.
Points = tuple[Tensor, Tensor, list[tuple[int, int]]]


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


class DetectionNet(nn.Module):
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


def points(size: int) -> Points:
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


def expected_distances(reg_logits: Tensor) -> Tensor:
    """``[..., 4, R+1]`` logits -> ``[..., 4]`` expected (left, top, right, bottom) in strides."""
    bins = torch.arange(REG_MAX + 1, dtype=reg_logits.dtype, device=reg_logits.device)
    return (reg_logits.softmax(-1) * bins).sum(-1)


def decode_boxes(centres: Tensor, strides: Tensor, dist: Tensor) -> Tensor:
    """Points ``[N, 2]`` and side distances ``[..., N, 4]`` (strides) -> corners ``[..., N, 4]`` px."""
    d = dist * strides[:, None]
    return torch.cat([centres - d[..., :2], centres + d[..., 2:]], -1)
