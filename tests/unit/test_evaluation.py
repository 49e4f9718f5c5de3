"""Tests for shared.vision.evaluation: hand-computed cases for every definition and edge case, then
seeded randomised cross-checks against scikit-learn (classification) and pycocotools (detection).

The oracles are test-only dependencies (pinned in requirements-dev.txt); the oracle tests skip
when they are missing.
"""

from __future__ import annotations

import ast
import contextlib
import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from shared.vision import evaluation
from shared.vision.evaluation import (
    DEFAULT_OVERLAP,
    DEFAULT_THRESHOLD,
    ClassificationSample,
    DetectionSample,
    GroundTruthBox,
    IterationPerformance,
    PredictedBox,
    TagPerformance,
    box_iou,
    evaluate_classification,
    evaluate_detection,
)

SEEDS = range(30)


def img(true: set[str] | frozenset[str], fold: int | None = None, **scores: float) -> ClassificationSample:
    return ClassificationSample(true=frozenset(true), scores=scores, fold=fold)


def gt(tag: str, left: float, top: float, width: float, height: float) -> GroundTruthBox:
    return GroundTruthBox(tag, left, top, width, height)


def dt(tag: str, score: float, left: float, top: float, width: float, height: float) -> PredictedBox:
    return PredictedBox(tag, score, left, top, width, height)


def tag(perf: IterationPerformance, tag_id: str) -> TagPerformance:
    (found,) = (t for t in perf.per_tag if t.tag_id == tag_id)
    return found


# --- module surface -----------------------------------------------------------------------------


def test_all_lists_exactly_the_public_names() -> None:
    """``__all__`` equals the public names the module defines (imports are not its surface)."""
    tree = ast.parse(Path(evaluation.__file__).read_text())
    defined: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            defined.add(node.name)
        elif isinstance(node, ast.Assign):
            defined.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            defined.add(node.target.id)
    assert sorted(evaluation.__all__) == sorted(n for n in defined if not n.startswith("_"))


def test_defaults() -> None:
    assert DEFAULT_THRESHOLD == 0.5
    assert DEFAULT_OVERLAP == 0.3


# --- classification: hand-computed --------------------------------------------------------------

# Four images, two tags, multilabel, threshold 0.5:
#   image  true    a     b     predicted
#   1      {a}     0.9   0.2   {a}         a: TP
#   2      {a,b}   0.4   0.6   {b}         a: FN, b: TP
#   3      {}      0.7   0.1   {a}         a: FP
#   4      {b}     0.3   0.5   {b}         b: TP (0.5 >= 0.5)
MULTILABEL = [
    img({"a"}, a=0.9, b=0.2),
    img({"a", "b"}, a=0.4, b=0.6),
    img(set(), a=0.7, b=0.1),
    img({"b"}, a=0.3, b=0.5),
]


def test_classification_precision_recall_per_tag_and_micro() -> None:
    perf = evaluate_classification(MULTILABEL, ["a", "b"], multiclass=False)
    a, b = perf.per_tag
    assert (a.tag_id, a.precision, a.recall) == ("a", 1 / 2, 1 / 2)
    assert (b.tag_id, b.precision, b.recall) == ("b", 1.0, 1.0)
    # micro: TP 3, FP 1, FN 1
    assert perf.precision == 3 / 4
    assert perf.recall == 3 / 4
    assert (perf.precision_std, perf.recall_std, a.precision_std, a.recall_std) == (0.0, 0.0, 0.0, 0.0)


def test_classification_average_precision_per_tag_and_mean() -> None:
    perf = evaluate_classification(MULTILABEL, ["a", "b"], multiclass=False)
    a, b = perf.per_tag
    # a by score: 0.9 T, 0.7 F, 0.4 T, 0.3 F -> (R, P) steps (1/2, 1), (1/2, 1/2), (1, 2/3), (1, 1/2)
    assert a.average_precision == pytest.approx(0.5 * 1 + 0.5 * 2 / 3, abs=1e-15)
    # b by score: 0.6 T, 0.5 T, 0.2 F, 0.1 F -> perfect ranking
    assert b.average_precision == 1.0
    assert perf.average_precision == pytest.approx((0.5 + 1 / 3 + 1.0) / 2, abs=1e-15)


def test_classification_ap_is_not_interpolated() -> None:
    # 0.9 F, 0.8 T, 0.7 T: steps (R 1/2, P 1/2), (R 1, P 2/3). An envelope would give 2/3 at R 1/2.
    samples = [img(set(), a=0.9), img({"a"}, a=0.8), img({"a"}, a=0.7)]
    perf = evaluate_classification(samples, ["a"], multiclass=False)
    assert perf.per_tag[0].average_precision == pytest.approx(0.5 * 0.5 + 0.5 * 2 / 3, abs=1e-15)


def test_classification_ap_groups_tied_scores() -> None:
    # 0.9 T, then 0.5 F and 0.5 T enter together: (R 1/2, P 1), (R 1, P 2/3), whatever the input order.
    for middle in ([img(set(), a=0.5), img({"a"}, a=0.5)], [img({"a"}, a=0.5), img(set(), a=0.5)]):
        samples = [img({"a"}, a=0.9), *middle, img(set(), a=0.1)]
        perf = evaluate_classification(samples, ["a"], multiclass=False)
        assert perf.per_tag[0].average_precision == pytest.approx(0.5 + 0.5 * 2 / 3, abs=1e-15)


