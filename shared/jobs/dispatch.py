"""One dispatch for every reader of the work queue: the local worker and, in Azure, the
queue-triggered function. A message is decoded by its contract (:mod:`shared.contracts.jobs`) and
handed to the handler of its type; a malformed message, an unknown type or a newer version raises
:class:`~shared.domain.versioning.ContractError` (the local worker logs it and drops it; a queue
trigger lets it fail, so the host moves it to the poison queue)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from shared.contracts.jobs import FinishDeletion, TrainIteration, decode

__all__ = ["Handlers", "JobHandlers", "dispatch"]


class JobHandlers(Protocol):
    def train_iteration(self, job: TrainIteration) -> None: ...

    def finish_deletion(self, job: FinishDeletion) -> None: ...


class _Trains(Protocol):
    def train_iteration(self, job: TrainIteration) -> None: ...


class _Finishes(Protocol):
    def finish(self, tombstone_id: str) -> None: ...


@dataclass(frozen=True)
class Handlers:
    """The handlers of every message type: training (``TrainingJobs``), deletes (``Deletions``)."""

    training: _Trains
    deletions: _Finishes

    def train_iteration(self, job: TrainIteration) -> None:
        self.training.train_iteration(job)

    def finish_deletion(self, job: FinishDeletion) -> None:
        self.deletions.finish(job.tombstone_id)


def dispatch(message: str | bytes, handlers: JobHandlers) -> None:
    job = decode(message)
    if isinstance(job, TrainIteration):
        handlers.train_iteration(job)
    elif isinstance(job, FinishDeletion):
        handlers.finish_deletion(job)
    else:  # pragma: no cover - decode returns only the types above
        raise TypeError(f"no handler for {type(job).__name__}")
