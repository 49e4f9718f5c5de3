"""The ``OnnxFloat16`` flavor: a float32 ONNX model rewritten as a real float16 one.

Input, weights and outputs become ``tensor(float16)`` (onnxconverter-common's converter); the ops
that have no float16 kernel in onnxruntime or lose too much in half precision (its default block
list: NonMaxSuppression, TopK, Resize, Range, Min, Max, ...) stay float32 inside, between casts.

The converter re-sorts the graph with a quadratic search (9 s for a detector's 6,700 nodes, most
of them its unrolled NMS); :func:`_sort_topology` does the same job in linear time, with the same
result (a topological order that keeps the original order among ready nodes).
"""

from __future__ import annotations

import heapq
import warnings

import onnx
from onnxconverter_common import float16 as _converter  # type: ignore[import-untyped]

__all__ = ["to_float16"]


def _sort_topology(graph: onnx.GraphProto) -> None:
    """Order ``graph``'s nodes (and its subgraphs') so that each comes after its inputs' producers."""
    nodes = list(graph.node)
    producer = {name: i for i, node in enumerate(nodes) for name in node.output if name}
    consumers: list[list[int]] = [[] for _ in nodes]
    pending = [0] * len(nodes)
    for i, node in enumerate(nodes):
        for source in {producer[name] for name in node.input if name in producer} - {i}:
            consumers[source].append(i)
            pending[i] += 1
    ready = [i for i, count in enumerate(pending) if count == 0]
    heapq.heapify(ready)
    order: list[int] = []
    while ready:
        i = heapq.heappop(ready)
        order.append(i)
        for j in consumers[i]:
            pending[j] -= 1
            if pending[j] == 0:
                heapq.heappush(ready, j)
    order += [i for i in range(len(nodes)) if pending[i] > 0]  # a cycle: left as it was (none in ours)
    del graph.node[:]
    graph.node.extend(nodes[i] for i in order)
    for node in graph.node:
        for attribute in node.attribute:
            for sub in (attribute.g, *attribute.graphs) if attribute.HasField("g") else attribute.graphs:
                _sort_topology(sub)


_converter.sort_topology = _sort_topology


def to_float16(model: onnx.ModelProto) -> onnx.ModelProto:
    """``model`` with float16 input, weights and outputs."""
    with warnings.catch_warnings():
        # It warns for each weight under float16's range it rounds up to min_positive_val: expected.
        warnings.filterwarnings("ignore", message="the float32 number", category=UserWarning)
        converted: onnx.ModelProto = _converter.convert_float_to_float16(
            model,
            keep_io_types=False,
            op_block_list=_converter.DEFAULT_OP_BLOCK_LIST,
            min_positive_val=1e-7,
            max_finite_val=1e4,
        )
    return converted