def test_classification_ap_ignores_threshold_and_argmax() -> None:
    samples = [img({"a"}, a=0.3, b=0.4), img({"b"}, a=0.2, b=0.9), img(set(), a=0.1, b=0.05)]
    aps = {
        tuple(
            t.average_precision
            for t in evaluate_classification(samples, ["a", "b"], multiclass=mc, threshold=th).per_tag
        )
        for mc, th in ((True, 0.0), (True, 0.95), (False, 0.5))
    }
    assert aps == {(1.0, 1.0)}


def test_threshold_boundary_is_inclusive() -> None:
    samples = [img({"a"}, a=0.3), img(set(), a=0.3)]
    at = evaluate_classification(samples, ["a"], multiclass=False, threshold=0.3)
    assert (at.precision, at.recall) == (0.5, 1.0)
    above = evaluate_classification(samples, ["a"], multiclass=False, threshold=np.nextafter(0.3, 1.0))
    assert (above.precision, above.recall) == (0.0, 0.0)


def test_threshold_extremes() -> None:
    samples = [img({"a"}, a=1.0), img(set(), a=0.0), img({"a"}, a=0.0)]
    zero = evaluate_classification(samples, ["a"], multiclass=False, threshold=0.0)
    assert (zero.precision, zero.recall) == (2 / 3, 1.0)  # everything is predicted
    one = evaluate_classification(samples, ["a"], multiclass=False, threshold=1.0)
    assert (one.precision, one.recall) == (1.0, 0.5)


def test_no_predictions_gives_zero_precision() -> None:
    perf = evaluate_classification(MULTILABEL, ["a", "b"], multiclass=False, threshold=0.99)
    assert [(t.precision, t.recall) for t in perf.per_tag] == [(0.0, 0.0), (0.0, 0.0)]
    assert (perf.precision, perf.recall) == (0.0, 0.0)
    assert perf.average_precision > 0  # AP does not depend on the threshold


def test_tag_without_positives_has_zero_recall_and_ap_and_is_left_out_of_the_mean() -> None:
    samples = [img({"a"}, a=0.9, c=0.8), img(set(), a=0.2, c=0.6)]
    perf = evaluate_classification(samples, ["a", "c"], multiclass=False)
    c = tag(perf, "c")
    assert (c.precision, c.recall, c.average_precision) == (0.0, 0.0, 0.0)
    assert perf.average_precision == tag(perf, "a").average_precision == 1.0
    assert (perf.precision, perf.recall) == (1 / 3, 1.0)  # c's two false positives still count


def test_no_positive_anywhere_gives_zero_mean_ap() -> None:
    samples = [img(set(), a=0.9), img(set(), a=0.1)]
    perf = evaluate_classification(samples, ["a"], multiclass=False)
    assert (perf.precision, perf.recall, perf.average_precision) == (0.0, 0.0, 0.0)


def test_empty_inputs() -> None:
    none = evaluate_classification([], ["a", "b"], multiclass=True)
    assert none == IterationPerformance(
        (TagPerformance("a", 0.0, 0.0, 0.0, 0.0, 0.0), TagPerformance("b", 0.0, 0.0, 0.0, 0.0, 0.0)),
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
    )
    no_tags = evaluate_classification(MULTILABEL, [], multiclass=True)
    assert no_tags == IterationPerformance((), 0.0, 0.0, 0.0, 0.0, 0.0)


def test_per_tag_order_follows_tag_ids() -> None:
    perf = evaluate_classification(MULTILABEL, ["b", "a"], multiclass=False)
    assert [t.tag_id for t in perf.per_tag] == ["b", "a"]


def test_missing_score_counts_as_zero_and_unknown_labels_are_ignored() -> None:
    samples = [img({"a", "ghost"}), img({"b"}, b=0.8)]
    perf = evaluate_classification(samples, ["a", "b"], multiclass=False, threshold=0.0)
    a = tag(perf, "a")
    assert (a.precision, a.recall) == (0.5, 1.0)  # both images score 0.0 >= 0.0 for a
    perf = evaluate_classification(samples, ["a", "b"], multiclass=False, threshold=0.1)
    assert tag(perf, "a").recall == 0.0


# --- classification: the multiclass arg-max rule ----------------------------------------------------


def test_multiclass_predicts_only_the_argmax() -> None:
    samples = [img({"a"}, a=0.6, b=0.7)]
    perf = evaluate_classification(samples, ["a", "b"], multiclass=True)
    assert (tag(perf, "a").recall, tag(perf, "b").precision) == (0.0, 0.0)
    assert (perf.precision, perf.recall) == (0.0, 0.0)  # one FP (b), one FN (a)


def test_multiclass_argmax_can_be_turned_off() -> None:
    samples = [img({"a"}, a=0.6, b=0.7)]
    perf = evaluate_classification(samples, ["a", "b"], multiclass=True, multiclass_argmax=False)
    assert (perf.precision, perf.recall) == (0.5, 1.0)


