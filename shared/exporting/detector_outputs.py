"""The trained detector's graph cut before selection: every candidate box and its class scores.

The stored detector (``shared/vision/training/detection/inference.py``) ends in top-k and greedy
NMS written in dynamic-shape tensor ops (TopK, NonZero, an unrolled suppression loop) that CoreML
and TensorFlow Lite converters cannot rebuild. Those exports carry the network and its box
decoding only: ``boxes`` ``[1, N, 4]`` (left, top, right, bottom, normalised to the input) and
``scores`` ``[1, N, C]`` (each tag's sigmoid probability), the two arrays the Custom Vision
samples' ``NonMaxSuppression(boxes, class_probs)`` takes; the app runs that NMS.
"""

from __future__ import annotations

import onnx
from onnx import helper

from shared.exporting.errors import PlatformUnavailable

__all__ = ["BOXES", "SCORES", "candidate_outputs"]

BOXES = "boxes"
SCORES = "scores"


def candidate_outputs(trained_onnx: bytes) -> bytes:
    """The trained detector with outputs ``boxes`` and ``scores`` in place of its detections."""
    proto = onnx.shape_inference.infer_shapes(onnx.load_from_string(trained_onnx))
    graph = proto.graph
    producers = {out: node for node in graph.node for out in node.output}
    topk = next((n for n in graph.node if n.op_type == "TopK"), None)
    if topk is None:
        raise PlatformUnavailable("the detector's graph has no candidate selection to cut at; retrain to export it")
    # scores.topk <- reshape(-1) <- sigmoid <- logits[0] (Gather of the batch's first image)
    chain: list[onnx.NodeProto] = []
    current = producers.get(topk.input[0])
    while current is not None and current.op_type in ("Reshape", "Flatten", "Sigmoid", "Gather") and len(chain) < 4:
        chain.append(current)
        if current.op_type == "Gather":
            break
        current = producers.get(current.input[0])
    if not chain or chain[-1].op_type != "Gather" or not any(n.op_type == "Sigmoid" for n in chain):
        raise PlatformUnavailable("the detector's graph is not in the form this export cuts; retrain to export it")
    first_image = chain[-1]
    logits, batch_index = first_image.input[0], first_image.input[1]
    after_selection = set(topk.output)  # the NMS reuses Gather and Clip: keep to what precedes it
    for node in graph.node:
        if after_selection.intersection(node.input):
            after_selection.update(node.output)
    box_gathers = [
        n
        for n in graph.node
        if n.op_type == "Gather"
        and n.input[1] == batch_index
        and n.output[0] not in after_selection
        and n is not first_image
        and n.input[0] in producers
        and producers[n.input[0]].op_type == "Clip"
    ]
    if len(box_gathers) != 1:
        raise PlatformUnavailable("the detector's graph is not in the form this export cuts; retrain to export it")
    boxes = box_gathers[0].input[0]

    extracted = onnx.utils.Extractor(proto).extract_model([graph.input[0].name], [boxes, logits])
    extracted.graph.node.append(helper.make_node("Sigmoid", [logits], [SCORES], name="cvexport/scores"))
    extracted.graph.node.append(helper.make_node("Identity", [boxes], [BOXES], name="cvexport/boxes"))
    del extracted.graph.output[:]
    extracted.graph.output.extend(
        [
            helper.make_tensor_value_info(BOXES, onnx.TensorProto.FLOAT, None),
            helper.make_tensor_value_info(SCORES, onnx.TensorProto.FLOAT, None),
        ]
    )
    del extracted.metadata_props[:]
    extracted.metadata_props.extend(proto.metadata_props)
    serialized: bytes = extracted.SerializeToString()
    return serialized
