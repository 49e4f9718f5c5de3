"""The services on the in-memory stores: no I/O, real behaviour."""

from __future__ import annotations

import io
from typing import Any

import pytest
from PIL import Image as PILImage

from shared.domain.entities import IMAGE, PROJECT
from shared.domain.errors import BadRequest, Code, NotFound
from shared.services.images import ImageQuery, ImageService, NewImage, RegionInput
from shared.services.projects import ProjectChanges, ProjectService
from shared.services.snapshots import SnapshotStore
from shared.services.tags import TagChanges, TagService
from shared.stores.memory import MemoryBlobStore, MemoryMetadataStore


def jpeg(seed: int, size: tuple[int, int] = (64, 48)) -> bytes:
    out = io.BytesIO()
    PILImage.new("RGB", size, (seed % 256, (seed * 7) % 256, (seed * 13) % 256)).save(out, "JPEG")
    return out.getvalue()


class World:
    def __init__(self, meta: MemoryMetadataStore | None = None) -> None:
        self.meta = meta or MemoryMetadataStore()
        self.blobs = MemoryBlobStore()
        self.projects = ProjectService(self.meta, self.blobs)
        self.tags = TagService(self.meta, self.projects)
        self.images = ImageService(
            self.meta, self.blobs, self.projects, self.tags, SnapshotStore(self.meta, self.blobs)
        )


@pytest.fixture
def world() -> World:
    return World()


def test_a_name_left_claimed_by_a_crash_can_be_taken_again(world: World) -> None:
    project = world.projects.create("Fruit")
    world.meta.delete(PROJECT, project.id, project.id)  # as if the process died mid-delete
    assert world.projects.create("fruit").name == "fruit"


def test_renaming_frees_the_old_name(world: World) -> None:
    project = world.projects.create("Old")
    world.projects.update(project.id, ProjectChanges(name="New"))
    world.projects.create("Old")
    with pytest.raises(BadRequest) as err:
        world.projects.create("NEW")
    assert err.value.code is Code.BAD_REQUEST_PROJECT_NAME_NOT_UNIQUE


def test_projects_list_newest_first(world: World) -> None:
    names = [world.projects.create(f"p{i}").name for i in range(5)]
    assert [p.name for p in world.projects.list()] == list(reversed(names))


def test_upload_dedupes_by_content_and_keeps_the_new_labels(world: World) -> None:
    project = world.projects.create("Dedupe")
    apple = world.tags.create(project.id, "apple").tag
    first = world.images.create_images(project.id, [NewImage('"a.jpg"', jpeg(1))])
    again = world.images.create_images(project.id, [NewImage('"b.jpg"', jpeg(1), tag_ids=[apple.id])])
    assert [r.status for r in first.images + again.images] == ["OK", "OKDuplicate"]
    assert again.is_batch_successful
    (stored,) = world.images.list_images(project.id, ImageQuery())
    assert stored.tag_ids == (apple.id,)


def test_a_mixed_batch_keeps_the_good_images(world: World) -> None:
    project = world.projects.create("Mixed")
    summary = world.images.create_images(
        project.id,
        [NewImage("good", jpeg(2)), NewImage("text", b"hello, not an image"), NewImage("cut", jpeg(3)[:300])],
    )
    assert [r.status for r in summary.images] == ["OK", "ErrorImageFormat", "ErrorImageFormat"]
    assert not summary.is_batch_successful
    assert world.images.count_images(project.id, ImageQuery()) == 1


def test_a_negative_tag_cannot_share_an_image(world: World) -> None:
    project = world.projects.create("Neg")
    negative = world.tags.create(project.id, "none", type="Negative").tag
    apple = world.tags.create(project.id, "apple").tag
    summary = world.images.create_images(project.id, [NewImage("x", jpeg(4), tag_ids=[negative.id, apple.id])])
    assert summary.images[0].status == "ErrorNegativeAndRegularTagOnSameImage"
    image = world.images.create_images(project.id, [NewImage("y", jpeg(5), tag_ids=[negative.id])]).images[0].image
    assert image is not None
    with pytest.raises(BadRequest) as err:
        world.images.add_tags(project.id, [(image.id, apple.id)])
    assert err.value.code is Code.BAD_REQUEST_NEGATIVE_AND_REGULAR_TAG_ON_SAME_IMAGE
    with pytest.raises(BadRequest) as err:
        world.tags.create(project.id, "also none", type="negative")
    assert err.value.code is Code.BAD_REQUEST_MULTIPLE_NEGATIVE_TAG


