"""The General (compact) grid writer and the flavors of :func:`onnx_for_export`, on synthetic
detections: a stand-in "detector" whose S1 outputs are its inputs, so each case chooses the final
detections exactly, and Microsoft's object_detection sample decodes what the export writes."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from shared.domain.enums import Task
from shared.domain.errors import BadRequest, Code
from shared.exporting.onnx_layouts import ANCHORS, onnx_for_export
from tests import export_samples

GENERAL_COMPACT = "a27d5ca5-bb19-49d8-a70a-fec086c47f5b"
GENERAL_COMPACT_S1 = "7ec2ac80-887b-48a6-8df9-8b1357765430"
LABELS = ["fork", "scissors", "spoon"]
DEPTH = 5 + len(LABELS)
S1 = ("detected_boxes", "detected_classes", "detected_scores")


def stand_in(size: int = 320, extra: dict[str, str] | None = None) -> bytes:
    """A model that answers its inputs ``b``, ``c``, ``s`` as the three S1 outputs."""
    inputs = [
        helper.make_tensor_value_info("b", TensorProto.FLOAT, [1, "k", 4]),
        helper.make_tensor_value_info("c", TensorProto.INT64, [1, "k"]),
        helper.make_tensor_value_info("s", TensorProto.FLOAT, [1, "k"]),
    ]
    types = (TensorProto.FLOAT, TensorProto.INT64, TensorProto.FLOAT)
    shapes = ([1, "k", 4], [1, "k"], [1, "k"])
    outputs = [helper.make_tensor_value_info(n, t, d) for n, t, d in zip(S1, types, shapes, strict=True)]
    nodes = [helper.make_node("Identity", [i], [o]) for i, o in zip("bcs", S1, strict=True)]
    model = helper.make_model(
        helper.make_graph(nodes, "stand-in", inputs, outputs), opset_imports=[helper.make_opsetid("", 17)]
    )
    model.ir_version = 8
    metadata = {
        "CustomVision.InputSize": str(size),
        "CustomVision.Labels": json.dumps(LABELS),
        "CustomVision.Task": "detection",
        **(extra or {}),
    }
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    return model.SerializeToString()


def grid_of(
    boxes: np.ndarray, classes: np.ndarray, scores: np.ndarray, *, size: int = 320, flavor: str | None = None
) -> np.ndarray:
    exported = onnx_for_export(stand_in(size), task=Task.DETECTION, domain_id=GENERAL_COMPACT, flavor=flavor)
    session = ort.InferenceSession(exported)
    dtype = np.float16 if flavor == "OnnxFloat16" else np.float32
    feed = {"b": boxes[None].astype(dtype), "c": classes[None].astype(np.int64), "s": scores[None].astype(dtype)}
    (out,) = session.run(None, feed)
    return np.asarray(out)


def sample_slots(grid: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every slot the sample would keep (score over its 0.01 cut), decoded by the sample's own
    post-processing with its NMS replaced by the identity."""
    model = export_samples.Model.__new__(export_samples.Model)
    model.nms = lambda boxes, probs: (boxes, probs.argmax(1), probs.max(1))
    found = model._postprocess(grid, export_samples.Model.ANCHORS)
    boxes, classes, scores = (found[k][0] for k in S1)
    keep = scores > export_samples.PROB_THRESHOLD
    return boxes[keep], classes[keep], scores[keep]


def box(cx: float, cy: float, w: float, h: float) -> list[float]:
    return [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]


def test_every_box_comes_back_from_the_sample_exactly() -> None:
    rng = np.random.default_rng(7)
    centres, sizes = rng.uniform(0.05, 0.95, (60, 2)), rng.uniform(0.02, 0.6, (60, 2))
    boxes = np.concatenate([centres - sizes / 2, centres + sizes / 2], 1).astype(np.float32)
    scores = np.sort(rng.uniform(0.02, 0.999, 60))[::-1].astype(np.float32)
    classes = rng.integers(0, len(LABELS), 60)
    grid = grid_of(boxes, classes, scores)
    assert grid.shape == (1, 5 * DEPTH, 10, 10)  # 320 px / 32
    got_boxes, got_classes, got_scores = sample_slots(grid)
    assert len(got_boxes) == 60
    for b, c, s in zip(boxes, classes, scores, strict=True):
        i = int(np.abs(got_boxes - b).max(1).argmin())
        np.testing.assert_allclose(got_boxes[i], b, atol=1e-5)
        assert (got_classes[i], got_scores[i]) == (c, pytest.approx(s, abs=1e-5))


def test_the_sample_with_its_nms_finds_what_its_nms_keeps_of_the_detections() -> None:
    boxes = np.array([box(0.3, 0.3, 0.2, 0.2), box(0.31, 0.3, 0.2, 0.2), box(0.7, 0.6, 0.3, 0.1)], np.float32)
    grid = grid_of(boxes, np.array([0, 1, 2]), np.array([0.9, 0.8, 0.5], np.float32))
    model = export_samples.Model.__new__(export_samples.Model)
    model.nms = export_samples.NonMaxSuppression(64, 0.01, 0.45)
    found = model._postprocess(grid, export_samples.Model.ANCHORS)
    # The second box overlaps the first (IoU 0.9): the sample's class-blind NMS drops it.
    np.testing.assert_allclose(found["detected_boxes"][0], boxes[[0, 2]], atol=1e-5)
    assert found["detected_classes"][0].tolist() == [0, 2]
    np.testing.assert_allclose(found["detected_scores"][0], [0.9, 0.5], atol=1e-5)


