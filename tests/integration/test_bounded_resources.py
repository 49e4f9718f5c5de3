"""Bounded resources, against a real ``cvstudio serve``: what one client can make the server hold.

* Decoded pixels: a 4 MB PNG may announce the largest accepted image (65,536,000 pixels, 262 MB
  decoded); parallel uploads of it keep the server under its decode budget and give the memory back.
* Bodies and headers: a JSON body over its limit is a 413 in Custom Vision's error shape (before it
  is read when its length is declared, as it streams when chunked); image uploads keep their own
  per-image limits; a request whose headers are over the limit is a 4xx.
* URL downloads run on threads of their own: while slow URLs trickle their bytes, ``GET /tags``
  answers before any of those downloads ends.
"""

from __future__ import annotations

import base64
import io
import os
import socket
import struct
import threading
import time
import uuid
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import psutil
import pytest
from PIL import Image

from shared.domain.limits import (
    DEFAULT_DECODE_MEMORY_BYTES,
    DEFAULT_MAX_HEADER_BYTES,
    DEFAULT_MAX_JSON_BODY_BYTES,
    MAX_IMAGE_BYTES_PREDICTION,
    MAX_IMAGE_PIXELS,
)
from tests.servers import TRAINING_KEY, RunningServer, start_server

API = "/customvision/v3.4-preview/training"
KEY = {"Training-Key": TRAINING_KEY}
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("bounded") / "data")
    yield running
    running.stop()


@pytest.fixture(scope="module")
def client(server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.endpoint, headers=KEY, timeout=120) as http:
        yield http


@pytest.fixture(scope="module")
def project_id(client: httpx.Client) -> str:
    reply = client.post(f"{API}/projects", params={"name": f"bounded-{uuid.uuid4().hex[:8]}"})
    assert reply.status_code == 200, reply.text
    return str(reply.json()["id"])


def largest_png() -> bytes:
    """A valid RGBA PNG of exactly MAX_IMAGE_PIXELS (10,240 x 6,400), all transparent: about 1 MB."""
    width, height = 10_240, MAX_IMAGE_PIXELS // 10_240
    packer = zlib.compressobj(1)
    row = bytes(1 + 4 * width)  # filter byte 0, then RGBA zeros
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def noise_png(side: int) -> bytes:
    """A PNG that does not compress (random pixels): about 3 * side * side bytes."""
    image = Image.frombytes("RGB", (side, side), os.urandom(3 * side * side))
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=1)
    return out.getvalue()


