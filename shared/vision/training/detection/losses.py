"""The detector's losses (GFL, Li et al. 2020) for one batch.

Quality Focal Loss: the class score *is* the predicted IoU with the object (so the scores rank
boxes by localisation quality, which is what AP rewards, and no extra centre-ness branch is
needed); GIoU loss (weight 2) and Distribution Focal Loss (weight 0.25), both weighted by the
predicted score. Points inside an ignore region and assigned no object count neither way.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from shared.vision.training.detection.assignment import atss_assign
from shared.vision.training.detection.box_ops import aligned_giou, aligned_iou
from shared.vision.training.detection.data import Sample
from shared.vision.training.detection.network import REG_MAX, Points, decode_boxes, expected_distances

__all__ = ["detection_loss"]

_GIOU_WEIGHT = 2.0
_DFL_WEIGHT = 0.25


# Per image with positive points: (batch index [P], point index [P], their objects' boxes [P, 4] px).
_Positives = tuple[Tensor, Tensor, Tensor]


def _assign(
    cls: Tensor, pred: Tensor, geometry: Points, samples: Sequence[Sample]
) -> tuple[Tensor, Tensor, list[_Positives]]:
    """The batch's quality targets ``[B, N, C]`` (the IoU of the predicted box with the assigned
    object, at its class), which points count ``[B, N, 1]``, and the positives of each image."""
    centres, strides, ranges = geometry
    b, n, _ = cls.shape
    target = torch.zeros_like(cls)
    valid = torch.ones(b, n, 1)
    positives: list[_Positives] = []
    for i, s in enumerate(samples):
        gt = torch.from_numpy(s.boxes)
        assigned = atss_assign(centres, strides, ranges, gt)
        pos = torch.nonzero(assigned >= 0)[:, 0]
        if s.ignore.shape[0]:
            ig = torch.from_numpy(s.ignore)
            px, py = centres[:, 0:1], centres[:, 1:2]
            inside = ((px > ig[:, 0]) & (px < ig[:, 2]) & (py > ig[:, 1]) & (py < ig[:, 3])).any(1)
            valid[i, inside & (assigned < 0), 0] = 0.0
        if pos.numel() == 0:
            continue
        g = assigned[pos]
        boxes = gt[g]
        with torch.no_grad():
            quality = aligned_iou(pred[i, pos].detach(), boxes).clamp(min=0.0)
        target[i, pos, torch.from_numpy(s.labels)[g]] = quality
        positives.append((torch.full_like(pos, i), pos, boxes))
    return target, valid, positives


def _distribution_focal(reg: Tensor, sides: Tensor) -> Tensor:
    """DFL per point: ``reg [P, 4, R+1]`` logits, target ``sides [P, 4]`` in strides -> ``[P]``."""
    sides = sides.clamp(0.0, REG_MAX - 0.01)
    left = sides.floor().long()
    w_right = sides - left.float()
    logits = reg.reshape(-1, REG_MAX + 1)
    ce_l = F.cross_entropy(logits, left.reshape(-1), reduction="none")
    ce_r = F.cross_entropy(logits, (left + 1).reshape(-1), reduction="none")
    return (ce_l * (1 - w_right.reshape(-1)) + ce_r * w_right.reshape(-1)).reshape(-1, 4).mean(1)


def detection_loss(
    cls: Tensor, reg: Tensor, geometry: Points, samples: Sequence[Sample]
) -> tuple[Tensor, dict[str, float]]:
    """QFL + 2 GIoU + 0.25 DFL for a batch; ``cls [B, N, C]``, ``reg [B, N, 4, R+1]``."""
    centres, strides, _ = geometry
    pred = decode_boxes(centres, strides, expected_distances(reg))  # [B, N, 4] px
    target, valid, positives = _assign(cls, pred, geometry, samples)
    num_pos = sum(int(n.numel()) for _, n, _ in positives)
    prob = cls.sigmoid()
    qfl = F.binary_cross_entropy_with_logits(cls, target, reduction="none") * (prob - target).abs().pow(2)
    loss_cls = (qfl * valid).sum() / max(num_pos, 1)
    if num_pos == 0:
        zero = (reg.sum() + pred.sum()) * 0.0  # keeps every output in the graph
        return loss_cls + zero, {"qfl": float(loss_cls.detach()), "giou": 0.0, "dfl": 0.0}
    bi, ni, gt_boxes = (torch.cat(parts) for parts in zip(*positives, strict=True))
    weight = prob[bi, ni].detach().max(-1).values
    wsum = weight.sum().clamp(min=1e-6)
    loss_giou = ((1.0 - aligned_giou(pred[bi, ni], gt_boxes)) * weight).sum() / wsum
    pts = centres[ni]
    sides = torch.cat([pts - gt_boxes[:, :2], gt_boxes[:, 2:] - pts], 1) / strides[ni][:, None]
    loss_dfl = (_distribution_focal(reg[bi, ni], sides) * weight).sum() / wsum
    total = loss_cls + _GIOU_WEIGHT * loss_giou + _DFL_WEIGHT * loss_dfl
    return total, {"qfl": float(loss_cls.detach()), "giou": float(loss_giou.detach()), "dfl": float(loss_dfl.detach())}
