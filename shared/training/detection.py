"""Training a detector: a held-out fit for the iteration's metrics, then the published model.

A fit on the 4:1 training split is measured on the held-out fifth. Regular then fits the
published model on every image (a minute or two more, and a clearly better model for a small
project), while Advanced publishes the measured model so that its whole budget goes to one fit:
with a fixed budget, steps count for more than the last fifth of the images
(benchmarks/NOTES-training.md).
"""

from __future__ import annotations

from collections.abc import Sequence

from shared.contracts.evaluation import HeldOutEvaluation, HeldOutImage
from shared.contracts.manifest import ModelManifest
from shared.domain.entities import Image, Tag
from shared.domain.enums import Task
from shared.training.context import TrainingContext
from shared.vision.evaluation import GroundTruthBox, PredictedBox
from shared.vision.splits import assign_folds
from shared.vision.training.dataset import TrainImage
from shared.vision.training.detection.detector import Detector, DetectorConfig

__all__ = ["train_detector"]

_HELD_OUT_FOLD = 0
# Percent of the iteration: the held-out fit and its predictions (Regular, Advanced), then
# Regular's published fit, then the export.
_HELD_OUT_REGULAR = ((3, 45), (45, 50))
_HELD_OUT_ADVANCED = ((3, 90), (90, 96))
_PUBLISHED_FIT = (50, 96)
_EXPORTING = (96, 100)


def train_detector(context: TrainingContext) -> None:
    tags = context.snapshot.regular_tags
    images = context.images()
    train = _train_images(context, images, tags)
    config = DetectorConfig(num_classes=len(tags), advanced=context.advanced, budget_seconds=context.fit_seconds())
    folds = assign_folds([tuple(b[0] for b in i.boxes) for i in train], seed=0)
    detector, held_out = _held_out_fit(context, config, train, images, folds, tags)
    if not context.advanced:
        context.progress.phase(*_PUBLISHED_FIT, "training")
        detector = Detector(config)
        detector.fit(train, context.progress.callback("training"))
    context.progress.phase(*_EXPORTING, "exporting")
    tag_ids = tuple(t.id for t in tags)
    evaluation = HeldOutEvaluation(task=Task.DETECTION, tag_ids=tag_ids, k_fold=False, images=held_out)
    names = [t.name for t in tags]
    context.save(lambda path: detector.export_onnx(path, names), ModelManifest(Task.DETECTION, tag_ids), evaluation)


def _train_images(context: TrainingContext, images: Sequence[Image], tags: Sequence[Tag]) -> list[TrainImage]:
    index = {t.id: n for n, t in enumerate(tags)}
    return [
        TrainImage(
            i.id,
            context.loader(i),
            boxes=tuple((index[r.tag_id], r.left, r.top, r.width, r.height) for r in i.regions if r.tag_id in index),
        )
        for i in images
    ]


def _held_out_fit(
    context: TrainingContext,
    config: DetectorConfig,
    train: Sequence[TrainImage],
    images: Sequence[Image],
    folds: Sequence[int],
    tags: Sequence[Tag],
) -> tuple[Detector, tuple[HeldOutImage, ...]]:
    """Fit on the training split, predict the held-out one: the model and its detections."""
    fitting, evaluating = _HELD_OUT_ADVANCED if context.advanced else _HELD_OUT_REGULAR
    context.progress.phase(*fitting, "training")
    detector = Detector(config)
    detector.fit(
        [i for i, f in zip(train, folds, strict=True) if f != _HELD_OUT_FOLD], context.progress.callback("training")
    )
    context.progress.phase(*evaluating, "evaluating")
    test = [(image, snap) for image, snap, f in zip(train, images, folds, strict=True) if f == _HELD_OUT_FOLD]
    found = detector.predict([image.load() for image, _ in test])
    ids = {t.id for t in tags}
    held_out = tuple(
        HeldOutImage(
            snap.id,
            _HELD_OUT_FOLD,
            true_boxes=tuple(
                GroundTruthBox(r.tag_id, r.left, r.top, r.width, r.height) for r in snap.regions if r.tag_id in ids
            ),
            predicted_boxes=tuple(
                PredictedBox(tags[int(d[0])].id, float(d[1]), float(d[2]), float(d[3]), float(d[4]), float(d[5]))
                for d in rows
            ),
        )
        for (_, snap), rows in zip(test, found, strict=True)
    )
    return detector, held_out
