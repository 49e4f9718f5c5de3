"""Uploading images through the official SDK (data, files, URLs) against a real ``cvstudio serve``."""

from __future__ import annotations

import functools
import http.server
import io
import math
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.cognitiveservices.vision.customvision.training import CustomVisionTrainingClient
from azure.cognitiveservices.vision.customvision.training.models import (
    ImageFileCreateBatch,
    ImageFileCreateEntry,
    ImageUrlCreateBatch,
    ImageUrlCreateEntry,
    Region,
)
from PIL import Image

from tests.conftest import SAMPLES
from tests.sdk.helpers import GENERAL_DETECTION, cv_error, png_bytes, training_client, unique
from tests.servers import free_port, start_server


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's name
        pass


@pytest.fixture(scope="module")
def image_host() -> Iterator[str]:
    """A local web server handing out the sample images, as a user's own image host would."""
    handler = functools.partial(_QuietHandler, directory=str(SAMPLES))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


def _noise_png(side: int = 1500) -> bytes:
    """A PNG of random pixels: incompressible, so larger than 6 MB at 1500 x 1500."""
    out = io.BytesIO()
    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(out, format="PNG", compress_level=0)
    return out.getvalue()


def _size(path: Path) -> tuple[int, int]:
    with Image.open(path) as img:
        return img.size


# -- create_images_from_data ----------------------------------------------------------------------


def test_create_images_from_data_with_bytes_like_the_quickstart(
    client: CustomVisionTrainingClient, hemlock_images: list[Path]
) -> None:
    project = client.create_project(unique("Data bytes"))
    hemlock = client.create_tag(project.id, "Hemlock")

    with open(hemlock_images[0], "rb") as image_contents:
        result = client.create_images_from_data(project.id, image_contents.read(), tag_ids=[hemlock.id])

    assert result.is_batch_successful is True
    [created] = result.images
    assert created.status == "OK"
    image = created.image
    assert (image.width, image.height) == _size(hemlock_images[0])
    assert [(t.tag_id, t.tag_name) for t in image.tags] == [(hemlock.id, "Hemlock")]
    assert client.get_image_count(project.id) == 1
    assert client.get_tag(project.id, hemlock.id).image_count == 1


def test_create_images_from_data_with_a_file_object(
    client: CustomVisionTrainingClient, hemlock_images: list[Path], cherry_images: list[Path]
) -> None:
    project = client.create_project(unique("Data file"))

    with open(cherry_images[0], "rb") as image_file:
        result = client.create_images_from_data(project.id, image_file)

    assert result.is_batch_successful is True
    [created] = result.images
    assert created.status == "OK"
    assert created.source_url == f'"{cherry_images[0].name}"'
    assert created.image.tags is None
    assert (created.image.width, created.image.height) == _size(cherry_images[0])
    assert client.get_untagged_image_count(project.id) == 1

    # Without tags, then with two tags at once.
    first = client.create_tag(project.id, "Tree")
    second = client.create_tag(project.id, "Conifer")
    with open(hemlock_images[1], "rb") as image_file:
        tagged = client.create_images_from_data(project.id, image_file, tag_ids=[first.id, second.id])
    assert {t.tag_id for t in tagged.images[0].image.tags} == {first.id, second.id}
    assert client.get_image_count(project.id) == 2


def test_create_images_from_data_with_bytesio(client: CustomVisionTrainingClient) -> None:
    project = client.create_project(unique("Data BytesIO"))

    result = client.create_images_from_data(project.id, io.BytesIO(png_bytes((320, 240))))

    assert result.is_batch_successful is True
    [created] = result.images
    assert created.status == "OK"
    assert (created.image.width, created.image.height) == (320, 240)


def test_create_images_from_data_with_an_unknown_tag(
    client: CustomVisionTrainingClient, hemlock_images: list[Path]
) -> None:
    project = client.create_project(unique("Data foreign tag"))
    other = client.create_project(unique("Tag owner"))
    foreign = client.create_tag(other.id, "Not yours")

    with cv_error("NotFoundTag", 404):
        client.create_images_from_data(project.id, hemlock_images[0].read_bytes(), tag_ids=[foreign.id])
    assert client.get_image_count(project.id) == 0


