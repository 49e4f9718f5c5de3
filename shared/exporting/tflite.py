"""The TensorFlow export, flavor ``TensorFlowLite``: ``model.tflite``, labels and README.

The model is written from the ONNX graph by :mod:`.tflite_writer`, then loaded in the LiteRT
interpreter (the runtime TensorFlow Lite became) and run on one input next to onnxruntime before it
is packaged: a conversion that does not reproduce the ONNX model's outputs is refused, never
shipped. TensorFlow's other flavors (SavedModel, frozen graph, TensorFlow.js) need tensorflow
itself to write, which the training image does not carry.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from shared.exporting.converted import readme, source_graph
from shared.exporting.errors import PlatformUnavailable
from shared.exporting.onnx_graph import Graph, prepare
from shared.exporting.source import ExportSource
from shared.exporting.tflite_writer import write_tflite

__all__ = ["FLAVOR", "TOLERANCE", "build_tflite", "run_tflite"]

FLAVOR = "TensorFlowLite"
TOLERANCE = 1e-3  # the largest difference from onnxruntime accepted on the check input
_TO_NCHW = (0, 3, 1, 2)


def build_tflite(source: ExportSource, workdir: Path) -> dict[str, bytes]:
    """``model.tflite``, ``labels.txt`` and ``README.txt``."""
    if (source.flavor or "").lower() != FLAVOR.lower():
        raise PlatformUnavailable(
            f"TensorFlow's {source.flavor or 'SavedModel'} flavor needs tensorflow to write, which is not "
            f"installed where exports run; export the {FLAVOR} flavor instead."
        )
    onnx_model = source_graph(source)
    graph = prepare(onnx_model, workdir)
    model = write_tflite(graph)
    _check(model, onnx_model, graph)
    size = graph.input_shape[-1]
    return {
        "model.tflite": model,
        "labels.txt": source.labels_txt,
        "README.txt": readme(
            source,
            model_file="model.tflite",
            input_text=f"float32 [1, {size}, {size}, 3], blue-green-red, raw 0..255 pixels (the model scales them).",
            classifier_text=f"float32 [1, {len(source.labels)}], each tag's probability.",
        ),
    }


def run_tflite(model: bytes, image_nhwc_bgr: np.ndarray) -> list[np.ndarray]:
    """The model's outputs for one ``[1, H, W, 3]`` float32 BGR input, run by the LiteRT interpreter."""
    from ai_edge_litert.interpreter import Interpreter  # type: ignore[import-untyped]

    interpreter = Interpreter(model_content=model, num_threads=1)
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], image_nhwc_bgr.astype(np.float32))
    interpreter.invoke()
    return [np.array(interpreter.get_tensor(d["index"])) for d in interpreter.get_output_details()]


def _check(model: bytes, onnx_model: bytes, graph: Graph) -> None:
    n, c, h, w = graph.input_shape
    image = np.random.default_rng(0).uniform(0, 255, size=(n, h, w, c)).astype(np.float32)  # BGR
    onnx_input = image if graph.bgr_input else image[..., ::-1]
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(onnx_model, options, providers=["CPUExecutionProvider"])
    expected = session.run(None, {graph.input_name: np.ascontiguousarray(onnx_input.transpose(0, 3, 1, 2))})
    try:
        got = run_tflite(model, image)
    except (RuntimeError, ValueError) as exc:
        raise PlatformUnavailable(f"the TensorFlow Lite runtime refused the converted model ({exc})") from exc
    for want, have in zip(expected, got, strict=True):
        # a 4-D output is NHWC (Custom Vision's TensorFlow layout), ONNX's is NCHW
        as_onnx = have.transpose(_TO_NCHW) if have.ndim == 4 and have.shape != want.shape else have
        if as_onnx.shape != want.shape or float(np.abs(as_onnx - want).max()) > TOLERANCE:
            raise PlatformUnavailable("the TensorFlow Lite conversion does not reproduce the model's outputs")
