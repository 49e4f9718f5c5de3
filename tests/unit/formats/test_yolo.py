"""YOLO txt (+ classes.txt / data.yaml) -> the boxes of one image."""

from __future__ import annotations

import pytest

from shared.formats import AnnotationError, Box, ImageBoxes, yolo


def test_rows_become_boxes_named_by_class() -> None:
    labels = b"0 0.5 0.5 0.5 0.5\n\n1 0.1 0.1 0.4 0.4 0.93\n"  # a blank line; a confidence column
    parsed = yolo.parse(labels, ("cat", "dog"), "img")
    assert (parsed.file_name, parsed.width, parsed.height) == ("img", None, None)
    assert parsed.boxes[0] == Box("cat", 0.25, 0.25, 0.5, 0.5)
    dog = parsed.boxes[1]  # centre 0.1, size 0.4: the part above and left of the image is cut off
    assert (dog.tag, dog.left, dog.top) == ("dog", 0.0, 0.0)
    assert (dog.width, dog.height) == pytest.approx((0.3, 0.3))


def test_an_empty_label_file_is_an_image_without_boxes() -> None:
    assert yolo.parse(b"", ("cat",), "img") == ImageBoxes("img", ())


def test_classes_txt() -> None:
    assert yolo.parse_classes(b"\xef\xbb\xbfcat\r\ndog \n\n") == ("cat", "dog")


@pytest.mark.parametrize(
    "data",
    [
        b"names: [cat, dog]\n",
        b"nc: 2\nnames:\n  - cat\n  - dog\n",
        b"path: ../datasets\nnames:\n  0: cat\n  1: dog\n",
        b"names: {1: dog, 0: cat}\n",
    ],
)
def test_data_yaml_lists_and_mappings(data: bytes) -> None:
    assert yolo.parse_data_yaml(data) == ("cat", "dog")


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (b"0 0.5 0.5 0.5\n", "Line 1"),
        (b"0 0.5 0.5 0.5 0.5\nx 0.5 0.5 0.5 0.5\n", "Line 2"),
        (b"2 0.5 0.5 0.5 0.5\n", "class 2 is not among the 2"),
        (b"0 0.5 0.5 0 0.5\n", "positive width"),
        (b"0 1.5 0.5 0.5 0.5\n", "outside the image"),
        (b"0 nan 0.5 0.5 0.5\n", "finite"),
        (b"\xff\xfe", "not UTF-8"),
    ],
)
def test_malformed_labels_say_what_is_wrong(labels: bytes, message: str) -> None:
    with pytest.raises(AnnotationError, match=message):
        yolo.parse(labels, ("cat", "dog"), "img")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"names: [cat\n", "not valid YAML"),
        (b"train: images\n", "needs 'names'"),
        (b"names: {0: cat, 2: dog}\n", "without gaps"),
        (b"names: {a: cat}\n", "class numbers"),
        (b"nc: 3\nnames: [cat, dog]\n", "'nc' is 3"),
        (b"names: [cat, '']\n", "needs a name"),
    ],
)
def test_malformed_data_yaml(data: bytes, message: str) -> None:
    with pytest.raises(AnnotationError, match=message):
        yolo.parse_data_yaml(data)


@pytest.mark.parametrize(("data", "message"), [(b"\n\n", "names no class"), (b"cat\n\ndog\n", "line 2")])
def test_malformed_classes_txt(data: bytes, message: str) -> None:
    with pytest.raises(AnnotationError, match=message):
        yolo.parse_classes(data)
