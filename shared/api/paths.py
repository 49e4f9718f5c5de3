"""Accept every API version and any casing of the ``training``/``prediction`` path segment.

The SDK calls ``/customvision/v3.4-preview/training``; Microsoft's REST docs show
``/customvision/v3.3/Training``; older clients use v3.0-v3.2. This ASGI middleware rewrites each
to one canonical prefix before routing, and keeps the version the client asked for in
``scope["state"]["api_version"]``.
"""

from __future__ import annotations

import re

from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = [
    "PREDICTION_PREFIX",
    "PREDICTION_VERSIONS",
    "TRAINING_PREFIX",
    "TRAINING_VERSIONS",
    "ApiVersionPaths",
]

TRAINING_VERSIONS = ("v3.0", "v3.1", "v3.2", "v3.3", "v3.4-preview")
PREDICTION_VERSIONS = ("v3.0", "v3.1")
TRAINING_PREFIX = "/customvision/v3.4-preview/training"
PREDICTION_PREFIX = "/customvision/v3.1/prediction"

_PATH = re.compile(r"^/customvision/(?P<version>[^/]+)/(?P<api>training|prediction)(?P<rest>/.*)?$", re.IGNORECASE)


def canonical_path(path: str) -> tuple[str, str | None]:
    """The routed path and the requested version (None when the path is not an API path)."""
    match = _PATH.match(path)
    if not match:
        return path, None
    version = match["version"].lower()
    api = match["api"].lower()
    versions, prefix = (
        (TRAINING_VERSIONS, TRAINING_PREFIX) if api == "training" else (PREDICTION_VERSIONS, PREDICTION_PREFIX)
    )
    if version not in versions:
        return path, None
    return prefix + (match["rest"] or ""), version


class ApiVersionPaths:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path, version = canonical_path(scope["path"])
            if version is not None:
                scope = dict(scope)
                scope["path"] = path
                scope["raw_path"] = path.encode()
                scope.setdefault("state", {})["api_version"] = version
        await self.app(scope, receive, send)
