"""The embedded blob store: one file per blob under a root folder.

Writes go to a temporary file in the same folder and are renamed into place, so a reader (or a
restart after a crash) sees either the old bytes or the new, never half a file.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path

from shared.domain.errors import NotFound
from shared.stores.embedded.atomic_files import write_atomically
from shared.stores.ports import BlobEntry, BlobInfo

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
        return [e.key for e in self.entries(prefix)]

    def entries(self, prefix: str) -> list[BlobEntry]:
        folder = self._file(prefix.rstrip("/"))
        if not folder.is_dir():
            return []
        found: list[BlobEntry] = []
        for file in folder.rglob("*"):
            if file.name.startswith("."):  # not temp files
                continue
            try:
                if file.is_file():
                    found.append(BlobEntry(file.relative_to(self._root).as_posix(), _written(file)))
            except FileNotFoundError:  # deleted while listed
                continue
        return sorted(found, key=lambda e: e.key)

    def delete_unless_written_since(self, key: str, since: datetime) -> bool:
        # A write replaces the file by a rename, so a file's time is when its bytes were written.
        # The file is first moved aside (one rename), so that the time checked is the time of the
        # bytes removed; bytes written since are linked back, unless newer ones are there already.
        file = self._file(key)
        aside = file.with_name(f".cvstudio-sweep-{uuid.uuid4().hex}")
        if not file.is_file():
            return False
        try:
            os.rename(file, aside)
        except FileNotFoundError:
            return False
        if _written(aside) <= since:
            aside.unlink()
            return True
        with contextlib.suppress(FileExistsError):
            os.link(aside, file)
        aside.unlink()
        return False


def _written(file: Path) -> datetime:
    return datetime.fromtimestamp(file.stat().st_mtime, UTC)
