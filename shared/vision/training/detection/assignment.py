"""Which points learn which object: ATSS (Zhang et al. 2020).

Per object, the 9 nearest points of each level are candidates; those whose 5-stride square
"anchor" overlaps the object by more than the candidates' mean + std IoU, and whose point lies
inside the object, are positive. Adaptive, so both 8-px tree crowns and half-image forks get
points; an object left with none gets its nearest point. A point positive for several objects
learns the one it overlaps most.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from shared.vision.training.detection.box_ops import box_iou

__all__ = ["atss_assign"]

_ANCHOR_SCALE = 5.0  # a point's square "anchor" is this many strides wide
_ATSS_TOPK = 9  # candidates per level and object


def atss_assign(centres: Tensor, strides: Tensor, ranges: Sequence[tuple[int, int]], gt: Tensor) -> Tensor:
    """ATSS for one image: ``gt [G, 4]`` px -> ``[N]`` index of the assigned object, -1 = none."""
    n = centres.shape[0]
    if gt.shape[0] == 0:
        return torch.full((n,), -1, dtype=torch.long)
    half = strides[:, None] * (_ANCHOR_SCALE / 2)
    anchors = torch.cat([centres - half, centres + half], 1)
    iou = box_iou(anchors, gt)  # [N, G]
    gt_centres = (gt[:, :2] + gt[:, 2:]) / 2
    dist = torch.cdist(centres, gt_centres)  # [N, G]
    cands = []
    for start, end in ranges:
        k = min(_ATSS_TOPK, end - start)
        cands.append(dist[start:end].topk(k, dim=0, largest=False).indices + start)
    cand = torch.cat(cands)  # [K, G]
    cand_iou = iou.gather(0, cand)
    thr = cand_iou.mean(0) + cand_iou.std(0)
    p = centres[cand]  # [K, G, 2]
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
