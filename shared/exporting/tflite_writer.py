"""A prepared ONNX graph (:mod:`.onnx_graph`) written as a TensorFlow Lite flatbuffer.

No converter that installs here without tensorflow goes from ONNX (or torch) to TFLite
(litert-torch pins typing-extensions < 4.13 through xdsl, which would downgrade the API's pydantic),
so the graph is written directly with the TFLite schema that the LiteRT runtime (ai-edge-litert)
ships. Every op maps to one builtin TFLite op (or a few: ReduceL2 is MUL, SUM, SQRT).

Layout: TFLite convolutions are NHWC. Every 4-D value is kept NHWC (weights and 4-D constants are
transposed once, axes of Slice/ReduceMean/Concat are remapped); a 4-D value that reaches an op
without an NHWC form (Reshape, Flatten, Transpose, Gemm...) is transposed back to NCHW first. The
input is NHWC ``[1, H, W, 3]`` float32 blue-green-red 0..255, as Custom Vision's TensorFlow Lite
models take it; a graph that wants RGB gets a channel reversal (GATHER) in front.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import flatbuffers  # type: ignore[import-untyped]
import numpy as np

from shared.exporting.errors import PlatformUnavailable
from shared.exporting.onnx_graph import Graph, Node

__all__ = ["write_tflite"]

_TO_NHWC = (0, 2, 3, 1)
_TO_NCHW = (0, 3, 1, 2)
_NHWC_AXIS = {0: 0, 1: 3, 2: 1, 3: 2}  # ONNX (NCHW) axis -> NHWC axis
_ELEMENTWISE = {"Add": "ADD", "Sub": "SUB", "Mul": "MUL", "Div": "DIV"}
_OP_VERSIONS = {"BROADCAST_TO": 2}  # the lowest version the runtime registers


def _schema() -> Any:
    try:
        from ai_edge_litert import schema_py_generated as schema  # type: ignore[import-untyped]
    except ImportError as exc:  # pragma: no cover - depends on the image
        raise PlatformUnavailable(
            f"the LiteRT schema (ai-edge-litert) is not installed where exports run ({exc})"
        ) from exc
    return schema


@dataclass
class _Value:
    tensor: int
    nhwc: bool  # a 4-D value held as NHWC


@dataclass
class _Writer:
    graph: Graph
    s: Any
    tensors: list[Any] = field(default_factory=list)
    buffers: list[Any] = field(default_factory=list)
    operators: list[Any] = field(default_factory=list)
    opcodes: dict[str, int] = field(default_factory=dict)
    values: dict[str, _Value] = field(default_factory=dict)
    nchw_copies: dict[int, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.buffers.append(self.s.BufferT())  # buffer 0: the empty one, by convention

    # --- tensors -----------------------------------------------------------------------------
    def tensor(self, name: str, shape: Sequence[int], data: np.ndarray | None = None, *, int32: bool = False) -> int:
        buffer = 0
        if data is not None:
            array = np.ascontiguousarray(data, dtype=np.int32 if int32 else np.float32)
            buffer = len(self.buffers)
            self.buffers.append(self.s.BufferT(data=np.frombuffer(array.tobytes(), dtype=np.uint8)))
            shape = array.shape
        tensor_type = self.s.TensorType.INT32 if int32 else self.s.TensorType.FLOAT32
        self.tensors.append(self.s.TensorT(shape=[int(d) for d in shape], type=tensor_type, buffer=buffer, name=name))
        return len(self.tensors) - 1

    def ints(self, name: str, values: Sequence[int]) -> int:
        return self.tensor(name, [len(values)], np.asarray(values, dtype=np.int32), int32=True)

    def op(
        self, kind: str, inputs: Sequence[int], outputs: Sequence[int], options: Any = None, options_type: str = ""
    ) -> None:
        if kind not in self.opcodes:
            self.opcodes[kind] = len(self.opcodes)
        operator = self.s.OperatorT(opcodeIndex=self.opcodes[kind], inputs=list(inputs), outputs=list(outputs))
        if options is not None:
            operator.builtinOptionsType = getattr(self.s.BuiltinOptions, options_type)
            operator.builtinOptions = options
        self.operators.append(operator)

    def shape(self, name: str) -> tuple[int, ...]:
        return self.graph.shapes[name]

    def out(self, node: Node, nhwc: bool) -> int:
        name = node.outputs[0]
        shape = self.shape(name)
        stored = [shape[i] for i in _TO_NHWC] if nhwc else list(shape)
        index = self.tensor(name, stored)
        self.values[name] = _Value(index, nhwc)
        return index

    def constant(self, name: str, *, like_nhwc: bool, rank: int) -> int:
        array = np.asarray(self.graph.constants[name], dtype=np.float32)
        if like_nhwc and array.ndim > 0:
            array = array.reshape((1,) * (rank - array.ndim) + array.shape).transpose(_TO_NHWC)
        return self.tensor(name, array.shape, array)

    def nchw(self, name: str) -> int:
        """The value in ONNX's own layout (a transposed copy of an NHWC value, made once)."""
        value = self.values[name]
        if not value.nhwc:
            return value.tensor
        if value.tensor not in self.nchw_copies:
            copy = self.tensor(f"{name}/nchw", self.shape(name))
            self.op("TRANSPOSE", [value.tensor, self.ints(f"{name}/perm", _TO_NCHW)], [copy])
            self.nchw_copies[value.tensor] = copy
        return self.nchw_copies[value.tensor]

    # --- ops ---------------------------------------------------------------------------------
    def convert(self, node: Node) -> None:
        handler = getattr(self, f"_{node.op.lower()}", None)
        if handler is None:
            raise PlatformUnavailable(f"TensorFlow Lite conversion does not handle the {node.op} operator")
        handler(node)

    def _elementwise(self, node: Node) -> None:
        names = node.inputs[:2]
        live = [self.values[n] for n in names if n in self.values]
        nhwc = any(v.nhwc for v in live)
        rank = len(self.shape(node.outputs[0]))
        inputs = []
        for name in names:
            if name in self.values:
                value = self.values[name]
                if nhwc and not value.nhwc:
                    raise PlatformUnavailable(f"{node.op} mixes a 4-D value with a lower-rank one")
                inputs.append(value.tensor)
            else:
                inputs.append(self.constant(name, like_nhwc=nhwc, rank=rank))
        self.op(_ELEMENTWISE[node.op], inputs, [self.out(node, nhwc)])

    _add = _sub = _mul = _div = _elementwise

    def _activation_after(self, node: Node) -> tuple[int, Node | None]:
        """A Relu/Relu6 that alone consumes ``node``'s output, to fuse into it."""
        name = node.outputs[0]
        if name in self.graph.output_names:
            return 0, None
        consumers = [n for n in self.graph.nodes if name in n.inputs]
        if len(consumers) != 1:
            return 0, None
        kind = _relu_kind(consumers[0], self.graph)
        if kind is None:
            return 0, None
        return getattr(self.s.ActivationFunctionType, kind), consumers[0]

    def _conv(self, node: Node) -> None:
        a = node.attrs
        x = self.values[node.inputs[0]]
        if not x.nhwc:
            raise PlatformUnavailable("Conv on a value that is not an image-shaped tensor")
        weight = np.asarray(self.graph.constants[node.inputs[1]], dtype=np.float32)  # O, I/g, kh, kw
        out_ch, in_per_group, kh, kw = weight.shape
        in_ch = self.shape(node.inputs[0])[1]
        group = int(a.get("group", 1))
        bias = (
            np.asarray(self.graph.constants[node.inputs[2]], dtype=np.float32)
            if len(node.inputs) > 2 and node.inputs[2]
            else np.zeros(out_ch, np.float32)
        )
        source = x.tensor
        pads = [int(p) for p in a.get("pads", [0, 0, 0, 0])]
        if any(pads):
            n, c, h, w = self.shape(node.inputs[0])
            padded = self.tensor(f"{node.outputs[0]}/padded", [n, h + pads[0] + pads[2], w + pads[1] + pads[3], c])
            paddings = np.asarray([[0, 0], [pads[0], pads[2]], [pads[1], pads[3]], [0, 0]], dtype=np.int32)
            self.op("PAD", [source, self.tensor(f"{node.outputs[0]}/paddings", [4, 2], paddings, int32=True)], [padded])
            source = padded
        strides = [int(v) for v in a.get("strides", [1, 1])]
        dilations = [int(v) for v in a.get("dilations", [1, 1])]
        activation, fused = self._activation_after(node)
        bias_index = self.tensor(f"{node.outputs[0]}/bias", [out_ch], bias)
        common = {
            "padding": self.s.Padding.VALID,
            "strideH": strides[0],
            "strideW": strides[1],
            "dilationHFactor": dilations[0],
            "dilationWFactor": dilations[1],
            "fusedActivationFunction": activation,
        }
        if group == 1:
            kernel = self.tensor(f"{node.outputs[0]}/kernel", [], weight.transpose(0, 2, 3, 1))
            output = self.out(node, True)
            options = self.s.Conv2DOptionsT()
            kind, options_type = "CONV_2D", "Conv2DOptions"
        elif group == in_ch and in_per_group == 1:
            kernel = self.tensor(
                f"{node.outputs[0]}/kernel", [], weight.reshape(out_ch, kh, kw).transpose(1, 2, 0)[None]
            )
            output = self.out(node, True)
            options = self.s.DepthwiseConv2DOptionsT()
            options.depthMultiplier = out_ch // in_ch
            kind, options_type = "DEPTHWISE_CONV_2D", "DepthwiseConv2DOptions"
        else:
            raise PlatformUnavailable("grouped convolutions other than depthwise have no TensorFlow Lite operator")
        for key, value in common.items():
            setattr(options, key, value)
        self.op(kind, [source, kernel, bias_index], [output], options, options_type)
        if fused is not None:
            self.values[fused.outputs[0]] = self.values[node.outputs[0]]

    def _clip(self, node: Node) -> None:
        if node.outputs[0] in self.values:  # fused into the convolution before it
            return
        x = self.values[node.inputs[0]]
        kind = _relu_kind(node, self.graph)
        if kind is not None:
            self.op(kind, [x.tensor], [self.out(node, x.nhwc)])
            return
        current = x.tensor
        bounds = [("MAXIMUM", 1), ("MINIMUM", 2)]
        present = [(k, i) for k, i in bounds if len(node.inputs) > i and node.inputs[i]]
        for position, (kind, i) in enumerate(present):
            bound = self.tensor(
                f"{node.outputs[0]}/{kind.lower()}", [], np.asarray(self.graph.constants[node.inputs[i]])
            )
            last = position == len(present) - 1
            target = (
                self.out(node, x.nhwc) if last else self.tensor(f"{node.outputs[0]}/low", self.tensors[current].shape)
            )
            self.op(kind, [current, bound], [target])
            current = target
        if not present:
            self._alias(node)

    _relu = _clip

    def _alias(self, node: Node) -> None:
        self.values[node.outputs[0]] = self.values[node.inputs[0]]

    _identity = _alias

    def _sigmoid(self, node: Node) -> None:
        x = self.values[node.inputs[0]]
        self.op("LOGISTIC", [x.tensor], [self.out(node, x.nhwc)])

    def _softmax(self, node: Node) -> None:
        rank = len(self.shape(node.inputs[0]))
        if int(node.attrs.get("axis", -1)) % rank != rank - 1:
            raise PlatformUnavailable("Softmax over an axis other than the last has no TensorFlow Lite operator")
        source = self.nchw(node.inputs[0])
        self.op("SOFTMAX", [source], [self.out(node, False)], self.s.SoftmaxOptionsT(beta=1.0), "SoftmaxOptions")

    def _gemm(self, node: Node) -> None:
        a = node.attrs
        if a.get("transA", 0) or float(a.get("alpha", 1.0)) != 1.0 or float(a.get("beta", 1.0)) != 1.0:
            raise PlatformUnavailable("Gemm with transA, alpha or beta has no TensorFlow Lite operator")
        weight = np.asarray(self.graph.constants[node.inputs[1]], dtype=np.float32)
        if not a.get("transB", 0):
            weight = weight.T
        inputs = [self.nchw(node.inputs[0]), self.tensor(f"{node.outputs[0]}/weights", [], weight)]
        if len(node.inputs) > 2 and node.inputs[2]:
            bias = np.asarray(self.graph.constants[node.inputs[2]], dtype=np.float32).reshape(-1)
            inputs.append(self.tensor(f"{node.outputs[0]}/bias", [], bias))
        else:
            inputs.append(-1)
        self.op(
            "FULLY_CONNECTED", inputs, [self.out(node, False)], self.s.FullyConnectedOptionsT(), "FullyConnectedOptions"
        )

    def _reshape_like(self, node: Node) -> None:
        target = [int(d) for d in self.shape(node.outputs[0])]
        options = self.s.ReshapeOptionsT(newShape=target)
        inputs = [self.nchw(node.inputs[0]), self.ints(f"{node.outputs[0]}/shape", target)]
        self.op("RESHAPE", inputs, [self.out(node, False)], options, "ReshapeOptions")

    _reshape = _flatten = _unsqueeze = _squeeze = _reshape_like

    def _expand(self, node: Node) -> None:
        target = [int(d) for d in self.shape(node.outputs[0])]
        inputs = [self.nchw(node.inputs[0]), self.ints(f"{node.outputs[0]}/shape", target)]
        self.op("BROADCAST_TO", inputs, [self.out(node, False)])

    def _transpose(self, node: Node) -> None:
        rank = len(self.shape(node.inputs[0]))
        perm = [int(p) for p in node.attrs.get("perm") or reversed(range(rank))]
        inputs = [self.nchw(node.inputs[0]), self.ints(f"{node.outputs[0]}/perm", perm)]
        self.op("TRANSPOSE", inputs, [self.out(node, False)])

    def _concat(self, node: Node) -> None:
        rank = len(self.shape(node.outputs[0]))
        axis = int(node.attrs["axis"]) % rank
        live = [self.values[n] for n in node.inputs]
        nhwc = all(v.nhwc for v in live)
        inputs = [v.tensor for v in live] if nhwc else [self.nchw(n) for n in node.inputs]
        options = self.s.ConcatenationOptionsT(axis=_NHWC_AXIS[axis] if nhwc else axis)
        self.op("CONCATENATION", inputs, [self.out(node, nhwc)], options, "ConcatenationOptions")

    def _slice(self, node: Node) -> None:
        constants = self.graph.constants
        shape = self.shape(node.inputs[0])
        rank = len(shape)
        starts = [int(v) for v in np.asarray(constants[node.inputs[1]]).reshape(-1)]
        ends = [int(v) for v in np.asarray(constants[node.inputs[2]]).reshape(-1)]
        axes = (
            [int(v) % rank for v in np.asarray(constants[node.inputs[3]]).reshape(-1)]
            if len(node.inputs) > 3 and node.inputs[3]
            else list(range(len(starts)))
        )
        steps = (
            [int(v) for v in np.asarray(constants[node.inputs[4]]).reshape(-1)]
            if len(node.inputs) > 4 and node.inputs[4]
            else [1] * len(starts)
        )
        begin, end, stride = [0] * rank, list(shape), [1] * rank
        for s, e, axis, step in zip(starts, ends, axes, steps, strict=True):
            if step != 1:
                raise PlatformUnavailable("strided Slice is not converted")
            size = shape[axis]
            begin[axis] = min(max(s + size if s < 0 else s, 0), size)
            end[axis] = min(max(e + size if e < 0 else e, 0), size)
        x = self.values[node.inputs[0]]
        if x.nhwc:
            begin, end, stride = ([v[i] for i in _TO_NHWC] for v in (begin, end, stride))
        name = node.outputs[0]
        inputs = [
            x.tensor,
            self.ints(f"{name}/begin", begin),
            self.ints(f"{name}/end", end),
            self.ints(f"{name}/strides", stride),
        ]
        self.op("STRIDED_SLICE", inputs, [self.out(node, x.nhwc)], self.s.StridedSliceOptionsT(), "StridedSliceOptions")

    def _reduce_axes(self, node: Node) -> tuple[list[int], bool]:
        rank = len(self.shape(node.inputs[0]))
        if len(node.inputs) > 1 and node.inputs[1]:
            axes = [int(v) % rank for v in np.asarray(self.graph.constants[node.inputs[1]]).reshape(-1)]
        else:
            axes = [int(v) % rank for v in node.attrs.get("axes", range(rank))]
        return axes, bool(node.attrs.get("keepdims", 1))

    def _reduce(self, node: Node, kind: str, source: int, nhwc: bool, output: int | None = None) -> int:
        axes, keep = self._reduce_axes(node)
        mapped = [_NHWC_AXIS[a] for a in axes] if nhwc else axes
        out_nhwc = nhwc and keep
        if nhwc and not keep:
            remaining = [d for d in _TO_NHWC if d not in axes]
            if remaining != sorted(remaining):
                raise PlatformUnavailable("a reduction whose result changes the axis order is not converted")
        target = output if output is not None else self.out(node, out_nhwc)
        options = self.s.ReducerOptionsT(keepDims=keep)
        self.op(
            kind,
            [source, self.ints(f"{node.outputs[0]}/axes{len(self.tensors)}", mapped)],
            [target],
            options,
            "ReducerOptions",
        )
        return target

    def _reducemean(self, node: Node) -> None:
        x = self.values[node.inputs[0]]
        self._reduce(node, "MEAN", x.tensor, x.nhwc)

    def _reducesum(self, node: Node) -> None:
        x = self.values[node.inputs[0]]
        self._reduce(node, "SUM", x.tensor, x.nhwc)

    def _resize(self, node: Node) -> None:
        x = self.values[node.inputs[0]]
        if not x.nhwc:
            raise PlatformUnavailable("Resize of a value that is not an image-shaped tensor")
        _, _, h, w = self.shape(node.outputs[0])
        options = self.s.ResizeNearestNeighborOptionsT(alignCorners=False, halfPixelCenters=False)
        inputs = [x.tensor, self.ints(f"{node.outputs[0]}/size", [h, w])]
        self.op("RESIZE_NEAREST_NEIGHBOR", inputs, [self.out(node, True)], options, "ResizeNearestNeighborOptions")

    def _globalaveragepool(self, node: Node) -> None:
        x = self.values[node.inputs[0]]
        options = self.s.ReducerOptionsT(keepDims=True)
        output = self.out(node, x.nhwc)
        self.op("MEAN", [x.tensor, self.ints(f"{node.outputs[0]}/axes", [1, 2])], [output], options, "ReducerOptions")

    def _reducel2(self, node: Node) -> None:
        x = self.values[node.inputs[0]]
        name = node.outputs[0]
        squared = self.tensor(f"{name}/squared", self.tensors[x.tensor].shape)
        self.op("MUL", [x.tensor, x.tensor], [squared])
        axes, keep = self._reduce_axes(node)
        summed_shape = self.shape(name) if not x.nhwc or not keep else [self.shape(name)[i] for i in _TO_NHWC]
        summed = self.tensor(f"{name}/sum", summed_shape)
        self._reduce(node, "SUM", squared, x.nhwc, output=summed)
        self.op("SQRT", [summed], [self.out(node, x.nhwc and keep)])

    # --- the model ---------------------------------------------------------------------------
    def finish(self, inputs: list[int], outputs: list[int]) -> bytes:
        codes = []
        for kind in self.opcodes:  # dicts keep insertion order = opcode index
            builtin = getattr(self.s.BuiltinOperator, kind)
            codes.append(
                self.s.OperatorCodeT(
                    deprecatedBuiltinCode=min(builtin, 127), builtinCode=builtin, version=_OP_VERSIONS.get(kind, 1)
                )
            )
        subgraph = self.s.SubGraphT(
            tensors=self.tensors, inputs=inputs, outputs=outputs, operators=self.operators, name="main"
        )
        model = self.s.ModelT(
            version=3, operatorCodes=codes, subgraphs=[subgraph], description="cvstudio", buffers=self.buffers
        )
        builder = flatbuffers.Builder(1 << 20)
        builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
        return bytes(builder.Output())


