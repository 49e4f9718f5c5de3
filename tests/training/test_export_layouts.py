"""Exported ONNX models in Custom Vision's layouts, decoded exactly as Microsoft's export samples
decode them (tests/export_samples.py), answer what the product's Prediction API answers on the
same held-out image: the classifier in both classification samples, the detector in the [S1]
sample (three outputs) and in the General (compact) one (one YOLOv2-style grid), and the
``OnnxFloat16`` flavor as a real float16 model that agrees with the float32 one."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from azure.cognitiveservices.vision.customvision.prediction import CustomVisionPredictionClient

from shared.domain.enums import Task
from shared.exporting.onnx_layouts import onnx_for_export
from shared.services.artifact_keys import model_key
from tests import export_samples
from tests.servers import RunningServer
from tests.training.conftest import Trained, held_out_detection_images

SAMPLES = Path(__file__).parents[1] / "fixtures" / "custom-vision-samples"
CLASSIFICATION_DOMAINS = {
    "General (compact)": "0732100f-1a38-4e49-a514-c9b44c697ab5",
    "General (compact) [S1]": "a1db07ca-a19a-4830-bae8-e004a42dc863",
}
DETECTION_COMPACT = "a27d5ca5-bb19-49d8-a70a-fec086c47f5b"
DETECTION_S1 = "7ec2ac80-887b-48a6-8df9-8b1357765430"
S1 = ("detected_boxes", "detected_classes", "detected_scores")


def stored_model(server: RunningServer, model: Trained) -> bytes:
    """The model.onnx training stored for ``model``'s iteration (the local blob store's file)."""
    return (server.data_dir / "blobs" / model_key(model.project_id, model.first.id)).read_bytes()


def labels_of(path: Path) -> list[str]:
    metadata = {p.key: p.value for p in onnx.load(path).metadata_props}
    labels: list[str] = json.loads(metadata["CustomVision.Labels"])
    return labels


def write_export(
    tmp_path: Path, model: bytes, task: Task, domain_id: str, flavor: str | None = None, name: str = "model"
) -> Path:
    path = tmp_path / f"{name}.onnx"
    path.write_bytes(onnx_for_export(model, task=task, domain_id=domain_id, flavor=flavor))
    return path


def api_detections(
    predictor: CustomVisionPredictionClient, detector: Trained, image: Path, labels: list[str]
) -> np.ndarray:
    """The Prediction API's boxes for ``image``: rows (label index, score, x1, y1, x2, y2)."""
    found = predictor.detect_image_with_no_store(detector.project_id, detector.publish_name, image.read_bytes())
    return np.array(
        [
            [labels.index(p.tag_name), p.probability, b.left, b.top, b.left + b.width, b.top + b.height]
            for p in found.predictions
            for b in [p.bounding_box]
        ]
    )


def assert_same_detections(got: dict[str, np.ndarray], rows: np.ndarray, *, atol: float) -> None:
    """``got`` (a sample's outputs) holds exactly the detections ``rows``, in the same order."""
    boxes, classes, scores = (np.asarray(got[k][0]) for k in S1)
    assert len(scores) == len(rows) > 0
    assert classes.tolist() == rows[:, 0].astype(int).tolist()
    np.testing.assert_allclose(scores, rows[:, 1], atol=atol)
    np.testing.assert_allclose(boxes, rows[:, 2:6], atol=atol)


def assert_close_detections(got: dict[str, np.ndarray], rows: np.ndarray, *, atol: float) -> None:
    """Each detection of ``rows`` is in ``got`` (the float16 model's) with its class, its score
    within ``atol`` and its box within ``atol`` on every side (rounding may reorder near ties)."""
    boxes, classes, scores = (np.asarray(got[k][0], dtype=np.float64) for k in S1)
    assert len(rows) > 0
    for label, score, *box in rows:
        same = (classes == label) & (np.abs(scores - score) <= atol) & (np.abs(boxes - box).max(axis=1) <= atol)
        assert same.any(), (label, score, box)


def assert_float16(half: Path, full: Path) -> None:
    """``half`` is a real float16 model: float16 input and weights, about half the size of ``full``."""
    proto = onnx.load(half)
    assert [i.type.tensor_type.elem_type for i in proto.graph.input] == [onnx.TensorProto.FLOAT16]
    floats = (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16)
    # The grid layout's own constants (anchors, the empty grid) are no weights: float32, to invert exactly.
    weights = [i for i in proto.graph.initializer if i.data_type in floats and not i.name.startswith("cvexport_grid/")]
    assert {i.data_type for i in weights} == {onnx.TensorProto.FLOAT16}
    assert half.stat().st_size < 0.6 * full.stat().st_size


