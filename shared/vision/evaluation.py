"""Iteration metrics: precision, recall and average precision from stored held-out predictions.

This is the evaluator behind ``get_iteration_performance(threshold, overlapThreshold)``. It is pure
Python + numpy and stateless: each call takes the held-out predictions the trainer stored and
returns frozen dataclasses, so the thresholds (query parameters) can change on every request.
pycocotools and scikit-learn are test oracles only, never imported here.

Inputs (every score is a probability in 0..1; every box is normalised to 0..1 of the image's width
and height, ``left``/``top`` being the top-left corner; a tag is its id string)

    ClassificationSample  one held-out image: ``true`` = the image's tag ids (empty = a negative
                          image), ``scores`` = tag id -> probability, ``fold`` = k-fold id or None
    DetectionSample       one held-out image: ``truth`` = GroundTruthBox(tag_id, left, top, width,
                          height) ..., ``predictions`` = PredictedBox(tag_id, score, left, top,
                          width, height) ..., ``fold`` = k-fold id or None
    tag_ids               the tags to report, in output order: the regular tags the iteration was
                          trained on (never Negative). Labels, boxes and scores of any other tag
                          are ignored, except in the multiclass arg-max rule below.

Outputs: ``IterationPerformance(per_tag, precision, precision_std, recall, recall_std,
average_precision)`` with one ``TagPerformance(tag_id, precision, precision_std, recall,
recall_std, average_precision)`` per reported tag, in ``tag_ids`` order. Every value is a fraction
in 0..1 (the wire format, never percent).

Common definitions

    division by zero  every ratio whose denominator is 0 is 0.0 (scikit-learn's ``zero_division=0``):
                      P = 0.0 when nothing is predicted (TP+FP = 0), R = 0.0 when there is
                      nothing to find (TP+FN = 0), AP = 0.0 for a tag with no positive.
    iteration P, R    micro-average: TP, FP, FN are summed over every reported tag (and image)
                      before dividing, so frequent tags weigh more.
    iteration AP      the mean of per-tag AP over tags with at least one positive held-out image
                      (classification) or ground-truth box (detection); 0.0 when no tag has one.
    folds             all samples carry a fold id (k-fold evaluation) or none does (a single
                      hold-out split; mixing raises ValueError). P and R are computed once on the
                      pooled held-out predictions of every fold (each image is held out once).
                      ``*_std`` is the population standard deviation (ddof=0) of the same metric
                      computed fold by fold, over the folds where it is defined (its denominator
                      is non-zero); it is 0.0 without folds or with fewer than two such folds.
    thresholds        ``threshold`` and ``overlap_threshold`` must lie in [0, 1] (else ValueError);
                      both comparisons are inclusive (>=). The defaults are DEFAULT_THRESHOLD =
                      0.5 (Microsoft's documented probability-threshold default) and
                      DEFAULT_OVERLAP = 0.3 (the portal's overlap slider default, as commonly
                      cited; Microsoft does not document the API's default: unverified).

Classification (``evaluate_classification``)

    score             ``scores.get(tag, 0.0)``: a tag missing from ``scores`` scored 0.0.
    predicted         (image, tag) is predicted positive iff score >= threshold. In multiclass
                      mode with ``multiclass_argmax=True`` (the default) the tag must also be the
                      image's arg-max over *all* of its scores (a Negative-tag score that beats
                      every reported tag leaves the image with no predicted tag). Ties for the
                      maximum go to the reported tag first in ``tag_ids``; an unreported tag
                      never wins a tie against a reported one.
    TP, FP, FN        over (image, tag) pairs: predicted & true, predicted & not true,
                      not predicted & true. True negatives are not used.
    AP per tag        scikit-learn's ``average_precision_score`` on that tag's column: sort the
                      images by descending score, take every *distinct* score as a threshold
                      (tied scores enter together), and sum (R_n - R_{n-1}) * P_n over those
                      thresholds in descending order, with R_0 = 0. This is the step-wise,
                      *non-interpolated* area (no monotone precision envelope) and ignores
                      ``threshold`` and the arg-max rule.

Detection (``evaluate_detection``)

    IoU               area(A & B) / area(A | B) on normalised boxes; 0.0 when the boxes do not
                      overlap with positive area (touching, or a zero-area box). IoU is scale
                      invariant, so it equals pycocotools' bbox IoU on any pixel grid (x1 = x0 +
                      w, no +1).
    matching          per image and tag (COCO rule, pycocotools ``evaluateImg``): predictions are
                      taken by descending score (ties: input order, a stable sort); each is
                      matched to the still-unmatched ground-truth box of its tag with the highest
                      IoU >= overlap_threshold (ties: the later box in input order, as cocoeval);
                      a matched prediction is a TP, an unmatched one an FP; a ground-truth box
                      left unmatched is an FN. No crowd or ignore regions, no area ranges, no cap
                      on predictions per image. Predictions and boxes of other tags never match.
    P, R              at the probability threshold: only predictions with score >= threshold
                      count. Matching runs in score order, so this equals matching the kept
                      predictions alone.
    AP per tag        at ``overlap_threshold`` over all predictions (no probability threshold):
                      the tag's predictions from every image, each labelled TP/FP by the matching,
                      are sorted by descending score (ties: image order, then the order above,
                      as pycocotools ``accumulate``; tied scores are *not* grouped), giving
                      cumulative P_n = TP_n / n and R_n = TP_n / G (G = the tag's ground-truth
                      boxes). The precision envelope is Q_n = max(P_m for m >= n).
        "coco101"     (default, what the product reports) the mean, over the 101 recall levels
                      r = numpy.linspace(0, 1, 101), of Q_n at the first n with R_n >= r, or 0
                      where recall never reaches r. Equals pycocotools COCOeval(iouType="bbox")
                      with iouThrs=[overlap_threshold], areaRng all, maxDets above any image's
                      prediction count.
        "all_point"   (VOC2010+) sum (R_n - R_{n-1}) * Q_n, R_0 = 0: the exact area under the
                      interpolated curve.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

__all__ = [
    "DEFAULT_OVERLAP",
    "DEFAULT_THRESHOLD",
    "APMethod",
    "ClassificationSample",
    "DetectionSample",
    "GroundTruthBox",
    "IterationPerformance",
    "PredictedBox",
    "TagPerformance",
    "box_iou",
    "evaluate_classification",
    "evaluate_detection",
]

DEFAULT_THRESHOLD = 0.5
"""Probability threshold (0..1) for precision and recall: Microsoft's documented default."""