def assert_error_shape(reply: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = reply.json()
    assert set(body) == {"code", "message"}, body
    assert body["code"] and body["message"]
    return body


class RssSampler:
    """The server process's peak resident memory while a block runs (sampled every 10 ms)."""

    def __init__(self, server: RunningServer) -> None:
        self._process = psutil.Process(server.process.pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def rss(self) -> int:
        return int(self._process.memory_info().rss)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.rss())
            time.sleep(0.01)

    def __enter__(self) -> RssSampler:
        self.peak = self.rss()
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


# --- decoded pixels -----------------------------------------------------------------------------


def test_parallel_uploads_of_the_largest_image_stay_in_the_decode_budget(
    server: RunningServer, project_id: str
) -> None:
    """Six 1 MB PNGs that each decode to 262 MB: unbounded, about 1.6 GB at once; here the decodes
    queue for the budget (512 MB), and the memory is handed back to the system afterwards."""
    data = largest_png()
    assert len(data) < MAX_IMAGE_BYTES_PREDICTION  # small enough to predict on, too

    def upload(_: int) -> int:
        with httpx.Client(base_url=server.endpoint, headers=KEY, timeout=300) as http:
            reply = http.post(
                f"{API}/projects/{project_id}/images",
                content=data,
                headers={"Content-Type": "application/octet-stream"},
            )
            return reply.status_code

    sampler = RssSampler(server)
    before = sampler.rss()
    with sampler, ThreadPoolExecutor(6) as pool:
        statuses = list(pool.map(upload, range(6)))
    time.sleep(1.0)
    after = sampler.rss()
    assert statuses == [200] * 6  # the same bytes: one image, then OKDuplicate
    grown = sampler.peak - before
    assert grown < DEFAULT_DECODE_MEMORY_BYTES + 128 * MIB, f"peak grew {grown / MIB:.0f} MB"
    assert after - before < 96 * MIB, f"{(after - before) / MIB:.0f} MB not given back"


# --- bodies and headers -------------------------------------------------------------------------


def test_a_json_body_over_the_limit_is_413_before_it_is_read(server: RunningServer, project_id: str) -> None:
    """The length alone decides: 100 MB announced, a few bytes sent, the 413 comes at once."""
    host, port = server.endpoint.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(
            (
                f"POST {API}/projects/{project_id}/images/tags HTTP/1.1\r\nHost: {host}:{port}\r\n"
                f"Training-Key: {TRAINING_KEY}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {100 * MIB}\r\n\r\n" + '{"tags": ['
            ).encode()
        )
        reply = _read_reply(sock)
    status, body = reply
    assert status == 413
    assert b'"code"' in body and b"larger than" in body


def test_a_json_body_over_the_limit_is_413_in_custom_visions_shape(client: httpx.Client, project_id: str) -> None:
    padding = "x" * (DEFAULT_MAX_JSON_BODY_BYTES + 1)
    reply = client.post(f"{API}/projects/{project_id}/images/tags", json={"tags": [], "padding": padding})
    assert reply.status_code == 413
    assert "larger than" in assert_error_shape(reply)["message"]


def test_a_chunked_json_body_is_counted_as_it_streams(client: httpx.Client, project_id: str) -> None:
    def chunks(total: int) -> Iterator[bytes]:
        yield b'{"tags": [], "padding": "'
        for _ in range(total // 65536):
            yield b"x" * 65536
        yield b'"}'

    over = client.post(f"{API}/projects/{project_id}/images/tags", content=chunks(DEFAULT_MAX_JSON_BODY_BYTES + MIB))
    assert over.status_code == 413
    assert_error_shape(over)
    # Under the limit, a chunked body is read as usual (and refused for what it says, not its size).
    under = client.post(f"{API}/projects/{project_id}/images/tags", content=chunks(64 * 1024))
    assert under.status_code == 400, under.text
    assert_error_shape(under)


def test_image_uploads_keep_their_own_limits_above_the_json_limit(client: httpx.Client, project_id: str) -> None:
    """A 1.5 MB image streams in as bytes, multipart, or base64 JSON (its own, larger, limit)."""
    image = noise_png(720)
    assert DEFAULT_MAX_JSON_BODY_BYTES < len(image) < 6 * MIB
    raw = client.post(
        f"{API}/projects/{project_id}/images", content=image, headers={"Content-Type": "application/octet-stream"}
    )
    assert raw.status_code == 200, raw.text
    multipart = client.post(f"{API}/projects/{project_id}/images", files={"imageData": ("n.png", image)})
    assert multipart.status_code == 200, multipart.text
    other = noise_png(720)
    files = client.post(
        f"{API}/projects/{project_id}/images/files",
        json={"images": [{"name": "n.png", "contents": base64.b64encode(other).decode()}]},
    )
    assert files.status_code == 200, files.text
    assert files.json()["images"][0]["status"] == "OK"
    # The per-image limit still holds: 7 MB is refused for that image, in the batch's answer.
    huge = client.post(
        f"{API}/projects/{project_id}/images",
        content=b"\x89PNG\r\n\x1a\n" + bytes(7 * MIB),
        headers={"Content-Type": "application/octet-stream"},
    )
    assert huge.status_code == 207, huge.text
    assert huge.json()["images"][0]["status"] == "ErrorImageSize"


def test_headers_over_the_limit_are_a_4xx_and_the_server_carries_on(server: RunningServer) -> None:
    """Over the limit (32 KB) but read at once: 431 in Custom Vision's shape. Far over it (1 MB):
    the server stops reading and answers its own plain 400. Under it: served as usual."""
    assert DEFAULT_MAX_HEADER_BYTES == 32 * 1024
    host = server.endpoint.removeprefix("http://")
    name, port = host.split(":")
    for padding, expected in ((40 * 1024, 431), (1024 * 1024, 400)):
        with socket.create_connection((name, int(port)), timeout=10) as sock:
            sock.sendall(
                f"GET {API}/projects HTTP/1.1\r\nHost: {host}\r\nTraining-Key: {TRAINING_KEY}\r\n"
                f"X-Padding: {'a' * padding}\r\n\r\n".encode()
            )
            status, body = _read_reply(sock)
        assert status == expected, body[:200]
        if expected == 431:
            assert b'"code"' in body and b"headers are larger" in body
    with httpx.Client(base_url=server.endpoint, headers={**KEY, "X-Padding": "a" * 16 * 1024}, timeout=10) as http:
        assert http.get(f"{API}/projects").status_code == 200


def _read_reply(sock: socket.socket) -> tuple[int, bytes]:
    """The status and body of one HTTP/1.1 reply (the server closes the connection after it)."""
    data = b""
    while True:
        try:
            piece = sock.recv(65536)
        except (ConnectionResetError, TimeoutError):
            break
        if not piece:
            break
        data += piece
        head, _, body = data.partition(b"\r\n\r\n")
        length = [line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")]
        if length and len(body) >= int(length[0].split(b":")[1]):
            break
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), body


# --- URL downloads ------------------------------------------------------------------------------


class SlowImages:
    """An image server that trickles a small JPEG over ``seconds``; it counts started and finished
    downloads."""

    def __init__(self, seconds: float) -> None:
        image = Image.new("RGB", (64, 64), (200, 40, 40))
        out = io.BytesIO()
        image.save(out, format="JPEG")
        self.body = out.getvalue()
        self.seconds = seconds
        self.started = 0
        self.finished = 0
        self._lock = threading.Lock()
        slow = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                with slow._lock:
                    slow.started += 1
                self.send_response(200)
                self.send_header("Content-Type", "image/jpeg")
                self.send_header("Content-Length", str(len(slow.body)))
                self.end_headers()
                pieces = 20
                step = -(-len(slow.body) // pieces)
                try:
                    for start in range(0, len(slow.body), step):
                        if start:
                            time.sleep(slow.seconds / pieces)
                        if start + step >= len(slow.body):
                            with slow._lock:  # counted before the last byte leaves, so never late
                                slow.finished += 1
                        self.wfile.write(slow.body[start : start + step])
                        self.wfile.flush()
                except OSError:
                    pass

            def log_message(self, *_: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def test_slow_url_downloads_never_delay_other_requests(server: RunningServer, project_id: str) -> None:
    """44 URL uploads from a server that takes 4 s per image: more than the threads every other
    request shares (40). ``GET /tags`` still answers before the first of those downloads ends."""
    slow = SlowImages(seconds=4.0)
    requests = 44
    sent = 0
    lock = threading.Lock()
    pool_limits = httpx.Limits(max_connections=requests + 4)
    try:
        with (
            httpx.Client(base_url=server.endpoint, headers=KEY, timeout=10) as http,
            httpx.Client(base_url=server.endpoint, headers=KEY, timeout=120, limits=pool_limits) as uploader,
        ):
            assert http.get(f"{API}/projects/{project_id}/tags").status_code == 200

            def upload(i: int) -> int:
                nonlocal sent
                with lock:
                    sent += 1
                body = {"images": [{"url": f"{slow.url}/image-{i}.jpg"}]}
                return uploader.post(f"{API}/projects/{project_id}/images/urls", json=body).status_code

            with ThreadPoolExecutor(requests) as pool:
                uploads = [pool.submit(upload, i) for i in range(requests)]
                deadline = time.monotonic() + 30
                while (sent < requests or slow.started < 8) and time.monotonic() < deadline:
                    time.sleep(0.02)
                assert slow.started >= 8, "the URL uploads never reached the slow server"
                time.sleep(0.5)  # every upload request has reached the server by now
                assert slow.finished == 0, "a download ended before GET /tags was even sent"
                tags = http.get(f"{API}/projects/{project_id}/tags")
                finished_meanwhile = slow.finished
                statuses = [u.result() for u in uploads]
        assert tags.status_code == 200
        assert finished_meanwhile == 0, "GET /tags waited for a slow download to end"
        assert statuses == [200] * requests
    finally:
        slow.close()
