"""Tags: names unique in their project, one Negative tag at most, image counts, and deletion that
untags every image."""

from __future__ import annotations

import pytest

from shared.domain.entities import Tag
from shared.domain.enums import TagType
from shared.domain.errors import BadRequest, Code, NotFound
from shared.domain.labelling import RegionInput
from shared.services import tags as tags_module
from shared.services.image_query import ImageQuery
from shared.services.image_uploads import NewImage
from shared.services.tags import TagChanges
from tests.unit.services.fakes import RacingStore, World, jpeg, refused


def test_tags_list_oldest_first_with_their_image_counts(world: World) -> None:
    project = world.projects.create("Fruit")
    apple = world.tags.create(project.id, " apple ", description="red or green").tag
    pear = world.tags.create(project.id, "pear").tag
    box = RegionInput(pear.id, 0.1, 0.1, 0.5, 0.5)
    world.add(project.id, [jpeg(1), jpeg(2)], [apple.id])
    world.add(project.id, [jpeg(3)], regions=[box])  # a box counts as the tag
    listed = world.tags.list(project.id)
    assert [(t.tag.name, t.image_count) for t in listed] == [("apple", 2), ("pear", 1)]
    assert (apple.description, apple.type) == ("red or green", TagType.REGULAR)
    assert world.tags.get(project.id, pear.id.upper()).image_count == 1


@pytest.mark.parametrize(
    ("name", "type_", "code"),
    [
        ("", None, Code.BAD_REQUEST_TAG_NAME),
        ("x" * 257, None, Code.BAD_REQUEST_TAG_NAME),
        ("ok", "Positive", Code.BAD_REQUEST_TAG_TYPE),
    ],
)
def test_invalid_tags_are_refused(world: World, name: str, type_: str | None, code: Code) -> None:
    project = world.projects.create("P")
    with pytest.raises(BadRequest) as err:
        world.tags.create(project.id, name, type=type_)
    assert err.value.code is code
    assert world.tags.list(project.id) == []


def test_names_are_unique_in_a_project_in_any_casing_but_not_across_projects(world: World) -> None:
    first = world.projects.create("First")
    second = world.projects.create("Second")
    world.tags.create(first.id, "Apple")
    with pytest.raises(BadRequest) as err:
        world.tags.create(first.id, "APPLE")
    assert err.value.code is Code.BAD_REQUEST_TAG_NAME_NOT_UNIQUE
    assert world.tags.create(second.id, "apple").tag.name == "apple"


def test_a_project_has_at_most_one_negative_tag(world: World) -> None:
    project = world.projects.create("Neg")
    negative = world.tags.create(project.id, "none", type="negative").tag
    assert negative.type is TagType.NEGATIVE
    regular = world.tags.create(project.id, "apple").tag
    with pytest.raises(BadRequest) as err:
        world.tags.create(project.id, "also none", type="Negative")
    assert err.value.code is Code.BAD_REQUEST_MULTIPLE_NEGATIVE_TAG
    with pytest.raises(BadRequest) as err:
        world.tags.update(project.id, regular.id, TagChanges(type="Negative"))
    assert err.value.code is Code.BAD_REQUEST_MULTIPLE_NEGATIVE_TAG
    assert world.tags.get(project.id, regular.id).tag.type is TagType.REGULAR
    # The Negative tag itself may still be renamed (it stays the one Negative tag).
    assert world.tags.update(project.id, negative.id, TagChanges(name="nothing")).tag.type is TagType.NEGATIVE


def test_the_one_negative_tag_may_be_any_tag_and_become_regular_again(world: World) -> None:
    project = world.projects.create("Neg")
    apple = world.tags.create(project.id, "apple").tag
    pear = world.tags.create(project.id, "pear").tag
    assert world.tags.update(project.id, apple.id, TagChanges(type="Negative")).tag.type is TagType.NEGATIVE
    world.tags.update(project.id, apple.id, TagChanges(type="Regular"))
    assert world.tags.update(project.id, pear.id, TagChanges(type="Negative")).tag.type is TagType.NEGATIVE
    with pytest.raises(BadRequest) as err:
        world.tags.update(project.id, apple.id, TagChanges(type="Sometimes"))
    assert err.value.code is Code.BAD_REQUEST_TAG_TYPE
    with pytest.raises(BadRequest) as err:
        world.tags.update(project.id, apple.id, TagChanges(description="d" * 1025))
    assert err.value.code is Code.BAD_REQUEST_TAG_DESCRIPTION


