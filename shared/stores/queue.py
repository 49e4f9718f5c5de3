"""The work-queue port and its in-process adapter.

A message is text (a job message encoded by :mod:`shared.contracts.jobs`), so that every queue
carries it unchanged: the in-process queue here, Azure Storage Queues in Azure. The queue is not
the record of truth: an iteration's own status is. That is what makes the in-process queue
(which forgets everything when the process stops) safe: on start, the worker enqueues every
iteration still marked ``Training`` again, and a message whose iteration has moved on is a no-op.
"""

from __future__ import annotations

import queue
from typing import Protocol

__all__ = ["InProcessQueue", "WorkQueue"]


class WorkQueue(Protocol):
    def put(self, message: str) -> None: ...

    def get(self, timeout: float) -> str | None:
        """The next message (each message is delivered once), or None after ``timeout`` seconds."""
        ...


class InProcessQueue:
    """First in, first out, within one process."""

    def __init__(self) -> None:
        self._queue: queue.Queue[str] = queue.Queue()

    def put(self, message: str) -> None:
        if not isinstance(message, str):
            raise TypeError(f"queue messages are text, not {type(message).__name__}")
        self._queue.put(message)

    def get(self, timeout: float) -> str | None:
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return None
