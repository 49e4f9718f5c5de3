"""The DropFolder port: a folder of dropped files that the drop-folder ingestion reads and answers in.

Names are paths with ``/`` (``<project>/<tag>/<file>``), relative to the folder's root, the same on
every adapter: a local directory (:mod:`shared.stores.embedded.drop_directory`, the embedded
default's ``<data dir>/drop``), a blob container (:mod:`shared.stores.azure.drop_container`), and
:class:`MemoryDropFolder` (unit tests). Missing files raise
:class:`~shared.domain.errors.NotFound`; other failures are the adapter's store errors.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Protocol

from shared.domain.errors import NotFound

__all__ = ["DropEntry", "DropFolder", "MemoryDropFolder", "check_name"]


@dataclass(frozen=True)
class DropEntry:
    """A file in the folder: its name, size in bytes and when it last changed (seconds since the epoch)."""

    name: str
    size: int
    modified: float


class DropFolder(Protocol):
    def list(self, prefix: str = "") -> list[DropEntry]:
        """Every file whose name starts with ``prefix`` (``"p/"``: the folder ``p``, at any depth)."""
        ...

    def read(self, name: str) -> bytes: ...

    def write(self, name: str, data: bytes) -> None:
        """Create or replace a file, whole (a reader sees the old bytes or the new)."""
        ...

    def move(self, name: str, to: str) -> None:
        """Rename a file (replacing ``to``); NotFound when ``name`` is gone."""
        ...


def check_name(name: str) -> str:
    """A file name inside the folder: ``/``-separated, no empty, ``.`` or ``..`` part (never escapes it)."""
    parts = name.split("/")
    if not name or len(name) > 1024 or any(p in ("", ".", "..") or "\\" in p or "\x00" in p for p in parts):
        raise ValueError(f"not a valid drop-folder file name: {name!r}")
    return name


class MemoryDropFolder:
    """The in-memory fake: files in a dict (thread-safe)."""

    def __init__(self) -> None:
        self._files: dict[str, tuple[bytes, float]] = {}
        self._lock = threading.Lock()

    def list(self, prefix: str = "") -> list[DropEntry]:
        with self._lock:
            return [
                DropEntry(name, len(data), at)
                for name, (data, at) in sorted(self._files.items())
                if name.startswith(prefix)
            ]

    def read(self, name: str) -> bytes:
        with self._lock:
            try:
                return self._files[check_name(name)][0]
            except KeyError:
                raise NotFound(f"No file {name} in the drop folder.") from None

    def write(self, name: str, data: bytes) -> None:
        with self._lock:
            self._files[check_name(name)] = (bytes(data), time.time())

    def move(self, name: str, to: str) -> None:
        with self._lock:
            try:
                self._files[check_name(to)] = self._files.pop(check_name(name))
            except KeyError:
                raise NotFound(f"No file {name} in the drop folder.") from None