DEFAULT_OVERLAP = 0.3
"""IoU (0..1) a detection needs to count: the portal slider's cited default (unverified)."""

APMethod = Literal["coco101", "all_point"]
"""How detection AP integrates the precision envelope (see the module docstring)."""

_RECALL_LEVELS = np.linspace(0.0, 1.0, 101)  # exactly pycocotools' Params.recThrs

_Floats = npt.NDArray[np.float64]
_Ints = npt.NDArray[np.int64]
_Bools = npt.NDArray[np.bool_]


# --- inputs -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClassificationSample:
    """One held-out image of a classification iteration.

    ``true``: the image's tag ids (empty for a negative image). ``scores``: tag id -> probability
    (0..1) predicted by the model that did not train on this image; a missing tag scored 0.0.
    ``fold``: the k-fold this image was held out in, or None for a single hold-out split.
    """

    true: frozenset[str]
    scores: Mapping[str, float]
    fold: int | None = None


@dataclass(frozen=True, slots=True)
class GroundTruthBox:
    """A labelled region: its tag and a box normalised to 0..1 (top-left corner, width, height)."""

    tag_id: str
    left: float
    top: float
    width: float
    height: float


@dataclass(frozen=True, slots=True)
class PredictedBox:
    """A predicted region: its tag, probability (0..1) and normalised box (as GroundTruthBox)."""

    tag_id: str
    score: float
    left: float
    top: float
    width: float
    height: float


@dataclass(frozen=True, slots=True)
class DetectionSample:
    """One held-out image of a detection iteration: its labelled and predicted boxes, and fold."""

    truth: Sequence[GroundTruthBox] = field(default_factory=tuple)
    predictions: Sequence[PredictedBox] = field(default_factory=tuple)
    fold: int | None = None


# --- outputs ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TagPerformance:
    """One tag's metrics (fractions 0..1); the wire's ``TagPerformance`` without id/name lookup."""

    tag_id: str
    precision: float
    precision_std: float
    recall: float
    recall_std: float
    average_precision: float


