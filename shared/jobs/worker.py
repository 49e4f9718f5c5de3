"""The local training worker of ``cvstudio serve``: queued jobs, one at a time, on a thread.

On start it enqueues again every iteration still marked ``Training`` (the server was stopped
mid-training), then reads the work queue and dispatches each message
(:func:`shared.jobs.dispatch.dispatch`), as the queue trigger does in Azure.
"""

from __future__ import annotations

import logging
import threading

from shared.domain.versioning import ContractError
from shared.jobs.dispatch import JobHandlers, dispatch
from shared.jobs.launcher import JobLauncher
from shared.services.training import TrainingService
from shared.stores.queue import WorkQueue

__all__ = ["LocalWorker"]

log = logging.getLogger(__name__)

_POLL_SECONDS = 0.5


class LocalWorker:
    def __init__(
        self, queue: WorkQueue, handlers: JobHandlers, launcher: JobLauncher, training: TrainingService
    ) -> None:
        self._queue = queue
        self._handlers = handlers
        self._launcher = launcher
        self._training = training
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        resumed = self._training.resume_unfinished()
        if resumed:
            log.info("resuming %d unfinished training(s)", resumed)
        self._thread = threading.Thread(target=self._loop, name="training-worker", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._launcher.stop()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _loop(self) -> None:
        while not self._stopping.is_set():
            message = self._queue.get(timeout=_POLL_SECONDS)
            if message is None:
                continue
            try:
                dispatch(message, self._handlers)
            except ContractError:
                log.exception("dropped a queue message this server cannot read: %.200s", message)
            except Exception:
                log.exception("training worker error")
