"""The ONNX model in the layout Custom Vision exports for a domain and flavor (EXPORT.md).

Training stores one model per iteration (``shared.vision.training``): input ``data`` raw RGB
0..255 ``[N, 3, S, S]``; a classifier's one output of probabilities, or a detector's three S1
outputs (``detected_boxes``, ``detected_classes``, ``detected_scores``, NMS inside). An export
starts from it:

    classification       as stored: Microsoft's classification and classification_s1 samples
                         read the first output as one score per label.
    detection, [S1]      as stored: the three named outputs.
    detection, other     one output ``[1, 5*(5+C), G, G]`` in YOLOv2's layout, which Microsoft's
                         object_detection sample decodes (G = S / 32: 10 at 320 px, 13 at 416).
                         A graph appended after the final detections writes each box into the cell
                         of its centre with the best-fitting free anchor of the sample's five,
                         inverting the sample's decoding (see :func:`_grid_graph`).

Flavors: ``OnnxFloat16`` is a real float16 model (:mod:`.float16`). ``ONNX10`` and ``ONNX12``
name older ONNX versions; our graphs are opset 17 (what training writes; onnxruntime runs it since
1.12) and cannot be lowered that far, and the samples do not check the opset, so those flavors
answer the default model, whose metadata (``CustomVision.Opset``) says so. Any other flavor is
refused with Custom Vision's ``BadRequestExportValidationFailed``.

A detector trained on tiles (``Detector.TilePixels``) is exported as Custom Vision's are: one
window, the whole input resized to S. Its tiling metadata stays, with a note
(``Detector.ExportNote``) that large images should be cut into such tiles, as our prediction path
does, for the answers our API gives.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from shared.domain.catalogue import find_domain
from shared.domain.enums import Task
from shared.domain.errors import BadRequest, Code
from shared.exporting.float16 import to_float16

__all__ = ["ANCHORS", "FLAVORS", "GRID_OUTPUT", "GRID_STRIDE", "grid_size", "onnx_for_export"]

# The object_detection sample's anchors (width, height in grid cells); its decoding is fixed to them.
ANCHORS: tuple[tuple[float, float], ...] = ((0.573, 0.677), (1.87, 2.06), (3.34, 5.47), (7.88, 3.53), (9.77, 9.17))
GRID_STRIDE = 32  # input pixels per grid cell: Custom Vision's 13 x 13 at 416 px
GRID_OUTPUT = "model_outputs0"
FLAVORS = ("ONNX10", "ONNX12", "OnnxFloat16")  # besides none: the ONNX platform's flavors

_S1_OUTPUTS = ("detected_boxes", "detected_classes", "detected_scores")
_S1_DOMAIN_SUFFIX = "[S1]"
# Logits stay within +-10 so that the sample's exp() of them fits float16 (max 65504) too.
_EMPTY_OBJECTNESS = -10.0  # sigmoid 4.5e-5: far under the sample's 0.01 cut
_CLASS_LOGIT = 20.0  # the box's class; the others 0, so softmax is 1 - (C-1)*2e-9 (exp(-20) only)
_SCORE_CLIP = 1e-4  # scores kept inside (0, 1) so their logit is finite: +-9.2
_MIN_SIDE = 1e-4  # grid cells: a degenerate box's log-size stays finite
_PREFIX = "cvexport_grid/"
_TILED_NOTE = (
    "One window: the model sees its input resized to CustomVision.InputSize pixels. It was trained on tiles of "
    "Detector.TilePixels pixels: cut larger images into such tiles, overlapping by Detector.TileOverlapPixels, "
    "and run each tile to find what the Prediction API finds."
)


def onnx_for_export(model: bytes, *, task: Task, domain_id: str, flavor: str | None) -> bytes:
    """The stored model ``model`` in the layout Custom Vision gives for ``domain_id`` and ``flavor``.

    Raises ``BadRequest`` (``BadRequestExportValidationFailed``) for a flavor the ONNX platform
    does not have.
    """
    half = _flavor(flavor) == "OnnxFloat16"
    proto = onnx.load_from_string(model)
    if half:
        proto = to_float16(proto)
    if task == Task.DETECTION and not _is_s1(domain_id):
        _append_grid(proto, half=half)
        layout = "YoloGrid"
    else:
        layout = "S1" if task == Task.DETECTION else "Classification"
    opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), 0)
    _set_metadata(proto, {"CustomVision.ExportLayout": layout, "CustomVision.Opset": str(opset)})
    if _metadata(proto).get("Detector.TilePixels"):
        _set_metadata(proto, {"Detector.ExportNote": _TILED_NOTE})
    onnx.checker.check_model(proto)
    exported: bytes = proto.SerializeToString()
    return exported


def grid_size(input_size: int) -> int:
    """Cells per side of the General (compact) output for a model of ``input_size`` pixels."""
    return max(1, round(input_size / GRID_STRIDE))


def _flavor(flavor: str | None) -> str | None:
    if not flavor:
        return None
    match = next((f for f in FLAVORS if f.lower() == flavor.lower()), None)
    if match is None:
        raise BadRequest(
            f"The ONNX platform has no flavor '{flavor}'; use one of {', '.join(FLAVORS)}, or none.",
            Code.BAD_REQUEST_EXPORT_VALIDATION_FAILED,
        )
    return match


def _is_s1(domain_id: str) -> bool:
    domain = find_domain(domain_id)
    return domain is not None and domain.name.endswith(_S1_DOMAIN_SUFFIX)


def _metadata(proto: onnx.ModelProto) -> dict[str, str]:
    return {p.key: p.value for p in proto.metadata_props}


def _set_metadata(proto: onnx.ModelProto, values: dict[str, str]) -> None:
    merged = {**_metadata(proto), **values}
    del proto.metadata_props[:]
    for key, value in merged.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value


def _append_grid(proto: onnx.ModelProto, *, half: bool) -> None:
    """Replace the S1 outputs of ``proto`` by the grid output, float16 if ``half`` (the grid is
    computed in float32 either way: float16 would round the log-sizes and logits it inverts)."""
    outputs = [o.name for o in proto.graph.output]
    if sorted(outputs) != sorted(_S1_OUTPUTS):
        raise ValueError(f"a stored detector has the outputs {', '.join(_S1_OUTPUTS)}, not {outputs}")
    meta = _metadata(proto)
    size = int(meta["CustomVision.InputSize"])
    labels = json.loads(meta["CustomVision.Labels"])
    grid = grid_size(size)
    nodes, initializers = _grid_graph(len(labels), grid, half=half)
    proto.graph.node.extend(nodes)
    proto.graph.initializer.extend(initializers)
    del proto.graph.output[:]
    channels = len(ANCHORS) * (5 + len(labels))
    element = TensorProto.FLOAT16 if half else TensorProto.FLOAT
    proto.graph.output.append(helper.make_tensor_value_info(GRID_OUTPUT, element, [1, channels, grid, grid]))
    _set_metadata(
        proto,
        {
            "CustomVision.GridSize": str(grid),
            "CustomVision.Anchors": json.dumps([list(a) for a in ANCHORS]),
        },
    )


class _Graph:
    """A few helpers for writing ONNX nodes with unique, prefixed names."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []

    def const(self, name: str, value: np.ndarray) -> str:
        full = _PREFIX + name
        self.initializers.append(numpy_helper.from_array(value, full))
        return full

    def op(self, op_type: str, inputs: Sequence[str], name: str, **attrs: Any) -> str:
        return self.ops(op_type, inputs, name, 1, **attrs)[0]

    def ops(self, op_type: str, inputs: Sequence[str], name: str, outputs: int, **attrs: Any) -> list[str]:
        out = [_PREFIX + name + (f":{i}" if i else "") for i in range(outputs)]
        self.nodes.append(helper.make_node(op_type, list(inputs), out, name=_PREFIX + name, **attrs))
        return out


