"""``model.json``: what the prediction path needs beside an iteration's ONNX file.

Written by the trainer; read by predictions and exports. The model's output ``i`` is tag
``tag_ids[i]``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import ClassVar

from shared.domain.enums import Task
from shared.domain.versioning import ContractError, parse_document, read_version

__all__ = ["ModelManifest"]

_NAME = "The model manifest (model.json)"


@dataclass(frozen=True)
class ModelManifest:
    VERSION: ClassVar[int] = 1

    task: Task
    tag_ids: tuple[str, ...]  # model output index -> tag id
    multilabel: bool = False
    # Multilabel classification: reported as the probability that no tag applies.
    negative_tag_id: str | None = None

    @property
    def output_tag_ids(self) -> tuple[str, ...]:
        """Every tag a prediction of this model can name."""
        return (*self.tag_ids, self.negative_tag_id) if self.negative_tag_id else self.tag_ids

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "version": self.VERSION,
                "task": self.task.value,
                "tag_ids": list(self.tag_ids),
                "multilabel": self.multilabel,
                "negative_tag_id": self.negative_tag_id,
            }
        ).encode()

    @classmethod
    def from_json(cls, data: bytes | str) -> ModelManifest:
        raw = parse_document(_NAME, data)
        read_version(_NAME, raw, cls.VERSION)
        try:
            return cls(
                task=Task(raw["task"]),
                tag_ids=tuple(str(t) for t in raw["tag_ids"]),
                multilabel=bool(raw.get("multilabel", False)),
                negative_tag_id=raw.get("negative_tag_id"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ContractError(f"{_NAME} is malformed: {exc!r}") from None
