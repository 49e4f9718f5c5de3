"""Labelling stored images through the official SDK: image tags, regions, metadata, and deletion."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from azure.cognitiveservices.vision.customvision.training import CustomVisionTrainingClient
from azure.cognitiveservices.vision.customvision.training.models import (
    Image,
    ImageFileCreateBatch,
    ImageFileCreateEntry,
    ImageRegionCreateEntry,
    ImageTagCreateEntry,
)

from tests.sdk.helpers import GENERAL_DETECTION, cv_error, unique


def _upload(client: CustomVisionTrainingClient, project_id: str, paths: list[Path]) -> list[str]:
    entries = [ImageFileCreateEntry(name=p.name, contents=p.read_bytes()) for p in paths]
    result = client.create_images_from_files(project_id, ImageFileCreateBatch(images=entries))
    assert result.is_batch_successful
    return [i.image.id for i in result.images]


def _image(client: CustomVisionTrainingClient, project_id: str, image_id: str) -> Image:
    [image] = client.get_images_by_ids(project_id, image_ids=[image_id])
    return image


# -- image tags -----------------------------------------------------------------------------------


def test_create_and_delete_image_tags(client: CustomVisionTrainingClient, hemlock_images: list[Path]) -> None:
    project = client.create_project(unique("Image tags"))
    tree = client.create_tag(project.id, "Tree")
    conifer = client.create_tag(project.id, "Conifer")
    ids = _upload(client, project.id, hemlock_images[:3])
    assert client.get_untagged_image_count(project.id) == 3

    entries = [ImageTagCreateEntry(image_id=i, tag_id=tree.id) for i in ids]
    entries.append(ImageTagCreateEntry(image_id=ids[0], tag_id=conifer.id))
    summary = client.create_image_tags(project.id, tags=entries)

    assert sorted((e.image_id, e.tag_id) for e in summary.created) == sorted((e.image_id, e.tag_id) for e in entries)
    assert not summary.duplicated
    assert not summary.exceeded
    assert client.get_tagged_image_count(project.id) == 3
    assert client.get_untagged_image_count(project.id) == 0
    assert {t.name: t.image_count for t in client.get_tags(project.id)} == {"Tree": 3, "Conifer": 1}
    assert {t.tag_name for t in _image(client, project.id, ids[0]).tags} == {"Tree", "Conifer"}

    # Tagging again reports duplicates and changes nothing.
    again = client.create_image_tags(project.id, tags=entries[:2])
    assert not again.created
    assert sorted((e.image_id, e.tag_id) for e in again.duplicated) == sorted(
        (e.image_id, e.tag_id) for e in entries[:2]
    )
    assert client.get_tag(project.id, tree.id).image_count == 3

    assert client.delete_image_tags(project.id, image_ids=ids[:2], tag_ids=[tree.id]) is None
    assert client.get_tag(project.id, tree.id).image_count == 1
    assert {t.tag_name for t in _image(client, project.id, ids[0]).tags} == {"Conifer"}
    assert not _image(client, project.id, ids[1]).tags
    assert client.get_untagged_image_count(project.id) == 1
    assert [i.id for i in client.get_untagged_images(project.id)] == [ids[1]]


def test_create_image_tags_with_unknown_tag_or_image(
    client: CustomVisionTrainingClient, hemlock_images: list[Path]
) -> None:
    project = client.create_project(unique("Bad image tags"))
    tag = client.create_tag(project.id, "Tree")
    [image_id] = _upload(client, project.id, hemlock_images[:1])

    with cv_error("NotFoundTag", 404):
        client.create_image_tags(project.id, tags=[ImageTagCreateEntry(image_id=image_id, tag_id=str(uuid.uuid4()))])
    with cv_error("NotFoundImage", 404):
        client.create_image_tags(project.id, tags=[ImageTagCreateEntry(image_id=str(uuid.uuid4()), tag_id=tag.id)])
    assert client.get_tagged_image_count(project.id) == 0


def test_negative_tag_cannot_join_a_regular_tag(client: CustomVisionTrainingClient, hemlock_images: list[Path]) -> None:
    project = client.create_project(unique("Negative image tags"))
    negative = client.create_tag(project.id, "Negative", type="Negative")
    tree = client.create_tag(project.id, "Tree")
    [image_id] = _upload(client, project.id, hemlock_images[:1])
    client.create_image_tags(project.id, tags=[ImageTagCreateEntry(image_id=image_id, tag_id=tree.id)])

    with cv_error("BadRequestNegativeAndRegularTagOnSameImage", 400):
        client.create_image_tags(project.id, tags=[ImageTagCreateEntry(image_id=image_id, tag_id=negative.id)])
    assert [t.tag_id for t in _image(client, project.id, image_id).tags] == [tree.id]


# -- regions --------------------------------------------------------------------------------------


def test_create_and_delete_image_regions(
    client: CustomVisionTrainingClient,
    detection_images_dir: Path,
    detection_regions: dict[str, dict[str, float | str]],
) -> None:
    project = client.create_project(unique("Regions"), domain_id=GENERAL_DETECTION)
    fork = client.create_tag(project.id, "fork")
    scissors = client.create_tag(project.id, "scissors")
    keys = ["fork/fork_1.jpg", "fork/fork_2.jpg", "scissors/scissors_1.jpg"]
    ids = _upload(client, project.id, [detection_images_dir / k for k in keys])
    tags = {"fork": fork, "scissors": scissors}

    entries = []
    for key, image_id in zip(keys, ids, strict=True):
        box = detection_regions[key]
        entries.append(
            ImageRegionCreateEntry(
                image_id=image_id,
                tag_id=tags[str(box["tag"])].id,
                left=box["left"],
                top=box["top"],
                width=box["width"],
                height=box["height"],
            )
        )
    # A second box on the first image.
    entries.append(ImageRegionCreateEntry(image_id=ids[0], tag_id=fork.id, left=0.0, top=0.0, width=0.1, height=0.1))
    summary = client.create_image_regions(project.id, regions=entries)

    assert len(summary.created) == 4
    assert not summary.duplicated
    assert not summary.exceeded
    for made, asked in zip(
        sorted(summary.created, key=lambda r: (r.image_id, r.left)),
        sorted(entries, key=lambda r: (r.image_id, r.left)),
        strict=True,
    ):
        assert made.region_id
        assert (made.image_id, made.tag_id) == (asked.image_id, asked.tag_id)
        assert made.tag_name == ("fork" if asked.tag_id == fork.id else "scissors")
        assert (made.left, made.top, made.width, made.height) == pytest.approx(
            (asked.left, asked.top, asked.width, asked.height), abs=1e-6
        )
    assert len({r.region_id for r in summary.created}) == 4

    first = _image(client, project.id, ids[0])
    assert sorted(r.region_id for r in first.regions) == sorted(
        r.region_id for r in summary.created if r.image_id == ids[0]
    )
    assert {t.name: t.image_count for t in client.get_tags(project.id)} == {"fork": 2, "scissors": 1}
    assert client.get_tagged_image_count(project.id) == 3

    # The same box again is a duplicate, not a second region.
    again = client.create_image_regions(project.id, regions=entries[:1])
    assert not again.created
    assert [(d.image_id, d.tag_id) for d in again.duplicated] == [(ids[0], fork.id)]
    assert len(_image(client, project.id, ids[0]).regions) == 2

    small = next(r for r in summary.created if r.image_id == ids[0] and r.width == pytest.approx(0.1))
    scissors_region = next(r for r in summary.created if r.image_id == ids[2])
    assert client.delete_image_regions(project.id, region_ids=[small.region_id, scissors_region.region_id]) is None
    assert [r.region_id for r in _image(client, project.id, ids[0]).regions] == [
        r.region_id for r in summary.created if r.image_id == ids[0] and r.region_id != small.region_id
    ]
    assert not _image(client, project.id, ids[2]).regions
    assert client.get_tag(project.id, scissors.id).image_count == 0
    assert client.get_untagged_image_count(project.id) == 1


def test_create_image_regions_outside_the_image(client: CustomVisionTrainingClient, detection_images_dir: Path) -> None:
    project = client.create_project(unique("Bad regions"), domain_id=GENERAL_DETECTION)
    fork = client.create_tag(project.id, "fork")
    [image_id] = _upload(client, project.id, [detection_images_dir / "fork" / "fork_3.jpg"])

    with cv_error("BadRequestImageRegions", 400):
        client.create_image_regions(
            project.id,
            regions=[
                ImageRegionCreateEntry(image_id=image_id, tag_id=fork.id, left=0.7, top=0.2, width=0.6, height=0.2)
            ],
        )
    with cv_error("NotFoundTag", 404):
        client.create_image_regions(
            project.id,
            regions=[
                ImageRegionCreateEntry(
                    image_id=image_id, tag_id=str(uuid.uuid4()), left=0.1, top=0.1, width=0.2, height=0.2
                )
            ],
        )
    assert not _image(client, project.id, image_id).regions


def test_deleting_a_tag_removes_its_regions(client: CustomVisionTrainingClient, detection_images_dir: Path) -> None:
    project = client.create_project(unique("Drop region tag"), domain_id=GENERAL_DETECTION)
    fork = client.create_tag(project.id, "fork")
    spoon = client.create_tag(project.id, "spoon")
    [image_id] = _upload(client, project.id, [detection_images_dir / "fork" / "fork_4.jpg"])
    client.create_image_regions(
        project.id,
        regions=[
            ImageRegionCreateEntry(image_id=image_id, tag_id=fork.id, left=0.1, top=0.1, width=0.3, height=0.3),
            ImageRegionCreateEntry(image_id=image_id, tag_id=spoon.id, left=0.5, top=0.5, width=0.3, height=0.3),
        ],
    )

    client.delete_tag(project.id, fork.id)

    regions = _image(client, project.id, image_id).regions
    assert [(r.tag_id, r.tag_name) for r in regions] == [(spoon.id, "spoon")]
    client.delete_tag(project.id, spoon.id)
    assert not _image(client, project.id, image_id).regions
    assert client.get_untagged_image_count(project.id) == 1


# -- metadata -------------------------------------------------------------------------------------


def test_update_image_metadata_merges(client: CustomVisionTrainingClient, hemlock_images: list[Path]) -> None:
    project = client.create_project(unique("Metadata"))
    ids = _upload(client, project.id, hemlock_images[:2])

    first = client.update_image_metadata(project.id, ids, {"camera": "x100", "site": "kyoto"})
    assert first.is_batch_successful is True
    assert sorted((i.image_id, i.status) for i in first.images) == sorted((i, "OK") for i in ids)

    second = client.update_image_metadata(project.id, ids[:1], {"site": "nara", "season": "spring"})
    assert second.is_batch_successful is True
    [entry] = second.images
    assert entry.metadata == {"camera": "x100", "site": "nara", "season": "spring"}
    assert _image(client, project.id, ids[0]).metadata == {
        "camera": "x100",
        "site": "nara",
        "season": "spring",
    }
    assert _image(client, project.id, ids[1]).metadata == {"camera": "x100", "site": "kyoto"}


def test_update_image_metadata_limits_and_unknown_images(
    client: CustomVisionTrainingClient, hemlock_images: list[Path]
) -> None:
    project = client.create_project(unique("Metadata limits"))
    ids = _upload(client, project.id, hemlock_images[:2])
    ten = {f"key{n}": str(n) for n in range(10)}
    assert client.update_image_metadata(project.id, ids[:1], ten).is_batch_successful

    # An 11th key on the full image fails for that image only (a 207, which the SDK accepts).
    result = client.update_image_metadata(project.id, ids, {"eleventh": "x"})
    assert result.is_batch_successful is False
    statuses = {i.image_id: i.status for i in result.images}
    assert statuses == {ids[0]: "ErrorLimitExceed", ids[1]: "OK"}
    assert _image(client, project.id, ids[0]).metadata == ten
    assert _image(client, project.id, ids[1]).metadata == {"eleventh": "x"}
    # Changing an existing key of the full image is fine.
    assert client.update_image_metadata(project.id, ids[:1], {"key0": "changed"}).is_batch_successful

    missing = str(uuid.uuid4())
    unknown = client.update_image_metadata(project.id, [missing, ids[1]], {"k": "v"})
    assert unknown.is_batch_successful is False
    assert {i.image_id: i.status for i in unknown.images} == {missing: "ErrorImageNotFound", ids[1]: "OK"}

    with cv_error("BadRequestImageMetadataValue", 400):
        client.update_image_metadata(project.id, ids[1:], {"k": "v" * 257})
    # More than 10 pairs in one request is refused outright.
    with cv_error("BadRequestImageMetadataKey", 400):
        client.update_image_metadata(project.id, ids[1:], {f"k{n}": "v" for n in range(11)})


# -- deleting images ------------------------------------------------------------------------------


def test_delete_images_by_id_and_all(
    client: CustomVisionTrainingClient, hemlock_images: list[Path], cherry_images: list[Path]
) -> None:
    project = client.create_project(unique("Delete images"))
    tag = client.create_tag(project.id, "Tree")
    ids = _upload(client, project.id, hemlock_images[:3] + cherry_images[:3])
    client.create_image_tags(project.id, tags=[ImageTagCreateEntry(image_id=i, tag_id=tag.id) for i in ids[:4]])

    assert client.delete_images(project.id, image_ids=ids[:2]) is None

    assert client.get_image_count(project.id) == 4
    assert client.get_images_by_ids(project.id, image_ids=ids[:2]) == []
    assert {i.id for i in client.get_images(project.id)} == set(ids[2:])
    assert client.get_tag(project.id, tag.id).image_count == 2

    # The same picture can be uploaded again after its deletion.
    result = client.create_images_from_data(project.id, hemlock_images[0].read_bytes())
    assert [i.status for i in result.images] == ["OK"]
    assert client.get_image_count(project.id) == 5

    assert client.delete_images(project.id, all_images=True) is None
    assert client.get_image_count(project.id) == 0
    assert client.get_images(project.id) == []
    assert client.get_tag(project.id, tag.id).image_count == 0
    # Tags survive the images.
    assert [t.id for t in client.get_tags(project.id)] == [tag.id]


def test_delete_images_of_unknown_project(client: CustomVisionTrainingClient) -> None:
    with cv_error("NotFoundProject", 404):
        client.delete_images(str(uuid.uuid4()), all_images=True)
