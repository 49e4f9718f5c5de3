"""Tests for shared.net.url_fetch against real HTTP(S) servers on 127.0.0.1.

Nothing here may send a packet off this machine. An autouse guard wraps ``socket.create_connection``
and fails the test on any address outside loopback, and host names under ``.test`` are answered by
a fake resolver, so even a broken address check could only ever reach 127.0.0.0/8 or ::1.
"""

from __future__ import annotations

import ipaddress
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from shared.domain.errors import Code, InvalidImage
from shared.domain.limits import (
    MAX_IMAGE_BYTES_TRAINING,
    URL_FETCH_MAX_REDIRECTS,
    URL_FETCH_TIMEOUT_SECONDS,
)
from shared.net import url_fetch
from shared.net.url_fetch import FetchPolicy, check_address, fetch_url

PAYLOAD = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
LOCAL = FetchPolicy(allow_private=True, timeout_seconds=5.0)
SMALL = FetchPolicy(allow_private=True, timeout_seconds=5.0, max_bytes=1000)
DRIP_INTERVAL = 0.2


# --- test servers ----------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    """A ThreadingHTTPServer that records connections and requests and joins its threads on close."""

    daemon_threads = False
    block_on_close = True

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.tls = tls
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.connections = 0
        self.requests: list[tuple[str, dict[str, str]]] = []
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def url(self, path: str, *, host: str = "127.0.0.1", scheme: str = "http") -> str:
        return f"{scheme}://{host}:{self.port}{path}"

    @property
    def paths(self) -> list[str]:
        with self.lock:
            return [path for path, _ in self.requests]

    def get_request(self) -> tuple[socket.socket, Any]:
        request = super().get_request()
        with self.lock:
            self.connections += 1
        return request

    def finish_request(self, request: Any, client_address: Any) -> None:
        request.settimeout(5)
        if self.tls is None:
            super().finish_request(request, client_address)
            return
        try:
            tls = self.tls.wrap_socket(request, server_side=True)
        except OSError:  # the client refused our certificate, as some tests expect
            return
        try:
            self.RequestHandlerClass(tls, client_address, self)
        finally:
            tls.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients hanging up mid-answer is what several tests provoke; outcomes are asserted."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        with self.server.lock:
            self.server.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
        route = _ROUTES.get(self.path, _Handler.missing)
        try:
            route(self)
        except OSError:  # the client hung up (e.g. on a body that is too large): expected
            self.close_connection = True

    # routes

    def image(self) -> None:
        self._answer(200, PAYLOAD, {"Content-Type": "image/png"})

    def missing(self) -> None:
        self._answer(404, b"")

    def redirect(self) -> None:
        self._answer(302, b"", {"Location": "/hop"})

    def hop(self) -> None:
        self._answer(302, b"", {"Location": f"http://127.0.0.1:{self.server.port}/image"})

    def loop(self) -> None:
        self._answer(302, b"", {"Location": "/loop"})

    def no_location(self) -> None:
        self._answer(302, b"")

    def redirect_ftp(self) -> None:
        self._answer(301, b"", {"Location": "ftp://127.0.0.1/image"})

    def redirect_private(self) -> None:
        self._answer(307, b"", {"Location": f"http://127.0.0.2:{self.server.port}/image"})

    def redirect_metadata(self) -> None:
        self._answer(302, b"", {"Location": "http://169.254.169.254/latest/meta-data/"})

    def exact(self) -> None:
        self._answer(200, b"x" * 1000)

    def big_declared(self) -> None:
        self._answer(200, b"x" * 5000)

    def huge_declared(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(7 * 1024 * 1024))
        self.end_headers()
        self.close_connection = True

    def big_chunked(self) -> None:
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for _ in range(10):
            self.wfile.write(b"1f4\r\n" + b"x" * 500 + b"\r\n")
        self.wfile.write(b"0\r\n\r\n")

    def big_unbounded(self) -> None:
        self.send_response(200)
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        self.wfile.write(b"x" * 5000)

    def truncated(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "100")
        self.end_headers()
        self.close_connection = True
        self.wfile.write(b"x" * 10)

    def garbage(self) -> None:
        self.close_connection = True
        self.wfile.write(b"NOT HTTP AT ALL\r\n\r\n")

    def drip_body(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "100")
        self.end_headers()
        self.close_connection = True
        self._drip(100)

    def drip_headers(self) -> None:
        self.close_connection = True
        self.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
        self._drip(100)

    def silent(self) -> None:
        self.close_connection = True
        self.server.stop.wait(5)

    # helpers

    def _answer(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _drip(self, count: int) -> None:
        """One byte per DRIP_INTERVAL: each read finishes well within any per-read timeout."""
        for _ in range(count):
            if self.server.stop.wait(DRIP_INTERVAL):
                return
            self.wfile.write(b"x")


_ROUTES: dict[str, Callable[[_Handler], None]] = {
    "/image": _Handler.image,
    "/missing": _Handler.missing,
    "/redirect": _Handler.redirect,
    "/hop": _Handler.hop,
    "/loop": _Handler.loop,
    "/no-location": _Handler.no_location,
    "/redirect-ftp": _Handler.redirect_ftp,
    "/redirect-private": _Handler.redirect_private,
    "/redirect-metadata": _Handler.redirect_metadata,
    "/exact": _Handler.exact,
    "/big-declared": _Handler.big_declared,
    "/huge-declared": _Handler.huge_declared,
    "/big-chunked": _Handler.big_chunked,
    "/big-unbounded": _Handler.big_unbounded,
    "/truncated": _Handler.truncated,
    "/garbage": _Handler.garbage,
    "/drip-body": _Handler.drip_body,
    "/drip-headers": _Handler.drip_headers,
    "/silent": _Handler.silent,
}


def _serve(tls: ssl.SSLContext | None = None) -> Iterator[_Server]:
    server = _Server(tls)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server
    finally:
        server.stop.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def server() -> Iterator[_Server]:
    yield from _serve()


# --- network guards and a fake resolver ----------------------------------------------------------


@pytest.fixture(autouse=True)
def connects(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every address fetch_url connects to; anything but loopback fails the test before a packet."""
    attempted: list[str] = []
    real = socket.create_connection

    def guarded(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        attempted.append(address[0])
        try:
            loopback = ipaddress.ip_address(address[0]).is_loopback
        except ValueError:
            loopback = False  # a host name: fetch_url must connect to checked IPs only
        if not loopback:
            raise AssertionError(f"fetch_url tried to connect to {address[0]!r}")
        return real(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", guarded)
    return attempted


@dataclass
class FakeDns:
    """Answers for ``*.test`` names; each lookup takes the next answer, the last one repeats."""

    answers: dict[str, list[list[str]]] = field(default_factory=dict)
    lookups: list[str] = field(default_factory=list)
    slow: set[str] = field(default_factory=set)
    release: threading.Event = field(default_factory=threading.Event)


@pytest.fixture
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeDns]:
    dns = FakeDns()
    real = socket.getaddrinfo

    def fake(host: Any, port: Any, *args: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
        if not (isinstance(host, str) and host.endswith(".test")):
            return real(host, port, *args, **kwargs)
        dns.lookups.append(host)
        if host in dns.slow:
            dns.release.wait(5)
        if host not in dns.answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        queue = dns.answers[host]
        ips = queue.pop(0) if len(queue) > 1 else queue[0]
        return [_addrinfo(ip, port) for ip in ips]

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    yield dns
    dns.release.set()


def _addrinfo(ip: str, port: int) -> tuple[Any, ...]:
    if ipaddress.ip_address(ip).version == 6:
        return (socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (ip, port, 0, 0))
    return (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (ip, port))


@pytest.fixture
def trust_only_first_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let 127.0.0.1 (where the test servers live) pass the address check and nothing else.

    That makes a first hop on this machine acceptable under allow_private=False, so what happens
    to the *next* address (a redirect target, a second DNS answer) is the real check's decision.
    """
    real = url_fetch.check_address

    def check(ip: Any, allow_private: bool) -> str | None:
        if str(ip) == "127.0.0.1":
            return None
        return real(ip, allow_private)

    monkeypatch.setattr(url_fetch, "check_address", check)


def _refused(excinfo: pytest.ExceptionInfo[InvalidImage]) -> str:
    """Assert the error is a URL-source failure and return its message."""
    error = excinfo.value
    assert error.code is Code.BAD_REQUEST_IMAGE_URL
    assert error.create_status == "ErrorSource"
    assert error.status == 400
    return error.message


# --- successful fetches ------------------------------------------------------------------------------


def test_policy_defaults_are_the_documented_limits() -> None:
    policy = FetchPolicy()
    assert policy.allow_private is False
    assert policy.timeout_seconds == URL_FETCH_TIMEOUT_SECONDS
    assert policy.max_bytes == MAX_IMAGE_BYTES_TRAINING
    assert policy.max_redirects == URL_FETCH_MAX_REDIRECTS


def test_downloads_the_body_with_the_expected_request(server: _Server, connects: list[str]) -> None:
    assert fetch_url(server.url("/image"), LOCAL) == PAYLOAD

    [(path, headers)] = server.requests
    assert path == "/image"
    assert headers["host"] == f"127.0.0.1:{server.port}"
    assert headers["user-agent"] == "cvstudio-url-fetch/1"
    assert headers["accept"] == "image/*"
    assert headers["accept-encoding"] == "identity"
    assert connects == ["127.0.0.1"]


def test_scheme_is_case_insensitive(server: _Server) -> None:
    assert fetch_url(server.url("/image", scheme="HTTP"), LOCAL) == PAYLOAD


def test_body_of_exactly_max_bytes_is_accepted(server: _Server) -> None:
    assert fetch_url(server.url("/exact"), SMALL) == b"x" * 1000


def test_localhost_is_fetched_when_private_addresses_are_allowed(server: _Server) -> None:
    # localhost may resolve to ::1 first, where nothing listens: the next checked address is tried.
    assert fetch_url(server.url("/image", host="localhost"), LOCAL) == PAYLOAD


def test_follows_relative_and_absolute_redirects(server: _Server) -> None:
    assert fetch_url(server.url("/redirect"), LOCAL) == PAYLOAD
    assert server.paths == ["/redirect", "/hop", "/image"]


def test_host_is_resolved_once_and_the_checked_address_is_used(
    server: _Server, fake_dns: FakeDns, connects: list[str]
) -> None:
    # A rebinding resolver: the first answer is the one checked, later ones would point elsewhere.
    fake_dns.answers["images.test"] = [["127.0.0.1"], ["10.0.0.5"]]

    assert fetch_url(server.url("/image", host="images.test"), LOCAL) == PAYLOAD

    assert fake_dns.lookups == ["images.test"]
    assert connects == ["127.0.0.1"]
    [(_, headers)] = server.requests
    assert headers["host"] == f"images.test:{server.port}"


# --- HTTP failures -------------------------------------------------------------------------------


def test_non_2xx_status_is_named(server: _Server) -> None:
    url = server.url("/missing")
    with pytest.raises(InvalidImage) as excinfo:
        fetch_url(url, LOCAL)
    assert _refused(excinfo) == f"Could not download {url}: the server answered 404."


def test_redirect_loop_stops_after_max_redirects(server: _Server) -> None:
    with pytest.raises(InvalidImage) as excinfo:
        fetch_url(server.url("/loop"), LOCAL)
    assert "redirected too many times (the limit is 3)" in _refused(excinfo)
    assert server.paths == ["/loop"] * 4  # the first request and three redirects


def test_redirect_without_location_is_refused(server: _Server) -> None:
    with pytest.raises(InvalidImage) as excinfo:
        fetch_url(server.url("/no-location"), LOCAL)
    assert "answered 302 without saying where to" in _refused(excinfo)


def test_redirect_to_another_scheme_is_refused(server: _Server) -> None:
    with pytest.raises(InvalidImage) as excinfo:
        fetch_url(server.url("/redirect-ftp"), LOCAL)
    message = _refused(excinfo)
    assert "(redirected to ftp://127.0.0.1/image)" in message
    assert "only http:// and https:// URLs are accepted" in message


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/garbage", "the server's answer was not valid HTTP"),
        ("/truncated", "the connection closed before the whole image arrived"),
    ],
)
def test_broken_answers_are_refused(server: _Server, path: str, reason: str) -> None:
    with pytest.raises(InvalidImage) as excinfo:
        fetch_url(server.url(path), LOCAL)
    assert reason in _refused(excinfo)


