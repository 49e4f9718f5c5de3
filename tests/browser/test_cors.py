"""A web app on another origin calls the APIs from a browser when its origin is configured
(``CVSTUDIO_CORS_ORIGINS``), and is refused by the browser when it is not: the real CORS check of
chromium, on a page served from a second port."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser

from tests.servers import TRAINING_KEY, RunningServer, free_port, start_server

DOMAINS = "/customvision/v3.4-preview/training/domains"


@pytest.fixture(scope="module")
def web_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Another origin: a plain page on its own port, as a web app would be."""
    root = tmp_path_factory.mktemp("webapp")
    (root / "index.html").write_text("<!doctype html><title>A web app</title><p>Hello</p>")
    handler = lambda *a: http.server.SimpleHTTPRequestHandler(*a, directory=str(root))  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def allowing(web_app: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    server = start_server(tmp_path_factory.mktemp("cors") / "data", extra_env={"CVSTUDIO_CORS_ORIGINS": web_app})
    yield server
    server.stop()


def _fetch_from(browser: Browser, page_url: str, url: str, key: str) -> str:
    """What a script on ``page_url`` gets from ``fetch(url)`` with a key header: the status, or the error."""
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(page_url)
        answer: str = page.evaluate(
            """async ([url, key]) => {
              try { return String((await fetch(url, {headers: {"Training-Key": key}})).status); }
              catch (err) { return err.name; }
            }""",
            [url, key],
        )
        return answer
    finally:
        context.close()


def test_a_configured_origin_calls_the_api_from_the_browser(
    browser: Browser, web_app: str, allowing: RunningServer
) -> None:
    assert _fetch_from(browser, web_app, allowing.endpoint + DOMAINS, TRAINING_KEY) == "200"
    # The preflight is answered without a key (a browser sends none with it), for both APIs' headers.
    preflight = httpx.options(
        allowing.endpoint + "/customvision/v3.0/Prediction/p/classify/iterations/x/image",
        headers={
            "Origin": web_app,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "prediction-key,content-type",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == web_app
    assert "prediction-key" in preflight.headers["access-control-allow-headers"].lower()
    # Another origin is not let in.
    stranger = httpx.get(
        allowing.endpoint + DOMAINS, headers={"Origin": "http://elsewhere.example", "Training-Key": TRAINING_KEY}
    )
    assert "access-control-allow-origin" not in stranger.headers


def test_by_default_the_browser_keeps_other_origins_out(browser: Browser, web_app: str, tmp_path: Path) -> None:
    server = start_server(tmp_path / "data")
    try:
        assert _fetch_from(browser, web_app, server.endpoint + DOMAINS, TRAINING_KEY) == "TypeError"
        same = httpx.get(server.endpoint + DOMAINS, headers={"Origin": web_app, "Training-Key": TRAINING_KEY})
        assert same.status_code == 200 and "access-control-allow-origin" not in same.headers
    finally:
        server.stop()


def test_an_origin_with_a_path_is_refused_at_start(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="CVSTUDIO_CORS_ORIGINS"):
        start_server(tmp_path / "data", extra_env={"CVSTUDIO_CORS_ORIGINS": "https://app.example.com/studio"})
