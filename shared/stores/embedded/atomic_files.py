"""Writing a file so that a reader sees the old bytes or the new, never a torn file: the bytes go to
a hidden temporary file beside the target (the drop folder never reads hidden files), which then
replaces it in one rename."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["write_atomically"]


def write_atomically(target: Path, data: bytes) -> None:
    for attempt in range(3):
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            _write(target, data)
            return
        # The folder was removed meanwhile (a delete of the same prefix): after the temporary file's
        # creation (FileNotFoundError), or between mkdir's attempt and its check (FileExistsError).
        except (FileNotFoundError, FileExistsError):
            if attempt == 2:
                raise


def _write(target: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".cvstudio-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
