"""The state file of `cvstudio migrate`: which source project and image became which target one.

One JSON file per (source endpoint, target endpoint) pair in the folder given by ``--state`` (default: the
current directory), named ``cvstudio-migrate-<hash>.json``; it names both endpoints, never a key. A re-run
reads it and uploads only the images it does not list. It is written whole, to a temporary file renamed over
the old one (an interrupted write leaves the previous state), at most every ``save_every_s`` and at the end.

It is an optimisation, not the only guard: images uploaded after the last save are uploaded again on a re-run
and the target answers ``OKDuplicate`` (Custom Vision deduplicates by content), projects are found again by
name and tags by name, so a lost or deleted state file costs time, never a duplicate.

Read and written only by this module (``version`` guards a file from a newer cvstudio).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["STATE_VERSION", "MigrationState", "StateError", "state_path"]

STATE_VERSION = 1


class StateError(Exception):
    """The state file cannot be used (unreadable, or from a newer cvstudio)."""


def state_path(folder: Path, source: str, target: str) -> Path:
    pair = f"{source.rstrip('/').lower()}\n{target.rstrip('/').lower()}"
    return folder / f"cvstudio-migrate-{hashlib.sha256(pair.encode()).hexdigest()[:12]}.json"


class MigrationState:
    """Source project id -> (target project id, source image id -> target image id); thread-safe."""

    def __init__(self, path: Path, source: str, target: str, *, save_every_s: float = 2.0) -> None:
        self.path = path
        self.source = source
        self.target = target
        self._save_every_s = save_every_s
        self._lock = threading.Lock()
        self._projects: dict[str, str] = {}
        self._images: dict[str, dict[str, str]] = {}
        self._saved_at = 0.0
        self._dirty = False

    @classmethod
    def load(cls, folder: Path, source: str, target: str, *, save_every_s: float = 2.0) -> MigrationState:
        path = state_path(folder, source, target)
        state = cls(path, source, target, save_every_s=save_every_s)
        if not path.exists():
            return state
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise StateError(f"the state file {path} cannot be read ({exc}); move it aside to start over") from exc
        if not isinstance(document, dict) or not isinstance(document.get("version"), int):
            raise StateError(f"{path} is not a cvstudio migrate state file; move it aside to start over")
        if document["version"] > STATE_VERSION:
            raise StateError(f"{path} was written by a newer cvstudio (version {document['version']})")
        for source_id, entry in (document.get("projects") or {}).items():
            state._projects[source_id] = str(entry["target"])
            state._images[source_id] = {str(k): str(v) for k, v in (entry.get("images") or {}).items()}
        return state

    def target_project(self, source_project: str) -> str | None:
        with self._lock:
            return self._projects.get(source_project)

    def set_project(self, source_project: str, target_project: str) -> None:
        """A new target project: the images recorded for an earlier one are forgotten."""
        with self._lock:
            if self._projects.get(source_project) != target_project:
                self._projects[source_project] = target_project
                self._images[source_project] = {}
                self._dirty = True
        self.save(force=True)

    def copied(self, source_project: str) -> Mapping[str, str]:
        with self._lock:
            return dict(self._images.get(source_project, {}))

    def record(self, source_project: str, images: Mapping[str, str]) -> None:
        with self._lock:
            self._images.setdefault(source_project, {}).update(images)
            self._dirty = True
        self.save()

    def save(self, *, force: bool = False) -> None:
        with self._lock:
            if not self._dirty or (not force and time.monotonic() - self._saved_at < self._save_every_s):
                return
            document: dict[str, Any] = {
                "version": STATE_VERSION,
                "source": self.source,
                "target": self.target,
                "projects": {
                    source_id: {"target": target_id, "images": self._images.get(source_id, {})}
                    for source_id, target_id in self._projects.items()
                },
            }
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temporary = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
            temporary.write_text(json.dumps(document, indent=1, sort_keys=True), encoding="utf-8")
            os.replace(temporary, self.path)
            self._saved_at = time.monotonic()
            self._dirty = False
