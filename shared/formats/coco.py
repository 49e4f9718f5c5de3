"""COCO JSON (object detection): one file names many images and their boxes.

Read: ``images`` (``id``, ``file_name``, ``width``, ``height``), ``categories`` (``id``, ``name``)
and ``annotations`` (``image_id``, ``category_id``, ``bbox`` = ``[x, y, width, height]`` in
pixels, from the image's top-left corner). Segmentation, ``iscrowd`` and ``area`` are not used.
Images are named by ``file_name`` without its folders; an image listed with no annotation is
named with no boxes.
"""

from __future__ import annotations

import json
from typing import Any

from shared.formats.boxes import AnnotationError, Box, ImageBoxes, base_name, clipped, positive_size

__all__ = ["parse"]


def _list(raw: dict[str, Any], key: str) -> list[Any]:
    value = raw.get(key)
    if not isinstance(value, list):
        raise AnnotationError(f"A COCO file needs a '{key}' list.")
    return value


def _field(item: Any, key: str, where: str) -> Any:
    if not isinstance(item, dict) or key not in item:
        raise AnnotationError(f"{where} has no '{key}'.")
    return item[key]


def parse(data: bytes) -> list[ImageBoxes]:
    """The images a COCO file names, each with its boxes (normalised, clipped), in file order."""
    try:
        raw = json.loads(data)
    except ValueError as exc:
        raise AnnotationError(f"The COCO file is not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise AnnotationError("A COCO file is a JSON object with 'images', 'annotations' and 'categories'.")

    categories: dict[Any, str] = {}
    for n, category in enumerate(_list(raw, "categories"), 1):
        where = f"Category {n}"
        name = _field(category, "name", where)
        if not isinstance(name, str) or not name.strip():
            raise AnnotationError(f"{where} has no name.")
        categories[_field(category, "id", where)] = name.strip()

    images: dict[Any, tuple[str, int, int]] = {}
    names: set[str] = set()
    for n, image in enumerate(_list(raw, "images"), 1):
        where = f"Image {n}"
        file_name = _field(image, "file_name", where)
        if not isinstance(file_name, str) or not base_name(file_name):
            raise AnnotationError(f"{where} has no file_name.")
        name = base_name(file_name)
        if name in names:
            raise AnnotationError(f"Two images of the COCO file are named '{name}'.")
        names.add(name)
        size = positive_size(_field(image, "width", where), _field(image, "height", where), f"{where} ({name})")
        images[_field(image, "id", where)] = (name, *size)

    boxes: dict[Any, list[Box]] = {image_id: [] for image_id in images}
    for n, annotation in enumerate(_list(raw, "annotations"), 1):
        where = f"Annotation {n}"
        image_id = _field(annotation, "image_id", where)
        if image_id not in images:
            raise AnnotationError(f"{where} names image id {image_id!r}, which the file does not list.")
        category_id = _field(annotation, "category_id", where)
        if category_id not in categories:
            raise AnnotationError(f"{where} names category id {category_id!r}, which the file does not list.")
        bbox = _field(annotation, "bbox", where)
        if not isinstance(bbox, list) or len(bbox) != 4:
            raise AnnotationError(f"{where}: bbox must be [x, y, width, height] in pixels.")
        name, width, height = images[image_id]
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in bbox):
            raise AnnotationError(f"{where} ({name}): bbox values must be numbers.")
        x, y, w, h = bbox
        box = clipped(categories[category_id], x / width, y / height, w / width, h / height, f"{where} ({name})")
        boxes[image_id].append(box)
    return [
        ImageBoxes(name, tuple(boxes[image_id]), width, height) for image_id, (name, width, height) in images.items()
    ]
