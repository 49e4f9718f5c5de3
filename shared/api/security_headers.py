"""Security headers on every response: API JSON, errors (the 500 too), 404s, artifacts, healthz, studio.

A header a route set itself is kept (the studio's page brings its own strict CSP). What is added:

- ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: no-referrer`` and ``X-Frame-Options: DENY``;
- ``Content-Security-Policy: default-src 'none'; frame-ancestors 'none'`` on everything that is not an
  HTML page: a JSON body or an image opened as a document runs nothing and loads nothing (the docs page
  is HTML and keeps the scripts it needs);
- ``Cross-Origin-Resource-Policy``: ``cross-origin`` on signed artifact links, whose signature is the
  permission (the studio on another origin and the web apps of CVSTUDIO_CORS_ORIGINS show them in
  ``<img>``); ``same-origin`` elsewhere (a CORS fetch of the API is not subject to it);
- ``Strict-Transport-Security`` when the request came over https, or the public base URL is https.

Pure ASGI (a BaseHTTPMiddleware would buffer streamed uploads), wrapped around the whole built stack:
Starlette answers an unhandled exception's 500 outside every ``add_middleware`` layer, and that answer
must carry the headers too. The same stack runs under uvicorn and under ``AsgiFunctionApp``.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.api.uris import ARTIFACT_PREFIX

__all__ = ["SecurityHeaders", "install_security_headers"]

API_CSP = "default-src 'none'; frame-ancestors 'none'"
HSTS = "max-age=31536000"
_ALWAYS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"}


class SecurityHeaders:
    def __init__(self, app: ASGIApp, *, https_base: bool = False) -> None:
        self.app = app
        self._https_base = https_base

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        artifact = str(scope.get("path", "")).startswith(ARTIFACT_PREFIX + "/")
        https = self._https_base or scope.get("scheme") == "https"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                headers = MutableHeaders(scope=message)
                for name, value in _ALWAYS.items():
                    headers.setdefault(name, value)
                if not headers.get("content-type", "").lower().startswith("text/html"):
                    headers.setdefault("Content-Security-Policy", API_CSP)
                headers.setdefault("Cross-Origin-Resource-Policy", "cross-origin" if artifact else "same-origin")
                if https:
                    headers.setdefault("Strict-Transport-Security", HSTS)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def install_security_headers(app: FastAPI, *, public_base_url: str | None) -> None:
    """Wrap ``app``'s whole middleware stack (built on its first request) in :class:`SecurityHeaders`."""
    build = app.build_middleware_stack
    https_base = bool(public_base_url and public_base_url.lower().startswith("https://"))

    def build_wrapped() -> ASGIApp:
        return SecurityHeaders(build(), https_base=https_base)

    app.build_middleware_stack = build_wrapped  # type: ignore[method-assign]