def test_create_images_from_data_over_6_mb(client: CustomVisionTrainingClient) -> None:
    project = client.create_project(unique("Data big"))
    big = _noise_png()
    assert len(big) > 6 * 1024 * 1024

    result = client.create_images_from_data(project.id, big)

    assert result.is_batch_successful is False
    assert [i.status for i in result.images] == ["ErrorImageSize"]
    assert result.images[0].image is None
    assert client.get_image_count(project.id) == 0


# -- create_images_from_files ---------------------------------------------------------------------


def test_quickstart_batch_of_files(
    client: CustomVisionTrainingClient, hemlock_images: list[Path], cherry_images: list[Path]
) -> None:
    project = client.create_project(unique("Quickstart"))
    hemlock_tag = client.create_tag(project.id, "Hemlock")
    cherry_tag = client.create_tag(project.id, "Japanese Cherry")

    image_list = []
    for path in hemlock_images:
        with open(path, "rb") as image_contents:
            image_list.append(
                ImageFileCreateEntry(name=path.name, contents=image_contents.read(), tag_ids=[hemlock_tag.id])
            )
    for path in cherry_images:
        with open(path, "rb") as image_contents:
            image_list.append(
                ImageFileCreateEntry(name=path.name, contents=image_contents.read(), tag_ids=[cherry_tag.id])
            )
    upload_result = client.create_images_from_files(project.id, ImageFileCreateBatch(images=image_list))

    assert upload_result.is_batch_successful is True
    assert len(upload_result.images) == 20
    assert [i.status for i in upload_result.images] == ["OK"] * 20
    assert [i.source_url for i in upload_result.images] == [f'"{p.name}"' for p in [*hemlock_images, *cherry_images]]
    for result, path in zip(upload_result.images, [*hemlock_images, *cherry_images], strict=True):
        expected_tag = hemlock_tag if path in hemlock_images else cherry_tag
        assert [(t.tag_id, t.tag_name) for t in result.image.tags] == [(expected_tag.id, expected_tag.name)]
        assert (result.image.width, result.image.height) == _size(path)
    assert len({i.image.id for i in upload_result.images}) == 20

    assert client.get_image_count(project.id) == 20
    assert client.get_tagged_image_count(project.id) == 20
    assert client.get_untagged_image_count(project.id) == 0
    assert {t.name: t.image_count for t in client.get_tags(project.id)} == {
        "Hemlock": 10,
        "Japanese Cherry": 10,
    }

    # The same bytes again: reported as duplicates, and no second copy is stored.
    again = client.create_images_from_files(project.id, ImageFileCreateBatch(images=image_list[:3]))
    assert [i.status for i in again.images] == ["OKDuplicate"] * 3
    assert [i.image.id for i in again.images] == [i.image.id for i in upload_result.images[:3]]
    assert client.get_image_count(project.id) == 20
    with open(hemlock_images[0], "rb") as image_contents:
        single = client.create_images_from_data(project.id, image_contents.read())
    assert [i.status for i in single.images] == ["OKDuplicate"]
    assert client.get_image_count(project.id) == 20


def test_the_same_bytes_twice_in_one_batch(client: CustomVisionTrainingClient, hemlock_images: list[Path]) -> None:
    project = client.create_project(unique("Twice"))
    tag = client.create_tag(project.id, "Hemlock")
    data = hemlock_images[0].read_bytes()
    entries = [
        ImageFileCreateEntry(name="a.jpg", contents=data),
        ImageFileCreateEntry(name="b.jpg", contents=data, tag_ids=[tag.id]),
    ]

    result = client.create_images_from_files(project.id, ImageFileCreateBatch(images=entries))

    assert [(i.source_url, i.status) for i in result.images] == [
        ('"a.jpg"', "OK"),
        ('"b.jpg"', "OKDuplicate"),
    ]
    assert result.images[0].image.id == result.images[1].image.id
    assert client.get_image_count(project.id) == 1