def _relu_kind(node: Node, graph: Graph) -> str | None:
    if node.op == "Relu":
        return "RELU"
    if node.op != "Clip":
        return None
    low = float(graph.constants[node.inputs[1]]) if len(node.inputs) > 1 and node.inputs[1] else None
    high = float(graph.constants[node.inputs[2]]) if len(node.inputs) > 2 and node.inputs[2] else None
    if low == 0.0 and high == 6.0:
        return "RELU6"
    if low == 0.0 and high is None:
        return "RELU"
    return None


def write_tflite(graph: Graph) -> bytes:
    """The ``.tflite`` bytes of ``graph``: one NHWC BGR float input named ``data``, the graph's outputs."""
    writer = _Writer(graph, _schema())
    n, c, h, w = graph.input_shape
    model_input = writer.tensor("data", [n, h, w, c])
    if c == 3 and not graph.bgr_input:
        rgb = writer.tensor("data/rgb", [n, h, w, c])
        options = writer.s.GatherOptionsT(axis=3, batchDims=0)
        writer.op("GATHER", [model_input, writer.ints("data/bgr_to_rgb", [2, 1, 0])], [rgb], options, "GatherOptions")
        writer.values[graph.input_name] = _Value(rgb, True)
    else:
        writer.values[graph.input_name] = _Value(model_input, True)
    for node in graph.nodes:
        writer.convert(node)
    # 4-D outputs stay NHWC (Custom Vision's TensorFlow layout); the others are as in ONNX.
    outputs = [writer.values[name].tensor for name in graph.output_names]
    return writer.finish([model_input], outputs)
