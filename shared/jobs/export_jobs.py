"""The handler of :class:`~shared.contracts.jobs.ExportIteration`: package one export where the
converters are installed.

Locally the launcher runs ``cvstudio export-iteration`` as a child process (as it runs training) and
waits: an exporter that died without recording its end leaves the export ``Failed`` with how it ended.
In Azure the launcher starts an execution of the Container Apps job (the training image): a start
refused for good ends the export ``Failed``; any other error propagates, so the queue delivers the
message again (and the poison queue's trigger ends it ``Failed``). A job that dies later is reported
``Failed`` once its export has been quiet for ``EXPORT_STALL_SECONDS`` (``ExportService``).
"""

from __future__ import annotations

import logging

from shared.contracts.jobs import ExportIteration
from shared.jobs.launcher import JobLauncher
from shared.jobs.training_jobs import LaunchRefused
from shared.services.exports import ExportService

__all__ = ["ExportJobs"]

log = logging.getLogger(__name__)


class ExportJobs:
    def __init__(self, exports: ExportService, launcher: JobLauncher) -> None:
        self._exports = exports
        self._launcher = launcher

    def export_iteration(self, job: ExportIteration) -> None:
        if not self._exports.waiting(job):
            log.info("export %s is not waiting to be packaged; nothing to do", job.export_id)
            return
        try:
            ended = self._launcher.run(job)
        except LaunchRefused as refused:
            self._exports.fail(job, f"The export could not be started: {refused}")
            return
        if ended is not None:
            self._exports.fail(job, f"The exporter stopped unexpectedly (it {ended}); export again.")
