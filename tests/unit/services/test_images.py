"""Training images in the workspace: typed queries, reads, deletion (bytes kept while an iteration
needs them) and the renditions served behind image URIs."""

from __future__ import annotations

import io

import pytest
from PIL import Image as PILImage

from shared.domain.enums import TaggingStatus
from shared.domain.errors import BadRequest, Code, NotFound
from shared.domain.labelling import RegionInput
from shared.services.artifact_keys import image_key
from shared.services.image_query import ImageQuery, MetadataFilter
from tests.unit.services.fakes import DETECTION, World, jpeg, png, red_green_project

UNKNOWN = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"


def test_listing_is_newest_first_or_oldest_first_and_paging_sees_every_image_once(world: World) -> None:
    project = world.projects.create("Boxes", domain_id=DETECTION)
    ids = [i.id for i in world.add(project.id, [jpeg(10 + i) for i in range(7)])]
    newest = [
        i.id for skip in range(0, 7, 3) for i in world.images.list_images(project.id, ImageQuery(take=3, skip=skip))
    ]
    assert newest == list(reversed(ids))
    oldest = world.images.list_images(project.id, ImageQuery(newest_first=False, take=4, skip=2))
    assert [i.id for i in oldest] == ids[2:6]
    assert world.images.list_images(project.id, ImageQuery(skip=7)) == []
    assert world.images.count_images(project.id, ImageQuery(take=1)) == 7


def test_tag_tagging_and_metadata_filters(world: World) -> None:
    project = world.projects.create("Filters", domain_id=DETECTION)
    fork = world.tags.create(project.id, "fork").tag
    knife = world.tags.create(project.id, "knife").tag
    (boxed,) = world.add(project.id, [jpeg(1)], regions=[RegionInput(fork.id, 0.1, 0.1, 0.3, 0.3)])
    (tagged,) = world.add(project.id, [jpeg(2)], [knife.id], metadata={"camera": "a"})
    (plain,) = world.add(project.id, [jpeg(3)], metadata={"camera": "b"})

    def ids(query: ImageQuery) -> set[str]:
        found = {i.id for i in world.images.list_images(project.id, query)}
        assert world.images.count_images(project.id, query) == len(found)
        return found

    assert ids(ImageQuery(tag_ids=(fork.id,))) == {boxed.id}
    assert ids(ImageQuery(tag_ids=(fork.id, knife.id))) == {boxed.id, tagged.id}
    assert ids(ImageQuery(tagging=TaggingStatus.TAGGED)) == {boxed.id, tagged.id}
    assert ids(ImageQuery(tagging=TaggingStatus.UNTAGGED)) == {plain.id}
    assert ids(ImageQuery(metadata=MetadataFilter(((("camera", "b"),),)))) == {plain.id}
    assert ids(ImageQuery(metadata=MetadataFilter(((("camera", "a"), ("camera", "b")),)))) == {tagged.id, plain.id}
    assert ids(ImageQuery(metadata=MetadataFilter(((("camera", "a"),), (("camera", "b"),))))) == set()


def test_images_by_ids_come_in_the_order_asked_and_unknown_ones_are_left_out(world: World) -> None:
    project = world.projects.create("ById")
    a, b, c = world.add(project.id, [jpeg(1), jpeg(2), jpeg(3)])
    found = world.images.images_by_ids(project.id, [c.id.upper(), UNKNOWN, a.id, c.id])
    assert [i.id for i in found] == [c.id, a.id]
    with pytest.raises(BadRequest) as err:
        world.images.images_by_ids(project.id, ["nope"])
    assert err.value.code is Code.BAD_REQUEST_INVALID_IDS
    assert world.images.get_image(project.id, b.id.upper()).id == b.id


def test_an_image_of_another_project_is_not_found(world: World) -> None:
    mine = world.projects.create("Mine")
    theirs = world.projects.create("Theirs")
    (image,) = world.add(theirs.id, [jpeg(1)])
    with pytest.raises(NotFound) as err:
        world.images.get_image(mine.id, image.id)
    assert err.value.code is Code.NOT_FOUND_IMAGE
    assert world.images.images_by_ids(mine.id, [image.id]) == []
    with pytest.raises(NotFound) as err:
        world.images.list_images(UNKNOWN, ImageQuery())
    assert err.value.code is Code.NOT_FOUND_PROJECT


