"""``iterationId`` queries: answered from the iteration's snapshot, whatever the workspace became
since, with the same filters as the workspace's own image queries."""

from __future__ import annotations

import pytest

from shared.domain.enums import TaggingStatus
from shared.domain.errors import Code, NotFound
from shared.domain.labelling import RegionInput
from shared.services.image_query import ImageQuery, MetadataFilter
from shared.services.tags import TagChanges
from tests.unit.services.fakes import DETECTION, Trained, World, jpeg, reddish

UNKNOWN = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"


def test_queries_of_an_iteration_answer_what_it_was_trained_on_after_the_workspace_changed(
    classifier: Trained,
) -> None:
    world, pid, iteration = classifier.world, classifier.project_id, classifier.iteration
    red, green = classifier.tag("red"), classifier.tag("green")
    before = world.snapshot_queries.images(pid, iteration.id, ImageQuery())
    first_red, first_green = classifier.images["red"][0], classifier.images["green"][0]

    world.add(pid, [reddish(20)], [red.id])
    world.labels.add_tags(pid, [(first_red.id, green.id)])
    world.images.delete_images(pid, [first_green.id])
    world.tags.update(pid, red.id, TagChanges(name="scarlet"))
    world.tags.delete(pid, green.id)

    assert world.snapshot_queries.images(pid, iteration.id, ImageQuery()) == before
    assert world.snapshot_queries.count(pid, iteration.id, ImageQuery()) == 10
    assert world.snapshot_queries.count(pid, iteration.id, ImageQuery(tag_ids=(green.id,))) == 5
    (still_red,) = world.snapshot_queries.by_ids(pid, iteration.id, [first_red.id])
    assert still_red.tag_ids == (red.id,)
    assert [(t.tag.name, t.image_count) for t in world.snapshot_queries.tags(pid, iteration.id)] == [
        ("red", 5),
        ("green", 5),
    ]
    assert world.snapshot_queries.tag(pid, iteration.id, green.id.upper()).tag.name == "green"
    assert world.images.count_images(pid, ImageQuery()) == 10  # the workspace did change


def test_by_ids_keeps_the_order_asked_and_leaves_out_images_not_trained_on(classifier: Trained) -> None:
    world, pid, iteration = classifier.world, classifier.project_id, classifier.iteration
    a, b = classifier.images["green"][:2]
    (later,) = world.add(pid, [reddish(20)], [classifier.tag("red").id])
    found = world.snapshot_queries.by_ids(pid, iteration.id, [b.id, later.id, UNKNOWN, a.id.upper()])
    assert [i.id for i in found] == [b.id, a.id]


def test_paging_an_iteration_s_images_sees_each_once_in_order(classifier: Trained) -> None:
    world, pid, iteration = classifier.world, classifier.project_id, classifier.iteration
    pages = [
        world.snapshot_queries.images(pid, iteration.id, ImageQuery(newest_first=False, take=4, skip=skip))
        for skip in (0, 4, 8)
    ]
    assert [len(p) for p in pages] == [4, 4, 2]
    oldest_first = [i.id for page in pages for i in page]
    everything = classifier.images["red"] + classifier.images["green"]  # uploaded in this order
    assert oldest_first == [i.id for i in everything]


def test_a_tag_or_iteration_it_does_not_know_is_not_found(classifier: Trained) -> None:
    world, pid, iteration = classifier.world, classifier.project_id, classifier.iteration
    blue = world.tags.create(pid, "blue").tag  # created after the training
    with pytest.raises(NotFound) as err:
        world.snapshot_queries.tag(pid, iteration.id, blue.id)
    assert err.value.code is Code.NOT_FOUND_TAG
    with pytest.raises(NotFound) as err:
        world.snapshot_queries.images(pid, UNKNOWN, ImageQuery())
    assert err.value.code is Code.NOT_FOUND_ITERATION


def test_an_image_query_selects_in_memory_exactly_what_the_store_selects(world: World) -> None:
    """Snapshot queries filter with ``ImageQuery.page``, the workspace with store conditions: the
    same query must give the same images, in the same order, both ways."""
    project = world.projects.create("Same", domain_id=DETECTION)
    fork = world.tags.create(project.id, "fork").tag
    knife = world.tags.create(project.id, "knife").tag
    spoon = world.tags.create(project.id, "spoon").tag
    box = RegionInput(knife.id, 0.1, 0.1, 0.3, 0.3)
    world.add(project.id, [jpeg(1), jpeg(2)], [fork.id], metadata={"camera": "a", "site": "x"})
    world.add(project.id, [jpeg(3)], [fork.id, spoon.id], metadata={"camera": "b"})
    world.add(project.id, [jpeg(4), jpeg(5)], regions=[box], metadata={"camera": "a", "site": "y"})
    world.add(project.id, [jpeg(6)], [spoon.id], regions=[box])
    world.add(project.id, [jpeg(7), jpeg(8)], metadata={"site": "x"})
    world.add(project.id, [jpeg(9)])
    everything = world.images.list_images(project.id, ImageQuery(take=256))
    assert len(everything) == 9

    camera_a = MetadataFilter(((("camera", "a"),),))
    a_or_b = MetadataFilter(((("camera", "a"), ("camera", "b")),))
    a_and_x = MetadataFilter(((("camera", "a"),), (("site", "x"),)))
    queries = [
        ImageQuery(),
        ImageQuery(newest_first=False),
        ImageQuery(tag_ids=(fork.id,)),
        ImageQuery(tag_ids=(knife.id,)),  # region tags count
        ImageQuery(tag_ids=(fork.id, spoon.id), newest_first=False),
        ImageQuery(tagging=TaggingStatus.TAGGED),
        ImageQuery(tagging=TaggingStatus.UNTAGGED),
        ImageQuery(tag_ids=(fork.id,), tagging=TaggingStatus.UNTAGGED),
        ImageQuery(metadata=camera_a),
        ImageQuery(metadata=a_or_b),
        ImageQuery(metadata=a_and_x),
        ImageQuery(metadata=MetadataFilter(((("site", "x"),),)), tagging=TaggingStatus.UNTAGGED),
        ImageQuery(metadata=camera_a, tag_ids=(knife.id,)),
        ImageQuery(metadata=MetadataFilter(((("camera", "z"),),))),
        ImageQuery(take=3, skip=2),
        ImageQuery(tagging=TaggingStatus.TAGGED, newest_first=False, take=2, skip=1),
        ImageQuery(take=5, skip=8),
    ]
    for query in queries:
        from_store = [i.id for i in world.images.list_images(project.id, query)]
        in_memory = [i.id for i in query.page(everything)]
        assert from_store == in_memory, query
        assert world.images.count_images(project.id, query) == len(query.select(everything)), query
    # and the queries are not trivial: they select different sets
    assert len({tuple(i.id for i in q.page(everything)) for q in queries}) >= 12
