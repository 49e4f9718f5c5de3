"""The handler of :class:`~shared.contracts.jobs.TrainIteration`: one attempt of one training.

A message whose iteration is gone or no longer ``Training`` is a no-op (messages may arrive twice:
the worker re-enqueues unfinished iterations on start, and Azure queues deliver at least once).
An iteration interrupted too often, or whose trainer died without recording its end, is marked
``Failed`` with the reason: never ``Training`` forever.
"""

from __future__ import annotations

import logging

from shared.contracts.jobs import TrainIteration
from shared.domain.enums import IterationStatus
from shared.jobs.launcher import JobLauncher
from shared.services.iterations import IterationService
from shared.services.projects import ProjectService

__all__ = ["MAX_ATTEMPTS", "TrainingJobs"]

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 2  # a server stopped during training resumes it once, then gives up


class TrainingJobs:
    def __init__(self, projects: ProjectService, iterations: IterationService, launcher: JobLauncher) -> None:
        self._projects = projects
        self._iterations = iterations
        self._launcher = launcher

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