def test_deleting_images_removes_them_and_their_bytes(world: World) -> None:
    project = world.projects.create("Delete")
    a, b, c = world.add(project.id, [jpeg(1), jpeg(2), jpeg(3)])
    world.images.delete_images(project.id, [a.id.upper(), UNKNOWN])
    assert {i.id for i in world.images.list_images(project.id, ImageQuery())} == {b.id, c.id}
    assert not world.blobs.exists(a.blob_key)
    with pytest.raises(NotFound):
        world.images.read_rendition(project.id, a.id, "original")
    world.images.delete_images(project.id, [], all_images=True)
    assert world.images.count_images(project.id, ImageQuery()) == 0
    assert not world.blobs.exists(b.blob_key) and not world.blobs.exists(c.blob_key)


def test_deleting_needs_image_ids_or_all_images(world: World) -> None:
    project = world.projects.create("Delete")
    world.add(project.id, [jpeg(1)])
    with pytest.raises(BadRequest) as err:
        world.images.delete_images(project.id, [])
    assert err.value.code is Code.BAD_REQUEST_REQUIRED_PARAM_IS_NULL
    assert world.images.count_images(project.id, ImageQuery()) == 1


def test_an_image_an_iteration_trained_on_keeps_its_bytes_until_removed_from_the_iterations(world: World) -> None:
    started = red_green_project(world)
    pid, iteration = started.project_id, started.iteration
    image = started.images["red"][0]
    world.images.delete_images(pid, [image.id])
    with pytest.raises(NotFound):
        world.images.get_image(pid, image.id)
    assert [i.id for i in world.snapshot_queries.by_ids(pid, iteration.id, [image.id])] == [image.id]
    assert world.images.read_rendition(pid, image.id, "original")[0] == world.blobs.get(image.blob_key)

    other = started.images["red"][1]
    world.images.delete_images(pid, [other.id], all_iterations=True)
    assert world.snapshot_queries.by_ids(pid, iteration.id, [other.id]) == []
    assert not world.blobs.exists(other.blob_key)
    assert world.snapshot_queries.count(pid, iteration.id, ImageQuery()) == 9  # of 10


def test_removing_from_every_iteration_an_image_already_deleted_from_the_workspace_removes_its_bytes(
    world: World,
) -> None:
    started = red_green_project(world)
    image = started.images["red"][0]
    world.images.delete_images(started.project_id, [image.id])  # kept: the iteration trained on it
    world.images.delete_images(started.project_id, [image.id], all_iterations=True)
    assert world.snapshot_queries.by_ids(started.project_id, started.iteration.id, [image.id]) == []
    assert not world.blobs.exists(image.blob_key)


def test_the_original_is_served_as_uploaded_and_smaller_renditions_as_jpeg(world: World) -> None:
    project = world.projects.create("Renditions")
    data = png((10, 200, 30), size=(600, 300))
    (image,) = world.add(project.id, [data])
    assert world.images.read_rendition(project.id, image.id, "original") == (data, "image/png")
    thumbnail, kind = world.images.read_rendition(project.id, image.id, "thumbnail")
    assert kind == "image/jpeg"
    with PILImage.open(io.BytesIO(thumbnail)) as shown:
        assert (shown.format, shown.size) == ("JPEG", (256, 128))
    resized, _ = world.images.read_rendition(project.id, image.id, "resized")
    with PILImage.open(io.BytesIO(resized)) as shown:
        assert shown.size == (600, 300)  # never upscaled
    assert world.images.read_rendition(project.id, image.id.upper(), "thumbnail")[0] == thumbnail
    assert world.blobs.get(image_key(project.id, image.id, "thumbnail")) == thumbnail  # rendered once, kept
    with pytest.raises(NotFound):
        world.images.read_rendition(project.id, image.id, "poster")
