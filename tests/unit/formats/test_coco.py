"""COCO JSON -> normalised boxes per image file name."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared.formats import AnnotationError, Box, ImageBoxes, coco


def document(**changes: Any) -> bytes:
    raw: dict[str, Any] = {
        "images": [
            {"id": 1, "file_name": "train/a.jpg", "width": 200, "height": 100},
            {"id": 2, "file_name": "b.png", "width": 50, "height": 50},
        ],
        "categories": [{"id": 3, "name": "cat"}, {"id": 4, "name": " dog "}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 3, "bbox": [20, 10, 100, 50], "iscrowd": 0},
            {"id": 2, "image_id": 1, "category_id": 4, "bbox": [150, 50, 100, 100]},  # past the corner: clipped
        ],
    }
    raw.update(changes)
    return json.dumps(raw).encode()


def test_boxes_per_image_normalised_and_clipped() -> None:
    assert coco.parse(document()) == [
        ImageBoxes("a.jpg", (Box("cat", 0.1, 0.1, 0.5, 0.5), Box("dog", 0.75, 0.5, 0.25, 0.5)), 200, 100),
        ImageBoxes("b.png", (), 50, 50),  # named, without boxes
    ]


def test_windows_folders_are_dropped_from_file_names() -> None:
    images = [{"id": 1, "file_name": "C:\\data\\x.jpg", "width": 10, "height": 10}]
    assert coco.parse(document(images=images, annotations=[])) == [ImageBoxes("x.jpg", (), 10, 10)]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b"[]", "JSON object"),
        (document(images=None), "'images' list"),
        (document(categories=[{"id": 3}]), "Category 1 has no 'name'"),
        (document(images=[{"id": 1, "file_name": "a.jpg", "width": 0, "height": 5}]), "must be positive"),
        (
            document(
                images=[
                    {"id": 1, "file_name": "x/a.jpg", "width": 5, "height": 5},
                    {"id": 2, "file_name": "y/a.jpg", "width": 5, "height": 5},
                ]
            ),
            "Two images",
        ),
        (document(annotations=[{"image_id": 9, "category_id": 3, "bbox": [0, 0, 1, 1]}]), "image id 9"),
        (document(annotations=[{"image_id": 1, "category_id": 9, "bbox": [0, 0, 1, 1]}]), "category id 9"),
        (document(annotations=[{"image_id": 1, "category_id": 3, "bbox": [0, 0, 1]}]), "bbox must be"),
        (document(annotations=[{"image_id": 1, "category_id": 3, "bbox": [0, 0, "1", 1]}]), "must be numbers"),
        (document(annotations=[{"image_id": 1, "category_id": 3, "bbox": [0, 0, 0, 5]}]), "positive width"),
        (document(annotations=[{"image_id": 1, "category_id": 3, "bbox": [300, 0, 10, 5]}]), "outside the image"),
    ],
)
def test_malformed_input_says_what_is_wrong(data: bytes, message: str) -> None:
    with pytest.raises(AnnotationError, match=message):
        coco.parse(data)


def test_sections_and_annotations_in_any_order() -> None:
    raw = json.loads(document())
    reordered = {
        "annotations": list(reversed(raw["annotations"])),
        "categories": raw["categories"],
        "images": list(reversed(raw["images"])),
    }
    parsed = {image.file_name: image for image in coco.parse(json.dumps(reordered).encode())}
    assert sorted(parsed) == ["a.jpg", "b.png"]
    assert sorted(parsed["a.jpg"].boxes, key=lambda b: b.tag) == [
        Box("cat", 0.1, 0.1, 0.5, 0.5),
        Box("dog", 0.75, 0.5, 0.25, 0.5),
    ]
