"""The work-queue port and its in-process adapter.

Messages are small JSON dicts (``{"type": "train", "projectId": …, "iterationId": …}``). The
queue is not the record of truth: an iteration's own status is. That is what makes the
in-process queue (which forgets everything when the process stops) safe: on start, the worker
re-enqueues every iteration still marked ``Training``. Azure Storage Queues fit the same port.
"""

from __future__ import annotations

import queue
from typing import Any, Protocol

__all__ = ["InProcessQueue", "WorkQueue"]


class WorkQueue(Protocol):
    def put(self, message: dict[str, Any]) -> None: ...

    def get(self, timeout: float) -> dict[str, Any] | None:
        """The next message, or None after ``timeout`` seconds without one."""
        ...


class InProcessQueue:
    def __init__(self) -> None:
        self._queue: queue.Queue[dict[str, Any]] = queue.Queue()

    def put(self, message: dict[str, Any]) -> None:
        self._queue.put(dict(message))

    def get(self, timeout: float) -> dict[str, Any] | None:
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return None
