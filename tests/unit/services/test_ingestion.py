"""Images from URLs: refused before any connection when the URL is empty, not http(s), or points
inside the network (the default policy); nothing here leaves this machine.

The one test that fetches does so from a server on 127.0.0.1, with private addresses allowed as
``CVSTUDIO_ALLOW_PRIVATE_URLS`` allows them for local testing.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from shared.domain.enums import ImageCreateStatus
from shared.domain.errors import BadRequest, Code, InvalidImage
from shared.net.url_fetch import FetchPolicy
from shared.services.image_query import ImageQuery
from shared.services.image_uploads import UrlImage
from shared.services.ingestion import ImageDownloads
from tests.unit.services.fakes import World, png

PRIVATE = [
    "http://127.0.0.1/a.png",
    "http://10.1.2.3/a.png",
    "http://169.254.169.254/latest/meta-data",
    "https://[::1]/a.png",
    "http://192.168.0.1:8080/a.png",
]
NOT_HTTP = ["ftp://example.com/a.png", "file:///etc/passwd", "http://user:pw@example.com/a.png", "not a url"]


@pytest.mark.parametrize("url", [None, ""])
def test_a_prediction_needs_a_url(url: str | None) -> None:
    with pytest.raises(BadRequest) as err:
        ImageDownloads(FetchPolicy()).for_prediction(url)
    assert err.value.code is Code.BAD_REQUEST_IMAGE_URL


@pytest.mark.parametrize("url", PRIVATE + NOT_HTTP)
def test_a_prediction_url_inside_the_network_or_not_http_is_refused(url: str) -> None:
    with pytest.raises(BadRequest) as err:
        ImageDownloads(FetchPolicy()).for_prediction(url)
    assert err.value.code is Code.BAD_REQUEST_IMAGE_URL
    assert not isinstance(err.value, InvalidImage)  # a plain 400 for the single-image call


def test_training_urls_each_get_their_own_failure_in_order() -> None:
    found = ImageDownloads(FetchPolicy()).for_training(PRIVATE + NOT_HTTP)
    assert len(found) == len(PRIVATE + NOT_HTTP)
    for got in found:
        assert isinstance(got, InvalidImage)
        assert (got.code, got.create_status) == (Code.BAD_REQUEST_IMAGE_URL, ImageCreateStatus.ERROR_SOURCE)
    first = found[0]
    assert isinstance(first, InvalidImage) and "127.0.0.1" in first.message and "loopback" in first.message
    assert ImageDownloads(FetchPolicy()).for_training([]) == []


def test_a_url_upload_to_a_private_address_stores_nothing(world: World) -> None:
    project = world.projects.create("Urls")
    tag = world.tags.create(project.id, "t").tag
    summary = world.uploads.create_images_from_urls(
        project.id, [UrlImage("http://127.0.0.1/a.png", [tag.id]), UrlImage("http://10.0.0.1/b.png")]
    )
    assert [(r.source_url, r.status) for r in summary.images] == [
        ("http://127.0.0.1/a.png", ImageCreateStatus.ERROR_SOURCE),
        ("http://10.0.0.1/b.png", ImageCreateStatus.ERROR_SOURCE),
    ]
    assert world.images.count_images(project.id, ImageQuery()) == 0


class _Images(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        body = png((10, 20, 30)) if self.path == "/a.png" else b""
        self.send_response(200 if body else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def loopback_server() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _Images)
    thread = threading.Thread(target=server.serve_forever, args=(0.005,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    thread.join()
    server.server_close()


def test_with_private_urls_allowed_a_url_upload_stores_the_image(loopback_server: str) -> None:
    world = World(allow_private_urls=True)
    project = world.projects.create("Local")
    tag = world.tags.create(project.id, "t").tag
    summary = world.uploads.create_images_from_urls(
        project.id, [UrlImage(f"{loopback_server}/a.png"), UrlImage(f"{loopback_server}/missing.png")], [tag.id]
    )
    assert [r.status for r in summary.images] == [ImageCreateStatus.OK, ImageCreateStatus.ERROR_SOURCE]
    (image,) = world.images.list_images(project.id, ImageQuery(tag_ids=(tag.id,)))
    assert world.images.read_rendition(project.id, image.id, "original") == (png((10, 20, 30)), "image/png")
