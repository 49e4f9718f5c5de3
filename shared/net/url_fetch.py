"""Download an image from a URL a caller gave us, without letting that URL reach inside our network.

Custom Vision's "create images from URLs" and "predict from URL" make the service fetch whatever
address a caller names. Done naively that is server-side request forgery: a URL could point at a
cloud metadata endpoint (169.254.169.254), a database on the private network, or the service
itself, or could stall a worker forever with a slow or endless body. So a fetch here:

* accepts only ``http``/``https`` URLs with a host and no user name or password;
* resolves the host once and refuses it when *any* address is loopback, private, link-local,
  shared (100.64.0.0/10), unspecified, multicast, reserved or an IPv6 form of those, unless
  :attr:`FetchPolicy.allow_private` is set (local testing);
* connects to the address it checked, never to a second DNS answer (no DNS rebinding), while TLS
  still verifies the certificate and sends SNI for the host name;
* follows redirects by hand, checking every new URL from scratch;
* reads at most ``max_bytes`` and stops everything, redirects included, at one wall-clock deadline.

Every failure is an :class:`~shared.domain.errors.InvalidImage` whose message names the URL
(without its query string, which may hold a signature) and says what went wrong.
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import re
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

from shared.domain.enums import ImageCreateStatus
from shared.domain.errors import Code, InvalidImage
from shared.domain.limits import (
    MAX_IMAGE_BYTES_TRAINING,
    URL_FETCH_MAX_REDIRECTS,
    URL_FETCH_TIMEOUT_SECONDS,
)

__all__ = ["FetchPolicy", "check_address", "fetch_url"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_USER_AGENT = "cvstudio-url-fetch/1"
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_DEFAULT_PORTS = {"http": 80, "https": 443}
_CHUNK_BYTES = 64 * 1024
_MAX_URL_LENGTH = 8192
_MAX_SHOWN_URL_LENGTH = 200
_HOST_NAME = re.compile(r"^[a-z0-9_-]+(\.[a-z0-9_-]+)*\.?$")
_SHARED_ADDRESS_SPACE = ipaddress.IPv4Network("100.64.0.0/10")
_NAT64_PREFIX = ipaddress.IPv6Network("64:ff9b::/96")
_ALLOW_HINT = "Set CVSTUDIO_ALLOW_PRIVATE_URLS=true to allow it for local testing"


@dataclass(frozen=True)
class FetchPolicy:
    """How far a fetch may go; the defaults are Custom Vision's limits for training images."""

    allow_private: bool = False
    timeout_seconds: float = URL_FETCH_TIMEOUT_SECONDS
    max_bytes: int = MAX_IMAGE_BYTES_TRAINING
    max_redirects: int = URL_FETCH_MAX_REDIRECTS


def fetch_url(url: str, policy: FetchPolicy) -> bytes:
    """Download ``url`` under ``policy`` and return the body.

    Raises :class:`InvalidImage` with ``BadRequestImageUrl``/``ErrorSource`` for every failure,
    except a body over ``policy.max_bytes``, which is ``BadRequestImageSizeBytes``/``ErrorImageSize``.
    """
    deadline = _Deadline(policy.timeout_seconds)
    current = url
    for hop in range(policy.max_redirects + 1):
        try:
            outcome = _fetch_once(current, policy, deadline)
        except _Failure as failure:
            raise _invalid_image(url, current if hop else None, failure) from failure.__cause__
        if isinstance(outcome, bytes):
            return outcome
        current = urljoin(current, outcome.location)
    too_many = _Failure(f"it redirected too many times (the limit is {policy.max_redirects})")
    raise _invalid_image(url, None, too_many)


def check_address(ip: IPAddress | str, allow_private: bool) -> str | None:
    """Why a fetch must not connect to ``ip`` (e.g. ``"a private address"``), or None when it may.

    Public unicast addresses are fine. Everything that reaches *our* side of the network is not:
    loopback, private, link-local (cloud metadata lives there), shared, unspecified, multicast,
    reserved, and IPv6 spellings that embed such an IPv4 address. ``allow_private`` lifts the
    check entirely, for local testing.
    """
    if allow_private:
        return None
    return _address_problem(ipaddress.ip_address(ip) if isinstance(ip, str) else ip)


