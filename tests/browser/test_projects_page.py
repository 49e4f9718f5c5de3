"""Signing in and the projects gallery: create, edit and delete a project through the dialogs."""

from __future__ import annotations

import httpx
from playwright.sync_api import expect

from tests.browser.conftest import Studio
from tests.servers import TRAINING_KEY


def test_a_wrong_key_is_refused_in_plain_words_and_the_right_one_opens_the_projects(studio: Studio) -> None:
    page = studio.open()
    expect(page.get_by_role("heading", name="Sign in to cvstudio")).to_be_visible()
    studio.shoot("sign-in")
    page.get_by_label("Training key").fill("not-the-key")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("That key was not accepted")
    page.get_by_label("Training key").fill(TRAINING_KEY)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Projects")).to_be_visible()
    # The key lives in the tab's session, never in the address.
    assert TRAINING_KEY not in page.url
    assert page.evaluate("sessionStorage.getItem('cvstudio.trainingKey')") == TRAINING_KEY
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in to cvstudio")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('cvstudio.trainingKey')") is None
    # The 401 of the wrong key is the only failed response; it is expected, not a problem.
    studio.problems.items = [p for p in studio.problems.items if "401" not in p]


def test_a_project_is_created_edited_and_deleted_from_the_gallery(studio: Studio) -> None:
    page = studio.sign_in()
    page.get_by_role("button", name="New project").first.click()
    dialog = page.get_by_role("dialog", name="New project")
    dialog.get_by_label("Name").fill("Browser: birds")
    dialog.get_by_label("Description").fill("Which bird is at the feeder")
    dialog.get_by_label("Classification, several tags per image").check()
    studio.shoot("new-project")
    dialog.get_by_role("button", name="Create project").click()
    expect(page.get_by_role("heading", level=1, name="Browser: birds")).to_be_visible()
    project_id = page.url.split("#/projects/")[1].split("/")[0]
    with httpx.Client(base_url=studio.server.endpoint, headers={"Training-Key": TRAINING_KEY}) as api:
        made = api.get(f"/customvision/v3.4-preview/training/projects/{project_id}").json()
    assert made["description"] == "Which bird is at the feeder"
    assert made["settings"]["classificationType"] == "Multilabel"

    page.get_by_role("link", name="Projects").first.click()
    card = page.get_by_role("listitem").filter(has_text="Browser: birds")
    expect(card).to_contain_text("Classification (multilabel)")
    studio.shoot("projects")
    card.get_by_role("button", name="Edit").click()
    page.get_by_role("dialog").get_by_label("Name").fill("Browser: feeder birds")
    page.get_by_role("dialog").get_by_role("button", name="Save").click()
    expect(page.get_by_role("listitem").filter(has_text="Browser: feeder birds")).to_be_visible()
    page.get_by_role("listitem").filter(has_text="Browser: feeder birds").get_by_role("button", name="Delete").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete project").click()
    expect(page.get_by_text("No projects yet")).to_be_visible()
