"""Predicting: an iteration's model run on one image, for the Prediction API and Quick Test.

The prediction path needs onnxruntime, Pillow and numpy only (never torch): models are the ONNX
files the trainer exported, read through :class:`~shared.services.model_artifacts.ModelArtifacts`
and loaded once per iteration (:class:`~shared.vision.inference.ModelCache`). With ``store`` on,
the image and its result are kept (:mod:`shared.services.stored_predictions`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from PIL import Image as PILImage

from shared.contracts.manifest import ModelManifest
from shared.domain.catalogue import domain_task
from shared.domain.clock import utc_now
from shared.domain.entities import Iteration, Tag, new_id
from shared.domain.enums import IterationStatus, Task
from shared.domain.errors import BadRequest, Code, NotFound
from shared.domain.limits import MAX_IMAGE_BYTES_PREDICTION
from shared.domain.records import ScoredTag, StoredPrediction
from shared.services.ingestion import ImageDownloads
from shared.services.iterations import IterationService
from shared.services.model_artifacts import ModelArtifacts
from shared.services.prediction_results import PredictionResult
from shared.services.stored_predictions import StoredPredictions
from shared.services.tags import TagService
from shared.vision.images import model_image
from shared.vision.inference import ModelCache, OnnxModel

__all__ = ["MAX_APPLICATION_LENGTH", "MAX_DETECTIONS", "PredictionService"]

MAX_DETECTIONS = 200
MAX_APPLICATION_LENGTH = 64


class PredictionService:
    def __init__(
        self,
        tags: TagService,
        iterations: IterationService,
        artifacts: ModelArtifacts,
        models: ModelCache,
        stored: StoredPredictions,
        downloads: ImageDownloads,
    ) -> None:
        self._tags = tags
        self._iterations = iterations
        self._artifacts = artifacts
        self._models = models
        self._stored = stored
        self._downloads = downloads

    def default_iteration(self, project_id: str, iteration_id: str | None) -> Iteration:
        """The given iteration, or the newest completed one (Quick Test's "default iteration")."""
        if iteration_id:
            return self._iterations.completed(project_id, iteration_id)
        for iteration in self._iterations.newest_first(project_id):
            if iteration.status == IterationStatus.COMPLETED:
                return iteration
        raise NotFound("This project has no trained iteration yet; train one first.", Code.NOT_FOUND_ITERATION)

    def predict_url(
        self,
        iteration: Iteration,
        url: str | None,
        *,
        task: Task | None = None,
        store: bool = False,
        application: str | None = None,
    ) -> PredictionResult:
        """As :meth:`predict`, on the image at ``url`` (fetched safely, prediction size limit)."""
        data = self._downloads.for_prediction(url)
        return self.predict(iteration, data, task=task, store=store, application=application)

    def predict(
        self,
        iteration: Iteration,
        data: bytes,
        *,
        task: Task | None = None,
        store: bool = False,
        application: str | None = None,
        max_bytes: int = MAX_IMAGE_BYTES_PREDICTION,
    ) -> PredictionResult:
        """Run the iteration's model on the image; ``task`` refuses the wrong kind of model."""
        check_application(application)
        model_task = domain_task(iteration.domain_id)
        if task is Task.CLASSIFICATION and model_task is Task.DETECTION:
            raise BadRequest(
                "This iteration is an object detector: call detect, not classify.", Code.BAD_REQUEST_INVALID
            )
        if task is Task.DETECTION and model_task is Task.CLASSIFICATION:
            raise BadRequest("This iteration is a classifier: call classify, not detect.", Code.BAD_REQUEST_INVALID)
        model = self.model(iteration)
        manifest = self._artifacts.manifest(iteration.project_id, iteration.id)
        with model_image(data, min_side=model.decode_side, max_bytes=max_bytes) as decoded:
            if model_task is Task.DETECTION:
                scored = _detected(model, decoded.image, manifest)
            else:
                scored = _classified(model.classify(decoded.image), manifest)
        record = StoredPrediction(
            id=new_id(),
            project_id=iteration.project_id,
            iteration_id=iteration.id,
            created=utc_now(),
            application=application,
            domain_id=iteration.domain_id,
            width=decoded.width,
            height=decoded.height,
            predictions=tuple(scored),
        )
        if store:
            self._stored.keep(record, data)
        return PredictionResult.of_record(record, self.tag_names(iteration), stored=store)

    def model(self, iteration: Iteration) -> OnnxModel:
        """The iteration's loaded model (loaded once per iteration, then cached)."""
        return self._models.get(iteration.id, lambda: self._artifacts.model(iteration.project_id, iteration.id))

    def tag_names(self, iteration: Iteration) -> Mapping[str, Tag]:
        """The tags that name the iteration's predictions: the project's, and the snapshot's for tags
        deleted since training."""
        tags = self._tags.by_id(iteration.project_id)
        manifest = self._artifacts.manifest(iteration.project_id, iteration.id)
        if any(t not in tags for t in manifest.output_tag_ids):
            _, snapshot = self._iterations.snapshot(iteration.project_id, iteration.id)
            tags = {**{t.id: t for t in snapshot.tags}, **tags}
        return tags


def check_application(application: str | None) -> None:
    if application is not None and len(application) > MAX_APPLICATION_LENGTH:
        raise BadRequest(
            f"application may be at most {MAX_APPLICATION_LENGTH} characters.",
            Code.BAD_REQUEST_PREDICTION_INVALID_APPLICATION,
        )


def _probability(value: float) -> float:
    return max(0.0, min(1.0, float(value)))


def _detected(model: OnnxModel, image: PILImage.Image, manifest: ModelManifest) -> list[ScoredTag]:
    rows = model.detect(image, MAX_DETECTIONS)
    return [
        ScoredTag(manifest.tag_ids[int(r[0])], _probability(r[1]), (float(r[2]), float(r[3]), float(r[4]), float(r[5])))
        for r in rows
    ]


def _classified(probabilities: Sequence[float] | np.ndarray, manifest: ModelManifest) -> list[ScoredTag]:
    scores = {tag_id: float(p) for tag_id, p in zip(manifest.tag_ids, probabilities, strict=True)}
    if manifest.negative_tag_id:  # multilabel: the probability that no tag applies
        none = 1.0
        for p in probabilities:
            none *= 1.0 - float(p)
        scores[manifest.negative_tag_id] = none
    found = [ScoredTag(tag_id, _probability(p)) for tag_id, p in scores.items()]
    return sorted(found, key=lambda s: s.probability, reverse=True)
