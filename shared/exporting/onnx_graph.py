"""An ONNX model made ready for the converters that rebuild it op by op (CoreML, TensorFlow Lite).

The batch is fixed at 1 and onnxruntime's basic optimiser folds every constant computation
(shape arithmetic, padding constants, Pad into Conv), so the converters only meet the compute
ops of our two networks. :data:`SUPPORTED_OPS` is what both converters know; any other op is
refused with :class:`.errors.PlatformUnavailable` naming it, never converted approximately.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper

from shared.exporting.errors import PlatformUnavailable

__all__ = ["SUPPORTED_OPS", "Graph", "Node", "prepare"]

SUPPORTED_OPS = frozenset(
    {
        "Add", "Sub", "Mul", "Div", "Conv", "Clip", "Relu", "Sigmoid", "Softmax", "Gemm",
        "MatMul", "Slice", "ReduceMean", "ReduceL2", "Unsqueeze", "Squeeze", "Reshape",
        "Flatten", "Concat", "Expand", "Transpose", "GlobalAveragePool", "Identity", "ReduceSum",
        "Resize",
    }
)  # fmt: skip


@dataclass(frozen=True)
class Node:
    op: str
    inputs: tuple[str, ...]  # "" for an omitted optional input
    outputs: tuple[str, ...]
    attrs: dict[str, Any]


@dataclass(frozen=True)
class Graph:
    input_name: str
    input_shape: tuple[int, ...]  # NCHW, batch 1
    output_names: tuple[str, ...]
    shapes: dict[str, tuple[int, ...]]  # every value's static shape
    constants: dict[str, np.ndarray]  # initializers (weights and folded constants)
    nodes: tuple[Node, ...]
    metadata: dict[str, str]

    @property
    def bgr_input(self) -> bool:
        """Whether the input's channels are blue, green, red (Custom Vision's ``Bgr8``)."""
        return self.metadata.get("Image.BitmapPixelFormat", "Rgb8").lower().startswith("bgr")


def prepare(model: bytes, workdir: Path) -> Graph:
    """``model`` with batch 1 and its constants folded, as plain Python values."""
    proto = onnx.load_from_string(model)
    for value in list(proto.graph.input) + list(proto.graph.output):
        dims = value.type.tensor_type.shape.dim
        if dims and not dims[0].dim_value:
            dims[0].ClearField("dim_param")
            dims[0].dim_value = 1
    folded_path = workdir / "folded.onnx"
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.optimized_model_filepath = str(folded_path)
    options.intra_op_num_threads = 1
    ort.InferenceSession(proto.SerializeToString(), options, providers=["CPUExecutionProvider"])
    folded = onnx.shape_inference.infer_shapes(onnx.load(str(folded_path)), strict_mode=True)
    graph = folded.graph

    constants = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    nodes: list[Node] = []
    for node in graph.node:
        if node.op_type == "Constant":
            constants[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
            continue
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        nodes.append(Node(node.op_type, tuple(node.input), tuple(node.output), attrs))
    for node in nodes:
        if node.op == "Resize" and not _nearest_doubling(node, constants):
            raise PlatformUnavailable("the model resizes in a way this converter does not rebuild")
    unknown = sorted({n.op for n in nodes} - SUPPORTED_OPS)
    if unknown:
        raise PlatformUnavailable(f"the model uses operators this converter does not rebuild: {', '.join(unknown)}")

    shapes: dict[str, tuple[int, ...]] = {}
    for value in list(graph.input) + list(graph.value_info) + list(graph.output):
        dims = value.type.tensor_type.shape.dim
        shapes[value.name] = tuple(int(d.dim_value) for d in dims)
    for name, array in constants.items():
        shapes[name] = tuple(array.shape)
    inputs = [i for i in graph.input if i.name not in constants]
    if len(inputs) != 1:
        raise PlatformUnavailable("the model must have exactly one image input")
    return Graph(
        input_name=inputs[0].name,
        input_shape=shapes[inputs[0].name],
        output_names=tuple(o.name for o in graph.output),
        shapes=shapes,
        constants=constants,
        nodes=tuple(nodes),
        metadata={p.key: p.value for p in proto.metadata_props},
    )


def _nearest_doubling(node: Node, constants: dict[str, np.ndarray]) -> bool:
    """A Resize the converters rebuild: nearest, PyTorch's "nearest" rounding, by constant whole factors."""
    a = node.attrs
    if a.get("mode", b"nearest") != b"nearest" or a.get("coordinate_transformation_mode", b"") != b"asymmetric":
        return False
    if a.get("nearest_mode", b"round_prefer_floor") != b"floor" or len(node.inputs) < 3:
        return False
    scales = constants.get(node.inputs[2])
    return scales is not None and scales.size == 4 and bool(np.all(scales == np.round(scales)))
