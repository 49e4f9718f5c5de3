"""The CoreML and TensorFlow Lite exports, downloaded through the API: the TensorFlow Lite models run
in the LiteRT interpreter and answer what cvstudio's prediction answers on the same image; the CoreML
models load in coremltools (which runs models only on Apple systems) with Custom Vision's inputs,
outputs and labels."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import coremltools as ct
import httpx
import numpy as np
import onnx
import pytest
from azure.cognitiveservices.vision.customvision.prediction import CustomVisionPredictionClient
from azure.cognitiveservices.vision.customvision.training import CustomVisionTrainingClient

from shared.domain.limits import MAX_IMAGE_BYTES_PREDICTION
from shared.exporting.errors import PlatformUnavailable
from shared.exporting.onnx_graph import prepare
from shared.exporting.tflite import run_tflite
from shared.vision.images import model_image
from shared.vision.preprocess import preprocess
from tests.training.conftest import Trained, finished_export, held_out_detection_images

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "custom-vision-samples"
CLASSIFY_IMAGE = SAMPLES / "ImageClassification" / "Images" / "Test" / "test_image.jpg"
EXPORTS = (("CoreML", None), ("TensorFlow", "TensorFlowLite"))
NMS_IOU = 0.6  # what cvstudio's prediction suppresses at (the README in the package says so)


@pytest.fixture(scope="module")
def packages(
    client: CustomVisionTrainingClient, trained: Trained, detector: Trained
) -> dict[tuple[str, str], zipfile.ZipFile]:
    """(model, platform) -> the downloaded package; all four requested together."""
    models = {"classifier": trained, "detector": detector}
    for model in models.values():
        for platform, flavor in EXPORTS:
            client.export_iteration(model.project_id, model.first.id, platform, flavor=flavor)
    found: dict[tuple[str, str], zipfile.ZipFile] = {}
    for name, model in models.items():
        for platform, flavor in EXPORTS:
            export = finished_export(client, model, platform, flavor)
            assert export.status == "Done", f"{name} {platform}: {export.status}"
            found[(name, platform)] = zipfile.ZipFile(io.BytesIO(httpx.get(export.download_uri).content))
    return found


def _bgr_input(path: Path, size: int) -> np.ndarray:
    """The image decoded and resized as cvstudio's prediction does, laid out as Custom Vision's
    TensorFlow Lite sample feeds it: [1, S, S, 3] BGR 0..255."""
    with model_image(path.read_bytes(), min_side=size, max_bytes=MAX_IMAGE_BYTES_PREDICTION) as decoded:
        rgb = preprocess(decoded.image, size)  # [3, S, S]
    return np.ascontiguousarray(rgb.transpose(1, 2, 0)[None, :, :, ::-1])


def _nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> list[tuple[int, float, np.ndarray]]:
    """Greedy class-aware suppression over every (box, tag) pair, best first."""
    order = sorted(
        ((float(scores[i, c]), i, c) for i in range(len(boxes)) for c in range(scores.shape[1])), reverse=True
    )
    kept: list[tuple[int, float, np.ndarray]] = []
    for score, i, c in order[:1000]:
        box = boxes[i]
        if all(tag != c or _iou(box, other) <= iou for tag, _, other in kept):
            kept.append((c, score, box))
    return kept


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def test_tensorflow_lite_classifier_answers_what_the_prediction_api_answers(
    packages: dict[tuple[str, str], zipfile.ZipFile], predictor: CustomVisionPredictionClient, trained: Trained
) -> None:
    package = packages[("classifier", "TensorFlow")]
    assert {"model.tflite", "labels.txt", "README.txt"} <= set(package.namelist())
    labels = package.read("labels.txt").decode().splitlines()
    (probabilities,) = run_tflite(package.read("model.tflite"), _bgr_input(CLASSIFY_IMAGE, 224))
    assert probabilities.shape == (1, 2)
    served = predictor.classify_image(trained.project_id, trained.publish_name, CLASSIFY_IMAGE.read_bytes())
    expected = {p.tag_name: p.probability for p in served.predictions}
    assert dict(zip(labels, probabilities[0].tolist(), strict=True)) == pytest.approx(expected, abs=1e-4)


def test_tensorflow_lite_detector_gives_the_candidates_the_prediction_api_selects_from(
    packages: dict[tuple[str, str], zipfile.ZipFile],
    predictor: CustomVisionPredictionClient,
    detector: Trained,
    detection_images_dir: Path,
) -> None:
    package = packages[("detector", "TensorFlow")]
    labels = package.read("labels.txt").decode().splitlines()
    assert "non-maximum suppression" in package.read("README.txt").decode()
    image = held_out_detection_images(detection_images_dir, "scissors")[0]
    boxes, scores = run_tflite(package.read("model.tflite"), _bgr_input(image, 320))
    assert boxes.shape[2] == 4 and scores.shape[2] == len(labels)
    ours = _nms(boxes[0], scores[0], NMS_IOU)[:3]
    served = predictor.detect_image(detector.project_id, detector.publish_name, image.read_bytes()).predictions[:3]
    for (tag, score, box), theirs in zip(ours, served, strict=True):
        assert (labels[tag], score) == (theirs.tag_name, pytest.approx(theirs.probability, abs=1e-4))
        b = theirs.bounding_box
        assert box.tolist() == pytest.approx([b.left, b.top, b.left + b.width, b.top + b.height], abs=1e-3)


@pytest.mark.parametrize("name", ["classifier", "detector"])
def test_coreml_model_loads_with_custom_visions_image_input_and_outputs(
    packages: dict[tuple[str, str], zipfile.ZipFile], name: str, tmp_path: Path
) -> None:
    package = packages[(name, "CoreML")]
    labels = package.read("labels.txt").decode().splitlines()
    path = tmp_path / "model.mlmodel"
    path.write_bytes(package.read("model.mlmodel"))
    spec = ct.models.MLModel(str(path), skip_model_load=True).get_spec()  # predictions need macOS
    (image,) = spec.description.input
    size = 224 if name == "classifier" else 320
    assert (image.name, image.type.imageType.width, image.type.imageType.height) == ("data", size, size)
    assert json.loads(spec.description.metadata.userDefined["CustomVision.Labels"]) == labels
    if name == "classifier":
        assert spec.WhichOneof("Type") == "neuralNetworkClassifier"
        assert {o.name for o in spec.description.output} == {"classLabel", "loss"}
        assert list(spec.neuralNetworkClassifier.stringClassLabels.vector) == labels
    else:
        outputs = {o.name: list(o.type.multiArrayType.shape) for o in spec.description.output}
        assert outputs["boxes"][2] == 4 and outputs["scores"][2] == len(labels)
        assert outputs["boxes"][1] == outputs["scores"][1]


def test_an_operator_the_converters_do_not_rebuild_is_refused_by_name(tmp_path: Path) -> None:
    """Converted exports never approximate: an op outside the known set fails the export, saying which."""
    h = onnx.helper
    graph = h.make_graph(
        [h.make_node("Conv", ["data", "w"], ["c"]), h.make_node("Erf", ["c"], ["out"])],
        "g",
        [h.make_tensor_value_info("data", onnx.TensorProto.FLOAT, [1, 3, 8, 8])],
        [h.make_tensor_value_info("out", onnx.TensorProto.FLOAT, [1, 2, 8, 8])],
        [onnx.numpy_helper.from_array(np.ones((2, 3, 1, 1), np.float32), "w")],
    )
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", 17)], ir_version=8)
    with pytest.raises(PlatformUnavailable, match="operators this converter does not rebuild: Erf"):
        prepare(model.SerializeToString(), tmp_path)
