"""Which ``Host`` a request may name: image links are built on it, so a host nobody allowed is refused.

Without a public base URL, every link the API hands out (image URIs, export downloads, the studio's
prediction endpoint) is built on the request's own host. A request naming a host that is not this
server's (a forged header, a DNS name rebound onto a laptop's loopback) is answered 400 in Custom
Vision's error shape before any route runs, as Django refuses hosts outside ALLOWED_HOSTS. Allowed:
the loopback names, the address ``cvstudio serve --host`` binds, the public base URL's host and
``CVSTUDIO_ALLOWED_HOSTS``. ``/healthz`` builds no link and is answered for any host (probes name
the address they dial). A request without a Host header is built on the server's own address.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.types import ASGIApp, Receive, Scope, Send

from shared.api.errors import error_response
from shared.domain.errors import Code
from shared.settings import Settings

__all__ = ["AllowedHosts", "host_allowed", "host_refused_message"]


def _split(value: str) -> tuple[str, str | None]:
    """``host[:port]`` -> (host, port), lowercase; IPv6 literals keep their brackets; "" when malformed."""
    value = value.strip().lower()
    if value.startswith("["):
        host, bracket, rest = value.partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            return "", None
        return host + "]", rest[1:] if rest else None
    if value.count(":") == 1:
        host, _, port = value.partition(":")
        return host.rstrip("."), port
    if ":" in value:  # an IPv6 literal without brackets is not a Host header
        return "", None
    return value.rstrip("."), None


def host_allowed(header: str, allowed: Sequence[str]) -> bool:
    """Whether the Host header ``header`` names one of ``allowed`` (``host`` any port, ``host:port`` that
    port, ``.example.com`` the domain and its subdomains, ``*`` anything)."""
    host, port = _split(header)
    if not host or (port is not None and not port.isdigit()):
        return False
    for entry in allowed:
        if entry == "*":
            return True
        name, wanted_port = _split(entry)
        if not name or (wanted_port is not None and wanted_port != port):
            continue
        if host == name or (name.startswith(".") and (host.endswith(name) or host == name[1:])):
            return True
    return False


def host_refused_message(header: str) -> str:
    shown = header if len(header) <= 100 else header[:100] + "…"
    return (
        f"This server does not answer to the host name '{shown}'. Use the address it is served at, or let it "
        "answer to that name: add it to CVSTUDIO_ALLOWED_HOSTS, or set CVSTUDIO_PUBLIC_BASE_URL."
    )


class AllowedHosts:
    """Pure ASGI (uploads stream through untouched): refuses a request whose Host is not allowed."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self._allowed = settings.allowed_host_list
        self._checks = settings.checks_hosts and "*" not in self._allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self._checks and scope["path"] != "/healthz":
            host = next((value for name, value in scope["headers"] if name == b"host"), None)
            if host is not None:
                header = host.decode("latin-1")
                if not host_allowed(header, self._allowed):
                    response = error_response(400, Code.BAD_REQUEST.value, host_refused_message(header))
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)
