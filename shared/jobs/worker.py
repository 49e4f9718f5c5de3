"""The local training worker of ``cvstudio serve``: queued jobs, one at a time, on a lane of their
own; exports on a second lane, so that packaging a model never waits behind a running training (in
Azure each message starts its own job execution). The reading thread holds at most one job for the
busy first lane, so a queue other servers share is not drained by this one.

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
(nothing can be in flight yet) go too. Such bytes older than the grace
(``Deletions.unrecorded_grace``) are dropped by a sweep at most once per grace (the first at once
on shared stores), with any image record whose bytes an interrupted image delete removed.

Project imports left unfinished (``shared.services.project_import``) are started again in the
background: ``alone``, at start; on shared stores, by each sweep once an import's progress has
stood for ``IMPORT_QUIET_SECONDS`` (its server is gone).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from shared.contracts.jobs import ExportIteration, decode
from shared.domain.limits import IMPORT_QUIET_SECONDS
from shared.domain.versioning import ContractError
from shared.jobs.dispatch import JobHandlers, dispatch
from shared.jobs.launcher import JobLauncher
from shared.services.deletions import Deletions
from shared.services.project_import import ProjectImports
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
        imports: ProjectImports | None = None,
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
        self._imports = imports
        self._bytes_swept = float("-inf")  # monotonic time of the last sweep of unrecorded bytes
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._job_lane = ThreadPoolExecutor(max_workers=1, thread_name_prefix="training-worker-job")
        self._export_lane = ThreadPoolExecutor(max_workers=1, thread_name_prefix="export-worker")

    def start(self) -> None:
        resumed = self._training.resume_unfinished(self._resume_quiet_for)
        if resumed:
            log.info("resuming %d unfinished training(s)", resumed)
        if self._deletions is not None and self._alone:  # before the server listens (shared stores: the sweep)
            finished = self._deletions.finish_due()
            dropped = self._deletions.sweep_image_bytes(in_flight=False)
            self._bytes_swept = time.monotonic()
            if finished or dropped:
                log.info("finished %d interrupted delete(s); paired %d image(s) with bytes again", finished, dropped)
        if self._imports is not None and self._alone:
            resumed_imports = self._imports.resume_unfinished()  # in the background
            if resumed_imports:
                log.info("resuming %d unfinished project import(s)", resumed_imports)
        self._thread = threading.Thread(target=self._loop, name="training-worker", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._launcher.stop()
        if self._imports is not None:
            self._imports.stop()  # after their current chunk; the next start resumes them
        if self._thread is not None:
            self._thread.join(timeout=30)
        # The launcher has stopped the children; an export not yet started stays Exporting until
        # EXPORT_STALL_SECONDS, then exports anew.
        self._job_lane.shutdown(wait=True, cancel_futures=True)
        self._export_lane.shutdown(wait=True, cancel_futures=True)

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
            if time.monotonic() - self._bytes_swept >= self._deletions.unrecorded_grace:
                self._bytes_swept = time.monotonic()
                try:
                    self._deletions.sweep_image_bytes()
                except Exception:
                    log.exception("unrecorded bytes sweep error")
        if self._imports is not None and not self._alone:
            try:
                self._imports.resume_unfinished(IMPORT_QUIET_SECONDS)
            except Exception:
                log.exception("import sweep error")

    def _loop(self) -> None:
        swept = float("-inf")
        running: Future[None] | None = None  # the job lane's current job
        held: str | None = None  # the next job for that lane, read while it was busy
        while not self._stopping.is_set():
            if time.monotonic() - swept >= self._sweep_every:
                swept = time.monotonic()
                self._sweep_once()
            if held is not None:
                if running is not None and not running.done():
                    self._stopping.wait(_POLL_SECONDS)
                    continue
                running, held = self._job_lane.submit(self._dispatch, held), None
            message = self._queue.get(timeout=_POLL_SECONDS)
            if message is None:
                continue
            if self._is_export(message):
                self._export_lane.submit(self._dispatch, message)
            elif running is None or running.done():
                running = self._job_lane.submit(self._dispatch, message)
            else:
                held = message

    @staticmethod
    def _is_export(message: str | bytes) -> bool:
        try:
            return isinstance(decode(message), ExportIteration)
        except ContractError:
            return False  # dispatch says why

    def _dispatch(self, message: str | bytes) -> None:
        try:
            dispatch(message, self._handlers)
        except ContractError:
            log.exception("dropped a queue message this server cannot read: %.200s", message)
        except Exception:
            log.exception("worker error")
