"""Each format's writer -> its parser gives back what the format holds: the ObjectDetection quickstart's
boxes (its metadata, real image sizes) within the writers' rounding, and image-level labels where the
format has them. The same through whole dataset layouts (:mod:`shared.formats.datasets`), both tasks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from shared.formats import AnnotationError, Box, ImageBoxes, coco, datasets, voc, yolo
from shared.formats import csv as csv_table
from shared.formats.datasets import DatasetImage

SAMPLES = Path(__file__).parents[2] / "fixtures" / "custom-vision-samples"
DETECTION = SAMPLES / "ObjectDetection"
# Pixels with three decimals over images a few hundred pixels wide; YOLO's six decimals.
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def quickstart() -> list[ImageBoxes]:
    """The detection quickstart's images: file name, real size, its one box from regions.json."""
    regions = json.loads((DETECTION / "regions.json").read_text())
    found = []
    for path, r in sorted(regions.items()):
        with Image.open(DETECTION / "Images" / path) as image:
            width, height = image.size
        box = Box(r["tag"], r["left"], r["top"], r["width"], r["height"])
        found.append(ImageBoxes(Path(path).name, (box,), width, height))
    return found


def assert_boxes(got: ImageBoxes, want: ImageBoxes) -> None:
    assert [b.tag for b in got.boxes] == [b.tag for b in want.boxes]
    for a, b in zip(got.boxes, want.boxes, strict=True):
        assert (a.left, a.top, a.width, a.height) == pytest.approx((b.left, b.top, b.width, b.height), abs=TOLERANCE)
    assert got.labels == want.labels


TAGS = ["fork", "scissors"]


def test_coco(quickstart: list[ImageBoxes]) -> None:
    parsed = coco.parse(coco.write(quickstart, TAGS))
    assert [(p.file_name, p.width, p.height) for p in parsed] == [(q.file_name, q.width, q.height) for q in quickstart]
    for got, want in zip(parsed, quickstart, strict=True):
        assert_boxes(got, want)


def test_voc(quickstart: list[ImageBoxes]) -> None:
    for want in quickstart:
        got = voc.parse(voc.write(want))
        assert (got.file_name, got.width, got.height) == (want.file_name, want.width, want.height)
        assert_boxes(got, want)


def test_yolo(quickstart: list[ImageBoxes]) -> None:
    classes = yolo.parse_classes(yolo.write_classes(TAGS))
    assert classes == tuple(TAGS) == yolo.parse_data_yaml(yolo.write_data_yaml(TAGS))
    for want in quickstart:
        assert_boxes(yolo.parse(yolo.write(want, classes), classes, want.file_name), want)


def test_csv(quickstart: list[ImageBoxes]) -> None:
    parsed = csv_table.parse(csv_table.write(quickstart))
    assert [(p.file_name, p.width, p.height) for p in parsed] == [(q.file_name, q.width, q.height) for q in quickstart]
    for got, want in zip(parsed, quickstart, strict=True):
        assert_boxes(got, want)


LABELLED = [
    ImageBoxes("a.jpg", (), 40, 30, ("Hemlock",)),
    ImageBoxes("b.jpg", (), 40, 30, ("Hemlock", "Japanese Cherry")),  # multilabel
    ImageBoxes("c, d.jpg", (), 40, 30),  # no label; a comma in its name
]


def test_labels_in_coco_voc_and_csv() -> None:
    assert coco.parse(coco.write(LABELLED, ["Hemlock", "Japanese Cherry"]), labels=True) == LABELLED
    assert [voc.parse(voc.write(i), labels=True) for i in LABELLED] == LABELLED
    assert csv_table.parse(csv_table.write(LABELLED), labels=True) == LABELLED


def test_a_label_is_an_error_where_boxes_are_wanted() -> None:
    with pytest.raises(AnnotationError, match="Annotation 1 has no 'bbox'"):
        coco.parse(coco.write(LABELLED, ["Hemlock", "Japanese Cherry"]))
    with pytest.raises(AnnotationError, match="Line 2: the row for 'Hemlock' has no box"):
        csv_table.parse(csv_table.write(LABELLED))


# -- whole datasets ----------------------------------------------------------------------------


def layout_files(layout: dict[str, str | bytes]) -> dict[str, bytes]:
    """The written dataset's files (an image's bytes: its source path, encoded, to tell them apart)."""
    return {path: c if isinstance(c, bytes) else b"IMG:" + c.encode() for path, c in layout.items()}


