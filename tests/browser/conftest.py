"""The studio in a real browser: Debian's chromium driven by Playwright for Python.

Every page a test opens fails the test on a console error, an uncaught exception or a failed
request; `Studio.shoot` writes the page at 1280×800 and at 390 px wide into docs/screenshots/ and
runs axe-core (served from tests/browser/node_modules) over it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Locator, Page, Request, expect, sync_playwright

from tests.browser.chromium import launch
from tests.servers import TRAINING_KEY, RunningServer, start_server

ROOT = Path(__file__).resolve().parents[2]
API = "/customvision/v3.4-preview/training"
SCREENSHOTS = ROOT / "docs" / "screenshots"
AXE = Path(__file__).with_name("node_modules") / "axe-core" / "axe.min.js"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
# Advanced training in these tests is capped so that a detector trains in about a minute.
ADVANCED_CAP_S = 40
# axe-core's "serious" and "critical" impacts fail a page; "moderate" and "minor" are reported.
_FAILING_IMPACTS = {"serious", "critical"}
_AXE_RUN = """async () => (await axe.run(document, {resultTypes: ['violations']})).violations.map((v) => ({
  impact: v.impact, id: v.id, help: v.help, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')),
}))"""


@dataclass
class Problems:
    """What went wrong in the page while a test drove it."""

    items: list[str] = field(default_factory=list)

    def console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.items.append(f"console error: {message.text} ({message.location.get('url', '')})")

    def page_error(self, error: Exception) -> None:
        self.items.append(f"uncaught: {error}")

    def request_failed(self, request: Request) -> None:
        failure = request.failure or ""
        if "ERR_ABORTED" in failure:  # a navigation or fetch the page itself cancelled
            return
        self.items.append(f"request failed: {request.method} {request.url}: {failure}")

    def response(self, response: object) -> None:
        status = getattr(response, "status", 0)
        if status >= 500:
            self.items.append(f"server error: {status} {getattr(response, 'url', '')}")


# -- the mouse on the box editor ------------------------------------------------------------------


def image_rect(page: Page, canvas: Locator, width: int, height: int) -> tuple[float, float, float]:
    """Where the image lies on the screen inside the canvas (it is fitted and centred): x, y, scale."""
    box = canvas.bounding_box()
    assert box is not None
    scale = min(box["width"] / width, box["height"] / height)
    return box["x"] + (box["width"] - width * scale) / 2, box["y"] + (box["height"] - height * scale) / 2, scale


def drag(page: Page, start: tuple[float, float], end: tuple[float, float]) -> None:
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move((start[0] + end[0]) / 2, (start[1] + end[1]) / 2)
    page.mouse.move(*end)
    page.mouse.up()


def saved(page: Page) -> None:
    expect(page.get_by_role("status").filter(has_text="All changes saved.")).to_be_visible()


# Per module, not per session: while Playwright's sync API is open it holds an asyncio loop as the
# thread's running loop, and the tests after these that run their own loops would fail.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = launch(playwright)
        yield browser
        browser.close()


@pytest.fixture
def api(studio_server: RunningServer) -> Iterator[httpx.Client]:
    """The Training API of the studio's server, for reading what the page did (and setting up what a
    test does not test)."""
    with httpx.Client(
        base_url=studio_server.endpoint + API, headers={"Training-Key": TRAINING_KEY}, timeout=60
    ) as client:
        yield client


@pytest.fixture(scope="module")
def studio_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    data = tmp_path_factory.mktemp("studio") / "data"
    server = start_server(data, extra_env={"CVSTUDIO_ADVANCED_TRAINING_CAP_SECONDS": str(ADVANCED_CAP_S)})
    yield server
    server.stop()


class Studio:
    """A signed-in tab on the studio, with the checks every test wants."""

    def __init__(self, context: BrowserContext, server: RunningServer) -> None:
        self.context = context
        self.server = server
        self.problems = Problems()
        self.page: Page = context.new_page()
        self.page.on("console", self.problems.console)
        self.page.on("pageerror", self.problems.page_error)
        self.page.on("requestfailed", self.problems.request_failed)
        self.page.on("response", self.problems.response)

    def open(self, hash_route: str = "#/") -> Page:
        self.page.goto(f"{self.server.endpoint}/{hash_route}")
        return self.page

    def sign_in(self) -> Page:
        page = self.open()
        page.get_by_label("Training key").fill(TRAINING_KEY)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("heading", name="Projects").wait_for()
        return page

    def shoot(self, name: str) -> dict[str, list[str]]:
        """Screenshots at desktop and phone width, and axe-core's findings at each (serious ones fail)."""
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        findings: dict[str, list[str]] = {}
        page = self.page
        for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
            page.set_viewport_size(size)
            page.wait_for_timeout(150)  # a layout pass at the new width
            page.screenshot(path=str(SCREENSHOTS / f"{name}-{label}.png"), full_page=label == "phone")
            findings[label] = self.accessibility_violations()
        page.set_viewport_size(DESKTOP)
        serious = [v for found in findings.values() for v in found if v.split(":", 1)[0] in _FAILING_IMPACTS]
        assert not serious, f"accessibility problems on {name}:\n" + "\n".join(sorted(set(serious)))
        return findings

    def accessibility_violations(self) -> list[str]:
        page = self.page
        if not page.evaluate("typeof window.axe !== 'undefined'"):
            # evaluate() runs outside the page's CSP, so the checker needs no exception in it.
            page.evaluate(AXE.read_text(encoding="utf-8"))
        result = page.evaluate(_AXE_RUN)
        return [f"{v['impact']}: {v['id']}: {v['help']} at {json.dumps(v['nodes'])}" for v in result]

    def check(self) -> None:
        assert not self.problems.items, "the page reported problems:\n" + "\n".join(self.problems.items)


@pytest.fixture
def studio(browser: Browser, studio_server: RunningServer) -> Iterator[Studio]:
    context = browser.new_context(viewport=DESKTOP, accept_downloads=True)
    context.set_default_timeout(15_000)
    tab = Studio(context, studio_server)
    try:
        yield tab
        tab.check()
    finally:
        context.close()