def _address_problem(ip: IPAddress) -> str | None:
    """The category that makes ``ip`` unsafe to reach, checked most specific first."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            return _address_problem(embedded)
        if ip.sixtofour is not None or ip.teredo is not None:
            return "a 6to4 or Teredo tunnel address"
    checks: tuple[tuple[bool, str], ...] = (
        (ip.is_unspecified, "an unspecified address"),
        (ip.is_loopback, "a loopback address"),
        (ip.is_link_local, "a link-local address"),
        (ip.is_multicast, "a multicast address"),
        (ip in _SHARED_ADDRESS_SPACE, "a shared (carrier-grade NAT) address"),
        (ip.is_private, "a private address"),
        (ip.is_reserved, "a reserved address"),
        (not ip.is_global, "a non-public address"),
    )
    return next((name for bad, name in checks if bad), None)


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv4-mapped (::ffff:a.b.c.d) or NAT64 address really leads to."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64_PREFIX:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


# --- one request ---------------------------------------------------------------------------------


class _Failure(Exception):
    """A reason a fetch failed, in words; :func:`fetch_url` adds the URL and the error code."""

    def __init__(self, reason: str, *, too_large: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.too_large = too_large


@dataclass(frozen=True)
class _Redirect:
    location: str


@dataclass(frozen=True)
class _Target:
    """A URL taken apart into what connecting and the request line need."""

    scheme: str
    host: str  # ASCII (IDNA) host name or IP literal, without brackets
    port: int
    request_path: str
    host_header: str
    literal: IPAddress | None


def _fetch_once(url: str, policy: FetchPolicy, deadline: _Deadline) -> bytes | _Redirect:
    """One request: validate, resolve once, check every address, then talk to that address."""
    target = _parse_target(url)
    addresses = _resolve(target, deadline)
    _refuse_unsafe(target, addresses, policy.allow_private)
    return _exchange(target, addresses, policy, deadline)


def _exchange(
    target: _Target, addresses: list[IPAddress], policy: FetchPolicy, deadline: _Deadline
) -> bytes | _Redirect:
    """Send the GET and read the answer; maps every transport error to a :class:`_Failure`."""
    conn = _PinnedConnection(target, addresses, deadline)
    response: http.client.HTTPResponse | None = None
    try:
        conn.connect()
        # http.client drops conn.sock once a "Connection: close" answer arrives; keep our own.
        sock = conn.sock
        sock.settimeout(deadline.remaining())
        conn.request("GET", target.request_path, headers=_request_headers(target))
        sock.settimeout(deadline.remaining())
        response = conn.getresponse()
        outcome = _handle_response(response, sock, policy, deadline)
        if conn.timed_out:  # the watchdog's shutdown can look like a clean end of the body
            raise deadline.failure()
        return outcome
    except _Failure:
        # The watchdog's shutdown ends the body early: that is a timeout, not a short body.
        if conn.timed_out:
            raise deadline.failure() from None
        raise
    except TimeoutError as exc:
        raise deadline.failure() from exc
    except (OSError, http.client.HTTPException, ValueError) as exc:
        if conn.timed_out or deadline.expired():
            raise deadline.failure() from exc
        raise _Failure(_explain(exc, target.host)) from exc
    finally:
        if response is not None:
            response.close()
        conn.release()


def _request_headers(target: _Target) -> dict[str, str]:
    """Host is the URL's, although the socket goes to a checked IP; http.client adds identity coding."""
    return {
        "Host": target.host_header,
        "User-Agent": _USER_AGENT,
        "Accept": "image/*",
        "Connection": "close",
    }


def _handle_response(
    response: http.client.HTTPResponse, sock: socket.socket, policy: FetchPolicy, deadline: _Deadline
) -> bytes | _Redirect:
    status = response.status
    if status in _REDIRECT_STATUSES:
        location = (response.getheader("Location") or "").strip()
        if not location:
            raise _Failure(f"the server answered {status} without saying where to")
        return _Redirect(location)
    if not 200 <= status < 300:
        raise _Failure(f"the server answered {status}")
    return _read_body(response, sock, policy.max_bytes, deadline)


def _read_body(response: http.client.HTTPResponse, sock: socket.socket, max_bytes: int, deadline: _Deadline) -> bytes:
    """Read at most ``max_bytes`` (+1 to notice the excess), one socket read at a time.

    ``read1`` makes a single read per call, so the deadline is checked between every chunk a
    slow server trickles in, and memory never holds more than the limit.
    """
    declared = response.length
    if declared is not None and declared > max_bytes:
        raise _too_large(max_bytes)
    body = bytearray()
    while True:
        sock.settimeout(deadline.remaining())
        chunk = response.read1(min(_CHUNK_BYTES, max_bytes + 1 - len(body)))
        if not chunk:
            break
        body += chunk
        if len(body) > max_bytes:
            raise _too_large(max_bytes)
    if declared is not None and len(body) < declared:
        raise _Failure("the connection closed before the whole image arrived")
    return bytes(body)


def _too_large(max_bytes: int) -> _Failure:
    return _Failure(f"the image is larger than {_format_size(max_bytes)}", too_large=True)