def test_closed_port_is_refused() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(InvalidImage) as excinfo:
        fetch_url(f"http://127.0.0.1:{port}/image", LOCAL)
    assert "the connection to 127.0.0.1 was refused" in _refused(excinfo)


def test_unknown_host_is_refused(fake_dns: FakeDns, connects: list[str]) -> None:
    with pytest.raises(InvalidImage) as excinfo:
        fetch_url("http://nowhere.test/x.jpg", LOCAL)
    assert "the host nowhere.test could not be found" in _refused(excinfo)
    assert connects == []


# --- size limits -----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/big-declared", "/big-chunked", "/big-unbounded"])
def test_body_over_max_bytes_is_refused(server: _Server, path: str) -> None:
    url = server.url(path)
    with pytest.raises(InvalidImage) as excinfo:
        fetch_url(url, SMALL)
    error = excinfo.value
    assert error.code is Code.BAD_REQUEST_IMAGE_SIZE_BYTES
    assert error.create_status == "ErrorImageSize"
    assert error.message == f"Could not download {url}: the image is larger than 1000 bytes."


def test_declared_length_over_the_limit_is_refused_before_the_body(server: _Server) -> None:
    # The server declares 7 MB and sends none of it: only an early refusal reports the size.
    with pytest.raises(InvalidImage) as excinfo:
        fetch_url(server.url("/huge-declared"), FetchPolicy(allow_private=True))
    assert excinfo.value.create_status == "ErrorImageSize"
    assert excinfo.value.message.endswith(": the image is larger than 6 MB.")


