"""The training queue's triggers (the training role): start a job, give up on a message, end silent jobs.

- ``start_training`` (queue ``%CVSTUDIO_TRAINING_QUEUE%``): the one :func:`~shared.jobs.dispatch.dispatch`,
  with handlers that start an execution of the Container Apps training job per iteration. A start
  refused for good ends the iteration ``Failed``; any other error fails the invocation, so the
  host delivers the message again (host.json: ``maxDequeueCount``, ``visibilityTimeout``).
- ``training_not_started`` (queue ``%CVSTUDIO_TRAINING_QUEUE%-poison``, where the host moves a message
  it has given up on): the iteration ends ``Failed`` with the last reason its start failed.
- ``fail_stalled_trainings`` (every 5 minutes): every training whose progress has not moved for
  ``CVSTUDIO_TRAINING_STALL_SECONDS`` ends ``Failed`` (its job died, or never started); and every
  delete that is due another pass (interrupted, or its last pass) is enqueued as ``FinishDeletion``,
  which ``start_training``'s dispatch runs (``shared.services.deletions``).

Never trains here: a function has a time limit, and the queue redelivers. Messages are Base64 JSON
(:mod:`shared.stores.azure.storage_queue` sends them so), which is what the trigger decodes.
"""

from __future__ import annotations

import logging
from functools import cache

import azure.functions as func

from functions.runtime import services
from shared.bootstrap import build_job_starter
from shared.contracts.jobs import TrainIteration, decode
from shared.domain.versioning import ContractError
from shared.jobs.dispatch import Handlers, dispatch
from shared.jobs.training_jobs import TrainingJobs

__all__ = ["MAX_DEQUEUE_COUNT", "bp"]

log = logging.getLogger(__name__)

# host.json's extensions.queues.maxDequeueCount: the deliveries before the host gives up on a message.
MAX_DEQUEUE_COUNT = 5

bp = func.Blueprint()  # type: ignore[no-untyped-call]  # its __init__ is not annotated


@cache
def _training_jobs() -> TrainingJobs:
    return build_job_starter(services())


@bp.queue_trigger(arg_name="message", queue_name="%CVSTUDIO_TRAINING_QUEUE%", connection="CVSTUDIO_STORAGE")
def start_training(message: func.QueueMessage) -> None:
    dispatch(message.get_body(), Handlers(_training_jobs(), services().deletions))


@bp.queue_trigger(arg_name="message", queue_name="%CVSTUDIO_TRAINING_QUEUE%-poison", connection="CVSTUDIO_STORAGE")
def training_not_started(message: func.QueueMessage) -> None:
    try:
        job = decode(message.get_body())
    except ContractError:
        log.exception("a poison message no cvstudio handler can read; dropped: %.200r", message.get_body())
        return
    if isinstance(job, TrainIteration):
        services().iterations.not_started(job.project_id, job.iteration_id, MAX_DEQUEUE_COUNT)


@bp.timer_trigger(arg_name="timer", schedule="0 */5 * * * *")
def fail_stalled_trainings(timer: func.TimerRequest) -> None:
    built = services()
    for iteration in built.iterations.fail_stalled(built.settings.training_stall_seconds):
        log.warning("training of iteration %s ended: %s", iteration.id, iteration.training_error_details)
    requested = built.deletions.request_due()
    if requested:
        log.info("asked to finish %d delete(s)", requested)
