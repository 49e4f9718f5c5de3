"""DatasetService on the in-memory stores: a project out as a dataset zip and into another project, the
file names kept through metadata, a second import adding nothing, a malformed zip refused before anything
is stored; and the drop folder reading CSV through the same parser."""

from __future__ import annotations

import io
import zipfile

import pytest

from shared.domain.errors import BadRequest
from shared.domain.labelling import RegionInput
from shared.services.datasets import FILE_NAME_METADATA, DatasetService
from shared.services.drop_ingestion import DropIngestion
from shared.stores.drop_folder import MemoryDropFolder
from tests.unit.services.fakes import DETECTION, World, jpeg


def datasets(world: World) -> DatasetService:
    return DatasetService(
        world.projects, world.tags, world.images, world.uploads, world.labels, max_archive_bytes=10 * 1024 * 1024
    )


def boxes_of(world: World, project_id: str) -> dict[str, list[tuple[object, ...]]]:
    """Each image's boxes (tag name, left, top, width, height), by the image's bytes' hash."""
    from shared.services.image_query import ImageQuery

    tags = {t.id: t.name for t in world.tags.all(project_id)}
    return {
        image.content_hash: sorted((tags[r.tag_id], r.left, r.top, r.width, r.height) for r in image.regions)
        for image in world.images.list_images(project_id, ImageQuery(take=256))
    }


@pytest.mark.parametrize("fmt", ["coco", "voc", "yolo", "csv"])
def test_a_detection_project_out_and_into_another(world: World, fmt: str) -> None:
    source = world.projects.create("Source", domain_id=DETECTION)
    fork = world.tags.create(source.id, "fork").tag
    knife = world.tags.create(source.id, "knife").tag
    world.add(source.id, [jpeg(1)], regions=[RegionInput(fork.id, 0.1, 0.2, 0.3, 0.4)])
    world.add(
        source.id, [jpeg(2)], regions=[RegionInput(fork.id, 0.5, 0.5, 0.5, 0.5), RegionInput(knife.id, 0, 0, 1, 1)]
    )
    world.add(source.id, [jpeg(3)])  # no boxes
    out = io.BytesIO()
    assert datasets(world).export(source.id, fmt, out) == 3

    copy = world.projects.create("Copy", domain_id=DETECTION)
    result = datasets(world).import_archive(copy.id, fmt, out.getvalue())
    assert [i.status for i in result.images] == ["OK"] * 3 and sorted(result.created_tags) == ["fork", "knife"]
    got, want = boxes_of(world, copy.id), boxes_of(world, source.id)
    assert got.keys() == want.keys()
    for digest, boxes in want.items():
        assert [b[0] for b in got[digest]] == [b[0] for b in boxes]
        for a, b in zip(got[digest], boxes, strict=True):
            assert a[1:] == pytest.approx(b[1:], abs=1e-3)
    with zipfile.ZipFile(out) as archive:
        images = sorted(n.rsplit("/", 1)[-1] for n in archive.namelist() if n.endswith(".jpg"))
    kept = sorted(
        i.metadata[FILE_NAME_METADATA]
        for i in world.images.images_by_ids(copy.id, [r.image_id or "" for r in result.images])
    )
    assert kept == images  # the copy keeps the exported names

    again = datasets(world).import_archive(copy.id, fmt, out.getvalue())
    assert [i.status for i in again.images] == ["OKDuplicate"] * 3 and again.created_tags == []


def test_a_malformed_dataset_stores_nothing(world: World) -> None:
    project = world.projects.create("P", domain_id=DETECTION)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("images/a.jpg", jpeg(1))
        z.writestr("annotations.csv", "filename,width,height,class,xmin,ymin,xmax,ymax\na.jpg,64,48,fork,1,2,3\n")
    with pytest.raises(BadRequest, match="annotations.csv: Line 2: the row has 7 columns"):
        datasets(world).import_archive(project.id, "csv", archive.getvalue())
    with pytest.raises(BadRequest, match="not a zip archive"):
        datasets(world).import_archive(project.id, "csv", b"plain text")
    assert world.tags.all(project.id) == [] and boxes_of(world, project.id) == {}


def test_the_drop_folder_reads_csv_with_the_same_parser(world: World) -> None:
    project = world.projects.create("Drops", domain_id=DETECTION)
    folder = MemoryDropFolder()
    drops = DropIngestion(folder, world.projects, world.tags, world.uploads, world.labels)
    table = b"filename,width,height,class,xmin,ymin,xmax,ymax\nshot.jpg,64,48,fork,16,12,48,36\n"
    folder.write("Drops/boxes.csv", table)
    waiting = drops.ingest("Drops/boxes.csv")
    assert waiting is not None and waiting.waiting_for == ("shot.jpg",)
    folder.write("Drops/shot.jpg", jpeg(5))
    stored = drops.ingest("Drops/shot.jpg")
    assert stored is not None and stored.image_id is not None
    assert list(boxes_of(world, project.id).values()) == [[("fork", 0.25, 0.25, 0.5, 0.5)]]