def test_size_limit_is_stated_in_kilobytes(server: _Server) -> None:
    with pytest.raises(InvalidImage) as excinfo:
        fetch_url(server.url("/image"), FetchPolicy(allow_private=True, max_bytes=1024))
    assert excinfo.value.message.endswith(": the image is larger than 1 KB.")


# --- the deadline ------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/drip-body", "/drip-headers", "/silent"])
def test_slow_servers_are_cut_at_the_deadline(server: _Server, path: str) -> None:
    url = server.url(path)
    policy = FetchPolicy(allow_private=True, timeout_seconds=1.0)
    started = time.monotonic()
    with pytest.raises(InvalidImage) as excinfo:
        fetch_url(url, policy)
    elapsed = time.monotonic() - started
    assert _refused(excinfo) == f"Could not download {url}: timed out after 1 s."
    assert 0.9 <= elapsed < 2.0


def test_slow_dns_is_cut_at_the_deadline(fake_dns: FakeDns, connects: list[str]) -> None:
    fake_dns.slow.add("slow.test")
    fake_dns.answers["slow.test"] = [["127.0.0.1"]]
    started = time.monotonic()
    with pytest.raises(InvalidImage) as excinfo:
        fetch_url("http://slow.test/x.jpg", FetchPolicy(allow_private=True, timeout_seconds=0.5))
    assert "timed out after 0.5 s" in _refused(excinfo)
    assert time.monotonic() - started < 1.5
    assert connects == []


