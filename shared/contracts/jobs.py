"""Queue messages: the work one process asks another to do.

Written by the training API (and the local worker when it resumes), read by the local worker and,
in Azure, by the queue-triggered function. A message is JSON text
(``{"type": "train", "version": 1, "projectId": ..., "iterationId": ...}``) so that every queue
(in-process, Azure Storage Queues) carries it as it is. :func:`decode` refuses a type it does not
know: a message is never skipped silently.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, ClassVar

from shared.domain.versioning import ContractError, parse_document, read_version

__all__ = [
    "ExportIteration",
    "FinishDeletion",
    "JobMessage",
    "ResumeImport",
    "SweepImageBytes",
    "TrainIteration",
    "UnknownMessageType",
    "decode",
    "encode",
    "job_args",
]

_NAME = "The queue message"


class UnknownMessageType(ContractError):
    """A message whose ``type`` this cvstudio does not handle."""


@dataclass(frozen=True)
class TrainIteration:
    """Train one iteration that the API created (status ``Training``) with its snapshot saved."""

    TYPE: ClassVar[str] = "train"
    VERSION: ClassVar[int] = 1

    project_id: str
    iteration_id: str

    def to_fields(self) -> dict[str, Any]:
        return {"projectId": self.project_id, "iterationId": self.iteration_id}

    @classmethod
    def from_fields(cls, raw: dict[str, Any]) -> TrainIteration:
        project_id, iteration_id = raw.get("projectId"), raw.get("iterationId")
        if not isinstance(project_id, str) or not isinstance(iteration_id, str):
            raise ContractError(f"{_NAME} of type 'train' needs projectId and iterationId.")
        return cls(project_id, iteration_id)


@dataclass(frozen=True)
class FinishDeletion:
    """Pass over the remains of a deleted project or tag once more (its tombstone's id)."""

    TYPE: ClassVar[str] = "finish-deletion"
    VERSION: ClassVar[int] = 1

    tombstone_id: str

    def to_fields(self) -> dict[str, Any]:
        return {"tombstoneId": self.tombstone_id}

    @classmethod
    def from_fields(cls, raw: dict[str, Any]) -> FinishDeletion:
        tombstone_id = raw.get("tombstoneId")
        if not isinstance(tombstone_id, str) or not tombstone_id:
            raise ContractError(f"{_NAME} of type 'finish-deletion' needs tombstoneId.")
        return cls(tombstone_id)


@dataclass(frozen=True)
class SweepImageBytes:
    """Pair a project's image records and bytes again: bytes no record points at, older than the
    grace (an upload killed between its bytes and its record), and records whose bytes are gone
    (a delete killed between the bytes and its re-check) are removed."""

    TYPE: ClassVar[str] = "sweep-image-bytes"
    VERSION: ClassVar[int] = 1

    project_id: str

    def to_fields(self) -> dict[str, Any]:
        return {"projectId": self.project_id}

    @classmethod
    def from_fields(cls, raw: dict[str, Any]) -> SweepImageBytes:
        project_id = raw.get("projectId")
        if not isinstance(project_id, str) or not project_id:
            raise ContractError(f"{_NAME} of type 'sweep-image-bytes' needs projectId.")
        return cls(project_id)


@dataclass(frozen=True)
class ExportIteration:
    """Package one export that the API recorded (status ``Exporting``), where the converters are
    installed (the trainer's process and image): ``exportId`` names the platform and flavor."""

    TYPE: ClassVar[str] = "export"
    VERSION: ClassVar[int] = 1

    project_id: str
    iteration_id: str
    export_id: str

    def to_fields(self) -> dict[str, Any]:
        return {"projectId": self.project_id, "iterationId": self.iteration_id, "exportId": self.export_id}

    @classmethod
    def from_fields(cls, raw: dict[str, Any]) -> ExportIteration:
        fields = raw.get("projectId"), raw.get("iterationId"), raw.get("exportId")
        if not all(isinstance(f, str) and f for f in fields):
            raise ContractError(f"{_NAME} of type 'export' needs projectId, iterationId and exportId.")
        return cls(*(str(f) for f in fields))


@dataclass(frozen=True)
class ResumeImport:
    """Go on with a project import whose server stopped (``import_project``): the copy resumes where
    its record says, skipping images the project already holds."""

    TYPE: ClassVar[str] = "resume-import"
    VERSION: ClassVar[int] = 1

    project_id: str

    def to_fields(self) -> dict[str, Any]:
        return {"projectId": self.project_id}

    @classmethod
    def from_fields(cls, raw: dict[str, Any]) -> ResumeImport:
        project_id = raw.get("projectId")
        if not isinstance(project_id, str) or not project_id:
            raise ContractError(f"{_NAME} of type 'resume-import' needs projectId.")
        return cls(project_id)


# Every message type, as one union: dispatchers match on it exhaustively.
JobMessage = TrainIteration | FinishDeletion | ExportIteration | SweepImageBytes | ResumeImport
_TYPES: dict[str, type[JobMessage]] = {
    TrainIteration.TYPE: TrainIteration,
    FinishDeletion.TYPE: FinishDeletion,
    SweepImageBytes.TYPE: SweepImageBytes,
    ExportIteration.TYPE: ExportIteration,
    ResumeImport.TYPE: ResumeImport,
}


def job_args(job: TrainIteration | ExportIteration) -> list[str]:
    """The ``cvstudio`` command that runs a job where its code is installed (a child process, the
    Container Apps job): ``train-iteration PROJECT ITERATION`` or ``export-iteration PROJECT ITERATION EXPORT``."""
    if isinstance(job, ExportIteration):
        return ["export-iteration", job.project_id, job.iteration_id, job.export_id]
    return ["train-iteration", job.project_id, job.iteration_id]


def encode(message: JobMessage) -> str:
    return json.dumps({"type": message.TYPE, "version": message.VERSION, **message.to_fields()})


def decode(text: str | bytes) -> JobMessage:
    raw = parse_document(_NAME, text)
    kind = _TYPES.get(str(raw.get("type")))
    if kind is None:
        raise UnknownMessageType(f"{_NAME} has a type this cvstudio does not handle: {raw.get('type')!r}.")
    read_version(f"{_NAME} of type {kind.TYPE!r}", raw, kind.VERSION)
    return kind.from_fields(raw)