def test_deleting_a_tag_untags_images_and_their_regions(world: World) -> None:
    project = world.projects.create("Untag")
    fork = world.tags.create(project.id, "fork").tag
    knife = world.tags.create(project.id, "knife").tag
    boxes = [RegionInput(fork.id, 0.1, 0.1, 0.2, 0.2), RegionInput(knife.id, 0.5, 0.5, 0.2, 0.2)]
    world.images.create_images(project.id, [NewImage("x", jpeg(6), regions=boxes)])
    world.tags.delete(project.id, fork.id)
    (image,) = world.images.list_images(project.id, ImageQuery())
    assert [r.tag_id for r in image.regions] == [knife.id]
    with pytest.raises(NotFound):
        world.tags.get(project.id, fork.id)
    assert world.tags.create(project.id, "fork").tag.name == "fork"


class RacingStore(MemoryMetadataStore):
    """Lets another writer change an image between a service's read and its write, once."""

    def __init__(self) -> None:
        super().__init__()
        self.interleave: Any = None

    def replace(self, kind: str, partition: str, doc: dict[str, Any], *, if_match: str | None = None) -> str:
        if kind == IMAGE and self.interleave is not None:
            other, self.interleave = self.interleave, None
            other()
        return super().replace(kind, partition, doc, if_match=if_match)


def test_concurrent_label_changes_are_not_lost() -> None:
    store = RacingStore()
    world = World(store)
    project = world.projects.create("Race")
    apple = world.tags.create(project.id, "apple").tag
    pear = world.tags.create(project.id, "pear").tag
    image = world.images.create_images(project.id, [NewImage("x", jpeg(7))]).images[0].image
    assert image is not None
    store.interleave = lambda: world.images.add_tags(project.id, [(image.id, pear.id)])
    summary = world.images.add_tags(project.id, [(image.id, apple.id)])
    assert summary.created == [(image.id, apple.id)]
    (stored,) = world.images.list_images(project.id, ImageQuery())
    assert set(stored.tag_ids) == {apple.id, pear.id}


def test_regions_report_duplicates_and_paging_sees_every_image_once(world: World) -> None:
    project = world.projects.create("Boxes", domain_id="da2e3a8a-40a5-4171-82f4-58522f70fbc1")
    fork = world.tags.create(project.id, "fork").tag
    ids = [
        r.image.id
        for r in world.images.create_images(project.id, [NewImage(str(i), jpeg(10 + i)) for i in range(7)]).images
        if r.image
    ]
    box = RegionInput(fork.id, 0.1, 0.1, 0.3, 0.3)
    first = world.images.add_regions(project.id, [(ids[0], box)])
    second = world.images.add_regions(project.id, [(ids[0], box)])
    assert len(first.created) == 1 and len(second.duplicated) == 1
    seen = [
        i.id for skip in range(0, 7, 3) for i in world.images.list_images(project.id, ImageQuery(take=3, skip=skip))
    ]
    assert sorted(seen) == sorted(ids)
    tagged = world.images.list_images(project.id, ImageQuery(tagging="Tagged"))
    assert [i.id for i in tagged] == [ids[0]]


def test_deleting_a_project_removes_its_images_and_bytes(world: World) -> None:
    project = world.projects.create("Gone")
    image = world.images.create_images(project.id, [NewImage("x", jpeg(30))]).images[0].image
    assert image is not None and world.blobs.exists(image.blob_key)
    world.projects.delete(project.id)
    assert world.meta.count(IMAGE, project.id) == 0
    assert not world.blobs.exists(image.blob_key)


def test_changing_between_classification_and_detection_is_refused(world: World) -> None:
    project = world.projects.create("Kind")
    with pytest.raises(BadRequest) as err:
        world.projects.update(project.id, ProjectChanges(domain_id="da2e3a8a-40a5-4171-82f4-58522f70fbc1"))
    assert err.value.code is Code.BAD_REQUEST_PROJECT_UNSUPPORTED_DOMAIN_TYPE_CHANGE
    renamed = world.tags.update(project.id, world.tags.create(project.id, "a").tag.id, TagChanges(name="b"))
    assert renamed.tag.name == "b"
