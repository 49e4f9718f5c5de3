"""A prepared ONNX graph (:mod:`.onnx_graph`) run as a torch module, so coremltools can convert it.

coremltools converts from torch (its ONNX frontend is gone); rather than keep a second copy of
the network code, the exported ONNX graph is replayed node by node with the torch op each ONNX op
names, in the same NCHW layout, and traced.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from shared.exporting.onnx_graph import Graph, Node

__all__ = ["OnnxModule"]


def _ints(value: Any) -> list[int]:
    return [int(v) for v in np.asarray(value).reshape(-1)]


class OnnxModule(nn.Module):
    """The graph's computation; ``forward`` takes the input tensor and returns the outputs in order."""

    def __init__(self, graph: Graph) -> None:
        super().__init__()
        self.graph = graph
        self._names: dict[str, str] = {}
        for index, (name, array) in enumerate(graph.constants.items()):
            buffer_name = f"c{index}"
            self._names[name] = buffer_name
            self.register_buffer(buffer_name, torch.from_numpy(np.array(array, copy=True)))

    def _const(self, name: str) -> Tensor:
        buffer: Tensor = getattr(self, self._names[name])
        return buffer

    def _np(self, name: str) -> np.ndarray:
        return self.graph.constants[name]

    def forward(self, image: Tensor) -> tuple[Tensor, ...]:
        values: dict[str, Tensor] = {self.graph.input_name: image}

        def get(name: str) -> Tensor:
            return values[name] if name in values else self._const(name)

        for node in self.graph.nodes:
            values[node.outputs[0]] = self._run(node, get)
        return tuple(values[name] for name in self.graph.output_names)

    def _run(self, node: Node, get: Callable[[str], Tensor]) -> Tensor:
        op, ins, a = node.op, node.inputs, node.attrs
        x = get(ins[0])
        if op in ("Add", "Sub", "Mul", "Div"):
            y = get(ins[1])
            if op == "Add":
                return x + y
            if op == "Sub":
                return x - y
            return x * y if op == "Mul" else x / y
        if op == "Conv":
            pads = a.get("pads", [0, 0, 0, 0])
            half = len(pads) // 2
            if list(pads[:half]) != list(pads[half:]):
                # asymmetric padding (TF "same"): pad explicitly, then convolve without padding
                x = F.pad(x, [pads[1], pads[3], pads[0], pads[2]])
                pads = [0, 0, 0, 0]
            bias = get(ins[2]) if len(ins) > 2 and ins[2] else None
            return F.conv2d(
                x,
                get(ins[1]),
                bias,
                stride=tuple(a.get("strides", [1, 1])),
                padding=(pads[0], pads[1]),
                dilation=tuple(a.get("dilations", [1, 1])),
                groups=int(a.get("group", 1)),
            )
        if op == "Clip":
            low = float(self._np(ins[1])) if len(ins) > 1 and ins[1] else None
            high = float(self._np(ins[2])) if len(ins) > 2 and ins[2] else None
            if low == 0.0 and high == 6.0:
                return F.relu6(x)
            return torch.clamp(x, min=low, max=high)
        if op == "Relu":
            return F.relu(x)
        if op == "Sigmoid":
            return torch.sigmoid(x)
        if op == "Softmax":
            return torch.softmax(x, dim=int(a.get("axis", -1)))
        if op == "Gemm":
            w = get(ins[1])
            if a.get("transA", 0):
                x = x.t()
            if not a.get("transB", 0):
                w = w.t()
            bias = get(ins[2]) if len(ins) > 2 and ins[2] else None
            return F.linear(
                x * float(a.get("alpha", 1.0)), w, None if bias is None else bias * float(a.get("beta", 1.0))
            )
        if op == "MatMul":
            return torch.matmul(x, get(ins[1]))
        if op == "Slice":
            starts, ends = _ints(self._np(ins[1])), _ints(self._np(ins[2]))
            axes = _ints(self._np(ins[3])) if len(ins) > 3 and ins[3] else list(range(len(starts)))
            steps = _ints(self._np(ins[4])) if len(ins) > 4 and ins[4] else [1] * len(starts)
            shape = self.graph.shapes[ins[0]]
            index: list[slice] = [slice(None)] * len(shape)
            for start, end, axis, step in zip(starts, ends, axes, steps, strict=True):
                size = shape[axis]
                index[axis] = slice(max(min(start, size), -size), max(min(end, size), -size), step)
            return x[tuple(index)]
        if op == "Resize":
            height, width = self.graph.shapes[node.outputs[0]][2:]  # static sizes: no shape arithmetic traced
            return F.interpolate(x, size=(height, width), mode="nearest")
        if op in ("ReduceMean", "ReduceL2", "ReduceSum"):
            listed = _ints(self._np(ins[1])) if len(ins) > 1 and ins[1] else a.get("axes")
            dims = list(range(x.dim())) if listed is None else [int(d) for d in listed]
            keep = bool(a.get("keepdims", 1))
            if op == "ReduceMean":
                return x.mean(dim=dims, keepdim=keep)
            if op == "ReduceSum":
                return x.sum(dim=dims, keepdim=keep)
            return torch.sqrt((x * x).sum(dim=dims, keepdim=keep))
        if op == "GlobalAveragePool":
            return x.mean(dim=[2, 3], keepdim=True)
        if op in ("Unsqueeze", "Squeeze", "Reshape", "Flatten", "Expand"):
            return (
                x.reshape(self.graph.shapes[node.outputs[0]])
                if op != "Expand"
                else x.expand(self.graph.shapes[node.outputs[0]])
            )
        if op == "Concat":
            return torch.cat([get(n) for n in ins], dim=int(a["axis"]))
        if op == "Transpose":
            perm: Sequence[int] = a.get("perm") or list(reversed(range(x.dim())))
            return x.permute(*[int(p) for p in perm])
        if op == "Identity":
            return x
        raise AssertionError(op)  # onnx_graph.prepare refused it already
