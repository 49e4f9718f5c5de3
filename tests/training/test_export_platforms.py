"""Exports to other platforms, each loaded in its own runtime: the DockerFile export's server answers the
official prediction SDK as cvstudio does, and the OpenVINO IR computes what the ONNX export computes."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import onnxruntime as ort
import openvino as ov
import pytest
from azure.cognitiveservices.vision.customvision.prediction import CustomVisionPredictionClient
from azure.cognitiveservices.vision.customvision.prediction.models import ImagePrediction
from azure.cognitiveservices.vision.customvision.training import CustomVisionTrainingClient
from msrest.authentication import ApiKeyCredentials
from PIL import Image

from shared.domain.catalogue import BUILT_EXPORTS, DOMAINS
from shared.domain.enums import Task
from shared.exporting.onnx_layouts import onnx_for_export
from shared.exporting.platforms import BUILDERS
from shared.vision.preprocess import preprocess
from tests.sdk.helpers import cv_error
from tests.training.conftest import Trained, finished_export, held_out_detection_images

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "custom-vision-samples"
CLASSIFY_IMAGE = SAMPLES / "ImageClassification" / "Images" / "Test" / "test_image.jpg"
EXPORTS = (("DockerFile", "Linux"), ("OpenVino", None))


def test_every_platform_a_compact_domain_offers_has_a_builder() -> None:
    assert set(BUILDERS) == set(BUILT_EXPORTS)
    for domain in DOMAINS:
        assert set(domain.exportable_platforms) == (set(BUILT_EXPORTS) if domain.exportable else set())


def _download(client: CustomVisionTrainingClient, model: Trained, platform: str, flavor: str | None) -> zipfile.ZipFile:
    export = finished_export(client, model, platform, flavor)
    assert export.status == "Done", f"{platform} export: {export.status}"
    return zipfile.ZipFile(io.BytesIO(httpx.get(export.download_uri).content))


@pytest.fixture(scope="module")
def packages(
    client: CustomVisionTrainingClient, trained: Trained, detector: Trained
) -> dict[tuple[str, str], zipfile.ZipFile]:
    """Each platform's package for the classifier and the detector, requested together (packaged in turn)."""
    for model in (trained, detector):
        for platform, flavor in EXPORTS:
            started = client.export_iteration(model.project_id, model.first.id, platform, flavor=flavor)
            assert (started.platform, started.flavor) == (platform, flavor)
    return {
        (name, platform): _download(client, model, platform, flavor)
        for name, model in (("classifier", trained), ("detector", detector))
        for platform, flavor in EXPORTS
    }


def test_a_platform_or_flavor_that_cannot_be_built_is_refused_up_front(
    client: CustomVisionTrainingClient, trained: Trained
) -> None:
    for platform, flavor in (("DockerFile", "Windows"), ("VAIDK", None), ("TensorFlow", "TensorFlowNormal")):
        with cv_error("BadRequestExportValidationFailed", 400):
            client.export_iteration(trained.project_id, trained.first.id, platform, flavor=flavor)
    assert all(e.platform != "VAIDK" for e in client.get_exports(trained.project_id, trained.first.id))