def test_batch_tags_and_metadata_apply_to_every_image(
    client: CustomVisionTrainingClient, hemlock_images: list[Path]
) -> None:
    project = client.create_project(unique("Batch tags"))
    tree = client.create_tag(project.id, "Tree")
    conifer = client.create_tag(project.id, "Conifer")
    entries = [
        ImageFileCreateEntry(name=hemlock_images[0].name, contents=hemlock_images[0].read_bytes()),
        ImageFileCreateEntry(
            name=hemlock_images[1].name, contents=hemlock_images[1].read_bytes(), tag_ids=[conifer.id]
        ),
    ]

    result = client.create_images_from_files(
        project.id, ImageFileCreateBatch(images=entries, tag_ids=[tree.id], metadata={"site": "kyoto"})
    )

    assert result.is_batch_successful is True
    assert {t.tag_id for t in result.images[0].image.tags} == {tree.id}
    assert {t.tag_id for t in result.images[1].image.tags} == {tree.id, conifer.id}
    assert all(i.image.metadata == {"site": "kyoto"} for i in result.images)


def test_detection_upload_with_regions(
    client: CustomVisionTrainingClient,
    detection_regions: dict[str, dict[str, float | str]],
    detection_images_dir: Path,
) -> None:
    project = client.create_project(unique("Detection"), domain_id=GENERAL_DETECTION)
    tags = {name: client.create_tag(project.id, name) for name in ("fork", "scissors")}
    chosen = [f"fork/fork_{n}.jpg" for n in range(1, 6)] + [f"scissors/scissors_{n}.jpg" for n in range(1, 6)]

    entries = []
    for key in chosen:
        box = detection_regions[key]
        tag = tags[str(box["tag"])]
        region = Region(tag_id=tag.id, left=box["left"], top=box["top"], width=box["width"], height=box["height"])
        with open(detection_images_dir / key, "rb") as image_contents:
            entries.append(ImageFileCreateEntry(name=Path(key).name, contents=image_contents.read(), regions=[region]))
    result = client.create_images_from_files(project.id, ImageFileCreateBatch(images=entries))

    assert result.is_batch_successful is True
    assert [i.status for i in result.images] == ["OK"] * 10
    for key, created in zip(chosen, result.images, strict=True):
        box = detection_regions[key]
        [region] = created.image.regions
        assert region.region_id
        assert region.tag_id == tags[str(box["tag"])].id
        assert region.tag_name == box["tag"]
        assert (region.left, region.top, region.width, region.height) == pytest.approx(
            (box["left"], box["top"], box["width"], box["height"]), abs=1e-6
        )

    # Listing gives the same boxes back.
    listed = {i.id: i for i in client.get_images(project.id)}
    assert len(listed) == 10
    for created in result.images:
        [region] = listed[created.image.id].regions
        assert region.region_id == created.image.regions[0].region_id
    # Images with boxes count as tagged, per tag.
    assert client.get_tagged_image_count(project.id) == 10
    assert client.get_tagged_image_count(project.id, tag_ids=[tags["fork"].id]) == 5
    assert {t.name: t.image_count for t in client.get_tags(project.id)} == {"fork": 5, "scissors": 5}


def test_mixed_batch_keeps_the_good_image(
    client: CustomVisionTrainingClient, hemlock_images: list[Path], cherry_images: list[Path]
) -> None:
    project = client.create_project(unique("Mixed"))
    client.create_images_from_data(project.id, cherry_images[0].read_bytes())
    before = client.get_image_count(project.id)
    good = hemlock_images[0].read_bytes()
    entries = [
        ImageFileCreateEntry(name="good.jpg", contents=good),
        ImageFileCreateEntry(name="notes.jpg", contents=b"these are my shopping notes, not a picture\n" * 20),
        ImageFileCreateEntry(name="truncated.jpg", contents=hemlock_images[1].read_bytes()[:4000]),
    ]

    # A 207 is a success for the SDK: it returns the summary instead of raising.
    result = client.create_images_from_files(project.id, ImageFileCreateBatch(images=entries))

    assert result.is_batch_successful is False
    assert [(i.source_url, i.status) for i in result.images] == [
        ('"good.jpg"', "OK"),
        ('"notes.jpg"', "ErrorImageFormat"),
        ('"truncated.jpg"', "ErrorImageFormat"),
    ]
    assert result.images[0].image is not None
    assert result.images[1].image is None and result.images[2].image is None
    assert client.get_image_count(project.id) == before + 1
    assert result.images[0].image.id in [i.id for i in client.get_images(project.id)]


