"""Stored predictions: kept 30 days with their image, queried (filters, paging), deleted, and moved
into training as labelled images."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.domain.clock import iso_utc
from shared.domain.entities import new_id
from shared.domain.errors import BadRequest, Code, NotFound
from shared.domain.labelling import RegionInput
from shared.domain.records import ScoredTag, StoredPrediction
from shared.services.image_query import ImageQuery, MetadataFilter
from shared.services.stored_predictions import PredictionQuery, TagThreshold
from shared.services.training import TrainRequest
from tests.unit.services.fakes import Trained, World, greenish, png, reddish

UNKNOWN = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"


def _ago(minutes: float) -> str:
    return iso_utc(datetime.now(UTC) - timedelta(minutes=minutes))


def _keep(
    trained: Trained,
    minutes_ago: float,
    red: float,
    *,
    iteration_id: str | None = None,
    application: str | None = None,
    data: bytes | None = None,
) -> StoredPrediction:
    """A kept classification of red ``red``, green ``1 - red``, made ``minutes_ago``."""
    record = StoredPrediction(
        id=new_id(),
        project_id=trained.project_id,
        iteration_id=iteration_id or trained.iteration.id,
        created=_ago(minutes_ago),
        application=application,
        domain_id=trained.project.domain_id,
        width=64,
        height=48,
        predictions=(ScoredTag(trained.tag("red").id, red), ScoredTag(trained.tag("green").id, round(1 - red, 6))),
    )
    trained.world.stored_predictions.keep(record, data or png((int(red * 255), 0, 7)))
    return record


def _ids(world: World, trained: Trained, query: PredictionQuery) -> list[str]:
    results, continuation = world.stored_predictions.query(trained.project_id, query)
    assert continuation is None
    return [r.id for r in results]


def test_queries_filter_by_iteration_application_and_time(classifier: Trained) -> None:
    world, pid = classifier.world, classifier.project_id
    second = world.finish(world.train(pid, TrainRequest(force_train=True)))
    old = _keep(classifier, 60, 0.9, application="app")
    mid = _keep(classifier, 30, 0.8, iteration_id=second.id, application="other")
    new = _keep(classifier, 1, 0.7)
    assert _ids(world, classifier, PredictionQuery()) == [new.id, mid.id, old.id]
    assert _ids(world, classifier, PredictionQuery(newest_first=False)) == [old.id, mid.id, new.id]
    assert _ids(world, classifier, PredictionQuery(iteration_id=second.id.upper())) == [mid.id]
    assert _ids(world, classifier, PredictionQuery(application="app")) == [old.id]
    assert _ids(world, classifier, PredictionQuery(start_time=_ago(45))) == [new.id, mid.id]
    assert _ids(world, classifier, PredictionQuery(start_time=_ago(45), end_time=_ago(10))) == [mid.id]


def test_queries_filter_by_tag_thresholds(classifier: Trained) -> None:
    world = classifier.world
    red, green = classifier.tag("red").id, classifier.tag("green").id
    sure = _keep(classifier, 3, 0.95)
    unsure = _keep(classifier, 2, 0.55)
    wrong = _keep(classifier, 1, 0.1)
    assert _ids(world, classifier, PredictionQuery(tags=[TagThreshold(red, 0.5)])) == [unsure.id, sure.id]
    assert _ids(world, classifier, PredictionQuery(tags=[TagThreshold(red.upper(), 0.5, 0.9)])) == [unsure.id]
    assert _ids(world, classifier, PredictionQuery(tags=[TagThreshold(green, 0.8)])) == [wrong.id]
    both = [TagThreshold(red, 0.5), TagThreshold(green, 0.4)]
    assert _ids(world, classifier, PredictionQuery(tags=both)) == [unsure.id]


@pytest.mark.parametrize(
    ("query", "code"),
    [
        (PredictionQuery(max_count=0), Code.BAD_REQUEST_PREDICTION_INVALID_QUERY),
        (PredictionQuery(max_count=257), Code.BAD_REQUEST_PREDICTION_INVALID_QUERY),
        (PredictionQuery(tags=[TagThreshold(UNKNOWN)] * 3), Code.BAD_REQUEST_PREDICTION_TAGS_EXCEEDED),
        (PredictionQuery(continuation="not a token"), Code.BAD_REQUEST_INVALID),
    ],
)
def test_invalid_queries_are_refused(classifier: Trained, query: PredictionQuery, code: Code) -> None:
    with pytest.raises(BadRequest) as err:
        classifier.world.stored_predictions.query(classifier.project_id, query)
    assert err.value.code is code


def test_max_count_bounds_are_inclusive(classifier: Trained) -> None:
    record = _keep(classifier, 1, 0.5)
    for count in (1, 256):
        assert _ids(classifier.world, classifier, PredictionQuery(max_count=count)) == [record.id]


@pytest.mark.parametrize("filtered", [False, True])
def test_paging_with_continuations_returns_every_result_once_in_order(classifier: Trained, filtered: bool) -> None:
    world = classifier.world
    records = [_keep(classifier, 100 - n, (n % 10) / 10 + 0.05) for n in range(23)]
    tags = [TagThreshold(classifier.tag("red").id, 0.5)] if filtered else []
    expected = [r.id for r in reversed(records) if not filtered or r.predictions[0].probability >= 0.5]
    seen: list[str] = []
    pages: list[int] = []
    continuation: str | None = None
    while True:
        results, continuation = world.stored_predictions.query(
            classifier.project_id, PredictionQuery(max_count=5, tags=tags, continuation=continuation)
        )
        seen += [r.id for r in results]
        pages.append(len(results))
        if continuation is None:
            break
    assert seen == expected
    assert all(size == 5 for size in pages[:-1])  # pages are filled, however many results the filter drops


def test_expired_predictions_are_hidden_then_purged_with_their_images(classifier: Trained) -> None:
    world, pid = classifier.world, classifier.project_id
    expired = _keep(classifier, 31 * 24 * 60, 0.9)
    live = _keep(classifier, 1, 0.9)
    assert _ids(world, classifier, PredictionQuery()) == [live.id]
    assert world.stored_predictions.image_of(pid, expired.id) is None
    assert world.stored_predictions.image_of(pid, live.id) is not None
    assert world.stored_predictions.purge_expired(pid) == 1
    with pytest.raises(NotFound):
        world.stored_predictions.read_rendition(pid, expired.id, "original")
    assert world.stored_predictions.purge_expired(pid) == 0
    assert _ids(world, classifier, PredictionQuery()) == [live.id]


def test_deleting_predictions_removes_them_and_their_images(classifier: Trained) -> None:
    world, pid = classifier.world, classifier.project_id
    gone = _keep(classifier, 2, 0.9, data=reddish(7))
    kept = _keep(classifier, 1, 0.9)
    assert world.stored_predictions.read_rendition(pid, gone.id, "original") == (reddish(7), "image/png")
    world.stored_predictions.delete(pid, [gone.id.upper(), UNKNOWN])
    assert _ids(world, classifier, PredictionQuery()) == [kept.id]
    with pytest.raises(NotFound):
        world.stored_predictions.read_rendition(pid, gone.id, "original")
    with pytest.raises(BadRequest) as err:
        world.stored_predictions.delete(pid, [])
    assert err.value.code is Code.BAD_REQUEST_PREDICTION_IDS_MISSING


def test_results_are_named_by_the_project_s_tags(classifier: Trained) -> None:
    world = classifier.world
    _keep(classifier, 1, 0.9)
    world.tags.delete(classifier.project_id, classifier.tag("green").id)
    (result,), _ = world.stored_predictions.query(classifier.project_id, PredictionQuery())
    assert [(p.tag_name, p.probability) for p in result.predictions] == [("red", 0.9), ("", 0.1)]
    assert (result.application, result.domain_id) == (None, classifier.project.domain_id)


def test_moving_predictions_to_training_makes_labelled_images_and_removes_the_predictions(classifier: Trained) -> None:
    world, pid = classifier.world, classifier.project_id
    red, green = classifier.tag("red").id, classifier.tag("green").id
    first = _keep(classifier, 3, 0.9, data=reddish(50))
    second = _keep(classifier, 2, 0.2, data=greenish(50))
    refused = _keep(classifier, 1, 0.5, data=png((9, 9, 9)))
    summary = world.stored_predictions.move_to_training(
        pid,
        [(first.id, [red], []), (second.id.upper(), [green], []), (refused.id, [UNKNOWN], []), (UNKNOWN, [red], [])],
        [],
        {"source": "predictions"},
    )
    assert [r.status for r in summary.images] == ["OK", "OK", "ErrorInvalidTag", "ErrorSource"]
    assert _ids(world, classifier, PredictionQuery()) == [refused.id]  # the refused one stays
    moved = world.images.list_images(pid, ImageQuery(metadata=MetadataFilter(((("source", "predictions"),),))))
    assert sorted(i.tag_ids for i in moved) == sorted([(red,), (green,)])
    by_tag = {i.tag_ids[0]: i for i in moved}
    assert world.images.read_rendition(pid, by_tag[red].id, "original")[0] == reddish(50)


def test_moved_detections_keep_their_boxes(detector: Trained) -> None:
    world, pid = detector.world, detector.project_id
    kept = world.predictions.predict(detector.iteration, png((1, 2, 3)), store=True)
    box = RegionInput(detector.tag("fork").id, 0.6, 0.6, 0.3, 0.2)
    summary = world.stored_predictions.move_to_training(pid, [(kept.id, [], [box])], [], None)
    ((result),) = summary.images
    assert result.status == "OK" and result.image is not None
    assert [(r.tag_id, r.left) for r in result.image.regions] == [(detector.tag("fork").id, 0.6)]
    assert world.stored_predictions.query(pid, PredictionQuery())[0] == []
