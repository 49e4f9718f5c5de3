"""One dispatch for every reader of the work queue: the local worker and, in Azure, the
queue-triggered function. A message is decoded by its contract (:mod:`shared.contracts.jobs`) and
handed to the handler of its type; a malformed message, an unknown type or a newer version raises
:class:`~shared.domain.versioning.ContractError` (the local worker logs it and drops it; a queue
trigger lets it fail, so the host moves it to the poison queue)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from shared.contracts.jobs import ExportIteration, FinishDeletion, ResumeImport, SweepImageBytes, TrainIteration, decode

__all__ = ["Handlers", "JobHandlers", "dispatch"]


class JobHandlers(Protocol):
    def train_iteration(self, job: TrainIteration) -> None: ...

    def finish_deletion(self, job: FinishDeletion) -> None: ...

    def sweep_image_bytes(self, job: SweepImageBytes) -> None: ...

    def export_iteration(self, job: ExportIteration) -> None: ...

    def resume_import(self, job: ResumeImport) -> None: ...


class _Imports(Protocol):
    def resume(self, project_id: str) -> None: ...


class _Exports(Protocol):
    def export_iteration(self, job: ExportIteration) -> None: ...


class _Trains(Protocol):
    def train_iteration(self, job: TrainIteration) -> None: ...


class _Finishes(Protocol):
    def finish(self, tombstone_id: str) -> None: ...

    def sweep_image_bytes_of(self, project_id: str) -> int: ...


@dataclass(frozen=True)
class Handlers:
    """The handlers of every message type: training (``TrainingJobs``), deletes (``Deletions``),
    exports (``ExportJobs``), project imports (``ProjectImports``)."""

    training: _Trains
    deletions: _Finishes
    exports: _Exports | None = None
    imports: _Imports | None = None

    def train_iteration(self, job: TrainIteration) -> None:
        self.training.train_iteration(job)

    def finish_deletion(self, job: FinishDeletion) -> None:
        self.deletions.finish(job.tombstone_id)

    def sweep_image_bytes(self, job: SweepImageBytes) -> None:
        self.deletions.sweep_image_bytes_of(job.project_id)

    def export_iteration(self, job: ExportIteration) -> None:
        if self.exports is None:  # a reader that runs no exports: let the queue keep the message
            raise RuntimeError("this queue reader does not run exports")
        self.exports.export_iteration(job)

    def resume_import(self, job: ResumeImport) -> None:
        if self.imports is None:  # a reader that runs no imports: let the queue keep the message
            raise RuntimeError("this queue reader does not run project imports")
        self.imports.resume(job.project_id)


def dispatch(message: str | bytes, handlers: JobHandlers) -> None:
    job = decode(message)
    if isinstance(job, TrainIteration):
        handlers.train_iteration(job)
    elif isinstance(job, FinishDeletion):
        handlers.finish_deletion(job)
    elif isinstance(job, SweepImageBytes):
        handlers.sweep_image_bytes(job)
    elif isinstance(job, ExportIteration):
        handlers.export_iteration(job)
    elif isinstance(job, ResumeImport):
        handlers.resume_import(job)
    else:  # pragma: no cover - decode returns only the types above
        raise TypeError(f"no handler for {type(job).__name__}")
