"""The object detector: box ops against hand-computed cases, a short real fit on synthetic
rectangles, prediction format, reproducibility, and the ONNX export against ``predict``."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from shared.vision.preprocess import preprocess
from shared.vision.tiling import windows
from shared.vision.training.dataset import Box, TrainImage
from shared.vision.training.detection import detector as detector_module
from shared.vision.training.detection.box_ops import (
    aligned_giou,
    aligned_iou,
    box_area,
    box_iou,
    generalized_box_iou,
    nms_keep,
)
from shared.vision.training.detection.detector import Detector, DetectorConfig
from shared.vision.training.detection.inference import EXPORT_MAX_DETECTIONS

SIZE = 128  # input size for the tests (the recipes use 320 / 448)
COLOURS = ((230, 40, 40), (40, 80, 230))  # class 0 red, class 1 blue


# -- box ops ------------------------------------------------------------------------------------


def t(rows: list[list[float]]) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float32)


def test_area_and_iou_hand_computed() -> None:
    a = t([[0, 0, 2, 2], [1, 1, 3, 3]])
    b = t([[1, 1, 3, 3], [4, 4, 5, 5], [0, 0, 1, 1]])
    assert box_area(a).tolist() == [4.0, 4.0]
    # [0,0,2,2] vs [1,1,3,3]: inter 1, union 7
    expected = [[1 / 7, 0.0, 1 / 4], [1.0, 0.0, 0.0]]
    assert box_iou(a, b).numpy() == pytest.approx(np.array(expected), abs=1e-6)
    assert aligned_iou(a, b[:2]).numpy() == pytest.approx(np.array([1 / 7, 0.0]), abs=1e-6)


def test_giou_hand_computed() -> None:
    a = t([[0, 0, 2, 2]])
    b = t([[1, 1, 3, 3], [3, 0, 4, 2], [0, 0, 2, 2]])
    # with [1,1,3,3]: iou 1/7, hull 9, union 7 -> 1/7 - 2/9
    # with [3,0,4,2]: iou 0, hull 8 (0..4 x 0..2), union 6 -> -2/8
    expected = [1 / 7 - 2 / 9, -0.25, 1.0]
    assert generalized_box_iou(a, b)[0].numpy() == pytest.approx(np.array(expected), abs=1e-6)
    assert aligned_giou(a.expand(3, 4), b).numpy() == pytest.approx(np.array(expected), abs=1e-6)
    # far apart: tends to -1
    far = aligned_giou(t([[0, 0, 1, 1]]), t([[99, 99, 100, 100]]))
    assert float(far[0]) == pytest.approx(-1.0, abs=1e-3)


def test_nms_is_greedy_and_class_aware() -> None:
    boxes = t(
        [
            [0, 0, 10, 10],  # 0 kept
            [1, 0, 11, 10],  # 1 IoU 9/11 with 0 -> dropped
            [2, 0, 12, 10],  # 2 IoU 8/12 with 0 (> .6): dropped by 0 even though 1 is gone
            [9, 0, 19, 10],  # 3 IoU 1/19 with 0: kept
            [0, 0, 10, 10],  # 4 same box as 0 but another class: kept
            [30, 30, 40, 40],  # 5 alone: kept
        ]
    )
    classes = torch.tensor([0, 0, 0, 0, 1, 0])
    keep = nms_keep(boxes, classes, 0.6)
    assert keep.tolist() == [True, False, False, True, True, True]
    # a chain: 1 is suppressed by 0, so 2 (which only overlaps 1) survives
    chain = t([[0, 0, 10, 10], [4, 0, 14, 10], [8, 0, 18, 10]])
    assert nms_keep(chain, torch.zeros(3, dtype=torch.long), 0.4).tolist() == [True, False, True]
    # the threshold is strict: IoU exactly .5 is not suppressed at .5
    half = t([[0, 0, 3, 1], [1, 0, 4, 1]])
    assert nms_keep(half, torch.zeros(2, dtype=torch.long), 0.5).tolist() == [True, True]


def test_nms_in_onnx_matches_eager(tmp_path: Path) -> None:
    import onnxruntime as ort

    class Keep(torch.nn.Module):
        def forward(self, boxes: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
            return nms_keep(boxes, classes, 0.5)

    def random_case(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        g = torch.Generator().manual_seed(seed)
        xy = torch.rand(60, 2, generator=g) * 50
        boxes = torch.cat([xy, xy + 5 + torch.rand(60, 2, generator=g) * 20], 1)
        return boxes, torch.randint(0, 3, (60,), generator=g)

    path = tmp_path / "nms.onnx"
    torch.onnx.export(Keep(), random_case(0), str(path), opset_version=17, dynamo=False)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for seed in (1, 2, 3):  # not the tracing inputs: the graph must compute, not replay
        boxes, classes = random_case(seed)
        eager = nms_keep(boxes, classes, 0.5).numpy()
        (onnx_keep,) = session.run(
            None, {session.get_inputs()[0].name: boxes.numpy(), session.get_inputs()[1].name: classes.numpy()}
        )
        assert 10 < eager.sum() < 60
        np.testing.assert_array_equal(onnx_keep, eager)


# -- a tiny synthetic detection problem ---------------------------------------------------------


def synthetic(n: int, seed: int) -> list[tuple[Image.Image, tuple[Box, ...]]]:
    """Noise images with one to three filled rectangles; the colour gives the class."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        w, h = int(rng.integers(140, 220)), int(rng.integers(120, 200))
        pixels = rng.integers(60, 180, size=(h, w, 3), dtype=np.uint8)
        boxes: list[Box] = []
        for _ in range(int(rng.integers(1, 4))):
            label = int(rng.integers(0, 2))
            bw, bh = int(rng.integers(w // 6, w // 2.5)), int(rng.integers(h // 6, h // 2.5))
            x0, y0 = int(rng.integers(0, w - bw)), int(rng.integers(0, h - bh))
            pixels[y0 : y0 + bh, x0 : x0 + bw] = COLOURS[label]
            boxes.append((label, x0 / w, y0 / h, bw / w, bh / h))
        out.append((Image.fromarray(pixels), tuple(boxes)))
    return out


def as_train(data: list[tuple[Image.Image, tuple[Box, ...]]]) -> list[TrainImage]:
    def loader(img: Image.Image) -> Callable[[], Image.Image]:
        return lambda: img.copy()

    return [TrainImage(key=str(i), load=loader(img), boxes=boxes) for i, (img, boxes) in enumerate(data)]


def iou_1d(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    ax2, ay2, bx2, by2 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    iw = max(0.0, min(ax2, bx2) - max(a[0], b[0]))
    ih = max(0.0, min(ay2, by2) - max(a[1], b[1]))
    inter = iw * ih
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def average_precision(
    truth: list[tuple[Box, ...]], predictions: list[np.ndarray], num_classes: int, iou: float = 0.5
) -> float:
    """VOC-style all-point AP at one IoU, greedy matching by descending score, mean over classes."""
    aps = []
    for c in range(num_classes):
        dets = [(float(r[1]), i, tuple(r[2:].tolist())) for i, p in enumerate(predictions) for r in p if r[0] == c]
        dets.sort(key=lambda d: -d[0])
        gts = {i: [b[1:] for b in boxes if b[0] == c] for i, boxes in enumerate(truth)}
        n_gt = sum(len(v) for v in gts.values())
        used = {i: [False] * len(v) for i, v in gts.items()}
        tp = []
        for _, i, box in dets:
            best, arg = 0.0, -1
            for j, g in enumerate(gts[i]):
                o = iou_1d(box, g)
                if o > best:
                    best, arg = o, j
            hit = best >= iou and not used[i][arg]
            if hit:
                used[i][arg] = True
            tp.append(hit)
        hits = np.cumsum(tp)
        recall = hits / max(n_gt, 1)
        precision = hits / np.arange(1, len(tp) + 1)
        envelope = np.maximum.accumulate(precision[::-1])[::-1] if len(tp) else np.zeros(0)
        steps = np.diff(np.concatenate([[0.0], recall]))
        aps.append(float((steps * envelope).sum()))
    return float(np.mean(aps))


@pytest.fixture(scope="module")
def trained() -> tuple[Detector, list[tuple[Image.Image, tuple[Box, ...]]]]:
    det = Detector(DetectorConfig(num_classes=2, seed=1, input_size=SIZE, steps=70, threads=2))
    stages: list[tuple[str, float]] = []
    det.fit(as_train(synthetic(24, seed=0)), progress=lambda s, f: stages.append((s, f)))
    assert ("train", 1.0) in stages
    assert all(0.0 <= f <= 1.0 for _, f in stages)
    return det, synthetic(8, seed=99)


def test_learns_to_detect_rectangles(trained: tuple[Detector, list[tuple[Image.Image, tuple[Box, ...]]]]) -> None:
    det, held_out = trained
    preds = det.predict([img for img, _ in held_out])
    ap = average_precision([boxes for _, boxes in held_out], preds, 2)
    assert ap >= 0.7, ap


def test_predict_format(trained: tuple[Detector, list[tuple[Image.Image, tuple[Box, ...]]]]) -> None:
    det, held_out = trained
    preds = det.predict([img for img, _ in held_out[:3]], max_detections=25)
    assert len(preds) == 3
    for p in preds:
        assert p.dtype == np.float32 and p.ndim == 2 and p.shape[1] == 6
        assert 0 < p.shape[0] <= 25  # unthresholded: low scores are kept too
        assert set(np.unique(p[:, 0]).tolist()) <= {0.0, 1.0}
        assert np.all(np.diff(p[:, 1]) <= 0), "sorted by descending score"
        assert np.all((p[:, 1] >= 0) & (p[:, 1] <= 1))
        left, top, width, height = p[:, 2], p[:, 3], p[:, 4], p[:, 5]
        assert np.all((left >= 0) & (top >= 0) & (width >= 0) & (height >= 0))
        assert np.all((left + width <= 1 + 1e-6) & (top + height <= 1 + 1e-6))
    assert det.predict([]) == []


def test_same_seed_same_model() -> None:
    data = as_train(synthetic(6, seed=3))
    probe = synthetic(2, seed=4)

    def run(seed: int) -> list[np.ndarray]:
        det = Detector(DetectorConfig(num_classes=2, seed=seed, input_size=96, steps=3, threads=2))
        det.fit(data)
        return det.predict([img for img, _ in probe], max_detections=20)

    first, again, other = run(7), run(7), run(8)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    assert any(a.shape != b.shape or not np.array_equal(a, b) for a, b in zip(first, other, strict=True))


def test_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        Detector(DetectorConfig(num_classes=0))
    with pytest.raises(ValueError):
        Detector(DetectorConfig(num_classes=1, input_size=100))
    det = Detector(DetectorConfig(num_classes=1, input_size=64, steps=1))
    with pytest.raises(RuntimeError):
        det.predict([Image.new("RGB", (32, 32))])
    with pytest.raises(ValueError):
        det.fit([])
    bad = as_train(synthetic(1, seed=5))  # labels 0/1 but only one class
    with pytest.raises(ValueError):
        det.fit([TrainImage(key="x", load=bad[0].load, boxes=((1, 0.1, 0.1, 0.2, 0.2),))])


def test_budget_is_respected() -> None:
    import time

    det = Detector(DetectorConfig(num_classes=2, input_size=96, budget_seconds=6.0, threads=2))
    started = time.monotonic()
    det.fit(as_train(synthetic(8, seed=6)))
    assert time.monotonic() - started < 6.0
    assert len(det.predict([synthetic(1, seed=7)[0][0]])) == 1


def test_tile_windows_cover_and_own_each_pixel_once() -> None:
    assert windows(300, 400, 50) == [(0, -np.inf, np.inf)]
    for length, tile, overlap in ((1000, 256, 40), (2472, 467, 96), (257, 256, 32)):
        wins = windows(length, tile, overlap)
        starts = [s for s, _, _ in wins]
        assert starts[0] == 0 and starts[-1] == length - tile
        assert all(b - a <= tile - overlap for a, b in zip(starts, starts[1:], strict=False))
        for s, low, high in wins:  # an object up to `overlap` wide owned by a window lies inside it
            assert low == -np.inf or low - overlap / 2 >= s
            assert high == np.inf or high + overlap / 2 <= s + tile
        assert [w[2] for w in wins[:-1]] == [w[1] for w in wins[1:]]


@pytest.mark.parametrize(("side", "tiled"), [(40, True), (64, False)])
def test_objects_that_resizing_makes_small_are_trained_in_enlarging_tiles(side: int, tiled: bool) -> None:
    """At input 128, a 256 px image's 40 px objects would come out 20 px: tiles enlarge them to
    about 36 px; 64 px objects (32 px once resized) are big enough for whole images."""
    rng = np.random.default_rng(5)
    pixels = rng.integers(60, 180, size=(256, 256, 3), dtype=np.uint8)
    boxes: list[Box] = []
    for k, (x0, y0) in enumerate(((10, 10), (150, 20), (30, 150), (160, 170))):
        pixels[y0 : y0 + side, x0 : x0 + side] = COLOURS[k % 2]
        boxes.append((k % 2, x0 / 256, y0 / 256, side / 256, side / 256))
    image = Image.fromarray(pixels)
    det = Detector(DetectorConfig(num_classes=2, input_size=SIZE, steps=1, threads=2))
    det.fit([TrainImage(key="img", load=image.copy, boxes=tuple(boxes))])
    if tiled:
        assert det.plan.tile is not None and side * SIZE / det.plan.tile >= 28
    else:
        assert det.plan.tile is None


def test_large_images_with_small_objects_are_tiled(tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    pixels = rng.integers(60, 180, size=(500, 600, 3), dtype=np.uint8)
    boxes: list[Box] = []
    for k in range(30):
        x0, y0 = int(rng.integers(0, 588)), int(rng.integers(0, 488))
        pixels[y0 : y0 + 12, x0 : x0 + 12] = COLOURS[k % 2]
        boxes.append((k % 2, x0 / 600, y0 / 500, 12 / 600, 12 / 500))
    image = Image.fromarray(pixels)
    det = Detector(DetectorConfig(num_classes=2, input_size=SIZE, steps=2, threads=2))
    det.fit([TrainImage(key="big", load=image.copy, boxes=tuple(boxes))])
    assert det.plan.tile is not None and det.plan.tile < SIZE  # small objects are enlarged
    (pred,) = det.predict([image], max_detections=300)
    assert pred.shape[1] == 6 and 0 < pred.shape[0] <= 300
    assert np.all(np.diff(pred[:, 1]) <= 0)
    assert np.all((pred[:, 2:4] >= 0) & (pred[:, 2:4] + pred[:, 4:6] <= 1 + 1e-6))
    path = tmp_path / "tiled.onnx"
    det.export_onnx(path, ["red", "blue"])
    import onnx

    meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert meta["Detector.TilePixels"] == str(det.plan.tile)
    assert int(meta["Detector.TileOverlapPixels"]) > 0


# -- ONNX ---------------------------------------------------------------------------------------


def test_onnx_export_matches_predict(
    trained: tuple[Detector, list[tuple[Image.Image, tuple[Box, ...]]]], tmp_path: Path
) -> None:
    import onnx
    import onnxruntime as ort

    det, held_out = trained
    path = tmp_path / "model.onnx"
    det.export_onnx(path, ["red", "blue"])

    proto = onnx.load(str(path))
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["Image.BitmapPixelFormat"] == "Rgb8"
    assert meta["Image.NominalPixelRange"] == "NominalRange_0_255"
    assert json.loads(meta["CustomVision.Labels"]) == ["red", "blue"]
    assert meta["CustomVision.Task"] == "detection"
    assert meta["CustomVision.InputSize"] == str(SIZE)
    assert proto.opset_import[0].version == 17

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (inp,) = session.get_inputs()
    assert inp.name == "data" and inp.shape == [1, 3, SIZE, SIZE]
    assert [o.name for o in session.get_outputs()] == ["detected_boxes", "detected_classes", "detected_scores"]

    for img, _ in held_out[:3]:
        boxes, classes, scores = session.run(None, {"data": preprocess(img, SIZE)[None]})
        assert boxes.shape[0] == 1 and boxes.shape[2] == 4 and classes.dtype == np.int64
        assert scores.dtype == np.float32 and classes.shape == scores.shape == boxes.shape[:2]
        (expected,) = det.predict([img], max_detections=EXPORT_MAX_DETECTIONS)
        assert boxes.shape[1] == expected.shape[0]
        np.testing.assert_allclose(scores[0], expected[:, 1], atol=1e-4)
        np.testing.assert_array_equal(classes[0], expected[:, 0].astype(np.int64))
        xywh = np.concatenate([boxes[0][:, :2], boxes[0][:, 2:] - boxes[0][:, :2]], 1)
        np.testing.assert_allclose(xywh, expected[:, 2:], atol=1e-4)


def test_export_needs_one_label_per_class(
    trained: tuple[Detector, list[tuple[Image.Image, tuple[Box, ...]]]], tmp_path: Path
) -> None:
    det, _ = trained
    with pytest.raises(ValueError):
        det.export_onnx(tmp_path / "m.onnx", ["only one"])


def test_public_names() -> None:
    assert set(detector_module.__all__) == {"Detector", "DetectorConfig"}
