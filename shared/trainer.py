"""The trainer: load an iteration's snapshot -> evaluate on held-out images -> fit -> export -> record.

One entry point, :func:`train_iteration`, used alike by the local worker (``cvstudio
train-iteration``, in a child process) and by the Azure Container Apps job. It never leaves an
iteration in ``Training``: any error marks it ``Failed`` with a reason a person can read.

Evaluation (what ``get_iteration_performance`` reports) uses models that did not see the
held-out images. Classification: a stratified 4:1 hold-out, or 5-fold when a tag is small
(refitting on cached features is cheap), then the published model is fitted on every image.
Detection: a fit on the 4:1 training split is measured on the held-out fifth; Regular then fits
the published model on every image (a minute or two more, and a clearly better model for a small
project), while Advanced publishes the measured model so that its whole budget goes to one fit
(on the deepforest crowns, with tiles enlarging 1.5x: every image for 0.7 of the budget gave AP50
0.51, 4/5 of them for all of it 0.52; a measured fit of 390 s (0.53) continued on every image for
another 190 s, 0.53 again: there, steps count for more than the last fifth of the images).

Advanced's budget (``reservedBudgetInHours``, capped by the server's
``advanced_training_cap_seconds``) is the whole iteration's: classification gives half of it to
the held-out fits and the rest to the published one; detection gives its one fit all but a small
tail kept for the held-out predictions and the export.

Artifacts written under ``projects/<p>/iterations/<i>/``: ``model.onnx``, ``model.json`` (task,
tag order) and ``evaluation.json`` (held-out predictions).
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.bootstrap import Services
from shared.domain.catalogue import OBJECT_DETECTION, find_domain
from shared.domain.entities import ADVANCED_TRAINING, MULTILABEL, NEGATIVE, TRAINING, Image, Iteration, Tag
from shared.services.artifact_keys import evaluation_key, manifest_key, model_key
from shared.services.snapshots import Snapshot
from shared.vision.images import load_rgb
from shared.vision.splits import FOLDS, assign_folds, uses_k_fold
from shared.vision.training.dataset import TrainImage

__all__ = ["ModelManifest", "train_iteration"]

log = logging.getLogger(__name__)

_PROGRESS_EVERY_SECONDS = 1.0
# Advanced keeps this share of its budget (within bounds, seconds) after the last fit for the
# held-out predictions, the export and saving: about 10 s for the deepforest tree crowns.
_TAIL_SHARE, _TAIL_BOUNDS = 0.025, (3.0, 30.0)
_MIN_FIT_SECONDS = 5.0
_EVALUATION_SHARE = 0.5  # Advanced classification: the held-out fits share half the budget


@dataclass(frozen=True)
class ModelManifest:
    """What the prediction path needs beside the ONNX file."""

    task: str  # "classification" | "detection"
    tag_ids: list[str]  # model output index -> tag id
    multilabel: bool
    negative_tag_id: str | None  # multilabel: reported as the probability that no tag applies

    def to_json(self) -> bytes:
        return json.dumps(self.__dict__).encode()

    @classmethod
    def from_json(cls, data: bytes) -> ModelManifest:
        return cls(**json.loads(data))


class _Progress:
    """Maps a model's (stage, fraction) onto the iteration's percent, at most once a second."""

    def __init__(self, services: Services, iteration: Iteration) -> None:
        self._services = services
        self._iteration = iteration
        self._last = 0.0
        self._span = (0, 100)

    def phase(self, start: int, end: int, stage: str) -> None:
        self._span = (start, end)
        self.report(stage, 0.0, force=True)

    def report(self, stage: str, fraction: float, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < _PROGRESS_EVERY_SECONDS:
            return
        self._last = now
        start, end = self._span
        percent = int(start + (end - start) * max(0.0, min(1.0, fraction)))
        try:
            self._services.iterations.report_progress(self._iteration.project_id, self._iteration.id, stage, percent)
        except Exception:  # progress is a courtesy; training goes on
            log.debug("progress update failed", exc_info=True)

    def callback(self, prefix: str) -> Callable[[str, float], None]:
        return lambda stage, fraction: self.report(f"{prefix}: {stage}", fraction)


def _loader(services: Services, image: Image) -> Callable[[], Any]:
    key = image.blob_key
    return lambda: load_rgb(services.blobs.get(key))


class _Budget:
    """Advanced training's wall clock for the whole iteration (``reservedBudgetInHours``, capped by
    the server setting), shared out among the iteration's fits; Regular has none (``None``)."""

    def __init__(self, services: Services, iteration: Iteration) -> None:
        self.deadline: float | None = None
        self.tail = 0.0
        if iteration.training_type == ADVANCED_TRAINING:
            seconds = float(iteration.reserved_budget_in_hours * 3600)
            cap = services.settings.advanced_training_cap_seconds
            seconds = min(seconds, cap) if cap else seconds
            self.deadline = time.monotonic() + seconds
            self.tail = min(max(_TAIL_SHARE * seconds, _TAIL_BOUNDS[0]), _TAIL_BOUNDS[1])

    def for_fit(self, share: float = 1.0) -> float | None:
        """Seconds for the next fit: ``share`` of what is left once the tail (held-out predictions,
        export, saving) is set aside; at least ``_MIN_FIT_SECONDS``."""
        if self.deadline is None:
            return None
        left = self.deadline - time.monotonic() - self.tail
        return max(_MIN_FIT_SECONDS, share * left)