@pytest.mark.parametrize("fmt", datasets.FORMATS)
def test_detection_datasets(fmt: str, quickstart: list[ImageBoxes]) -> None:
    images = [DatasetImage(i.file_name, (), i.boxes, i.width, i.height) for i in quickstart]
    images.append(DatasetImage("empty.png", width=8, height=8))  # no boxes
    files = layout_files(datasets.write(fmt, images, TAGS, classification=False))
    got = {i.file_name: i for i in datasets.read(fmt, files, classification=False)}
    assert got.keys() == {i.file_name for i in images}
    for want in images:
        assert files[got[want.file_name].path] == b"IMG:" + want.path.encode()  # the bytes are that image's
        assert_boxes(ImageBoxes("", got[want.file_name].boxes), ImageBoxes("", want.boxes))


@pytest.mark.parametrize("fmt", datasets.FORMATS)
def test_classification_datasets(fmt: str) -> None:
    images = [DatasetImage(i.file_name, i.labels, (), i.width, i.height) for i in LABELLED]
    files = layout_files(datasets.write(fmt, images, ["Hemlock", "Japanese Cherry"], classification=True))
    got = {i.file_name: (i.labels, i.boxes) for i in datasets.read(fmt, files, classification=True)}
    assert got == {i.file_name: (i.labels, ()) for i in images}


def test_yolo_classification_is_a_folder_per_class() -> None:
    images = [DatasetImage(i.file_name, i.labels) for i in LABELLED]
    layout = datasets.write("yolo", images, [], classification=True)
    assert sorted(layout) == ["c, d.jpg", "train/Hemlock/a.jpg", "train/Hemlock/b.jpg", "train/Japanese Cherry/b.jpg"]
    # Ultralytics' splits are not classes.
    split = {"val/Hemlock/x.jpg": b"", "test/y.jpg": b""}
    assert {i.path: i.labels for i in datasets.read("yolo", split, classification=True)} == {
        "val/Hemlock/x.jpg": ("Hemlock",),
        "test/y.jpg": (),
    }


@pytest.mark.parametrize(
    ("fmt", "files", "message"),
    [
        ("coco", {"a.jpg": b""}, "The dataset has no COCO annotation file"),
        ("coco", {"a.json": b"{}", "b.json": b"{}"}, "2 .json files"),
        ("csv", {"a.jpg": b"", "t.csv": b"filename,class\n"}, r"t.csv: Line 1: the header has no column 'width'"),
        (
            "csv",
            {"a.jpg": b"", "t.csv": b"filename,width,height,class,xmin,ymin,xmax,ymax\na.jpg,9,9,x,1,1,,3\n"},
            r"t.csv: Line 2, column 'xmax': a box needs all of",
        ),
        (
            "csv",
            {"a.jpg": b"", "t.csv": b"filename,width,height,class,xmin,ymin,xmax,ymax\nb.jpg,9,9,x,1,1,3,3\n"},
            "t.csv: names the image 'b.jpg', which is not in the dataset",
        ),
        ("voc", {"x/a.jpg": b"", "y/a.png": b""}, "y/a.png: another image, x/a.jpg, has the same name"),
        ("voc", {"a.jpg": b"", "A/a.xml": b"<annotation/>"}, r"A/a.xml: The Pascal VOC file has no <size>"),
        ("yolo", {"a.jpg": b"", "classes.txt": b"c\n", "a.txt": b"3 .5 .5 .1 .1\n"}, r"a.txt: Line 1: class 3"),
        ("yolo", {"a.jpg": b"", "data.yaml": b"names: 3\n"}, r"data.yaml: data.yaml needs 'names'"),
        ("tfrecord", {}, "Unknown dataset format 'tfrecord'"),
    ],
)
def test_malformed_datasets_name_the_file_and_place(fmt: str, files: dict[str, bytes], message: str) -> None:
    with pytest.raises(AnnotationError, match=message):
        datasets.read(fmt, files, classification=False)


def test_boxes_in_a_classification_dataset_are_refused(quickstart: list[ImageBoxes]) -> None:
    images = [DatasetImage(i.file_name, (), i.boxes, i.width, i.height) for i in quickstart[:1]]
    files = layout_files(datasets.write("csv", images, TAGS, classification=False))
    with pytest.raises(AnnotationError, match="fork_1.jpg: a classification project takes image labels"):
        datasets.read("csv", files, classification=True)
