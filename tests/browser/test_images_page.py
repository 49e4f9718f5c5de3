"""The Training Images tab and the image editor, driven as a person would: uploads through the dialog,
boxes drawn, moved and resized with the mouse, tiles selected and tagged, filters and pages.

Projects are set up with plain HTTP (fast); what is under test goes through the page. No training.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import Studio, drag, image_rect, saved

API = "/customvision/v3.4-preview/training"
GENERAL_CLASSIFICATION = "ee85a74c-405e-4adc-bb47-ffa8ca0c9f31"
GENERAL_DETECTION = "da2e3a8a-40a5-4171-82f4-58522f70fbc1"


def new_project(api: httpx.Client, name: str, domain: str) -> str:
    response = api.post("/projects", params={"name": name, "domainId": domain})
    response.raise_for_status()
    project_id: str = response.json()["id"]
    return project_id


def image(api: httpx.Client, project_id: str, image_id: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = api.get(f"/projects/{project_id}/images/id", params={"imageIds": image_id}).json()
    return found[0]


def test_detection_upload_then_draw_move_resize_and_delete_boxes(
    studio: Studio, api: httpx.Client, detection_images_dir: Path, tmp_path: Path
) -> None:
    project_id = new_project(api, "Browser: cutlery boxes", GENERAL_DETECTION)
    page = studio.sign_in()
    studio.open(f"#/projects/{project_id}/images")
    expect(page.get_by_text("No images yet")).to_be_visible()

    # Upload through the dialog: six photos of forks and a file that is no image; then one photo again.
    page.get_by_role("main").get_by_role("button", name="Add images").last.click()
    dialog = page.get_by_role("dialog", name="Add images")
    not_an_image = tmp_path / "notes.txt"
    not_an_image.write_text("shopping list: forks, scissors")
    photos = sorted((detection_images_dir / "fork").glob("*.jpg"))[:6]
    dialog.get_by_label("Image files").set_input_files([*photos, not_an_image])
    expect(dialog.get_by_text("7 files chosen")).to_be_visible()
    dialog.get_by_role("button", name="Upload 7 files").click()
    expect(dialog.get_by_text("Done: 6 added, 0 already in the project, 1 not added.")).to_be_visible()
    results = dialog.get_by_role("table", name="Upload results")
    expect(results.get_by_role("row").filter(has_text="notes.txt")).to_contain_text("Not an image we can read")
    expect(results.get_by_role("row").filter(has_text=photos[0].name)).to_contain_text("Added")
    dialog.get_by_label("Image files").set_input_files([photos[0]])
    dialog.get_by_role("button", name="Upload 1 file").click()
    expect(dialog.get_by_text("Done: 0 added, 1 already in the project, 0 not added.")).to_be_visible()
    expect(results.get_by_role("row").filter(has_text="Already in the project")).to_contain_text(photos[0].name)
    studio.shoot("upload-results")
    dialog.get_by_role("button", name="Close").first.click()

    grid = page.get_by_role("list", name="Images")
    expect(grid.get_by_role("listitem")).to_have_count(6)
    expect(grid.get_by_role("listitem").first).to_contain_text("No boxes")
    studio.shoot("images-detection")

    # The editor: create a tag, then draw a box with the mouse.
    grid.get_by_role("link").first.click()
    expect(page.get_by_role("heading", name="Image 1 of 6")).to_be_visible()
    page.get_by_label("New tag name").fill("fork")
    page.get_by_role("button", name="New tag").click()
    expect(page.get_by_role("radio", name="fork")).to_be_checked()
    image_id = page.url.split("/images/")[1].split("?")[0]
    size = image(api, project_id, image_id)
    canvas = page.get_by_role("application")
    x0, y0, scale = image_rect(page, canvas, size["width"], size["height"])
    at = lambda fx, fy: (x0 + fx * size["width"] * scale, y0 + fy * size["height"] * scale)  # noqa: E731
    drag(page, at(0.2, 0.3), at(0.6, 0.7))
    saved(page)
    [region] = image(api, project_id, image_id)["regions"]
    assert region["tagName"] == "fork"
    for key, value in {"left": 0.2, "top": 0.3, "width": 0.4, "height": 0.4}.items():
        assert region[key] == pytest.approx(value, abs=0.015), key
    expect(page.get_by_role("list").filter(has_text="1. fork")).to_be_visible()

    # Move it by a tenth of the image to the right, then pull its bottom-right corner out.
    drag(page, at(0.4, 0.5), at(0.5, 0.5))
    saved(page)
    [moved] = image(api, project_id, image_id)["regions"]
    assert moved["left"] == pytest.approx(0.3, abs=0.015) and moved["width"] == pytest.approx(0.4, abs=0.015)
    assert moved["regionId"] != region["regionId"]
    drag(page, at(0.7, 0.7), at(0.9, 0.8))
    saved(page)
    [resized] = image(api, project_id, image_id)["regions"]
    assert resized["width"] == pytest.approx(0.6, abs=0.015) and resized["height"] == pytest.approx(0.5, abs=0.015)

    # Delete it with the keyboard; Ctrl+Z brings it back.
    page.keyboard.press("Delete")
    saved(page)
    assert image(api, project_id, image_id).get("regions") is None
    page.keyboard.press("Control+z")
    saved(page)
    [back] = image(api, project_id, image_id)["regions"]
    assert back["left"] == pytest.approx(resized["left"], abs=0.001)
    studio.shoot("editor-boxes")

    # Suggested objects (region proposals: no iteration is trained): reject one here, accept one on the next image.
    page.get_by_label("Show suggested objects").check()
    accept = page.get_by_role("button", name=re.compile("^Accept "))
    expect(accept.first).to_be_visible()
    studio.shoot("editor-suggestions")
    page.get_by_role("button", name=re.compile("^Reject ")).first.click()
    expect(page.get_by_text("No more suggestions above this confidence.")).to_be_visible()
    assert len(image(api, project_id, image_id)["regions"]) == 1

    # Next and previous with the keyboard, within the same list.
    page.keyboard.press("j")
    expect(page.get_by_role("heading", name="Image 2 of 6")).to_be_visible()
    second_id = page.url.split("/images/")[1].split("?")[0]
    page.get_by_label("Show suggested objects").check()
    accept.first.click()
    saved(page)
    [accepted] = image(api, project_id, second_id)["regions"]
    assert accepted["tagName"] == "fork"
    page.keyboard.press("ArrowRight")
    expect(page.get_by_role("heading", name="Image 3 of 6")).to_be_visible()
    page.keyboard.press("k")
    expect(page.get_by_role("heading", name="Image 2 of 6")).to_be_visible()
    page.keyboard.press("ArrowLeft")
    expect(page.get_by_role("heading", name="Image 1 of 6")).to_be_visible()
    page.get_by_role("link", name="All images in this view").click()
    expect(grid.get_by_role("listitem").first).to_contain_text("1 box")


def test_classification_select_many_tag_filter_page_and_delete(
    studio: Studio, api: httpx.Client, hemlock_images: list[Path], cherry_images: list[Path]
) -> None:
    project_id = new_project(api, "Browser: trees grid", GENERAL_CLASSIFICATION)
    for tag in ("Hemlock", "Japanese Cherry"):
        api.post(f"/projects/{project_id}/tags", params={"name": tag}).raise_for_status()
    files = [("imageData", (p.name, p.read_bytes(), "image/jpeg")) for p in hemlock_images[:6] + cherry_images[:6]]
    api.post(f"/projects/{project_id}/images", files=files).raise_for_status()

    page = studio.sign_in()
    studio.open(f"#/projects/{project_id}/images?pageSize=8")
    grid = page.get_by_role("list", name="Images")
    expect(grid.get_by_role("listitem")).to_have_count(8)
    expect(page.get_by_text("Page 1 of 2")).to_be_visible()
    rail = page.get_by_role("navigation", name="Image filters")

    for n in (1, 2, 3):
        page.get_by_label(f"Select image {n}", exact=True).check()
    expect(page.get_by_text("3 selected")).to_be_visible()
    page.get_by_role("button", name="Tag…", exact=True).click()
    dialog = page.get_by_role("dialog", name="Tag 3 images")
    dialog.get_by_label("Hemlock").check()
    dialog.get_by_role("button", name="Add tags").click()
    expect(rail.get_by_role("link", name=re.compile("^Hemlock"))).to_contain_text("3")
    assert api.get(f"/projects/{project_id}/images/tagged/count").json() == 3
    expect(grid.get_by_role("listitem").first).to_contain_text("Hemlock")
    studio.shoot("images-classification")

    rail.get_by_role("link", name=re.compile("^Untagged")).click()
    expect(page.get_by_text("9 images")).to_be_visible()
    assert "filter=untagged" in page.url and "pageSize=8" in page.url
    rail.get_by_role("link", name=re.compile("^Hemlock")).click()
    expect(grid.get_by_role("listitem")).to_have_count(3)
    expect(page.get_by_role("heading", name="Tag: Hemlock")).to_be_visible()

    # Untag two of them.
    page.get_by_label("Select image 1", exact=True).check()
    page.get_by_label("Select image 2", exact=True).check()
    page.get_by_role("button", name="Untag…").click()
    dialog = page.get_by_role("dialog", name="Untag 2 images")
    dialog.get_by_label("Hemlock").check()
    dialog.get_by_role("button", name="Remove tags").click()
    expect(grid.get_by_role("listitem")).to_have_count(1)

    # Page through all images, then delete everything on the second page.
    rail.get_by_role("link", name=re.compile("^All")).click()
    page.get_by_role("link", name="Next").click()
    expect(page.get_by_text("Page 2 of 2")).to_be_visible()
    expect(grid.get_by_role("listitem")).to_have_count(4)
    page.get_by_label("Select all on this page").check()
    page.get_by_role("button", name="Delete…").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete 4 images").click()
    expect(page.get_by_text("8 images")).to_be_visible()
    assert api.get(f"/projects/{project_id}/images/count").json() == 8

    # One image in the editor: add a tag from the picker, see it as a chip.
    studio.open(f"#/projects/{project_id}/images?filter=untagged")
    grid.get_by_role("link").first.click()
    page.get_by_label("Tag to add").select_option(label="Japanese Cherry")
    page.get_by_role("button", name="Add tag").click()
    expect(page.get_by_role("list", name="Tags on this image")).to_contain_text("Japanese Cherry")


def test_photos_dropped_on_the_page_open_the_upload_dialog_with_them(
    studio: Studio, api: httpx.Client, hemlock_images: list[Path]
) -> None:
    project_id = new_project(api, "Browser: dropped trees", GENERAL_CLASSIFICATION)
    page = studio.sign_in()
    studio.open(f"#/projects/{project_id}/images")
    expect(page.get_by_role("heading", level=1, name="Browser: dropped trees")).to_be_visible()
    expect(page.get_by_text("No images yet")).to_be_visible()
    # A real drag of two files from the desktop: dragenter, dragover and drop carrying a DataTransfer.
    photos = [{"name": p.name, "bytes": list(p.read_bytes())} for p in hemlock_images[:2]]
    page.evaluate(
        """(photos) => {
          const transfer = new DataTransfer();
          for (const p of photos) transfer.items.add(new File([new Uint8Array(p.bytes)], p.name, {type: "image/jpeg"}));
          for (const type of ["dragenter", "dragover", "drop"]) {
            document.body.dispatchEvent(new DragEvent(type, {dataTransfer: transfer, bubbles: true, cancelable: true}));
          }
        }""",
        photos,
    )
    dialog = page.get_by_role("dialog", name="Add images")
    expect(dialog.get_by_text(re.compile(r"^2 files chosen"))).to_be_visible()
    dialog.get_by_role("button", name="Upload 2 files").click()
    expect(dialog.get_by_text("Done: 2 added, 0 already in the project, 0 not added.")).to_be_visible()
    assert api.get(f"/projects/{project_id}/images/count").json() == 2