def test_renaming_frees_the_old_name_and_a_taken_name_is_refused(world: World) -> None:
    project = world.projects.create("P")
    apple = world.tags.create(project.id, "apple").tag
    pear = world.tags.create(project.id, "pear").tag
    renamed = world.tags.update(project.id, apple.id, TagChanges(name="green apple", description="sour"))
    assert (renamed.tag.name, renamed.tag.description) == ("green apple", "sour")
    assert world.tags.create(project.id, "apple").tag.name == "apple"
    with pytest.raises(BadRequest) as err:
        world.tags.update(project.id, pear.id, TagChanges(name="Green Apple"))
    assert err.value.code is Code.BAD_REQUEST_TAG_NAME_NOT_UNIQUE
    assert world.tags.get(project.id, pear.id).tag.name == "pear"
    with pytest.raises(BadRequest):
        world.tags.create(project.id, "pear")  # the refused rename kept pear's name claimed


def test_a_project_has_a_tag_limit(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tags_module, "MAX_TAGS_PER_PROJECT", 2)
    project = world.projects.create("Few")
    world.tags.create(project.id, "a")
    world.tags.create(project.id, "b")
    with pytest.raises(BadRequest) as err:
        world.tags.create(project.id, "c")
    assert err.value.code is Code.BAD_REQUEST_EXCEED_TAG_PER_PROJECT_LIMIT
    assert [t.tag.name for t in world.tags.list(project.id)] == ["a", "b"]


def test_unknown_tags_and_projects_are_not_found(world: World) -> None:
    project = world.projects.create("P")
    with pytest.raises(NotFound) as err:
        world.tags.get(project.id, "1b4e28ba-2fa1-11d2-883f-0016d3cca427")
    assert err.value.code is Code.NOT_FOUND_TAG
    with pytest.raises(NotFound) as err:
        world.tags.update(project.id, "1b4e28ba-2fa1-11d2-883f-0016d3cca427", TagChanges(name="x"))
    assert err.value.code is Code.NOT_FOUND_TAG
    with pytest.raises(NotFound) as err:
        world.tags.create("1b4e28ba-2fa1-11d2-883f-0016d3cca427", "x")
    assert err.value.code is Code.NOT_FOUND_PROJECT


def test_a_tag_of_another_project_is_not_found(world: World) -> None:
    mine = world.projects.create("Mine")
    theirs = world.projects.create("Theirs")
    tag = world.tags.create(theirs.id, "secret").tag
    with pytest.raises(NotFound):
        world.tags.get(mine.id, tag.id)
    with pytest.raises(NotFound):
        world.tags.delete(mine.id, tag.id)
    assert world.tags.get(theirs.id, tag.id).tag.name == "secret"


def test_deleting_a_tag_untags_images_and_their_regions(world: World) -> None:
    project = world.projects.create("Untag")
    fork = world.tags.create(project.id, "fork").tag
    knife = world.tags.create(project.id, "knife").tag
    boxes = [RegionInput(fork.id, 0.1, 0.1, 0.2, 0.2), RegionInput(knife.id, 0.5, 0.5, 0.2, 0.2)]
    world.upload(project.id, [NewImage("x", jpeg(6), regions=boxes), NewImage("y", jpeg(7), tag_ids=[fork.id])])
    world.tags.delete(project.id, fork.id)
    images = world.images.list_images(project.id, ImageQuery())
    assert sorted([r.tag_id for r in i.regions] for i in images) == [[], [knife.id]]
    assert all(fork.id not in i.tag_ids for i in images)
    assert world.images.count_images(project.id, ImageQuery(tag_ids=(fork.id,))) == 0
    with pytest.raises(NotFound):
        world.tags.get(project.id, fork.id)
    assert world.tags.create(project.id, "fork").tag.name == "fork"
    assert [t.tag.name for t in world.tags.list(project.id)] == ["knife", "fork"]


def test_two_concurrent_creates_of_one_tag_name_make_one_tag() -> None:
    store = RacingStore()
    world = World(store)
    project = world.projects.create("P")
    codes: list[Code] = []
    # The other request arrives after this one claimed the name, before this one writes its tag.
    store.before_next("create", Tag.KIND, refused(lambda: world.tags.create(project.id, "apple"), codes))
    mine = world.tags.create(project.id, "apple").tag
    assert codes == [Code.BAD_REQUEST_TAG_NAME_NOT_UNIQUE]
    assert [t.tag.id for t in world.tags.list(project.id)] == [mine.id]
