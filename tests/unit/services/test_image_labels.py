"""Labels on stored images: tags, boxes and metadata in batches, checked before anything is written,
and never lost to a concurrent labeller."""

from __future__ import annotations

import pytest

from shared.domain.entities import Image
from shared.domain.enums import MetadataUpdateStatus
from shared.domain.errors import BadRequest, Code, NotFound
from shared.domain.labelling import RegionInput
from shared.services import image_labels as labels_module
from shared.services.image_query import ImageQuery
from shared.services.image_uploads import NewImage
from tests.unit.services.fakes import DETECTION, RacingStore, World, jpeg

UNKNOWN = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"


def _image(world: World, project_id: str, image_id: str) -> Image:
    return world.images.get_image(project_id, image_id)


def test_adding_tags_reports_created_and_duplicated_pairs(world: World) -> None:
    project = world.projects.create("Tags")
    apple = world.tags.create(project.id, "apple").tag
    pear = world.tags.create(project.id, "pear").tag
    a, b = world.add(project.id, [jpeg(1), jpeg(2)])
    first = world.labels.add_tags(project.id, [(a.id, apple.id), (b.id.upper(), pear.id.upper())])
    assert sorted(first.created) == sorted([(a.id, apple.id), (b.id, pear.id)])
    again = world.labels.add_tags(project.id, [(a.id, apple.id), (a.id, pear.id)])
    assert (again.created, again.duplicated, again.exceeded) == ([(a.id, pear.id)], [(a.id, apple.id)], [])
    assert _image(world, project.id, a.id).tag_ids == (apple.id, pear.id)


def test_an_unknown_tag_or_image_refuses_the_whole_batch(world: World) -> None:
    project = world.projects.create("Refuse")
    apple = world.tags.create(project.id, "apple").tag
    (a,) = world.add(project.id, [jpeg(1)])
    with pytest.raises(NotFound) as err:
        world.labels.add_tags(project.id, [(a.id, apple.id), (a.id, UNKNOWN)])
    assert err.value.code is Code.NOT_FOUND_TAG
    with pytest.raises(NotFound) as err:
        world.labels.add_tags(project.id, [(a.id, apple.id), (UNKNOWN, apple.id)])
    assert err.value.code is Code.NOT_FOUND_IMAGE
    with pytest.raises(BadRequest) as bad:
        world.labels.add_tags(project.id, [(a.id, apple.id)] * 65)
    assert bad.value.code is Code.BAD_REQUEST_EXCEEDED_BATCH_SIZE
    assert _image(world, project.id, a.id).tag_ids == ()


def test_a_negative_tag_cannot_share_an_image(world: World) -> None:
    project = world.projects.create("Neg")
    negative = world.tags.create(project.id, "none", type="Negative").tag
    apple = world.tags.create(project.id, "apple").tag
    (image,) = world.add(project.id, [jpeg(5)], [negative.id])
    (tagged,) = world.add(project.id, [jpeg(6)], [apple.id])
    with pytest.raises(BadRequest) as err:
        world.labels.add_tags(project.id, [(image.id, apple.id)])
    assert err.value.code is Code.BAD_REQUEST_NEGATIVE_AND_REGULAR_TAG_ON_SAME_IMAGE
    with pytest.raises(BadRequest) as err:
        world.labels.add_tags(project.id, [(tagged.id, negative.id)])
    assert err.value.code is Code.BAD_REQUEST_NEGATIVE_AND_REGULAR_TAG_ON_SAME_IMAGE
    with pytest.raises(BadRequest) as err:
        world.labels.add_regions(project.id, [(image.id, RegionInput(apple.id, 0.1, 0.1, 0.2, 0.2))])
    assert err.value.code is Code.BAD_REQUEST_NEGATIVE_AND_REGULAR_TAG_ON_SAME_IMAGE
    assert _image(world, project.id, image.id).tag_ids == (negative.id,)
    assert _image(world, project.id, tagged.id).tag_ids == (apple.id,)


