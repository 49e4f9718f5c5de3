"""The local training worker of ``cvstudio serve``: queued jobs, one at a time, on a thread.

On start it enqueues again the iterations still marked ``Training`` (the server was stopped
mid-training: every one on a queue of its own; on a queue that several servers share, those quiet
for ``resume_quiet_for`` seconds), then reads the work queue and dispatches each message
(:func:`shared.jobs.dispatch.dispatch`), as the queue trigger does in Azure. It also runs ``sweep``
every ``sweep_every`` seconds: with the Container Apps runner, ending trainings whose job went
silent (as the timer trigger does in Azure); with local trainers on a shared queue, resuming the
trainings of a server that is gone.

Deletes are finished here too (``shared.services.deletions``): each sweep (the first at once)
passes over the tombstones that are due; ``alone`` (on stores no other process writes), that is
done at start, before the server listens, and the bytes of uploads stopped before their record
(nothing can be in flight yet) go too.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from shared.domain.versioning import ContractError
from shared.jobs.dispatch import JobHandlers, dispatch
from shared.jobs.launcher import JobLauncher
from shared.services.deletions import Deletions
from shared.services.training import TrainingService
from shared.stores.queue import WorkQueue

__all__ = ["LocalWorker"]

log = logging.getLogger(__name__)

_POLL_SECONDS = 0.5
_SWEEP_SECONDS = 60.0


class LocalWorker:
    def __init__(
        self,
        queue: WorkQueue,
        handlers: JobHandlers,
        launcher: JobLauncher,
        training: TrainingService,
        *,
        sweep: Callable[[], object] | None = None,
        sweep_every: float = _SWEEP_SECONDS,
        resume_quiet_for: float | None = None,
        deletions: Deletions | None = None,
        alone: bool = False,
    ) -> None:
        self._queue = queue
        self._handlers = handlers
        self._launcher = launcher
        self._training = training
        self._sweep = sweep
        self._sweep_every = sweep_every
        self._resume_quiet_for = resume_quiet_for
        self._deletions = deletions
        self._alone = alone  # no other process writes these stores, so nothing is in flight at start
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        resumed = self._training.resume_unfinished(self._resume_quiet_for)
        if resumed:
            log.info("resuming %d unfinished training(s)", resumed)
        if self._deletions is not None and self._alone:  # before the server listens (shared stores: the sweep)
            finished = self._deletions.finish_due()
            dropped = self._deletions.drop_unreferenced_bytes()
            if finished or dropped:
                log.info("finished %d interrupted delete(s); dropped %d unrecorded upload(s)", finished, dropped)
        self._thread = threading.Thread(target=self._loop, name="training-worker", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._launcher.stop()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _sweep_once(self) -> None:
        if self._sweep is not None:
            try:
                self._sweep()
            except Exception:
                log.exception("training sweep error")
        if self._deletions is not None:
            try:
                self._deletions.finish_due()
            except Exception:
                log.exception("deletion sweep error")

    def _loop(self) -> None:
        swept = float("-inf")
        while not self._stopping.is_set():
            if time.monotonic() - swept >= self._sweep_every:
                swept = time.monotonic()
                self._sweep_once()
            message = self._queue.get(timeout=_POLL_SECONDS)
            if message is None:
                continue
            try:
                dispatch(message, self._handlers)
            except ContractError:
                log.exception("dropped a queue message this server cannot read: %.200s", message)
            except Exception:
                log.exception("training worker error")
