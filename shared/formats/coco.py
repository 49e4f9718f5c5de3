"""COCO JSON: one file names many images and their boxes (or, for classification, their labels).

Read: ``images`` (``id``, ``file_name``, ``width``, ``height``), ``categories`` (``id``, ``name``)
and ``annotations`` (``image_id``, ``category_id``, ``bbox`` = ``[x, y, width, height]`` in
pixels, from the image's top-left corner). Segmentation, ``iscrowd`` and ``area`` are not used.
Images are named by ``file_name`` without its folders; an image listed with no annotation is
named with no boxes.

Classification (``labels=True``): an annotation without ``bbox`` is an image-level label (its
category is a tag of the whole image), the convention of COCO-style classification sets; the
writer writes labels that way, and every category of the project, used or not.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from shared.formats.boxes import AnnotationError, Box, ImageBoxes, base_name, clipped, pixel_text, positive_size

__all__ = ["parse", "write"]


def _list(raw: dict[str, Any], key: str) -> list[Any]:
    value = raw.get(key)
    if not isinstance(value, list):
        raise AnnotationError(f"A COCO file needs a '{key}' list.")
    return value


def _field(item: Any, key: str, where: str) -> Any:
    if not isinstance(item, dict) or key not in item:
        raise AnnotationError(f"{where} has no '{key}'.")
    return item[key]


def parse(data: bytes, *, labels: bool = False) -> list[ImageBoxes]:
    """The images a COCO file names, each with its boxes (normalised, clipped), in file order.

    ``labels``: an annotation without ``bbox`` is an image-level label (else it is an error).
    """
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
    tags: dict[Any, list[str]] = {image_id: [] for image_id in images}
    for n, annotation in enumerate(_list(raw, "annotations"), 1):
        where = f"Annotation {n}"
        image_id = _field(annotation, "image_id", where)
        if image_id not in images:
            raise AnnotationError(f"{where} names image id {image_id!r}, which the file does not list.")
        category_id = _field(annotation, "category_id", where)
        if category_id not in categories:
            raise AnnotationError(f"{where} names category id {category_id!r}, which the file does not list.")
        if labels and isinstance(annotation, dict) and annotation.get("bbox") is None:
            if categories[category_id] not in tags[image_id]:
                tags[image_id].append(categories[category_id])
            continue
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
        ImageBoxes(name, tuple(boxes[image_id]), width, height, tuple(tags[image_id]))
        for image_id, (name, width, height) in images.items()
    ]


def write(images: Sequence[ImageBoxes], categories: Sequence[str]) -> bytes:
    """A COCO file for ``images`` (each with its pixel size) and the category names, in this order.

    Ids count from 1; boxes are pixels (three decimals), labels are annotations without ``bbox``.
    """
    category_ids = {name: n for n, name in enumerate(categories, 1)}
    out_images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for image_id, image in enumerate(images, 1):
        if image.width is None or image.height is None:
            raise ValueError(f"COCO needs the size of {image.file_name}")
        out_images.append({"id": image_id, "file_name": image.file_name, "width": image.width, "height": image.height})
        for tag in image.labels:
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id": category_ids[tag]})
        for box in image.boxes:
            x, y = _pixels(box.left * image.width), _pixels(box.top * image.height)
            w, h = _pixels(box.width * image.width), _pixels(box.height * image.height)
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": category_ids[box.tag],
                    "bbox": [x, y, w, h],
                    "area": round(w * h, 3),
                    "iscrowd": 0,
                }
            )
    document = {
        "info": {"description": "Exported by cvstudio"},
        "images": out_images,
        "annotations": annotations,
        "categories": [{"id": n, "name": name, "supercategory": "none"} for name, n in category_ids.items()],
    }
    return json.dumps(document, indent=1, ensure_ascii=False).encode()


def _pixels(value: float) -> float:
    return float(pixel_text(value))
