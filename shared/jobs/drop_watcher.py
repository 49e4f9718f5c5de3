"""The local drop folder's watcher: a thread of ``cvstudio serve`` on the embedded default.

It looks at ``<data dir>/drop/`` about once a second and hands each file that has no result yet
(or changed since its result was written) to :class:`~shared.services.drop_ingestion.DropIngestion`,
the same service the blob trigger calls in Azure. A file is read only once it has stopped
changing: its size and time must be the same on two looks in a row, so a file still being copied
in is left alone. A file whose ingestion fails on a store error is tried again later, less and
less often (up to once a minute); input problems never fail: they are the file's result.
"""

from __future__ import annotations

import logging
import threading
import time

from shared.services.drop_ingestion import DropIngestion

__all__ = ["DropWatcher"]

log = logging.getLogger(__name__)

_POLL_SECONDS = 1.0
_MAX_BACKOFF_SECONDS = 60.0


class DropWatcher:
    def __init__(self, ingestion: DropIngestion, *, interval: float = _POLL_SECONDS) -> None:
        self._ingestion = ingestion
        self._interval = interval
        self._seen: dict[str, tuple[int, float]] = {}  # name -> (size, modified) at the last look
        self._failures: dict[str, tuple[int, float]] = {}  # name -> (failures in a row, not before)
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="drop-watcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _loop(self) -> None:
        while not self._stopping.wait(self._interval):
            try:
                self.poll()
            except Exception:  # the folder itself failed (a disk error): look again next time
                log.exception("drop folder: looking for new files failed")

    def poll(self) -> int:
        """One look: ingest the files that are new and have stopped changing; how many were ingested."""
        pending = self._ingestion.pending()
        now = time.monotonic()
        seen, done = {}, 0
        for entry in pending:
            state = (entry.size, entry.modified)
            seen[entry.name] = state
            if self._seen.get(entry.name) != state or self._stopping.is_set():
                continue  # new or still changing: read it once it has settled
            failures, not_before = self._failures.get(entry.name, (0, 0.0))
            if now < not_before:
                continue
            try:
                self._ingestion.ingest(entry.name)
            except Exception:
                failures += 1
                delay = min(_MAX_BACKOFF_SECONDS, self._interval * 2**failures)
                self._failures[entry.name] = (failures, now + delay)
                log.exception(
                    "drop folder: %s failed (attempt %d); trying again in %.0f s", entry.name, failures, delay
                )
                continue
            self._failures.pop(entry.name, None)
            done += 1
        self._seen = seen
        return done
