"""Using a trained model from the studio: Quick Test, add to the training set, Publish, the
Prediction URL (called exactly as shown), the Predictions tab, and Export to ONNX."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from azure.cognitiveservices.vision.customvision.prediction import CustomVisionPredictionClient
from azure.cognitiveservices.vision.customvision.training import CustomVisionTrainingClient
from azure.cognitiveservices.vision.customvision.training.models import (
    ImageFileCreateBatch,
    ImageFileCreateEntry,
    Region,
)
from msrest.authentication import ApiKeyCredentials
from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import Studio
from tests.conftest import SAMPLES
from tests.sdk.helpers import GENERAL_COMPACT_CLASSIFICATION, GENERAL_DETECTION, training_client
from tests.servers import PREDICTION_KEY, RunningServer
from tests.training.conftest import upload, wait_for

TEST_IMAGE = SAMPLES / "ImageClassification" / "Images" / "Test" / "test_image.jpg"
PUBLISH_NAME = "trees v1"


@dataclass
class Trees:
    """A compact multiclass project trained on 5 hemlocks and 5 cherries (through the SDK)."""

    client: CustomVisionTrainingClient
    project_id: str
    tag_ids: dict[str, str]  # name -> id
    iteration_id: str
    hemlocks: list[Path]  # not in the training set
    cherries: list[Path]

    def tagged_count(self, tag: str) -> int:
        return int(self.client.get_tagged_image_count(self.project_id, tag_ids=[self.tag_ids[tag]]))


@dataclass
class Cutlery:
    """Forks and scissors with their boxes; training (Advanced, capped by the server) starts at once."""

    client: CustomVisionTrainingClient
    project_id: str
    iteration_id: str
    held_out: Path

    def trained(self) -> None:
        assert wait_for(self.client, self.project_id, self.iteration_id).status == "Completed"

    def image_count(self) -> int:
        client, project = self.client, self.project_id
        return int(client.get_tagged_image_count(project)) + int(client.get_untagged_image_count(project))


@pytest.fixture(scope="module")
def cutlery(
    studio_server: RunningServer, detection_images_dir: Path, detection_regions: dict[str, dict[str, float | str]]
) -> Iterator[Cutlery]:
    client = training_client(studio_server.endpoint)
    project = client.create_project("Browser: cutlery", domain_id=GENERAL_DETECTION)
    entries = []
    for name in ("fork", "scissors"):
        tag_id = client.create_tag(project.id, name).id
        files = sorted(detection_images_dir.glob(f"{name}/*.jpg"), key=lambda p: int(p.stem.split("_")[1]))
        for path in files[:15]:
            box = {k: float(v) for k, v in detection_regions[f"{name}/{path.name}"].items() if k != "tag"}
            entries.append(
                ImageFileCreateEntry(name=path.name, contents=path.read_bytes(), regions=[Region(tag_id=tag_id, **box)])
            )
    assert client.create_images_from_files(project.id, ImageFileCreateBatch(images=entries)).is_batch_successful
    started = client.train_project(project.id, training_type="Advanced", reserved_budget_in_hours=1)
    yield Cutlery(client, project.id, started.id, detection_images_dir / "fork" / "fork_20.jpg")
    client.close()


@pytest.fixture(scope="module")
def trees(
    request: pytest.FixtureRequest, studio_server: RunningServer, hemlock_images: list[Path], cherry_images: list[Path]
) -> Iterator[Trees]:
    client = training_client(studio_server.endpoint)
    project = client.create_project(
        "Browser: trees", domain_id=GENERAL_COMPACT_CLASSIFICATION, classification_type="Multiclass"
    )
    hemlock = client.create_tag(project.id, "Hemlock")
    cherry = client.create_tag(project.id, "Japanese Cherry")
    upload(client, project.id, hemlock.id, hemlock_images[:5])
    upload(client, project.id, cherry.id, cherry_images[:5])
    started = client.train_project(project.id)
    # The detector's (longer) training starts while the trees train: the server trains in parallel.
    request.getfixturevalue("cutlery")
    iteration = wait_for(client, project.id, started.id)
    assert iteration.status == "Completed", iteration.status
    yield Trees(
        client,
        project.id,
        {"Hemlock": hemlock.id, "Japanese Cherry": cherry.id},
        iteration.id,
        hemlock_images[5:7],
        cherry_images[5:7],
    )
    client.close()


def open_project(studio: Studio, trees: Trees, tab: str = "images") -> Page:
    studio.sign_in()
    page = studio.open(f"#/projects/{trees.project_id}/{tab}")
    expect(page.get_by_role("heading", level=1, name="Browser: trees")).to_be_visible()
    return page


def test_quick_test_shows_bars_and_adds_the_image_with_a_corrected_tag(studio: Studio, trees: Trees) -> None:
    expected = trees.client.quick_test_image(trees.project_id, TEST_IMAGE.read_bytes(), store=False)
    top = max(expected.predictions, key=lambda p: p.probability).tag_name
    other = next(name for name in trees.tag_ids if name != top)
    before = trees.tagged_count(other)

    page = open_project(studio, trees)
    page.get_by_role("button", name="Quick Test").click()
    dialog = page.get_by_role("dialog", name="Quick Test")
    dialog.get_by_label("Image file").set_input_files(str(TEST_IMAGE))
    bars = dialog.locator(".bar-row")
    expect(bars).to_have_count(2)
    # The bars are sorted: the first is the model's answer, the same as the SDK's.
    expect(bars.first).to_contain_text(top)
    expect(dialog.get_by_role("progressbar", name=f"Probability of {top}")).to_be_visible()
    expect(dialog.get_by_role("radio", name=top)).to_be_checked()
    studio.shoot("quick-test")

    dialog.get_by_role("radio", name=other).check()
    dialog.get_by_role("button", name="Add to training set").click()
    expect(dialog.get_by_text("Added to the training set.")).to_be_visible()
    assert trees.tagged_count(other) == before + 1

    # An image on the web (here: a training image's address on this server) is tested by its URL, and
    # shown from the stored prediction (the page may not load other sites' images).
    hemlock = trees.client.get_tagged_images(trees.project_id, tag_ids=[trees.tag_ids["Hemlock"]], take=1)[0]
    dialog.get_by_label("Image URL").fill(hemlock.original_image_uri)
    dialog.get_by_role("button", name="Test URL").click()
    expect(bars.first).to_contain_text("Hemlock")
    shown = dialog.get_by_role("img", name="Tested image; the model says Hemlock")
    expect(shown).to_have_js_property("complete", True)
    assert shown.evaluate("img => img.naturalWidth") > 0


def test_publish_and_the_prediction_url_answers_exactly_as_shown(studio: Studio, trees: Trees, tmp_path: Path) -> None:
    page = open_project(studio, trees)
    page.get_by_role("button", name="Publish").click()
    dialog = page.get_by_role("dialog", name="Publish")
    expect(dialog.get_by_label("Publish name")).to_have_value("Iteration 1")
    dialog.get_by_label("Publish name").fill("trees/v1")  # a slash is not allowed: said before the call
    dialog.get_by_role("button", name="Publish").click()
    expect(dialog.get_by_role("alert")).to_contain_text("cannot be a publish name")
    dialog.get_by_label("Publish name").fill(PUBLISH_NAME)
    studio.shoot("publish")
    dialog.get_by_role("button", name="Publish").click()

    urls = page.get_by_role("dialog", name="Prediction URL")
    expect(urls).to_contain_text(f"published as “{PUBLISH_NAME}”")
    expect(page.get_by_role("button", name="Unpublish")).to_be_visible()
    studio.shoot("prediction-url")
    image_url = urls.get_by_label("URL for an image file").input_value()
    key = urls.get_by_label("Prediction-Key").input_value()
    assert key == PREDICTION_KEY
    assert image_url.endswith(f"/{trees.project_id}/classify/iterations/trees%20v1/image")

    # The values as shown answer a plain HTTP call ...
    answer = httpx.post(image_url, content=TEST_IMAGE.read_bytes(), headers={"Prediction-Key": key}, timeout=30)
    assert answer.status_code == 200, answer.text
    names = {p["tagName"] for p in answer.json()["predictions"]}
    assert names == set(trees.tag_ids)

    # ... and the Python example runs as pasted (the official SDK, the image next to it).
    python = urls.get_by_role("region", name="Python example").locator("pre").inner_text()
    shutil.copy(TEST_IMAGE, tmp_path / "image.jpg")
    (tmp_path / "example.py").write_text(python)
    run = subprocess.run([sys.executable, "example.py"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert "Hemlock: " in run.stdout and "Japanese Cherry: " in run.stdout

    # The first curl command too, where curl is installed.
    if shutil.which("curl"):
        curl = urls.get_by_role("region", name="curl example").locator("pre").inner_text().split("\n\n")[0]
        run = subprocess.run(["bash", "-c", curl], cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert run.returncode == 0 and '"tagName"' in run.stdout, run.stdout + run.stderr

    # The SDK built from the endpoint as it appears in the example answers the same.
    endpoint = image_url.split("/customvision/")[0]
    predictor = CustomVisionPredictionClient(endpoint, ApiKeyCredentials(in_headers={"Prediction-key": key}))
    result = predictor.classify_image(trees.project_id, PUBLISH_NAME, TEST_IMAGE.read_bytes())
    assert {p.tag_name for p in result.predictions} == set(trees.tag_ids)

    # Unpublishing (confirmed) stops the URL at once.
    urls.get_by_role("button", name="Close").last.click()
    page.get_by_role("button", name="Unpublish").click()
    page.get_by_role("dialog", name="Unpublish").get_by_role("button", name="Unpublish Iteration 1").click()
    page.get_by_role("dialog", name="Unpublish Iteration 1?").get_by_role("button", name="Unpublish").click()
    expect(page.get_by_role("button", name="Publish", exact=True)).to_be_visible()
    gone = httpx.post(image_url, content=TEST_IMAGE.read_bytes(), headers={"Prediction-Key": key}, timeout=30)
    assert gone.status_code == 404


def test_predictions_tab_filters_by_tag_moves_one_into_training_and_export_downloads_onnx(
    studio: Studio, trees: Trees
) -> None:
    for path in [*trees.hemlocks, *trees.cherries]:
        trees.client.quick_test_image(trees.project_id, path.read_bytes(), iteration_id=trees.iteration_id)
    hemlocks_before = trees.tagged_count("Hemlock")

    page = open_project(studio, trees, "predictions")
    grid = page.get_by_role("list", name="Stored predictions")
    tiles = grid.get_by_role("listitem")
    expect(tiles.first).to_be_visible()
    everything = tiles.count()
    assert everything >= 4
    studio.shoot("predictions")

    page.get_by_label("Tag").select_option(label="Hemlock")
    expect(grid).not_to_have_attribute("aria-busy", "true")
    hemlock_tiles = tiles.count()
    assert 1 <= hemlock_tiles < everything
    for i in range(hemlock_tiles):
        expect(tiles.nth(i)).to_contain_text("Hemlock")
    assert "tag=" in page.url  # the filter is kept in the address

    tiles.first.get_by_role("button").click()
    dialog = page.get_by_role("dialog", name="Prediction of")
    expect(dialog.get_by_role("radio", name="Hemlock")).to_be_checked()
    studio.shoot("prediction-review")
    dialog.get_by_role("button", name="Move to training set").click()
    expect(dialog).to_be_hidden()
    expect(tiles).to_have_count(hemlock_tiles - 1)
    assert trees.tagged_count("Hemlock") == hemlocks_before + 1

    page.get_by_role("button", name="Export").click()
    export = page.get_by_role("dialog", name="Export")
    expect(export.get_by_label("Platform")).to_have_value("ONNX")
    export.get_by_role("button", name="Export", exact=True).click()
    link = export.get_by_role("link", name="Download ONNX model")
    expect(link).to_be_visible(timeout=30_000)
    studio.shoot("export")
    with page.expect_download() as info:
        link.click()
    data = Path(info.value.path()).read_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert "model.onnx" in archive.namelist()
        assert set(archive.read("labels.txt").decode().splitlines()) == {"Hemlock", "Japanese Cherry"}

    # A platform with a flavor: the dialog sends it, and the zip holds that platform's model.
    export.get_by_label("Platform").select_option(label="TensorFlow Lite")
    export.get_by_role("button", name="Export", exact=True).click()
    link = export.get_by_role("link", name="Download TensorFlow Lite model")
    expect(link).to_be_visible(timeout=60_000)
    expect(export).to_contain_text("a zip with model.tflite and labels.txt")
    with page.expect_download() as info:
        link.click()
    with zipfile.ZipFile(io.BytesIO(Path(info.value.path()).read_bytes())) as archive:
        assert {"model.tflite", "labels.txt"} <= set(archive.namelist())


def boxes_shown(dialog: Locator, threshold: str) -> int:
    """The count the dialog gives under the slider: "13 boxes at or above 1%"."""
    line = dialog.get_by_text(re.compile(rf"^\d+ box(es)? at or above {threshold}$"))
    expect(line).to_be_visible()
    return int(line.inner_text().split()[0])


def test_detection_quick_test_draws_boxes_with_a_threshold_and_adds_the_corrected_boxes(
    studio: Studio, cutlery: Cutlery
) -> None:
    cutlery.trained()
    before = cutlery.image_count()
    studio.sign_in()
    page = studio.open(f"#/projects/{cutlery.project_id}/images")
    page.get_by_role("button", name="Quick Test").click()
    dialog = page.get_by_role("dialog", name="Quick Test")
    dialog.get_by_label("Image file").set_input_files(str(cutlery.held_out))
    # The first detection loads the model: slower than a classification.
    expect(dialog.get_by_role("img", name="Tested image with the objects found")).to_be_visible(timeout=60_000)
    found = dialog.get_by_role("list", name="Objects found").get_by_role("listitem")
    threshold = dialog.get_by_label("Probability threshold")
    threshold.press("Home")  # 0 %: every box the model found
    # A detector trained for seconds is unsure: at 0 % every box it proposed is listed, with its tag.
    expect(found.first).to_contain_text(re.compile(r"^(fork|scissors)\d+(\.\d)?%$"))
    every = boxes_shown(dialog, "0%")
    threshold.press("End")  # 100 %: none
    expect(found).to_have_count(1)
    expect(found.first).to_contain_text("Nothing at or above 100%")
    threshold.press("Home")
    threshold.press("ArrowRight")  # 1 %: the surest boxes
    expect(dialog.get_by_text("Probability threshold 1%")).to_be_visible()
    boxes = boxes_shown(dialog, "1%") if not found.first.inner_text().startswith("Nothing") else 0
    assert boxes <= every
    studio.shoot("quick-test-detection")

    dialog.get_by_role("button", name="Correct and add to training set").click()
    expect(dialog.get_by_role("application", name="Tested image: draw, move or resize boxes")).to_be_visible()
    expect(dialog.get_by_label("Tag for new boxes")).to_be_visible()
    dialog.get_by_role("button", name="Add to training set").click()
    expect(dialog.get_by_text("Added to the training set.")).to_be_visible()
    assert cutlery.image_count() == before + 1
    if boxes:  # the image went in with the boxes shown (at or above 1 %)
        newest = cutlery.client.get_tagged_images(cutlery.project_id, order_by="Newest", take=1)[0]
        assert len(newest.regions) == boxes

    # This detector's domain (General) cannot be exported: the dialog says so and names the compact ones.
    dialog.get_by_role("button", name="Close").last.click()
    page.get_by_role("button", name="Export").click()
    export = page.get_by_role("dialog", name="Export")
    expect(export).to_contain_text("trained on the General domain, which cannot be exported")
    expect(export).to_contain_text("Compact domains: General (compact)")
    expect(export.get_by_role("button", name="Export", exact=True)).to_have_count(0)
