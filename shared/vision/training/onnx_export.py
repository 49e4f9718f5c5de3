"""Writing a trained network as the ONNX file that prediction and ``export_iteration`` serve.

One place for what every exported model shares (EXPORT.md): the TorchScript exporter at one
opset, an input ``data`` of raw 0..255 RGB ``[N, 3, S, S]``, and the metadata naming the labels,
the task and the input size. Each model adds its own outputs and metadata.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from torch import nn

__all__ = ["ONNX_OPSET", "export_onnx"]

ONNX_OPSET = 17


def export_onnx(
    network: nn.Module,
    path: Path,
    *,
    input_size: int,
    task: str,
    labels: Sequence[str],
    output_names: Sequence[str],
    dynamic_batch: bool,
    extra_metadata: Mapping[str, str] | None = None,
) -> None:
    """Trace ``network`` on one grey ``input_size`` image and write it to ``path`` with metadata."""
    import onnx

    sample = torch.full((1, 3, input_size, input_size), 127.0)
    dynamic_axes = {name: {0: "batch"} for name in ("data", *output_names)} if dynamic_batch else None
    with warnings.catch_warnings(), torch.no_grad():
        # We ask for the TorchScript exporter on purpose (the dynamo one needs onnxscript).
        warnings.filterwarnings(
            "ignore", message="You are using the legacy TorchScript-based ONNX export", category=DeprecationWarning
        )
        # Constant folding of the static "same" padding's slices: a note, the graph is right.
        warnings.filterwarnings("ignore", message="Constant folding - Only steps=1", category=UserWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)  # type: ignore[attr-defined]
        torch.onnx.export(
            network,
            (sample,),
            str(path),
            input_names=["data"],
            output_names=list(output_names),
            dynamic_axes=dynamic_axes,
            opset_version=ONNX_OPSET,
            dynamo=False,
        )
    model = onnx.load(str(path))
    metadata = {
        "Image.BitmapPixelFormat": "Rgb8",
        "Image.NominalPixelRange": "NominalRange_0_255",
        "CustomVision.Labels": json.dumps(list(labels)),
        "CustomVision.Task": task,
        "CustomVision.InputSize": str(input_size),
        **(extra_metadata or {}),
    }
    del model.metadata_props[:]
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(path))
