"""An iteration's training progress: a model's (stage, fraction) mapped onto the iteration's percent."""

from __future__ import annotations

import logging
import time

from shared.bootstrap import Services
from shared.domain.entities import Iteration
from shared.vision.training.dataset import Progress

__all__ = ["IterationProgress"]

log = logging.getLogger(__name__)

_EVERY_SECONDS = 1.0  # at most one progress write a second: each one is a metadata write


class IterationProgress:
    """Maps a model's (stage, fraction) onto a span of the iteration's percent, at most once a second.

    :meth:`phase` starts a span (``start..end`` percent) and reports its start at once;
    :meth:`callback` gives a model's progress callback reporting within the current span.
    """

    def __init__(self, services: Services, iteration: Iteration) -> None:
        self._services = services
        self._iteration = iteration
        self._last = 0.0
        self._span = (0, 100)

    def phase(self, start: int, end: int, stage: str) -> None:
        self._span = (start, end)
        self.report(stage, 0.0, force=True)

    def report(self, stage: str, fraction: float, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < _EVERY_SECONDS:
            return
        self._last = now
        start, end = self._span
        percent = int(start + (end - start) * max(0.0, min(1.0, fraction)))
        try:
            self._services.iterations.report_progress(self._iteration.project_id, self._iteration.id, stage, percent)
        except Exception:  # progress is a courtesy; training goes on
            log.debug("progress update failed", exc_info=True)

    def callback(self, prefix: str) -> Progress:
        return lambda stage, fraction: self.report(f"{prefix}: {stage}", fraction)