def test_multilabel_ignores_the_argmax_rule() -> None:
    samples = [img({"a"}, a=0.6, b=0.7)]
    perf = evaluate_classification(samples, ["a", "b"], multiclass=False, multiclass_argmax=True)
    assert (perf.precision, perf.recall) == (0.5, 1.0)


def test_multiclass_argmax_must_still_reach_the_threshold() -> None:
    samples = [img({"a"}, a=0.4, b=0.3)]
    perf = evaluate_classification(samples, ["a", "b"], multiclass=True)
    assert (perf.precision, perf.recall) == (0.0, 0.0)


def test_multiclass_ties_go_to_the_first_tag_in_tag_order() -> None:
    samples = [img({"b"}, a=0.6, b=0.6)]
    ab = evaluate_classification(samples, ["a", "b"], multiclass=True)
    assert (tag(ab, "a").precision, tag(ab, "b").recall) == (0.0, 0.0)  # a was predicted
    ba = evaluate_classification(samples, ["b", "a"], multiclass=True)
    assert (tag(ba, "b").precision, tag(ba, "b").recall) == (1.0, 1.0)  # b was predicted


def test_multiclass_unreported_tag_can_win_but_never_a_tie() -> None:
    negative_wins = [img({"a"}, a=0.6, negative=0.61)]
    perf = evaluate_classification(negative_wins, ["a"], multiclass=True)
    assert perf.recall == 0.0
    tie = [img({"a"}, a=0.6, negative=0.6)]
    perf = evaluate_classification(tie, ["a"], multiclass=True)
    assert perf.recall == 1.0


# --- classification: folds and validation -------------------------------------------------------


def test_classification_std_devs_across_folds() -> None:
    samples = [
        # fold 0: a TP, a FP -> P(a) 1/2, R(a) 1
        img({"a"}, fold=0, a=0.9),
        img(set(), fold=0, a=0.8),
        # fold 1: a TP, a FN -> P(a) 1, R(a) 1/2
        img({"a"}, fold=1, a=0.9),
        img({"a"}, fold=1, a=0.1),
        # fold 2: nothing predicted, nothing to find -> neither P nor R defined: not in the std-dev
        img(set(), fold=2, a=0.1),
    ]
    perf = evaluate_classification(samples, ["a"], multiclass=False)
    a = perf.per_tag[0]
    assert (a.precision, a.recall) == (2 / 3, 2 / 3)  # pooled over every fold
    assert a.precision_std == pytest.approx(0.25, abs=1e-15)  # std(1/2, 1)
    assert a.recall_std == pytest.approx(0.25, abs=1e-15)
    assert (perf.precision_std, perf.recall_std) == (a.precision_std, a.recall_std)


def test_single_fold_or_one_defined_fold_has_zero_std() -> None:
    samples = [img({"a"}, fold=3, a=0.9), img(set(), fold=3, a=0.8)]
    perf = evaluate_classification(samples, ["a"], multiclass=False)
    assert (perf.precision_std, perf.recall_std) == (0.0, 0.0)
    samples.append(img(set(), fold=4, a=0.1))  # a second fold where neither P nor R is defined
    perf = evaluate_classification(samples, ["a"], multiclass=False)
    assert (perf.precision_std, perf.recall_std) == (0.0, 0.0)


def test_micro_std_devs_use_per_fold_micro_averages() -> None:
    samples = [
        img({"a"}, fold=0, a=0.9, b=0.1),  # fold 0: TP a -> P 1, R 1
        img({"b"}, fold=1, a=0.9, b=0.9),  # fold 1: FP a, TP b -> P 1/2, R 1
        img({"b"}, fold=1, a=0.1, b=0.1),  #          FN b -> R 1/2
    ]
    perf = evaluate_classification(samples, ["a", "b"], multiclass=False)
    assert perf.precision_std == pytest.approx(0.25, abs=1e-15)
    assert perf.recall_std == pytest.approx(0.25, abs=1e-15)


