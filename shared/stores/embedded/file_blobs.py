"""The embedded blob store: one file per blob under a root folder.

Writes go to a temporary file in the same folder and are renamed into place, so a reader (or a
restart after a crash) sees either the old bytes or the new, never half a file.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

from shared.domain.errors import NotFound
from shared.stores.embedded.atomic_files import write_atomically
from shared.stores.ports import BlobInfo

__all__ = ["FileBlobStore"]

_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class FileBlobStore:
    def __init__(self, root: Path) -> None:
        self._root = root

    def _file(self, key: str) -> Path:
        # Keys come from our own code, but a bad key must never escape the root.
        parts = key.strip("/").split("/")
        if not key or any(not _SEGMENT.match(p) or p in (".", "..") for p in parts):
            raise ValueError(f"not a valid blob key: {key!r}")
        return self._root.joinpath(*parts)

    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> BlobInfo:
        write_atomically(self._file(key), data)
        return BlobInfo(key, len(data), hashlib.sha256(data).hexdigest())

    def get(self, key: str) -> bytes:
        try:
            return self._file(key).read_bytes()
        except FileNotFoundError as exc:
            raise NotFound("A stored file is missing.") from exc  # never the key: it names the layout

    def exists(self, key: str) -> bool:
        return self._file(key).is_file()

    def delete(self, key: str) -> None:
        self._file(key).unlink(missing_ok=True)

    def delete_prefix(self, prefix: str) -> None:
        """Delete every blob under a folder-like prefix (``projects/<id>/``)."""
        folder = self._file(prefix.rstrip("/"))
        shutil.rmtree(folder, ignore_errors=True)
        if folder.is_file():
            folder.unlink()

    def keys(self, prefix: str) -> list[str]:
        folder = self._file(prefix.rstrip("/"))
        if not folder.is_dir():
            return []
        found = (f for f in folder.rglob("*") if f.is_file() and not f.name.startswith("."))  # not temp files
        return sorted(f.relative_to(self._root).as_posix() for f in found)
