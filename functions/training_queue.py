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
  which ``start_training``'s dispatch runs (``shared.services.deletions``); and every project import
  whose progress stood ``IMPORT_QUIET_SECONDS`` (the instance that copied it went away) is enqueued as
  ``ResumeImport``, which the dispatch runs here (the copy resumes where its record says).
- ``sweep_image_bytes`` (hourly): a ``SweepImageBytes`` per project, which ``start_training``'s
  dispatch runs: image bytes that no record points at (an upload killed between its bytes and its
  record), older than ``CVSTUDIO_UNRECORDED_BYTES_GRACE_SECONDS``, go, and so do records whose
  bytes an interrupted image delete removed.

Never trains here: a function has a time limit, and the queue redelivers. Messages are Base64 JSON
(:mod:`shared.stores.azure.storage_queue` sends them so), which is what the trigger decodes.
"""

from __future__ import annotations

import logging
from functools import cache

import azure.functions as func

from functions.runtime import services
from shared.bootstrap import build_export_starter, build_job_starter
from shared.contracts.jobs import ExportIteration, ResumeImport, TrainIteration, decode, encode
from shared.domain.limits import IMPORT_QUIET_SECONDS
from shared.domain.versioning import ContractError
from shared.jobs.dispatch import Handlers, dispatch
from shared.jobs.export_jobs import ExportJobs
from shared.jobs.training_jobs import TrainingJobs

__all__ = ["MAX_DEQUEUE_COUNT", "bp"]

log = logging.getLogger(__name__)

# host.json's extensions.queues.maxDequeueCount: the deliveries before the host gives up on a message.
MAX_DEQUEUE_COUNT = 5

bp = func.Blueprint()  # type: ignore[no-untyped-call]  # its __init__ is not annotated


@cache
def _training_jobs() -> TrainingJobs:
    return build_job_starter(services())


@cache
def _export_jobs() -> ExportJobs:
    return build_export_starter(services())


@bp.queue_trigger(arg_name="message", queue_name="%CVSTUDIO_TRAINING_QUEUE%", connection="CVSTUDIO_STORAGE")
def start_training(message: func.QueueMessage) -> None:
    built = services()
    dispatch(message.get_body(), Handlers(_training_jobs(), built.deletions, _export_jobs(), built.project_imports))


@bp.queue_trigger(arg_name="message", queue_name="%CVSTUDIO_TRAINING_QUEUE%-poison", connection="CVSTUDIO_STORAGE")
def training_not_started(message: func.QueueMessage) -> None:
    try:
        job = decode(message.get_body())
    except ContractError:
        log.exception("a poison message no cvstudio handler can read; dropped: %.200r", message.get_body())
        return
    if isinstance(job, TrainIteration):
        services().iterations.not_started(job.project_id, job.iteration_id, MAX_DEQUEUE_COUNT)
    elif isinstance(job, ExportIteration):
        services().exports.fail(
            job, f"The export job could not be started ({MAX_DEQUEUE_COUNT} tries); export again, or check the log."
        )


@bp.timer_trigger(arg_name="timer", schedule="0 */5 * * * *")
def fail_stalled_trainings(timer: func.TimerRequest) -> None:
    built = services()
    for iteration in built.iterations.fail_stalled(built.settings.training_stall_seconds):
        log.warning("training of iteration %s ended: %s", iteration.id, iteration.training_error_details)
    requested = built.deletions.request_due()
    if requested:
        log.info("asked to finish %d delete(s)", requested)
    for project_id in built.project_imports.unfinished(IMPORT_QUIET_SECONDS):
        built.queue.put(encode(ResumeImport(project_id)))
        log.info("asked to resume the import into project %s", project_id)


@bp.timer_trigger(arg_name="timer", schedule="0 17 * * * *")
def sweep_image_bytes(timer: func.TimerRequest) -> None:
    requested = services().deletions.request_byte_sweeps()
    log.info("asked to sweep the image bytes of %d project(s)", requested)