def test_truncated_and_text_uploads_through_create_images_from_data(
    client: CustomVisionTrainingClient, hemlock_images: list[Path]
) -> None:
    project = client.create_project(unique("Data bad"))
    text = client.create_images_from_data(project.id, b"not an image at all")
    truncated = client.create_images_from_data(project.id, hemlock_images[0].read_bytes()[:3000])
    assert (text.is_batch_successful, [i.status for i in text.images]) == (False, ["ErrorImageFormat"])
    assert (truncated.is_batch_successful, [i.status for i in truncated.images]) == (
        False,
        ["ErrorImageFormat"],
    )
    assert client.get_image_count(project.id) == 0


def test_more_than_64_images_in_a_batch_is_refused(client: CustomVisionTrainingClient) -> None:
    project = client.create_project(unique("Too many"))
    entries = [ImageFileCreateEntry(name=f"img_{n}.png", contents=png_bytes(color=(n, 0, 0))) for n in range(65)]

    with cv_error("BadRequestExceededBatchSize", 400):
        client.create_images_from_files(project.id, ImageFileCreateBatch(images=entries))
    assert client.get_image_count(project.id) == 0

    # 64 is fine.
    result = client.create_images_from_files(project.id, ImageFileCreateBatch(images=entries[:64]))
    assert result.is_batch_successful is True
    assert client.get_image_count(project.id) == 64


def test_an_image_too_narrow_for_its_height(client: CustomVisionTrainingClient) -> None:
    project = client.create_project(unique("Aspect"))
    result = client.create_images_from_data(project.id, png_bytes((2600, 100)))
    assert (result.is_batch_successful, [i.status for i in result.images]) == (
        False,
        ["ErrorImageDimensions"],
    )
    assert client.get_image_count(project.id) == 0


def test_empty_batches_are_refused(client: CustomVisionTrainingClient) -> None:
    project = client.create_project(unique("Empty"))
    with cv_error("BadRequestImageBatch", 400):
        client.create_images_from_files(project.id, ImageFileCreateBatch(images=[]))
    with cv_error("BadRequestImageBatch", 400):
        client.create_images_from_urls(project.id, ImageUrlCreateBatch(images=[]))


def test_an_image_over_6_mb_in_a_files_batch(client: CustomVisionTrainingClient, hemlock_images: list[Path]) -> None:
    project = client.create_project(unique("Big file"))
    entries = [
        ImageFileCreateEntry(name="noise.png", contents=_noise_png()),
        ImageFileCreateEntry(name=hemlock_images[0].name, contents=hemlock_images[0].read_bytes()),
    ]

    result = client.create_images_from_files(project.id, ImageFileCreateBatch(images=entries))

    assert result.is_batch_successful is False
    assert [i.status for i in result.images] == ["ErrorImageSize", "OK"]
    assert client.get_image_count(project.id) == 1


@pytest.mark.parametrize(
    "box",
    [
        pytest.param((0.8, 0.1, 0.5, 0.2), id="past-the-right-edge"),
        pytest.param((-0.1, 0.1, 0.5, 0.2), id="negative-left"),
        pytest.param((0.1, 0.1, 0.0, 0.2), id="zero-width"),
        pytest.param((0.1, 0.1, 2.0, 3.0), id="pixels-not-fractions"),
        pytest.param((math.nan, 0.1, 0.5, 0.2), id="nan"),
    ],
)
def test_regions_outside_the_image_are_refused(
    client: CustomVisionTrainingClient, detection_images_dir: Path, box: tuple[float, float, float, float]
) -> None:
    project = client.create_project(unique("Bad boxes"), domain_id=GENERAL_DETECTION)
    fork = client.create_tag(project.id, "fork")
    left, top, width, height = box
    entries = [
        ImageFileCreateEntry(
            name="fork_1.jpg",
            contents=(detection_images_dir / "fork" / "fork_1.jpg").read_bytes(),
            regions=[Region(tag_id=fork.id, left=left, top=top, width=width, height=height)],
        )
    ]

    with cv_error("BadRequestImageRegions", 400):
        client.create_images_from_files(project.id, ImageFileCreateBatch(images=entries))
    assert client.get_image_count(project.id) == 0