def test_the_deadline_covers_all_redirects(server: _Server, monkeypatch: pytest.MonkeyPatch) -> None:
    # Each hop is quick, but a clock that jumps 0.6 s per hop exhausts one 1 s budget on the second.
    real = time.monotonic
    skew = [0.0]

    def skewed() -> float:
        return real() + skew[0]

    original = url_fetch._fetch_once

    def slow_hop(url: str, policy: FetchPolicy, deadline: Any) -> Any:
        skew[0] += 0.6
        return original(url, policy, deadline)

    monkeypatch.setattr(url_fetch.time, "monotonic", skewed)
    monkeypatch.setattr(url_fetch, "_fetch_once", slow_hop)
    with pytest.raises(InvalidImage) as excinfo:
        fetch_url(server.url("/redirect"), FetchPolicy(allow_private=True, timeout_seconds=1.0))
    assert "timed out after 1 s" in _refused(excinfo)
    assert server.paths == ["/redirect"]


# --- refused URLs and addresses ---------------------------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_loopback_is_refused_before_connecting(server: _Server, connects: list[str], host: str) -> None:
    url = server.url("/image", host=host)
    with pytest.raises(InvalidImage) as excinfo:
        fetch_url(url, FetchPolicy())
    message = _refused(excinfo)
    assert message.startswith(f"Could not download {url}: refused because ")
    assert "a loopback address" in message
    assert message.endswith("Set CVSTUDIO_ALLOW_PRIVATE_URLS=true to allow it for local testing.")
    assert connects == []
    assert server.connections == 0


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://10.0.0.1/x.jpg", "10.0.0.1 is a private address"),
        ("http://192.168.1.20/x.jpg", "192.168.1.20 is a private address"),
        ("http://172.16.5.4/x.jpg", "172.16.5.4 is a private address"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address"),
        ("http://[::1]/x.jpg", "::1 is a loopback address"),
        ("http://0.0.0.0/x.jpg", "0.0.0.0 is an unspecified address"),
        ("http://[::]/x.jpg", ":: is an unspecified address"),
        ("http://100.64.1.1/x.jpg", "100.64.1.1 is a shared (carrier-grade NAT) address"),
        ("http://[::ffff:127.0.0.1]/x.jpg", "::ffff:127.0.0.1 is a loopback address"),
        ("http://[::ffff:169.254.169.254]/x.jpg", "::ffff:169.254.169.254 is a link-local address"),
        ("http://[fe80::1]/x.jpg", "fe80::1 is a link-local address"),
        ("http://[fd00::1]/x.jpg", "fd00::1 is a private address"),
        ("http://224.0.0.1/x.jpg", "224.0.0.1 is a multicast address"),
        ("https://10.0.0.1:8443/x.jpg", "10.0.0.1 is a private address"),
    ],
)
def test_private_addresses_are_refused_without_network_traffic(connects: list[str], url: str, reason: str) -> None:
    with pytest.raises(InvalidImage) as excinfo:
        fetch_url(url, FetchPolicy())
    message = _refused(excinfo)
    assert f"refused because {reason}" in message
    assert "CVSTUDIO_ALLOW_PRIVATE_URLS=true" in message
    assert connects == []


