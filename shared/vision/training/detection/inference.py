"""Running a trained detection network: decoding, NMS, and tiled prediction of large images.

    post      sigmoid scores, top ``PRE_NMS_TOP_K`` (point, class) candidates, exact greedy
              class-aware NMS at IoU ``NMS_IOU`` written in plain tensor ops
              (:func:`.box_ops.nms_keep`), then the best ``max_detections``. No score
              threshold: low scores come back too, as Custom Vision does.
    tiled     with a tiled :class:`.data.Plan`, ``tile``-pixel windows with ``overlap`` pixels of
              overlap slide over the image. Each window only keeps the boxes whose centre falls
              in the part of the image it owns (the overlaps are cut in the middle), so no object
              is found twice and none is cut by a window edge unless it is larger than the
              overlap. Windows reaching beyond the image are filled with grey 127.

A prediction is a float32 array ``[K, 6]`` per image: (label, score, left, top, width, height),
normalised to the image, sorted by descending score.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image
from torch import Tensor, nn

from shared.vision.preprocess import preprocess
from shared.vision.tiling import render_window, windows
from shared.vision.training.detection.box_ops import nms_keep
from shared.vision.training.detection.data import Plan
from shared.vision.training.detection.network import DetectionNet, decode_boxes, expected_distances, points

__all__ = [
    "EXPORT_MAX_DETECTIONS",
    "NMS_IOU",
    "PRE_NMS_TOP_K",
    "InferenceModel",
    "predict_tiled",
    "predict_whole",
    "select",
]

PRE_NMS_TOP_K = 1000
NMS_IOU = 0.6
EXPORT_MAX_DETECTIONS = 200  # what the exported graph returns at most
_BATCH = 8  # images (or windows) per forward pass

# One axis of a window: (start px, own_from, own_to), as shared.vision.tiling.windows gives them.
_Span = tuple[int, float, float]


def select(
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


class InferenceModel(nn.Module):
    """The network plus decoding and NMS for one ``S x S`` input: what is exported to ONNX."""

    def __init__(self, net: DetectionNet, size: int, max_detections: int) -> None:
        super().__init__()
        self.net = net
        self.size = size
        self.max_detections = max_detections
        centres, strides, _ = points(size)
        self.points: Tensor
        self.strides: Tensor
        self.register_buffer("points", centres, persistent=False)
        self.register_buffer("strides", strides, persistent=False)

    def decode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``[B, 3, S, S]`` -> logits ``[B, N, C]``, normalised corners ``[B, N, 4]`` in 0..1."""
        cls, reg = self.net(x)
        boxes = decode_boxes(self.points, self.strides, expected_distances(reg)) / self.size
        return cls, boxes.clamp(0.0, 1.0)

    def forward(self, data: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        cls, boxes = self.decode(data)
        b, c, s = select(cls[0], boxes[0], self.max_detections)
        return b.unsqueeze(0), c.unsqueeze(0), s.unsqueeze(0)


def _rows(boxes: Tensor, classes: Tensor, scores: Tensor) -> np.ndarray:
    b = boxes.numpy().astype(np.float32)
    out = np.zeros((b.shape[0], 6), dtype=np.float32)
    out[:, 0] = classes.numpy()
    out[:, 1] = scores.numpy()
    out[:, 2:4] = b[:, :2]
    out[:, 4:6] = b[:, 2:] - b[:, :2]
    return out


def predict_whole(model: InferenceModel, images: Sequence[Image.Image], max_detections: int) -> list[np.ndarray]:
    """Each image resized whole to the input size, exactly as the exported model sees it."""
    out: list[np.ndarray] = []
    for start in range(0, len(images), _BATCH):
        chunk = images[start : start + _BATCH]
        x = torch.from_numpy(np.stack([preprocess(img, model.size) for img in chunk]))
        cls, boxes = model.decode(x.contiguous(memory_format=torch.channels_last))
        for i in range(len(chunk)):
            b, c, s = select(cls[i], boxes[i], max_detections)
            out.append(_rows(b, c, s))
    return out


def _render(image: Image.Image, chunk: Sequence[tuple[_Span, _Span]], tile: int, size: int) -> Tensor:
    """The windows ``chunk`` of ``image`` as a ``[B, 3, size, size]`` batch."""
    return torch.from_numpy(
        np.stack(
            [
                render_window(image, (wx[0], wy[0], wx[0] + tile, wy[0] + tile), size)
                .transpose(2, 0, 1)
                .astype(np.float32)
                for wx, wy in chunk
            ]
        )
    )


def _owned(
    found: tuple[Tensor, Tensor, Tensor], wx: _Span, wy: _Span, tile: int, image_size: tuple[int, int]
) -> np.ndarray:
    """One window's detections in image coordinates ``[K, 6]`` (corners, not yet widths), keeping
    those centred in the part of the image the window owns."""
    b, c, s = found
    w, h = image_size
    px = b.numpy().astype(np.float64) * tile
    px[:, [0, 2]] += wx[0]
    px[:, [1, 3]] += wy[0]
    cx, cy = (px[:, 0] + px[:, 2]) / 2, (px[:, 1] + px[:, 3]) / 2
    own = (cx >= wx[1]) & (cx < wx[2]) & (cy >= wy[1]) & (cy < wy[2])
    px[:, [0, 2]] = px[:, [0, 2]].clip(0, w) / w
    px[:, [1, 3]] = px[:, [1, 3]].clip(0, h) / h
    return np.concatenate([c.numpy()[:, None].astype(np.float64), s.numpy()[:, None], px], 1)[own]


def predict_tiled(model: InferenceModel, image: Image.Image, plan: Plan, max_detections: int) -> np.ndarray:
    """One large image as overlapping ``plan.tile`` windows (see the module docstring)."""
    tile, overlap = plan.tile, plan.overlap
    assert tile is not None
    if image.mode != "RGB":
        image = image.convert("RGB")
    w, h = image.size
    wins = [(x, y) for y in windows(h, tile, overlap) for x in windows(w, tile, overlap)]
    found: list[np.ndarray] = []
    for start in range(0, len(wins), _BATCH):
        chunk = wins[start : start + _BATCH]
        cls, boxes = model.decode(_render(image, chunk, tile, model.size).contiguous(memory_format=torch.channels_last))
        for i, (wx, wy) in enumerate(chunk):
            found.append(_owned(select(cls[i], boxes[i], max_detections), wx, wy, tile, (w, h)))
    det = np.concatenate(found) if found else np.zeros((0, 6))
    det = det[np.argsort(-det[:, 1], kind="stable")][:max_detections]
    det[:, 4:6] -= det[:, 2:4]
    return det.astype(np.float32)
