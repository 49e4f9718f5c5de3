"""The OpenVino export: the domain's ONNX model as OpenVINO IR (``model.xml`` + ``model.bin``).

``openvino.convert_model`` reads the ONNX file as it is, so the IR keeps its inputs, outputs and
metadata-declared preprocessing (raw RGB 0..255 in, the domain's output layout); weights stay in their
precision (float16 only for a float16 model). ``labels.txt`` lists the outputs' label order.
"""

from __future__ import annotations

from pathlib import Path

from shared.exporting.errors import PlatformUnavailable
from shared.exporting.source import ExportSource

__all__ = ["build_openvino"]


def build_openvino(source: ExportSource, workdir: Path) -> dict[str, bytes]:
    try:
        import openvino as ov  # type: ignore[import-untyped]
    except ImportError as exc:
        raise PlatformUnavailable(
            "OpenVINO is not installed where exports run (it comes with the training image's requirements)."
        ) from exc
    onnx_path = workdir / "model.onnx"
    onnx_path.write_bytes(source.onnx)
    model = ov.convert_model(str(onnx_path))
    xml = workdir / "model.xml"
    ov.save_model(model, str(xml), compress_to_fp16=False)
    return {
        "model.xml": xml.read_bytes(),
        "model.bin": xml.with_suffix(".bin").read_bytes(),
        "labels.txt": source.labels_txt,
    }
