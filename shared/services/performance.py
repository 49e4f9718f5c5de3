"""Iteration performance, computed on each call from the held-out predictions the trainer stored.

Thresholds are query parameters (``threshold``, ``overlapThreshold``), so nothing is precomputed:
the metric code in :mod:`shared.vision.evaluation` runs over ``evaluation.json``.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from shared.domain.entities import Image, Tag
from shared.domain.errors import BadRequest, Code, NotFound
from shared.domain.limits import MAX_BATCH_TAGS
from shared.domain.validation import parse_guids
from shared.services.artifact_keys import evaluation_key
from shared.services.iterations import IterationService
from shared.stores.ports import BlobStore
from shared.vision.evaluation import (
    DEFAULT_OVERLAP,
    DEFAULT_THRESHOLD,
    ClassificationSample,
    DetectionSample,
    GroundTruthBox,
    IterationPerformance,
    PredictedBox,
    evaluate_classification,
    evaluate_detection,
)

__all__ = ["HeldOutPrediction", "ImagePerformance", "PerformanceService"]


@dataclass(frozen=True)
class HeldOutPrediction:
    tag_id: str
    probability: float
    box: tuple[float, float, float, float] | None  # left, top, width, height (normalised)


@dataclass(frozen=True)
class ImagePerformance:
    image: Image
    predictions: list[HeldOutPrediction]


def _fraction(name: str, value: float | None, default: float) -> float:
    if value is None:
        return default
    if not 0.0 <= value <= 1.0:
        raise BadRequest(f"{name} must be between 0 and 1, not {value}.", Code.BAD_REQUEST_INVALID)
    return value


class PerformanceService:
    _CACHE_SIZE = 8

    def __init__(self, iterations: IterationService, blobs: BlobStore) -> None:
        self._iterations = iterations
        self._blobs = blobs
        self._cache: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def _evaluation(self, project_id: str, iteration_id: str) -> dict[str, Any]:
        iteration = self._iterations.completed(project_id, iteration_id)
        with self._lock:
            if iteration.id in self._cache:
                return self._cache[iteration.id]
        try:
            data: dict[str, Any] = json.loads(self._blobs.get(evaluation_key(iteration.project_id, iteration.id)))
        except NotFound:
            raise NotFound(
                f"{iteration.name} has no stored evaluation.", Code.NOT_FOUND_ITERATION_PERFORMANCE
            ) from None
        with self._lock:
            self._cache[iteration.id] = data
            while len(self._cache) > self._CACHE_SIZE:
                self._cache.popitem(last=False)
        return data

    def performance(
        self, project_id: str, iteration_id: str, threshold: float | None, overlap: float | None
    ) -> tuple[IterationPerformance, dict[str, Tag]]:
        threshold = _fraction("threshold", threshold, DEFAULT_THRESHOLD)
        overlap = _fraction("overlapThreshold", overlap, DEFAULT_OVERLAP)
        data = self._evaluation(project_id, iteration_id)
        _, snapshot = self._iterations.snapshot(project_id, iteration_id)
        tags = {t.id: t for t in snapshot.tags}
        kfold = bool(data.get("kFold"))
        if data["task"] == "detection":
            samples = [
                DetectionSample(
                    truth=tuple(GroundTruthBox(*b) for b in image["trueBoxes"]),
                    predictions=tuple(PredictedBox(*b) for b in image["predictedBoxes"]),
                    fold=image["fold"] if kfold else None,
                )
                for image in data["images"]
            ]
            result = evaluate_detection(samples, data["tagIds"], threshold=threshold, overlap_threshold=overlap)
        else:
            classification = [
                ClassificationSample(
                    true=frozenset(image["trueTagIds"]),
                    scores=image["scores"],
                    fold=image["fold"] if kfold else None,
                )
                for image in data["images"]
            ]
            result = evaluate_classification(
                classification, data["tagIds"], multiclass=bool(data["multiclass"]), threshold=threshold
            )
        return result, tags

    def _held_out(self, project_id: str, iteration_id: str, tag_ids: Sequence[str]) -> list[ImagePerformance]:
        data = self._evaluation(project_id, iteration_id)
        _, snapshot = self._iterations.snapshot(project_id, iteration_id)
        wanted = set(parse_guids(tag_ids, "tag", limit=MAX_BATCH_TAGS))
        images = {i.id: i for i in snapshot.images}
        out: list[ImagePerformance] = []
        for entry in data["images"]:
            image = images.get(entry["imageId"])
            if image is None or (wanted and not wanted & set(image.tag_ids)):
                continue
            if data["task"] == "detection":
                predictions = [HeldOutPrediction(b[0], b[1], (b[2], b[3], b[4], b[5])) for b in entry["predictedBoxes"]]
            else:
                predictions = [HeldOutPrediction(t, p, None) for t, p in entry["scores"].items()]
            predictions.sort(key=lambda p: p.probability, reverse=True)
            out.append(ImagePerformance(image, predictions))
        return out

    def image_performances(
        self,
        project_id: str,
        iteration_id: str,
        tag_ids: Sequence[str],
        *,
        newest_first: bool,
        take: int,
        skip: int,
    ) -> tuple[list[ImagePerformance], dict[str, Tag]]:
        found = self._held_out(project_id, iteration_id, tag_ids)
        found.sort(key=lambda p: (p.image.created, p.image.id), reverse=newest_first)
        _, snapshot = self._iterations.snapshot(project_id, iteration_id)
        return found[skip : skip + take], {t.id: t for t in snapshot.tags}

    def image_performance_count(self, project_id: str, iteration_id: str, tag_ids: Sequence[str]) -> int:
        return len(self._held_out(project_id, iteration_id, tag_ids))