@pytest.mark.parametrize("url", ["http://2130706433/x.jpg", "http://127.1/x.jpg"])
def test_numeric_spellings_of_loopback_are_refused(connects: list[str], url: str) -> None:
    # The check looks at what the host resolves to, so odd spellings of 127.0.0.1 are caught too.
    with pytest.raises(InvalidImage) as excinfo:
        fetch_url(url, FetchPolicy())
    _refused(excinfo)
    assert connects == []


def test_query_string_is_left_out_of_messages(connects: list[str]) -> None:
    with pytest.raises(InvalidImage) as excinfo:
        fetch_url("http://10.0.0.1/x.jpg?sig=secret-signature#frag", FetchPolicy())
    message = _refused(excinfo)
    assert message.startswith("Could not download http://10.0.0.1/x.jpg: refused because")
    assert "secret" not in message


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://127.0.0.1/x.jpg", "only http:// and https:// URLs are accepted"),
        ("file:///etc/passwd", "only http:// and https:// URLs are accepted"),
        ("gopher://127.0.0.1:70/_", "only http:// and https:// URLs are accepted"),
        ("not a url", "only http:// and https:// URLs are accepted"),
        ("", "only http:// and https:// URLs are accepted"),
        ("http://user:pw@127.0.0.1/x.jpg", "URLs with a user name or password are not accepted"),
        ("http://user@127.0.0.1/x.jpg", "URLs with a user name or password are not accepted"),
        ("http://", "the URL has no host"),
        ("http:///x.jpg", "the URL has no host"),
        ("http://[::1/x.jpg", "the URL is malformed"),
        ("http://127.0.0.1:99999/x.jpg", "the URL is malformed"),
        ("http://127.0.0.1:port/x.jpg", "the URL is malformed"),
        ("http://img.test/a\r\nX-Injected: 1", "the URL is malformed"),
        ("http://exa mple.test/x.jpg", "the URL's host name is not valid"),
        ("http://a..b.test/x.jpg", "the URL's host name is not valid"),
        ("http://img.test/" + "a" * 9000, "the URL is longer than 8192 characters"),
    ],
)
def test_unacceptable_urls_are_refused(connects: list[str], url: str, reason: str) -> None:
    # allow_private is on: these are refused for what the URL is, not where it points.
    with pytest.raises(InvalidImage) as excinfo:
        fetch_url(url, LOCAL)
    message = _refused(excinfo)
    assert f": {reason}." in message
    assert "pw" not in message
    assert connects == []


