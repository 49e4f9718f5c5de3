"""Training a classifier: held-out fits for the iteration's metrics, then the published model.

The held-out fits use a stratified 4:1 split, or 5-fold when a tag is small (refitting on cached
features is cheap); the published model is then fitted on every image. Advanced: the held-out
fits share half of what the budget leaves them, the published fit has the rest.

Multiclass: the Negative tag is one more class. Multilabel: "none of these" is no label at all,
and the Negative tag's score is the probability that no tag applies.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from shared.contracts.evaluation import HeldOutEvaluation, HeldOutImage
from shared.contracts.manifest import ModelManifest
from shared.domain.entities import Image, Tag
from shared.domain.enums import ClassificationType, Task
from shared.training.context import TrainingContext
from shared.vision.splits import FOLDS, assign_folds, uses_k_fold
from shared.vision.training.classifier import Classifier, ClassifierConfig
from shared.vision.training.dataset import TrainImage

__all__ = ["train_classifier"]

_EVALUATION_SHARE = 0.5  # Advanced: the held-out fits share half the budget
# Percent of the iteration: the held-out fits, the published fit, the export.
_EVALUATING, _TRAINING, _EXPORTING = (5, 50), (50, 92), (92, 100)


@dataclass(frozen=True)
class _Classes:
    """The model's classes (its output order) and how their scores are reported."""

    regular: tuple[Tag, ...]
    negative: Tag | None
    multilabel: bool

    @property
    def outputs(self) -> tuple[Tag, ...]:
        """The regular tags, then (multiclass) the Negative tag."""
        if self.negative is not None and not self.multilabel:
            return (*self.regular, self.negative)
        return self.regular

    def labels(self, image: Image) -> tuple[int, ...]:
        index = {t.id: n for n, t in enumerate(self.outputs)}
        return tuple(sorted(index[t.tag_id] for t in image.tags if t.tag_id in index))

    def true_tag_ids(self, image: Image) -> tuple[str, ...]:
        regular = {t.id for t in self.regular}
        return tuple(sorted(t.tag_id for t in image.tags if t.tag_id in regular))

    def scores(self, row: np.ndarray) -> dict[str, float]:
        """One image's probabilities by tag id (multilabel: with the Negative tag's "none")."""
        scores = {t.id: float(p) for t, p in zip(self.outputs, row, strict=True)}
        if self.multilabel and self.negative is not None:
            none = 1.0
            for p in row:
                none *= 1.0 - float(p)
            scores[self.negative.id] = none
        return scores

    def manifest(self) -> ModelManifest:
        return ModelManifest(
            task=Task.CLASSIFICATION,
            tag_ids=tuple(t.id for t in self.outputs),
            multilabel=self.multilabel,
            negative_tag_id=self.negative.id if self.negative is not None and self.multilabel else None,
        )


def train_classifier(context: TrainingContext) -> None:
    multilabel = context.iteration.classification_type == ClassificationType.MULTILABEL
    classes = _Classes(context.snapshot.regular_tags, context.snapshot.negative_tag, multilabel)
    images = context.images()
    train = [TrainImage(i.id, context.loader(i), classes.labels(i)) for i in images]
    counts = [sum(1 for i in train if n in i.labels) for n in range(len(classes.regular))]
    folds = assign_folds([i.labels for i in train], seed=0)
    evaluated = range(FOLDS) if uses_k_fold(counts) else range(1)
    config = ClassifierConfig(num_classes=len(classes.outputs), multilabel=multilabel, advanced=context.advanced)
    # One classifier for every fit: its descriptor cache makes the refits cheap.
    classifier = Classifier(config)
    held_out = _held_out_fits(context, classifier, classes, train, images, folds, evaluated)
    context.progress.phase(*_TRAINING, "training")
    classifier.fit(train, context.progress.callback("training"), context.fit_seconds())
    context.progress.phase(*_EXPORTING, "exporting")
    evaluation = HeldOutEvaluation(
        task=Task.CLASSIFICATION,
        tag_ids=tuple(t.id for t in classes.regular),
        k_fold=len(evaluated) > 1,
        images=tuple(held_out),
        multiclass=not multilabel,
    )
    names = [t.name for t in classes.outputs]
    context.save(lambda path: classifier.export_onnx(path, names), classes.manifest(), evaluation)


def _held_out_fits(
    context: TrainingContext,
    classifier: Classifier,
    classes: _Classes,
    train: Sequence[TrainImage],
    images: Sequence[Image],
    folds: Sequence[int],
    evaluated: range,
) -> list[HeldOutImage]:
    """Fit without each evaluated fold and predict it: every held-out image's scores."""
    held_out: list[HeldOutImage] = []
    seconds = context.fit_seconds(_EVALUATION_SHARE / len(evaluated))  # the same for every fold
    start, end = _EVALUATING
    for step, fold in enumerate(evaluated):
        context.progress.phase(
            int(start + (end - start) * step / len(evaluated)),
            int(start + (end - start) * (step + 1) / len(evaluated)),
            "evaluating",
        )
        fit_on = [image for image, f in zip(train, folds, strict=True) if f != fold]
        test = [(image, snap) for image, snap, f in zip(train, images, folds, strict=True) if f == fold]
        classifier.fit(fit_on, context.progress.callback("evaluating"), seconds)
        probabilities = classifier.predict([image.load() for image, _ in test])
        held_out += [
            HeldOutImage(snap.id, fold, true_tag_ids=classes.true_tag_ids(snap), scores=classes.scores(row))
            for (_, snap), row in zip(test, probabilities, strict=True)
        ]
    return held_out
