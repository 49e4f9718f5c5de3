"""``<file>.result.json``: what became of one file dropped into the drop folder.

Written by the drop-folder ingestion (the blob trigger in Azure, ``cvstudio serve``'s watcher on
the embedded default) beside the file it describes, and read back by the same ingestion: the
result of an image gives its image id to annotations that arrive later, and a result that
records the same bytes (``sha256``) makes a second delivery of the file a no-op.

    {"version": 1, "file": "birds/robin/1.jpg", "status": "ok", "sha256": "...",
     "processed": "2026-11-30T15:00:00.000Z", "projectId": "...", "imageId": "...",
     "code": null, "message": null, "setAsideAs": null, "appliedTo": {}, "waitingFor": []}

``status``: ``ok`` (stored, or an annotation whose images all have its boxes), ``duplicate``
(the same bytes were already an image of the project: ``imageId`` is that image), ``waiting``
(an annotation whose images, listed in ``waitingFor``, have not arrived yet) or ``rejected``
(``code`` and ``message`` say why; the file was moved to ``setAsideAs``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar

from shared.domain.versioning import ContractError, parse_document, read_version

__all__ = ["DropResult", "DropStatus"]

_NAME = "The drop-folder result file"


class DropStatus(StrEnum):
    OK = "ok"
    DUPLICATE = "duplicate"
    WAITING = "waiting"
    REJECTED = "rejected"


@dataclass(frozen=True)
class DropResult:
    VERSION: ClassVar[int] = 1

    file: str  # the file's name in the drop folder, as dropped
    status: DropStatus
    sha256: str  # of the bytes this result is about
    processed: str  # when (ISO-8601 UTC)
    project_id: str | None = None
    image_id: str | None = None
    code: str | None = None
    message: str | None = None
    set_aside_as: str | None = None
    # Annotations: image file name -> the image id that got the file's boxes; the image files
    # named by the annotation that have not arrived yet.
    applied_to: dict[str, str] = field(default_factory=dict)
    waiting_for: tuple[str, ...] = ()

    @property
    def stored(self) -> bool:
        """An image that is in the project (``ok`` or ``duplicate``, with its id)."""
        return self.status in (DropStatus.OK, DropStatus.DUPLICATE) and self.image_id is not None

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "version": self.VERSION,
                "file": self.file,
                "status": self.status.value,
                "sha256": self.sha256,
                "processed": self.processed,
                "projectId": self.project_id,
                "imageId": self.image_id,
                "code": self.code,
                "message": self.message,
                "setAsideAs": self.set_aside_as,
                "appliedTo": dict(self.applied_to),
                "waitingFor": list(self.waiting_for),
            },
            indent=2,
        ).encode()

    @classmethod
    def from_json(cls, data: bytes | str) -> DropResult:
        raw = parse_document(_NAME, data)
        read_version(_NAME, raw, cls.VERSION)
        try:
            return cls(
                file=str(raw["file"]),
                status=DropStatus(raw["status"]),
                sha256=str(raw["sha256"]),
                processed=str(raw["processed"]),
                project_id=_optional(raw, "projectId"),
                image_id=_optional(raw, "imageId"),
                code=_optional(raw, "code"),
                message=_optional(raw, "message"),
                set_aside_as=_optional(raw, "setAsideAs"),
                applied_to={str(k): str(v) for k, v in dict(raw.get("appliedTo") or {}).items()},
                waiting_for=tuple(str(n) for n in raw.get("waitingFor") or ()),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ContractError(f"{_NAME} is malformed: {exc!r}") from None


def _optional(raw: dict[str, Any], key: str) -> str | None:
    value = raw.get(key)
    return None if value is None else str(value)