def _in_content_order(images: Sequence[Image]) -> list[Image]:
    """The snapshot's images ordered by content, so that the held-out split (seeded, but dealt in
    this order) and the training run depend on the images and their labels, not on their random
    ids or upload order: the same data uploaded again trains the same way."""
    return sorted(images, key=lambda i: (i.content_hash, i.id))


def train_iteration(services: Services, project_id: str, iteration_id: str) -> None:
    iteration = services.iterations.get(project_id, iteration_id)
    if iteration.status != TRAINING:
        log.info("iteration %s is %s; nothing to do", iteration_id, iteration.status)
        return
    started = time.monotonic()
    budget = _Budget(services, iteration)
    progress = _Progress(services, iteration)
    try:
        _, snapshot = services.iterations.snapshot(project_id, iteration_id)
        domain = find_domain(iteration.domain_id)
        if domain is not None and domain.type == OBJECT_DETECTION:
            _train_detector(services, iteration, snapshot, progress, budget)
        else:
            _train_classifier(services, iteration, snapshot, progress, budget)
    except Exception as exc:
        log.exception("training %s failed", iteration_id)
        services.iterations.fail(project_id, iteration_id, f"Training failed: {type(exc).__name__}: {exc}")
        return
    services.iterations.complete(project_id, iteration_id, time.monotonic() - started)


def _save(
    services: Services,
    iteration: Iteration,
    export: Callable[[Path], None],
    manifest: ModelManifest,
    evaluation: dict[str, Any],
) -> None:
    project_id, iteration_id = iteration.project_id, iteration.id
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.onnx"
        export(path)
        services.blobs.put(model_key(project_id, iteration_id), path.read_bytes())
    services.blobs.put(manifest_key(project_id, iteration_id), manifest.to_json(), "application/json")
    services.blobs.put(evaluation_key(project_id, iteration_id), json.dumps(evaluation).encode(), "application/json")


# -- classification -----------------------------------------------------------------------------------


