"""The whole flow, as a person does it in the studio, from an empty server to a published endpoint
that an app calls: a detector (boxes drawn with the mouse) and a classifier, on the quickstart's
images. Nothing is set up behind the page's back; the API is only read, to check what the page says.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Studio, drag, image_rect, saved
from tests.conftest import SAMPLES

API = "/customvision/v3.4-preview/training"
# A detector needs 15 images with boxes per tag; one more each, so that training never hangs on a count.
PER_TAG = 16
TEST_DETECTION = SAMPLES / "ObjectDetection" / "Images" / "test" / "test_image.jpg"
TEST_TREE = SAMPLES / "ImageClassification" / "Images" / "Test" / "test_image.jpg"
# Advanced training is capped by the test server; a training ends well within this.
TRAINED_WITHIN_MS = 240_000


def pct(value: float) -> str:
    return f"{value * 100:.1f}%"


def figure(page: Page, name: str) -> Any:
    return page.get_by_role("group", name=name, exact=True).locator(".value")


def create_project(page: Page, name: str, kind: str) -> str:
    page.get_by_role("button", name="New project").first.click()
    dialog = page.get_by_role("dialog", name="New project")
    dialog.get_by_label("Name").fill(name)
    dialog.get_by_label(kind).check()
    dialog.get_by_role("button", name="Create project").click()
    expect(page.get_by_role("heading", name=name)).to_be_visible()
    return page.url.split("#/projects/")[1].split("/")[0]


def upload(page: Page, files: list[Path], *, tag: str | None = None) -> None:
    page.get_by_role("toolbar", name="Project actions").get_by_role("button", name="Add images").click()
    dialog = page.get_by_role("dialog", name="Add images")
    if tag:
        dialog.get_by_label(tag, exact=True).check()
    dialog.get_by_label("Image files").set_input_files(files)
    dialog.get_by_role("button", name=f"Upload {len(files)} files").click()
    expect(dialog.get_by_text(f"Done: {len(files)} added, 0 already in the project, 0 not added.")).to_be_visible()
    dialog.get_by_role("button", name="Close").first.click()
    expect(dialog).to_be_hidden()


def train(page: Page, *, advanced: bool) -> None:
    page.get_by_role("toolbar", name="Project actions").get_by_role("button", name="Train").click()
    dialog = page.get_by_role("dialog", name="Train a model")
    if advanced:
        dialog.get_by_label("Advanced training").check()
        dialog.get_by_label("Training budget (hours)").fill("1")
    dialog.get_by_role("button", name="Train", exact=True).click()
    expect(page.get_by_role("progressbar", name="Training Iteration 1", exact=True)).to_be_visible()
    # The banner follows the iteration's progress and redraws the page when it has trained.
    expect(figure(page, "Precision")).to_be_visible(timeout=TRAINED_WITHIN_MS)


def publish_and_call(page: Page, name: str, image: Path) -> list[dict[str, Any]]:
    """Publishes through the dialog, then sends ``image`` as an app would, to exactly the URL and with
    exactly the key that the Prediction URL dialog shows: the predictions it answers."""
    page.get_by_role("toolbar", name="Project actions").get_by_role("button", name="Publish").click()
    dialog = page.get_by_role("dialog", name="Publish")
    dialog.get_by_label("Publish name").fill(name)
    dialog.get_by_role("button", name="Publish").click()
    urls = page.get_by_role("dialog", name="Prediction URL")
    expect(urls).to_contain_text(f"published as “{name}”")
    image_url = urls.get_by_label("URL for an image file").input_value()
    key = urls.get_by_label("Prediction-Key").input_value()
    urls.get_by_role("button", name="Close").last.click()
    answer = httpx.post(
        image_url,
        content=image.read_bytes(),
        headers={"Prediction-Key": key, "Content-Type": "application/octet-stream"},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    predictions: list[dict[str, Any]] = answer.json()["predictions"]
    return predictions


def test_a_detector_from_an_empty_studio_to_an_endpoint_an_app_calls(
    studio: Studio,
    api: httpx.Client,
    detection_images_dir: Path,
    detection_regions: dict[str, dict[str, float | str]],
) -> None:
    page = studio.sign_in()
    project_id = create_project(page, "Walkthrough: cutlery", "Object detection")
    files = [p for tag in ("fork", "scissors") for p in sorted(detection_images_dir.glob(f"{tag}/*.jpg"))[:PER_TAG]]
    upload(page, files)
    by_hash = {hashlib.sha256(p.read_bytes()).hexdigest(): p for p in files}

    # Boxes, drawn with the mouse on every image: the tag picked with its number key (1 fork, 2 scissors).
    page.get_by_role("list", name="Images").get_by_role("link").first.click()
    for name in ("fork", "scissors"):
        page.get_by_label("New tag name").fill(name)
        page.get_by_role("button", name="New tag").click()
        expect(page.get_by_role("radio", name=name)).to_be_checked()
    canvas = page.get_by_role("application")
    drawn: dict[str, Path] = {}
    for n in range(1, len(files) + 1):
        expect(page.get_by_role("heading", name=f"Image {n} of {len(files)}")).to_be_visible()
        image_id = page.url.split("/images/")[1].split("?")[0]
        [image] = api.get(f"/projects/{project_id}/images/id", params={"imageIds": image_id}).json()
        path = by_hash[hashlib.sha256(httpx.get(image["originalImageUri"]).content).hexdigest()]
        tag = path.parent.name
        box = detection_regions[f"{tag}/{path.name}"]
        page.keyboard.press("1" if tag == "fork" else "2")
        expect(page.get_by_role("radio", name=tag)).to_be_checked()
        x0, y0, scale = image_rect(page, canvas, image["width"], image["height"])
        left, top = float(box["left"]), float(box["top"])
        right, bottom = left + float(box["width"]), top + float(box["height"])
        drag(
            page,
            (x0 + left * image["width"] * scale, y0 + top * image["height"] * scale),
            (x0 + right * image["width"] * scale, y0 + bottom * image["height"] * scale),
        )
        saved(page)
        drawn[image_id] = path
        page.keyboard.press("j")
    # Every image has the one box drawn on it, where the quickstart's regions file puts it.
    for image_id, path in drawn.items():
        [image] = api.get(f"/projects/{project_id}/images/id", params={"imageIds": image_id}).json()
        [region] = image["regions"]
        truth = detection_regions[f"{path.parent.name}/{path.name}"]
        assert region["tagName"] == path.parent.name
        for side in ("left", "top", "width", "height"):
            assert region[side] == pytest.approx(float(truth[side]), abs=0.015), (path.name, side)

    # Train (Advanced, a one-hour budget: the test server caps it), then read the metrics.
    train(page, advanced=True)
    [iteration] = api.get(f"/projects/{project_id}/iterations").json()
    assert iteration["status"] == "Completed" and iteration["trainingType"] == "Advanced"
    performance = f"/projects/{project_id}/iterations/{iteration['id']}/performance"
    for threshold, overlap in ((0.5, 0.3), (0.1, 0.3), (0.1, 0.6)):
        if threshold != 0.5:
            page.get_by_role("slider", name="Probability threshold").fill(str(threshold))
        if overlap != 0.3:
            page.get_by_role("slider", name="Overlap threshold").fill(str(overlap))
        said = api.get(performance, params={"threshold": threshold, "overlapThreshold": overlap}).json()
        expect(figure(page, "Precision")).to_have_text(pct(said["precision"]))
        expect(figure(page, "Recall")).to_have_text(pct(said["recall"]))
        expect(figure(page, "mAP")).to_have_text(pct(said["averagePrecision"]))
    assert "overlap=0.6" in page.url and "threshold=0.1" in page.url
    expect(page.get_by_role("img", name=re.compile("^Precision-recall curve: "))).to_have_count(2)
    expect(page.get_by_role("heading", name="Confusion matrix")).to_have_count(0)
    held_out = api.get(f"{performance}/images", params={"take": 256}).json()
    expect(page.locator(".heldout-box.truth")).to_have_count(sum(len(i["regions"] or []) for i in held_out))
    studio.shoot("performance-detection")

    # Quick Test: the boxes found, thinned by the threshold slider.
    page.get_by_role("toolbar", name="Project actions").get_by_role("button", name="Quick Test").click()
    dialog = page.get_by_role("dialog", name="Quick Test")
    dialog.get_by_label("Image file").set_input_files(str(TEST_DETECTION))
    expect(dialog.get_by_role("img", name="Tested image with the objects found")).to_be_visible(timeout=60_000)
    found = dialog.get_by_role("list", name="Objects found").get_by_role("listitem")
    slider = dialog.get_by_role("slider", name="Probability threshold")
    slider.focus()
    page.keyboard.press("End")
    expect(found.first).to_contain_text("Nothing at or above 100%")
    page.keyboard.press("Home")
    expect(found.first).to_contain_text(re.compile(r"^(fork|scissors)\d+(\.\d)?%$"))
    dialog.get_by_role("button", name="Close").first.click()

    # Publish, then call the endpoint exactly as the Prediction URL dialog gives it.
    predictions = publish_and_call(page, "cutlery", TEST_DETECTION)
    assert predictions and {p["tagName"] for p in predictions} <= {"fork", "scissors"}
    for p in predictions:
        box = p["boundingBox"]
        assert 0 <= box["left"] <= 1 and 0 <= box["top"] <= 1 and box["width"] > 0 and box["height"] > 0


def test_a_classifier_from_an_empty_studio_to_an_endpoint_an_app_calls(
    studio: Studio, api: httpx.Client, hemlock_images: list[Path], cherry_images: list[Path]
) -> None:
    page = studio.sign_in()
    project_id = create_project(page, "Walkthrough: trees", "Classification, one tag per image")
    # The tags, made in the rail; then each tree's photos uploaded with its tag.
    rail = page.get_by_role("navigation", name="Image filters")
    for name in ("Hemlock", "Japanese Cherry"):
        rail.get_by_role("button", name="+ Add tag").click()
        dialog = page.get_by_role("dialog", name="Add a tag")
        dialog.get_by_label("Tag name").fill(name)
        dialog.get_by_role("button", name="Add tag").click()
        expect(rail.get_by_role("link", name=re.compile(f"^{name}"))).to_be_visible()
    upload(page, hemlock_images[:5], tag="Hemlock")
    upload(page, cherry_images[:5], tag="Japanese Cherry")
    expect(rail.get_by_role("link", name=re.compile("^Tagged"))).to_contain_text("10")

    train(page, advanced=False)
    [iteration] = api.get(f"/projects/{project_id}/iterations").json()
    performance = f"/projects/{project_id}/iterations/{iteration['id']}/performance"
    for threshold in (0.5, 0.9):
        if threshold != 0.5:
            page.get_by_role("slider", name="Probability threshold").fill(str(threshold))
        said = api.get(performance, params={"threshold": threshold}).json()
        expect(figure(page, "Precision")).to_have_text(pct(said["precision"]))
        expect(figure(page, "Recall")).to_have_text(pct(said["recall"]))
        expect(figure(page, "AP")).to_have_text(pct(said["averagePrecision"]))
    count = api.get(f"{performance}/images/count").json()
    cells = page.get_by_role("table").filter(has_text="Rows: the true tag").locator("tbody td").all_inner_texts()
    assert sum(int(c) for c in cells) == count

    # Quick Test: probabilities as bars, the surest first.
    page.get_by_role("toolbar", name="Project actions").get_by_role("button", name="Quick Test").click()
    dialog = page.get_by_role("dialog", name="Quick Test")
    dialog.get_by_label("Image file").set_input_files(str(TEST_TREE))
    expect(dialog.get_by_role("progressbar", name="Probability of Hemlock")).to_be_visible()
    expect(dialog.get_by_role("progressbar", name="Probability of Japanese Cherry")).to_be_visible()
    dialog.get_by_role("button", name="Close").first.click()

    predictions = publish_and_call(page, "trees", TEST_TREE)
    assert {p["tagName"] for p in predictions} == {"Hemlock", "Japanese Cherry"}
    # The quickstart's test image is a hemlock: the model trained in the studio says so.
    assert max(predictions, key=lambda p: p["probability"])["tagName"] == "Hemlock"
    # The gallery now: each project with its thumbnail and its published iteration.
    page.get_by_role("link", name="Projects").first.click()
    card = page.get_by_role("listitem").filter(has_text="Walkthrough: trees")
    expect(card).to_contain_text("published as trees")
    expect(card.get_by_role("img")).to_have_count(0)  # the thumbnail is decorative (alt ""), hidden from the tree
    expect(card.locator(".card-thumb img")).to_have_js_property("complete", True)
    studio.shoot("projects-trained")