@pytest.mark.parametrize("anchor", range(len(ANCHORS)))
def test_a_box_takes_the_anchor_of_its_shape_in_the_cell_of_its_centre(anchor: int) -> None:
    w, h = (side / 10 for side in ANCHORS[anchor])  # the anchor's own size on a 10-cell grid
    grid = grid_of(np.array([box(0.55, 0.25, w, h)], np.float32), np.array([1]), np.array([0.7], np.float32))[0]
    objectness = grid[4::DEPTH]  # [5, rows, cols]
    assert np.argwhere(objectness > -10).tolist() == [[anchor, 2, 5]]
    x, y, tw, th = grid[anchor * DEPTH : anchor * DEPTH + 4, 2, 5]
    assert (x, y, tw, th) == pytest.approx((0.5, 0.5, 0.0, 0.0), abs=1e-5)


def test_colliding_boxes_take_the_next_best_anchor_and_the_sixth_is_left_out() -> None:
    boxes = np.array([box(0.55, 0.55, 0.1 + 0.01 * i, 0.1) for i in range(6)], np.float32)  # about 1 x 1 cell
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4], np.float32)
    grid = grid_of(boxes, np.zeros(6, np.int64), scores)[0]
    objectness = grid[4::DEPTH, 5, 5]
    assert (objectness > -10).all()  # all five anchors of cell (5, 5) hold a box
    # The best scored box keeps the anchor that fits its 1 x 1 cells best: (0.573, 0.677), IoU 0.39.
    assert 1 / (1 + np.exp(-objectness[0])) == pytest.approx(0.9, abs=1e-5)
    got_boxes, _, got_scores = sample_slots(grid[None])
    assert sorted(got_scores) == pytest.approx([0.5, 0.6, 0.7, 0.8, 0.9], abs=1e-5)
    assert not np.isclose(got_boxes, boxes[5], atol=1e-5).all(1).any()


def test_no_detections_give_a_grid_the_sample_finds_nothing_in() -> None:
    grid = grid_of(np.zeros((0, 4), np.float32), np.zeros(0, np.int64), np.zeros(0, np.float32), size=416)
    assert grid.shape == (1, 5 * DEPTH, 13, 13)  # Custom Vision's 13 x 13 at 416 px
    assert len(sample_slots(grid)[0]) == 0


def test_float16_grid_is_float16_and_decodes_the_same_boxes() -> None:
    exported = onnx_for_export(stand_in(), task=Task.DETECTION, domain_id=GENERAL_COMPACT, flavor="onnxfloat16")
    session = ort.InferenceSession(exported)
    assert [i.type for i in session.get_inputs()] == ["tensor(float16)", "tensor(int64)", "tensor(float16)"]
    assert [o.type for o in session.get_outputs()] == ["tensor(float16)"]
    boxes = np.array([box(0.2, 0.7, 0.3, 0.4), box(0.8, 0.1, 0.05, 0.1)], np.float32)
    grid = grid_of(boxes, np.array([2, 0]), np.array([0.95, 0.3], np.float32), flavor="OnnxFloat16")
    assert grid.dtype == np.float16
    got_boxes, got_classes, got_scores = sample_slots(grid)
    order = np.argsort(-got_scores)
    np.testing.assert_allclose(got_boxes[order], boxes, atol=2e-3)
    assert got_classes[order].tolist() == [2, 0]
    np.testing.assert_allclose(got_scores[order], [0.95, 0.3], atol=2e-3)


def test_s1_and_tiled_models_keep_their_outputs_and_metadata() -> None:
    tiled = stand_in(extra={"Detector.TilePixels": "640", "Detector.TileOverlapPixels": "64"})
    for domain, outputs in ((GENERAL_COMPACT_S1, list(S1)), (GENERAL_COMPACT, ["model_outputs0"])):
        model = onnx.load_from_string(onnx_for_export(tiled, task=Task.DETECTION, domain_id=domain, flavor=None))
        assert [o.name for o in model.graph.output] == outputs
        metadata = {p.key: p.value for p in model.metadata_props}
        assert metadata["Detector.TilePixels"] == "640"
        assert "cut larger images into such tiles" in metadata["Detector.ExportNote"]
        assert metadata["CustomVision.Opset"] == "17"


@pytest.mark.parametrize("flavor", ["ONNX10", "onnx12"])
def test_opset_flavors_answer_the_opset_17_model(flavor: str) -> None:
    plain = onnx_for_export(stand_in(), task=Task.DETECTION, domain_id=GENERAL_COMPACT, flavor=None)
    assert onnx_for_export(stand_in(), task=Task.DETECTION, domain_id=GENERAL_COMPACT, flavor=flavor) == plain


@pytest.mark.parametrize("flavor", ["Linux", "TensorFlowLite", "float16"])
def test_other_flavors_are_refused_in_custom_visions_words(flavor: str) -> None:
    with pytest.raises(BadRequest) as refused:
        onnx_for_export(stand_in(), task=Task.DETECTION, domain_id=GENERAL_COMPACT, flavor=flavor)
    assert refused.value.code == Code.BAD_REQUEST_EXPORT_VALIDATION_FAILED
    assert flavor in str(refused.value)