def _grid_graph(num_classes: int, grid: int, *, half: bool) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    """Nodes from the S1 outputs (``[1, K, 4]`` boxes sorted by score, classes, scores) to
    ``GRID_OUTPUT``.

    For box k with centre (cx, cy) and size (w, h), normalised: the cell is
    (floor(cy*G), floor(cx*G)); the anchors are ranked by IoU with (w*G, h*G), and the box takes the
    best-ranked one still free in its cell (five rounds; in each, higher-scored boxes win a slot).
    Its channels are x = cx*G - col, y = cy*G - row, log(w*G / anchor_w), log(h*G / anchor_h),
    objectness logit(score), and class logits 20 for its class and 0 for the others: the sample
    computes exactly these boxes back and softmax * sigmoid(objectness) = the score. A box for
    which all five anchors of its cell are taken is left out; empty slots get objectness -10.
    """
    g = _Graph()
    f32, i64 = np.float32, np.int64
    anchors = np.asarray(ANCHORS, dtype=f32)
    n_anchors = len(ANCHORS)
    depth = 5 + num_classes
    slots = grid * grid * n_anchors

    axis0 = g.const("axis0", np.array([0], dtype=i64))
    found_boxes, found_scores = _S1_OUTPUTS[0], _S1_OUTPUTS[2]
    if half:
        found_boxes = g.op("Cast", [found_boxes], "boxes32", to=TensorProto.FLOAT)
        found_scores = g.op("Cast", [found_scores], "scores32", to=TensorProto.FLOAT)
    boxes = g.op("Squeeze", [found_boxes, axis0], "boxes")  # [K, 4]
    classes = g.op("Squeeze", [_S1_OUTPUTS[1], axis0], "classes")  # [K]
    scores = g.op("Squeeze", [found_scores, axis0], "scores")  # [K]
    cells = g.const("cells", np.array(float(grid), dtype=f32))
    point5 = g.const("half", np.array(0.5, dtype=f32))
    x1, y1, x2, y2 = (
        g.op(
            "Slice",
            [
                boxes,
                g.const(f"s{i}", np.array([i], i64)),
                g.const(f"e{i}", np.array([i + 1], i64)),
                g.const(f"a{i}", np.array([1], i64)),
            ],
            f"corner{i}",
        )
        for i in range(4)
    )  # each [K, 1]
    gx = g.op("Mul", [g.op("Mul", [g.op("Add", [x1, x2], "sx"), point5], "cx"), cells], "gx")
    gy = g.op("Mul", [g.op("Mul", [g.op("Add", [y1, y2], "sy"), point5], "cy"), cells], "gy")
    low = g.const("low", np.array(0.0, dtype=f32))
    high = g.const("high", np.array(float(grid - 1), dtype=f32))
    col = g.op("Clip", [g.op("Floor", [gx], "fx"), low, high], "col")
    row = g.op("Clip", [g.op("Floor", [gy], "fy"), low, high], "row")
    x_off = g.op("Sub", [gx, col], "xoff")
    y_off = g.op("Sub", [gy, row], "yoff")
    min_side = g.const("minside", np.array(_MIN_SIDE, dtype=f32))
    wc = g.op("Max", [g.op("Mul", [g.op("Sub", [x2, x1], "w"), cells], "wg"), min_side], "wc")
    hc = g.op("Max", [g.op("Mul", [g.op("Sub", [y2, y1], "h"), cells], "hg"), min_side], "hc")

    # Anchor fit: IoU of two boxes sharing a centre, [K, 5]; ranked best first.
    aw = g.const("aw", anchors[None, :, 0].copy())
    ah = g.const("ah", anchors[None, :, 1].copy())
    inter = g.op("Mul", [g.op("Min", [wc, aw], "iw"), g.op("Min", [hc, ah], "ih")], "inter")
    areas = g.op(
        "Add", [g.op("Mul", [wc, hc], "area"), g.const("aarea", (anchors[None, :, 0] * anchors[None, :, 1]))], "areas"
    )
    iou = g.op("Div", [inter, g.op("Sub", [areas, inter], "union")], "iou")
    rank = g.ops("TopK", [iou, g.const("five", np.array([n_anchors], i64))], "ranked", 2)[1]  # [K, 5]
    cell = g.op(
        "Cast", [g.op("Add", [g.op("Mul", [row, cells], "rowcells"), col], "cellf")], "cell", to=TensorProto.INT64
    )
    candidates = g.op("Add", [g.op("Mul", [cell, g.const("n_a", np.array(n_anchors, i64))], "base"), rank], "cand")

    # Which box gets which slot: five rounds over the anchor ranks, higher scores first.
    count = g.op("Gather", [g.op("Shape", [scores], "kshape"), g.const("zero", np.array(0, i64))], "k")
    index = g.op("Range", [g.const("r0", np.array(0, i64)), count, g.const("r1", np.array(1, i64))], "index")
    earlier = g.op(
        "Less",
        [
            g.op("Unsqueeze", [index, g.const("ax0", np.array([0], i64))], "icol"),
            g.op("Unsqueeze", [index, g.const("ax1", np.array([1], i64))], "irow"),
        ],
        "earlier",
    )  # [K, K]: j < k
    assigned = g.op("Expand", [g.const("none", np.array(-1, i64)), g.op("Shape", [scores], "kshape2")], "assigned0")
    minus_one = g.const("minus1", np.array(-1, i64))
    axis1 = g.const("axis1", np.array([1], i64))
    for r in range(n_anchors):
        prop = g.op(
            "Squeeze",
            [
                g.op(
                    "Slice",
                    [
                        candidates,
                        g.const(f"rs{r}", np.array([r], i64)),
                        g.const(f"re{r}", np.array([r + 1], i64)),
                        axis1,
                    ],
                    f"propcol{r}",
                ),
                axis1,
            ],
            f"prop{r}",
        )  # [K]
        active = g.op("Equal", [assigned, minus_one], f"active{r}")
        prop_k = g.op("Unsqueeze", [prop, axis1], f"propk{r}")  # [K, 1]
        prop_j = g.op("Unsqueeze", [prop, axis0], f"propj{r}")  # [1, K]
        taken = g.op("Equal", [prop_k, g.op("Unsqueeze", [assigned, axis0], f"assj{r}")], f"taken{r}")
        rival = g.op(
            "And",
            [
                g.op("And", [g.op("Equal", [prop_k, prop_j], f"same{r}"), earlier], f"earlier{r}"),
                g.op("Unsqueeze", [active, axis0], f"activej{r}"),
            ],
            f"rival{r}",
        )
        blocked = g.op(
            "ReduceSum",
            [g.op("Cast", [g.op("Or", [taken, rival], f"block{r}")], f"blockn{r}", to=TensorProto.INT64), axis1],
            f"blocked{r}",
            keepdims=0,
        )
        wins = g.op(
            "And", [active, g.op("Equal", [blocked, g.const(f"z{r}", np.array(0, i64))], f"free{r}")], f"wins{r}"
        )
        assigned = g.op("Where", [wins, prop, assigned], f"assigned{r + 1}")

    placed = g.op("Greater", [assigned, minus_one], "placed")  # [K]
    anchor = g.op(
        "Mod",
        [
            g.op("Max", [assigned, g.const("zero64", np.array(0, i64))], "slot0"),
            g.const("n_a2", np.array(n_anchors, i64)),
        ],
        "anchor",
    )
    anchor_w = g.op("Unsqueeze", [g.op("Gather", [g.const("aw1", anchors[:, 0].copy()), anchor], "awk"), axis1], "awk1")
    anchor_h = g.op("Unsqueeze", [g.op("Gather", [g.const("ah1", anchors[:, 1].copy()), anchor], "ahk"), axis1], "ahk1")
    tw = g.op("Log", [g.op("Div", [wc, anchor_w], "wratio")], "tw")
    th = g.op("Log", [g.op("Div", [hc, anchor_h], "hratio")], "th")
    clipped = g.op(
        "Clip",
        [scores, g.const("slo", np.array(_SCORE_CLIP, f32)), g.const("shi", np.array(1 - _SCORE_CLIP, f32))],
        "sclip",
    )
    logit = g.op(
        "Sub",
        [
            g.op("Log", [clipped], "logs"),
            g.op("Log", [g.op("Sub", [g.const("one", np.array(1.0, f32)), clipped], "onem")], "log1ms"),
        ],
        "logit",
    )
    objectness = g.op("Unsqueeze", [logit, axis1], "obj")
    onehot = g.op(
        "Equal",
        [
            g.op("Unsqueeze", [g.op("Cast", [classes], "cls64", to=TensorProto.INT64), axis1], "clsk"),
            g.const("labels", np.arange(num_classes, dtype=i64)[None, :]),
        ],
        "onehot",
    )
    class_logits = g.op(
        "Mul",
        [g.op("Cast", [onehot], "onehotf", to=TensorProto.FLOAT), g.const("cl", np.array(_CLASS_LOGIT, f32))],
        "clslogits",
    )
    values = g.op("Concat", [x_off, y_off, tw, th, objectness, class_logits], "values", axis=1)  # [K, depth]

    empty = np.zeros((slots, depth), dtype=f32)
    empty[:, 0:2] = 0.5
    empty[:, 4] = _EMPTY_OBJECTNESS
    written = g.op(
        "ScatterND",
        [
            g.const("empty", empty),
            g.op("Unsqueeze", [g.op("Compress", [assigned, placed], "slots", axis=0), axis1], "slotidx"),
            g.op("Compress", [values, placed], "placedvalues", axis=0),
        ],
        "written",
    )  # [G*G*5, depth], slot = (row*G + col)*5 + anchor
    cube = g.op("Reshape", [written, g.const("hwc", np.array([grid, grid, n_anchors * depth], i64))], "cube")
    chw = g.op("Transpose", [cube], "chw", perm=[2, 0, 1])
    if half:
        chw = g.op("Cast", [chw], "chw16", to=TensorProto.FLOAT16)
    g.nodes.append(helper.make_node("Unsqueeze", [chw, axis0], [GRID_OUTPUT], name=_PREFIX + "output"))
    return g.nodes, g.initializers
