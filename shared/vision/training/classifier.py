"""Image classification: a linear head on frozen EfficientNet-Lite0 features.

Regular recipe: every image is seen as a few views (itself and its mirror image); the frozen
backbone turns each view into a pooled 1280-d feature, cached per image key, so refitting (the
trainer fits evaluation folds, then the final model) costs only the head. The head is a linear
layer on L2-normalised features, fitted full-batch (softmax with label smoothing for multiclass,
sigmoid for multilabel, where an image without labels is a negative for every class).
Advanced adds more views (crops) within its time budget. Seeded: the same inputs and seed give
the same probabilities.

Export: one graph (raw 0..255 RGB ``[N, 3, S, S]`` -> probabilities ``[N, C]``) with the
normalisation, backbone, pooling and head inside, as docs/architecture.md and the Custom Vision
export samples expect.
"""

from __future__ import annotations

import json
import logging
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import torch
from PIL import Image
from torch import nn

from shared.vision.preprocess import INPUT_SIZE, preprocess
from shared.vision.training.backbone import EfficientNetLite0
from shared.vision.training.dataset import Progress, TrainImage

__all__ = ["Classifier", "ClassifierConfig"]

log = logging.getLogger(__name__)

_FEATURES = 1280
_BATCH = 16
_HEAD_STEPS = 300
_WEIGHT_DECAY = 1e-3
_SMOOTHING = 0.1
_TEMPERATURE = 10.0  # logits scale on unit-length features


@dataclass(frozen=True)
class ClassifierConfig:
    num_classes: int
    multilabel: bool = False
    advanced: bool = False
    budget_seconds: float | None = None
    seed: int = 0
    threads: int | None = None


class _Head(nn.Module):
    def __init__(self, classes: int) -> None:
        super().__init__()
        self.linear = nn.Linear(_FEATURES, classes)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        unit = features / features.norm(dim=1, keepdim=True).clamp_min(1e-6)
        logits: torch.Tensor = self.linear(unit) * _TEMPERATURE
        return logits


class _Exported(nn.Module):
    def __init__(self, backbone: EfficientNetLite0, head: _Head, multilabel: bool) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.multilabel = multilabel

    def forward(self, data: torch.Tensor) -> torch.Tensor:
        (features,) = self.backbone(data)
        logits = self.head(features.mean(dim=(2, 3)))
        return torch.sigmoid(logits) if self.multilabel else torch.softmax(logits, dim=1)


def _views(image: Image.Image, advanced: bool) -> list[np.ndarray]:
    """The image as the model sees it, plus cheap variants that teach the head invariances."""
    views = [preprocess(image), preprocess(image.transpose(Image.Transpose.FLIP_LEFT_RIGHT))]
    if advanced:
        width, height = image.size
        for left, top in ((0.0, 0.0), (0.1, 0.1), (0.2, 0.2)):
            box = (width * left, height * top, width * (0.8 + left), height * (0.8 + top))
            views.append(preprocess(image, box=box))
    return views