def test_tags_over_the_per_image_limit_are_reported_exceeded(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(labels_module, "MAX_TAGS_PER_IMAGE", 2)
    project = world.projects.create("Limit")
    tags = [world.tags.create(project.id, name).tag for name in "abc"]
    (image,) = world.add(project.id, [jpeg(1)], [tags[0].id])
    summary = world.labels.add_tags(project.id, [(image.id, tags[1].id), (image.id, tags[2].id)])
    assert (summary.created, summary.exceeded) == ([(image.id, tags[1].id)], [(image.id, tags[2].id)])
    assert _image(world, project.id, image.id).tag_ids == (tags[0].id, tags[1].id)


def test_removing_tags_leaves_other_tags_and_skips_unknown_images(world: World) -> None:
    project = world.projects.create("Remove")
    apple = world.tags.create(project.id, "apple").tag
    pear = world.tags.create(project.id, "pear").tag
    a, b = world.add(project.id, [jpeg(1), jpeg(2)], [apple.id, pear.id])
    world.labels.remove_tags(project.id, [a.id, UNKNOWN], [apple.id.upper()])
    assert _image(world, project.id, a.id).tag_ids == (pear.id,)
    assert _image(world, project.id, b.id).tag_ids == (apple.id, pear.id)
    with pytest.raises(BadRequest) as err:
        world.labels.remove_tags(project.id, [a.id], [])
    assert err.value.code is Code.BAD_REQUEST_REQUIRED_PARAM_IS_NULL


def test_concurrent_label_changes_are_not_lost() -> None:
    store = RacingStore()
    world = World(store)
    project = world.projects.create("Race")
    apple = world.tags.create(project.id, "apple").tag
    pear = world.tags.create(project.id, "pear").tag
    (image,) = world.add(project.id, [jpeg(7)])
    store.before_next("replace", Image.KIND, lambda: world.labels.add_tags(project.id, [(image.id, pear.id)]))
    summary = world.labels.add_tags(project.id, [(image.id, apple.id)])
    assert summary.created == [(image.id, apple.id)]
    (stored,) = world.images.list_images(project.id, ImageQuery())
    assert set(stored.tag_ids) == {apple.id, pear.id}


def test_concurrent_boxes_and_metadata_are_not_lost() -> None:
    store = RacingStore()
    world = World(store)
    project = world.projects.create("Race", domain_id=DETECTION)
    fork = world.tags.create(project.id, "fork").tag
    (image,) = world.add(project.id, [jpeg(7)])
    theirs = RegionInput(fork.id, 0.5, 0.5, 0.2, 0.2)
    store.before_next("replace", Image.KIND, lambda: world.labels.add_regions(project.id, [(image.id, theirs)]))
    ours = world.labels.add_regions(project.id, [(image.id, RegionInput(fork.id, 0.1, 0.1, 0.2, 0.2))])
    assert len(ours.created) == 1
    store.before_next("replace", Image.KIND, lambda: world.labels.update_metadata(project.id, [image.id], {"a": "1"}))
    (result,) = world.labels.update_metadata(project.id, [image.id], {"b": "2"})
    assert result.metadata == {"a": "1", "b": "2"}
    stored = _image(world, project.id, image.id)
    assert sorted(r.left for r in stored.regions) == [0.1, 0.5]
    assert stored.metadata == {"a": "1", "b": "2"}


def test_regions_report_duplicates_and_the_negative_tag_cannot_be_drawn(world: World) -> None:
    project = world.projects.create("Boxes", domain_id=DETECTION)
    fork = world.tags.create(project.id, "fork").tag
    negative = world.tags.create(project.id, "none", type="Negative").tag
    (image,) = world.add(project.id, [jpeg(1)])
    box = RegionInput(fork.id, 0.1, 0.1, 0.3, 0.3)
    first = world.labels.add_regions(project.id, [(image.id, box)])
    second = world.labels.add_regions(
        project.id, [(image.id, box), (image.id, RegionInput(fork.id, 0.2, 0.1, 0.3, 0.3))]
    )
    assert len(first.created) == 1 and first.all_created
    assert (len(second.created), second.duplicated, second.all_created) == (1, [(image.id, box)], False)
    assert first.tags[fork.id].name == "fork"
    with pytest.raises(BadRequest) as err:
        world.labels.add_regions(project.id, [(image.id, RegionInput(negative.id, 0.5, 0.5, 0.1, 0.1))])
    assert err.value.code is Code.BAD_REQUEST_IMAGE_REGIONS
    with pytest.raises(BadRequest) as err:
        world.labels.add_regions(project.id, [(image.id, RegionInput(fork.id, 0.5, 0.5, 0.0, 0.1))])
    assert err.value.code is Code.BAD_REQUEST_IMAGE_REGIONS
    with pytest.raises(NotFound) as not_found:
        world.labels.add_regions(project.id, [(image.id, box), (UNKNOWN, box)])
    assert not_found.value.code is Code.NOT_FOUND_IMAGE
    assert len(_image(world, project.id, image.id).regions) == 2


def test_boxes_over_the_per_image_limit_are_reported_exceeded(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(labels_module, "MAX_REGIONS_PER_IMAGE", 1)
    project = world.projects.create("Limit", domain_id=DETECTION)
    fork = world.tags.create(project.id, "fork").tag
    (image,) = world.add(project.id, [jpeg(1)])
    one, two = RegionInput(fork.id, 0.1, 0.1, 0.2, 0.2), RegionInput(fork.id, 0.5, 0.5, 0.2, 0.2)
    summary = world.labels.add_regions(project.id, [(image.id, one), (image.id, two)])
    assert (len(summary.created), summary.exceeded) == (1, [(image.id, two)])


def test_removing_regions_by_id(world: World) -> None:
    project = world.projects.create("Unbox", domain_id=DETECTION)
    fork = world.tags.create(project.id, "fork").tag
    boxes = [RegionInput(fork.id, 0.1, 0.1, 0.2, 0.2), RegionInput(fork.id, 0.5, 0.5, 0.2, 0.2)]
    a, b = world.add(project.id, [jpeg(1), jpeg(2)], regions=boxes)
    world.labels.remove_regions(project.id, [a.regions[0].id, b.regions[1].id.upper(), UNKNOWN])
    assert [r.id for r in _image(world, project.id, a.id).regions] == [a.regions[1].id]
    assert [r.id for r in _image(world, project.id, b.id).regions] == [b.regions[0].id]
    world.labels.remove_regions(project.id, [a.regions[1].id])
    assert world.images.count_images(project.id, ImageQuery(tag_ids=(fork.id,))) == 1
    with pytest.raises(BadRequest) as err:
        world.labels.remove_regions(project.id, [])
    assert err.value.code is Code.BAD_REQUEST_REQUIRED_PARAM_IS_NULL


def test_metadata_is_merged_per_image_with_a_status_each(world: World) -> None:
    project = world.projects.create("Meta")
    a, b = world.add(project.id, [jpeg(1), jpeg(2)], metadata={"camera": "a"})
    world.labels.update_metadata(project.id, [b.id], {f"k{n}": "v" for n in range(9)})  # 10 pairs: full
    results = world.labels.update_metadata(project.id, [a.id, b.id, UNKNOWN], {"camera": "b", "site": "x"})
    assert [(r.image_id, r.status) for r in results] == [
        (a.id, MetadataUpdateStatus.OK),
        (b.id, MetadataUpdateStatus.ERROR_LIMIT_EXCEED),
        (UNKNOWN, MetadataUpdateStatus.ERROR_IMAGE_NOT_FOUND),
    ]
    assert results[0].metadata == {"camera": "b", "site": "x"}
    assert _image(world, project.id, a.id).metadata == {"camera": "b", "site": "x"}
    assert len(_image(world, project.id, b.id).metadata) == 10 and results[1].metadata is not None
    assert _image(world, project.id, b.id).metadata["camera"] == "a"
    with pytest.raises(BadRequest) as err:
        world.labels.update_metadata(project.id, [], {"a": "b"})
    assert err.value.code is Code.BAD_REQUEST_REQUIRED_PARAM_IS_NULL
    with pytest.raises(BadRequest) as err:
        world.labels.update_metadata(project.id, [a.id], {"a": "v" * 257})
    assert err.value.code is Code.BAD_REQUEST_IMAGE_METADATA_VALUE


def test_labels_of_an_unknown_project_are_not_found(world: World) -> None:
    with pytest.raises(NotFound) as err:
        world.labels.add_tags(UNKNOWN, [(UNKNOWN, UNKNOWN)])
    assert err.value.code is Code.NOT_FOUND_PROJECT
    with pytest.raises(NotFound):
        world.upload(UNKNOWN, [NewImage("a", jpeg(1))])
