"""``evaluation.json``: the held-out predictions behind an iteration's reported metrics.

Written by the trainer; read by the performance service, which runs
:mod:`shared.vision.evaluation` over it on every call (thresholds are query parameters, so
nothing is precomputed). Each held-out image carries what the evaluator needs: true tags and
scores (classification) or true and predicted boxes (detection), all normalised 0..1, and the
fold it was held out in.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from shared.domain.enums import Task
from shared.domain.records import ScoredTag
from shared.domain.versioning import ContractError, parse_document, read_version
from shared.vision.evaluation import ClassificationSample, DetectionSample, GroundTruthBox, PredictedBox

__all__ = ["HeldOutEvaluation", "HeldOutImage"]

_NAME = "The held-out evaluation (evaluation.json)"


@dataclass(frozen=True)
class HeldOutImage:
    """One image predicted by a model that did not train on it."""

    image_id: str
    fold: int
    true_tag_ids: tuple[str, ...] = ()  # classification; empty for a negative image
    scores: Mapping[str, float] = field(default_factory=dict)  # classification: tag id -> probability
    true_boxes: tuple[GroundTruthBox, ...] = ()  # detection
    predicted_boxes: tuple[PredictedBox, ...] = ()  # detection

    def to_doc(self, task: Task) -> dict[str, Any]:
        doc: dict[str, Any] = {"imageId": self.image_id, "fold": self.fold}
        if task is Task.DETECTION:
            doc["trueBoxes"] = [[b.tag_id, b.left, b.top, b.width, b.height] for b in self.true_boxes]
            doc["predictedBoxes"] = [
                [b.tag_id, b.score, b.left, b.top, b.width, b.height] for b in self.predicted_boxes
            ]
        else:
            doc["trueTagIds"] = list(self.true_tag_ids)
            doc["scores"] = dict(self.scores)
        return doc

    @classmethod
    def from_doc(cls, doc: dict[str, Any], task: Task) -> HeldOutImage:
        if task is Task.DETECTION:
            return cls(
                image_id=doc["imageId"],
                fold=int(doc["fold"]),
                true_boxes=tuple(GroundTruthBox(str(b[0]), *map(float, b[1:5])) for b in doc["trueBoxes"]),
                predicted_boxes=tuple(PredictedBox(str(b[0]), *map(float, b[1:6])) for b in doc["predictedBoxes"]),
            )
        return cls(
            image_id=doc["imageId"],
            fold=int(doc["fold"]),
            true_tag_ids=tuple(doc["trueTagIds"]),
            scores={str(k): float(v) for k, v in doc["scores"].items()},
        )

    @property
    def predictions(self) -> list[ScoredTag]:
        """What the held-out model predicted for the image, most probable first."""
        found = [ScoredTag(b.tag_id, b.score, (b.left, b.top, b.width, b.height)) for b in self.predicted_boxes]
        found += [ScoredTag(tag_id, p) for tag_id, p in self.scores.items()]
        return sorted(found, key=lambda p: p.probability, reverse=True)


@dataclass(frozen=True)
class HeldOutEvaluation:
    VERSION: ClassVar[int] = 1

    task: Task
    tag_ids: tuple[str, ...]  # the tags measured, in the order the metrics report them
    k_fold: bool  # images were held out in several folds (small tags), not one 4:1 split
    images: tuple[HeldOutImage, ...]
    multiclass: bool = False  # classification: one tag per image

    def classification_samples(self) -> list[ClassificationSample]:
        return [
            ClassificationSample(true=frozenset(i.true_tag_ids), scores=i.scores, fold=i.fold if self.k_fold else None)
            for i in self.images
        ]

    def detection_samples(self) -> list[DetectionSample]:
        return [
            DetectionSample(truth=i.true_boxes, predictions=i.predicted_boxes, fold=i.fold if self.k_fold else None)
            for i in self.images
        ]

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "version": self.VERSION,
                "task": self.task.value,
                "multiclass": self.multiclass,
                "tagIds": list(self.tag_ids),
                "kFold": self.k_fold,
                "images": [i.to_doc(self.task) for i in self.images],
            }
        ).encode()

    @classmethod
    def from_json(cls, data: bytes | str) -> HeldOutEvaluation:
        raw = parse_document(_NAME, data)
        read_version(_NAME, raw, cls.VERSION)
        try:
            task = Task(raw["task"])
            return cls(
                task=task,
                tag_ids=tuple(raw["tagIds"]),
                k_fold=bool(raw.get("kFold", False)),
                images=tuple(HeldOutImage.from_doc(i, task) for i in raw["images"]),
                multiclass=bool(raw.get("multiclass", False)),
            )
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise ContractError(f"{_NAME} is malformed: {exc!r}") from None