# --- redirects and resolutions the address check must catch ------------------------------------


@pytest.mark.usefixtures("trust_only_first_loopback")
def test_redirect_to_a_private_address_is_refused(server: _Server, connects: list[str]) -> None:
    with pytest.raises(InvalidImage) as excinfo:
        fetch_url(server.url("/redirect-private"), FetchPolicy())
    message = _refused(excinfo)
    assert f"(redirected to http://127.0.0.2:{server.port}/image)" in message
    assert "refused because 127.0.0.2 is a loopback address" in message
    assert server.paths == ["/redirect-private"]
    assert connects == ["127.0.0.1"]


@pytest.mark.usefixtures("trust_only_first_loopback")
def test_redirect_to_cloud_metadata_is_refused(server: _Server, connects: list[str]) -> None:
    with pytest.raises(InvalidImage) as excinfo:
        fetch_url(server.url("/redirect-metadata"), FetchPolicy())
    assert "169.254.169.254 is a link-local address" in _refused(excinfo)
    assert connects == ["127.0.0.1"]


@pytest.mark.usefixtures("trust_only_first_loopback")
def test_every_resolved_address_is_checked(server: _Server, fake_dns: FakeDns, connects: list[str]) -> None:
    fake_dns.answers["images.test"] = [["127.0.0.1", "10.0.0.5"]]
    with pytest.raises(InvalidImage) as excinfo:
        fetch_url(server.url("/image", host="images.test"), FetchPolicy())
    assert "refused because images.test resolves to a private address (10.0.0.5)" in _refused(excinfo)
    assert connects == []
    assert server.connections == 0


