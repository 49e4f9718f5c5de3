"""The handler of :class:`~shared.contracts.jobs.TrainIteration`: one attempt of one training.

A message whose iteration is gone or no longer ``Training`` is a no-op (messages may arrive twice:
the worker re-enqueues unfinished iterations on start, and Azure queues deliver at least once).
An iteration interrupted too often, or whose trainer died without recording its end, is marked
``Failed`` with the reason: never ``Training`` forever.

Two ways to run the trainer, by the launcher:

- **here** (a child process; ``starts_elsewhere=False``): the launcher waits for the trainer's end.
  A message for an iteration already attempted means its trainer was stopped with the server: it
  runs again, at most :data:`MAX_ATTEMPTS` times.
- **elsewhere** (a Container Apps job execution; ``starts_elsewhere=True``): the launcher only
  starts it. The start is claimed first, so a message delivered twice starts one execution. A
  start refused for good (:class:`LaunchRefused`) ends the iteration ``Failed`` with the reason;
  any other error frees the claim, is recorded, and propagates, so that the queue delivers the
  message again; when the queue gives up, ``IterationService.not_started`` ends it ``Failed``.
  A job that dies later is found by its silence (``IterationService.fail_stalled``).
"""

from __future__ import annotations

import logging

from shared.contracts.jobs import ExportIteration, TrainIteration
from shared.domain.enums import IterationStatus
from shared.domain.errors import plain_reason
from shared.jobs.launcher import JobLauncher
from shared.services.iterations import IterationService
from shared.services.projects import ProjectService

__all__ = ["MAX_ATTEMPTS", "LaunchRefused", "RefusingLauncher", "TrainingJobs"]

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 2  # a server stopped during training resumes it once, then gives up


class LaunchRefused(Exception):
    """A launcher's answer that the job will not start as asked, however often it is tried (the job
    is missing, this identity may not start it): the message, in plain words, becomes the
    iteration's failure reason. Any other exception from a launcher is taken as passing."""


class RefusingLauncher:
    """A launcher that cannot start anything as configured: every start is refused with ``reason``
    (what to fix), so that each queued iteration ends ``Failed`` saying so."""

    def __init__(self, reason: str) -> None:
        self._reason = reason

    def run(self, job: TrainIteration | ExportIteration) -> str | None:
        raise LaunchRefused(self._reason)

    def stop(self) -> None:
        pass


class TrainingJobs:
    def __init__(
        self,
        projects: ProjectService,
        iterations: IterationService,
        launcher: JobLauncher,
        *,
        starts_elsewhere: bool = False,
    ) -> None:
        self._projects = projects
        self._iterations = iterations
        self._launcher = launcher
        self._starts_elsewhere = starts_elsewhere

    def _training(self, job: TrainIteration) -> bool:
        project = self._projects.find(job.project_id)
        if project is None:
            return False
        iteration = self._iterations.find(project.id, job.iteration_id)
        return iteration is not None and iteration.status == IterationStatus.TRAINING

    def train_iteration(self, job: TrainIteration) -> None:
        if not self._training(job):
            log.info("iteration %s is not waiting for training; nothing to do", job.iteration_id)
            return
        if self._starts_elsewhere:
            self._start_elsewhere(job)
        else:
            self._run_here(job)

    def _run_here(self, job: TrainIteration) -> None:
        iteration = self._iterations.begin_attempt(job.project_id, job.iteration_id)
        if iteration.attempts > MAX_ATTEMPTS:
            self._iterations.fail(
                job.project_id,
                job.iteration_id,
                "Training was interrupted (the server stopped) too many times; train again.",
            )
            return
        ended = self._launcher.run(job)
        if ended is not None and self._training(job):
            self._iterations.fail(
                job.project_id,
                job.iteration_id,
                f"The trainer stopped unexpectedly (it {ended}); train again, or check the server log.",
            )

    def _start_elsewhere(self, job: TrainIteration) -> None:
        if not self._iterations.claim_start(job.project_id, job.iteration_id):
            log.info("the training job of iteration %s was started already; nothing to do", job.iteration_id)
            return
        try:
            self._launcher.run(job)
        except LaunchRefused as refused:
            self._iterations.fail(job.project_id, job.iteration_id, f"Training could not be started: {refused}")
            return
        except Exception as exc:
            self._iterations.start_failed(job.project_id, job.iteration_id, _plain(exc))
            raise
        self._iterations.job_started(job.project_id, job.iteration_id, "the training job was started")


def _plain(exc: Exception) -> str:
    """An exception as one line for a person: the first line of its message, with its type."""
    return plain_reason(exc)[:500]
