"""Training from the Train dialog and reading the Performance tab, against a real server and real images.

A multiclass classifier (the quickstart's trees) is refused with too few images, then trained Quick
through the dialog; its figures, per-tag table, curves, confusion matrix and held-out images are
checked against what the API says. A detector's mAP, overlap slider and boxes: test_walkthrough.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from azure.cognitiveservices.vision.customvision.training import CustomVisionTrainingClient
from playwright.sync_api import Page, expect

from tests.browser.conftest import Studio
from tests.sdk.helpers import GENERAL_CLASSIFICATION, training_client, unique
from tests.servers import TRAINING_KEY, RunningServer
from tests.training.conftest import upload, wait_for

TRAINING = "/customvision/v3.4-preview/training"


@pytest.fixture(scope="module")
def client(studio_server: RunningServer) -> Iterator[CustomVisionTrainingClient]:
    trainer = training_client(studio_server.endpoint)
    yield trainer
    trainer.close()


def pct(value: float) -> str:
    """A fraction as the page shows it (ui.js `percent`: one decimal)."""
    return f"{value * 100:.1f}%"


def figure(page: Page, name: str) -> Any:
    return page.get_by_role("group", name=name, exact=True).locator(".value")


def expect_figures(page: Page, performance: Any, average: str) -> None:
    expect(figure(page, "Precision")).to_have_text(pct(performance.precision))
    expect(figure(page, "Recall")).to_have_text(pct(performance.recall))
    expect(figure(page, average)).to_have_text(pct(performance.average_precision))


def held_out(studio_server: RunningServer, project_id: str, iteration_id: str) -> list[dict[str, Any]]:
    """Every held-out image with its predictions, straight from the API."""
    base = f"{TRAINING}/projects/{project_id}/iterations/{iteration_id}/performance/images"
    with httpx.Client(base_url=studio_server.endpoint, headers={"Training-Key": TRAINING_KEY}) as api:
        found: list[dict[str, Any]] = api.get(base, params={"take": 256}).json()
    return found


def multiclass_mistakes(images: list[dict[str, Any]], threshold: float) -> int:
    """Images whose most probable tag (when it reaches the threshold) is not their true tag."""
    wrong = 0
    for image in images:
        top = max(image["predictions"], key=lambda p: p["probability"])
        predicted = top["tagId"] if top["probability"] >= threshold else None
        truth = image["tags"][0]["tagId"] if image["tags"] else None
        wrong += predicted != truth
    return wrong


def test_the_train_dialog_refuses_then_trains_and_the_performance_tab_matches_the_api(
    studio: Studio,
    client: CustomVisionTrainingClient,
    studio_server: RunningServer,
    hemlock_images: list[Path],
    cherry_images: list[Path],
) -> None:
    project = client.create_project(unique("Browser trees"), domain_id=GENERAL_CLASSIFICATION)
    hemlock = client.create_tag(project.id, "Hemlock")
    cherry = client.create_tag(project.id, "Japanese Cherry")
    upload(client, project.id, hemlock.id, hemlock_images[:2])
    upload(client, project.id, cherry.id, cherry_images[:5])

    # No iteration yet: the empty state offers the Train dialog, which says what is missing.
    page = studio.sign_in()
    studio.open(f"#/projects/{project.id}/performance")
    page.get_by_role("button", name="Train your first model").click()
    dialog = page.get_by_role("dialog", name="Train a model")
    expect(dialog).to_contain_text("Hemlock needs 3 more images: every tag needs at least 5.")
    expect(dialog.get_by_role("row", name=re.compile("^Hemlock"))).to_contain_text("3 more needed")
    expect(dialog.get_by_role("button", name="Train", exact=True)).to_be_disabled()
    studio.shoot("train-dialog-refusal")
    dialog.get_by_role("button", name="Cancel").click()

    # Enough images now: train Quick from the toolbar's Train button.
    upload(client, project.id, hemlock.id, hemlock_images[2:5])
    page.reload()
    page.get_by_role("toolbar", name="Project actions").get_by_role("button", name="Train").click()
    dialog = page.get_by_role("dialog", name="Train a model")
    expect(dialog.get_by_label("Quick training")).to_be_checked()
    expect(dialog.get_by_role("row", name=re.compile("^Hemlock"))).to_contain_text("Ready")
    dialog.get_by_role("button", name="Train", exact=True).click()
    expect(dialog).to_be_hidden()
    expect(page.get_by_role("progressbar", name="Training Iteration 1", exact=True)).to_be_visible()
    expect(page.get_by_role("heading", name=re.compile("Iteration 1"))).to_be_visible()
    iteration = client.get_iterations(project.id)[0]
    assert page.url.endswith(f"/performance/{iteration.id}")
    done = wait_for(client, project.id, iteration.id)
    assert done.status == "Completed", done.training_error_details

    # The banner reloads the page when training ends: the figures are the API's at 50%.
    expect(figure(page, "Precision")).to_be_visible(timeout=30_000)
    expect(page.get_by_role("progressbar", name="Training Iteration 1", exact=True)).to_have_count(0)
    expect_figures(page, client.get_iteration_performance(project.id, iteration.id, threshold=0.5), "AP")

    # The threshold slider re-queries the API (and keeps its value in the address).
    at_half = client.get_iteration_performance(project.id, iteration.id, threshold=0.5)
    threshold = next(
        t
        for t in (0.99, 1.0)
        if (p := client.get_iteration_performance(project.id, iteration.id, threshold=t)).recall != at_half.recall
        or p.precision != at_half.precision
    )
    page.get_by_label("Probability threshold").fill(str(threshold))
    moved = client.get_iteration_performance(project.id, iteration.id, threshold=threshold)
    expect_figures(page, moved, "AP")
    assert f"threshold={threshold}" in page.url

    # The per-tag table, one curve per tag, the confusion matrix and the held-out images.
    for tag in moved.per_tag_performance:
        row = page.locator(".perf-table").get_by_role("row", name=re.compile(f"^{tag.name}"))
        expect(row).to_contain_text(pct(tag.precision))
        expect(row).to_contain_text(pct(tag.recall))
    curves = page.get_by_role("img", name=re.compile("^Precision-recall curve: "))
    expect(curves).to_have_count(2)
    expect(page.get_by_role("img", name="Precision-recall curve: Hemlock")).to_be_visible()
    count = client.get_image_performance_count(project.id, iteration.id)
    assert count > 0
    matrix = page.get_by_role("table").filter(has_text="Rows: the true tag")
    cells = [int(text) for text in matrix.locator("tbody td").all_inner_texts()]
    assert sum(cells) == count
    images = held_out(studio_server, project.id, iteration.id)
    tiles = page.get_by_role("list", name="Held-out images, mistakes first").get_by_role("listitem")
    expect(tiles.first).to_be_visible()
    labels = [tiles.nth(i).get_attribute("aria-label") or "" for i in range(tiles.count())]
    mistakes = multiclass_mistakes(images, threshold)
    assert sum(label.startswith("Mistake") for label in labels) == mistakes
    if mistakes:
        assert labels[0].startswith("Mistake")
    studio.shoot("performance")

    # Nothing changed since: the API's refusal is shown in the dialog, its code in small print.
    page.get_by_role("toolbar", name="Project actions").get_by_role("button", name="Train").click()
    dialog = page.get_by_role("dialog", name="Train a model")
    dialog.get_by_role("button", name="Train", exact=True).click()
    expect(dialog.get_by_role("alert")).to_contain_text("Nothing changed since the last training")
    expect(dialog.get_by_role("alert")).to_contain_text("BadRequestTrainingNotNeeded")
    dialog.get_by_role("button", name="Cancel").click()
    # That refusal is the one failed response the test expects.
    studio.problems.items = [p for p in studio.problems.items if "400" not in p]