def _explain(exc: BaseException, host: str) -> str:
    """A transport error in words a caller can act on, without OS or library internals."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"the TLS certificate of {host} could not be verified"
    if isinstance(exc, ssl.SSLError):
        return f"the TLS connection to {host} failed"
    if isinstance(exc, http.client.RemoteDisconnected):
        return "the server closed the connection without answering"
    if isinstance(exc, http.client.IncompleteRead):
        return "the connection closed before the whole image arrived"
    if isinstance(exc, http.client.HTTPException | ValueError):
        return "the server's answer was not valid HTTP"
    if isinstance(exc, ConnectionRefusedError):
        return f"the connection to {host} was refused"
    if isinstance(exc, ConnectionError):
        return f"the connection to {host} was interrupted"
    return f"could not connect to {host}"


# --- URL validation and address checks ---------------------------------------------------------


def _parse_target(url: str) -> _Target:
    """Take ``url`` apart, refusing anything but a plain http(s) URL with a valid host."""
    url = url.strip()
    if len(url) > _MAX_URL_LENGTH:
        raise _Failure(f"the URL is longer than {_MAX_URL_LENGTH} characters")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        raise _Failure("the URL is malformed")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise _Failure("the URL is malformed") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise _Failure("only http:// and https:// URLs are accepted")
    if "@" in parts.netloc:
        raise _Failure("URLs with a user name or password are not accepted")
    if not parts.hostname:
        raise _Failure("the URL has no host")
    host, literal = _ascii_host(parts.hostname)
    port = port or _DEFAULT_PORTS[scheme]
    shown_host = f"[{host}]" if isinstance(literal, ipaddress.IPv6Address) else host
    host_header = shown_host if port == _DEFAULT_PORTS[scheme] else f"{shown_host}:{port}"
    return _Target(scheme, host, port, _request_path(parts.path, parts.query), host_header, literal)


def _ascii_host(hostname: str) -> tuple[str, IPAddress | None]:
    """The host as an IP literal, or as an ASCII (IDNA) name that is safe in a Host header."""
    try:
        literal = ipaddress.ip_address(hostname)
    except ValueError:
        literal = None
    if literal is not None:
        return str(literal), literal
    try:
        name = hostname.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise _Failure("the URL's host name is not valid") from None
    if not _HOST_NAME.match(name):
        raise _Failure("the URL's host name is not valid")
    return name, None


def _request_path(path: str, query: str) -> str:
    """The request target, percent-encoding what http.client would refuse (spaces, non-ASCII)."""
    safe = "/%:@!$&'()*+,;=~"
    target = quote(path or "/", safe=safe)
    return f"{target}?{quote(query, safe=safe + '?')}" if query else target


def _resolve(target: _Target, deadline: _Deadline) -> list[IPAddress]:
    """Every address the host has, looked up exactly once, within the deadline."""
    if target.literal is not None:
        return [target.literal]
    infos = _getaddrinfo_within(target.host, target.port, deadline)
    addresses: list[IPAddress] = []
    for family, _type, _proto, _name, sockaddr in infos:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        ip = ipaddress.ip_address(sockaddr[0])
        if ip not in addresses:
            addresses.append(ip)
    if not addresses:
        raise _Failure(f"the host {target.host} could not be found")
    return addresses


def _getaddrinfo_within(host: str, port: int, deadline: _Deadline) -> list[tuple[Any, ...]]:
    """``getaddrinfo`` has no timeout of its own, so it runs in a daemon thread we stop waiting for."""
    box: dict[str, list[tuple[Any, ...]]] = {}

    def lookup() -> None:
        with contextlib.suppress(OSError, UnicodeError):  # reported as "could not be found"
            box["infos"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)

    worker = threading.Thread(target=lookup, name="url-fetch-dns", daemon=True)
    worker.start()
    worker.join(deadline.remaining())
    if worker.is_alive():
        raise deadline.failure()
    if "infos" not in box:
        raise _Failure(f"the host {host} could not be found")
    return box["infos"]


def _refuse_unsafe(target: _Target, addresses: list[IPAddress], allow_private: bool) -> None:
    """Refuse the host if any one of its addresses is unsafe: an attacker picks which one we'd use."""
    for ip in addresses:
        problem = check_address(ip, allow_private)
        if problem is None:
            continue
        shown = _shown_ip(ip)
        if target.literal is not None:
            raise _Failure(f"refused because {shown} is {problem}. {_ALLOW_HINT}")
        raise _Failure(f"refused because {target.host} resolves to {problem} ({shown}). {_ALLOW_HINT}")