@dataclass(frozen=True, slots=True)
class IterationPerformance:
    """Per-tag metrics in ``tag_ids`` order, micro-averaged P/R and mean AP (fractions 0..1)."""

    per_tag: tuple[TagPerformance, ...]
    precision: float
    precision_std: float
    recall: float
    recall_std: float
    average_precision: float


# --- classification -----------------------------------------------------------------------------


def evaluate_classification(
    samples: Sequence[ClassificationSample],
    tag_ids: Sequence[str],
    *,
    multiclass: bool,
    threshold: float = DEFAULT_THRESHOLD,
    multiclass_argmax: bool = True,
) -> IterationPerformance:
    """Precision and recall at ``threshold``, and AP, of a classification iteration.

    ``multiclass_argmax`` only matters when ``multiclass`` is true: it adds the arg-max condition
    to "predicted". Raises ValueError for a threshold outside [0, 1], a non-finite score,
    duplicate ``tag_ids`` or folds given for only some samples.
    """
    _check_fraction("threshold", threshold)
    tags = _check_tags(tag_ids)
    folds = _fold_ids(samples)
    n, k = len(samples), len(tags)

    scores = np.array([[s.scores.get(t, 0.0) for t in tags] for s in samples], dtype=np.float64)
    scores = scores.reshape(n, k)
    truth = np.array([[t in s.true for t in tags] for s in samples], dtype=np.bool_).reshape(n, k)
    for s in samples:
        if not all(map(math.isfinite, s.scores.values())):
            raise ValueError("classification scores must be finite")

    predicted = scores >= threshold
    if multiclass and multiclass_argmax and k > 0 and n > 0:
        reported = set(tags)
        others = np.array(
            [max((v for t, v in s.scores.items() if t not in reported), default=-np.inf) for s in samples],
            dtype=np.float64,
        )
        winner = np.argmax(scores, axis=1)  # the first maximum in tag order
        wins = scores[np.arange(n), winner] >= others  # a reported tag wins ties with the others
        is_winner = np.zeros((n, k), dtype=np.bool_)
        is_winner[np.arange(n)[wins], winner[wins]] = True
        predicted &= is_winner

    tp = (predicted & truth).astype(np.int64)
    fp = (predicted & ~truth).astype(np.int64)
    fn = (~predicted & truth).astype(np.int64)
    ap = np.array([_step_average_precision(truth[:, j], scores[:, j]) for j in range(k)], dtype=np.float64)
    return _assemble(tags, tp, fp, fn, folds, ap, has_positive=np.asarray(truth.any(axis=0)))


def _step_average_precision(truth: _Bools, scores: _Floats) -> float:
    """scikit-learn's ``average_precision_score``: sum (R_n - R_{n-1}) P_n over distinct scores."""
    positives = int(truth.sum())
    if positives == 0:
        return 0.0
    order = np.argsort(-scores, kind="mergesort")
    ordered = scores[order]
    # The last index of each run of equal scores: tied images enter the curve together.
    ends = np.r_[np.flatnonzero(np.diff(ordered)), ordered.size - 1]
    tp = np.cumsum(truth[order])[ends]
    precision = tp / (ends + 1)
    recall = tp / positives
    return float(np.sum(np.diff(recall, prepend=0.0) * precision))


# --- detection ----------------------------------------------------------------------------------


def box_iou(
    a: GroundTruthBox | PredictedBox,
    b: GroundTruthBox | PredictedBox,
) -> float:
    """Intersection over union of two normalised boxes (0.0 when they share no area)."""
    return float(_iou_matrix(_boxes([a]), _boxes([b]))[0, 0])