def test_batch_metadata_with_11_pairs_is_refused(
    client: CustomVisionTrainingClient, hemlock_images: list[Path]
) -> None:
    project = client.create_project(unique("Metadata"))
    entries = [ImageFileCreateEntry(name=hemlock_images[0].name, contents=hemlock_images[0].read_bytes())]

    with cv_error("BadRequestImageMetadataKey", 400):
        client.create_images_from_files(
            project.id,
            ImageFileCreateBatch(images=entries, metadata={f"key{n}": str(n) for n in range(11)}),
        )
    assert client.get_image_count(project.id) == 0

    ten = {f"key{n}": str(n) for n in range(10)}
    result = client.create_images_from_files(project.id, ImageFileCreateBatch(images=entries, metadata=ten))
    assert result.is_batch_successful is True
    assert result.images[0].image.metadata == ten


def test_tags_of_another_project_are_refused(client: CustomVisionTrainingClient, hemlock_images: list[Path]) -> None:
    project = client.create_project(unique("Uploader"))
    other = client.create_project(unique("Owner"))
    foreign = client.create_tag(other.id, "Foreign")
    entries = [ImageFileCreateEntry(name=hemlock_images[0].name, contents=hemlock_images[0].read_bytes())]

    with cv_error("NotFoundTag", 404):
        client.create_images_from_files(project.id, ImageFileCreateBatch(images=entries, tag_ids=[foreign.id]))
    assert client.get_image_count(project.id) == 0
    assert client.get_image_count(other.id) == 0


def test_negative_and_regular_tag_on_one_image(
    client: CustomVisionTrainingClient, hemlock_images: list[Path], cherry_images: list[Path]
) -> None:
    project = client.create_project(unique("Negative mix"))
    negative = client.create_tag(project.id, "Negative", type="Negative")
    hemlock = client.create_tag(project.id, "Hemlock")
    entries = [
        ImageFileCreateEntry(
            name=hemlock_images[0].name,
            contents=hemlock_images[0].read_bytes(),
            tag_ids=[negative.id, hemlock.id],
        ),
        ImageFileCreateEntry(name=cherry_images[0].name, contents=cherry_images[0].read_bytes(), tag_ids=[negative.id]),
    ]

    result = client.create_images_from_files(project.id, ImageFileCreateBatch(images=entries))

    assert result.is_batch_successful is False
    assert [i.status for i in result.images] == ["ErrorNegativeAndRegularTagOnSameImage", "OK"]
    assert client.get_image_count(project.id) == 1
    assert client.get_tag(project.id, negative.id).image_count == 1
    assert client.get_tag(project.id, hemlock.id).image_count == 0


# -- create_images_from_urls ----------------------------------------------------------------------


def test_create_images_from_urls(
    client: CustomVisionTrainingClient, image_host: str, hemlock_images: list[Path], cherry_images: list[Path]
) -> None:
    project = client.create_project(unique("Urls"))
    hemlock = client.create_tag(project.id, "Hemlock")
    cherry = client.create_tag(project.id, "Japanese Cherry")
    base = f"{image_host}/ImageClassification/Images"
    urls = [f"{base}/Hemlock/{p.name}" for p in hemlock_images[:2]] + [
        f"{base}/Japanese_Cherry/{cherry_images[0].name}"
    ]
    entries = [
        ImageUrlCreateEntry(url=urls[0], tag_ids=[hemlock.id]),
        ImageUrlCreateEntry(url=urls[1], tag_ids=[hemlock.id]),
        ImageUrlCreateEntry(url=urls[2], tag_ids=[cherry.id]),
    ]

    result = client.create_images_from_urls(project.id, ImageUrlCreateBatch(images=entries))

    assert result.is_batch_successful is True
    assert [(i.source_url, i.status) for i in result.images] == [(u, "OK") for u in urls]
    assert [i.image.tags[0].tag_id for i in result.images] == [hemlock.id, hemlock.id, cherry.id]
    assert (result.images[2].image.width, result.images[2].image.height) == _size(cherry_images[0])
    assert client.get_image_count(project.id) == 3
    assert {t.name: t.image_count for t in client.get_tags(project.id)} == {
        "Hemlock": 2,
        "Japanese Cherry": 1,
    }

    # Same picture by file afterwards: a duplicate.
    dup = client.create_images_from_data(project.id, hemlock_images[0].read_bytes())
    assert [i.status for i in dup.images] == ["OKDuplicate"]


