"""Projects: names unique across the service, domains and export platforms checked, newest first,
deletion removes everything the project had."""

from __future__ import annotations

import pytest

from shared.domain.entities import Image, Project
from shared.domain.enums import ClassificationType
from shared.domain.errors import BadRequest, Code, NotFound
from shared.services.image_query import ImageQuery
from shared.services.image_uploads import NewImage
from shared.services.projects import ProjectChanges
from shared.services.tags import TagChanges
from shared.stores import claims
from tests.unit.services.fakes import COMPACT, DETECTION, GENERAL, RacingStore, World, jpeg, refused


def test_a_new_project_has_the_defaults_and_a_trimmed_name(world: World) -> None:
    project = world.projects.create("  Fruit  ", description="apples and pears")
    assert (project.name, project.description) == ("Fruit", "apples and pears")
    assert project.domain_id == GENERAL
    assert project.classification_type is ClassificationType.MULTICLASS
    assert project.target_export_platforms == ()
    assert world.projects.get(project.id.upper()) == world.projects.get(project.id)


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"name": ""}, Code.BAD_REQUEST_PROJECT_NAME),
        ({"name": "   "}, Code.BAD_REQUEST_PROJECT_NAME),
        ({"name": "x" * 257}, Code.BAD_REQUEST_PROJECT_NAME),
        ({"name": "tab\there"}, Code.BAD_REQUEST_PROJECT_NAME),
        ({"name": "ok", "description": "d" * 1025}, Code.BAD_REQUEST_PROJECT_DESCRIPTION),
        ({"name": "ok", "domain_id": "00000000-0000-0000-0000-000000000000"}, Code.BAD_REQUEST_PROJECT_UNKNOWN_DOMAIN),
        ({"name": "ok", "classification_type": "Multiway"}, Code.BAD_REQUEST_PROJECT_UNKNOWN_CLASSIFICATION),
        ({"name": "ok", "target_export_platforms": ["Fax"]}, Code.BAD_REQUEST_PROJECT_UNSUPPORTED_EXPORT_PLATFORM),
        # Only compact domains export.
        ({"name": "ok", "target_export_platforms": ["ONNX"]}, Code.BAD_REQUEST_PROJECT_UNSUPPORTED_EXPORT_PLATFORM),
    ],
)
def test_invalid_projects_are_refused_and_nothing_is_kept(world: World, kwargs: dict[str, object], code: Code) -> None:
    with pytest.raises(BadRequest) as err:
        world.projects.create(**kwargs)  # type: ignore[arg-type]
    assert err.value.code is code
    assert list(world.projects.list()) == []
    assert world.projects.create("ok").name == "ok"  # a refused create claimed no name


def test_export_platforms_are_matched_in_any_casing_once_each_on_a_compact_domain(world: World) -> None:
    project = world.projects.create(
        "Edge", domain_id=COMPACT.upper(), classification_type="multilabel", target_export_platforms=["onnx", "ONNX "]
    )
    assert project.domain_id == COMPACT
    assert project.classification_type is ClassificationType.MULTILABEL
    assert project.target_export_platforms == ("ONNX",)


def test_names_are_unique_in_any_casing(world: World) -> None:
    world.projects.create("Fruit")
    with pytest.raises(BadRequest) as err:
        world.projects.create("FRUIT")
    assert err.value.code is Code.BAD_REQUEST_PROJECT_NAME_NOT_UNIQUE
    assert [p.name for p in world.projects.list()] == ["Fruit"]


