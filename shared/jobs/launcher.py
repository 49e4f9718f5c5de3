"""The JobLauncher port: run a training job somewhere and say how it ended, if it ran here.

Locally the job is a child process (:mod:`shared.jobs.child_process`) and the launcher waits for
it; in Azure it is a Container Apps job execution, which the launcher only starts (the trainer
records its own end, as it does locally). Either way the trainer itself moves the iteration to
``Completed`` or ``Failed``; the launcher's answer only lets the handler fail an iteration whose
trainer died without saying so.
"""

from __future__ import annotations

from typing import Protocol

from shared.contracts.jobs import ExportIteration, TrainIteration

__all__ = ["JobLauncher"]


class JobLauncher(Protocol):
    def run(self, job: TrainIteration | ExportIteration) -> str | None:
        """Run the job. Returns how it ended when it ran here and ended by itself ("exited with
        code 0", "was killed by signal 9"); None when its end is not known here (it runs
        elsewhere, or :meth:`stop` interrupted it: it is resumed later)."""
        ...

    def stop(self) -> None:
        """Interrupt a job running here (the server is stopping); a no-op otherwise."""
        ...
