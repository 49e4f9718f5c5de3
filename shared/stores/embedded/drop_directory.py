"""The local drop folder: a directory on this machine (the embedded default's ``<data dir>/drop``).

Writes go to a hidden temporary file in the same directory and are renamed into place. A file's
``modified`` time is the later of its modification and status-change times, so a file copied in
with an old modification time (``cp -p``) still reads as new.
"""

from __future__ import annotations

import os
from pathlib import Path

from shared.domain.errors import NotFound
from shared.stores.drop_folder import DropEntry, check_name
from shared.stores.embedded.atomic_files import write_atomically

__all__ = ["DropDirectory"]


class DropDirectory:
    def __init__(self, root: Path) -> None:
        self._root = root

    @property
    def root(self) -> Path:
        return self._root

    def _path(self, name: str) -> Path:
        return self._root.joinpath(*check_name(name).split("/"))

    def list(self, prefix: str = "") -> list[DropEntry]:
        entries = []
        for folder, dirs, files in os.walk(self._root):
            dirs.sort()
            for file in sorted(files):
                path = Path(folder, file)
                name = path.relative_to(self._root).as_posix()
                if not name.startswith(prefix):
                    continue
                try:
                    stat = path.stat()
                except FileNotFoundError:
                    continue  # gone between the listing and the stat
                entries.append(DropEntry(name, stat.st_size, max(stat.st_mtime, stat.st_ctime)))
        return entries

    def read(self, name: str) -> bytes:
        try:
            return self._path(name).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise NotFound(f"No file {name} in the drop folder.") from None

    def write(self, name: str, data: bytes) -> None:
        write_atomically(self._path(name), data)

    def move(self, name: str, to: str) -> None:
        source, target = self._path(name), self._path(to)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(source, target)
        except FileNotFoundError:
            raise NotFound(f"No file {name} in the drop folder.") from None
