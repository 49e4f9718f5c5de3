"""Writing a trained detector as the ONNX file prediction serves (the contract:
:mod:`.detector`'s module docstring).

The graph is :class:`.inference.InferenceModel` for one ``S x S`` window: network, decoding and
NMS, so onnxruntime returns final detections. A model trained in tiled mode says so in its
metadata (``Detector.TilePixels``, ``Detector.TileOverlapPixels``): whoever runs it tiles large
images the same way :func:`.inference.predict_tiled` does.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path

import torch

from shared.vision.inference import DETECTION_OUTPUTS
from shared.vision.training.detection.data import Plan
from shared.vision.training.detection.inference import InferenceModel
from shared.vision.training.onnx_export import export_onnx

__all__ = ["export_detector"]


def export_detector(model: InferenceModel, plan: Plan, path: Path, labels: Sequence[str]) -> None:
    """Write ``model`` (left as it is) to ``path`` with the labels and the tiling in the metadata."""
    # Training runs channels-last; the exported graph is traced in the default layout.
    network = copy.deepcopy(model).to(memory_format=torch.contiguous_format)  # type: ignore[call-overload]
    tiling = {}
    if plan.tile is not None:
        tiling = {"Detector.TilePixels": str(plan.tile), "Detector.TileOverlapPixels": str(plan.overlap)}
    export_onnx(
        network,
        Path(path),
        input_size=model.size,
        task="detection",
        labels=labels,
        output_names=DETECTION_OUTPUTS,
        dynamic_batch=False,
        extra_metadata=tiling,
    )
