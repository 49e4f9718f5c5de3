"""Listing, counting, filtering and paging images, and fetching their URIs, through the official SDK."""

from __future__ import annotations

import io
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from azure.cognitiveservices.vision.customvision.training import CustomVisionTrainingClient
from azure.cognitiveservices.vision.customvision.training.models import (
    ImageFileCreateBatch,
    ImageFileCreateEntry,
)
from PIL import Image

from tests.conftest import SAMPLES
from tests.sdk.helpers import cv_error, unique
from tests.servers import RunningServer

TEST_IMAGE = SAMPLES / "ImageClassification" / "Images" / "Test" / "test_image.jpg"
FORK_IMAGE = SAMPLES / "ObjectDetection" / "Images" / "fork" / "fork_1.jpg"


@dataclass(frozen=True)
class Gallery:
    project_id: str
    hemlock_tag: str
    cherry_tag: str
    hemlock_ids: list[str]
    cherry_ids: list[str]
    untagged_ids: list[str]
    files: dict[str, Path]  # image id -> the file uploaded

    @property
    def all_ids(self) -> set[str]:
        return {*self.hemlock_ids, *self.cherry_ids, *self.untagged_ids}


@pytest.fixture(scope="module")
def gallery(client: CustomVisionTrainingClient, hemlock_images: list[Path], cherry_images: list[Path]) -> Gallery:
    """The quickstart's 10 Hemlock + 10 Japanese Cherry, then 2 untagged images, uploaded in that order."""
    project = client.create_project(unique("Gallery"))
    hemlock = client.create_tag(project.id, "Hemlock")
    cherry = client.create_tag(project.id, "Japanese Cherry")
    files: dict[str, Path] = {}

    def upload(paths: list[Path], tag_id: str) -> list[str]:
        entries = [ImageFileCreateEntry(name=p.name, contents=p.read_bytes(), tag_ids=[tag_id]) for p in paths]
        result = client.create_images_from_files(project.id, ImageFileCreateBatch(images=entries))
        assert result.is_batch_successful
        files.update({i.image.id: p for i, p in zip(result.images, paths, strict=True)})
        return [i.image.id for i in result.images]

    hemlock_ids = upload(hemlock_images, hemlock.id)
    cherry_ids = upload(cherry_images, cherry.id)
    untagged_ids = []
    for path in (TEST_IMAGE, FORK_IMAGE):
        with open(path, "rb") as image_contents:
            result = client.create_images_from_data(project.id, image_contents.read())
        untagged_ids.append(result.images[0].image.id)
        files[result.images[0].image.id] = path
    return Gallery(project.id, hemlock.id, cherry.id, hemlock_ids, cherry_ids, untagged_ids, files)


def test_counts_are_bare_integers(client: CustomVisionTrainingClient, gallery: Gallery) -> None:
    pid = gallery.project_id
    assert client.get_image_count(pid) == 22
    assert client.get_tagged_image_count(pid) == 20
    assert client.get_untagged_image_count(pid) == 2
    assert client.get_tagged_image_count(pid, tag_ids=[gallery.hemlock_tag]) == 10
    assert client.get_tagged_image_count(pid, tag_ids=[gallery.hemlock_tag, gallery.cherry_tag]) == 20
    assert client.get_image_count(pid, tag_ids=[gallery.cherry_tag]) == 10
    assert client.get_image_count(pid, tagging_status="Untagged") == 2
    assert client.get_image_count(pid, tagging_status="Tagged") == 20
    assert isinstance(client.get_image_count(pid), int)


def test_get_images_lists_newest_first_by_default(client: CustomVisionTrainingClient, gallery: Gallery) -> None:
    newest = client.get_images(gallery.project_id)
    explicit = client.get_images(gallery.project_id, order_by="Newest")
    oldest = client.get_images(gallery.project_id, order_by="Oldest")

    assert len(newest) == 22
    assert {i.id for i in newest} == gallery.all_ids
    created = [i.created for i in newest]
    assert created == sorted(created, reverse=True)
    assert [i.id for i in explicit] == [i.id for i in newest]
    assert [i.id for i in oldest] == [i.id for i in reversed(newest)]
    # Upload order shows through: the untagged pair came last, the hemlock batch first.
    assert {i.id for i in newest[:2]} == set(gallery.untagged_ids)
    assert {i.id for i in oldest[:10]} == set(gallery.hemlock_ids)