def _train_classifier(
    services: Services, iteration: Iteration, snapshot: Snapshot, progress: _Progress, budget: _Budget
) -> None:
    from shared.vision.training.classifier import Classifier, ClassifierConfig

    multilabel = iteration.classification_type == MULTILABEL
    regular = list(snapshot.regular_tags)
    negative = next((t for t in snapshot.tags if t.type == NEGATIVE), None)
    # Multiclass: the Negative tag is one more class. Multilabel: "none of these" = no label.
    classes: list[Tag] = regular + ([negative] if negative is not None and not multilabel else [])
    index = {t.id: n for n, t in enumerate(classes)}
    regular_ids = {t.id for t in regular}
    images = _in_content_order(snapshot.images)
    train = [
        TrainImage(i.id, _loader(services, i), tuple(sorted(index[t.tag_id] for t in i.tags if t.tag_id in index)))
        for i in images
    ]
    counts = [sum(1 for i in train if n in i.labels) for n in range(len(regular))]
    folds = assign_folds([i.labels for i in train], seed=0)
    evaluated = range(FOLDS) if uses_k_fold(counts) else range(1)
    config = ClassifierConfig(
        num_classes=len(classes), multilabel=multilabel, advanced=iteration.training_type == ADVANCED_TRAINING
    )
    # One classifier for every fit: its descriptor cache makes the refits cheap.
    classifier = Classifier(config)
    held_out: list[dict[str, Any]] = []
    fold_budget = budget.for_fit(_EVALUATION_SHARE / len(evaluated))
    for step, fold in enumerate(evaluated):
        progress.phase(int(5 + 45 * step / len(evaluated)), int(5 + 45 * (step + 1) / len(evaluated)), "evaluating")
        fit_on = [image for image, f in zip(train, folds, strict=True) if f != fold]
        test = [(image, snap) for image, snap, f in zip(train, images, folds, strict=True) if f == fold]
        classifier.fit(fit_on, progress.callback("evaluating"), fold_budget)
        probabilities = classifier.predict([image.load() for image, _ in test])
        for (_, snap), row in zip(test, probabilities, strict=True):
            held_out.append(
                {
                    "imageId": snap.id,
                    "fold": fold,
                    "trueTagIds": sorted(t.tag_id for t in snap.tags if t.tag_id in regular_ids),
                    "scores": _class_scores(classes, row, multilabel, negative),
                }
            )
    progress.phase(50, 92, "training")
    classifier.fit(train, progress.callback("training"), budget.for_fit())
    progress.phase(92, 100, "exporting")
    manifest = ModelManifest(
        task="classification",
        tag_ids=[t.id for t in classes],
        multilabel=multilabel,
        negative_tag_id=negative.id if negative is not None and multilabel else None,
    )
    evaluation = {
        "task": "classification",
        "multiclass": not multilabel,
        "tagIds": [t.id for t in regular],
        "kFold": len(evaluated) > 1,
        "images": held_out,
    }
    _save(services, iteration, lambda p: classifier.export_onnx(p, [t.name for t in classes]), manifest, evaluation)


def _class_scores(classes: Sequence[Tag], row: Any, multilabel: bool, negative: Tag | None) -> dict[str, float]:
    scores = {t.id: float(p) for t, p in zip(classes, row, strict=True)}
    if multilabel and negative is not None:
        none = 1.0
        for p in row:
            none *= 1.0 - float(p)
        scores[negative.id] = none
    return scores


# -- detection ----------------------------------------------------------------------------------------


def _train_detector(
    services: Services, iteration: Iteration, snapshot: Snapshot, progress: _Progress, budget: _Budget
) -> None:
    from shared.vision.training.detector import Detector, DetectorConfig

    tags = list(snapshot.regular_tags)
    index = {t.id: n for n, t in enumerate(tags)}
    images = _in_content_order(snapshot.images)
    train = [
        TrainImage(
            i.id,
            _loader(services, i),
            boxes=tuple((index[r.tag_id], r.left, r.top, r.width, r.height) for r in i.regions if r.tag_id in index),
        )
        for i in images
    ]
    advanced = iteration.training_type == ADVANCED_TRAINING
    config = DetectorConfig(num_classes=len(tags), advanced=advanced, budget_seconds=budget.for_fit())
    folds = assign_folds([tuple(b[0] for b in i.boxes) for i in train], seed=0)
    progress.phase(3, 90 if advanced else 45, "training")
    detector = Detector(config)
    detector.fit([i for i, f in zip(train, folds, strict=True) if f != 0], progress.callback("training"))
    progress.phase(90 if advanced else 45, 96 if advanced else 50, "evaluating")
    test = [(image, snap) for image, snap, f in zip(train, images, folds, strict=True) if f == 0]
    found = detector.predict([image.load() for image, _ in test])
    held_out = [
        {
            "imageId": snap.id,
            "fold": 0,
            "trueBoxes": [[r.tag_id, r.left, r.top, r.width, r.height] for r in snap.regions if r.tag_id in index],
            "predictedBoxes": [
                [tags[int(d[0])].id, float(d[1]), float(d[2]), float(d[3]), float(d[4]), float(d[5])] for d in rows
            ],
        }
        for (_, snap), rows in zip(test, found, strict=True)
    ]
    if not advanced:
        progress.phase(50, 96, "training")
        detector = Detector(config)
        detector.fit(train, progress.callback("training"))
    progress.phase(96, 100, "exporting")
    manifest = ModelManifest(task="detection", tag_ids=[t.id for t in tags], multilabel=False, negative_tag_id=None)
    evaluation = {"task": "detection", "tagIds": [t.id for t in tags], "kFold": False, "images": held_out}
    _save(services, iteration, lambda p: detector.export_onnx(p, [t.name for t in tags]), manifest, evaluation)