class Classifier:
    def __init__(self, config: ClassifierConfig) -> None:
        if config.num_classes < 1:
            raise ValueError("a classifier needs at least one class")
        self.config = config
        if config.threads:
            torch.set_num_threads(config.threads)
        torch.manual_seed(config.seed)
        self._backbone = EfficientNetLite0(INPUT_SIZE, levels=("head",))
        self._backbone.freeze()
        self._backbone.eval()
        self._head = _Head(config.num_classes)
        self._cache: dict[str, torch.Tensor] = {}  # image key -> [views, 1280]
        self.backbone_batches = 0  # how often the backbone ran (tests check that refits reuse it)

    @torch.inference_mode()
    def _features(self, batch: Sequence[np.ndarray]) -> torch.Tensor:
        out = []
        for start in range(0, len(batch), _BATCH):
            chunk = torch.from_numpy(np.stack(batch[start : start + _BATCH]))
            (maps,) = self._backbone(chunk)
            out.append(maps.mean(dim=(2, 3)))
            self.backbone_batches += 1
        return torch.cat(out) if out else torch.zeros(0, _FEATURES)

    def _cached(self, images: Sequence[TrainImage], progress: Progress | None) -> None:
        missing = [i for i in images if i.key not in self._cache]
        for n, image in enumerate(missing):
            views = _views(image.load(), self.config.advanced)
            self._cache[image.key] = self._features(views)
            if progress:
                progress("features", (n + 1) / len(missing))

    def fit(self, images: Sequence[TrainImage], progress: Progress | None = None) -> None:
        if not images:
            raise ValueError("nothing to train on")
        started = time.monotonic()
        self._cached(images, progress)
        features = torch.cat([self._cache[i.key] for i in images])
        repeats = [len(self._cache[i.key]) for i in images]
        targets = torch.zeros(len(images), self.config.num_classes)
        for row, image in enumerate(images):
            for label in image.labels:
                targets[row, label] = 1.0
        targets = torch.repeat_interleave(targets, torch.tensor(repeats), dim=0)
        generator = torch.Generator().manual_seed(self.config.seed)
        head = _Head(self.config.num_classes)
        with torch.no_grad():
            nn.init.normal_(head.linear.weight, std=0.01, generator=generator)
            nn.init.zeros_(head.linear.bias)
        optimiser = torch.optim.Adam(head.parameters(), lr=0.01, weight_decay=_WEIGHT_DECAY)
        if self.config.multilabel:
            loss_fn: nn.Module = nn.BCEWithLogitsLoss()
            goal = targets
        else:
            loss_fn = nn.CrossEntropyLoss(label_smoothing=_SMOOTHING)
            goal = targets.argmax(dim=1)
        steps = _HEAD_STEPS * (3 if self.config.advanced else 1)
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # tiny matrices: more threads only spin (40x slower on a busy CPU)
        try:
            self._fit_head(head, optimiser, loss_fn, features, goal, steps, started, progress)
        finally:
            torch.set_num_threads(threads)
        head.eval()
        self._head = head
        log.info("classifier fitted on %d images in %.1f s", len(images), time.monotonic() - started)

    def _fit_head(
        self,
        head: _Head,
        optimiser: torch.optim.Optimizer,
        loss_fn: nn.Module,
        features: torch.Tensor,
        goal: torch.Tensor,
        steps: int,
        started: float,
        progress: Progress | None,
    ) -> None:
        for step in range(steps):
            optimiser.zero_grad()
            loss = loss_fn(head(features), goal)
            loss.backward()
            optimiser.step()
            if progress and step % 50 == 0:
                progress("head", step / steps)
            budget = self.config.budget_seconds
            if budget is not None and time.monotonic() - started > budget:
                break

    @torch.inference_mode()
    def predict(self, images: Sequence[Image.Image]) -> np.ndarray:
        if not images:
            return np.zeros((0, self.config.num_classes), dtype=np.float32)
        logits = self._head(self._features([preprocess(i) for i in images]))
        probabilities = torch.sigmoid(logits) if self.config.multilabel else torch.softmax(logits, dim=1)
        result: np.ndarray = probabilities.numpy().astype(np.float32)
        return result

    @staticmethod
    def _export(model: nn.Module, example: torch.Tensor, path: Path) -> None:
        torch.onnx.export(
            model,
            (example,),
            str(path),
            input_names=["data"],
            output_names=["model_output"],
            dynamic_axes={"data": {0: "batch"}, "model_output": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )

    def export_onnx(self, path: Path, labels: Sequence[str]) -> None:
        if len(labels) != self.config.num_classes:
            raise ValueError("one label per class")
        model = _Exported(self._backbone, self._head, self.config.multilabel).eval()
        example = torch.zeros(1, 3, INPUT_SIZE, INPUT_SIZE)
        with warnings.catch_warnings():
            # The exporter notes that it cannot fold the padding slices; the graph is still right.
            warnings.filterwarnings("ignore", message="Constant folding", category=UserWarning)
            self._export(model, example, path)
        exported = onnx.load(str(path))
        metadata = {
            "Image.BitmapPixelFormat": "Rgb8",
            "Image.NominalPixelRange": "NominalRange_0_255",
            "CustomVision.Labels": json.dumps(list(labels)),
            "CustomVision.Task": "classification",
            "CustomVision.Multilabel": "true" if self.config.multilabel else "false",
            "CustomVision.InputSize": str(INPUT_SIZE),
        }
        for key, value in metadata.items():
            entry = exported.metadata_props.add()
            entry.key, entry.value = key, value
        onnx.save(exported, str(path))
