"""The studio's static files under content-hashed URLs, and the page that names them.

``js/api.js`` is served as ``/studio/assets/js/api.<hash>.js`` (cached for a year: the name changes
when the bytes do). Modules import each other by plain relative names (``./api.js``); the page's
import map sends each plain name to its hashed one, so no build step rewrites the sources.
"""

from __future__ import annotations

import base64
import hashlib
import json
import mimetypes
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path, PurePosixPath

__all__ = ["ASSET_PREFIX", "Asset", "StudioAssets"]

ASSET_PREFIX = "/studio/assets/"
_STATIC = Path(__file__).with_name("static")
_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml", ".html": "text/html"}


@dataclass(frozen=True)
class Asset:
    path: str  # relative to static/, with forward slashes
    body: bytes
    digest: str

    @property
    def content_type(self) -> str:
        suffix = PurePosixPath(self.path).suffix
        return _TYPES.get(suffix) or mimetypes.guess_type(self.path)[0] or "application/octet-stream"

    @property
    def plain_url(self) -> str:
        return ASSET_PREFIX + self.path

    @property
    def hashed_url(self) -> str:
        return ASSET_PREFIX + _hashed_name(self.path, self.digest)


def _hashed_name(path: str, digest: str) -> str:
    pure = PurePosixPath(path)
    return str(pure.with_name(f"{pure.stem}.{digest}{pure.suffix}"))


class StudioAssets:
    """Every file under static/, read once; the index page rendered once per process."""

    def __init__(self, root: Path = _STATIC, *, image_origin: str | None = None) -> None:
        self._image_origin = image_origin  # where image links point when the public URL is not the page's
        self._by_path: dict[str, Asset] = {}
        self._by_hashed: dict[str, Asset] = {}
        for file in sorted(root.rglob("*")):
            if not file.is_file() or file.name == "index.html":
                continue
            body = file.read_bytes()
            asset = Asset(file.relative_to(root).as_posix(), body, hashlib.sha256(body).hexdigest()[:12])
            self._by_path[asset.path] = asset
            self._by_hashed[_hashed_name(asset.path, asset.digest)] = asset
        self._template = (root / "index.html").read_text(encoding="utf-8")

    def find(self, name: str) -> tuple[Asset, bool] | None:
        """The asset a URL path names, and whether the name was the hashed (immutable) one."""
        if name in self._by_hashed:
            return self._by_hashed[name], True
        if name in self._by_path:
            return self._by_path[name], False
        return None

    @cached_property
    def import_map(self) -> str:
        imports = {a.plain_url: a.hashed_url for a in self._by_path.values() if a.path.endswith(".js")}
        return json.dumps({"imports": imports}, indent=1, sort_keys=True)

    @cached_property
    def index_html(self) -> bytes:
        page = (
            self._template.replace("{{importmap}}", self.import_map)
            .replace("{{css}}", self._stylesheets())
            .replace("{{icon}}", self._by_path["icon.svg"].hashed_url)
            .replace("{{entry}}", self._by_path["js/app.js"].hashed_url)
        )
        return page.encode("utf-8")

    def _stylesheets(self) -> str:
        # studio.css first (the variables and base), then each page's own sheet.
        sheets = sorted(
            (a for a in self._by_path.values() if a.path.endswith(".css")),
            key=lambda a: (a.path != "css/studio.css", a.path),
        )
        return "\n".join(f'<link rel="stylesheet" href="{a.hashed_url}">' for a in sheets)

    @cached_property
    def content_security_policy(self) -> str:
        # The import map is the page's only inline script: allowed by its hash, nothing else inline.
        digest = base64.b64encode(hashlib.sha256(self.import_map.encode("utf-8")).digest()).decode()
        return "; ".join(
            (
                "default-src 'self'",
                f"script-src 'self' 'sha256-{digest}'",
                "style-src 'self'",
                " ".join(("img-src 'self' data: blob:", *([self._image_origin] if self._image_origin else []))),
                "connect-src 'self'",
                "object-src 'none'",
                "base-uri 'none'",
                "frame-ancestors 'none'",
                "form-action 'self'",
            )
        )
