"""YOLO txt (object detection): one label file per image (same stem), plus the class names.

A label file has one row per box: ``class cx cy width height``, all but the class normalised to
the image (0..1), ``cx, cy`` the box's centre; a sixth column (a confidence) is ignored, and an
empty file means an image without boxes. The class number indexes the class names, read from
``classes.txt`` (one name per line) or from the ``names`` of a YOLOv5/v8 ``data.yaml`` (a list,
or a mapping from class number to name).

The writers give the label rows (six decimals), ``classes.txt`` and an Ultralytics ``data.yaml``
(``names`` in class order). Classification has no label files in YOLO: an image lies in a folder
named for its class (Ultralytics' classify layout); :mod:`shared.formats.datasets` reads and
writes that layout.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml  # type: ignore[import-untyped]

from shared.formats.boxes import AnnotationError, ImageBoxes, clipped

__all__ = ["CLASS_FILES", "parse", "parse_classes", "parse_data_yaml", "write", "write_classes", "write_data_yaml"]

# The files that name the classes, by the name they are dropped under.
CLASS_FILES = ("classes.txt", "data.yaml", "data.yml")


def _text(data: bytes, what: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise AnnotationError(f"{what} is not UTF-8 text.") from None


def parse_classes(data: bytes) -> tuple[str, ...]:
    """``classes.txt``: the class names, one per line (line 1 is class 0)."""
    lines = [line.strip() for line in _text(data, "classes.txt").splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    if not lines:
        raise AnnotationError("classes.txt names no class.")
    if "" in lines:
        raise AnnotationError(f"classes.txt has an empty line at line {lines.index('') + 1}: every class needs a name.")
    return tuple(lines)


def parse_data_yaml(data: bytes) -> tuple[str, ...]:
    """``data.yaml``: the class names from ``names`` (a list, or ``{number: name}``)."""
    try:
        raw: Any = yaml.safe_load(_text(data, "data.yaml"))
    except yaml.YAMLError as exc:
        raise AnnotationError(f"data.yaml is not valid YAML: {exc}") from None
    names = raw.get("names") if isinstance(raw, dict) else None
    if isinstance(names, dict):
        try:
            numbered = {int(k): v for k, v in names.items()}
        except (TypeError, ValueError):
            raise AnnotationError("data.yaml: the keys of 'names' must be class numbers.") from None
        if sorted(numbered) != list(range(len(numbered))):
            raise AnnotationError("data.yaml: 'names' must number the classes 0, 1, 2, ... without gaps.")
        names = [numbered[i] for i in range(len(numbered))]
    if not isinstance(names, list) or not names:
        raise AnnotationError("data.yaml needs 'names': a list of class names, or a mapping from number to name.")
    if not all(isinstance(n, str | int | float) and not isinstance(n, bool) and str(n).strip() for n in names):
        raise AnnotationError("data.yaml: every class in 'names' needs a name.")
    count = raw.get("nc")
    if count is not None and count != len(names):
        raise AnnotationError(f"data.yaml: 'nc' is {count} but 'names' lists {len(names)} classes.")
    return tuple(str(n).strip() for n in names)


def parse(data: bytes, classes: Sequence[str], file_name: str) -> ImageBoxes:
    """The boxes of one label file (``file_name``: the image it belongs to, or its stem)."""
    boxes = []
    for n, line in enumerate(_text(data, "The YOLO label file").splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        where = f"Line {n}"
        if len(fields) not in (5, 6):
            raise AnnotationError(f"{where}: a YOLO row is 'class cx cy width height', not {line.strip()!r}.")
        try:
            number = int(fields[0])
            cx, cy, w, h = (float(v) for v in fields[1:5])
        except ValueError:
            raise AnnotationError(
                f"{where}: a YOLO row is a class number and four numbers, not {line.strip()!r}."
            ) from None
        if not 0 <= number < len(classes):
            raise AnnotationError(f"{where}: class {number} is not among the {len(classes)} class names.")
        boxes.append(clipped(classes[number], cx - w / 2, cy - h / 2, w, h, where))
    return ImageBoxes(file_name, tuple(boxes))


def write(image: ImageBoxes, classes: Sequence[str]) -> bytes:
    """The label file of one image: ``class cx cy width height`` per box (normalised, six decimals)."""
    number = {name: n for n, name in enumerate(classes)}
    rows = [
        f"{number[b.tag]} {b.left + b.width / 2:.6f} {b.top + b.height / 2:.6f} {b.width:.6f} {b.height:.6f}\n"
        for b in image.boxes
    ]
    return "".join(rows).encode()


def write_classes(classes: Sequence[str]) -> bytes:
    """``classes.txt``: one class name per line, class 0 first."""
    return "".join(f"{name}\n" for name in classes).encode()


def write_data_yaml(classes: Sequence[str], images: str = "images") -> bytes:
    """An Ultralytics ``data.yaml`` naming the classes (train and val both the exported images)."""
    document = {"path": ".", "train": images, "val": images, "nc": len(classes), "names": list(classes)}
    text: str = yaml.safe_dump(document, allow_unicode=True, sort_keys=False)
    return text.encode()
