"""The memory that decoded pixels may take, all decodes of this process together, and giving it back.

A 4 MB PNG can announce 65 million pixels (a whole-image decode of 262 MB); a few of them in
parallel would take gigabytes. So every decode in :mod:`shared.vision.images` first acquires its
estimated cost (bytes) from one budget (:data:`DEFAULT_DECODE_MEMORY_BYTES`, or the setting
``CVSTUDIO_DECODE_MEMORY_MB``); decodes over the budget wait their turn, and a decode that alone
costs more than the whole budget runs alone. Memory in flight is then bounded by the budget.

Freed pixels must also leave the process. Pillow keeps no blocks (``blocks_max`` is 0), but glibc
raises its mmap threshold each time a large block is freed, so later large blocks come from the
heap arenas (one per thread) and stay there: RSS grows with every thread that decoded once. So a
large decode ends with ``malloc_trim``, which hands back what the arenas hold free (4 threads
decoding a 131 MB PNG twice: 125 MB held before it, none after). Not a fixed mmap threshold: that
makes every large allocation a fresh mapping, and slowed torch's training steps 1.6-2.8x.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager

from shared.domain.limits import DEFAULT_DECODE_MEMORY_BYTES

__all__ = ["DecodeBudget", "configure_decode_memory", "decode_budget"]

_TRIM_AFTER = 32 * 1024 * 1024  # bytes: a decode this costly trims the heap when it ends


class DecodeBudget:
    """A bytes-weighted semaphore: ``held(cost)`` waits until ``cost`` fits under ``limit``. First
    come, first served, so a stream of small decodes never starves a large one."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"the decode memory budget must be at least 1 byte, not {limit}")
        self.limit = limit
        self._used = 0
        self._free = threading.Condition()
        self._line: deque[object] = deque()

    @property
    def used(self) -> int:
        return self._used

    @contextmanager
    def held(self, cost: int) -> Iterator[None]:
        cost = max(0, min(cost, self.limit))  # a decode over the whole budget runs alone
        ticket = object()
        with self._free:
            self._line.append(ticket)
            try:
                self._free.wait_for(lambda: self._line[0] is ticket and self._used + cost <= self.limit)
            finally:
                self._line.remove(ticket)
                self._free.notify_all()  # the next in line may fit too (or be first now)
            self._used += cost
        try:
            yield
        finally:
            with self._free:
                self._used -= cost
                self._free.notify_all()
            if cost >= _TRIM_AFTER:
                _trim()


_budget = DecodeBudget(DEFAULT_DECODE_MEMORY_BYTES)


def decode_budget() -> DecodeBudget:
    """The process's one budget."""
    return _budget


def configure_decode_memory(limit: int) -> None:
    """Set the budget (bytes) from the settings; called once by the composition root, before any
    request."""
    global _budget
    _budget = DecodeBudget(limit)


def _libc() -> ctypes.CDLL | None:
    """glibc, where there is one (``malloc_trim`` is glibc's); None elsewhere."""
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        libc = ctypes.CDLL(name)
        libc.malloc_trim  # noqa: B018 (musl and macOS have none)
    except (OSError, AttributeError):
        return None
    return libc


_LIBC = _libc()


def _trim() -> None:
    if _LIBC is not None:
        _LIBC.malloc_trim(0)