def test_images_carry_their_tags_and_sizes(client: CustomVisionTrainingClient, gallery: Gallery) -> None:
    for image in client.get_images(gallery.project_id):
        with Image.open(gallery.files[image.id]) as img:
            assert (image.width, image.height) == img.size
        if image.id in gallery.hemlock_ids:
            assert [(t.tag_id, t.tag_name) for t in image.tags] == [(gallery.hemlock_tag, "Hemlock")]
        elif image.id in gallery.cherry_ids:
            assert [(t.tag_id, t.tag_name) for t in image.tags] == [(gallery.cherry_tag, "Japanese Cherry")]
        else:
            assert not image.tags


@pytest.mark.parametrize("order_by", [None, "Oldest"])
def test_take_and_skip_page_through_every_image_once(
    client: CustomVisionTrainingClient, gallery: Gallery, order_by: str | None
) -> None:
    whole = [i.id for i in client.get_images(gallery.project_id, order_by=order_by, take=256)]
    pages = []
    for skip in range(0, 28, 7):
        page = client.get_images(gallery.project_id, order_by=order_by, take=7, skip=skip)
        assert len(page) == min(7, max(0, 22 - skip))
        pages.extend(i.id for i in page)
    assert pages == whole
    assert len(set(pages)) == 22
    assert client.get_images(gallery.project_id, take=0) == []
    assert client.get_images(gallery.project_id, skip=22) == []


def test_tagged_images_filter_with_or_semantics(client: CustomVisionTrainingClient, gallery: Gallery) -> None:
    pid = gallery.project_id
    hemlock = client.get_tagged_images(pid, tag_ids=[gallery.hemlock_tag])
    both = client.get_tagged_images(pid, tag_ids=[gallery.hemlock_tag, gallery.cherry_tag])
    every_tagged = client.get_tagged_images(pid)

    assert {i.id for i in hemlock} == set(gallery.hemlock_ids)
    assert {i.id for i in both} == {*gallery.hemlock_ids, *gallery.cherry_ids}
    assert {i.id for i in every_tagged} == {*gallery.hemlock_ids, *gallery.cherry_ids}
    assert {i.id for i in client.get_images(pid, tag_ids=[gallery.cherry_tag])} == set(gallery.cherry_ids)
    paged = client.get_tagged_images(pid, tag_ids=[gallery.cherry_tag], order_by="Oldest", take=4, skip=8)
    assert len(paged) == 2


def test_untagged_images(client: CustomVisionTrainingClient, gallery: Gallery) -> None:
    untagged = client.get_untagged_images(gallery.project_id)
    assert {i.id for i in untagged} == set(gallery.untagged_ids)
    assert all(not i.tags for i in untagged)
    by_status = client.get_images(gallery.project_id, tagging_status="Untagged")
    assert [i.id for i in by_status] == [i.id for i in untagged]
    tagged = client.get_images(gallery.project_id, tagging_status="Tagged")
    assert len(tagged) == 20
    assert [i.id for i in client.get_untagged_images(gallery.project_id, order_by="Oldest")] == [
        i.id for i in reversed(untagged)
    ]


def test_get_images_by_ids(client: CustomVisionTrainingClient, gallery: Gallery) -> None:
    wanted = [gallery.cherry_ids[3], gallery.hemlock_ids[0], gallery.untagged_ids[1]]

    found = client.get_images_by_ids(gallery.project_id, image_ids=wanted)

    assert sorted(i.id for i in found) == sorted(wanted)
    by_id = {i.id: i for i in found}
    assert by_id[gallery.cherry_ids[3]].tags[0].tag_name == "Japanese Cherry"
    assert not by_id[gallery.untagged_ids[1]].tags


def test_queries_for_an_unknown_iteration(client: CustomVisionTrainingClient, gallery: Gallery) -> None:
    missing = str(uuid.uuid4())
    with cv_error("NotFoundIteration", 404):
        client.get_images(gallery.project_id, iteration_id=missing)
    with cv_error("NotFoundIteration", 404):
        client.get_tagged_image_count(gallery.project_id, iteration_id=missing)


