"""Iteration performance, computed on each call from the held-out predictions the trainer stored.

Thresholds are query parameters (``threshold``, ``overlapThreshold``), so nothing is precomputed:
the metric code in :mod:`shared.vision.evaluation` runs over the iteration's
:class:`~shared.contracts.evaluation.HeldOutEvaluation`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from shared.contracts.evaluation import HeldOutEvaluation
from shared.domain.entities import Image, Tag
from shared.domain.enums import Task
from shared.domain.errors import BadRequest, Code
from shared.domain.limits import MAX_BATCH_TAGS
from shared.domain.records import ScoredTag
from shared.domain.validation import parse_guids
from shared.services.iterations import IterationService
from shared.services.model_artifacts import ModelArtifacts
from shared.vision.evaluation import (
    DEFAULT_OVERLAP,
    DEFAULT_THRESHOLD,
    IterationPerformance,
    evaluate_classification,
    evaluate_detection,
)

__all__ = ["ImagePerformance", "PerformanceService"]


@dataclass(frozen=True)
class ImagePerformance:
    image: Image
    predictions: list[ScoredTag]  # most probable first


def _fraction(name: str, value: float | None, default: float) -> float:
    if value is None:
        return default
    if not 0.0 <= value <= 1.0:
        raise BadRequest(f"{name} must be between 0 and 1, not {value}.", Code.BAD_REQUEST_INVALID)
    return value


class PerformanceService:
    def __init__(self, iterations: IterationService, artifacts: ModelArtifacts) -> None:
        self._iterations = iterations
        self._artifacts = artifacts

    def _evaluation(self, project_id: str, iteration_id: str) -> tuple[HeldOutEvaluation, dict[str, Tag], list[Image]]:
        """The held-out evaluation, and the tags and images the iteration was trained on."""
        iteration = self._iterations.completed(project_id, iteration_id)
        evaluation = self._artifacts.evaluation(iteration.project_id, iteration.id)
        _, snapshot = self._iterations.snapshot(iteration.project_id, iteration.id)
        return evaluation, {t.id: t for t in snapshot.tags}, list(snapshot.images)

    def performance(
        self, project_id: str, iteration_id: str, threshold: float | None, overlap: float | None
    ) -> tuple[IterationPerformance, dict[str, Tag]]:
        threshold = _fraction("threshold", threshold, DEFAULT_THRESHOLD)
        overlap = _fraction("overlapThreshold", overlap, DEFAULT_OVERLAP)
        evaluation, tags, _ = self._evaluation(project_id, iteration_id)
        if evaluation.task is Task.DETECTION:
            result = evaluate_detection(
                evaluation.detection_samples(), evaluation.tag_ids, threshold=threshold, overlap_threshold=overlap
            )
        else:
            result = evaluate_classification(
                evaluation.classification_samples(),
                evaluation.tag_ids,
                multiclass=evaluation.multiclass,
                threshold=threshold,
            )
        return result, tags

    def _held_out(
        self, project_id: str, iteration_id: str, tag_ids: Sequence[str]
    ) -> tuple[list[ImagePerformance], dict[str, Tag]]:
        evaluation, tags, snapshot_images = self._evaluation(project_id, iteration_id)
        wanted = set(parse_guids(tag_ids, "tag", limit=MAX_BATCH_TAGS))
        images = {i.id: i for i in snapshot_images}
        out: list[ImagePerformance] = []
        for held_out in evaluation.images:
            image = images.get(held_out.image_id)
            if image is None or (wanted and not wanted & set(image.tag_ids)):
                continue
            out.append(ImagePerformance(image, held_out.predictions))
        return out, tags

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
        found, tags = self._held_out(project_id, iteration_id, tag_ids)
        found.sort(key=lambda p: (p.image.created, p.image.id), reverse=newest_first)
        return found[skip : skip + take], tags

    def image_performance_count(self, project_id: str, iteration_id: str, tag_ids: Sequence[str]) -> int:
        return len(self._held_out(project_id, iteration_id, tag_ids)[0])