# --- check_address -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ip", "problem"),
    [
        ("127.0.0.1", "a loopback address"),
        ("127.255.0.9", "a loopback address"),
        ("::1", "a loopback address"),
        ("10.0.0.1", "a private address"),
        ("172.31.255.255", "a private address"),
        ("192.168.0.1", "a private address"),
        ("fc00::1", "a private address"),
        ("169.254.169.254", "a link-local address"),
        ("fe80::abcd", "a link-local address"),
        ("0.0.0.0", "an unspecified address"),
        ("::", "an unspecified address"),
        ("100.64.1.1", "a shared (carrier-grade NAT) address"),
        ("100.127.255.254", "a shared (carrier-grade NAT) address"),
        ("224.0.0.251", "a multicast address"),
        ("ff02::1", "a multicast address"),
        ("240.0.0.1", "a private address"),
        ("255.255.255.255", "a private address"),
        ("::ffff:127.0.0.1", "a loopback address"),
        ("::ffff:10.1.2.3", "a private address"),
        ("::ffff:169.254.169.254", "a link-local address"),
        ("64:ff9b::a00:1", "a private address"),  # NAT64 for 10.0.0.1
        ("2002:a00:1::1", "a 6to4 or Teredo tunnel address"),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "a 6to4 or Teredo tunnel address"),
        ("192.0.2.10", "a private address"),  # documentation range
    ],
)
def test_check_address_refuses(ip: str, problem: str) -> None:
    assert check_address(ip, allow_private=False) == problem
    assert check_address(ipaddress.ip_address(ip), allow_private=False) == problem
    assert check_address(ip, allow_private=True) is None


@pytest.mark.parametrize(
    "ip",
    ["8.8.8.8", "1.1.1.1", "93.184.215.14", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"],
)
def test_check_address_accepts_public_unicast(ip: str) -> None:
    assert check_address(ip, allow_private=False) is None


# --- https -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for images.test only (not for 127.0.0.1)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    command = [
        openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
        "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2",
        "-subj", "/CN=images.test", "-addext", "subjectAltName=DNS:images.test",
    ]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True)
    return cert, key


@pytest.fixture
def tls_server(certificate: tuple[Path, Path]) -> Iterator[_Server]:
    cert, key = certificate
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    yield from _serve(context)


@pytest.fixture
def trust_test_certificate(monkeypatch: pytest.MonkeyPatch, certificate: tuple[Path, Path]) -> None:
    """Make the default TLS context trust the test certificate, as a system CA store would."""
    real = ssl.create_default_context

    def with_test_ca(*args: Any, **kwargs: Any) -> ssl.SSLContext:
        return real(cafile=str(certificate[0]))

    monkeypatch.setattr(ssl, "create_default_context", with_test_ca)


@pytest.mark.usefixtures("trust_test_certificate")
def test_https_checks_the_certificate_against_the_url_host(
    tls_server: _Server, fake_dns: FakeDns, connects: list[str]
) -> None:
    fake_dns.answers["images.test"] = [["127.0.0.1"]]
    url = tls_server.url("/image", host="images.test", scheme="https")

    assert fetch_url(url, LOCAL) == PAYLOAD

    assert connects == ["127.0.0.1"]
    [(_, headers)] = tls_server.requests
    assert headers["host"] == f"images.test:{tls_server.port}"


@pytest.mark.usefixtures("trust_test_certificate")
def test_https_certificate_for_another_host_is_refused(tls_server: _Server) -> None:
    # Same server, same certificate, but the URL names 127.0.0.1, which the certificate does not.
    with pytest.raises(InvalidImage) as excinfo:
        fetch_url(tls_server.url("/image", scheme="https"), LOCAL)
    assert "the TLS certificate of 127.0.0.1 could not be verified" in _refused(excinfo)
    assert tls_server.requests == []


def test_https_untrusted_certificate_is_refused(tls_server: _Server, fake_dns: FakeDns) -> None:
    fake_dns.answers["images.test"] = [["127.0.0.1"]]
    with pytest.raises(InvalidImage) as excinfo:
        fetch_url(tls_server.url("/image", host="images.test", scheme="https"), LOCAL)
    assert "the TLS certificate of images.test could not be verified" in _refused(excinfo)
    assert tls_server.requests == []
