"""Predictions: publishing, the Prediction API, Quick Test, and stored predictions.

The prediction path needs onnxruntime, Pillow and numpy only (never torch): models are the ONNX
files the trainer exported, loaded once per iteration and kept (:class:`ModelCache`). A publish
name is resolved on every call, so publishing and unpublishing take effect at once. With
``store`` on, the image and its result are kept for 30 days, for ``query_predictions`` and for
moving into the training set.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from shared.domain.catalogue import OBJECT_DETECTION, find_domain
from shared.domain.entities import COMPLETED, ITERATION, Iteration, Tag, new_id, utc_ago, utc_now
from shared.domain.errors import BadRequest, Code, NotFound
from shared.domain.limits import MAX_BATCH_IMAGES, MAX_IMAGE_BYTES_PREDICTION, MAX_TAKE
from shared.domain.validation import parse_guids
from shared.services.artifact_keys import manifest_key, model_key, prediction_key, prediction_prefix
from shared.services.images import ImageCreateSummary, ImageService, NewImage, RegionInput
from shared.services.iterations import IterationService
from shared.services.names import NameClaims
from shared.services.projects import ProjectService
from shared.services.renditions import read_rendition
from shared.services.tags import TagService
from shared.stores.ports import BlobStore, Condition, Eq, MetadataStore, Range
from shared.vision.images import decode_for_model
from shared.vision.inference import ModelCache, OnnxModel

__all__ = [
    "PREDICTION",
    "PredictedTag",
    "PredictionQuery",
    "PredictionResult",
    "PredictionService",
    "TagThreshold",
    "predicted_tag",
]

PREDICTION = "prediction"
RETENTION = timedelta(days=30)
MAX_DETECTIONS = 200
_PUBLISH_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.\-]{0,255}$")
CLASSIFY, DETECT = "classify", "detect"


@dataclass(frozen=True)
class PredictedTag:
    tag_id: str
    tag_name: str
    tag_type: str
    probability: float
    box: tuple[float, float, float, float] | None = None  # left, top, width, height (normalised)


@dataclass(frozen=True)
class PredictionResult:
    id: str
    project_id: str
    iteration_id: str
    created: str
    predictions: list[PredictedTag]
    # Only for stored predictions:
    width: int = 0
    height: int = 0
    domain_id: str = ""
    application: str | None = None
    stored: bool = False


@dataclass(frozen=True)
class TagThreshold:
    tag_id: str
    min_threshold: float = 0.0
    max_threshold: float = 1.0


@dataclass(frozen=True)
class PredictionQuery:
    session: str | None = None
    continuation: str | None = None
    max_count: int = 50
    newest_first: bool = True
    tags: Sequence[TagThreshold] = field(default_factory=tuple)
    iteration_id: str | None = None
    start_time: str | None = None
    end_time: str | None = None
    application: str | None = None


def predicted_tag(
    tags: dict[str, Tag], tag_id: str, probability: float, box: Sequence[float] | None = None
) -> PredictedTag:
    """A prediction named by the current tag (or the snapshot's, for a tag deleted since)."""
    tag = tags.get(tag_id)
    return PredictedTag(
        tag_id=tag_id,
        tag_name=tag.name if tag else "",
        tag_type=tag.type if tag else "Regular",
        probability=max(0.0, min(1.0, probability)),
        box=(float(box[0]), float(box[1]), float(box[2]), float(box[3])) if box is not None else None,
    )


class PredictionService:
    def __init__(
        self,
        meta: MetadataStore,
        blobs: BlobStore,
        projects: ProjectService,
        tags: TagService,
        iterations: IterationService,
        images: ImageService,
        models: ModelCache,
    ) -> None:
        self._meta = meta
        self._blobs = blobs
        self._projects = projects
        self._tags = tags
        self._iterations = iterations
        self._images = images
        self._models = models
        self._manifests: dict[str, dict[str, Any]] = {}
        self._publish_names = NameClaims(
            meta, "publishname", Code.BAD_REQUEST_INVALID_PUBLISH_NAME, "published iteration"
        )

    # -- publishing ---------------------------------------------------------------------------------

    def publish(
        self, project_id: str, iteration_id: str, publish_name: str | None, prediction_id: str | None,
        overwrite: bool = False,
    ) -> None:  # fmt: skip
        iteration = self._iterations.completed(project_id, iteration_id)
        name = (publish_name or "").strip()
        if not _PUBLISH_NAME.match(name):
            raise BadRequest(
                "publishName must be 1 to 256 letters, digits, spaces, '_', '.' or '-', starting with a letter or "
                "digit.",
                Code.BAD_REQUEST_INVALID_PUBLISH_NAME,
            )
        if iteration.publish_name == name:
            return  # publishing the same iteration under the same name again is a no-op
        holder = self._published(iteration.project_id, name)
        if holder is not None and holder.id != iteration.id:
            if not overwrite:
                raise BadRequest(
                    f"'{name}' is already the publish name of {holder.name}; unpublish it first or pass "
                    "overwrite=true.",
                    Code.BAD_REQUEST_INVALID_PUBLISH_NAME,
                )
            self.unpublish(iteration.project_id, holder.id)
        self._publish_names.claim(
            iteration.project_id, name, iteration.id, self._holds_name(iteration.project_id, name)
        )
        old = iteration.publish_name
        self._iterations.update(
            iteration.project_id,
            iteration.id,
            lambda i: i.with_changes(publish_name=name, original_publish_resource_id=prediction_id or ""),
        )
        if old:
            self._publish_names.release(iteration.project_id, old, iteration.id)

    def _holds_name(self, project_id: str, name: str) -> Any:
        def holds(iteration_id: str) -> bool:
            try:
                return self._iterations.get(project_id, iteration_id).publish_name == name
            except NotFound:
                return False

        return holds

    def unpublish(self, project_id: str, iteration_id: str) -> None:
        iteration = self._iterations.get(project_id, iteration_id)
        if not iteration.publish_name:
            raise BadRequest(f"{iteration.name} is not published.", Code.BAD_REQUEST_ITERATION_NOT_PUBLISHED)
        self._iterations.update(
            iteration.project_id,
            iteration.id,
            lambda i: i.with_changes(publish_name="", original_publish_resource_id=""),
        )
        self._publish_names.release(iteration.project_id, iteration.publish_name, iteration.id)

    def _published(self, project_id: str, publish_name: str) -> Iteration | None:
        page = self._meta.query(ITERATION, project_id, [Eq("publishName", publish_name)], limit=2)
        return Iteration.from_doc(page.items[0].doc, page.items[0].etag) if page.items else None

    # -- predicting ---------------------------------------------------------------------------------

    def published_iteration(self, project_id: str, publish_name: str) -> Iteration:
        project = self._projects.get(project_id)
        iteration = self._published(project.id, publish_name)
        if iteration is None:
            raise NotFound("Invalid iteration", Code.NOT_FOUND_ITERATION)
        return iteration

    def default_iteration(self, project_id: str, iteration_id: str | None) -> Iteration:
        """The given iteration, or the newest completed one (Quick Test's "default iteration")."""
        if iteration_id:
            return self._iterations.completed(project_id, iteration_id)
        for iteration in self._iterations.newest_first(project_id):
            if iteration.status == COMPLETED:
                return iteration
        raise NotFound("This project has no trained iteration yet; train one first.", Code.NOT_FOUND_ITERATION)

    def _model(self, iteration: Iteration) -> tuple[OnnxModel, dict[str, Any]]:
        model = self._models.get(iteration.id, lambda: self._blobs.get(model_key(iteration.project_id, iteration.id)))
        manifest = self._manifests.get(iteration.id)
        if manifest is None:
            manifest = json.loads(self._blobs.get(manifest_key(iteration.project_id, iteration.id)))
            self._manifests[iteration.id] = manifest
        return model, manifest

    def predict(
        self,
        iteration: Iteration,
        data: bytes,
        *,
        task: str | None = None,
        store: bool = False,
        application: str | None = None,
        max_bytes: int = MAX_IMAGE_BYTES_PREDICTION,
    ) -> PredictionResult:
        domain = find_domain(iteration.domain_id)
        detection = domain is not None and domain.type == OBJECT_DETECTION
        if task == CLASSIFY and detection:
            raise BadRequest(
                "This iteration is an object detector: call detect, not classify.", Code.BAD_REQUEST_INVALID
            )
        if task == DETECT and not detection:
            raise BadRequest("This iteration is a classifier: call classify, not detect.", Code.BAD_REQUEST_INVALID)
        model, manifest = self._model(iteration)
        image = decode_for_model(data, min_side=model.decode_side, max_bytes=max_bytes)
        tags = self._tag_lookup(iteration)
        if detection:
            predictions = [
                predicted_tag(tags, manifest["tag_ids"][int(row[0])], float(row[1]), (row[2], row[3], row[4], row[5]))
                for row in model.detect(image, MAX_DETECTIONS)
            ]
        else:
            predictions = self._classified(tags, manifest, model.classify(image))
        result = PredictionResult(
            id=new_id(),
            project_id=iteration.project_id,
            iteration_id=iteration.id,
            created=utc_now(),
            predictions=predictions,
            width=image.width,
            height=image.height,
            domain_id=iteration.domain_id,
            application=application,
        )
        if store:
            self._store(result, data)
            result = PredictionResult(**{**result.__dict__, "stored": True})
        return result

    def _tag_lookup(self, iteration: Iteration) -> dict[str, Tag]:
        tags = self._tags.by_id(iteration.project_id)
        missing = [t for t in iteration.selected_tags if t not in tags]
        if missing:  # a tag deleted since training still names its predictions
            _, snapshot = self._iterations.snapshot(iteration.project_id, iteration.id)
            tags = {**{t.id: t for t in snapshot.tags}, **tags}
        return tags

    def _classified(self, tags: dict[str, Tag], manifest: dict[str, Any], probabilities: Any) -> list[PredictedTag]:
        scores = {tag_id: float(p) for tag_id, p in zip(manifest["tag_ids"], probabilities, strict=True)}
        negative = manifest.get("negative_tag_id")
        if negative:
            none = 1.0
            for p in probabilities:
                none *= 1.0 - float(p)
            scores[negative] = none
        found = [predicted_tag(tags, tag_id, p) for tag_id, p in scores.items()]
        return sorted(found, key=lambda p: p.probability, reverse=True)

    # -- stored predictions --------------------------------------------------------------------------

    def _store(self, result: PredictionResult, data: bytes) -> None:
        self._blobs.put(prediction_key(result.project_id, result.id), data)
        self._meta.create(
            PREDICTION,
            result.project_id,
            {
                "id": result.id,
                "projectId": result.project_id,
                "iterationId": result.iteration_id,
                "created": result.created,
                "application": result.application,
                "domainId": result.domain_id,
                "width": result.width,
                "height": result.height,
                "predictions": [
                    {"tagId": p.tag_id, "probability": p.probability, "box": list(p.box) if p.box else None}
                    for p in result.predictions
                ],
            },
        )

    def _from_doc(self, doc: dict[str, Any], tags: dict[str, Tag]) -> PredictionResult:
        return PredictionResult(
            id=doc["id"],
            project_id=doc["projectId"],
            iteration_id=doc["iterationId"],
            created=doc["created"],
            predictions=[predicted_tag(tags, p["tagId"], p["probability"], p["box"]) for p in doc["predictions"]],
            width=doc["width"],
            height=doc["height"],
            domain_id=doc.get("domainId", ""),
            application=doc.get("application"),
            stored=True,
        )

    def query(self, project_id: str, query: PredictionQuery) -> tuple[list[PredictionResult], str | None]:
        project = self._projects.get(project_id)
        if not 1 <= query.max_count <= MAX_TAKE:
            raise BadRequest(f"maxCount must be between 1 and {MAX_TAKE}.", Code.BAD_REQUEST_PREDICTION_INVALID_QUERY)
        if len(query.tags) > 2:
            raise BadRequest(
                "A prediction query may combine at most 2 tags.", Code.BAD_REQUEST_PREDICTION_TAGS_EXCEEDED
            )
        oldest = utc_ago(RETENTION)
        where: list[Condition] = [Range("created", max(oldest, query.start_time or ""), query.end_time)]
        if query.iteration_id:
            where.append(Eq("iterationId", query.iteration_id.lower()))
        if query.application:
            where.append(Eq("application", query.application))
        tags = self._tags.by_id(project.id)
        results: list[PredictionResult] = []
        token = query.continuation
        while len(results) < query.max_count:
            page = self._meta.query(
                PREDICTION, project.id, where, order_by="created", descending=query.newest_first,
                limit=query.max_count - len(results), continuation=token,
            )  # fmt: skip
            results += [self._from_doc(s.doc, tags) for s in page.items if self._passes(s.doc, query.tags)]
            token = page.continuation
            if token is None:
                break
        return results, token

    @staticmethod
    def _passes(doc: dict[str, Any], thresholds: Sequence[TagThreshold]) -> bool:
        for wanted in thresholds:
            tag_id = wanted.tag_id.lower()
            if not any(
                p["tagId"] == tag_id and wanted.min_threshold <= p["probability"] <= wanted.max_threshold
                for p in doc["predictions"]
            ):
                return False
        return True

    def delete(self, project_id: str, prediction_ids: Sequence[str]) -> None:
        project = self._projects.get(project_id)
        ids = parse_guids(prediction_ids, "prediction", limit=MAX_BATCH_IMAGES)
        if not ids:
            raise BadRequest("Give the ids of the predictions to delete.", Code.BAD_REQUEST_PREDICTION_IDS_MISSING)
        for prediction_id in ids:
            try:
                self._meta.delete(PREDICTION, project.id, prediction_id)
            except NotFound:
                continue
            self._blobs.delete_prefix(prediction_prefix(project.id, prediction_id))

    def move_to_training(
        self,
        project_id: str,
        entries: Sequence[tuple[str, Sequence[str], Sequence[RegionInput]]],
        tag_ids: Sequence[str],
        metadata: Mapping[str, str] | None,
    ) -> ImageCreateSummary:
        """Stored prediction images (with tags or boxes) become training images and leave Predictions."""
        project = self._projects.get(project_id)
        items = [
            NewImage(prediction_id, self.image_of(project.id, prediction_id), None, tags, regions)
            for prediction_id, tags, regions in entries
        ]
        summary = self._images.create_images(project.id, items, tag_ids, metadata)
        moved = [e[0] for e, r in zip(entries, summary.images, strict=True) if r.status in ("OK", "OKDuplicate")]
        if moved:
            self.delete(project.id, moved)
        return summary

    def image_of(self, project_id: str, prediction_id: str) -> bytes | None:
        """The stored image of a (live) prediction, or None."""
        try:
            doc = self._meta.read(PREDICTION, project_id, prediction_id.lower()).doc
        except NotFound:
            return None
        if doc["created"] < utc_ago(RETENTION):
            return None
        try:
            return self._blobs.get(prediction_key(project_id, doc["id"]))
        except NotFound:
            return None

    def read_variant(self, project_id: str, prediction_id: str, variant: str) -> tuple[bytes, str]:
        return read_rendition(self._blobs, prediction_prefix(project_id, prediction_id.lower()), variant)

    def purge_expired(self, project_id: str) -> int:
        oldest = utc_ago(RETENTION)
        page = self._meta.query(PREDICTION, project_id, [Range("created", None, oldest)], limit=MAX_TAKE)
        for stored in page.items:
            self.delete(project_id, [stored.doc["id"]])
        return len(page.items)