def test_metadata_filter(
    client: CustomVisionTrainingClient, hemlock_images: list[Path], cherry_images: list[Path]
) -> None:
    project = client.create_project(unique("Filter"))
    paths = hemlock_images[:3] + cherry_images[:3]
    entries = [ImageFileCreateEntry(name=p.name, contents=p.read_bytes()) for p in paths]
    ids = [i.image.id for i in client.create_images_from_files(project.id, ImageFileCreateBatch(images=entries)).images]
    red, blue = ids[:2], ids[2:5]

    assert client.update_image_metadata(project.id, red, {"color": "red", "shelf": "1"}).is_batch_successful
    assert client.update_image_metadata(project.id, blue, {"color": "blue"}).is_batch_successful

    found = client.get_images(project.id, filter="color eq 'red'")
    assert sorted(i.id for i in found) == sorted(red)
    assert all(i.metadata == {"color": "red", "shelf": "1"} for i in found)
    assert client.get_image_count(project.id, filter="color eq 'blue'") == 3
    assert client.get_image_count(project.id, filter="color eq 'green'") == 0
    assert client.get_image_count(project.id, filter="color eq 'red' and shelf eq '1'") == 2
    assert client.get_image_count(project.id, filter="(color eq 'red' or color eq 'blue')") == 5
    assert client.get_image_count(project.id) == 6


def test_image_uris_are_fetchable_without_a_key(
    client: CustomVisionTrainingClient, gallery: Gallery, server: RunningServer
) -> None:
    [image] = client.get_images_by_ids(gallery.project_id, image_ids=[gallery.hemlock_ids[0]])
    source = gallery.files[image.id]

    for uri in (image.original_image_uri, image.resized_image_uri, image.thumbnail_uri):
        assert uri.startswith(server.endpoint + "/"), uri

    original = httpx.get(image.original_image_uri)
    assert original.status_code == 200
    assert original.headers["content-type"] == "image/jpeg"
    assert original.content == source.read_bytes()

    resized = httpx.get(image.resized_image_uri)
    assert resized.status_code == 200
    assert resized.headers["content-type"] == "image/jpeg"
    with Image.open(io.BytesIO(resized.content)) as img:
        assert img.format == "JPEG"
        assert max(img.size) <= 1024

    thumbnail = httpx.get(image.thumbnail_uri)
    assert thumbnail.status_code == 200
    assert thumbnail.headers["content-type"] == "image/jpeg"
    with Image.open(io.BytesIO(thumbnail.content)) as img:
        assert img.format == "JPEG"
        assert max(img.size) <= 256
        # The aspect ratio survives.
        assert img.size[0] / img.size[1] == pytest.approx(image.width / image.height, rel=0.02)


def test_a_tampered_uri_signature_is_forbidden(client: CustomVisionTrainingClient, gallery: Gallery) -> None:
    first, second = client.get_images_by_ids(
        gallery.project_id, image_ids=[gallery.hemlock_ids[0], gallery.cherry_ids[0]]
    )
    uri = first.original_image_uri
    base, _, sig = uri.rpartition("sig=")
    assert sig
    flipped = ("0" if sig[0] != "0" else "1") + sig[1:]

    assert httpx.get(base + "sig=" + flipped).status_code == 403
    assert httpx.get(uri.split("?")[0]).status_code == 403
    # A signature is for one image only.
    other_path = second.original_image_uri.split("?")[0]
    assert httpx.get(other_path + "?" + uri.split("?")[1]).status_code == 403
    assert httpx.get(uri).status_code == 200


def test_image_uris_stop_working_when_the_project_is_deleted(
    client: CustomVisionTrainingClient, hemlock_images: list[Path]
) -> None:
    project = client.create_project(unique("Short lived"))
    result = client.create_images_from_data(project.id, hemlock_images[5].read_bytes())
    uri = result.images[0].image.original_image_uri
    assert httpx.get(uri).status_code == 200

    client.delete_project(project.id)

    assert httpx.get(uri).status_code == 404
