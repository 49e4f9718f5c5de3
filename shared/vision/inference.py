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

import threading
from collections import OrderedDict
from collections.abc import Callable

import numpy as np
import onnxruntime as ort
from PIL import Image

from shared.vision.preprocess import preprocess

__all__ = ["DETECTION_OUTPUTS", "ModelCache", "OnnxModel"]

DETECTION_OUTPUTS = ("detected_boxes", "detected_classes", "detected_scores")


class OnnxModel:
    def __init__(self, model: bytes, *, threads: int | None = None) -> None:
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(model, sess_options=options, providers=["CPUExecutionProvider"])
        inputs = self._session.get_inputs()
        self._input = inputs[0].name
        shape = inputs[0].shape
        self.size = int(shape[2]) if isinstance(shape[2], int) else 224
        self._outputs = [o.name for o in self._session.get_outputs()]
        self.task = "detection" if set(DETECTION_OUTPUTS) <= set(self._outputs) else "classification"
        self.metadata: dict[str, str] = dict(self._session.get_modelmeta().custom_metadata_map)

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
        """Boxes ``[K, 6]``: (label, score, left, top, width, height), normalised, best first."""
        outputs = dict(zip(self._outputs, self.run(self.tensor(image)), strict=True))
        boxes = np.clip(np.asarray(outputs["detected_boxes"][0], dtype=np.float64), 0.0, 1.0)
        labels = np.asarray(outputs["detected_classes"][0], dtype=np.float64)
        scores = np.asarray(outputs["detected_scores"][0], dtype=np.float64)
        order = np.argsort(-scores, kind="stable")[:max_detections]
        x1, y1, x2, y2 = (boxes[order, i] for i in range(4))
        keep = (x2 > x1) & (y2 > y1)
        rows: np.ndarray = np.stack([labels[order], scores[order], x1, y1, x2 - x1, y2 - y1], axis=1)[keep]
        return rows


class ModelCache:
    """Loaded models by key (an iteration id), least recently used dropped beyond ``size``."""

    def __init__(self, size: int = 8, threads: int | None = None) -> None:
        self._size = size
        self._threads = threads
        self._models: OrderedDict[str, OnnxModel] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[str, threading.Lock] = {}

    def get(self, key: str, load: Callable[[], bytes]) -> OnnxModel:
        with self._lock:
            model = self._models.get(key)
            if model is not None:
                self._models.move_to_end(key)
                return model
            gate = self._loading.setdefault(key, threading.Lock())
        with gate:  # one load per key, however many requests arrive at once
            with self._lock:
                model = self._models.get(key)
            if model is None:
                model = OnnxModel(load(), threads=self._threads)
                with self._lock:
                    self._models[key] = model
                    while len(self._models) > self._size:
                        self._models.popitem(last=False)
        with self._lock:
            self._loading.pop(key, None)
        return model
