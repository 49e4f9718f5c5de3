"""The trainer's entry point: load an iteration's snapshot -> evaluate on held-out images -> fit ->
export -> record.

One entry point, :func:`train_iteration`, used alike by the local worker (``cvstudio
train-iteration``, in a child process) and by the Azure Container Apps job. It never leaves an
iteration in ``Training``: any error marks it ``Failed`` with a reason a person can read.

Evaluation (what ``get_iteration_performance`` reports) uses models that did not see the
held-out images (:mod:`.classification`, :mod:`.detection`).

Advanced's budget (``reservedBudgetInHours``, capped by the server's
``advanced_training_cap_seconds``) is the whole iteration's, not each fit's: a small tail is kept
after the last fit for the held-out predictions, the export and saving; classification gives
half of the rest to the held-out fits and what is then left to the published one; detection
gives all of it to its one fit.

Artifacts written under ``projects/<p>/iterations/<i>/`` (:class:`shared.services.model_artifacts.
ModelArtifacts`): ``model.onnx``, ``model.json`` (task, tag order) and ``evaluation.json``
(held-out predictions).
"""

from __future__ import annotations

import logging
import time
from contextlib import suppress

from shared.bootstrap import Services
from shared.domain.catalogue import domain_task
from shared.domain.entities import Iteration
from shared.domain.enums import IterationStatus, Task, TrainingType
from shared.domain.errors import NotFound, plain_reason
from shared.training.context import TrainingContext
from shared.training.progress import IterationProgress
from shared.vision.training.budget import TimeBudget

__all__ = ["train_iteration"]

log = logging.getLogger(__name__)

# Advanced keeps this share of its budget (within bounds, seconds) after the last fit for the
# held-out predictions, the export and saving.
_TAIL_SHARE, _TAIL_BOUNDS = 0.025, (3.0, 30.0)


def train_iteration(services: Services, project_id: str, iteration_id: str) -> None:
    try:
        _train_iteration(services, project_id, iteration_id)
    except NotFound:
        if services.projects.find(project_id) is not None:
            raise
    # A project deleted while it trained: what this run wrote after the delete's purge goes too.
    with suppress(NotFound):
        services.projects.still_there(project_id)


def _train_iteration(services: Services, project_id: str, iteration_id: str) -> None:
    iteration = services.iterations.get(project_id, iteration_id)
    if iteration.status != IterationStatus.TRAINING:
        log.info("iteration %s is %s; nothing to do", iteration_id, iteration.status)
        return
    started = time.monotonic()
    budget = _fits_budget(services, iteration)
    progress = IterationProgress(services, iteration)
    try:
        _, snapshot = services.iterations.snapshot(project_id, iteration_id)
        _train(TrainingContext(services, iteration, snapshot, progress, budget))
    except Exception as exc:
        log.exception("training %s failed", iteration_id)
        services.iterations.fail(project_id, iteration_id, f"Training failed: {plain_reason(exc)}")
        return
    services.iterations.complete(project_id, iteration_id, time.monotonic() - started)


def _fits_budget(services: Services, iteration: Iteration) -> TimeBudget:
    """What the iteration's fits may spend: Advanced's budget from now, less the tail; Regular's
    fits are unlimited."""
    if iteration.training_type != TrainingType.ADVANCED:
        return TimeBudget.unlimited()
    seconds = float(iteration.reserved_budget_in_hours * 3600)
    cap = services.settings.advanced_training_cap_seconds
    seconds = min(seconds, cap) if cap else seconds
    tail = min(max(_TAIL_SHARE * seconds, _TAIL_BOUNDS[0]), _TAIL_BOUNDS[1])
    return TimeBudget.from_now(seconds).less(tail)


def _train(context: TrainingContext) -> None:
    # The task modules import torch: only now, and inside the caller's error handling.
    if domain_task(context.iteration.domain_id) is Task.DETECTION:
        from shared.training.detection import train_detector

        train_detector(context)
    else:
        from shared.training.classification import train_classifier

        train_classifier(context)