@pytest.fixture
def served(
    request: pytest.FixtureRequest, packages: dict[tuple[str, str], zipfile.ZipFile], tmp_path: Path
) -> Iterator[str]:
    """The DockerFile export's app, unzipped and started with this Python (isolated: only its own files);
    the param: (model, whether /url may reach loopback and private addresses)."""
    name, allow_private = request.param
    package = packages[(name, "DockerFile")]
    package.extractall(tmp_path)
    server = subprocess.Popen(
        [sys.executable, "-I", str(tmp_path / "app" / "server.py"), "--host", "127.0.0.1", "--port", "0"]
        + (["--allow-private-urls"] if allow_private else []),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        found = re.search(r"http://127\.0\.0\.1:(\d+)", server.stdout.readline())
        assert found, "the exported server did not start"
        yield f"http://127.0.0.1:{found[1]}"
    finally:
        server.terminate()
        server.wait(timeout=10)
        if server.stdout is not None:
            server.stdout.close()


def _same(ours: ImagePrediction, theirs: ImagePrediction) -> None:
    assert [(p.tag_id, p.tag_name) for p in ours.predictions] == [(p.tag_id, p.tag_name) for p in theirs.predictions]
    for a, b in zip(ours.predictions, theirs.predictions, strict=True):
        assert a.probability == pytest.approx(b.probability, abs=1e-6)
        if b.bounding_box is not None:
            box = (b.bounding_box.left, b.bounding_box.top, b.bounding_box.width, b.bounding_box.height)
            assert (a.bounding_box.left, a.bounding_box.top, a.bounding_box.width, a.bounding_box.height) == (
                pytest.approx(box, abs=1e-6)
            )


def _container_client(endpoint: str) -> CustomVisionPredictionClient:
    return CustomVisionPredictionClient(endpoint, ApiKeyCredentials(in_headers={"Prediction-key": "any"}))


@pytest.mark.parametrize("served", [("classifier", True)], indirect=True)
def test_docker_export_classifies_as_cvstudio_does(
    served: str,
    packages: dict[tuple[str, str], zipfile.ZipFile],
    predictor: CustomVisionPredictionClient,
    client: CustomVisionTrainingClient,
    trained: Trained,
) -> None:
    dockerfile = packages[("classifier", "DockerFile")].read("Dockerfile").decode()
    assert "--platform=linux/amd64" in dockerfile and "linux/arm64" in dockerfile
    assert re.search(r"^FROM \S+ python:3\.11\.\d+-slim", dockerfile, re.MULTILINE)
    image = CLASSIFY_IMAGE.read_bytes()
    product = predictor.classify_image(trained.project_id, trained.publish_name, image)
    container = _container_client(served)
    _same(container.classify_image(trained.project_id, trained.publish_name, image), product)
    _same(container.classify_image_with_no_store(trained.project_id, trained.publish_name, io.BytesIO(image)), product)
    # Custom Vision's own container routes: the image as the body, and an image URL.
    raw = httpx.post(f"{served}/image", content=image, headers={"Content-Type": "application/octet-stream"})
    assert raw.status_code == 200 and raw.json()["predictions"][0]["tagName"] == product.predictions[0].tag_name
    assert raw.json()["predictions"][0]["probability"] == pytest.approx(product.predictions[0].probability, abs=1e-6)
    (tagged,) = client.get_tagged_images(trained.project_id, take=1)
    by_url = httpx.post(f"{served}/url", json={"url": tagged.original_image_uri})
    product_url = predictor.classify_image_url(trained.project_id, trained.publish_name, tagged.original_image_uri)
    assert by_url.status_code == 200
    assert [p["tagName"] for p in by_url.json()["predictions"]] == [p.tag_name for p in product_url.predictions]
    refused = httpx.post(f"{served}/image", content=b"not an image")
    assert refused.status_code == 400 and refused.json()["code"] == "BadRequestImageFormat"


@pytest.mark.parametrize("served", [("detector", False)], indirect=True)
def test_docker_export_detects_as_cvstudio_does(
    served: str,
    predictor: CustomVisionPredictionClient,
    client: CustomVisionTrainingClient,
    detector: Trained,
    detection_images_dir: Path,
) -> None:
    image = held_out_detection_images(detection_images_dir, "scissors")[0].read_bytes()
    product = predictor.detect_image(detector.project_id, detector.publish_name, image)
    assert product.predictions and product.predictions[0].tag_name == "scissors"
    _same(_container_client(served).detect_image(detector.project_id, detector.publish_name, image), product)
    wrong = httpx.post(
        f"{served}/customvision/v3.0/Prediction/{detector.project_id}/classify/iterations/x/image", content=image
    )
    assert wrong.status_code == 400 and wrong.json()["code"] == "BadRequestInvalid"
    # By default the container's /url reaches no loopback or private address (cvstudio's own guard).
    (tagged,) = client.get_tagged_images(detector.project_id, take=1)
    private = httpx.post(f"{served}/url", json={"url": tagged.original_image_uri})
    assert private.status_code == 400 and private.json()["code"] == "BadRequestImageUrl"
    assert "loopback" in private.json()["message"]


@pytest.mark.parametrize("name", ["classifier", "detector"])
def test_openvino_ir_computes_what_the_onnx_export_computes(
    name: str, packages: dict[tuple[str, str], zipfile.ZipFile], tmp_path: Path
) -> None:
    ir = packages[(name, "OpenVino")]
    served = packages[(name, "DockerFile")]  # its app/ holds the model as training stored it
    assert ir.read("labels.txt") == served.read("app/labels.txt")
    ir.extractall(tmp_path)
    compiled = ov.Core().compile_model(str(tmp_path / "model.xml"), "CPU")
    info = json.loads(served.read("app/model.json"))
    # The ONNX export of this iteration (its domain's layout), which the IR was converted from.
    layout = onnx_for_export(
        served.read("app/model.onnx"), task=Task(info["task"]), domain_id=info["domainId"], flavor=None
    )
    session = ort.InferenceSession(layout)
    size = session.get_inputs()[0].shape[2]
    pixels = preprocess(Image.open(CLASSIFY_IMAGE).convert("RGB"), size)[None]
    expected = session.run(None, {session.get_inputs()[0].name: pixels})
    got = compiled(pixels)
    assert len(got) == len(expected)
    for output, want in zip(session.get_outputs(), expected, strict=True):
        np.testing.assert_allclose(got[compiled.output(output.name)], want, rtol=1e-3, atol=1e-4)