def test_unreachable_urls_are_reported_per_image(
    client: CustomVisionTrainingClient, image_host: str, hemlock_images: list[Path]
) -> None:
    project = client.create_project(unique("Bad urls"))
    good = f"{image_host}/ImageClassification/Images/Hemlock/{hemlock_images[3].name}"
    closed = f"http://127.0.0.1:{free_port()}/hemlock.jpg"
    missing = f"{image_host}/ImageClassification/Images/Hemlock/no_such_file.jpg"
    not_an_image = f"{image_host}/LICENSE.md"

    result = client.create_images_from_urls(
        project.id,
        ImageUrlCreateBatch(
            images=[ImageUrlCreateEntry(url=u) for u in (good, closed, missing, not_an_image)],
        ),
    )

    assert result.is_batch_successful is False
    assert [(i.source_url, i.status) for i in result.images] == [
        (good, "OK"),
        (closed, "ErrorSource"),
        (missing, "ErrorSource"),
        (not_an_image, "ErrorImageFormat"),
    ]
    assert client.get_image_count(project.id) == 1


def test_more_than_64_urls_in_a_batch_is_refused(client: CustomVisionTrainingClient, image_host: str) -> None:
    project = client.create_project(unique("Too many urls"))
    url = f"{image_host}/ImageClassification/Images/Test/test_image.jpg"
    with cv_error("BadRequestExceededBatchSize", 400):
        client.create_images_from_urls(
            project.id,
            ImageUrlCreateBatch(images=[ImageUrlCreateEntry(url=f"{url}?n={n}") for n in range(65)]),
        )
    assert client.get_image_count(project.id) == 0


def test_url_uploads_with_regions_and_metadata(
    client: CustomVisionTrainingClient,
    image_host: str,
    detection_regions: dict[str, dict[str, float | str]],
) -> None:
    project = client.create_project(unique("Url boxes"), domain_id=GENERAL_DETECTION)
    fork = client.create_tag(project.id, "fork")
    box = detection_regions["fork/fork_7.jpg"]
    url = f"{image_host}/ObjectDetection/Images/fork/fork_7.jpg"
    region = Region(tag_id=fork.id, left=box["left"], top=box["top"], width=box["width"], height=box["height"])

    result = client.create_images_from_urls(
        project.id,
        ImageUrlCreateBatch(images=[ImageUrlCreateEntry(url=url, regions=[region])], metadata={"from": "web"}),
    )

    assert [(i.source_url, i.status) for i in result.images] == [(url, "OK")]
    image = result.images[0].image
    assert image.metadata == {"from": "web"}
    [got] = image.regions
    assert (got.tag_name, got.left, got.top, got.width, got.height) == (
        "fork",
        pytest.approx(box["left"]),
        pytest.approx(box["top"]),
        pytest.approx(box["width"]),
        pytest.approx(box["height"]),
    )


def test_private_urls_are_refused_unless_allowed(tmp_path: Path, image_host: str, hemlock_images: list[Path]) -> None:
    locked = start_server(tmp_path / "d2", extra_env={"CVSTUDIO_ALLOW_PRIVATE_URLS": "false"})
    trainer = training_client(locked.endpoint)
    try:
        project = trainer.create_project(unique("Locked"))
        url = f"{image_host}/ImageClassification/Images/Hemlock/{hemlock_images[0].name}"

        result = trainer.create_images_from_urls(project.id, ImageUrlCreateBatch(images=[ImageUrlCreateEntry(url=url)]))

        assert result.is_batch_successful is False
        assert [(i.source_url, i.status) for i in result.images] == [(url, "ErrorSource")]
        assert result.images[0].image is None
        assert trainer.get_image_count(project.id) == 0
    finally:
        trainer.close()
        locked.stop()
