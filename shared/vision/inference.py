"""Running exported models with onnxruntime: the prediction path (numpy + Pillow; never torch).

A model is the ONNX file the trainer exported (see ``shared.vision.training``): one input
``[N, 3, S, S]`` raw RGB 0..255, made by :func:`shared.vision.preprocess.preprocess`, and either
one output of class probabilities ``[N, C]`` (classification) or the three S1-style outputs
``detected_boxes`` ``[1, K, 4]`` (normalised x1, y1, x2, y2), ``detected_classes`` ``[1, K]`` and
``detected_scores`` ``[1, K]`` with NMS already applied (detection). Because preprocessing is a
plain resize of the whole image, normalised coordinates map straight back to the original image.

Sessions are loaded once and kept (:class:`ModelCache`); ``InferenceSession.run`` is safe to call
from several threads at once.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import onnxruntime as ort
from PIL import Image

from shared.stores.cache import LruCache
from shared.vision.preprocess import preprocess
from shared.vision.tiling import render_window, windows

__all__ = ["DETECTION_OUTPUTS", "ModelCache", "OnnxModel"]

DETECTION_OUTPUTS = ("detected_boxes", "detected_classes", "detected_scores")


class OnnxModel:
    def __init__(self, model: bytes, *, threads: int | None = None) -> None:
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # Requests run concurrently on one session: idle intra-op threads that spin-wait burn the
        # cores the other requests (and the HTTP server) need.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = ort.InferenceSession(model, sess_options=options, providers=["CPUExecutionProvider"])
        inputs = self._session.get_inputs()
        self._input = inputs[0].name
        shape = inputs[0].shape
        self.size = int(shape[2]) if isinstance(shape[2], int) else 224
        self._outputs = [o.name for o in self._session.get_outputs()]
        self.task = "detection" if set(DETECTION_OUTPUTS) <= set(self._outputs) else "classification"
        self.metadata: dict[str, str] = dict(self._session.get_modelmeta().custom_metadata_map)

    @property
    def decode_side(self) -> int:
        """The smallest image side worth decoding: the input size, or everything for a tiled model."""
        return 1_000_000 if self.metadata.get("Detector.TilePixels") else self.size

    def tensor(self, image: Image.Image) -> np.ndarray:
        """The model's input for one image: ``[1, 3, S, S]`` float32."""
        batch: np.ndarray = preprocess(image, self.size)[None]
        return batch

    def run(self, batch: np.ndarray) -> list[np.ndarray]:
        return list(self._session.run(None, {self._input: batch}))

    def classify(self, image: Image.Image) -> np.ndarray:
        """Class probabilities ``[C]`` (0..1), in the model's label order."""
        (probabilities,) = self.run(self.tensor(image))[:1]
        return np.asarray(probabilities[0], dtype=np.float64)

    def detect(self, image: Image.Image, max_detections: int = 200) -> np.ndarray:
        """Boxes ``[K, 6]``: (label, score, left, top, width, height), normalised, best first.

        A model trained on tiles (``Detector.TilePixels`` in its metadata) looks at the image
        through tiles of that size, as it was trained (see :mod:`shared.vision.tiling`).
        """
        tile = int(self.metadata.get("Detector.TilePixels", "0") or 0)
        if tile and max(image.size) > tile:
            corners = self._detect_tiled(image, tile, int(self.metadata.get("Detector.TileOverlapPixels", "0")))
        else:
            corners = self._corners(self.tensor(image))
        order = np.argsort(-corners[:, 1], kind="stable")[:max_detections]
        corners = corners[order]
        x1, y1, x2, y2 = (corners[:, i] for i in range(2, 6))
        keep = (x2 > x1) & (y2 > y1)
        rows: np.ndarray = np.stack([corners[:, 0], corners[:, 1], x1, y1, x2 - x1, y2 - y1], axis=1)[keep]
        return rows

    def _corners(self, batch: np.ndarray) -> np.ndarray:
        """``[K, 6]``: (label, score, x1, y1, x2, y2) normalised to the model input."""
        outputs = dict(zip(self._outputs, self.run(batch), strict=True))
        boxes = np.clip(np.asarray(outputs["detected_boxes"][0], dtype=np.float64), 0.0, 1.0)
        labels = np.asarray(outputs["detected_classes"][0], dtype=np.float64)
        scores = np.asarray(outputs["detected_scores"][0], dtype=np.float64)
        found: np.ndarray = np.concatenate([labels[:, None], scores[:, None], boxes], axis=1)
        return found

    def _detect_tiled(self, image: Image.Image, tile: int, overlap: int) -> np.ndarray:
        width, height = image.size
        found = []
        for wy in windows(height, tile, overlap):
            for wx in windows(width, tile, overlap):
                pixels = render_window(image, (wx[0], wy[0], wx[0] + tile, wy[0] + tile), self.size)
                rows = self._corners(pixels.transpose(2, 0, 1).astype(np.float32)[None])
                px = rows[:, 2:6] * tile
                px[:, [0, 2]] += wx[0]
                px[:, [1, 3]] += wy[0]
                cx, cy = (px[:, 0] + px[:, 2]) / 2, (px[:, 1] + px[:, 3]) / 2
                own = (cx >= wx[1]) & (cx < wx[2]) & (cy >= wy[1]) & (cy < wy[2])
                px[:, [0, 2]] = px[:, [0, 2]].clip(0, width) / width
                px[:, [1, 3]] = px[:, [1, 3]].clip(0, height) / height
                found.append(np.concatenate([rows[:, :2], px], axis=1)[own])
        return np.concatenate(found) if found else np.zeros((0, 6))


class ModelCache:
    """Loaded models by key (an iteration id), least recently used dropped beyond ``size``; one
    load per key however many requests arrive at once."""

    def __init__(self, size: int = 8, threads: int | None = None) -> None:
        self._threads = threads
        self._models: LruCache[str, OnnxModel] = LruCache(size)

    def get(self, key: str, load: Callable[[], bytes]) -> OnnxModel:
        return self._models.get(key, lambda: OnnxModel(load(), threads=self._threads))