def evaluate_detection(
    samples: Sequence[DetectionSample],
    tag_ids: Sequence[str],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    overlap_threshold: float = DEFAULT_OVERLAP,
    ap_method: APMethod = "coco101",
) -> IterationPerformance:
    """Precision and recall at ``threshold``, and AP at ``overlap_threshold``, of a detector.

    Raises ValueError for a threshold outside [0, 1], a non-finite score or coordinate, a
    negative width or height, duplicate ``tag_ids``, an unknown ``ap_method`` or folds given for
    only some samples.
    """
    _check_fraction("threshold", threshold)
    _check_fraction("overlap_threshold", overlap_threshold)
    if ap_method not in ("coco101", "all_point"):
        raise ValueError(f"unknown ap_method {ap_method!r}; expected 'coco101' or 'all_point'")
    tags = _check_tags(tag_ids)
    folds = _fold_ids(samples)
    column = {t: j for j, t in enumerate(tags)}
    n, k = len(samples), len(tags)

    tp = np.zeros((n, k), dtype=np.int64)
    fp = np.zeros((n, k), dtype=np.int64)
    fn = np.zeros((n, k), dtype=np.int64)
    ground_truths = np.zeros(k, dtype=np.int64)
    curve_scores: list[list[_Floats]] = [[] for _ in tags]
    curve_hits: list[list[_Bools]] = [[] for _ in tags]

    for i, sample in enumerate(samples):
        for g in sample.truth:
            _check_box(g)
        for p in sample.predictions:
            _check_box(p)
        truth_by_tag: dict[int, list[GroundTruthBox]] = {}
        for g in sample.truth:
            if g.tag_id in column:
                truth_by_tag.setdefault(column[g.tag_id], []).append(g)
        preds_by_tag: dict[int, list[PredictedBox]] = {}
        for p in sample.predictions:
            if p.tag_id in column:
                preds_by_tag.setdefault(column[p.tag_id], []).append(p)

        for j in truth_by_tag.keys() | preds_by_tag.keys():
            gts = truth_by_tag.get(j, [])
            preds = preds_by_tag.get(j, [])
            scores = np.array([p.score for p in preds], dtype=np.float64)
            order = np.argsort(-scores, kind="mergesort")
            scores = scores[order]
            hits = _greedy_match(_boxes([preds[o] for o in order]), _boxes(gts), overlap_threshold)
            kept = scores >= threshold
            tp[i, j] = int(np.count_nonzero(hits & kept))
            fp[i, j] = int(np.count_nonzero(~hits & kept))
            fn[i, j] = len(gts) - tp[i, j]
            ground_truths[j] += len(gts)
            curve_scores[j].append(scores)
            curve_hits[j].append(hits)

    ap = np.zeros(k, dtype=np.float64)
    for j in range(k):
        if ground_truths[j] == 0 or not curve_scores[j]:
            continue
        scores = np.concatenate(curve_scores[j])
        order = np.argsort(-scores, kind="mergesort")  # stable: image order, then per-image order
        ap[j] = _interpolated_average_precision(np.concatenate(curve_hits[j])[order], int(ground_truths[j]), ap_method)
    return _assemble(tags, tp, fp, fn, folds, ap, has_positive=ground_truths > 0)


def _boxes(boxes: Sequence[GroundTruthBox | PredictedBox]) -> _Floats:
    """Boxes as an (N, 4) array of left, top, right, bottom (normalised)."""
    out = np.array([(b.left, b.top, b.width, b.height) for b in boxes], dtype=np.float64).reshape(-1, 4)
    out[:, 2] += out[:, 0]
    out[:, 3] += out[:, 1]
    return out


def _iou_matrix(a: _Floats, b: _Floats) -> _Floats:
    """(len(a), len(b)) IoU of boxes given as left, top, right, bottom."""
    iw = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    ih = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    overlaps = (iw > 0) & (ih > 0)
    inter = np.where(overlaps, iw * ih, 0.0)
    # Areas from the same right-minus-left differences, so identical boxes give exactly 1.0.
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=overlaps)


def _greedy_match(preds: _Floats, gts: _Floats, overlap_threshold: float) -> _Bools:
    """Which predictions (already in descending score order) match a ground-truth box."""
    hits = np.zeros(len(preds), dtype=np.bool_)
    if len(preds) == 0 or len(gts) == 0:
        return hits
    ious = _iou_matrix(preds, gts)
    taken = np.zeros(len(gts), dtype=np.bool_)
    for d in range(len(preds)):
        candidates = np.where(~taken & (ious[d] >= overlap_threshold), ious[d], -1.0)
        best = candidates.max()
        if best < 0.0:
            continue
        g = int(np.flatnonzero(candidates == best)[-1])  # ties: the later box, as cocoeval
        taken[g] = True
        hits[d] = True
    return hits