@pytest.mark.parametrize(
    ("samples", "tags", "threshold", "message"),
    [
        ([img({"a"}, a=0.5)], ["a"], -0.01, "threshold"),
        ([img({"a"}, a=0.5)], ["a"], 1.01, "threshold"),
        ([img({"a"}, a=0.5)], ["a"], float("nan"), "threshold"),
        ([img({"a"}, a=0.5)], ["a", "a"], 0.5, "repeat"),
        ([img({"a"}, a=float("nan"))], ["a"], 0.5, "finite"),
        ([img({"a"}, a=0.5, other=float("inf"))], ["a"], 0.5, "finite"),
        ([img({"a"}, fold=0, a=0.5), img(set(), a=0.1)], ["a"], 0.5, "fold"),
    ],
)
def test_classification_refuses_bad_input(
    samples: list[ClassificationSample], tags: list[str], threshold: float, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        evaluate_classification(samples, tags, multiclass=True, threshold=threshold)


# --- detection: IoU and matching ----------------------------------------------------------------


def test_box_iou() -> None:
    a = gt("t", 0.0, 0.0, 0.5, 0.5)
    assert box_iou(a, a) == 1.0
    awkward = gt("t", 0.1, 0.7, 0.2, 0.1)  # 0.1 + 0.2 - 0.1 != 0.2 in floating point
    assert box_iou(awkward, dt("u", 0.3, 0.1, 0.7, 0.2, 0.1)) == 1.0
    assert box_iou(a, gt("t", 0.25, 0.0, 0.5, 0.5)) == pytest.approx(1 / 3, abs=1e-15)
    assert box_iou(a, gt("t", 0.0, 0.0, 0.25, 0.5)) == 0.5  # exact on a binary grid
    assert box_iou(a, gt("t", 0.5, 0.0, 0.5, 0.5)) == 0.0  # touching
    assert box_iou(a, gt("t", 0.7, 0.7, 0.1, 0.1)) == 0.0  # apart
    assert box_iou(a, gt("t", 0.1, 0.1, 0.0, 0.2)) == 0.0  # zero area
    assert box_iou(gt("t", 0.1, 0.1, 0.0, 0.0), gt("t", 0.1, 0.1, 0.0, 0.0)) == 0.0


def test_duplicate_detection_is_a_false_positive() -> None:
    samples = [
        DetectionSample(
            [gt("a", 0.1, 0.1, 0.4, 0.4)], [dt("a", 0.8, 0.1, 0.1, 0.4, 0.4), dt("a", 0.9, 0.12, 0.1, 0.4, 0.4)]
        )
    ]
    perf = evaluate_detection(samples, ["a"])
    assert (perf.precision, perf.recall) == (0.5, 1.0)
    assert perf.average_precision == 1.0  # the TP comes first


def test_matching_takes_the_highest_iou_unmatched_box() -> None:
    left, right = gt("a", 0.0, 0.0, 0.4, 0.4), gt("a", 0.2, 0.0, 0.4, 0.4)
    first = dt("a", 0.9, 0.12, 0.0, 0.4, 0.4)  # IoU(left) 0.54, IoU(right) 0.67 -> right
    second = dt("a", 0.8, 0.0, 0.0, 0.4, 0.4)  # left is still free
    assert box_iou(first, right) > box_iou(first, left) >= 0.5
    perf = evaluate_detection([DetectionSample([left, right], [first, second])], ["a"], overlap_threshold=0.5)
    assert (perf.precision, perf.recall) == (1.0, 1.0)


def test_matching_is_greedy_not_optimal() -> None:
    g1, g2 = gt("a", 0.0, 0.0, 0.4, 0.4), gt("a", 0.2, 0.0, 0.4, 0.4)
    top = dt("a", 0.9, 0.12, 0.0, 0.4, 0.4)  # prefers g2 though it also fits g1
    second = dt("a", 0.8, 0.25, 0.0, 0.4, 0.4)  # fits g2 only
    assert 0.5 <= box_iou(top, g1) < box_iou(top, g2)
    assert box_iou(second, g1) < 0.5 <= box_iou(second, g2)
    perf = evaluate_detection([DetectionSample([g1, g2], [top, second])], ["a"], overlap_threshold=0.5)
    assert (perf.precision, perf.recall) == (0.5, 0.5)  # an optimal assignment would find both


def test_iou_ties_go_to_the_later_ground_truth_box() -> None:
    # The prediction overlaps g1 and g2 equally (IoU 1/3); a second prediction fits g1 only.
    g1, g2 = gt("a", 0.0, 0.0, 0.5, 0.5), gt("a", 0.5, 0.0, 0.5, 0.5)
    middle = dt("a", 0.9, 0.25, 0.0, 0.5, 0.5)
    on_g1 = dt("a", 0.8, 0.0, 0.0, 0.5, 0.5)
    assert box_iou(middle, g1) == box_iou(middle, g2)
    later_free = evaluate_detection([DetectionSample([g1, g2], [middle, on_g1])], ["a"], overlap_threshold=0.3)
    assert later_free.recall == 1.0  # middle took g2, so on_g1 matches g1
    swapped = evaluate_detection([DetectionSample([g2, g1], [middle, on_g1])], ["a"], overlap_threshold=0.3)
    assert swapped.recall == 0.5  # middle took g1, so on_g1 is a duplicate


def test_overlap_threshold_boundary_is_inclusive() -> None:
    sample = DetectionSample([gt("a", 0.0, 0.0, 0.5, 0.5)], [dt("a", 0.9, 0.0, 0.0, 0.25, 0.5)])  # IoU 0.5
    assert evaluate_detection([sample], ["a"], overlap_threshold=0.5).recall == 1.0
    assert evaluate_detection([sample], ["a"], overlap_threshold=np.nextafter(0.5, 1.0)).recall == 0.0


def test_overlap_zero_matches_any_box_of_the_tag_but_never_another_tag() -> None:
    sample = DetectionSample(
        [gt("a", 0.0, 0.0, 0.1, 0.1)], [dt("a", 0.9, 0.8, 0.8, 0.1, 0.1), dt("b", 0.9, 0.0, 0.0, 0.1, 0.1)]
    )
    perf = evaluate_detection([sample], ["a", "b"], overlap_threshold=0.0)
    assert (tag(perf, "a").precision, tag(perf, "a").recall) == (1.0, 1.0)
    assert (tag(perf, "b").precision, tag(perf, "b").recall) == (0.0, 0.0)


def test_wrong_tag_is_a_false_positive_and_a_false_negative() -> None:
    sample = DetectionSample([gt("a", 0.1, 0.1, 0.3, 0.3)], [dt("b", 0.9, 0.1, 0.1, 0.3, 0.3)])
    perf = evaluate_detection([sample], ["a", "b"])
    a, b = perf.per_tag
    assert (a.precision, a.recall, a.average_precision) == (0.0, 0.0, 0.0)
    assert (b.precision, b.recall, b.average_precision) == (0.0, 0.0, 0.0)
    assert (perf.precision, perf.recall, perf.average_precision) == (0.0, 0.0, 0.0)  # mAP over a only


def test_probability_threshold_filters_pr_but_not_ap() -> None:
    box = (0.1, 0.1, 0.3, 0.3)
    sample = DetectionSample(
        [gt("a", *box), gt("a", 0.6, 0.6, 0.3, 0.3)],
        [dt("a", 0.5, *box), dt("a", 0.49, 0.6, 0.6, 0.3, 0.3), dt("a", 0.2, 0.0, 0.7, 0.1, 0.1)],
    )
    perf = evaluate_detection([sample], ["a"], threshold=0.5)
    assert (perf.precision, perf.recall) == (1.0, 0.5)  # 0.5 counts, 0.49 does not
    assert perf.average_precision == 1.0  # both TPs rank above the FP
    low = evaluate_detection([sample], ["a"], threshold=0.0)
    assert (low.precision, low.recall) == (2 / 3, 1.0)


def test_below_threshold_prediction_cannot_steal_a_match() -> None:
    box = (0.1, 0.1, 0.3, 0.3)
    sample = DetectionSample([gt("a", *box)], [dt("a", 0.3, *box), dt("a", 0.6, 0.12, 0.1, 0.3, 0.3)])
    perf = evaluate_detection([sample], ["a"], threshold=0.5)
    assert (perf.precision, perf.recall) == (1.0, 1.0)


def test_detection_ap_coco_101_and_all_point() -> None:
    # Two boxes to find; ranked TP (0.9), FP (0.8), TP (0.7): P 1, 1/2, 2/3; R 1/2, 1/2, 1.
    # Envelope Q: 1, 2/3, 2/3. All-point: 1/2 * 1 + 1/2 * 2/3.
    # COCO: recall levels 0.00..0.50 (51 of them) read Q 1; 0.51..1.00 (50) read Q 2/3.
    sample = DetectionSample(
        [gt("a", 0.0, 0.0, 0.2, 0.2), gt("a", 0.5, 0.5, 0.2, 0.2)],
        [dt("a", 0.9, 0.0, 0.0, 0.2, 0.2), dt("a", 0.8, 0.8, 0.0, 0.1, 0.1), dt("a", 0.7, 0.5, 0.5, 0.2, 0.2)],
    )
    coco = evaluate_detection([sample], ["a"])
    assert coco.average_precision == pytest.approx((51 + 50 * 2 / 3) / 101, abs=1e-15)
    voc = evaluate_detection([sample], ["a"], ap_method="all_point")
    assert voc.average_precision == pytest.approx(0.5 + 0.5 * 2 / 3, abs=1e-15)


def test_detection_ap_when_recall_stops_short() -> None:
    sample = DetectionSample(
        [gt("a", 0.0, 0.0, 0.2, 0.2), gt("a", 0.5, 0.5, 0.2, 0.2)], [dt("a", 0.9, 0.0, 0.0, 0.2, 0.2)]
    )
    assert evaluate_detection([sample], ["a"]).average_precision == pytest.approx(51 / 101, abs=1e-15)
    assert evaluate_detection([sample], ["a"], ap_method="all_point").average_precision == 0.5


def test_detection_ap_orders_tied_scores_by_image_then_input() -> None:
    box = (0.1, 0.1, 0.3, 0.3)
    hit = DetectionSample([gt("a", *box)], [dt("a", 0.7, *box)])
    miss = DetectionSample([], [dt("a", 0.7, *box)])
    # miss first: FP then TP -> P 0, 1/2 -> envelope 1/2 everywhere
    assert evaluate_detection([miss, hit], ["a"]).average_precision == pytest.approx(0.5, abs=1e-15)
    # hit first: TP then FP -> P 1 at recall 1
    assert evaluate_detection([hit, miss], ["a"]).average_precision == 1.0


def test_detection_no_predictions_and_no_truth() -> None:
    only_truth = [DetectionSample([gt("a", 0.1, 0.1, 0.2, 0.2)], [])]
    perf = evaluate_detection(only_truth, ["a", "b"])
    assert (perf.precision, perf.recall, perf.average_precision) == (0.0, 0.0, 0.0)
    only_predictions = [DetectionSample([], [dt("a", 0.9, 0.1, 0.1, 0.2, 0.2)])]
    perf = evaluate_detection(only_predictions, ["a"])
    assert (perf.precision, perf.recall, perf.average_precision) == (0.0, 0.0, 0.0)
    assert evaluate_detection([], ["a"]) == IterationPerformance(
        (TagPerformance("a", 0.0, 0.0, 0.0, 0.0, 0.0),), 0.0, 0.0, 0.0, 0.0, 0.0
    )
    assert evaluate_detection([DetectionSample()], []) == IterationPerformance((), 0.0, 0.0, 0.0, 0.0, 0.0)


def test_detection_map_is_over_tags_with_ground_truth_and_unreported_tags_are_ignored() -> None:
    sample = DetectionSample(
        [gt("a", 0.1, 0.1, 0.2, 0.2), gt("ghost", 0.5, 0.5, 0.2, 0.2)],
        [dt("a", 0.9, 0.1, 0.1, 0.2, 0.2), dt("b", 0.8, 0.5, 0.5, 0.2, 0.2), dt("ghost", 0.8, 0.5, 0.5, 0.2, 0.2)],
    )
    perf = evaluate_detection([sample], ["a", "b"])
    assert perf.average_precision == 1.0  # b has no box to find: left out of the mean
    assert (perf.precision, perf.recall) == (0.5, 1.0)  # ghost counts nowhere, b's FP does


def test_detection_std_devs_across_folds() -> None:
    box = (0.1, 0.1, 0.3, 0.3)
    samples = [
        DetectionSample([gt("a", *box)], [dt("a", 0.9, *box)], fold=0),  # P 1, R 1
        DetectionSample(
            [gt("a", *box), gt("a", 0.6, 0.6, 0.3, 0.3)], [dt("a", 0.9, *box), dt("a", 0.9, 0.0, 0.7, 0.1, 0.1)], fold=1
        ),  # P 1/2, R 1/2
    ]
    perf = evaluate_detection(samples, ["a"])
    assert (perf.precision, perf.recall) == (2 / 3, 2 / 3)
    assert perf.precision_std == pytest.approx(0.25, abs=1e-15)
    assert perf.recall_std == pytest.approx(0.25, abs=1e-15)
    assert perf.per_tag[0].recall_std == perf.recall_std


@pytest.mark.parametrize(
    ("sample", "kwargs", "message"),
    [
        (DetectionSample(), {"threshold": 1.5}, "threshold"),
        (DetectionSample(), {"overlap_threshold": -0.1}, "overlap_threshold"),
        (DetectionSample(), {"ap_method": "voc07"}, "ap_method"),
        (DetectionSample([gt("a", 0.1, 0.1, -0.1, 0.2)]), {}, "negative"),
        (DetectionSample([], [dt("a", 0.5, 0.1, 0.1, 0.2, -0.2)]), {}, "negative"),
        (DetectionSample([gt("a", float("nan"), 0.1, 0.1, 0.2)]), {}, "finite"),
        (DetectionSample([], [dt("a", float("inf"), 0.1, 0.1, 0.2, 0.2)]), {}, "finite"),
    ],
)
def test_detection_refuses_bad_input(sample: DetectionSample, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        evaluate_detection([sample], ["a"], **kwargs)


def test_detection_refuses_partial_folds_and_repeated_tags() -> None:
    with pytest.raises(ValueError, match="fold"):
        evaluate_detection([DetectionSample(fold=1), DetectionSample()], ["a"])
    with pytest.raises(ValueError, match="repeat"):
        evaluate_detection([], ["a", "a"])


# --- oracle: scikit-learn -----------------------------------------------------------------------


def random_classification(seed: int) -> tuple[list[ClassificationSample], list[str], np.ndarray, np.ndarray]:
    """Images x tags with random labels and scores; every other seed uses coarse scores, so ties."""
    rng = np.random.default_rng(seed)
    n, k = int(rng.integers(1, 60)), int(rng.integers(2, 6))
    tags = [f"tag{j}" for j in range(k)]
    truth = rng.random((n, k)) < rng.uniform(0.05, 0.6)
    scores = rng.random((n, k))
    if seed % 2:
        scores = np.round(scores, 1)
    scores = np.where(truth, np.minimum(scores + rng.uniform(0, 0.4), 1.0), scores)  # a signal
    folds: list[int | None] = [int(f) for f in rng.integers(0, 5, n)] if seed % 3 == 0 else [None] * n
    samples = [
        ClassificationSample(
            frozenset(t for t, y in zip(tags, truth[i], strict=True) if y),
            dict(zip(tags, map(float, scores[i]), strict=True)),
            folds[i],
        )
        for i in range(n)
    ]
    return samples, tags, truth, scores


@pytest.mark.parametrize("seed", SEEDS)
def test_classification_ap_matches_sklearn(seed: int) -> None:
    metrics = pytest.importorskip("sklearn.metrics")
    samples, tags, truth, scores = random_classification(seed)
    perf = evaluate_classification(samples, tags, multiclass=False)
    expected = []
    for j, t in enumerate(perf.per_tag):
        if truth[:, j].any():
            expected.append(metrics.average_precision_score(truth[:, j], scores[:, j]))
            assert t.average_precision == pytest.approx(expected[-1], abs=1e-12)
        else:
            assert t.average_precision == 0.0
    assert perf.average_precision == pytest.approx(np.mean(expected) if expected else 0.0, abs=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_classification_precision_recall_match_sklearn(seed: int) -> None:
    metrics = pytest.importorskip("sklearn.metrics")
    samples, tags, truth, scores = random_classification(seed)
    rng = np.random.default_rng(1000 + seed)
    # Half the time the threshold is one of the scores, to exercise the inclusive boundary.
    threshold = float(rng.choice(scores.ravel())) if seed % 2 else float(rng.random())
    predicted = scores >= threshold
    for multiclass in (False, True):
        perf = evaluate_classification(
            samples, tags, multiclass=multiclass, threshold=threshold, multiclass_argmax=False
        )
        for j, t in enumerate(perf.per_tag):
            assert t.precision == pytest.approx(
                metrics.precision_score(truth[:, j], predicted[:, j], zero_division=0.0), abs=1e-12
            )
            assert t.recall == pytest.approx(
                metrics.recall_score(truth[:, j], predicted[:, j], zero_division=0.0), abs=1e-12
            )
        micro = {"average": "micro", "zero_division": 0.0}
        assert perf.precision == pytest.approx(metrics.precision_score(truth, predicted, **micro), abs=1e-12)
        assert perf.recall == pytest.approx(metrics.recall_score(truth, predicted, **micro), abs=1e-12)

        if samples[0].fold is None:
            assert (perf.precision_std, perf.recall_std) == (0.0, 0.0)
            continue
        folds = np.array([s.fold for s in samples])
        per_fold_p, per_fold_r = [], []
        for f in np.unique(folds):
            y, yhat = truth[folds == f], predicted[folds == f]
            if yhat.any():
                per_fold_p.append(metrics.precision_score(y, yhat, **micro))
            if y.any():
                per_fold_r.append(metrics.recall_score(y, yhat, **micro))
        expected_p = np.std(per_fold_p) if len(per_fold_p) > 1 else 0.0
        expected_r = np.std(per_fold_r) if len(per_fold_r) > 1 else 0.0
        assert perf.precision_std == pytest.approx(expected_p, abs=1e-12)
        assert perf.recall_std == pytest.approx(expected_r, abs=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_multiclass_argmax_rule_on_random_data(seed: int) -> None:
    """The arg-max rule equals scikit-learn P/R on a one-hot arg-max prediction (first max wins)."""
    metrics = pytest.importorskip("sklearn.metrics")
    samples, tags, truth, scores = random_classification(seed)
    threshold = float(np.random.default_rng(seed).choice([0.0, 0.3, 0.5]))
    onehot = np.zeros_like(truth)
    onehot[np.arange(len(scores)), np.argmax(scores, axis=1)] = True
    predicted = onehot & (scores >= threshold)
    perf = evaluate_classification(samples, tags, multiclass=True, threshold=threshold)
    micro = {"average": "micro", "zero_division": 0.0}
    assert perf.precision == pytest.approx(metrics.precision_score(truth, predicted, **micro), abs=1e-12)
    assert perf.recall == pytest.approx(metrics.recall_score(truth, predicted, **micro), abs=1e-12)


# --- oracle: pycocotools ------------------------------------------------------------------------

GRID = 64  # boxes are drawn on a 1/64 grid, so normalised and pixel IoUs are the same float
PIXELS = 640  # the oracle's pixel grid: one grid step = 10 pixels, exact in binary


def random_detection(seed: int) -> tuple[list[DetectionSample], list[str]]:
    """A few images of grid-aligned boxes. Predictions are jittered copies of the truth (some with
    the wrong tag, some duplicated, some missing), crops whose IoU is exactly 0.3, 0.5 or 0.75,
    and strays; odd seeds draw scores from a few levels, so scores tie."""
    rng = np.random.default_rng(seed)
    tags = [f"tag{j}" for j in range(int(rng.integers(1, 4)))]
    Cells = tuple[int, int, int, int]

    def box() -> Cells:
        w, h = int(rng.integers(4, 33)), int(rng.integers(4, 33))
        return int(rng.integers(0, GRID - w + 1)), int(rng.integers(0, GRID - h + 1)), w, h

    def jitter(b: Cells) -> Cells:
        x, y, w, h = (c + int(rng.integers(-2, 3)) for c in b)
        return x, y, max(w, 1), max(h, 1)

    def crop(b: Cells) -> Cells | None:
        """A box inside b, as tall, whose IoU with b is exactly one of the oracle's thresholds."""
        x, y, w, h = b
        fractions = [f for f in (0.3, 0.5, 0.75) if (w * f).is_integer()]
        return (x, y, round(w * float(rng.choice(fractions))), h) if fractions else None

    def score(hit: bool) -> float:
        if seed % 2:
            return float(rng.choice([0.5, 0.6, 0.8] if hit else [0.2, 0.4, 0.5, 0.6]))
        return float(rng.uniform(0.3, 1.0) if hit else rng.uniform(0.0, 0.7))

    def normalised(b: Cells) -> tuple[float, float, float, float]:
        x, y, w, h = b
        return x / GRID, y / GRID, w / GRID, h / GRID

    samples = []
    for _ in range(int(rng.integers(1, 9))):
        truth = [(str(rng.choice(tags)), box()) for _ in range(int(rng.integers(0, 5)))]
        predictions = []
        for label, b in truth:
            for _ in range(int(rng.integers(0, 3))):  # misses and duplicates
                guess = label if rng.random() < 0.85 else str(rng.choice(tags))
                predictions.append(dt(guess, score(True), *normalised(jitter(b))))
            cropped = crop(b)
            if cropped is not None and rng.random() < 0.3:
                predictions.append(dt(label, score(True), *normalised(cropped)))
        for _ in range(int(rng.integers(0, 3))):
            predictions.append(dt(str(rng.choice(tags)), score(False), *normalised(box())))
        samples.append(
            DetectionSample(
                [gt(label, *normalised(b)) for label, b in truth],
                [predictions[i] for i in rng.permutation(len(predictions))],
            )
        )
    if not any(s.predictions for s in samples):  # pycocotools cannot load an empty result list
        samples[0] = DetectionSample(samples[0].truth, [dt(tags[0], 0.5, *normalised(box()))])
    return samples, tags


def coco_eval(samples: list[DetectionSample], tags: list[str], overlap: float) -> Any:
    """COCOeval(bbox) at one IoU threshold, all areas, 1000 detections per image, quietly."""
    coco = pytest.importorskip("pycocotools.coco")
    cocoeval = pytest.importorskip("pycocotools.cocoeval")

    def pixels(b: GroundTruthBox | PredictedBox) -> list[float]:
        return [b.left * PIXELS, b.top * PIXELS, b.width * PIXELS, b.height * PIXELS]

    category = {t: j + 1 for j, t in enumerate(tags)}
    annotations: list[dict[str, Any]] = []
    for i, s in enumerate(samples):
        for g in s.truth:
            bbox = pixels(g)
            annotations.append(
                {"id": len(annotations) + 1, "image_id": i + 1, "category_id": category[g.tag_id],
                 "bbox": bbox, "area": bbox[2] * bbox[3], "iscrowd": 0}
            )  # fmt: skip
    dataset = {
        "images": [{"id": i + 1, "width": PIXELS, "height": PIXELS} for i in range(len(samples))],
        "annotations": annotations,
        "categories": [{"id": c} for c in category.values()],
    }
    results = [
        {"image_id": i + 1, "category_id": category[p.tag_id], "bbox": pixels(p), "score": p.score}
        for i, s in enumerate(samples)
        for p in s.predictions
    ]
    with contextlib.redirect_stdout(io.StringIO()):
        truth = coco.COCO()
        truth.dataset = dataset
        truth.createIndex()
        result = cocoeval.COCOeval(truth, truth.loadRes(results), iouType="bbox")
        result.params.iouThrs = np.array([overlap])
        result.params.maxDets = [1000]
        result.params.areaRng = [[0, 1e10]]
        result.params.areaRngLbl = ["all"]
        result.evaluate()
        result.accumulate()
    return result


def voc_all_point(hits: np.ndarray, ground_truths: int) -> float:
    """The VOC2010 devkit formula, with its sentinels, for predictions in ranked order."""
    tp = np.cumsum(hits)
    mrec = np.r_[0.0, tp / ground_truths, 1.0]
    mpre = np.r_[0.0, tp / np.arange(1, len(hits) + 1), 0.0]
    for i in range(len(mpre) - 2, -1, -1):
        mpre[i] = max(mpre[i], mpre[i + 1])
    changes = np.flatnonzero(mrec[1:] != mrec[:-1])
    return float(np.sum((mrec[changes + 1] - mrec[changes]) * mpre[changes + 1]))


@pytest.mark.parametrize("overlap", [0.3, 0.5, 0.75])
@pytest.mark.parametrize("seed", SEEDS)
def test_detection_matches_pycocotools(seed: int, overlap: float) -> None:
    samples, tags = random_detection(seed)
    threshold = float(np.random.default_rng(seed).choice([0.0, 0.4, 0.5, 0.55]))
    result = coco_eval(samples, tags, overlap)
    coco = evaluate_detection(samples, tags, threshold=threshold, overlap_threshold=overlap)
    voc = evaluate_detection(samples, tags, threshold=threshold, overlap_threshold=overlap, ap_method="all_point")

    expected_maps = []
    for k in range(len(tags)):
        precision = result.eval["precision"][0, :, k, 0, 0]
        # pycocotools' per-image matches for this tag: images in id order, predictions ranked.
        matches = [e for e in result.evalImgs if e is not None and e["category_id"] == k + 1]
        ranked_scores = np.concatenate([e["dtScores"] for e in matches] or [np.zeros(0)])
        ranked_hits = np.concatenate([e["dtMatches"][0] > 0 for e in matches] or [np.zeros(0, bool)])
        ground_truths = sum(len(e["gtIds"]) for e in matches)
        kept = ranked_scores >= threshold
        tp, fp = np.count_nonzero(ranked_hits & kept), np.count_nonzero(~ranked_hits & kept)

        mine, mine_voc = coco.per_tag[k], voc.per_tag[k]
        assert mine.precision == pytest.approx(tp / (tp + fp) if tp + fp else 0.0, abs=1e-12)
        assert mine.recall == pytest.approx(tp / ground_truths if ground_truths else 0.0, abs=1e-12)
        assert (mine_voc.precision, mine_voc.recall) == (mine.precision, mine.recall)
        if ground_truths == 0:
            assert (precision == -1).all()
            assert mine.average_precision == mine_voc.average_precision == 0.0
            continue
        expected_maps.append(float(precision.mean()))
        assert mine.average_precision == pytest.approx(expected_maps[-1], abs=1e-12)
        order = np.argsort(-ranked_scores, kind="mergesort")
        assert mine_voc.average_precision == pytest.approx(voc_all_point(ranked_hits[order], ground_truths), abs=1e-12)
    assert coco.average_precision == pytest.approx(np.mean(expected_maps) if expected_maps else 0.0, abs=1e-12)
