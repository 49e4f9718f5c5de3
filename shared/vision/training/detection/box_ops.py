"""Box operations for the detector, in plain torch (no torchvision), all ONNX-exportable.

Boxes are ``[..., 4]`` tensors of corners ``(x1, y1, x2, y2)`` with ``x1 <= x2`` and
``y1 <= y2``, in any one unit (pixels or normalised 0..1; the functions do not care).

* :func:`box_iou` / :func:`generalized_box_iou`: pairwise ``[N, M]`` matrices.
* :func:`aligned_iou` / :func:`aligned_giou`: element-wise ``[N]`` for ``N`` aligned pairs (losses).
* :func:`nms_keep`: exact greedy, class-aware non-maximum suppression over candidates that are
  already sorted by descending score. It is a fixed sequence of tensor ops (one small step per
  candidate), so ``torch.onnx.export`` traces it into the graph as it is and onnxruntime gives the
  same answer as eager torch (which runs the identical recurrence in numpy, skipping no-op steps).

Conventions: an IoU is ``|A∩B| / |A∪B|`` with ``0`` when the union is empty; a box is suppressed
when its IoU with a kept, higher-scored box *of the same class* is strictly greater than the
threshold.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "aligned_giou",
    "aligned_iou",
    "box_area",
    "box_iou",
    "generalized_box_iou",
    "nms_keep",
]

_EPS = 1e-9


def box_area(boxes: Tensor) -> Tensor:
    """``[..., 4]`` corners -> ``[...]`` areas (degenerate boxes have area 0)."""
    return (boxes[..., 2] - boxes[..., 0]).clamp(min=0) * (boxes[..., 3] - boxes[..., 1]).clamp(min=0)


def _pairwise_inter_union(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    lt = torch.maximum(a[:, None, :2], b[None, :, :2])
    rb = torch.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = (rb - lt).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    union = box_area(a)[:, None] + box_area(b)[None, :] - inter
    return inter, union


def box_iou(a: Tensor, b: Tensor) -> Tensor:
    """Pairwise IoU: ``a [N, 4]``, ``b [M, 4]`` -> ``[N, M]``."""
    inter, union = _pairwise_inter_union(a, b)
    return inter / union.clamp(min=_EPS)


def generalized_box_iou(a: Tensor, b: Tensor) -> Tensor:
    """Pairwise GIoU (Rezatofighi et al. 2019), in ``[-1, 1]``: ``[N, 4] x [M, 4] -> [N, M]``."""
    inter, union = _pairwise_inter_union(a, b)
    iou = inter / union.clamp(min=_EPS)
    lt = torch.minimum(a[:, None, :2], b[None, :, :2])
    rb = torch.maximum(a[:, None, 2:], b[None, :, 2:])
    wh = (rb - lt).clamp(min=0)
    hull = wh[..., 0] * wh[..., 1]
    return iou - (hull - union) / hull.clamp(min=_EPS)


def _aligned_inter_union(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    lt = torch.maximum(a[..., :2], b[..., :2])
    rb = torch.minimum(a[..., 2:], b[..., 2:])
    wh = (rb - lt).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    return inter, box_area(a) + box_area(b) - inter


def aligned_iou(a: Tensor, b: Tensor) -> Tensor:
    """IoU of aligned pairs: ``a [..., 4]``, ``b [..., 4]`` -> ``[...]``."""
    inter, union = _aligned_inter_union(a, b)
    return inter / union.clamp(min=_EPS)


def aligned_giou(a: Tensor, b: Tensor) -> Tensor:
    """GIoU of aligned pairs: ``a [..., 4]``, ``b [..., 4]`` -> ``[...]``, in ``[-1, 1]``."""
    inter, union = _aligned_inter_union(a, b)
    iou = inter / union.clamp(min=_EPS)
    lt = torch.minimum(a[..., :2], b[..., :2])
    rb = torch.maximum(a[..., 2:], b[..., 2:])
    wh = (rb - lt).clamp(min=0)
    hull = wh[..., 0] * wh[..., 1]
    return iou - (hull - union) / hull.clamp(min=_EPS)


def nms_keep(boxes: Tensor, classes: Tensor, iou_threshold: float) -> Tensor:
    """Greedy class-aware NMS over score-sorted candidates; returns a ``[K]`` bool keep mask.

    ``boxes [K, 4]`` must already be sorted by descending score and ``classes [K]`` holds their
    labels. Candidate ``i`` is dropped when a kept candidate ``j < i`` of the same class overlaps
    it with IoU ``> iou_threshold``, which is exactly the classic sequential algorithm. ``K`` is
    static (the traced ONNX graph unrolls ``K`` cheap steps of ``[K]`` boolean ops).
    """
    k = boxes.shape[0]
    iou = box_iou(boxes, boxes)
    same = classes[:, None] == classes[None, :]
    later = torch.ones(k, k, dtype=torch.bool, device=boxes.device).triu(diagonal=1)
    suppresses = (iou > iou_threshold) & same & later  # [j, i]: j would suppress i
    tracing = torch.jit.is_tracing()  # type: ignore[attr-defined,no-untyped-call]
    if not (tracing or torch.onnx.is_in_onnx_export()):
        # Eager: the same recurrence, skipping the no-op steps of already dropped candidates.
        rows = suppresses.cpu().numpy()
        kept = np.ones(k, dtype=bool)
        for j in range(k):
            if kept[j]:
                kept &= ~rows[j]
        return torch.from_numpy(kept).to(boxes.device)
    keep = torch.ones(k, dtype=torch.bool, device=boxes.device)
    for j in range(k):
        keep = keep & ~(suppresses[j] & keep[j])
    return keep