def _interpolated_average_precision(hits: _Bools, ground_truths: int, method: APMethod) -> float:
    """AP of predictions in descending score order, labelled TP (True) or FP (False)."""
    if hits.size == 0:
        return 0.0
    tp = np.cumsum(hits, dtype=np.float64)
    precision = tp / np.arange(1, hits.size + 1)
    recall = tp / ground_truths
    envelope = np.maximum.accumulate(precision[::-1])[::-1]
    if method == "all_point":
        return float(np.sum(np.diff(recall, prepend=0.0) * envelope))
    first = np.searchsorted(recall, _RECALL_LEVELS, side="left")
    reached = first < hits.size
    sampled = np.where(reached, envelope[np.minimum(first, hits.size - 1)], 0.0)
    return float(sampled.mean())


# --- shared -------------------------------------------------------------------------------------


def _assemble(
    tags: tuple[str, ...],
    tp: _Ints,
    fp: _Ints,
    fn: _Ints,
    folds: _Ints | None,
    ap: _Floats,
    *,
    has_positive: _Bools,
) -> IterationPerformance:
    """Turn (image, tag) TP/FP/FN counts, folds and per-tag AP into the reported dataclasses."""
    if folds is None:
        by_fold: list[_Bools] = []
    else:
        by_fold = [folds == f for f in np.unique(folds)]

    def rates(tp_: _Ints, fp_: _Ints, fn_: _Ints) -> tuple[float, float, float, float]:
        """P, std(P), R, std(R) of counts with shape (images, ...), summed over every axis."""
        precision = _ratio(tp_.sum(), tp_.sum() + fp_.sum())
        recall = _ratio(tp_.sum(), tp_.sum() + fn_.sum())
        p_folds = [(tp_[m].sum(), tp_[m].sum() + fp_[m].sum()) for m in by_fold]
        r_folds = [(tp_[m].sum(), tp_[m].sum() + fn_[m].sum()) for m in by_fold]
        return precision, _fold_std(p_folds), recall, _fold_std(r_folds)

    per_tag = []
    for j, tag in enumerate(tags):
        p, p_std, r, r_std = rates(tp[:, j], fp[:, j], fn[:, j])
        per_tag.append(TagPerformance(tag, p, p_std, r, r_std, float(ap[j])))
    p, p_std, r, r_std = rates(tp, fp, fn)
    mean_ap = float(ap[has_positive].mean()) if has_positive.any() else 0.0
    return IterationPerformance(tuple(per_tag), p, p_std, r, r_std, mean_ap)


def _ratio(numerator: np.integer | int, denominator: np.integer | int) -> float:
    return float(numerator / denominator) if denominator else 0.0


def _fold_std(fractions: Sequence[tuple[np.integer | int, np.integer | int]]) -> float:
    """Population std-dev of numerator/denominator over the folds where the denominator is > 0."""
    values = [num / den for num, den in fractions if den]
    return float(np.std(values)) if len(values) >= 2 else 0.0


def _check_fraction(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:  # also refuses NaN
        raise ValueError(f"{name} must be between 0 and 1, got {value!r}")


def _check_tags(tag_ids: Sequence[str]) -> tuple[str, ...]:
    tags = tuple(tag_ids)
    if len(set(tags)) != len(tags):
        raise ValueError("tag_ids must not repeat a tag")
    return tags


def _check_box(box: GroundTruthBox | PredictedBox) -> None:
    values = [box.left, box.top, box.width, box.height]
    if isinstance(box, PredictedBox):
        values.append(box.score)
    if not all(map(math.isfinite, values)):
        raise ValueError(f"box values must be finite: {box!r}")
    if box.width < 0 or box.height < 0:
        raise ValueError(f"box width and height must not be negative: {box!r}")


def _fold_ids(samples: Sequence[ClassificationSample] | Sequence[DetectionSample]) -> _Ints | None:
    """The samples' fold ids as an array, or None when no sample has one."""
    folds = [s.fold for s in samples]
    if all(f is None for f in folds):
        return None
    if any(f is None for f in folds):
        raise ValueError("either every sample has a fold or none has")
    return np.array(folds, dtype=np.int64)