@pytest.mark.parametrize("domain", CLASSIFICATION_DOMAINS)
def test_exported_classifier_answers_the_prediction_apis_probabilities_in_both_samples(
    trained_server: RunningServer,
    trained: Trained,
    predictor: CustomVisionPredictionClient,
    tmp_path: Path,
    domain: str,
) -> None:
    image = SAMPLES / "ImageClassification" / "Images" / "Test" / "test_image.jpg"  # held out of training
    path = write_export(
        tmp_path, stored_model(trained_server, trained), Task.CLASSIFICATION, CLASSIFICATION_DOMAINS[domain]
    )
    found = predictor.classify_image_with_no_store(trained.project_id, trained.publish_name, image.read_bytes())
    api = {p.tag_name: p.probability for p in found.predictions}
    outputs = export_samples.Model(path).predict(image)
    (scores,) = list(outputs.values())[0]  # classification_s1's print_outputs reads the first output
    by_label = dict(zip(labels_of(path), scores.tolist(), strict=True))
    # Not to 1e-5 as for the detector: the API decodes this 1260 x 900 JPEG at 1/4 scale (Pillow's
    # draft mode, shared.vision.images) before resizing it to 224, the sample decodes it whole.
    assert by_label == pytest.approx(api, abs=0.02)
    assert max(api.values()) > 0.7  # a clear answer (0.88 when measured): agreeing is not agreeing on noise


def test_s1_detector_answers_the_prediction_apis_boxes_in_the_s1_sample(
    trained_server: RunningServer,
    detector: Trained,
    predictor: CustomVisionPredictionClient,
    detection_images_dir: Path,
    tmp_path: Path,
) -> None:
    path = write_export(tmp_path, stored_model(trained_server, detector), Task.DETECTION, DETECTION_S1)
    sample, labels = export_samples.Model(path), labels_of(path)
    assert [o.name for o in sample.session.get_outputs()] == list(S1)
    for name in ("fork", "scissors"):
        image = held_out_detection_images(detection_images_dir, name)[-1]
        rows = api_detections(predictor, detector, image, labels)
        outputs = sample.predict(image)
        shown = outputs["detected_scores"][0] > export_samples.PROB_THRESHOLD  # what the sample prints
        assert_same_detections({k: v[:, shown] for k, v in outputs.items()}, rows[rows[:, 1] > 0.01], atol=1e-5)


def test_general_compact_detector_answers_the_prediction_apis_boxes_in_the_grid_sample(
    trained_server: RunningServer,
    detector: Trained,
    predictor: CustomVisionPredictionClient,
    detection_images_dir: Path,
    tmp_path: Path,
) -> None:
    """The grid holds the API's detections; the sample decodes them and runs its own NMS (IoU 0.45,
    class-blind, scores over 0.01, at most 64), so it shows what that NMS keeps of the API's list.
    The float16 flavor is float16 throughout and shows the same boxes to within float16's precision."""
    stored = stored_model(trained_server, detector)
    path = write_export(tmp_path, stored, Task.DETECTION, DETECTION_COMPACT)
    half = write_export(tmp_path, stored, Task.DETECTION, DETECTION_COMPACT, "OnnxFloat16", name="half")
    assert_float16(half, path)
    sample, sample16, labels = (
        export_samples.Model(path, grid=True),
        export_samples.Model(half, grid=True),
        labels_of(path),
    )
    assert sample16.input_type == np.float16
    (output,) = sample.session.get_outputs()
    assert output.shape == [1, 5 * (5 + len(labels)), 10, 10]  # 320 px input: a 10 x 10 grid
    nms = export_samples.NonMaxSuppression(
        export_samples.MAX_DETECTIONS, export_samples.PROB_THRESHOLD, export_samples.IOU_THRESHOLD
    )
    for name in ("fork", "scissors"):
        image = held_out_detection_images(detection_images_dir, name)[-1]
        rows = api_detections(predictor, detector, image, labels)
        probabilities = np.zeros((len(rows), len(labels)))
        probabilities[np.arange(len(rows)), rows[:, 0].astype(int)] = rows[:, 1]
        boxes, classes, scores = nms(rows[:, 2:6].copy(), probabilities)
        kept = np.concatenate([classes[:, None], scores[:, None], boxes], axis=1)
        assert kept[0, 0] == labels.index(name) and kept[0, 1] > 0.5  # the object itself, clearly
        assert_same_detections(sample.predict(image), kept, atol=1e-5)
        # float16: the same boxes wherever the score is clear of float16's rounding.
        got16 = sample16.predict(image)
        assert got16["detected_scores"].dtype == np.float16
        assert_close_detections(got16, kept[kept[:, 1] >= 0.1], atol=5e-3)


def test_float16_classifier_answers_like_the_float32_one(
    trained_server: RunningServer, trained: Trained, tmp_path: Path
) -> None:
    stored = stored_model(trained_server, trained)
    domain = CLASSIFICATION_DOMAINS["General (compact)"]
    full = write_export(tmp_path, stored, Task.CLASSIFICATION, domain, name="full")
    half = write_export(tmp_path, stored, Task.CLASSIFICATION, domain, "OnnxFloat16", name="half")
    assert_float16(half, full)
    image = SAMPLES / "ImageClassification" / "Images" / "Test" / "test_image.jpg"
    (scores,) = list(export_samples.Model(full).predict(image).values())[0]
    (scores16,) = list(export_samples.Model(half).predict(image).values())[0]
    assert scores16.dtype == np.float16
    np.testing.assert_allclose(scores16, scores, atol=0.01)