def test_a_name_left_claimed_by_a_crash_can_be_taken_again(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    project = world.projects.create("Fruit")
    world.meta.delete(Project.KIND, project.id, project.id)  # as if the process died mid-delete
    monkeypatch.setattr(claims, "CLAIM_GRACE_SECONDS", 0.0)  # once the claim is older than the grace
    assert world.projects.create("fruit").name == "fruit"


def test_renaming_frees_the_old_name(world: World) -> None:
    project = world.projects.create("Old")
    world.projects.update(project.id, ProjectChanges(name="New"))
    world.projects.create("Old")
    with pytest.raises(BadRequest) as err:
        world.projects.create("NEW")
    assert err.value.code is Code.BAD_REQUEST_PROJECT_NAME_NOT_UNIQUE


def test_renaming_to_a_taken_name_is_refused_and_changes_nothing(world: World) -> None:
    world.projects.create("Apples")
    pears = world.projects.create("Pears")
    with pytest.raises(BadRequest) as err:
        world.projects.update(pears.id, ProjectChanges(name="apples", description="changed"))
    assert err.value.code is Code.BAD_REQUEST_PROJECT_NAME_NOT_UNIQUE
    assert world.projects.get(pears.id).name == "Pears"
    assert world.projects.get(pears.id).description == ""
    with pytest.raises(BadRequest):
        world.projects.create("pears")  # still its name


def test_a_project_can_change_the_casing_of_its_own_name(world: World) -> None:
    project = world.projects.create("fruit")
    assert world.projects.update(project.id, ProjectChanges(name="Fruit")).name == "Fruit"
    with pytest.raises(BadRequest):
        world.projects.create("FRUIT")


def test_an_update_changes_only_what_it_names(world: World) -> None:
    project = world.projects.create("Keep", description="as is", classification_type="Multilabel")
    updated = world.projects.update(project.id, ProjectChanges(domain_id=COMPACT, target_export_platforms=["ONNX"]))
    assert (updated.name, updated.description) == ("Keep", "as is")
    assert updated.classification_type is ClassificationType.MULTILABEL
    assert (updated.domain_id, updated.target_export_platforms) == (COMPACT, ("ONNX",))
    assert updated.last_modified >= project.last_modified
    assert world.projects.get(project.id) == updated


def test_a_non_compact_domain_keeps_no_export_platforms(world: World) -> None:
    project = world.projects.create("Edge", domain_id=COMPACT, target_export_platforms=["ONNX"])
    with pytest.raises(BadRequest) as err:
        world.projects.update(project.id, ProjectChanges(domain_id=GENERAL))
    assert err.value.code is Code.BAD_REQUEST_PROJECT_UNSUPPORTED_EXPORT_PLATFORM
    moved = world.projects.update(project.id, ProjectChanges(domain_id=GENERAL, target_export_platforms=[]))
    assert (moved.domain_id, moved.target_export_platforms) == (GENERAL, ())


def test_changing_between_classification_and_detection_is_refused(world: World) -> None:
    project = world.projects.create("Kind")
    with pytest.raises(BadRequest) as err:
        world.projects.update(project.id, ProjectChanges(domain_id=DETECTION))
    assert err.value.code is Code.BAD_REQUEST_PROJECT_UNSUPPORTED_DOMAIN_TYPE_CHANGE
    assert world.projects.get(project.id).domain_id == GENERAL
    renamed = world.tags.update(project.id, world.tags.create(project.id, "a").tag.id, TagChanges(name="b"))
    assert renamed.tag.name == "b"


def test_projects_list_newest_first(world: World) -> None:
    names = [world.projects.create(f"p{i}").name for i in range(5)]
    assert [p.name for p in world.projects.list()] == list(reversed(names))


@pytest.mark.parametrize("ref", ["1b4e28ba-2fa1-11d2-883f-0016d3cca427", "not-a-guid"])
def test_an_unknown_project_is_not_found(world: World, ref: str) -> None:
    with pytest.raises(NotFound) as err:
        world.projects.get(ref)
    assert err.value.code is Code.NOT_FOUND_PROJECT
    assert world.projects.find(ref) is None
    with pytest.raises(NotFound):
        world.projects.update(ref, ProjectChanges(name="x"))
    with pytest.raises(NotFound):
        world.projects.delete(ref)


def test_deleting_a_project_removes_its_images_and_bytes_and_frees_its_name(world: World) -> None:
    project = world.projects.create("Gone")
    tag = world.tags.create(project.id, "t").tag
    image = world.upload(project.id, [NewImage("x", jpeg(30), tag_ids=[tag.id])]).images[0].image
    assert image is not None and world.blobs.exists(image.blob_key)
    world.projects.delete(project.id)
    assert world.meta.count(Image.KIND, project.id) == 0
    assert not world.blobs.exists(image.blob_key)
    with pytest.raises(NotFound):
        world.projects.get(project.id)
    again = world.projects.create("Gone")
    assert world.tags.create(again.id, "t").tag.name == "t"
    assert world.images.count_images(again.id, ImageQuery()) == 0


def test_two_concurrent_creates_of_one_name_make_one_project_when_the_first_claims_before_the_other() -> None:
    store = RacingStore()
    world = World(store)
    store.before_next("create", "projectname", lambda: world.projects.create("Same"))
    with pytest.raises(BadRequest) as err:
        world.projects.create("same")
    assert err.value.code is Code.BAD_REQUEST_PROJECT_NAME_NOT_UNIQUE
    assert [p.name for p in world.projects.list()] == ["Same"]


def test_two_concurrent_creates_of_one_name_make_one_project_when_the_other_claims_second() -> None:
    store = RacingStore()
    world = World(store)
    codes: list[Code] = []
    # The other request arrives after this one claimed the name, before this one writes its project.
    store.before_next("create", Project.KIND, refused(lambda: world.projects.create("Same"), codes))
    mine = world.projects.create("Same")
    assert codes == [Code.BAD_REQUEST_PROJECT_NAME_NOT_UNIQUE]
    assert [p.id for p in world.projects.list()] == [mine.id]