def _shown_ip(ip: IPAddress) -> str:
    """An IPv4-mapped address in the dotted form people recognise (::ffff:127.0.0.1)."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return f"::ffff:{ip.ipv4_mapped}"
    return str(ip)


# --- the connection --------------------------------------------------------------------------------


class _PinnedConnection(http.client.HTTPConnection):
    """An HTTP(S) connection to addresses already checked, never to a fresh DNS answer.

    TLS is layered on by hand so that certificate checking and SNI use the URL's host name while
    the TCP connection goes to the checked IP.
    """

    def __init__(self, target: _Target, addresses: list[IPAddress], deadline: _Deadline) -> None:
        super().__init__(target.host, target.port)
        self._target = target
        self._addresses = addresses
        self._deadline = deadline
        self._watchdog: _Watchdog | None = None

    @property
    def timed_out(self) -> bool:
        return self._watchdog is not None and self._watchdog.fired

    def connect(self) -> None:
        sock = _connect_any(self._addresses, self._target.port, self._deadline)
        try:
            self._watchdog = _Watchdog(sock, self._deadline.remaining())
            if self._target.scheme == "https":
                sock.settimeout(self._deadline.remaining())
                sock = ssl.create_default_context().wrap_socket(sock, server_hostname=self._target.host)
        except BaseException:
            sock.close()
            raise
        self.sock = sock

    def release(self) -> None:
        """Close everything; not ``close()``, which http.client calls before the body is read."""
        if self._watchdog is not None:
            self._watchdog.disarm()
        self.close()


def _connect_any(addresses: list[IPAddress], port: int, deadline: _Deadline) -> socket.socket:
    """Connect to the first checked address that answers (e.g. ::1 then 127.0.0.1 for localhost)."""
    last_error: OSError | None = None
    for ip in addresses:
        try:
            return socket.create_connection((str(ip), port), timeout=deadline.remaining())
        except TimeoutError:
            raise
        except OSError as exc:
            last_error = exc
    raise last_error or OSError("no address to connect to")


class _Watchdog:
    """Shuts the connection down at the deadline, whatever http.client is blocked in.

    Socket timeouts bound each read, not the sum of them, and http.client reads headers and chunk
    sizes itself: a server sending one byte just inside every timeout would never be cut. The
    watchdog shuts down a duplicate of the socket (so it can never touch a reused descriptor),
    which makes the blocked read return at once.
    """

    def __init__(self, sock: socket.socket, delay: float) -> None:
        self.fired = False
        self._lock = threading.Lock()
        self._twin: socket.socket | None = sock.dup()
        self._timer = threading.Timer(delay, self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        with self._lock:
            if self._twin is None:
                return
            self.fired = True
            with contextlib.suppress(OSError):  # the peer may already have closed it
                self._twin.shutdown(socket.SHUT_RDWR)

    def disarm(self) -> None:
        self._timer.cancel()
        with self._lock:
            twin, self._twin = self._twin, None
        if twin is not None:
            twin.close()


class _Deadline:
    """One wall-clock budget for the whole fetch: lookups, connects, redirects and the body."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._at = time.monotonic() + seconds

    def remaining(self) -> float:
        """Seconds left, for the next socket operation; raises once none are."""
        left = self._at - time.monotonic()
        if left <= 0:
            raise self.failure()
        return left

    def expired(self) -> bool:
        return time.monotonic() >= self._at

    def failure(self) -> _Failure:
        return _Failure(f"timed out after {self.seconds:g} s")


# --- messages --------------------------------------------------------------------------------------


def _invalid_image(url: str, hop_url: str | None, failure: _Failure) -> InvalidImage:
    where = _shown_url(url)
    if hop_url is not None:
        where += f" (redirected to {_shown_url(hop_url)})"
    message = f"Could not download {where}: {failure.reason}."
    if failure.too_large:
        return InvalidImage(message, Code.BAD_REQUEST_IMAGE_SIZE_BYTES, ImageCreateStatus.ERROR_IMAGE_SIZE)
    return InvalidImage(message, Code.BAD_REQUEST_IMAGE_URL, ImageCreateStatus.ERROR_SOURCE)


def _shown_url(url: str) -> str:
    """The URL as a message may show it: no user name or password, no query (it may hold a
    signature), nothing unprintable, and not too long. Works on malformed URLs too."""
    text = re.split(r"[?#]", url.strip(), maxsplit=1)[0]
    scheme, separator, rest = text.partition("://")
    if separator:
        authority, slash, path = rest.partition("/")
        text = f"{scheme}://{authority.rpartition('@')[2]}{slash}{path}"
    text = "".join(ch if ch.isprintable() else "?" for ch in text)
    if len(text) > _MAX_SHOWN_URL_LENGTH:
        text = text[: _MAX_SHOWN_URL_LENGTH - 1] + "…"
    return text


def _format_size(n: int) -> str:
    """Limits as people write them: 6 MB, 4 MB, 512 KB, otherwise in bytes."""
    mib = 1024 * 1024
    if n % mib == 0:
        return f"{n // mib} MB"
    if n >= mib:
        return f"{n / mib:.1f} MB"
    if n % 1024 == 0:
        return f"{n // 1024} KB"
    return f"{n} bytes"
